#!/usr/bin/python3
"""PyTorch's side of bench/vit.sh: the same ViT (timm's architecture, written
in plain torch.nn since timm is not packaged), random weights, 224 x 224.

    vit_torch.py forward VARIANT BATCH REPS THREADS
    vit_torch.py train VARIANT BATCH REPS THREADS   last block + mlp head + Adam

Prints key=value lines like build/bench/vit_bench. The forward runs under
torch.inference_mode(); training freezes every block but the last (so autograd
keeps no activations before it), as GCD's and UNIC's code do."""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = {"s16": (384, 12, 6), "b16": (768, 12, 12)}


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        # PyTorch 1.13's fused attention kernel, as timm uses when it exists
        att = F.scaled_dot_product_attention(q, k, v) if hasattr(F, "scaled_dot_product_attention") \
            else ((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(-1) @ v
        x = x + self.proj(att.transpose(1, 2).reshape(b, n, c))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, dim, depth, heads):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 16, 16)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 197, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls.expand(x.shape[0], -1, -1), x), 1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.norm(x)[:, 0]


def rss_now_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1048576


def main():
    base_rss = rss_now_mb()
    mode, variant, batch, reps, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dim, depth, heads = VARIANTS[variant]
    model = ViT(dim, depth, heads)
    images = torch.rand(batch, 3, 224, 224) * 4 - 2
    best = float("inf")
    if mode == "forward":
        model.eval()
        with torch.inference_mode():
            for r in range(reps + 1):
                t0 = time.perf_counter()
                model(images)
                if r:
                    best = min(best, time.perf_counter() - t0)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        trained = list(model.blocks[-1].parameters()) + list(model.norm.parameters())
        for p in trained:
            p.requires_grad_(True)
        head = nn.Sequential(nn.Linear(dim, 2048), nn.GELU(), nn.Linear(2048, 200))
        opt = torch.optim.Adam(trained + list(head.parameters()), lr=1e-6)
        for r in range(reps + 1):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=False)
            logits = head(model(images))
            logits.backward(logits.detach())  # the same stand-in gradient as vit_bench
            opt.step()
            if r:
                best = min(best, time.perf_counter() - t0)
    print(f"variant={variant}\nmode={mode}\nbatch={batch}\nimages_per_s={batch / best:.2f}")
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    print(f"base_rss_mb={base_rss:.0f}")


main()
