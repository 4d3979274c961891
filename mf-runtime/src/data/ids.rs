//! Raw user and item ids and their dense indices.
//!
//! Files name users and items by integers (`196`) or by text (`"alice"`,
//! `"tt0111161"`). Kernels want dense indices `0..n`. An [`IdMap`] maps one
//! to the other, both ways, and is kept with the [`Ratings`](super::Ratings)
//! so that predictions can be asked for by raw id later.
//!
//! **Order:** indices are given in *first-seen order* — the first id read from
//! a file gets index 0, the next new one index 1, and so on. First-seen order
//! is stable under appending lines and costs no sort.
//!
//! **Identity of an id is its text.** An integer map and a text map agree on
//! what `7` means: [`IdMap::index`] accepts an integer or a string either way
//! (`RawId::Int(7)` and `RawId::Str("7")` are the same id; `"007"` is a
//! different one). Maps whose ids are all integers store them as `i64`,
//! others as strings; the first id that is not an integer in canonical form
//! (no sign `+`, no leading zero) switches the map to text, losslessly.

use std::collections::HashMap;
use std::fmt;

use foldhash::fast::RandomState;

/// A raw user or item id as it appears in a file: an integer or a string.
///
/// Conversions exist from the integer types and from `&str`, so functions
/// taking `impl Into<RawId>` accept `196`, `"196"` and `"alice"` alike.
///
/// ```
/// use mf_runtime::data::RawId;
/// assert_eq!(RawId::from(196).to_string(), "196");
/// assert_eq!(RawId::from("alice"), RawId::Str("alice"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RawId<'a> {
    /// An integer id.
    Int(i64),
    /// A text id.
    Str(&'a str),
}

impl fmt::Display for RawId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawId::Int(v) => write!(f, "{v}"),
            RawId::Str(s) => f.write_str(s),
        }
    }
}

impl From<i64> for RawId<'_> {
    fn from(v: i64) -> Self {
        RawId::Int(v)
    }
}

impl From<i32> for RawId<'_> {
    fn from(v: i32) -> Self {
        RawId::Int(v.into())
    }
}

impl From<u32> for RawId<'_> {
    fn from(v: u32) -> Self {
        RawId::Int(v.into())
    }
}

impl<'a> From<&'a str> for RawId<'a> {
    fn from(s: &'a str) -> Self {
        RawId::Str(s)
    }
}

impl<'a> From<&'a String> for RawId<'a> {
    fn from(s: &'a String) -> Self {
        RawId::Str(s)
    }
}

/// `s` as an integer when it is the canonical decimal text of one
/// (what `i64::to_string` would print), so that text and integer agree.
pub(crate) fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = match digits.as_bytes() {
        [] => false,
        [b'0'] => !s.starts_with('-'),
        [first, ..] => *first != b'0' && digits.bytes().all(|b| b.is_ascii_digit()),
    };
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    /// Raw ids `0..n`, integers, each its own index (synthetic data).
    Range(u32),
    Int {
        raw: Vec<i64>,
        index: HashMap<i64, u32, RandomState>,
    },
    Str {
        raw: Vec<Box<str>>,
        index: HashMap<Box<str>, u32, RandomState>,
    },
}

/// A two-way map between raw ids and dense indices `0..len()`.
///
/// Indices are assigned in first-seen order (see the [module docs](self)).
///
/// ```
/// use mf_runtime::data::{IdMap, RawId};
/// let mut users = IdMap::new();
/// assert_eq!(users.get_or_insert(196), 0);
/// assert_eq!(users.get_or_insert("alice"), 1);
/// assert_eq!(users.get_or_insert(196), 0);
/// assert_eq!(users.index("196"), Some(0));
/// assert_eq!(users.raw(1), Some(RawId::Str("alice")));
/// assert_eq!(users.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMap {
    repr: Repr,
}

impl Default for IdMap {
    fn default() -> Self {
        Self::new()
    }
}

impl IdMap {
    /// An empty map.
    ///
    /// ```
    /// # use mf_runtime::data::IdMap;
    /// assert!(IdMap::new().is_empty());
    /// ```
    pub fn new() -> Self {
        IdMap {
            repr: Repr::Range(0),
        }
    }

    /// The map in which raw id `j` (an integer) is index `j`, for `j` in `0..n`.
    ///
    /// Costs no memory per id; used for synthetic data and
    /// [`Ratings::from_triplets`](super::Ratings::from_triplets).
    ///
    /// ```
    /// # use mf_runtime::data::{IdMap, RawId};
    /// let m = IdMap::identity(3);
    /// assert_eq!(m.index(2), Some(2));
    /// assert_eq!(m.index(3), None);
    /// assert_eq!(m.raw(1), Some(RawId::Int(1)));
    /// ```
    pub fn identity(n: u32) -> Self {
        IdMap {
            repr: Repr::Range(n),
        }
    }

    /// Number of ids.
    ///
    /// ```
    /// # use mf_runtime::data::IdMap;
    /// assert_eq!(IdMap::identity(4).len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Range(n) => *n as usize,
            Repr::Int { raw, .. } => raw.len(),
            Repr::Str { raw, .. } => raw.len(),
        }
    }

    /// Whether the map holds no id.
    ///
    /// ```
    /// # use mf_runtime::data::IdMap;
    /// assert!(IdMap::identity(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every id is an integer (the map stores no text).
    ///
    /// ```
    /// # use mf_runtime::data::IdMap;
    /// let mut m = IdMap::new();
    /// m.get_or_insert(5);
    /// assert!(m.is_integer());
    /// m.get_or_insert("x");
    /// assert!(!m.is_integer());
    /// ```
    pub fn is_integer(&self) -> bool {
        !matches!(self.repr, Repr::Str { .. })
    }

    /// The dense index of a raw id, if the map holds it.
    ///
    /// ```
    /// # use mf_runtime::data::IdMap;
    /// let mut m = IdMap::new();
    /// m.get_or_insert("tt0111161");
    /// assert_eq!(m.index("tt0111161"), Some(0));
    /// assert_eq!(m.index(7), None);
    /// ```
    pub fn index<'a>(&self, raw: impl Into<RawId<'a>>) -> Option<u32> {
        match (&self.repr, raw.into()) {
            (Repr::Range(n), RawId::Int(v)) => u32::try_from(v).ok().filter(|v| v < n),
            (Repr::Range(n), RawId::Str(s)) => canonical_int(s)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| v < n),
            (Repr::Int { index, .. }, RawId::Int(v)) => index.get(&v).copied(),
            (Repr::Int { index, .. }, RawId::Str(s)) => {
                canonical_int(s).and_then(|v| index.get(&v).copied())
            }
            (Repr::Str { index, .. }, RawId::Int(v)) => index.get(v.to_string().as_str()).copied(),
            (Repr::Str { index, .. }, RawId::Str(s)) => index.get(s).copied(),
        }
    }

    /// The raw id of a dense index, if in range.
    ///
    /// ```
    /// # use mf_runtime::data::{IdMap, RawId};
    /// let mut m = IdMap::new();
    /// m.get_or_insert(42);
    /// assert_eq!(m.raw(0), Some(RawId::Int(42)));
    /// assert_eq!(m.raw(1), None);
    /// ```
    pub fn raw(&self, index: u32) -> Option<RawId<'_>> {
        match &self.repr {
            Repr::Range(n) => (index < *n).then_some(RawId::Int(index.into())),
            Repr::Int { raw, .. } => raw.get(index as usize).map(|&v| RawId::Int(v)),
            Repr::Str { raw, .. } => raw.get(index as usize).map(|s| RawId::Str(s)),
        }
    }

    /// The raw ids in index order.
    ///
    /// ```
    /// # use mf_runtime::data::{IdMap, RawId};
    /// let mut m = IdMap::new();
    /// m.get_or_insert(9);
    /// m.get_or_insert(3);
    /// let ids: Vec<String> = m.iter().map(|r| r.to_string()).collect();
    /// assert_eq!(ids, ["9", "3"]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RawId<'_>> + '_ {
        (0..self.len() as u32).map(|i| self.raw(i).expect("index below len"))
    }

    /// The index of `raw`, inserting it at the end when new.
    ///
    /// # Panics
    ///
    /// When the map already holds `u32::MAX` ids (indices are `u32`).
    ///
    /// ```
    /// # use mf_runtime::data::IdMap;
    /// let mut m = IdMap::new();
    /// assert_eq!(m.get_or_insert("a"), 0);
    /// assert_eq!(m.get_or_insert("b"), 1);
    /// assert_eq!(m.get_or_insert("a"), 0);
    /// ```
    pub fn get_or_insert<'a>(&mut self, raw: impl Into<RawId<'a>>) -> u32 {
        let raw = raw.into();
        if let Some(i) = self.index(raw) {
            return i;
        }
        let next = u32::try_from(self.len()).expect("more than u32::MAX ids");
        assert!(next < u32::MAX, "more than u32::MAX ids");
        // Integers stay integers; text that is a canonical integer is one.
        let as_int = match raw {
            RawId::Int(v) => Some(v),
            RawId::Str(s) => canonical_int(s),
        };
        match (&mut self.repr, as_int) {
            (Repr::Range(n), Some(v)) if v == i64::from(*n) => *n += 1,
            (Repr::Int { raw, index }, Some(v)) => {
                raw.push(v);
                index.insert(v, next);
            }
            (Repr::Str { raw: texts, index }, _) => {
                let text: Box<str> = raw.to_string().into();
                texts.push(text.clone());
                index.insert(text, next);
            }
            (Repr::Range(_), Some(_)) => {
                self.switch_to_ints();
                return self.get_or_insert(raw);
            }
            (_, None) => {
                self.switch_to_text();
                return self.get_or_insert(raw);
            }
        }
        next
    }

    fn switch_to_ints(&mut self) {
        if let Repr::Range(n) = self.repr {
            let raw: Vec<i64> = (0..i64::from(n)).collect();
            let index = (0..n).map(|i| (i64::from(i), i)).collect();
            self.repr = Repr::Int { raw, index };
        }
    }

    fn switch_to_text(&mut self) {
        let raw: Vec<Box<str>> = self.iter().map(|r| r.to_string().into()).collect();
        let index = raw.iter().cloned().zip(0u32..).collect();
        self.repr = Repr::Str { raw, index };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        assert_eq!(canonical_int("0"), Some(0));
        assert_eq!(canonical_int("-12"), Some(-12));
        assert_eq!(canonical_int("196"), Some(196));
        for s in [
            "",
            "-",
            "-0",
            "007",
            "+7",
            "1.0",
            "7a",
            "99999999999999999999",
        ] {
            assert_eq!(canonical_int(s), None, "{s:?}");
        }
    }

    #[test]
    fn round_trip_through_every_representation() {
        let mut m = IdMap::new();
        // Range while ids come as 0, 1, 2…
        for v in 0..3 {
            assert_eq!(m.get_or_insert(v), v as u32);
        }
        assert!(matches!(m.repr, Repr::Range(3)));
        // then integers…
        assert_eq!(m.get_or_insert(100), 3);
        assert!(matches!(m.repr, Repr::Int { .. }));
        // then text, keeping every earlier id.
        assert_eq!(m.get_or_insert("007"), 4);
        assert_eq!(m.get_or_insert("alice"), 5);
        assert!(!m.is_integer());
        let raws: Vec<String> = m.iter().map(|r| r.to_string()).collect();
        assert_eq!(raws, ["0", "1", "2", "100", "007", "alice"]);
        for (i, r) in raws.iter().enumerate() {
            assert_eq!(m.index(r.as_str()), Some(i as u32));
        }
        assert_eq!(m.index(100), Some(3));
        assert_eq!(m.index(7), None);
        assert_eq!(m.raw(6), None);
    }

    #[test]
    fn integer_and_text_are_the_same_id() {
        let mut m = IdMap::new();
        m.get_or_insert("17");
        assert_eq!(m.get_or_insert(17), 0);
        assert_eq!(m.index("17"), Some(0));
        assert_eq!(m.index("017"), None);
        assert_eq!(m.raw(0), Some(RawId::Int(17)));
    }

    #[test]
    fn identity_lookups() {
        let m = IdMap::identity(5);
        assert_eq!(m.index(-1), None);
        assert_eq!(m.index("4"), Some(4));
        assert_eq!(m.index("x"), None);
        assert_eq!(m.len(), 5);
    }
}
