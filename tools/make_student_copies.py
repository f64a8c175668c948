"""Make student copies of the book's notebooks: solutions removed, outputs cleared.

Usage (from the repository root)::

    python tools/make_student_copies.py              # notebooks/*.ipynb -> student/
    python tools/make_student_copies.py notebooks/05_static.ipynb --output-dir handout/

A notebook marks a solution as described in ``CONTRIBUTING.md`` ("Writing a chapter"):

* a markdown cell that opens with a ``{solution-start}`` directive,
* one or more code cells tagged ``solution`` whose last statement calls the chapter's
  ``recneg.exercises.<chapter>.check_...`` function,
* a markdown cell with the ``{solution-end}`` directive.

In the student copy the markdown from ``{solution-start}`` to ``{solution-end}`` is
removed, and each solution cell is replaced by a *starter* cell: the text in the cell's
``metadata.recneg.starter`` if the author wrote one, otherwise a comment followed by the
solution's final check call, so the reader knows which name the check expects. Every
output is cleared. The result is written to ``student/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
START = re.compile(r"^(`{3,}|:{3,})\{solution-start\}", re.MULTILINE)
END = re.compile(r"^(`{3,}|:{3,})\{solution-end\}[^\n]*\n\1[ \t]*$", re.MULTILINE)


class SolutionMarkupError(ValueError):
    """The gated solution markup of a notebook is malformed."""


def is_solution(cell) -> bool:
    return cell.cell_type == "code" and SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def final_check_call(source: str) -> str | None:
    """The source of the last statement if it calls a ``check_...`` function, else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    call = tree.body[-1].value
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if not name.startswith("check_"):
        return None
    return ast.get_source_segment(source, tree.body[-1])


def starter_source(cell) -> str:
    """What a student sees in place of a solution cell."""
    starter = cell.get("metadata", {}).get("recneg", {}).get("starter")
    if starter:
        return starter if isinstance(starter, str) else "".join(starter)
    check = final_check_call(cell.source)
    lines = ["# Your solution here. The check below tells you whether it is right,",
             "# and what is wrong if it is not."]
    if check:
        lines += ["", check]
    return "\n".join(lines)


def _split_end(source: str) -> tuple[str, bool]:
    """Text after a ``{solution-end}`` directive, and whether one was found."""
    match = END.search(source)
    return (source, False) if match is None else (source[match.end():].lstrip(), True)


def strip_solutions(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A student copy of ``notebook`` (the input is not modified)."""
    notebook = copy.deepcopy(notebook)
    cells = []
    inside = False
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            source = cell.source
            if inside:
                after, ended = _split_end(source)
                if not ended:
                    if START.search(source):
                        raise SolutionMarkupError(
                            f"{name}: cell {index} opens a solution before the previous one "
                            "ended; close it with a {solution-end} cell")
                    continue  # explanation inside the solution
                inside = False
                source = after
            match = START.search(source)
            if match is not None:
                rest, ended = _split_end(source[match.start():])
                # a solution may also open and close within a single markdown cell
                source = source[:match.start()].rstrip() + ("\n\n" + rest if ended else "")
                inside = not ended
            if source.strip():
                cell.source = source
                cells.append(cell)
            continue
        if is_solution(cell):
            if not inside:
                raise SolutionMarkupError(
                    f"{name}: solution cell {index} is not between {{solution-start}} and "
                    "{solution-end} markdown cells")
            cells.append(nbformat.v4.new_code_cell(starter_source(cell)))
            continue
        if inside and cell.cell_type == "code":
            raise SolutionMarkupError(
                f"{name}: code cell {index} sits inside a solution but is not tagged "
                f"'{SOLUTION_TAG}'; tag it so the student copy removes it")
        cells.append(cell)
    if inside:
        raise SolutionMarkupError(f"{name}: a {{solution-start}} has no {{solution-end}}")
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("recneg", None)
    notebook.cells = cells
    notebook.metadata.get("recneg", {}).pop("smoke_parameters", None)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to copy (default: every notebooks/*.ipynb)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "student")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        student = strip_solutions(nbformat.read(path, as_version=4), path.name)
        nbformat.validate(student)
        target = args.output_dir / path.name
        nbformat.write(student, target)
        print(f"{path} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
