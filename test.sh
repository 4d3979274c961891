#!/usr/bin/env bash
# The tests: everything CI runs, in one command.
#
#   1. formatting (cargo fmt --check) and lints (clippy, warnings are errors);
#   2. every unit, integration, compile-fail (trybuild), generated-loss and
#      example test, and the benchmarks in test mode (--all-targets);
#   3. every doctest, the README's code blocks among them (--doc), and the
#      API documentation built with its links checked (warnings are errors);
#   4. the tests that need something the repository cannot hold, which are
#      #[ignore]d with the reason (the summaries of step 2 list them):
#      MovieLens 100k (ml-100k under $MF_DATASETS or ../shared/datasets) and
#      python3 with numpy; and the training over MPI ranks (cargo feature
#      `mpi`: Open MPI's mpirun, clang for the bindings), linted and tested
#      with the feature on. They run here when what they need is found, and
#      the last lines say which ran and which were skipped, and why.
#
# With MF_REQUIRE_ALL=1 (CI sets it) nothing is skipped: step 4 runs every
# ignored test, and one whose data or tool is missing fails.
set -euo pipefail
cd "$(dirname "$0")"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
cargo test --workspace --doc
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

require_all=${MF_REQUIRE_ALL:-}
summary=()

# MovieLens 100k, where mf_runtime::data::find_dataset looks for it.
movielens=""
for root in ${MF_DATASETS:+"$MF_DATASETS"} ../shared/datasets; do
    if [ -f "$root/ml-100k/u.data" ] && [ -f "$root/ml-100k/u1.base" ]; then
        movielens="$root/ml-100k"
        break
    fi
done
if [ -n "$movielens" ] || [ -n "$require_all" ]; then
    cargo test -p mf --test movielens_acceptance -- --ignored
    cargo test -p mf-runtime --test data_movielens -- --ignored
    summary+=("ran the 5 MovieLens 100k tests (data: ${movielens:-not found, required})")
else
    summary+=("SKIPPED 5 tests: MovieLens 100k not found under \$MF_DATASETS or ../shared/datasets")
fi

if python3 -c "import numpy" >/dev/null 2>&1 || [ -n "$require_all" ]; then
    cargo test -p mf-runtime --test model_trained -- --ignored
    summary+=("ran the NumPy interop test")
else
    summary+=("SKIPPED 1 test: python3 with numpy not found (numpy_reads_the_saved_params)")
fi

# Open MPI: the crates with the `mpi` feature linted with it, and the test
# that runs `mpirun -n 2` and `-n 3` against one process.
if command -v mpirun >/dev/null 2>&1 || [ -n "$require_all" ]; then
    cargo clippy -p mf-runtime --all-targets --features mpi -- -D warnings
    cargo clippy -p mf --all-targets --features mpi -- -D warnings
    cargo test -p mf-runtime --features mpi --doc shard
    cargo test -p mf --features mpi --test mpi_ranks
    summary+=("ran the MPI test (mpirun -n 2 and -n 3 against one process)")
else
    summary+=("SKIPPED 1 test: mpirun (Open MPI) not found (ranks_equal_one_process, feature mpi)")
fi

echo
echo "test.sh: all passed"
for line in "${summary[@]}"; do
    echo "test.sh: $line"
done
