#!/usr/bin/env python3
"""cmfrec's explicit-feedback ALS (`cmfrec.CMF(method="als")`) on a
train/test pair: test RMSE and fit time per (λ, niter, threads), k = 50,
user and item biases, centering, cmfrec's other settings at their defaults
(conjugate-gradient steps with a final Cholesky pass, float32).

Two forms of the penalty are run (cmfrec's `scale_lam`):
  * plain      (scale_lam=False, cmfrec's default):
        Σ_obs (x - μ - b_u - c_i - a_u·b_i)² + λ(‖A‖² + ‖B‖² + ‖b‖² + ‖c‖²)
  * count-weighted (scale_lam=True): each row's λ is multiplied by its
        number of observed entries, as in ALS-WR; this is the form of
        sum(mask*(D - P@Q)^2) + λ(sum(count_rows(D)*P^2) + sum(count_cols(D)*Q^2)).
    (cmfrec also scales the biases' λ by the counts here: its docs'
    `scale_bias_const`.)

Fit time is `model.fit(X)` on a scipy COO matrix (ids shifted to start at
0; rows or columns with no training entry stay empty and are predicted
from the mean and the other side's bias); loading and prediction are
not timed. Test RMSE is given over all test entries and over those whose
user and item both occur in TRAIN ("seen"; the project's own scoring
leaves the others out: 32 of u1.test's 20,000). Each configuration is fitted REPEATS times; the median time
is quoted (RMSE is deterministic for a fixed random_state).

Usage:
  /opt/mf-peers/bin/python benches/peers/cmfrec_u1.py [DATA_DIR | TRAIN TEST] [options]
    DATA_DIR   holds u1.base and u1.test (default ../shared/datasets/ml-100k
               relative to the repository root)
    TRAIN TEST any pair of files of whitespace-separated lines
               "user item rating" or "user item rating timestamp"
  options: --k 50 --threads 1,2 --niter 5,10,15 --repeats 3
           --lambdas 1,5,10,20,35
           --scaled-lambdas 0.05,0.1,0.15,0.2,0.5
           (an empty list skips that form)
Needs the venv with cmfrec, pandas, numpy, scipy (see README.md). To
benchmark, unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in that command
(they pin an older OpenBLAS kernel); the script prints the kernel in use.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix

import cmfrec
import threadpoolctl


def floats(s):
    return [float(x) for x in s.split(",") if x]


def ints(s):
    return [int(x) for x in s.split(",") if x]


def load(path):
    df = pd.read_csv(path, sep=r"\s+", header=None, usecols=[0, 1, 2],
                     names=["u", "i", "r"], comment="#", engine="c")
    # drop a header line, if any
    df = df[pd.to_numeric(df["u"], errors="coerce").notna()]
    return (df["u"].to_numpy(np.int64), df["i"].to_numpy(np.int64),
            df["r"].to_numpy(np.float64))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--threads", type=ints, default=[1, 2])
    ap.add_argument("--niter", type=ints, default=[5, 10, 15])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lambdas", type=floats, default=[1.0, 5.0, 10.0, 20.0, 35.0])
    ap.add_argument("--scaled-lambdas", type=floats, default=[0.05, 0.1, 0.15, 0.2, 0.5])
    a = ap.parse_args()
    if len(a.paths) >= 2:
        train_path, test_path = a.paths[:2]
    else:
        d = a.paths[0] if a.paths else os.path.join(root, "..", "shared", "datasets", "ml-100k")
        train_path, test_path = os.path.join(d, "u1.base"), os.path.join(d, "u1.test")

    t0 = time.perf_counter()
    tu, ti, tr = load(train_path)
    vu, vi, vr = load(test_path)
    ub = min(tu.min(), vu.min())
    ib = min(ti.min(), vi.min())
    tu, vu, ti, vi = tu - ub, vu - ub, ti - ib, vi - ib
    shape = (int(max(tu.max(), vu.max())) + 1, int(max(ti.max(), vi.max())) + 1)
    X = coo_matrix((tr, (tu, ti)), shape=shape)
    load_s = time.perf_counter() - t0
    seen = (np.bincount(tu, minlength=shape[0])[vu] > 0) & \
           (np.bincount(ti, minlength=shape[1])[vi] > 0)

    blas = [(i["prefix"], i.get("architecture"), i.get("version"))
            for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    print(f"data: {train_path} ({len(tr)}) -> {test_path} ({len(vr)}); "
          f"{shape[0]} x {shape[1]}; {int(seen.sum())} test entries seen; loaded in {load_s:.2f} s")
    print(f"cmfrec {getattr(cmfrec, '__version__', '?')}, numpy {np.__version__}, "
          f"BLAS {blas}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])} "
          f"on {os.cpu_count()} cores; k = {a.k}, medians of {a.repeats} fits")
    print()
    print("| penalty | λ | niter | threads | test RMSE | seen RMSE | fit s (median) | fit s (all) |")
    print("|---|---|---|---|---|---|---|---|")
    sys.stdout.flush()

    forms = [("plain", False, lam) for lam in a.lambdas] + \
            [("count-weighted", True, lam) for lam in a.scaled_lambdas]
    best = {}
    for form, scale_lam, lam in forms:
        for niter in a.niter:
            for nthreads in a.threads:
                times, rmse = [], None
                for _ in range(a.repeats):
                    model = cmfrec.CMF(method="als", k=a.k, lambda_=lam,
                                       scale_lam=scale_lam, user_bias=True,
                                       item_bias=True, niter=niter,
                                       nthreads=nthreads, random_state=1,
                                       verbose=False)
                    # cmfrec limits its own threads; keep BLAS to the same count
                    with threadpoolctl.threadpool_limits(limits=nthreads):
                        s = time.perf_counter()
                        model.fit(X)
                        times.append(time.perf_counter() - s)
                    pred = model.predict(user=vu, item=vi)
                    rmse = float(np.sqrt(np.mean((pred - vr) ** 2)))
                    rmse_seen = float(np.sqrt(np.mean((pred[seen] - vr[seen]) ** 2)))
                med = statistics.median(times)
                print(f"| {form} | {lam:g} | {niter} | {nthreads} | {rmse:.4f} | {rmse_seen:.4f} | {med:.3f} | "
                      f"{', '.join(f'{t:.3f}' for t in times)} |")
                sys.stdout.flush()
                key = (form, nthreads)
                if key not in best or rmse < best[key][0]:
                    best[key] = (rmse, rmse_seen, lam, niter, med)
    print()
    print("Best test RMSE per penalty form and thread count:")
    for (form, nthreads), (rmse, rmse_seen, lam, niter, med) in sorted(best.items()):
        print(f"  {form}, {nthreads} thread(s): RMSE {rmse:.4f} (seen {rmse_seen:.4f}) at λ = {lam:g}, "
              f"niter = {niter}, fit {med:.3f} s")
    print(f"load average after: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
