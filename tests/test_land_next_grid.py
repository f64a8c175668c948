"""tools/land_next_grid.py: a finished grid from experiments/next/ replaces the published
edition; its journal moves whole and nothing is retrained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from recneg import runner
from recneg.results import load_results

from helpers import TINY_GRID  # pytest puts tests/ on sys.path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import land_next_grid  # noqa: E402

def grid_text(epochs: int, patience: int, run: str = "experiments/tiny.toml --threads 1") -> str:
    """The shared tiny grid with a chapter, a run line, and the given stopping rule. The health
    checks are not what these tests are about: a toy world's runs may be flagged."""
    text = TINY_GRID.format(name="tiny").replace("epochs = 3", f"epochs = {epochs}").replace(
        "patience = 2", f"patience = {patience}")
    for sampler in ("uniform", "popularity"):
        text = text.replace(f'sampler = "{sampler}"\n', f'sampler = "{sampler}"\nshown_as_failure = "a toy world"\n')
    return f"# Run: recneg experiment run {run}\n" + text.replace('seeds = [0, 1]', 'chapter = "notebooks/99_tiny"\nseeds = [0, 1]')


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "experiments" / "next").mkdir(parents=True)
    (tmp_path / "results" / "next").mkdir(parents=True)
    published = tmp_path / "experiments" / "tiny.toml"
    published.write_text(grid_text(epochs=6, patience=1))
    runner.run_grid(published, results_dir=tmp_path / "results", progress=False, threads=1)
    edition = tmp_path / "experiments" / "next" / "tiny.toml"
    edition.write_text(grid_text(epochs=12, patience=4,
                                 run="experiments/next/tiny.toml --threads 1 --results-dir results/next"))
    return tmp_path


def test_landing_replaces_the_published_edition_and_retrains_nothing(repo):
    runner.run_grid(repo / "experiments" / "next" / "tiny.toml", results_dir=repo / "results" / "next",
                    progress=False, threads=1)
    journal = (repo / "results" / "next" / "tiny.cells.jsonl").read_bytes()
    land_next_grid.land("tiny", root=repo)
    # the journal moved byte for byte: no cell was trained or rewritten
    assert (repo / "results" / "tiny.cells.jsonl").read_bytes() == journal
    assert sorted(p.name for p in (repo / "experiments" / "next").iterdir()) == []
    assert sorted(p.name for p in (repo / "results" / "next").iterdir() if not p.name.startswith(".")) == []
    landed = load_results("tiny", results_dir=repo / "results")
    assert landed.grid().stopping_rule()["patience"] == 4 and landed.complete
    assert "experiments/tiny.toml --threads 1\n" in (repo / "experiments" / "tiny.toml").read_text()
    # what the published edition's patience would have kept, read from the new runs
    replay = landed.patience_replay([1, 4])
    assert replay["test_hr@10"].notna().all()
    land_next_grid.rewrite_outputs("tiny", root=repo)
    assert (repo / "results" / "tiny.cells.jsonl").read_bytes() == journal


def _a_check(csv):
    table = pd.DataFrame({"cell": ["a cell"], "metric": ["hr@10"], "stored": [0.1], "rerun": [0.1],
                          "abs_diff": [0.0], "agree": [True], "same_cpu": [True], "within_seed_noise": [True]})
    return runner.record_verification(csv, table, tolerance=1e-6)


def _a_probe(csv):
    config_hash = json.loads(csv.with_suffix(".json").read_text())["config_hash"]
    return runner.record_probe(csv, {"config_hash": config_hash, "arm": "uniform", "seed": 0, "valid_curve": [0.1]})


# what each kind of record is written by, and whether the landed results read one of them
RECORDS = {"verify": (_a_check, lambda csv: runner.verification_summary(csv) is not None),
           "probes": (_a_probe, lambda csv: len(runner.read_probes(csv)) == 1)}


@pytest.mark.parametrize("kind", RECORDS)
@pytest.mark.parametrize("recorded", [False, True])
def test_re_run_records_land_with_the_edition_they_re_trained(repo, kind, recorded):
    write, read = RECORDS[kind]
    write(repo / "results" / "tiny.csv")                    # a record of the published edition
    assert read(repo / "results" / "tiny.csv")
    runner.run_grid(repo / "experiments" / "next" / "tiny.toml", results_dir=repo / "results" / "next",
                    progress=False, threads=1)
    if recorded:
        record = write(repo / "results" / "next" / "tiny.csv").read_bytes()
    land_next_grid.land("tiny", root=repo)
    landed = repo / "results" / f"tiny.{kind}.json"
    assert landed.read_bytes() == record if recorded else not landed.exists()
    # the grid file lost its "results/next" comment, not its config hash: the record still holds
    assert read(repo / "results" / "tiny.csv") == recorded
    assert not (repo / "results" / "next" / f"tiny.{kind}.json").exists()


def test_an_unfinished_edition_does_not_land(repo):
    runner.run_grid(repo / "experiments" / "next" / "tiny.toml", results_dir=repo / "results" / "next",
                    progress=False, threads=1, max_cells=1)
    with pytest.raises(Exception, match="incomplete .0 of 4 final cells"):
        land_next_grid.land("tiny", root=repo)
    # nothing moved
    assert (repo / "experiments" / "tiny.toml").read_text().startswith("# Run: recneg experiment run experiments/tiny")
    assert (repo / "results" / "next" / "tiny.cells.jsonl").exists()
    with pytest.raises(SystemExit, match="does not exist; pass the name of a grid in experiments/next/ .tiny."):
        land_next_grid.land("tiny_typo", root=repo)
