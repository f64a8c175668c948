"""Land a finished grid from ``experiments/next/``: it replaces the published edition,
which is kept beside it under a new name for the comparison of the two.

    python tools/land_next_grid.py case_ml100k_loo

1. The edition in ``experiments/next/<name>.toml`` must be complete and healthy
   (``results/next/<name>.*``, checked as a chapter checks it).
2. The published edition becomes ``<name>_patience30``: its grid file is renamed (its
   ``name`` too, and its ``chapter`` becomes the case study, whose section "Training on past
   the stop" reads it), its journal moves with it and the runner rewrites its outputs.
3. The new edition takes the name: grid file and journal move into place and the runner
   rewrites the outputs (``config_file`` now points at ``experiments/<name>.toml``).

No cell is trained: the runner is only asked to rewrite outputs after the script has
checked that every cell of the grid is in its journal. Journals are moved, never edited,
so each cell keeps the commit and time it was trained at. Then run the chapters that read
the grid, the results tests, and commit (``git status`` shows every move). The outputs
written during the moves record a ``+dirty`` commit; rewrite them at the landing commit
and commit again:

    python tools/land_next_grid.py --outputs case_ml100k_loo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEPT_SUFFIX = "_patience30"
KEPT_CHAPTER = "notebooks/10_case_study"


def _rewrite_outputs(toml: Path, results_dir: Path) -> None:
    from recneg.grid import load_grid
    from recneg.runner import Journal, _pending, run_grid

    grid = load_grid(toml)
    left = _pending(grid, Journal(results_dir / f"{grid.name}.cells.jsonl").read())
    if left:
        raise SystemExit(f"{toml}: {len(left)} cell(s) are not in the journal (e.g. {left[0].describe()}); "
                         "landing trains nothing: finish the grid first")
    run_grid(toml, results_dir=results_dir, progress=False)


def _move(source: Path, target: Path) -> None:
    if not source.exists():
        raise SystemExit(f"{source} is missing; nothing was moved after the step that needed it")
    source.replace(target)


def land(name: str, root: Path = ROOT) -> tuple[Path, Path]:
    """Land ``experiments/next/<name>.toml``; return the new and the kept grid files."""
    from recneg.results import load_results

    root = Path(root)
    experiments, results = root / "experiments", root / "results"
    new_toml, old_toml = experiments / "next" / f"{name}.toml", experiments / f"{name}.toml"
    kept = f"{name}{KEPT_SUFFIX}"
    kept_toml = experiments / f"{kept}.toml"
    for path in (new_toml, old_toml):
        if not path.is_file():
            raise SystemExit(f"{path} does not exist; pass the name of a grid in experiments/next/ "
                             f"({', '.join(p.stem for p in (experiments / 'next').glob('*.toml')) or 'none there'})")
    if kept_toml.exists():
        raise SystemExit(f"{kept_toml} exists already; {name} has landed once: remove it first to land again")
    # 1. the new edition is complete and healthy (raises with the fix otherwise)
    load_results(name, results_dir=results / "next")

    # 2. the published edition, kept under a new name
    text = old_toml.read_text(encoding="utf-8")
    for old, new in ((f'name = "{name}"', f'name = "{kept}"'),
                     (f"experiments/{name}.toml", f"experiments/{kept}.toml")):
        if old not in text:
            raise SystemExit(f"{old_toml} has no {old!r}; edit the grid file by hand")
        text = text.replace(old, new)
    lines = [line for line in text.splitlines() if not line.startswith("chapter = ")]
    at = next(i for i, line in enumerate(lines) if line.startswith("name = "))
    lines.insert(at + 1, f'chapter = "{KEPT_CHAPTER}"')
    header = (f"# The patience-30 edition of {name}, kept when its patience-100 edition landed: the\n"
              "# case study sets each of its runs beside the same run trained on (Results.against_longer).\n")
    kept_toml.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    _move(results / f"{name}.cells.jsonl", results / f"{kept}.cells.jsonl")
    _move(results / f"{name}.json", results / f"{kept}.json")   # keeps the grid's started_at
    (results / f"{name}.csv").unlink()
    _rewrite_outputs(kept_toml, results)

    # 3. the new edition takes the name
    text = new_toml.read_text(encoding="utf-8")
    text = text.replace(f"experiments/next/{name}.toml --threads 1 --results-dir results/next",
                        f"experiments/{name}.toml --threads 1")
    text = text.replace("(re-run of the patience-30 edition in experiments/)",
                        f"(the patience-30 edition is kept as experiments/{kept}.toml)")
    old_toml.write_text(text, encoding="utf-8")
    new_toml.unlink()
    _move(results / "next" / f"{name}.cells.jsonl", results / f"{name}.cells.jsonl")
    _move(results / "next" / f"{name}.json", results / f"{name}.json")
    (results / "next" / f"{name}.csv").unlink()
    _rewrite_outputs(old_toml, results)
    load_results(name, results_dir=results)
    load_results(kept, results_dir=results)
    return old_toml, kept_toml


def rewrite_outputs(name: str, root: Path = ROOT) -> None:
    """Rewrite the outputs of a landed grid and of its kept edition (at a clean commit)."""
    experiments, results = Path(root) / "experiments", Path(root) / "results"
    for grid in (name, f"{name}{KEPT_SUFFIX}"):
        _rewrite_outputs(experiments / f"{grid}.toml", results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a grid in experiments/next/, e.g. case_ml100k_loo")
    parser.add_argument("--outputs", action="store_true",
                        help="after the landing commit: rewrite both editions' outputs at that commit")
    args = parser.parse_args(argv)
    if args.outputs:
        rewrite_outputs(args.name)
        print(f"rewrote results/{args.name}.* and results/{args.name}{KEPT_SUFFIX}.*; commit them")
        return 0
    from recneg import RecnegError

    try:
        new, kept = land(args.name)
    except RecnegError as error:   # e.g. the edition is incomplete or holds a flagged run
        raise SystemExit(f"not landed: {error}") from None
    print(f"landed {new.relative_to(ROOT)}; the published edition is kept as {kept.relative_to(ROOT)}. "
          "Now run the chapters that read it, `pytest tests/test_results_files.py`, commit, then "
          f"`python tools/land_next_grid.py --outputs {args.name}` and commit again.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
