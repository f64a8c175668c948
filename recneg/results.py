"""Read the versioned results of experiment grids (``results/<name>.csv`` + ``.json``).

Chapters never train their published tables: they load the files that
:func:`recneg.runner.run_grid` wrote, and :func:`load_results` refuses files that a
reader should not trust:

* the grid file ``experiments/<name>.toml`` changed since the results were written
  (its config hash differs from the one recorded in the JSON);
* a run is *flagged* (below MostPopular, untouched items in its top-10, or stopped by the
  epoch cap while validation was still improving — see :mod:`recneg.health`) and its arm
  does not declare ``shown_as_failure = "<cause>"`` in the grid;
* (with ``require_complete=True``) some cells of the grid have not finished.

:meth:`Results.summary` gives per-arm means with 95 % t-intervals over seeds, and
:meth:`Results.provenance_line` the line printed under every table and figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ._errors import RecnegError
from .grid import load_grid

__all__ = ["SUFFICIENT_PATIENCE", "Results", "load_results", "mean_interval"]

_ROOT = Path(__file__).resolve().parents[1]
# The patience, in epochs, that the case study's probe ("Training on past the stop": published
# runs re-trained with early stopping off) found the SASRec grids need; the chapters mark a
# table from a grid stopped with less as provisional.
SUFFICIENT_PATIENCE = 100


def mean_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided Student-t interval of the mean.

    The half-width is NaN for fewer than two values (no spread to estimate).

    Examples
    --------
    >>> mean, half = mean_interval([0.10, 0.12, 0.11, 0.13, 0.09])
    >>> round(mean, 3), round(half, 4)
    (0.11, 0.0196)
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return math.nan, math.nan
    if len(values) < 2:
        return float(values.mean()), math.nan
    sem = values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean()), float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * sem)


@dataclass
class Results:
    """The tidy rows and the provenance of one grid."""

    name: str
    frame: pd.DataFrame
    provenance: dict

    @property
    def complete(self) -> bool:
        return bool(self.provenance.get("complete"))

    def wide(self, metrics: Sequence[str]) -> pd.DataFrame:
        """One row per (setting, sampler, loss, seed), one column per metric."""
        rows = self.frame[self.frame.metric.isin(metrics)]
        table = rows.pivot_table(index=["setting", "sampler", "loss", "seed"], columns="metric",
                                 values="value", sort=False)
        return table[[m for m in metrics if m in table.columns]]

    def summary(self, metrics: Sequence[str] = ("hr@10", "ndcg@10"), confidence: float = 0.95) -> pd.DataFrame:
        """Mean and interval half-width (``<metric>`` and ``<metric> ±``) per arm, and ``seeds``."""
        wide = self.wide(metrics)
        out = []
        for group, block in wide.groupby(level=["setting", "sampler", "loss"], sort=False):
            row = dict(zip(["setting", "sampler", "loss"], group), seeds=len(block))
            for metric in wide.columns:
                row[metric], row[f"{metric} ±"] = mean_interval(block[metric], confidence)
            out.append(row)
        return pd.DataFrame(out).set_index(["setting", "sampler", "loss"])

    def flagged(self) -> pd.DataFrame:
        """Runs flagged by the health checks (one row per run)."""
        runs = self.frame.drop_duplicates("key")
        return runs[runs.flagged.astype(bool)][["setting", "sampler", "loss", "seed", "flags", "shown_as_failure"]]

    def grid(self):
        """The grid file this results file was written from (its config hash is checked on load)."""
        return load_grid(_ROOT / self.provenance["config_file"])

    def patience_replay(self, patiences: Sequence[int]) -> pd.DataFrame:
        """Where each patience in ``patiences`` would have stopped every published run.

        Replays :func:`recneg.training.replay_early_stopping` on the validation curve each
        run recorded, with that run's warm-up. One row per run and patience: ``best`` and
        ``stopped`` (epochs), ``same_checkpoint`` (the best epoch the grid kept), ``given_up``
        (validation metric lost against the curve's best), ``valid_best`` and ``test_hr@10``:
        the test HR@10 of the checkpoint that patience keeps, from the scores each run
        recorded at its new validation bests (NaN for runs recorded without them). Empty
        when the file was written before runs recorded their curves.
        """
        from .training import replay_early_stopping

        grid = self.grid()
        cells = self.provenance["cells"]
        if not cells or any(not c.get("valid_curve") or None in c["valid_curve"] for c in cells):
            return pd.DataFrame(columns=["setting", "arm", "loss", "seed", "patience", "best", "stopped",
                                         "same_checkpoint", "given_up", "valid_best", "test_hr@10"])
        # each run's own training options: an arm or a loss may override the grid's rule
        settings, arms, losses = ({x.label: x for x in group} for group in (grid.settings, grid.arms, grid.losses))
        trains = [grid.cell(settings[c["setting"]], arms[c["arm"]], losses[c["loss"]], c["params"], c["seed"]).train
                  for c in cells]
        shortest = min(int(train.get("patience") or 0) for train in trains)
        if max(patiences) > shortest:
            raise RecnegError(f"patience {max(patiences)} is longer than the grid's own ({shortest}): its runs "
                              "stopped before such a patience would have; replay only shorter ones")
        rows = []
        for cell, train in zip(cells, trains):
            curve = cell["valid_curve"]
            tests = cell.get("test_at_new_best") or {}
            test_hr = dict(zip(tests.get("epoch", []), tests.get("hr@10", [])))
            for patience in patiences:
                best, stopped = replay_early_stopping(curve, patience, train.get("min_epochs", 0))
                rows.append({"setting": cell["setting"], "arm": cell["arm"], "loss": cell["loss"], "seed": cell["seed"],
                             "patience": patience, "best": best, "stopped": stopped,
                             "same_checkpoint": best == cell["best_epoch"], "given_up": max(curve) - curve[best - 1],
                             "valid_best": max(curve), "test_hr@10": test_hr.get(best, math.nan)})
        return pd.DataFrame(rows)

    def patience_gain(self, shorter: int, confidence: float = 0.95) -> pd.DataFrame:
        """What the grid's own patience bought over a ``shorter`` one, per arm.

        Each run is replayed with the shorter patience on its own validation curve, and
        the test HR@10 of the checkpoint that patience keeps is read from the scores the
        run recorded at its new validation bests: both numbers come from the same run,
        so the difference is paired. One row per (setting, arm, loss): ``runs``,
        ``moved`` (runs whose kept checkpoint differs), mean epochs trained under each
        rule (``epochs_shorter``, ``epochs_own``), mean test HR@10 under each
        (``hr@10_shorter``, ``hr@10_own``) and the mean paired gain with the half-width
        of its t-interval (``gain``, ``gain ±``).
        """
        replay = self.patience_replay([shorter])
        if replay.empty:
            raise RecnegError(f"results/{self.name}.csv has no published run with a recorded validation curve; "
                              "run the grid (or wait for its first final cells) before comparing patiences")
        if replay["test_hr@10"].isna().any():
            raise RecnegError(f"results/{self.name}.csv: some runs recorded no test score at their new validation "
                              "bests (written before runs recorded them); re-run the grid to compare patiences")
        cells = pd.DataFrame(self.provenance["cells"]).drop_duplicates(["setting", "arm", "loss", "seed"])
        # the own checkpoint's score from the same record as the shorter one's (same rounding)
        cells["hr@10_own"] = [dict(zip(c["epoch"], c["hr@10"]))[best]
                              for c, best in zip(cells["test_at_new_best"], cells["best_epoch"])]
        runs = replay.merge(cells[["setting", "arm", "loss", "seed", "epochs_trained", "best_epoch", "hr@10_own"]],
                            on=["setting", "arm", "loss", "seed"])
        runs["gain"] = runs["hr@10_own"] - runs["test_hr@10"]
        rows = []
        for (setting, arm, loss), block in runs.groupby(["setting", "arm", "loss"], sort=False):
            gain, half = mean_interval(block["gain"], confidence)
            rows.append({"setting": setting, "arm": arm, "loss": loss, "runs": len(block),
                         "moved": int((block["best"] != block["best_epoch"]).sum()),
                         "epochs_shorter": block["stopped"].mean(), "epochs_own": block["epochs_trained"].mean(),
                         "hr@10_shorter": block["test_hr@10"].mean(), "hr@10_own": block["hr@10_own"].mean(),
                         "gain": gain, "gain ±": half})
        return pd.DataFrame(rows).set_index(["setting", "arm", "loss"])

    def provenance_line(self) -> str:
        p = self.provenance
        compute = p.get("compute", {})
        hours = compute.get("cell_wall_seconds", 0.0) / 3600
        threads = ",".join(str(t) for t in compute.get("threads", [])) or "?"
        return (f"Source: results/{self.name}.csv from experiments/{self.name}.toml (config {p['config_hash']}), "
                f"commit {p['commit'][:10]}, updated {p['updated_at'][:10]}; "
                f"{compute.get('cells_trained', 0)} training runs, {hours:.1f} h of run time "
                f"({threads} thread(s) per run, {', '.join(compute.get('devices', [])) or 'cpu'}; "
                f"{compute.get('cpu_count', '?')} cores), torch {p['versions']['torch']}.")


def _check(results: Results, require_complete: bool) -> None:
    name, p = results.name, results.provenance
    grid_file = _ROOT / p["config_file"]
    if load_grid(grid_file).config_hash != p["config_hash"]:
        raise RecnegError(f"{p['config_file']} changed after results/{name}.csv was written; "
                          f"re-run `recneg experiment run {p['config_file']}`")
    bad = results.flagged()
    bad = bad[bad.shown_as_failure.fillna("").astype(str) == ""]
    if len(bad):
        first = bad.iloc[0]
        raise RecnegError(f"results/{name}.csv holds {len(bad)} flagged run(s), e.g. {first['sampler']} "
                          f"({first['loss']}, seed {first['seed']}, {first['setting']}): {first['flags']}; find the cause, "
                          "or declare shown_as_failure in the grid if the chapter shows it as a failure")
    if require_complete and not results.complete:
        done = p["final_cells"]
        raise RecnegError(f"results/{name}.csv is incomplete ({done['done']} of {done['total']} final cells); "
                          f"resume it with `recneg experiment run {p['config_file']}`")


def load_results(name: str, *, results_dir=None, require_complete: bool = True, check: bool = True) -> Results:
    """Load ``results/<name>.csv`` and its provenance, after the checks above.

    Parameters
    ----------
    name : str
        The grid's name (``experiments/<name>.toml``).
    results_dir : str or Path, optional
        Default: ``results/`` at the repository root.
    require_complete : bool, default True
        Refuse a grid with unfinished final cells.
    check : bool, default True
        Run the checks of the module docstring (a chapter always does).
    """
    path = Path(name)
    if path.name != name or path.suffix in (".csv", ".json", ".toml"):
        # results/<name>.csv names its folder; experiments/<name>.toml does not
        folder = f", results_dir={str(path.parent)!r}" if path.parent != Path(".") and path.suffix != ".toml" else ""
        raise RecnegError(f"load_results takes a grid's name, not a path: got {name!r}; pass {path.stem!r}{folder}")
    folder = Path(results_dir) if results_dir is not None else _ROOT / "results"
    csv_path, json_path = folder / f"{name}.csv", folder / f"{name}.json"
    if not csv_path.is_file() or not json_path.is_file():
        raise RecnegError(f"{csv_path} or {json_path.name} is missing; run `recneg experiment run "
                          f"experiments/{name}.toml` first")
    frame = pd.read_csv(csv_path, dtype={"flags": str, "shown_as_failure": str, "sampler_params": str})
    frame[["flags", "shown_as_failure"]] = frame[["flags", "shown_as_failure"]].fillna("")
    results = Results(name, frame, json.loads(json_path.read_text()))
    if check:
        _check(results, require_complete)
    return results
