//! Building [`Ratings`] from entries given one at a time by raw ids
//! ([`RatingsBuilder`]), or from triplets: two counting sorts into CSR,
//! repeated pairs resolved by a [`Duplicates`] policy, each entry's line
//! remembered for errors.

use std::collections::HashSet;
use std::sync::Arc;

use super::Ratings;
use crate::data::error::DataError;
use crate::data::ids::{IdMap, RawId};

/// What to do when the same (user, item) pair is rated more than once.
///
/// The default is [`Duplicates::Error`]: a repeat is more often a bug in the
/// data pipeline than a feature, and silently keeping one value hides it.
///
/// ```
/// use mf_runtime::data::{Duplicates, RatingsBuilder};
/// let mut b = RatingsBuilder::new().duplicates(Duplicates::Average);
/// b.push(1, 10, 4.0);
/// b.push(1, 10, 5.0);
/// let r = b.build().unwrap();
/// assert_eq!(r.get(0, 0), Some(4.5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Duplicates {
    /// Fail, naming the pair and both lines (or entries).
    #[default]
    Error,
    /// Keep the rating given first.
    KeepFirst,
    /// Keep the rating given last (a later line overrides an earlier one).
    KeepLast,
    /// Keep the mean of all the ratings of the pair (and the latest of
    /// their timestamps).
    Average,
}

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
}

/// Sorts triplets into CSR by two stable counting sorts (by item, then by
/// user), so that repeats of a pair end up adjacent in input order, and
/// resolves them by `policy`. `duplicate(first, second, user, item)` makes
/// the error for the repeat with the smallest `second` (0-based entries).
/// A kept rating keeps its timestamp (the latest of a group averaged).
pub(super) fn assemble(
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    t: Triplets,
    policy: Duplicates,
    duplicate: impl Fn(usize, usize, RawId<'_>, RawId<'_>) -> DataError,
) -> Result<Ratings, DataError> {
    let n = t.values.len();
    if u32::try_from(n).is_err() {
        return Err(DataError::Invalid(format!(
            "{n} entries: at most u32::MAX are supported"
        )));
    }
    let (num_users, num_items) = (users.len(), items.len());
    let by_item = {
        let mut next = vec![0usize; num_items + 1];
        for &i in &t.items {
            next[i as usize + 1] += 1;
        }
        for j in 0..num_items {
            next[j + 1] += next[j];
        }
        let mut out = vec![0u32; n];
        for (e, &i) in t.items.iter().enumerate() {
            out[next[i as usize]] = e as u32;
            next[i as usize] += 1;
        }
        out
    };
    let mut row_start = vec![0usize; num_users + 1];
    for &u in &t.users {
        row_start[u as usize + 1] += 1;
    }
    for j in 0..num_users {
        row_start[j + 1] += row_start[j];
    }
    let order = {
        let mut next = row_start[..num_users].to_vec();
        let mut out = vec![0u32; n];
        for &e in &by_item {
            let u = t.users[e as usize] as usize;
            out[next[u]] = e;
            next[u] += 1;
        }
        out
    };
    drop(by_item);
    drop(t.users);

    let mut row_ptr = Vec::with_capacity(num_users + 1);
    let mut col_idx = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    let timed = !t.times.is_empty();
    let mut times = Vec::with_capacity(if timed { n } else { 0 });
    let mut first_repeat: Option<(usize, usize, u32, u32)> = None;
    row_ptr.push(0);
    for (u, w) in row_start.windows(2).enumerate() {
        let row = &order[w[0]..w[1]];
        let mut k = 0;
        while k < row.len() {
            let item = t.items[row[k] as usize];
            let mut end = k + 1;
            while end < row.len() && t.items[row[end] as usize] == item {
                end += 1;
            }
            let group = &row[k..end];
            let value = |g: u32| t.values[g as usize];
            let time = |g: u32| t.times[g as usize];
            let kept = match policy {
                _ if group.len() == 1 => group[0],
                Duplicates::Error => {
                    let (first, second) = (group[0] as usize, group[1] as usize);
                    if first_repeat.is_none_or(|(_, s, _, _)| second < s) {
                        first_repeat = Some((first, second, u as u32, item));
                    }
                    group[0]
                }
                Duplicates::KeepFirst | Duplicates::Average => group[0],
                Duplicates::KeepLast => group[group.len() - 1],
            };
            let (v, when) = match policy {
                Duplicates::Average if group.len() > 1 => (
                    group.iter().map(|&g| value(g)).sum::<f64>() / group.len() as f64,
                    timed.then(|| group.iter().map(|&g| time(g)).max().expect("a group")),
                ),
                _ => (value(kept), timed.then(|| time(kept))),
            };
            col_idx.push(item);
            values.push(v);
            times.extend(when);
            k = end;
        }
        row_ptr.push(col_idx.len());
    }
    if let Some((first, second, u, i)) = first_repeat {
        let raw_u = users.raw(u).expect("index in map");
        let raw_i = items.raw(i).expect("index in map");
        return Err(duplicate(first, second, raw_u, raw_i));
    }
    drop(order);
    col_idx.shrink_to_fit();
    values.shrink_to_fit();
    times.shrink_to_fit();
    let times = timed.then_some(times);
    Ok(Ratings::from_csr(
        users, items, row_ptr, col_idx, values, times,
    ))
}

/// Where each stored entry came from: its line in a file, or its entry number.
///
/// Stores only the points where the line numbering jumps (header, blank
/// lines, dropped entries), so it costs nothing per entry.
#[derive(Default)]
struct LineIndex {
    /// `(entry, line)` pairs: entry `e ≥ entry` came from `line + (e - entry)`
    /// until the next jump.
    jumps: Vec<(usize, usize)>,
    last: usize,
}

impl LineIndex {
    fn record(&mut self, entry: usize, line: usize) {
        if self.jumps.is_empty() || line != self.last + 1 {
            self.jumps.push((entry, line));
        }
        self.last = line;
    }

    fn line_of(&self, entry: usize) -> usize {
        let k = self.jumps.partition_point(|&(e, _)| e <= entry) - 1;
        let (e, line) = self.jumps[k];
        line + (entry - e)
    }
}

/// Entries unseen in training: counted when a test set is built on the id
/// maps of a training set (see [`RatingsBuilder::with_id_maps`]).
///
/// ```
/// use mf_runtime::data::{Ratings, RatingsBuilder};
/// let mut train = RatingsBuilder::new();
/// train.push("ann", "dune", 4.0);
/// let train = train.build().unwrap();
/// let mut test = RatingsBuilder::with_id_maps(&train);
/// test.push("ann", "dune", 5.0);
/// test.push("bob", "dune", 3.0);
/// test.push("bob", "solaris", 2.0);
/// let unseen = test.unseen();
/// assert_eq!((unseen.users, unseen.items, unseen.entries), (1, 1, 2));
/// assert_eq!(test.build().unwrap().nnz(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unseen {
    /// Distinct users absent from training.
    pub users: usize,
    /// Distinct items absent from training.
    pub items: usize,
    /// Entries dropped because their user or item is absent from training.
    pub entries: usize,
}

enum Ids {
    Growing(IdMap),
    Fixed(Arc<IdMap>),
}

impl Ids {
    fn lookup(&mut self, raw: RawId<'_>) -> Option<u32> {
        match self {
            Ids::Growing(m) => Some(m.get_or_insert(raw)),
            Ids::Fixed(m) => m.index(raw),
        }
    }

    fn into_arc(self) -> Arc<IdMap> {
        match self {
            Ids::Growing(m) => Arc::new(m),
            Ids::Fixed(m) => m,
        }
    }
}

/// Builds [`Ratings`] from entries given by raw ids, one at a time.
///
/// Either with fresh id maps ([`new`](Self::new), indices in first-seen
/// order) or on the id maps of an existing `Ratings`
/// ([`with_id_maps`](Self::with_id_maps)), for a test set: entries whose user
/// or item the maps lack are dropped and counted in [`unseen`](Self::unseen).
/// Repeated pairs follow the [`Duplicates`] policy (default: error).
///
/// ```
/// use mf_runtime::data::RatingsBuilder;
/// let mut b = RatingsBuilder::new();
/// b.push("ann", "dune", 4.0);
/// b.push("bob", 17, 2.5);
/// let r = b.build().unwrap();
/// assert_eq!((r.num_users(), r.num_items(), r.nnz()), (2, 2, 2));
/// ```
pub struct RatingsBuilder {
    users: Ids,
    items: Ids,
    entries: Triplets,
    duplicates: Duplicates,
    source: String,
    lines: Option<LineIndex>,
    pushed: usize,
    unseen_users: HashSet<String>,
    unseen_items: HashSet<String>,
    dropped: usize,
    /// Whether the first kept entry had a time.
    timed: Option<bool>,
    /// The first kept entry whose timing differs from the first's.
    mixed: Option<usize>,
}

impl Default for RatingsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RatingsBuilder {
    /// A builder with empty id maps.
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// assert!(RatingsBuilder::new().build().is_err()); // nothing pushed
    /// ```
    pub fn new() -> Self {
        Self::on_maps(Ids::Growing(IdMap::new()), Ids::Growing(IdMap::new()))
    }

    /// A builder on the id maps of `train`: the result has the same
    /// dimensions and indices, and ids `train` lacks are counted, not added.
    ///
    /// ```
    /// # use mf_runtime::data::{Ratings, RatingsBuilder};
    /// let train = Ratings::from_triplets(3, 3, [(0, 0, 1.0)]).unwrap();
    /// let mut b = RatingsBuilder::with_id_maps(&train);
    /// assert!(b.push(2, 1, 5.0));
    /// assert!(!b.push(7, 1, 5.0));
    /// let test = b.build().unwrap();
    /// assert_eq!((test.num_users(), test.nnz()), (3, 1));
    /// ```
    pub fn with_id_maps(train: &Ratings) -> Self {
        Self::on_maps(
            Ids::Fixed(train.users.clone()),
            Ids::Fixed(train.items.clone()),
        )
    }

    fn on_maps(users: Ids, items: Ids) -> Self {
        RatingsBuilder {
            users,
            items,
            entries: Triplets::default(),
            duplicates: Duplicates::Error,
            source: "<triplets>".into(),
            lines: None,
            pushed: 0,
            unseen_users: HashSet::new(),
            unseen_items: HashSet::new(),
            dropped: 0,
            timed: None,
            mixed: None,
        }
    }

    /// The policy for repeated (user, item) pairs.
    ///
    /// ```
    /// # use mf_runtime::data::{Duplicates, RatingsBuilder};
    /// let mut b = RatingsBuilder::new().duplicates(Duplicates::KeepLast);
    /// b.push(1, 1, 1.0);
    /// b.push(1, 1, 2.0);
    /// assert_eq!(b.build().unwrap().get_raw(1, 1), Some(2.0));
    /// ```
    pub fn duplicates(mut self, policy: Duplicates) -> Self {
        self.duplicates = policy;
        self
    }

    /// The name errors give as the source (default `<triplets>`).
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// let mut b = RatingsBuilder::new().source("my-feed");
    /// b.push(1, 1, f64::NAN);
    /// assert!(b.build().unwrap_err().to_string().starts_with("my-feed: entry 1"));
    /// ```
    pub fn source(mut self, name: impl Into<String>) -> Self {
        self.source = name.into();
        self
    }

    /// Adds one rating; returns whether it was kept (false when built on
    /// fixed id maps that lack the user or the item). Values are checked in
    /// [`build`](Self::build).
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// let mut b = RatingsBuilder::new();
    /// assert!(b.push("u1", "i1", 3.0));
    /// ```
    pub fn push<'a, 'b>(
        &mut self,
        user: impl Into<RawId<'a>>,
        item: impl Into<RawId<'b>>,
        value: f64,
    ) -> bool {
        self.push_entry(user.into(), item.into(), value, None)
    }

    /// [`push`](Self::push) with the rating's time in seconds since the Unix
    /// epoch. Either every entry has a time or none has: mixing them is an
    /// error at [`build`](Self::build).
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// let mut b = RatingsBuilder::new();
    /// b.push_timed("ann", "dune", 4.0, 1_000_000_000);
    /// assert_eq!(b.build().unwrap().timestamps(), Some(&[1_000_000_000][..]));
    /// let mut b = RatingsBuilder::new();
    /// b.push_timed("ann", "dune", 4.0, 1_000_000_000);
    /// b.push("bob", "dune", 3.0);
    /// assert_eq!(
    ///     b.build().unwrap_err().to_string(),
    ///     "<triplets>: entry 2: no timestamp, but entry 1 has one (give every entry a time, or none)"
    /// );
    /// ```
    pub fn push_timed<'a, 'b>(
        &mut self,
        user: impl Into<RawId<'a>>,
        item: impl Into<RawId<'b>>,
        value: f64,
        timestamp: i64,
    ) -> bool {
        self.push_entry(user.into(), item.into(), value, Some(timestamp))
    }

    fn push_entry(
        &mut self,
        user: RawId<'_>,
        item: RawId<'_>,
        value: f64,
        time: Option<i64>,
    ) -> bool {
        self.pushed += 1;
        let u = self.users.lookup(user);
        let i = self.items.lookup(item);
        if u.is_none() {
            self.unseen_users.insert(user.to_string());
        }
        if i.is_none() {
            self.unseen_items.insert(item.to_string());
        }
        match (u, i) {
            (Some(u), Some(i)) => {
                let entry = self.entries.values.len();
                if *self.timed.get_or_insert(time.is_some()) != time.is_some() {
                    self.mixed.get_or_insert(entry);
                }
                self.entries.push(u, i, value, time);
                true
            }
            _ => {
                self.dropped += 1;
                false
            }
        }
    }

    /// [`push`](Self::push) or [`push_timed`](Self::push_timed),
    /// remembering the line the entry came from.
    pub(crate) fn push_line(
        &mut self,
        line: usize,
        user: RawId<'_>,
        item: RawId<'_>,
        value: f64,
        time: Option<i64>,
    ) {
        let entry = self.entries.values.len();
        if self.push_entry(user, item, value, time) {
            self.lines
                .get_or_insert_with(LineIndex::default)
                .record(entry, line);
        }
    }

    /// Number of entries pushed so far (kept or not).
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// let mut b = RatingsBuilder::new();
    /// b.push(1, 2, 3.0);
    /// assert_eq!(b.pushed(), 1);
    /// ```
    pub fn pushed(&self) -> usize {
        self.pushed
    }

    /// What was dropped for lack of an id in fixed maps (all zero with fresh maps).
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// assert_eq!(RatingsBuilder::new().unseen().entries, 0);
    /// ```
    pub fn unseen(&self) -> Unseen {
        Unseen {
            users: self.unseen_users.len(),
            items: self.unseen_items.len(),
            entries: self.dropped,
        }
    }

    /// The `Ratings`. Errors when nothing was pushed, when a rating is not
    /// finite, and on a repeated pair under [`Duplicates::Error`]. (All
    /// entries being dropped as unseen is not an error: the result is empty.)
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// let mut b = RatingsBuilder::new();
    /// b.push(1, 2, 3.0);
    /// b.push(1, 2, 4.0);
    /// let err = b.build().unwrap_err().to_string();
    /// assert!(err.contains("duplicate rating for user `1` and item `2`"), "{err}");
    /// assert!(err.contains("entry 1"), "{err}");
    /// ```
    pub fn build(self) -> Result<Ratings, DataError> {
        let RatingsBuilder {
            users,
            items,
            entries,
            duplicates,
            source,
            lines,
            pushed,
            timed,
            mixed,
            ..
        } = self;
        if pushed == 0 {
            return Err(DataError::Empty {
                file: source,
                reason: "no entry was given".into(),
            });
        }
        let origin = |e: usize| match &lines {
            Some(index) => index.line_of(e),
            None => e + 1,
        };
        if let Some(e) = entries.values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Entry {
                file: source,
                entry: origin(e),
                message: format!("rating {} is not finite", entries.values[e]),
            });
        }
        let unit = if lines.is_some() { "line" } else { "entry" };
        if let Some(e) = mixed {
            let (has, lacks) = match timed {
                Some(true) => ("has one", "no timestamp"),
                _ => ("has none", "a timestamp"),
            };
            return Err(DataError::Entry {
                file: source,
                entry: origin(e),
                message: format!(
                    "{lacks}, but {unit} {} {has} (give every entry a time, or none)",
                    origin(0)
                ),
            });
        }
        assemble(
            users.into_arc(),
            items.into_arc(),
            entries,
            duplicates,
            |first, second, u, i| DataError::Duplicate {
                file: source.clone(),
                user: u.to_string(),
                item: i.to_string(),
                unit,
                first: origin(first),
                second: origin(second),
            },
        )
    }
}

#[cfg(test)]
mod tests;
