"""Write the README's table of bad inputs and recneg's messages from tests/error_cases.py.

    python tools/error_table.py           # run every case, print the table
    python tools/error_table.py --write   # ... and put it into README.md between the markers
    python tools/error_table.py --check   # exit 1 when README.md's table is out of date

Every case is run (in an empty temporary folder) before the table is written, and a
case whose exit code or message differs from the one recorded in tests/error_cases.py
stops the script: fix the message or the case first. ``tests/test_error_table.py``
runs the same cases and compares README.md with the rendered table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from error_cases import CASES, readme_block, render_table, run_case, with_table  # noqa: E402

README = REPO / "README.md"


def check_cases() -> list[str]:
    """Run every case; return a line per case whose outcome differs from the recorded one."""
    problems = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            code, line = run_case(case, Path(folder))
        if (code, line) != (case.code, case.message):
            problems.append(f"{case.what}: expected exit {case.code} and\n  {case.message}\ngot exit {code} and\n  {line}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="update README.md")
    mode.add_argument("--check", action="store_true", help="fail when README.md is out of date")
    args = parser.parse_args(argv)
    table = render_table(CASES)
    text = README.read_text(encoding="utf-8")
    if args.check:
        if readme_block(text) != table:
            print("README.md's error table is out of date; run python tools/error_table.py --write",
                  file=sys.stderr)
            return 1
        return 0
    problems = check_cases()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if args.write:
        README.write_text(with_table(text, table), encoding="utf-8")
        print(f"wrote {len(CASES)} cases to {README}")
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
