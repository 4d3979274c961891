//! The curvature pairs of L-BFGS, stored in `f32`, and the Gram matrix of
//! the pairs and the gradient: the two-loop recursion run on coefficients.
//!
//! Vector-free L-BFGS (Chen, Wang & Zhou, "Large-scale L-BFGS using
//! MapReduce", NIPS 2014): the direction of the two-loop recursion (Nocedal
//! & Wright, Alg. 7.4) is a combination `d = Σⱼ δⱼ bⱼ` of the basis
//! `{sᵢ, yᵢ, g}`, and every dot product the recursion takes is one of
//! `δ` with a row of the basis' Gram matrix. So the recursion runs on the
//! `2m + 1` coefficients, in O(m²) scalar operations, and an iteration
//! reads the stored vectors twice ([`sweeps`](super::sweeps)): once to form
//! `d`, once to make the new pair with its dot products against every
//! stored vector and against the new gradient (the new rows of the Gram
//! matrix), instead of `2m` times.
//!
//! The pairs are stored rounded to `f32`, each scaled by a power of two
//! that keeps its values in `f32`'s range, and every Gram entry is computed
//! from the stored values (products of two `f32` values are exact in
//! `f64`): the quasi-Newton matrix is exactly L-BFGS's for the rounded
//! pairs, positive definite as long as their `sᵀy` is positive, which is
//! the test a new pair must pass.

use std::collections::VecDeque;

use super::super::Iterate;
use super::sweeps::{self, Stored, OWN};

/// The pairs and their Gram matrix, in slots that are reused.
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
    /// `vᵀw` of the pairs' vectors (unscaled), `2m × 2m`, row-major;
    /// meaningful between slots in use.
    gram: Vec<f64>,
    /// `gᵀv` of the gradient at the point the newest pair led to, for each
    /// vector of a slot in use.
    grad_dots: Vec<f64>,
    /// Whether `grad_dots` is for the gradient of the next direction (the
    /// driver's next current point is the one the last pair led to).
    grad_fresh: bool,
    /// Slots in use, oldest first.
    order: VecDeque<usize>,
    /// `ρ = 1 / sᵀy` of each slot.
    rho: Vec<f64>,
    /// The scales of the last pair, the first guess for the next one.
    last_scales: [f64; 2],
    /// `δ`: the coefficients of the `2m` vectors, then of the gradient.
    coef: Vec<f64>,
    /// `αᵢ` of the first loop, by slot.
    alphas: Vec<f64>,
    /// Vectors of the slots in use, oldest pair first, `s` before `y`.
    active: Vec<usize>,
    sums: Vec<f64>,
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
            rho: vec![0.0; c],
            last_scales: [1.0; 2],
            coef: vec![0.0; 2 * c + 1],
            alphas: vec![0.0; c],
            active: Vec::with_capacity(2 * c),
            sums: Vec::new(),
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
    /// and the oldest is dropped all the same), with its Gram entries and
    /// the dot products of `next`'s gradient with every vector kept: one
    /// sweep.
    pub(super) fn remember(&mut self, current: &Iterate, next: &Iterate) {
        let c = self.capacity;
        let n = current.x.len();
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
        self.sums.resize(OWN + 3 * others.len(), 0.0);
        let mut scales = self.last_scales;
        for attempt in 0..2 {
            sweeps::new_pair(&mut s, &mut y, scales, points, &others, &mut self.sums);
            let sums = &self.sums;
            let better = [
                rescale(sums[0], sums[2], scales[0], n),
                rescale(sums[1], sums[4], scales[1], n),
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
        for (j, &v) in self.active.iter().enumerate() {
            let [vs, vy, vg] = [0, 1, 2].map(|i| self.sums[OWN + 3 * j + i]);
            let sigma = self.scales[v];
            self.gram[slot * width + v] = vs / (scales[0] * sigma);
            self.gram[(c + slot) * width + v] = vy / (scales[1] * sigma);
            self.grad_dots[v] = vg / sigma;
        }
        let new_entries = self.active.iter().flat_map(|&v| {
            [
                self.gram[slot * width + v],
                self.gram[(c + slot) * width + v],
            ]
        });
        let finite = [ss, sy, yy, sg, yg]
            .into_iter()
            .chain(new_entries)
            .all(f64::is_finite);
        if finite && sy > f64::EPSILON * yy {
            for &v in &self.active {
                self.gram[v * width + slot] = self.gram[slot * width + v];
                self.gram[v * width + c + slot] = self.gram[(c + slot) * width + v];
            }
            let (s_row, y_row) = (slot * width, (c + slot) * width);
            self.gram[s_row + slot] = ss;
            self.gram[s_row + c + slot] = sy;
            self.gram[y_row + slot] = sy;
            self.gram[y_row + c + slot] = yy;
            self.grad_dots[slot] = sg;
            self.grad_dots[c + slot] = yg;
            self.scales[slot] = scales[0];
            self.scales[c + slot] = scales[1];
            self.last_scales = scales;
            self.rho[slot] = 1.0 / sy;
            self.order.push_back(slot);
            self.set_active();
        }
        self.grad_fresh = true;
    }

    /// `direction = −H g` by the two-loop recursion on the coefficients,
    /// `−g` when no pair is kept; returns the slope `direction · g`. Two
    /// sweeps at most: `gᵀv` for every stored vector when the last pair was
    /// not made at `g` (else they come from that pair's sweep), and the
    /// combination with the slope.
    pub(super) fn direction(&mut self, grad: &[f64], direction: &mut [f64]) -> f64 {
        let Some(&newest) = self.order.back() else {
            return sweeps::combine(direction, &[], -1.0, grad);
        };
        let c = self.capacity;
        let width = 2 * c;
        if !self.grad_fresh {
            let vectors: Vec<&[Stored]> =
                self.active.iter().map(|&v| &self.vectors[v][..]).collect();
            self.sums.resize(vectors.len(), 0.0);
            sweeps::gradient_dots(grad, &vectors, &mut self.sums);
            for (&v, dot) in self.active.iter().zip(&self.sums) {
                self.grad_dots[v] = dot / self.scales[v];
            }
        }
        self.grad_fresh = false;

        let g = width;
        for &v in &self.active {
            self.coef[v] = 0.0;
        }
        self.coef[g] = 1.0;
        let row_dot = |coef: &[f64], row: usize| -> f64 {
            let entries = &self.gram[row * width..(row + 1) * width];
            let pairs: f64 = self.active.iter().map(|&v| coef[v] * entries[v]).sum();
            pairs + coef[g] * self.grad_dots[row]
        };
        for &k in self.order.iter().rev() {
            let alpha = self.rho[k] * row_dot(&self.coef, k);
            self.alphas[k] = alpha;
            self.coef[c + k] -= alpha;
        }
        let gamma =
            self.gram[newest * width + c + newest] / self.gram[(c + newest) * width + c + newest];
        for &v in self.active.iter().chain([&g]) {
            self.coef[v] *= gamma;
        }
        for &k in &self.order {
            let beta = self.rho[k] * row_dot(&self.coef, c + k);
            self.coef[k] += self.alphas[k] - beta;
        }
        let terms: Vec<(f64, &[Stored])> = self
            .active
            .iter()
            .map(|&v| (-self.coef[v] / self.scales[v], &self.vectors[v][..]))
            .collect();
        sweeps::combine(direction, &terms, -self.coef[g], grad)
    }
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

    /// `ρ` of the newest pair and `γ = sᵀy / yᵀy`.
    pub(super) fn newest_rho_gamma(&self) -> Option<(f64, f64)> {
        let k = *self.order.back()?;
        let (c, width) = (self.capacity, 2 * self.capacity);
        let gamma = self.gram[k * width + c + k] / self.gram[(c + k) * width + c + k];
        Some((self.rho[k], gamma))
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
