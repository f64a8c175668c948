"""Tests of the recneg command line (in-process through main(), plus one subprocess)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recneg import RecnegError, cli
from recneg._atomic import atomic_path
from recneg.cli import main

# A synthetic world and a model small enough for a training run in about a second.
TINY = ["--users", "40", "--items", "30", "--epochs", "1", "--hidden", "8", "--maxlen", "10",
        "--batch-size", "32"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECNEG_DATA_DIR", raising=False)
    monkeypatch.setenv("RECNEG_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code, err, fragment):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("recneg: error: ")
    assert fragment in lines[0]


# -- datasets and inspect ----------------------------------------------------------------
def test_datasets_lists_registry_with_availability(capsys, tmp_path, monkeypatch):
    data = tmp_path / "data" / "ml-100k"
    data.mkdir(parents=True)
    for name in ("u.data", "u.item"):
        (data / name).write_text("")
    monkeypatch.setenv("RECNEG_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run(capsys, "datasets")
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert {"ml-100k", "ml-1m", "amazon-beauty", "synthetic"} <= set(lines)
    assert "True" in lines["synthetic"] and "False" in lines["ml-1m"]


def test_inspect_synthetic_prints_statistics_and_cohorts(capsys):
    code, out, err = run(capsys, "inspect", "--users", "60", "--items", "40")
    assert code == 0, err
    assert "dataset: synthetic" in out
    assert "interactions" in out and "head" in out and "tail" in out
    assert "leave-one-out" in out and "global-temporal" in out


def test_cohort_table_hand_counts():
    table = cli.cohort_table([0, 6, 3, 3, 1, 1, 1, 1, 1, 1])
    assert table["items"].tolist() == [1, 2, 6]
    assert table["share_of_interactions"].tolist() == pytest.approx([1 / 3] * 3)


# -- error paths: exit code 2 and one line on stderr -------------------------------------
def test_unknown_dataset(capsys):
    code, _, err = run(capsys, "inspect", "no-such-data")
    assert_usage_error(code, err, "unknown dataset 'no-such-data'")


def test_missing_recneg_data_dir(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("RECNEG_DATA_DIR", str(tmp_path / "missing"))
    code, _, err = run(capsys, "inspect", "ml-100k")
    assert_usage_error(code, err, "RECNEG_DATA_DIR")
    code, _, err = run(capsys, "datasets")
    assert_usage_error(code, err, "RECNEG_DATA_DIR")


def test_missing_data_dir_option(capsys, tmp_path):
    code, _, err = run(capsys, "inspect", "ml-100k", "--data-dir", str(tmp_path / "nowhere"))
    assert_usage_error(code, err, "--data-dir")


def test_unknown_sampler(capsys):
    code, _, err = run(capsys, "train", "--sampler", "nonsense", *TINY)
    assert_usage_error(code, err, "unknown sampler 'nonsense'")
    code, _, err = run(capsys, "compare", "--samplers", "uniform,nonsense", *TINY)
    assert_usage_error(code, err, "unknown sampler 'nonsense'")


def test_negative_epochs(capsys):
    code, _, err = run(capsys, "train", *TINY, "--epochs", "-3")
    assert_usage_error(code, err, "epochs must be positive, got -3")


def test_maxlen_zero(capsys):
    code, _, err = run(capsys, "train", *TINY, "--maxlen", "0")
    assert_usage_error(code, err, "maxlen must be positive, got 0")


def test_argparse_errors_are_one_line(capsys):
    code, _, err = run(capsys)
    assert_usage_error(code, err, "COMMAND")
    code, _, err = run(capsys, "train", "--epochs", "many")
    assert_usage_error(code, err, "invalid int value: 'many'")
    code, _, err = run(capsys, "frobnicate")
    assert_usage_error(code, err, "invalid choice")
    code, _, err = run(capsys, "train", "--model", "transformer-xl", *TINY)
    assert_usage_error(code, err, "unknown model 'transformer-xl'")


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "compare" in capsys.readouterr().out
    assert main(["compare", "--help"]) == 0
    assert "--samplers" in capsys.readouterr().out


# -- outputs -----------------------------------------------------------------------------
def test_atomic_path_leaves_no_partial_file(tmp_path):
    target = tmp_path / "result.csv"
    target.write_text("old contents")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a ta")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.csv"]
    folder = tmp_path / "taken"
    folder.mkdir()
    with pytest.raises(RecnegError, match="is a folder; pass a file name"):
        with atomic_path(folder) as tmp:
            tmp.write_text("new")
    assert folder.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["result.csv", "taken"]


def test_atomic_path_moves_a_written_folder_and_cleans_up_a_failed_one(tmp_path):
    target = tmp_path / "out"
    target.write_text("a file")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "part-0").write_text("rows")
    assert (target / "part-0").read_text() == "rows"
    with pytest.raises(OSError):
        with atomic_path(target, folder=lambda path: None) as tmp:
            tmp.mkdir()
            (tmp / "part-0").write_text("half")
            raise OSError("disk full")
    assert (target / "part-0").read_text() == "rows"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_train_writes_tidy_csv(capsys, tmp_path):
    out = tmp_path / "train.csv"
    code, stdout, err = run(capsys, "train", "--sampler", "uniform", "--seed", "3", *TINY,
                            "--out", str(out))
    assert code == 0, err
    assert "hr@10" in stdout and "protocol full" in stdout
    table = pd.read_csv(out)
    assert {"metric", "value", "protocol", "sampler", "seed"} <= set(table.columns)
    assert set(table["seed"]) == {3} and set(table["sampler"]) == {"uniform"}
    assert set(table["protocol"]) == {"full"}
    assert 0.0 <= table.set_index("metric").loc["hr@10", "value"] <= 1.0


def test_train_failure_leaves_no_output(capsys, tmp_path):
    out = tmp_path / "train.csv"
    code, _, err = run(capsys, "train", *TINY, "--maxlen", "0", "--out", str(out))
    assert code == 2
    code, _, err = run(capsys, "train", *TINY, "--out", str(tmp_path / "no-dir" / "t.csv"))
    assert_usage_error(code, err, "does not exist")
    assert list(tmp_path.glob("**/*.csv")) == [] and list(tmp_path.glob("**/*.tmp")) == []


def test_compare_writes_csv_and_png(capsys, tmp_path):
    out = tmp_path / "cmp"
    code, stdout, err = run(capsys, "compare", "--samplers", "uniform,popularity", "--seeds", "0,1",
                            *TINY, "--out", str(out))
    assert code == 0, err
    table = pd.read_csv(out / "results.csv")
    assert set(table["sampler"]) == {"uniform", "popularity"}
    assert set(table["seed"]) == {0, 1}
    assert {"hr@10_head", "hr@10_mid", "hr@10_tail", "balance"} <= set(table["metric"])
    png = (out / "cohorts.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert "uniform" in stdout and "±" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["cohorts.png", "results.csv"]


def test_cohort_figure_title_states_dataset_protocol_split_and_seeds():
    rows = []
    for sampler in ("uniform", "popularity"):
        for seed in (0, 1, 2):
            for metric, value in (("hr@10_head", 0.5), ("hr@10_mid", 0.3), ("hr@10_tail", 0.1),
                                  ("balance", 0.7)):
                rows.append(dict(dataset="ml-100k", split="global-temporal", model="sasrec",
                                 loss="bce", protocol="full", sampler=sampler, seed=seed,
                                 metric=metric, value=value + 0.01 * seed))
    fig = cli.cohort_figure(pd.DataFrame(rows))
    title = fig.axes[0].get_title()
    for part in ("ml-100k", "protocol full", "global-temporal split", "3 seeds"):
        assert part in title
    assert len(fig.axes[0].patches) == 6  # 2 samplers x 3 cohorts


def test_python_dash_m_subprocess_reports_errors():
    env = {**os.environ, "RECNEG_DATA_DIR": "/definitely/not/here"}
    proc = subprocess.run([sys.executable, "-m", "recneg", "inspect", "ml-100k"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        proc.stderr.strip()
    ] and proc.stderr.startswith("recneg: error: RECNEG_DATA_DIR")
    assert proc.stdout == ""


def test_compare_failure_while_writing_leaves_no_file(capsys, tmp_path, monkeypatch):
    class BrokenFigure:
        def savefig(self, path, **kwargs):
            Path(path).write_bytes(b"\x89PNG half")
            raise RecnegError("disk full while writing the figure")

    monkeypatch.setattr(cli, "cohort_figure", lambda results, k=10: BrokenFigure())
    out = tmp_path / "cmp"
    code, _, err = run(capsys, "compare", "--samplers", "uniform", "--seeds", "0", *TINY,
                       "--out", str(out))
    assert code == 2
    # The progress bar shares stderr; the error is its one final line.
    assert err.strip().splitlines()[-1] == "recneg: error: disk full while writing the figure"
    assert list(out.iterdir()) == []  # neither the CSV nor the half-written PNG


def test_every_command_is_registered_directly(capsys):
    """``sample`` is registered like the built-in commands, without importing pyspark."""
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("datasets", "inspect", "train", "compare", "experiment", "sample"):
        assert command in out
    assert cli.build_parser().parse_args(["sample", "--input", "a.csv", "--output", "b.csv"]).k == 20


# -- negatives beyond the catalogue (issue #10) -------------------------------------------
def test_train_refuses_more_negatives_than_items_before_training(capsys, tmp_path):
    out = tmp_path / "t.csv"
    code, stdout, err = run(capsys, "train", *TINY, "--negatives", "99999", "--out", str(out))
    assert_usage_error(code, err, "--negatives 99999 exceeds the 30 items of synthetic; pass --negatives 30 or fewer")
    assert stdout == "" and not out.exists()
    code, _, err = run(capsys, "compare", *TINY, "--samplers", "uniform", "--seeds", "0", "--negatives", "31")
    assert_usage_error(code, err, "--negatives 31 exceeds the 30 items")
    code, _, err = run(capsys, "train", *TINY, "--protocol", "sampled", "--n-sampled", "31")
    assert_usage_error(code, err, "--n-sampled 31 exceeds the 30 items of synthetic")


def test_negatives_are_not_checked_where_they_are_unused(capsys):
    # The full softmax and the most-popular baseline draw no negatives.
    for extra in (["--loss", "ce"], ["--model", "most-popular"]):
        code, _, err = run(capsys, "train", *TINY, "--negatives", "99999", *extra)
        assert code == 0, err


def test_inspect_prints_nothing_when_it_fails(capsys, tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,10\n1,2,4,11\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,A,Drama\n2,B,Drama\n")
    code, stdout, err = run(capsys, "inspect", "ml-latest-small", "--data-dir", str(folder), "--no-download")
    assert_usage_error(code, err, "too few")
    assert stdout == ""
