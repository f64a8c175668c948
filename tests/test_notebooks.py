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
import json
import os
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

# Every notebook opens with this cell, identical everywhere: on Colab it installs recneg
# from the repository (Binder and local installs already have it), elsewhere it does
# nothing. Colab's own torch satisfies recneg's requirement, so pip keeps it. Jupyter Book
# hides the cell (remove-cell); it comes before the parameters cell and is not one.
# Add it to a new notebook with:  python tests/test_notebooks.py notebooks/NN_<name>.ipynb
COLAB_INSTALL_SOURCE = "\n".join([
    "# On Colab, install recneg from its repository; elsewhere it is installed already.",
    "import sys",
    "",
    'if "google.colab" in sys.modules:',
    '    %pip install -q "recneg[ml,spark] @ git+https://github.com/recneg/recneg"',
])
COLAB_INSTALL_METADATA = {"tags": ["remove-cell"]}
COLAB_INSTALL_ID = "colab-install"
EMPTY = pytest.param(None, marks=pytest.mark.skip(reason="notebooks/ holds no notebooks yet"))
PARAMS = [pytest.param(p, id=p.stem) for p in NOTEBOOKS] or [EMPTY]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def colab_install_cell() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(COLAB_INSTALL_SOURCE, metadata=dict(COLAB_INSTALL_METADATA))
    cell.id = COLAB_INSTALL_ID
    return cell


def is_colab_install_cell(cell) -> bool:
    return (cell.cell_type == "code" and cell.source == COLAB_INSTALL_SOURCE
            and dict(cell.metadata) == COLAB_INSTALL_METADATA)


def insert_colab_install_cell(path: Path) -> bool:
    """Put the Colab install cell at the top of ``path``; False if it is there already."""
    nb = read(path)
    if nb.cells and is_colab_install_cell(nb.cells[0]):
        return False
    nb.cells.insert(0, colab_install_cell())
    nbformat.write(nb, path)
    return True


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def parameters_cell(nb):
    """The first code cell after the Colab install cell (the parameters cell)."""
    cells = [c for c in code_cells(nb) if not is_colab_install_cell(c)]
    return cells[0] if cells else None


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
    assert len(cells) > 1 and "parameters" in cells[1].metadata.get("tags", []), (
        f"{path.name}: the first code cell after the Colab install cell must be tagged "
        "'parameters'")
    assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1, \
        f"{path.name}: exactly one cell may be tagged 'parameters'"


@pytest.mark.parametrize("path", PARAMS)
def test_first_cell_is_the_colab_install_cell(path):
    nb = read(path)
    first = nb.cells[0] if nb.cells else None
    assert first is not None and is_colab_install_cell(first) and not first.outputs, (
        f"{path.name}: the first cell must be exactly the Colab install cell (tags "
        f"{COLAB_INSTALL_METADATA['tags']}, no outputs); add it with "
        f"`python tests/test_notebooks.py notebooks/{path.name}`")
    assert sum(is_colab_install_cell(c) for c in nb.cells) == 1, \
        f"{path.name}: the Colab install cell appears more than once"


@pytest.mark.parametrize("path", PARAMS)
def test_smoke_parameters_override_published_ones(path):
    nb = read(path)
    smoke = run_notebooks.smoke_parameters(nb)
    published = assigned_names(parameters_cell(nb).source)
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
def test_leaves_no_temporary_files_behind(path):
    # a reader runs these notebooks again and again (Binder, Colab, the book build): a folder
    # made with mkdtemp and never removed piles up with every run
    for index, cell in enumerate(code_cells(read(path))):
        assert not re.search(r"\bmkdtemp\(|\bNamedTemporaryFile\([^)]*delete\s*=\s*False", cell.source), (
            f"{path.name}: code cell {index} makes a temporary file or folder that nothing removes; "
            "use `with tempfile.TemporaryDirectory() as folder:` and read what you need inside it")


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


@pytest.mark.slow
def test_parallel_runner_keeps_order_and_limits_each_kernels_threads(tmp_path):
    sources = {
        "b_slow.ipynb": "import os, time\ntime.sleep(2)\nprint(os.environ.get('OMP_NUM_THREADS'))",
        "a_fast.ipynb": "import os\nprint(os.environ.get('OMP_NUM_THREADS'))",
    }
    paths = []
    for name, source in sources.items():
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell("n = 1", metadata={"tags": ["parameters"]}),
                          nbformat.v4.new_code_cell(source)]
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}
        nbformat.write(notebook, tmp_path / name)
        paths.append(tmp_path / name)
    record = tmp_path / "record.json"
    code = run_notebooks.main([str(p) for p in paths] + [
        "--scale", "published", "--jobs", "2", "--output-dir", str(tmp_path / "out"),
        "--record", str(record)])
    assert code == 0
    runs = json.loads(record.read_text())["runs"]
    # the record lists notebooks in the order given, not the order they finished
    assert [Path(r["notebook"]).name for r in runs] == ["b_slow.ipynb", "a_fast.ipynb"]
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    for name in sources:
        outputs = read(tmp_path / "out" / name).cells[-1].outputs
        assert outputs[0]["text"].strip() == threads, f"{name} ran with {outputs[0]['text']!r} threads"


def test_runner_rejects_a_non_positive_job_count(capsys):
    with pytest.raises(SystemExit):
        run_notebooks.main(["--jobs", "0"])
    assert "--jobs 0" in capsys.readouterr().err


if __name__ == "__main__":
    for name in sys.argv[1:] or [str(p) for p in NOTEBOOKS]:
        changed = insert_colab_install_cell(Path(name))
        print(f"{name}: {'inserted the Colab install cell' if changed else 'already has it'}")
