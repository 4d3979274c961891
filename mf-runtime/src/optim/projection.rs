//! Non-negativity constraints as a projection (clamp at zero).

use std::ops::Range;

use crate::ParamLayout;

/// Which values of the flat parameter vector must stay `≥ 0` (NMF-style
/// factors). The driver projects the starting point and every point an
/// optimizer evaluates (`x_i ← max(x_i, 0)`), which makes gradient descent,
/// backtracking, momentum and Adam their projected variants.
///
/// ```
/// use mf_runtime::{NonNegative, ParamLayout};
/// let layout = ParamLayout::new([("bu", 3, 1), ("P", 3, 2), ("Q", 2, 4)]);
/// // Only the factors, not the biases:
/// let nn = NonNegative::blocks(&layout, ["P", "Q"]).unwrap();
/// assert_eq!(nn, NonNegative::ranges([3..9, 9..17]));
/// assert!(NonNegative::blocks(&layout, ["Z"]).is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonNegative {
    /// `None` means every value.
    ranges: Option<Vec<Range<usize>>>,
}

impl NonNegative {
    /// Every parameter non-negative.
    ///
    /// ```
    /// # use mf_runtime::NonNegative;
    /// let nn = NonNegative::all();
    /// # let _ = nn;
    /// ```
    pub fn all() -> Self {
        NonNegative { ranges: None }
    }

    /// The values in these index ranges of the flat vector non-negative.
    /// Ranges past the end make [`Trainer::minimize`](crate::Trainer::minimize) fail.
    ///
    /// ```
    /// # use mf_runtime::NonNegative;
    /// let nn = NonNegative::ranges([0..6, 10..20]);
    /// # let _ = nn;
    /// ```
    pub fn ranges(ranges: impl IntoIterator<Item = Range<usize>>) -> Self {
        NonNegative {
            ranges: Some(ranges.into_iter().collect()),
        }
    }

    /// The values in one index range of the flat vector non-negative.
    ///
    /// ```
    /// # use mf_runtime::NonNegative;
    /// assert_eq!(NonNegative::range(3..9), NonNegative::ranges(vec![3..9]));
    /// ```
    pub fn range(range: Range<usize>) -> Self {
        NonNegative::ranges(std::iter::once(range))
    }

    /// The named blocks of `layout` non-negative; `None` if a name is not
    /// in the layout.
    ///
    /// ```
    /// # use mf_runtime::{NonNegative, ParamLayout};
    /// let layout = ParamLayout::new([("P", 2, 2), ("Q", 2, 3)]);
    /// assert_eq!(NonNegative::blocks(&layout, ["Q"]), Some(NonNegative::range(4..10)));
    /// ```
    pub fn blocks<'n>(
        layout: &ParamLayout,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Option<Self> {
        let ranges = names
            .into_iter()
            .map(|name| layout.block(name).map(|b| b.range()))
            .collect::<Option<Vec<_>>>()?;
        Some(NonNegative::ranges(ranges))
    }

    /// The first range that does not fit in `len` values, if any.
    pub(crate) fn out_of_bounds(&self, len: usize) -> Option<Range<usize>> {
        self.ranges.iter().flatten().find(|r| r.end > len).cloned()
    }

    /// Clamps the constrained values of `x` at zero.
    pub(crate) fn apply(&self, x: &mut [f64]) {
        // Not `v.max(0.0)`: that would turn a NaN into 0 and hide a divergence.
        let clamp = |v: &mut f64| {
            if *v < 0.0 {
                *v = 0.0;
            }
        };
        match &self.ranges {
            None => x.iter_mut().for_each(clamp),
            Some(ranges) => ranges
                .iter()
                .for_each(|r| x[r.clone()].iter_mut().for_each(clamp)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_only_the_chosen_ranges() {
        let mut x = [-1.0, -2.0, -3.0, 4.0, -5.0];
        NonNegative::range(1..3).apply(&mut x);
        assert_eq!(x, [-1.0, 0.0, 0.0, 4.0, -5.0]);
        NonNegative::all().apply(&mut x);
        assert_eq!(x, [0.0, 0.0, 0.0, 4.0, 0.0]);
        let mut nan = [f64::NAN];
        NonNegative::all().apply(&mut nan);
        assert!(
            nan[0].is_nan(),
            "a NaN must stay visible to the divergence check"
        );
    }

    #[test]
    fn reports_ranges_out_of_bounds() {
        assert_eq!(
            NonNegative::ranges([0..2, 3..6]).out_of_bounds(5),
            Some(3..6)
        );
        assert_eq!(NonNegative::range(0..5).out_of_bounds(5), None);
        assert_eq!(NonNegative::all().out_of_bounds(0), None);
    }
}
