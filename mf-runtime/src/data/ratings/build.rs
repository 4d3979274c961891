//! Building [`Ratings`] from entries given by raw ids ([`RatingsBuilder`]):
//! one at a time, or a block of a file at a time with each distinct id
//! looked up once; ids mapped to indices, unseen ids counted, each entry's
//! line remembered for errors.

use std::collections::HashSet;
use std::sync::Arc;

use super::csr::{assemble, Triplets};
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

/// An entry of a block given to [`RatingsBuilder::push_block`]: its line,
/// its user's and item's places in the block's lists of distinct ids, its
/// rating and time.
pub(crate) struct BlockEntry {
    pub(crate) line: usize,
    pub(crate) user: u32,
    pub(crate) item: u32,
    pub(crate) value: f64,
    pub(crate) time: Option<i64>,
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
    /// The index of `raw`; a fixed map that lacks it records it in `unseen`.
    fn lookup(&mut self, raw: RawId<'_>, unseen: &mut HashSet<String>) -> Option<u32> {
        let index = match self {
            Ids::Growing(m) => Some(m.get_or_insert(raw)),
            Ids::Fixed(m) => m.index(raw),
        };
        if index.is_none() {
            unseen.insert(raw.to_string());
        }
        index
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
        let u = self.users.lookup(user, &mut self.unseen_users);
        let i = self.items.lookup(item, &mut self.unseen_items);
        self.keep(None, u, i, value, time)
    }

    /// Adds the entries of a block of a file, each distinct id looked up
    /// once: `users` and `items` list the block's distinct ids in the order
    /// they first appear, and each entry names its user and item by their
    /// place in those lists. Ids get the indices, and unseen ids the counts,
    /// that pushing the entries one by one would give.
    pub(crate) fn push_block<'a>(
        &mut self,
        users: impl Iterator<Item = RawId<'a>>,
        items: impl Iterator<Item = RawId<'a>>,
        entries: impl Iterator<Item = BlockEntry>,
    ) {
        let users: Vec<_> = users
            .map(|raw| self.users.lookup(raw, &mut self.unseen_users))
            .collect();
        let items: Vec<_> = items
            .map(|raw| self.items.lookup(raw, &mut self.unseen_items))
            .collect();
        for e in entries {
            let (u, i) = (users[e.user as usize], items[e.item as usize]);
            self.keep(Some(e.line), u, i, e.value, e.time);
        }
    }

    /// Counts an entry whose ids are looked up, and keeps it when both
    /// are known, with the line it came from; returns whether it was kept.
    fn keep(
        &mut self,
        line: Option<usize>,
        u: Option<u32>,
        i: Option<u32>,
        value: f64,
        time: Option<i64>,
    ) -> bool {
        self.pushed += 1;
        let (Some(u), Some(i)) = (u, i) else {
            self.dropped += 1;
            return false;
        };
        let entry = self.entries.len();
        if *self.timed.get_or_insert(time.is_some()) != time.is_some() {
            self.mixed.get_or_insert(entry);
        }
        self.entries.push(u, i, value, time);
        if let Some(line) = line {
            self.lines
                .get_or_insert_with(LineIndex::default)
                .record(entry, line);
        }
        true
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
        if let Some((e, v)) = entries.first_not_finite() {
            return Err(DataError::Entry {
                file: source,
                entry: origin(e),
                message: format!("rating {v} is not finite"),
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
