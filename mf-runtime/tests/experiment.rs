//! The experiment API: three losses (one whose prediction reads the data,
//! one with a sigmoid link) compared on a synthetic set; every reported
//! RMSE checked against the saved models, and the written results.

use mf_runtime::data::Synthetic;
use mf_runtime::experiment::{Candidate, Experiment, ExperimentError, NamedSplit};
use mf_runtime::loss;
use mf_runtime::model::{Model, Prediction};

type TestResult = Result<(), Box<dyn std::error::Error>>;

loss! {
    /// Biased factors with the weighted-λ penalty.
    pub struct Biased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2) + sum(bu^2) + sum(bi^2))
}

loss! {
    /// SVD++: the prediction reads the items each user rated.
    pub struct Svdpp {
        data D: sparse[users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Y^2) + sum(Q^2) + sum(bi^2))
}

loss! {
    /// Ratings squashed into (lo, lo + span) through a sigmoid.
    pub struct Squashed {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 0.1,
        hyper lo: f64 = -2.5,
        hyper span: f64 = 5.0,
    }
    minimize sum(mask * (D - lo - span * sigmoid(P@Q))^2) + lambda * (sum(P^2) + sum(Q^2))
    predict lo + span * sigmoid(P@Q)
}

#[test]
fn reported_rmses_are_those_of_the_saved_models() -> TestResult {
    let data = Synthetic {
        rank: 3,
        ..Synthetic::new(120, 80, 3000)
    }
    .generate()?;
    let splits = NamedSplit::k_fold(&data, 2, 7)?;
    let experiment = Experiment::new(splits.clone())
        .ranks([3, 6])?
        .max_iters(60)
        .candidate(Candidate::new("biased", &Biased::default()).grid("lambda", [0.03, 0.3])?)
        .candidate(Candidate::new("svd++", &Svdpp::default()).grid("lambda", [0.3, 3.0])?)
        .candidate(Candidate::new("squashed", &Squashed::default()).grid("lambda", [0.1, 1.0])?);
    let results = experiment.run()?;
    assert_eq!((results.outcomes.len(), results.outcomes[0].len()), (2, 3));
    let dir = tempfile::tempdir()?;
    let losses: [&dyn Prediction; 3] =
        [&Biased::default(), &Svdpp::default(), &Squashed::default()];
    for (s, (split, outcomes)) in splits.iter().zip(&results.outcomes).enumerate() {
        assert_eq!(results.splits[s].scored, split.split.test.nnz());
        for (c, (outcome, loss)) in outcomes.iter().zip(losses).enumerate() {
            assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
            let path = dir.path().join(format!("{s}-{c}"));
            outcome.model.as_ref().expect("a final model").save(&path)?;
            let model = Model::load(&path, loss)?;
            // The chosen setting is the saved model's.
            for (name, value) in &outcome.chosen.hypers {
                assert_eq!(model.rule().hyper(name), Some(*value));
            }
            let (lo, hi) = model.rating_range().expect("clipped to the training range");
            let mut squares = 0.0;
            for (u, i, r) in split.split.test.iter() {
                let p = model.predict_index(u, i)?;
                assert!((lo..=hi).contains(&p));
                squares += (p - r).powi(2);
            }
            let rmse = (squares / split.split.test.nnz() as f64).sqrt();
            assert!(
                (rmse - outcome.test.rmse).abs() < 1e-12,
                "{rmse} vs {}",
                outcome.test.rmse
            );
            assert!(outcome.validation_rmse.is_finite());
            assert_eq!(outcome.trials.len(), 3, "two λ, then the second rank");
        }
    }
    // A model better than the mean: the search worked.
    let mean = data.mean();
    let spread =
        (data.iter().map(|(_, _, r)| (r - mean).powi(2)).sum::<f64>() / data.nnz() as f64).sqrt();
    assert!(
        results.mean_rmse(0) < 0.9 * spread,
        "{} vs {spread}",
        results.mean_rmse(0)
    );

    // CSV: a header and a record per split and candidate; JSON parses.
    let csv = results.csv();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.records().count(), 6);
    let json: serde_json::Value = serde_json::from_str(&results.json())?;
    assert_eq!(json["results"].as_array().map(Vec::len), Some(6));
    assert_eq!(json["results"][1]["loss"], "svd++");
    assert!(results.markdown().lines().count() == 2 + 3);
    Ok(())
}

#[test]
fn bad_settings_are_refused_where_they_enter() {
    let refused =
        |r: Result<Experiment, ExperimentError>| r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused(Experiment::new(Vec::new()).ranks([0, 5])).contains("rank"));
    assert!(
        refused(Experiment::new(Vec::new()).validation_fraction(f64::NAN))
            .contains("validation fraction")
    );
    let err = Candidate::new("b", &Biased::default())
        .grid("lambda", [0.1, f64::INFINITY])
        .err()
        .unwrap();
    assert!(err.to_string().contains("must be finite"), "{err}");
    let err = Candidate::new("b", &Biased::default())
        .grid("beta", [0.1])
        .err()
        .unwrap();
    assert!(err.to_string().contains("no hyper-setting `beta`"), "{err}");
    assert!(Experiment::new(Vec::new()).run().is_err());
}

/// Test ratings whose user or item has no training rating are left out by
/// default and counted; asked, they are scored with the model's policy
/// (rows at zero), and the reported RMSE covers both sides.
#[test]
fn left_out_ratings_are_scored_when_asked() -> TestResult {
    // Sparse users: a random 30 % holdout leaves some with no training rating.
    let data = Synthetic::new(300, 40, 900).generate()?;
    let split = NamedSplit::holdout(&data, 0.3, 3)?;
    let left = split.split.left_out.nnz();
    assert!(left > 0 && left == split.split.dropped_entries, "{left}");
    let run = |score: bool| {
        Experiment::new(vec![split.clone()])
            .ranks([2])?
            .max_iters(30)
            .score_left_out(score)
            .candidate(Candidate::new("biased", &Biased::default()))
            .run()
    };
    let (plain, scored) = (run(false)?, run(true)?);
    assert_eq!(
        (plain.splits[0].scored, plain.splits[0].left_out),
        (split.split.test.nnz(), left)
    );
    assert_eq!(
        (scored.splits[0].scored, scored.splits[0].left_out),
        (split.split.test.nnz() + left, 0)
    );
    let outcome = &scored.outcomes[0][0];
    let model = outcome.model.as_ref().expect("a model");
    let mut squares = 0.0;
    for ratings in [&split.split.test, &split.split.left_out] {
        for (u, i, r) in ratings.iter() {
            let (user, item) = (
                ratings.user_ids().raw(u).unwrap(),
                ratings.item_ids().raw(i).unwrap(),
            );
            squares += (model.predict(user, item)? - r).powi(2);
        }
    }
    let rmse = (squares / (split.split.test.nnz() + left) as f64).sqrt();
    assert!(
        (rmse - outcome.test.rmse).abs() < 1e-12,
        "{rmse} vs {}",
        outcome.test.rmse
    );
    assert_eq!(outcome.test.count, split.split.test.nnz() + left);
    Ok(())
}

/// Compared by ranking: the settings are chosen by validation NDCG@k, and
/// the reported ranking metrics are those of the final model's scores.
#[test]
fn ranking_metrics_are_those_of_the_final_models() -> TestResult {
    use mf_runtime::data::Holdout;
    use mf_runtime::metrics::{Ranking, RankingProtocol};
    let data = Synthetic::new(80, 60, 2000).generate()?;
    let split = NamedSplit::per_user(&data, Holdout::Fraction(0.25), 5)?;
    let protocol = RankingProtocol {
        k: 5,
        ..RankingProtocol::default()
    };
    let results = Experiment::new(vec![split.clone()])
        .ranks([3])?
        .max_iters(20)
        .ranking(protocol)
        .candidate(Candidate::new("biased", &Biased::default()).grid("lambda", [0.03, 0.3])?)
        .run()?;
    let outcome = &results.outcomes[0][0];
    let model = outcome.model.as_ref().expect("a model");
    let (train, test) = (&split.split.train, &split.split.test);
    let direct = Ranking::of(train, test, protocol, |u, out| {
        model.scores(u as u32, out).unwrap()
    })?;
    assert_eq!(outcome.ranking, Some(direct));
    // Each trial's validation value is 1 − NDCG@5, and the choice is the best.
    let best = outcome
        .trials
        .iter()
        .map(|t| t.validation_rmse)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(outcome.validation_rmse, best);
    assert!((0.0..1.0).contains(&best));
    assert!(results
        .markdown()
        .starts_with("| loss | method | NDCG@5 | precision@5"));
    Ok(())
}
