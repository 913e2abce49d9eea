#!/usr/bin/env bash
# The report's size and opening time on a large run: bench/report_bench
# writes a synthetic 200-class, 100,000-item run folder (predictions,
# 100 epochs of history, metrics, a Figure 4 CSV; thumbnails from 4,000
# photo-sized JPEGs in an image folder), `unic report` renders it (best of
# 3), and headless Chromium opens the page from disk (median of 3 loads,
# bench/report_load.py). Targets: under 10 MB, open in under 2 s.
#   bench/report.sh [BUILD_DIR]      (default build/; needs chromium)
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ left in the source tree
cd "$(dirname "$0")/.."
build=${1:-build}
tools/need-debs chromium
cmake --build "$build" --target unic report_bench >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/unic-report-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$build/bench/report_bench" "$tmp"
best=""
for i in 1 2 3; do
  t0=$(date +%s.%N)
  "$build/unic" report "$tmp/run" >/dev/null
  t=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "unic report, run $i: $t s"
  if [[ -z $best ]] || (( $(echo "$t < $best" | bc) )); then best=$t; fi
done
size=$(stat -c %s "$tmp/run/report.html")
echo "page: $size bytes ($(echo "scale=2; $size / 1048576" | bc) MB); unic report best of 3: $best s"
echo "thumbnail budget: $(grep -o 'Figure 12 shows at most [^;.]*' "$tmp/run/report.html" | head -1)"
/usr/bin/python3 bench/report_load.py "$(command -v chromium)" "$tmp/run/report.html" 3
# the same run with the default budget halved and doubled: how the size scales
for thumbs in 1200 4800; do
  "$build/unic" report "$tmp/run" --thumbs $thumbs --out "$tmp/t.html" >/dev/null
  echo "--thumbs $thumbs: $(stat -c %s "$tmp/t.html") bytes"
done
