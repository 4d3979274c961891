//! Models of losses whose prediction reads the training data (SVD++'s
//! `mask(D) @ Y`, AutoRec's encoder): the generated tables against the
//! formulas, with sparse and dense data, unknown users, and the save/load
//! round trip.

use mf_runtime::data::Ratings;
use mf_runtime::model::{Model, Prediction, Unknown};
use mf_runtime::{loss, Init, Params};
use rand::SeedableRng;

type TestResult = Result<(), Box<dyn std::error::Error>>;

loss! {
    /// SVD++ (Koren 2008) over sparse data.
    pub struct Svdpp {
        data D: sparse[users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q - bu - bi - mu)^2)
}

loss! {
    /// The same over dense data.
    pub struct SvdppDense {
        data D: [users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q - bu - bi - mu)^2)
}

loss! {
    /// User-based AutoRec (Sedhain et al. 2015): a user's ratings encoded
    /// to k values, decoded to every item.
    pub struct AutoRec {
        data D: sparse[users, items],
        param V: [items, k],
        param b: [1, k],
        param W: [k, items],
        param c: [1, items],
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - sigmoid((mask(D) * D) @ V + b) @ W - c)^2) + lambda * (sum(V^2) + sum(W^2))
}

fn train() -> Ratings {
    Ratings::from_triplets(
        4,
        5,
        [
            (0, 0, 5.0),
            (0, 2, 3.0),
            (1, 1, 4.0),
            (1, 2, 1.0),
            (1, 4, 2.0),
            (2, 3, 4.0),
            (3, 0, 1.0),
        ],
    )
    .expect("valid ratings")
}

fn start(layout: mf_runtime::ParamLayout, seed: u64) -> Params {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Params::init(
        layout,
        Init::Normal {
            mean: 0.0,
            std: 0.7,
        },
        &mut rng,
    )
}

/// `(P[u] + Σ_{j ∈ N(u)} Y[j] / √|N(u)|) · Q[:, i] + bu[u] + bi[i] + mu`.
fn svdpp_by_hand(p: &Params, train: &Ratings, u: usize, i: usize) -> f64 {
    let v = |n: &str| p.view(n).unwrap();
    let (rated, _) = train.csr().row(u);
    let n = (rated.len() as f64).sqrt();
    (0..v("P").ncols())
        .map(|f| {
            let implicit: f64 = rated.iter().map(|&j| v("Y")[[j as usize, f]]).sum::<f64>() / n;
            (v("P")[[u, f]] + implicit) * v("Q")[[f, i]]
        })
        .sum::<f64>()
        + v("bu")[[u, 0]]
        + v("bi")[[0, i]]
        + v("mu")[[0, 0]]
}

#[test]
fn svdpp_predicts_through_its_table_over_sparse_and_dense_data() -> TestResult {
    let train = train();
    assert_eq!(Svdpp::default().tables().len(), 1);
    assert_eq!(
        (
            Svdpp::default().tables()[0].rows,
            Svdpp::default().tables()[0].cols
        ),
        ("users", "k")
    );
    assert!(
        Svdpp::explain().contains("reading the table"),
        "{}",
        Svdpp::explain()
    );
    let p = start(Svdpp::layout(&train, 3)?, 1);
    let sparse = Model::new(&Svdpp::default(), p.clone(), &train)?;
    let dense = Model::new(&SvdppDense::default(), p.clone(), &train)?;
    for u in 0..4u32 {
        for i in 0..5u32 {
            let expected = svdpp_by_hand(&p, &train, u as usize, i as usize);
            assert!(
                (sparse.predict_index(u, i)? - expected).abs() < 1e-12,
                "({u}, {i})"
            );
            assert!(
                (dense.predict_index(u, i)? - expected).abs() < 1e-12,
                "({u}, {i})"
            );
        }
    }
    // An unknown user: no factors, no rated items, no bias.
    let baseline = Model::builder(&Svdpp::default(), p.clone(), &train)
        .unknown(Unknown::Baseline)
        .build()?;
    let (bi, mu) = (p.view("bi").unwrap()[[0, 2]], p.view("mu").unwrap()[[0, 0]]);
    assert!((baseline.predict("nobody", 2)? - (bi + mu)).abs() < 1e-15);
    // A user of the id maps without training ratings: the same (the table's
    // `0 / sqrt(0)` for an empty row is taken as zero).
    let mut triplets: Vec<_> = train.iter().collect();
    triplets.retain(|&(u, _, _)| u != 3);
    let without = Ratings::from_triplets(4, 5, triplets)?;
    let baseline = Model::builder(&Svdpp::default(), p.clone(), &without)
        .unknown(Unknown::Baseline)
        .build()?;
    assert!((baseline.predict_index(3, 2)? - (bi + mu)).abs() < 1e-15);
    assert!(Model::new(&Svdpp::default(), p, &without)?
        .predict_index(3, 2)
        .is_err());
    Ok(())
}

#[test]
fn autorec_predicts_through_its_encoder_table() -> TestResult {
    let train = train();
    let p = start(AutoRec::layout(&train, 2)?, 2);
    let model = Model::new(&AutoRec::default(), p.clone(), &train)?;
    let v = |n: &str| p.view(n).unwrap().to_owned();
    for u in 0..4usize {
        let (items, ratings) = train.csr().row(u);
        let hidden: Vec<f64> = (0..2)
            .map(|h| {
                let z: f64 = items
                    .iter()
                    .zip(ratings)
                    .map(|(&j, r)| r * v("V")[[j as usize, h]])
                    .sum::<f64>()
                    + v("b")[[0, h]];
                1.0 / (1.0 + (-z).exp())
            })
            .collect();
        for i in 0..5usize {
            let expected: f64 =
                (0..2).map(|h| hidden[h] * v("W")[[h, i]]).sum::<f64>() + v("c")[[0, i]];
            assert!(
                (model.predict_index(u as u32, i as u32)? - expected).abs() < 1e-12,
                "({u}, {i})"
            );
        }
    }
    Ok(())
}

#[test]
fn tables_are_saved_and_loaded_bit_identically() -> TestResult {
    let train = train();
    let dir = tempfile::tempdir()?;
    let svdpp = Model::builder(
        &Svdpp::default(),
        start(Svdpp::layout(&train, 3)?, 3),
        &train,
    )
    .unknown(Unknown::Baseline)
    .build()?;
    let autorec = Model::new(
        &AutoRec::default(),
        start(AutoRec::layout(&train, 2)?, 4),
        &train,
    )?;
    let losses: [&dyn Prediction; 2] = [&Svdpp::default(), &AutoRec::default()];
    for (n, (model, loss)) in [svdpp, autorec].iter().zip(losses).enumerate() {
        let path = dir.path().join(format!("m{n}"));
        model.save(&path)?;
        assert!(path.join(mf_runtime::model::TABLES_FILE).is_file());
        let loaded = Model::load(&path, loss)?;
        assert_eq!(&loaded, model);
        assert_eq!(loaded.tables(), model.tables());
        for u in 0..4 {
            for i in 0..5 {
                assert_eq!(
                    loaded.predict_index(u, i)?.to_bits(),
                    model.predict_index(u, i)?.to_bits()
                );
            }
        }
    }
    // A missing tables file is an error naming it.
    std::fs::remove_file(dir.path().join("m0").join(mf_runtime::model::TABLES_FILE))?;
    let err = Model::load(dir.path().join("m0"), &Svdpp::default()).unwrap_err();
    assert!(err.to_string().contains("tables.npz"), "{err}");
    Ok(())
}
