#!/usr/bin/env bash
# Checks the one-node Slurm of tests/slurm/run.sh end to end, with the plain
# sbatch that `unic grid submit --slurm` uses:
#   tests/slurm/run.sh tests/slurm/selftest.sh
# Submits a 4-task job array (#SBATCH --array=0-3; each task writes its
# SLURM_ARRAY_TASK_ID into task-N.out in a temporary folder) and a job that
# exits 3, waits for both with slurm_wait_job (tests/slurm/lib.sh), then
# checks that the array's four tasks completed and wrote 0..3, and that the
# failing job is reported as failed. Prints each check.
# Exit status: 0 when everything holds, 1 otherwise (77 from run.sh: skipped).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/slurm/lib.sh
. "$here/lib.sh"
: "${SLURM_CONF:?run me under tests/slurm/run.sh}"

work=$(mktemp -d "${TMPDIR:-/tmp}/unic-slurm-selftest-XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

cat >"$work/array.sbatch" <<'EOF'
#!/bin/sh
#SBATCH --array=0-3
#SBATCH --job-name=unic-selftest
#SBATCH --time=2
echo "$SLURM_ARRAY_TASK_ID" >"task-$SLURM_ARRAY_TASK_ID.out"
EOF
array=$(sbatch --parsable --chdir="$work" --output="$work/slurm-%A_%a.log" "$work/array.sbatch")
array=${array%%;*}
failing=$(sbatch --parsable --chdir="$work" --output="$work/slurm-%j.log" --time=2 \
  --job-name=unic-selftest-fail --wrap='exit 3')
failing=${failing%%;*}
echo "submitted array job $array (4 tasks) and job $failing (exits 3)"

rc=0
slurm_wait_job "$array" 120 || rc=$?
check "slurm_wait_job $array returns 0 (got $rc)" test "$rc" = 0
rc=0
slurm_wait_job "$failing" 120 2>/dev/null || rc=$?
check "slurm_wait_job $failing returns 1 for a task that exits 3 (got $rc)" test "$rc" = 1

tasks=$(slurm_job_tasks "$array" | sort)
_slurm_indent <<<"$tasks"
expected=$(for i in 0 1 2 3; do echo "${array}_$i COMPLETED 0:0"; done)
check "scontrol shows tasks ${array}_0..3 COMPLETED with exit code 0:0" test "$tasks" = "$expected"
check "job $failing shows FAILED 3:0" test "$(slurm_job_tasks "$failing")" = "$failing FAILED 3:0"
for i in 0 1 2 3; do
  got=$(cat "$work/task-$i.out" 2>/dev/null || echo "(no file)")
  check "task $i wrote '$i' to task-$i.out (got '$got')" test "$got" = "$i"
done
outputs=$(cd "$work" && echo task-*.out)
check "exactly four task files (got: $outputs)" test "$outputs" = "task-0.out task-1.out task-2.out task-3.out"

if ((failures)); then
  echo "selftest: $failures check(s) failed; job logs and daemon logs follow" >&2
  tail -n 20 "$work"/slurm-*.log >&2 2>/dev/null || true
  slurm_logs 20 >&2
  exit 1
fi
echo "selftest: all checks passed"
