#!/usr/bin/env bash
# The grid engine's own cost and its parallel speed-up, in one run, on a
# 12-point grid of short real runs (Fashion-MNIST pixels, 2,000 images, 3
# epochs; entropy weight 0, 1, 3, 5 x seeds 0, 1, 2):
#  1. overhead: `unic run GRID --jobs 1` then `unic table`, against the
#     points' own processes (each point's wall time as the grid measured it:
#     exec, plugins, validation, data, mining, training, outputs). What is
#     left is the grid's scheduling, folder bookkeeping and table building.
#     Target: under 2% of the points' time.
#  2. speed-up: the same grid with one thread per point, --jobs 1 against
#     --jobs 2 (a fresh folder each, the mining cache warm for both).
# Also checks that --jobs 2 prints exactly the table --jobs 1 prints.
#   bench/grid.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/unic-bench-grid.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=PASSIVE

cat >"$tmp/grid.ini" <<'INI'
[data]
path = /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
labels = /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
limit = 2000
[backbone]
plugin = pixels
[head]
plugin = mlp
[miner.positives]
plugin = knn
tau1 = 20
[miner.negatives]
plugin = far
tau2 = 1000
[loss.pos]
[loss.neg]
[loss.entropy]
[train]
epochs = 3
batch_size = 64
lr = 1e-3
[eval]
every = 0
[grid]
loss.entropy.weight = 0, 1, 3, 5
train.seed = 0, 1, 2
INI

now() { date +%s.%N; }
# the mining cache warmed once, so every measured grid mines the same way
build/unic run "$tmp/grid.ini" --out "$tmp/warm" --quiet --set train.epochs=1 >/dev/null
mkdir -p "$tmp/overhead" && cp -r "$tmp/warm/cache" "$tmp/overhead/"

t0=$(now)
build/unic run "$tmp/grid.ini" --out "$tmp/overhead" --jobs 1 2>"$tmp/overhead.log" >/dev/null
build/unic table "$tmp/overhead" >"$tmp/table1.md"
t1=$(now)

for jobs in 1 2; do
  mkdir -p "$tmp/jobs$jobs" && cp -r "$tmp/warm/cache" "$tmp/jobs$jobs/"
  s=$(now)
  build/unic run "$tmp/grid.ini" --out "$tmp/jobs$jobs" --jobs "$jobs" --threads "$jobs" --quiet >/dev/null
  e=$(now)
  echo "$s $e" >"$tmp/jobs$jobs.time"
  build/unic table "$tmp/jobs$jobs" --format csv --digits 6 >"$tmp/jobs$jobs.csv"
done

/usr/bin/python3 - "$tmp" "$t0" "$t1" <<'PY'
import json, re, sys, glob, os
tmp, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
points = [float(m.group(1)) for m in re.finditer(r"grid \d+/\d+ done\s+\S+ .*?\(([\d.]+) s", open(f"{tmp}/overhead.log").read())]
inside = []
for f in glob.glob(f"{tmp}/overhead/points/*/state.json"):
    s = json.load(open(f))
    inside.append(s["finished"] - s["started"])
total, wall = sum(points), t1 - t0
print(f"grid of {len(points)} points, --jobs 1, 2 threads (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})")
print(f"  grid command + unic table: {wall:.2f} s; the points' processes: {total:.2f} s "
      f"(of which inside unic_run: {sum(inside):.2f} s)")
over = wall - total
print(f"  grid overhead: {over:.3f} s in all, {over / len(points) * 1000:.1f} ms per point, "
      f"{100 * over / total:.2f}% of the points' time (target < 2%)")
print(f"  per-point process start (exec, plugins, validation; a single `unic run` pays it too): "
      f"{(total - sum(inside)) / len(points) * 1000:.0f} ms")
t = {}
for jobs in (1, 2):
    s, e = map(float, open(f"{tmp}/jobs{jobs}.time").read().split())
    t[jobs] = e - s
print(f"one thread per point: --jobs 1 {t[1]:.2f} s, --jobs 2 {t[2]:.2f} s, speed-up {t[1] / t[2]:.2f}x")
same = open(f"{tmp}/jobs1.csv").read() == open(f"{tmp}/jobs2.csv").read()
print(f"--jobs 2 table identical to --jobs 1: {'yes' if same else 'NO'}")
PY
