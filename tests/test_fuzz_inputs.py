"""Inputs that cannot hurt (issue #10): fuzz ``recneg sample`` and the dataset loaders.

Hypothesis writes messy files — missing or renamed columns, NaN, negative or huge ids,
duplicates, empty files, headers only, wrong delimiters, non-UTF-8 bytes, ragged rows,
timestamps of mixed types — and every case must end in either a valid output or one
line ``recneg ...: error: ...`` with exit code 2: never a traceback, never a partial or
temporary file. The CLI runs in-process (``recneg.cli.main``) so that the fuzz stays
fast; a few subprocess runs check the exit code of the real entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recneg import RecnegError
from recneg.cli import main
from recneg.data import load_dataset

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- cells, rows and files ------------------------------------------------------------------
ID_CELLS = st.one_of(
    st.integers(1, 6).map(str),                               # valid, with many duplicates
    st.integers(-5, 0).map(str),                              # zero and negative ids
    st.sampled_from(["9223372036854775807", "9223372036854775808", "18446744073709551616",
                     "99999999999999999999", "1e3", "2.5", "3.0", "-0"]),  # huge, float-ish
    st.sampled_from(["", "nan", "NaN", "NA", "x", "True", " 7 ", "inf", "'1'", '"4"']),
    st.text(alphabet="ab1,;\t\"é", max_size=4),               # stray separators, quotes, UTF-8
)
TIME_CELLS = st.one_of(                                       # a timestamp column of mixed types
    st.integers(0, 2_000_000_000).map(str),
    st.sampled_from(["2020-01-01", "yesterday", "1.5", "", "nan", "1e9", "-3"]),
)
RAW_BYTES = st.sampled_from([b"\xff", b"\xe9", b"\x00", b"\xc3", b"\r", b"\n\n", b'"'])


@st.composite
def log_files(draw) -> tuple[bytes, list[str]]:
    """A csv interaction log as bytes, and extra options for ``recneg sample``.

    Half the logs are clean apart from a timestamp column of mixed types (which
    ``recneg sample`` does not read), so that valid outputs are checked too.
    """
    clean = draw(st.booleans())
    if not clean and draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([b"", b"\n", b"   \n\n", b"\xef\xbb\xbf"])), []
    names = ["user", "item", "timestamp", "segment"]
    if draw(st.booleans()):
        names = draw(st.permutations(names))
    sep = ","
    if not clean:
        names = [draw(st.sampled_from([n, n.upper(), n[:3], ""])) if draw(st.integers(0, 5)) == 0 else n
                 for n in names]
        if draw(st.integers(0, 5)) == 0:
            names = names[: draw(st.integers(0, 3))]           # a column is missing
        sep = draw(st.sampled_from([","] * 4 + [";", "\t", "|"]))
    cells = {
        "timestamp": TIME_CELLS,
        "segment": st.sampled_from(["0", "1", "a", "", "2.5"]) if not clean else st.sampled_from(["0", "1"]),
    }
    n_rows = draw(st.integers(1 if clean else 0, 12))
    rows = []
    for _ in range(n_rows):
        row = [draw(cells.get(n, st.integers(-2, 6).map(str) if clean else ID_CELLS)) for n in names]
        if not clean and draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(ID_CELLS, max_size=2))  # ragged
        rows.append(sep.join(row))
    if rows and draw(st.booleans()):
        rows += draw(st.lists(st.sampled_from(rows), max_size=4))  # duplicated interactions
    header = [] if not clean and draw(st.integers(0, 9)) == 0 else [sep.join(names)]
    data = "\n".join(header + rows).encode() + (b"\n" if draw(st.booleans()) else b"")
    if not clean and draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(RAW_BYTES) + data[at:]           # non-UTF-8 bytes, stray quotes
    options = []
    method = draw(st.sampled_from(["uniform", "popularity", "context"]))
    options += ["--method", method]
    if method != "context" and draw(st.booleans()):
        options += ["--per", "interaction"]
    if draw(st.booleans()):
        options += ["--replace"]
    if draw(st.integers(0, 3)) == 0:
        options += ["--strict"]
    options += ["--context-cols", "segment", "--k", str(draw(st.integers(1, 5)))]
    return data, options


def _one_error_line(err: str, prefixes=("recneg sample: error: ", "recneg: error: ")) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith(prefixes), lines[0]
    assert "Traceback" not in err
    return lines[0]


def _leftovers(folder: Path, allowed: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in allowed)


# --- recneg sample --------------------------------------------------------------------------
@FUZZ
@given(log_files(), st.sampled_from(["csv", "parquet"]))
def test_sample_ends_in_valid_output_or_one_line_error(capsys, case, out_format):
    data, options = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src, out = folder / "log.csv", folder / f"neg.{out_format}"
        src.write_bytes(data)
        code = main(["sample", "--input", str(src), "--output", str(out), "--engine", "memory", *options])
        captured = capsys.readouterr()
        sidecar = f"{out.name}.shortfall.csv"
        if code == 2:
            _one_error_line(captured.err)
            assert _leftovers(folder, {"log.csv"}) == []  # no output, no sidecar, no temporary file
            return
        assert code == 0, captured
        assert captured.err == ""
        summary = captured.out.strip()
        assert len(summary.splitlines()) == 1 and summary.startswith("wrote ")
        written = pd.read_csv(out) if out_format == "csv" else pd.read_parquet(out)
        assert _leftovers(folder, {"log.csv", out.name, sidecar}) == []
        # Negatives are never the user's positives.
        log = pd.read_csv(src, sep=",")
        positives = set(zip(log["user"].astype(np.int64), log["item"].astype(np.int64)))
        assert not {(u, i) for u, i in zip(written["user"], written["negative"])} & positives
        k = int(options[options.index("--k") + 1])
        assert written.groupby([c for c in written.columns if c not in ("negative", "slot", "log_q", "source")]
                               ).size().max() <= k
        if "got fewer than" in summary:
            short = pd.read_csv(folder / sidecar)
            assert (short["negatives"] < k).all() and f"their counts are in {folder / sidecar}" in summary
            assert "--strict" not in options
        else:
            assert not (folder / sidecar).exists()


@FUZZ
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 6)), min_size=1, max_size=15),
       st.integers(1, 6), st.booleans())
def test_sample_reports_every_shortfall(capsys, pairs, k, replace):
    """Per-user counts in the sidecar agree with the output; --strict refuses them."""
    log = pd.DataFrame(pairs, columns=["user", "item"])
    n_items = log["item"].nunique()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src, out = folder / "log.csv", folder / "neg.csv"
        log.to_csv(src, index=False)
        argv = ["sample", "--input", str(src), "--output", str(out), "--k", str(k), "--engine", "memory",
                "--method", "uniform", *(["--replace"] if replace else [])]
        code = main(argv)
        captured = capsys.readouterr()
        if k > n_items:
            assert code == 2
            assert _one_error_line(captured.err).endswith(
                f"--k {k} exceeds the {n_items} distinct items in {src}; pass --k {n_items} or fewer")
            assert not out.exists()
            return
        assert code == 0
        got = pd.read_csv(out).groupby("user").size().reindex(log["user"].unique(), fill_value=0)
        unseen = n_items - log.drop_duplicates().groupby("user").size()
        expected = np.minimum(k, unseen if not replace else np.where(unseen > 0, k, 0))
        pd.testing.assert_series_equal(got.sort_index(), pd.Series(expected, index=unseen.index).sort_index(),
                                       check_names=False, check_dtype=False)
        short = got[got < k]
        sidecar = folder / "neg.csv.shortfall.csv"
        if len(short):
            listed = pd.read_csv(sidecar).set_index("user")["negatives"]
            pd.testing.assert_series_equal(listed.sort_index(), short.sort_index(), check_names=False,
                                           check_dtype=False)
            assert (f"; {len(short)} of {len(got)} users got fewer than {k} negative"
                    f"{'' if k == 1 else 's'} (fewest: {short.min()}, for user ") in captured.out
            code = main([*argv, "--strict", "--output", str(folder / "strict.csv")])
            message = _one_error_line(capsys.readouterr().err)
            assert code == 2 and "--strict is set, so nothing was written" in message
            assert not (folder / "strict.csv").exists() and not (folder / "strict.csv.shortfall.csv").exists()
        else:
            assert "fewer than" not in captured.out and not sidecar.exists()


def test_a_clean_run_removes_the_stale_shortfall_list(tmp_path, capsys):
    src, out = tmp_path / "log.csv", tmp_path / "neg.csv"
    src.write_text("user,item\n1,2\n1,3\n2,2\n")
    assert main(["sample", "--input", str(src), "--output", str(out), "--k", "2", "--engine", "memory"]) == 0
    assert (tmp_path / "neg.csv.shortfall.csv").read_text().splitlines() == ["user,negatives", "1,0", "2,1"]
    assert main(["sample", "--input", str(src), "--output", str(out), "--k", "1", "--engine", "memory",
                 "--replace"]) == 0
    assert "1 of 2 users got fewer than 1 negative (fewest: 0, for user 1)" in capsys.readouterr().out
    src.write_text("user,item\n1,2\n2,3\n")
    assert main(["sample", "--input", str(src), "--output", str(out), "--k", "1", "--engine", "memory"]) == 0
    assert "fewer than" not in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "neg.csv"]


# --- the dataset loaders ---------------------------------------------------------------------
MOVIES = b"movieId,title,genres\n1,A,Comedy\n2,B,Drama\n3,C,Drama|Comedy\n4,D,(no genres listed)\n"
U_ITEM = "".join(f"{i}|Movie {i} (1990)|01-Jan-1990||http://x|" + "|".join(["0"] * 19) + "\n"
                 for i in range(1, 7)).encode("latin-1")


@st.composite
def dataset_folders(draw) -> tuple[str, dict[str, bytes]]:
    """A dataset folder for one of the file loaders, with a fuzzed interaction file."""
    name = draw(st.sampled_from(["ml-latest-small", "ml-100k", "amazon-beauty"]))
    n_rows = draw(st.integers(0, 14))
    clean = draw(st.booleans())
    ids = st.integers(1, 5).map(str) if clean else ID_CELLS
    times = st.integers(0, 10**6).map(str) if clean else TIME_CELLS
    ratings = st.sampled_from(["1", "3.5", "5"]) if clean else st.sampled_from(["4", "2.5", "", "good", "inf"])
    rows = [[draw(ids), draw(ids), draw(ratings), draw(times)] for _ in range(n_rows)]
    if name == "amazon-beauty":
        lines = [" ".join([r[0], *[draw(ids) for _ in range(draw(st.integers(int(clean), 4)))]]) for r in rows]
        data = "\n".join(lines).encode()
        files = {"Beauty.txt": data}
    elif name == "ml-100k":
        data = "\n".join("\t".join(r) for r in rows).encode()
        files = {"u.data": data, "u.item": U_ITEM}
    else:
        header = ["userId", "movieId", "rating", "timestamp"]
        if not clean and draw(st.integers(0, 5)) == 0:
            header[draw(st.integers(0, 3))] = draw(st.sampled_from(["user", "item", "", "ts"]))
        sep = "," if clean or draw(st.integers(0, 5)) else draw(st.sampled_from([";", "\t"]))
        data = "\n".join([sep.join(header), *(sep.join(r) for r in rows)]).encode()
        files = {"ratings.csv": data, "movies.csv": MOVIES}
    if not clean and draw(st.integers(0, 4)) == 0:
        key = next(iter(files))
        at = draw(st.integers(0, len(files[key])))
        files[key] = files[key][:at] + draw(RAW_BYTES) + files[key][at:]
    return name, files


@FUZZ
@given(dataset_folders())
def test_loaders_and_inspect_end_in_data_or_one_line_error(capsys, case):
    name, files = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        for file, data in files.items():
            (folder / file).write_bytes(data)
        try:
            log = load_dataset(name, data_dir=folder, download=False)
        except RecnegError as error:
            assert "\n" not in str(error) and str(error)
        else:
            assert len(log) > 0 and log.items.min() >= 1 and log.items.max() <= log.n_items
            assert np.isin(log.original_item_ids[1:], log.original_item_ids[1:]).all()
        code = main(["inspect", name, "--data-dir", str(folder), "--no-download"])
        captured = capsys.readouterr()
        if code == 2:
            _one_error_line(captured.err, ("recneg: error: ",))
            assert captured.out == ""  # nothing half-printed
        else:
            assert code == 0 and captured.out.startswith(f"dataset: {name}")


def test_loader_ids_beyond_float_precision_are_refused(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,10\n1,,4,11\n2,9007199254740993,4,12\n")
    (folder / "movies.csv").write_bytes(MOVIES)
    with pytest.raises(RecnegError, match="line 3 of .*ratings.csv: the item id is missing|malformed line 3"):
        load_dataset("ml-latest-small", data_dir=folder, download=False)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,10\n2,99999999999999999999,4,12\n")
    with pytest.raises(RecnegError, match=r"item id '99999999999999999999' on line 3 of .* is too large"):
        load_dataset("ml-latest-small", data_dir=folder, download=False)


# --- the real entry point ----------------------------------------------------------------------
def _recneg(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "recneg", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def test_entry_point_exit_codes_for_the_three_measured_problems(tmp_path):
    (tmp_path / "log.csv").write_text("user,item\n1,2\n1,3\n2,2\n")
    (tmp_path / "bad.csv").write_text("user,item\n1,2\n2,x\n")
    runs = [
        (["sample", "--input", "log.csv", "--output", "neg.csv", "--k", "5", "--engine", "memory"], 2,
         "recneg sample: error: --k 5 exceeds the 2 distinct items in log.csv; pass --k 2 or fewer"),
        (["sample", "--input", "log.csv", "--output", "neg.csv", "--k", "2", "--engine", "memory", "--strict"], 2,
         "recneg sample: error: 2 of 2 users got fewer than 2 negatives (fewest: 0, for user 1) and --strict "
         "is set, so nothing was written; drop the users that have interacted with every item, or drop "
         "--strict to write what exists"),
        (["sample", "--input", "bad.csv", "--output", "neg.csv", "--k", "1", "--engine", "memory"], 2,
         "recneg sample: error: item column 'item', line 3 of bad.csv: 'x' is not an integer id; fix the "
         "row or remap item ids to integers"),
        (["train", "--users", "40", "--items", "30", "--negatives", "99999", "--epochs", "1"], 2,
         "recneg: error: --negatives 99999 exceeds the 30 items of synthetic; pass --negatives 30 or fewer"),
    ]
    for argv, code, message in runs:
        done = _recneg(*argv, cwd=tmp_path)
        assert (done.returncode, done.stderr.strip()) == (code, message), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "log.csv"]
    done = _recneg("sample", "--input", "log.csv", "--output", "neg.csv", "--k", "2", "--engine", "memory",
                   cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.strip().endswith(
        "; 2 of 2 users got fewer than 2 negatives (fewest: 0, for user 1); their counts are in "
        "neg.csv.shortfall.csv")
