"""The book's notebooks: conventions (fast) and execution at smoke scale (slow).

Execution runs each notebook with papermill at the *smoke* parameters it declares in
``metadata.recneg.smoke_parameters`` (``tools/run_notebooks.py``), then runs nbval in lax
mode on the executed notebook: every cell runs again and the cells marked
``# NBVAL_CHECK_OUTPUT`` must reproduce their outputs, which checks that those outputs
are deterministic. Solution cells end with their exercise check, so a passing run also
proves that every solution passes its check.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import make_student_copies  # noqa: E402
import run_notebooks  # noqa: E402

NOTEBOOKS = run_notebooks.discover()
EMPTY = pytest.param(None, marks=pytest.mark.skip(reason="notebooks/ holds no notebooks yet"))
PARAMS = [pytest.param(p, id=p.stem) for p in NOTEBOOKS] or [EMPTY]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def assigned_names(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def toc_files() -> set[str]:
    text = (ROOT / "_toc.yml").read_text()
    return set(re.findall(r"file:\s*(\S+)", text)) | {yaml.safe_load(text)["root"]}


# -- conventions (fast) --------------------------------------------------------------------
@pytest.mark.parametrize("path", PARAMS)
def test_kernel_and_parameters_cell(path):
    nb = read(path)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", \
        f"{path.name}: kernelspec must be python3"
    cells = code_cells(nb)
    assert cells and "parameters" in cells[0].metadata.get("tags", []), \
        f"{path.name}: the first code cell must be tagged 'parameters'"


@pytest.mark.parametrize("path", PARAMS)
def test_smoke_parameters_override_published_ones(path):
    nb = read(path)
    smoke = run_notebooks.smoke_parameters(nb)
    published = assigned_names(code_cells(nb)[0].source)
    unknown = sorted(set(smoke) - published)
    assert not unknown, (f"{path.name}: smoke_parameters {unknown} are not assigned in the "
                         "parameters cell, so papermill would add them without effect")


@pytest.mark.parametrize("path", PARAMS)
def test_solutions_are_gated_dropdowns_that_end_with_a_check(path):
    nb = read(path)
    make_student_copies.strip_solutions(nb, path.name)  # raises on malformed gates
    for index, cell in enumerate(nb.cells):
        if make_student_copies.is_solution(cell):
            assert make_student_copies.final_check_call(cell.source), (
                f"{path.name}: solution cell {index} must end with a call of the chapter's "
                "recneg.exercises.<chapter>.check_...(answer)")
        if cell.cell_type == "markdown":
            for block in re.findall(r"\{solution-start\}[^\n]*\n((?::[^\n]*\n)*)", cell.source):
                assert ":class: dropdown" in block, \
                    f"{path.name}: cell {index}: give every {{solution-start}} ':class: dropdown'"


@pytest.mark.parametrize("path", PARAMS)
def test_listed_in_the_table_of_contents(path):
    entry = f"notebooks/{path.stem}"
    assert entry in toc_files() or f"{entry}.ipynb" in toc_files(), \
        f"add '- file: {entry}' to _toc.yml"


# -- execution (slow) ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("path", PARAMS)
def test_runs_at_smoke_scale_with_deterministic_outputs(path, tmp_path):
    executed = tmp_path / path.name
    run = run_notebooks.run_notebook(path, executed, scale="smoke", timeout=600)
    assert run["status"] == "ok", f"{path.name} failed at smoke scale: {run['error']}"
    cells = code_cells(read(executed))
    if any(re.search(r"\b(plt|sns)\.|\.plot\(|plot_\w+\(", c.source) for c in cells):
        images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
        assert images, f"{path.name} draws figures but its executed copy holds none (MPLBACKEND leaking?)"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(executed)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, (
        f"nbval on {path.name} (smoke scale) failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
