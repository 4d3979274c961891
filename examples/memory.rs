//! Wall time per value-and-gradient and peak memory of the seed loss on a
//! large synthetic ratings set.
//!
//! ```sh
//! cargo run --release --example memory                              # 20M entries, k = 32
//! cargo run --release --example memory -- --nnz 100000000 --users 4800000 --items 180000
//! cargo run --release --example memory -- --k 10 --calls 5 --threads 1
//! ```
//!
//! Builds a seeded synthetic set (power-law popularity; default 1,000,000
//! users × 100,000 items, 20M observed entries), binds the seed loss
//! `sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))` with
//! `data D: sparse[users, items]` at rank k, runs a few value-and-gradient
//! calls, and prints the wall time of each (and their median) and the
//! process's peak resident set size, `VmHWM` in `/proc/self/status`, after
//! each stage: the whole process, data included.

use std::time::Instant;

use mf_runtime::data::Synthetic;
use mf_runtime::{loss, Init, Objective};
use rand::rngs::StdRng;
use rand::SeedableRng;

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

struct Settings {
    users: u32,
    items: u32,
    nnz: usize,
    k: usize,
    calls: usize,
    threads: Option<usize>,
    seed: u64,
}

const USAGE: &str =
    "usage: memory [--users N] [--items N] [--nnz N] [--k N] [--calls N] [--threads N] [--seed N]";

fn parse() -> Result<Settings, String> {
    let mut s = Settings {
        users: 1_000_000,
        items: 100_000,
        nnz: 20_000_000,
        k: 32,
        calls: 3,
        threads: None,
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}\n{USAGE}");
        match flag.as_str() {
            "--users" => s.users = value.parse().map_err(bad)?,
            "--items" => s.items = value.parse().map_err(bad)?,
            "--nnz" => s.nnz = value.parse().map_err(bad)?,
            "--k" => s.k = value.parse().map_err(bad)?,
            "--calls" => s.calls = value.parse().map_err(bad)?,
            "--threads" => s.threads = Some(value.parse().map_err(bad)?),
            "--seed" => s.seed = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(s)
}

/// A field of `/proc/self/status` in MB (`VmHWM`: peak resident set size;
/// `VmRSS`: current). `None` where there is no procfs.
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1000.0)
}

fn memory() -> String {
    match (status_mb("VmHWM:"), status_mb("VmRSS:")) {
        (Some(peak), Some(now)) => format!("peak RSS {peak:.0} MB, RSS now {now:.0} MB"),
        _ => "peak RSS unavailable (no /proc/self/status)".to_string(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let s = match parse() {
        Ok(s) => s,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if let Some(n) = s.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()?;
    }
    println!(
        "synthetic: {} users × {} items, {} expected entries, seed {}; k = {}; {} threads",
        s.users,
        s.items,
        s.nnz,
        s.seed,
        s.k,
        rayon::current_num_threads()
    );

    let start = Instant::now();
    let ratings = Synthetic {
        seed: s.seed,
        ..Synthetic::new(s.users, s.items, s.nnz)
    }
    .generate()?;
    println!(
        "data: {} observed entries in {:.2} s; {}",
        ratings.nnz(),
        start.elapsed().as_secs_f64(),
        memory()
    );

    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(17);
    let init = Init::Normal {
        mean: 0.0,
        std: 0.3,
    };
    let params = SeedLoss::init(&ratings, s.k, init, &mut rng)?;
    let mut objective = SeedLoss::default().objective(&ratings, &params)?;
    let mut grad = vec![0.0; objective.num_params()];
    println!(
        "bound: {} parameters in {:.2} s; {}",
        params.as_slice().len(),
        start.elapsed().as_secs_f64(),
        memory()
    );

    let mut times = Vec::with_capacity(s.calls);
    for call in 1..=s.calls {
        let start = Instant::now();
        let value = objective.value_and_gradient(params.as_slice(), &mut grad);
        let secs = start.elapsed().as_secs_f64();
        times.push(secs);
        println!("call {call}: {:.3} s, loss {value:.6e}; {}", secs, memory());
    }
    times.sort_by(f64::total_cmp);
    if let Some(&median) = times.get(times.len() / 2) {
        let per = median * 1e9 / (ratings.nnz() as f64 * s.k.max(1) as f64);
        println!(
            "median {:.3} s per value-and-gradient ({per:.2} ns per entry per unit of rank); {}",
            median,
            memory()
        );
    }
    Ok(())
}
