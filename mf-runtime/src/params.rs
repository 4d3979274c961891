//! Parameter sets: named matrix blocks stored in one contiguous buffer.
//!
//! A generated loss declares its params (`P: [users, k]`, `bu: [users, 1]`,
//! …). At run time they live in a single `Vec<f64>`, block after block, each
//! block row-major. Optimizers work on the flat slice; people work on named
//! [`ndarray`] views of the blocks.

use ndarray::{ArrayView2, ArrayViewMut2};
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// One named block of a [`ParamLayout`].
///
/// ```
/// use mf_runtime::ParamLayout;
/// let layout = ParamLayout::new([("P", 3, 2), ("Q", 2, 4)]);
/// let q = &layout.blocks()[1];
/// assert_eq!((q.name.as_str(), q.rows, q.cols, q.offset), ("Q", 2, 4, 6));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamBlock {
    /// The symbol's name in the loss, e.g. `P`.
    pub name: String,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Index of the block's first value in the flat buffer.
    pub offset: usize,
}

impl ParamBlock {
    /// Number of values in the block.
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// assert_eq!(ParamLayout::new([("P", 3, 2)]).blocks()[0].len(), 6);
    /// ```
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// True when the block holds no value (a zero dimension).
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// assert!(ParamLayout::new([("P", 0, 2)]).blocks()[0].is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The block's range in the flat buffer.
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// let layout = ParamLayout::new([("P", 3, 2), ("Q", 2, 4)]);
    /// assert_eq!(layout.blocks()[1].range(), 6..14);
    /// ```
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The names and shapes of a parameter set, in declaration order.
///
/// ```
/// use mf_runtime::ParamLayout;
/// let layout = ParamLayout::new([("P", 943, 10), ("Q", 10, 1682)]);
/// assert_eq!(layout.len(), 943 * 10 + 10 * 1682);
/// assert_eq!(layout.block("Q").unwrap().offset, 9430);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    blocks: Vec<ParamBlock>,
    len: usize,
}

impl ParamLayout {
    /// A layout of `(name, rows, cols)` blocks stored one after another.
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// let layout = ParamLayout::new([("mu", 1, 1), ("bu", 5, 1)]);
    /// assert_eq!(layout.len(), 6);
    /// ```
    pub fn new<S: Into<String>>(shapes: impl IntoIterator<Item = (S, usize, usize)>) -> Self {
        let mut len = 0;
        let blocks = shapes
            .into_iter()
            .map(|(name, rows, cols)| {
                let block = ParamBlock {
                    name: name.into(),
                    rows,
                    cols,
                    offset: len,
                };
                len += rows * cols;
                block
            })
            .collect();
        ParamLayout { blocks, len }
    }

    /// The blocks, in declaration order.
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// let names: Vec<_> = ParamLayout::new([("P", 1, 1), ("Q", 1, 1)])
    ///     .blocks().iter().map(|b| b.name.clone()).collect();
    /// assert_eq!(names, ["P", "Q"]);
    /// ```
    pub fn blocks(&self) -> &[ParamBlock] {
        &self.blocks
    }

    /// The block named `name`, if any.
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// assert!(ParamLayout::new([("P", 1, 1)]).block("Z").is_none());
    /// ```
    pub fn block(&self, name: &str) -> Option<&ParamBlock> {
        self.blocks.iter().find(|b| b.name == name)
    }

    /// Total number of values.
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// assert_eq!(ParamLayout::new([("P", 2, 3)]).len(), 6);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the layout holds no value.
    ///
    /// ```
    /// # use mf_runtime::ParamLayout;
    /// assert!(ParamLayout::new(Vec::<(&str, usize, usize)>::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How to fill parameters before training.
///
/// ```
/// use mf_runtime::Init;
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let mut v = [0.0; 100];
/// Init::Uniform { low: 0.0, high: 1.0 }.fill(&mut v, &mut rng);
/// assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Every value 0.
    Zeros,
    /// Every value the same constant.
    Constant(f64),
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound (included).
        low: f64,
        /// Upper bound (excluded).
        high: f64,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (the scale).
        std: f64,
    },
}

impl Init {
    /// Fills `out` with draws from this distribution, from `rng`.
    ///
    /// # Panics
    /// If the bounds are not finite with `low < high`, or `std` is negative
    /// or not finite.
    ///
    /// ```
    /// # use mf_runtime::Init;
    /// # use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let mut v = [1.0; 3];
    /// Init::Zeros.fill(&mut v, &mut rng);
    /// assert_eq!(v, [0.0; 3]);
    /// ```
    pub fn fill<R: Rng + ?Sized>(&self, out: &mut [f64], rng: &mut R) {
        match *self {
            Init::Zeros => out.fill(0.0),
            Init::Constant(c) => out.fill(c),
            Init::Uniform { low, high } => {
                let dist = Uniform::new(low, high).unwrap_or_else(|e| {
                    panic!("Init::Uniform {{ low: {low}, high: {high} }}: {e}")
                });
                out.iter_mut().for_each(|v| *v = dist.sample(rng));
            }
            Init::Normal { mean, std } => {
                let dist = Normal::new(mean, std)
                    .unwrap_or_else(|e| panic!("Init::Normal {{ mean: {mean}, std: {std} }}: {e}"));
                out.iter_mut().for_each(|v| *v = dist.sample(rng));
            }
        }
    }
}

/// A parameter set: a [`ParamLayout`] and the flat buffer of its values.
///
/// Generated losses wrap it in a struct with one accessor per param
/// (`params.P()`, `params.P_mut()`); optimizers use [`Params::as_slice`].
///
/// ```
/// use mf_runtime::{Params, ParamLayout};
/// let mut params = Params::zeros(ParamLayout::new([("P", 2, 2), ("Q", 2, 3)]));
/// params.view_mut("Q").unwrap()[[1, 2]] = 5.0;
/// assert_eq!(params.as_slice()[4 + 5], 5.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    layout: ParamLayout,
    values: Vec<f64>,
}

impl Params {
    /// All values zero.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let p = Params::zeros(ParamLayout::new([("P", 2, 2)]));
    /// assert_eq!(p.as_slice(), &[0.0; 4]);
    /// ```
    pub fn zeros(layout: ParamLayout) -> Self {
        let values = vec![0.0; layout.len()];
        Params { layout, values }
    }

    /// Every block filled from `init`, drawing from `rng` block by block in
    /// declaration order (so a seeded `rng` gives the same parameters).
    ///
    /// ```
    /// # use mf_runtime::{Init, Params, ParamLayout};
    /// # use rand::SeedableRng;
    /// let layout = ParamLayout::new([("P", 4, 2)]);
    /// let a = Params::init(layout.clone(), Init::Normal { mean: 0.0, std: 0.1 },
    ///                      &mut rand::rngs::StdRng::seed_from_u64(3));
    /// let b = Params::init(layout, Init::Normal { mean: 0.0, std: 0.1 },
    ///                      &mut rand::rngs::StdRng::seed_from_u64(3));
    /// assert_eq!(a, b);
    /// ```
    pub fn init<R: Rng + ?Sized>(layout: ParamLayout, init: Init, rng: &mut R) -> Self {
        let mut params = Params::zeros(layout);
        init.fill(&mut params.values, rng);
        params
    }

    /// Parameters from a flat vector, which must have the layout's length.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let layout = ParamLayout::new([("P", 1, 2)]);
    /// assert!(Params::from_vec(layout.clone(), vec![1.0, 2.0]).is_some());
    /// assert!(Params::from_vec(layout, vec![1.0]).is_none());
    /// ```
    pub fn from_vec(layout: ParamLayout, values: Vec<f64>) -> Option<Self> {
        (values.len() == layout.len()).then_some(Params { layout, values })
    }

    /// The layout.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let p = Params::zeros(ParamLayout::new([("P", 1, 2)]));
    /// assert_eq!(p.layout().len(), 2);
    /// ```
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// All values, block after block.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// assert_eq!(Params::zeros(ParamLayout::new([("P", 1, 3)])).as_slice().len(), 3);
    /// ```
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// All values, mutable (what an optimizer updates).
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let mut p = Params::zeros(ParamLayout::new([("P", 1, 3)]));
    /// p.as_mut_slice()[2] = 1.0;
    /// assert_eq!(p.view("P").unwrap()[[0, 2]], 1.0);
    /// ```
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// The block at `index` (declaration order) as a matrix view.
    ///
    /// # Panics
    /// If `index` is out of range.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let p = Params::zeros(ParamLayout::new([("P", 2, 3)]));
    /// assert_eq!(p.block(0).dim(), (2, 3));
    /// ```
    pub fn block(&self, index: usize) -> ArrayView2<'_, f64> {
        let b = &self.layout.blocks[index];
        ArrayView2::from_shape((b.rows, b.cols), &self.values[b.range()])
            .expect("a block's range holds rows * cols values")
    }

    /// The block at `index` as a mutable matrix view.
    ///
    /// # Panics
    /// If `index` is out of range.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let mut p = Params::zeros(ParamLayout::new([("P", 2, 3)]));
    /// p.block_mut(0).fill(1.0);
    /// assert_eq!(p.as_slice(), &[1.0; 6]);
    /// ```
    pub fn block_mut(&mut self, index: usize) -> ArrayViewMut2<'_, f64> {
        let b = &self.layout.blocks[index];
        ArrayViewMut2::from_shape((b.rows, b.cols), &mut self.values[b.range()])
            .expect("a block's range holds rows * cols values")
    }

    /// The block named `name`, if any.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let p = Params::zeros(ParamLayout::new([("P", 2, 3)]));
    /// assert!(p.view("P").is_some() && p.view("X").is_none());
    /// ```
    pub fn view(&self, name: &str) -> Option<ArrayView2<'_, f64>> {
        let index = self.index_of(name)?;
        Some(self.block(index))
    }

    /// The block named `name`, mutable, if any.
    ///
    /// ```
    /// # use mf_runtime::{Params, ParamLayout};
    /// let mut p = Params::zeros(ParamLayout::new([("bu", 3, 1)]));
    /// p.view_mut("bu").unwrap().fill(0.5);
    /// assert_eq!(p.as_slice(), &[0.5; 3]);
    /// ```
    pub fn view_mut(&mut self, name: &str) -> Option<ArrayViewMut2<'_, f64>> {
        let index = self.index_of(name)?;
        Some(self.block_mut(index))
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.layout.blocks.iter().position(|b| b.name == name)
    }
}

impl AsRef<[f64]> for Params {
    fn as_ref(&self) -> &[f64] {
        self.as_slice()
    }
}

impl AsMut<[f64]> for Params {
    fn as_mut(&mut self) -> &mut [f64] {
        self.as_mut_slice()
    }
}
