//! Side data: the dense matrices a loss reads besides its ratings
//! (`data F: [users, f]`, `data G: [items, g]`), held by the names the loss
//! declares, so a loss can be started, trained and turned into a model
//! without knowing its struct (`Trainable`, the experiment API).

use std::fmt;

use super::features::Features;
use crate::{MaskedMatrix, ShapeError};

/// Named dense matrices for the data a loss reads besides its ratings,
/// each aligned with the ratings' id maps (row `r` of a `[users, f]`
/// matrix describes the user of index `r`), as [`Features`] are.
///
/// Every observed value is finite: [`with`](Self::with) refuses a NaN or an
/// infinity where it enters. Sizes are checked against the loss and the
/// ratings when the loss is bound (a [`ShapeError`] naming the dimension).
///
/// ```
/// use mf_runtime::data::SideData;
/// use mf_runtime::MaskedMatrix;
/// use mf_runtime::ndarray::array;
/// let side = SideData::new().with("F", MaskedMatrix::fully_observed(array![[1.0, 0.0], [0.0, 1.0]]))?;
/// assert_eq!(side.names().collect::<Vec<_>>(), ["F"]);
/// assert_eq!(side.matrix("F")?.dim(), (2, 2));
/// assert!(side.matrix("G").is_err());
/// let bad = SideData::new().with("F", MaskedMatrix::fully_observed(array![[f64::NAN]]));
/// assert!(bad.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SideData {
    matrices: Vec<(String, MaskedMatrix)>,
}

/// A side matrix refused where it enters.
///
/// ```
/// use mf_runtime::data::SideDataError;
/// let e = SideDataError::NotFinite { name: "F".into(), row: 2, col: 0, value: f64::NAN };
/// assert_eq!(e.to_string(), "side data `F` has NaN at row 2, column 0: its values must be finite");
/// ```
#[derive(Clone, PartialEq, thiserror::Error)]
pub enum SideDataError {
    /// An observed value that is NaN or infinite (0-based row and column).
    #[error(
        "side data `{name}` has {value} at row {row}, column {col}: its values must be finite"
    )]
    NotFinite {
        /// The matrix's name.
        name: String,
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
        /// The value refused.
        value: f64,
    },
    /// A second matrix under a name already given.
    #[error("side data `{0}` is given twice")]
    Twice(String),
}

debug_as_display!(SideDataError);

impl SideData {
    /// No side data: what a loss that reads only its ratings is given.
    pub fn new() -> SideData {
        SideData::default()
    }

    /// Adds `matrix` as the loss's data `name` (a [`MaskedMatrix`], or
    /// [`Features`], every entry observed).
    ///
    /// # Errors
    /// [`SideDataError::NotFinite`] for an observed NaN or infinity,
    /// [`SideDataError::Twice`] for a name already given.
    pub fn with(
        mut self,
        name: impl Into<String>,
        matrix: impl Into<MaskedMatrix>,
    ) -> Result<SideData, SideDataError> {
        let (name, matrix) = (name.into(), matrix.into());
        if self.matrices.iter().any(|(n, _)| *n == name) {
            return Err(SideDataError::Twice(name));
        }
        let (values, observed) = (matrix.values(), matrix.observed());
        let bad = values
            .indexed_iter()
            .find(|&((r, c), v)| observed[[r, c]] && !v.is_finite());
        if let Some(((row, col), &value)) = bad {
            return Err(SideDataError::NotFinite {
                name,
                row,
                col,
                value,
            });
        }
        self.matrices.push((name, matrix));
        Ok(self)
    }

    /// The names given, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.matrices.iter().map(|(n, _)| n.as_str())
    }

    /// The matrix given as data `name`.
    ///
    /// # Errors
    /// [`ShapeError::MissingData`] when none was.
    pub fn matrix(&self, name: &str) -> Result<&MaskedMatrix, ShapeError> {
        self.matrices
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
            .ok_or_else(|| ShapeError::MissingData {
                name: name.to_string(),
                given: self.to_string(),
            })
    }
}

impl fmt::Display for SideData {
    /// The names given, comma-separated, or `nothing`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.matrices.is_empty() {
            true => f.write_str("nothing"),
            false => f.write_str(&self.names().collect::<Vec<_>>().join(", ")),
        }
    }
}

impl From<&Features> for MaskedMatrix {
    fn from(features: &Features) -> MaskedMatrix {
        features.to_data()
    }
}

impl From<Features> for MaskedMatrix {
    fn from(features: Features) -> MaskedMatrix {
        features.to_data()
    }
}
