#!/usr/bin/env bash
# Paper-protocol runs on a lent GPU, inside a fixed device-time budget.
#
# Runs paper specs (examples/paper/DATASET-MODEL.yaml, or examples/reference/DATASET-MODEL.yaml
# for the reference presets, e.g. beauty:diffurec-reference:42, with an optional fourth field
# naming a one-field variant of examples/reference/ablations.yaml, e.g.
# beauty:diffurec-reference:42:init; bf16) side by side on the one GPU: first
# the FIRST runs, then the LATER ones once those are done or LATER_WINDOW seconds before the
# budget ends, whichever comes first (by default the Beauty runs that complete a CPU group first,
# then the heavier ML-1M diffusion runs). Each is `recdiff repeat SPEC --seeds 1`, so its folder
# is a run group like the CPU ones and resumes with the same command. After BUDGET seconds the
# runs still training are stopped (the last finished epoch is checkpointed, so nothing finished
# is lost) and the best checkpoint of each stopped run is evaluated on the test split into
# `test-at-stop.json` beside its metrics.jsonl. The run folders without their checkpoints, and
# every log, come back as one archive, $OUT/gpu-runs.tgz.
#
# The data are the named datasets as released (data.name in the specs: ML-1M keeps its 3,706
# items), fetched offline into $RECDIFF_HOME from the DiffuRec release pickles in DOWNLOADS with
# `recdiff data fetch NAME --from DOWNLOADS/diffurec-NAME.pkl`.
#
# Meant for the lent machine: benchmarks/gpu_env.sh installs the dependencies it lacks from
# wheels carried in $WHEELS (default ./.whl), never from the network.
#
#   DOWNLOADS=../shared/data/downloads BUDGET=430 bash benchmarks/gpu_paper.sh
#   FIRST="ml-1m:diffurec:43" LATER="" bash benchmarks/gpu_paper.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DOWNLOADS=${DOWNLOADS:-$ROOT/../shared/data/downloads}
export RECDIFF_HOME=${RECDIFF_HOME:-/tmp/recdiff-home}
BUDGET=${BUDGET:-400}
RUNS=${RUNS:-/tmp/recdiff-gpu-runs}
DEST=${OUT:-/tmp}
FIRST=${FIRST:-beauty:diffurecsys:44 beauty:diffurecsys-v1:42 beauty:sasrec:42 ml-1m:sasrec:42}
LATER=${LATER-ml-1m:diffurec:42 ml-1m:diffurecsys:42}
LATER_WINDOW=${LATER_WINDOW:-200}
source benchmarks/gpu_env.sh
for name in $(for run in $FIRST $LATER; do echo "${run%%:*}"; done | sort -u); do
  python3 -m recdiff data fetch "$name" --from "$DOWNLOADS/diffurec-$name.pkl" || {
    echo "error: could not fetch dataset '$name' from $DOWNLOADS/diffurec-$name.pkl; set DOWNLOADS to the folder holding the release pickles" >&2
    exit 2
  }
done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
mkdir -p "$RUNS/logs"
PRECISION=${PRECISION:-bf16}

variant_sets() {  # the --set arguments of a variant in examples/reference/ablations.yaml
  python3 -c 'import sys, yaml; print(" ".join(f"--set {k}={v}" for k, v in yaml.safe_load(open(sys.argv[1]))[sys.argv[2]].items()))' \
    examples/reference/ablations.yaml "$1"
}

launch() {  # launch DATASET:MODEL:SEED[:VARIANT], one seed of examples/{paper,reference}/DATASET-MODEL.yaml into $RUNS/DATASET-MODEL[-VARIANT]-PRECISION
  local dataset model seed variant spec sets=""
  IFS=: read -r dataset model seed variant <<<"$1"
  local name="$dataset-$model${variant:+-$variant}-$PRECISION"
  spec="examples/paper/$dataset-$model.yaml"
  [[ -f "$spec" ]] || spec="examples/reference/$dataset-$model.yaml"
  [[ -z "$variant" ]] || sets=$(variant_sets "$variant") || { echo "error: no variant '$variant' in examples/reference/ablations.yaml" >&2; return; }
  python3 -m recdiff repeat "$spec" --seeds 1 --set seed="$seed" --set train.precision="$PRECISION" --out "$RUNS/$name" \
    $sets ${EXTRA_SET:-} >"$RUNS/logs/$name.log" 2>&1 &
  echo "$! $name" >>"$RUNS/logs/pids"
  echo "$((SECONDS - started)) s: started $name (seed $seed)"
}

any_alive() {
  local pid name
  while read -r pid name; do kill -0 "$pid" 2>/dev/null && return 0; done <"$RUNS/logs/pids"
  return 1
}

started=$SECONDS
: >"$RUNS/logs/pids"
for run in $FIRST; do launch "$run"; done
# The LATER runs start once the FIRST ones are done, or LATER_WINDOW seconds before the budget ends.
while any_alive && (( SECONDS - started < BUDGET - LATER_WINDOW )); do sleep 5; done
for run in $LATER; do launch "$run"; done
while any_alive && (( SECONDS - started < BUDGET )); do sleep 5; done
while read -r pid name; do
  if kill -0 "$pid" 2>/dev/null; then
    echo "stopping $name after $((SECONDS - started)) s"
    kill -TERM -- "$pid" 2>/dev/null
  fi
done <"$RUNS/logs/pids"
wait

for run in "$RUNS"/*/seed-*; do
  if [[ ! -f "$run/results.json" && -f "$run/checkpoints/best.pt" ]]; then
    python3 -m recdiff evaluate "$run" --split test --json >"$run/test-at-stop.json" 2>"$run/test-at-stop.err" &
  fi
done
wait

finished=() labels=()
for run in "$RUNS"/*/seed-*; do
  if [[ -f "$run/results.json" || -s "$run/test-at-stop.json" ]]; then
    finished+=("$run") labels+=(--label "$(basename "$(dirname "$run")")/$(basename "$run")")
  else
    echo "$run: no test (it validated no epoch, or its test failed: see $run/test-at-stop.err)"
  fi
done
(( ${#finished[@]} )) && python3 benchmarks/table.py --val "${labels[@]}" "${finished[@]}"
mkdir -p "$DEST"
tar czf "$DEST/gpu-runs.tgz" --exclude='*.pt' --exclude='*.pt.tmp' -C "$RUNS" .
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true
