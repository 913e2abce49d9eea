#!/usr/bin/env bash
# Checks to run on a GPU machine, in one call: unpack the device kit (Debian's
# -dev packages, tools/device-kit) when the machine lacks them, a Release
# build with CUDA for Hopper (sm_90 machine code plus PTX), the CUDA parity
# suite (which must run there, not skip), the whole test suite, then the
# ImageNet-200-scale GPU mining benchmark (bench/knn_gpu.sh) and the vit
# backbone's GPU throughput (bench/vit_bench.c).
# Logs go to $OUT when it is set (the device runner copies that folder back),
# else to the build folder; $OUT/summary.txt has one line per step with its
# time. Exits non-zero if any step fails. Each step has a time limit, and the
# whole run stops starting new steps when BUDGET_S (470 s) is spent.
#   tools/gpu_checks.sh     BUILD_DIR (build-gpu), JOBS (nproc), CUDA_ARCHS
#                           ("90-real;90-virtual"), UNIC_KIT_PREFIX
#                           (/tmp/unic-device-kit), UNIC_KIT=none (use the
#                           system's packages), CUDNN_ROOT (else python3's
#                           nvidia-cudnn wheel, else beside the toolkit), BUDGET_S
# Device call: carry [".device-kit"], command "tools/gpu_checks.sh", timeout_s 540.
# UNIC_GPU_CHECKS_REHEARSAL=1 (set by tools/device-kit rehearse, on a machine
# without a GPU) accepts skipped parity tests and leaves the benchmarks out.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
logs=${OUT:-$build/logs}
jobs=${JOBS:-$(nproc)}
archs=${CUDA_ARCHS:-90-real;90-virtual}
prefix=${UNIC_KIT_PREFIX:-/tmp/unic-device-kit}
budget=${BUDGET_S:-470}
scale=${LIMIT_SCALE:-1} # multiplies every step's time limit (slower machines)
rehearsal=${UNIC_GPU_CHECKS_REHEARSAL:-0}
mkdir -p "$logs" "$build"
logs=$(cd "$logs" && pwd)

start=$SECONDS
failed=0
summary=()
summarised=0

note() {
    summary+=("$1")
    echo "== $1"
}

# step NAME LOGFILE LIMIT_S COMMAND...: runs the command with its output in
# the log and at most LIMIT_S seconds (less if the budget is nearly spent),
# showing the log's tail when it fails.
step() {
    local name=$1 log=$logs/$2 limit=$(($3 * scale))
    shift 3
    local left=$((budget - (SECONDS - start)))
    ((limit < left)) || limit=$left
    if ((limit < 10)); then
        note "SKIP $name (the ${budget}s budget is spent)"
        failed=1
        return 1
    fi
    echo "== $name: $* (limit ${limit}s)"
    local t0=$SECONDS rc=0
    if declare -F "$1" >/dev/null; then # a quick check written here: no time limit
        "$@" >"$log" 2>&1 || rc=$?
    else
        timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 || rc=$?
    fi
    if [ "$rc" = 0 ]; then
        note "PASS $name ($((SECONDS - t0))s)"
        return 0
    fi
    tail -n 60 "$log"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        note "FAIL $name (timed out after ${limit}s, log: $log)"
    else
        note "FAIL $name (exit $rc, $((SECONDS - t0))s, log: $log)"
    fi
    failed=1
    return 1
}

write_summary() {
    summarised=1
    {
        echo "---- gpu_checks summary ($((SECONDS - start))s in all) ----"
        printf '%s\n' "${summary[@]}"
        for f in "$logs/cuda_parity.log" "$logs/all_tests.log"; do
            [ -f "$f" ] && grep -h "Synthesis" "$f" | sed "s|^|$(basename "$f" .log): |"
        done
        if [ -f "$logs/knn_gpu.log" ]; then
            grep -h -E "^N=|^  (top|rank|total|spot check)" "$logs/knn_gpu.log" | sed "s|^|knn_gpu: |"
        fi
        if [ -f "$logs/vit_gpu.log" ]; then
            grep -h -E "^(mode|batch|images_per_s|gflops)=" "$logs/vit_gpu.log" | paste -sd' ' |
                sed "s|^|vit_gpu: |"
        fi
        if [ "$failed" = 0 ]; then echo "RESULT: all checks passed"; else echo "RESULT: FAILED"; fi
    } | tee "$logs/summary.txt"
}

finish() {
    write_summary
    exit "$failed"
}
# Anything that dies outside a step still leaves a summary.
trap 'rc=$?; if [ "$summarised" = 0 ]; then note "FAIL unexpected exit $rc near line $LINENO"; failed=1; write_summary; fi' EXIT

# ---- the machine -----------------------------------------------------------------
{
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm), $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}"), $(nproc) cores"
    echo "glibc: $(getconf GNU_LIBC_VERSION 2>/dev/null || echo ?)"
    echo "gcc: $(gcc --version 2>/dev/null | head -n 1 || echo missing)"
    echo "cmake: $(cmake --version 2>/dev/null | head -n 1 || echo missing)"
    echo "ninja: $(ninja --version 2>/dev/null || echo missing)"
    echo "nvcc: $({ /usr/local/cuda/bin/nvcc --version 2>/dev/null || nvcc --version 2>/dev/null; } | tail -n 2 | paste -sd' ' || echo missing)"
    echo "python3: $(python3 --version 2>&1 || echo missing)"
} >"$logs/machine.txt" 2>&1 || true
# Without a visible GPU the parity tests would only skip.
if nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader \
    >"$logs/gpu.txt" 2>&1 ||
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$logs/gpu.txt" 2>&1; then
    note "GPU: $(head -n 1 "$logs/gpu.txt")"
else
    note "WARN nvidia-smi failed: no GPU visible (see $logs/gpu.txt)"
fi
[ "$rehearsal" = 1 ] && note "REHEARSAL: no GPU expected; parity skips accepted, benchmarks left out"

# ---- dependencies: the kit, cuDNN --------------------------------------------------
kit_used=0
cmake_kit=()
if [ "${UNIC_KIT:-}" != none ] && [ -d "$root/.device-kit/debs" ]; then
    step "kit unpack" kit.log 60 "$root/tools/device-kit" unpack "$prefix" || finish
    # shellcheck source=/dev/null
    . "$prefix/env.sh"
    kit_used=1
    cmake_kit=(-DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" -DCMAKE_SHARED_LINKER_FLAGS="$LDFLAGS"
               -DCMAKE_MODULE_LINKER_FLAGS="$LDFLAGS")
    note "kit: $(find "$root/.device-kit/debs" -name '*.deb' | wc -l) packages unpacked under $UNIC_KIT_PREFIX"
else
    note "kit: not used (UNIC_KIT=${UNIC_KIT:-} or no .device-kit/): the system's packages"
fi
if [ -z "${CUDNN_ROOT:-}" ]; then
    # the wheel of python3 on PATH, else of a usual Python install
    wheel=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
    if [ -z "$wheel" ] || [ ! -d "$wheel/lib" ]; then
        wheel=$(ls -d /usr/local/lib/python3*/*-packages/nvidia/cudnn /usr/lib/python3*/*-packages/nvidia/cudnn \
            /opt/*/lib/python3*/site-packages/nvidia/cudnn /opt/*/*/lib/python3*/site-packages/nvidia/cudnn \
            /root/.local/lib/python3*/site-packages/nvidia/cudnn 2>/dev/null | head -n 1 || true)
    fi
    if [ -n "$wheel" ] && [ -e "$wheel/lib/libcudnn.so.9" ]; then
        export CUDNN_ROOT=$wheel
    fi
fi
note "cuDNN: ${CUDNN_ROOT:-not set, CMake looks beside the toolkit}"

# What the built programs run with: the kit's libraries and the wheel's cuDNN
# (its libcudnn.so.9 loads its siblings by name).
run_ld=${UNIC_KIT_LD_LIBRARY_PATH:-}
[ -n "${CUDNN_ROOT:-}" ] && run_ld=$CUDNN_ROOT/lib${run_ld:+:$run_ld}
run_ld=$run_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
run=(env "LD_LIBRARY_PATH=$run_ld")

# ---- build ---------------------------------------------------------------------------
gen=()
if [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null; then gen=(-G Ninja); fi
step configure configure.log 120 cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DUNIC_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$archs" ${CUDNN_ROOT:+"-DCUDNN_ROOT=$CUDNN_ROOT"} \
    "${cmake_kit[@]}" || finish
# A build that silently fell back to CPU-only would test nothing here.
if grep -q "CPU-only build" "$logs/configure.log"; then
    note "FAIL configure: nvcc was not found, the build is CPU-only"
    failed=1
    finish
fi
# Where every dependency was found; with the kit, all must be inside it.
deps_check() {
    local vars="OPENBLAS_LIB CBLAS_INCLUDE INIPARSER_LIB INIPARSER_INCLUDE CJSON_LIB CJSON_INCLUDE
                TURBOJPEG_LIB TURBOJPEG_INCLUDE ZLIB_LIBRARY_RELEASE ZLIB_INCLUDE_DIR CRITERION_LIB"
    local v line bad=0
    for v in $vars CUDNN_LIB CUDNN_INCLUDE CMAKE_CUDA_ARCHITECTURES; do
        line=$(grep -m 1 "^$v:" "$build/CMakeCache.txt" || true)
        echo "${line:-$v: (not in the cache)}"
        if [ "$kit_used" = 1 ] && [ -n "$line" ] && [[ " $vars " == *" $v "* ]] &&
            [[ $line != *"=$UNIC_KIT_PREFIX/"* ]]; then
            echo "  ^ not from the kit ($UNIC_KIT_PREFIX)"
            bad=1
        fi
    done
    grep -E "OpenBLAS:|CUDA .*building" "$logs/configure.log" | sed 's/^/configure: /'
    return "$bad"
}
step "dependencies" deps.log 10 deps_check || true
step build build.log 330 cmake --build "$build" -j "$jobs" || finish

# sm_90 machine code and PTX for every architecture asked for.
archs_check() {
    local a n bad=0 listing
    listing=$("$root/tools/device-kit" archs "$build/libunic_core.a") || { echo "$listing"; return 1; }
    echo "$listing"
    for a in ${archs//;/ }; do
        n=${a%%-*}
        if [[ $a != *-virtual ]] && ! grep -Eq "ELF.*sm_$n([^0-9]|$)" <<<"$listing"; then
            echo "MISSING: sm_$n machine code"; bad=1
        fi
        if [[ $a != *-real ]] && ! grep -Eq "PTX.*(sm|compute)_$n([^0-9]|$)" <<<"$listing"; then
            echo "MISSING: compute_$n PTX"; bad=1
        fi
    done
    return "$bad"
}
step "cuda archs ($archs)" archs.log 60 archs_check || true

# Which library each program loads (none may be missing).
ldd_check() {
    local f bad=0
    for f in "$build/unic" "$build/tests/unic_tests"; do
        echo "# ldd $f"
        "${run[@]}" ldd "$f" || bad=1
    done >"$logs/ldd.txt" 2>&1
    if grep -q "not found" "$logs/ldd.txt"; then grep "not found" "$logs/ldd.txt"; bad=1; fi
    grep -E "lib(iniparser|cjson|turbojpeg|openblas|criterion|gfortran|nanomsg|git2|z)\.so|cudnn|cublas\.|cudart" \
        "$logs/ldd.txt" | sort -u
    if [ "$kit_used" = 1 ]; then
        if grep -E "lib(iniparser|cjson|turbojpeg|openblas|criterion|gfortran|nanomsg|git2)\.so" "$logs/ldd.txt" |
            grep -v "=> $UNIC_KIT_PREFIX/"; then
            echo "^ loaded from outside the kit"; bad=1
        fi
    fi
    return "$bad"
}
step "libraries (ldd)" ldd.log 30 ldd_check || true

# ---- tests ---------------------------------------------------------------------------
tests=$build/tests/unic_tests
# --verbose lists skipped tests, which on a GPU machine mean a broken setup.
step "cuda parity" cuda_parity.log 150 "${run[@]}" "$tests" --verbose --filter 'cuda*/*' || true
if [ -f "$logs/cuda_parity.log" ]; then
    # --verbose also lists every filtered-out test as "[SKIP] ...: Test is
    # disabled": only the cuda suites' own skips count.
    tested=$(grep -c '^\[RUN \] cuda' "$logs/cuda_parity.log" || true)
    skipped=$(grep '^\[SKIP\] cuda' "$logs/cuda_parity.log" | grep -vc 'Test is disabled' || true)
    if [ "${tested:-0}" = 0 ]; then
        note "FAIL cuda parity: no test ran (filter 'cuda*/*')"
        failed=1
    elif [ "$skipped" -gt 0 ] && [ "$rehearsal" = 1 ]; then
        note "REHEARSAL cuda parity: $tested tests, $skipped skipped as expected without a GPU"
    elif [ "$skipped" -gt 0 ]; then
        note "FAIL cuda parity: $skipped of $tested tests skipped ($(grep '^\[SKIP\] cuda' "$logs/cuda_parity.log" |
            grep -v -m 1 'Test is disabled'))"
        failed=1
    fi
fi
# The Fashion-MNIST tests read /usr/share/datasets/fashion-mnist: the kit's copy
# is shown there in a private mount namespace when the machine has none.
with_data=()
[ "$kit_used" = 1 ] && with_data=("$root/tools/device-kit" with-data "$prefix")
# JOBS test processes each run an OpenMP pool as wide as the machine: idle
# threads sleep instead of spinning.
step "all tests" all_tests.log 300 "${with_data[@]}" "${run[@]}" OMP_WAIT_POLICY=PASSIVE \
    "$tests" --jobs "$jobs" --verbose || true
if [ -f "$logs/all_tests.log" ]; then
    skipped=$(grep -c '^\[SKIP\]' "$logs/all_tests.log" || true)
    [ "$skipped" = 0 ] || note "all tests: $skipped skipped, in suites: $(grep '^\[SKIP\]' "$logs/all_tests.log" |
        sed 's/^\[SKIP\] *//; s/::.*//' | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')"
fi

# ---- benchmarks ----------------------------------------------------------------------
if [ "$rehearsal" = 1 ]; then
    note "SKIP knn gpu bench, vit gpu bench (rehearsal: they need a GPU)"
    finish
fi
# Timings and a spot check against a brute force; fails only on a wrong
# answer, a missed target shows in the summary.
step "knn gpu bench" knn_gpu.log 150 "${run[@]}" BUILD_DIR="$build" "$root/bench/knn_gpu.sh" || true
# The vit backbone on the GPU: ViT-B/16 forward (batch 64) and last-block
# step (batch 32), random weights; for bench/RESULTS.md.
vit_ck=$build/vit_b16_random.safetensors
step "vit gpu bench" vit_gpu.log 150 "${run[@]}" bash -c "'$build/bench/vit_bench' checkpoint '$vit_ck' b16 &&
    '$build/bench/vit_bench' forward '$vit_ck' b16 64 5 cuda &&
    '$build/bench/vit_bench' train '$vit_ck' b16 32 5 cuda" || true
finish
