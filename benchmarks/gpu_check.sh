#!/usr/bin/env bash
# GPU speed check: benchmarks/speed.py on MovieLens-1M (max_len 100, batch 1024) in fp32 and
# bf16, each without and with torch.compile, printed as one table (and kept as JSON lines).
#
# Meant for a lent GPU machine: it runs recdiff from this checkout (PYTHONPATH), and
# benchmarks/gpu_env.sh installs the dependencies the machine lacks from wheels carried in
# $WHEELS (default ./.whl), never from the network. The four runs take about 6 minutes on an
# H100 (40 timed training batches, 2048 test users per sampler). A lent GPU's time is short, so
# the check keeps to BUDGET seconds (default 420): a run still going then is stopped, the runs
# not started are skipped and named, and the table shows what finished.
#
#   BUDGET=420 bash benchmarks/gpu_check.sh [DATA_FILE]      # JSON lines also go to $OUT or /tmp
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=${1:-}
if [[ -z "$DATA" ]]; then
  for candidate in "$ROOT/../shared/data/ml-1m/ml-1m.inter" "$ROOT/shared/data/ml-1m/ml-1m.inter"; do
    [[ -f "$candidate" ]] && DATA=$candidate && break
  done
fi
if [[ -z "$DATA" || ! -f "$DATA" ]]; then
  echo "error: ml-1m.inter not found beside the checkout (../shared/data/ml-1m/) or in ./shared/data/ml-1m/; pass its path as the first argument" >&2
  exit 2
fi
BUDGET=${BUDGET:-420}
source benchmarks/gpu_env.sh
RESULTS=${OUT:-/tmp}/gpu_check.jsonl
: > "$RESULTS"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'"
for dtype in fp32 bf16; do
  for compile in "" "--compile"; do
    left=$(( BUDGET - SECONDS ))
    if (( left < 30 )); then
      echo "budget of ${BUDGET} s spent: skipped $dtype ${compile:-eager}" >&2
      continue
    fi
    timeout --signal=INT --kill-after=10 "$left" python3 benchmarks/speed.py --data "$DATA" --device cuda \
      --dtype "$dtype" $compile --set data.max_len=100 --set train.batch_size=1024 --set eval.batch_size=1024 \
      --batches 40 --warmup 10 --users 2048 --samplers ddpm,ddim:steps=4,x0 --json > "$RESULTS.run" \
      || echo "stopped at the budget of ${BUDGET} s: $dtype ${compile:-eager}" >&2
    grep '^{' "$RESULTS.run" | tail -n 1 >> "$RESULTS" || true
  done
done
rm -f "$RESULTS.run"
python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
if not rows:
    sys.exit("no configuration finished within the budget; raise BUDGET")
print(f"MovieLens-1M, max_len 100, batch 1024, diffurec, {rows[0]['device']}")
print(f"{'dtype':6} {'compile':8} {'train ex/s':>11} {'ddpm u/s':>9} {'ddim4 u/s':>10} {'x0 u/s':>9} {'GPU MiB':>8} {'RSS MiB':>8}")
for r in rows:
    u = r["infer_users_per_s"]
    print(f"{r['dtype']:6} {str(r['compile']):8} {r['train_examples_per_s']:11,.0f} {u['ddpm']:9,.0f} "
          f"{u['ddim:steps=4']:10,.0f} {u['x0']:9,.0f} {r['peak_gpu_mib'] or 0:8,.0f} {r['peak_rss_mib']:8,.0f}")
PY
