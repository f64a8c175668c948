"""README.md's table of bad inputs is what recneg really says (see tests/error_cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from error_cases import CASES, readme_block, render_table, run_case  # pytest puts tests/ on sys.path

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_each_bad_input_gets_its_message(case, tmp_path):
    code, line = run_case(case, tmp_path)
    assert (code, line) == (case.code, case.message)
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    if code == 2:  # a failed run writes nothing: no output, no sidecar, no temporary file
        assert names == set(case.files)


def test_readme_table_is_generated_from_the_cases():
    assert readme_block(README.read_text(encoding="utf-8")) == render_table(CASES), (
        "README.md's error table is out of date; run python tools/error_table.py --write"
    )


def test_cases_have_distinct_names_and_one_line_messages():
    assert len({c.what for c in CASES}) == len(CASES)
    assert all("\n" not in c.message and c.code in (0, 2) for c in CASES)
