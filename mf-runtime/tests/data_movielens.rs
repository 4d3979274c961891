//! MovieLens 100k (found by `mf_runtime::data::find_dataset`): counts of
//! `u.data` and of the canonical splits.
//!
//! The data set is never part of the repository, so these tests are
//! `#[ignore]`d with the reason (the test summary counts and names them);
//! `./test.sh` runs them with `--ignored` when the data set is found, and
//! CI always does. Run by hand without the data, they fail and say where
//! they looked.

use std::path::PathBuf;

use mf_runtime::data::{find_dataset, Holdout, Ratings, Split};
use mf_runtime::metrics::Accuracy;

/// The path of `relative` under the data sets, or a failure naming it.
fn dataset(relative: &str) -> PathBuf {
    find_dataset(relative).unwrap_or_else(|| {
        panic!("MovieLens 100k is absent: no {relative} under $MF_DATASETS or ../shared/datasets")
    })
}

#[test]
#[ignore = "needs MovieLens 100k (ml-100k under $MF_DATASETS or ../shared/datasets)"]
fn u_data_counts() {
    let path = dataset("ml-100k/u.data");
    let r = Ratings::from_movielens(&path).unwrap();
    assert_eq!(
        (r.nnz(), r.num_users(), r.num_items()),
        (100_000, 943, 1682)
    );
    assert!(
        r.user_counts().all(|c| c >= 20),
        "every ml-100k user rated ≥ 20 movies"
    );
    assert_eq!(r.item_counts().sum::<usize>(), 100_000);
    assert!(r.iter().all(|(_, _, v)| (1.0..=5.0).contains(&v)));
    let mean = r.mean();
    assert!((mean - 3.5299).abs() < 1e-3, "{mean}");
    // The global mean as a predictor: RMSE ≈ 1.126 on u.data.
    let acc = Accuracy::of(&r, |_, _| mean);
    assert!((acc.rmse - 1.1257).abs() < 1e-3, "{acc:?}");

    let s = r.split_random(0.2, 1).unwrap();
    assert_eq!(s.test.nnz() + s.dropped_entries, 20_000);
    println!("random 80/20: {s}");
    let p = r.split_per_user(Holdout::Count(10), 1).unwrap();
    assert_eq!(p.train.nnz(), 100_000 - 943 * 10);
    println!("10 per user: {p}");
}

#[test]
#[ignore = "needs MovieLens 100k (ml-100k under $MF_DATASETS or ../shared/datasets)"]
fn canonical_splits() {
    let dir = dataset("ml-100k");
    for name in ["u1", "u2", "u3", "u4", "u5"] {
        let s = Split::movielens(&dir, name).unwrap();
        println!("{name}: {s}");
        assert_eq!(s.train.nnz(), 80_000, "{name}");
        assert_eq!(s.test.nnz() + s.dropped_entries, 20_000, "{name}");
        assert_eq!(
            s.unseen_users, 0,
            "{name}: every user is in every base file"
        );
        assert_eq!(s.train.num_users(), 943, "{name}");
    }
    let u1 = Split::movielens(&dir, "u1").unwrap();
    // Known figures of u1: 1650 items in u1.base; the test file holds
    // items the base lacks, whose ratings are left out and counted.
    assert_eq!(u1.train.num_items(), 1650);
    assert_eq!(
        (
            u1.test.nnz(),
            u1.dropped_entries,
            u1.unseen_users,
            u1.unseen_items
        ),
        (19_968, 32, 0, 32)
    );
    for name in ["ua", "ub"] {
        let s = Split::movielens(&dir, name).unwrap();
        println!("{name}: {s}");
        assert_eq!(s.train.nnz(), 100_000 - 9430, "{name}");
        assert_eq!(s.test.nnz() + s.dropped_entries, 9430, "{name}");
        assert_eq!(s.unseen_users, 0, "{name}");
    }
}
