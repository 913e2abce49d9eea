#!/usr/bin/python3
"""Plain-PyTorch reference for UNIC's head-only method on Fashion-MNIST pixels.

Why this exists
    unic is written in C. This script is a separate, deliberately ordinary
    PyTorch implementation of the same head-only recipe (paper sections
    3.2-3.4, conventions in shared/reference-notes.md). It serves two purposes:
      1. the speed reference: the bench compares unic's mining and training
         wall times with this script's, run with the same number of threads;
      2. the accuracy reference: what ACC/NMI/ARI the method reaches on
         raw pixels, next to a k-means baseline on the same pixels.

Method (every item is a flag; defaults shown by --help)
    x = pixels / 255 as 784 floats, all 10,000 Fashion-MNIST test images
    (labels only for evaluation). Mining: Euclidean distances, computed in row
    blocks; positives of anchor i = its tau1 nearest points with i itself
    forced to rank 0; negatives = the points ranked tau2 .. N-1. Head:
    Linear(784, 2048) -> GELU (erf) -> Linear(2048, 10) -> softmax. Each epoch
    shuffles the anchors into batches of 128 (last partial batch kept) and
    draws one positive and one negative per anchor uniformly. Loss =
    w_pos * mean(-log <p_a, p_p>) + w_neg * mean(-log(1 - <p_a, p_n>))
    - w_ent * H(mean_batch p_a), clamps at 1e-8. Adam, cosine annealing per
    epoch. Evaluation: Hungarian ACC, NMI, ARI of argmax predictions.

How the bench uses it
    Always run with Debian's interpreter (it has torch):
        OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/quickstart_torch.py \
            --threads 2 [--json out.json]
    The bench parses the key=value lines on stdout:
        default_threads=, threads=, blas_threads=, mining_s=, training_s=,
        kmeans_s=,
        unic_acc= unic_nmi= unic_ari=, kmeans_acc= kmeans_nmi= kmeans_ari=
    Lines starting with '#' are informational only. Threads: Debian's torch
    1.13 defaults to hardware_concurrency()/2 intra-op threads (1 on a
    2-CPU machine), and its GEMMs run in OpenBLAS, which torch.set_num_threads
    does not control; --threads sets both (OpenBLAS through threadpoolctl).
    --json FILE writes the same numbers (plus the arguments) as one JSON
    object.
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--images", default=f"{DATA_DIR}/t10k-images-idx3-ubyte.gz")
    p.add_argument("--labels", default=f"{DATA_DIR}/t10k-labels-idx1-ubyte.gz")
    p.add_argument("--n", type=int, default=0,
                   help="use only the first N images (0 = all)")
    p.add_argument("--tau1", type=int, default=20,
                   help="positives: this many nearest points, self included")
    p.add_argument("--tau2", type=int, default=5000,
                   help="negatives: points ranked tau2 .. N-1")
    p.add_argument("--block", type=int, default=1000,
                   help="rows of the distance matrix computed at a time")
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--k", type=int, default=10, help="number of clusters")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=128, help="anchors per batch")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--w-pos", type=float, default=1.0)
    p.add_argument("--w-neg", type=float, default=1.0)
    p.add_argument("--w-ent", type=float, default=3.0)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads (also caps k-means)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="BLAS (OpenBLAS) threads, set through threadpoolctl; "
                        "default: same as --threads; 0 = library default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-kmeans", action="store_true",
                   help="skip the k-means baseline")
    p.add_argument("--kmeans-n-init", type=int, default=10)
    p.add_argument("--kmeans-seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="also write results here")
    return p.parse_args(argv)


# ----------------------------------------------------------------- data

def read_idx(path):
    """Read a gzip IDX file (the MNIST format) into a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = raw[0] << 8 | raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path}: not a ubyte IDX file")
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(tuple(int(d) for d in dims))


# ----------------------------------------------------------------- mining

@torch.no_grad()
def mine(x, tau1, tau2, block):
    """Return (pos [N, tau1], neg [N, N - tau2]) index tensors.

    Row i of the sorted order Q(x_i) is computed block by block from
    ||a||^2 + ||b||^2 - 2 a.b (squared distances rank like distances);
    the anchor's own entry is set to -inf so it is always rank 0.
    """
    n = x.shape[0]
    if not 0 < tau1 < tau2 < n:
        raise ValueError(f"need 0 < tau1 ({tau1}) < tau2 ({tau2}) < N ({n})")
    idx_dtype = torch.int16 if n <= 32767 else torch.int32
    sq = (x * x).sum(1)
    pos = torch.empty(n, tau1, dtype=torch.int64)
    neg = torch.empty(n, n - tau2, dtype=idx_dtype)
    for s in range(0, n, block):
        e = min(s + block, n)
        d = torch.addmm(sq[s:e, None] + sq[None, :], x[s:e], x.T,
                        beta=1.0, alpha=-2.0)
        rows = torch.arange(e - s)
        d[rows, rows + s] = float("-inf")  # self first (note the + s)
        order = torch.argsort(d, dim=1)
        pos[s:e] = order[:, :tau1]
        neg[s:e] = order[:, tau2:].to(idx_dtype)
    return pos, neg


# ----------------------------------------------------------------- model/loss

def make_head(dim, hidden, k):
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(),
                         nn.Linear(hidden, k))


def unic_loss(p_a, p_p, p_n, w_pos, w_neg, w_ent, eps):
    sim_pos = (p_a * p_p).sum(1)
    sim_neg = (p_a * p_n).sum(1)
    l_pos = -torch.log(sim_pos.clamp(min=eps)).mean()
    l_neg = -torch.log((1.0 - sim_neg).clamp(min=eps)).mean()
    q = p_a.mean(0)
    ent = -(q * torch.log(q.clamp(min=eps))).sum()
    loss = w_pos * l_pos + w_neg * l_neg - w_ent * ent
    return loss, l_pos, l_neg, ent


def train(x, pos, neg, args, gen):
    n, dim = x.shape
    head = make_head(dim, args.hidden, args.k)
    opt = torch.optim.Adam(head.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=args.epochs, eta_min=0.0)
    n_pos, n_neg = pos.shape[1], neg.shape[1]
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        tot = [0.0, 0.0, 0.0, 0.0]
        nb = 0
        for s in range(0, n, args.batch):
            a = perm[s:s + args.batch]
            b = a.numel()
            p = pos[a, torch.randint(n_pos, (b,), generator=gen)]
            q = neg[a, torch.randint(n_neg, (b,), generator=gen)].long()
            probs = F.softmax(head(x[torch.cat([a, p, q])]), dim=1)
            loss, l_pos, l_neg, ent = unic_loss(
                probs[:b], probs[b:2 * b], probs[2 * b:],
                args.w_pos, args.w_neg, args.w_ent, args.eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for i, v in enumerate((loss, l_pos, l_neg, ent)):
                tot[i] += v.item()
            nb += 1
        sched.step()
        print(f"# epoch {epoch + 1:3d} loss {tot[0] / nb:.4f} "
              f"pos {tot[1] / nb:.4f} neg {tot[2] / nb:.4f} "
              f"ent {tot[3] / nb:.4f}", flush=True)
    return head


# ----------------------------------------------------------------- metrics

def cluster_metrics(y_true, y_pred):
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import (adjusted_rand_score,
                                 normalized_mutual_info_score)
    k = int(max(y_true.max(), y_pred.max())) + 1
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(counts, maximize=True)
    acc = counts[r, c].sum() / y_true.size
    return (float(acc), float(normalized_mutual_info_score(y_true, y_pred)),
            float(adjusted_rand_score(y_true, y_pred)))


# ----------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    res = {"args": vars(args)}

    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    res["default_threads"] = default_threads
    res["threads"] = torch.get_num_threads()
    print(f"default_threads={default_threads}")
    print(f"threads={res['threads']}")

    # Debian's torch does its float32 GEMMs in OpenBLAS (pthread build), which
    # ignores torch.set_num_threads and runs as many threads as CPUs unless
    # told otherwise; cap it too so that --threads means what it says.
    blas_threads = args.threads if args.blas_threads is None \
        else args.blas_threads
    try:
        import threadpoolctl
        if blas_threads > 0:
            # kept for the whole run (not used as a context manager)
            threadpoolctl.threadpool_limits(limits=blas_threads,
                                            user_api="blas")
        pools = threadpoolctl.threadpool_info()
    except ImportError:
        pools = []
    blas = [pl for pl in pools if pl["user_api"] == "blas"]
    res["blas_threads"] = blas[0]["num_threads"] if blas else None
    print(f"blas_threads={res['blas_threads']}")
    for pl in pools:
        print(f"# threadpool {pl['user_api']}/{pl['internal_api']} "
              f"num_threads {pl['num_threads']} {pl['filepath']}")
    print(f"# torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    for line in torch.__config__.parallel_info().strip().splitlines():
        if line.strip() and not line.startswith("-"):
            print(f"# {line.strip()}")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    images = read_idx(args.images)
    labels = read_idx(args.labels).astype(np.int64)
    if args.n:
        images, labels = images[:args.n], labels[:args.n]
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32)
                         / 255.0)
    print(f"# data {tuple(x.shape)}, {len(np.unique(labels))} classes")

    t0 = time.perf_counter()
    pos, neg = mine(x, args.tau1, args.tau2, args.block)
    res["mining_s"] = time.perf_counter() - t0
    pos_purity = float((labels[pos[:, 1:].numpy()] == labels[:, None]).mean())
    neg_sample = neg[:, ::max(1, neg.shape[1] // 100)].long().numpy()
    neg_purity = float((labels[neg_sample] != labels[:, None]).mean())
    res["pos_purity"], res["neg_purity"] = pos_purity, neg_purity
    print(f"mining_s={res['mining_s']:.3f}")
    print(f"# positives same class {pos_purity:.4f} (self excluded), "
          f"negatives other class {neg_purity:.4f} (sampled)")

    t0 = time.perf_counter()
    head = train(x, pos, neg, args, gen)
    res["training_s"] = time.perf_counter() - t0
    print(f"training_s={res['training_s']:.3f}")

    with torch.no_grad():
        pred = head(x).argmax(1).numpy()
    acc, nmi, ari = cluster_metrics(labels, pred)
    res.update(unic_acc=acc, unic_nmi=nmi, unic_ari=ari,
               unic_clusters_used=int(np.unique(pred).size))
    print(f"unic_acc={acc:.4f} unic_nmi={nmi:.4f} unic_ari={ari:.4f}")
    print(f"# clusters used {res['unic_clusters_used']} of {args.k}, sizes "
          f"{np.bincount(pred, minlength=args.k).tolist()}")

    if not args.no_kmeans:
        from sklearn.cluster import KMeans
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover
            threadpool_limits = None
        t0 = time.perf_counter()
        km = KMeans(n_clusters=args.k, init="k-means++",
                    n_init=args.kmeans_n_init, random_state=args.kmeans_seed)
        if threadpool_limits is not None:
            with threadpool_limits(limits=args.threads):
                km_pred = km.fit_predict(x.numpy())
        else:
            km_pred = km.fit_predict(x.numpy())
        res["kmeans_s"] = time.perf_counter() - t0
        acc, nmi, ari = cluster_metrics(labels, km_pred)
        res.update(kmeans_acc=acc, kmeans_nmi=nmi, kmeans_ari=ari)
        print(f"kmeans_s={res['kmeans_s']:.3f}")
        print(f"kmeans_acc={acc:.4f} kmeans_nmi={nmi:.4f} "
              f"kmeans_ari={ari:.4f}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
