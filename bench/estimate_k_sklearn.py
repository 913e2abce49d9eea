#!/usr/bin/python3
"""scikit-learn's side of bench/estimate_k.sh: KMeans the way GCD's
estimate_k script uses it (github.com/sgvaze/generalized-category-discovery,
methods/estimate_k/estimate_k.py), over the same K range as unic.

  gcd:  GCD's scipy_optimise: scipy.optimize.minimize_scalar(method="bounded",
        bounds=(k_min, k_max)) on minus the labelled accuracy (Hungarian) of
        KMeans(n_clusters=int(K), random_state=0).fit(all features), features
        L2-normalised; every call fits, as in GCD's script.
  scan: one KMeans(n_clusters=K, random_state=0).fit for every K of the
        range: the fits a label-free criterion needs (the criterion itself is
        not timed). With --sample-ks only those K are fitted and the loop's
        time is extrapolated from a line fitted to their times (marked so).

scikit-learn 1.2 (Debian 12): n_init=10 by default, Lloyd, OpenMP on every
core. Prints key=value lines.

  estimate_k_sklearn.py MODE DATA LABELS K_MIN K_MAX [--idx] [--limit N]
                        [--old 0-4 --labeled-fraction 0.5] [--sample-ks 10,20,40]
"""
import argparse
import gzip
import time

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize_scalar
from sklearn.cluster import KMeans


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(a):
    if a.idx:
        x = read_idx(a.data).reshape(-1, 784).astype(np.float32) / 255.0
        y = read_idx(a.labels).astype(np.int64)
    else:
        x = np.load(a.data).astype(np.float32)
        y = np.load(a.labels).astype(np.int64)
    if a.limit:
        x, y = x[: a.limit], y[: a.limit]
    return x, y


def cluster_acc(y_true, y_pred):
    w = np.zeros((y_pred.max() + 1, y_true.max() + 1), dtype=np.int64)
    np.add.at(w, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(-w)
    return w[r, c].sum() / len(y_true)


def gcd(x, y, a):
    lo, hi = (int(v) for v in a.old.split("-"))
    old = np.flatnonzero((y >= lo) & (y <= hi))
    rng = np.random.default_rng(0)
    labelled = rng.choice(old, int(round(a.labeled_fraction * len(old))), replace=False)
    feats = x / np.linalg.norm(x, axis=1, keepdims=True)
    fits = []

    def f(k):
        k = int(k)
        pred = KMeans(n_clusters=k, random_state=0, n_init=10).fit(feats).labels_
        acc = cluster_acc(y[labelled], pred[labelled])
        fits.append((k, acc))
        return -acc

    t0 = time.time()
    res = minimize_scalar(f, bounds=(a.k_min, a.k_max), method="bounded")
    seconds = time.time() - t0
    print(f"sklearn_seconds={seconds:.3f}")
    print(f"sklearn_fits={len(fits)}")
    print(f"sklearn_distinct_k={len(set(k for k, _ in fits))}")
    print(f"sklearn_estimate={int(res.x)}")
    print("sklearn_extrapolated=0")


def scan(x, a):
    feats = x / np.linalg.norm(x, axis=1, keepdims=True)
    ks = list(range(a.k_min, a.k_max + 1))
    sample = [int(v) for v in a.sample_ks.split(",")] if a.sample_ks else ks
    times = {}
    for k in sample:
        t0 = time.time()
        KMeans(n_clusters=k, random_state=0, n_init=10).fit(feats)
        times[k] = time.time() - t0
        print(f"sklearn_fit_k{k}_s={times[k]:.3f}", flush=True)
    if a.sample_ks:
        kk = np.array(sorted(times))
        tt = np.array([times[k] for k in kk])
        slope, icpt = np.polyfit(kk, tt, 1) if len(kk) > 1 else (0.0, tt[0])
        total = float(sum(max(icpt + slope * k, 0.0) for k in ks))
    else:
        total = float(sum(times.values()))
    print(f"sklearn_seconds={total:.3f}")
    print(f"sklearn_fits={len(ks)}")
    print(f"sklearn_extrapolated={1 if a.sample_ks else 0}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["gcd", "scan"])
    p.add_argument("data")
    p.add_argument("labels")
    p.add_argument("k_min", type=int)
    p.add_argument("k_max", type=int)
    p.add_argument("--idx", action="store_true")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--old", default="0-4")
    p.add_argument("--labeled-fraction", type=float, default=0.5)
    p.add_argument("--sample-ks", default="")
    a = p.parse_args()
    x, y = load(a)
    if a.mode == "gcd":
        gcd(x, y, a)
    else:
        scan(x, a)


if __name__ == "__main__":
    main()
