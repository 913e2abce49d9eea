#!/usr/bin/env bash
# The vit backbone against PyTorch on the CPU, in one run on the same cores:
# ViT-S/16 and ViT-B/16 forward at batch 8 and 32 (224 x 224, random
# weights), images/s for both and the ratio, unic's GFLOP/s as a share of
# OpenBLAS sgemm's here; the last-block training step (forward through the
# frozen blocks, backward through the last block and an mlp head, Adam) at
# batch 32; and each side's peak resident memory. Targets: forward >= 1.3x
# PyTorch at each batch and >= 85% of sgemm overall, training step >= 1.5x;
# the batch-32 forward within 1.5x of the weights plus the largest layer's
# activations. PyTorch gets OMP_WAIT_POLICY=PASSIVE, which helps it here.
#   bench/vit.sh       THREADS (default 2), REPS (default 3), VARIANTS (default "s16 b16")
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
reps=${REPS:-3}
variants=${VARIANTS:-"s16 b16"}
tools/need-debs python3-torch
tools/bootstrap >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
unic() { build/bench/vit_bench "$@"; }
torch() { /usr/bin/python3 bench/vit_torch.py "$@"; }
get() { sed -n "s/^$1=//p" "$2"; }

unic sgemm >"$tmp/sgemm"
echo "OpenBLAS sgemm here: $(get sgemm_gflops "$tmp/sgemm") GFLOP/s ($threads threads," \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto})"
for v in $variants; do
  unic checkpoint "$tmp/$v.safetensors" "$v"
  for b in 8 32; do
    unic forward "$tmp/$v.safetensors" "$v" "$b" "$reps" >"$tmp/u_fwd_$b"
    torch forward "$v" "$b" "$reps" "$threads" >"$tmp/t_fwd_$b"
  done
  unic train "$tmp/$v.safetensors" "$v" 32 "$reps" >"$tmp/u_train"
  torch train "$v" 32 "$reps" "$threads" >"$tmp/t_train"
  /usr/bin/python3 - "$tmp" "$v" <<'PY'
import sys

tmp, v = sys.argv[1], sys.argv[2]


def read(name):
    return {k: float(x) if x.replace(".", "").isdigit() else x
            for k, _, x in (l.strip().partition("=") for l in open(f"{tmp}/{name}"))}


peak = read("sgemm")["sgemm_gflops"]
dim = {"s16": 384, "b16": 768}[v]
weights_mb = (3 * 256 * dim + dim + 198 * dim + 12 * (12 * dim * dim + 13 * dim) + 2 * dim) * 4 / 2**20
largest_mb = 32 * 197 * 4 * dim * 4 / 2**20  # the MLP's hidden layer at batch 32
for b in (8, 32):
    u, t = read(f"u_fwd_{b}"), read(f"t_fwd_{b}")
    print(f"ViT-{v.upper()} forward batch {b:2d}: unic {u['images_per_s']:6.2f} img/s, PyTorch "
          f"{t['images_per_s']:6.2f} img/s, {u['images_per_s'] / t['images_per_s']:.2f}x "
          f"(target >= 1.3x); unic {u['gflops']:.0f} GFLOP/s = {100 * u['gflops'] / peak:.0f}% "
          f"of sgemm (target >= 85%)")
u, t = read("u_train"), read("t_train")
print(f"ViT-{v.upper()} last-block step batch 32: unic {u['images_per_s']:6.2f} img/s, PyTorch "
      f"{t['images_per_s']:6.2f} img/s, {u['images_per_s'] / t['images_per_s']:.2f}x (target >= 1.5x)")
u, t = read("u_fwd_32"), read("t_fwd_32")
mine, theirs = u["peak_rss_mb"] - u["base_rss_mb"], t["peak_rss_mb"] - t["base_rss_mb"]
budget = 1.5 * (weights_mb + largest_mb)
print(f"ViT-{v.upper()} forward batch 32 memory above the libraries: unic {mine:.0f} MB, PyTorch "
      f"{theirs:.0f} MB; target <= 1.5 x ({weights_mb:.0f} MB weights + {largest_mb:.0f} MB "
      f"largest layer) = {budget:.0f} MB: {'met' if mine <= budget else 'MISSED'} "
      f"(peak RSS unic {u['peak_rss_mb']:.0f} MB, PyTorch {t['peak_rss_mb']:.0f} MB)")
PY
done
