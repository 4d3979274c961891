//! A model from a trained `loss!` with biases: its predictions are the
//! loss's reconstruction, and NumPy reads the saved archive.

use std::process::Command;

use mf_runtime::data::Ratings;
use mf_runtime::model::{Model, TopN, PARAMS_FILE};
use mf_runtime::{loss, Init, Lbfgs, MaskedMatrix, Minimizer};
use rand::SeedableRng;

loss! {
    /// Biased matrix factorization.
    pub struct Biased {
        data  D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper beta: f64 = 0.01,
    }
    minimize sum(mask * (D - (P@Q + bu + bi + mu))^2) + beta*(norm(P)^2 + norm(Q)^2)
}

fn trained() -> Result<(Ratings, Model), Box<dyn std::error::Error>> {
    let dense = ndarray::array![
        [5., 3., 0., 1.],
        [4., 0., 0., 1.],
        [1., 1., 0., 5.],
        [1., 0., 0., 4.],
        [0., 1., 5., 4.]
    ];
    let data = MaskedMatrix::zeros_as_missing(dense);
    let ratings = Ratings::from_masked(&data)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut params = Biased::init(
        &data,
        2,
        Init::Normal {
            mean: 0.0,
            std: 0.3,
        },
        &mut rng,
    )?;
    let mut objective = Biased::default().objective(&data, &params)?;
    Lbfgs::default()
        .train()
        .max_iters(500)
        .progress(false)
        .minimize(&mut objective, params.as_mut_slice())?;
    let model = Model::builder(&Biased::default(), params, &ratings)
        .clip(1.0, 5.0)
        .build()?;
    Ok((ratings, model))
}

#[test]
fn trained_model_reconstructs_and_recommends() -> Result<(), Box<dyn std::error::Error>> {
    let (ratings, model) = trained()?;
    let acc = model.accuracy(&ratings)?;
    assert!(acc.rmse < 0.1, "train RMSE {}", acc.rmse);
    // User 4 rated items 1, 2, 3: only item 0 is left.
    let top = model.top_n(4, 3, TopN::default())?;
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].index, 0);
    assert!((1.0..=5.0).contains(&top[0].rating));
    assert_eq!(top[0].rating, model.predict_index(4, 0)?);
    Ok(())
}

/// NumPy loads the archive with the same values. `#[ignore]`d with the
/// reason, since NumPy is not a Rust dependency (the test summary counts
/// and names it); `./test.sh` runs it with `--ignored` where `python3`
/// imports numpy, and CI always does. Run without NumPy, it fails.
#[test]
#[ignore = "needs python3 with numpy"]
fn numpy_reads_the_saved_params() -> Result<(), Box<dyn std::error::Error>> {
    let check = Command::new("python3")
        .args(["-c", "import numpy"])
        .output();
    assert!(
        check.as_ref().is_ok_and(|out| out.status.success()),
        "python3 with numpy is needed: {}",
        match &check {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => format!("python3 did not start: {e}"),
        }
    );
    let (_, model) = trained()?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let script = "import sys, numpy as np\n\
                  z = np.load(sys.argv[1])\n\
                  for name in z.files:\n\
                  \x20   a = z[name]\n\
                  \x20   print(name, a.dtype, *a.shape, *(repr(float(x)) for x in a.ravel()))\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir.path().join(PARAMS_FILE))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let lines: Vec<&str> = text.lines().collect();
    let blocks = model.params().layout().blocks();
    assert_eq!(lines.len(), blocks.len());
    for (index, (line, block)) in lines.iter().zip(blocks).enumerate() {
        let mut fields = line.split(' ');
        assert_eq!(fields.next(), Some(block.name.as_str()));
        assert_eq!(fields.next(), Some("float64"));
        assert_eq!(fields.next(), Some(block.rows.to_string().as_str()));
        assert_eq!(fields.next(), Some(block.cols.to_string().as_str()));
        let values: Vec<f64> = fields.map(str::parse).collect::<Result<_, _>>()?;
        let expected: Vec<f64> = model.params().block(index).iter().copied().collect();
        assert_eq!(values, expected, "block {}", block.name);
    }

    // And an archive NumPy writes (a Fortran-order matrix, a 1-D vector, a
    // 0-D scalar) loads as the same params.
    let rewrite = "import sys, numpy as np\n\
                   z = dict(np.load(sys.argv[1]))\n\
                   z['Q'] = np.asfortranarray(z['Q'])\n\
                   z['bu'] = z['bu'].ravel()\n\
                   z['mu'] = np.float64(z['mu'].item())\n\
                   np.savez(sys.argv[1], **z)\n";
    let status = Command::new("python3")
        .args(["-c", rewrite])
        .arg(dir.path().join(PARAMS_FILE))
        .status()?;
    assert!(status.success());
    assert_eq!(&Model::load(dir.path(), &Biased::default())?, &model);
    Ok(())
}
