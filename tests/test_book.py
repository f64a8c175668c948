"""The book builds strictly, renders solutions as dropdowns, and hides them on request.

The full build (``tools/book_pipeline.full_build``) runs the notebooks at published scale,
then ``jupyter-book build . -n -W --keep-going``; it happens once per test session and
``tests/test_site.py`` browses the same ``_build/html``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import book_pipeline  # noqa: E402
import make_student_copies  # noqa: E402

SOLUTION_START = re.compile(r"\{solution-start\}")


def toc_documents() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text())
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def source_of(document: str) -> Path:
    for suffix in (".md", ".ipynb"):
        if (ROOT / f"{document}{suffix}").exists():
            return ROOT / f"{document}{suffix}"
    raise FileNotFoundError(document)


def tracked(pattern: str) -> list[str]:
    """Files under version control matching ``pattern`` (drafts in progress are not)."""
    try:
        out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern))
    return sorted(out.split())


def solution_snippets(document: str) -> list[str]:
    """A distinctive line from each solution of ``document`` (code or prose)."""
    path = source_of(document)
    snippets = []
    if path.suffix == ".ipynb":
        for cell in nbformat.read(path, as_version=4).cells:
            if make_student_copies.is_solution(cell):
                lines = [line.strip() for line in cell.source.splitlines()
                         if line.strip() and not line.strip().startswith("#")]
                snippets.append(max(lines, key=len))
    else:
        for block in re.findall(r"\{solution-start\}.*?\n```\n(.*?)```\{solution-end\}",
                                path.read_text(), flags=re.S):
            # a line that renders verbatim: no math, no quotes (typography changes them)
            lines = [line.strip() for line in block.splitlines()
                     if len(line.strip()) > 30 and not line.strip().startswith(("`", ":"))
                     and not set(line) & set("$'\"\\")]
            snippets.append(lines[0])
    return [re.sub(r"\s+", " ", snippet) for snippet in snippets]


def html_text(html_dir: Path, document: str) -> str:
    """The raw HTML of a built page (entities still escaped; see ``plain``)."""
    return (html_dir / f"{document}.html").read_text(encoding="utf-8")


def plain(text: str) -> str:
    """Visible text of an HTML page with whitespace collapsed (for substring checks).

    Tags are stripped *before* entities are unescaped: unescaping first would turn
    ``r &lt; 10`` into ``r < 10`` and the tag regex would then eat the code after ``<``.
    """
    import html as html_lib

    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", text)))


DOCUMENTS = toc_documents()
WITH_SOLUTIONS = [d for d in DOCUMENTS if SOLUTION_START.search(source_of(d).read_text())]


# -- fast checks of the sources ------------------------------------------------------------
def test_every_toc_entry_exists():
    missing = [d for d in DOCUMENTS if not any(
        (ROOT / f"{d}{s}").exists() for s in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_committed_chapter_is_in_the_toc():
    # only_build_toc_files would silently leave an unlisted chapter out of the book
    chapters = tracked("notebooks/*.ipynb") + tracked("book/*.md")
    listed = set(DOCUMENTS)
    unlisted = [c for c in chapters if re.sub(r"\.(md|ipynb)$", "", c) not in listed]
    assert not unlisted, f"add these to _toc.yml: {unlisted}"


def test_bibliography_keys_cited_in_the_book_exist():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book/references.bib").read_text(), re.M))
    cited = set()
    for document in DOCUMENTS:
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", source_of(document).read_text()):
            cited |= {key.strip() for key in group.split(",")}
    assert cited <= keys, f"cited but not in book/references.bib: {sorted(cited - keys)}"


# -- the strict build (slow) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_html() -> Path:
    try:
        return book_pipeline.full_build()
    except book_pipeline.BookBuildError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def student_html(full_html) -> Path:
    try:
        return book_pipeline.student_build()
    except book_pipeline.BookBuildError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.mark.slow
def test_strict_build_renders_every_page(full_html):
    for document in DOCUMENTS:
        page = full_html / f"{document}.html"
        assert page.is_file(), f"{page} was not built"
    assert (full_html / "index.html").is_file()
    assert (full_html / "_static" / "mathjax" / "tex-mml-chtml.js").is_file(), \
        "MathJax is not served locally: pip install django-static-mathjax"


@pytest.mark.slow
def test_status_page_reports_every_notebook(full_html):
    status = plain(html_text(full_html, "book/status"))
    record = ROOT / "artifacts" / "notebook_runs-published.json"
    notebooks = book_pipeline.toc_notebooks()
    if not notebooks:
        assert "The runner found no notebooks to execute." in status
        return
    runs = json.loads(record.read_text())["runs"]
    assert {Path(r["notebook"]).name for r in runs} == {p.name for p in notebooks}
    for run in runs:
        assert run["notebook"] in status
        assert run["peak_rss_mib"] > 0 and run["wall_seconds"] > 0
        assert run.get("cached"), f"{run['notebook']}: outputs were not placed in the build cache"
    for path in notebooks:
        assert f"notebooks/{path.stem}" in status, "missing from the execution table"
    # the experiments table names each grid's stopping rule, read from its grid file
    from recneg.grid import load_grid
    train = load_grid(ROOT / "experiments" / "case_ml100k_loo.toml").train
    assert f"patience {train['patience']}, warm-up {train['min_epochs']}, at most {train['epochs']} epochs" in status
    # and the grids being re-run (experiments/next/), with theirs
    for grid in sorted((ROOT / "experiments" / "next").glob("*.toml")):
        train = load_grid(grid).train
        assert f"patience {train['patience']}, warm-up {train['min_epochs']}, at most {train['epochs']} epochs" in status
    # and the latest recorded re-run check of each results file (recneg experiment verify --record)
    from recneg.runner import verification_summary
    assert "Latest re-run check" in status
    for csv in sorted((ROOT / "results").rglob("*.csv")):
        line = verification_summary(csv)
        assert line is None or line in status, f"{csv.name}: its re-run check is not on the status page"


@pytest.mark.slow
def test_solutions_render_as_collapsed_dropdowns(full_html):
    assert WITH_SOLUTIONS, "no page has a solution (the preface's exercise should)"
    for document in WITH_SOLUTIONS:
        page = html_text(full_html, document)
        expected = len(SOLUTION_START.findall(source_of(document).read_text()))
        assert page.count('class="solution dropdown') == expected, document
        for snippet in solution_snippets(document):
            assert snippet in plain(page), f"{document}: solution text {snippet!r} missing"


@pytest.mark.slow
def test_student_build_hides_every_solution(full_html, student_html):
    for document in WITH_SOLUTIONS:
        page = html_text(student_html, document)
        assert 'class="solution' not in page, document
        assert 'class="exercise' in page, f"{document}: the exercise itself must stay"
        for snippet in solution_snippets(document):
            assert snippet not in plain(page), f"{document}: {snippet!r} leaks into the student build"
