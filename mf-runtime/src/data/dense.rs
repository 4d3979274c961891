//! Dense matrices with an observation mask.

use ndarray::{Array2, ArrayView2, Zip};

/// A dense matrix whose entries are observed or missing.
///
/// Values in missing cells are never read by a masked loss: they may hold
/// anything, NaN included.
///
/// ```
/// use mf_runtime::MaskedMatrix;
/// use ndarray::array;
/// let r = MaskedMatrix::zeros_as_missing(array![[5.0, 0.0], [0.0, 1.0]]);
/// assert_eq!(r.num_observed(), 2);
/// assert!(r.is_observed(0, 0) && !r.is_observed(0, 1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MaskedMatrix {
    values: Array2<f64>,
    observed: Array2<bool>,
}

impl MaskedMatrix {
    /// Mean of the observed values (NaN when there is none): the start
    /// value `= mean(D)` of a loss over this data.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// let m = MaskedMatrix::new(array![[1.0, 9.0], [4.0, 0.0]], array![[true, false], [true, false]]).unwrap();
    /// assert_eq!(m.mean(), 2.5);
    /// ```
    pub fn mean(&self) -> f64 {
        let (sum, count) = self
            .values
            .iter()
            .zip(&self.observed)
            .filter(|(_, &o)| o)
            .fold((0.0, 0usize), |(s, c), (v, _)| (s + v, c + 1));
        sum / count as f64
    }

    /// A matrix with an explicit mask; `None` when the shapes differ.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// let m = MaskedMatrix::new(array![[1.0, f64::NAN]], array![[true, false]]).unwrap();
    /// assert_eq!(m.num_observed(), 1);
    /// assert!(MaskedMatrix::new(array![[1.0]], array![[true, false]]).is_none());
    /// ```
    pub fn new(values: Array2<f64>, observed: Array2<bool>) -> Option<Self> {
        (values.dim() == observed.dim()).then_some(MaskedMatrix { values, observed })
    }

    /// Every entry observed.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert_eq!(MaskedMatrix::fully_observed(array![[0.0, 2.0]]).num_observed(), 2);
    /// ```
    pub fn fully_observed(values: Array2<f64>) -> Self {
        let observed = Array2::from_elem(values.dim(), true);
        MaskedMatrix { values, observed }
    }

    /// Zero means missing (the convention of the classic ratings examples).
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert_eq!(MaskedMatrix::zeros_as_missing(array![[0.0, 2.0]]).num_observed(), 1);
    /// ```
    pub fn zeros_as_missing(values: Array2<f64>) -> Self {
        Self::missing_where(values, |v| v == 0.0)
    }

    /// NaN means missing.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert_eq!(MaskedMatrix::nan_as_missing(array![[f64::NAN, 2.0]]).num_observed(), 1);
    /// ```
    pub fn nan_as_missing(values: Array2<f64>) -> Self {
        Self::missing_where(values, f64::is_nan)
    }

    fn missing_where(values: Array2<f64>, missing: impl Fn(f64) -> bool) -> Self {
        let mut observed = Array2::from_elem(values.dim(), false);
        Zip::from(&mut observed)
            .and(&values)
            .for_each(|o, &v| *o = !missing(v));
        MaskedMatrix { values, observed }
    }

    /// The values, missing cells included.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert_eq!(MaskedMatrix::fully_observed(array![[3.0]]).values()[[0, 0]], 3.0);
    /// ```
    pub fn values(&self) -> ArrayView2<'_, f64> {
        self.values.view()
    }

    /// The observation mask: `true` where observed.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert!(!MaskedMatrix::zeros_as_missing(array![[0.0]]).observed()[[0, 0]]);
    /// ```
    pub fn observed(&self) -> ArrayView2<'_, bool> {
        self.observed.view()
    }

    /// Whether entry `(row, col)` is observed.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert!(MaskedMatrix::fully_observed(array![[3.0]]).is_observed(0, 0));
    /// ```
    pub fn is_observed(&self, row: usize, col: usize) -> bool {
        self.observed[[row, col]]
    }

    /// Number of observed entries.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert_eq!(MaskedMatrix::fully_observed(array![[3.0, 4.0]]).num_observed(), 2);
    /// ```
    pub fn num_observed(&self) -> usize {
        self.observed.iter().filter(|&&o| o).count()
    }

    /// `(rows, cols)`.
    ///
    /// ```
    /// # use mf_runtime::MaskedMatrix;
    /// # use ndarray::array;
    /// assert_eq!(MaskedMatrix::fully_observed(array![[3.0, 4.0]]).dim(), (1, 2));
    /// ```
    pub fn dim(&self) -> (usize, usize) {
        self.values.dim()
    }
}
