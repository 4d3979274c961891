//! Training over MPI ranks (cargo feature `mpi`): `mpirun -n 2` and `-n 3`
//! give the single-process value, gradient and parameters after a few
//! steps of gradient descent, Adam and L-BFGS to round-off, and the same
//! bits from run to run at a fixed rank count.
//!
//! The test launches this test binary under `mpirun`, where the ignored
//! `rank` test is each rank's program: it writes rank 0's results as bits
//! into the file `MF_MPI_OUT` names.

#[path = "common/sharded.rs"]
mod sharded;

use mf_runtime::shard::{Link, MpiLink};
use sharded::{max_relative_difference, outcomes};
use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "the program of each MPI rank, run by `ranks_equal_one_process`"]
fn rank() {
    let Some(out) = std::env::var_os("MF_MPI_OUT") else {
        return;
    };
    // The harness runs the test on a thread of its own, not the main one.
    let (universe, _) =
        mpi::initialize_with_threading(mpi::Threading::Serialized).expect("MPI initialised once");
    let connect = || Box::new(MpiLink::new(universe.world())) as Box<dyn Link>;
    let results = outcomes(&sharded::ratings(), Some(&connect)).expect("binds");
    if connect().rank() == 0 {
        let text: Vec<String> = results
            .iter()
            .flatten()
            .map(|v| {
                v.iter()
                    .map(|x| format!("{:016x}", x.to_bits()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        std::fs::write(out, text.join("\n")).expect("writes the results");
    }
}

/// Rank 0's results of one `mpirun -n ranks`, in the shape of `outcomes`.
fn over_mpi(ranks: usize, dir: &Path, shape: &[Vec<Vec<f64>>]) -> Vec<Vec<Vec<f64>>> {
    let out = dir.join(format!("ranks-{ranks}.txt"));
    let _ = std::fs::remove_file(&out);
    let run = Command::new("mpirun")
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-n",
            &ranks.to_string(),
        ])
        .arg(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "rank",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env("MF_MPI_OUT", &out)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("mpirun runs (install Open MPI: apt-get install openmpi-bin libopenmpi-dev)");
    assert!(
        run.status.success(),
        "mpirun -n {ranks} failed ({}):\n{}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("rank 0 wrote its results");
    let mut lines = text.lines().map(|line| {
        line.split_whitespace()
            .map(|w| f64::from_bits(u64::from_str_radix(w, 16).expect("hex bits")))
            .collect::<Vec<f64>>()
    });
    shape
        .iter()
        .map(|per_loss| {
            per_loss
                .iter()
                .map(|_| lines.next().expect("a line per vector"))
                .collect()
        })
        .collect()
}

#[test]
fn ranks_equal_one_process() {
    let whole = outcomes(&sharded::ratings(), None).expect("binds");
    let dir = tempfile::tempdir().expect("a temporary directory");
    for ranks in [2, 3] {
        let first = over_mpi(ranks, dir.path(), &whole);
        let again = over_mpi(ranks, dir.path(), &whole);
        assert!(
            first == again,
            "mpirun -n {ranks}: not bit-identical from run to run"
        );
        let diff = max_relative_difference(&first, &whole);
        println!("mpirun -n {ranks}: largest relative difference from one process {diff:.1e}");
        assert!(diff < 1e-9, "mpirun -n {ranks}: {diff:e} from one process");
    }
}
