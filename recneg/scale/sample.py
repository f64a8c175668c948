"""``recneg sample``'s job: read a log file, draw negatives with an engine, write them.

:func:`run_sample` picks the in-memory engine (:mod:`recneg.scale.memory`) or Spark
(:mod:`recneg.scale.spark`), checks the input with the same one-line messages for
both, writes the negatives atomically, and reports the groups that got fewer than ``k``
negatives in a sidecar file (:func:`~recneg.scale.files.shortfall_path`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from .._atomic import atomic_path
from .._errors import RecnegError, check_negatives_fit
from . import spark as spark_engine
from .files import (csv_header, first_bad_row, input_format, missing_column, output_format,
                    previous_output, read_interactions, shortfall_path, write_table)
from .memory import memory_sample
from .spec import SampleSpec, Shortfall

__all__ = ["run_sample", "SampleSummary", "ENGINES", "SPARK_THRESHOLD_BYTES"]

ENGINES = ("auto", "memory", "spark")
#: ``engine="auto"`` hands inputs larger than this to Spark.
SPARK_THRESHOLD_BYTES = 256 * 1024 * 1024


@dataclass
class SampleSummary:
    """What a ``recneg sample`` run did."""

    engine: str
    output: str
    rows: int | None
    seconds: float
    note: str = ""
    shortfall: Shortfall | None = None
    shortfall_path: str | None = None

    def line(self) -> str:
        rows = "?" if self.rows is None else f"{self.rows:,}"
        extra = f" ({self.note})" if self.note else ""
        noun = "negative" if self.rows == 1 else "negatives"
        line = f"wrote {rows} {noun} to {self.output} with the {self.engine} engine in {self.seconds:.1f}s{extra}"
        if self.shortfall is not None and self.shortfall.short:
            line += f"; {self.shortfall.describe()}; their counts are in {self.shortfall_path}"
        return line


def _spark_unavailable_reason() -> str | None:
    try:
        spark_engine.require_pyspark()
        spark_engine.require_java()
    except RecnegError as exc:
        return str(exc)
    return None


def _check_paths(input_path: Path, output_path: Path) -> None:
    if not input_path.exists():
        raise RecnegError(f"input {str(input_path)!r} does not exist; check the path")
    input_format(input_path)
    output_format(output_path)
    if not output_path.parent.exists():
        raise RecnegError(f"the output folder {str(output_path.parent)!r} does not exist; create it first")
    if input_path.resolve() == output_path.resolve():
        raise RecnegError("--output must differ from --input")


def _choose_engine(engine: str, input_path: Path, spark_threshold_bytes: int) -> tuple[str, str]:
    """The engine to run and, when ``"auto"`` wanted Spark but cannot have it, why not."""
    if engine != "auto":
        return engine, ""
    files = [p for p in input_path.rglob("*") if p.is_file()] if input_path.is_dir() else [input_path]
    size = sum(p.stat().st_size for p in files)
    if size <= spark_threshold_bytes:
        return "memory", ""
    reason = _spark_unavailable_reason()
    if reason is None:
        return "spark", ""
    return "memory", f"input is {size / 2**20:.0f} MiB but Spark is unavailable: {reason}"


def _refuse_if_strict(shortfall: Shortfall, strict: bool) -> None:
    if not strict or not shortfall.short:
        return
    fewest = shortfall.fewest
    fix = (f"pass --k {fewest} or less" if fewest else
           f"drop the {shortfall.unit} that have interacted with every item")
    raise RecnegError(f"{shortfall.describe()} and --strict is set, so nothing was written; "
                      f"{fix}, or drop --strict to write what exists")


def _memory_sample_file(input_path: Path, output_path: Path, spec: SampleSpec, strict: bool) -> tuple[int, Shortfall]:
    """The in-memory engine: read and check the whole log, sample, write."""
    frame = read_interactions(input_path, spec.input_cols, ids={spec.user_col: "user", spec.item_col: "item"})
    columns, shortfall = memory_sample(frame, spec, k_name="--k", log_name=str(input_path))
    del frame
    _refuse_if_strict(shortfall, strict)
    write_table(columns, output_path)
    return len(columns["negative"]), shortfall


def run_sample(
    input_path,
    output_path,
    *,
    k: int = 20,
    method: str = "popularity",
    alpha: float = 0.75,
    engine: str = "auto",
    seed: int = 0,
    per: str = "user",
    replace: bool = False,
    user_col: str = "user",
    item_col: str = "item",
    context_cols: Sequence[str] = ("segment", "week"),
    spark_threshold_bytes: int = SPARK_THRESHOLD_BYTES,
    spark_master: str = "local[*]",
    driver_memory: str = "4g",
    strict: bool = False,
) -> SampleSummary:
    """Read a log, draw negatives and write them: the function behind ``recneg sample``.

    ``engine="auto"`` uses the in-memory engine for inputs up to
    ``spark_threshold_bytes`` and Spark above it (falling back to memory, with a note,
    when pyspark or Java is missing). The output is written to a temporary sibling and
    renamed; Spark writes a directory of part files under the output name.

    ``k`` may not exceed the number of distinct items in the log (see
    ``check_negatives_fit`` in ``recneg._errors``). A group (user, interaction or (user,
    context)) with fewer than ``k`` unseen items gets what exists: the summary's
    ``shortfall`` counts such groups, and they are listed with their counts in
    :func:`~recneg.scale.files.shortfall_path` (``<output>.shortfall.csv``, written
    atomically after the output; a stale one from an earlier run is removed). With
    ``strict=True`` a shortfall raises :class:`~recneg.RecnegError` instead and nothing
    is written.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> d = Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 3]}).to_csv(d / "log.csv", index=False)
    >>> run_sample(d / "log.csv", d / "neg.csv", k=1, method="uniform", engine="memory").rows
    2
    >>> summary = run_sample(d / "log.csv", d / "neg.csv", k=2, method="uniform", engine="memory")
    >>> summary.shortfall.describe()
    '1 of 2 users got fewer than 2 negatives (fewest: 1, for user 0)'
    >>> pd.read_csv(summary.shortfall_path).values.tolist()  # user 0 has seen 2 of the 3 items
    [[0, 1]]
    """
    started = time.perf_counter()
    spec = SampleSpec(k, method=method, alpha=alpha, seed=seed, per=per, replace=replace,
                      user_col=user_col, item_col=item_col, context_cols=context_cols)
    if engine not in ENGINES:
        raise RecnegError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    input_path, output_path = Path(input_path), Path(output_path)
    _check_paths(input_path, output_path)
    chosen, note = _choose_engine(engine, input_path, spark_threshold_bytes)
    if chosen == "memory":
        rows, shortfall = _memory_sample_file(input_path, output_path, spec, strict)
    else:
        rows, shortfall = _spark_sample_file(input_path, output_path, spec, spark_master, driver_memory, strict)
    sidecar = shortfall_path(output_path)
    if shortfall.short:
        write_table({c: shortfall.table[c].to_numpy() for c in shortfall.table.columns}, sidecar)
    elif sidecar.is_file():
        sidecar.unlink()  # it described the output this run replaced
    return SampleSummary(chosen, str(output_path), rows, time.perf_counter() - started, note,
                         shortfall, str(sidecar) if shortfall.short else None)


def _spark_groups(F, df, input_path: Path, spec: SampleSpec) -> int:
    """Check the input as the memory engine would (same messages); return its number of groups."""
    wanted = spec.input_cols
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise missing_column(input_path, df.columns, missing[0])
    integral = {"tinyint", "smallint", "int", "bigint"}
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    stats = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(spec.item_col).alias("items"),
        F.countDistinct(*spec.group_cols).alias("groups"),
        *[F.count(F.when(F.col(c).isNull(), 1)).alias(f"null_{i}") for i, c in enumerate(wanted)],
    ).first()
    if types[spec.user_col] not in integral or types[spec.item_col] not in integral or any(
        stats[f"null_{i}"] for i in range(len(wanted))
    ):
        # A bad value somewhere: the in-memory validator names it and its line (error path only).
        first_bad_row(input_path, wanted, {spec.user_col: "user", spec.item_col: "item"})
    if stats["rows"] == 0:
        raise RecnegError(f"{input_path} has a header but no data rows; nothing to sample negatives for")
    check_negatives_fit("--k", spec.k, stats["items"], pool=f"distinct items in {input_path}")
    return stats["rows"] if spec.per == "interaction" and not spec.is_context else stats["groups"]


def _spark_sample_file(input_path: Path, output_path: Path, spec: SampleSpec, master: str,
                       driver_memory: str, strict: bool) -> tuple[int, Shortfall]:
    """The Spark engine: check the input, sample into a temporary sibling, count, rename."""
    F, _ = spark_engine.require_pyspark()
    if input_path.is_file() and input_format(input_path) == "csv":
        csv_header(input_path, spec.input_cols)  # the memory engine's messages
    spark = spark_engine.spark_session(master, driver_memory=driver_memory)
    df = spark_engine.read_log(spark, input_path)
    n_groups = _spark_groups(F, df, input_path, spec)
    fmt = output_format(output_path)
    with atomic_path(output_path, folder=previous_output) as tmp:
        rows = spark_engine.write_negatives(spark_engine.negatives(df, spec), tmp, fmt)
        table = pd.DataFrame({c: [] for c in [*spec.group_cols, "negatives"]})
        if rows < n_groups * spec.k:  # no group gets more than k, so only then can one be short
            table = _spark_short_groups(F, spark, df, tmp, fmt, spec)
        shortfall = Shortfall(spec.k, int(n_groups), spec.unit, table)
        _refuse_if_strict(shortfall, strict)
    return rows, shortfall


def _spark_short_groups(F, spark, df, written: Path, fmt: str, spec: SampleSpec) -> pd.DataFrame:
    """Every group of the input with fewer than ``k`` rows in the written output."""
    user_col, item_col = spec.user_col, spec.item_col
    if spec.is_context:
        keys = [user_col, *spec.context_cols]
        groups = df.select(*keys).distinct()
    elif spec.per == "interaction":
        keys = [user_col, item_col, "occurrence"]
        groups = (df.groupBy(user_col, item_col).count()
                  .withColumn("occurrence", F.explode(F.sequence(F.lit(0), F.col("count") - 1)))
                  .drop("count"))
    else:
        keys = [user_col]
        groups = df.select(user_col).distinct()
    if fmt == "parquet":
        out = spark.read.parquet(str(written))
    else:
        out = spark.read.option("header", True).csv(str(written))
    types = dict(groups.dtypes)
    counts = (out.select(*[F.col(c).cast(types[c]).alias(c) for c in keys])
              .groupBy(*keys).agg(F.count(F.lit(1)).alias("negatives")))
    short = (groups.join(counts, on=keys, how="left").fillna(0, subset=["negatives"])
             .filter(F.col("negatives") < spec.k).orderBy(*keys))
    columns = [*keys, "negatives"]
    return pd.DataFrame.from_records([tuple(row) for row in short.collect()], columns=columns)
