//! The curvature pairs of L-BFGS, stored in `f32`, and the dot products
//! among them and with the gradient: the direction computed on
//! coefficients.
//!
//! Vector-free L-BFGS (Chen, Wang & Zhou, "Large-scale L-BFGS using
//! MapReduce", NIPS 2014): the direction of the two-loop recursion (Nocedal
//! & Wright, Alg. 7.4) is a combination `d = Σⱼ δⱼ bⱼ` of the basis
//! `{sᵢ, yᵢ, g}`, whose coefficients follow from dot products among the
//! basis vectors in O(m²) scalar operations. They are computed by the
//! compact form of the same matrix (Byrd, Nocedal & Schnabel,
//! "Representations of quasi-Newton matrices and their use in limited
//! memory methods", Math. Programming 63, 1994, eq. 3.1), which needs only
//! `sᵢᵀyⱼ` (`i` no newer than `j`), `yᵢᵀyⱼ` and the gradient's products:
//! a new pair brings the products of its `y` with every stored vector and
//! those of the new gradient. So an iteration reads the stored vectors
//! twice ([`sweeps`](super::sweeps)): once to form `d`, once to make the
//! new pair with those products, instead of `2m` times.
//!
//! The pairs are stored rounded to `f32`, each scaled by a power of two
//! that keeps its values in `f32`'s range, and every product is computed
//! from the stored values (products of two `f32` values are exact in
//! `f64`): the quasi-Newton matrix is exactly L-BFGS's for the rounded
//! pairs, positive definite as long as their `sᵀy` is positive, which is
//! the test a new pair must pass.

use std::collections::VecDeque;

use super::super::Iterate;
use super::sweeps::{self, Stored, OWN};

/// The pairs and their dot products, in slots that are reused.
#[derive(Clone, Debug)]
pub(super) struct History {
    /// Pairs kept at most: `m`.
    capacity: usize,
    /// Vector `k` is `ŝ` of slot `k`, vector `capacity + k` its `ŷ`; empty
    /// until first used.
    vectors: Vec<Vec<Stored>>,
    /// The power of two `σ` each stored vector was multiplied by before
    /// rounding: the pair's vector is `v̂ / σ`.
    scales: Vec<f64>,
    /// `vᵀw` of the pairs' vectors (unscaled), `2m × 2m`, row-major: the
    /// entries the compact form reads, `sᵢᵀyⱼ` for pair `i` no newer than
    /// pair `j` and `yᵢᵀyⱼ` (set, both ways round, when the newer pair
    /// arrives), between slots in use.
    gram: Vec<f64>,
    /// `gᵀv` of the gradient at the point the newest pair led to, for each
    /// vector of a slot in use.
    grad_dots: Vec<f64>,
    /// Whether `grad_dots` is for the gradient of the next direction (the
    /// driver's next current point is the one the last pair led to).
    grad_fresh: bool,
    /// Slots in use, oldest first.
    order: VecDeque<usize>,
    /// The scales of the last pair, the first guess for the next one.
    last_scales: [f64; 2],
    /// `δ`: the coefficients of the `2m` vectors, then of the gradient.
    coef: Vec<f64>,
    /// `a = R⁻¹ Sᵀg` of the compact form, oldest pair first.
    a: Vec<f64>,
    /// `p = R⁻ᵀ((D + γ YᵀY) a − γ Yᵀg)` of the compact form.
    p: Vec<f64>,
    /// Vectors of the slots in use, oldest pair first, `s` before `y`.
    active: Vec<usize>,
    /// The sums of the last sweep.
    sums: Vec<f64>,
    /// The vectors' length over every rank, summed at the first pair.
    len: Option<usize>,
}

/// The scale for a vector whose exact squares sum to `exact` and whose
/// stored values, scaled by `sigma`, to `stored`: `None` when the rounding
/// kept the sum to `f32` precision (or nothing can help: a sum that is zero
/// or overflows), else the power of two that brings the values near 1.
fn rescale(exact: f64, stored: f64, sigma: f64, n: usize) -> Option<f64> {
    if !exact.is_finite() || exact == 0.0 {
        return None;
    }
    let rounded = stored / (sigma * sigma);
    if (rounded - exact).abs() <= 1e-6 * exact {
        return None;
    }
    let exponent = (0.5 * (exact / n as f64).log2())
        .round()
        .clamp(-1000.0, 1000.0);
    Some(2f64.powi(-(exponent as i32)))
}

impl History {
    pub(super) fn new(capacity: usize) -> Self {
        let c = capacity;
        History {
            capacity: c,
            vectors: vec![Vec::new(); 2 * c],
            scales: vec![1.0; 2 * c],
            gram: vec![0.0; 4 * c * c],
            grad_dots: vec![0.0; 2 * c],
            grad_fresh: false,
            order: VecDeque::with_capacity(c),
            last_scales: [1.0; 2],
            coef: vec![0.0; 2 * c + 1],
            a: Vec::with_capacity(c),
            p: Vec::with_capacity(c),
            active: Vec::with_capacity(2 * c),
            sums: Vec::new(),
            len: None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Drops every pair (their buffers are kept for the next ones).
    pub(super) fn forget(&mut self) {
        self.order.clear();
        self.active.clear();
        self.grad_fresh = false;
    }

    fn set_active(&mut self) {
        let c = self.capacity;
        self.active.clear();
        self.active
            .extend(self.order.iter().flat_map(|&k| [k, c + k]));
    }

    /// Stores the pair of the accepted step `current → next` in the oldest
    /// slot when the memory is full (a pair that fails the curvature test
    /// `sᵀy > ε yᵀy`, or whose dot products are not finite, is not kept,
    /// and the oldest is dropped all the same), with its dot products and
    /// the dot products of `next`'s gradient with every vector kept: one
    /// sweep.
    /// With the vectors spread over ranks, `sum` sums the sweep's dot
    /// products over them (and the length, once).
    pub(super) fn remember(&mut self, current: &Iterate, next: &Iterate, sum: Sum) {
        let c = self.capacity;
        let n = current.x.len();
        let whole_len = *self
            .len
            .get_or_insert_with(|| summed(n as f64, sum) as usize);
        let slot = match self.order.len() == c {
            true => self.order.pop_front().expect("a full memory"),
            false => (0..c)
                .find(|k| !self.order.contains(k))
                .expect("a free slot"),
        };
        self.set_active();
        let mut s = std::mem::take(&mut self.vectors[slot]);
        let mut y = std::mem::take(&mut self.vectors[c + slot]);
        s.resize(n, 0.0);
        y.resize(n, 0.0);
        let points = sweeps::Points {
            x_new: &next.x,
            x: &current.x,
            g_new: &next.grad,
            g: &current.grad,
        };
        let others: Vec<&[Stored]> = self.active.iter().map(|&v| &self.vectors[v][..]).collect();
        self.sums.resize(OWN + 2 * others.len(), 0.0);
        let mut scales = self.last_scales;
        for attempt in 0..2 {
            sweeps::new_pair(&mut s, &mut y, scales, points, &others, &mut self.sums);
            sum(&mut self.sums);
            let sums = &self.sums;
            let better = [
                rescale(sums[0], sums[2], scales[0], whole_len),
                rescale(sums[1], sums[4], scales[1], whole_len),
            ];
            if attempt == 1 || better == [None, None] {
                break;
            }
            scales = [0, 1].map(|i| better[i].unwrap_or(scales[i]));
        }
        drop(others);
        self.vectors[slot] = s;
        self.vectors[c + slot] = y;

        let [ss, sy, yy, sg, yg] = [
            self.sums[2] / (scales[0] * scales[0]),
            self.sums[3] / (scales[0] * scales[1]),
            self.sums[4] / (scales[1] * scales[1]),
            self.sums[5] / scales[0],
            self.sums[6] / scales[1],
        ];
        let width = 2 * c;
        let y_row = (c + slot) * width;
        for (j, &v) in self.active.iter().enumerate() {
            let [vy, vg] = [0, 1].map(|i| self.sums[OWN + 2 * j + i]);
            let sigma = self.scales[v];
            self.gram[y_row + v] = vy / (scales[1] * sigma);
            self.grad_dots[v] = vg / sigma;
        }
        let new_entries = self.active.iter().map(|&v| self.gram[y_row + v]);
        let finite = [ss, sy, yy, sg, yg]
            .into_iter()
            .chain(new_entries)
            .all(f64::is_finite);
        if finite && sy > f64::EPSILON * yy {
            for &v in &self.active {
                self.gram[v * width + c + slot] = self.gram[y_row + v];
            }
            self.gram[slot * width + c + slot] = sy;
            self.gram[y_row + c + slot] = yy;
            self.grad_dots[slot] = sg;
            self.grad_dots[c + slot] = yg;
            self.scales[slot] = scales[0];
            self.scales[c + slot] = scales[1];
            self.last_scales = scales;
            self.order.push_back(slot);
            self.set_active();
        }
        self.grad_fresh = true;
    }

    /// `direction = −H g`, `H` the matrix of the two-loop recursion in its
    /// compact form, on the coefficients; `−g` when no pair is kept;
    /// returns the slope `direction · g`. Two sweeps at most: `gᵀv` for
    /// every stored vector when the last pair was not made at `g` (else
    /// they come from that pair's sweep), and the combination with the
    /// slope.
    pub(super) fn direction(&mut self, grad: &[f64], direction: &mut [f64], sum: Sum) -> f64 {
        if self.order.is_empty() {
            return summed(sweeps::combine(direction, &[], -1.0, grad), sum);
        }
        let c = self.capacity;
        let width = 2 * c;
        if !self.grad_fresh {
            let vectors: Vec<&[Stored]> =
                self.active.iter().map(|&v| &self.vectors[v][..]).collect();
            self.sums.resize(vectors.len(), 0.0);
            sweeps::gradient_dots(grad, &vectors, &mut self.sums);
            sum(&mut self.sums);
            for (&v, dot) in self.active.iter().zip(&self.sums) {
                self.grad_dots[v] = dot / self.scales[v];
            }
        }
        self.grad_fresh = false;

        // The compact form (Byrd, Nocedal & Schnabel 1994, eq. 3.1) of the
        // two-loop recursion's matrix, with S, Y the pairs oldest first,
        // R = triu(SᵀY), D = diag(SᵀY), γ = sᵀy / yᵀy of the newest:
        // H g = γ g + S p − γ Y a, a = R⁻¹ Sᵀg, p = R⁻ᵀ((D + γ YᵀY) a − γ Yᵀg).
        let order: Vec<usize> = self.order.iter().copied().collect();
        let r = |i: usize, j: usize| self.gram[order[i] * width + c + order[j]];
        let yy = |i: usize, j: usize| self.gram[(c + order[i]) * width + c + order[j]];
        let m = order.len();
        let gamma = r(m - 1, m - 1) / yy(m - 1, m - 1);
        let (a, p) = (&mut self.a, &mut self.p);
        a.clear();
        a.resize(m, 0.0);
        for i in (0..m).rev() {
            let later: f64 = (i + 1..m).map(|j| r(i, j) * a[j]).sum();
            a[i] = (self.grad_dots[order[i]] - later) / r(i, i);
        }
        p.clear();
        for i in 0..m {
            let yya: f64 = (0..m).map(|j| yy(i, j) * a[j]).sum();
            let b = r(i, i) * a[i] + gamma * (yya - self.grad_dots[c + order[i]]);
            let earlier: f64 = (0..i).map(|j| r(j, i) * p[j]).sum();
            p.push((b - earlier) / r(i, i));
        }
        // d = −H g.
        for (i, &k) in order.iter().enumerate() {
            self.coef[k] = -p[i];
            self.coef[c + k] = gamma * a[i];
        }
        let g = width;
        self.coef[g] = -gamma;
        let terms: Vec<(f64, &[Stored])> = self
            .active
            .iter()
            .map(|&v| (self.coef[v] / self.scales[v], &self.vectors[v][..]))
            .collect();
        summed(sweeps::combine(direction, &terms, self.coef[g], grad), sum)
    }
}

/// Sums its argument over the ranks the vectors are spread over (nothing
/// to do in one process; see [`Evaluator::sum_over_ranks`](crate::optim::Evaluator::sum_over_ranks)).
pub(super) type Sum<'a> = &'a mut dyn FnMut(&mut [f64]);

/// `partial` summed by `sum`.
fn summed(partial: f64, sum: Sum) -> f64 {
    let mut total = [partial];
    sum(&mut total);
    total[0]
}

#[cfg(test)]
impl History {
    /// The pairs kept, oldest first, as the `f64` vectors they stand for.
    pub(super) fn pairs(&self) -> Vec<(Vec<f64>, Vec<f64>)> {
        let c = self.capacity;
        let unscaled = |v: usize| -> Vec<f64> {
            let sigma = self.scales[v];
            self.vectors[v]
                .iter()
                .map(|&x| f64::from(x) / sigma)
                .collect()
        };
        self.order
            .iter()
            .map(|&k| (unscaled(k), unscaled(c + k)))
            .collect()
    }

    /// `ρ = 1 / sᵀy` of the newest pair and `γ = sᵀy / yᵀy`.
    pub(super) fn newest_rho_gamma(&self) -> Option<(f64, f64)> {
        let k = *self.order.back()?;
        let (c, width) = (self.capacity, 2 * self.capacity);
        let sy = self.gram[k * width + c + k];
        Some((1.0 / sy, sy / self.gram[(c + k) * width + c + k]))
    }

    pub(super) fn grad_fresh(&self) -> bool {
        self.grad_fresh
    }

    /// The scales `σ` of the newest pair.
    pub(super) fn newest_scales(&self) -> Option<[f64; 2]> {
        let k = *self.order.back()?;
        Some([self.scales[k], self.scales[self.capacity + k]])
    }
}
