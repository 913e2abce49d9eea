#!/usr/bin/env bash
# GPU neighbour mining at ImageNet-200 scale: N = 256,000 unit vectors,
# D = 768, clustered (200 classes) and uniform on the sphere; the tau1 = 50
# nearest and the rank-6300 thresholds (tau2) through the miners' entry
# points on the GPU engine, each timed, plus a spot check of 64 rows
# against a brute force in double. Target: both together under 30 s on an
# H100. Needs a CUDA build (tools/gpu_checks.sh builds one and runs this).
#   bench/knn_gpu.sh      BUILD_DIR (default build), N, D, TAU1, TAU2, DATA, CHECK
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
bin=$build/bench/knn_gpu_bench
n=${N:-256000} d=${D:-768} tau1=${TAU1:-50} tau2=${TAU2:-6300}
data=${DATA:-"clustered random"} check=${CHECK:-64}
if [ ! -x "$bin" ]; then
    echo "knn_gpu.sh: $bin is missing; build first (cmake --build $build)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for kind in $data; do
    # the engine's plan and progress lines go to stderr, into the log
    rc=0
    "$bin" "$n" "$d" "$tau1" "$tau2" "$kind" "$check" >"$tmp/out.txt" || rc=$?
    declare -A v=()
    while IFS='=' read -r key val; do v[$key]=$val; done <"$tmp/out.txt"
    if [ -z "${v[total_s]:-}" ]; then
        echo "N=$n D=$d $kind: knn_gpu_bench failed (exit $rc) before timing both passes"
        status=1
        continue
    fi
    verdict=$(awk -v t="${v[total_s]}" 'BEGIN { print (t < 30 ? "met" : "missed") }')
    echo "N=$n D=$d $kind (data generated in ${v[data_s]} s)"
    printf '  top-%-5s %8.2f s\n' "$tau1" "${v[top_s]}"
    printf '  rank %-5s %8.2f s\n' "$tau2" "${v[rank_s]}"
    printf '  total      %8.2f s   (target < 30 s on an H100: %s)\n' "${v[total_s]}" "$verdict"
    if [ "$rc" -ne 0 ] || [ "${v[check_bad]:-1}" != 0 ]; then
        echo "  spot check: ${v[check_bad]:-?} of ${v[check_rows]:-?} rows differ from the brute force"
        status=1
    else
        echo "  spot check: ${v[check_rows]} rows identical to a brute force in double (${v[check_s]} s)"
    fi
    unset v
done
exit "$status"
