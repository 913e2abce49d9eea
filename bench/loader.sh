#!/usr/bin/env bash
# Decoding + test transform (resize 256 bicubic, center crop 224) of a folder
# of real-sized JPEGs: unic's loader against a PIL + torchvision-style
# pipeline in a pool of worker processes, on the same cores, in one run.
# Target: unic >= 2x PIL's throughput.
#   bench/loader.sh          THREADS (default 2), IMAGES (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
images=${IMAGES:-300}
tools/need-debs python3-pil python3-numpy
tools/bootstrap >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/make_photos.py "$tmp/photos" "$images"
pipeline="resize(256, bicubic) center_crop(224)"
u=$(build/bench/loader_bench "$tmp/photos" "$pipeline" "$threads" 3 | sed -n 's/unic_images_per_s=//p')
p=$(/usr/bin/python3 bench/loader_pil.py "$tmp/photos" "$threads" 3 | sed -n 's/pil_images_per_s=//p')
echo "loader: $images JPEGs 500x375, $pipeline, $threads threads"
printf "unic %8.1f images/s\nPIL  %8.1f images/s\nratio %.2fx (target >= 2x)\n" "$u" "$p" \
  "$(echo "$u / $p" | bc -l)"
