#!/usr/bin/env bash
# The report pages in a real browser: makes small real runs with the built
# unic (Fashion-MNIST clustering with its neighbour analyses, a GCD run, an
# image-folder run of RGB JPEGs, a grid of 2 settings x 2 seeds), writes
# their pages with `unic report`, and has tests/browser/check.py load each
# one in Debian's headless Chromium over the DevTools protocol: no console
# errors, nothing fetched, values equal to the run's files, the expected
# elements; screenshots of every section.
#
#   tests/browser/run.sh [BUILD_DIR]     (default build/)
#
# Screenshots go to $UNIC_SCREENSHOTS when set (kept), else to a temporary
# folder removed at the end; the folder is printed either way. Exit 0: all
# checks pass; 1: a check failed; 77: skipped (no Chromium, no Debian
# python3, no Fashion-MNIST, or no built unic), said on one SKIP line: a
# caller must count it as skipped, never as passed.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ left in the source tree
cd "$(dirname "$0")/../.."
build=${1:-build}
unic=$PWD/$build/unic
maker=$PWD/$build/tests/make_image_folder
fmnist=/usr/share/datasets/fashion-mnist
skip() { echo "SKIP: $*"; exit 77; }

chromium=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null; then chromium=$(command -v "$c"); break; fi
done
[[ -n $chromium ]] || skip "no Chromium (apt-get install chromium, as tools/bootstrap does)"
python=/usr/bin/python3
[[ -x $python ]] || skip "no /usr/bin/python3 to drive the browser"
[[ -r $fmnist/t10k-images-idx3-ubyte.gz ]] || skip "no Fashion-MNIST (apt-get install dataset-fashion-mnist)"
[[ -x $unic && -x $maker ]] || skip "$unic or $maker is not built (cmake --build $build)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/unic-browser-XXXXXX")
if [[ -n ${UNIC_SCREENSHOTS:-} ]]; then
  shots=$UNIC_SCREENSHOTS
  mkdir -p "$shots"
else
  shots=$tmp/screenshots
  mkdir -p "$shots"
fi
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)

common="[backbone]
plugin = pixels
[head]
plugin = mlp
hidden = 256
[miner.negatives]
plugin = far
tau2 = 400
[loss.pos]
[loss.neg]
[train]
epochs = 4
batch_size = 64
lr = 1e-3
[eval]
every = 1"

# Fashion-MNIST clustering: 1,500 test images, and the neighbour analyses
cat >"$tmp/fmnist.ini" <<EOF
[data]
path = $fmnist/t10k-images-idx3-ubyte.gz
labels = $fmnist/t10k-labels-idx1-ubyte.gz
limit = 1500
$common
[miner.positives]
plugin = knn
tau1 = 10
[loss.entropy]
weight = 3
EOF
# GCD: classes 0-4 old, half of their images labeled
cat >"$tmp/gcd.ini" <<EOF
[data]
path = $fmnist/train-images-idx3-ubyte.gz
labels = $fmnist/train-labels-idx1-ubyte.gz
limit = 1500
old_classes = 0-4
labeled_fraction = 0.5
$common
[miner.labeled_positives]
plugin = labeled_pos
scope = labeled
[miner.positives]
plugin = knn
scope = unlabeled
tau1 = 10
[loss.entropy]
weight = 5
EOF
# an image folder of RGB JPEGs (Fashion-MNIST tinted per class), named by a class list
"$maker" "$fmnist/t10k-images-idx3-ubyte.gz" "$fmnist/t10k-labels-idx1-ubyte.gz" "$tmp/images" 800
cat >"$tmp/folder.ini" <<EOF
[data]
format = imagefolder
path = $tmp/images
split = train
class_list = $tmp/images/classes.txt
transform = resize(32) center_crop(32)
$common
[miner.positives]
plugin = knn
tau1 = 10
[loss.entropy]
weight = 3
EOF
# a grid: two entropy weights x two seeds
cat >"$tmp/grid.ini" <<EOF
[data]
path = $fmnist/t10k-images-idx3-ubyte.gz
labels = $fmnist/t10k-labels-idx1-ubyte.gz
limit = 600
$common
[miner.positives]
plugin = knn
tau1 = 10
[loss.entropy]
weight = 3
[grid]
loss.entropy.weight = 1, 3
train.seed = 0, 1
EOF

names=experiments/splits/fashion_mnist_names.txt
"$unic" run "$tmp/fmnist.ini" --quiet --out "$tmp/fmnist" >/dev/null
"$unic" neighbors "$tmp/fmnist" --tau1 10,20 --quiet >/dev/null
"$unic" report "$tmp/fmnist" --class-names $names >/dev/null
"$unic" run "$tmp/gcd.ini" --quiet --out "$tmp/gcd" >/dev/null
"$unic" report "$tmp/gcd" --class-names $names >/dev/null
"$unic" run "$tmp/folder.ini" --quiet --out "$tmp/folder" >/dev/null
"$unic" report "$tmp/folder" >/dev/null
"$unic" run "$tmp/grid.ini" --quiet --jobs 2 --out "$tmp/grid" >/dev/null
"$unic" report "$tmp/grid" --class-names $names >/dev/null
echo "runs and reports made in $(( $(date +%s) - t0 )) s"

rc=0
# Chromium's own temporaries (profile, sockets) stay inside $tmp too
TMPDIR=$tmp "$python" tests/browser/check.py "$chromium" "$shots" "$unic" \
  run fmnist "$tmp/fmnist" run gcd "$tmp/gcd" run folder "$tmp/folder" grid grid "$tmp/grid" || rc=$?
if [[ -n ${UNIC_SCREENSHOTS:-} ]]; then
  echo "screenshots: $shots"
else
  echo "screenshots: $shots (removed at exit; set UNIC_SCREENSHOTS=DIR to keep them)"
fi
echo "tests/browser/run.sh: $([[ $rc == 0 ]] && echo passed || echo FAILED) in $(( $(date +%s) - t0 )) s"
exit $rc
