#!/usr/bin/env bash
# Peak memory of the loader per worker thread, over folders of large JPEGs
# (photo-like, quality 90), at 1 and 2 threads. Each figure is the process's
# peak resident memory (VmHWM) over one pass, minus the same pass over
# 500 x 375 copies of the same kind (libraries, batch slots, thread stacks),
# divided by the thread count; `model` is what the README's bound gives for
# that file (decoded pixels x 3 + coefficients when progressive + the file).
#   bench/loader_memory.sh      W, H (default 6000 x 4000), IMAGES (default 8),
#                               LOADER_MEMORY (default build/bench/loader_memory)
set -euo pipefail
cd "$(dirname "$0")/.."
w=${W:-6000}
h=${H:-4000}
n=${IMAGES:-8}
bin=${LOADER_MEMORY:-build/bench/loader_memory}
[ -x "$bin" ] || tools/bootstrap >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# kind, subsampling, pipeline
cases=(
  "baseline 420 resize(256,bicubic) center_crop(224)"
  "progressive 420 resize(256,bicubic) center_crop(224)"
  "baseline 444 random_resized_crop(224)"
  "progressive 444 center_crop(224)"
)
hwm() { "$bin" run "$1" "$2" "$3" | sed -n 's/.*hwm_kb=\([0-9]*\).*/\1/p'; }

mb() { echo "scale=1; $1 / 1000000" | bc; }
echo "loader peak memory: $n JPEGs of $w x $h per folder, batches of 16, JPEGMEM=${JPEGMEM:-1500M (unset: the default)}"
echo "MB = 10^6 bytes; per thread, above the same pass over 500 x 375 files"
printf '%-12s %-4s %-36s %8s %10s %12s %9s\n' kind samp pipeline file_MB "1 thread" "2 thr, each" model
for c in "${cases[@]}"; do
  read -r kind samp pipe1 pipe2 <<<"$c"
  pipe="$pipe1${pipe2:+ $pipe2}"
  big=$tmp/$kind-$samp-big small=$tmp/$kind-$samp-small
  "$bin" make "$big" "$n" "$w" "$h" "$kind" "$samp"
  "$bin" make "$small" "$n" 500 375 "$kind" "$samp"
  file=$(( $(cat "$big"/c0/*.jpg | wc -c) / n ))
  one=$(( ($(hwm "$big" "$pipe" 1) - $(hwm "$small" "$pipe" 1)) * 1024 ))
  two=$(( ($(hwm "$big" "$pipe" 2) - $(hwm "$small" "$pipe" 2)) * 1024 / 2 ))
  # decoded pixels: DCT scaling takes the smallest 1/8 step that still covers 256 x 256
  dec=$(( w * h ))
  case "$pipe" in resize*) for s in 1 2 3 4 5 6 7 8; do
      if [ $(( w * s / 8 )) -ge 256 ] && [ $(( h * s / 8 )) -ge 256 ]; then
        dec=$(( (w * s / 8) * (h * s / 8) )); break
      fi
    done ;;
  esac
  # the README's bound for this file: decoding holds the file, the RGB
  # output and (progressive) every coefficient; random_resized_crop then
  # holds the decoded image and its box (at most as large) at once
  coef=0
  [ "$kind" = progressive ] && coef=$(( w * h * (samp == 444 ? 6 : 3) ))
  decode=$(( file + dec * 3 + coef ))
  transform=$(( dec * 3 * 2 ))
  model=$(( decode > transform ? decode : transform ))
  printf '%-12s %-4s %-36s %8s %10s %12s %9s\n' "$kind" "$samp" "$pipe" "$(mb $file)" \
    "$(mb $one)" "$(mb $two)" "$(mb $model)"
done
