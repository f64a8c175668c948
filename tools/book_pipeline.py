"""The steps of a book build: published-scale notebook runs, then the strict Sphinx build.

The command is ``bash tools/build_book.sh`` (it installs, then calls this module).

Usage (from the repository root; ``bash tools/build_book.sh`` installs first)::

    python tools/book_pipeline.py              # the book, into _build/html
    python tools/book_pipeline.py --student    # solutions hidden, into _build/student/_build/html
    python tools/book_pipeline.py --no-run     # skip tools/run_notebooks.py (build executes)

The full build first runs ``tools/run_notebooks.py --scale published --prime-cache``,
which measures each notebook (wall time, peak memory; shown on the status page) and
stores its outputs in the execution cache, then runs::

    jupyter-book build . -n -W --keep-going

which takes the outputs from that cache (a notebook whose outputs are not cached is
executed by the build itself). The student build reuses the same cache and sets
``RECNEG_HIDE_SOLUTIONS=1`` (see ``book/_ext/recneg_book.py``).

The test suite imports :func:`full_build` and :func:`student_build`; each builds at most
once per process, so ``tests/test_book.py`` and ``tests/test_site.py`` share one build.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import run_notebooks  # noqa: E402

BUILD = ROOT / "_build"
FULL_HTML = BUILD / "html"
STUDENT_OUTPUT = BUILD / "student"
STUDENT_HTML = STUDENT_OUTPUT / "_build" / "html"
REUSE_ENV = "RECNEG_REUSE_BOOK_BUILD"


class BookBuildError(RuntimeError):
    """The strict book build failed; the message holds the warnings and errors."""


def jupyter_book_command() -> list[str]:
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent) + os.pathsep
                       + os.environ.get("PATH", ""))
    if exe is None:
        raise BookBuildError("jupyter-book is not installed; run pip install -e '.[book]'")
    return [exe]


def run_jupyter_book(*, student: bool = False, log: Path | None = None) -> float:
    """Run the strict build; return its wall time in seconds or raise BookBuildError."""
    command = jupyter_book_command() + ["build", ".", "-n", "-W", "--keep-going"]
    env = dict(os.environ)
    env.pop("RECNEG_HIDE_SOLUTIONS", None)
    env.pop("MPLBACKEND", None)  # notebooks executed by the build must draw inline figures
    if student:
        command += ["--path-output", str(STUDENT_OUTPUT.relative_to(ROOT))]
        env["RECNEG_HIDE_SOLUTIONS"] = "1"
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    text = result.stdout + result.stderr
    log = log or BUILD / ("build-student.log" if student else "build.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)
    if result.returncode != 0:
        problems = [line for line in text.splitlines()
                    if "WARNING" in line or "ERROR" in line or "Error" in line]
        raise BookBuildError(
            f"{' '.join(command)} exited with {result.returncode} (full log: {log}):\n"
            + "\n".join(problems[-40:] or text.splitlines()[-40:])
        )
    return seconds


def toc_notebooks() -> list[Path]:
    """The notebooks the book contains: those listed in ``_toc.yml``, in toc order."""
    text = (ROOT / "_toc.yml").read_text()
    files = re.findall(r"^\s*-?\s*(?:file|root):\s*(notebooks/\S+?)(?:\.ipynb)?\s*$", text, re.M)
    return [ROOT / f"{name}.ipynb" for name in files]


def run_published_notebooks() -> None:
    """Measure the book's notebooks at published scale and prime the execution cache."""
    notebooks = toc_notebooks()
    if not notebooks:
        # an empty record, so the status page never shows runs of notebooks not in the book
        run_notebooks.write_record(
            {"scale": "published", "host": run_notebooks.host_info(), "runs": []},
            ROOT / "artifacts" / "notebook_runs-published.json")
        return
    code = run_notebooks.main(["--scale", "published", "--prime-cache", str(run_notebooks.DEFAULT_CACHE)]
                              + [str(p) for p in notebooks])
    if code != 0:
        raise BookBuildError("a notebook failed at published scale; see the runner's output "
                             "and artifacts/notebook_runs-published.json")


def _reusable(html: Path) -> bool:
    return os.environ.get(REUSE_ENV, "") == "1" and (html / "index.html").is_file()


@functools.cache
def full_build() -> Path:
    """Build the book once per process (published runs + strict build); return its HTML dir.

    With ``RECNEG_REUSE_BOOK_BUILD=1`` an existing ``_build/html`` is reused, which is
    handy when iterating on the browser test.
    """
    if not _reusable(FULL_HTML):
        run_published_notebooks()
        run_jupyter_book()
    return FULL_HTML


@functools.cache
def student_build() -> Path:
    """Build the solution-hidden book once per process; return its HTML dir."""
    if not _reusable(STUDENT_HTML):
        full_build()  # fills the execution cache the student build reads
        run_jupyter_book(student=True)
    return STUDENT_HTML


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", action="store_true", help="hide solutions")
    parser.add_argument("--no-run", action="store_true",
                        help="skip the published-scale runner; the build executes notebooks")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        if not args.no_run and not args.student:
            run_published_notebooks()
        run_jupyter_book(student=args.student)
    except BookBuildError as error:
        print(error, file=sys.stderr)
        return 1
    html = STUDENT_HTML if args.student else FULL_HTML
    print(f"built {html / 'index.html'} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
