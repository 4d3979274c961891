//! Binding symbolic dimensions (`users`, `items`, `k`) to sizes at run time.
//!
//! The `loss!` compiler checks shapes symbolically; what it cannot know is
//! how big `users` is. Generated code binds every symbol once, from the data
//! and the parameters, with a [`DimBinder`]; a second, different size for the
//! same symbol is a [`ShapeError`] that names the symbol, both sizes and where
//! each came from.

use thiserror::Error;

/// A dimension symbol bound to two different sizes, or a size that is missing.
///
/// ```
/// use mf_runtime::{DimBinder, ShapeError};
/// let mut dims = DimBinder::default();
/// dims.bind("users", 943, "rows of data D").unwrap();
/// let err = dims.bind("users", 942, "rows of param P").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "dimension `users` is 943 (rows of data D) but 942 (rows of param P)"
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Error)]
pub enum ShapeError {
    /// The same symbol was bound to two sizes.
    #[error("dimension `{symbol}` is {first} ({first_source}) but {second} ({second_source})")]
    Mismatch {
        /// The dimension symbol, e.g. `users`.
        symbol: String,
        /// The size bound first.
        first: usize,
        /// Where the first size came from.
        first_source: String,
        /// The conflicting size.
        second: usize,
        /// Where the conflicting size came from.
        second_source: String,
    },
    /// A dimension declared `1` has another size.
    #[error("{source_name} must have size 1 here (declared 1) but has {size}")]
    NotOne {
        /// What had the wrong size, e.g. `columns of param bu`.
        source_name: String,
        /// Its size.
        size: usize,
    },
    /// A symbol no data or parameter fixes.
    #[error("dimension `{symbol}` is not bound: give it a size")]
    Unbound {
        /// The dimension symbol.
        symbol: String,
    },
    /// Two sparse data matrices of one shape whose observed entries differ
    /// (a loss reads them entry by entry together).
    #[error("data `{second}` must have the same observed entries as `{first}` (they have the same shape), but they differ")]
    Pattern {
        /// The data matrix whose pattern the passes follow.
        first: String,
        /// The data matrix with another pattern.
        second: String,
    },
    /// A dense data matrix the loss reads besides its ratings
    /// (`data F: [users, f]`) that the [`SideData`](crate::data::SideData)
    /// given to it does not hold.
    #[error("the loss reads data `{name}` besides the ratings, but the side data holds {given} (add it with `SideData::with`)")]
    MissingData {
        /// The data matrix's name in the loss.
        name: String,
        /// The names the side data holds, comma-separated (`nothing` when empty).
        given: String,
    },
    /// A parameter set whose layout is not the one this loss declares.
    #[error("parameter set has {found} values, the loss expects {expected} ({what})")]
    Layout {
        /// Values the loss expects.
        expected: usize,
        /// Values found.
        found: usize,
        /// Which block differs.
        what: String,
    },
}

debug_as_display!(ShapeError);

/// Sizes of dimension symbols, each bound once with where it came from.
///
/// ```
/// use mf_runtime::DimBinder;
/// let mut dims = DimBinder::default();
/// dims.bind("k", 10, "argument k").unwrap();
/// dims.bind("k", 10, "columns of param P").unwrap();
/// assert_eq!(dims.get("k"), Some(10));
/// assert_eq!(dims.get("users"), None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct DimBinder {
    bound: Vec<(String, usize, String)>,
}

impl DimBinder {
    /// Binds `symbol` to `size`, or checks it against the size bound before.
    ///
    /// ```
    /// # use mf_runtime::DimBinder;
    /// let mut dims = DimBinder::default();
    /// assert!(dims.bind("items", 5, "columns of D").is_ok());
    /// assert!(dims.bind("items", 6, "columns of Q").is_err());
    /// ```
    pub fn bind(&mut self, symbol: &str, size: usize, source: &str) -> Result<(), ShapeError> {
        match self.bound.iter().find(|(s, _, _)| s == symbol) {
            Some((_, first, first_source)) if *first != size => Err(ShapeError::Mismatch {
                symbol: symbol.to_string(),
                first: *first,
                first_source: first_source.clone(),
                second: size,
                second_source: source.to_string(),
            }),
            Some(_) => Ok(()),
            None => {
                self.bound
                    .push((symbol.to_string(), size, source.to_string()));
                Ok(())
            }
        }
    }

    /// Checks that a dimension declared `1` has size 1.
    ///
    /// ```
    /// # use mf_runtime::DimBinder;
    /// assert!(DimBinder::expect_one(1, "columns of bu").is_ok());
    /// assert!(DimBinder::expect_one(3, "columns of bu").is_err());
    /// ```
    pub fn expect_one(size: usize, source: &str) -> Result<(), ShapeError> {
        if size == 1 {
            Ok(())
        } else {
            Err(ShapeError::NotOne {
                source_name: source.to_string(),
                size,
            })
        }
    }

    /// The size bound to `symbol`, if any.
    ///
    /// ```
    /// # use mf_runtime::DimBinder;
    /// let mut dims = DimBinder::default();
    /// dims.bind("k", 3, "argument k").unwrap();
    /// assert_eq!(dims.get("k"), Some(3));
    /// ```
    pub fn get(&self, symbol: &str) -> Option<usize> {
        self.bound
            .iter()
            .find(|(s, _, _)| s == symbol)
            .map(|(_, size, _)| *size)
    }

    /// The size bound to `symbol`, or [`ShapeError::Unbound`].
    ///
    /// ```
    /// # use mf_runtime::DimBinder;
    /// assert!(DimBinder::default().require("k").is_err());
    /// ```
    pub fn require(&self, symbol: &str) -> Result<usize, ShapeError> {
        self.get(symbol).ok_or_else(|| ShapeError::Unbound {
            symbol: symbol.to_string(),
        })
    }
}
