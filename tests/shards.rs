//! Training over shards without MPI: ranks as threads of one process
//! (a [`Link`] over shared memory) give the single-process value, gradient
//! and trained parameters to round-off, bit-identical from run to run; a
//! single shard gives them exactly; bad bindings are refused.

#[path = "common/sharded.rs"]
mod sharded;

use mf_runtime::data::Ratings;
use mf_runtime::shard::{row_bounds, shard_rows, Link, ShardError, Shards, Solo};
use mf_runtime::{loss, Als, MaskedMatrix, Minimizer, Objective};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sharded::{max_relative_difference, outcomes};
use std::sync::{Arc, Barrier, Mutex};

/// Ranks as threads: each writes its buffer into its slot, and after a
/// barrier every rank reads all slots in rank order.
#[derive(Clone)]
struct Threads {
    rank: usize,
    slots: Arc<Mutex<Vec<Vec<f64>>>>,
    barrier: Arc<Barrier>,
}

impl Threads {
    /// The links of `ranks` threads.
    fn new(ranks: usize) -> Vec<Threads> {
        let slots = Arc::new(Mutex::new(vec![Vec::new(); ranks]));
        let barrier = Arc::new(Barrier::new(ranks));
        (0..ranks)
            .map(|rank| Threads {
                rank,
                slots: slots.clone(),
                barrier: barrier.clone(),
            })
            .collect()
    }

    /// Every rank's `mine`, in rank order.
    fn exchange(&self, mine: &[f64]) -> Vec<Vec<f64>> {
        self.slots.lock().expect("no rank panicked")[self.rank] = mine.to_vec();
        self.barrier.wait();
        let all = self.slots.lock().expect("no rank panicked").clone();
        self.barrier.wait();
        all
    }
}

impl Link for Threads {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.slots.lock().expect("no rank panicked").len()
    }

    fn sum_in_rank_order(&mut self, values: &mut [f64]) {
        let all = self.exchange(values);
        values.copy_from_slice(&all[0]);
        for part in &all[1..] {
            for (v, p) in values.iter_mut().zip(part) {
                *v += p;
            }
        }
    }

    fn broadcast(&mut self, values: &mut [f64]) {
        let all = self.exchange(values);
        values.copy_from_slice(&all[0]);
    }

    fn gather(&mut self, mine: &[f64], _counts: &[usize], all: &mut [f64]) {
        let parts = self.exchange(mine).concat();
        if self.rank == 0 {
            all.copy_from_slice(&parts);
        }
    }
}

/// Rank 0's outcomes over `ranks` threads (every rank's values are equal;
/// the vectors are gathered to rank 0).
fn over_threads(ranks: usize, ratings: &Ratings) -> Vec<Vec<Vec<f64>>> {
    let links = Threads::new(ranks);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = links
            .into_iter()
            .map(|link| {
                scope.spawn(move || {
                    let connect = move || Box::new(link.clone()) as Box<dyn Link>;
                    outcomes(ratings, Some(&connect)).expect("binds")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("rank ran"))
            .collect()
    });
    let values = |outcomes: &[Vec<Vec<f64>>]| -> Vec<Vec<f64>> {
        outcomes
            .iter()
            .map(|per_loss| per_loss[0].clone())
            .collect()
    };
    for other in &results[1..] {
        assert!(
            values(other) == values(&results[0]),
            "every rank evaluates the same value"
        );
        assert!(other
            .iter()
            .flatten()
            .skip(1)
            .all(|v| v.is_empty() || v.len() == 1));
    }
    results.into_iter().next().expect("one rank at least")
}

#[test]
fn ranks_as_threads_equal_one_process_to_round_off() {
    let ratings = sharded::ratings();
    let whole = outcomes(&ratings, None).expect("binds");
    for ranks in [2, 3] {
        let first = over_threads(ranks, &ratings);
        let again = over_threads(ranks, &ratings);
        assert!(
            first == again,
            "{ranks} ranks: not bit-identical from run to run"
        );
        let diff = max_relative_difference(&first, &whole);
        println!("{ranks} ranks: largest relative difference from one process {diff:.1e}");
        assert!(diff < 1e-9, "{ranks} ranks: {diff:e} from one process");
    }
}

#[test]
fn ranks_without_rows_take_part() {
    // 4 ranks over 3 users: at least one block is empty.
    let ratings = Ratings::from_triplets(
        3,
        4,
        [
            (0, 0, 5.0),
            (0, 3, 1.0),
            (1, 1, 3.0),
            (2, 2, 4.0),
            (2, 0, 2.0),
        ],
    )
    .expect("valid triplets");
    let bounds = row_bounds(&ratings, 4).expect("four blocks");
    assert!(bounds.windows(2).any(|b| b[0] == b[1]), "{bounds:?}");
    let diff = max_relative_difference(
        &over_threads(4, &ratings),
        &outcomes(&ratings, None).expect("binds"),
    );
    assert!(diff < 1e-9, "{diff:e} from one process");
}

#[test]
fn one_shard_equals_one_process_exactly() {
    let ratings = sharded::ratings();
    let solo = || Box::new(Solo) as Box<dyn Link>;
    assert!(
        outcomes(&ratings, Some(&solo)).expect("binds") == outcomes(&ratings, None).expect("binds")
    );
}

/// Rank 1 of 2 for binding checks: never asked to communicate.
struct SecondOfTwo;

impl Link for SecondOfTwo {
    fn rank(&self) -> usize {
        1
    }
    fn ranks(&self) -> usize {
        2
    }
    fn sum_in_rank_order(&mut self, _: &mut [f64]) {
        unreachable!("binding checks fail before combining")
    }
    fn broadcast(&mut self, _: &mut [f64]) {
        unreachable!("binding checks fail before combining")
    }
    fn gather(&mut self, _: &[f64], _: &[usize], _: &mut [f64]) {
        unreachable!("binding checks fail before combining")
    }
}

#[test]
fn bindings_that_cannot_be_sharded_are_refused() {
    let ratings = sharded::ratings();
    let bounds = row_bounds(&ratings, 2).expect("two blocks");
    let x = sharded::Gram::init(
        &ratings,
        2,
        mf_runtime::Init::Zeros,
        &mut StdRng::seed_from_u64(0),
    )
    .expect("init");
    // The whole data on rank 1: more rows than its block.
    let shards = Shards::new(Box::new(SecondOfTwo), bounds.clone()).expect("bounds");
    let err = sharded::Gram::default()
        .objective(&ratings, &x)
        .expect("binds")
        .over_shards(shards)
        .err()
        .expect("refused");
    let block = bounds[2] - bounds[1];
    assert!(
        matches!(err, ShardError::Rows { found: 40, expected, .. } if expected == block),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("data `D` has 40 rows, this rank's block"),
        "{err}"
    );
    // Its block's data with the whole start: params of another row count.
    let data = shard_rows(&ratings, bounds[1]..bounds[2]).expect("a block");
    let whole = sharded::Gram::init(
        &data,
        2,
        mf_runtime::Init::Zeros,
        &mut StdRng::seed_from_u64(0),
    )
    .expect("init");
    let mut x_whole = x.clone();
    x_whole.as_mut_slice().fill(0.0);
    let mine = sharded::Gram::rows_of(&x, bounds[1]..bounds[2]).expect("rows");
    assert_eq!(mine.layout(), whole.layout());
    assert!(sharded::Gram::rows_of(&x, 30..41).is_err());
    // Bounds of another row count.
    assert!(Shards::new(Box::new(Solo), vec![0, 3]).is_ok());
    let shards = Shards::new(Box::new(Solo), vec![0, 3]).expect("bounds");
    let err = sharded::Gram::default()
        .objective(&ratings, &x)
        .expect("binds")
        .over_shards(shards)
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            ShardError::Rows {
                found: 40,
                expected: 3,
                ..
            }
        ),
        "{err}"
    );
    // Bounds that are not one block per rank.
    assert!(matches!(
        Shards::new(Box::new(Solo), bounds),
        Err(ShardError::Bounds { .. })
    ));
    assert!(matches!(
        shard_rows(&ratings, 30..41),
        Err(ShardError::Bounds { .. })
    ));
}

loss! {
    /// A users × users matrix: it mixes the rows of different ranks.
    pub struct UserGram {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2) + sum((P @ P.T)^3)
}

loss! {
    /// A param shaped along the users in its columns.
    pub struct UsersByColumns {
        data  D: sparse[users, items],
        param PT: [k, users],
        param Q: [k, items],
    }
    minimize sum(mask * (D - PT.T @ Q)^2)
}

#[test]
fn losses_that_mix_users_are_refused() {
    let ratings = sharded::ratings();
    let shards = || Shards::new(Box::new(Solo), vec![0, 40]).expect("bounds");
    let mut rng = StdRng::seed_from_u64(0);
    let refusal = |sharded: Result<_, mf_runtime::shard::ShardError>| match sharded {
        Ok(_) => panic!("not refused"),
        Err(e) => e.to_string(),
    };
    let x = UserGram::init(&ratings, 2, mf_runtime::Init::Zeros, &mut rng).expect("init");
    let bound = UserGram::default().objective(&ratings, &x).expect("binds");
    let err = refusal(bound.over_shards(shards()).map(|_| ()));
    assert!(
        err.contains("a matrix product of the loss (such as `P @ P.T`) is a users × users matrix"),
        "{err}"
    );
    let x = UsersByColumns::init(&ratings, 2, mf_runtime::Init::Zeros, &mut rng).expect("init");
    let bound = UsersByColumns::default()
        .objective(&ratings, &x)
        .expect("binds");
    let err = refusal(bound.over_shards(shards()).map(|_| ()));
    assert!(
        err.contains("param `PT` is shaped along `users` in its columns"),
        "{err}"
    );
}

loss! {
    /// Dense data: not split into row blocks.
    pub struct DenseSeed {
        data  D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2)
}

#[test]
fn dense_data_is_refused_and_row_systems_are_off_over_shards() {
    let m = MaskedMatrix::zeros_as_missing(ndarray::array![[5.0, 0.0], [1.0, 2.0]]);
    let x = DenseSeed::init(
        &m,
        1,
        mf_runtime::Init::Zeros,
        &mut StdRng::seed_from_u64(0),
    )
    .expect("init");
    let shards = Shards::new(Box::new(Solo), vec![0, 2]).expect("bounds");
    let err = DenseSeed::default()
        .objective(&m, &x)
        .expect("binds")
        .over_shards(shards)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("`D` is dense"), "{err}");

    let ratings = sharded::ratings();
    let x = sharded::Gram::init(
        &ratings,
        2,
        mf_runtime::Init::Zeros,
        &mut StdRng::seed_from_u64(0),
    )
    .expect("init");
    let shards = Shards::new(Box::new(Solo), vec![0, 40]).expect("bounds");
    let mut o = sharded::Gram::default()
        .objective(&ratings, &x)
        .expect("binds")
        .over_shards(shards)
        .expect("one shard");
    let why = o.row_systems().err().expect("refused");
    assert!(why.contains("do not run over shards"), "{why}");
    let mut xs = x.as_slice().to_vec();
    assert!(Als::default()
        .train()
        .max_iters(1)
        .progress(false)
        .minimize(&mut o, &mut xs)
        .is_err());
}
