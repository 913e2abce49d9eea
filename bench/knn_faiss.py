#!/usr/bin/python3
"""Reference side of bench/knn.sh: faiss IndexFlatL2 (exact) on the same
embeddings, with the same thread count. Prints key=value lines:
faiss_top{K}_s (K+1 neighbours, the anchor included as unic counts it) and
faiss_k{K2}_s for each extra K2 (faiss's way to get a rank-K2 threshold)."""
import sys
import time

import faiss
import numpy as np


def main():
    path, threads, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    extra = [int(v) for v in sys.argv[4:]]
    faiss.omp_set_num_threads(threads)
    x = np.load(path).astype(np.float32)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    t0 = time.perf_counter()
    _, idx = index.search(x, k + 1)
    print(f"faiss_top{k}_s={time.perf_counter() - t0:.3f}")
    print(f"faiss_idx_checksum={int(idx[:, :k].sum())}")
    for k2 in extra:
        t0 = time.perf_counter()
        index.search(x, k2 + 1)
        print(f"faiss_k{k2}_s={time.perf_counter() - t0:.3f}")


if __name__ == "__main__":
    main()
