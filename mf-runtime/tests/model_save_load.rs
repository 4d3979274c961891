//! Model predictions, top-N, accuracy and the save/load round trip.

use std::io::Read;
use std::sync::Arc;

use mf_runtime::data::{IdMap, LoadOptions, Ratings, RatingsBuilder};
use mf_runtime::model::{ItemFactors, Model, ModelError, Unknown, MODEL_FILE, PARAMS_FILE};
use mf_runtime::{Init, ParamLayout, Params};
use rand::SeedableRng;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Ratings with text, integer and odd ids (spaces, leading zeros).
fn train() -> Ratings {
    let text =
        "ann,dune,5\nann,solaris,3\nbob,dune,4\n007,stalker,1\n42,solaris,2\nzoë smith,arrival,4\n";
    LoadOptions::new()
        .parse_str("train.csv", text)
        .expect("valid ratings")
}

fn params(train: &Ratings, k: usize, q: ItemFactors, biases: bool, seed: u64) -> Params {
    let (m, n) = (train.num_users(), train.num_items());
    let mut shapes = vec![("P", m, k)];
    shapes.push(match q {
        ItemFactors::KByItems => ("Q", k, n),
        ItemFactors::ItemsByK => ("Q", n, k),
    });
    if biases {
        shapes.extend([("bu", m, 1), ("bi", 1, n), ("mu", 1, 1)]);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Params::init(
        ParamLayout::new(shapes),
        Init::Normal {
            mean: 0.5,
            std: 1.0,
        },
        &mut rng,
    )
}

/// The documented formula, computed from named views.
fn by_hand(p: &Params, q: ItemFactors, u: usize, i: usize) -> f64 {
    let pv = p.view("P").unwrap();
    let qv = p.view("Q").unwrap();
    let mut s: f64 = (0..pv.ncols())
        .map(|f| {
            pv[[u, f]]
                * match q {
                    ItemFactors::KByItems => qv[[f, i]],
                    ItemFactors::ItemsByK => qv[[i, f]],
                }
        })
        .sum();
    if let Some(bu) = p.view("bu") {
        s += bu[[u, 0]];
    }
    if let Some(bi) = p.view("bi") {
        s += bi[[0, i]];
    }
    if let Some(mu) = p.view("mu") {
        s += mu[[0, 0]];
    }
    s
}

#[test]
fn predictions_follow_the_documented_formula_in_both_layouts() -> TestResult {
    let train = train();
    for q in [ItemFactors::KByItems, ItemFactors::ItemsByK] {
        for biases in [false, true] {
            let p = params(&train, 3, q, biases, 1);
            let model = Model::new(
                p.clone(),
                train.user_ids().clone(),
                train.item_ids().clone(),
            )?;
            assert_eq!(model.item_factors_layout(), q);
            for u in 0..train.num_users() {
                for i in 0..train.num_items() {
                    let expected = by_hand(&p, q, u, i);
                    let got = model.predict_index(u as u32, i as u32)?;
                    assert!((got - expected).abs() < 1e-12, "{q:?} {biases} ({u}, {i})");
                    let raw_u = train.user_ids().raw(u as u32).unwrap();
                    let raw_i = train.item_ids().raw(i as u32).unwrap();
                    assert_eq!(model.predict(raw_u, raw_i)?, got);
                }
            }
        }
    }
    Ok(())
}

#[test]
fn clipping_unknown_ids_and_fallback() -> TestResult {
    let train = train();
    let p = params(&train, 2, ItemFactors::KByItems, true, 2);
    let users = train.user_ids().clone();
    let items = train.item_ids().clone();
    let strict = Model::builder(p.clone(), users.clone(), items.clone())
        .clip(1.0, 5.0)
        .build()?;
    for u in users.iter() {
        for i in items.iter() {
            let v = strict.predict(u, i)?;
            assert!((1.0..=5.0).contains(&v));
        }
    }
    assert!(
        matches!(strict.predict("nobody", "dune"), Err(ModelError::UnknownUser(id)) if id == "nobody")
    );
    assert!(matches!(strict.predict("ann", 99), Err(ModelError::UnknownItem(id)) if id == "99"));
    assert!(strict.predict_index(6, 0).is_err());
    assert!(strict.predict_index(0, 5).is_err());

    let mu = p.view("mu").unwrap()[[0, 0]];
    let lenient = Model::builder(p.clone(), users.clone(), items.clone())
        .unknown(Unknown::Baseline { mean: 100.0 })
        .build()?;
    let dune = items.index("dune").unwrap() as usize;
    let ann = users.index("ann").unwrap() as usize;
    let bi = p.view("bi").unwrap()[[0, dune]];
    let bu = p.view("bu").unwrap()[[ann, 0]];
    // With a `mu` block the given mean is not used.
    assert_eq!(lenient.predict("nobody", "dune")?, mu + bi);
    assert_eq!(lenient.predict("ann", "nothing")?, mu + bu);
    assert_eq!(lenient.predict("nobody", "nothing")?, mu);

    // Without biases the given mean is the fallback.
    let plain = Model::builder(p, users, items)
        .without_biases()
        .unknown(Unknown::Baseline { mean: 3.5 })
        .build()?;
    assert_eq!(plain.predict("nobody", "dune")?, 3.5);
    Ok(())
}

#[test]
fn building_errors_are_clear() {
    let users = IdMap::identity(3);
    let items = IdMap::identity(4);
    let build = |shapes: Vec<(&str, usize, usize)>| {
        Model::new(
            Params::zeros(ParamLayout::new(shapes)),
            users.clone(),
            items.clone(),
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        build(vec![("Q", 2, 4)]),
        "the user factors block `P` is not in the params (blocks: Q)"
    );
    assert_eq!(
        build(vec![("P", 3, 2), ("Q", 3, 4)]),
        "the item factors block `Q` is [3, 4] but must be [k, items] = [2, 4] or [items, k] = [4, 2]"
    );
    assert_eq!(
        build(vec![("P", 3, 2), ("Q", 2, 4), ("bu", 4, 1)]),
        "the user bias block `bu` is [4, 1] but must be [users, 1] or [1, users] with users = 3"
    );
    assert_eq!(
        build(vec![("P", 3, 2), ("Q", 2, 4), ("mu", 1, 2)]),
        "the global mean block `mu` is [1, 2] but must be [1, 1]"
    );
    assert!(build(vec![("P", 3, 4), ("Q", 4, 4)]).contains("ambiguous"));
    let wrong_layout = Model::builder(
        Params::zeros(ParamLayout::new([("P", 3, 2), ("Q", 2, 4)])),
        users.clone(),
        items.clone(),
    )
    .item_factors_layout(ItemFactors::ItemsByK)
    .build()
    .unwrap_err();
    assert!(wrong_layout
        .to_string()
        .contains("must be [items, k] = [4, 2]"));
    let bad_range = Model::builder(
        Params::zeros(ParamLayout::new([("P", 3, 2), ("Q", 2, 4)])),
        users,
        items,
    )
    .clip(5.0, 1.0)
    .build()
    .unwrap_err();
    assert!(matches!(bad_range, ModelError::BadRange { .. }));
}

#[test]
fn top_n_excludes_rated_items_and_breaks_ties_by_index() -> TestResult {
    // One factor; user 0 has P = 1; item scores 2, 5, 5, 1, 5, 3.
    let params = Params::from_vec(
        ParamLayout::new([("P", 2, 1), ("Q", 1, 6)]),
        vec![1.0, -1.0, 2.0, 5.0, 5.0, 1.0, 5.0, 3.0],
    )
    .unwrap();
    let mut items = IdMap::new();
    for id in ["a", "b", "c", "d", "e", "f"] {
        items.get_or_insert(id);
    }
    let model = Model::builder(params, IdMap::identity(2), items)
        .clip(0.0, 4.0)
        .build()?;
    let ids = |recs: Vec<mf_runtime::model::Recommendation<'_>>| {
        recs.iter().map(|r| r.item.to_string()).collect::<Vec<_>>()
    };
    let none = Ratings::from_triplets(2, 6, [])?;
    assert_eq!(ids(model.top_n(0, 4, &none)?), ["b", "c", "e", "f"]);
    assert_eq!(ids(model.top_n(0, 100, &none)?).len(), 6);
    assert!(model.top_n(0, 0, &none)?.is_empty());
    // Clipped scores are reported, ranking is by the unclipped score.
    let top = model.top_n(0, 2, &none)?;
    assert_eq!((top[0].score, top[0].index), (4.0, 1));

    // Exclusion by raw id through other id maps: user "0" rated "c" and "f".
    let mut b = RatingsBuilder::new();
    b.push("0", "c", 5.0);
    b.push("0", "f", 1.0);
    b.push("1", "b", 2.0);
    let rated = b.build()?;
    assert_eq!(ids(model.top_n(0, 3, &rated)?), ["b", "e", "a"]);
    assert_eq!(ids(model.top_n(1, 2, &rated)?), ["d", "a"]);
    assert!(matches!(
        model.top_n(7, 2, &none),
        Err(ModelError::UnknownUser(_))
    ));
    Ok(())
}

#[test]
fn accuracy_matches_metrics_and_maps_foreign_ids() -> TestResult {
    let train = train();
    let p = params(&train, 2, ItemFactors::ItemsByK, true, 3);
    let model = Model::builder(p, train.user_ids().clone(), train.item_ids().clone())
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

    // A test file loaded on its own: other ids, other order.
    let test = LoadOptions::new().parse_str("test.csv", "bob,solaris,3\n42,dune,4\n")?;
    let acc = model.accuracy(&test)?;
    let e1 = model.predict("bob", "solaris")? - 3.0;
    let e2 = model.predict(42, "dune")? - 4.0;
    assert!((acc.mae - (e1.abs() + e2.abs()) / 2.0).abs() < 1e-12);

    let unseen = LoadOptions::new().parse_str("test.csv", "bob,solaris,3\ncarl,dune,4\n")?;
    assert!(matches!(model.accuracy(&unseen), Err(ModelError::UnknownUser(id)) if id == "carl"));
    Ok(())
}

#[test]
fn save_load_round_trip_is_identical() -> TestResult {
    let train = train();
    let dir = tempfile::tempdir()?;
    for (n, q) in [ItemFactors::KByItems, ItemFactors::ItemsByK]
        .into_iter()
        .enumerate()
    {
        let p = params(&train, 3, q, n == 0, 4);
        let mut builder = Model::builder(p, train.user_ids().clone(), train.item_ids().clone());
        if n == 0 {
            builder = builder
                .clip(1.0, 5.0)
                .unknown(Unknown::Baseline { mean: 3.25 });
        }
        let model = builder.build()?;
        let path = dir.path().join(format!("model-{n}"));
        model.save(&path)?;
        let loaded = Model::load(&path)?;
        assert_eq!(loaded.params(), model.params());
        assert_eq!(loaded.user_ids(), model.user_ids());
        assert_eq!(loaded.item_ids(), model.item_ids());
        assert_eq!(loaded.rating_range(), model.rating_range());
        assert_eq!(loaded.unknown(), model.unknown());
        assert_eq!(loaded, model);
        for (u, i, _) in train.iter() {
            assert_eq!(
                loaded.predict_index(u, i)?.to_bits(),
                model.predict_index(u, i)?.to_bits()
            );
        }
        assert_eq!(loaded.accuracy(&train)?, model.accuracy(&train)?);
    }
    Ok(())
}

#[test]
fn integer_and_identity_maps_round_trip() -> TestResult {
    let dir = tempfile::tempdir()?;
    let layout = ParamLayout::new([("W", 3, 2), ("H", 2, 2), ("extra", 1, 4)]);
    let params = Params::init(
        layout,
        Init::Uniform {
            low: -1.0,
            high: 1.0,
        },
        &mut rand::rngs::StdRng::seed_from_u64(5),
    );
    let mut items = IdMap::new();
    items.get_or_insert(1000);
    items.get_or_insert(-3);
    let model = Model::builder(params, Arc::new(IdMap::identity(3)), items)
        .factors("W", "H")
        .item_factors_layout(ItemFactors::ItemsByK)
        .build()?;
    model.save(dir.path())?;
    let loaded = Model::load(dir.path())?;
    assert_eq!(loaded, model);
    assert_eq!(loaded.params().layout().blocks()[2].name, "extra");
    Ok(())
}

#[test]
fn the_files_are_as_documented() -> TestResult {
    let params = Params::from_vec(
        ParamLayout::new([("P", 2, 1), ("Q", 1, 3), ("mu", 1, 1)]),
        vec![1.0, 2.0, 0.5, 1.0, 1.5, 3.0],
    )
    .unwrap();
    let mut users = IdMap::new();
    users.get_or_insert(196);
    users.get_or_insert("alice");
    let model = Model::builder(params, users, IdMap::identity(3))
        .clip(1.0, 5.0)
        .build()?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let text = std::fs::read_to_string(dir.path().join(MODEL_FILE))?;
    assert_eq!(
        text,
        "mf-model 1\nuser-factors P\nitem-factors Q\nitem-layout k-by-items\nglobal-mean mu\n\
         clip 1 5\nunknown error\nusers 2\n196\nalice\nitems 3\n0\n1\n2\n"
    );

    // The archive is a zip of NumPy .npy files, one per block, in layout order.
    let mut bytes = Vec::new();
    std::fs::File::open(dir.path().join(PARAMS_FILE))?.read_to_end(&mut bytes)?;
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    let find = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle);
    let (p, q, mu) = (find(b"P.npy"), find(b"Q.npy"), find(b"mu.npy"));
    assert!(p < q && q < mu && mu.is_some(), "{p:?} {q:?} {mu:?}");
    assert!(find(b"\x93NUMPY").is_some());
    assert!(find(b"'descr': '<f8', 'fortran_order': False, 'shape': (1, 3)").is_some());
    Ok(())
}

#[test]
fn load_errors_name_the_file_and_line() -> TestResult {
    let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    let model = Model::new(params, IdMap::identity(1), IdMap::identity(1))?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let text_path = dir.path().join(MODEL_FILE);
    let good = std::fs::read_to_string(&text_path)?;

    let broken = good.replace("items 1\n0\n", "items 2\n0\n");
    std::fs::write(&text_path, broken)?;
    let err = Model::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("model.txt:10:") && err.contains("items id 1 of 2"),
        "{err}"
    );

    std::fs::write(
        &text_path,
        good.replace("item-layout k-by-items", "item-layout sideways"),
    )?;
    let err = Model::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("model.txt:4:") && err.contains("sideways"),
        "{err}"
    );

    std::fs::write(&text_path, good.replace("users 1\n0\n", "users 2\n0\n0\n"))?;
    let err = Model::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("appears twice"), "{err}");

    std::fs::write(&text_path, &good)?;
    std::fs::write(dir.path().join(PARAMS_FILE), b"not a zip")?;
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, ModelError::Npz { path, .. } if path.ends_with(PARAMS_FILE)),
        "{err}"
    );

    // Params that do not fit the saved id maps.
    std::fs::write(&text_path, good.replace("users 1\n0\n", "users 2\n0\n1\n"))?;
    model.save(dir.path().join("other"))?;
    std::fs::copy(
        dir.path().join("other").join(PARAMS_FILE),
        dir.path().join(PARAMS_FILE),
    )?;
    let err = Model::load(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::BadShape { .. }), "{err}");
    Ok(())
}

#[test]
fn ids_with_line_breaks_cannot_be_saved() -> TestResult {
    let mut users = IdMap::new();
    users.get_or_insert("two\nlines");
    let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    let model = Model::new(params, users, IdMap::identity(1))?;
    let dir = tempfile::tempdir()?;
    let err = model.save(dir.path()).unwrap_err();
    assert!(
        matches!(&err, ModelError::Unsavable { path, .. } if path.ends_with(MODEL_FILE)),
        "{err}"
    );
    Ok(())
}
