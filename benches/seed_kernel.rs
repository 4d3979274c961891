//! One value-and-gradient of the seed loss on sparse ratings,
//! `sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))`: the code `loss!`
//! generates against a hand-written reference kernel for the same math.
//!
//! ```sh
//! cargo bench --bench seed_kernel                         # every case
//! cargo bench --bench seed_kernel -- u1.base              # one data set
//! cargo bench --bench seed_kernel -- --warm-up-time 1 --measurement-time 5
//! MF_BENCH_BIG=1 cargo bench --bench seed_kernel -- 20M   # adds 20M entries at k = 32
//! ```
//!
//! Cases: MovieLens 100k `u1.base` (skipped, saying so, when absent) and a
//! seeded synthetic set of 10M observed entries (500,000 users × 50,000
//! items, power-law popularity), at k = 10 and k = 50; with `MF_BENCH_BIG=1`
//! also 20M entries (1,000,000 × 100,000) at k = 32. Each is run on one
//! thread and on all threads. For comparison, the dense form of the same
//! loss on `u1.base` as a masked grid (`u1.base_dense_k10`: the whole
//! `users × items` grid every call, as the original did) is timed too, the
//! generated code only. Throughput is `nnz · k` elements per call, so
//! criterion's elements/s converts as ns per entry per unit of rank =
//! 10⁹ / (elements/s).
//!
//! Before a case is timed, the setup asserts that the two kernels agree:
//! the loss to 1e-9 relative and the gradient to 1e-9 of its largest
//! entry, so the benchmark cannot silently compare different math.
//!
//! Under `cargo test --all-targets` (no `--bench` flag) criterion runs each
//! routine once; the synthetic cases then shrink to 100,000 entries, so the
//! test run checks the agreement in a second or two.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mf_runtime::data::{dataset_or_skip, CsrView, Ratings, Synthetic};
use mf_runtime::{kernel, loss, Init, Objective};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;

loss! {
    /// The seed loss over the observed entries of sparse ratings.
    pub struct SeedLoss {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

loss! {
    /// The same loss on a dense masked matrix: the whole grid, as the
    /// original did (timed for comparison only; no reference kernel).
    pub struct DenseSeedLoss {
        data  D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

/// Users per chunk of the reference's passes over P (fixed: deterministic).
const USERS_PER_CHUNK: usize = 64;
/// Items per chunk of the reference's passes over Q (fixed: deterministic).
const ITEMS_PER_CHUNK: usize = 64;

/// A raw pointer handed to chunks that write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct Disjoint(*mut f64);

// SAFETY: every user of a `Disjoint` writes a range no other chunk touches.
unsafe impl Send for Disjoint {}
unsafe impl Sync for Disjoint {}

impl Disjoint {
    /// The `len` values from `start`.
    ///
    /// # Safety
    /// The range is in bounds, and no other live slice overlaps it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, start: usize, len: usize) -> &mut [f64] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// `a · b` with four independent accumulators (the order differs from a
/// plain loop; both kernels are compared to 1e-9, not bit for bit).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (a4.remainder(), b4.remainder());
    let mut s = [0.0f64; 4];
    for (x, y) in a4.zip(b4) {
        for l in 0..4 {
            s[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

fn sum_of_squares(x: &[f64]) -> f64 {
    dot(x, x)
}

/// The seed loss's value and gradient written by hand for `Ratings`, on
/// the same tiles as the generated code ([`kernel::over_tiles`], whose
/// schedule is fair game: it is what a hand-written kernel would do too):
///
/// 1. Q (`k × items`, row-major) is copied item-major into `qt`, so that the
///    column an entry gathers is `k` contiguous values; ‖Q‖² and ‖P‖² are
///    summed per fixed chunk on the way.
/// 2. One pass over the tiles: per entry the residual
///    `r = d - p_u · q_i`, the loss `r²`, and in a single loop over the
///    rank both `∂P[u] += r q_i` (the user's gradient row, in place) and
///    `∂Qᵀ[i] += r p_u` (an item-major scratch); the rows an entry gathers
///    are prefetched ahead on data too large for the cache, as the
///    generated code does.
/// 3. ∂P is finished in place (`-2 Σ + beta p_u / ‖P‖`), and ∂Qᵀ finished
///    and written transposed into the gradient's `k × items` block, one
///    contiguous run of 64 per row per chunk.
///
/// Scratch is allocated once; a call allocates nothing but the pass's
/// cursors and rayon's jobs. Fixed chunks, tiles from the data alone and
/// in-order reduction: the result does not depend on the number of threads.
struct Reference<'a> {
    csr: CsrView<'a>,
    tiling: kernel::Tiling,
    users: usize,
    items: usize,
    k: usize,
    beta: f64,
    /// Q transposed, items × k.
    qt: Vec<f64>,
    /// ∂Q transposed, items × k.
    gqt: Vec<f64>,
    /// Per user chunk: ‖P‖² partial sums.
    p_parts: Vec<f64>,
    /// Per item chunk: ‖Q‖² partial sums.
    q_parts: Vec<f64>,
}

impl<'a> Reference<'a> {
    fn new(ratings: &'a Ratings, k: usize, beta: f64) -> Self {
        let (users, items) = (ratings.num_users(), ratings.num_items());
        let csr = ratings.csr();
        Reference {
            csr,
            tiling: kernel::Tiling::new(csr.indptr, csr.indices, items),
            users,
            items,
            k,
            beta,
            qt: vec![0.0; items * k],
            gqt: vec![0.0; items * k],
            p_parts: vec![0.0; users.div_ceil(USERS_PER_CHUNK)],
            q_parts: vec![0.0; items.div_ceil(ITEMS_PER_CHUNK)],
        }
    }

    /// Value and gradient; `params` and `grad` are `P` (users × k) then `Q`
    /// (k × items), both row-major: the generated layout.
    fn value_and_gradient(&mut self, params: &[f64], grad: &mut [f64]) -> f64 {
        let Reference {
            csr,
            ref tiling,
            users,
            items,
            k,
            beta,
            ref mut qt,
            ref mut gqt,
            ref mut p_parts,
            ref mut q_parts,
        } = *self;
        if k == 0 {
            return csr.values.iter().map(|v| v * v).sum();
        }
        let (p, q) = params.split_at(users * k);
        let (gp, gq) = grad.split_at_mut(users * k);

        // 1. Q item-major, ‖Q‖², ‖P‖².
        qt.par_chunks_mut(ITEMS_PER_CHUNK * k)
            .zip(q_parts.par_iter_mut())
            .enumerate()
            .for_each(|(c, (qt, part))| {
                let (j0, n) = (c * ITEMS_PER_CHUNK, qt.len() / k);
                let mut s = 0.0;
                for t in 0..k {
                    let row = &q[t * items + j0..t * items + j0 + n];
                    for (jj, &x) in row.iter().enumerate() {
                        qt[jj * k + t] = x;
                        s += x * x;
                    }
                }
                *part = s;
            });
        p.par_chunks(USERS_PER_CHUNK * k)
            .zip(p_parts.par_iter_mut())
            .for_each(|(p, part)| *part = sum_of_squares(p));
        let norm_p = p_parts.iter().sum::<f64>().sqrt();
        let norm_q = q_parts.iter().sum::<f64>().sqrt();
        let scale_p = if norm_p > 0.0 { beta / norm_p } else { 0.0 };
        let scale_q = if norm_q > 0.0 { beta / norm_q } else { 0.0 };

        // 2. One pass over the tiles: loss, Σ r q_i per user, Σ r p_u per item.
        let qt = &*qt;
        let [loss] = kernel::over_tiles(
            tiling,
            csr.indptr,
            csr.indices,
            [kernel::RowOutput::new(gp, k)],
            [kernel::RowOutput::new(gqt, k)],
            |ahead| match ahead {
                kernel::Ahead::Row(u) => kernel::prefetch(&p[u * k..(u + 1) * k]),
                kernel::Ahead::Entry { entry, col } => {
                    kernel::prefetch(&csr.values[entry..entry + 1]);
                    kernel::prefetch(&qt[col * k..(col + 1) * k]);
                }
            },
            |u, j, e, gu, gj, sums: &mut [f64; 1]| {
                let (pu, qj) = (&p[u * k..(u + 1) * k], &qt[j * k..(j + 1) * k]);
                let r = csr.values[e] - dot(pu, qj);
                sums[0] += r * r;
                for ((gu, gj), (&q, &p)) in gu[0]
                    .iter_mut()
                    .zip(gj[0].iter_mut())
                    .zip(qj.iter().zip(pu))
                {
                    *gu += r * q;
                    *gj += r * p;
                }
            },
        );

        // 3. Finish ∂P in place, and ∂Q transposed into place.
        gp.par_chunks_mut(USERS_PER_CHUNK * k)
            .zip(p.par_chunks(USERS_PER_CHUNK * k))
            .for_each(|(g, x)| {
                for (g, &x) in g.iter_mut().zip(x) {
                    *g = -2.0 * *g + scale_p * x;
                }
            });
        let gq_out = Disjoint(gq.as_mut_ptr());
        gqt.par_chunks(ITEMS_PER_CHUNK * k)
            .enumerate()
            .for_each(|(c, gqt)| {
                let (j0, n) = (c * ITEMS_PER_CHUNK, gqt.len() / k);
                for t in 0..k {
                    // SAFETY: columns j0..j0+n of row t belong to this chunk only.
                    let row = unsafe { gq_out.slice(t * items + j0, n) };
                    for (jj, o) in row.iter_mut().enumerate() {
                        *o = -2.0 * gqt[jj * k + t] + scale_q * qt[(j0 + jj) * k + t];
                    }
                }
            });

        loss + beta * (norm_p + norm_q)
    }
}

/// Where every case starts: the same seed and distribution of parameters.
fn starting_point() -> (StdRng, Init) {
    let init = Init::Normal {
        mean: 0.0,
        std: 0.3,
    };
    (StdRng::seed_from_u64(17), init)
}

/// A case: data, parameters, both kernels, bound and checked.
struct Case<'a> {
    nnz: usize,
    params: Vec<f64>,
    generated: SeedLossObjective<'a>,
    reference: Reference<'a>,
    grad: Vec<f64>,
}

impl<'a> Case<'a> {
    fn new(ratings: &'a Ratings, k: usize) -> Case<'a> {
        let (mut rng, init) = starting_point();
        let params = SeedLoss::init(ratings, k, init, &mut rng).expect("parameters for the data");
        let blocks = params.layout().blocks();
        assert_eq!(
            (blocks[0].name.as_str(), blocks[0].offset),
            ("P", 0),
            "P first"
        );
        assert_eq!(blocks[1].name, "Q");
        assert_eq!(blocks[1].offset, ratings.num_users() * k, "Q right after P");
        let loss = SeedLoss::default();
        let mut generated = loss.objective(ratings, &params).expect("binds");
        let mut reference = Reference::new(ratings, k, loss.beta);
        let params = params.as_slice().to_vec();
        let n = params.len();
        let (mut g_gen, mut g_ref) = (vec![0.0; n], vec![0.0; n]);
        let v_gen = generated.value_and_gradient(&params, &mut g_gen);
        let v_ref = reference.value_and_gradient(&params, &mut g_ref);
        assert!(
            (v_gen - v_ref).abs() <= 1e-9 * v_ref.abs(),
            "loss: generated {v_gen} vs reference {v_ref}"
        );
        let scale = g_ref.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let worst = g_gen
            .iter()
            .zip(&g_ref)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= 1e-9 * scale,
            "gradient: max difference {worst:e}, largest entry {scale:e}"
        );
        Case {
            nnz: ratings.nnz(),
            params,
            generated,
            reference,
            grad: g_gen,
        }
    }
}

/// Whether criterion measures (`cargo bench`) rather than runs each
/// routine once (`cargo test --all-targets`).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// One thread, and all of them.
fn thread_counts() -> Vec<usize> {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    if all > 1 {
        vec![1, all]
    } else {
        vec![1]
    }
}

fn pools() -> Vec<(usize, rayon::ThreadPool)> {
    thread_counts()
        .into_iter()
        .map(|n| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("a thread pool");
            (n, pool)
        })
        .collect()
}

/// Criterion's filter, the one positional argument (`cargo bench --bench
/// seed_kernel -- FILTER`), if any.
fn filter() -> Option<String> {
    const WITH_VALUE: &[&str] = &[
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "-c",
        "--color",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--plotting-backend",
        "--output-format",
        "--format",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// Whether the filter may select a benchmark of group `group`: a plain
/// filter must be a substring of one of its ids; any other regular
/// expression selects everything (the data are then built, and criterion
/// filters).
fn selects(group: &str) -> bool {
    thread_counts().iter().any(|n| {
        ["generated", "reference"]
            .iter()
            .any(|f| selects_id(&format!("{group}/{f}/threads={n}")))
    })
}

/// Whether the filter may select the benchmark `id`: a plain filter must be
/// a substring of it; any other regular expression selects everything.
fn selects_id(id: &str) -> bool {
    let Some(filter) = filter() else { return true };
    filter.chars().any(|c| "\\^$|?*+()[]{}".contains(c)) || id.contains(&filter)
}

/// Benchmarks one data set at each rank: both kernels, one thread and all.
/// The data are built only when criterion's filter can select one of the
/// data set's benchmarks.
fn bench_data(c: &mut Criterion, name: &str, ratings: &dyn Fn() -> Ratings, ranks: &[usize]) {
    let groups: Vec<String> = ranks.iter().map(|k| format!("{name}_k{k}")).collect();
    if !groups.iter().any(|g| selects(g)) {
        return;
    }
    let data = ratings();
    eprintln!(
        "{name}: {} users × {} items, {} observed entries",
        data.num_users(),
        data.num_items(),
        data.nnz()
    );
    for (&k, group_name) in ranks.iter().zip(&groups) {
        if !selects(group_name) {
            continue;
        }
        let mut case = Case::new(&data, k);
        let mut group = c.benchmark_group(group_name);
        group.sample_size(10);
        group.throughput(Throughput::Elements((case.nnz * k) as u64));
        for (threads, pool) in pools() {
            let id = format!("threads={threads}");
            group.bench_function(BenchmarkId::new("generated", &id), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            case.generated
                                .value_and_gradient(black_box(&case.params), &mut case.grad),
                        )
                    })
                })
            });
            group.bench_function(BenchmarkId::new("reference", &id), |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            case.reference
                                .value_and_gradient(black_box(&case.params), &mut case.grad),
                        )
                    })
                })
            });
        }
        group.finish();
    }
}

/// The dense form of the seed loss on `ratings` as a masked grid, at rank
/// `k`: the generated code only, one thread and all.
fn bench_dense(c: &mut Criterion, name: &str, ratings: &dyn Fn() -> Ratings, k: usize) {
    let group_name = format!("{name}_dense_k{k}");
    if !thread_counts()
        .iter()
        .any(|n| selects_id(&format!("{group_name}/generated/threads={n}")))
    {
        return;
    }
    let ratings = ratings();
    let grid = ratings.to_masked();
    let (mut rng, init) = starting_point();
    let params = DenseSeedLoss::init(&grid, k, init, &mut rng).expect("parameters for the grid");
    let mut objective = DenseSeedLoss::default()
        .objective(&grid, &params)
        .expect("binds");
    let params = params.as_slice().to_vec();
    let mut grad = vec![0.0; params.len()];
    let mut group = c.benchmark_group(&group_name);
    group.sample_size(10);
    group.throughput(Throughput::Elements((ratings.nnz() * k) as u64));
    for (threads, pool) in pools() {
        let id = format!("threads={threads}");
        group.bench_function(BenchmarkId::new("generated", &id), |b| {
            pool.install(|| {
                b.iter(|| black_box(objective.value_and_gradient(black_box(&params), &mut grad)))
            })
        });
    }
    group.finish();
}

fn seed_kernel(c: &mut Criterion) {
    if let Some(path) = dataset_or_skip("ml-100k/u1.base") {
        let load = move || Ratings::from_movielens(&path).expect("u1.base loads");
        bench_data(c, "u1.base", &load, &[10, 50]);
        bench_dense(c, "u1.base", &load, 10);
    } else {
        eprintln!("skipping the u1.base benchmarks: MovieLens 100k is absent");
    }
    let scale = if measuring() { 1 } else { 100 };
    let synthetic = |users: u32, items: u32, nnz: usize| {
        move || {
            Synthetic {
                seed: 1,
                ..Synthetic::new(users / scale, items / scale, nnz / scale as usize)
            }
            .generate()
            .expect("synthetic ratings")
        }
    };
    let label = if measuring() { "" } else { "_small" };
    bench_data(
        c,
        &format!("synthetic10M{label}"),
        &synthetic(500_000, 50_000, 10_000_000),
        &[10, 50],
    );
    if std::env::var_os("MF_BENCH_BIG").is_some() {
        bench_data(
            c,
            &format!("synthetic20M{label}"),
            &synthetic(1_000_000, 100_000, 20_000_000),
            &[32],
        );
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = seed_kernel
}
criterion_main!(benches);
