"""Run an experiment grid resumably and keep its results as versioned data.

``recneg experiment run experiments/<name>.toml`` (or :func:`run_grid`) trains every cell
of a :class:`~recneg.grid.Grid`:

1. *tuning*: each arm with a ``tune`` grid is trained for every candidate with the
   ``tune_seeds``; the candidate with the best mean validation metric (``tune_metric``,
   NDCG@10 by default) is chosen, preferring candidates whose runs are not flagged;
2. *final*: every arm is trained with its chosen parameters for every seed. A final
   cell identical to a tuning cell (same parameters and seed) is not trained twice.

Every finished cell is appended as one JSON line to ``results/<name>.cells.jsonl`` (the
journal) the moment it ends, so an interrupted run continues where it stopped. After
each cell the runner rewrites, atomically, ``results/<name>.csv`` (tidy: one row per final
cell and metric) and ``results/<name>.json`` (provenance: commit, config hash, package
versions, threads, device, wall time, epochs and health figures per cell, the chosen
parameters with their validation scores, the MostPopular floor of every setting).

:func:`verify` re-runs random final cells and compares them with the stored numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import random
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import __version__
from ._atomic import atomic_write_text
from ._errors import RecnegError, check_positive_int
from .grid import Cell, Grid, Setting, load_grid

__all__ = ["RESULT_COLUMNS", "Journal", "load_setting", "retrain_without_stopping", "run_cell", "run_grid", "verify"]

#: Columns of ``results/<name>.csv``.
RESULT_COLUMNS = ["grid", "setting", "dataset", "split", "model", "sampler", "sampler_name", "sampler_params",
                  "loss", "seed", "metric", "value", "protocol", "candidates", "flagged", "flags",
                  "shown_as_failure", "key"]
_ROOT = Path(__file__).resolve().parents[1]


# -- data --------------------------------------------------------------------------------------
def load_setting(setting: Setting):
    """The :class:`~recneg.data.Split` of a setting (user sample and k-core re-filter first;
    with ``thin_items``, its cohort of new items is in ``info["cold_cohort"]["cohort"]``)."""
    from .data import global_temporal_split, leave_one_out, load_dataset
    from .data.preprocess import k_core

    if setting.dataset == "synthetic":
        log = _world(setting).generate()
    else:
        log = load_dataset(setting.dataset, progress=False)
    if setting.max_users is not None and setting.max_users < log.n_users:
        rng = np.random.default_rng(setting.sample_seed)
        log = log.subset(np.isin(log.users, rng.choice(log.n_users, setting.max_users, replace=False)))
    if setting.k_core is not None:
        log = k_core(log, setting.k_core)
    if setting.split == "temporal":
        if not log.has_time:
            raise RecnegError(f"{setting.dataset} has no timestamps; use split = \"leave-one-out\"")
        split = global_temporal_split(log)
    else:
        split = leave_one_out(log)
    if setting.thin_items is None:
        return split
    from .cold_start import thin_item_cohort

    thinned, cohort = thin_item_cohort(split, **dict(setting.thin_items))
    thinned.info["cold_cohort"]["cohort"] = cohort   # the cold_start probe reads it, without a second load
    return thinned


def new_item_cohort(setting: Setting):
    """The cohort of items a ``thin_items`` setting keeps to a few training interactions."""
    if setting.thin_items is None:
        raise RecnegError(f"setting {setting.label!r} has no thin_items, hence no cohort of new items; "
                          "add thin_items = { fraction = 0.15, keep = 2 } to it")
    return load_setting(setting).info["cold_cohort"]["cohort"]


def _world(setting: Setting):
    """The synthetic world of a ``dataset = "synthetic"`` setting."""
    from .data import SyntheticWorld

    return SyntheticWorld(**dict(setting.world or {}))


def setting_summary(split) -> dict:
    """Sizes of a split that a chapter states beside its tables."""
    return {"n_users": int(split.n_users), "n_items": int(split.n_items), "train_rows": len(split.train),
            "valid_rows": len(split.valid), "test_rows": len(split.test),
            "test_users": int(len(np.unique(split.test.users))),
            "trainable_items": int((split.train.item_counts()[1:] > 0).sum())}


# -- one cell ----------------------------------------------------------------------------------
def _numbers(metrics: Mapping) -> dict:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float, np.floating, np.integer))}


def run_cell(cell: Cell, split, floor: Mapping, *, device=None) -> dict:
    """Train one cell and return its journal record (metrics, health, timings)."""
    from .experiment import build_model
    from .health import assess_result
    from . import production  # noqa: F401  (registers the production methods, e.g. "cross-batch")
    from .samplers.registry import make_sampler
    from .training import TrainConfig, Trainer

    model_params = {k: v for k, v in cell.model.items() if k != "name"}
    model = build_model(cell.model["name"], split, random_state=cell.seed, **model_params)
    sampler = None
    if cell.arm.sampler is not None:
        sampler = make_sampler(cell.arm.sampler, **{"random_state": cell.seed, **_world_inputs(cell)})
    recorder = _draw_recorder(cell, split, sampler)
    # test_at_new_best is not part of the cell (its key): it records, never changes, a run
    config = TrainConfig(**{**cell.train, "seed": cell.seed, "device": device, "progress": False,
                            "test_at_new_best": True})
    began, began_cpu = time.perf_counter(), time.process_time()
    # A warning during training (e.g. a mix that rounds to no mix, items a sampler never
    # draws) goes into the record: a log line is easy to miss in a long background grid.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = Trainer(model, recorder or sampler, config).fit(split)
        health = assess_result(result, floor)
        probes = _run_probes(cell, model, split, recorder.base_ if recorder else sampler, result)
    said = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    for w in {f"{w.category.__name__}: {w.message}": w for w in caught}.values():
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)   # still shown once each
    if recorder is not None and "trained_false_negatives" in cell.probes:
        probes["trained_false_negatives"] = _trained_false_negatives(recorder, result.best_epoch)
    if "cold_start" in cell.probes:
        probes["cold_start"] = _cold_start(cell, model, split, result, recorder)
    return {
        "key": cell.key, "setting": cell.setting.label, "arm": cell.arm.label, "loss": cell.loss_label,
        "sampler": cell.arm.sampler, "params": dict(cell.params), "seed": cell.seed,
        "test": _numbers(result.test), "valid": _numbers(result.valid),
        "protocol": result.test.get("protocol", "full"), "candidates": result.test.get("candidates", ""),
        "health": health.as_dict(), "flags": list(health.flags),
        "epochs_trained": int(result.epochs_trained), "best_epoch": int(result.best_epoch),
        # The validation metric after each epoch (None where none was computed): a run with a
        # long patience then also shows where a shorter one would have stopped
        # (recneg.training.replay_early_stopping).
        "valid_curve": _valid_curve(result),
        # The test score at each new validation best: whichever of those epochs a shorter
        # patience would have kept, its published score is here (Results.patience_replay).
        "test_at_new_best": _new_best_tests(result),
        "stop_reason": result.stop_reason, "wall_seconds": round(time.perf_counter() - began, 3),
        # CPU time of this process: unlike wall time, it does not count a paused or
        # starved worker (a grid shares its cores with whatever else runs)
        "cpu_seconds": round(time.process_time() - began_cpu, 3),
        "threads": torch.get_num_threads(), "device": str(config.resolved_device()), "cpu": cpu_fingerprint(),
        "commit": git_commit(), "finished_at": _now(), **({"probes": probes} if probes else {}),
        **({"warnings": said} if said else {}),
    }


def _new_best_tests(result) -> dict:
    table = result.new_best_tests
    if table is None or table.empty:
        return {}
    return {"epoch": [int(e) for e in table["epoch"]],
            **{m: [round(float(v), 6) for v in table[m]] for m in ("hr@10", "ndcg@10") if m in table}}


def _valid_curve(result) -> list:
    column = f"valid_{result.config.valid_metric}"
    if column not in result.history:
        return []
    return [None if not np.isfinite(v) else round(float(v), 6) for v in result.history[column]]


#: What a grid may name as a sampler parameter on a synthetic setting: the setting's world
#: supplies it (what each user was shown, and the share of users shown each item).
WORLD_INPUTS = {
    "@world.exposed": lambda world: world.exposed_mask(np.arange(world.n_users)),
    "@world.propensity": lambda world: world.exposed_mask(np.arange(world.n_users)).mean(axis=0),
}


def _world_inputs(cell: Cell) -> dict:
    """The cell's sampler parameters with every ``"@world.…"`` value replaced by the world's."""
    named = {k: v for k, v in cell.params.items() if isinstance(v, str) and v.startswith("@world.")}
    if not named:
        return dict(cell.params)
    unknown = sorted(set(named.values()) - set(WORLD_INPUTS))
    if unknown:
        raise RecnegError(f"{cell.arm.label}: unknown world input {unknown[0]!r}; use one of {sorted(WORLD_INPUTS)}")
    if cell.setting.dataset != "synthetic":
        raise RecnegError(f"{cell.arm.label}: {next(iter(named.values()))} needs a synthetic setting, "
                          f"but {cell.setting.label!r} is {cell.setting.dataset!r}")
    world = _world(cell.setting)
    return {**cell.params, **{k: WORLD_INPUTS[v](world) for k, v in named.items()}}


def _run_probes(cell: Cell, model, split, sampler, result) -> dict:
    """The grid's probes of the trained model (see :data:`recneg.grid.PROBES`)."""
    probes = {}
    if "calibration" in cell.probes:
        from .production.catalogue_probe import catalogue_calibration, probability_for_loss

        found = catalogue_calibration(model, split.test, split.train,
                                      probability=probability_for_loss(cell.train.get("loss", "bce")))
        found["reliability"] = {k: [float(x) for x in v] for k, v in found["reliability"].items()}
        probes["calibration"] = found
    from .samplers.base import NegativeSampler

    # Only item-level samplers draw negatives an audit can count; embedding methods do not.
    # A method that is no sampler but draws through one (IPW's uniform negatives) is audited
    # on that one; a sampler with a fallback (the exposure sampler's uniform_) on itself.
    if not isinstance(sampler, NegativeSampler):
        sampler = getattr(sampler, "uniform_", sampler)
    if "false_negatives" in cell.probes and cell.setting.dataset == "synthetic" and isinstance(sampler, NegativeSampler):
        probes["false_negatives"] = _false_negatives(cell, model, split, sampler)
    if "true_preferences" in cell.probes and cell.setting.dataset == "synthetic":
        from .diagnostics import true_preference_metrics

        found = true_preference_metrics(model, _world(cell.setting), split.train, k=10)
        probes["true_preferences"] = {f"true_{k}": float(v) for k, v in found.items() if k != "users"}
    if "sampled_protocols" in cell.probes:
        probes["sampled_protocols"] = _sampled_protocols(cell, model, split, result)
    if "history" in cell.probes:
        history = result.history[result.history.epoch <= max(result.best_epoch, 1)]
        probes["history"] = {f"mean_{c}": float(history[c].mean()) for c in history.columns
                             if c not in _TRAINER_COLUMNS and not c.startswith("valid_")}
    return probes


def _draw_recorder(cell: Cell, split, sampler):
    """A recorder of the negatives training draws, flagged by the synthetic world's truth,
    when the grid asks for ``"trained_false_negatives"``; else None. The trainer hands the
    recorder its own generator, so the draws are those of the bare sampler."""
    from .diagnostics import DrawRecorder
    from .samplers.base import NegativeSampler

    if not isinstance(sampler, NegativeSampler):
        return None
    if "trained_false_negatives" in cell.probes and cell.setting.dataset == "synthetic":
        return DrawRecorder(sampler, flags=_world(cell.setting).false_negative_mask(split.train))
    if "cold_start" in cell.probes:
        return DrawRecorder(sampler)   # counts the draws per item, for the new items' share
    return None


def _cold_start(cell: Cell, model, split, result, recorder) -> dict:
    """How the model ranks the new items' test rows, and their share of the drawn negatives."""
    from .cold_start import cohort_report

    cohort = split.info["cold_cohort"]["cohort"]
    report = cohort_report(model, split.test, split.train, cohort, touched=result.touched_items)
    found = {"new_hr@10": float(report["hr@10"]), "new_mrr": float(report["mrr"]),
             "new_top_share@10": float(report["top_share@10"]), "new_catalogue_share": float(report["catalogue_share"]),
             "new_test_rows": float(report["rows"])}
    if recorder is not None:   # methods that are no item sampler draw nothing to count
        draws = recorder.item_draws_
        found["new_negative_share"] = float(draws[torch.as_tensor(cohort)].sum() / draws.sum())
        weights = recorder.item_weights_   # the share of the loss's negative weight (differs for re-weighting)
        found["new_negative_weight"] = float(weights[torch.as_tensor(cohort)].sum() / weights.sum())
    return found


def _trained_false_negatives(recorder, best_epoch: int) -> dict:
    """Share of truly liked items among the negatives drawn up to, and in, the best epoch."""
    history = recorder.history()
    upto = history[history.epoch <= max(best_epoch, 1)]
    best = history[history.epoch == max(best_epoch, 1)]
    return {"fnr_trained": float(upto.flagged.sum() / max(upto.negatives.sum(), 1)),
            "fnr_trained_best": float(best.flagged.sum() / max(best.negatives.sum(), 1))}


def _sampled_protocols(cell: Cell, model, split, result) -> dict:
    """The test split ranked against 100 uniform and 100 popularity-drawn unseen items.

    Only the rank metrics (HR, NDCG, MRR): the top-k lists, hence coverage and the like,
    come from full scores under every protocol."""
    from .evaluation import evaluate

    ks, found = tuple(result.config.ks), {}
    for by in ("uniform", "popularity"):
        scores = evaluate(model, split.test, split.train, ks=ks, protocol="sampled", n_sampled=100, sampled_by=by,
                          batch_size=result.config.eval_batch_size, random_state=cell.seed)
        names = [f"hr@{k}" for k in ks] + [f"ndcg@{k}" for k in ks] + ["mrr"]
        found.update({f"{name}_sampled_{by}": float(scores[name]) for name in names})
    return found


#: Columns every training history has; the "history" probe reports the others.
_TRAINER_COLUMNS = {"epoch", "train_loss", "seconds", "eval_seconds", "elapsed_seconds", "negatives_per_s"}


def _false_negatives(cell: Cell, model, split, sampler) -> dict:
    """False-negative rate of the trained sampler's draws, scored by the trained model."""
    from .diagnostics import false_negative_rate

    world = _world(cell.setting)
    k = int(cell.train.get("num_negatives", 1))
    audit = false_negative_rate(sampler, world, split.train, num_negatives=k, n_rounds=5, scorer=model,
                                random_state=cell.seed)
    found = {"fnr": float(audit["rate"]), "fnr_uniform": float(audit["uniform_rate"])}
    if "weighted_rate" in audit:
        found["fnr_weighted"] = float(audit["weighted_rate"])
    return found


def _probe_numbers(record: Mapping) -> dict:
    """Scalar probe results of a record, as extra metrics of the tidy table."""
    return {k: v for found in record.get("probes", {}).values() for k, v in found.items() if isinstance(v, float)}


# -- the journal --------------------------------------------------------------------------------
class Journal:
    """Append-only JSON-lines record of finished cells, keyed by :attr:`Cell.key`."""

    def __init__(self, path) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, dict]:
        records: dict[str, dict] = {}
        if not self.path.exists():
            return records
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash; its cell is simply run again
            records[record["key"]] = record
        return records

    def append(self, record: Mapping) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")  # end a line cut by a crash before appending
            handle.write((json.dumps(record, sort_keys=True) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())


class Claims:
    """Which cells a live process is training: one file per cell, created exclusively.

    A claim whose process has died is stale and is taken over, so a killed run never
    blocks its cells.
    """

    def __init__(self, folder) -> None:
        self.folder = Path(folder)

    def take(self, key: str) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / key
        # the claim appears with its pid already in it (a hard link is created exclusively):
        # a claim created empty and written after would read as dead to a second process
        pending = self.folder / f".{key}.{os.getpid()}"
        pending.write_text(str(os.getpid()))
        try:
            os.link(pending, path)
        except FileExistsError:
            if _alive(path):
                return False
            path.unlink(missing_ok=True)  # left by a process that died
            return self.take(key)
        finally:
            pending.unlink(missing_ok=True)
        return True

    def release(self, key: str) -> None:
        (self.folder / key).unlink(missing_ok=True)


def in_training(grid: Grid, results_dir) -> list[tuple[Cell, _dt.datetime]]:
    """The cells of ``grid`` that live processes have claimed, each with when its claim was
    made (UTC), oldest first."""
    folder = Path(results_dir) / f".{grid.name}.claims"
    chosen, _ = choose_parameters(grid, Journal(Path(results_dir) / f"{grid.name}.cells.jsonl").read())
    cells = {c.key: c for c in grid.tuning_cells() + grid.final_cells(chosen)}
    found = []
    for path in sorted(folder.glob("[!.]*")) if folder.is_dir() else []:
        try:
            if path.name in cells and _alive(path):
                found.append((cells[path.name], _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc)))
        except FileNotFoundError:
            continue   # released while we looked
    return sorted(found, key=lambda pair: pair[1])


def _alive(claim: Path) -> bool:
    try:
        pid = int(claim.read_text() or 0)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return pid != 0


# -- selection ---------------------------------------------------------------------------------
def choose_parameters(grid: Grid, records: Mapping[str, dict]) -> tuple[dict, dict]:
    """Pick each tuned arm's parameters from finished tuning cells.

    Returns ``(chosen, report)``: ``chosen[(setting, arm, loss)]`` = parameters, only for
    groups whose tuning cells have all finished; ``report`` lists every candidate's mean
    validation score and whether any of its runs was flagged.
    """
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for cell in grid.tuning_cells():
        groups[(cell.setting.label, cell.arm.label, cell.loss.label)].append(cell)
    chosen, report = {}, {}
    for group, cells in groups.items():
        if any(c.key not in records for c in cells):
            continue
        by_params: dict[str, list[dict]] = defaultdict(list)
        for c in cells:
            by_params[json.dumps(dict(c.params), sort_keys=True)].append(records[c.key])
        rows = [{"params": json.loads(p),
                 "valid": float(np.mean([r["valid"].get(grid.tune_metric, np.nan) for r in rs])),
                 "flagged": any(r["flags"] for r in rs)} for p, rs in by_params.items()]
        pool = [r for r in rows if not r["flagged"]] or rows
        best = max(pool, key=lambda r: (np.nan_to_num(r["valid"], nan=-np.inf)))
        chosen[group] = best["params"]
        report["|".join(group)] = {"metric": f"valid {grid.tune_metric}", "chosen": best["params"],
                                   "candidates": rows}
    return chosen, report


# -- outputs -----------------------------------------------------------------------------------
def _tidy(grid: Grid, final: list[Cell], records: Mapping[str, dict]) -> pd.DataFrame:
    rows = []
    for cell in final:
        record = records.get(cell.key)
        if record is None:
            continue
        metrics = {**record["test"], "floor_hr@10": record["health"].get("floor_hr10", np.nan),
                   "epochs_trained": record["epochs_trained"], "best_epoch": record["best_epoch"],
                   "wall_seconds": record["wall_seconds"], **_probe_numbers(record)}
        for metric, value in metrics.items():
            rows.append({
                "grid": grid.name, "setting": cell.setting.label, "dataset": cell.setting.dataset,
                "split": cell.setting.split, "model": cell.model["name"], "sampler": cell.arm.label,
                "sampler_name": cell.arm.sampler or "none",
                "sampler_params": json.dumps(dict(cell.params), sort_keys=True), "loss": cell.loss_label,
                "seed": cell.seed, "metric": metric, "value": float(value), "protocol": record["protocol"],
                "candidates": record["candidates"], "flagged": bool(record["flags"]),
                "flags": ";".join(record["flags"]), "shown_as_failure": cell.arm.shown_as_failure or "",
                "key": cell.key,
            })
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _provenance(grid: Grid, config_file: str, final: list[Cell], records: Mapping[str, dict],
                report: Mapping, floors: Mapping, summaries: Mapping, started: str) -> dict:
    chosen = [(c, records[c.key]) for c in final if c.key in records]
    used = [r for _, r in chosen]
    tuning = [records[c.key] for c in grid.tuning_cells() if c.key in records]
    every = {r["key"]: r for r in used + tuning}.values()
    return {
        "grid": grid.name, "description": grid.description, "config_file": config_file,
        "config_hash": grid.config_hash, "commit": git_commit(), "started_at": started, "updated_at": _now(),
        "complete": len(used) == grid.n_final_cells(), "final_cells": {"done": len(used), "total": grid.n_final_cells()},
        "compute": {"cell_wall_seconds": round(sum(r["wall_seconds"] for r in every), 1),
                    **({"cell_cpu_seconds": round(sum(r["cpu_seconds"] for r in every), 1)}
                       if all("cpu_seconds" in r for r in every) else {}),
                    "cells_trained": len(list(every)), "machine": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "threads": sorted({r["threads"] for r in used}), "devices": sorted({r["device"] for r in used})},
        "versions": versions(), "settings": summaries, "most_popular_floor": floors, "selection": report,
        "cells": [{k: r[k] for k in ("key", "setting", "loss", "params", "seed", "epochs_trained",
                                       "best_epoch", "stop_reason", "wall_seconds", "health", "flags",
                                       "commit", "finished_at", "threads", "device")}
                  | {k: r[k] for k in ("cpu", "test_at_new_best") if r.get(k)}
                  # a run shared by two arms (an α arm and "α chosen on validation") is listed under
                  # each; its record names only the arm that trained it
                  | {"arm": cell.arm.label}
                  | ({"probes": r["probes"]} if "probes" in r else {})
                  | ({"warnings": r["warnings"]} if "warnings" in r else {})
                  # the curve lets a chapter replay a shorter patience without the journal
                  | ({"valid_curve": r["valid_curve"]} if r.get("valid_curve") else {}) for cell, r in chosen],
    }


def write_outputs(grid: Grid, config_file: str, records: Mapping[str, dict], results_dir, *,
                  floors: Mapping, summaries: Mapping, started: str) -> tuple[Path, Path]:
    """Rewrite ``<name>.csv`` and ``<name>.json`` from the journal's records (atomically)."""
    chosen, report = choose_parameters(grid, records)
    final = grid.final_cells(chosen)
    csv_path = Path(results_dir) / f"{grid.name}.csv"
    json_path = csv_path.with_suffix(".json")
    atomic_write_text(csv_path, _tidy(grid, final, records).to_csv(index=False))
    provenance = _provenance(grid, config_file, final, records, report, floors, summaries, started)
    atomic_write_text(json_path, json.dumps(provenance, indent=1, sort_keys=True, default=str) + "\n")
    return csv_path, json_path


# -- the run -----------------------------------------------------------------------------------
def _prepare_settings(grid: Grid) -> tuple[dict, dict, dict]:
    from .health import popularity_floor

    splits, floors, summaries = {}, {}, {}
    for setting in grid.settings:
        split = splits[setting.label] = load_setting(setting)
        floors[setting.label] = _numbers(popularity_floor(split))
        summaries[setting.label] = setting_summary(split)
    return splits, floors, summaries


def _pending(grid: Grid, records: Mapping[str, dict]) -> list[Cell]:
    chosen, _ = choose_parameters(grid, records)
    runnable = grid.tuning_cells() + grid.final_cells(chosen)
    seen, pending = set(records), []
    for cell in runnable:
        if cell.key not in seen:
            seen.add(cell.key)
            pending.append(cell)
    return pending


def run_grid(path, *, results_dir=None, device=None, threads: int | None = None,
             max_cells: int | None = None, progress: bool = True, poll_seconds: float = 20.0,
             wait: bool = True, stop_file=None) -> dict:
    """Run (or resume) the grid in ``path``; return the provenance written beside the CSV.

    Parameters
    ----------
    path : str, Path or Grid
        ``experiments/<name>.toml``, or a parsed grid (e.g. a :func:`~recneg.grid.miniature`).
    results_dir : str or Path, optional
        Default ``results/`` at the repository root.
    device : str, optional
        ``"cpu"`` or ``"cuda"``; default CPU unless CUDA is available.
    threads : int, optional
        ``torch.set_num_threads`` for the run (recorded with each cell).
    max_cells : int, optional
        Stop after this many newly trained cells (the next run resumes).
    progress : bool
        Show a progress bar with an ETA over the cells still to run.
    poll_seconds : float
        How often a process whose runnable cells are all claimed by other processes looks
        again. Several processes may run the same grid at once (one per core): each claims
        a cell before training it, and all of them append to the same journal.
    wait : bool, default True
        With ``False``, a process whose runnable cells are all claimed returns instead of
        waiting, so that a worker can move on to another grid while the last cells of this
        one (or the tuning runs that its final cells wait for) finish elsewhere.
    stop_file : str or Path, optional
        Before claiming each cell, stop if this file exists: touching it lets every worker
        finish and journal the cell it is training, then return, where killing them would
        lose those cells.
    """
    grid = path if isinstance(path, Grid) else load_grid(path)
    if threads is not None:
        torch.set_num_threads(check_positive_int("threads", threads))
    if max_cells is not None:
        max_cells = check_positive_int("max_cells", max_cells)
    results_dir = Path(results_dir) if results_dir is not None else _ROOT / "results"
    journal = Journal(results_dir / f"{grid.name}.cells.jsonl")
    config_file = grid.source if isinstance(path, Grid) else _relative(path)
    splits, floors, summaries = _prepare_settings(grid)
    started, trained = _started(results_dir / f"{grid.name}.json"), 0
    claims = Claims(results_dir / f".{grid.name}.claims")
    outputs = dict(floors=floors, summaries=summaries, started=started)
    records = journal.read()
    bar = tqdm(total=len(grid.tuning_cells()) + grid.n_final_cells(), desc=grid.name, disable=not progress,
               initial=len(records), unit="cell")
    stop_file = Path(stop_file) if stop_file is not None else None
    while max_cells is None or trained < max_cells:
        if stop_file is not None and stop_file.exists():
            break
        records = journal.read()  # other processes may be working on the same grid
        pending = _pending(grid, records)
        if not pending:
            break
        cell = next((c for c in pending if claims.take(c.key)), None)
        if cell is None:  # every runnable cell is being trained elsewhere: wait for one
            if not wait:
                break
            time.sleep(poll_seconds)
            continue
        if cell.key in journal.read():
            # Another process finished it between our read and our claim (it releases the
            # claim after appending): taking it again would train the cell twice.
            claims.release(cell.key)
            continue
        bar.set_postfix_str(cell.describe()[-60:])
        try:
            record = run_cell(cell, splits[cell.setting.label], floors[cell.setting.label], device=device)
            journal.append(record)
        finally:
            claims.release(cell.key)
        # re-read: other processes may have journalled cells while this one trained, and
        # the outputs are rewritten whole from what is passed here
        records = journal.read()
        trained += 1
        bar.update(1)
        write_outputs(grid, config_file, records, results_dir, **outputs)
    bar.close()
    write_outputs(grid, config_file, journal.read(), results_dir, **outputs)
    return json.loads((results_dir / f"{grid.name}.json").read_text())


def _published(csv_path: Path) -> tuple[dict, Grid, dict]:
    """A results file's provenance, its grid, and the grid's final cells by key (with the
    parameters its journal chose)."""
    provenance = json.loads(csv_path.with_suffix(".json").read_text())
    config = Path(provenance["config_file"])
    grid = load_grid(config if config.is_absolute() else _ROOT / config)
    journal = Journal(csv_path.with_name(f"{grid.name}.cells.jsonl")).read()
    return provenance, grid, {c.key: c for c in grid.final_cells(choose_parameters(grid, journal)[0])}


# -- verify ------------------------------------------------------------------------------------
def verify(csv_path, *, cells: int = 2, random_state: int = 0, tolerance: float = 1e-6,
           metrics=("hr@10", "ndcg@10", "mrr"), device=None) -> pd.DataFrame:
    """Re-run ``cells`` random final cells of a results file; compare with the stored values.

    Each cell is re-run with the thread count recorded for it. Returns one row per re-run
    cell and metric: ``stored``, ``rerun``, ``abs_diff``, ``agree`` (``abs_diff <=
    tolerance``), ``same_cpu`` (the stored run's :func:`cpu_fingerprint` equals this
    machine's; ``None`` for a run recorded without one) and ``within_seed_noise``. Exact
    agreement is only to be expected on the same CPU: elsewhere other kernels round
    differently and a long run drifts, so the re-run is compared with the spread of its
    arm's published seeds instead: inside their 99 % prediction interval (Student t, the
    interval a further seed would fall in 99 times in 100).
    """
    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    if not csv_path.is_file() or not json_path.is_file():
        raise RecnegError(f"{csv_path} and its provenance {json_path.name} must both exist; run the grid first")
    cells = check_positive_int("cells", cells)
    provenance, grid, by_key = _published(csv_path)
    if grid.config_hash != provenance["config_hash"]:
        raise RecnegError(f"{provenance['config_file']} changed since {csv_path.name} was written "
                          f"(hash {grid.config_hash} vs {provenance['config_hash']}); re-run the grid first")
    stored = pd.read_csv(csv_path)
    keys = sorted(stored["key"].unique())
    picked = random.Random(random_state).sample(keys, min(cells, len(keys)))
    from .health import popularity_floor

    splits, rows = {}, []
    for key in picked:
        cell = by_key[key]
        if cell.setting.label not in splits:
            split = load_setting(cell.setting)
            splits[cell.setting.label] = (split, _numbers(popularity_floor(split)))
        split, floor = splits[cell.setting.label]
        # the same thread count as the stored run: CPU reductions are ordered by thread
        stored_cell = next((c for c in provenance["cells"] if c["key"] == key), {})
        threads = stored_cell.get("threads")
        same_cpu = stored_cell["cpu"] == cpu_fingerprint() if stored_cell.get("cpu") else None
        if threads:
            torch.set_num_threads(int(threads))
        record = run_cell(cell, split, floor, device=device)
        for metric in metrics:
            old = float(stored.query("key == @key and metric == @metric")["value"].iloc[0])
            new = float(record["test"][metric])
            arm = stored.query("setting == @cell.setting.label and sampler == @cell.arm.label "
                               "and loss == @cell.loss_label and metric == @metric")["value"]
            noise = _prediction_half_width(arm.to_numpy(), 0.99)
            rows.append({"cell": cell.describe(), "metric": metric, "stored": old, "rerun": new,
                         "abs_diff": abs(old - new), "agree": abs(old - new) <= tolerance, "same_cpu": same_cpu,
                         "within_seed_noise": bool(abs(new - arm.mean()) <= noise + tolerance)})
    return pd.DataFrame(rows)


def record_verification(csv_path, table: pd.DataFrame, *, tolerance: float, commit: str | None = None) -> Path:
    """Append a :func:`verify` check to ``<name>.verify.json`` beside ``csv_path``.

    The file keeps every check of the results file (``checks``, oldest first): when and at
    which commit it ran, on which CPU, against which config hash, and its rows. The status
    page shows the latest check that matches the results' config hash. ``commit`` is the
    code the check ran (default: the checkout's now; pass the one read before re-training,
    which may take long enough for the checkout to move on). Written whole to a temporary
    file and renamed.
    """
    csv_path = Path(csv_path)
    provenance = json.loads(csv_path.with_suffix(".json").read_text())
    return _append_record(csv_path, "verify", "checks", {
        "checked_at": _now(), "commit": commit or git_commit(), "cpu": cpu_fingerprint(),
        "config_hash": provenance["config_hash"], "results_updated_at": provenance.get("updated_at"),
        "cells": list(dict.fromkeys(table["cell"])), "values": len(table), "tolerance": tolerance,
        "agree": int(table["agree"].sum()),
        "on_same_cpu": int((table["same_cpu"] == True).sum()),  # noqa: E712 (None: not recorded)
        "within_seed_noise": int(table["within_seed_noise"].sum()),
        "rows": json.loads(table.to_json(orient="records")),
    })


def verification_summary(csv_path) -> str | None:
    """One line on the latest recorded :func:`verify` check of the results in ``csv_path``
    (``None`` if none was recorded against their current config hash)."""
    checks = _records_of_edition(csv_path, "verify", "checks")
    if not checks:
        return None
    c = checks[-1]
    one = len(c["cells"]) == 1
    cells = f"{len(c['cells'])} cell{'' if one else 's'}"
    where = (f"the CPU that trained {'it' if one else 'them'}" if c["on_same_cpu"] == c["values"]
             else "another CPU" if c["on_same_cpu"] == 0 else "partly another CPU")
    line = f"{cells} re-run on {where}: {c['agree']} of {c['values']} values equal"
    if c["agree"] < c["values"]:
        line += f", {c['within_seed_noise']} of {c['values']} within seed noise"
    return f"{line} ({c['checked_at'][:10]}, {c['commit'][:10]})"


def _prediction_half_width(values: np.ndarray, confidence: float) -> float:
    """Half-width of the Student-t prediction interval for one more draw (0 for < 2 values)."""
    n = len(values)
    if n < 2:
        return 0.0
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) * np.sqrt(1 + 1 / n))


def retrain_without_stopping(csv_path, *, arm: str, seed: int, epochs: int, setting: str | None = None,
                             device=None) -> dict:
    """Re-train one published cell for ``epochs`` epochs with early stopping off.

    The run is the stored one (same cell, seed and thread count) up to where early
    stopping ended it, so its validation curve shows what the grid's patience cut off:
    the returned record (as :func:`run_cell` writes it, best checkpoint of all
    ``epochs``) gains ``stored`` (the published record's best epoch, epochs trained, stop
    reason and test HR@10) and, for a grid with patience that validates every epoch,
    ``replayed`` (best and stop epoch of the grid's own rule on the new curve, which equal
    the stored ones when the runs agree).
    """
    from .health import popularity_floor
    from .training import replay_early_stopping

    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    if not json_path.is_file():
        raise RecnegError(f"{json_path} does not exist; pass results/<name>.csv of a grid that has run")
    epochs = check_positive_int("epochs", epochs)
    provenance, grid, cells = _published(csv_path)
    stored = [c for c in provenance["cells"] if c["arm"] == arm and c["seed"] == seed
              and (setting is None or c["setting"] == setting)]
    if len(stored) != 1:
        arms = sorted({c["arm"] for c in provenance["cells"]})
        raise RecnegError(f"{len(stored)} published cells match arm {arm!r}, seed {seed}"
                          + (f", setting {setting!r}" if setting else "")
                          + f"; pick one arm of {arms}, a seed of {grid.seeds} and, with several settings, --setting")
    stored = stored[0]
    if stored["key"] not in cells:
        raise RecnegError(f"{grid.name}: the published cell {stored['key']} is not in the current grid; re-run the grid first")
    cell = cells[stored["key"]]
    rule = (int(cell.train.get("patience") or 0), int(cell.train.get("min_epochs", 0)))
    cell = dataclasses.replace(cell, train={**cell.train, "epochs": epochs, "patience": None, "min_epochs": 0})
    split = load_setting(cell.setting)
    if stored.get("threads"):
        torch.set_num_threads(int(stored["threads"]))
    record = run_cell(cell, split, _numbers(popularity_floor(split)), device=device)
    record["valid_metric"] = str(cell.train.get("valid_metric", "ndcg@10"))
    record["stored"] = {k: stored[k] for k in ("best_epoch", "epochs_trained", "stop_reason")} | {
        "hr@10": stored["health"]["hr10"]}
    if rule[0] and record["valid_curve"] and None not in record["valid_curve"]:
        best, stopped = replay_early_stopping(record["valid_curve"], rule[0], rule[1])
        record["replayed"] = {"patience": rule[0], "min_epochs": rule[1], "best_epoch": best, "stopped": stopped}
    return record


def probe_record(record: dict, csv_path) -> dict:
    """What a chapter needs to render a :func:`retrain_without_stopping` run, with provenance.

    The re-trained cell (results file, its config hash and commit, arm, seed, setting),
    the code that re-trained it (commit, versions, threads, processor, wall time) and what it found:
    the validation curve, its best epoch and test metrics there, the published record
    (``stored``) and the grid's own rule replayed on the new curve (``replayed``).
    """
    csv_path = Path(csv_path)
    provenance = json.loads(csv_path.with_suffix(".json").read_text())
    return {"results": csv_path.name, "grid": provenance["grid"], "config_hash": provenance["config_hash"],
            "results_commit": provenance["commit"], "setting": record["setting"], "arm": record["arm"],
            "seed": record["seed"], "epochs": len(record["valid_curve"]), "valid_metric": record["valid_metric"],
            "valid_curve": record["valid_curve"], "best_epoch": record["best_epoch"], "test": record["test"],
            "stored": record["stored"], "replayed": record.get("replayed"), "commit": git_commit(),
            "versions": versions(), "threads": record.get("threads"), "device": record.get("device"),
            "cpu": cpu_fingerprint(), "wall_seconds": record["wall_seconds"],
            "created_at": _now()}


def record_probe(csv_path, probe: Mapping) -> Path:
    """Append a :func:`probe_record` to ``<name>.probes.json`` beside ``csv_path``.

    The file keeps every probe of the results file (``probes``, oldest first); each names
    the config hash of the edition it re-trained, so a chapter renders only the probes of
    the edition it publishes (:func:`read_probes`). Written whole to a temporary file and
    renamed.
    """
    csv_path = Path(csv_path)
    config_hash = json.loads(csv_path.with_suffix(".json").read_text())["config_hash"]
    if probe.get("config_hash") != config_hash:
        raise RecnegError(f"the probe re-trained config {probe.get('config_hash')!r}, but {csv_path} holds "
                          f"{config_hash!r}; record a probe beside the results file it re-trained")
    return _append_record(csv_path, "probes", "probes", dict(probe))


def read_probes(csv_path) -> list[dict]:
    """The recorded probes (:func:`record_probe`) of the edition now in ``csv_path``, oldest first."""
    return _records_of_edition(csv_path, "probes", "probes")


# Re-run checks and probes live beside their results file, in ``<name>.<kind>.json`` as
# ``{"results": ..., <field>: [record, ...]}``; each record names the config hash it ran
# against, so a file keeps the history of every edition and readers filter to the current one.
def _append_record(csv_path: Path, kind: str, field: str, record: dict) -> Path:
    path = csv_path.with_name(f"{csv_path.stem}.{kind}.json")
    records = json.loads(path.read_text())[field] if path.is_file() else []
    records.append(record)
    atomic_write_text(path, json.dumps({"results": _relative(csv_path), field: records}, indent=1) + "\n")
    return path


def _records_of_edition(csv_path, kind: str, field: str) -> list[dict]:
    csv_path = Path(csv_path)
    path = csv_path.with_name(f"{csv_path.stem}.{kind}.json")
    if not path.is_file():
        return []
    config_hash = json.loads(csv_path.with_suffix(".json").read_text())["config_hash"]
    return [r for r in json.loads(path.read_text())[field] if r["config_hash"] == config_hash]


# -- provenance helpers ------------------------------------------------------------------------
def git_commit() -> str:
    """The repository's HEAD commit, with ``+dirty`` when tracked files outside ``results/`` have changes.

    ``results/`` is left out: a grid run there appends to its own tracked journal after the
    first cell, and that output does not change the code the next cell runs.
    """
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"], cwd=_ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def cpu_fingerprint() -> str:
    """The processor a run's floating-point results depend on.

    Math libraries pick kernels by instruction set (MKL, oneDNN, PyTorch's own dispatch),
    so the same seed and code can round differently on another CPU and, over hundreds
    of epochs, train a different model: a cell re-run elsewhere agrees only within
    seed-to-seed noise. Model name, family model number, PyTorch's CPU capability and a
    hash of the feature flags.
    """
    import hashlib

    name, model, flags = platform.processor() or platform.machine(), "?", ""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name, model, flags = fields.get("model name", name), fields.get("model", model), fields.get("flags", "")
    digest = hashlib.sha1(flags.encode()).hexdigest()[:8] if flags else "?"
    return f"{name}; model {model}; {torch.backends.cpu.get_cpu_capability()}; flags {digest}"


def versions() -> dict:
    import scipy

    return {"recneg": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__}


def _started(json_path: Path) -> str:
    """When the grid was first started (kept across resumed runs)."""
    try:
        return json.loads(json_path.read_text())["started_at"]
    except (OSError, ValueError, KeyError):
        return _now()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _relative(path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(_ROOT))
    except ValueError:
        return str(path)
