//! Trained models: predictions by raw id, top-N recommendations, accuracy,
//! and saving and loading.
//!
//! A [`Model`] is a trained [`Params`] with the user and item [`IdMap`]s of
//! the data it was trained on, so that it can be asked about users and items
//! by the ids of the files (`196`, `"alice"`), not by dense indices.
//!
//! # Predictions
//!
//! The factor-model convention, with `P` the user factors and `Q` the item
//! factors (names configurable with [`ModelBuilder::factors`]):
//!
//! ```text
//! prediction(u, i) = P[u,:]·Q[:,i] + bu[u] + bi[i] + mu     (Q stored [k, items])
//! prediction(u, i) = P[u,:]·Q[i,:] + bu[u] + bi[i] + mu     (Q stored [items, k])
//! ```
//!
//! * `P` must be `[users, k]`: its rows are the user id map's length, and its
//!   columns set `k`.
//! * `Q`'s orientation is read from its shape: `[k, items]` or `[items, k]`.
//!   When both fit (`k == items > 1`, a square `Q`) the shape cannot tell, and
//!   [`ModelBuilder::build`] fails with [`ModelError::AmbiguousLayout`]
//!   unless [`ModelBuilder::item_factors_layout`] says which.
//! * Each bias term is added only when its block is present: `bu`
//!   (`[users, 1]` or `[1, users]`), `bi` (`[items, 1]` or `[1, items]`) and
//!   `mu` (`[1, 1]`). By default the blocks named `bu`, `bi` and `mu` are
//!   used when the params have them; a name given explicitly
//!   ([`ModelBuilder::user_bias`], …) must exist.
//! * With a rating range ([`ModelBuilder::clip`]), predictions are clipped to
//!   it. [`Model::top_n`] ranks by the unclipped score, so clipping never
//!   creates ties among recommendations.
//!
//! # Unknown ids
//!
//! What [`Model::predict`] does with a user or an item that is not in the
//! model's id maps is set by [`Unknown`]:
//!
//! * [`Unknown::Error`] (the default): [`ModelError::UnknownUser`] or
//!   [`ModelError::UnknownItem`], naming the id.
//! * [`Unknown::Baseline`]: the baseline prediction, the global mean plus the
//!   bias of whichever of the two ids is known. The global mean is the `mu`
//!   block when the model has one, otherwise the `mean` given with the
//!   policy (typically the training ratings' [`Ratings::mean`]). Factors are
//!   never used for an unknown id.
//!
//! # Files
//!
//! [`Model::save`] writes a directory holding two files:
//!
//! * **`params.npz`** ([`PARAMS_FILE`]): every param block, in layout order,
//!   as a 2-D little-endian `f64` array named by the block (`P`, `Q`, `bu`,
//!   …; a scalar such as `mu` is a `[1, 1]` array). It is an ordinary
//!   uncompressed NumPy archive: `numpy.load("model/params.npz")["P"]`.
//!   Loading accepts 0-D arrays as `[1, 1]` and 1-D arrays of length `n` as
//!   `[n, 1]`, in either memory order, so a file written by NumPy loads too.
//! * **`model.txt`** ([`MODEL_FILE`]): UTF-8 text, one field per line, then
//!   the two id sections:
//!
//! ```text
//! mf-model 1                 format and version
//! user-factors P             block names; a bias line is absent when the
//! item-factors Q             model has no such block
//! item-layout k-by-items     or items-by-k
//! user-bias bu
//! item-bias bi
//! global-mean mu
//! clip 1 5                   optional: the rating range
//! unknown error              or `unknown baseline 3.53`
//! users 3                    then exactly 3 lines: the raw id of user
//! 196                          index 0, 1, 2, … (line j after the
//! 186                          `users` line is user index j)
//! alice
//! items 2                    the same for the items
//! 242
//! 302
//! ```
//!
//! An id line is the id's text exactly, spaces included (no trimming), so ids
//! holding a line break cannot be saved. Integer-looking ids read back as the
//! same ids (an id's identity is its text, see [`IdMap`]). Every error of
//! [`Model::save`] and [`Model::load`] names the file, and a parse error the
//! line too.
//!
//! ```
//! use mf_runtime::data::IdMap;
//! use mf_runtime::model::Model;
//! use mf_runtime::{ParamLayout, Params};
//!
//! let mut users = IdMap::new();
//! users.get_or_insert("ann");
//! users.get_or_insert("bob");
//! let mut items = IdMap::new();
//! for item in ["dune", "solaris", "stalker"] {
//!     items.get_or_insert(item);
//! }
//! // P: [users, k], Q: [k, items], k = 1.
//! let layout = ParamLayout::new([("P", 2, 1), ("Q", 1, 3), ("mu", 1, 1)]);
//! let params = Params::from_vec(layout, vec![1.0, 2.0, 0.5, 1.0, 1.5, 3.0]).unwrap();
//! let model = Model::builder(params, users, items).clip(1.0, 5.0).build()?;
//! assert_eq!(model.predict("ann", "solaris")?, 4.0); // 1·1 + 3
//! assert_eq!(model.predict("bob", "stalker")?, 5.0); // 2·1.5 + 3 = 6, clipped
//!
//! let dir = tempfile::tempdir()?;
//! model.save(dir.path())?;
//! let loaded = Model::load(dir.path())?;
//! assert_eq!(loaded.predict("ann", "solaris")?, 4.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::ArrayD;
use ndarray_npy::{NpzReader, NpzWriter};

use crate::data::{IdMap, Ratings, RawId};
use crate::metrics::Accuracy;
use crate::{ParamLayout, Params};

/// Name of the parameter archive inside a saved model directory.
///
/// ```
/// assert_eq!(mf_runtime::model::PARAMS_FILE, "params.npz");
/// ```
pub const PARAMS_FILE: &str = "params.npz";

/// Name of the text file (settings and id maps) inside a saved model directory.
///
/// ```
/// assert_eq!(mf_runtime::model::MODEL_FILE, "model.txt");
/// ```
pub const MODEL_FILE: &str = "model.txt";

/// First line of [`MODEL_FILE`]: the format and its version.
const MAGIC: &str = "mf-model 1";

/// Errors of building, querying, saving and loading a [`Model`].
///
/// ```
/// use mf_runtime::data::IdMap;
/// use mf_runtime::model::{Model, ModelError};
/// use mf_runtime::{ParamLayout, Params};
/// let params = Params::zeros(ParamLayout::new([("P", 2, 1)]));
/// let err = Model::new(params, IdMap::identity(2), IdMap::identity(3)).unwrap_err();
/// assert!(matches!(err, ModelError::MissingBlock { .. }));
/// assert_eq!(err.to_string(), "the item factors block `Q` is not in the params (blocks: P)");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A block the model needs is not in the params.
    #[error("the {role} block `{name}` is not in the params (blocks: {available})")]
    MissingBlock {
        /// What the block is for, e.g. `user factors`.
        role: &'static str,
        /// The block name looked for.
        name: String,
        /// The names of the blocks that exist, comma-separated.
        available: String,
    },
    /// A block has a shape that does not fit the id maps or the other blocks.
    #[error("the {role} block `{name}` is [{rows}, {cols}] but must be {expected}")]
    BadShape {
        /// What the block is for.
        role: &'static str,
        /// The block name.
        name: String,
        /// Its rows.
        rows: usize,
        /// Its columns.
        cols: usize,
        /// The accepted shapes, e.g. `[k, items] = [10, 1682] or [items, k] = [1682, 10]`.
        expected: String,
    },
    /// The item factors are square (`k == items`), so their shape does not
    /// tell which axis is the items.
    #[error(
        "the item factors block `{name}` is [{n}, {n}] with k = items = {n}: its layout is \
         ambiguous; say which with `.item_factors_layout(ItemFactors::KByItems)` or `ItemsByK`"
    )]
    AmbiguousLayout {
        /// The block name.
        name: String,
        /// Both of its dimensions.
        n: usize,
    },
    /// The rating range is not finite with `min <= max`.
    #[error("the rating range [{min}, {max}] must be finite with min <= max")]
    BadRange {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// A user id that the model does not know, under [`Unknown::Error`].
    #[error("unknown user id `{0}`: the model was not trained on it")]
    UnknownUser(String),
    /// An item id that the model does not know, under [`Unknown::Error`].
    #[error("unknown item id `{0}`: the model was not trained on it")]
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

/// How the item factors are stored.
///
/// ```
/// use mf_runtime::model::ItemFactors;
/// assert_eq!(ItemFactors::KByItems.to_string(), "k-by-items");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemFactors {
    /// `Q: [k, items]`, prediction `P[u,:]·Q[:,i]` (as in `P@Q`).
    KByItems,
    /// `Q: [items, k]`, prediction `P[u,:]·Q[i,:]` (as in `P@Q.T`).
    ItemsByK,
}

impl fmt::Display for ItemFactors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemFactors::KByItems => "k-by-items",
            ItemFactors::ItemsByK => "items-by-k",
        })
    }
}

/// What a prediction for an id the model does not know gives; see the
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
    /// The global mean plus the known id's bias. The global mean is the
    /// model's `mu` block when it has one, `mean` otherwise.
    Baseline {
        /// The global mean used when the model has no global-mean block.
        mean: f64,
    },
}

/// A block name: the default (used when present), a given name (required),
/// or none.
#[derive(Clone, Debug, PartialEq)]
enum BlockName {
    Default(&'static str),
    Named(String),
    Off,
}

/// Settings of a [`Model`] before its blocks are checked; from [`Model::builder`].
///
/// ```
/// use mf_runtime::data::IdMap;
/// use mf_runtime::model::{ItemFactors, Model};
/// use mf_runtime::{ParamLayout, Params};
/// // Q stored [items, k], square here (k = items = 2), so the layout is given.
/// let params = Params::from_vec(
///     ParamLayout::new([("U", 1, 2), ("V", 2, 2)]),
///     vec![1.0, 2.0, 1.0, 0.0, 0.0, 1.0],
/// ).unwrap();
/// let model = Model::builder(params, IdMap::identity(1), IdMap::identity(2))
///     .factors("U", "V")
///     .item_factors_layout(ItemFactors::ItemsByK)
///     .build()?;
/// assert_eq!(model.predict(0, 1)?, 2.0);
/// # Ok::<(), mf_runtime::model::ModelError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    params: Params,
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    user_factors: String,
    item_factors: String,
    layout: Option<ItemFactors>,
    user_bias: BlockName,
    item_bias: BlockName,
    global_mean: BlockName,
    range: Option<(f64, f64)>,
    unknown: Unknown,
}

impl ModelBuilder {
    /// The names of the user and item factor blocks (default `P` and `Q`).
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("W", 2, 3), ("H", 3, 4)]));
    /// let model = Model::builder(params, IdMap::identity(2), IdMap::identity(4))
    ///     .factors("W", "H")
    ///     .build()?;
    /// assert_eq!(model.k(), 3);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn factors(mut self, user: impl Into<String>, item: impl Into<String>) -> Self {
        self.user_factors = user.into();
        self.item_factors = item.into();
        self
    }

    /// How the item factors are stored, when their shape cannot tell (a
    /// square block); otherwise it must agree with the shape.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::{ItemFactors, Model}, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 2, 3), ("Q", 3, 3)]));
    /// let users = IdMap::identity(2);
    /// let items = IdMap::identity(3);
    /// assert!(Model::new(params.clone(), users.clone(), items.clone()).is_err());
    /// let model = Model::builder(params, users, items)
    ///     .item_factors_layout(ItemFactors::KByItems)
    ///     .build()?;
    /// assert_eq!(model.item_factors_layout(), ItemFactors::KByItems);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn item_factors_layout(mut self, layout: ItemFactors) -> Self {
        self.layout = Some(layout);
        self
    }

    /// The user bias block (default: `bu` when present); a name given here
    /// must exist.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// let err = Model::builder(params, IdMap::identity(1), IdMap::identity(1))
    ///     .user_bias("b_user")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("`b_user` is not in the params"));
    /// ```
    pub fn user_bias(mut self, name: impl Into<String>) -> Self {
        self.user_bias = BlockName::Named(name.into());
        self
    }

    /// The item bias block (default: `bi` when present); a name given here
    /// must exist.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::from_vec(
    ///     ParamLayout::new([("P", 1, 1), ("Q", 1, 2), ("b_item", 1, 2)]),
    ///     vec![1.0, 1.0, 1.0, 0.5, -0.5],
    /// ).unwrap();
    /// let model = Model::builder(params, IdMap::identity(1), IdMap::identity(2))
    ///     .item_bias("b_item")
    ///     .build()?;
    /// assert_eq!(model.predict(0, 1)?, 0.5);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn item_bias(mut self, name: impl Into<String>) -> Self {
        self.item_bias = BlockName::Named(name.into());
        self
    }

    /// The global mean block, `[1, 1]` (default: `mu` when present); a name
    /// given here must exist.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::from_vec(
    ///     ParamLayout::new([("P", 1, 1), ("Q", 1, 1), ("m", 1, 1)]),
    ///     vec![1.0, 1.0, 3.0],
    /// ).unwrap();
    /// let model = Model::builder(params, IdMap::identity(1), IdMap::identity(1))
    ///     .global_mean("m")
    ///     .build()?;
    /// assert_eq!(model.predict(0, 0)?, 4.0);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn global_mean(mut self, name: impl Into<String>) -> Self {
        self.global_mean = BlockName::Named(name.into());
        self
    }

    /// Use no bias block, even when blocks named `bu`, `bi` or `mu` exist.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::from_vec(
    ///     ParamLayout::new([("P", 1, 1), ("Q", 1, 1), ("mu", 1, 1)]),
    ///     vec![2.0, 2.0, 3.0],
    /// ).unwrap();
    /// let model = Model::builder(params, IdMap::identity(1), IdMap::identity(1))
    ///     .without_biases()
    ///     .build()?;
    /// assert_eq!(model.predict(0, 0)?, 4.0);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn without_biases(mut self) -> Self {
        self.user_bias = BlockName::Off;
        self.item_bias = BlockName::Off;
        self.global_mean = BlockName::Off;
        self
    }

    /// Clip predictions to the rating range `[min, max]`.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::from_vec(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]), vec![3.0, 3.0]).unwrap();
    /// let model = Model::builder(params, IdMap::identity(1), IdMap::identity(1))
    ///     .clip(1.0, 5.0)
    ///     .build()?;
    /// assert_eq!(model.predict(0, 0)?, 5.0);
    /// assert_eq!(model.rating_range(), Some((1.0, 5.0)));
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn clip(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// What predictions for unknown ids give (default [`Unknown::Error`]).
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::{Model, Unknown}, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// let model = Model::builder(params, IdMap::identity(1), IdMap::identity(1))
    ///     .unknown(Unknown::Baseline { mean: 3.5 })
    ///     .build()?;
    /// assert_eq!(model.predict(0, 99)?, 3.5);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn unknown(mut self, policy: Unknown) -> Self {
        self.unknown = policy;
        self
    }

    /// Checks the blocks against the id maps and each other, and makes the model.
    ///
    /// # Errors
    ///
    /// [`ModelError::MissingBlock`] for an absent factor block or an absent
    /// bias block named explicitly; [`ModelError::BadShape`] for a block
    /// whose shape does not fit; [`ModelError::AmbiguousLayout`] for square
    /// item factors without a layout; [`ModelError::BadRange`].
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 3, 2), ("Q", 2, 4)]));
    /// let err = Model::builder(params, IdMap::identity(2), IdMap::identity(4)).build().unwrap_err();
    /// assert_eq!(err.to_string(),
    ///     "the user factors block `P` is [3, 2] but must be [users, k] with users = 2");
    /// ```
    pub fn build(self) -> Result<Model, ModelError> {
        let layout = self.params.layout();
        let n_users = self.users.len();
        let n_items = self.items.len();
        let find = |role: &'static str, name: &str| {
            layout.block(name).ok_or_else(|| ModelError::MissingBlock {
                role,
                name: name.to_string(),
                available: layout
                    .blocks()
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        };
        let bad = |role, b: &crate::ParamBlock, expected: String| ModelError::BadShape {
            role,
            name: b.name.clone(),
            rows: b.rows,
            cols: b.cols,
            expected,
        };

        let p = find("user factors", &self.user_factors)?;
        if p.rows != n_users {
            return Err(bad(
                "user factors",
                p,
                format!("[users, k] with users = {n_users}"),
            ));
        }
        let k = p.cols;
        let q = find("item factors", &self.item_factors)?;
        let fits_k_by_items = (q.rows, q.cols) == (k, n_items);
        let fits_items_by_k = (q.rows, q.cols) == (n_items, k);
        let q_layout = match (self.layout, fits_k_by_items, fits_items_by_k) {
            (Some(ItemFactors::KByItems), true, _) => ItemFactors::KByItems,
            (Some(ItemFactors::ItemsByK), _, true) => ItemFactors::ItemsByK,
            // A 1 × 1 block reads the same either way.
            (None, true, true) if k == 1 => ItemFactors::KByItems,
            (None, true, true) => {
                return Err(ModelError::AmbiguousLayout {
                    name: q.name.clone(),
                    n: k,
                })
            }
            (None, true, false) => ItemFactors::KByItems,
            (None, false, true) => ItemFactors::ItemsByK,
            (Some(given), _, _) => {
                let expected = match given {
                    ItemFactors::KByItems => format!("[k, items] = [{k}, {n_items}]"),
                    ItemFactors::ItemsByK => format!("[items, k] = [{n_items}, {k}]"),
                };
                return Err(bad("item factors", q, expected));
            }
            (None, false, false) => {
                return Err(bad(
                    "item factors",
                    q,
                    format!("[k, items] = [{k}, {n_items}] or [items, k] = [{n_items}, {k}]"),
                ))
            }
        };

        let vector = |role: &'static str, which: &BlockName, n: usize, what: &str| {
            let block = match which {
                BlockName::Off => return Ok(None),
                BlockName::Default(name) => match layout.block(name) {
                    Some(b) => b,
                    None => return Ok(None),
                },
                BlockName::Named(name) => find(role, name)?,
            };
            if block.len() != n || (block.rows != 1 && block.cols != 1) {
                let expected = if n == 1 {
                    "[1, 1]".to_string()
                } else {
                    format!("[{what}, 1] or [1, {what}] with {what} = {n}")
                };
                return Err(bad(role, block, expected));
            }
            Ok(Some(block))
        };
        let bu = vector("user bias", &self.user_bias, n_users, "users")?;
        let bi = vector("item bias", &self.item_bias, n_items, "items")?;
        let mu = vector("global mean", &self.global_mean, 1, "")?;

        if let Some((min, max)) = self.range {
            if !(min.is_finite() && max.is_finite() && min <= max) {
                return Err(ModelError::BadRange { min, max });
            }
        }
        let slot = |b: Option<&crate::ParamBlock>| b.map(|b| (b.name.clone(), b.offset));
        let (bu, bi, mu) = (slot(bu), slot(bi), slot(mu));
        Ok(Model {
            k,
            p: (p.name.clone(), p.offset),
            q: (q.name.clone(), q.offset),
            q_layout,
            bu,
            bi,
            mu,
            range: self.range,
            unknown: self.unknown,
            users: self.users,
            items: self.items,
            params: self.params,
        })
    }
}

/// A trained factor model: params, id maps and prediction settings.
///
/// See the [module docs](self) for the prediction formula, unknown ids and
/// the file formats.
///
/// ```
/// use mf_runtime::data::{IdMap, Ratings};
/// use mf_runtime::model::Model;
/// use mf_runtime::{ParamLayout, Params};
/// // 2 users, 3 items, k = 1, Q stored [items, k], with item biases.
/// let layout = ParamLayout::new([("P", 2, 1), ("Q", 3, 1), ("bi", 3, 1)]);
/// let params = Params::from_vec(layout, vec![1.0, -1.0, 1.0, 2.0, 3.0, 0.0, 0.0, 1.0]).unwrap();
/// let model = Model::new(params, IdMap::identity(2), IdMap::identity(3))?;
/// assert_eq!(model.predict(0, 2)?, 4.0);
/// assert_eq!(model.predict(1, 2)?, -2.0);
/// let test = Ratings::from_triplets(2, 3, [(0, 0, 1.0), (1, 1, -1.0)])?;
/// assert_eq!(model.accuracy(&test)?.rmse, 0.5f64.sqrt());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    params: Params,
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    k: usize,
    /// Name and offset in the flat buffer of each block used.
    p: (String, usize),
    q: (String, usize),
    q_layout: ItemFactors,
    bu: Option<(String, usize)>,
    bi: Option<(String, usize)>,
    mu: Option<(String, usize)>,
    range: Option<(f64, f64)>,
    unknown: Unknown,
}

/// One recommended item: its raw id, dense index and predicted rating.
///
/// ```
/// # use mf_runtime::{data::{IdMap, Ratings}, model::Model, ParamLayout, Params};
/// let params = Params::from_vec(ParamLayout::new([("P", 1, 1), ("Q", 1, 2)]), vec![1.0, 2.0, 3.0]).unwrap();
/// let model = Model::new(params, IdMap::identity(1), IdMap::identity(2))?;
/// let none = Ratings::from_triplets(1, 2, [])?;
/// let best = &model.top_n(0, 1, &none)?[0];
/// assert_eq!((best.item.to_string(), best.index, best.score), ("1".to_string(), 1, 3.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recommendation<'a> {
    /// The item's raw id.
    pub item: RawId<'a>,
    /// The item's dense index in the model.
    pub index: u32,
    /// The predicted rating (clipped to the rating range, if any).
    pub score: f64,
}

impl Model {
    /// A model with the default settings: factors `P` and `Q`, the bias
    /// blocks `bu`, `bi`, `mu` when present, no clipping, unknown ids an
    /// error. Same as `Model::builder(..).build()`.
    ///
    /// `users` and `items` are `IdMap`s or `Arc<IdMap>`s, e.g. a training
    /// set's [`Ratings::user_ids`] cloned.
    ///
    /// ```
    /// # use mf_runtime::{data::Ratings, model::Model, ParamLayout, Params};
    /// let train = Ratings::from_triplets(2, 2, [(0, 0, 4.0), (1, 1, 2.0)])?;
    /// let params = Params::zeros(ParamLayout::new([("P", 2, 1), ("Q", 1, 2)]));
    /// let model = Model::new(params, train.user_ids().clone(), train.item_ids().clone())?;
    /// assert_eq!(model.k(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        params: Params,
        users: impl Into<Arc<IdMap>>,
        items: impl Into<Arc<IdMap>>,
    ) -> Result<Model, ModelError> {
        Model::builder(params, users, items).build()
    }

    /// A [`ModelBuilder`] to set block names, clipping and the unknown-id policy.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// let model = Model::builder(params, IdMap::identity(1), IdMap::identity(1))
    ///     .clip(0.0, 1.0)
    ///     .build()?;
    /// assert_eq!(model.rating_range(), Some((0.0, 1.0)));
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn builder(
        params: Params,
        users: impl Into<Arc<IdMap>>,
        items: impl Into<Arc<IdMap>>,
    ) -> ModelBuilder {
        ModelBuilder {
            params,
            users: users.into(),
            items: items.into(),
            user_factors: "P".into(),
            item_factors: "Q".into(),
            layout: None,
            user_bias: BlockName::Default("bu"),
            item_bias: BlockName::Default("bi"),
            global_mean: BlockName::Default("mu"),
            range: None,
            unknown: Unknown::Error,
        }
    }

    /// The parameters.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// let model = Model::new(params.clone(), IdMap::identity(1), IdMap::identity(1))?;
    /// assert_eq!(model.params(), &params);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The user id map (index = row of the user factors).
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 2, 1), ("Q", 1, 1)]));
    /// let model = Model::new(params, IdMap::identity(2), IdMap::identity(1))?;
    /// assert_eq!(model.user_ids().len(), 2);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn user_ids(&self) -> &Arc<IdMap> {
        &self.users
    }

    /// The item id map.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 2, 1), ("Q", 1, 3)]));
    /// let model = Model::new(params, IdMap::identity(2), IdMap::identity(3))?;
    /// assert_eq!(model.item_ids().len(), 3);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn item_ids(&self) -> &Arc<IdMap> {
        &self.items
    }

    /// The number of latent factors `k` (the user factors' columns).
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 2, 4), ("Q", 3, 4)]));
    /// assert_eq!(Model::new(params, IdMap::identity(2), IdMap::identity(3))?.k(), 4);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn k(&self) -> usize {
        self.k
    }

    /// How the item factors are stored (read from their shape or given).
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::{ItemFactors, Model}, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 2, 4), ("Q", 3, 4)]));
    /// let model = Model::new(params, IdMap::identity(2), IdMap::identity(3))?;
    /// assert_eq!(model.item_factors_layout(), ItemFactors::ItemsByK);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn item_factors_layout(&self) -> ItemFactors {
        self.q_layout
    }

    /// The rating range predictions are clipped to, if any.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// assert_eq!(Model::new(params, IdMap::identity(1), IdMap::identity(1))?.rating_range(), None);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn rating_range(&self) -> Option<(f64, f64)> {
        self.range
    }

    /// The policy for unknown ids.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::{Model, Unknown}, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// let model = Model::new(params, IdMap::identity(1), IdMap::identity(1))?;
    /// assert_eq!(model.unknown(), Unknown::Error);
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn unknown(&self) -> Unknown {
        self.unknown
    }

    /// The predicted rating of a user for an item, by raw ids, clipped to the
    /// rating range if one is set.
    ///
    /// # Errors
    ///
    /// [`ModelError::UnknownUser`] or [`ModelError::UnknownItem`] for an id
    /// the model does not know, under [`Unknown::Error`]; under
    /// [`Unknown::Baseline`] the baseline instead (see the
    /// [module docs](self#unknown-ids)).
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::{Model, ModelError}, ParamLayout, Params};
    /// let mut users = IdMap::new();
    /// users.get_or_insert("ann");
    /// let params = Params::from_vec(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]), vec![2.0, 1.5]).unwrap();
    /// let model = Model::new(params, users, IdMap::identity(1))?;
    /// assert_eq!(model.predict("ann", 0)?, 3.0);
    /// assert!(matches!(model.predict("bob", 0), Err(ModelError::UnknownUser(id)) if id == "bob"));
    /// # Ok::<(), ModelError>(())
    /// ```
    pub fn predict<'a, 'b>(
        &self,
        user: impl Into<RawId<'a>>,
        item: impl Into<RawId<'b>>,
    ) -> Result<f64, ModelError> {
        let (user, item) = (user.into(), item.into());
        let u = self.users.index(user);
        let i = self.items.index(item);
        match (u, i, self.unknown) {
            (Some(u), Some(i), _) => Ok(self.clip(self.score(u as usize, i as usize))),
            (None, _, Unknown::Error) => Err(ModelError::UnknownUser(user.to_string())),
            (_, None, Unknown::Error) => Err(ModelError::UnknownItem(item.to_string())),
            (u, i, Unknown::Baseline { mean }) => Ok(self.clip(self.baseline(u, i, mean))),
        }
    }

    /// The predicted rating by dense indices (clipped to the rating range if
    /// one is set).
    ///
    /// # Errors
    ///
    /// [`ModelError::IndexOutOfRange`] for an index not below the number of
    /// users or items.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::from_vec(ParamLayout::new([("P", 1, 2), ("Q", 2, 1)]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// let model = Model::new(params, IdMap::identity(1), IdMap::identity(1))?;
    /// assert_eq!(model.predict_index(0, 0)?, 11.0);
    /// assert!(model.predict_index(0, 1).is_err());
    /// # Ok::<(), mf_runtime::model::ModelError>(())
    /// ```
    pub fn predict_index(&self, user: u32, item: u32) -> Result<f64, ModelError> {
        let check = |kind, index: u32, len: usize| {
            if (index as usize) < len {
                Ok(index as usize)
            } else {
                Err(ModelError::IndexOutOfRange { kind, index, len })
            }
        };
        let u = check("user", user, self.users.len())?;
        let i = check("item", item, self.items.len())?;
        Ok(self.clip(self.score(u, i)))
    }

    /// The `n` items with the highest predicted rating for a user, best
    /// first, leaving out the items the user rated in `exclude` (typically
    /// the training set; pass an empty `Ratings` to exclude nothing).
    ///
    /// Items are ranked by the unclipped score; equal scores are ordered by
    /// dense item index (first-seen order), and a NaN score ranks last, so
    /// the result is deterministic. `exclude` may use other id maps than the
    /// model: its entries are matched by raw id. Fewer than `n` items come
    /// back when fewer remain.
    ///
    /// # Errors
    ///
    /// [`ModelError::UnknownUser`] for a user the model does not know under
    /// [`Unknown::Error`]; under [`Unknown::Baseline`] such a user gets the
    /// items ranked by their baseline (global mean plus item bias).
    ///
    /// ```
    /// use mf_runtime::{data::{IdMap, Ratings}, model::Model, ParamLayout, Params};
    /// // One user, four items scored 1, 4, 4, 3.
    /// let params = Params::from_vec(ParamLayout::new([("P", 1, 1), ("Q", 1, 4)]),
    ///                               vec![1.0, 1.0, 4.0, 4.0, 3.0]).unwrap();
    /// let model = Model::new(params, IdMap::identity(1), IdMap::identity(4))?;
    /// let rated = Ratings::from_triplets(1, 4, [(0, 1, 5.0)])?;
    /// let top: Vec<u32> = model.top_n(0, 2, &rated)?.iter().map(|r| r.index).collect();
    /// assert_eq!(top, [2, 3]); // item 1 is rated already
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn top_n<'a>(
        &self,
        user: impl Into<RawId<'a>>,
        n: usize,
        exclude: &Ratings,
    ) -> Result<Vec<Recommendation<'_>>, ModelError> {
        let user = user.into();
        let u = self.users.index(user);
        let mean = match (u, self.unknown) {
            (None, Unknown::Error) => return Err(ModelError::UnknownUser(user.to_string())),
            (_, Unknown::Baseline { mean }) => mean,
            (Some(_), Unknown::Error) => f64::NAN,
        };
        let n_items = self.items.len();
        let mut excluded = vec![false; n_items];
        if let Some(eu) = exclude.user_ids().index(user) {
            let same = same_map(exclude.item_ids(), &self.items);
            for &j in exclude.csr().row(eu as usize).0 {
                let mine = if same {
                    Some(j)
                } else {
                    let raw = exclude.item_ids().raw(j).expect("CSR item index in range");
                    self.items.index(raw)
                };
                if let Some(i) = mine {
                    excluded[i as usize] = true;
                }
            }
        }
        let mut scored: Vec<(f64, u32)> = (0..n_items)
            .filter(|&i| !excluded[i])
            .map(|i| {
                let s = match u {
                    Some(u) => self.score(u as usize, i),
                    None => self.baseline(None, Some(i as u32), mean),
                };
                (if s.is_nan() { f64::NEG_INFINITY } else { s }, i as u32)
            })
            .collect();
        let order = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if n < scored.len() {
            if n > 0 {
                scored.select_nth_unstable_by(n - 1, order);
            }
            scored.truncate(n);
        }
        scored.sort_unstable_by(order);
        Ok(scored
            .into_iter()
            .map(|(_, i)| {
                let score = match u {
                    Some(u) => self.score(u as usize, i as usize),
                    None => self.baseline(None, Some(i), mean),
                };
                Recommendation {
                    item: self.items.raw(i).expect("item index in range"),
                    index: i,
                    score: self.clip(score),
                }
            })
            .collect())
    }

    /// RMSE and MAE of the (clipped) predictions on the observed ratings of
    /// `data`, e.g. a test set, via [`metrics`](crate::metrics).
    ///
    /// `data` may use other id maps than the model (a test file loaded on
    /// its own): its users and items are matched by raw id.
    ///
    /// # Errors
    ///
    /// Under [`Unknown::Error`], [`ModelError::UnknownUser`] or
    /// [`ModelError::UnknownItem`] for the first rated user or item the
    /// model does not know; under [`Unknown::Baseline`] those ratings are
    /// predicted by the baseline.
    ///
    /// ```
    /// # use mf_runtime::{data::{IdMap, Ratings}, model::Model, ParamLayout, Params};
    /// let params = Params::from_vec(ParamLayout::new([("P", 1, 1), ("Q", 1, 2)]), vec![1.0, 3.0, 4.0]).unwrap();
    /// let model = Model::new(params, IdMap::identity(1), IdMap::identity(2))?;
    /// let test = Ratings::from_triplets(1, 2, [(0, 0, 4.0), (0, 1, 4.0)])?;
    /// let acc = model.accuracy(&test)?;
    /// assert_eq!((acc.rmse, acc.mae, acc.count), (0.5f64.sqrt(), 0.5, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accuracy(&self, data: &Ratings) -> Result<Accuracy, ModelError> {
        let users = translate(data.user_ids(), &self.users);
        let items = translate(data.item_ids(), &self.items);
        let mean = match self.unknown {
            Unknown::Baseline { mean } => mean,
            Unknown::Error => {
                let raw = |map: &IdMap, j: usize| map.raw(j as u32).expect("in range").to_string();
                let mut rated_users = data.user_counts().enumerate().filter(|&(_, c)| c > 0);
                if let Some((u, _)) = rated_users.find(|&(u, _)| users[u].is_none()) {
                    return Err(ModelError::UnknownUser(raw(data.user_ids(), u)));
                }
                let mut rated_items = data.item_counts().enumerate().filter(|&(_, c)| c > 0);
                if let Some((i, _)) = rated_items.find(|&(i, _)| items[i].is_none()) {
                    return Err(ModelError::UnknownItem(raw(data.item_ids(), i)));
                }
                f64::NAN
            }
        };
        Ok(Accuracy::of(data, |u, i| {
            let score = match (users[u as usize], items[i as usize]) {
                (Some(u), Some(i)) => self.score(u as usize, i as usize),
                (u, i) => self.baseline(u, i, mean),
            };
            self.clip(score)
        }))
    }

    /// Writes the model to the directory `dir` (created if needed) as
    /// [`PARAMS_FILE`] and [`MODEL_FILE`]; see the [module docs](self#files)
    /// for the formats.
    ///
    /// # Errors
    ///
    /// [`ModelError::Io`] or [`ModelError::Npz`] naming the file that could
    /// not be written; [`ModelError::Unsavable`] for an id or a block name
    /// holding a line break.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::Model, ParamLayout, Params};
    /// let params = Params::zeros(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]));
    /// let model = Model::new(params, IdMap::identity(1), IdMap::identity(1))?;
    /// let dir = tempfile::tempdir()?;
    /// model.save(dir.path().join("model"))?;
    /// assert!(dir.path().join("model/params.npz").is_file());
    /// assert!(dir.path().join("model/model.txt").is_file());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), ModelError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|source| ModelError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let text_path = dir.join(MODEL_FILE);
        let text = self.model_text(&text_path)?;
        self.save_params(&dir.join(PARAMS_FILE))?;
        fs::write(&text_path, text).map_err(|source| ModelError::Io {
            path: text_path,
            source,
        })
    }

    /// Reads a model written by [`save`](Model::save) from the directory `dir`.
    ///
    /// # Errors
    ///
    /// [`ModelError::Io`], [`ModelError::Npz`] or [`ModelError::Format`]
    /// naming the file (and the line) at fault, or any error of
    /// [`ModelBuilder::build`] when the blocks do not fit the id maps.
    ///
    /// ```
    /// # use mf_runtime::{data::IdMap, model::{Model, ModelError}};
    /// let dir = tempfile::tempdir()?;
    /// let err = Model::load(dir.path()).unwrap_err();
    /// assert!(matches!(&err, ModelError::Io { path, .. } if path.ends_with("model.txt")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>) -> Result<Model, ModelError> {
        let dir = dir.as_ref();
        let text_path = dir.join(MODEL_FILE);
        let file = File::open(&text_path).map_err(|source| ModelError::Io {
            path: text_path.clone(),
            source,
        })?;
        let saved = read_model_text(&text_path, BufReader::new(file))?;
        let params = load_params(&dir.join(PARAMS_FILE))?;
        let name = |n: Option<String>| n.map_or(BlockName::Off, BlockName::Named);
        ModelBuilder {
            params,
            users: Arc::new(saved.users),
            items: Arc::new(saved.items),
            user_factors: saved.user_factors,
            item_factors: saved.item_factors,
            layout: Some(saved.layout),
            user_bias: name(saved.user_bias),
            item_bias: name(saved.item_bias),
            global_mean: name(saved.global_mean),
            range: saved.range,
            unknown: saved.unknown,
        }
        .build()
    }

    /// `P[u,:]·Q[:,i]` (or `Q[i,:]`) plus the biases present, unclipped.
    fn score(&self, u: usize, i: usize) -> f64 {
        let v = self.params.as_slice();
        let k = self.k;
        let p = &v[self.p.1 + u * k..][..k];
        let mut s = match self.q_layout {
            ItemFactors::ItemsByK => {
                let q = &v[self.q.1 + i * k..][..k];
                p.iter().zip(q).map(|(a, b)| a * b).sum()
            }
            ItemFactors::KByItems => {
                let n_items = self.items.len();
                let q = &v[self.q.1..][..k * n_items];
                p.iter()
                    .enumerate()
                    .map(|(f, a)| a * q[f * n_items + i])
                    .sum::<f64>()
            }
        };
        if let Some((_, o)) = self.bu {
            s += v[o + u];
        }
        if let Some((_, o)) = self.bi {
            s += v[o + i];
        }
        if let Some((_, o)) = self.mu {
            s += v[o];
        }
        s
    }

    /// The global mean (`mu`, else `mean`) plus the biases of the known ids.
    fn baseline(&self, u: Option<u32>, i: Option<u32>, mean: f64) -> f64 {
        let v = self.params.as_slice();
        let mut s = self.mu.as_ref().map_or(mean, |(_, o)| v[*o]);
        if let (Some((_, o)), Some(u)) = (&self.bu, u) {
            s += v[o + u as usize];
        }
        if let (Some((_, o)), Some(i)) = (&self.bi, i) {
            s += v[o + i as usize];
        }
        s
    }

    fn clip(&self, x: f64) -> f64 {
        match self.range {
            Some((min, max)) => x.clamp(min, max),
            None => x,
        }
    }

    fn model_text(&self, path: &Path) -> Result<String, ModelError> {
        let unsavable = |what: &str, text: &str| ModelError::Unsavable {
            path: path.to_path_buf(),
            message: format!("{what} {text:?} holds a line break"),
        };
        let has_break = |s: &str| s.contains(['\n', '\r']);
        let mut out = format!("{MAGIC}\n");
        let mut field = |key: &str, value: &str| {
            if has_break(value) {
                return Err(unsavable("block name", value));
            }
            out.push_str(&format!("{key} {value}\n"));
            Ok(())
        };
        field("user-factors", &self.p.0)?;
        field("item-factors", &self.q.0)?;
        field("item-layout", &self.q_layout.to_string())?;
        for (key, block) in [
            ("user-bias", &self.bu),
            ("item-bias", &self.bi),
            ("global-mean", &self.mu),
        ] {
            if let Some((name, _)) = block {
                field(key, name)?;
            }
        }
        if let Some((min, max)) = self.range {
            field("clip", &format!("{min} {max}"))?;
        }
        match self.unknown {
            Unknown::Error => field("unknown", "error")?,
            Unknown::Baseline { mean } => field("unknown", &format!("baseline {mean}"))?,
        }
        for (key, map) in [("users", &self.users), ("items", &self.items)] {
            out.push_str(&format!("{key} {}\n", map.len()));
            for id in map.iter() {
                let id = id.to_string();
                if has_break(&id) {
                    return Err(unsavable(&key[..key.len() - 1], &id));
                }
                out.push_str(&id);
                out.push('\n');
            }
        }
        Ok(out)
    }

    fn save_params(&self, path: &Path) -> Result<(), ModelError> {
        let npz = |e: &dyn fmt::Display| ModelError::Npz {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file = File::create(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut writer = NpzWriter::new(BufWriter::new(file));
        for (index, block) in self.params.layout().blocks().iter().enumerate() {
            writer
                .add_array(block.name.as_str(), &self.params.block(index))
                .map_err(|e| npz(&format_args!("array `{}`: {e}", block.name)))?;
        }
        let mut inner = writer.finish().map_err(|e| npz(&e))?;
        inner.flush().map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Whether two id maps are the same (cheaply when they are one `Arc`).
fn same_map(a: &Arc<IdMap>, b: &Arc<IdMap>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// For each index of `from`, the index of the same raw id in `to`.
fn translate(from: &Arc<IdMap>, to: &Arc<IdMap>) -> Vec<Option<u32>> {
    if same_map(from, to) {
        (0..from.len() as u32).map(Some).collect()
    } else {
        from.iter().map(|raw| to.index(raw)).collect()
    }
}

fn load_params(path: &Path) -> Result<Params, ModelError> {
    let npz = |message: String| ModelError::Npz {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = NpzReader::new(BufReader::new(file)).map_err(|e| npz(e.to_string()))?;
    let names = reader.names().map_err(|e| npz(e.to_string()))?;
    let mut shapes = Vec::with_capacity(names.len());
    let mut values = Vec::new();
    for name in names {
        let array: ArrayD<f64> = reader
            .by_name(&name)
            .map_err(|e| npz(format!("array `{name}`: {e}")))?;
        let (rows, cols) = match *array.shape() {
            [] => (1, 1),
            [n] => (n, 1),
            [r, c] => (r, c),
            ref shape => {
                return Err(npz(format!(
                    "array `{name}` has shape {shape:?}; a param block has at most 2 dimensions"
                )))
            }
        };
        values.extend(array.iter().copied());
        shapes.push((name, rows, cols));
    }
    Ok(Params::from_vec(ParamLayout::new(shapes), values).expect("values of every block read"))
}

/// The contents of a [`MODEL_FILE`].
struct Saved {
    user_factors: String,
    item_factors: String,
    layout: ItemFactors,
    user_bias: Option<String>,
    item_bias: Option<String>,
    global_mean: Option<String>,
    range: Option<(f64, f64)>,
    unknown: Unknown,
    users: IdMap,
    items: IdMap,
}

/// The lines of a [`MODEL_FILE`], counted for error messages.
struct LineReader<'p, R> {
    path: &'p Path,
    lines: io::Lines<R>,
    /// 1-based number of the line last read.
    line: usize,
}

impl<R: BufRead> LineReader<'_, R> {
    /// The next line; an error saying `what` was expected at the end of the file.
    fn next(&mut self, what: &str) -> Result<String, ModelError> {
        self.line += 1;
        match self.lines.next() {
            Some(Ok(line)) => Ok(line),
            Some(Err(source)) => Err(ModelError::Io {
                path: self.path.to_path_buf(),
                source,
            }),
            None => Err(self.error(format!("the file ends where {what} should be"))),
        }
    }

    /// A format error at the line last read.
    fn error(&self, message: String) -> ModelError {
        ModelError::Format {
            path: self.path.to_path_buf(),
            line: self.line,
            message,
        }
    }

    fn number(&self, s: &str) -> Result<f64, ModelError> {
        s.parse()
            .map_err(|_| self.error(format!("`{s}` is not a number")))
    }

    /// A `KEY COUNT` line (or the count given) then COUNT ids.
    fn ids(&mut self, key: &str, count: Option<String>) -> Result<IdMap, ModelError> {
        let count = match count {
            Some(count) => count,
            None => {
                let text = self.next(&format!("the `{key}` line"))?;
                match text.split_once(' ') {
                    Some((k, count)) if k == key => count.to_string(),
                    _ => return Err(self.error(format!("expected `{key} COUNT`, found `{text}`"))),
                }
            }
        };
        let count: usize = count
            .parse()
            .map_err(|_| self.error(format!("`{count}` is not a count of {key}")))?;
        let mut map = IdMap::new();
        for j in 0..count {
            let id = self.next(&format!("{key} id {j} of {count}"))?;
            if map.get_or_insert(id.as_str()) as usize != j {
                return Err(self.error(format!("{key} id `{id}` appears twice")));
            }
        }
        Ok(map)
    }
}

fn read_model_text(path: &Path, input: impl BufRead) -> Result<Saved, ModelError> {
    let mut r = LineReader {
        path,
        lines: input.lines(),
        line: 0,
    };
    let magic = r.next("the first line")?;
    if magic != MAGIC {
        return Err(r.error(format!("expected `{MAGIC}`, found `{magic}`")));
    }
    let mut user_factors = None;
    let mut item_factors = None;
    let mut layout = None;
    let (mut user_bias, mut item_bias, mut global_mean) = (None, None, None);
    let mut range = None;
    let mut unknown = Unknown::Error;
    let users_count = loop {
        let text = r.next("the `users` line")?;
        let (key, value) = text.split_once(' ').unwrap_or((&text, ""));
        match key {
            "user-factors" => user_factors = Some(value.to_string()),
            "item-factors" => item_factors = Some(value.to_string()),
            "item-layout" => {
                layout = Some(match value {
                    "k-by-items" => ItemFactors::KByItems,
                    "items-by-k" => ItemFactors::ItemsByK,
                    other => {
                        return Err(r.error(format!(
                            "item layout `{other}` is neither `k-by-items` nor `items-by-k`"
                        )))
                    }
                })
            }
            "user-bias" => user_bias = Some(value.to_string()),
            "item-bias" => item_bias = Some(value.to_string()),
            "global-mean" => global_mean = Some(value.to_string()),
            "clip" => {
                let (min, max) = value
                    .split_once(' ')
                    .ok_or_else(|| r.error("expected `clip MIN MAX`".into()))?;
                range = Some((r.number(min)?, r.number(max)?));
            }
            "unknown" => {
                unknown = match value.split_once(' ') {
                    None if value == "error" => Unknown::Error,
                    Some(("baseline", mean)) => Unknown::Baseline {
                        mean: r.number(mean)?,
                    },
                    _ => {
                        return Err(r.error(format!(
                            "expected `unknown error` or `unknown baseline MEAN`, found `{text}`"
                        )))
                    }
                }
            }
            "users" => break value.to_string(),
            other => return Err(r.error(format!("unknown field `{other}`"))),
        }
    };
    let missing = |what: &str| r.error(format!("no `{what}` line before `users`"));
    let user_factors = user_factors.ok_or_else(|| missing("user-factors"))?;
    let item_factors = item_factors.ok_or_else(|| missing("item-factors"))?;
    let layout = layout.ok_or_else(|| missing("item-layout"))?;
    let users = r.ids("users", Some(users_count))?;
    let items = r.ids("items", None)?;
    match r.lines.next() {
        None => {}
        Some(Err(source)) => {
            return Err(ModelError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        Some(Ok(extra)) => {
            r.line += 1;
            return Err(r.error(format!("unexpected line after the item ids: `{extra}`")));
        }
    }
    Ok(Saved {
        user_factors,
        item_factors,
        layout,
        user_bias,
        item_bias,
        global_mean,
        range,
        unknown,
        users,
        items,
    })
}
