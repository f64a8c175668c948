"""The committed results files are fit to publish.

Every grid in ``experiments/`` that names a ``chapter`` must have complete results in
``results/``, written from the grid as it is now (same config hash), with provenance
beside them and no flagged run that the grid does not declare a failure shown on purpose.
Any other results file must at least load (hash and flags checked). This is the same
check the chapters run when they load their tables, so the book build cannot publish a
stale or degenerate table either.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from recneg.results import load_results

ROOT = Path(__file__).resolve().parents[1]
GRIDS = sorted((ROOT / "experiments").glob("*.toml"))
PUBLISHED = [g for g in GRIDS if "chapter" in tomllib.loads(g.read_text())]
RESULTS = sorted((ROOT / "results").glob("*.csv"))


@pytest.mark.parametrize("grid", PUBLISHED, ids=lambda p: p.stem)
def test_published_grids_have_complete_healthy_results(grid):
    chapter = tomllib.loads(grid.read_text())["chapter"]
    assert (ROOT / f"{chapter}.ipynb").exists() or (ROOT / f"{chapter}.md").exists(), chapter
    results = load_results(grid.stem)            # raises on a stale hash, flags or missing cells
    assert results.complete
    source = (ROOT / f"{chapter}.ipynb").read_text() if (ROOT / f"{chapter}.ipynb").exists() else ""
    assert grid.stem in source, f"{chapter} does not read results/{grid.stem}.csv"
    seeds = results.summary(["hr@10"])["seeds"]
    assert seeds.min() >= 5, "a published mean needs at least five seeds"


@pytest.mark.parametrize("csv", RESULTS, ids=lambda p: p.stem)
def test_every_results_file_has_provenance_and_loads(csv):
    provenance = json.loads(csv.with_suffix(".json").read_text())
    for field in ("commit", "config_hash", "versions", "compute", "cells", "most_popular_floor"):
        assert field in provenance, field
    assert csv.with_name(f"{csv.stem}.cells.jsonl").exists(), "the journal is part of the record"
    load_results(csv.stem, require_complete=False)


NEXT = sorted((ROOT / "experiments" / "next").glob("*.toml"))


@pytest.mark.parametrize("grid", NEXT, ids=lambda p: p.stem)
def test_a_grid_being_rerun_replaces_a_published_one_and_its_journal_is_its_own(grid):
    """experiments/next/ holds longer-trained editions of published grids; the journal of
    each (results/next/, committed as it grows) must hold only cells of that edition, or
    resuming it would publish cells trained under another declaration."""
    from recneg.grid import load_grid
    from recneg.results import SUFFICIENT_PATIENCE
    from recneg.runner import Journal

    edition = load_grid(grid)
    published = load_grid(ROOT / "experiments" / grid.name)
    assert edition.config_hash != published.config_hash, "an edition that changes nothing"
    every = [edition.cell(s, a, l, p, seed) for s in edition.settings for l in edition.losses
             for a in edition.arms for p in a.candidates() for seed in {*edition.seeds, *edition.tune_seeds}]
    assert min(int(c.train["patience"]) for c in every) >= SUFFICIENT_PATIENCE
    journal = ROOT / "results" / "next" / f"{grid.stem}.cells.jsonl"
    if journal.exists():
        keys = {c.key for c in every}
        found = set(Journal(journal).read())   # as the runner reads it (a line cut by a crash is skipped)
        assert found <= keys, f"{len(found - keys)} journal cells belong to no cell of {grid}"


CHECKS = sorted((ROOT / "results").rglob("*.verify.json"))
PROBES = sorted((ROOT / "results").rglob("*.probes.json"))


@pytest.mark.parametrize("record", PROBES, ids=lambda p: str(p.relative_to(ROOT / "results")))
def test_recorded_probes_are_runs_of_the_edition_beside_them(record):
    """``recneg experiment curve --keep`` writes these; chapters render those of the edition they publish."""
    data = json.loads(record.read_text())
    csv = record.with_name(record.name.replace(".probes.json", ".csv"))
    assert csv.exists() and Path(data["results"]).name == csv.name, data["results"]
    provenance = json.loads(csv.with_suffix(".json").read_text())
    published = {(c["setting"], c["arm"], c["seed"]): c for c in provenance["cells"]}
    for probe in data["probes"]:
        if probe["config_hash"] != provenance["config_hash"]:
            continue   # a probe of an edition since replaced: kept, never rendered (runner.read_probes)
        curve = probe["valid_curve"]
        assert len(curve) == probe["epochs"] and None not in curve
        assert max(curve) == curve[probe["best_epoch"] - 1] and curve.index(max(curve)) == probe["best_epoch"] - 1
        cell = published[(probe["setting"], probe["arm"], probe["seed"])]
        assert probe["stored"]["best_epoch"] == cell["best_epoch"]
        assert probe["stored"]["epochs_trained"] == cell["epochs_trained"] <= probe["epochs"]


@pytest.mark.parametrize("record", CHECKS, ids=lambda p: str(p.relative_to(ROOT / "results")))
def test_recorded_re_run_checks_belong_to_results_beside_them(record):
    """``recneg experiment verify --record`` writes these; the status page shows them."""
    data = json.loads(record.read_text())
    csv = record.with_name(record.name.replace(".verify.json", ".csv"))
    # the file checked, where it was then (a re-run edition's checks land with it from results/next/)
    assert csv.exists() and Path(data["results"]).name == csv.name, data["results"]
    for check in data["checks"]:
        assert 0 <= check["agree"] <= check["values"] == len(check["rows"])
        assert 0 <= check["within_seed_noise"] <= check["values"]
        assert check["config_hash"] and check["commit"] and check["cpu"]
