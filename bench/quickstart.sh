#!/usr/bin/env bash
# The quickstart's mining and training, unic against a plain PyTorch
# implementation of the same steps (bench/quickstart_torch.py: same data,
# hyperparameters, seed and thread count), in one run. Prints both times,
# the ratios and the accuracy each reaches. Target: unic >= 2x faster with
# equal or better ACC.
#   bench/quickstart.sh            THREADS (default 2), SEEDS (default "0")
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
seeds=${SEEDS:-0}

tools/need-debs python3-torch python3-numpy python3-scipy python3-sklearn
tools/bootstrap >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
for seed in $seeds; do
  build/unic run experiments/quickstart.ini --quiet --out "$tmp/unic$seed" \
    --set train.threads="$threads" --set train.seed="$seed" --set eval.every=0 --set eval.kmeans=false
  /usr/bin/python3 bench/quickstart_torch.py --threads "$threads" --seed "$seed" --no-kmeans \
    --batch 64 --lr 1e-3 \
    --json "$tmp/torch$seed.json" >"$tmp/torch$seed.log"
done

/usr/bin/python3 - "$tmp" "$threads" $seeds <<'PY'
import json, sys
tmp, threads, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"quickstart: Fashion-MNIST t10k pixels, tau1 20, tau2 5000, MLP 784-2048-10, "
      f"20 epochs, batch 64, lr 1e-3, {threads} threads")
print(f"{'seed':>4} {'':8} {'mining s':>9} {'training s':>11} {'total s':>8} "
      f"{'ACC':>7} {'NMI':>7} {'ARI':>7}")
tot_u = tot_t = 0.0
for s in seeds:
    u = json.load(open(f"{tmp}/unic{s}/metrics.json"))
    t = json.load(open(f"{tmp}/torch{s}.json"))
    um, ut = u["seconds"]["mining_s"], u["seconds"]["training_s"]
    tm, tt = t["mining_s"], t["training_s"]
    tot_u += um + ut
    tot_t += tm + tt
    print(f"{s:>4} {'unic':8} {um:9.2f} {ut:11.2f} {um + ut:8.2f} "
          f"{u['unic']['acc']:7.4f} {u['unic']['nmi']:7.4f} {u['unic']['ari']:7.4f}")
    print(f"{s:>4} {'pytorch':8} {tm:9.2f} {tt:11.2f} {tm + tt:8.2f} "
          f"{t['unic_acc']:7.4f} {t['unic_nmi']:7.4f} {t['unic_ari']:7.4f}")
    print(f"{s:>4} {'speedup':8} {tm / um:8.2f}x {tt / ut:10.2f}x {(tm + tt) / (um + ut):7.2f}x")
print(f"overall speedup (pytorch time / unic time): {tot_t / tot_u:.2f}x (target >= 2x)")
PY
