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

/// Timestamps kept and split on, the split written back and read again,
/// and the side information of `u.user` and `u.item` aligned with the
/// ratings' id maps. Expected counts from the files by `awk` (22,015
/// ratings of `u.data` from 1998-03-01 on, by 207 users who rated nothing
/// earlier; 21 occupations).
#[test]
#[ignore = "needs MovieLens 100k (ml-100k under $MF_DATASETS or ../shared/datasets)"]
fn timestamps_write_back_and_side_information() {
    use mf_runtime::data::{timestamp_of_date, Features, LoadOptions};
    let dir = dataset("ml-100k");
    let r = Ratings::from_movielens(dir.join("u.data")).unwrap();
    let times = r.timestamps().expect("u.data has timestamps");
    let (first, last) = (times.iter().min(), times.iter().max());
    assert_eq!((first, last), (Some(&874_724_710), Some(&893_286_638)));

    let latest = r.split_latest_per_user(Holdout::Count(10)).unwrap();
    assert_eq!(latest.train.nnz(), 100_000 - 943 * 10);
    assert_eq!(latest.test.nnz() + latest.dropped_entries, 943 * 10);
    let cut = r
        .split_at_time(timestamp_of_date("1998-03-01").unwrap())
        .unwrap();
    assert_eq!(cut.test.nnz() + cut.dropped_entries, 22_015);
    assert_eq!((cut.train.nnz(), cut.unseen_users), (100_000 - 22_015, 207));
    println!("from 1998-03-01: {cut}");

    let out = tempfile::tempdir().unwrap();
    cut.write_csv(out.path()).unwrap();
    let again = Split::from_files(
        out.path().join("train.csv"),
        out.path().join("test.csv"),
        &LoadOptions::new(),
    )
    .unwrap();
    assert_eq!(
        (again.train.nnz(), again.test.nnz(), again.dropped_entries),
        (cut.train.nnz(), cut.test.nnz(), 0)
    );
    let (train, _) = LoadOptions::new()
        .load_on(out.path().join("train.csv"), &cut.train)
        .unwrap();
    assert_eq!(train, cut.train);

    let u1 = Split::movielens(&dir, "u1").unwrap();
    let users = Features::movielens_users(dir.join("u.user"), u1.train.user_ids()).unwrap();
    assert_eq!(users.dim(), (943, 7 + 2 + 21 + 11));
    assert!(users.missing().is_empty());
    // Every user has one age group, one gender, one occupation, one zip.
    assert!(users
        .matrix()
        .rows()
        .into_iter()
        .all(|row| row.sum() == 4.0));
    let items = Features::movielens_items(dir.join("u.item"), u1.train.item_ids()).unwrap();
    assert_eq!(items.dim(), (1650, 19 + 5));
    assert_eq!((items.missing().len(), items.unused()), (0, 1682 - 1650));
    println!("u.user: {users}\nu.item: {items}");
}
