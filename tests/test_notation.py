"""The book's notation (book/notation.md) holds in every chapter: one rank convention, and
the symbols with a single book-wide meaning keep it (issue #12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where a paper uses one of these letters for something else, the chapter says so once.
OTHER_LETTER_NOTE = re.compile(r"the paper (writes|calls)|paper's \$?\\?(alpha|beta)|written \$?\\alpha", re.I)


def _markdown_cells():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "markdown":
                yield f"{path.stem}[{index}]", "".join(cell["source"])
    for path in sorted((ROOT / "book").glob("*.md")):
        yield path.stem, path.read_text()


CELLS = list(_markdown_cells())


def test_one_rank_convention():
    stale = [name for name, text in CELLS
             if re.search(r"1-based|\\log_2\s*\(\s*1\s*\+\s*(\\operatorname\{rank\}|r\b)", text)]
    assert not stale, f"1-based ranks in {stale}; the book's rank r is 0-based, NDCG = 1/log2(r + 2)"


def test_beta_is_only_gbce_exponent():
    wrong = [name for name, text in CELLS if re.search(r"\\beta|β", text)
             and not re.search(r"gBCE|gSASRec", text) and not OTHER_LETTER_NOTE.search(text)]
    assert not wrong, f"β used for something other than gBCE's exponent in {wrong}"


def test_alpha_is_only_the_popularity_exponent():
    wrong = [name for name, text in CELLS if re.search(r"\$[^$]*(\\alpha|α)[^$]*\$", text)
             and not re.search(r"popularity|c_j\^\{?\\alpha|exponent", text, re.I)
             and not OTHER_LETTER_NOTE.search(text)]
    assert not wrong, f"α used for something other than the popularity exponent in {wrong}"


@pytest.mark.parametrize("symbol", [r"\tau", r"\eta", r"\gamma", "M", "r"])
def test_notation_page_defines_the_symbol(symbol):
    table = (ROOT / "book" / "notation.md").read_text()
    assert f"| ${symbol}$" in table or f"| ${symbol}$," in table or f"${symbol}$ |" in table
