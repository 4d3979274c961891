//! The contract between a generated loss and the optimizers.
//!
//! Every loss written with [`loss!`](crate::loss) binds to its data as a type
//! that implements [`Objective`]. Optimizers see the parameters as one flat
//! `&[f64]` (the buffer behind [`Params`](crate::Params)) and never need to
//! know which block is `P` and which is `Q`.

/// A differentiable scalar function of a flat parameter vector.
///
/// `value_and_gradient` is the workhorse: generated losses compute the value
/// and every gradient in one pass, so an optimizer that needs both must call
/// it rather than `value` followed by `gradient`.
///
/// Methods take `&mut self` so that an implementation can keep scratch
/// buffers between calls (generated losses allocate nothing per call).
///
/// # Example
///
/// ```
/// use mf_runtime::Objective;
///
/// /// f(x) = Σ (x_i - 1)²
/// struct Bowl;
/// impl Objective for Bowl {
///     fn num_params(&self) -> usize { 2 }
///     fn value(&mut self, x: &[f64]) -> f64 {
///         x.iter().map(|v| (v - 1.0).powi(2)).sum()
///     }
///     fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
///         for (g, v) in grad.iter_mut().zip(x) { *g = 2.0 * (v - 1.0); }
///         self.value(x)
///     }
/// }
/// let mut g = [0.0; 2];
/// assert_eq!(Bowl.value_and_gradient(&[1.0, 3.0], &mut g), 4.0);
/// assert_eq!(g, [0.0, 4.0]);
/// ```
pub trait Objective {
    /// Length of the flat parameter vector this objective expects.
    fn num_params(&self) -> usize;

    /// The loss at `x`.
    fn value(&mut self, x: &[f64]) -> f64;

    /// The loss at `x`; its gradient is written into `grad` (same length as `x`).
    fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64;

    /// The gradient at `x`, written into `grad`.
    ///
    /// ```
    /// # use mf_runtime::Objective;
    /// # struct Line;
    /// # impl Objective for Line {
    /// #     fn num_params(&self) -> usize { 1 }
    /// #     fn value(&mut self, x: &[f64]) -> f64 { 3.0 * x[0] }
    /// #     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 { g[0] = 3.0; 3.0 * x[0] }
    /// # }
    /// let mut g = [0.0];
    /// Line.gradient(&[5.0], &mut g);
    /// assert_eq!(g, [3.0]);
    /// ```
    fn gradient(&mut self, x: &[f64], grad: &mut [f64]) {
        self.value_and_gradient(x, grad);
    }
}
