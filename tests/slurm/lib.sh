# shellcheck shell=bash
# Helpers for test scripts run under tests/slurm/run.sh (which exports
# SLURM_CONF and UNIC_SLURM_DIR). Source it:  . tests/slurm/lib.sh
#
#   slurm_wait_job JOBID [TIMEOUT]
#       Waits until every task of JOBID (a job array included) has left the
#       queue, polling `scontrol show job` (the cluster has no accounting
#       daemon: sacct answers "Slurm accounting storage is disabled").
#       Returns 0 when every task is COMPLETED with exit code 0:0; 1 when a
#       task ended otherwise (FAILED, CANCELLED, TIMEOUT, ...: listed on
#       stderr) or the job is unknown; 124 when TIMEOUT seconds (default 300)
#       passed first (the job is left as it is; run.sh cancels it at the end).
#   slurm_job_tasks JOBID
#       Prints one line per task record, "ID STATE EXITCODE" (ID is
#       ARRAYJOB_TASK for array tasks, "4_[2-3]" for tasks not started yet).
#       Returns scontrol's status (1 for an unknown job).
#   slurm_logs [LINES]
#       Prints the last LINES (default 20) of each daemon's log, for a
#       failure message.
#   check WHAT COMMAND...
#       Runs COMMAND, prints "ok   WHAT" or "FAIL WHAT", and counts the
#       failures in $failures (start it at 0).

slurm_job_tasks() {
  local out
  out=$(scontrol -o show job "$1" 2>&1) || {
    echo "$out" >&2
    return 1
  }
  awk '{
    delete f
    for (i = 1; i <= NF; i++) {
      eq = index($i, "=")
      if (eq) f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
    }
    id = f["JobId"]
    if (("ArrayTaskId" in f) && f["ArrayTaskId"] != "(null)") {
      t = f["ArrayTaskId"]
      if (t ~ /[^0-9]/) t = "[" t "]"
      id = f["ArrayJobId"] "_" t
    }
    print id, f["JobState"], f["ExitCode"]
  }' <<<"$out"
}

slurm_wait_job() {
  local job=$1 timeout=${2:-300} tasks end bad
  end=$((SECONDS + timeout))
  while :; do
    if ! tasks=$(slurm_job_tasks "$job" 2>&1); then
      case $tasks in
        *"Invalid job id"*)
          echo "slurm_wait_job: job $job is unknown to slurmctld" >&2
          return 1
          ;;
      esac
      tasks="$job ? ?" # slurmctld busy or restarting: ask again
    fi
    # Done once no task is pending, running, completing, suspended or requeued.
    if ! awk '$2 !~ /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE|OUT_OF_MEMORY)$/ { found = 1 }
              END { exit !found }' <<<"$tasks"; then
      break
    fi
    if ((SECONDS >= end)); then
      echo "slurm_wait_job: job $job still in the queue after ${timeout}s:" >&2
      _slurm_indent <<<"$tasks" >&2
      return 124
    fi
    sleep 0.2
  done
  bad=$(awk '!($2 == "COMPLETED" && $3 == "0:0")' <<<"$tasks")
  if [ -n "$bad" ]; then
    echo "slurm_wait_job: job $job has tasks that did not complete with exit code 0:" >&2
    _slurm_indent <<<"$bad" >&2
    return 1
  fi
}

_slurm_indent() {
  local line
  while IFS= read -r line; do printf '  %s\n' "$line"; done
}

slurm_logs() {
  local f
  for f in "${UNIC_SLURM_DIR:?not under tests/slurm/run.sh}"/log/*.log; do
    [ -s "$f" ] || continue
    echo "== $f (last ${1:-20} lines)"
    tail -n "${1:-20}" "$f"
  done
}

check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    failures=$((failures + 1))
  fi
}
