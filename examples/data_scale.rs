//! The data layer at scale: generating 20M synthetic entries, metrics and a
//! random split over them, and loading a 2M-line CSV file. Prints the times
//! and the peak memory, and checks the counts:
//!
//! ```text
//! cargo run --release --example data_scale
//! ```
//!
//! Peak memory is the process's high-water mark (`VmHWM` in
//! `/proc/self/status`, Linux only).

use std::time::Instant;

use mf_runtime::data::{LoadOptions, Synthetic};
use mf_runtime::metrics::Accuracy;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    synthetic_20m_entries();
    load_2m_line_csv();
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
