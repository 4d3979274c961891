//! The regularizer comparison's synthetic path (planted rank-5 matrix +
//! noise of std 0.5, missing at random, seeded), made small enough for a
//! debug build: 250 users × 120 items, about 4000 ratings, one setting per
//! loss (the smallest λ of its grid at its first rank: k = 5, or 20 for the
//! larger-rank row) instead of the grid search. Every
//! loss trains without diverging or failing; the early
//! stopping kept the best validation step; and penalties with biases earn
//! their place: the biased L2 loss beats the unpenalized one on the test side.

#[allow(dead_code)]
#[path = "../examples/compare_regularizers/main.rs"]
mod compare;

#[test]
fn every_loss_trains_and_the_biased_l2_loss_beats_no_penalty() {
    use mf_runtime::experiment::Experiment;
    let split = compare::synthetic_split_sized(250, 120, 4000).unwrap();
    let cands = compare::candidates(false).unwrap();
    assert!(cands.len() >= 8);
    let names: Vec<String> = cands.iter().map(|c| c.name().to_string()).collect();
    let experiment = cands.into_iter().fold(
        Experiment::new(vec![split.clone()])
            .ranks([compare::SYNTHETIC_KS[0]])
            .unwrap(),
        Experiment::candidate,
    );
    let results = experiment.run().unwrap();
    print!("{results}");
    let outcomes = &results.outcomes[0];

    // Predicting the mean training rating everywhere.
    let mean = split.split.train.mean();
    let baseline = mf_runtime::metrics::rmse(&split.split.test, |_, _| mean);
    for (name, o) in names.iter().zip(outcomes) {
        assert!(o.failure.is_none(), "{name}: {:?}", o.failure);
        assert!(o.test.rmse.is_finite() && o.test.mae.is_finite(), "{name}");
        let best = o
            .trials
            .iter()
            .map(|t| t.validation_rmse)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(
            o.validation_rmse, best,
            "{name}: not the best validation run"
        );
        // The final run takes the steps its validation run kept, which may
        // be none when the start validated best (ALS at the smallest λ of
        // a grid overfits this tiny set at its first step); the validation
        // run itself must have trained.
        assert!(
            o.validation_history.records().len() > 1,
            "{name}: the validation run took no step"
        );
    }

    let by_name = |name: &str| {
        let i = names.iter().position(|c| c == name).unwrap();
        outcomes[i].test.rmse
    };
    let plain = by_name("squared error, no penalty");
    let l2_biased = by_name("L2 (squared Frobenius) + biases");
    assert!(
        l2_biased < plain - 0.05,
        "biased L2 {l2_biased} vs no penalty {plain}"
    );
    // Noise std is 0.5: the best loss must get well below the mean's error,
    // towards the noise floor.
    let best = outcomes
        .iter()
        .map(|o| o.test.rmse)
        .fold(f64::INFINITY, f64::min);
    // One untuned setting per loss on a tiny set: single losses may do no
    // better than the mean, but the best of them must.
    assert!(
        best < 0.8 * baseline,
        "best test RMSE {best} (noise std 0.5, mean's {baseline})"
    );
}

/// SVD++'s generated model (its prediction reads the training data through
/// a table) predicts what the loss fits: with no penalty, the loss is the
/// sum of squared errors of the model's predictions.
#[test]
fn the_svdpp_model_predicts_what_its_loss_fits() {
    use mf_runtime::{Init, Objective};
    use rand::SeedableRng;
    let split = compare::synthetic_split_sized(60, 40, 900).unwrap();
    let fit = &split.split.train;
    let init = Init::Normal {
        mean: 0.0,
        std: 0.3,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let params = compare::Svdpp::init(fit, 4, init, &mut rng).unwrap();
    let loss = compare::Svdpp {
        lambda: 0.0,
        ratio: 1.0,
    };
    let value = loss
        .objective(fit, &params)
        .unwrap()
        .value(params.as_slice());
    let model = mf_runtime::Model::new(&loss, params, fit).unwrap();
    let predict = |u: usize, i: usize| model.predict_index(u as u32, i as u32).unwrap();
    let csr = fit.csr();
    let mut squares = 0.0;
    for u in 0..fit.num_users() {
        let (items, ratings) = csr.row(u);
        for (&i, &d) in items.iter().zip(ratings) {
            squares += (d - predict(u, i as usize)).powi(2);
        }
    }
    assert!(
        (value - squares).abs() <= 1e-9 * value,
        "{value} vs {squares}"
    );
}

/// The concurrent search (splits, losses and the settings of a stage at
/// once) makes the choices of a search run after run: on one thread and
/// on four, the same trials, chosen settings and test errors, to the bit.
#[test]
fn the_concurrent_search_chooses_as_one_thread_does() {
    use mf_runtime::experiment::{Experiment, Outcome};
    let split = compare::synthetic_split_sized(120, 60, 1500).unwrap();
    let search = |threads| {
        let mut cands = compare::candidates(true).unwrap();
        cands.retain(|c| c.name().starts_with("Huber") || c.name() == "weighted-λ + biases");
        let experiment = cands.into_iter().fold(
            Experiment::new(vec![split.clone()])
                .ranks(compare::SYNTHETIC_KS)
                .unwrap(),
            Experiment::candidate,
        );
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.unwrap().install(|| experiment.run().unwrap())
    };
    let (one, four) = (search(1), search(4));
    for ((a, b), name) in one.outcomes[0]
        .iter()
        .zip(&four.outcomes[0])
        .zip(&one.names)
    {
        let bits = |o: &Outcome| {
            let trials = o
                .trials
                .iter()
                .map(|t| (t.setting.to_string(), t.validation_rmse.to_bits()));
            (
                o.chosen.to_string(),
                trials.collect::<Vec<_>>(),
                o.test.rmse.to_bits(),
                o.iterations,
            )
        };
        assert_eq!(bits(a), bits(b), "{name}");
        assert!(a.trials.len() >= 6, "{name}: the full grid");
    }
}

/// Every loss of the comparison, the AutoRec rows' too, round-trips
/// through its model's files: save → load → the same predictions to the
/// bit, for known and unknown ids (SVD++ and AutoRec through their saved
/// tables).
#[test]
fn every_comparison_model_saves_and_loads_bit_identically() {
    use mf_runtime::data::SideData;
    use mf_runtime::model::{Model, Unknown};
    use mf_runtime::Init;
    use rand::SeedableRng;
    let split = compare::synthetic_split_sized(60, 40, 900).unwrap();
    let fit = &split.split.train;
    let dir = tempfile::tempdir().unwrap();
    let mut cands = compare::candidates(false).unwrap();
    cands.extend(compare::autorec_candidates(false).unwrap());
    for (n, c) in cands.iter().enumerate() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
        let init = Init::Normal {
            mean: 0.0,
            std: 0.5,
        };
        let params = c
            .loss()
            .start(fit, &SideData::new(), 3, init, &mut rng)
            .unwrap();
        let model = Model::builder(c.loss(), params, fit)
            .clip(1.0, 5.0)
            .unknown(Unknown::Baseline)
            .build()
            .unwrap();
        let path = dir.path().join(n.to_string());
        model.save(&path).unwrap();
        let loaded = Model::load(&path, c.loss()).unwrap();
        assert_eq!(loaded, model, "{}", c.name());
        for u in 0..fit.num_users() as u32 {
            for i in 0..fit.num_items() as u32 {
                let (a, b) = (
                    loaded.predict_index(u, i).unwrap(),
                    model.predict_index(u, i).unwrap(),
                );
                assert_eq!(a.to_bits(), b.to_bits(), "{} ({u}, {i})", c.name());
            }
        }
        let unknown = (
            loaded.predict("nobody", 0).unwrap(),
            model.predict("nobody", 0).unwrap(),
        );
        assert_eq!(unknown.0.to_bits(), unknown.1.to_bits(), "{}", c.name());
    }
}

/// The AutoRec rows (`--autorec`) train through the experiment with the
/// rank as their hidden size `k` (times `AUTOREC_RANK_SCALE`: `k` is the
/// loss's only free dimension) and predict through their encoder tables;
/// the item-based model beats predicting the mean training rating. Their
/// λ grid is MovieLens's (about 80,000 ratings, 20 times this set), so
/// here λ = 3; the user-based model, with about 13 ratings per user to
/// encode, validates no better than its start on this set.
#[test]
fn the_autorec_rows_train_with_the_rank_as_hidden_size() {
    use mf_runtime::experiment::Experiment;
    let split = compare::synthetic_split_sized(250, 120, 4000).unwrap();
    let rank = compare::SYNTHETIC_KS[0];
    let experiment = compare::autorec_candidates(false)
        .unwrap()
        .into_iter()
        .map(|c| c.grid("lambda", [3.0]).unwrap())
        .fold(
            Experiment::new(vec![split.clone()]).ranks([rank]).unwrap(),
            Experiment::candidate,
        );
    let results = experiment.run().unwrap();
    print!("{results}");
    let hidden = rank * compare::AUTOREC_RANK_SCALE;
    let (users, items) = (split.split.train.num_users(), split.split.train.num_items());
    let encoder_shapes = [(hidden, users), (items, hidden)]; // V, item- then user-based
    for ((name, o), shape) in results
        .names
        .iter()
        .zip(&results.outcomes[0])
        .zip(encoder_shapes)
    {
        assert!(o.failure.is_none(), "{name}: {:?}", o.failure);
        assert_eq!((o.method, o.chosen.rank), ("L-BFGS", hidden), "{name}");
        let model = o.model.as_ref().unwrap();
        assert_eq!(model.params().view("V").unwrap().dim(), shape, "{name}");
        assert_eq!(model.tables().len(), 1, "{name}: the encoder table");
    }
    let mean = split.split.train.mean();
    let baseline = mf_runtime::metrics::rmse(&split.split.test, |_, _| mean);
    let item_based = results.outcomes[0][0].test.rmse;
    assert!(
        item_based < 0.95 * baseline,
        "item-based test RMSE {item_based} against the mean's {baseline}"
    );
}
