#!/usr/bin/env bash
# Prints the README's table from criterion's results of `cargo bench --bench
# seed_kernel`: per case, rank and thread count, the median time of one
# value-and-gradient of the generated and of the reference kernel, their
# ratio, and ns per observed entry per unit of rank (median time / (nnz k));
# "—" where a case has no reference kernel (the dense form).
# Needs jq. Usage: benches/medians.sh [target/criterion]
set -euo pipefail
root="${1:-$(dirname "$0")/../target/criterion}"
median_ns() { jq '.median.point_estimate' "$1/new/estimates.json"; }

echo "| case | k | threads | generated ms | reference ms | ratio | ns/entry/rank (generated / reference) |"
echo "|---|---|---|---|---|---|---|"
for group in "$root"/*_k*; do
    [ -d "$group/generated" ] || continue
    name=$(basename "$group")
    case=${name%_k*}
    k=${name##*_k}
    for run in "$group"/generated/threads=*; do
        threads=${run##*threads=}
        ref="$group/reference/threads=$threads"
        elements=$(jq '.throughput.Elements' "$run/new/benchmark.json")
        gen_ns=$(median_ns "$run")
        if [ -d "$ref" ]; then
            ref_ns=$(median_ns "$ref")
        else
            ref_ns=0 # a case with no reference kernel (the dense form)
        fi
        awk -v c="$case" -v k="$k" -v t="$threads" -v g="$gen_ns" -v r="$ref_ns" -v n="$elements" 'BEGIN {
            if (r > 0)
                printf "| %s | %s | %s | %.2f | %.2f | %.2f | %.2f / %.2f |\n", c, k, t, g / 1e6, r / 1e6, g / r, g / n, r / n
            else
                printf "| %s | %s | %s | %.2f | — | — | %.2f / — |\n", c, k, t, g / 1e6, g / n
        }'
    done
done
