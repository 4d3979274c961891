//! Sorting entries into CSR on every core: a counting sort on the user
//! fills the rows, each row is sorted by item, and repeated pairs are
//! resolved by a [`Duplicates`] policy; each stage is split over rayon's
//! threads, and the result is the same on any number of them.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rayon::prelude::*;

use super::{Duplicates, Ratings};
use crate::data::error::DataError;
use crate::data::ids::{IdMap, RawId};

/// Entries below which a stage's piece is not split further.
const MIN_PIECE: usize = 1 << 15;

/// Entries as parallel arrays, in the order given; `times` is empty or as
/// long as the others.
#[derive(Default)]
pub(super) struct Triplets {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f64>,
    times: Vec<i64>,
}

impl Triplets {
    pub(super) fn push(&mut self, u: u32, i: u32, v: f64, time: Option<i64>) {
        self.users.push(u);
        self.items.push(i);
        self.values.push(v);
        self.times.extend(time);
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.values.len()
    }

    /// The first entry whose rating is not finite.
    pub(super) fn first_not_finite(&self) -> Option<(usize, f64)> {
        let e = self.values.iter().position(|v| !v.is_finite())?;
        Some((e, self.values[e]))
    }
}

/// A repeated pair: its first and second entries (0-based), user, item.
type Repeat = (usize, usize, u32, u32);

/// Sorts triplets into CSR: rows by user, each row by item, repeats of a
/// pair adjacent in input order, resolved by `policy`.
/// `duplicate(first, second, user, item)` makes the error for the repeat
/// with the smallest `second` (0-based entries). A kept rating keeps its
/// timestamp (the latest of a group averaged).
pub(super) fn assemble(
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    t: Triplets,
    policy: Duplicates,
    duplicate: impl Fn(usize, usize, RawId<'_>, RawId<'_>) -> DataError,
) -> Result<Ratings, DataError> {
    let n = t.len();
    // An entry's number is the low half of its sort key.
    if u32::try_from(n).is_err() {
        return Err(DataError::Invalid(format!(
            "{n} entries: at most u32::MAX are supported"
        )));
    }
    let Triplets {
        users: row_of,
        items: col_of,
        values,
        times,
    } = t;
    let (row_start, mut keys) = fill_rows(&row_of, &col_of, users.len());
    drop((row_of, col_of));
    let pieces = pieces(&row_start);
    let row_ptr = sort_rows(&mut keys, &row_start, &pieces);

    let nnz = row_ptr[row_ptr.len() - 1];
    let timed = !times.is_empty();
    let mut col_idx = vec![0u32; nnz];
    let mut csr_values = vec![0f64; nnz];
    let mut csr_times = vec![0i64; if timed { nnz } else { 0 }];
    let kept = |p: &Range<usize>| row_ptr[p.end] - row_ptr[p.start];
    let outputs = split(&mut col_idx, pieces.iter().map(kept))
        .into_par_iter()
        .zip(split(&mut csr_values, pieces.iter().map(kept)))
        .zip(split(
            &mut csr_times,
            pieces.iter().map(|p| if timed { kept(p) } else { 0 }),
        ));
    let source = Source {
        values: &values,
        times: &times,
        policy,
    };
    let first_repeat = split(&mut keys, pieces.iter().map(|p| span(&row_start, p)))
        .into_par_iter()
        .zip(outputs)
        .zip(&pieces)
        .map(|((keys, ((cols, values), times)), rows)| {
            let base = row_start[rows.start];
            let rows = rows
                .clone()
                .map(|u| (u, &keys[row_start[u] - base..row_start[u + 1] - base]));
            source.resolve(rows, cols, values, times)
        })
        .reduce(|| None, earliest);
    if let Some((first, second, u, i)) = first_repeat {
        let raw_u = users.raw(u).expect("index in map");
        let raw_i = items.raw(i).expect("index in map");
        return Err(duplicate(first, second, raw_u, raw_i));
    }
    drop(keys);
    Ok(Ratings::from_csr(
        users,
        items,
        row_ptr,
        col_idx,
        csr_values,
        timed.then_some(csr_times),
    ))
}

/// A counting sort on the user, on one piece of the entries per thread:
/// each row's start (`num_users + 1` offsets) and, row after row, the sort
/// key of each entry, `item << 32 | entry`.
fn fill_rows(row_of: &[u32], col_of: &[u32], num_users: usize) -> (Vec<usize>, Vec<u64>) {
    let n = row_of.len();
    let parts = (n / MIN_PIECE).clamp(1, rayon::current_num_threads());
    let size = n.div_ceil(parts).max(1);
    // Per piece, the count of each row, then where its next entry goes.
    let mut next: Vec<Vec<u32>> = row_of
        .par_chunks(size)
        .map(|piece| {
            let mut count = vec![0u32; num_users];
            for &u in piece {
                count[u as usize] += 1;
            }
            count
        })
        .collect();
    let mut row_start = Vec::with_capacity(num_users + 1);
    let mut at = 0;
    row_start.push(at);
    for u in 0..num_users {
        for piece in &mut next {
            let count = piece[u];
            piece[u] = at as u32;
            at += count as usize;
        }
        row_start.push(at);
    }
    // Pieces write to places no other piece writes to, in no set order.
    let slots: Vec<AtomicU64> = (0..n).into_par_iter().map(|_| AtomicU64::new(0)).collect();
    row_of
        .par_chunks(size)
        .zip(col_of.par_chunks(size))
        .zip(next.par_iter_mut())
        .enumerate()
        .for_each(|(k, ((rows, cols), next))| {
            for (e, (&u, &i)) in (k * size..).zip(rows.iter().zip(cols)) {
                let at = &mut next[u as usize];
                slots[*at as usize].store(u64::from(i) << 32 | e as u64, Ordering::Relaxed);
                *at += 1;
            }
        });
    let keys = slots.into_iter().map(AtomicU64::into_inner).collect();
    (row_start, keys)
}

/// Ranges of rows holding `MIN_PIECE` entries or more each (the last
/// maybe fewer), the rows' starts given.
fn pieces(row_start: &[usize]) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for u in 0..row_start.len() - 1 {
        if row_start[u + 1] - row_start[start] >= MIN_PIECE {
            pieces.push(start..u + 1);
            start = u + 1;
        }
    }
    if start < row_start.len() - 1 {
        pieces.push(start..row_start.len() - 1);
    }
    pieces
}

/// The entries of `rows`, as a count.
fn span(row_start: &[usize], rows: &Range<usize>) -> usize {
    row_start[rows.end] - row_start[rows.start]
}

/// Sorts each row's keys (by item, then entry: repeats of a pair adjacent
/// in input order); returns each row's start once repeats are merged.
fn sort_rows(keys: &mut [u64], row_start: &[usize], pieces: &[Range<usize>]) -> Vec<usize> {
    let mut kept = vec![0usize; row_start.len() - 1];
    split(keys, pieces.iter().map(|p| span(row_start, p)))
        .into_par_iter()
        .zip(split(&mut kept, pieces.iter().map(Range::len)))
        .zip(pieces)
        .for_each(|((keys, kept), rows)| {
            let base = row_start[rows.start];
            for (u, kept) in rows.clone().zip(kept) {
                let row = &mut keys[row_start[u] - base..row_start[u + 1] - base];
                row.sort_unstable();
                *kept = row.chunk_by(|a, b| a >> 32 == b >> 32).count();
            }
        });
    let mut row_ptr = Vec::with_capacity(kept.len() + 1);
    let mut at = 0;
    row_ptr.push(at);
    for k in kept {
        at += k;
        row_ptr.push(at);
    }
    row_ptr
}

/// `s` cut into consecutive pieces of the given lengths (summing to its
/// length).
fn split<T>(mut s: &mut [T], lengths: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut out = Vec::new();
    for len in lengths {
        let (head, tail) = s.split_at_mut(len);
        out.push(head);
        s = tail;
    }
    out
}

/// Of two repeats, the one whose second entry comes first.
fn earliest(a: Option<Repeat>, b: Option<Repeat>) -> Option<Repeat> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.1 < a.1 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The entries' ratings and times, and how repeats are resolved.
struct Source<'a> {
    values: &'a [f64],
    /// Empty, or one per entry.
    times: &'a [i64],
    policy: Duplicates,
}

impl Source<'_> {
    /// Writes the pairs of sorted `rows` (row index, keys) into `cols`,
    /// `values` and `times` (empty when untimed), one per pair; returns
    /// the repeat with the earliest second entry under
    /// [`Duplicates::Error`].
    fn resolve<'k>(
        &self,
        rows: impl Iterator<Item = (usize, &'k [u64])>,
        cols: &mut [u32],
        values: &mut [f64],
        times: &mut [i64],
    ) -> Option<Repeat> {
        let timed = !self.times.is_empty();
        let entry = |key: u64| (key & u64::from(u32::MAX)) as usize;
        let mut first_repeat = None;
        let mut at = 0;
        for (u, row) in rows {
            for group in row.chunk_by(|a, b| a >> 32 == b >> 32) {
                let item = (group[0] >> 32) as u32;
                let kept = match self.policy {
                    _ if group.len() == 1 => group[0],
                    Duplicates::Error => {
                        let repeat = (entry(group[0]), entry(group[1]), u as u32, item);
                        first_repeat = earliest(first_repeat, Some(repeat));
                        group[0]
                    }
                    Duplicates::KeepFirst | Duplicates::Average => group[0],
                    Duplicates::KeepLast => group[group.len() - 1],
                };
                let (value, time) = match self.policy {
                    Duplicates::Average if group.len() > 1 => (
                        group.iter().map(|&g| self.values[entry(g)]).sum::<f64>()
                            / group.len() as f64,
                        timed.then(|| {
                            group
                                .iter()
                                .map(|&g| self.times[entry(g)])
                                .max()
                                .expect("a group")
                        }),
                    ),
                    _ => (
                        self.values[entry(kept)],
                        timed.then(|| self.times[entry(kept)]),
                    ),
                };
                cols[at] = item;
                values[at] = value;
                if let Some(time) = time {
                    times[at] = time;
                }
                at += 1;
            }
        }
        first_repeat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSR arrays (row starts, items, ratings, times), or the first
    /// and second entries of the repeat reported.
    type Outcome = Result<(Vec<usize>, Vec<u32>, Vec<f64>, Vec<i64>), (usize, usize)>;

    /// The CSR arrays of `triplets` (user, item, value, time) under
    /// `policy`, or the repeat reported.
    fn csr(triplets: &[(u32, u32, f64, i64)], policy: Duplicates) -> Outcome {
        let mut t = Triplets::default();
        for &(u, i, v, time) in triplets {
            t.push(u, i, v, Some(time));
        }
        let n =
            |f: fn(&(u32, u32, f64, i64)) -> u32| triplets.iter().map(f).max().map_or(0, |m| m + 1);
        let users = Arc::new(IdMap::identity(n(|t| t.0)));
        let items = Arc::new(IdMap::identity(n(|t| t.1)));
        let r = assemble(users, items, t, policy, |first, second, _, _| {
            DataError::Duplicate {
                file: String::new(),
                user: String::new(),
                item: String::new(),
                unit: "entry",
                first,
                second,
            }
        });
        match r {
            Ok(r) => {
                let c = r.csr();
                let times = r.timestamps().unwrap_or_default().to_vec();
                Ok((
                    c.indptr.to_vec(),
                    c.indices.to_vec(),
                    c.values.to_vec(),
                    times,
                ))
            }
            Err(DataError::Duplicate { first, second, .. }) => Err((first, second)),
            Err(e) => panic!("{e}"),
        }
    }

    /// The same sort, written plainly: entries by (user, item, entry).
    fn reference(triplets: &[(u32, u32, f64, i64)], policy: Duplicates) -> Outcome {
        let mut order: Vec<usize> = (0..triplets.len()).collect();
        order.sort_by_key(|&e| (triplets[e].0, triplets[e].1, e));
        let num_users = triplets.iter().map(|t| t.0 + 1).max().unwrap_or(0);
        let (mut row_ptr, mut cols, mut values, mut times) = (vec![0], vec![], vec![], vec![]);
        let mut repeats = vec![];
        let groups = order
            .chunk_by(|&a, &b| triplets[a].0 == triplets[b].0 && triplets[a].1 == triplets[b].1);
        let mut groups = groups.peekable();
        for u in 0..num_users {
            while let Some(g) = groups.next_if(|g| triplets[g[0]].0 == u) {
                if g.len() > 1 {
                    repeats.push((g[0], g[1]));
                }
                let (v, time) = match policy {
                    Duplicates::KeepLast => {
                        (triplets[g[g.len() - 1]].2, triplets[g[g.len() - 1]].3)
                    }
                    Duplicates::Average => (
                        g.iter().map(|&e| triplets[e].2).sum::<f64>() / g.len() as f64,
                        g.iter().map(|&e| triplets[e].3).max().unwrap(),
                    ),
                    _ => (triplets[g[0]].2, triplets[g[0]].3),
                };
                cols.push(triplets[g[0]].1);
                values.push(v);
                times.push(time);
            }
            row_ptr.push(cols.len());
        }
        match repeats.iter().min_by_key(|r| r.1) {
            Some(&r) if policy == Duplicates::Error => Err(r),
            _ => Ok((row_ptr, cols, values, times)),
        }
    }

    /// Entries spread over several pieces (and so several threads), with
    /// repeats within a piece and across pieces, under every policy.
    #[test]
    fn every_policy_matches_a_plain_sort() {
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        for (n, users, items) in [
            (0, 1, 1),
            (5, 3, 3),
            (3 * MIN_PIECE, 400, 60),
            (3 * MIN_PIECE, 3, 20_000),
        ] {
            let triplets: Vec<_> = (0..n)
                .map(|_| {
                    (
                        next(users) as u32,
                        next(items) as u32,
                        next(50) as f64 / 10.0,
                        next(1000) as i64,
                    )
                })
                .collect();
            for policy in [
                Duplicates::Error,
                Duplicates::KeepFirst,
                Duplicates::KeepLast,
                Duplicates::Average,
            ] {
                assert_eq!(
                    csr(&triplets, policy),
                    reference(&triplets, policy),
                    "{n} entries, {policy:?}"
                );
            }
        }
    }

    #[test]
    fn pieces_cover_every_row_once() {
        let row_start = [
            0,
            MIN_PIECE,
            MIN_PIECE,
            MIN_PIECE + 1,
            3 * MIN_PIECE,
            3 * MIN_PIECE,
        ];
        assert_eq!(pieces(&row_start), [0..1, 1..4, 4..5]);
        assert_eq!(pieces(&[0]), []);
    }
}
