"""The ``recneg`` command: inspect datasets, train one model, compare samplers.

Subcommands (``recneg COMMAND --help`` lists every option)::

    recneg datasets                 the registered datasets and where they are found
    recneg inspect NAME             statistics, popularity cohorts and split sizes
    recneg train                    train one model with one sampler, print its metrics
    recneg compare                  several samplers x seeds -> tidy CSV + cohort plot
    recneg experiment               run, resume and verify experiment grids (experiments/*.toml)

Every default works offline: the default dataset is the synthetic world, sized so that
``recneg compare`` finishes in a minute or two on two CPU cores.

Errors. Bad input raises :class:`recneg.RecnegError`; :func:`main` prints it as one line
``recneg: error: <message>`` on stderr and returns exit code 2, as argparse does for a
bad command line. Output files are written to a temporary name in the target folder and
renamed into place, so a failed run never leaves a partial file.

Adding a subcommand. Each subcommand is a function ``add_<name>_command(subparsers)``
that adds its parser and sets ``handler=<function(args) -> int>`` with
``set_defaults``; every one is listed in :data:`COMMANDS` (``recneg sample`` comes from
:mod:`recneg.scale.cli`, ``recneg experiment`` from :mod:`recneg.experiment_cli`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from . import __version__
from ._atomic import atomic_path
from ._errors import RecnegError, check_negatives_fit
from .experiment_cli import add_experiment_command
from .scale.cli import add_sample_command

__all__ = ["main", "build_parser", "COMMANDS"]


# -- plumbing ---------------------------------------------------------------------------
class _UsageError(RecnegError):
    """A command-line error found by argparse (reported like any RecnegError)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so main() owns the exit code."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        raise _UsageError(f"{self.prog.removeprefix('recneg ').strip()}: {message}"
                          if self.prog != "recneg" else message)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _check_output_file(path) -> None:
    """Raise now if ``path`` could not be written later (missing folder, a folder)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise RecnegError(f"output folder {folder} does not exist; create it or choose another path")
    if path.is_dir():
        raise RecnegError(f"output path {path} is a folder; pass a file name")


def _write_csv(frame: pd.DataFrame, path) -> None:
    _check_output_file(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _print_table(frame: pd.DataFrame, *, title: str | None = None, floatfmt: str = "{:.4f}") -> None:
    if title:
        print(title)
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 60):
        print(frame.to_string(index=False, float_format=floatfmt.format))


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _name_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected at least one name")
    return values


def _check_data_dir(data_dir: str | None) -> None:
    """Fail early, with the variable's name, when a data folder does not exist."""
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise RecnegError(f"--data-dir {data_dir} does not exist; pass the folder holding the dataset")
    env = os.environ.get("RECNEG_DATA_DIR")
    if data_dir is None and env and not Path(env).expanduser().is_dir():
        raise RecnegError(
            f"RECNEG_DATA_DIR={env} does not exist; point it at the folder holding the "
            "datasets or unset it"
        )


# -- data options shared by inspect / train / compare ----------------------------------
def _add_data_options(parser: argparse.ArgumentParser, *, dataset: bool = True,
                      users: int, items: int) -> None:
    group = parser.add_argument_group("data")
    if dataset:
        group.add_argument("--dataset", default="synthetic",
                           help="dataset name (see `recneg datasets`); default: synthetic")
    group.add_argument("--data-dir", default=None,
                       help="folder holding the dataset (default: $RECNEG_DATA_DIR, then the cache)")
    group.add_argument("--no-download", dest="download", action="store_false",
                       help="fail instead of downloading a dataset that is not found locally")
    group.add_argument("--k-core", type=int, default=None,
                       help="keep only users and items with at least this many interactions")
    group.add_argument("--users", type=int, default=None,
                       help=f"synthetic world: number of users (default {users})")
    group.add_argument("--items", type=int, default=None,
                       help=f"synthetic world: number of items (default {items})")
    group.add_argument("--world-seed", type=int, default=0,
                       help="synthetic world: seed of the generated log (default 0)")


def _load(args, *, users: int, items: int):
    """Load ``args.dataset`` as Interactions (the synthetic world is sized by the CLI)."""
    from .data import SyntheticWorld, load_dataset
    from .data.preprocess import k_core

    name = args.dataset.strip().lower()
    if name == "synthetic":
        if args.data_dir is not None:
            raise RecnegError("--data-dir has no effect on the synthetic dataset; drop it")
        world = SyntheticWorld(
            n_users=users if args.users is None else args.users,
            n_items=items if args.items is None else args.items,
            random_state=args.world_seed,
        )
        log = world.generate()
        return log if args.k_core is None else k_core(log, args.k_core)
    if args.users is not None or args.items is not None:
        raise RecnegError(f"--users/--items size the synthetic world only, not {args.dataset!r}; drop them")
    _check_data_dir(args.data_dir)
    return load_dataset(name, data_dir=args.data_dir, download=args.download,
                        k_core=args.k_core, progress=True)


def _split(log, protocol: str):
    from .data import global_temporal_split, leave_one_out

    if protocol == "loo":
        return leave_one_out(log)
    if not log.has_time:
        raise RecnegError(
            f"{log.name} has no timestamps, so the global temporal split is undefined; "
            "pass --split loo"
        )
    return global_temporal_split(log)


_SPLIT_NAMES = {"loo": "leave-one-out", "temporal": "global-temporal"}


# -- recneg datasets --------------------------------------------------------------------
def add_datasets_command(subparsers) -> None:
    p = subparsers.add_parser(
        "datasets", help="list the datasets and whether they are available locally",
        description="List the registered datasets, whether their files are found without "
        "downloading ($RECNEG_DATA_DIR, then the download cache) and where.",
    )
    p.set_defaults(handler=_run_datasets)


def _run_datasets(args) -> int:
    from .data import list_datasets

    _check_data_dir(None)
    table = list_datasets()
    table = table[["name", "available", "location", "has_timestamps", "description"]]
    table = table.assign(
        location=table["location"].replace("", "-"),
        description=[d if len(d) <= 72 else d[:71] + "…" for d in table["description"]],
    )
    _print_table(table)
    return 0


# -- recneg inspect ---------------------------------------------------------------------
#: ``recneg inspect synthetic`` shows the world of ``load_dataset("synthetic")``.
INSPECT_WORLD = {"users": 1000, "items": 500}


def add_inspect_command(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect", help="statistics, popularity cohorts and split sizes of a dataset",
        description="Load a dataset and print its statistics, its head/mid/tail "
        "popularity cohorts (from the training split of leave-one-out) and the sizes "
        "of both evaluation splits.",
    )
    p.add_argument("name", nargs="?", default="synthetic", help="dataset name (default: synthetic)")
    _add_data_options(p, dataset=False, users=INSPECT_WORLD["users"], items=INSPECT_WORLD["items"])
    p.set_defaults(handler=_run_inspect)


def dataset_statistics(log) -> pd.DataFrame:
    """Two-column table (``statistic, value``) describing an Interactions log."""
    lengths = np.bincount(log.users, minlength=log.n_users)
    counts = log.item_counts()[1:]
    rows = dict(log.summary())
    rows.pop("mean_sequence_length", None)
    rows["sequence length (min / median / max)"] = (
        f"{lengths.min()} / {np.median(lengths):g} / {lengths.max()}" if len(lengths) else "-"
    )
    rows["mean sequence length"] = f"{lengths.mean():.2f}" if len(lengths) else "-"
    rows["interactions per item (median / max)"] = f"{np.median(counts):g} / {counts.max()}"
    rows["items never interacted with"] = int((counts == 0).sum())
    if log.has_time:
        rows["time span (days)"] = f"{(log.timestamps.max() - log.timestamps.min()) / 86400:.1f}"
    return pd.DataFrame({"statistic": list(rows), "value": [str(v) for v in rows.values()]})


def cohort_table(item_counts) -> pd.DataFrame:
    """Items and interactions per popularity cohort (head / mid / tail).

    Examples
    --------
    >>> cohort_table([0, 6, 3, 3, 1, 1, 1, 1, 1, 1])[["cohort", "items", "interactions"]].values.tolist()
    [['head', 1, 6], ['mid', 2, 6], ['tail', 6, 6]]
    """
    from .metrics import COHORT_NAMES, popularity_cohorts

    counts = np.asarray(item_counts, dtype=np.int64)
    cohorts = popularity_cohorts(counts)
    n_items = len(counts) - 1
    total = max(int(counts[1:].sum()), 1)
    rows = []
    for code, name in enumerate(COHORT_NAMES):
        members = cohorts == code
        rows.append({
            "cohort": name,
            "items": int(members.sum()),
            "share_of_items": members.sum() / n_items,
            "interactions": int(counts[members].sum()),
            "share_of_interactions": counts[members].sum() / total,
        })
    return pd.DataFrame(rows)


def _split_sizes(log) -> pd.DataFrame:
    rows = []
    for key in ("loo", "temporal"):
        if key == "temporal" and not log.has_time:
            continue
        split = _split(log, key)
        rows.append({"split": _SPLIT_NAMES[key], "train": len(split.train),
                     "valid rows": len(split.valid), "test rows": len(split.test)})
    return pd.DataFrame(rows)


def _run_inspect(args) -> int:
    args.dataset = args.name
    log = _load(args, **INSPECT_WORLD)
    from .data import leave_one_out

    # Everything is computed before anything is printed: bad input gives one line, not half a report.
    statistics = dataset_statistics(log)
    cohorts = cohort_table(leave_one_out(log).train.item_counts())
    sizes = _split_sizes(log)
    _print_table(statistics, title=f"dataset: {log.name}")
    print()
    _print_table(cohorts, title="popularity cohorts (leave-one-out training split)", floatfmt="{:.3f}")
    print()
    _print_table(sizes, title="evaluation splits")
    return 0


# -- training options shared by train / compare -----------------------------------------
#: Synthetic-world size and training budget of ``train`` / ``compare`` when not given:
#: small enough for ``recneg compare`` (6 samplers x 3 seeds) to finish in a minute or
#: two on two CPU cores.
TRAIN_DEFAULTS = {"users": 300, "items": 150, "epochs": 20, "hidden": 32, "maxlen": 50,
                  "batch_size": 64, "negatives": 2}
_MODEL_ALIASES = {"mf": "bpr-mf", "bpr": "bpr-mf", "popular": "most-popular", "pop": "most-popular"}


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and training")
    group.add_argument("--split", choices=("loo", "temporal"), default="loo",
                       help="leave-one-out (default) or global temporal split")
    group.add_argument("--model", default="sasrec",
                       help="sasrec (default), bpr-mf (alias mf) or most-popular")
    group.add_argument("--loss", default="bce",
                       help="bce (default), bpr, sampled-softmax, gbce, or ce (full softmax, no sampler)")
    group.add_argument("--negatives", type=int, default=TRAIN_DEFAULTS["negatives"],
                       help="negatives per sequence (SASRec) or per interaction (MF); default "
                       f"{TRAIN_DEFAULTS['negatives']}, so that the mixed samplers draw both kinds")
    group.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS["epochs"],
                       help=f"maximum training epochs (default {TRAIN_DEFAULTS['epochs']})")
    group.add_argument("--patience", type=int, default=None,
                       help="stop after this many epochs without validation gain (default: train all epochs)")
    group.add_argument("--batch-size", type=int, default=TRAIN_DEFAULTS["batch_size"],
                       help=f"training batch size (default {TRAIN_DEFAULTS['batch_size']})")
    group.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    group.add_argument("--hidden", type=int, default=TRAIN_DEFAULTS["hidden"],
                       help=f"SASRec hidden size / MF dimension (default {TRAIN_DEFAULTS['hidden']})")
    group.add_argument("--maxlen", type=int, default=TRAIN_DEFAULTS["maxlen"],
                       help=f"SASRec history length (default {TRAIN_DEFAULTS['maxlen']})")
    group.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    group.add_argument("--threads", type=int, default=1,
                       help="CPU threads for torch (default 1: small models train fastest, and "
                       "reproducibly, on one thread; raise it for large models)")
    group = parser.add_argument_group("evaluation")
    group.add_argument("--protocol", choices=("full", "sampled"), default="full",
                       help="rank against all items (default) or against --n-sampled uniform negatives")
    group.add_argument("--n-sampled", type=int, default=100,
                       help="negatives of the sampled protocol (default 100)")
    group.add_argument("--ks", type=_int_list, default=[10], help="cut-offs, e.g. 5,10,20 (default 10)")


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads, restoring the previous setting afterwards."""
    import torch

    if n < 1:
        raise RecnegError(f"--threads must be positive, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _model_name(name: str) -> str:
    from .experiment import MODELS

    name = _MODEL_ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in MODELS:
        raise RecnegError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return name


def _check_samplers(names: Sequence[str], loss: str) -> list[str | None]:
    """Validate sampler names before any training starts."""
    if loss == "ce":
        return [None]
    try:
        from .samplers.registry import SAMPLERS
    except ModuleNotFoundError as error:  # pragma: no cover - depends on the installation
        raise RecnegError(f"the sampler registry is unavailable ({error}); reinstall recneg") from None
    unknown = [n for n in names if n not in SAMPLERS]
    if unknown:
        raise RecnegError(f"unknown sampler {unknown[0]!r}; choose from: {', '.join(sorted(SAMPLERS))}")
    return list(names)


def _experiment_setup(args) -> tuple[object, dict]:
    """Check every option, then load and split the data; nothing trains yet."""
    from .experiment import build_model
    from .training import TrainConfig

    model = _model_name(args.model)
    config = dict(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, num_negatives=args.negatives,
        patience=args.patience, ks=tuple(args.ks), device=args.device,
    )
    TrainConfig(loss=args.loss, **config)  # raises on a bad option before data is loaded
    if args.protocol == "sampled" and args.n_sampled < 1:
        raise RecnegError(f"--n-sampled must be positive, got {args.n_sampled}")
    model_params = {}
    if model == "sasrec":
        model_params = {"hidden": args.hidden, "maxlen": args.maxlen}
    elif model == "bpr-mf":
        model_params = {"dim": args.hidden}
    log = _load(args, users=TRAIN_DEFAULTS["users"], items=TRAIN_DEFAULTS["items"])
    split = _split(log, args.split)
    if len(split.test) == 0 or len(split.valid) == 0:
        raise RecnegError(f"the {split.protocol} split of {log.name} has no validation or test rows; use a larger dataset")
    if max(args.ks) > split.n_items:
        raise RecnegError(f"--ks {max(args.ks)} exceeds the {split.n_items} items; pass smaller cut-offs")
    # Before anything is built: a request beyond the catalogue only costs memory (#10).
    if args.loss != "ce" and model != "most-popular":
        check_negatives_fit("--negatives", args.negatives, split.n_items, pool=f"items of {log.name}")
    if args.protocol == "sampled":
        check_negatives_fit("--n-sampled", args.n_sampled, split.n_items, pool=f"items of {log.name}")
    build_model(model, split, random_state=0, **model_params)  # validates model parameters
    run = dict(model=model, loss=args.loss, protocol=args.protocol, n_sampled=args.n_sampled,
               model_params=model_params, **config)
    return split, run


def _summary(results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean (and std over seeds) of ``metrics`` per sampler, one column per metric."""
    rows = results[results["metric"].isin(metrics)]
    grouped = rows.groupby(["sampler", "metric"], sort=False)["value"]
    columns = [m for m in metrics if m in set(rows["metric"])]
    mean = grouped.mean().unstack("metric")[columns]
    if results["seed"].nunique() == 1:
        return mean.reset_index()
    std = grouped.std().unstack("metric")[columns]
    cells = {c: [f"{m:.4f} ± {s:.4f}" for m, s in zip(mean[c], std[c])] for c in columns}
    return pd.DataFrame({"sampler": mean.index, **cells})


def _headline_metrics(ks: Sequence[int]) -> list[str]:
    k = 10 if 10 in ks else min(ks)
    return [f"hr@{k}", f"ndcg@{k}", "mrr", f"hr@{k}_head", f"hr@{k}_mid", f"hr@{k}_tail",
            "balance", f"coverage@{k}"]


# -- recneg train -----------------------------------------------------------------------
def add_train_command(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train one model with one sampler and print its test metrics",
        description="Train a model with a negative sampler and a loss, keep the epoch with "
        "the best validation NDCG@10 (stopping early with --patience), and print its test "
        "metrics.",
    )
    _add_data_options(p, users=TRAIN_DEFAULTS["users"], items=TRAIN_DEFAULTS["items"])
    p.add_argument("--sampler", default="uniform",
                   help="negative sampler name (default uniform; ignored with --loss ce)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    _add_training_options(p)
    p.add_argument("--out", default=None, help="write the tidy result rows to this CSV file")
    p.set_defaults(handler=_run_train)


def _run_train(args) -> int:
    from .experiment import run_experiment

    sampler = _check_samplers([args.sampler], args.loss)[0]
    split, run = _experiment_setup(args)
    if args.out is not None:
        _check_output_file(args.out)  # fail before training, not after
    with _torch_threads(args.threads):
        results = run_experiment(split, sampler=sampler, seeds=[args.seed], progress=True, **run)
    shown = results[~results["metric"].str.startswith("n_rows")]
    first = results.iloc[0]
    _print_table(
        shown[["metric", "value"]],
        title=f"{first.dataset} | {first.split} | {first.model} + {first.sampler} ({first.loss}) | "
        f"seed {args.seed} | protocol {first.protocol} | best epoch {first.best_epoch} of "
        f"{first.epochs} | {first.train_seconds:.1f} s",
    )
    if args.out is not None:
        _write_csv(results, args.out)
        print(f"wrote {args.out}")
    return 0


# -- recneg compare ---------------------------------------------------------------------
DEFAULT_SAMPLERS = "uniform,popularity,in-batch,mixed,adaptive,adaptive-mixed"


def add_compare_command(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare samplers over seeds; write a tidy CSV and a cohort plot",
        description="Train the same model with each sampler and seed on one split, then "
        "write results.csv (one row per sampler, seed and metric) and cohorts.png (HR@10 "
        "of head, mid and tail targets per sampler) to --out.",
    )
    _add_data_options(p, users=TRAIN_DEFAULTS["users"], items=TRAIN_DEFAULTS["items"])
    p.add_argument("--samplers", type=_name_list, default=_name_list(DEFAULT_SAMPLERS),
                   help=f"comma-separated sampler names (default {DEFAULT_SAMPLERS})")
    p.add_argument("--seeds", type=_int_list, default=[0, 1, 2], help="comma-separated seeds (default 0,1,2)")
    _add_training_options(p)
    p.add_argument("--out", default="recneg-compare",
                   help="output folder, created if needed (default recneg-compare)")
    p.set_defaults(handler=_run_compare)


def cohort_figure(results: pd.DataFrame, *, k: int = 10):
    """Bar chart of HR@K per popularity cohort and sampler (mean ± std over seeds).

    Uses matplotlib's object-oriented Agg canvas, so it never touches pyplot state.
    The title names the dataset, protocol, split and number of seeds.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .metrics import COHORT_NAMES

    samplers = list(dict.fromkeys(results["sampler"]))
    fig = Figure(figsize=(max(6.0, 1.3 * len(samplers) + 2), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(COHORT_NAMES)
    colours = ("#1b5e96", "#5a9bd4", "#c9a227")
    x = np.arange(len(samplers))
    for c, cohort in enumerate(COHORT_NAMES):
        rows = results[results["metric"] == f"hr@{k}_{cohort}"].groupby("sampler")["value"]
        means = rows.mean().reindex(samplers).to_numpy()
        stds = rows.std().reindex(samplers).fillna(0.0).to_numpy()
        ax.bar(x + (c - 1) * width, means, width, yerr=stds, capsize=3, label=cohort,
               color=colours[c])
    balance = results[results["metric"] == "balance"].groupby("sampler")["value"].mean()
    ax.set_xticks(x, [f"{s}\nbalance {balance.get(s, math.nan):.2f}" for s in samplers], fontsize=8)
    ax.set_ylabel(f"HR@{k} of test targets in cohort")
    ax.legend(title="target cohort", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    first = results.iloc[0]
    n_seeds = results["seed"].nunique()
    ax.set_title(
        f"{first.dataset}: {first.model} ({first.loss}) — protocol {first.protocol}, "
        f"{first.split} split, {n_seeds} seed{'s' if n_seeds != 1 else ''}",
        fontsize=10,
    )
    return fig


def _run_compare(args) -> int:
    from tqdm.auto import tqdm

    from .experiment import run_experiment

    samplers = _check_samplers(list(dict.fromkeys(args.samplers)), args.loss)
    seeds = list(dict.fromkeys(args.seeds))
    split, run = _experiment_setup(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise RecnegError(f"--out {out} is a file; pass a folder name")
    k = 10 if 10 in args.ks else min(args.ks)
    frames = []
    jobs = [(s, seed) for s in samplers for seed in seeds]
    with _torch_threads(args.threads):
        for sampler, seed in tqdm(jobs, desc="compare", unit="run"):
            frames.append(run_experiment(split, sampler=sampler, seeds=[seed], **run))
    results = pd.concat(frames, ignore_index=True)
    figure = cohort_figure(results, k=k)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / "results.csv", out / "cohorts.png"
    # Both files are complete before either is renamed into place.
    with atomic_path(csv_path) as csv_tmp, atomic_path(png_path) as png_tmp:
        results.to_csv(csv_tmp, index=False)
        figure.savefig(png_tmp, format="png", dpi=120)
    first = results.iloc[0]
    _print_table(
        _summary(results, _headline_metrics(args.ks)),
        title=f"{first.dataset} | {first.split} | {first.model} ({first.loss}) | protocol "
        f"{first.protocol} | mean{' ± std' if len(seeds) > 1 else ''} over {len(seeds)} seed(s)",
    )
    print(f"wrote {csv_path} and {png_path}")
    return 0


# -- parser and entry point -------------------------------------------------------------
COMMANDS: list[Callable] = [add_datasets_command, add_inspect_command, add_train_command,
                            add_compare_command, add_experiment_command, add_sample_command]


def build_parser() -> argparse.ArgumentParser:
    """The full ``recneg`` argument parser, with every command of :data:`COMMANDS`."""
    parser = _Parser(
        prog="recneg",
        description="Negative sampling for recommendation: datasets, training and "
        "full-ranking evaluation of samplers.",
    )
    parser.add_argument("--version", action="version", version=f"recneg {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       parser_class=_Parser)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``recneg`` command line; return the exit code.

    Examples
    --------
    >>> main(["inspect", "--users", "60", "--items", "40"])  # doctest: +ELLIPSIS
    dataset: synthetic
    ...
    0
    """
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except RecnegError as error:
        print(f"recneg: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("recneg: interrupted", file=sys.stderr)
        return 130
