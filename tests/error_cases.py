"""Every bad input of the ``recneg`` command and exactly what it says: one source, two uses.

``tests/test_error_table.py`` runs each :data:`CASES` entry and checks its exit code and
message; ``tools/error_table.py`` renders them as the Markdown table in README.md
("What recneg says about bad input"), and the test fails when that table differs from
:func:`render_table` — so the documentation cannot drift from what recneg prints.

A case names what is wrong, the files it starts from (in an empty working folder, so
that messages hold short relative paths), the ``recneg`` arguments, the exit code and
the expected last line of stderr (exit 2) or stdout (exit 0).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

U_ITEM = "".join(f"{i}|Movie {i} (1990)|01-Jan-1990||http://x|" + "|".join(["0"] * 19) + "\n"
                 for i in range(1, 4)).encode("latin-1")
MOVIES = b"movieId,title,genres\n1,A,Comedy\n2,B,Drama\n"


@dataclass(frozen=True)
class Case:
    what: str
    argv: tuple[str, ...]
    message: str
    files: dict[str, bytes] = field(default_factory=dict)  # the first one is shown in the table
    code: int = 2


def _sample(*extra: str, input: str = "log.csv") -> tuple[str, ...]:
    return ("sample", "--input", input, "--output", "neg.csv", "--engine", "memory", *extra)


LOG = b"user,item\n1,2\n1,3\n2,2\n"  # issue #10's log: users 1 and 2, items 2 and 3

CASES: list[Case] = [
    # -- recneg sample: the file ---------------------------------------------------------
    Case("an id that is not an integer", _sample("--k", "1"),
         "recneg sample: error: item column 'item', line 3 of log.csv: 'x' is not an integer id; "
         "fix the row or remap item ids to integers",
         {"log.csv": b"user,item\n1,2\n2,x\n"}),
    Case("a decimal id", _sample("--k", "1"),
         "recneg sample: error: item column 'item', line 2 of log.csv: '2.5' is not an integer id; "
         "fix the row or remap item ids to integers",
         {"log.csv": b"user,item\n1,2.5\n2,3\n"}),
    Case("a missing id (empty field or NaN)", _sample("--k", "1"),
         "recneg sample: error: user column 'user', line 3 of log.csv: the user id is missing "
         "(2 rows in all); fill or drop those rows",
         {"log.csv": b"user,item\n1,2\n,3\nnan,4\n"}),
    Case("an id beyond 64 bits", _sample("--k", "1"),
         "recneg sample: error: item column 'item', line 3 of log.csv: 18446744073709551615 is "
         "outside the 64-bit integer range; remap item ids to smaller integers",
         {"log.csv": b"user,item\n1,2\n2,18446744073709551615\n"}),
    Case("a missing value in a context column", _sample("--k", "1", "--method", "context",
                                                       "--context-cols", "segment"),
         "recneg sample: error: context column 'segment', line 3 of log.csv: the value is missing "
         "(1 row in all); fill or drop those rows",
         {"log.csv": b"user,item,segment\n1,2,a\n2,3,\n"}),
    Case("a renamed column", _sample("--k", "1"),
         "recneg sample: error: log.csv has no column 'user' (columns: uid, item); rename it or "
         "pass --user-col/--item-col/--context-cols",
         {"log.csv": b"uid,item\n1,2\n"}),
    Case("the wrong delimiter", _sample("--k", "1"),
         "recneg sample: error: log.csv has no column 'user' (columns: user;item); the header looks "
         "';'-separated; recneg reads comma-separated .csv and tab-separated .tsv files",
         {"log.csv": b"user;item\n1;2\n"}),
    Case("no header line", _sample("--k", "1"),
         "recneg sample: error: log.csv has no column 'user' (columns: 1, 2); the first line looks "
         "like data, not a header; add a header line such as user,item",
         {"log.csv": b"1,2\n2,3\n"}),
    Case("an empty file", _sample("--k", "1"),
         "recneg sample: error: log.csv is empty; write a header line (e.g. user,item) and one "
         "row per interaction",
         {"log.csv": b""}),
    Case("a header but no rows", _sample("--k", "1"),
         "recneg sample: error: log.csv has a header but no data rows; nothing to sample "
         "negatives for",
         {"log.csv": b"user,item\n"}),
    Case("bytes that are not UTF-8", _sample("--k", "1"),
         "recneg sample: error: log.csv, line 3: byte 0xe9 is not UTF-8 text; save the file as UTF-8",
         {"log.csv": b"user,item\n1,2\n2,caf\xe9\n"}),
    Case("an unclosed quote", _sample("--k", "1"),
         "recneg sample: error: log.csv, line 3: a quoted field is never closed; add the closing quote",
         {"log.csv": b'user,item\n1,2\n2,"3\n'}),
    Case("an input that does not exist", _sample("--k", "1", input="missing.csv"),
         "recneg sample: error: input 'missing.csv' does not exist; check the path"),
    # -- recneg sample: the options ------------------------------------------------------
    Case("more negatives than items", _sample("--k", "5"),
         "recneg sample: error: --k 5 exceeds the 2 distinct items in log.csv; pass --k 2 or fewer",
         {"log.csv": LOG}),
    Case("users with fewer than k unseen items, with --strict", _sample("--k", "2", "--strict"),
         "recneg sample: error: 2 of 2 users got fewer than 2 negatives (fewest: 0, for user 1) and "
         "--strict is set, so nothing was written; drop the users that have interacted with every "
         "item, or drop --strict to write what exists",
         {"log.csv": LOG}),
    Case("users with fewer than k unseen items (a warning)", _sample("--k", "2"),
         "wrote 1 negative to neg.csv with the memory engine in 0.0s; 2 of 2 users got fewer than 2 "
         "negatives (fewest: 0, for user 1); their counts are in neg.csv.shortfall.csv",
         {"log.csv": LOG}, code=0),
    Case("one column for users and items", _sample("--k", "1", "--item-col", "user"),
         "recneg sample: error: --user-col and --item-col both name column 'user'; give each part "
         "its own column",
         {"log.csv": LOG}),
    Case("k that is not a positive integer", _sample("--k", "0"),
         "recneg: error: sample: argument --k: expected a positive integer, got 0",
         {"log.csv": LOG}),
    Case("an output folder that does not exist",
         ("sample", "--input", "log.csv", "--output", "out/neg.csv", "--k", "1"),
         "recneg sample: error: the output folder 'out' does not exist; create it first",
         {"log.csv": LOG}),
    Case("an output that is the input", ("sample", "--input", "log.csv", "--output", "log.csv", "--k", "1"),
         "recneg sample: error: --output must differ from --input",
         {"log.csv": LOG}),
    # -- recneg train ------------------------------------------------------------------------
    Case("more training negatives than items",
         ("train", "--users", "40", "--items", "30", "--negatives", "99999", "--epochs", "1"),
         "recneg: error: --negatives 99999 exceeds the 30 items of synthetic; pass --negatives 30 or fewer"),
    Case("more sampled-protocol negatives than items",
         ("train", "--users", "40", "--items", "30", "--protocol", "sampled", "--n-sampled", "500"),
         "recneg: error: --n-sampled 500 exceeds the 30 items of synthetic; pass --n-sampled 30 or fewer"),
    # -- dataset files (recneg inspect / train / compare --dataset NAME --data-dir DIR) ------------
    Case("a timestamp that is not an integer",
         ("inspect", "ml-latest-small", "--data-dir", "data", "--no-download"),
         "recneg: error: timestamp 'yesterday' on line 3 of data/ratings.csv is not an integer; "
         "fix or remove the line",
         {"data/ratings.csv": b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,yesterday\n",
          "data/movies.csv": MOVIES}),
    Case("a dataset id too large to hold exactly",
         ("inspect", "ml-latest-small", "--data-dir", "data", "--no-download"),
         "recneg: error: movie id '99999999999999999999' on line 3 of data/movies.csv is too large "
         "(at most 2**53 - 1); fix or remove the line",
         {"data/movies.csv": MOVIES.replace(b"\n2,", b"\n99999999999999999999,"),
          "data/ratings.csv": b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"}),
    Case("a dataset file without a needed column",
         ("inspect", "ml-latest-small", "--data-dir", "data", "--no-download"),
         "recneg: error: data/ratings.csv lacks the column(s) userId in its header line; it has "
         "user, movieId, rating, timestamp",
         {"data/ratings.csv": b"user,movieId,rating,timestamp\n1,1,4.0,964982703\n",
          "data/movies.csv": MOVIES}),
    Case("a malformed line in u.data",
         ("inspect", "ml-100k", "--data-dir", "data", "--no-download"),
         "recneg: error: malformed line 2 in data/u.data (Expected 4 fields in line 2, saw 5); fix "
         "or remove the line",
         {"data/u.data": b"1\t1\t5\t874965758\n2\t1\t3\t876893171\t9\n", "data/u.item": U_ITEM}),
    Case("a dataset file that is not UTF-8",
         ("inspect", "amazon-beauty", "--data-dir", "data", "--no-download"),
         "recneg: error: line 2 of data/Beauty.txt: byte 0xff is not utf-8 text; download the "
         "dataset again or fix the line",
         {"data/Beauty.txt": b"1 1 2 3\n2 \xff\n"}),
]


def run_case(case: Case, folder: Path) -> tuple[int, str]:
    """Run ``case`` in the empty ``folder``: its exit code and the line it ends with.

    The line is stderr's last line for an error, stdout's last line otherwise; run times
    are written as ``0.0s`` so that the line is reproducible.
    """
    from recneg.cli import main

    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(case.argv))
    finally:
        os.chdir(previous)
    text = err.getvalue() if code else out.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return code, re.sub(r" in \d+\.\ds", " in 0.0s", last)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _input(case: Case) -> str:
    if not case.files:
        return ""
    name, data = next(iter(case.files.items()))
    text = data.decode("utf-8", errors="backslashreplace").rstrip("\n")
    text = text.replace("\t", "\\t").replace("\n", " ⏎ ")
    return f"`{name}`: `{_cell(text)}`" if text else f"`{name}`: (empty)"


def render_table(cases: list[Case] = CASES) -> str:
    """The Markdown table of ``cases`` and their messages."""
    lines = [
        "| bad input | file | command | exit | what recneg says |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        lines.append(f"| {case.what} | {_input(case)} | `{_cell(' '.join(['recneg', *case.argv]))}` | "
                     f"{case.code} | `{_cell(case.message)}` |")
    return "\n".join(lines) + "\n"


START = "<!-- error-table:start (generated by tools/error_table.py from tests/error_cases.py; do not edit) -->"
END = "<!-- error-table:end -->"


def readme_block(readme_text: str) -> str:
    """The text between the table markers of README.md ('' when they are missing)."""
    if START not in readme_text or END not in readme_text:
        return ""
    return readme_text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def with_table(readme_text: str, table: str) -> str:
    """README.md's text with the table between the markers replaced by ``table``."""
    head, rest = readme_text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"
