"""The in-memory sampling engine, its file I/O, and the ``recneg sample`` subcommand."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recneg import RecnegError
from recneg import _atomic
from recneg.scale import sample as scale_sample
from recneg.scale.budget import FIXED_POINT, NO_BUDGET, draws_table, stream_budget
from recneg.scale.cli import add_sample_command
from recneg.scale.hashing import hash_uniform, xxhash64
from recneg.scale.memory import inclusion_probabilities, memory_negatives
from recneg.scale.sample import run_sample


# --- fixtures ----------------------------------------------------------------------------
def probe_log(n_items: int, n_probes: int, *, probe_item: int = 1, zipf: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Background users give items Zipf-like counts; every probe user holds only ``probe_item``.

    All probes therefore share one target distribution (popularity over the items other
    than ``probe_item``), so their negatives are i.i.d. across probes.
    """
    rng = np.random.default_rng(seed)
    counts = np.maximum(1, np.round(400 / np.arange(1, n_items + 1) ** zipf)).astype(int)
    items = np.repeat(np.arange(1, n_items + 1), counts)
    rng.shuffle(items)
    background_users = 10_000_000 + np.arange(len(items)) // 7  # ~7 interactions each
    probes = np.arange(n_probes)
    return pd.DataFrame({
        "user": np.concatenate([background_users, probes]),
        "item": np.concatenate([items, np.full(n_probes, probe_item)]),
    })


def target_weights(log: pd.DataFrame, alpha: float, exclude: int) -> tuple[np.ndarray, np.ndarray]:
    counts = log["item"].value_counts().sort_index()
    keep = counts.index != exclude
    return counts.index[keep].to_numpy(), counts.to_numpy()[keep].astype(float) ** alpha


def binomial_pvalues(observed: np.ndarray, n: int, prob: np.ndarray) -> np.ndarray:
    """Two-sided exact binomial p-values per item."""
    return np.array([stats.binomtest(int(o), n, float(p)).pvalue for o, p in zip(observed, prob)])


@pytest.fixture
def small_log() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 3000
    users = rng.integers(0, 150, n)
    items = np.minimum((rng.pareto(1.0, n) + 1).astype(int), 120) + 1000  # ids need not start at 1
    return pd.DataFrame({"user": users, "item": items, "segment": users % 3, "week": rng.integers(0, 3, n)})


# --- hashing and budgets -------------------------------------------------------------------
def test_xxhash64_is_spark_compatible_on_known_values():
    # Reference values produced by Spark 4.3: F.xxhash64 of bigint literals.
    assert int(xxhash64(3, -5, 7)) == -1837915294542365774
    assert xxhash64(np.array([0, 1]), 2).shape == (2,)


def test_hash_uniform_is_uniform_and_deterministic():
    u = hash_uniform(7, 1, np.arange(200_000))
    assert ((u > 0) & (u < 1)).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    np.testing.assert_array_equal(u, hash_uniform(7, 1, np.arange(200_000)))
    assert not np.array_equal(u, hash_uniform(8, 1, np.arange(200_000)))


@pytest.mark.parametrize("k", [1, 5, 20])
def test_draws_table_is_the_smallest_safe_budget(k):
    delta = 1e-9
    thresholds, budgets = draws_table(k, delta)
    j = np.arange(0, len(thresholds) - 1, 37)
    rate = thresholds[j] / FIXED_POINT
    assert (stats.binom.cdf(k - 1, budgets[j], rate) <= delta).all()
    assert (stats.binom.cdf(k - 1, budgets[j] - 1, rate) > delta).all()
    assert budgets[0] == k  # acceptance rate 1
    assert (np.diff(budgets[:-1]) >= 0).all()


def test_stream_budget_uses_the_grid_cell_below_the_rate():
    thresholds, budgets = draws_table(5, 1e-9)
    r = np.array([thresholds[3], thresholds[3] - 1, thresholds[3] + 1, 0, -5])
    m = stream_budget(r, 5, "auto", 1e-9)
    assert m[0] == budgets[3] and m[1] == budgets[4] and m[2] == budgets[3]
    assert (m[3:] == NO_BUDGET).all()


def test_inclusion_probabilities_against_enumeration():
    import itertools

    w = np.array([6.0, 3.0, 2.0, 1.0, 0.5])
    k = 3
    exact = np.zeros(len(w))
    for perm in itertools.permutations(range(len(w)), k):
        prob, left = 1.0, w.sum()
        for i in perm:
            prob *= w[i] / left
            left -= w[i]
        exact[list(perm)] += prob
    np.testing.assert_allclose(inclusion_probabilities(w, k), exact, atol=1e-12)
    with pytest.raises(RecnegError, match="k=6 exceeds"):
        inclusion_probabilities(w, 6)


# --- the in-memory engine: structure --------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(method="uniform"),
        dict(method="popularity"),
        dict(method="popularity", replace=True),
        dict(method="popularity", strategy="keys"),
        dict(method="popularity", strategy="keys", replace=True),
        dict(method="popularity", strategy="stream"),
        dict(method="context"),
    ],
)
def test_negatives_exclude_positives_and_fill_k(small_log, kwargs):
    k = 8
    neg = memory_negatives(small_log, k, seed=3, **kwargs)
    group = ["user"] + (["segment", "week"] if kwargs["method"] == "context" else [])
    clash = neg.merge(small_log[["user", "item"]].drop_duplicates(), left_on=["user", "negative"], right_on=["user", "item"])
    assert clash.empty
    sizes = neg.groupby(group).size()
    expected_groups = small_log[group].drop_duplicates()
    assert len(sizes) == len(expected_groups) and (sizes == k).all()
    assert (neg.groupby(group)["slot"].agg(lambda s: sorted(s) == list(range(k)))).all()
    if not kwargs.get("replace"):
        assert not neg.duplicated(group + ["negative"]).any()
    assert neg["negative"].isin(small_log["item"]).all()
    assert np.isfinite(neg["log_q"]).all() and (neg["log_q"] < 0).all()


def test_per_interaction_gives_every_row_its_own_set(small_log):
    log = pd.concat([small_log, small_log.iloc[:5]])  # repeated interactions
    neg = memory_negatives(log, 4, per="interaction", seed=0)
    assert len(neg) == 4 * len(log)
    per_event = neg.groupby(["user", "item", "occurrence"]).size()
    assert (per_event == 4).all()
    repeats = neg[(neg.user == log.user.iloc[0]) & (neg.item == log.item.iloc[0])]
    assert set(repeats.occurrence) >= {0, 1}


def test_users_with_few_unseen_items_get_what_exists():
    # User 0 has seen 9 of the 10 items: only one negative exists for k = 4.
    log = pd.DataFrame({"user": [0] * 9 + [1], "item": list(range(1, 10)) + [10]})
    neg = memory_negatives(log, 4, method="popularity", seed=0)
    assert neg[neg.user == 0].negative.tolist() == [10]
    assert len(neg[neg.user == 1]) == 4


def test_output_depends_on_seed_only(small_log):
    a = memory_negatives(small_log, 6, per="interaction", seed=11)
    b = memory_negatives(small_log.sample(frac=1.0, random_state=0), 6, per="interaction", seed=11, chunk_rows=997)
    pd.testing.assert_frame_equal(a, b)
    c = memory_negatives(small_log, 6, per="interaction", seed=12)
    assert not a["negative"].equals(c["negative"])


def test_context_negatives_come_from_the_context(small_log):
    neg = memory_negatives(small_log, 5, method="context", seed=2, min_context_items=10)
    seen = small_log[["segment", "week", "item"]].drop_duplicates()
    local = neg[neg.source == "context"].merge(
        seen, left_on=["segment", "week", "negative"], right_on=["segment", "week", "item"], how="left", indicator=True
    )
    assert len(local) > 0 and (local["_merge"] == "both").all()


def test_small_contexts_fall_back_to_global_popularity(small_log):
    log = small_log.copy()
    log.loc[log.index[:3], ["segment", "week"]] = [99, 99]  # a context with at most 3 items
    neg = memory_negatives(log, 5, method="context", seed=0)
    tiny = neg[(neg.segment == 99) & (neg.week == 99)]
    assert len(tiny) > 0 and (tiny.source == "global").all()
    assert (neg[neg.segment != 99].source == "context").mean() > 0.9


# --- the in-memory engine: distributions ----------------------------------------------------
@pytest.mark.parametrize("strategy", ["stream", "keys"])
def test_first_negative_follows_restricted_popularity(strategy):
    """Slot 0 is one draw from p restricted to non-positives: a multinomial, exactly."""
    n_probes, alpha = 6000, 0.75
    log = probe_log(60, n_probes)
    neg = memory_negatives(log, 4, alpha=alpha, seed=5, strategy=strategy)
    first = neg[(neg.user < n_probes) & (neg.slot == 0)]
    items, w = target_weights(log, alpha, exclude=1)
    observed = first["negative"].value_counts().reindex(items, fill_value=0).to_numpy()
    expected = n_probes * w / w.sum()
    assert observed.sum() == n_probes and expected.min() > 5
    assert stats.chisquare(observed, expected).pvalue > 1e-3


@pytest.mark.parametrize("strategy", ["stream", "keys"])
def test_inclusion_frequencies_match_successive_sampling(strategy):
    """Each item's count over i.i.d. probes is Binomial(n, pi_i) with the exact WOR pi_i."""
    n_probes, k, alpha = 5000, 5, 0.75
    log = probe_log(40, n_probes, zipf=1.2)
    neg = memory_negatives(log, k, alpha=alpha, seed=9, strategy=strategy)
    probes = neg[neg.user < n_probes]
    items, w = target_weights(log, alpha, exclude=1)
    pi = inclusion_probabilities(w, k)
    observed = probes["negative"].value_counts().reindex(items, fill_value=0).to_numpy()
    pvalues = binomial_pvalues(observed, n_probes, pi)
    assert pvalues.min() * len(items) > 1e-3  # Bonferroni over items
    # The with-replacement law k * p differs visibly for the heaviest item.
    assert pi[0] < k * w[0] / w.sum() - 0.05


def test_with_replacement_draws_are_iid_restricted_popularity():
    n_probes, k, alpha = 3000, 4, 1.0
    log = probe_log(50, n_probes)
    neg = memory_negatives(log, k, alpha=alpha, seed=4, replace=True)
    probes = neg[neg.user < n_probes]
    items, w = target_weights(log, alpha, exclude=1)
    observed = probes["negative"].value_counts().reindex(items, fill_value=0).to_numpy()
    assert stats.chisquare(observed, n_probes * k * w / w.sum()).pvalue > 1e-3


def test_uniform_is_uniform_over_unseen_items():
    n_probes, k = 4000, 3
    log = probe_log(30, n_probes)
    neg = memory_negatives(log, k, method="uniform", seed=1)
    observed = neg[neg.user < n_probes]["negative"].value_counts().reindex(range(2, 31), fill_value=0)
    assert stats.chisquare(observed.to_numpy()).pvalue > 1e-3


# --- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "frame, kwargs, message",
    [
        (pd.DataFrame({"u": [1], "item": [2]}), {}, "no user column 'user'"),
        (pd.DataFrame({"user": [1], "item": ["a"]}), {}, "item column 'item', row 1: 'a' is not an integer id"),
        (pd.DataFrame({"user": [1, 1], "item": ["2", "x"]}), {}, "item column 'item', row 2: 'x' is not an integer id"),
        (pd.DataFrame({"user": [1], "item": [2.5]}), {}, "row 1: 2.5 is not an integer id"),
        (pd.DataFrame({"user": [1, None], "item": [2, 3]}), {}, r"user column 'user', row 2: the user id is missing \(1 row in all\)"),
        (pd.DataFrame({"user": [1], "item": [float("inf")]}), {}, "row 1: inf is not an integer id"),
        (pd.DataFrame({"user": [1], "item": [True]}), {}, "row 1: True is a boolean"),
        (pd.DataFrame({"user": [1, 2], "item": [1, 2]}), {"k": 3}, "k 3 exceeds the 2 distinct items in the log; pass k 2 or fewer"),
        (pd.DataFrame({"user": [1], "item": [2]}), {"item_col": "user"}, "--user-col and --item-col both name column 'user'"),
        (pd.DataFrame({"user": [1], "item": [2]}), {"k": 0}, "k must be positive"),
        (pd.DataFrame({"user": [1], "item": [2]}), {"method": "gumbel"}, "method must be one of"),
        (pd.DataFrame({"user": [1], "item": [2]}), {"alpha": float("nan")}, "alpha must be finite"),
        (pd.DataFrame({"user": [1], "item": [2]}), {"per": "session"}, "per must be one of"),
        (pd.DataFrame({"user": [1], "item": [2]}), {"oversample": 0.5}, "oversample"),
        (pd.DataFrame({"user": [1], "item": [2]}), {"method": "context"}, "no context column 'segment'"),
        (pd.DataFrame({"user": [], "item": []}, dtype=int), {}, "empty"),
    ],
)
def test_bad_input_raises_one_line(frame, kwargs, message):
    kwargs = {"k": 1, **kwargs}
    with pytest.raises(RecnegError, match=message) as info:
        memory_negatives(frame, **kwargs)
    assert "\n" not in str(info.value)


# --- files and the CLI ---------------------------------------------------------------------
def sample_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recneg")
    add_sample_command(parser.add_subparsers(dest="command", required=True))
    return parser


def run_cli(argv: list[str]) -> int:
    args = sample_parser().parse_args(["sample", *argv])
    return args.handler(args)


@pytest.mark.parametrize("out_name", ["neg.csv", "neg.parquet"])
def test_cli_writes_negatives(tmp_path, small_log, out_name, capsys):
    src = tmp_path / "train.csv"
    small_log.to_csv(src, index=False)
    out = tmp_path / out_name
    assert run_cli(["--input", str(src), "--output", str(out), "--k", "3", "--seed", "4", "--engine", "memory"]) == 0
    assert "with the memory engine" in capsys.readouterr().out
    written = pd.read_csv(out) if out_name.endswith(".csv") else pd.read_parquet(out)
    expected = memory_negatives(small_log, 3, seed=4)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_cli_parquet_input_context_method(tmp_path, small_log):
    src = tmp_path / "train.parquet"
    small_log.to_parquet(src)
    out = tmp_path / "neg.csv"
    code = run_cli(["--input", str(src), "--output", str(out), "--k", "2", "--method", "context",
                    "--context-cols", "segment,week", "--engine", "memory"])
    assert code == 0
    assert set(pd.read_csv(out).columns) == {"user", "segment", "week", "negative", "slot", "log_q", "source"}


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (None, [], "does not exist"),
        (lambda p: pd.DataFrame({"uid": [1], "item": [2]}).to_csv(p, index=False), [], "no column 'user'"),
        (lambda p: pd.DataFrame({"user": [1], "item": ["x"]}).to_csv(p, index=False), [], "line 2 of"),
        (lambda p: pd.DataFrame({"user": [1], "item": [2]}).to_csv(p, index=False), ["--alpha", "nan"], "alpha must be finite"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, make_input, extra, message, capsys):
    src = tmp_path / "train.csv"
    if make_input is not None:
        make_input(src)
    out = tmp_path / "neg.csv"
    assert run_cli(["--input", str(src), "--output", str(out), "--engine", "memory", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("recneg sample: error:") and message in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--k", "0"], ["--k", "-3"], ["--k", "two"], ["--method", "gumbel"], ["--engine", "gpu"]])
def test_argparse_rejects_bad_options_with_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        sample_parser().parse_args(["sample", "--input", "a.csv", "--output", "b.csv", *argv])
    assert info.value.code == 2


def test_run_sample_validates_before_reading(tmp_path):
    src = tmp_path / "train.csv"
    pd.DataFrame({"user": [1], "item": [2]}).to_csv(src, index=False)
    with pytest.raises(RecnegError, match="k must be positive"):
        run_sample(src, tmp_path / "neg.csv", k=0)
    with pytest.raises(RecnegError, match="must end in .csv or .parquet"):
        run_sample(src, tmp_path / "neg.json", k=1)
    with pytest.raises(RecnegError, match="output folder"):
        run_sample(src, tmp_path / "missing" / "neg.csv", k=1)
    with pytest.raises(RecnegError, match="engine must be one of"):
        run_sample(src, tmp_path / "neg.csv", k=1, engine="gpu")


def test_outputs_are_replaced_but_foreign_directories_are_kept(tmp_path, small_log):
    src = tmp_path / "train.csv"
    small_log.to_csv(src, index=False)
    out = tmp_path / "neg.csv"
    out.write_text("stale\n")
    run_sample(src, out, k=1, engine="memory")
    assert out.read_text().startswith("user,negative")
    precious = tmp_path / "keep.parquet"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    with pytest.raises(RecnegError, match="not a previous output"):
        run_sample(src, precious, k=1, engine="memory")
    assert (precious / "notes.txt").read_text() == "mine"


def test_auto_engine_uses_memory_for_small_files_and_falls_back_without_spark(tmp_path, small_log, monkeypatch):
    src = tmp_path / "train.csv"
    small_log.to_csv(src, index=False)
    assert run_sample(src, tmp_path / "a.csv", k=1).engine == "memory"
    monkeypatch.setattr(scale_sample, "_spark_unavailable_reason", lambda: "pyspark is not installed")
    summary = run_sample(src, tmp_path / "b.csv", k=1, spark_threshold_bytes=0)
    assert summary.engine == "memory" and "Spark is unavailable" in summary.note


def test_recneg_main_runs_sample_and_maps_bad_input_to_exit_2(tmp_path, small_log, capsys):
    """Through the real entry point, which registers ``sample`` with its other commands."""
    from recneg.cli import main

    src = tmp_path / "train.csv"
    small_log.to_csv(src, index=False)
    out = tmp_path / "neg.parquet"
    assert main(["sample", "--input", str(src), "--output", str(out), "--k", "2", "--engine", "memory"]) == 0
    assert len(pd.read_parquet(out)) == 2 * small_log.user.nunique()
    capsys.readouterr()
    for argv, fragment in [
        (["--k", "0"], "expected a positive integer"),
        (["--method", "gumbel"], "invalid choice"),
        (["--input", str(tmp_path / "missing.csv")], "does not exist"),
        (["--output", str(tmp_path / "neg.json")], "must end in .csv or .parquet"),
    ]:
        base = {"--input": str(src), "--output": str(tmp_path / "b.csv")}
        base.update(dict(zip(argv[::2], argv[1::2])))
        code = main(["sample", *[x for kv in base.items() for x in kv], "--engine", "memory"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and fragment in err and "\n" not in err, (argv, err)
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("out_name", ["neg.csv", "neg.parquet"])
def test_a_failed_write_leaves_the_old_output_and_no_temporary_file(tmp_path, small_log, out_name, monkeypatch):
    src = tmp_path / "train.csv"
    small_log.to_csv(src, index=False)
    out = tmp_path / out_name
    out.write_text("previous result\n")

    def crash(tmp, final, folder):  # the data is fully written to the temporary name, then we fail
        assert tmp.exists() and tmp.name.startswith(f".{out_name}.tmp-") and tmp.stat().st_size > 0
        raise OSError("disk full")

    monkeypatch.setattr(_atomic, "_move_into_place", crash)
    with pytest.raises(OSError, match="disk full"):
        run_sample(src, out, k=2, engine="memory")
    assert out.read_text() == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["train.csv", out_name])


def test_importing_the_cli_does_not_import_pyspark():
    code = (
        "import sys, recneg, recneg.cli, recneg.scale.cli, recneg.scale.sample, recneg.scale.spark; "
        "assert 'pyspark' not in sys.modules, 'pyspark imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.spark
@pytest.mark.slow
def test_spark_engine_writes_the_same_negatives(tmp_path, small_log):
    pytest.importorskip("pyspark")
    from recneg.scale import spark as rs

    try:
        rs.require_java()
    except RecnegError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))
    # The same settings as tests/test_spark.py's fixture: getOrCreate shares one session.
    rs.spark_session("local[2]", app_name="recneg-tests", driver_memory="1g", shuffle_partitions=4,
                     config={"spark.default.parallelism": 4, "spark.sql.adaptive.enabled": "true"})
    src = tmp_path / "train.parquet"
    small_log.to_parquet(src)
    out = tmp_path / "neg.parquet"
    out.mkdir()
    (out / "_SUCCESS").write_text("")  # a previous Spark output is replaced
    summary = run_sample(src, out, k=3, engine="spark", seed=4, per="interaction")
    assert summary.engine == "spark" and out.is_dir() and not (out / "_SUCCESS").stat().st_size
    got = pd.read_parquet(out).sort_values(["user", "item", "occurrence", "slot"]).reset_index(drop=True)
    expected = memory_negatives(small_log, 3, seed=4, per="interaction")
    assert summary.rows == len(expected)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # CSV out (a directory of part files) and one-line errors from the Spark engine.
    csv_out = tmp_path / "neg.csv"
    assert run_sample(src, csv_out, k=2, engine="spark", method="uniform", seed=1).rows == 2 * small_log.user.nunique()
    parts = pd.concat(pd.read_csv(p) for p in csv_out.glob("part-*.csv"))
    assert set(parts.columns) == {"user", "negative", "slot", "log_q"} and len(parts) == 2 * small_log.user.nunique()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"user": [1, 2], "item": ["a", "b"]}).to_csv(bad, index=False)
    with pytest.raises(RecnegError, match="item column 'item', line 2 of .*bad.csv: 'a' is not an integer id") as info:
        run_sample(bad, tmp_path / "x.parquet", k=1, engine="spark")
    assert "\n" not in str(info.value) and not (tmp_path / "x.parquet").exists()
    # Shortfalls (issue #10): both engines count the same groups and list them alike.
    short_log = tmp_path / "short.csv"
    pd.DataFrame({"user": [1, 1, 2, 3], "item": [2, 3, 2, 4], "segment": [0, 0, 0, 1]}).to_csv(short_log, index=False)
    for per, method in [("user", "uniform"), ("interaction", "popularity"), ("user", "context")]:
        kwargs = dict(k=2, per=per, method=method, context_cols=("segment",))
        mem = run_sample(short_log, tmp_path / f"m-{per}-{method}.csv", engine="memory", **kwargs)
        spk = run_sample(short_log, tmp_path / f"s-{per}-{method}.parquet", engine="spark", **kwargs)
        assert mem.shortfall.short > 0 and spk.shortfall.describe() == mem.shortfall.describe()
        pd.testing.assert_frame_equal(pd.read_csv(spk.shortfall_path), pd.read_csv(mem.shortfall_path))
    with pytest.raises(RecnegError, match="--strict is set, so nothing was written"):
        run_sample(short_log, tmp_path / "strict.parquet", k=2, engine="spark", strict=True)
    with pytest.raises(RecnegError, match="--k 4 exceeds the 3 distinct items in .*short.csv; pass --k 3 or fewer"):
        run_sample(short_log, tmp_path / "big.parquet", k=4, engine="spark")
    assert not (tmp_path / "strict.parquet").exists() and not (tmp_path / "big.parquet").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- missing dependencies (these run whether or not pyspark and Java are installed) -----
def _run_isolated(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_missing_java_is_a_clear_error(tmp_path):
    pytest.importorskip("pyspark")  # without pyspark the pyspark error comes first
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java here
    code = (
        "from recneg import RecnegError\n"
        "from recneg.scale.spark import spark_session\n"
        "try:\n    spark_session('local[1]')\nexcept RecnegError as e:\n    print(e)\n"
    )
    result = _run_isolated(code, env)
    assert result.stdout.strip() == (
        "Java was not found (JAVA_HOME unset and no java on PATH); install a JDK 17, "
        "e.g. apt-get install openjdk-17-jdk-headless"
    )
    env["JAVA_HOME"] = str(tmp_path / "nojdk")
    assert "has no bin/java" in _run_isolated(code, env).stdout


def test_missing_pyspark_is_a_clear_error():
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "from recneg import RecnegError\n"
        "from recneg.scale.spark import popularity_negatives\n"
        "try:\n    popularity_negatives(None, 3)\nexcept RecnegError as e:\n    print(e)\n"
    )
    result = _run_isolated(code, dict(os.environ))
    assert result.stdout.strip() == "pyspark is not installed; install it with pip install 'recneg[spark]'"
