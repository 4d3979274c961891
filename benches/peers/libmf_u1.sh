#!/usr/bin/env bash
# LIBMF (the C++ parallel-SGD library, `mf-train`) on a train/test pair:
# test RMSE after each epoch, wall-clock time and peak RSS of `mf-train`,
# at k = 50, 20 epochs, LIBMF's other settings at their defaults (squared
# loss `-f 0`, `-l2 0.1` on P and Q, `-r 0.1` initial AdaGrad rate, 20 bins
# or 2 × threads + 1 if more), with 1 and 2 threads.
#
# Usage:
#   benches/peers/libmf_u1.sh [DATA_DIR | TRAIN TEST]
#     DATA_DIR   holds u1.base and u1.test (default ../shared/datasets/ml-100k
#                relative to the repository root)
#     TRAIN TEST any pair of files of whitespace-separated lines
#                "user item rating" or "user item rating timestamp"
#                (u.data's format; extra columns are ignored)
# Environment (defaults in brackets):
#   LIBMF_DIR  directory with built mf-train and mf-predict [/tmp/peers/libmf]
#   K [50]  EPOCHS [20]  THREADS ["1 2"]  REPEATS [3]
#   EXTRA      further mf-train options, e.g. "-l2 0.05" [none]
#   QUIET_RUNS 1 = also time `mf-train --quiet` without -p (no per-epoch
#              evaluation) and score its model with mf-predict, on all
#              test entries and on those whose user and item occur in
#              TRAIN ("seen"; LIBMF predicts the training mean for the
#              others) [1]
#
# What is timed: `/usr/bin/time -v mf-train ...`, i.e. the whole process:
# reading the text files, LIBMF's shuffling and gridding, the epochs, the
# per-epoch objective and validation RMSE (with -p), and writing the model
# file (to the temporary directory). LIBMF prints no timings of its own;
# each output line is stamped on arrival, so the script also reports the
# time from the first epoch's line to the last one's: epochs 1 .. E-1 with
# their evaluation (epoch 0 is cheaper in LIBMF: with no L1 term it updates
# only the first 8 coordinates of each factor: mf.cpp, slow_only).
# Wall time is taken by the script (bash's EPOCHREALTIME around the
# process, ms resolution); /usr/bin/time -v gives the peak RSS.
# Lines whose first field is not an integer (a header) are skipped. Ids
# are shifted so that the smallest id in TRAIN ∪ TEST becomes 0 (LIBMF
# takes m = max row id + 1; a constant shift changes nothing else).
# Medians are over REPEATS runs. Nothing is written outside a temp dir.
# On a busy machine, 2 threads with -p can be several times slower than
# without: the per-epoch evaluation's OpenMP threads spin-wait (libgomp's
# default) against the SGD threads; OMP_WAIT_POLICY=passive, passed
# through the environment, removes that.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -ge 2 ]; then
    train=$1 test=$2
else
    dir=${1:-$root/../shared/datasets/ml-100k}
    train=$dir/u1.base test=$dir/u1.test
fi
libmf=${LIBMF_DIR:-/tmp/peers/libmf}
K=${K:-50} EPOCHS=${EPOCHS:-20} THREADS=${THREADS:-"1 2"} REPEATS=${REPEATS:-3}
EXTRA=${EXTRA:-} QUIET_RUNS=${QUIET_RUNS:-1}
for f in "$train" "$test" "$libmf/mf-train" "$libmf/mf-predict" /usr/bin/time; do
    [ -e "$f" ] || { echo "missing: $f" >&2; exit 1; }
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
# peak RSS (MB) from a /usr/bin/time -v report
rss_of() { awk -F': ' '/Maximum resident set size/ { printf "%.1f\n", $2 / 1024 }' "$1"; }

tmp=$(mktemp -d /tmp/libmf-peer.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# --- conversion to LIBMF's "row col value", zero-based ---
t0=$EPOCHREALTIME
read -r ubase ibase < <(awk 'NF >= 3 && $1 ~ /^[0-9]+$/ {
        if (n++ == 0 || $1 < mu) mu = $1; if (n == 1 || $2 < mi) mi = $2 }
    END { print mu + 0, mi + 0 }' "$train" "$test")
convert() { awk -v ub="$ubase" -v ib="$ibase" 'NF >= 3 && $1 ~ /^[0-9]+$/ { print $1 - ub, $2 - ib, $3 }' "$1" > "$2"; }
convert "$train" "$tmp/train.txt"
convert "$test" "$tmp/test.txt"
# the test entries whose user and item both occur in TRAIN ("seen")
awk 'NR == FNR { u[$1] = 1; i[$2] = 1; next } ($1 in u) && ($2 in i)' "$tmp/train.txt" "$tmp/test.txt" > "$tmp/test_seen.txt"
t1=$EPOCHREALTIME
ntr=$(wc -l < "$tmp/train.txt"); nte=$(wc -l < "$tmp/test.txt"); nseen=$(wc -l < "$tmp/test_seen.txt")
echo "data: $train ($ntr) → $test ($nte, $nseen seen); ids shifted by -$ubase (users), -$ibase (items); conversion $(secs "$t0" "$t1") s"
echo "mf-train: $libmf/mf-train -k $K -t $EPOCHS $EXTRA; load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo

summary=()
for T in $THREADS; do
    : > "$tmp/w" ; : > "$tmp/r" ; : > "$tmp/rmse" ; : > "$tmp/ep" ; : > "$tmp/tr" ; : > "$tmp/qw" ; : > "$tmp/qr" ; : > "$tmp/qrmse" ; : > "$tmp/qseen"
    for rep in $(seq "$REPEATS"); do
        # verbose run: validation RMSE after each epoch
        start=$EPOCHREALTIME
        # shellcheck disable=SC2086
        /usr/bin/time -v -o "$tmp/time" "$libmf/mf-train" -k "$K" -t "$EPOCHS" -s "$T" $EXTRA \
            -p "$tmp/test.txt" "$tmp/train.txt" "$tmp/model" |
            while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done > "$tmp/out"
        end=$EPOCHREALTIME
        if [ "$rep" = 1 ]; then
            echo "== threads $T, run 1: mf-train output (first column: seconds since start) =="
            awk -v s="$start" '{ $1 = sprintf("%7.3f", $1 - s); print }' "$tmp/out"
        fi
        secs "$start" "$end" >> "$tmp/w"
        rss_of "$tmp/time" >> "$tmp/r"
        # last epoch's va_rmse is column 4 (stamp, iter, tr_rmse, va_rmse, obj)
        awk '$2 ~ /^[0-9]+$/ { last = $4 } END { print last }' "$tmp/out" >> "$tmp/rmse"
        awk -v E="$EPOCHS" '$2 ~ /^[0-9]+$/ { if (first == "") first = $1; lastt = $1 }
            END { d = lastt - first; printf "%.4f %.4f\n", d / (E - 1), d }' "$tmp/out" > "$tmp/x"
        cut -d' ' -f1 "$tmp/x" >> "$tmp/ep"; cut -d' ' -f2 "$tmp/x" >> "$tmp/tr"
        echo "threads $T run $rep: wall $(tail -1 "$tmp/w") s, peak RSS $(tail -1 "$tmp/r") MB, test RMSE $(tail -1 "$tmp/rmse"), per epoch $(tail -1 "$tmp/ep") s"
        if [ "$QUIET_RUNS" = 1 ]; then
            # quiet run: no per-epoch objective or validation; score the model afterwards
            start=$EPOCHREALTIME
            # shellcheck disable=SC2086
            /usr/bin/time -v -o "$tmp/time" "$libmf/mf-train" --quiet -k "$K" -t "$EPOCHS" -s "$T" $EXTRA \
                "$tmp/train.txt" "$tmp/model" > /dev/null
            secs "$start" "$EPOCHREALTIME" >> "$tmp/qw"
            rss_of "$tmp/time" >> "$tmp/qr"
            "$libmf/mf-predict" "$tmp/test.txt" "$tmp/model" "$tmp/pred" | awk '{ print $NF }' >> "$tmp/qrmse"
            "$libmf/mf-predict" "$tmp/test_seen.txt" "$tmp/model" "$tmp/pred" | awk '{ print $NF }' >> "$tmp/qseen"
            echo "threads $T run $rep (--quiet, no -p): wall $(tail -1 "$tmp/qw") s, peak RSS $(tail -1 "$tmp/qr") MB, test RMSE $(tail -1 "$tmp/qrmse"), seen $(tail -1 "$tmp/qseen") (mf-predict)"
        fi
    done
    summary+=("| $T | -p | $(median < "$tmp/rmse") | — | $(median < "$tmp/w") | $(median < "$tmp/tr") | $(median < "$tmp/ep") | $(median < "$tmp/r") |")
    if [ "$QUIET_RUNS" = 1 ]; then
        summary+=("| $T | --quiet | $(median < "$tmp/qrmse") | $(median < "$tmp/qseen") | $(median < "$tmp/qw") | — | — | $(median < "$tmp/qr") |")
    fi
    echo
done

echo "Medians of $REPEATS runs (k = $K, $EPOCHS epochs); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| threads | mode | test RMSE | seen RMSE | wall s (whole process) | epochs 1..E-1 s | s/epoch | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
