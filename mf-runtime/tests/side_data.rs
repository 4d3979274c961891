//! Losses that read side data (user and item attributes besides the
//! ratings) through `Trainable`, `Model` and the experiment API: binding
//! against the generated objective, the model's tables against the
//! formula and across save/load, what is refused, and an experiment in
//! which the attributes carry the signal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mf_runtime::data::{Features, IdMap, Ratings, SideData, Synthetic};
use mf_runtime::experiment::{Candidate, Experiment, ExperimentError, NamedSplit, SideDataFn};
use mf_runtime::model::{Model, ParamDecl, Trainable, Unknown};
use mf_runtime::ndarray::Array2;
use mf_runtime::{loss, Init, MaskedMatrix, Objective, ShapeError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type TestResult = Result<(), Box<dyn std::error::Error>>;
/// Planted ratings with each user's and each item's group.
type Planted = (Ratings, Vec<u32>, Vec<u32>);

loss! {
    /// Biased factors offset by learned maps of user (`F`) and item (`G`)
    /// attributes.
    pub struct Attributes {
        data D: sparse[users, items],
        data F: [users, f],
        data G: [items, g],
        param P: [users, k],
        param W: [f, k],
        param Q: [k, items],
        param V: [k, g],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
        hyper gamma: f64 = 1.0,
    }
    minimize sum(mask(D) * (D - (P + F@W) @ (Q + V@G.T) - bu - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
        + gamma * (sum(W^2) + sum(V^2))
}

loss! {
    /// The same loss without attributes.
    pub struct Plain {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask(D) * (D - P @ Q - bu - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

/// A random 0/1 matrix of `rows × cols`.
fn attributes(rows: usize, cols: usize, rng: &mut StdRng) -> MaskedMatrix {
    let values = Array2::from_shape_fn((rows, cols), |_| f64::from(rng.random_bool(0.4)));
    MaskedMatrix::fully_observed(values)
}

fn small() -> Result<(Ratings, SideData), Box<dyn std::error::Error>> {
    let train = Synthetic {
        seed: 3,
        ..Synthetic::new(12, 9, 50)
    }
    .generate()?;
    let rng = &mut StdRng::seed_from_u64(5);
    let side = SideData::new()
        .with("F", attributes(12, 4, rng))?
        .with("G", attributes(9, 3, rng))?;
    Ok((train, side))
}

#[test]
fn trainable_binds_the_side_data_by_name() -> TestResult {
    let (train, side) = small()?;
    let loss = Attributes {
        lambda: 0.3,
        gamma: 2.0,
    };
    assert_eq!(
        loss.side_data(),
        [
            ParamDecl {
                name: "F",
                rows: "users",
                cols: "f"
            },
            ParamDecl {
                name: "G",
                rows: "items",
                cols: "g"
            },
        ]
    );
    let init = Init::Normal {
        mean: 0.0,
        std: 0.3,
    };
    let params = loss.start(&train, &side, 3, init, &mut StdRng::seed_from_u64(1))?;
    let (f, g) = (side.matrix("F")?, side.matrix("G")?);
    let data = AttributesData {
        D: &train,
        F: f,
        G: g,
    };
    let direct = Attributes::init(data, 3, init, &mut StdRng::seed_from_u64(1))?;
    assert_eq!(params.as_slice(), direct.as_slice());
    let mut bound = loss.bind(&train, &side, &params)?;
    let mut objective = loss.objective(data, &direct)?;
    let x = params.as_slice();
    let (mut g1, mut g2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    assert_eq!(
        bound.value_and_gradient(x, &mut g1),
        objective.value_and_gradient(x, &mut g2)
    );
    assert_eq!(g1, g2);
    // Missing or misshapen side data is refused when binding, by name.
    let only_f = SideData::new().with("F", f.clone())?;
    let err = loss
        .bind(&train, &only_f, &params)
        .err()
        .expect("G is missing");
    assert_eq!(
        err.to_string(),
        "the loss reads data `G` besides the ratings, but the side data holds F (add it with `SideData::with`)"
    );
    let short = SideData::new()
        .with("F", attributes(11, 4, &mut StdRng::seed_from_u64(2)))?
        .with("G", g.clone())?;
    let err = loss
        .bind(&train, &short, &params)
        .err()
        .expect("F is short");
    assert!(
        matches!(err, ShapeError::Mismatch { ref symbol, .. } if symbol == "users"),
        "{err}"
    );
    Ok(())
}

#[test]
fn model_tables_hold_the_attribute_offsets_and_survive_saving() -> TestResult {
    let (train, side) = small()?;
    let loss = Attributes::default();
    let init = Init::Normal {
        mean: 0.0,
        std: 0.5,
    };
    let params = loss.start(&train, &side, 2, init, &mut StdRng::seed_from_u64(4))?;
    let model = Model::builder(&loss, params.clone(), &train)
        .side(&side)
        .unknown(Unknown::Baseline)
        .build()?;
    // The prediction by the formula, from the blocks and the attributes.
    let block = |name: &str| params.view(name).expect("a block").to_owned();
    let (f, g) = (side.matrix("F")?.values(), side.matrix("G")?.values());
    let users = block("P") + f.dot(&block("W"));
    let items = block("Q") + block("V").dot(&g.t());
    let (bu, bi, mu) = (block("bu"), block("bi"), block("mu")[[0, 0]]);
    for u in 0..train.num_users() {
        for i in 0..train.num_items() {
            let expected = users.row(u).dot(&items.column(i)) + bu[[u, 0]] + bi[[0, i]] + mu;
            let got = model.predict_index(u as u32, i as u32)?;
            assert!(
                (got - expected).abs() <= 1e-12 * expected.abs().max(1.0),
                "({u}, {i}): {got} against {expected}"
            );
        }
    }
    // Saved, the tables are kept: the loaded model predicts without F, G.
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let loaded = Model::load(dir.path(), &loss)?;
    assert_eq!(loaded, model);
    // Without the side data, the model cannot be built.
    let err = Model::builder(&loss, params, &train).build().unwrap_err();
    assert!(
        err.to_string()
            .contains("the loss reads data `F` besides the ratings"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_user_without_ratings_is_predicted_from_the_attributes() -> TestResult {
    // User 3 and item 2 are in the id maps without a training rating.
    let train = Ratings::from_triplets(4, 3, [(0, 0, 4.0), (1, 1, 2.0), (2, 0, 5.0), (0, 1, 3.0)])?;
    let rng = &mut StdRng::seed_from_u64(8);
    let side = SideData::new()
        .with("F", attributes(4, 3, rng))?
        .with("G", attributes(3, 2, rng))?;
    let loss = Attributes::default();
    let init = Init::Normal {
        mean: 0.0,
        std: 0.7,
    };
    let params = loss.start(&train, &side, 2, init, &mut StdRng::seed_from_u64(9))?;
    let model = Model::builder(&loss, params.clone(), &train)
        .side(&side)
        .unknown(Unknown::Baseline)
        .build()?;
    // The prediction with the untrained ids' rows of params at zero.
    let block = |name: &str| params.view(name).expect("a block").to_owned();
    let (mut p, mut q, mut bu, mut bi) = (block("P"), block("Q"), block("bu"), block("bi"));
    p.row_mut(3).fill(0.0);
    bu.row_mut(3).fill(0.0);
    q.column_mut(2).fill(0.0);
    bi.column_mut(2).fill(0.0);
    let (f, g) = (side.matrix("F")?.values(), side.matrix("G")?.values());
    let users = p + f.dot(&block("W"));
    let items = q + block("V").dot(&g.t());
    let mu = block("mu")[[0, 0]];
    for (u, i) in [(3, 0), (3, 2), (0, 2), (1, 1)] {
        let expected = users.row(u).dot(&items.column(i)) + bu[[u, 0]] + bi[[0, i]] + mu;
        let got = model.predict_index(u as u32, i as u32)?;
        assert!(
            (got - expected).abs() <= 1e-12,
            "({u}, {i}): {got} against {expected}"
        );
    }
    // The attributes matter: user 3's prediction is not the zero-row one.
    assert!((model.predict_index(3, 0)? - (bi[[0, 0]] + mu)).abs() > 1e-3);
    // Saved and loaded, the same; under the default policy, an error.
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    assert_eq!(
        Model::load(dir.path(), &loss)?.predict_index(3, 2)?,
        model.predict_index(3, 2)?
    );
    let strict = Model::builder(&loss, params, &train).side(&side).build()?;
    assert!(strict.predict_index(3, 0).is_err());
    Ok(())
}

#[test]
fn side_data_is_refused_where_it_enters() -> TestResult {
    let nan = MaskedMatrix::fully_observed(Array2::from_elem((2, 2), f64::NAN));
    let err = SideData::new().with("F", nan).unwrap_err();
    assert_eq!(
        err.to_string(),
        "side data `F` has NaN at row 0, column 0: its values must be finite"
    );
    // An unobserved entry is not read, whatever it holds.
    let mut values = Array2::zeros((1, 2));
    values[[0, 1]] = f64::INFINITY;
    let observed = mf_runtime::ndarray::arr2(&[[true, false]]);
    assert!(SideData::new()
        .with(
            "F",
            MaskedMatrix::new(values, observed).expect("same shape")
        )
        .is_ok());
    let one = MaskedMatrix::fully_observed(Array2::zeros((1, 1)));
    let err = SideData::new()
        .with("F", one.clone())?
        .with("F", one)
        .unwrap_err();
    assert_eq!(err.to_string(), "side data `F` is given twice");
    Ok(())
}

/// Ratings that the attributes explain: user `u` has attribute `a(u)` and
/// item `i` attribute `b(i)`, each one of two groups, and rates
/// `3 + 1.2 a b` plus noise of std 0.1 — a user-by-item interaction the
/// plain loss must learn from each user's three ratings.
fn planted(users: u32, items: u32) -> Result<Planted, Box<dyn std::error::Error>> {
    let rng = &mut StdRng::seed_from_u64(11);
    let a: Vec<u32> = (0..users).map(|_| rng.random_range(0..2)).collect();
    let b: Vec<u32> = (0..items).map(|_| rng.random_range(0..2)).collect();
    let sign = |x: u32| if x == 0 { -1.0 } else { 1.0 };
    let mut triplets = Vec::new();
    for u in 0..users {
        let mut rated = std::collections::BTreeSet::new();
        while rated.len() < 4 {
            rated.insert(rng.random_range(0..items));
        }
        for i in rated {
            let noise: f64 = rng.random_range(-0.17..0.17);
            let r = 3.0 + 1.2 * sign(a[u as usize]) * sign(b[i as usize]) + noise;
            triplets.push((u, i, r));
        }
    }
    Ok((Ratings::from_triplets(users, items, triplets)?, a, b))
}

/// The one-hot features of groups `of` for the ids of `ids` (raw ids are
/// the indices of `of`).
fn groups(ids: &IdMap, name: &'static str, of: &[u32]) -> Features {
    let pairs = (0..ids.len() as u32).map(|j| {
        let raw = ids.raw(j).expect("in range");
        let group = of[raw.to_string().parse::<usize>().expect("integer ids")];
        (raw, if group == 0 { "x" } else { "y" })
    });
    Features::one_hot(ids, name, pairs)
}

/// The side data of the planted groups `a` (users) and `b` (items), for
/// any training set's id maps.
fn planted_side(a: Vec<u32>, b: Vec<u32>) -> Box<SideDataFn> {
    Box::new(move |train: &Ratings| {
        let f = groups(train.user_ids(), "a", &a);
        let g = groups(train.item_ids(), "b", &b);
        Ok(SideData::new().with("F", f)?.with("G", g)?)
    })
}

#[test]
fn an_experiment_trains_a_loss_with_side_data_per_split() -> TestResult {
    let (data, a, b) = planted(150, 60)?;
    let splits = vec![
        NamedSplit::holdout(&data, 0.25, 1)?,
        NamedSplit {
            name: "second".into(),
            ..NamedSplit::holdout(&data, 0.25, 2)?
        },
    ];
    let built = Arc::new(AtomicUsize::new(0));
    let counter = built.clone();
    let groups = planted_side(a, b);
    let side = move |train: &Ratings| {
        counter.fetch_add(1, Ordering::Relaxed);
        groups(train)
    };
    let results = Experiment::new(splits)
        .ranks([2])?
        .candidate(Candidate::new("plain", &Plain::default()).grid("lambda", [0.3, 1.0, 3.0])?)
        .candidate(
            Candidate::new("attributes", &Attributes::default())
                .grid("lambda", [0.3, 1.0, 3.0])?
                .grid("gamma", [1.0, 0.1, 0.01])?
                .side_data(side),
        )
        .run()?;
    // Built once per split, before training.
    assert_eq!(built.load(Ordering::Relaxed), 2);
    for split in 0..2 {
        let (plain, with) = (&results.outcomes[split][0], &results.outcomes[split][1]);
        assert!(with.failure.is_none(), "{:?}", with.failure);
        assert!(
            with.test.rmse < 0.75 * plain.test.rmse,
            "split {split}: {} with the attributes against {} without",
            with.test.rmse,
            plain.test.rmse
        );
    }
    Ok(())
}

#[test]
fn an_experiment_refuses_side_data_that_does_not_fit() -> TestResult {
    let (data, _, _) = planted(30, 20)?;
    let split = || NamedSplit::holdout(&data, 0.25, 1);
    let run = |c: Candidate| -> Result<(), ExperimentError> {
        Experiment::new(vec![split()?])
            .ranks([2])?
            .candidate(c)
            .run()
            .map(|_| ())
    };
    let missing = run(Candidate::new("attributes", &Attributes::default())).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "candidate `attributes`, split `holdout`: the loss reads data `F` besides the ratings, but its side data holds nothing (give it with `Candidate::side_data`)"
    );
    let one = |train: &Ratings| -> Result<SideData, Box<dyn std::error::Error + Send + Sync>> {
        let zeros = MaskedMatrix::fully_observed(Array2::zeros((train.num_users(), 1)));
        Ok(SideData::new().with("F", zeros)?)
    };
    let extra = run(Candidate::new("plain", &Plain::default()).side_data(one)).unwrap_err();
    assert_eq!(
        extra.to_string(),
        "candidate `plain`, split `holdout`: side data `F` is not data the loss reads besides the ratings (it reads: none)"
    );
    let failing = Candidate::new("attributes", &Attributes::default())
        .side_data(|_: &Ratings| Err("u.user: no such file".into()));
    assert_eq!(
        run(failing).unwrap_err().to_string(),
        "candidate `attributes`, split `holdout`: building its side data: u.user: no such file"
    );
    Ok(())
}

#[test]
fn cold_start_users_are_predicted_from_their_attributes() -> TestResult {
    let (data, a, b) = planted(150, 60)?;
    let split = NamedSplit::cold_users(&data, 0.2, 3)?;
    assert_eq!((split.split.unseen_users, split.split.test.nnz()), (30, 0));
    // Every rating is left out: an experiment that would not score them
    // is refused.
    let unscored = Experiment::new(vec![split.clone()])
        .ranks([2])?
        .candidate(Candidate::new("plain", &Plain::default()))
        .run()
        .map(|_| ())
        .expect_err("nothing to score");
    assert_eq!(
        unscored.to_string(),
        "split `cold-start users` has no test ratings of trained users and items: its 120 are left out (their user or item has no training rating); score them with `Experiment::score_left_out(true)`"
    );
    let results = Experiment::new(vec![split])
        .ranks([2])?
        .score_left_out(true)
        .candidate(Candidate::new("plain", &Plain::default()).grid("lambda", [0.3, 1.0, 3.0])?)
        .candidate(
            Candidate::new("attributes", &Attributes::default())
                .grid("lambda", [0.3, 1.0, 3.0])?
                .grid("gamma", [1.0, 0.1, 0.01])?
                .side_data(planted_side(a, b)),
        )
        .run()?;
    let (plain, with) = (&results.outcomes[0][0], &results.outcomes[0][1]);
    // Every cold user's rating scored: the plain row can only give the
    // item's bias, the attribute row the planted interaction.
    assert_eq!((plain.test.count, with.test.count), (120, 120));
    assert!(
        with.test.rmse < 0.5 * plain.test.rmse,
        "{} with the attributes against {} without",
        with.test.rmse,
        plain.test.rmse
    );
    Ok(())
}
