//! Ranking quality for implicit feedback: each user's unseen items ranked
//! by a model's scores and compared with the items of the user's test side
//! (precision@k, recall@k, NDCG@k, MAP@k, AUC), averaged over users.

use rayon::prelude::*;

use crate::data::Ratings;

/// Users per parallel task (fixed, so the averages are summed in the same
/// order on any number of threads).
const USERS_PER_TASK: usize = 64;

/// What a ranking is scored against: the cut-off `k` and which test
/// entries count as relevant.
///
/// ```
/// use mf_runtime::metrics::RankingProtocol;
/// let p = RankingProtocol { k: 10, ..RankingProtocol::default() };
/// assert_eq!(p.min_relevant, f64::NEG_INFINITY); // every test entry counts
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankingProtocol {
    /// The length of the top list (`@k`).
    pub k: usize,
    /// A test entry is relevant when its value is at least this (e.g. 4
    /// for "liked" on a 1–5 scale; minus infinity, the default: every test
    /// entry, as for implicit feedback).
    pub min_relevant: f64,
}

impl Default for RankingProtocol {
    fn default() -> Self {
        RankingProtocol {
            k: 10,
            min_relevant: f64::NEG_INFINITY,
        }
    }
}

/// Ranking metrics, averaged over the users with at least one relevant
/// test item (Herlocker et al. 2004; Järvelin & Kekäläinen 2002 for NDCG;
/// the definitions of the `implicit` library's `ranking_metrics_at_k`,
/// except that recall divides by the number of relevant items).
///
/// For a user `u`, the candidates are every item not in `u`'s training
/// entries, ranked by score (ties by item index); `R` is the set of `u`'s
/// relevant test items and `relᵢ` whether the item at position `i` (from
/// 1) is in `R`:
///
/// - precision@k = |top k ∩ R| / k;
/// - recall@k = |top k ∩ R| / |R|;
/// - NDCG@k = Σᵢ≤ₖ relᵢ / log₂(i + 1), divided by its best value
///   Σᵢ≤min(k, |R|) 1 / log₂(i + 1);
/// - MAP@k: the mean of AP@k = Σᵢ≤ₖ relᵢ · precision@i / min(k, |R|);
/// - AUC: the share of (relevant, non-relevant) candidate pairs whose
///   relevant item ranks first, over the whole ranking.
///
/// ```
/// use mf_runtime::{data::Ratings, metrics::{Ranking, RankingProtocol}};
/// // One user; item 0 was trained on; items 1 and 3 are in the test side.
/// let train = Ratings::from_triplets(1, 4, [(0, 0, 1.0)]).unwrap();
/// let test = Ratings::from_triplets(1, 4, [(0, 1, 1.0), (0, 3, 1.0)]).unwrap();
/// // Scores rank the candidates 3, 2, 1.
/// let scores = [9.0, 1.0, 2.0, 3.0];
/// let protocol = RankingProtocol { k: 2, ..RankingProtocol::default() };
/// let r = Ranking::of(&train, &test, protocol, |_, out| out.copy_from_slice(&scores)).unwrap();
/// assert_eq!((r.precision, r.recall, r.users), (0.5, 0.5, 1));
/// assert_eq!(r.auc, 0.5); // (3 before 2) right, (1 after 2) wrong
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranking {
    /// Mean precision@k.
    pub precision: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Mean NDCG@k.
    pub ndcg: f64,
    /// Mean average precision at k.
    pub map: f64,
    /// Mean area under the ROC curve.
    pub auc: f64,
    /// Users averaged over (those with a relevant test item and at least
    /// one candidate).
    pub users: usize,
    /// The protocol's `k`.
    pub k: usize,
}

impl Ranking {
    /// Ranks, for every user, the items the user has no training entry
    /// for by `score(user, scores)`, which writes one score per item
    /// (`num_items` values, dense indices; the training items' scores are
    /// ignored), and compares them with the user's relevant test items.
    ///
    /// # Errors
    /// `train` and `test` have different sizes (they must share id maps),
    /// `k` is 0, `min_relevant` is NaN, or a score is NaN.
    ///
    /// See [`Ranking`] for an example.
    pub fn of(
        train: &Ratings,
        test: &Ratings,
        protocol: RankingProtocol,
        score: impl Fn(usize, &mut [f64]) + Sync,
    ) -> Result<Ranking, String> {
        let (users, items) = (train.num_users(), train.num_items());
        if (test.num_users(), test.num_items()) != (users, items) {
            return Err(format!(
                "the test side is {} users × {} items and the training side {users} × {items}: \
                 rank with the id maps of the training side",
                test.num_users(),
                test.num_items()
            ));
        }
        if protocol.k == 0 {
            return Err("ranking metrics need k ≥ 1".into());
        }
        if protocol.min_relevant.is_nan() {
            return Err("min_relevant is NaN".into());
        }
        let tasks: Vec<Result<[f64; 6], String>> = (0..users.div_ceil(USERS_PER_TASK))
            .into_par_iter()
            .map(|task| {
                let mut sums = [0.0; 6];
                let mut scores = vec![0.0; items];
                let mut candidates = Vec::with_capacity(items);
                let mut relevant = vec![false; items];
                let first = task * USERS_PER_TASK;
                for u in first..(first + USERS_PER_TASK).min(users) {
                    let (test_items, values) = test.csr().row(u);
                    let liked: Vec<usize> = test_items
                        .iter()
                        .zip(values)
                        .filter(|&(_, &v)| v >= protocol.min_relevant)
                        .map(|(&i, _)| i as usize)
                        .collect();
                    if liked.is_empty() {
                        continue;
                    }
                    score(u, &mut scores);
                    let trained = train.csr().row(u).0;
                    candidates.clear();
                    candidates.extend(
                        (0..items).filter(|i| trained.binary_search(&(*i as u32)).is_err()),
                    );
                    if let Some(&i) = candidates.iter().find(|&&i| scores[i].is_nan()) {
                        return Err(format!("the score of user {u}, item {i} is NaN"));
                    }
                    for &i in &liked {
                        relevant[i] = true;
                    }
                    let user =
                        user_metrics(&mut candidates, &scores, &relevant, liked.len(), protocol.k);
                    for &i in &liked {
                        relevant[i] = false;
                    }
                    if let Some(m) = user {
                        for (s, v) in sums.iter_mut().zip(m) {
                            *s += v;
                        }
                        sums[5] += 1.0;
                    }
                }
                Ok(sums)
            })
            .collect();
        let mut sums = [0.0; 6];
        for task in tasks {
            for (s, v) in sums.iter_mut().zip(task?) {
                *s += v;
            }
        }
        let n = sums[5];
        Ok(Ranking {
            precision: sums[0] / n,
            recall: sums[1] / n,
            ndcg: sums[2] / n,
            map: sums[3] / n,
            auc: sums[4] / n,
            users: n as usize,
            k: protocol.k,
        })
    }
}

/// One user's precision, recall, NDCG, AP and AUC; `candidates` are
/// sorted here by score, best first (ties by item). `None` without a
/// candidate or without a relevant candidate.
fn user_metrics(
    candidates: &mut [usize],
    scores: &[f64],
    relevant: &[bool],
    liked: usize,
    k: usize,
) -> Option<[f64; 5]> {
    candidates.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let relevant_candidates = candidates.iter().filter(|&&i| relevant[i]).count();
    if relevant_candidates == 0 {
        return None;
    }
    let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
    for (position, &i) in candidates.iter().take(k).enumerate() {
        if relevant[i] {
            hits += 1;
            dcg += 1.0 / ((position + 2) as f64).log2();
            ap += hits as f64 / (position + 1) as f64;
        }
    }
    let ideal: f64 = (0..k.min(liked))
        .map(|p| 1.0 / ((p + 2) as f64).log2())
        .sum();
    // AUC: for each relevant candidate, the non-relevant ones ranked below it.
    let negatives = candidates.len() - relevant_candidates;
    let auc = match negatives {
        0 => 1.0,
        _ => {
            let (mut below, mut seen_negatives) = (0usize, 0usize);
            for &i in candidates.iter() {
                match relevant[i] {
                    true => below += negatives - seen_negatives,
                    false => seen_negatives += 1,
                }
            }
            below as f64 / (relevant_candidates * negatives) as f64
        }
    };
    Some([
        hits as f64 / k as f64,
        hits as f64 / liked as f64,
        dcg / ideal,
        ap / k.min(liked) as f64,
        auc,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two users, every metric computed by hand.
    ///
    /// User 0 trained on item 0; test items 1, 3 and 5; scores rank the
    /// candidates 5, 2, 1, 4, 3 (item 6 was trained on too). With k = 3 the
    /// top list is 5 (hit), 2, 1 (hit):
    /// precision 2/3, recall 2/3, DCG 1/log₂2 + 1/log₂4 = 1.5 against the
    /// ideal 1 + 1/log₂3 + 1/2, AP (1/1 + 2/3) / 3, AUC: 5 is above both
    /// non-relevant candidates 2 and 4 (0 and 6 are not candidates), 1
    /// above 4 only, 3 above none, so (2 + 1 + 0) / (3 · 2) = 0.5.
    ///
    /// User 1 trained on nothing, test item 0 with value 2, below the
    /// relevance threshold of 3 in the second protocol (then skipped).
    #[test]
    fn metrics_match_a_hand_computed_example() {
        let train = Ratings::from_triplets(2, 7, [(0, 0, 1.0), (0, 6, 1.0)]).unwrap();
        let test =
            Ratings::from_triplets(2, 7, [(0, 1, 5.0), (0, 3, 4.0), (0, 5, 3.0), (1, 0, 2.0)])
                .unwrap();
        let user0 = [9.0, 3.0, 4.0, 1.0, 2.0, 5.0, 8.0];
        let user1 = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let score =
            |u: usize, out: &mut [f64]| out.copy_from_slice(if u == 0 { &user0 } else { &user1 });
        let protocol = RankingProtocol {
            k: 3,
            min_relevant: 3.0,
        };
        let r = Ranking::of(&train, &test, protocol, score).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert_eq!(r.users, 1);
        assert!(
            close(r.precision, 2.0 / 3.0) && close(r.recall, 2.0 / 3.0),
            "{r:?}"
        );
        let ideal = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(r.ndcg, 1.5 / ideal), "{r:?}");
        assert!(close(r.map, (1.0 + 2.0 / 3.0) / 3.0), "{r:?}");
        assert!(close(r.auc, 0.5), "{r:?}");

        // Every test entry relevant: user 1's item 0 ranks first of seven.
        let all = Ranking::of(
            &train,
            &test,
            RankingProtocol {
                k: 3,
                ..RankingProtocol::default()
            },
            score,
        )
        .unwrap();
        assert_eq!(all.users, 2);
        assert!(
            close(all.precision, (2.0 / 3.0 + 1.0 / 3.0) / 2.0),
            "{all:?}"
        );
        assert!(close(all.ndcg, (1.5 / ideal + 1.0) / 2.0), "{all:?}");
        assert!(close(all.auc, (0.5 + 1.0) / 2.0), "{all:?}");
    }

    /// The same on one thread and on four, to the bit; bad settings and
    /// mismatched sides are refused.
    #[test]
    fn deterministic_and_checked() {
        let train = crate::data::synthetic(300, 50, 3000, 1).unwrap();
        let test = crate::data::synthetic(300, 50, 600, 2).unwrap();
        let score = |u: usize, out: &mut [f64]| {
            for (i, s) in out.iter_mut().enumerate() {
                *s = ((u * 31 + i * 17) % 23) as f64;
            }
        };
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| Ranking::of(&train, &test, RankingProtocol::default(), score).unwrap())
        };
        assert_eq!(run(1), run(4));
        let k0 = RankingProtocol {
            k: 0,
            ..RankingProtocol::default()
        };
        assert!(Ranking::of(&train, &test, k0, score).is_err());
        let other = crate::data::synthetic(300, 60, 600, 2).unwrap();
        assert!(Ranking::of(&train, &other, RankingProtocol::default(), score).is_err());
        let nan = |_: usize, out: &mut [f64]| out.fill(f64::NAN);
        assert!(Ranking::of(&train, &test, RankingProtocol::default(), nan).is_err());
    }
}
