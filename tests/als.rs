//! Row-block Newton steps derived by `loss!`: each row's gradient is the
//! loss's gradient restricted to the row, ALS on a quadratic loss reaches
//! the exact block minimum (checked against normal equations solved here),
//! and so does ALS-CG given as many iterations as coordinates,
//! damped rows never increase their loss, fold-in is the block minimum, and
//! a loss without row systems is refused with the term named.

mod common;

use mf_runtime::blocks::{Row, RowHessian};
use mf_runtime::data::synthetic;
use mf_runtime::{fold_in, loss, Als, Init, Minimizer, Objective, Ratings, TrainError};

loss! {
    /// Weighted-λ squared error with biases and a global offset.
    pub struct Biased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2) + sum(bu^2) + sum(bi^2))
}

loss! {
    /// Huber error: not quadratic, damped Newton rows.
    pub struct HuberLoss {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        hyper lambda: f64 = 0.5,
    }
    minimize sum(mask * huber(D - P@Q - bu, 0.5)) + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2))
}

loss! {
    /// Logistic loss of ±1 labels through a sigmoid link.
    pub struct Logistic {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 0.3,
    }
    minimize sum(mask * softplus(-(2 * D - 7) * (P@Q))) + lambda * (sum(P^2) + sum(Q^2))
}

loss! {
    /// Squared error through a sigmoid link (a non-convex row loss).
    pub struct SigmoidLink {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D / 5 - sigmoid(P@Q))^2) + lambda * (sum(P^2) + sum(Q^2))
}

loss! {
    /// The design card's loss: the Frobenius norms, not squared, couple the rows.
    pub struct Card {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 2.0,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

loss! {
    /// The card's norms on biases too, which start at zero, where no
    /// majorizer of the norm touches it.
    pub struct CardBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        hyper beta: f64 = 2.0,
    }
    minimize sum(mask * (D - P@Q - bu - bi)^2) + beta*(norm(P)+norm(Q)+norm(bu)+norm(bi))
}

loss! {
    /// Implicit feedback (Hu, Koren & Volinsky): confidence 1 + αr on the
    /// observed entries, preference 0 on every other cell (the Gram term).
    pub struct Implicit {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper alpha: f64 = 2.0,
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * ((1 + alpha * D) * (1 - P@Q)^2 - (P@Q)^2)) + sum((P@Q)^2)
        + lambda * (sum(P^2) + sum(Q^2))
}

loss! {
    /// SVD++: `mask(D) @ Y` couples the users' rows through Y.
    pub struct Svdpp {
        data D: sparse[users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q)^2)
        + lambda * (sum(P^2) + sum(Y^2) + sum(Q^2))
}

fn data(seed: u64) -> Ratings {
    synthetic(40, 30, 500, seed).expect("synthetic ratings")
}

/// The row systems' gradient at the current point equals the loss's
/// gradient on the row's coordinates (for a norm, the majorizer touches the
/// loss there, so its gradient is the loss's too), and their Hessian is the
/// difference quotient of that gradient.
fn assert_row_gradients_match<O: Objective>(objective: &mut O, x: &[f64], what: &str) {
    let mut full = vec![0.0; x.len()];
    objective.value_and_gradient(x, &mut full);
    let systems = objective
        .row_systems()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    for group in 0..systems.groups().len() {
        systems.prepare(group, x);
        let g = systems.groups()[group].clone();
        let n = g.width();
        for row in 0..g.rows {
            let mut z = vec![0.0; n];
            g.gather(x, row, &mut z);
            let entries = systems.row(group, row);
            let (mut grad, mut hess) = (vec![0.0; n], RowHessian::new());
            hess.reset(n, entries.len());
            systems.system(group, entries, x, &z, &mut grad, &mut hess);
            // The Hessian (in the form the row's entry count gives it) is
            // the central difference of the row's gradient.
            let hess = hess.lower().to_vec();
            for c in 0..n {
                let step = 1e-5 * z[c].abs().max(1.0);
                let side = |sign: f64| {
                    let mut moved = z.clone();
                    moved[c] += sign * step;
                    let (mut g, mut h) = (vec![0.0; n], RowHessian::dense(n));
                    systems.system(group, entries, x, &moved, &mut g, &mut h);
                    g
                };
                let (up, down) = (side(1.0), side(-1.0));
                for r in c..n {
                    let fd = (up[r] - down[r]) / (2.0 * step);
                    let h = hess[r * n + c];
                    assert!(
                        (h - fd).abs() <= 1e-5 * fd.abs().max(1.0),
                        "{what}: group {} row {row}: Hessian ({r}, {c}) {h}, difference {fd}",
                        g.name
                    );
                }
            }
            let mut expected = vec![0.0; n];
            g.gather(&full, row, &mut expected);
            for (c, (a, b)) in grad.iter().zip(&expected).enumerate() {
                let scale = b.abs().max(1.0);
                assert!(
                    (a - b).abs() <= 1e-9 * scale,
                    "{what}: group {} row {row} coordinate {c}: row system {a}, loss gradient {b}",
                    g.name
                );
            }
        }
    }
}

#[test]
fn row_gradients_are_the_loss_gradient_on_the_row() {
    let d = data(1);
    let init = Init::Normal {
        mean: 0.0,
        std: 0.3,
    };
    let mut rng = common::rng(2);
    // At k = 3 every row's Hessian is dense; at k = 40 the rows (12 to 17
    // entries) keep theirs in the low-rank form.
    macro_rules! check {
        ($loss:ident) => {{
            for k in [3, 40] {
                let params = $loss::init(&d, k, init, &mut rng).expect("init");
                let mut objective = $loss::default().objective(&d, &params).expect("binds");
                assert_row_gradients_match(&mut objective, params.as_slice(), stringify!($loss));
            }
        }};
    }
    check!(Biased);
    check!(HuberLoss);
    check!(Logistic);
    check!(SigmoidLink);
    check!(Card);
    check!(Implicit);
}

/// Solves `A z = b` by Gaussian elimination with partial pivoting.
fn solve_dense(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("rows");
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, below) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (r, row) in below.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + r] -= f * b[col];
        }
    }
    let mut z = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| a[r][c] * z[c]).sum();
        z[r] = (b[r] - s) / a[r][r];
    }
    z
}

/// ALS's user half-step: every user's `[pᵤ, buᵤ]` solves its normal
/// equations `(Σᵢ aᵢaᵢᵀ + λ diag(nᵤ…, 1)) z = Σᵢ (dᵤᵢ − bᵢ − μ) aᵢ`, with
/// `aᵢ = [qᵢ, 1]`, built here from the data alone; fold-in from the same
/// entries gives the same row.
#[test]
fn als_and_fold_in_reach_the_exact_block_minimum() {
    // Dense rows at k = 4; low-rank ones (Woodbury) at k = 40.
    for k in [4, 40] {
        assert_block_minimum(k);
    }
}

fn assert_block_minimum(k: usize) {
    let d = data(3);
    let mut rng = common::rng(4);
    let params = Biased::init(
        &d,
        k,
        Init::Normal {
            mean: 0.0,
            std: 0.5,
        },
        &mut rng,
    )
    .expect("init");
    let loss = Biased::default();
    let mut objective = loss.objective(&d, &params).expect("binds");
    let x = params.as_slice().to_vec();
    let (q, bi, mu) = (params.Q(), params.bi(), params.mu()[[0, 0]]);

    let mut after = x.clone();
    Als::default()
        .sweep(&mut objective, "users", &mut after)
        .expect("users group");
    // Conjugate gradient with as many iterations as coordinates: the same
    // minimum, up to round-off.
    let mut by_cg = x.clone();
    Als::default()
        .conjugate_gradient(k + 1)
        .sweep(&mut objective, "users", &mut by_cg)
        .expect("users group");
    let users = objective.row_systems().expect("systems").groups()[0].clone();
    for u in 0..d.num_users() {
        let (items, values) = d.csr().row(u);
        let n_u = items.len() as f64;
        let mut a = vec![vec![0.0; k + 1]; k + 1];
        let mut b = vec![0.0; k + 1];
        for (&i, &r) in items.iter().zip(values) {
            let i = i as usize;
            let mut coef: Vec<f64> = (0..k).map(|t| q[[t, i]]).collect();
            coef.push(1.0);
            for s in 0..=k {
                for t in 0..=k {
                    a[s][t] += coef[s] * coef[t];
                }
                b[s] += (r - bi[[0, i]] - mu) * coef[s];
            }
        }
        for (t, row) in a.iter_mut().enumerate() {
            row[t] += if t < k {
                loss.lambda * n_u
            } else {
                loss.lambda
            };
        }
        let expected = solve_dense(a, b);
        let (mut z, mut z_cg) = (vec![0.0; k + 1], vec![0.0; k + 1]);
        users.gather(&after, u, &mut z);
        users.gather(&by_cg, u, &mut z_cg);
        let row = Row {
            index: u,
            others: items,
            values,
        };
        let folded = fold_in(&mut objective, &x, "users", row, None).expect("fold-in");
        for t in 0..=k {
            assert!(
                (z[t] - expected[t]).abs() < 1e-9,
                "k = {k}, user {u}: ALS {} vs {}",
                z[t],
                expected[t]
            );
            assert!(
                (z_cg[t] - expected[t]).abs() < 1e-7,
                "k = {k}, user {u}: ALS-CG {} vs {}",
                z_cg[t],
                expected[t]
            );
            assert!(
                (folded[t] - expected[t]).abs() < 1e-9,
                "k = {k}, user {u}: fold-in {} vs {}",
                folded[t],
                expected[t]
            );
        }
    }
}

/// Per sweep the loss never increases, for every loss with row systems,
/// with exact row solves and with two conjugate gradient iterations.
#[test]
fn sweeps_never_increase_the_loss() {
    sweeps_never_increase_the_loss_with(Als::default());
    sweeps_never_increase_the_loss_with(Als::default().conjugate_gradient(2));
}

fn sweeps_never_increase_the_loss_with(als: Als) {
    let d = data(5);
    let mut rng = common::rng(6);
    let init = Init::Normal {
        mean: 0.0,
        std: 0.3,
    };
    macro_rules! sweeps {
        ($loss:ident) => {{
            let mut params = $loss::init(&d, 3, init, &mut rng).expect("init");
            let mut objective = $loss::default().objective(&d, &params).expect("binds");
            let report = als
                .clone()
                .train()
                .max_iters(15)
                .tol_rel_loss(0.0)
                .progress(false)
                .minimize(&mut objective, params.as_mut_slice())
                .expect("trains");
            let losses: Vec<f64> = report.history.records().iter().map(|r| r.loss).collect();
            for w in losses.windows(2) {
                assert!(
                    w[1] <= w[0] * (1.0 + 1e-12),
                    "{}: {} then {}",
                    stringify!($loss),
                    w[0],
                    w[1]
                );
            }
            assert!(
                losses[losses.len() - 1] < losses[0],
                "{}: no progress",
                stringify!($loss)
            );
        }};
    }
    sweeps!(Biased);
    sweeps!(HuberLoss);
    sweeps!(Logistic);
    sweeps!(SigmoidLink);
    sweeps!(Card);
    sweeps!(Implicit);
}

/// Biases penalized by their norm leave their start at zero: the ratings'
/// mean of 3 is far from 0, so the minimum has large biases and a loss far
/// below the start's.
#[test]
fn norm_penalized_biases_leave_zero() {
    let d = data(7);
    let mut params = CardBiased::init(
        &d,
        3,
        Init::Normal {
            mean: 0.0,
            std: 0.3,
        },
        &mut common::rng(8),
    )
    .expect("init");
    for name in ["bu", "bi"] {
        params.view_mut(name).expect("declared").fill(0.0);
    }
    let mut objective = CardBiased::default().objective(&d, &params).expect("binds");
    let start = objective.value(params.as_slice());
    let report = Als::default()
        .train()
        .max_iters(30)
        .tol_rel_loss(0.0)
        .progress(false)
        .minimize(&mut objective, params.as_mut_slice())
        .expect("trains");
    let norm = |name: &str| {
        params
            .view(name)
            .expect("declared")
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt()
    };
    assert!(
        norm("bu") > 0.1 && norm("bi") > 0.1,
        "biases stayed at zero: ‖bu‖ {}, ‖bi‖ {}",
        norm("bu"),
        norm("bi")
    );
    assert!(
        report.loss < 0.5 * start,
        "loss {} from {start}",
        report.loss
    );
}

/// A damped Newton step never increases its own row's loss (Huber and
/// logistic rows, whose Hessians change within a step).
#[test]
fn damped_rows_never_increase_their_loss() {
    let d = data(7);
    let mut rng = common::rng(8);
    let init = Init::Normal {
        mean: 0.0,
        std: 1.0,
    };
    macro_rules! rows {
        ($loss:ident) => {{
            let params = $loss::init(&d, 3, init, &mut rng).expect("init");
            let mut objective = $loss::default().objective(&d, &params).expect("binds");
            let x0 = params.as_slice().to_vec();
            for name in ["users", "items"] {
                let mut x1 = x0.clone();
                Als::default()
                    .sweep(&mut objective, name, &mut x1)
                    .expect("group");
                let systems = objective.row_systems().expect("systems");
                let group = systems
                    .groups()
                    .iter()
                    .position(|g| g.name == name)
                    .expect("group");
                assert!(!systems.groups()[group].quadratic);
                systems.prepare(group, &x0);
                let g = systems.groups()[group].clone();
                let (mut z0, mut z1) = (vec![0.0; g.width()], vec![0.0; g.width()]);
                let mut improved = 0;
                for r in 0..g.rows {
                    g.gather(&x0, r, &mut z0);
                    g.gather(&x1, r, &mut z1);
                    let row = systems.row(group, r);
                    let (before, after) = (
                        systems.row_loss(group, row, &x0, &z0),
                        systems.row_loss(group, row, &x0, &z1),
                    );
                    assert!(
                        after <= before,
                        "{} {name} row {r}: {before} → {after}",
                        stringify!($loss)
                    );
                    improved += usize::from(after < before);
                }
                assert!(
                    improved > g.rows / 2,
                    "{} {name}: {improved} of {} rows improved",
                    stringify!($loss),
                    g.rows
                );
            }
        }};
    }
    rows!(HuberLoss);
    rows!(Logistic);
}

#[test]
fn a_loss_whose_term_couples_rows_is_refused_with_the_term() {
    let d = data(9);
    let mut rng = common::rng(10);
    let mut params = Svdpp::init(
        &d,
        3,
        Init::Normal {
            mean: 0.0,
            std: 0.1,
        },
        &mut rng,
    )
    .expect("init");
    let mut objective = Svdpp::default().objective(&d, &params).expect("binds");
    let err = Als::default()
        .train()
        .progress(false)
        .minimize(&mut objective, params.as_mut_slice())
        .expect_err("SVD++ has no row systems");
    let TrainError::MethodUnsupported { reason, .. } = &err else {
        panic!("{err}");
    };
    assert!(reason.contains("mask"), "{reason}");
    assert!(err.to_string().contains("L-BFGS"), "{err}");
    assert!(Svdpp::explain().contains("row-block systems"));
    assert!(Biased::explain().contains("exact block minimum (ALS)"));
}
