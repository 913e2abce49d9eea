#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang (ASan + UBSan) into
# build-fuzz/ and runs each for SECONDS (default 20) on a scratch copy of its
# seed corpus. Any finding fails the run, and its input is copied into
# tests/fuzz/corpus/<name>/ so that the ordinary suite replays it from then on.
#   tools/fuzz.sh [SECONDS] [HARNESS...]      e.g. tools/fuzz.sh 60 npy ini
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
[ $# -gt 0 ] && shift
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; names+=("${n%.c}"); done
fi
# clang with its libFuzzer runtime, and LLVM's OpenMP for clang's -fopenmp
tools/need-debs clang libclang-rt-14-dev libomp-dev
CC=clang cmake -S . -B build-fuzz -DUNIC_FUZZ=ON -DUNIC_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# unic brings the plugins that fuzz_ini validates experiments against.
if ! cmake --build build-fuzz -j"$(nproc)" --target unic $(printf 'fuzz_%s ' "${names[@]}") \
    >build-fuzz/build.log 2>&1; then
  tail -40 build-fuzz/build.log >&2
  exit 2
fi

scratch=$(mktemp -d /tmp/unic-fuzz-run.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failed=0
printf '%-16s %12s %8s  %s\n' harness executions corpus result
for n in "${names[@]}"; do
  mkdir -p "$scratch/$n/corpus" "$scratch/$n/artifacts"
  cp tests/fuzz/corpus/"$n"/* "$scratch/$n/corpus/"
  set +e
  build-fuzz/fuzz/fuzz_"$n" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -timeout=10 -artifact_prefix="$scratch/$n/artifacts/" \
    "$scratch/$n/corpus" >"$scratch/$n/log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$n/log" | grep -o '[0-9]*$' || echo 0)
  size=$(ls "$scratch/$n/corpus" | wc -l)
  if [ $rc -eq 0 ]; then
    printf '%-16s %12s %8s  %s\n' "$n" "$execs" "$size" "no finding"
  else
    failed=1
    printf '%-16s %12s %8s  %s\n' "$n" "$execs" "$size" "FINDING (exit $rc)"
    for a in "$scratch/$n/artifacts"/*; do
      [ -e "$a" ] || continue
      cp "$a" tests/fuzz/corpus/"$n"/
      echo "  kept tests/fuzz/corpus/$n/${a##*/}"
    done
    grep -m1 -A12 'ERROR: \|runtime error' "$scratch/$n/log" | sed 's/^/  /' || tail -20 "$scratch/$n/log"
  fi
done
exit $failed
