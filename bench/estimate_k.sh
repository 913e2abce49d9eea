#!/usr/bin/env bash
# The number-of-classes estimate: `unic estimate-k` against scikit-learn's
# KMeans used the way GCD's estimate_k script uses it, over the same K range
# and on the same cores, side by side in one run (bench/estimate_k_sklearn.py):
#   fmnist      10,000 Fashion-MNIST test images (784 pixels), clustering,
#               K in 2..30: unic's default (eigengap, mining included)
#               against one KMeans fit per K
#   fmnist-gcd  the first 10,000 training images, old classes 0-4, half of
#               them labeled (experiments/quickstart_gcd.ini), K in 5..30:
#               unic's GCD search against GCD's Brent loop of KMeans fits
#   emb50k      50,000 x 768 synthetic embeddings (bench/estimate_k_data.py,
#               20 classes), clustering, K in 2..40; scikit-learn fits the
#               K of SAMPLE_KS and its loop is extrapolated (FULL=1 fits all)
# unic's time is the whole command from an empty folder: loading, mining
# the neighbours (a run mines them anyway) and the estimate; the estimate
# alone is printed beside it. Targets: >= 5x faster than the KMeans loop,
# fmnist under 60 s.
# With COMPARE=1 it first compares the label-free criteria (eigengap,
# silhouette, calinski) on five data sets with known K.
#   BUILD (default build), THREADS (default 2), CASES (default
#   "fmnist fmnist-gcd emb50k"), SAMPLE_KS (default 10,25,40), FULL, COMPARE
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
threads=${THREADS:-2}
cases=${CASES:-"fmnist fmnist-gcd emb50k"}
tools/need-debs python3-numpy python3-scipy python3-sklearn dataset-fashion-mnist
[ -x "$build/unic" ] || tools/bootstrap >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
FM=/usr/share/datasets/fashion-mnist
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $threads threads"
/usr/bin/python3 bench/estimate_k_data.py "$tmp/data" 50000

# experiment INI: name path labels backbone k_max [extra [data] lines]
experiment() {
  cat >"$tmp/$1.ini" <<EOF
[data]
path = $2
labels = $3
${6:-}
[backbone]
plugin = $4
[head]
classes = auto
classes_max = $5
[miner.positives]
plugin = knn
tau1 = 20
[miner.negatives]
plugin = far
tau2 = 1000
[loss.pos]
[loss.neg]
[loss.entropy]
EOF
}

# runs unic estimate-k on an INI (extra --set args after); prints key=value
unic_side() {
  local ini=$1 out=$2
  shift 2
  local t0 t1
  t0=$(date +%s.%N)
  "$build/unic" estimate-k "$ini" --out "$out" --quiet "$@" >"$out.txt"
  t1=$(date +%s.%N)
  echo "unic_seconds=$(awk "BEGIN { print $t1 - $t0 }")"
  echo "unic_estimate=$(sed -n 's/^estimated K = //p' "$out.txt")"
  echo "unic_estimate_s=$(sed -n 's/.*estimated K = .*, \([0-9.]*\) s).*/\1/p' "$out/log.txt")"
}

report() { # name truth file
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys
name, truth, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
v = {}
for line in open(path):
    k, _, x = line.strip().partition("=")
    if x:
        v[k] = x
u, s = float(v["unic_seconds"]), float(v["sklearn_seconds"])
ext = " (extrapolated from sampled K)" if v.get("sklearn_extrapolated") == "1" else ""
print(f"{name}: true K = {truth}")
print(f"  unic estimate-k     {u:8.2f} s  (the estimate alone {float(v['unic_estimate_s']):.2f} s)  "
      f"estimate K = {v['unic_estimate']}")
est = f"  estimate K = {v['sklearn_estimate']}" if "sklearn_estimate" in v else ""
print(f"  sklearn KMeans loop {s:8.2f} s  ({v['sklearn_fits']} fits){ext}{est}")
print(f"  ratio               {s / u:8.2f}x  (target >= 5x)")
PY
}

if [ "${COMPARE:-0}" = 1 ]; then
  echo
  echo "label-free criteria (K range 2..30, 2..40 for emb20; knn tau1 = 20):"
  experiment cmp_fmnist "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" pixels 30
  for d in mix8 mix15 emb20 digits; do
    kmax=30; [ $d = emb20 ] && kmax=40
    experiment cmp_$d "$tmp/data/$d.npy" "$tmp/data/${d}_labels.npy" features $kmax
  done
  printf "  %-10s %5s %10s %10s %10s\n" data true eigengap silhouette calinski
  for d in mix8:8 mix15:15 emb20:20 digits:10 fmnist:10; do
    name=${d%%:*} truth=${d##*:}
    row=""
    for c in eigengap silhouette calinski; do
      "$build/unic" estimate-k "$tmp/cmp_$name.ini" --out "$tmp/cmp_${name}_$c" --quiet \
        --set head.estimate=$c >"$tmp/c.txt"
      row="$row $(printf '%10s' "$(sed -n 's/^estimated K = //p' "$tmp/c.txt")")"
    done
    printf "  %-10s %5s%s\n" "$name" "$truth" "$row"
  done
fi

for c in $cases; do
  echo
  case $c in
  fmnist)
    experiment fm "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" pixels 30
    unic_side "$tmp/fm.ini" "$tmp/fm" >"$tmp/fm.kv"
    /usr/bin/python3 bench/estimate_k_sklearn.py scan "$FM/t10k-images-idx3-ubyte.gz" \
      "$FM/t10k-labels-idx1-ubyte.gz" 2 30 --idx >>"$tmp/fm.kv"
    report "fmnist clustering (10,000 x 784)" 10 "$tmp/fm.kv"
    ;;
  fmnist-gcd)
    unic_side experiments/quickstart_gcd.ini "$tmp/gcd" --set head.classes=auto \
      --set head.classes_max=30 >"$tmp/gcd.kv"
    /usr/bin/python3 bench/estimate_k_sklearn.py gcd "$FM/train-images-idx3-ubyte.gz" \
      "$FM/train-labels-idx1-ubyte.gz" 5 30 --idx --limit 10000 --old 0-4 \
      --labeled-fraction 0.5 >>"$tmp/gcd.kv"
    report "fmnist GCD, old 0-4 (10,000 x 784)" 10 "$tmp/gcd.kv"
    ;;
  emb50k)
    experiment emb "$tmp/data/emb20_50k.npy" "$tmp/data/emb20_50k_labels.npy" features 40
    unic_side "$tmp/emb.ini" "$tmp/emb" >"$tmp/emb.kv"
    sample=--sample-ks=${SAMPLE_KS:-10,25,40}
    [ "${FULL:-0}" = 1 ] && sample=
    /usr/bin/python3 bench/estimate_k_sklearn.py scan "$tmp/data/emb20_50k.npy" \
      "$tmp/data/emb20_50k_labels.npy" 2 40 $sample >>"$tmp/emb.kv"
    report "emb50k clustering (50,000 x 768)" 20 "$tmp/emb.kv"
    ;;
  esac
done
