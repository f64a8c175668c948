#!/usr/bin/env bash
# Run (or resume) the grids declared in experiments/next/ with two workers each, in the
# order given, writing their journals to results/next/ (or $NEXT_RESULTS_DIR). A journal
# line is appended as each cell finishes, so the run can be stopped at any time and resumed
# by running this script again, in this session or a later one (commit results/next/ to
# keep what has finished).
#   nohup bash tools/run_next_grids.sh > next_grids.log 2>&1 &
#   bash tools/run_next_grids.sh case_ml100k_loo      # one grid
# Each cell records the commit it ran at, marked +dirty when tracked files outside results/
# differ from it. To keep editing the repository meanwhile, run from a clean worktree and
# point the journals at this checkout:
#   git worktree add --detach ../grids-wt && cd ../grids-wt
#   NEXT_RESULTS_DIR=$OLDPWD/results/next nohup bash tools/run_next_grids.sh > next_grids.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
results="${NEXT_RESULTS_DIR:-results/next}"
workers="${NEXT_WORKERS:-2}"
grids=("$@")
if (( ${#grids[@]} == 0 )); then
  grids=(case_ml100k_loo comparison_ml100k_logq case_ml100k_temporal case_beauty_loo)
fi
for grid in "${grids[@]}"; do
  toml="experiments/next/${grid}.toml"
  [[ -f "$toml" ]] || { echo "no grid file $toml; the grids here are: $(ls experiments/next/*.toml)" >&2; exit 2; }
  pids=()
  for ((w = 0; w < workers; w++)); do
    python -m recneg experiment run "$toml" --threads 1 --results-dir "$results" --no-progress &
    pids+=($!)
    sleep 5  # let the first worker claim its cell before the next one looks
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  echo "$(date -u +%FT%TZ) $grid: finished"
done
