//! Data a loss is trained on.
//!
//! * [`Ratings`]: the observed entries of a users × items matrix, with CSR
//!   and CSC arrays and raw-id maps ([`IdMap`]); built by the loaders
//!   ([`LoadOptions`], [`Ratings::load`], [`Ratings::from_movielens`]), a
//!   [`RatingsBuilder`], [`Ratings::from_triplets`] or the [`synthetic`](fn@synthetic)
//!   generator.
//! * Splits ([`Split`]): random holdout, k-fold, per-user holdout, given
//!   files, and time-ordered (each user's latest ratings, or a cut-off
//!   time, when the ratings have timestamps), with unseen users and items
//!   counted.
//! * Writing back ([`Ratings::write_csv`], [`Split::write_csv`]): CSV the
//!   loaders read, with raw ids and timestamps, for scoring other libraries
//!   on the same split.
//! * Side information ([`Features`]): user and item attributes (MovieLens
//!   `u.user`, `u.item`, `movies.csv`) as one-hot and multi-hot matrices
//!   with one row per id of a ratings id map, for `data F: [users, f]`.
//! * [`MaskedMatrix`]: the original dense form, a full `users × items` array
//!   with an observation mask.
//! * [`find_dataset`]: where tests, examples and benchmarks find MovieLens.
//!
//! ```
//! use mf_runtime::data::{Header, Holdout, LoadOptions};
//! let text = "user,item,rating\nann,dune,5\nann,solaris,3\nbob,dune,4\nbob,solaris,2\nbob,stalker,1\n";
//! let ratings = LoadOptions::new()
//!     .header(Header::Present)
//!     .parse_str("ratings-small.csv", text)
//!     .unwrap();
//! assert_eq!((ratings.num_users(), ratings.num_items(), ratings.nnz()), (2, 3, 5));
//! let split = ratings.split_per_user(Holdout::Count(1), 42).unwrap();
//! assert_eq!(split.train.nnz() + split.test.nnz() + split.dropped_entries, 5);
//! ```

mod dense;
mod error;
mod features;
pub mod ids;
pub mod load;
pub mod ratings;
mod side_data;
pub mod split;
pub mod synthetic;
mod write;

use std::path::{Path, PathBuf};

pub use dense::MaskedMatrix;
pub use error::{DataError, Problem};
pub use features::Features;
pub use ids::{IdMap, RawId};
pub use load::{timestamp_of_date, Columns, Delimiter, Header, IdKind, LoadOptions};
pub use ratings::{CscView, CsrView, Duplicates, Entries, Ratings, RatingsBuilder, Unseen};
pub use side_data::{SideData, SideDataError};
pub use split::{Holdout, KFold, Split};
pub use synthetic::{synthetic, Planted, Synthetic};

/// Environment variable naming a directory that holds the data sets
/// (`$MF_DATASETS/ml-100k/u.data`, …).
///
/// ```
/// assert_eq!(mf_runtime::data::DATASETS_ENV, "MF_DATASETS");
/// ```
pub const DATASETS_ENV: &str = "MF_DATASETS";

/// The directories searched for data sets, in order: `$MF_DATASETS` when set,
/// then `../shared/datasets` next to the workspace root.
fn dataset_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = std::env::var_os(DATASETS_ENV) {
        roots.push(PathBuf::from(dir));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    roots.push(workspace.join("..").join("shared").join("datasets"));
    roots
}

/// Finds a data set file or directory, e.g. `"ml-100k/u1.base"`, under
/// `$MF_DATASETS`, then under `../shared/datasets` relative to the workspace
/// root. `None` when absent: data sets are never part of the repository
/// (MovieLens may not be redistributed). (This example is compiled, not
/// run: `mf-runtime/tests/data_movielens.rs` checks these counts.)
///
/// ```no_run
/// use mf_runtime::data::{find_dataset, Ratings};
/// match find_dataset("ml-100k/u.data") {
///     Some(path) => assert_eq!(Ratings::from_movielens(path).unwrap().nnz(), 100_000),
///     None => eprintln!("ml-100k is absent; skipping"),
/// }
/// ```
pub fn find_dataset(relative: impl AsRef<Path>) -> Option<PathBuf> {
    dataset_roots()
        .into_iter()
        .map(|root| root.join(relative.as_ref()))
        .find(|path| path.exists())
}

/// [`find_dataset`], printing to stderr, when absent, that it is absent,
/// where it was looked for, and that the caller skips: the one line the
/// benchmarks print before returning. (Tests that need a data set are
/// `#[ignore]`d with the reason instead, so a test run's summary counts
/// them.)
///
/// ```
/// use mf_runtime::data::dataset_or_skip;
/// let Some(path) = dataset_or_skip("no-such-set/ratings.csv") else { return };
/// unreachable!("{path:?} should not exist");
/// ```
pub fn dataset_or_skip(relative: impl AsRef<Path>) -> Option<PathBuf> {
    let found = find_dataset(relative.as_ref());
    if found.is_none() {
        let places: Vec<String> = dataset_roots()
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        eprintln!(
            "skipping: data set `{}` is absent (looked in {}; set {DATASETS_ENV} to a directory holding it)",
            relative.as_ref().display(),
            places.join(", ")
        );
    }
    found
}

/// Observation counts per row and per column of a data matrix (the `nᵤ` and
/// `nᵢ` of weighted-λ penalties), as `f64` for arithmetic. Generated code
/// calls this for `count_rows(D)` and `count_cols(D)`.
///
/// ```
/// use mf_runtime::data::ObservationCounts;
/// use mf_runtime::MaskedMatrix;
/// let m = MaskedMatrix::zeros_as_missing(ndarray::array![[1.0, 0.0], [2.0, 3.0]]);
/// assert_eq!(m.row_counts(), [1.0, 2.0]);
/// assert_eq!(m.col_counts(), [2.0, 1.0]);
/// ```
pub trait ObservationCounts {
    /// Observed entries in each row.
    fn row_counts(&self) -> Vec<f64>;
    /// Observed entries in each column.
    fn col_counts(&self) -> Vec<f64>;
}

impl ObservationCounts for MaskedMatrix {
    fn row_counts(&self) -> Vec<f64> {
        self.observed()
            .rows()
            .into_iter()
            .map(|row| row.iter().filter(|&&o| o).count() as f64)
            .collect()
    }

    fn col_counts(&self) -> Vec<f64> {
        self.observed()
            .columns()
            .into_iter()
            .map(|col| col.iter().filter(|&&o| o).count() as f64)
            .collect()
    }
}

impl ObservationCounts for Ratings {
    fn row_counts(&self) -> Vec<f64> {
        self.user_counts().map(|n| n as f64).collect()
    }

    fn col_counts(&self) -> Vec<f64> {
        self.item_counts().map(|n| n as f64).collect()
    }
}
