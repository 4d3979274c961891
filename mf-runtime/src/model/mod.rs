//! Trained models: a loss's prediction rule with its trained params and the
//! id maps of its data; predictions by raw id, top-N recommendations,
//! accuracy, and saving and loading.
//!
//! A [`Model`] is made from the `loss!` struct it was trained with (any loss
//! whose prediction reads params, hyper-settings and numbers: `P@Q + bu +
//! bi + mu`, `sigmoid(P@Q)`, `exp(P)@exp(Q)`, …; see [`Prediction`]), its
//! trained params, and the training [`Ratings`], whose id maps let it be
//! asked about users and items by the ids of the files (`196`, `"alice"`)
//! and whose counts tell which ids had training ratings.
//!
//! # Unknown ids
//!
//! An id is *known* when it had at least one training rating. A user or an
//! item that is not in the id maps, or that is but had no training rating
//! (its row of params never left its start), is unknown, and [`Unknown`]
//! says what its predictions are:
//!
//! * [`Unknown::Error`] (the default): [`ModelError::UnknownUser`] or
//!   [`ModelError::UnknownItem`], naming the id.
//! * [`Unknown::Baseline`]: the loss's prediction with the unknown id's
//!   rows of params at zero (its factors, its bias), as Surprise's SVD
//!   predicts for an unknown id: `mu + bi` for `P@Q + bu + bi + mu`. The
//!   prediction's tables are computed so too: a user of the id maps
//!   without training ratings gets `(0 + F@W) @ (Q + V@G.T) + bi + mu`
//!   from a loss with side data, a cold-start prediction from the user's
//!   attributes; an id outside the maps has no attributes, and its table
//!   rows are zero.
//! * [`Unknown::Value`]: a fixed value, e.g. the training mean (Surprise's
//!   default prediction).
//!
//! With a rating range ([`ModelBuilder::clip`]) predictions are clipped to
//! it; [`Model::top_n`] ranks by the unclipped score.
//!
//! # Files
//!
//! [`Model::save`] writes a directory with the params as a NumPy archive
//! and a text file naming the loss, its source and fingerprint, its
//! hyper-settings and the id maps; [`Model::load`] reads it into the same
//! loss, and refuses another loss or a changed one. See [`files`] for the
//! formats.
//!
//! ```
//! use mf_runtime::{loss, model::Model, Params, ParamLayout, Ratings};
//! loss! {
//!     struct Biased { data D: [users, items], param P: [users, k], param Q: [k, items], param mu: [], }
//!     minimize sum(mask * (D - P@Q - mu)^2)
//! }
//! let train = Ratings::from_triplets(2, 3, [(0, 0, 4.0), (0, 1, 2.0), (1, 2, 5.0)])?;
//! // P: [2, 1], Q: [1, 3], mu: [].
//! let layout = ParamLayout::new([("P", 2, 1), ("Q", 1, 3), ("mu", 1, 1)]);
//! let params = Params::from_vec(layout, vec![1.0, 2.0, 0.5, 1.0, 1.5, 3.0]).unwrap();
//! let model = Model::builder(&Biased::default(), params, &train).clip(1.0, 5.0).build()?;
//! assert_eq!(model.predict(0, 1)?, 4.0); // 1·1 + 3
//! assert_eq!(model.predict(1, 2)?, 5.0); // 2·1.5 + 3 = 6, clipped
//!
//! let dir = tempfile::tempdir()?;
//! model.save(dir.path())?;
//! let loaded = Model::load(dir.path(), &Biased::default())?;
//! assert_eq!(loaded.predict(0, 1)?, 4.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod baseline;
mod error;
pub mod files;
mod loss;
mod query;

use std::sync::Arc;

pub use error::ModelError;
pub use files::{MODEL_FILE, PARAMS_FILE, RATED_FILE, TABLES_FILE};
pub use loss::{fingerprint, unknown_hyper, HyperError, Hypers, ParamDecl, Prediction, Trainable};
pub(crate) use query::Rated;
pub use query::{Recommendation, TopN};

use ndarray::Array2;

use crate::data::{IdMap, Ratings, SideData};
use crate::{DimBinder, Params};
use baseline::Baseline;

/// What a prediction for an unknown id gives; see the
/// [module docs](self#unknown-ids).
///
/// ```
/// use mf_runtime::model::Unknown;
/// assert_eq!(Unknown::default(), Unknown::Error);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Unknown {
    /// An error naming the unknown id.
    #[default]
    Error,
    /// The loss's prediction with the unknown id's rows of params at zero
    /// (for an id in the maps, its tables' rows computed so: a loss with
    /// side data predicts from the id's attributes alone).
    Baseline,
    /// A fixed value (finite), e.g. the training ratings' mean.
    Value(f64),
}

/// A trained model: a loss's prediction rule, its params, the id maps of
/// its training data and the prediction settings. See the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct Model {
    rule: Arc<dyn Prediction>,
    params: Params,
    /// `params` with the rows (columns) of ids without training ratings at
    /// zero, and one more row (column) of zeros on every axis that runs
    /// over users or items: index `users.len()` (or `items.len()`) predicts
    /// for an id outside the maps under [`Unknown::Baseline`] (see
    /// `baseline.rs`).
    padded: Params,
    /// The prediction's tables as computed from the training data
    /// (unpadded, as saved; the rows of ids without training ratings
    /// computed at their params' zero rows) and padded as `padded` is.
    tables: Vec<Array2<f64>>,
    padded_tables: Vec<Array2<f64>>,
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    /// The items each user rated in training.
    rated: Arc<Rated>,
    range: Option<(f64, f64)>,
    unknown: Unknown,
}

impl PartialEq for Model {
    /// The same loss (name, source, hyper-settings), params, ids and settings.
    fn eq(&self, other: &Model) -> bool {
        let hypers = |m: &Model| -> Vec<Option<f64>> {
            let rule = &m.rule;
            rule.hyper_names().iter().map(|n| rule.hyper(n)).collect()
        };
        self.rule.loss_name() == other.rule.loss_name()
            && self.rule.loss_source() == other.rule.loss_source()
            && hypers(self) == hypers(other)
            && self.params == other.params
            && self.tables == other.tables
            && self.users == other.users
            && self.items == other.items
            && self.rated == other.rated
            && self.range == other.range
            && self.unknown == other.unknown
    }
}

/// Settings of a [`Model`] before they are checked; from [`Model::builder`].
///
/// ```
/// # use mf_runtime::{loss, model::{Model, Unknown}, Params, ParamLayout, Ratings};
/// # loss! { struct L { data D: [u, i], param P: [u, k], param Q: [k, i], } minimize sum(mask * (D - P@Q)^2) }
/// let train = Ratings::from_triplets(1, 1, [(0, 0, 3.0)])?;
/// let params = Params::zeros(ParamLayout::new([("P", 1, 2), ("Q", 2, 1)]));
/// let model = Model::builder(&L::default(), params, &train)
///     .clip(1.0, 5.0)
///     .unknown(Unknown::Value(3.0))
///     .build()?;
/// assert_eq!(model.predict(0, "new item")?, 3.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ModelBuilder<'a> {
    rule: Arc<dyn Prediction>,
    params: Params,
    tables: Tables<'a>,
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    rated: Arc<Rated>,
    range: Option<(f64, f64)>,
    unknown: Unknown,
}

/// Where the tables of a model being built come from.
#[derive(Debug)]
enum Tables<'a> {
    /// Computed when it is built, from the training ratings and the side
    /// data (none when not given).
    Computed {
        train: &'a Ratings,
        side: Option<&'a SideData>,
    },
    /// Read from a saved model.
    Loaded(Vec<Array2<f64>>),
}

impl<'a> ModelBuilder<'a> {
    /// The dense data the loss reads besides its ratings (see
    /// [`Trainable::side_data`]), for a loss whose prediction reads it
    /// (`(P + F@W) @ Q`): the prediction's tables are computed from `side`
    /// and the training ratings when the model is built, and kept (and
    /// saved), so the model predicts without it.
    ///
    /// ```
    /// # use mf_runtime::{loss, model::Model, data::SideData, MaskedMatrix, Params, ParamLayout, Ratings};
    /// # use mf_runtime::ndarray::array;
    /// loss! {
    ///     struct Attr { data D: sparse[u, i], data F: [u, f], param P: [u, k], param W: [f, k], param Q: [k, i], }
    ///     minimize sum(mask(D) * (D - (P + F@W)@Q)^2)
    /// }
    /// let train = Ratings::from_triplets(2, 1, [(0, 0, 4.0), (1, 0, 2.0)])?;
    /// let side = SideData::new().with("F", MaskedMatrix::fully_observed(array![[1.0], [0.0]]))?;
    /// // P = 0, W = [[2]], Q = [[1.5]]: user 0's factor is F's row times W.
    /// let layout = ParamLayout::new([("P", 2, 1), ("W", 1, 1), ("Q", 1, 1)]);
    /// let params = Params::from_vec(layout, vec![0.0, 0.0, 2.0, 1.5]).unwrap();
    /// let model = Model::builder(&Attr::default(), params.clone(), &train).side(&side).build()?;
    /// assert_eq!((model.predict(0, 0)?, model.predict(1, 0)?), (3.0, 0.0));
    /// assert!(Model::builder(&Attr::default(), params, &train).build().is_err()); // F not given
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn side(mut self, side: &'a SideData) -> Self {
        if let Tables::Computed { side: given, .. } = &mut self.tables {
            *given = Some(side);
        }
        self
    }

    /// Clips predictions to `[min, max]` (finite, `min <= max`; checked by
    /// [`build`](ModelBuilder::build)).
    ///
    /// ```
    /// # use mf_runtime::{loss, model::Model, Params, ParamLayout, Ratings};
    /// # loss! { struct L { data D: [u, i], param P: [u, k], param Q: [k, i], } minimize sum(mask * (D - P@Q)^2) }
    /// # let train = Ratings::from_triplets(1, 1, [(0, 0, 3.0)])?;
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// assert!(Model::builder(&L::default(), params, &train).clip(5.0, 1.0).build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clip(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// The policy for unknown ids (default [`Unknown::Error`]).
    ///
    /// ```
    /// # use mf_runtime::{loss, model::{Model, Unknown}, Params, ParamLayout, Ratings};
    /// # loss! { struct L { data D: [u, i], param P: [u, k], param Q: [k, i], } minimize sum(mask * (D - P@Q)^2) }
    /// # let train = Ratings::from_triplets(1, 1, [(0, 0, 3.0)])?;
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// let model = Model::builder(&L::default(), params, &train).unknown(Unknown::Baseline).build()?;
    /// assert_eq!(model.predict("someone", 0)?, 0.0); // P@Q with P's row at zero
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unknown(mut self, policy: Unknown) -> Self {
        self.unknown = policy;
        self
    }

    /// The model, once its params are checked against the loss (names,
    /// order, and every dimension against the id maps and each other).
    ///
    /// # Errors
    /// [`ModelError::Blocks`] or [`ModelError::Shape`] when the params do
    /// not fit, [`ModelError::BadRange`] for a bad rating range,
    /// [`ModelError::BadValue`] for a non-finite [`Unknown::Value`].
    pub fn build(self) -> Result<Model, ModelError> {
        let rule = &self.rule;
        let decls = rule.params();
        let layout = self.params.layout();
        let names = |it: &mut dyn Iterator<Item = &str>| it.collect::<Vec<_>>().join(", ");
        let found = names(&mut layout.blocks().iter().map(|b| b.name.as_str()));
        let expected = names(&mut decls.iter().map(|d| d.name));
        if found != expected {
            return Err(ModelError::Blocks {
                loss: rule.loss_name(),
                expected,
                found,
            });
        }
        let (user_dim, item_dim) = rule.domain();
        let shape = |source| ModelError::Shape {
            loss: rule.loss_name(),
            source,
        };
        let mut dims = DimBinder::default();
        dims.bind(user_dim, self.users.len(), "the user ids")
            .and_then(|()| dims.bind(item_dim, self.items.len(), "the item ids"))
            .map_err(shape)?;
        for (decl, block) in decls.iter().zip(layout.blocks()) {
            for (dim, size, axis) in [
                (decl.rows, block.rows, "rows"),
                (decl.cols, block.cols, "columns"),
            ] {
                let source = format!("{axis} of param {}", decl.name);
                match dim {
                    "1" => DimBinder::expect_one(size, &source),
                    _ => dims.bind(dim, size, &source),
                }
                .map_err(shape)?;
            }
        }
        let (users, items) = self.rated.dim();
        if (users, items) != (self.users.len(), self.items.len()) {
            return Err(ModelError::Rated {
                users,
                items,
                user_ids: self.users.len(),
                item_ids: self.items.len(),
            });
        }
        if let Some((min, max)) = self.range {
            if !(min.is_finite() && max.is_finite() && min <= max) {
                return Err(ModelError::BadRange { min, max });
            }
        }
        if let Unknown::Value(v) = self.unknown {
            if !v.is_finite() {
                return Err(ModelError::BadValue(v));
            }
        }
        let baseline = Baseline::new(user_dim, item_dim, &self.rated);
        let table_decls = rule.tables();
        let tables = match self.tables {
            Tables::Computed { train, side } => {
                let no_side = SideData::new();
                let side = side.unwrap_or(&no_side);
                let compute = |params: &Params| {
                    let x = params.as_slice();
                    rule.compute_tables(train, side, layout, x).map_err(shape)
                };
                let mut tables = compute(&self.params)?;
                if !tables.is_empty() && baseline.has_untrained() {
                    let at_zero = compute(&baseline.zeroed(&self.params, decls))?;
                    baseline.merge(&mut tables, &at_zero, table_decls);
                }
                tables
            }
            Tables::Loaded(tables) => tables,
        };
        if tables.len() != table_decls.len() {
            return Err(ModelError::Tables {
                loss: rule.loss_name(),
                expected: table_decls.len(),
                found: tables.len(),
            });
        }
        for (decl, table) in table_decls.iter().zip(&tables) {
            for (dim, size, axis) in [
                (decl.rows, table.nrows(), "rows"),
                (decl.cols, table.ncols(), "columns"),
            ] {
                let source = format!("{axis} of table {}", decl.name);
                match dim {
                    "1" => DimBinder::expect_one(size, &source),
                    _ => dims.bind(dim, size, &source),
                }
                .map_err(shape)?;
            }
        }
        let padded_tables = tables
            .iter()
            .zip(table_decls)
            .map(|(t, d)| baseline.padded_array(t, d))
            .collect();
        Ok(Model {
            padded: baseline.padded_params(&self.params, decls),
            tables,
            padded_tables,
            rule: self.rule,
            params: self.params,
            users: self.users,
            items: self.items,
            rated: self.rated,
            range: self.range,
            unknown: self.unknown,
        })
    }
}

impl Model {
    /// The model of `params` trained with `loss` on `train` (whose id maps
    /// it keeps), with the default settings: no clipping, unknown ids an
    /// error. Same as `Model::builder(loss, params, train).build()`.
    ///
    /// # Errors
    /// As [`ModelBuilder::build`].
    ///
    /// ```
    /// # use mf_runtime::{loss, model::Model, Params, ParamLayout, Ratings};
    /// # loss! { struct L { data D: [u, i], param P: [u, k], param Q: [k, i], } minimize sum(mask * (D - P@Q)^2) }
    /// let train = Ratings::from_triplets(2, 2, [(0, 0, 4.0), (1, 1, 2.0)])?;
    /// let params = Params::zeros(ParamLayout::new([("P", 2, 3), ("Q", 3, 2)]));
    /// assert_eq!(Model::new(&L::default(), params, &train)?.user_ids().len(), 2);
    /// // The blocks must be the loss's.
    /// let wrong = Params::zeros(ParamLayout::new([("P", 2, 3), ("Q", 2, 3)]));
    /// assert!(Model::new(&L::default(), wrong, &train).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        loss: &dyn Prediction,
        params: impl Into<Params>,
        train: &Ratings,
    ) -> Result<Model, ModelError> {
        Model::builder(loss, params, train).build()
    }

    /// A [`ModelBuilder`] to set clipping and the unknown-id policy; see
    /// [`Model::new`].
    pub fn builder<'a>(
        loss: &dyn Prediction,
        params: impl Into<Params>,
        train: &'a Ratings,
    ) -> ModelBuilder<'a> {
        Model::builder_rated(loss, params, train, Arc::new(Rated::of(train)))
    }

    /// [`Model::builder`] with `train`'s training items already gathered
    /// (`Rated::of(train)`): a caller that builds many models on one
    /// training set (each validation check of a run) gathers them once.
    pub(crate) fn builder_rated<'a>(
        loss: &dyn Prediction,
        params: impl Into<Params>,
        train: &'a Ratings,
        rated: Arc<Rated>,
    ) -> ModelBuilder<'a> {
        ModelBuilder {
            rule: Arc::from(loss.boxed()),
            tables: Tables::Computed { train, side: None },
            params: params.into(),
            users: train.user_ids().clone(),
            items: train.item_ids().clone(),
            rated,
            range: None,
            unknown: Unknown::Error,
        }
    }

    /// The loss's prediction rule (with its hyper-settings).
    pub fn rule(&self) -> &dyn Prediction {
        &*self.rule
    }

    /// The trained parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The prediction's tables, as computed from the training data (and
    /// side data), in the order of [`Prediction::tables`] (empty for a
    /// prediction that reads params only). The rows (columns) of ids
    /// without training ratings are computed with those ids' rows of
    /// params at zero: what [`Unknown::Baseline`] predicts from.
    pub fn tables(&self) -> &[Array2<f64>] {
        &self.tables
    }

    /// The user id map (index = row of the prediction).
    pub fn user_ids(&self) -> &Arc<IdMap> {
        &self.users
    }

    /// The item id map (index = column of the prediction).
    pub fn item_ids(&self) -> &Arc<IdMap> {
        &self.items
    }

    /// Whether user `index` had training ratings (else it is unknown).
    ///
    /// ```
    /// # use mf_runtime::{loss, model::Model, Params, ParamLayout, Ratings};
    /// # loss! { struct L { data D: [u, i], param P: [u, k], param Q: [k, i], } minimize sum(mask * (D - P@Q)^2) }
    /// // User 1 is in the maps but has no rating.
    /// let train = Ratings::from_triplets(2, 1, [(0, 0, 4.0)])?;
    /// let model = Model::new(&L::default(), Params::zeros(ParamLayout::new([("P", 2, 1), ("Q", 1, 1)])), &train)?;
    /// assert_eq!((model.is_trained_user(0), model.is_trained_user(1)), (true, false));
    /// assert!(model.predict(1, 0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_trained_user(&self, index: u32) -> bool {
        self.rated.user_count(index as usize) > 0
    }

    /// Whether item `index` had training ratings (else it is unknown).
    pub fn is_trained_item(&self, index: u32) -> bool {
        self.rated.item_count(index as usize) > 0
    }

    /// The rating range predictions are clipped to, if any.
    pub fn rating_range(&self) -> Option<(f64, f64)> {
        self.range
    }

    /// The policy for unknown ids.
    pub fn unknown(&self) -> Unknown {
        self.unknown
    }

    fn clip(&self, x: f64) -> f64 {
        match self.range {
            Some((min, max)) => x.clamp(min, max),
            None => x,
        }
    }
}
