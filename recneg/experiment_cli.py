"""``recneg experiment``: run, resume, inspect and verify experiment grids.

::

    recneg experiment run experiments/<name>.toml [--device cuda] [--threads 1] [--max-cells N]
                          [--no-wait] [--stop-file PATH]
    recneg experiment plan experiments/<name>.toml       # the cells, and how many are done
    recneg experiment verify results/<name>.csv --cells 2 [--record]
    recneg experiment curve results/<name>.csv --arm uniform --seed 0 --epochs 150 [--keep]
"""

from __future__ import annotations

import argparse
import json

from ._errors import RecnegError

__all__ = ["add_experiment_command"]


def add_experiment_command(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="run, resume and verify experiment grids (experiments/*.toml)",
                              description=__doc__.split("\n\n")[0])
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    run = actions.add_parser("run", help="run or resume a grid; writes results/<name>.csv and .json")
    run.add_argument("grid", help="experiments/<name>.toml")
    run.add_argument("--results-dir", default=None, help="default: results/ at the repository root")
    run.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    run.add_argument("--threads", type=int, default=None, help="torch threads per run")
    run.add_argument("--max-cells", type=int, default=None, help="stop after this many new cells")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-wait", action="store_true",
                     help="return when every runnable cell is being trained by another process, instead of "
                          "waiting for them (a worker can then move on to another grid)")
    run.add_argument("--stop-file", default=None,
                     help="stop before claiming a new cell once this file exists (touch it to let a "
                          "background run finish its current cell and stop)")
    run.set_defaults(handler=_run)
    plan = actions.add_parser("plan", help="list a grid's cells and how many have finished")
    plan.add_argument("grid", help="experiments/<name>.toml")
    plan.add_argument("--results-dir", default=None)
    plan.set_defaults(handler=_plan)
    check = actions.add_parser("verify", help="re-run random cells and compare with the stored numbers")
    check.add_argument("results", help="results/<name>.csv")
    check.add_argument("--cells", type=int, default=2, help="cells to re-run (default 2)")
    check.add_argument("--seed", type=int, default=0, help="which cells are picked")
    check.add_argument("--tolerance", type=float, default=1e-6, help="largest absolute difference that agrees")
    check.add_argument("--device", default=None)
    check.add_argument("--record", action="store_true",
                       help="append this check to results/<name>.verify.json, which the status page shows")
    check.set_defaults(handler=_verify)
    curve = actions.add_parser("curve", help="re-train one published cell without early stopping; "
                                             "print its validation curve and where the grid's patience stopped it")
    curve.add_argument("results", help="results/<name>.csv")
    curve.add_argument("--arm", required=True, help="the arm's label, as in the results file")
    curve.add_argument("--seed", type=int, required=True)
    curve.add_argument("--epochs", type=int, required=True, help="epochs to train, early stopping off")
    curve.add_argument("--setting", default=None, help="the setting's label, when the grid has several")
    curve.add_argument("--every", type=int, default=5, help="print every this many epochs (default 5)")
    curve.add_argument("--out", default=None, help="also write the per-epoch curve to this CSV")
    curve.add_argument("--record", default=None,
                       help="also write the run with its provenance to this JSON, for a chapter to render")
    curve.add_argument("--keep", action="store_true",
                       help="append the run with its provenance to results/<name>.probes.json, beside the "
                            "results file, where the chapters that read the grid render it")
    curve.add_argument("--device", default=None)
    curve.set_defaults(handler=_curve)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .runner import run_grid

    provenance = run_grid(args.grid, results_dir=args.results_dir, device=args.device, threads=args.threads,
                          max_cells=args.max_cells, progress=not args.no_progress, wait=not args.no_wait,
                          stop_file=args.stop_file)
    done = provenance["final_cells"]
    if provenance["complete"]:
        state = "complete"
    elif args.stop_file and Path(args.stop_file).exists():
        state = f"stopped, as {args.stop_file} exists: remove it and run the same command to resume"
    elif args.no_wait:
        state = "incomplete: the cells left are in training elsewhere or wait for those; run the same command to resume"
    else:
        state = "incomplete: run the same command to resume"
    print(f"{provenance['grid']}: {done['done']} of {done['total']} final cells ({state}); "
          f"{provenance['compute']['cell_wall_seconds'] / 3600:.2f} h of run time; "
          f"flagged runs: {sum(bool(c['flags']) for c in provenance['cells'])}; "
          f"runs that warned: {sum(bool(c.get('warnings')) for c in provenance['cells'])} (their warnings are in the JSON)")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .grid import load_grid
    from .runner import _ROOT, Journal, _pending, choose_parameters, in_training

    grid = load_grid(args.grid)
    folder = Path(args.results_dir) if args.results_dir else _ROOT / "results"
    records = Journal(folder / f"{grid.name}.cells.jsonl").read()
    tuning = grid.tuning_cells()
    chosen, _ = choose_parameters(grid, records)
    print(f"{grid.name} (config {grid.config_hash}): {len(grid.settings)} setting(s) x {len(grid.arms)} arm(s) "
          f"x {len(grid.losses)} loss(es) x {len(grid.seeds)} seed(s)")
    print(f"tuning cells: {sum(c.key in records for c in tuning)} of {len(tuning)} done")
    final = grid.final_cells(chosen)
    print(f"final cells: {sum(c.key in records for c in final)} of {grid.n_final_cells()} done "
          f"({grid.n_final_cells() - len(final)} wait for tuning)")
    # runnable cells not yet trained, and the final cells still waiting for tuning except the
    # tune seeds' (those are the tuning run that wins, trained once)
    waiting = grid.n_final_cells() - len(final)
    left = len(_pending(grid, records)) + waiting * len(set(grid.seeds) - set(grid.tune_seeds)) // len(grid.seeds)
    seconds = sorted(r["wall_seconds"] for r in records.values())
    if seconds:
        median = seconds[len(seconds) // 2]
        # a guess: the cells left cost what the finished ones did
        print(f"run time so far: {sum(seconds) / 3600:.1f} h over {len(seconds)} cells (median {median / 60:.1f} min); "
              f"at that median, about {left * median / 3600:.1f} h of run time for the {left} cells left")
    for cell, since in in_training(grid, folder):
        # a worker stopped now loses this much; `touch <results>/.drain` lets it finish instead
        print(f"in training since {since:%H:%M} UTC ({(_now_utc() - since).total_seconds() / 60:.0f} min): "
              f"{cell.describe()}")
    return 0


def _now_utc():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _verify(args: argparse.Namespace) -> int:
    from .runner import git_commit, record_verification, verify

    if not args.tolerance >= 0:
        raise RecnegError(f"--tolerance must be >= 0, got {args.tolerance}")
    commit = git_commit()   # the code that re-trains, read before it does
    table = verify(args.results, cells=args.cells, random_state=args.seed, tolerance=args.tolerance,
                   device=args.device)
    with_width = table.to_string(index=False, float_format=lambda v: f"{v:.6f}")
    print(with_width)
    agree = int(table.agree.sum())
    print(f"{agree} of {len(table)} re-run values agree within {args.tolerance:g}")
    # on the stored run's CPU a re-run must agree exactly; on another (or an unrecorded) one,
    # kernels round differently and the run drifts: it must stay within its arm's seed spread
    elsewhere = table[~table.agree & (table.same_cpu != True)]  # noqa: E712 (None: not recorded)
    if len(elsewhere):
        inside = int(elsewhere.within_seed_noise.sum())
        print(f"{len(elsewhere)} differing value(s) come from runs stored on another CPU or one not recorded, "
              "whose kernels round differently (recneg.runner.cpu_fingerprint); "
              f"{inside} of them lie inside the 99 % prediction interval of their arm's published seeds")
    if args.record:
        print(f"recorded in {record_verification(args.results, table, tolerance=args.tolerance, commit=commit)}")
    exact = table.agree | (table.same_cpu != True)  # noqa: E712
    return 0 if exact.all() and (table.agree | table.within_seed_noise).all() else 1


def _curve(args: argparse.Namespace) -> int:
    from ._atomic import atomic_write_text
    from ._errors import check_positive_int
    from .runner import probe_record, record_probe, retrain_without_stopping

    every = check_positive_int("--every", args.every)
    record = retrain_without_stopping(args.results, arm=args.arm, seed=args.seed, epochs=args.epochs,
                                      setting=args.setting, device=args.device)
    curve = record["valid_curve"]
    for epoch in range(1, len(curve) + 1):
        if epoch == 1 or epoch % every == 0 or epoch == record["best_epoch"]:
            print(f"epoch {epoch:4d}  valid {record['valid_metric']} {curve[epoch - 1]:.4f}" + ("  <- best" if epoch == record["best_epoch"] else ""))
    old = record["stored"]
    print(f"published run: best epoch {old['best_epoch']}, stopped at {old['epochs_trained']} ({old['stop_reason']}), "
          f"test hr@10 {old['hr@10']:.4f}")
    if "replayed" in record:
        r = record["replayed"]
        print(f"the grid's rule (patience {r['patience']}, warm-up {r['min_epochs']}) on this curve: best epoch "
              f"{r['best_epoch']}, stop at {r['stopped']}")
    print(f"without early stopping ({args.epochs} epochs): best epoch {record['best_epoch']}, "
          f"test hr@10 {record['test']['hr@10']:.4f}, ndcg@10 {record['test']['ndcg@10']:.4f}")
    if args.out:
        rows = f"epoch,valid_{record['valid_metric']}\n" + "".join(f"{e},{v}\n" for e, v in enumerate(curve, start=1))
        atomic_write_text(args.out, rows)
    probe = probe_record(record, args.results) if args.record or args.keep else None
    if args.record:
        atomic_write_text(args.record, json.dumps(probe, indent=1) + "\n")
    if args.keep:
        print(f"kept in {record_probe(args.results, probe)}")
    return 0
