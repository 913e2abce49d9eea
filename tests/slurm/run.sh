#!/usr/bin/env bash
# shellcheck disable=SC2317 # (info, wrong) cleanup and its helpers run from the EXIT trap
# Runs CMD with a real one-node Slurm cluster up (Debian's slurm-wlm 22.05 and
# munge, never a mock):
#   tests/slurm/run.sh CMD [ARGS...]        e.g. tests/slurm/run.sh tests/slurm/selftest.sh
# munged, slurmctld and slurmd run on 127.0.0.1, everything inside one private
# folder ${TMPDIR:-/tmp}/unic-slurm-XXXXXX (/tmp where TMPDIR is too long for
# a socket path): generated slurm.conf, own munge key and socket, state,
# spool, pid and log files; ports are picked free at run time, so two runs, or
# a system Slurm, do not collide. One node, "localhost", with this machine's
# CPUs and memory; one partition, "unic" (the default); backfill every second
# (a job starts within about a second of its submission); no accounting
# daemon, so sacct does not work: wait for jobs with tests/slurm/lib.sh.
# Installs slurm-wlm, slurm-client and munge through tools/need-debs where a
# program is missing.
#
# CMD runs once the node is idle, with SLURM_CONF (the cluster's slurm.conf),
# UNIC_SLURM_DIR (the private folder; daemon logs in $UNIC_SLURM_DIR/log) and
# PATH (with /usr/sbin) exported, and any SLURM_* / SBATCH_* / SALLOC_* /
# SRUN_* / SQUEUE_* / SINFO_* / SCONTROL_* variable from outside removed.
# Afterwards, always (CMD's end, an error, INT/TERM/HUP/PIPE), it cancels every
# job, stops every daemon it started, kills whatever is left (CMD's and jobs'
# processes, which carry UNIC_SLURM_DIR, a slurmstepd, which holds its log
# open) and removes the folder.
#
# Environment: UNIC_SLURM_START_TIMEOUT (seconds for the node to become idle,
# default 60), UNIC_SLURM_DEBUG (the daemons' log level, default info),
# UNIC_SLURM_VERBOSE=1 (print how long the start and the stop took).
#
# Exit status: CMD's (128+N when run.sh itself got signal N); 77, after one
# line "SKIP: slurm could not start: <reason and the daemon's last log lines>"
# on stderr, where Slurm cannot be installed or started or the node is not
# idle in time; 2 for bad usage.
set -euo pipefail

if (($# == 0)); then
  echo "usage: tests/slurm/run.sh CMD [ARGS...]" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
start_timeout=${UNIC_SLURM_START_TIMEOUT:-60}
user=$(id -un)

# Clean environment: nothing of an outer Slurm (a CI job inside Slurm) leaks in.
while read -r name; do
  case $name in
    SLURM_* | SBATCH_* | SALLOC_* | SRUN_* | SQUEUE_* | SINFO_* | SCONTROL_*) unset "$name" ;;
  esac
done < <(compgen -e)
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
case ":$PATH:" in *:/sbin:*) ;; *) PATH=$PATH:/sbin ;; esac
export PATH

# Under /tmp where TMPDIR is so long that a socket's path (munge's, or
# slurmstepd's in spool/) would pass the 108 bytes a socket address holds.
base=${TMPDIR:-/tmp}
((${#base} <= 60)) || base=/tmp
tmp=$(mktemp -d "$base/unic-slurm-XXXXXX")
tmp=$(cd "$tmp" && pwd -P) # as /proc shows it
conf=$tmp/slurm.conf
log=$tmp/log
export UNIC_SLURM_DIR=$tmp # in the environment of the daemons, CMD and jobs: the cleanup's marker
mkdir -m 700 "$tmp/munge" "$log" "$tmp/run" "$tmp/state" "$tmp/spool"

munged_pid="" ctld_pid="" slurmd_pid="" ctld_up=""

# The last lines of a log, on one line.
log_tail() {
  [ -s "$1" ] || { printf '%s is empty' "${1##*/}"; return; }
  printf '%s: ' "${1##*/}"
  tail -n "${2:-4}" "$1" | tr -s '\n\t' '  ' | sed 's/ *$//'
}

# UNIC_SLURM_VERBOSE=1: how long the start and the stop took, on stderr.
now() { date +%s%N; }
elapsed() { printf '%d.%02d' $((($(now) - $1) / 1000000000)) $((($(now) - $1) / 10000000 % 100)); }
verbose() { [ -z "${UNIC_SLURM_VERBOSE:-}" ] || echo "tests/slurm/run.sh: slurm $*" >&2; }

skip() {
  echo "SKIP: slurm could not start: $*" >&2
  exit 77
}

# Our processes: those started with UNIC_SLURM_DIR=$tmp (the daemons, CMD,
# jobs' processes) or holding a file under $tmp open (slurmstepd, whose
# environment slurmd does not pass on, writes to log/slurmd.log). Called once
# UNIC_SLURM_DIR is no longer exported, so that it does not find itself.
marked() {
  {
    grep -lzx "UNIC_SLURM_DIR=$tmp" /proc/[0-9]*/environ
    find /proc/[0-9]*/fd -maxdepth 1 -lname "$tmp/*"
  } 2>/dev/null | sed -n 's|^/proc/\([0-9]*\)/.*|\1|p' | sort -u
}

# Sends TERM to the pids given, waits up to $1 seconds for them, then KILLs.
stop_pids() {
  local wait_s=$1 pid i
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < wait_s * 20; i++)); do
    for pid in "$@"; do
      kill -0 "$pid" 2>/dev/null && break
      pid=""
    done
    [ -n "$pid" ] || break
    sleep 0.05
  done
  kill -KILL "$@" 2>/dev/null || true
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

cleanup() {
  local rc=$? i ours pid left stop_start
  stop_start=$(now)
  trap - EXIT
  trap '' INT TERM HUP PIPE # a second Ctrl-C, or a closed output, must not cut this short
  set +e
  export -n UNIC_SLURM_DIR
  ours=$(marked)
  if [ -n "$ctld_up" ]; then
    # Let slurmstepd end the jobs' processes while slurmd is still there.
    timeout 5 scancel --user="$user" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      [ -z "$(timeout 2 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  [ -n "$slurmd_pid" ] && stop_pids 5 "$slurmd_pid"
  [ -n "$ctld_pid" ] && stop_pids 5 "$ctld_pid"
  [ -n "$munged_pid" ] && stop_pids 5 "$munged_pid"
  # Whatever is left (CMD after a signal, a slurmstepd, a job's processes).
  # shellcheck disable=SC2046 # one pid per word
  stop_pids 2 $(marked)
  # slurmd detaches each slurmstepd, so an ended slurmstepd (or a job's
  # process it killed) is a zombie until init reaps it, which a container's
  # init may take a while to do (2 s here): wait for those (at most 3 s).
  for ((i = 0; i < 60; i++)); do
    left=""
    for pid in $ours; do [ -e "/proc/$pid" ] && left=$pid; done
    if [ -z "$left" ]; then
      cat /proc/[0-9]*/stat 2>/dev/null |
        awk '$2 == "(slurmstepd)" && $3 == "Z" && $4 == 1 { found = 1 } END { exit !found }' || break
    fi
    sleep 0.05
  done
  rm -rf "$tmp"
  verbose "stopped in $(elapsed "$stop_start") s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# --- packages -----------------------------------------------------------------
programs=(munged mungekey munge unmunge slurmctld slurmd sbatch squeue scontrol sinfo scancel)
missing=()
for p in "${programs[@]}"; do command -v "$p" >/dev/null || missing+=("$p"); done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
    skip "${missing[*]} missing, and installing needs root or password-less sudo"
  fi
  if ! "$root/tools/need-debs" slurm-wlm slurm-client munge 2>"$log/install.log"; then
    skip "installing slurm-wlm slurm-client munge failed: $(log_tail "$log/install.log")"
  fi
  cat "$log/install.log" >&2
  for p in "${programs[@]}"; do
    command -v "$p" >/dev/null || skip "$p still missing after installing slurm-wlm slurm-client munge"
  done
fi

# --- configuration ------------------------------------------------------------
# Free TCP ports below the ephemeral range; a port taken meanwhile (another run
# starting at the same moment) makes a daemon fail to bind: retried below.
used_ports=""
free_port() {
  local p hex
  [ -n "$used_ports" ] || used_ports=$(tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk '{ split($2, a, ":"); print a[2] }' | sort -u)
  while :; do
    p=$((20000 + ${SRANDOM:-$RANDOM} % 12000))
    printf -v hex '%04X' "$p"
    grep -qx "$hex" <<<"$used_ports" || break
  done
  used_ports+=$'\n'$hex
  echo "$p"
}

# What slurmd will register with (slurmd -C), CPUs no more than this process
# may use: a node configured with more than it has would be drained.
hw=$(slurmd -C 2>/dev/null || true)
cpus=$(nproc)
hw_cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
((${hw_cpus:-0} == 0 || hw_cpus >= cpus)) || cpus=$hw_cpus
mem_mb=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
[ -n "$mem_mb" ] || mem_mb=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024))
: >"$tmp/plugstack.conf" # not /etc/slurm's

write_conf() {
  cat >"$conf" <<EOF
# Generated by tests/slurm/run.sh: a throwaway one-node cluster.
ClusterName=unic
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
SlurmctldDebug=${UNIC_SLURM_DEBUG:-info}
SlurmdDebug=${UNIC_SLURM_DEBUG:-info}
PlugStackConfig=$tmp/plugstack.conf
TmpFS=$tmp
# No systemd, no cgroups, no accounting.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
# Slurm's default scheduler, run every second: 22.05's main scheduler starts
# no batch job in slurmctld's first 3 s, backfill (bf_interval=1) does.
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Finished jobs stay visible to scontrol (tests/slurm/lib.sh) for 10 minutes.
MinJobAge=600
KillWait=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=unic Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

# --- start --------------------------------------------------------------------
deadline=$((SECONDS + start_timeout))
start_start=$(now)
alive() { kill -0 "$1" 2>/dev/null; }

mungekey --create --keyfile="$tmp/munge/munge.key" 2>"$log/mungekey.log" ||
  skip "mungekey failed: $(log_tail "$log/mungekey.log")"
munged --force --foreground --num-threads=2 \
  --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/run/munged.pid" --log-file="$log/munged.log" \
  --seed-file="$tmp/munge/munged.seed" >"$log/munged.out" 2>&1 &
munged_pid=$!
until munge -n -S "$tmp/munge/munge.socket" 2>/dev/null | unmunge -S "$tmp/munge/munge.socket" >/dev/null 2>&1; do
  alive "$munged_pid" || skip "munged exited: $(log_tail "$log/munged.out") $(log_tail "$log/munged.log")"
  ((SECONDS < deadline)) || skip "munged not answering after ${start_timeout}s: $(log_tail "$log/munged.log")"
  sleep 0.05
done

export SLURM_CONF=$conf
for attempt in 1 2 3; do
  ctld_port=$(free_port) slurmd_port=$(free_port)
  write_conf
  slurmctld -D -f "$conf" >"$log/slurmctld.out" 2>&1 &
  ctld_pid=$!
  until scontrol ping 2>/dev/null | grep -q 'is UP'; do
    alive "$ctld_pid" || break
    ((SECONDS < deadline)) || skip "slurmctld not answering after ${start_timeout}s: $(log_tail "$log/slurmctld.log")"
    sleep 0.05
  done
  alive "$ctld_pid" && break
  wait "$ctld_pid" 2>/dev/null || true
  ctld_pid=""
  if ((attempt == 3)) || ! grep -qs 'Address already in use' "$log/slurmctld.log" "$log/slurmctld.out"; then
    skip "slurmctld exited: $(log_tail "$log/slurmctld.log") $(log_tail "$log/slurmctld.out" 2)"
  fi
  rm -rf "${tmp:?}/state" && mkdir -m 700 "$tmp/state" # port taken: again, on others
done
ctld_up=1

slurmd -D -N localhost -f "$conf" >"$log/slurmd.out" 2>&1 &
slurmd_pid=$!
while :; do
  state=$(sinfo -h -N -n localhost -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  alive "$slurmd_pid" || skip "slurmd exited: $(log_tail "$log/slurmd.log") $(log_tail "$log/slurmd.out" 2)"
  case $state in
    drain* | down* | fail* | inval*)
      skip "node localhost is $state: $(scontrol show node localhost | grep -o 'Reason=.*') $(log_tail "$log/slurmd.log")"
      ;;
  esac
  ((SECONDS < deadline)) ||
    skip "node not idle after ${start_timeout}s (state '${state:-unknown}'): $(log_tail "$log/slurmd.log") $(log_tail "$log/slurmctld.log" 2)"
  sleep 0.05
done

# --- CMD ----------------------------------------------------------------------
# In the background, so that a signal to run.sh is handled at once (the
# cleanup then ends CMD too); stdin stays CMD's.
verbose "up in $(elapsed "$start_start") s (node localhost idle, $cpus CPUs, $mem_mb MB)"
"$@" <&0 &
cmd_pid=$!
set +e
wait "$cmd_pid"
rc=$?
set -e
exit "$rc"
