#!/usr/bin/env bash
# `unic grid submit --slurm` against the real one-node Slurm of run.sh:
#   tests/slurm/run.sh tests/slurm/grid.sh
# On a small embeddings data set (600 Fashion-MNIST images through `unic
# extract`), a 4-point grid (entropy weight 0 and 3, seeds 0 and 1):
#  - --dry-run writes the sbatch array script with the asked options and
#    submits nothing;
#  - the submitted array runs every point (`unic run EXP --grid-point ID`),
#    `unic grid status` then reads 4 done, and `unic table` prints exactly
#    the table of the same grid run locally with --jobs 1;
#  - a resubmission finds nothing left to submit; after one point is reset,
#    it submits that one point only.
# Exit status: 0 when everything holds, 1 otherwise (77 from run.sh: skipped).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/slurm/lib.sh
. "$here/lib.sh"
: "${SLURM_CONF:?run me under tests/slurm/run.sh}"
unic=$root/build/unic
fmnist=/usr/share/datasets/fashion-mnist
if [[ ! -r $fmnist/t10k-images-idx3-ubyte.gz ]]; then
  echo "SKIP: Debian's dataset-fashion-mnist is not installed" >&2
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/unic-slurm-grid-XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

cat >"$work/extract.ini" <<INI
[data]
path = $fmnist/t10k-images-idx3-ubyte.gz
labels = $fmnist/t10k-labels-idx1-ubyte.gz
limit = 600
[backbone]
plugin = pixels
INI
"$unic" extract "$work/extract.ini" --out "$work/emb.safetensors" --quiet

cat >"$work/exp.ini" <<INI
[data]
path = $work/emb.safetensors
[backbone]
plugin = features
[head]
plugin = mlp
hidden = 64
[miner.positives]
plugin = knn
tau1 = 10
[miner.negatives]
plugin = far
tau2 = 300
[loss.pos]
[loss.neg]
[loss.entropy]
[train]
epochs = 3
batch_size = 64
lr = 1e-3
[eval]
every = 1
[grid]
loss.entropy.weight = 0, 3
train.seed = 0, 1
INI

out=$("$unic" grid submit "$work/exp.ini" --slurm --out "$work/grid" --dry-run \
  --partition unic --time 10:00 --cpus-per-task 1 --sbatch "--mem=1G")
script=$work/grid/slurm/submit-1.sbatch
check "--dry-run writes the script and submits nothing ($out)" grep -q "not submitted" <<<"$out"
check "the script asks for 4 array tasks" grep -q '^#SBATCH --array=0-3$' "$script"
check "the script carries the options" \
  bash -c "grep -q '^#SBATCH --partition=unic$' '$script' && grep -q '^#SBATCH --time=10:00$' '$script' && grep -q '^#SBATCH --mem=1G$' '$script'"
check "each task runs one grid point" grep -q -- '--grid-point "${points\[$SLURM_ARRAY_TASK_ID\]}"' "$script"
check "nothing was queued" test -z "$(squeue -h)"

out=$("$unic" grid submit "$work/exp.ini" --slurm --out "$work/grid" --cpus-per-task 1)
echo "$out"
job=$(sed -n 's/.*Slurm job array \([0-9]*\).*/\1/p' <<<"$out")
check "sbatch took the array (job '$job')" test -n "$job"
if [[ -n $job ]]; then
  rc=0
  slurm_wait_job "$job" 300 || rc=$?
  check "every array task completed" test "$rc" = 0
  slurm_job_tasks "$job" || true
fi
status=$("$unic" grid status "$work/grid" || true)
echo "$status"
check "unic grid status reads 4 done" grep -q "4 points: 4 done" <<<"$status"

"$unic" run "$work/exp.ini" --out "$work/local" --jobs 1 --quiet >/dev/null
"$unic" table "$work/grid" --format csv --digits 6 >"$work/slurm.csv"
"$unic" table "$work/local" --format csv --digits 6 >"$work/local.csv"
cat "$work/slurm.csv"
check "unic table of the Slurm grid equals the local grid's" cmp -s "$work/slurm.csv" "$work/local.csv"
check "the table has two settings over two seeds" grep -qc ',2,' "$work/slurm.csv"

out=$("$unic" grid submit "$work/exp.ini" --slurm --out "$work/grid")
check "a resubmission finds nothing to submit ($out)" grep -q "nothing to submit" <<<"$out"
point=$(find "$work/grid/points" -mindepth 1 -maxdepth 1 -type d | head -n 1)
printf '{"state": "pending"}\n' >"$point/state.json"
out=$("$unic" grid submit "$work/exp.ini" --slurm --out "$work/grid")
echo "$out"
check "after a reset, only that point is submitted" grep -q "submitted 1 grid points" <<<"$out"
job=$(sed -n 's/.*Slurm job array \([0-9]*\).*/\1/p' <<<"$out")
if [[ -n $job ]]; then
  rc=0
  slurm_wait_job "$job" 300 || rc=$?
  check "the resubmitted point completed" test "$rc" = 0
fi
check "the table is unchanged by the rerun" \
  bash -c "'$unic' table '$work/grid' --format csv --digits 6 | cmp -s - '$work/local.csv'"

if ((failures)); then
  echo "$failures check(s) failed"
  slurm_logs 20 >&2 || true
  exit 1
fi
echo "all checks passed"
