#!/usr/bin/env bash
# Checks to run on a GPU machine: a Release build with CUDA, the CUDA parity
# suite (which must run there, not skip), the whole test suite, then the
# ImageNet-200-scale GPU mining benchmark (bench/knn_gpu.sh) and the vit
# backbone's GPU throughput (bench/vit_bench.c).
# Logs go to $OUT when it is set (the device runner copies that folder back),
# else to the build folder. Exits non-zero if any step fails.
#   tools/gpu_checks.sh            BUILD_DIR and JOBS override the defaults
set -u -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
logs=${OUT:-$build/logs}
jobs=${JOBS:-16}
mkdir -p "$logs" || exit 1

failed=0
summary=()

note() {
    summary+=("$1")
    echo "== $1"
}

# step NAME LOGFILE COMMAND...: runs the command with its output in the log,
# showing the log's tail when it fails.
step() {
    local name=$1 log=$logs/$2
    shift 2
    echo "== $name: $*"
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        note "PASS $name ($((SECONDS - t0))s)"
        return 0
    fi
    tail -n 60 "$log"
    note "FAIL $name ($((SECONDS - t0))s, log: $log)"
    failed=1
    return 1
}

finish() {
    {
        echo "---- gpu_checks summary ----"
        printf '%s\n' "${summary[@]}"
        for f in "$logs/cuda_parity.log" "$logs/all_tests.log"; do
            [ -f "$f" ] && grep -h "Synthesis" "$f" | sed "s|^|$(basename "$f" .log): |"
        done
        [ -f "$logs/knn_gpu.log" ] &&
            grep -h -E "^N=|^  (top|rank|total|spot check)" "$logs/knn_gpu.log" | sed "s|^|knn_gpu: |"
        [ -f "$logs/vit_gpu.log" ] &&
            grep -h -E "^(mode|batch|images_per_s|gflops)=" "$logs/vit_gpu.log" | paste -sd' ' |
            sed "s|^|vit_gpu: |"
        if [ "$failed" = 0 ]; then echo "RESULT: all checks passed"; else echo "RESULT: FAILED"; fi
    } | tee "$logs/summary.txt"
    exit "$failed"
}

# Record the machine; without a visible GPU the parity tests would only skip.
if nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
    >"$logs/gpu.txt" 2>&1; then
    note "GPU: $(head -n 1 "$logs/gpu.txt")"
else
    note "WARN nvidia-smi failed: no GPU visible (see $logs/gpu.txt)"
fi

step configure configure.log cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release || finish
# A build that silently fell back to CPU-only would test nothing here.
if grep -q "CPU-only build" "$logs/configure.log"; then
    note "FAIL configure: nvcc was not found, the build is CPU-only"
    failed=1
    finish
fi
step build build.log cmake --build "$build" -j "$jobs" || finish

tests=$build/tests/unic_tests
# --verbose lists skipped tests, which on a GPU machine mean a broken setup.
step "cuda parity" cuda_parity.log "$tests" --verbose --filter 'cuda*/*'
skipped=$(grep -c '^\[SKIP\]' "$logs/cuda_parity.log")
if [ "$skipped" -gt 0 ]; then
    note "FAIL cuda parity: $skipped tests skipped ($(grep -m 1 '^\[SKIP\]' "$logs/cuda_parity.log"))"
    failed=1
fi
step "all tests" all_tests.log "$tests" --jobs "$jobs"
# Timings and a spot check against a brute force; fails only on a wrong
# answer, a missed target shows in the summary.
step "knn gpu bench" knn_gpu.log env BUILD_DIR="$build" "$root/bench/knn_gpu.sh"
# The vit backbone on the GPU: ViT-B/16 forward (batch 64) and last-block
# step (batch 32), random weights; for bench/RESULTS.md.
vit_ck=$build/vit_b16_random.safetensors
step "vit gpu bench" vit_gpu.log bash -c "'$build/bench/vit_bench' checkpoint '$vit_ck' b16 &&
    '$build/bench/vit_bench' forward '$vit_ck' b16 64 5 cuda &&
    '$build/bench/vit_bench' train '$vit_ck' b16 32 5 cuda"
finish
