#!/usr/bin/env bash
# Run (or resume) the grids declared in experiments/next/ with two workers, in the order
# given, writing their journals to results/next/ (or $NEXT_RESULTS_DIR). A journal line is
# appended as each cell finishes, so the run can be stopped at any time and resumed by
# running this script again, in this session or a later one (commit results/next/ to keep
# what has finished).
#   nohup bash tools/run_next_grids.sh > next_grids.log 2>&1 &
#   bash tools/run_next_grids.sh case_ml100k_loo      # one grid
# Each cell records the commit it ran at, marked +dirty when tracked files outside results/
# differ from it. To keep editing the repository meanwhile, run from a clean worktree and
# point the journals at this checkout:
#   git worktree add --detach ../grids-wt && cd ../grids-wt
#   NEXT_RESULTS_DIR=$OLDPWD/results/next nohup bash tools/run_next_grids.sh > next_grids.log 2>&1 &
# To stop without losing the cells in training (a killed worker loses its cell, up to an
# hour of a core), touch the drain file: each worker finishes and journals its cell, then
# exits. The script removes the file when it starts.
#   touch results/next/.drain
set -euo pipefail
cd "$(dirname "$0")/.."
results="${NEXT_RESULTS_DIR:-results/next}"
workers="${NEXT_WORKERS:-2}"
drain="$results/.drain"
grids=("$@")
if (( ${#grids[@]} == 0 )); then
  # in this order; a grid that has landed (tools/land_next_grid.py) is no longer in experiments/next/
  for grid in case_ml100k_loo comparison_ml100k_logq case_ml100k_temporal case_beauty_loo; do
    if [[ -f "experiments/next/${grid}.toml" ]]; then grids+=("$grid"); fi
  done
  if (( ${#grids[@]} == 0 )); then
    echo "no grid left in experiments/next/: every one has landed" >&2
    exit 0
  fi
fi
for grid in "${grids[@]}"; do
  toml="experiments/next/${grid}.toml"
  [[ -f "$toml" ]] || { echo "no grid file $toml; the grids here are: $(ls experiments/next/*.toml)" >&2; exit 2; }
done
mkdir -p "$results"
rm -f "$drain"

# A worker walks the grids twice. On the first pass it leaves a grid as soon as every cell
# it could run is in training elsewhere (the last cells, or the tuning runs that final cells
# wait for) and starts on the next grid, where waiting would leave its core idle; on the
# second pass it waits for such cells, so no grid is left unfinished while work remains.
worker() {
  local id="$1" pass grid
  for pass in --no-wait --wait; do
    for grid in "${grids[@]}"; do
      if [[ -e "$drain" ]]; then
        echo "$(date -u +%FT%TZ) worker $id: $drain exists, stopping"
        return 0
      fi
      python -m recneg experiment run "experiments/next/${grid}.toml" --threads 1 --results-dir "$results" \
        --no-progress --stop-file "$drain" $([[ "$pass" == --no-wait ]] && echo --no-wait)
      echo "$(date -u +%FT%TZ) worker $id: left $grid (${pass#--} pass)"
    done
  done
}

pids=()
for ((w = 0; w < workers; w++)); do
  worker "$w" &
  pids+=($!)
  sleep 5  # let the first worker claim its cell before the next one looks
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
echo "$(date -u +%FT%TZ) all workers done"
exit "$status"
