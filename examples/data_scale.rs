//! The data layer at scale: generating 20M synthetic entries, metrics and a
//! random split over them, and loading a 2M-line CSV file. Prints the times
//! and the peak memory, and checks the counts:
//!
//! ```text
//! cargo run --release --example data_scale
//! ```
//!
//! Two more modes measure the loaders on files:
//!
//! ```text
//! # a synthetic ratings file in the MovieLens `ratings.csv` layout, N lines
//! cargo run --release --example data_scale -- --write /tmp/ratings-25m.csv --lines 25000000
//! # load a file (format detected) RUNS times; prints each time and the median
//! cargo run --release --example data_scale -- --load ../shared/datasets/ml-100k/u.data --runs 9
//! # the same, dropping the timestamps (LoadOptions::keep_timestamps(false))
//! cargo run --release --example data_scale -- --load /tmp/ratings-25m.csv --runs 1 --no-timestamps
//! # the same, parsed on N threads (LoadOptions::threads; default: every core)
//! cargo run --release --example data_scale -- --load /tmp/ratings-25m.csv --runs 1 --threads 1
//! ```
//!
//! Peak memory is the process's high-water mark (`VmHWM` in
//! `/proc/self/status`, Linux only).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use mf_runtime::data::{LoadOptions, Synthetic};
use mf_runtime::metrics::Accuracy;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| -> Option<&str> {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).map(String::as_str)
    };
    match (value("--write"), value("--load")) {
        (Some(path), _) => {
            let lines = value("--lines").ok_or("--write needs --lines N")?.parse()?;
            write_ratings_csv(Path::new(path), lines)
        }
        (None, Some(path)) => {
            let runs = value("--runs").map_or(Ok(5), str::parse)?;
            let keep = !args.iter().any(|a| a == "--no-timestamps");
            let mut options = LoadOptions::new().keep_timestamps(keep);
            if let Some(n) = value("--threads") {
                options = options.threads(n.parse()?);
            }
            time_loads(Path::new(path), runs, options)
        }
        (None, None) => {
            synthetic_20m_entries();
            load_2m_line_csv();
            Ok(())
        }
    }
}

/// Writes about `lines` synthetic ratings (users and items in the
/// proportions of MovieLens 25M) as `userId,movieId,rating,timestamp`.
fn write_ratings_csv(path: &Path, lines: usize) -> Result<(), BoxError> {
    let start = Instant::now();
    let users = (lines / 154).max(10) as u32;
    let items = (lines / 423).max(10) as u32;
    let r = Synthetic {
        seed: 25,
        ..Synthetic::new(users, items, lines)
    }
    .generate()?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "userId,movieId,rating,timestamp")?;
    for (k, (u, i, v)) in r.iter().enumerate() {
        writeln!(out, "{u},{i},{:.1},{}", v, 1_000_000_000 + k)?;
    }
    out.flush()?;
    println!(
        "wrote {} ratings ({users} users × {items} items) to {} in {:.1} s",
        r.nnz(),
        path.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Loads `path` `runs` times with `options`; prints each time, the median
/// and the peak RSS.
fn time_loads(path: &Path, runs: usize, options: LoadOptions) -> Result<(), BoxError> {
    let mut secs = Vec::with_capacity(runs);
    let mut nnz = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let r = options.load(path)?;
        secs.push(start.elapsed().as_secs_f64());
        nnz = r.nnz();
    }
    let shown: Vec<String> = secs.iter().map(|s| format!("{s:.4}")).collect();
    secs.sort_by(f64::total_cmp);
    println!(
        "{}: {nnz} ratings; load times {} s; median {:.4} s; peak RSS {:?} MB",
        path.display(),
        shown.join(" "),
        secs[secs.len() / 2],
        peak_rss_mb()
    );
    Ok(())
}

fn synthetic_20m_entries() {
    let start = Instant::now();
    let s = Synthetic {
        rank: 32,
        seed: 1,
        ..Synthetic::new(1_000_000, 100_000, 20_000_000)
    };
    let r = s.generate().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let max_user = r.user_counts().max().unwrap();
    let max_item = r.item_counts().max().unwrap();
    println!(
        "synthetic: {} entries, {} × {}, in {secs:.2} s; busiest user {max_user}, item {max_item}; peak RSS {:?} MB",
        r.nnz(),
        r.num_users(),
        r.num_items(),
        peak_rss_mb()
    );
    assert!(r.nnz().abs_diff(20_000_000) < 50_000);

    let start = Instant::now();
    let mean = r.mean();
    let acc = Accuracy::of(&r, |_, _| mean);
    println!(
        "metrics over 20M entries: {:.3} s ({acc:?})",
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    let split = r.split_random(0.1, 3).unwrap();
    println!(
        "random split: {:.2} s: {split}",
        start.elapsed().as_secs_f64()
    );
    println!("peak RSS {:?} MB", peak_rss_mb());
}

fn load_2m_line_csv() {
    let path = std::env::temp_dir().join(format!("mf-scale-{}.csv", std::process::id()));
    let r = Synthetic::new(50_000, 10_000, 2_000_000)
        .generate()
        .unwrap();
    let mut text = String::with_capacity(r.nnz() * 16);
    for (u, i, v) in r.iter() {
        text.push_str(&format!("{u},{i},{:.1},0\n", v));
    }
    std::fs::write(&path, text).unwrap();
    let start = Instant::now();
    let loaded = LoadOptions::new().load(&path).unwrap();
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    println!(
        "loaded {} lines in {secs:.2} s ({:.0} ns/line)",
        loaded.nnz(),
        secs * 1e9 / loaded.nnz() as f64
    );
    assert_eq!(loaded.nnz(), r.nnz());
}
