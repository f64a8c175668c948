"""Experiment grids: parsing, the resumable runner, verification and the results reader."""

from __future__ import annotations

import json
import math
import os
import re
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recneg import RecnegError
from recneg import runner
from recneg.cli import main
from recneg.training import TrainConfig, replay_early_stopping
from recneg.grid import Setting, load_grid, miniature, parse_grid
from recneg.results import load_results, mean_interval

from helpers import TINY_GRID as GRID  # pytest puts tests/ on sys.path



def write_grid(folder, name="tiny", text=GRID):
    path = folder / f"{name}.toml"
    path.write_text(text.format(name=name))
    return path


@pytest.fixture
def grid_path(tmp_path):
    (tmp_path / "experiments").mkdir()
    return write_grid(tmp_path / "experiments")


# -- parsing -------------------------------------------------------------------------------------
def test_cells_of_a_grid(grid_path):
    grid = load_grid(grid_path)
    assert len(grid.tuning_cells()) == 2            # popularity: 2 alphas x 1 tune seed
    assert grid.n_final_cells() == 4                # 2 arms x 2 seeds
    assert len(grid.final_cells({})) == 2           # uniform only, until popularity is tuned
    chosen = {("world", "popularity", "bce"): {"smoothing": 1.0, "alpha": 1.0}}
    assert len(grid.final_cells(chosen)) == 4


def test_cell_key_ignores_labels_but_not_parameters(grid_path):
    grid = load_grid(grid_path)
    renamed = parse_grid(GRID.format(name="tiny").replace('label = "uniform"', 'label = "random"'))
    assert grid.final_cells({})[0].key == renamed.final_cells({})[0].key
    other = parse_grid(GRID.format(name="tiny").replace("dim = 8", "dim = 16"))
    assert grid.final_cells({})[0].key != other.final_cells({})[0].key
    assert grid.config_hash != other.config_hash


def test_comments_do_not_change_the_config_hash():
    text = GRID.format(name="tiny")
    assert parse_grid(text).config_hash == parse_grid("# a comment\n" + text).config_hash


@pytest.mark.parametrize("edit, message", [
    (('split = "leave-one-out"', 'split = "random"'), "split must be one of"),
    (("seeds = [0, 1]", "seeds = [0, 0]"), "repeats a seed"),
    (("seeds = [0, 1]", "seeds = []"), "non-empty list of integers"),
    (('label = "popularity"', 'label = "uniform"'), "labels must be present and distinct"),
    (("tune = { alpha = [0.0, 1.0] }", "tune = { alpha = [] }"), "non-empty list of values"),
    (("[model]", "colour = 1\n[model]"), "unknown top-level key"),
    (("epochs = 3", "epochs = 3\nepoch = 4"), "unknown training option"),
    (("tune_seeds = [0]", "tune_seeds = [0]\n[[losses]]\nlabel = \"x\"\nloss = \"bce\"\nlogg = true"), "unknown training option"),
    (("name = ", "nom = "), "unknown top-level key"),
    (("seeds = [0, 1]", 'seeds = [0, 1]\nprobes = ["calibrated"]'), "probes must be a list drawn from"),
])
def test_bad_grids_get_one_line_errors(edit, message):
    with pytest.raises(RecnegError, match=message) as error:
        parse_grid(GRID.format(name="tiny").replace(*edit))
    assert "\n" not in str(error.value)


def test_grid_name_must_match_its_file(tmp_path):
    path = write_grid(tmp_path, name="tiny")
    path.rename(tmp_path / "other.toml")
    with pytest.raises(RecnegError, match="must equal the file name 'other'"):
        load_grid(tmp_path / "other.toml")


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(RecnegError, match="broken.toml is not valid TOML"):
        load_grid(path)


# -- running and resuming ------------------------------------------------------------------------
def test_run_writes_tidy_results_and_provenance(grid_path, tmp_path):
    provenance = runner.run_grid(grid_path, results_dir=tmp_path / "results", progress=False, threads=1)
    assert provenance["complete"] and provenance["final_cells"] == {"done": 4, "total": 4}
    frame = pd.read_csv(tmp_path / "results" / "tiny.csv")
    assert set(frame.sampler) == {"uniform", "popularity"}
    assert set(frame.seed) == {0, 1}
    assert {"hr@10", "ndcg@10", "coverage@10", "untouched_share@10", "floor_hr@10", "epochs_trained"} <= set(frame.metric)
    assert set(frame.protocol) == {"full"}
    # one tuned value, the one recorded in the selection report
    report = provenance["selection"]["world|popularity|bce"]
    assert report["chosen"] in [c["params"] for c in report["candidates"]]
    assert frame[frame.sampler == "popularity"].sampler_params.nunique() == 1
    assert json.loads(frame[frame.sampler == "popularity"].sampler_params.iloc[0]) == report["chosen"]
    for field in ("commit", "config_hash", "versions", "compute", "most_popular_floor", "settings"):
        assert field in provenance
    assert provenance["settings"]["world"]["test_users"] > 0
    assert len(provenance["cells"]) == 4 and all("health" in c for c in provenance["cells"])
    # run time counted twice: wall (what a reader waits) and this process's CPU time (what a
    # paused or starved worker does not inflate); one thread cannot use more CPU than wall time
    journal = [json.loads(line) for line in (tmp_path / "results" / "tiny.cells.jsonl").read_text().splitlines()]
    assert all(0 < r["cpu_seconds"] <= r["wall_seconds"] * 1.05 + 0.05 for r in journal)
    compute = provenance["compute"]
    assert compute["cell_cpu_seconds"] == pytest.approx(sum(r["cpu_seconds"] for r in journal), abs=0.1)
    # a journal from before runs recorded CPU time gives wall time only
    for r in journal:
        r.pop("cpu_seconds")
    (tmp_path / "results" / "tiny.cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in journal))
    assert "cell_cpu_seconds" not in runner.run_grid(grid_path, results_dir=tmp_path / "results",
                                                     progress=False)["compute"]


def test_calibration_probe_adds_metrics_without_changing_cell_keys(grid_path, tmp_path):
    text = grid_path.read_text()
    probed = parse_grid(text.replace("seeds = [0, 1]", 'seeds = [0, 1]\nprobes = ["calibration"]'))
    plain = parse_grid(text)
    # Probes measure a trained model and never change it: same cells, another config hash.
    assert [c.key for c in probed.tuning_cells()] == [c.key for c in plain.tuning_cells()]
    assert probed.config_hash != plain.config_hash
    provenance = runner.run_grid(probed, results_dir=tmp_path / "results", progress=False, threads=1)
    frame = pd.read_csv(tmp_path / "results" / "tiny.csv")
    ece = frame[frame.metric == "ece"]
    assert len(ece) == 4 and ece.value.between(0, 1).all()
    # BCE's sigmoid scores over the catalogue: a positive mass per row, bins that count every pair.
    assert (frame[frame.metric == "expected_positives"].value > 0).all()
    bins = provenance["cells"][0]["probes"]["calibration"]["reliability"]
    assert sum(bins["count"]) > 0 and len(bins["count"]) == 15


def test_false_negative_and_history_probes(grid_path, tmp_path):
    text = grid_path.read_text().replace("seeds = [0, 1]", 'seeds = [0]\nprobes = ["false_negatives", "history"]')
    text += ('\n[[arms]]\nlabel = "bank"\nsampler = "cross-batch"\nparams = { bank_size = 64, refresh_every = 2 }\n'
             'train = { loss = "sampled-softmax", batch_size = 32 }\n')
    runner.run_grid(parse_grid(text), results_dir=tmp_path, progress=False, threads=1)
    frame = pd.read_csv(tmp_path / "tiny.csv").pivot_table(index="sampler", columns="metric", values="value")
    # The uniform sampler's measured rate is close to its exact expectation; both are shares.
    assert frame.loc["uniform", "fnr"] == pytest.approx(frame.loc["uniform", "fnr_uniform"], abs=0.05)
    assert frame.loc["uniform", "fnr_weighted"] == pytest.approx(frame.loc["uniform", "fnr"])
    # Only the memory bank adds history columns; the trainer's own are not reported.
    assert frame.loc["bank", "mean_bank_staleness"] >= 0 and np.isnan(frame.loc["uniform", "mean_bank_staleness"])
    assert not any(c.startswith("mean_train_loss") for c in frame.columns)


def test_trained_false_negative_probe_counts_training_draws_without_changing_them(grid_path, tmp_path):
    text = grid_path.read_text().replace("seeds = [0, 1]", "seeds = [0]")
    text += ('\n[[arms]]\nlabel = "curriculum"\nsampler = "rank-band-curriculum"\n'
             'params = { low = 2, high = 8, warmup_epochs = 1, ramp_epochs = 1 }\n')
    probed = text.replace("seeds = [0]", 'seeds = [0]\nprobes = ["false_negatives", "trained_false_negatives"]', 1)
    runner.run_grid(parse_grid(text), results_dir=tmp_path / "plain", progress=False, threads=1)
    runner.run_grid(parse_grid(probed), results_dir=tmp_path / "probed", progress=False, threads=1)
    plain = pd.read_csv(tmp_path / "plain" / "tiny.csv").pivot_table(index="sampler", columns="metric", values="value")
    frame = pd.read_csv(tmp_path / "probed" / "tiny.csv").pivot_table(index="sampler", columns="metric", values="value")
    # The recorder is a pass-through: the same draws train the same model.
    for metric in ("hr@10", "ndcg@10", "valid_ndcg@10"):
        if metric in plain.columns:
            np.testing.assert_allclose(frame.loc[plain.index, metric], plain[metric], rtol=0, atol=1e-12)
    # Uniform training draws are false at the rate the audit expects of uniform negatives.
    assert frame.loc["uniform", "fnr_trained"] == pytest.approx(frame.loc["uniform", "fnr_uniform"], abs=0.05)
    for sampler in ("uniform", "curriculum"):
        assert 0 <= frame.loc[sampler, "fnr_trained_best"] <= 1 and 0 <= frame.loc[sampler, "fnr_trained"] <= 1


def test_sampled_protocols_probe_ranks_against_fewer_items(grid_path, tmp_path):
    text = grid_path.read_text().replace("seeds = [0, 1]", 'seeds = [0]\nprobes = ["sampled_protocols"]')
    text = text.replace("n_users = 60, n_items = 40", "n_users = 80, n_items = 400")
    runner.run_grid(parse_grid(text), results_dir=tmp_path, progress=False, threads=1)
    frame = pd.read_csv(tmp_path / "tiny.csv").pivot_table(index="sampler", columns="metric", values="value")
    for by in ("uniform", "popularity"):
        sampled = frame[f"hr@10_sampled_{by}"]
        # 100 of about 400 unseen items: the target can only move up, and on average it does.
        assert (sampled >= frame["hr@10"] - 1e-12).all() and sampled.mean() > frame["hr@10"].mean()
        assert (frame[f"mrr_sampled_{by}"] >= frame["mrr"] - 1e-12).all()
    # Popularity-drawn items are harder to beat than uniform ones for a popularity-fit model.
    assert not np.allclose(frame["hr@10_sampled_uniform"], frame["hr@10_sampled_popularity"])
    assert not any(c.startswith("coverage@10_sampled") for c in frame.columns)


def test_an_arm_may_replace_the_model(grid_path, tmp_path):
    text = grid_path.read_text().replace("seeds = [0, 1]", "seeds = [0]")
    text += ('\n[[arms]]\nlabel = "sasrec"\nsampler = "uniform"\n'
             'model = { name = "sasrec", hidden = 8, maxlen = 10 }\ntrain = { lr = 0.005 }\n')
    grid = parse_grid(text)
    models = {c.arm.label: c.model for c in grid.final_cells({("world", "popularity", "bce"): {"alpha": 1.0}})}
    assert models["sasrec"] == {"name": "sasrec", "hidden": 8, "maxlen": 10}
    assert models["uniform"] == {"name": "bpr-mf", "dim": 8}
    runner.run_grid(grid, results_dir=tmp_path, progress=False, threads=1)
    frame = pd.read_csv(tmp_path / "tiny.csv").drop_duplicates("key").set_index("sampler")
    assert frame.loc["sasrec", "model"] == "sasrec" and frame.loc["uniform", "model"] == "bpr-mf"
    with pytest.raises(RecnegError, match=r"arms\[2\]\.model has no 'name'"):
        parse_grid(text.replace('name = "sasrec", ', ""))


def test_an_interrupted_run_resumes_without_retraining(grid_path, tmp_path, monkeypatch):
    results = tmp_path / "results"
    first = runner.run_grid(grid_path, results_dir=results, progress=False, max_cells=2)
    assert not first["complete"]
    trained = []
    real = runner.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda cell, *a, **k: trained.append(cell.key) or real(cell, *a, **k))
    # a crash in the middle of writing a line must not lose the finished cells
    journal = results / "tiny.cells.jsonl"
    journal.write_text(journal.read_text() + '{"key": "cut off in the mi')
    second = runner.run_grid(grid_path, results_dir=results, progress=False)
    assert second["complete"]
    # 2 tuning + 4 final cells, one final cell shared with tuning: 5 in all, 2 before
    assert len(trained) == 3 and len(set(trained)) == 3
    assert len(runner.Journal(journal).read()) == 5
    trained.clear()
    runner.run_grid(grid_path, results_dir=results, progress=False)
    assert trained == []


def test_selection_prefers_the_best_unflagged_candidate(grid_path):
    grid = load_grid(grid_path)
    cells = grid.tuning_cells()
    records = {c.key: {"valid": {"ndcg@10": score}, "flags": flags}
               for c, score, flags in zip(cells, [0.5, 0.3], [["below-most-popular"], []])}
    chosen, report = runner.choose_parameters(grid, records)
    assert chosen[("world", "popularity", "bce")] == dict(cells[1].params)
    records[cells[0].key]["flags"] = []
    chosen, _ = runner.choose_parameters(grid, records)
    assert chosen[("world", "popularity", "bce")] == dict(cells[0].params)
    del records[cells[1].key]
    assert runner.choose_parameters(grid, records)[0] == {}   # tuning not finished: no choice yet


def test_verify_agrees_on_rerun_cells(grid_path, tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    runner.run_grid(grid_path, results_dir=results, progress=False, threads=1)
    monkeypatch.setattr(runner, "_ROOT", tmp_path)
    table = runner.verify(results / "tiny.csv", cells=2)
    assert len(table) == 6 and table.agree.all() and table.same_cpu.all()
    # a tampered value is reported as a disagreement
    original = pd.read_csv(results / "tiny.csv")
    frame = original.copy()
    frame.loc[frame.metric == "hr@10", "value"] += 0.01
    frame.to_csv(results / "tiny.csv", index=False)
    table = runner.verify(results / "tiny.csv", cells=4)
    assert not table[table.metric == "hr@10"].agree.any()
    # a run stored from another CPU is said to be one: exact agreement is not to be expected
    provenance = json.loads((results / "tiny.json").read_text())
    for cell in provenance["cells"]:
        cell["cpu"] = "another processor; model 1; AVX2; flags 00000000"
    (results / "tiny.json").write_text(json.dumps(provenance))
    # ... and is held to its arm's seed spread instead. Published hr@10 of 5.0 in every seed
    # (no spread) leaves a re-run outside it; ndcg@10 is as stored (two seeds: always inside).
    frame.loc[frame.metric == "hr@10", "value"] = 5.0
    frame.to_csv(results / "tiny.csv", index=False)
    other = runner.verify(results / "tiny.csv", cells=4)
    assert not other.same_cpu.any()
    assert not other[other.metric == "hr@10"].within_seed_noise.any()
    assert other[other.metric == "ndcg@10"].within_seed_noise.all()
    assert main(["experiment", "verify", str(results / "tiny.csv"), "--cells", "1"]) == 1
    assert "come from runs stored on another CPU" in capsys.readouterr().out
    # the stored values back: a run from another CPU that happens to agree exactly passes
    original.to_csv(results / "tiny.csv", index=False)
    assert main(["experiment", "verify", str(results / "tiny.csv"), "--cells", "1"]) == 0


def test_verify_can_record_its_checks_beside_the_results(grid_path, tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    runner.run_grid(grid_path, results_dir=results, progress=False, threads=1)
    monkeypatch.setattr(runner, "_ROOT", tmp_path)
    assert main(["experiment", "verify", str(results / "tiny.csv"), "--cells", "1"]) == 0
    assert not (results / "tiny.verify.json").exists()        # only when asked
    commits = iter(["the code that re-trained", "a later checkout"])
    monkeypatch.setattr(runner, "git_commit", lambda: next(commits))
    assert main(["experiment", "verify", str(results / "tiny.csv"), "--cells", "1", "--record"]) == 0
    assert "recorded in" in capsys.readouterr().out
    monkeypatch.setattr(runner, "git_commit", lambda: "the code that re-trained")
    provenance = json.loads((results / "tiny.json").read_text())
    frame = pd.read_csv(results / "tiny.csv")
    frame.loc[frame.metric == "mrr", "value"] += 0.5         # one of three values now disagrees
    frame.to_csv(results / "tiny.csv", index=False)
    assert main(["experiment", "verify", str(results / "tiny.csv"), "--cells", "1", "--seed", "1",
                 "--record"]) == 1
    record = json.loads((results / "tiny.verify.json").read_text())
    first, second = record["checks"]                          # appended, oldest first
    assert record["results"].endswith("tiny.csv")
    assert first["config_hash"] == provenance["config_hash"] and first["cpu"] == runner.cpu_fingerprint()
    assert first["commit"] == "the code that re-trained"
    assert (first["values"], first["agree"], first["on_same_cpu"], first["tolerance"]) == (3, 3, 3, 1e-6)
    assert (second["values"], second["agree"]) == (3, 2)
    assert [row["metric"] for row in second["rows"]] == ["hr@10", "ndcg@10", "mrr"]
    assert not [p.name for p in results.iterdir() if ".tmp-" in p.name]   # written whole, then renamed
    # the status page's line: the latest check against the results' current config
    line = runner.verification_summary(results / "tiny.csv")
    assert line.startswith("1 cell re-run on the CPU that trained it: 2 of 3 values equal, ")
    assert "within seed noise" in line and second["checked_at"][:10] in line
    provenance["config_hash"] = "0" * 16                    # results of another edition of the grid
    (results / "tiny.json").write_text(json.dumps(provenance))
    assert runner.verification_summary(results / "tiny.csv") is None


@pytest.mark.parametrize("draw", ["normal", "hit_rate"])
def test_verify_prediction_interval_covers_a_further_seed(draw):
    # a further draw falls inside the 99 % interval of five earlier ones 99 times in 100: for
    # normal values, and for what verify compares, hit rates of a few hundred users (discrete,
    # with ties between seeds)
    rng = np.random.default_rng(0)
    trials = 20000
    if draw == "normal":
        samples = rng.normal(0.15, 0.01, size=(trials, 6))
    else:
        samples = rng.binomial(943, 0.15, size=(trials, 6)) / 943
    inside = [abs(s[5] - s[:5].mean()) <= runner._prediction_half_width(s[:5], 0.99) for s in samples]
    assert abs(np.mean(inside) - 0.99) < 0.004
    # ties: five equal seeds leave no room; one seed leaves none either
    assert runner._prediction_half_width(np.array([0.2] * 5), 0.99) == 0.0
    assert runner._prediction_half_width(np.array([0.2]), 0.99) == 0.0


# -- reading results -----------------------------------------------------------------------------
def test_load_results_checks_hash_and_flags(grid_path, tmp_path, monkeypatch):
    results = tmp_path / "results"
    runner.run_grid(grid_path, results_dir=results, progress=False)
    monkeypatch.setattr("recneg.results._ROOT", tmp_path)
    loaded = load_results("tiny", results_dir=results, check=False)
    summary = loaded.summary(["hr@10", "ndcg@10"])
    assert set(summary["seeds"]) == {2}
    assert "Source: results/tiny.csv" in loaded.provenance_line()
    # flag a run: loading refuses it unless the arm is declared a failure shown on purpose
    frame = pd.read_csv(results / "tiny.csv", dtype={"flags": str, "shown_as_failure": str})
    frame[["flagged", "flags"]] = [False, ""]       # a 3-epoch toy grid is not what is tested here
    frame.to_csv(results / "tiny.csv", index=False)
    load_results("tiny", results_dir=results)
    frame.loc[frame.sampler == "uniform", ["flagged", "flags"]] = [True, "below-most-popular"]
    frame.to_csv(results / "tiny.csv", index=False)
    with pytest.raises(RecnegError, match="flagged run"):
        load_results("tiny", results_dir=results)
    frame.loc[frame.sampler == "uniform", "shown_as_failure"] = "the untouched-item pitfall"
    frame.to_csv(results / "tiny.csv", index=False)
    load_results("tiny", results_dir=results)
    # editing the grid after the run invalidates the results
    grid_path.write_text(grid_path.read_text().replace("dim = 8", "dim = 9"))
    with pytest.raises(RecnegError, match="changed after results/tiny.csv was written"):
        load_results("tiny", results_dir=results)


def test_incomplete_results_are_refused_unless_asked(grid_path, tmp_path, monkeypatch):
    results = tmp_path / "results"
    runner.run_grid(grid_path, results_dir=results, progress=False, max_cells=1)
    monkeypatch.setattr("recneg.results._ROOT", tmp_path)
    with pytest.raises(RecnegError, match="incomplete"):
        load_results("tiny", results_dir=results)
    assert not load_results("tiny", results_dir=results, require_complete=False).complete


def test_missing_results_name_the_command(tmp_path):
    with pytest.raises(RecnegError, match="recneg experiment run experiments/nothing.toml"):
        load_results("nothing", results_dir=tmp_path)


@pytest.mark.parametrize("given, fix", [("results/tiny.csv", "'tiny', results_dir='results'"),
                                        ("tiny.json", "'tiny'"), ("experiments/tiny.toml", "'tiny'")])
def test_a_path_instead_of_a_name_gets_the_name_back(given, fix):
    with pytest.raises(RecnegError, match=re.escape(f"got {given!r}; pass {fix}") + "$"):
        load_results(given)


@pytest.mark.parametrize("values", [
    [0.1, 0.1, 0.1, 0.1, 0.1],             # all tied
    [0.0, 0.0, 1.0, 1.0, 1.0],             # discrete, repeated
    [0.25, 0.5],                           # two values
    list(np.random.default_rng(0).random(7)),
])
def test_mean_interval_matches_scipy(values):
    mean, half = mean_interval(values)
    assert math.isclose(mean, float(np.mean(values)), rel_tol=1e-12)
    if np.std(values) == 0:
        assert half == 0.0
    else:
        low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
        assert math.isclose(half, (high - low) / 2, rel_tol=1e-9)


def test_mean_interval_of_one_value_has_no_width():
    mean, half = mean_interval([0.3])
    assert mean == 0.3 and math.isnan(half)


# -- the command line ----------------------------------------------------------------------------
def test_cli_plan_run_and_verify(grid_path, tmp_path, capsys, monkeypatch):
    results = str(tmp_path / "results")
    assert main(["experiment", "plan", str(grid_path), "--results-dir", results]) == 0
    out = capsys.readouterr().out
    assert "final cells: 0 of 4 done" in out and "run time so far" not in out
    assert main(["experiment", "run", str(grid_path), "--results-dir", results, "--max-cells", "1", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["experiment", "plan", str(grid_path), "--results-dir", results]) == 0
    # 2 tuning runs + 4 final cells, one final per seed 0 shared with the winning tuning run:
    # 5 distinct cells, 1 trained
    assert "h of run time for the 4 cells left" in capsys.readouterr().out
    assert main(["experiment", "run", str(grid_path), "--results-dir", results, "--no-progress"]) == 0
    assert "4 of 4 final cells (complete" in capsys.readouterr().out
    assert main(["experiment", "plan", str(grid_path), "--results-dir", results]) == 0
    out = capsys.readouterr().out
    assert "over 5 cells" in out and "in training" not in out
    monkeypatch.setattr(runner, "_ROOT", tmp_path)
    assert main(["experiment", "verify", f"{results}/tiny.csv", "--cells", "1"]) == 0
    assert "3 of 3 re-run values agree" in capsys.readouterr().out


def test_plan_names_the_cells_in_training(grid_path, tmp_path, capsys):
    results = tmp_path / "results"
    grid = load_grid(grid_path)
    cells = runner._pending(grid, {})
    claims = runner.Claims(results / ".tiny.claims")
    assert claims.take(cells[0].key) and claims.take(cells[1].key)   # this process is alive
    earlier = time.time() - 130
    os.utime(results / ".tiny.claims" / cells[1].key, (earlier, earlier))
    (results / ".tiny.claims" / "0123abcd").write_text("999999999")   # a dead process's claim
    assert [c.key for c, _ in runner.in_training(grid, results)] == [cells[1].key, cells[0].key]
    assert main(["experiment", "plan", str(grid_path), "--results-dir", str(results)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("in training")]
    assert len(lines) == 2 and lines[0].endswith(cells[1].describe())
    assert re.match(r"in training since \d\d:\d\d UTC \(2 min\): ", lines[0])
    assert re.match(r"in training since \d\d:\d\d UTC \(0 min\): ", lines[1])


def test_cli_reports_a_missing_grid_in_one_line(tmp_path, capsys):
    assert main(["experiment", "run", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("recneg: error: grid file") and "\n" not in err


def test_a_miniature_runs_the_same_code_path(grid_path, tmp_path):
    from recneg.grid import miniature

    small = miniature(load_grid(grid_path), seeds=[3], epochs=1, arms=["popularity"], tune=False)
    assert [a.label for a in small.arms] == ["popularity"] and small.tuning_cells() == []
    assert small.config_hash != load_grid(grid_path).config_hash
    provenance = runner.run_grid(small, results_dir=tmp_path, progress=False)
    frame = pd.read_csv(tmp_path / "tiny-live.csv")
    assert provenance["complete"] and set(frame.seed) == {3}
    assert json.loads(frame.sampler_params.iloc[0]) == {"smoothing": 1.0, "alpha": 0.0}
    with pytest.raises(RecnegError, match="are not all in grid"):
        miniature(load_grid(grid_path), arms=["nope"])


def test_a_miniature_keeps_the_losses_it_is_asked_for(grid_path):
    from recneg.grid import miniature

    text = grid_path.read_text() + '\n[[losses]]\nlabel = "bce"\nloss = "bce"\n\n[[losses]]\nlabel = "bpr"\nloss = "bpr"\n'
    grid = parse_grid(text)
    small = miniature(grid, losses=["bpr"])
    assert [x.label for x in small.losses] == ["bpr"]
    assert {c.train["loss"] for c in small.final_cells({})} == {"bpr"}
    assert small.config_hash != miniature(grid).config_hash
    with pytest.raises(RecnegError, match=r"losses \['hinge'\] are not all in grid 'tiny'; its losses are bce, bpr"):
        miniature(grid, losses=["hinge"])


def test_claims_are_exclusive_and_stale_ones_are_taken_over(tmp_path):
    claims = runner.Claims(tmp_path / "claims")
    assert claims.take("a") and not claims.take("a")
    claims.release("a")
    assert claims.take("a")
    (tmp_path / "claims" / "b").write_text("999999999")   # a process that no longer exists
    assert claims.take("b")
    # a claim holds its pid from the moment it exists, and nothing else is left behind
    assert sorted(p.name for p in (tmp_path / "claims").iterdir()) == ["a", "b"]
    assert (tmp_path / "claims" / "b").read_text() == str(os.getpid())


def test_a_stop_file_ends_the_run_after_the_cell_in_training(grid_path, tmp_path, monkeypatch):
    results, stop = tmp_path / "results", tmp_path / "results" / ".drain"
    trained = []
    real = runner.run_cell

    def train_then_ask_to_stop(cell, *args, **kwargs):
        record = real(cell, *args, **kwargs)
        trained.append(cell.key)
        if len(trained) == 1:
            stop.touch()   # asked while the first cell trains: it is still journalled
        return record

    monkeypatch.setattr(runner, "run_cell", train_then_ask_to_stop)
    first = runner.run_grid(grid_path, results_dir=results, progress=False, stop_file=stop)
    assert len(trained) == 1 and not first["complete"]
    assert list(runner.Journal(results / "tiny.cells.jsonl").read()) == trained
    runner.run_grid(grid_path, results_dir=results, progress=False, stop_file=stop)
    assert len(trained) == 1          # the file still exists: nothing new starts
    stop.unlink()
    assert runner.run_grid(grid_path, results_dir=results, progress=False, stop_file=stop)["complete"]
    assert len(trained) == 5 and len(set(trained)) == 5


def test_without_wait_a_run_leaves_cells_that_others_are_training(grid_path, tmp_path, monkeypatch):
    results = tmp_path / "results"
    grid = load_grid(grid_path)
    pending = runner._pending(grid, {})
    claims = runner.Claims(results / ".tiny.claims")
    # a live process (this one) holds every runnable cell but the last
    for cell in pending[:-1]:
        assert claims.take(cell.key)
    monkeypatch.setattr(runner.time, "sleep", lambda s: pytest.fail("a run with wait=False waited"))
    provenance = runner.run_grid(grid_path, results_dir=results, progress=False, wait=False)
    assert list(runner.Journal(results / "tiny.cells.jsonl").read()) == [pending[-1].key]
    assert not provenance["complete"]


def test_outputs_after_a_cell_keep_what_other_processes_journalled_meanwhile(grid_path, tmp_path, monkeypatch):
    # two workers once rewrote the CSV from the journal as each had read it before its
    # cell began, so a cell the other worker finished meanwhile vanished until the next write
    results = tmp_path / "results"
    grid = load_grid(grid_path)
    journal = runner.Journal(results / "tiny.cells.jsonl")
    real, written = runner.run_cell, []

    def train_while_another_worker_finishes_one(cell, *args, **kwargs):
        record = real(cell, *args, **kwargs)
        other = next(c for c in runner._pending(grid, journal.read()) if c.key != cell.key)
        journal.append(real(other, *args, **kwargs))
        return record

    def remember(grid_, config_file, records, *args, **kwargs):
        written.append(set(records))
        return real_write(grid_, config_file, records, *args, **kwargs)

    real_write = runner.write_outputs
    monkeypatch.setattr(runner, "run_cell", train_while_another_worker_finishes_one)
    monkeypatch.setattr(runner, "write_outputs", remember)
    runner.run_grid(grid_path, results_dir=results, progress=False, max_cells=1)
    assert len(journal.read()) == 2
    assert [len(keys) for keys in written] == [2, 2]


def test_two_processes_share_a_grid_without_training_a_cell_twice(grid_path, tmp_path):
    import subprocess
    import sys

    results = tmp_path / "results"
    command = [sys.executable, "-m", "recneg", "experiment", "run", str(grid_path),
               "--results-dir", str(results), "--no-progress", "--threads", "1"]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    lines = (results / "tiny.cells.jsonl").read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == len(set(keys)) == 5
    assert json.loads((results / "tiny.json").read_text())["complete"]


def test_warnings_of_a_run_are_kept_in_its_record(grid_path, tmp_path):
    # the Beauty grid once ran "mixed" with one negative, which rounds to no mix; the
    # sampler warned in a log nobody read, so the record and the provenance keep it now
    text = grid_path.read_text() + '\n[[arms]]\nlabel = "mixed"\nsampler = "mixed"\nparams = { in_batch_fraction = 0.5 }\n'
    grid = parse_grid(text.replace("seeds = [0, 1]", "seeds = [0]"))
    with pytest.warns(UserWarning, match="not a mix"):
        provenance = runner.run_grid(grid, results_dir=tmp_path, progress=False, threads=1)
    said = {c["arm"]: c.get("warnings", []) for c in provenance["cells"]}
    assert any("not a mix" in w for w in said["mixed"])
    assert said["uniform"] == []
    journal = [json.loads(line) for line in (tmp_path / "tiny.cells.jsonl").read_text().splitlines()]
    assert any("not a mix" in w for r in journal if r["arm"] == "mixed" for w in r["warnings"])


def test_an_arm_that_sets_its_own_loss_is_labelled_by_it(grid_path, tmp_path):
    # the static-alpha grid's cross-entropy arm once read "bpr", the [train] default it overrides
    text = grid_path.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace("[train]", '[train]\nloss = "bpr"')
    text += '\n[[arms]]\nlabel = "softmax"\nsampler = "uniform"\ntrain = { loss = "sampled-softmax" }\n'
    grid = parse_grid(text)
    cells = {c.arm.label: c for c in grid.final_cells({("world", "popularity", "bpr"): {"alpha": 1.0}})}
    assert cells["softmax"].loss_label == "sampled-softmax" and cells["uniform"].loss_label == "bpr"
    assert "sampled-softmax" in cells["softmax"].describe()
    runner.run_grid(grid, results_dir=tmp_path, progress=False, threads=1)
    losses = pd.read_csv(tmp_path / "tiny.csv").drop_duplicates("key").set_index("sampler")["loss"]
    assert losses.to_dict() == {"uniform": "bpr", "popularity": "bpr", "softmax": "sampled-softmax"}
    journal = [json.loads(line) for line in (tmp_path / "tiny.cells.jsonl").read_text().splitlines()]
    assert {r["arm"]: r["loss"] for r in journal}["softmax"] == "sampled-softmax"


EXPOSURE_ARMS = """
[[arms]]
label = "exposed, not clicked"
sampler = "exposure"
params = {{ exposed = "@world.exposed" }}

[[arms]]
label = "IPW (world propensity)"
sampler = "ipw"
params = {{ propensity = "@world.propensity", clip = 0.05 }}

[[arms]]
label = "IPW (popularity estimate)"
sampler = "ipw"
params = {{ propensity = "popularity", power = 0.5, clip = 0.05 }}
"""


def test_world_inputs_and_the_true_preference_probe(tmp_path):
    text = GRID.replace("seeds = [0, 1]", 'seeds = [0]\nprobes = ["false_negatives", "true_preferences"]')
    grid = parse_grid((text + EXPOSURE_ARMS).format(name="tiny"))
    runner.run_grid(grid, results_dir=tmp_path, progress=False, threads=1)
    frame = pd.read_csv(tmp_path / "tiny.csv")
    wide = frame.pivot_table(index="sampler", columns="metric", values="value")
    assert set(wide.index) >= {"exposed, not clicked", "IPW (world propensity)", "IPW (popularity estimate)"}
    assert wide["true_ndcg@10"].between(0, 1).all() and wide["true_precision@10"].between(0, 1).all()
    # IPW draws uniform negatives: audited on those, so every arm has a false-negative rate;
    # the exposure sampler is audited on its own draws, not on its uniform fallback
    assert wide["fnr"].notna().all()
    assert wide.loc["IPW (world propensity)", "fnr"] == wide.loc["uniform", "fnr"]
    assert wide.loc["exposed, not clicked", "fnr"] != wide.loc["uniform", "fnr"]
    # the journal keeps the name of the world input, not the matrix
    journal = [json.loads(line) for line in (tmp_path / "tiny.cells.jsonl").read_text().splitlines()]
    assert {r["arm"]: r["params"] for r in journal}["exposed, not clicked"] == {"exposed": "@world.exposed"}


def test_world_inputs_need_a_synthetic_setting_and_a_known_name(tmp_path):
    base = GRID.replace("seeds = [0, 1]", "seeds = [0]")
    unknown = parse_grid((base + EXPOSURE_ARMS.replace("@world.exposed", "@world.clicks")).format(name="tiny"))
    cell = next(c for c in unknown.final_cells({}) if c.arm.sampler == "exposure")
    with pytest.raises(RecnegError, match="unknown world input '@world.clicks'"):
        runner._world_inputs(cell)
    real = parse_grid((base.replace('dataset = "synthetic"', 'dataset = "ml-100k"')
                       .replace('world = {{ n_users = 60, n_items = 40, random_state = 0 }}\n', "")
                       + EXPOSURE_ARMS).format(name="tiny"))
    cell = next(c for c in real.final_cells({}) if c.arm.sampler == "exposure")
    with pytest.raises(RecnegError, match="needs a synthetic setting"):
        runner._world_inputs(cell)


def test_a_miniature_shortens_a_warm_up_longer_than_its_cap(grid_path):
    grid = parse_grid(grid_path.read_text().replace("epochs = 3", "epochs = 100")
                      .replace("patience = 2", "patience = 2\nmin_epochs = 30"))
    assert miniature(grid, epochs=5).train["min_epochs"] == 5
    assert miniature(grid, epochs=50).train["min_epochs"] == 30
    assert "min_epochs" not in miniature(parse_grid(grid_path.read_text()), epochs=2).train
    cfg = TrainConfig(**{**miniature(grid, epochs=5).train, "progress": False})   # accepted
    assert (cfg.epochs, cfg.min_epochs) == (5, 5)


def test_a_setting_with_new_items_and_the_cold_start_probe(tmp_path):
    text = GRID.replace("seeds = [0, 1]", 'seeds = [0]\nprobes = ["cold_start"]').replace(
        "world = {{ n_users = 60, n_items = 40, random_state = 0 }}",
        "world = {{ n_users = 60, n_items = 40, random_state = 0 }}\n"
        "thin_items = {{ fraction = 0.2, keep = 1, random_state = 0 }}")
    grid = parse_grid(text.format(name="tiny"))
    cohort = runner.new_item_cohort(grid.settings[0])
    split = runner.load_setting(grid.settings[0])
    assert cohort.sum() == 8 and split.train.item_counts()[cohort].max() <= 1
    runner.run_grid(grid, results_dir=tmp_path, progress=False, threads=1)
    wide = pd.read_csv(tmp_path / "tiny.csv").pivot_table(index="sampler", columns="metric", values="value")
    assert wide["new_negative_share"].between(0, 1).all() and np.allclose(wide["new_catalogue_share"], 8 / wide["n_candidates"])
    # uniform draws new items about as often as any other item; popularity (alpha 1) rarely
    assert wide.loc["popularity", "new_negative_share"] < wide.loc["uniform", "new_negative_share"]
    assert {"new_hr@10", "new_mrr", "new_top_share@10"} <= set(wide.columns)
    # unweighted samplers: the weighted share is the drawn share
    assert np.allclose(wide["new_negative_weight"], wide["new_negative_share"])


def test_a_setting_without_new_items_keeps_its_cell_keys():
    plain = Setting(label="w", dataset="synthetic", split="leave-one-out")
    assert "thin_items" not in plain.as_dict()
    with pytest.raises(RecnegError, match="has no thin_items"):
        runner.new_item_cohort(plain)
    with pytest.raises(RecnegError, match="thin_items must be a table of fraction, keep and random_state"):
        parse_grid(GRID.replace('split = "leave-one-out"', 'split = "leave-one-out"\nthin_items = {{ share = 0.2 }}')
                   .format(name="tiny"))


def test_a_record_keeps_the_validation_curve_that_a_shorter_patience_can_replay(grid_path, tmp_path):
    text = grid_path.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace("epochs = 3", "epochs = 15")
    grid = parse_grid(text)
    runner.run_grid(grid, results_dir=tmp_path, progress=False, threads=1)
    journal = [json.loads(line) for line in (tmp_path / "tiny.cells.jsonl").read_text().splitlines()]
    assert any(r["stop_reason"] == "patience" for r in journal)
    for record in journal:
        curve = record["valid_curve"]
        assert len(curve) == record["epochs_trained"] and None not in curve
        assert curve[record["best_epoch"] - 1] == pytest.approx(record["valid"]["ndcg@10"], abs=1e-6)
        replayed = replay_early_stopping(curve, grid.train["patience"], grid.train.get("min_epochs", 0))
        assert replayed == (record["best_epoch"], record["epochs_trained"])
    # the published file carries the same curves, so a chapter can replay them from results/
    provenance = json.loads((tmp_path / "tiny.json").read_text())
    by_key = {r["key"]: r["valid_curve"] for r in journal}
    assert provenance["cells"] and all(c["valid_curve"] == by_key[c["key"]] for c in provenance["cells"])


def test_curve_retrains_a_published_cell_past_its_early_stop(grid_path, tmp_path, capsys):
    text = grid_path.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace("epochs = 3", "epochs = 15")
    config = tmp_path / "tiny.toml"
    config.write_text(text)
    runner.run_grid(config, results_dir=tmp_path, progress=False, threads=1)
    provenance = json.loads((tmp_path / "tiny.json").read_text())
    stopped = next(c for c in provenance["cells"] if c["arm"] == "uniform")
    out, record_path = tmp_path / "curve.csv", tmp_path / "probe.json"
    assert main(["experiment", "curve", str(tmp_path / "tiny.csv"), "--arm", "uniform", "--seed", "0",
                 "--epochs", "20", "--out", str(out), "--record", str(record_path)]) == 0
    printed = capsys.readouterr().out
    # the same run, only longer: the grid's own rule on the new curve stops where the published run stopped
    assert stopped["stop_reason"] == "patience"
    assert f"on this curve: best epoch {stopped['best_epoch']}, stop at {stopped['epochs_trained']}" in printed
    curve = pd.read_csv(out)
    assert list(curve.epoch) == list(range(1, 21))
    # --record keeps the same run with what a chapter needs to cite it
    record = json.loads(record_path.read_text())
    assert record["valid_curve"] == pytest.approx(curve["valid_ndcg@10"].tolist())
    assert (record["grid"], record["config_hash"], record["arm"], record["seed"]) == (
        "tiny", provenance["config_hash"], "uniform", 0)
    assert record["stored"]["best_epoch"] == stopped["best_epoch"] and record["epochs"] == 20
    assert record["replayed"]["stopped"] == stopped["epochs_trained"] and record["commit"] and record["cpu"]
    # --keep appends the same record beside the results file, where the chapters read it
    assert main(["experiment", "curve", str(tmp_path / "tiny.csv"), "--arm", "uniform", "--seed", "0",
                 "--epochs", "20", "--keep"]) == 0
    assert "kept in" in capsys.readouterr().out
    kept = runner.read_probes(tmp_path / "tiny.csv")
    assert len(kept) == 1 and kept[0]["valid_curve"] == record["valid_curve"]
    assert kept[0]["test"] == record["test"] and kept[0]["config_hash"] == provenance["config_hash"]
    # a probe of another edition is refused, and one kept for an edition since replaced is not read
    with pytest.raises(RecnegError, match="record a probe beside the results file it re-trained"):
        runner.record_probe(tmp_path / "tiny.csv", {**record, "config_hash": "0" * 16})
    stale = json.loads((tmp_path / "tiny.probes.json").read_text())
    stale["probes"].append({**record, "config_hash": "0" * 16})
    (tmp_path / "tiny.probes.json").write_text(json.dumps(stale))
    assert len(runner.read_probes(tmp_path / "tiny.csv")) == 1
    with pytest.raises(RecnegError, match="arm 'nope'"):
        runner.retrain_without_stopping(tmp_path / "tiny.csv", arm="nope", seed=0, epochs=5)


def test_a_run_shared_by_two_arms_is_listed_under_each_arm(tmp_path):
    # "α = 1" re-uses the tuning run of popularity's α = 1 at seed 0 (same key); the journal
    # names the arm that trained it, the results file must name the arm it stands for.
    text = GRID + '\n[[arms]]\nlabel = "α = 1"\nsampler = "popularity"\nparams = {{ smoothing = 1.0, alpha = 1.0 }}\n'
    grid = parse_grid(text.format(name="tiny"))
    runner.run_grid(grid, results_dir=tmp_path, progress=False, threads=1)
    journal = [json.loads(line) for line in (tmp_path / "tiny.cells.jsonl").read_text().splitlines()]
    provenance = json.loads((tmp_path / "tiny.json").read_text())
    fixed = [c for c in provenance["cells"] if c["arm"] == "α = 1"]
    assert sorted(c["seed"] for c in fixed) == [0, 1]
    shared = next(c for c in fixed if c["seed"] == 0)
    assert {r["arm"] for r in journal if r["key"] == shared["key"]} == {"popularity"}
    assert len(provenance["cells"]) == grid.n_final_cells()


def run_variant(grid_path, folder, **replace):
    """Run the tiny grid with some of its lines replaced; load its results unchecked (a toy
    grid's health is not what these tests are about)."""
    text = grid_path.read_text()
    for old, new in replace.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (folder / "tiny.toml").write_text(text)
    runner.run_grid(folder / "tiny.toml", results_dir=folder, progress=False, threads=1)
    return load_results("tiny", results_dir=folder, check=False)


def test_patience_replay_reads_the_curves_of_a_results_file(grid_path, tmp_path):
    results = run_variant(grid_path, tmp_path, **{"seeds = [0, 1]": "seeds = [0]", "epochs = 3": "epochs = 15",
                                                "patience = 2": "patience = 4"})
    assert results.grid().stopping_rule() == {"patience": 4, "warm-up": 0, "epoch cap": 15}
    replay = results.patience_replay([1, 2, 4])
    cells = pd.DataFrame(results.provenance["cells"]).set_index(["arm", "seed"])
    assert len(replay) == 3 * len(cells) and (replay.given_up >= 0).all()
    own = replay[replay.patience == 4].set_index(["arm", "seed"])
    # the grid's own patience keeps every published checkpoint and stop, and its test score
    assert own.same_checkpoint.all() and (own.given_up == 0).all()
    published_hr = cells.loc[own.index, "health"].map(lambda h: h["hr10"])
    assert np.allclose(own["test_hr@10"], published_hr, atol=1e-6)
    assert replay["test_hr@10"].notna().all()    # every replayed checkpoint is a recorded new best
    assert (own.stopped == cells.loc[own.index, "epochs_trained"]).all()
    # a shorter patience never trains longer
    for patience in (1, 2):
        shorter = replay[replay.patience == patience].set_index(["arm", "seed"])
        assert (shorter.stopped <= own.loc[shorter.index, "stopped"]).all()
    with pytest.raises(RecnegError, match="patience 5 is longer than the grid's own"):
        results.patience_replay([5])
    # a file written before runs recorded their curves replays nothing
    provenance = json.loads((tmp_path / "tiny.json").read_text())
    for cell in provenance["cells"]:
        cell.pop("valid_curve")
    (tmp_path / "tiny.json").write_text(json.dumps(provenance))
    assert load_results("tiny", results_dir=tmp_path, check=False).patience_replay([1]).empty


def test_patience_gain_pairs_each_run_with_its_own_shorter_replay(grid_path, tmp_path):
    # at this learning rate validation rises with dips, so patience 1 keeps earlier checkpoints
    results = run_variant(grid_path, tmp_path, **{"epochs = 3": "epochs = 40", "patience = 2": "patience = 10",
                                                "lr = 0.01": "lr = 0.05"})
    gain = results.patience_gain(1)
    cells = pd.DataFrame(results.provenance["cells"])
    assert gain["runs"].sum() == len(cells) and (gain["moved"] <= gain["runs"]).all()
    assert gain["moved"].sum() > 0                       # the comparison has something to show
    replay = results.patience_replay([1]).set_index(["arm", "seed"])
    for (setting, arm, loss), row in gain.iterrows():
        own = cells[cells.arm == arm]
        hr_own = own.health.map(lambda h: h["hr10"])
        assert np.allclose(hr_own, [dict(zip(c["epoch"], c["hr@10"]))[b] for c, b in
                                    zip(own.test_at_new_best, own.best_epoch)], atol=1e-6)
        shorter = replay.loc[arm]["test_hr@10"]
        assert np.isclose(row["hr@10_own"], hr_own.mean(), atol=1e-6)
        assert np.isclose(row["hr@10_shorter"], shorter.mean())
        diffs = hr_own.to_numpy() - shorter.loc[own.seed].to_numpy()
        assert np.isclose(row["gain"], diffs.mean(), atol=1e-6)
        assert np.isclose(row["gain ±"], mean_interval(diffs)[1], atol=1e-6, equal_nan=True)
        assert row["epochs_shorter"] <= row["epochs_own"]
    # a shorter patience that keeps the same checkpoint gains exactly nothing
    same = results.patience_gain(10)
    assert (same["moved"] == 0).all() and (same["gain"] == 0).all()
    # a file from before runs recorded their test scores says so
    provenance = json.loads((tmp_path / "tiny.json").read_text())
    for cell in provenance["cells"]:
        cell.pop("test_at_new_best")
    (tmp_path / "tiny.json").write_text(json.dumps(provenance))
    with pytest.raises(RecnegError, match="recorded no test score at their new validation bests"):
        load_results("tiny", results_dir=tmp_path, check=False).patience_gain(1)
    provenance["cells"] = []
    (tmp_path / "tiny.json").write_text(json.dumps(provenance))
    with pytest.raises(RecnegError, match="no published run with a recorded validation curve"):
        load_results("tiny", results_dir=tmp_path, check=False).patience_gain(1)


def test_stopping_rule_takes_a_loss_variants_overrides():
    text = GRID + '\n[[losses]]\nlabel = "bce"\n\n[[losses]]\nlabel = "patient"\npatience = 7\nmin_epochs = 2\n'
    grid = parse_grid(text.format(name="tiny"))
    base, patient = grid.losses
    assert grid.stopping_rule() == grid.stopping_rule(base) == {"patience": 2, "warm-up": 0, "epoch cap": 3}
    assert grid.stopping_rule(patient) == {"patience": 7, "warm-up": 2, "epoch cap": 3}


def test_the_commit_is_dirty_for_code_changes_but_not_for_results(tmp_path, monkeypatch):
    # A grid run into results/ rewrites its own tracked journal after the first cell; that must
    # not mark the later cells' commit as dirty, while a change to any other tracked file must.
    import subprocess
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "g.cells.jsonl").write_text("{}\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    monkeypatch.setattr(runner, "_ROOT", tmp_path)
    clean = runner.git_commit()
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "results" / "g.cells.jsonl").write_text("{}\n{}\n")
    assert runner.git_commit() == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert runner.git_commit() == clean + "+dirty"
