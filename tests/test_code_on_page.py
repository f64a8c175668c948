"""Code the book shows from the package stays short: every ``literalinclude`` of a page
resolves to at most 40 lines (issue #12: "show the lines that carry the idea, not whole
classes with their docstrings"). The page links the full source through the API
reference instead."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 40
INCLUDE = re.compile(r"```\{literalinclude\} (\S+)\n((?::[\w-]+:[^\n]*\n)*)")


def _pages():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for path in sorted((ROOT / "book").glob("*.md")):
        yield path, path.read_text()


def _includes():
    for page, text in _pages():
        for match in INCLUDE.finditer(text):
            options = dict(re.findall(r":([\w-]+):\s*(.*)", match.group(2)))
            yield pytest.param(page, match.group(1), options, id=f"{page.stem}:{options.get('pyobject', match.group(1))}")


def _pyobject_lines(source: str, dotted: str) -> list[str]:
    nodes = ast.parse(source).body
    node = None
    for part in dotted.split("."):
        node = next(n for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                    and n.name == part)
        nodes = node.body
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return source.splitlines()[start - 1:node.end_lineno]


def included_lines(page: Path, target: str, options: dict) -> list[str]:
    """The lines Sphinx's literalinclude shows for these options (the subset the book uses)."""
    source = (page.parent / target).resolve().read_text()
    lines = _pyobject_lines(source, options["pyobject"]) if "pyobject" in options else source.splitlines()
    text = "\n".join(lines)
    for option in ("start-after", "end-before"):
        value = options.get(option, "")
        # MyST reads "# ..." in a directive option as a comment (an empty value), and
        # Sphinx fails the build on a marker it cannot find; so does this test.
        assert not value.startswith("#"), f"{page.name}: {option} {value!r} starts with '#'; drop it"
        assert value in text, f"{page.name}: {option} {value!r} not in {target}"
        if option == "start-after" and value:
            first = next(line for line in text.splitlines() if value in line)
            assert first.lstrip().startswith("#"), (
                f"{page.name}: {option} {value!r} first matches {first.strip()!r}, not the marker comment")
    if "start-after" in options:
        text = text.split(options["start-after"], 1)[1].split("\n", 1)[1]
    if "end-before" in options:
        text = text.split(options["end-before"], 1)[0].rsplit("\n", 1)[0]
    lines = text.splitlines()
    if "lines" in options:
        keep = []
        for part in options["lines"].split(","):
            first, _, last = part.partition("-")
            keep.extend(range(int(first), int(last or first) + 1))
        lines = [lines[i - 1] for i in keep if 0 < i <= len(lines)]
    return lines


@pytest.mark.parametrize("page, target, options", list(_includes()))
def test_included_code_is_at_most_forty_lines(page, target, options):
    lines = included_lines(page, target, options)
    assert lines, f"{page.name}: {target} {options} resolves to no lines"
    assert len(lines) <= MAX_LINES, (
        f"{page.name} shows {len(lines)} lines of {target} ({options}); show the lines that carry "
        f"the idea (a marked region with :start-after:/:end-before:) and link the rest")


def test_markers_resolve_to_the_marked_region(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('def f(x):\n    """Doc."""\n    # book: core\n    y = x + 1\n    # end book: core\n    return y\n')
    page = tmp_path / "p.md"
    lines = included_lines(page, "m.py", {"pyobject": "f", "start-after": "book: core",
                                          "end-before": "end book: core"})
    assert [line.strip() for line in lines] == ["y = x + 1"]


@pytest.mark.parametrize("page, target, options", [p for p in _includes() if "pyobject" in p.values[2]])
def test_no_page_includes_a_whole_class_with_its_docstring(page, target, options):
    """A class is shown by the method or the marked region that carries the idea (issue #12)."""
    source = (page.parent / target).resolve().read_text()
    nodes, node = ast.parse(source).body, None
    for part in options["pyobject"].split("."):
        node = next(n for n in nodes if getattr(n, "name", None) == part)
        nodes = getattr(node, "body", [])
    whole_class = isinstance(node, ast.ClassDef) and ast.get_docstring(node)
    narrowed = any(key in options for key in ("start-after", "end-before", "lines"))
    assert not whole_class or narrowed, (
        f"{page.name} includes the whole class {options['pyobject']} with its docstring; include a method "
        "or a marked region")
