//! Asking a model: predictions by raw id or index, top-N recommendations and
//! accuracy on a rating set, under the unknown-id policy.

use std::sync::Arc;

use super::{Model, ModelError, Unknown};
use crate::data::{IdMap, Ratings, RawId};
use crate::metrics::Accuracy;

/// The items each user rated in training (CSR pattern, no values) and the
/// ratings per item: what tells known ids from unknown ones, what top-N
/// leaves out, and an item's support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rated {
    /// User `u`'s items are `items[offsets[u]..offsets[u + 1]]`.
    pub(crate) offsets: Vec<u64>,
    pub(crate) items: Vec<u32>,
    item_counts: Vec<u32>,
}

impl Rated {
    pub(crate) fn of(train: &Ratings) -> Rated {
        let csr = train.csr();
        let mut offsets = vec![0u64];
        let mut items = Vec::with_capacity(train.nnz());
        for u in 0..train.num_users() {
            items.extend_from_slice(csr.row(u).0);
            offsets.push(items.len() as u64);
        }
        Rated::new(offsets, items, train.num_items()).expect("a CSR pattern is valid")
    }

    /// The pattern of `offsets` (`users + 1` non-decreasing values from 0)
    /// and `items` (each below `num_items`), or why it is not one.
    pub(crate) fn new(
        offsets: Vec<u64>,
        items: Vec<u32>,
        num_items: usize,
    ) -> Result<Rated, String> {
        if offsets.first() != Some(&0) || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err("the offsets must start at 0 and never decrease".into());
        }
        if offsets.last() != Some(&(items.len() as u64)) {
            return Err(format!(
                "the offsets end at {:?}, not at the {} items",
                offsets.last(),
                items.len()
            ));
        }
        let mut item_counts = vec![0u32; num_items];
        for &i in &items {
            match item_counts.get_mut(i as usize) {
                Some(c) => *c += 1,
                None => return Err(format!("item index {i} is not below {num_items}")),
            }
        }
        Ok(Rated {
            offsets,
            items,
            item_counts,
        })
    }

    /// `(users, items)`.
    pub(crate) fn dim(&self) -> (usize, usize) {
        (self.offsets.len() - 1, self.item_counts.len())
    }

    fn row(&self, u: usize) -> &[u32] {
        &self.items[self.offsets[u] as usize..self.offsets[u + 1] as usize]
    }

    pub(crate) fn user_count(&self, u: usize) -> usize {
        match u + 1 < self.offsets.len() {
            true => self.row(u).len(),
            false => 0,
        }
    }

    pub(crate) fn item_count(&self, i: usize) -> usize {
        self.item_counts.get(i).map_or(0, |&c| c as usize)
    }
}

/// Options of [`Model::top_n`].
///
/// ```
/// use mf_runtime::model::TopN;
/// let options = TopN::default().min_support(5).keep_rated();
/// assert_eq!((options.support(), options.excludes_rated()), (5, false));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopN {
    min_support: usize,
    exclude_rated: bool,
}

impl Default for TopN {
    /// Items with at least one training rating, leaving out those the user
    /// rated in training.
    fn default() -> Self {
        TopN {
            min_support: 1,
            exclude_rated: true,
        }
    }
}

impl TopN {
    /// Only items with at least `n` training ratings (at least 1: an item
    /// without any has no trained params).
    pub fn min_support(mut self, n: usize) -> Self {
        self.min_support = n.max(1);
        self
    }

    /// Also ranks the items the user rated in training.
    pub fn keep_rated(mut self) -> Self {
        self.exclude_rated = false;
        self
    }

    /// The minimum support.
    pub fn support(&self) -> usize {
        self.min_support
    }

    /// Whether the user's training items are left out.
    pub fn excludes_rated(&self) -> bool {
        self.exclude_rated
    }
}

/// One recommended item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recommendation<'a> {
    /// The item's raw id.
    pub item: RawId<'a>,
    /// The item's dense index in the model.
    pub index: u32,
    /// The unclipped score the items are ranked by.
    pub score: f64,
    /// The predicted rating: the score clipped to the rating range, if any.
    pub rating: f64,
    /// The item's number of training ratings.
    pub support: usize,
}

impl Model {
    /// The predicted rating of a user for an item, by raw ids, clipped to
    /// the rating range if one is set.
    ///
    /// # Errors
    /// Under [`Unknown::Error`], [`ModelError::UnknownUser`] or
    /// [`ModelError::UnknownItem`] for an id without training ratings.
    ///
    /// ```
    /// # use mf_runtime::{loss, model::{Model, ModelError}, Params, ParamLayout, Ratings, data::LoadOptions};
    /// # loss! { struct L { data D: [u, i], param P: [u, k], param Q: [k, i], } minimize sum(mask * (D - P@Q)^2) }
    /// let train = LoadOptions::comma().parse_str("r.csv", "ann,dune,4\n")?;
    /// let params = Params::from_vec(ParamLayout::new([("P", 1, 1), ("Q", 1, 1)]), vec![2.0, 1.5]).unwrap();
    /// let model = Model::new(&L::default(), params, &train)?;
    /// assert_eq!(model.predict("ann", "dune")?, 3.0);
    /// assert!(matches!(model.predict("bob", "dune"), Err(ModelError::UnknownUser(id)) if id == "bob"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn predict<'a, 'b>(
        &self,
        user: impl Into<RawId<'a>>,
        item: impl Into<RawId<'b>>,
    ) -> Result<f64, ModelError> {
        let (user, item) = (user.into(), item.into());
        let u = self.users.index(user).filter(|&u| self.own_user_rows(u));
        let i = self.items.index(item).filter(|&i| self.own_item_rows(i));
        match self.score(u, i) {
            Some(s) => Ok(self.clip(s)),
            None if u.is_none() => Err(ModelError::UnknownUser(user.to_string())),
            None => Err(ModelError::UnknownItem(item.to_string())),
        }
    }

    /// The predicted rating by dense indices, clipped; an index of an id
    /// without training ratings follows the unknown-id policy.
    ///
    /// # Errors
    /// [`ModelError::IndexOutOfRange`] for an index not below the number of
    /// users or items; as [`predict`](Model::predict) otherwise.
    pub fn predict_index(&self, user: u32, item: u32) -> Result<f64, ModelError> {
        let user_id = raw_at(&self.users, "user", user)?;
        let item_id = raw_at(&self.items, "item", item)?;
        self.predict(user_id, item_id)
    }

    /// The `n` best items for a user, best first: ranked by the unclipped
    /// score, among the items with the [`TopN`] minimum support (1 by
    /// default), leaving out the items the user rated in training unless
    /// told to keep them. Equal scores are ordered by dense item index and
    /// a NaN score ranks last, so the result is deterministic. Fewer than
    /// `n` items come back when fewer qualify.
    ///
    /// # Errors
    /// [`ModelError::UnknownUser`] for a user without training ratings
    /// under [`Unknown::Error`]; under [`Unknown::Baseline`] such a user
    /// gets the items ranked by the prediction with its params at zero,
    /// and under [`Unknown::Value`] (every score equal) by item index.
    ///
    /// ```
    /// use mf_runtime::{loss, model::{Model, TopN}, Params, ParamLayout, Ratings};
    /// # loss! { struct L { data D: [u, i], param P: [u, k], param Q: [k, i], } minimize sum(mask * (D - P@Q)^2) }
    /// // One user who rated item 1; four items scored 1, 4, 4, 3.
    /// let train = Ratings::from_triplets(2, 4, [(0, 1, 5.0), (1, 0, 1.0), (1, 2, 1.0), (1, 3, 1.0)])?;
    /// let params = Params::from_vec(ParamLayout::new([("P", 2, 1), ("Q", 1, 4)]),
    ///                               vec![1.0, 0.0, 1.0, 4.0, 4.0, 3.0]).unwrap();
    /// let model = Model::new(&L::default(), params, &train)?;
    /// let top: Vec<u32> = model.top_n(0, 2, TopN::default())?.iter().map(|r| r.index).collect();
    /// assert_eq!(top, [2, 3]); // item 1 is rated already
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn top_n<'a>(
        &self,
        user: impl Into<RawId<'a>>,
        n: usize,
        options: TopN,
    ) -> Result<Vec<Recommendation<'_>>, ModelError> {
        let user = user.into();
        let u = self.users.index(user).filter(|&u| self.own_user_rows(u));
        if u.is_none() && self.unknown == Unknown::Error {
            return Err(ModelError::UnknownUser(user.to_string()));
        }
        let mut eligible: Vec<bool> = (0..self.items.len())
            .map(|i| self.rated.item_count(i) >= options.min_support)
            .collect();
        if let (Some(u), true) = (u, options.exclude_rated) {
            for &i in self.rated.row(u as usize) {
                eligible[i as usize] = false;
            }
        }
        let score = |i: u32| self.score(u, Some(i)).expect("a policy for unknown users");
        let mut scored: Vec<(f64, u32)> = (0..self.items.len() as u32)
            .filter(|&i| eligible[i as usize])
            .map(|i| {
                let s = score(i);
                (if s.is_nan() { f64::NEG_INFINITY } else { s }, i)
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
                let s = score(i);
                Recommendation {
                    item: self.items.raw(i).expect("item index in range"),
                    index: i,
                    score: s,
                    rating: self.clip(s),
                    support: self.rated.item_count(i as usize),
                }
            })
            .collect())
    }

    /// The unclipped scores of every item for user `user` (dense index)
    /// into `out` (one per item): what a ranking metric ranks by. A user
    /// without training ratings follows the policy (rows at zero under
    /// [`Unknown::Baseline`], the value under [`Unknown::Value`]).
    ///
    /// # Errors
    /// [`ModelError::IndexOutOfRange`] for a user index out of range,
    /// [`ModelError::UnknownUser`] for an unknown user under
    /// [`Unknown::Error`].
    ///
    /// # Panics
    /// When `out` is not one value per item.
    pub fn scores(&self, user: u32, out: &mut [f64]) -> Result<(), ModelError> {
        assert_eq!(out.len(), self.items.len(), "one score per item");
        let raw = raw_at(&self.users, "user", user)?;
        let u = Some(user).filter(|&u| self.own_user_rows(u));
        if u.is_none() && self.unknown == Unknown::Error {
            return Err(ModelError::UnknownUser(raw.to_string()));
        }
        for (i, score) in out.iter_mut().enumerate() {
            let i = Some(i as u32).filter(|&i| self.own_item_rows(i));
            *score = self.score(u, i).unwrap_or(f64::NEG_INFINITY);
        }
        Ok(())
    }

    /// RMSE and MAE of the (clipped) predictions on the ratings of `data`,
    /// e.g. a test set, via [`metrics`](crate::metrics). `data` may use
    /// other id maps than the model (a test file loaded on its own): its
    /// users and items are matched by raw id.
    ///
    /// # Errors
    /// Under [`Unknown::Error`], [`ModelError::UnknownUser`] or
    /// [`ModelError::UnknownItem`] for the first rated user or item without
    /// training ratings; under the other policies those ratings are
    /// predicted by the policy.
    pub fn accuracy(&self, data: &Ratings) -> Result<Accuracy, ModelError> {
        let users = translate(data.user_ids(), &self.users, |u| self.own_user_rows(u));
        let items = translate(data.item_ids(), &self.items, |i| self.own_item_rows(i));
        if self.unknown == Unknown::Error {
            let raw = |map: &IdMap, j: usize| map.raw(j as u32).expect("in range").to_string();
            let mut rated_users = data.user_counts().enumerate().filter(|&(_, c)| c > 0);
            if let Some((u, _)) = rated_users.find(|&(u, _)| users[u].is_none()) {
                return Err(ModelError::UnknownUser(raw(data.user_ids(), u)));
            }
            let mut rated_items = data.item_counts().enumerate().filter(|&(_, c)| c > 0);
            if let Some((i, _)) = rated_items.find(|&(i, _)| items[i].is_none()) {
                return Err(ModelError::UnknownItem(raw(data.item_ids(), i)));
            }
        }
        Ok(Accuracy::of(data, |u, i| {
            let s = self.score(users[u as usize], items[i as usize]);
            self.clip(s.expect("unknown ids were refused above"))
        }))
    }

    /// Whether user `u` is predicted from its own rows of params and
    /// tables: it had training ratings, or the policy is
    /// [`Unknown::Baseline`], for which its rows were computed with its
    /// params at zero (`baseline.rs`).
    fn own_user_rows(&self, u: u32) -> bool {
        self.unknown == Unknown::Baseline || self.is_trained_user(u)
    }

    /// [`own_user_rows`](Self::own_user_rows) for item `i`.
    fn own_item_rows(&self, i: u32) -> bool {
        self.unknown == Unknown::Baseline || self.is_trained_item(i)
    }

    /// The unclipped prediction for known indices (`None` for an unknown
    /// one), under the policy: `None` when it is [`Unknown::Error`] and an
    /// id is unknown.
    fn score(&self, u: Option<u32>, i: Option<u32>) -> Option<f64> {
        let at = |u: usize, i: usize| {
            let padded = &self.padded;
            let tables = &self.padded_tables;
            self.rule
                .predict_flat(padded.layout(), padded.as_slice(), tables, u, i)
        };
        match (u, i, self.unknown) {
            (Some(u), Some(i), _) => Some(at(u as usize, i as usize)),
            (_, _, Unknown::Error) => None,
            (u, i, Unknown::Baseline) => Some(at(
                u.map_or(self.users.len(), |u| u as usize),
                i.map_or(self.items.len(), |i| i as usize),
            )),
            (_, _, Unknown::Value(v)) => Some(v),
        }
    }
}

/// The raw id at `index` of a `kind` map, or the out-of-range error.
fn raw_at<'m>(map: &'m IdMap, kind: &'static str, index: u32) -> Result<RawId<'m>, ModelError> {
    map.raw(index).ok_or(ModelError::IndexOutOfRange {
        kind,
        index,
        len: map.len(),
    })
}

/// For each index of `from`, the index of the same raw id in `to` when
/// `known` holds for it.
fn translate(from: &Arc<IdMap>, to: &Arc<IdMap>, known: impl Fn(u32) -> bool) -> Vec<Option<u32>> {
    let same = Arc::ptr_eq(from, to) || from == to;
    (0..from.len() as u32)
        .map(|j| match same {
            true => Some(j),
            false => to.index(from.raw(j).expect("index in range")),
        })
        .map(|j| j.filter(|&j| known(j)))
        .collect()
}
