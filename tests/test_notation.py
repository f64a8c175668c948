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


@pytest.mark.parametrize("symbol", [r"\tau", r"\eta", r"\gamma", "M", "r", r"\xi", r"\ell", r"\phi", r"\omega",
                                    r"\rho", r"\delta", "f", "m"])
def test_notation_page_defines_the_symbol(symbol):
    table = (ROOT / "book" / "notation.md").read_text()
    assert f"| ${symbol}$" in table or f"| ${symbol}$," in table or f"${symbol}$ |" in table


# -- the text that code cells generate ------------------------------------------------------
import ast  # noqa: E402


def _code_strings(source: str) -> list[str]:
    """The string literals of a code cell (f-strings by their literal parts), magics skipped."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _code_cells():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                yield f"{path.stem}[{index}]", _code_strings("".join(cell["source"]))


CODE_STRINGS = list(_code_cells())


def test_code_strings_are_parsed():
    assert _code_strings('%matplotlib inline\nlabel = f"knowledge β={x}"\nprint("π=0.25")') == ["knowledge β=", "π=0.25"]
    assert sum(len(strings) for _, strings in CODE_STRINGS) > 1000


def test_generated_text_keeps_beta_for_gbce():
    """Labels and prose that code cells print follow the notation too (08 once said β for η)."""
    wrong = [(name, text) for name, strings in CODE_STRINGS for text in strings
             if re.search(r"β|\\beta", text) and not re.search(r"gBCE|gSASRec|beta\b", text)]
    assert not wrong, f"β in generated text that is not gBCE's exponent: {wrong}"


def test_generated_text_keeps_pi_for_the_propensity():
    wrong = [(name, text) for name, strings in CODE_STRINGS for text in strings
             if re.search(r"π\s*=|\\pi\s*=", text) and "propensit" not in text]
    assert not wrong, f"π given a value in generated text, where it is not a propensity: {wrong}"


# -- letters that chapters once used for something else --------------------------------------------
def _math(text: str) -> list[str]:
    """The math of ``text``, except where it names a paper's own letter ("the paper's $t$")."""
    text = re.sub(r"the paper's \$[^$\n]+\$", "", text)
    return re.findall(r"\$\$.*?\$\$|\$[^$\n]+\$", text, re.S)


#: (chapter, pattern in its math or generated text, what the book-wide letter means instead)
RESERVED = [
    ("02_models_and_losses", r"(?<![\\\w])t(?![\w])", "t is time; the SASRec position is ℓ, gBCE's calibration ξ"),
    ("06_dynamic", r"(?<![\\\w])N\s*\(", "N is the catalogue size; the neighbours are 𝒰_u"),
    ("06_dynamic", r"(?<![\\\w_])f(?![\w_])", "f is the random-injection share; the liked share is φ"),
    ("06_dynamic", r"(?<![\\\w_])b(?![\w])", "b is the REINFORCE baseline; AHNS's scale is μ"),
    ("07_adversarial", r"(?<![\\\w])r(?![\w])", "r is the rank; the reward is R, the radius ρ"),
    ("08_reweighting", r"\\pi\b|π", "π is the exposure propensity; the class prior is ω"),
    ("08_reweighting", r"\\beta\b|β", "β is gBCE's exponent; knowledge weights use η"),
    ("11_scale", r"(?<![\\\w])[rm](?![\w])|\\delta|(?<![\\\w])N_", "r is the rank, m a reservoir's size, δ its decay, N the catalogue"),
]


@pytest.mark.parametrize("chapter, pattern, meaning", RESERVED, ids=[f"{c}:{p}" for c, p, _ in RESERVED])
def test_chapters_keep_the_book_wide_letters(chapter, pattern, meaning):
    cells = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            pieces = _math(source)
        else:  # generated text: math inside the strings a code cell prints
            pieces = [m for text in _code_strings(source) for m in _math(text)]
        found += [(index, piece) for piece in pieces if re.search(pattern, piece)]
    assert not found, f"{chapter}: {meaning}; found {found}"


def test_chapters_with_many_symbols_have_a_symbol_table():
    for chapter in ("07_adversarial", "11_scale"):
        head = "".join(json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"][1]["source"])
        assert "Symbols in this chapter" in head and "| symbol | meaning |" in head, chapter


def test_notation_page_gives_each_symbol_one_row():
    rows = [line.split("|")[1].strip() for line in (ROOT / "book" / "notation.md").read_text().splitlines()
            if line.startswith("| $")]
    symbols = [s for row in rows for s in re.findall(r"\$([^$]+)\$", row)]
    assert len(symbols) == len(set(symbols)), sorted({s for s in symbols if symbols.count(s) > 1})
