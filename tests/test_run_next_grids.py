"""tools/run_next_grids.sh: the background script that runs the patience-100 grids."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from helpers import TINY_GRID  # pytest puts tests/ on sys.path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "run_next_grids.sh"


def _tree(tmp_path, names):
    """A copy of the script in a repository-like folder with tiny grids in experiments/next/."""
    (tmp_path / "tools").mkdir()
    shutil.copy(SCRIPT, tmp_path / "tools" / SCRIPT.name)
    (tmp_path / "experiments" / "next").mkdir(parents=True)
    for name in names:
        (tmp_path / "experiments" / "next" / f"{name}.toml").write_text(TINY_GRID.format(name=name))
    env = {**os.environ, "NEXT_RESULTS_DIR": str(tmp_path / "results"), "NEXT_WORKERS": "2"}
    return ["bash", str(tmp_path / "tools" / SCRIPT.name), *names], env


def _journal(path):
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


def test_two_workers_finish_every_grid_and_train_no_cell_twice(tmp_path):
    command, env = _tree(tmp_path, ["first", "second"])
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / ".drain").touch()      # left by an earlier session: a start removes it
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ["first", "second"]:
        keys = _journal(tmp_path / "results" / f"{name}.cells.jsonl")
        assert len(keys) == len(set(keys)) == 5
        assert json.loads((tmp_path / "results" / f"{name}.json").read_text())["complete"]
    assert "all workers done" in done.stdout


def test_the_drain_file_stops_the_workers_and_keeps_their_cells(tmp_path):
    command, env = _tree(tmp_path, ["first", "second"])
    journal = tmp_path / "results" / "first.cells.jsonl"
    script = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not (journal.exists() and journal.read_text()) and script.poll() is None:
        assert time.monotonic() < deadline, "no cell finished"
        time.sleep(0.05)
    (tmp_path / "results" / ".drain").touch()
    out, err = script.communicate(timeout=600)
    assert script.returncode == 0, err[-3000:]
    assert out.count(".drain exists, stopping") == 2
    keys = _journal(journal)
    # the cell that had finished, and the (at most two) that were in training; none of the second grid
    assert 1 <= len(keys) <= 3 and len(keys) == len(set(keys))
    assert not (tmp_path / "results" / "second.cells.jsonl").exists()


def test_an_unknown_grid_is_refused_before_any_work(tmp_path):
    command, env = _tree(tmp_path, ["first"])
    done = subprocess.run([*command, "nonesuch"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no grid file experiments/next/nonesuch.toml" in done.stderr
    assert not (tmp_path / "results").exists()


def test_without_names_the_script_runs_the_grids_not_yet_landed(tmp_path):
    command, env = _tree(tmp_path, [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "every one has landed" in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").glob("*.jsonl"))
    # one grid of the default list left in experiments/next/: it runs, and the landed ones are skipped
    (tmp_path / "experiments" / "next" / "case_beauty_loo.toml").write_text(TINY_GRID.format(name="case_beauty_loo"))
    done = subprocess.run(command, env={**env, "NEXT_WORKERS": "1"}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_journal(tmp_path / "results" / "case_beauty_loo.cells.jsonl")) == 5
    assert sorted(p.name for p in (tmp_path / "results").glob("*.cells.jsonl")) == ["case_beauty_loo.cells.jsonl"]
