//! A loss of an experiment: its name, the grid of its hyper-settings and
//! the method that trains it.

use std::fmt;
use std::sync::Arc;

use super::ExperimentError;
use crate::data::{Ratings, SideData};
use crate::model::Trainable;

/// What builds a candidate's side data for one training set; see
/// [`Candidate::side_data`].
pub type SideDataFn =
    dyn Fn(&Ratings) -> Result<SideData, Box<dyn std::error::Error + Send + Sync>> + Send + Sync;

/// How a candidate's runs train.
///
/// ```
/// use mf_runtime::experiment::Method;
/// assert_eq!(Method::default(), Method::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// ALS (row-block Newton steps, validated every step; each row solved
    /// by three conjugate gradient iterations, [`Als::conjugate_gradient`](crate::Als::conjugate_gradient))
    /// when the loss has row systems, L-BFGS otherwise.
    #[default]
    Auto,
    /// Always L-BFGS (for a loss whose only regularizer is early stopping,
    /// which L-BFGS's small steps give and an exact block minimum does not).
    Lbfgs,
}

/// One point of a search: the rank (every free dimension of the loss) and
/// the value of each searched hyper-setting (the others keep the loss's
/// values).
///
/// ```
/// use mf_runtime::experiment::Setting;
/// let s = Setting { rank: 50, hypers: vec![("lambda".into(), 0.5)] };
/// assert_eq!(s.to_string(), "k = 50, lambda = 0.5");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The rank.
    pub rank: usize,
    /// Searched hyper-settings by name, in grid order.
    pub hypers: Vec<(String, f64)>,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "k = {}", self.rank)?;
        self.hypers
            .iter()
            .try_for_each(|(name, value)| write!(f, ", {name} = {value}"))
    }
}

/// A loss to compare: a name for the table, the loss (with the values of
/// the hyper-settings not searched), a grid per searched hyper-setting,
/// and how to start and train it.
///
/// ```
/// use mf_runtime::{experiment::Candidate, loss};
/// loss! {
///     struct Ridge { data D: sparse[users, items], param P: [users, k], param Q: [k, items], hyper lambda: f64 = 0.1, }
///     minimize sum(mask * (D - P@Q)^2) + lambda * (sum(P^2) + sum(Q^2))
/// }
/// let c = Candidate::new("ridge", &Ridge::default()).grid("lambda", [0.1, 1.0, 10.0])?;
/// assert_eq!(c.name(), "ridge");
/// assert!(Candidate::new("ridge", &Ridge::default()).grid("lamda", [1.0]).is_err());
/// assert!(Candidate::new("ridge", &Ridge::default()).grid("lambda", [f64::NAN]).is_err());
/// # Ok::<(), mf_runtime::experiment::ExperimentError>(())
/// ```
pub struct Candidate {
    pub(super) name: String,
    pub(super) loss: Box<dyn Trainable>,
    pub(super) grids: Vec<(String, Vec<f64>)>,
    pub(super) rank_scale: usize,
    pub(super) init_std: f64,
    pub(super) method: Method,
    pub(super) group: Option<String>,
    side: Option<Arc<SideDataFn>>,
}

impl Candidate {
    /// A candidate named `name` for `loss`, with no grid (only the ranks
    /// are searched), ranks as the experiment's, the start std 0.1 and
    /// [`Method::Auto`].
    pub fn new(name: impl Into<String>, loss: &dyn Trainable) -> Candidate {
        Candidate {
            name: name.into(),
            loss: loss.boxed_trainable(),
            grids: Vec::new(),
            rank_scale: 1,
            init_std: 0.1,
            method: Method::Auto,
            group: None,
            side: None,
        }
    }

    /// Searches hyper-setting `name` over `values` (in this order; the
    /// first is the start of the search). Grids are searched one after the
    /// other, each at the best setting found so far, then the ranks.
    ///
    /// # Errors
    /// [`ExperimentError::Setting`] for a name the loss does not declare,
    /// an empty grid or a value that is not finite.
    pub fn grid(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = f64>,
    ) -> Result<Candidate, ExperimentError> {
        let values: Vec<f64> = values.into_iter().collect();
        let refuse =
            |why: String| ExperimentError::Setting(format!("candidate `{}`: {why}", self.name));
        let mut probe = self.loss.boxed_trainable();
        for &v in &values {
            probe
                .set_hyper(name, v)
                .map_err(|e| refuse(e.to_string()))?;
        }
        if values.is_empty() {
            return Err(refuse(format!("the grid of `{name}` is empty")));
        }
        self.grids.retain(|(n, _)| n != name);
        self.grids.push((name.to_string(), values));
        Ok(self)
    }

    /// The ranks of this candidate are the experiment's times `scale` (at
    /// least 1).
    pub fn rank_scale(mut self, scale: usize) -> Candidate {
        self.rank_scale = scale.max(1);
        self
    }

    /// The standard deviation of the normal start of the params without a
    /// declared start value (default 0.1).
    ///
    /// # Errors
    /// [`ExperimentError::Setting`] unless finite and non-negative.
    pub fn init_std(mut self, std: f64) -> Result<Candidate, ExperimentError> {
        if !(std.is_finite() && std >= 0.0) {
            return Err(ExperimentError::Setting(format!(
                "candidate `{}`: the start's standard deviation must be finite and non-negative, not {std}",
                self.name
            )));
        }
        self.init_std = std;
        Ok(self)
    }

    /// How the candidate trains (default [`Method::Auto`]).
    pub fn method(mut self, method: Method) -> Candidate {
        self.method = method;
        self
    }

    /// A group for the plots (one plot per group besides the combined one).
    pub fn group(mut self, group: impl Into<String>) -> Candidate {
        self.group = Some(group.into());
        self
    }

    /// The dense data the loss reads besides the ratings
    /// ([`Trainable::side_data`]: user or item attributes), built by
    /// `build` from each split's training ratings, so that every matrix is
    /// aligned with that split's id maps (the MovieLens folds `u1` … `u5`
    /// each have their own); it also serves the validation carve, which
    /// keeps them. Built once per split before anything trains: an error
    /// stops the experiment, naming the candidate and the split, as does
    /// side data the loss does not read or a matrix it reads and is not
    /// given.
    ///
    /// ```
    /// use mf_runtime::{experiment::Candidate, loss, data::{Features, SideData}};
    /// loss! {
    ///     struct Attr {
    ///         data D: sparse[users, items], data F: [users, f],
    ///         param P: [users, k], param W: [f, k], param Q: [k, items], hyper lambda: f64 = 1.0,
    ///     }
    ///     minimize sum(mask(D) * (D - (P + F@W) @ Q)^2) + lambda * (sum(P^2) + sum(W^2) + sum(Q^2))
    /// }
    /// // Each user's parity, one-hot (the attribute files have loaders: `Features::movielens_users`).
    /// let c = Candidate::new("with parity", &Attr::default()).side_data(|train| {
    ///     let ids = train.user_ids();
    ///     let parity = (0..ids.len() as u32).map(|u| {
    ///         let id = ids.raw(u).expect("in range");
    ///         (id, if id.to_string().len() % 2 == 0 { "even" } else { "odd" })
    ///     });
    ///     Ok(SideData::new().with("F", Features::one_hot(ids, "parity", parity))?)
    /// });
    /// assert_eq!(c.loss().side_data()[0].rows, "users");
    /// ```
    pub fn side_data(
        mut self,
        build: impl Fn(&Ratings) -> Result<SideData, Box<dyn std::error::Error + Send + Sync>>
            + Send
            + Sync
            + 'static,
    ) -> Candidate {
        self.side = Some(Arc::new(build));
        self
    }

    /// The side data for the training ratings `train` of split `split`,
    /// checked against what the loss reads.
    pub(super) fn side_for(
        &self,
        split: &str,
        train: &Ratings,
    ) -> Result<SideData, ExperimentError> {
        let refuse = |why: String| {
            ExperimentError::Setting(format!("candidate `{}`, split `{split}`: {why}", self.name))
        };
        let side = match &self.side {
            Some(build) => {
                build(train).map_err(|e| refuse(format!("building its side data: {e}")))?
            }
            None => SideData::new(),
        };
        let reads: Vec<&str> = self.loss.side_data().iter().map(|d| d.name).collect();
        if let Some(name) = reads.iter().find(|&&n| side.matrix(n).is_err()) {
            return Err(refuse(format!(
                "the loss reads data `{name}` besides the ratings, but its side data holds {side} (give it with `Candidate::side_data`)"
            )));
        }
        if let Some(name) = side.names().find(|n| !reads.contains(n)) {
            return Err(refuse(format!(
                "side data `{name}` is not data the loss reads besides the ratings (it reads: {})",
                match reads.is_empty() {
                    true => "none".to_string(),
                    false => reads.join(", "),
                }
            )));
        }
        Ok(side)
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loss (with the values of the hyper-settings not searched).
    pub fn loss(&self) -> &dyn Trainable {
        &*self.loss
    }
}
