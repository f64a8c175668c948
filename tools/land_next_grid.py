"""Land a finished grid from ``experiments/next/``: it replaces the published edition.

    python tools/land_next_grid.py case_ml100k_loo

1. The edition in ``experiments/next/<name>.toml`` must be complete and healthy
   (``results/next/<name>.*``, checked as a chapter checks it).
2. Its grid file and journal replace ``experiments/<name>.toml`` and
   ``results/<name>.*`` (the published edition stays in git's history), and the runner
   rewrites the outputs, whose ``config_file`` then points at ``experiments/<name>.toml``.

No cell is trained: the runner is only asked to rewrite outputs after the script has
checked that every cell of the grid is in its journal. The journal is moved, never
edited, so each cell keeps the commit, CPU and time it was trained with. Re-run checks
(``.verify.json``) and probes (``.probes.json``) recorded against the new edition move
with it; those of the replaced edition are dropped. Every run of the
new edition recorded its validation curve and the test score at each new validation
best, so what the old, shorter patience would have published is read from the new runs
themselves (``Results.patience_replay``).

Then run the chapters that read the grid and the results tests, and commit. The outputs
written here record a ``+dirty`` commit; rewrite them at the landing commit and commit
again:

    python tools/land_next_grid.py --outputs case_ml100k_loo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rewrite_outputs(name: str, root: Path = ROOT) -> None:
    """Rewrite ``results/<name>.csv`` and ``.json`` from the journal, training nothing."""
    from recneg.grid import load_grid
    from recneg.runner import Journal, _pending, run_grid

    toml, results = Path(root) / "experiments" / f"{name}.toml", Path(root) / "results"
    grid = load_grid(toml)
    left = _pending(grid, Journal(results / f"{grid.name}.cells.jsonl").read())
    if left:
        raise SystemExit(f"{toml}: {len(left)} cell(s) are not in the journal (e.g. {left[0].describe()}); "
                         "landing trains nothing: finish the grid first")
    run_grid(toml, results_dir=results, progress=False)


def land(name: str, root: Path = ROOT) -> Path:
    """Land ``experiments/next/<name>.toml``; return the grid file it now lives in."""
    from recneg.results import load_results

    root = Path(root)
    experiments, results = root / "experiments", root / "results"
    new_toml, old_toml = experiments / "next" / f"{name}.toml", experiments / f"{name}.toml"
    for path in (new_toml, old_toml):
        if not path.is_file():
            raise SystemExit(f"{path} does not exist; pass the name of a grid in experiments/next/ "
                             f"({', '.join(p.stem for p in (experiments / 'next').glob('*.toml')) or 'none there'})")
    load_results(name, results_dir=results / "next")   # complete and healthy, or it raises with the fix

    text = new_toml.read_text(encoding="utf-8")
    text = text.replace(f"experiments/next/{name}.toml --threads 1 --results-dir results/next",
                        f"experiments/{name}.toml --threads 1")
    text = text.replace("(re-run of the patience-30 edition in experiments/)",
                        "(it replaced a patience-30 edition)")
    old_toml.write_text(text, encoding="utf-8")
    new_toml.unlink()
    for suffix in (".cells.jsonl", ".json"):   # the json keeps the grid's started_at
        (results / "next" / f"{name}{suffix}").replace(results / f"{name}{suffix}")
    (results / "next" / f"{name}.csv").unlink()
    # re-run checks and probes belong to the edition they re-trained (they name its config hash)
    for suffix in (".verify.json", ".probes.json"):
        kept = results / "next" / f"{name}{suffix}"
        if kept.is_file():
            kept.replace(results / f"{name}{suffix}")
        else:
            (results / f"{name}{suffix}").unlink(missing_ok=True)
    rewrite_outputs(name, root)
    load_results(name, results_dir=results)
    return old_toml


def main(argv=None) -> int:
    from recneg import RecnegError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a grid in experiments/next/, e.g. case_ml100k_loo")
    parser.add_argument("--outputs", action="store_true",
                        help="after the landing commit: rewrite the grid's outputs at that commit")
    args = parser.parse_args(argv)
    if args.outputs:
        rewrite_outputs(args.name)
        print(f"rewrote results/{args.name}.csv and .json; commit them")
        return 0
    try:
        toml = land(args.name)
    except RecnegError as error:   # e.g. the edition is incomplete or holds a flagged run
        raise SystemExit(f"not landed: {error}") from None
    print(f"landed {toml.relative_to(ROOT)}. Now run the chapters that read it, `pytest tests/test_results_files.py`, "
          f"commit, then `python tools/land_next_grid.py --outputs {args.name}` and commit again.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
