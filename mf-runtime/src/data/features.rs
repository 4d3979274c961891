//! Side information as dense feature matrices: user or item attributes
//! encoded one-hot (categories) or multi-hot (genres), one row per id of a
//! ratings id map, in the map's order, so a loss reads them as
//! `data F: [users, f]`. The loaders of MovieLens's attribute files are in
//! [`load`](super::load) ([`Features::movielens_users`], …).

use std::collections::BTreeSet;
use std::fmt;

use ndarray::Array2;

use super::ids::IdMap;
use crate::MaskedMatrix;

/// Attributes of the ids of an [`IdMap`] as a `ids × features` matrix of
/// 0/1 values: row `r` describes the id of index `r`; an id of the map
/// that the attribute file does not describe has a zero row and is listed
/// in [`missing`](Self::missing).
///
/// ```
/// use mf_runtime::data::{Features, IdMap};
/// let mut users = IdMap::new();
/// for id in [7, 3, 9] {
///     users.get_or_insert(id);
/// }
/// let f = Features::one_hot(&users, "gender", [(3, "F"), (7, "M")]);
/// assert_eq!(f.names(), ["gender=F", "gender=M"]);
/// assert_eq!(f.matrix().row(0).to_vec(), [0.0, 1.0]); // user 7
/// assert_eq!(f.matrix().row(2).to_vec(), [0.0, 0.0]); // user 9: none given
/// assert_eq!(f.missing(), ["9"]);
/// # let _ = f.to_data();
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    matrix: Array2<f64>,
    names: Vec<String>,
    missing: Vec<String>,
    unused: usize,
}

/// One attribute of every described id, before encoding: the values (one
/// for a category, any number for a set such as genres) of each row.
pub(crate) struct Attribute {
    /// Its name, the prefix of its columns (`gender` gives `gender=F`).
    pub(crate) name: &'static str,
    /// Its values in column order, when fixed (age buckets, genres in the
    /// file's order); else the values met, sorted.
    pub(crate) order: Option<Vec<String>>,
    /// `(row, value)` pairs.
    pub(crate) values: Vec<(usize, String)>,
}

impl Attribute {
    /// An attribute whose columns are the values met, sorted.
    pub(crate) fn new(name: &'static str) -> Attribute {
        Attribute {
            name,
            order: None,
            values: Vec::new(),
        }
    }

    /// An attribute with these columns, in this order.
    pub(crate) fn ordered(name: &'static str, order: &[&str]) -> Attribute {
        Attribute {
            order: Some(order.iter().map(|s| s.to_string()).collect()),
            ..Attribute::new(name)
        }
    }

    /// The columns: the fixed order, else the sorted values met.
    fn columns(&self) -> Vec<String> {
        match &self.order {
            Some(order) => order.clone(),
            None => {
                let met: BTreeSet<&str> = self.values.iter().map(|(_, v)| v.as_str()).collect();
                met.into_iter().map(String::from).collect()
            }
        }
    }
}

impl Features {
    /// The matrix of `attributes` (each expanded to one column per value,
    /// in their order) for the ids of `ids`; `described[r]` says whether
    /// the file gave row `r`; `unused` counts the file's ids not in `ids`.
    pub(crate) fn encode(
        ids: &IdMap,
        attributes: &[Attribute],
        described: &[bool],
        unused: usize,
    ) -> Features {
        let columns: Vec<Vec<String>> = attributes.iter().map(Attribute::columns).collect();
        let width = columns.iter().map(Vec::len).sum();
        let mut matrix = Array2::zeros((ids.len(), width));
        let mut names = Vec::with_capacity(width);
        let mut start = 0;
        for (attribute, values) in attributes.iter().zip(&columns) {
            for (row, value) in &attribute.values {
                // A fixed order holds every value its loader gives.
                if let Some(k) = values.iter().position(|v| v == value) {
                    matrix[[*row, start + k]] = 1.0;
                }
            }
            names.extend(values.iter().map(|v| format!("{}={v}", attribute.name)));
            start += values.len();
        }
        let missing = described
            .iter()
            .enumerate()
            .filter(|&(_, &d)| !d)
            .map(|(r, _)| ids.raw(r as u32).expect("a row of the map").to_string())
            .collect();
        Features {
            matrix,
            names,
            missing,
            unused,
        }
    }

    /// One categorical attribute, one-hot: `(id, value)` pairs for the ids
    /// of `ids` (pairs whose id is not in `ids` are counted in
    /// [`unused`](Self::unused)); columns `name=value` in sorted order.
    /// Meant for attributes held in memory; the loaders read files.
    ///
    /// ```
    /// use mf_runtime::data::{Features, IdMap};
    /// let users = IdMap::identity(2);
    /// let f = Features::one_hot(&users, "country", [(1, "FR"), (0, "DE"), (5, "IT")]);
    /// assert_eq!((f.names(), f.unused()), (&["country=DE".to_string(), "country=FR".into()][..], 1));
    /// ```
    pub fn one_hot<'a, 'b>(
        ids: &IdMap,
        name: &'static str,
        pairs: impl IntoIterator<Item = (impl Into<super::RawId<'a>>, &'b str)>,
    ) -> Features {
        let mut attribute = Attribute::new(name);
        let mut described = vec![false; ids.len()];
        let mut unused = 0;
        for (id, value) in pairs {
            match ids.index(id) {
                Some(r) => {
                    described[r as usize] = true;
                    attribute.values.push((r as usize, value.to_string()));
                }
                None => unused += 1,
            }
        }
        Features::encode(ids, &[attribute], &described, unused)
    }

    /// The `ids × features` matrix of 0/1 values.
    pub fn matrix(&self) -> &Array2<f64> {
        &self.matrix
    }

    /// `(ids, features)`.
    ///
    /// ```
    /// # use mf_runtime::data::{Features, IdMap};
    /// let f = Features::one_hot(&IdMap::identity(3), "g", [(0, "a"), (1, "b")]);
    /// assert_eq!(f.dim(), (3, 2));
    /// ```
    pub fn dim(&self) -> (usize, usize) {
        self.matrix.dim()
    }

    /// The name of each column: `attribute=value` (`gender=F`,
    /// `age=25-34`, `genre=Comedy`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The raw ids of the map the file does not describe (zero rows).
    pub fn missing(&self) -> &[String] {
        &self.missing
    }

    /// The number of described ids (file lines) not in the map (ignored).
    pub fn unused(&self) -> usize {
        self.unused
    }

    /// The matrix as data for a loss (`data F: [users, f]`, every entry
    /// observed).
    ///
    /// ```
    /// # use mf_runtime::data::{Features, IdMap};
    /// let f = Features::one_hot(&IdMap::identity(2), "g", [(0, "a")]);
    /// assert_eq!(f.to_data().num_observed(), 2);
    /// ```
    pub fn to_data(&self) -> MaskedMatrix {
        MaskedMatrix::fully_observed(self.matrix.clone())
    }

    /// The features side by side (`[self | other]`), for the same ids; an
    /// id is missing when either lacks it, and the unused counts add up.
    ///
    /// # Panics
    /// When the two have a different number of rows.
    ///
    /// ```
    /// # use mf_runtime::data::{Features, IdMap};
    /// let ids = IdMap::identity(2);
    /// let a = Features::one_hot(&ids, "g", [(0, "x")]);
    /// let b = Features::one_hot(&ids, "h", [(1, "y")]);
    /// let both = a.concat(&b);
    /// assert_eq!(both.names(), ["g=x", "h=y"]);
    /// assert_eq!(both.missing(), ["1", "0"]); // each lacks one of them
    /// ```
    pub fn concat(&self, other: &Features) -> Features {
        assert_eq!(
            self.matrix.nrows(),
            other.matrix.nrows(),
            "features of other ids"
        );
        let matrix = ndarray::concatenate![ndarray::Axis(1), self.matrix, other.matrix];
        let names = self.names.iter().chain(&other.names).cloned().collect();
        let mut missing = self.missing.clone();
        let theirs: Vec<&String> = other
            .missing
            .iter()
            .filter(|id| !self.missing.contains(id))
            .collect();
        missing.extend(theirs.into_iter().cloned());
        Features {
            matrix,
            names,
            missing,
            unused: self.unused + other.unused,
        }
    }
}

/// `943 ids × 41 features; 2 ids without attributes (zero rows): 7, 9`.
impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, cols) = self.dim();
        write!(f, "{rows} ids × {cols} features")?;
        if !self.missing.is_empty() {
            let shown: Vec<&str> = self.missing.iter().take(5).map(String::as_str).collect();
            let more = if self.missing.len() > 5 { ", …" } else { "" };
            write!(
                f,
                "; {} ids without attributes (zero rows): {}{more}",
                self.missing.len(),
                shown.join(", ")
            )?;
        }
        if self.unused > 0 {
            write!(
                f,
                "; {} described ids not in the ratings (ignored)",
                self.unused
            )?;
        }
        Ok(())
    }
}
