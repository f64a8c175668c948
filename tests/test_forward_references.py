"""A chapter that points to a later chapter says so: "later", "next chapter" (issue #12).

The reading order is the table of contents: book/why, then notebooks/01 ... 15. A
``{doc}`` link to a chapter further on must have "later", "the next chapter" or "ahead"
in its sentence (in a table, in the table's header), in markdown and in the text a code
cell generates. The preface, a map of the book, and the reference pages are exempt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["book/why"] + [f"notebooks/{p.stem}" for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
DOC_LINK = re.compile(r"\{doc\}`(?:[^`<]*<)?(?:\.\./)?(?:notebooks/)?(\d\d_[a-z_]+)>?`")
SAYS_LATER = re.compile(r"\blater\b|\bnext chapter\b|\bahead\b", re.I)


def _texts(page: str):
    path = ROOT / (page + (".md" if page.startswith("book/") else ".ipynb"))
    if path.suffix == ".md":
        yield 0, path.read_text(encoding="utf-8")
        return
    for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        yield index, "".join(cell["source"])


def _context(text: str, start: int, end: int) -> str:
    """The sentence around text[start:end], or the header of the table it sits in."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:line_start + 1] == "|":
        block_start = line_start
        while block_start > 0:
            previous = text.rfind("\n", 0, block_start - 1) + 1
            if not text[previous:previous + 1] == "|":
                break
            block_start = previous
        return text[block_start:text.find("\n", block_start)]
    left = max(text.rfind(". ", 0, start), text.rfind("\n\n", 0, start))
    right = text.find(". ", end)
    return text[left + 1:len(text) if right < 0 else right + 1]


def forward_links_without_later(page: str) -> list[tuple[int, str, str]]:
    here = ORDER.index(page)
    bad = []
    for index, text in _texts(page):
        for match in DOC_LINK.finditer(text):
            target = f"notebooks/{match.group(1)}"
            if target in ORDER and ORDER.index(target) > here:
                context = _context(text, match.start(), match.end())
                if not SAYS_LATER.search(context):
                    bad.append((index, match.group(1), " ".join(context.split())[:160]))
    return bad


def test_the_check_finds_an_unmarked_forward_link():
    text = "Chapter {doc}`04_false_negatives` demonstrates it. Chapter {doc}`05_static`, later, too."
    page = "notebooks/03_evaluation"
    here = ORDER.index(page)
    found = [m.group(1) for m in DOC_LINK.finditer(text)
             if ORDER.index(f"notebooks/{m.group(1)}") > here
             and not SAYS_LATER.search(_context(text, m.start(), m.end()))]
    assert found == ["04_false_negatives"]
    table = "| family | treated later in |\n|---|---|\n| static | {doc}`../notebooks/05_static` |\n"
    match = DOC_LINK.search(table)
    assert SAYS_LATER.search(_context(table, match.start(), match.end()))


@pytest.mark.parametrize("page", ORDER)
def test_forward_references_say_later(page):
    bad = forward_links_without_later(page)
    assert not bad, f"{page} links to later chapters without saying so: {bad}"


def test_generated_text_has_no_roles():
    """MyST-NB renders a cell's Markdown output as CommonMark: a {doc} or {ref} role in it
    would reach the reader as literal text, so a link to a chapter belongs in a markdown cell."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "code" and re.search(r"\{(doc|ref)\}`", "".join(cell["source"])):
                found.append(f"{path.stem}[{index}]")
    assert not found, f"roles in generated text: {found}"
