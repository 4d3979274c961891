//! The errors of building, querying, saving and loading a model.

use std::io;
use std::path::PathBuf;

use super::loss::HyperError;
use crate::ShapeError;

/// Errors of building, querying, saving and loading a [`Model`](super::Model).
///
/// ```
/// use mf_runtime::model::ModelError;
/// let err = ModelError::UnknownUser("bob".into());
/// assert_eq!(err.to_string(), "unknown user id `bob`: it has no training ratings");
/// ```
#[derive(thiserror::Error)]
pub enum ModelError {
    /// The params are not the loss's blocks, in its order.
    #[error("the params do not fit loss `{loss}`: blocks {found}, the loss declares {expected}")]
    Blocks {
        /// The loss's name.
        loss: &'static str,
        /// The declared params, comma-separated.
        expected: String,
        /// The blocks given, comma-separated.
        found: String,
    },
    /// A block's size disagrees with the id maps or another block.
    #[error("the params do not fit loss `{loss}`: {source}")]
    Shape {
        /// The loss's name.
        loss: &'static str,
        /// Which dimension, with both sizes and where each came from.
        source: ShapeError,
    },
    /// Another number of tables than the loss's prediction reads.
    #[error("the prediction of loss `{loss}` reads {expected} tables, {found} given")]
    Tables {
        /// The loss's name.
        loss: &'static str,
        /// The tables it declares.
        expected: usize,
        /// The tables given.
        found: usize,
    },
    /// Training items of another size than the id maps.
    #[error(
        "the training items are {users} users × {items} items, the id maps {user_ids} × {item_ids}"
    )]
    Rated {
        /// Users of the training items.
        users: usize,
        /// Items of the training items.
        items: usize,
        /// Ids in the user map.
        user_ids: usize,
        /// Ids in the item map.
        item_ids: usize,
    },
    /// The rating range is not finite with `min <= max`.
    #[error("the rating range [{min}, {max}] must be finite with min <= max")]
    BadRange {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// A fixed prediction for unknown ids that is not finite.
    #[error("the prediction for unknown ids must be finite, not {0}")]
    BadValue(f64),
    /// A user the model has no training ratings for, under
    /// [`Unknown::Error`](super::Unknown::Error).
    #[error("unknown user id `{0}`: it has no training ratings")]
    UnknownUser(String),
    /// An item the model has no training ratings for, under
    /// [`Unknown::Error`](super::Unknown::Error).
    #[error("unknown item id `{0}`: it has no training ratings")]
    UnknownItem(String),
    /// A dense index out of range.
    #[error("{kind} index {index} is out of range: the model has {len} {kind}s")]
    IndexOutOfRange {
        /// `user` or `item`.
        kind: &'static str,
        /// The index asked for.
        index: u32,
        /// How many there are.
        len: usize,
    },
    /// A saved model of another loss.
    #[error("{}: the model was saved from loss `{saved}`, not `{given}`", path.display())]
    WrongLoss {
        /// The model file.
        path: PathBuf,
        /// The loss it was saved from.
        saved: String,
        /// The loss it was loaded into.
        given: &'static str,
    },
    /// A saved model of a loss of the same name whose source has changed.
    #[error(
        "{}: loss `{name}` has changed since the model was saved (fingerprint {saved:016x}, now {now:016x}); \
         the saved source is on the file's `source` line",
        path.display()
    )]
    ChangedLoss {
        /// The model file.
        path: PathBuf,
        /// The loss's name.
        name: &'static str,
        /// The fingerprint in the file.
        saved: u64,
        /// The loss's fingerprint now.
        now: u64,
    },
    /// A saved hyper-setting the loss refuses.
    #[error("{}: {source}", path.display())]
    Hyper {
        /// The model file.
        path: PathBuf,
        /// Why.
        source: HyperError,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The parameter archive could not be written or read.
    #[error("{}: {message}", path.display())]
    Npz {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A line of the model file is not what the format says.
    #[error("{}:{line}: {message}", path.display())]
    Format {
        /// The model file.
        path: PathBuf,
        /// The 1-based line number (one past the last line for a file that ends early).
        line: usize,
        /// What was expected.
        message: String,
    },
    /// Something in the model cannot be written in the documented format.
    #[error("{}: cannot save: {message}", path.display())]
    Unsavable {
        /// The file being written.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

debug_as_display!(ModelError);
