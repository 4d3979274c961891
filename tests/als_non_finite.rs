//! ALS on a row system that is not finite where the loss is: the run stops
//! with the row named and the last finite parameters kept, and the
//! half-step and fold-in say so too (never a silent stall).

use mf_runtime::blocks::{Row, RowGroup, RowHessian, RowSystems, Segment};
use mf_runtime::optim::NonFinite;
use mf_runtime::{fold_in, Als, Minimizer, Objective, TrainError};

/// Rows `x[r]` with the loss `Σ (x[r] − 1)²`, whose row 1's system claims
/// a NaN gradient: a derivative undefined at a point where the loss is
/// finite (the compiler's ops keep their derivatives finite where their
/// values are, so a hand-written system stands in for one).
struct BrokenRow {
    groups: Vec<RowGroup>,
}

impl RowSystems for BrokenRow {
    fn groups(&self) -> &[RowGroup] {
        &self.groups
    }
    fn prepare(&mut self, _: usize, _: &[f64]) {}
    fn system(
        &self,
        _: usize,
        row: Row<'_>,
        _: &[f64],
        z: &[f64],
        grad: &mut [f64],
        hess: &mut RowHessian,
    ) -> f64 {
        grad[0] += if row.index == 1 {
            f64::NAN
        } else {
            2.0 * (z[0] - 1.0)
        };
        hess.add_diagonal(0, 2.0);
        (z[0] - 1.0).powi(2)
    }
    fn row_loss(&self, _: usize, _: Row<'_>, _: &[f64], z: &[f64]) -> f64 {
        (z[0] - 1.0).powi(2)
    }
    fn row(&self, _: usize, index: usize) -> Row<'_> {
        Row {
            index,
            others: &[],
            values: &[],
        }
    }
}

struct BrokenObjective(BrokenRow);

impl Objective for BrokenObjective {
    fn num_params(&self) -> usize {
        3
    }
    fn value(&mut self, x: &[f64]) -> f64 {
        x.iter().map(|v| (v - 1.0).powi(2)).sum()
    }
    fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        for (g, v) in grad.iter_mut().zip(x) {
            *g = 2.0 * (v - 1.0);
        }
        self.value(x)
    }
    fn row_systems(&mut self) -> Result<&mut dyn RowSystems, String> {
        Ok(&mut self.0)
    }
}

/// A row system that is not finite where the loss is stops the run with
/// the row named and the start kept, never a silent stall; `Als::sweep`
/// and fold-in say so too.
#[test]
fn a_row_system_that_is_not_finite_stops_with_the_row_named() {
    let segment = Segment {
        name: "x",
        offset: 0,
        row_stride: 1,
        coord_stride: 1,
        width: 1,
    };
    let users = RowGroup {
        name: "users",
        rows: 3,
        segments: vec![segment],
        quadratic: true,
    };
    let mut objective = BrokenObjective(BrokenRow {
        groups: vec![users],
    });
    let mut x = vec![0.0; 3];
    let err = Als::default()
        .train()
        .max_iters(5)
        .progress(false)
        .minimize(&mut objective, &mut x)
        .expect_err("row 1's system is NaN");
    match err {
        TrainError::Diverged { what, step, .. } => {
            assert_eq!(
                what,
                NonFinite::RowSystem {
                    group: "users",
                    row: 1
                }
            );
            assert_eq!(step, 1);
        }
        other => panic!("expected a divergence, got {other}"),
    }
    assert_eq!(x, [0.0; 3], "the start is kept");
    let swept = Als::default().sweep(&mut objective, "users", &mut x);
    assert!(swept.unwrap_err().contains("row 1 of `users`"));
    let moved = [(x[0] - 1.0).abs(), x[1], (x[2] - 1.0).abs()];
    assert!(
        moved.iter().all(|d| *d < 1e-12),
        "the finite rows moved to their minimum, row 1 stayed: {x:?}"
    );
    let row = Row {
        index: 1,
        others: &[],
        values: &[],
    };
    assert!(fold_in(&mut objective, &x, "users", row, None).is_err());
}
