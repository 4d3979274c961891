//! What a model needs from its loss, implemented by `loss!` for every loss:
//! the hyper-settings by name, the loss's identity (name, source,
//! fingerprint) and, for a loss with a prediction, its value at one entry.

use std::fmt;

use ndarray::Array2;

use crate::data::SideData;
use crate::{Init, Objective, ParamLayout, Params, Ratings, ShapeError};

/// A hyper-setting that cannot be set.
///
/// ```
/// use mf_runtime::model::HyperError;
/// let e = HyperError::NotFinite { name: "beta".into(), value: f64::NAN };
/// assert_eq!(e.to_string(), "hyper-setting `beta` must be finite, not NaN");
/// ```
#[derive(Clone, PartialEq, thiserror::Error)]
pub enum HyperError {
    /// The loss declares no hyper-setting of that name.
    #[error("the loss has no hyper-setting `{name}` (it has: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The declared names, comma-separated (`none` when there are none).
        known: String,
    },
    /// A NaN or infinite value.
    #[error("hyper-setting `{name}` must be finite, not {value}")]
    NotFinite {
        /// The hyper-setting.
        name: String,
        /// The value refused.
        value: f64,
    },
}

debug_as_display!(HyperError);

/// The hyper-settings of a loss, by name: implemented by every `loss!`
/// struct (whose fields they are), so that a search or a saved model can
/// set them without knowing the struct.
///
/// ```
/// use mf_runtime::{loss, model::Hypers};
/// loss! {
///     struct Ridge { data D: [m, n], param P: [m, k], param Q: [k, n], hyper beta: f64 = 0.1, }
///     minimize sum(mask * (D - P@Q)^2) + beta * (sum(P^2) + sum(Q^2))
/// }
/// let mut loss = Ridge::default();
/// loss.set_hyper("beta", 0.5)?;
/// assert_eq!((loss.hyper_names(), loss.hyper("beta")), (&["beta"][..], Some(0.5)));
/// assert!(loss.set_hyper("beta", f64::INFINITY).is_err());
/// assert!(loss.set_hyper("gamma", 1.0).is_err());
/// # Ok::<(), mf_runtime::model::HyperError>(())
/// ```
pub trait Hypers {
    /// The declared hyper-settings, in declaration order.
    fn hyper_names(&self) -> &'static [&'static str];

    /// The value of hyper-setting `name`, if the loss declares it.
    fn hyper(&self, name: &str) -> Option<f64>;

    /// Sets hyper-setting `name`.
    ///
    /// # Errors
    /// [`HyperError::Unknown`] for a name the loss does not declare,
    /// [`HyperError::NotFinite`] for a NaN or infinite value.
    fn set_hyper(&mut self, name: &str, value: f64) -> Result<(), HyperError>;
}

/// The [`HyperError::Unknown`] error for `name` among `known`.
#[doc(hidden)]
pub fn unknown_hyper(name: &str, known: &[&str]) -> HyperError {
    HyperError::Unknown {
        name: name.to_string(),
        known: match known.is_empty() {
            true => "none".to_string(),
            false => known.join(", "),
        },
    }
}

/// A param (or a table, or side data) as the loss declares it: its name
/// and the dimensions of its rows and columns (`"1"` for an axis of size
/// one, as in `bu: [users, 1]` or the scalar `mu: []`).
///
/// ```
/// use mf_runtime::model::ParamDecl;
/// let p = ParamDecl { name: "P", rows: "users", cols: "k" };
/// assert_eq!(p.rows, "users");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamDecl {
    /// The param's name.
    pub name: &'static str,
    /// The dimension of its rows.
    pub rows: &'static str,
    /// The dimension of its columns.
    pub cols: &'static str,
}

/// A loss's prediction rule at one entry, as `loss!` derives it (the
/// `predict` clause, or what the loss's residual subtracts from the data),
/// with what a saved model must remember of the loss. Implemented by the
/// `loss!` struct of every loss whose prediction can be computed at an
/// entry: from params, hyper-settings and numbers, and from *tables*, the
/// parts that read the training data without spanning its grid (SVD++'s
/// `mask(D) @ Y`, one row per user), computed once per model.
/// [`Model`](super::Model) is built on it.
///
/// ```
/// use mf_runtime::{loss, model::Prediction, ParamLayout};
/// loss! {
///     struct Biased { data D: [m, n], param P: [m, k], param Q: [k, n], param bi: [1, n], }
///     minimize sum(mask * (D - P@Q - bi)^2)
/// }
/// let loss = Biased::default();
/// assert_eq!((loss.loss_name(), loss.domain()), ("Biased", ("m", "n")));
/// assert_eq!(loss.params()[2].cols, "n");
/// // P = [[1, 2]], Q = [[3], [4]], bi = [[0.5]]: 1·3 + 2·4 + 0.5.
/// let layout = ParamLayout::new([("P", 1, 2), ("Q", 2, 1), ("bi", 1, 1)]);
/// assert_eq!(loss.predict_flat(&layout, &[1.0, 2.0, 3.0, 4.0, 0.5], &[], 0, 0), 11.5);
/// assert!(loss.tables().is_empty());
/// ```
pub trait Prediction: Hypers + fmt::Debug + Send + Sync {
    /// The loss struct's name, e.g. `Biased`.
    fn loss_name(&self) -> &'static str;

    /// The loss as written, without its attributes and doc comments (the
    /// macro's tokens, spaced as `proc_macro2` prints them).
    fn loss_source(&self) -> &'static str;

    /// The loss's `explain()` text: derived gradients, plan, prediction.
    fn explanation(&self) -> &'static str;

    /// The params, in declaration order (the order of their blocks).
    fn params(&self) -> &'static [ParamDecl];

    /// The dimensions of the prediction's rows and columns (those of the
    /// data matrix it predicts: users and items for ratings).
    fn domain(&self) -> (&'static str, &'static str);

    /// The prediction's tables: the parts of it that read the training
    /// data, each named by its math (`P + mask(D) @ Y / sqrt(count_rows(D))`
    /// for SVD++), with the dimensions of its rows and columns. Empty for a
    /// prediction that reads params only.
    fn tables(&self) -> &'static [ParamDecl];

    /// The tables' values at the flat parameters `x` (laid out by
    /// `layout`), from the training data `train` and the dense data the
    /// loss reads besides it, `side` (empty for most losses): one pass
    /// over them.
    ///
    /// # Errors
    /// A [`ShapeError`] when `layout`, `train` or `side` does not fit the
    /// loss ([`ShapeError::MissingData`] for side data not given).
    fn compute_tables(
        &self,
        train: &Ratings,
        side: &SideData,
        layout: &ParamLayout,
        x: &[f64],
    ) -> Result<Vec<Array2<f64>>, ShapeError>;

    /// The prediction at entry `(row, col)` (dense indices), from the flat
    /// parameters `x` laid out by `layout` and the [`tables`](Self::tables)
    /// (empty when there are none), unclipped.
    ///
    /// # Panics
    /// If `layout` does not have this loss's blocks, a table is missing, or
    /// an index is out of range.
    fn predict_flat(
        &self,
        layout: &ParamLayout,
        x: &[f64],
        tables: &[Array2<f64>],
        row: usize,
        col: usize,
    ) -> f64;

    /// A boxed copy, for a model that keeps the rule.
    fn boxed(&self) -> Box<dyn Prediction>;
}

/// A loss that trains on a [`Ratings`] set: what an experiment needs to
/// start, bind and train any loss without knowing its struct. Implemented
/// by `loss!` for every loss with a prediction and exactly one sparse data
/// matrix (`sparse[..]`, the ratings), which may also read dense *side
/// data* (`data F: [users, f]`: user or item attributes, given as a
/// [`SideData`]).
///
/// ```
/// use mf_runtime::{loss, model::Trainable, data::SideData, Init, Ratings};
/// use rand::SeedableRng;
/// loss! {
///     struct Ridge { data D: sparse[users, items], param P: [users, k], param Q: [k, items], hyper beta: f64 = 0.1, }
///     minimize sum(mask * (D - P@Q)^2) + beta * (sum(P^2) + sum(Q^2))
/// }
/// let train = Ratings::from_triplets(2, 3, [(0, 0, 4.0), (1, 2, 2.0)])?;
/// let (side, mut rng) = (SideData::new(), rand::rngs::StdRng::seed_from_u64(1));
/// let params = Ridge::default().start(&train, &side, 4, Init::Normal { mean: 0.0, std: 0.1 }, &mut rng)?;
/// assert_eq!(params.as_slice().len(), (2 + 3) * 4);
/// let mut objective = Ridge::default().bind(&train, &side, &params)?;
/// assert!(objective.value(params.as_slice()) > 0.0);
/// assert!(Ridge::default().side_data().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Trainable: Prediction {
    /// The dimensions the data does not fix (`k`), each set to the rank.
    fn free_dims(&self) -> &'static [&'static str];

    /// The dense data the loss reads besides its ratings, as declared
    /// (name, dimensions of rows and columns): what the [`SideData`] given
    /// to [`start`](Self::start) and [`bind`](Self::bind) must hold. Empty
    /// for a loss that reads its ratings only.
    fn side_data(&self) -> &'static [ParamDecl];

    /// Start params on `train` (and `side`, see
    /// [`side_data`](Self::side_data)) with every free dimension `rank`:
    /// drawn from `init`, then the declared start values
    /// (`param mu: [] = mean(D)`).
    ///
    /// # Errors
    /// A [`ShapeError`] when `train` or `side` does not fit the loss.
    fn start(
        &self,
        train: &Ratings,
        side: &SideData,
        rank: usize,
        init: Init,
        rng: &mut dyn rand::RngCore,
    ) -> Result<Params, ShapeError>;

    /// The loss bound to `train` and `side`, for params shaped like `params`.
    ///
    /// # Errors
    /// A [`ShapeError`] naming the dimension that does not fit, or
    /// [`ShapeError::MissingData`] for side data not given.
    fn bind<'a>(
        &self,
        train: &'a Ratings,
        side: &'a SideData,
        params: &Params,
    ) -> Result<Box<dyn Objective + 'a>, ShapeError>;

    /// A boxed copy.
    fn boxed_trainable(&self) -> Box<dyn Trainable>;
}

/// The fingerprint of a loss's source: 64-bit FNV-1a of its UTF-8 bytes,
/// fixed by its definition (not by the Rust version, unlike `std`'s
/// hashers), so a model file saved today loads into the same loss later.
///
/// ```
/// use mf_runtime::model::fingerprint;
/// assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
/// assert_ne!(fingerprint("sum(P^2)"), fingerprint("sum(Q^2)"));
/// ```
pub fn fingerprint(source: &str) -> u64 {
    source.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
