#!/usr/bin/env bash
# Builds the suite with AddressSanitizer, UndefinedBehaviorSanitizer and
# LeakSanitizer (gcc, CPU only) into build-asan/ and runs it: any memory
# error, undefined behaviour or leak fails the run. Arguments go to the test
# runner, e.g. tools/sanitize.sh --filter 'io/*'.
set -euo pipefail
cd "$(dirname "$0")/.."
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
cmake -S . -B build-asan -DUNIC_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
if ! cmake --build build-asan -j"$(nproc)" >build-asan.log 2>&1; then
  tail -40 build-asan.log >&2
  exit 2
fi
# Plugins are dlopen'ed into the sanitized process; libgomp's and
# OpenBLAS's thread pools live until exit by design, so their allocations
# are not leaks of ours (tools/lsan.supp names them).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
build-asan/tests/unic_tests --jobs "$(nproc)" "$@"
