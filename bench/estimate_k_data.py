#!/usr/bin/python3
"""Data sets with a known number of classes for bench/estimate_k.sh, as
.npy embeddings and labels (the `features` backbone reads them).

    /usr/bin/python3 bench/estimate_k_data.py OUT_DIR [N_EMB]

writes into OUT_DIR:
  mix8      3,000 x 32: 8 Gaussian clusters of unequal sizes (1000 down to 60),
            centres at distance ~9 (well separated, noise 1 per dimension)
  mix15     6,000 x 64: 15 clusters, sizes 100..900 (Zipf-like), closer
            centres (~6.5) and per-cluster scales 0.7..1.3
  emb20     10,000 x 768: embeddings as a user brings them from a
            self-supervised ViT: 20 classes with Zipf-like sizes around
            unit-norm class directions, isotropic noise plus 16 shared
            nuisance directions (pose, colour...), L2-normalised
  emb20_50k the same generator at N_EMB items (default 50,000), for the
            speed benchmark
  digits    1,797 x 64: scikit-learn's 8x8 handwritten digits (10 classes),
            real pixels scaled to [0, 1]
"""
import os
import sys

import numpy as np


def save(out, name, x, y):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(x, dtype=np.float32))
    np.save(os.path.join(out, name + "_labels.npy"), np.asarray(y, dtype=np.int64))


def mixture(rng, sizes, d, sep, scales):
    k = len(sizes)
    c = rng.standard_normal((k, d))
    c *= sep / np.linalg.norm(c, axis=1, keepdims=True)
    x = np.concatenate([c[i] + scales[i] * rng.standard_normal((s, d)) for i, s in enumerate(sizes)])
    y = np.concatenate([np.full(s, i) for i, s in enumerate(sizes)])
    p = rng.permutation(len(y))
    return x[p], y[p]


def embeddings(n, k, d=768, seed=0):
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, k + 1) ** 0.7
    w = rng.permutation(w / w.sum())
    y = rng.choice(k, n, p=w)
    means = rng.standard_normal((k, d))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    nuisance = rng.standard_normal((16, d)) / np.sqrt(d)
    x = means[y] + rng.standard_normal((n, d)) * (1.4 / np.sqrt(d))
    x += (rng.standard_normal((n, 16)) * 0.3) @ nuisance
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, y


def main():
    out = sys.argv[1]
    n_emb = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261206)
    sizes8 = [1000, 600, 400, 300, 250, 200, 150, 60]
    save(out, "mix8", *mixture(rng, sizes8, 32, 9.0 / np.sqrt(2), np.ones(8)))
    sizes15 = np.sort((100 + 800 * rng.random(15) ** 2).astype(int))[::-1]
    save(out, "mix15", *mixture(rng, sizes15, 64, 6.5 / np.sqrt(2), 0.7 + 0.6 * rng.random(15)))
    save(out, "emb20", *embeddings(10000, 20, seed=1))
    save(out, "emb20_50k", *embeddings(n_emb, 20, seed=2))
    from sklearn.datasets import load_digits
    dg = load_digits()
    save(out, "digits", dg.data / 16.0, dg.target)


if __name__ == "__main__":
    main()
