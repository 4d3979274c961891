//! Models of generated losses: predictions, unknown ids, top-N, accuracy and
//! the save/load round trip.

use std::io::Read;

use mf_runtime::data::{LoadOptions, Ratings, RatingsBuilder};
use mf_runtime::model::{
    fingerprint, Hypers, Model, ModelError, Prediction, TopN, Unknown, MODEL_FILE, PARAMS_FILE,
};
use mf_runtime::{loss, Init, Params};
use rand::SeedableRng;

type TestResult = Result<(), Box<dyn std::error::Error>>;

loss! {
    /// Biased factors, Q stored [k, items].
    pub struct Biased {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper beta: f64 = 0.01,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta*(sum(P^2) + sum(Q^2))
}

loss! {
    /// Plain factors, Q stored [items, k].
    pub struct Transposed {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [items, k],
    }
    minimize sum(mask * (D - P@Q.T)^2)
}

loss! {
    /// A logistic loss with its prediction through the link.
    pub struct Logistic {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * softplus(-D * (P@Q)))
    predict sigmoid(P@Q)
}

/// A loss of the same name as [`Biased`], with another source.
mod changed {
    use mf_runtime::loss;
    loss! {
        pub struct Biased {
            data  D: sparse[users, items],
            param P: [users, k],
            param Q: [k, items],
            param bu: [users, 1],
            param bi: [1, items],
            param mu: [],
            hyper beta: f64 = 0.01,
        }
        minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta*(sum(P^2) + sum(Q^2) + sum(bu^2))
    }
}

/// Ratings with text, integer and odd ids; `zoë smith` and `arrival` only
/// in the id maps of a larger set, without ratings here.
fn train() -> Ratings {
    let text = "ann,dune,5\nann,solaris,3\nbob,dune,4\n007,stalker,1\n42,solaris,2\n";
    LoadOptions::comma()
        .parse_str("train.csv", text)
        .expect("valid ratings")
}

/// Params of `layout`, normal(0.5, 1), seeded.
fn start(layout: mf_runtime::ParamLayout, seed: u64) -> Params {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Params::init(
        layout,
        Init::Normal {
            mean: 0.5,
            std: 1.0,
        },
        &mut rng,
    )
}

fn biased(train: &Ratings, seed: u64) -> Params {
    start(Biased::layout(train, 3).unwrap(), seed)
}

/// `P[u]·Q[:, i] + bu[u] + bi[i] + mu`, from named views.
fn by_hand(p: &Params, u: usize, i: usize) -> f64 {
    let (pv, qv) = (p.view("P").unwrap(), p.view("Q").unwrap());
    let dot: f64 = (0..pv.ncols()).map(|f| pv[[u, f]] * qv[[f, i]]).sum();
    dot + p.view("bu").unwrap()[[u, 0]]
        + p.view("bi").unwrap()[[0, i]]
        + p.view("mu").unwrap()[[0, 0]]
}

#[test]
fn predictions_are_the_losses_predictions() -> TestResult {
    let train = train();
    let p = biased(&train, 1);
    let model = Model::new(&Biased::default(), p.clone(), &train)?;
    let t = start(Transposed::layout(&train, 2)?, 2);
    let transposed = Model::new(&Transposed::default(), t.clone(), &train)?;
    let l = start(Logistic::layout(&train, 2)?, 3);
    let logistic = Model::new(&Logistic::default(), l.clone(), &train)?;
    for (u, i, _) in train.iter() {
        let (raw_u, raw_i) = (
            train.user_ids().raw(u).unwrap(),
            train.item_ids().raw(i).unwrap(),
        );
        let (u, i) = (u as usize, i as usize);
        assert!((model.predict(raw_u, raw_i)? - by_hand(&p, u, i)).abs() < 1e-12);
        let (tp, tq) = (t.view("P").unwrap(), t.view("Q").unwrap());
        let dot: f64 = (0..2).map(|f| tp[[u, f]] * tq[[i, f]]).sum();
        assert!((transposed.predict(raw_u, raw_i)? - dot).abs() < 1e-12);
        let (lp, lq) = (l.view("P").unwrap(), l.view("Q").unwrap());
        let z: f64 = (0..2).map(|f| lp[[u, f]] * lq[[f, i]]).sum();
        assert!((logistic.predict(raw_u, raw_i)? - 1.0 / (1.0 + (-z).exp())).abs() < 1e-12);
        assert_eq!(
            model.predict_index(u as u32, i as u32)?,
            model.predict(raw_u, raw_i)?
        );
    }
    Ok(())
}

#[test]
fn unknown_ids_follow_the_policy_including_ids_without_ratings() -> TestResult {
    // User 2 and item 3 are in the maps but have no training rating.
    let train = Ratings::from_triplets(3, 4, [(0, 0, 4.0), (0, 1, 2.0), (1, 2, 5.0), (1, 0, 3.0)])?;
    let p = biased(&train, 2);
    let strict = Model::builder(&Biased::default(), p.clone(), &train)
        .clip(1.0, 5.0)
        .build()?;
    assert!(matches!(strict.predict(2, 0), Err(ModelError::UnknownUser(id)) if id == "2"));
    assert!(matches!(strict.predict(0, 3), Err(ModelError::UnknownItem(id)) if id == "3"));
    assert!(matches!(
        strict.predict("nobody", 0),
        Err(ModelError::UnknownUser(_))
    ));
    assert!(matches!(
        strict.predict_index(9, 0),
        Err(ModelError::IndexOutOfRange { .. })
    ));
    assert!(strict.top_n(2, 3, TopN::default()).is_err());

    let baseline = Model::builder(&Biased::default(), p.clone(), &train)
        .unknown(Unknown::Baseline)
        .build()?;
    let (bu, bi, mu) = (
        p.view("bu").unwrap(),
        p.view("bi").unwrap(),
        p.view("mu").unwrap()[[0, 0]],
    );
    // An unknown id's factors and bias are zero: Surprise's SVD convention.
    assert_eq!(baseline.predict(2, 1)?, bi[[0, 1]] + mu);
    assert_eq!(baseline.predict("nobody", 1)?, bi[[0, 1]] + mu);
    assert_eq!(baseline.predict(0, 3)?, bu[[0, 0]] + mu);
    assert_eq!(baseline.predict("nobody", "nothing")?, mu);
    // Known ids are unaffected by the padding.
    assert!((baseline.predict(1, 2)? - by_hand(&p, 1, 2)).abs() < 1e-12);

    let fixed = Model::builder(&Biased::default(), p, &train)
        .unknown(Unknown::Value(3.5))
        .build()?;
    assert_eq!(fixed.predict(2, 1)?, 3.5);
    let test = Ratings::from_triplets(3, 4, [(2, 1, 4.0), (0, 0, 4.0)])?;
    let acc = fixed.accuracy(&test)?;
    let e = fixed.predict(0, 0)? - 4.0;
    assert!((acc.mae - (0.5 + e.abs()) / 2.0).abs() < 1e-12);
    assert!(matches!(strict.accuracy(&test), Err(ModelError::UnknownUser(id)) if id == "2"));
    Ok(())
}

#[test]
fn building_errors_are_clear() -> TestResult {
    let train = Ratings::from_triplets(3, 4, [(0, 0, 1.0)])?;
    let build = |shapes: Vec<(&str, usize, usize)>| {
        let params = Params::zeros(mf_runtime::ParamLayout::new(shapes));
        Model::new(&Transposed::default(), params, &train)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        build(vec![("Q", 4, 2)]),
        "the params do not fit loss `Transposed`: blocks Q, the loss declares P, Q"
    );
    assert_eq!(
        build(vec![("P", 3, 2), ("Q", 4, 3)]),
        "the params do not fit loss `Transposed`: dimension `k` is 2 (columns of param P) but 3 (columns of param Q)"
    );
    assert!(build(vec![("P", 2, 2), ("Q", 4, 2)])
        .contains("dimension `users` is 3 (the user ids) but 2"));
    let params = Params::zeros(Transposed::layout(&train, 2)?);
    let bad = Model::builder(&Transposed::default(), params.clone(), &train)
        .clip(5.0, 1.0)
        .build();
    assert!(matches!(bad, Err(ModelError::BadRange { .. })));
    let bad = Model::builder(&Transposed::default(), params, &train)
        .unknown(Unknown::Value(f64::NAN))
        .build();
    assert!(matches!(bad, Err(ModelError::BadValue(_))));
    Ok(())
}

#[test]
fn top_n_ranks_unclipped_leaves_out_rated_and_rare_items() -> TestResult {
    // Items by first appearance: c 0, f 1, b 2, d 3, e 4; supports
    // c 3, f 3, b 1, d 2, e 2. User 0 rated c and f.
    let text = "0,c,5\n0,f,1\n1,b,3\n1,c,3\n2,c,3\n1,d,3\n2,d,3\n1,e,3\n2,e,3\n1,f,3\n2,f,3\n";
    let train = LoadOptions::comma().parse_str("t.csv", text)?;
    let mut p = Params::zeros(Transposed::layout(&train, 1)?);
    p.view_mut("P").unwrap()[[0, 0]] = 1.0;
    for (item, score) in [("b", 5.0), ("c", 5.0), ("d", 1.0), ("e", 5.0), ("f", 3.0)] {
        let i = train.item_ids().index(item).unwrap() as usize;
        p.view_mut("Q").unwrap()[[i, 0]] = score;
    }
    let model = Model::builder(&Transposed::default(), p, &train)
        .clip(0.0, 4.0)
        .build()?;
    let ids = |recs: Vec<mf_runtime::model::Recommendation<'_>>| {
        recs.iter().map(|r| r.item.to_string()).collect::<Vec<_>>()
    };
    // Rated items left out by default; ties (b, e) by dense index.
    assert_eq!(ids(model.top_n(0, 3, TopN::default())?), ["b", "e", "d"]);
    assert_eq!(
        ids(model.top_n(0, 3, TopN::default().keep_rated())?),
        ["c", "b", "e"]
    );
    // The unclipped score ranks; the rating is clipped.
    let top = model.top_n(0, 1, TopN::default())?;
    assert_eq!((top[0].score, top[0].rating, top[0].support), (5.0, 4.0, 1));
    assert_eq!(
        ids(model.top_n(0, 10, TopN::default().min_support(2))?),
        ["e", "d"]
    );
    assert!(model.top_n(0, 0, TopN::default())?.is_empty());
    Ok(())
}

#[test]
fn accuracy_matches_the_predictions_through_foreign_id_maps() -> TestResult {
    let train = train();
    let model = Model::builder(&Biased::default(), biased(&train, 3), &train)
        .clip(1.0, 5.0)
        .build()?;
    let acc = model.accuracy(&train)?;
    let (mut sq, mut abs) = (0.0, 0.0);
    for (u, i, v) in train.iter() {
        let e = model.predict_index(u, i)? - v;
        sq += e * e;
        abs += e.abs();
    }
    let n = train.nnz() as f64;
    assert!((acc.rmse - (sq / n).sqrt()).abs() < 1e-12);
    assert!((acc.mae - abs / n).abs() < 1e-12);
    let test = LoadOptions::comma().parse_str("test.csv", "bob,solaris,3\n42,dune,4\n")?;
    let acc = model.accuracy(&test)?;
    let e1 = model.predict("bob", "solaris")? - 3.0;
    let e2 = model.predict(42, "dune")? - 4.0;
    assert!((acc.mae - (e1.abs() + e2.abs()) / 2.0).abs() < 1e-12);
    Ok(())
}

#[test]
fn save_load_round_trip_is_bit_identical_for_every_loss() -> TestResult {
    let train = train();
    let dir = tempfile::tempdir()?;
    let mut tuned = Biased::default();
    tuned.set_hyper("beta", 0.25)?;
    let models = [
        Model::builder(&tuned, biased(&train, 4), &train)
            .clip(1.0, 5.0)
            .unknown(Unknown::Baseline)
            .build()?,
        Model::new(
            &Transposed::default(),
            start(Transposed::layout(&train, 2)?, 5),
            &train,
        )?,
        Model::builder(
            &Logistic::default(),
            start(Logistic::layout(&train, 2)?, 6),
            &train,
        )
        .unknown(Unknown::Value(0.5))
        .build()?,
    ];
    let losses: [&dyn Prediction; 3] = [
        &Biased::default(),
        &Transposed::default(),
        &Logistic::default(),
    ];
    for (n, (model, loss)) in models.iter().zip(losses).enumerate() {
        let path = dir.path().join(format!("model-{n}"));
        model.save(&path)?;
        let loaded = Model::load(&path, loss)?;
        assert_eq!(&loaded, model);
        assert_eq!(loaded.rule().hyper_names(), model.rule().hyper_names());
        for u in 0..train.num_users() as u32 {
            for i in 0..train.num_items() as u32 {
                let (a, b) = (loaded.predict_index(u, i), model.predict_index(u, i));
                assert_eq!(a.map(f64::to_bits).ok(), b.map(f64::to_bits).ok());
            }
        }
        assert_eq!(
            loaded.predict("someone", "dune").ok(),
            model.predict("someone", "dune").ok()
        );
    }
    assert_eq!(
        Model::load(dir.path().join("model-0"), &Biased::default())?
            .rule()
            .hyper("beta"),
        Some(0.25)
    );

    // Another loss, or the same name with another source: errors naming both.
    let err = Model::load(dir.path().join("model-0"), &Logistic::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("saved from loss `Biased`, not `Logistic`"),
        "{err}"
    );
    let err = Model::load(dir.path().join("model-0"), &changed::Biased::default()).unwrap_err();
    assert!(
        matches!(err, ModelError::ChangedLoss { name: "Biased", .. }),
        "{err}"
    );
    assert_ne!(
        fingerprint(Biased::default().loss_source()),
        fingerprint(changed::Biased::default().loss_source())
    );
    Ok(())
}

#[test]
fn the_files_are_as_documented() -> TestResult {
    let train = LoadOptions::comma().parse_str("t.csv", "196,1,4\nalice,2,3\n196,3,5\n")?;
    let params =
        Params::from_vec(Biased::layout(&train, 1)?, (0..11).map(f64::from).collect()).unwrap();
    let model = Model::builder(&Biased::default(), params, &train)
        .clip(1.0, 5.0)
        .build()?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let text = std::fs::read_to_string(dir.path().join(MODEL_FILE))?;
    let source = Biased::default().loss_source();
    assert!(
        !source.contains("doc") && source.starts_with("pub struct Biased"),
        "{source}"
    );
    assert_eq!(
        text,
        format!(
            "mf-model 2\nloss Biased\nfingerprint {:016x}\nsource {source}\nhyper beta 0.01\n\
             clip 1 5\nunknown error\nusers 2\n196\nalice\nitems 3\n1\n2\n3\n",
            fingerprint(source)
        )
    );
    let mut bytes = Vec::new();
    std::fs::File::open(dir.path().join(PARAMS_FILE))?.read_to_end(&mut bytes)?;
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    let find = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle);
    let (p, q, mu) = (find(b"P.npy"), find(b"Q.npy"), find(b"mu.npy"));
    assert!(p < q && q < mu && mu.is_some(), "{p:?} {q:?} {mu:?}");
    assert!(find(b"'descr': '<f8', 'fortran_order': False, 'shape': (1, 3)").is_some());
    Ok(())
}

#[test]
fn load_errors_name_the_file_and_line() -> TestResult {
    let train = Ratings::from_triplets(1, 1, [(0, 0, 1.0)])?;
    let model = Model::new(
        &Transposed::default(),
        Params::zeros(Transposed::layout(&train, 1)?),
        &train,
    )?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let text_path = dir.path().join(MODEL_FILE);
    let good = std::fs::read_to_string(&text_path)?;
    let load = || {
        Model::load(dir.path(), &Transposed::default())
            .unwrap_err()
            .to_string()
    };

    std::fs::write(&text_path, good.replace("items 1\n0\n", "items 2\n0\n"))?;
    let err = load();
    assert!(
        err.contains("model.txt:10:") && err.contains("items id 1 of 2"),
        "{err}"
    );
    std::fs::write(
        &text_path,
        good.replace("unknown error", "unknown sideways"),
    )?;
    let err = load();
    assert!(
        err.contains("model.txt:5:") && err.contains("sideways"),
        "{err}"
    );
    std::fs::write(&text_path, good.replace("users 1\n0\n", "users 2\n0\n0\n"))?;
    assert!(load().contains("appears twice"));
    std::fs::write(&text_path, good.replace("users 1\n0\n", "users 2\n0\n1\n"))?;
    assert!(
        load().contains("dimension `users` is 2 (the user ids) but 1"),
        "{}",
        load()
    );
    std::fs::write(&text_path, &good)?;
    std::fs::write(dir.path().join(PARAMS_FILE), b"not a zip")?;
    let err = Model::load(dir.path(), &Transposed::default()).unwrap_err();
    assert!(
        matches!(&err, ModelError::Npz { path, .. } if path.ends_with(PARAMS_FILE)),
        "{err}"
    );
    Ok(())
}

#[test]
fn ids_with_line_breaks_cannot_be_saved() -> TestResult {
    let mut b = RatingsBuilder::new();
    b.push("two\nlines", "x", 3.0);
    let train = b.build()?;
    let model = Model::new(
        &Transposed::default(),
        Params::zeros(Transposed::layout(&train, 1)?),
        &train,
    )?;
    let dir = tempfile::tempdir()?;
    let err = model.save(dir.path()).unwrap_err();
    assert!(
        matches!(&err, ModelError::Unsavable { path, .. } if path.ends_with(MODEL_FILE)),
        "{err}"
    );
    Ok(())
}
