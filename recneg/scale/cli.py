"""The ``recneg sample`` subcommand: draw negatives for a log file, in memory or with Spark.

``recneg/cli.py`` builds the top-level parser and registers :func:`add_sample_command`
with its other subcommands; this module imports neither pyspark nor torch.

Examples
--------
::

    recneg sample --input train.parquet --output negatives.parquet --k 20 \\
        --method popularity --alpha 0.75 --engine auto --seed 0
"""

from __future__ import annotations

import argparse
import sys

from .._errors import RecnegError
from .sample import ENGINES, SPARK_THRESHOLD_BYTES, run_sample
from .spec import METHODS, PER

__all__ = ["add_sample_command", "sample_command"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _context_cols(text: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in text.split(",") if c.strip())
    if not cols:
        raise argparse.ArgumentTypeError("expected comma-separated column names, e.g. segment,week")
    return cols


def add_sample_command(subparsers) -> argparse.ArgumentParser:
    """Add ``sample`` to an ``argparse`` subparsers object and return its parser.

    The parser's default ``handler`` (what ``recneg.cli.main`` calls) is
    :func:`sample_command`, which returns the exit code (0, or 2 for bad input).

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="recneg")
    >>> sample = add_sample_command(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["sample", "--input", "a.csv", "--output", "b.csv", "--k", "5"])
    >>> (args.k, args.method, args.engine)
    (5, 'popularity', 'auto')
    """
    parser = subparsers.add_parser(
        "sample",
        help="draw k negatives per user (or per interaction) for a log file",
        description=(
            "Draw k negatives per user, per interaction or per (user, context) from a csv/parquet "
            "interaction log and write them to csv/parquet. Popularity is counted on the input, "
            "so pass the training split only. The in-memory engine handles logs that fit in RAM; "
            "the Spark engine (pip install 'recneg[spark]', Java 17) streams larger ones and "
            "writes a directory of part files. Both give the same negatives for the same seed. "
            "--k may not exceed the number of distinct items in the log. A group with fewer than "
            "k unseen items gets what exists: the summary line says how many groups fell short "
            "and the fewest negatives one got, and <output>.shortfall.csv lists them."
        ),
    )
    parser.add_argument("--input", required=True, help="interactions file (.csv or .parquet)")
    parser.add_argument("--output", required=True, help="where to write negatives (.csv or .parquet)")
    parser.add_argument("--k", type=_positive_int, default=20, help="negatives per group (default 20)")
    parser.add_argument("--method", choices=METHODS, default="popularity",
                        help="uniform, popularity (count**alpha) or context-stratified popularity")
    parser.add_argument("--alpha", type=float, default=0.75, help="popularity exponent (default 0.75)")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help=f"auto: memory up to {SPARK_THRESHOLD_BYTES // 2**20} MiB of input, Spark above")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--per", choices=PER, default="user",
                        help="one negative set per user (default) or per interaction")
    parser.add_argument("--replace", action="store_true",
                        help="i.i.d. negatives (with replacement) instead of k distinct ones")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 2, nothing written) when a group gets fewer than k negatives; "
                        "by default such groups get what exists, and the summary counts them and "
                        "lists them in <output>.shortfall.csv")
    parser.add_argument("--user-col", default="user", help="user id column (default 'user')")
    parser.add_argument("--item-col", default="item", help="item id column (default 'item')")
    parser.add_argument("--context-cols", type=_context_cols, default=("segment", "week"),
                        help="comma-separated context columns for --method context (default segment,week)")
    parser.add_argument("--spark-master", default="local[*]", help="Spark master (default local[*])")
    parser.add_argument("--driver-memory", default="4g", help="Spark driver memory (default 4g)")
    parser.set_defaults(handler=sample_command)
    return parser


#: The options of ``recneg sample`` that :func:`~recneg.scale.sample.run_sample` takes by name.
_RUN_OPTIONS = ("k", "method", "alpha", "engine", "seed", "per", "replace", "user_col", "item_col",
                "context_cols", "spark_master", "driver_memory", "strict")


def sample_command(args: argparse.Namespace) -> int:
    """Run ``recneg sample`` for parsed ``args``; print a summary; return the exit code."""
    try:
        summary = run_sample(args.input, args.output, **{name: getattr(args, name) for name in _RUN_OPTIONS})
    except RecnegError as exc:
        print(f"recneg sample: error: {exc}", file=sys.stderr)
        return 2
    print(summary.line())
    return 0
