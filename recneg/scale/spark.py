"""Negative sampling at scale with PySpark (``local[*]`` or a cluster).

Three DataFrame transformations draw ``k`` negatives per user (or per interaction, or per
(user, context)) that the user never interacted with, without collecting the log or the
catalogue to the driver:

* :func:`uniform_negatives` — uniform over the catalogue (the items of the log);
* :func:`popularity_negatives` — proportional to ``count ** alpha`` (word2vec's 0.75);
* :func:`context_stratified_negatives` — proportional to popularity *within the user's
  context* (same segment and week): "seen by people like you, but not chosen".

:func:`negatives` takes a :class:`~recneg.scale.spec.SampleSpec` instead of keywords,
:func:`synthetic_log` generates a large Zipf-like log directly on the executors, and
:func:`spark_session` starts a local session with sane defaults. Importing
:mod:`recneg.scale` never imports pyspark; this module imports it on first use and raises
a one-line :class:`~recneg.RecnegError` when pyspark or Java is missing.

Method, in short: every group draws from its stratum's ``count ** alpha`` distribution
by one of two exact routes — a stream of hashed i.i.d. draws looked up in a broadcast,
bucketed inverse-CDF table (first ``k`` admissible draws), or Efraimidis–Spirakis keys
``-log(u) / w`` (``k`` smallest) — whichever is cheaper for the group. Every uniform is a
hash of the seed and the group (:mod:`recneg.scale.hashing`), so the output depends on
the seed only, not on partitioning, and :func:`recneg.scale.memory.memory_negatives`
returns the same rows. The derivation — why the stream's first appearances follow the
keys' order, why the draw budget rarely falls short, what the plan costs — is in the
scale chapter (``notebooks/11_scale.ipynb``, "How recneg.scale draws").
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

from .._atomic import atomic_path
from .._errors import RecnegError, check_positive_int
from .budget import FIXED_POINT, GRID, GRID_STEPS, NO_BUDGET, draws_table
from .files import input_format, output_format, previous_output
from .hashing import (SALT_KEYS, SALT_KEYS_REPLACE, SALT_STREAM, SALT_SYN_ITEM, SALT_SYN_SEGMENT,
                      SALT_SYN_TIME, SALT_SYN_USER, SALT_SYN_WEEK)
from .spec import SampleSpec

__all__ = [
    "memory_limit_mb",
    "require_pyspark",
    "require_java",
    "spark_session",
    "negatives",
    "uniform_negatives",
    "popularity_negatives",
    "context_stratified_negatives",
    "synthetic_log",
    "read_log",
    "write_negatives",
    "sample_files",
]

#: Buckets per stratum item in the inverse-CDF lookup table.
BUCKETS_PER_ITEM = 2
_INTEGRAL = ("tinyint", "smallint", "int", "bigint")




def require_pyspark():
    """Import pyspark's ``functions`` and ``Window``, or raise a one-line error."""
    try:
        from pyspark.sql import Window
        from pyspark.sql import functions as F
    except ImportError:
        raise RecnegError("pyspark is not installed; install it with pip install 'recneg[spark]'") from None
    return F, Window


def memory_limit_mb() -> int | None:
    """The memory this process may use, in MiB, when a container caps it; else ``None``.

    Reads the cgroup limit (v2 ``memory.max``, then v1 ``memory.limit_in_bytes``), the cap
    Binder's 2 GB pods and CI containers set. ``RECNEG_MEMORY_LIMIT_MB`` overrides it, so a
    notebook's small-machine path can be tested anywhere.

    Examples
    --------
    >>> import os
    >>> os.environ["RECNEG_MEMORY_LIMIT_MB"] = "2048"
    >>> memory_limit_mb()
    2048
    >>> del os.environ["RECNEG_MEMORY_LIMIT_MB"]
    """
    override = os.environ.get("RECNEG_MEMORY_LIMIT_MB")
    if override:
        try:
            return check_positive_int("RECNEG_MEMORY_LIMIT_MB", int(override))
        except ValueError:
            raise RecnegError(f"RECNEG_MEMORY_LIMIT_MB={override!r} is not a whole number of MiB") from None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # v1 reports "no limit" as a huge number
            return int(text) >> 20
        return None
    return None


def require_java() -> str:
    """The path of the ``java`` executable Spark will use, or a one-line error."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        exe = Path(java_home) / "bin" / "java"
        if exe.exists():
            return str(exe)
        raise RecnegError(f"JAVA_HOME={java_home!r} has no bin/java; point JAVA_HOME at a JDK 17 or unset it")
    exe = shutil.which("java")
    if exe is None:
        raise RecnegError(
            "Java was not found (JAVA_HOME unset and no java on PATH); install a JDK 17, "
            "e.g. apt-get install openjdk-17-jdk-headless"
        )
    return exe


def spark_session(
    master: str = "local[*]",
    *,
    app_name: str = "recneg",
    driver_memory: str = "4g",
    shuffle_partitions: int | None = None,
    config: dict | None = None,
):
    """Get or create a SparkSession for recneg (UI off, UTC clock).

    Parameters
    ----------
    master : str, default ``"local[*]"``
        ``local[N]`` runs on this machine with no cluster.
    driver_memory : str, default "4g"
        Only takes effect when this call starts the JVM.
    shuffle_partitions : int, optional
        ``spark.sql.shuffle.partitions``; small values suit small data.
    config : dict, optional
        Further Spark settings.

    Examples
    --------
    >>> spark = spark_session("local[1]", shuffle_partitions=2)  # doctest: +SKIP
    """
    require_pyspark()
    require_java()
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(check_positive_int("shuffle_partitions", shuffle_partitions)))
    for key, value in (config or {}).items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()


# --- building blocks ---------------------------------------------------------------------
def _uniform(F, seed: int, salt: int, *cols):
    """Hash-based uniform in (0, 1); the same number as :func:`recneg.scale.hashing.hash_uniform`."""
    h = F.xxhash64(F.lit(seed).cast("long"), F.lit(salt).cast("long"), *[F.col(c).cast("long") if isinstance(c, str) else c.cast("long") for c in cols])
    return (F.shiftrightunsigned(h, 12).cast("double") + F.lit(0.5)) / F.lit(4503599627370496.0)


def _check_columns(df, wanted: Sequence[tuple[str, str]]) -> None:
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    for col, what in wanted:
        if col not in types:
            raise RecnegError(
                f"the DataFrame has no {what} column {col!r} (columns: {', '.join(types)}); pass {what}_col="
            )
        if what in ("user", "item") and types[col] not in _INTEGRAL:
            raise RecnegError(
                f"column {col!r} has type {types[col]}; {what} ids must be integers, remap them first"
            )


def _materialise(frame):
    """Cache a small (catalogue-sized) table on the executors and compute it once.

    The item tables feed several branches of the sampling plan; without this every
    branch would rescan and re-aggregate the log. Nothing is collected to the driver.
    """
    from pyspark import StorageLevel

    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    frame.count()
    return frame


def _items_table(F, Window, log, spec: SampleSpec, context):
    """Per stratum: items, weights, cumulative intervals, fixed-point masses."""
    counts = log.groupBy("i").agg(F.count(F.lit(1)).alias("n"))
    strat_items = counts.select(F.lit(0).cast("long").alias("s"), "i", "n")
    ctx_stratum = None
    if context is not None:
        ctx_cols, contexts = context
        cc = log.join(F.broadcast(contexts), on=ctx_cols).groupBy("ctx", "i").agg(F.count(F.lit(1)).alias("n"))
        sizes = cc.groupBy("ctx").agg(F.count(F.lit(1)).alias("size"))
        ctx_stratum = _materialise(
            sizes.select("ctx", F.when(F.col("size") >= spec.min_items, F.col("ctx")).otherwise(F.lit(0)).cast("long").alias("s"))
        )
        local = cc.join(ctx_stratum.filter(F.col("s") > 0), "ctx").select("s", "i", "n")
        strat_items = strat_items.unionByName(local)

    weight = F.lit(1.0) if spec.method == "uniform" else F.pow(F.col("n").cast("double"), F.lit(spec.alpha))
    by_item = Window.partitionBy("s").orderBy("i")
    running = by_item.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    whole = Window.partitionBy("s")
    items = (
        strat_items.withColumn("w", weight)
        .withColumn("cum", F.sum("w").over(running))  # sequential in item order: deterministic
        .withColumn("lo", F.lag("cum", 1, 0.0).over(by_item))
        .withColumn("total", F.max("cum").over(whole))
        .withColumn("n_s", F.count(F.lit(1)).over(whole))
        .withColumn("p", F.col("w") / F.col("total"))
        .select(
            "s", "i", "w", "n_s",
            (F.col("lo") / F.col("total")).alias("p_lo"),
            (F.col("cum") / F.col("total")).alias("p_hi"),
            F.ceil(F.col("p") * F.lit(float(FIXED_POINT))).cast("long").alias("pint"),
            F.log(F.col("p")).alias("log_q"),
        )
    )
    heavy = Window.partitionBy("s").orderBy(F.desc("w"), "i")
    items = _materialise(items.withColumn("heavy_rank", F.row_number().over(heavy)))
    # Mass of the k - 1 heaviest items of each stratum (the budget's worst case).
    heaviest = (F.col("heavy_rank") <= spec.k - 1) if not spec.replace else F.lit(False)
    strata = _materialise(
        items.groupBy("s").agg(
            F.first("n_s").alias("n_s"),
            F.sum(F.when(heaviest, F.col("pint")).otherwise(F.lit(0))).cast("long").alias("top"),
        )
    )
    return items, strata, ctx_stratum


def _bucket_table(F, items):
    """Each item once per bucket of ``floor(x * B)`` that its interval overlaps."""
    n_buckets = F.col("n_s") * F.lit(BUCKETS_PER_ITEM)
    last = n_buckets - 1
    lo = F.least(F.floor(F.col("p_lo") * n_buckets), last)
    hi = F.least(F.floor(F.col("p_hi") * n_buckets), last)
    return items.select(
        F.col("s").alias("bs"),
        F.explode(F.sequence(lo, hi)).alias("bb"),
        F.col("i").alias("bi"),
        F.col("p_lo").alias("bp_lo"),
        F.col("p_hi").alias("bp_hi"),
        F.col("log_q").alias("blog_q"),
    )


def _budget(F, r_int, spec: SampleSpec):
    """Spark twin of :func:`recneg.scale.budget.stream_budget`."""
    k, oversample = spec.k, spec.oversample
    fixed = float(FIXED_POINT)
    if oversample == "auto":
        thresholds, budgets = draws_table(k, spec.shortfall_prob)
        t_arr = F.array(*[F.lit(int(t)) for t in thresholds])
        m_arr = F.array(*[F.lit(int(m)) for m in budgets])

        def threshold(j):
            return F.element_at(t_arr, (j + 1).cast("int"))

        # log2 locates the grid cell to within one step; exact integer comparisons with
        # the thresholds then settle it, so both engines agree bit for bit.
        est = F.least(F.greatest(F.ceil(-GRID * F.log2(r_int.cast("double") / fixed)), F.lit(0)), F.lit(GRID_STEPS))
        j1 = F.when((est > 0) & (threshold(est - 1) <= r_int), est - 1).otherwise(est)
        j = F.when(threshold(j1) > r_int, j1 + 1).otherwise(j1)
        m = F.element_at(m_arr, (j + 1).cast("int"))
    else:
        raw = F.lit(oversample * k * fixed) / r_int.cast("double")
        m = F.when(raw < float(NO_BUDGET), F.ceil(raw)).otherwise(F.lit(NO_BUDGET))
    return F.when(r_int > 0, m).otherwise(F.lit(NO_BUDGET)).cast("long")




def _prepare_log(F, Window, df, spec: SampleSpec):
    """The log as long ids ``u``, ``i`` (and context columns), plus the context table.

    The context table (``None`` without contexts) numbers the distinct context values
    ``ctx = 1, 2, ...`` in sorted order, as the in-memory engine does.
    """
    wanted = [(spec.user_col, "user"), (spec.item_col, "item")]
    ctx_names: list[str] = []
    if spec.is_context:
        wanted += [(c, "context") for c in spec.context_cols]
        ctx_names = [f"_ctx{j}" for j in range(len(spec.context_cols))]
    _check_columns(df, wanted)
    # Rows with a null id or context cannot be attributed to a group: they are ignored.
    log = df.select(
        F.col(spec.user_col).cast("long").alias("u"),
        F.col(spec.item_col).cast("long").alias("i"),
        *[F.col(c).alias(n) for c, n in zip(spec.context_cols, ctx_names)],
    ).dropna()
    if not spec.is_context:
        return log, None
    contexts = log.select(*ctx_names).distinct().withColumn(
        "ctx", F.dense_rank().over(Window.orderBy(*[F.col(c).asc() for c in ctx_names])).cast("long")
    )
    return log, (ctx_names, _materialise(contexts))


def _context_groups(F, log, pairs, items, strata, ctx_stratum, context, user_stats, k: int):
    """One group per (user, context), in the context's stratum when it offers ``k`` unseen items."""
    ctx_names, contexts = context
    gctx = log.join(F.broadcast(contexts), on=ctx_names).select("u", "ctx").distinct().join(F.broadcast(ctx_stratum), "ctx")
    local = (
        gctx.filter(F.col("s") > 0)
        .join(pairs.select("u", "i"), "u")
        .join(F.broadcast(items.select("s", "i", "pint")), ["s", "i"])
        .groupBy("u", "ctx")
        .agg(F.count(F.lit(1)).alias("npos_s"), F.sum("pint").alias("mass_s"))
    )
    groups = (
        gctx.join(local, ["u", "ctx"], "left")
        .join(user_stats, "u")
        .join(F.broadcast(strata.select(F.col("s"), F.col("n_s").alias("ctx_n"))), "s", "left")
    )
    # A context that cannot offer k unseen items to this user is drawn globally.
    in_context = (F.col("s") > 0) & (F.col("ctx_n") - F.coalesce(F.col("npos_s"), F.lit(0)) >= k)
    return groups.select(
        "u",
        F.col("ctx").alias("g1"),
        F.lit(0).cast("long").alias("g2"),
        F.when(in_context, F.col("s")).otherwise(F.lit(0)).cast("long").alias("s"),
        F.when(in_context, F.coalesce(F.col("mass_s"), F.lit(0))).otherwise(F.col("mass")).alias("mass"),
    )


def _groups(F, log, pairs, items, strata, ctx_stratum, context, spec: SampleSpec):
    """Every group ``(u, g1, g2)`` with its stratum ``s`` and the mass of its positives there."""
    global_pint = items.filter(F.col("s") == 0).select("i", "pint")
    user_stats = pairs.join(F.broadcast(global_pint), "i").groupBy("u").agg(
        F.count(F.lit(1)).alias("npos"), F.sum("pint").alias("mass")
    )
    if spec.is_context:
        return _context_groups(F, log, pairs, items, strata, ctx_stratum, context, user_stats, spec.k)
    if spec.per == "user":
        return user_stats.select("u", F.lit(0).cast("long").alias("g1"), F.lit(0).cast("long").alias("g2"),
                                 F.lit(0).cast("long").alias("s"), "mass")
    return pairs.join(user_stats, "u").select(
        "u",
        F.col("i").alias("g1"),
        F.explode(F.sequence(F.lit(0).cast("long"), F.col("c") - 1)).alias("g2"),
        F.lit(0).cast("long").alias("s"),
        "mass",
    )


def _choose_routes(F, groups, spec: SampleSpec):
    """Add each group's stream budget ``m`` and whether it takes the keys route."""
    r_int = F.lit(FIXED_POINT) - F.col("mass") - F.col("top")
    groups = groups.withColumn("m", _budget(F, r_int, spec))
    keys_cost = F.col("n_s") * F.lit(spec.k if spec.replace else 1)
    if spec.strategy == "keys":
        use_keys = F.lit(True)
    elif spec.strategy == "stream":
        use_keys = F.col("m") >= F.lit(NO_BUDGET)
    else:
        use_keys = F.col("m") >= keys_cost
    return groups.withColumn("use_keys", use_keys)


def _output(F, out, spec: SampleSpec, context):
    """The drawn rows with the caller's column names (and context values restored)."""
    columns = [F.col("u").alias(spec.user_col)]
    if spec.is_context:
        ctx_names, contexts = context
        restore = contexts.select(F.col("ctx").alias("g1"), *[F.col(n).alias(c) for n, c in zip(ctx_names, spec.context_cols)])
        out = out.join(F.broadcast(restore), "g1")
        columns += [F.col(c) for c in spec.context_cols]
    elif spec.per == "interaction":
        columns += [F.col("g1").alias(spec.item_col), F.col("g2").cast("int").alias("occurrence")]
    columns += [F.col("item").alias("negative"), F.col("slot").cast("int").alias("slot"), F.col("log_q")]
    if spec.is_context:
        columns.append(F.when(F.col("s") == 0, F.lit("global")).otherwise(F.lit("context")).alias("source"))
    return out.select(*columns)


def negatives(interactions_df, spec: SampleSpec, *, num_partitions: int | None = None):
    """Negatives for every group of ``interactions_df`` as ``spec`` asks: the lazy Spark plan.

    The engine behind :func:`uniform_negatives`, :func:`popularity_negatives` and
    :func:`context_stratified_negatives`, which document the output columns;
    ``num_partitions`` is as there.

    Examples
    --------
    >>> from recneg.scale.spec import SampleSpec
    >>> neg = negatives(log_df, SampleSpec(20, method="popularity", per="interaction"))  # doctest: +SKIP
    """
    F, Window = require_pyspark()
    log, context = _prepare_log(F, Window, interactions_df, spec)
    items, strata, ctx_stratum = _items_table(F, Window, log, spec, context)
    pairs = log.groupBy("u", "i").agg(F.count(F.lit(1)).alias("c"))  # distinct positives
    groups = _groups(F, log, pairs, items, strata, ctx_stratum, context, spec)
    groups = _choose_routes(F, groups.join(F.broadcast(strata), "s"), spec)
    if num_partitions is None:
        spark = interactions_df.sparkSession
        num_partitions = max(int(spark.conf.get("spark.sql.shuffle.partitions")), spark.sparkContext.defaultParallelism)
    num_partitions = check_positive_int("num_partitions", num_partitions)
    out = _draw(F, Window, groups, pairs, items, spec, num_partitions)
    return _output(F, out, spec, context)

def _draw(F, Window, groups, pairs, items, spec: SampleSpec, num_partitions: int):
    """Both routes in one pass over data partitioned by user (see the scale chapter).

    Stream groups expand into their ``m`` hashed draws, looked up in the bucketed
    inverse-CDF table; keys groups expand into one row per stratum item with its ES key.
    The users' positive pairs travel in the same partitions, so excluding them is a
    window over ``(user, item)`` instead of a shuffled anti-join, and the first ``k``
    admissible rows per group (by draw index or by key) are the negatives.
    """
    k, replace, seed = spec.k, spec.replace, spec.seed
    null_long = F.lit(None).cast("long")
    group_rows = groups.select("u", "g1", "g2", "s", "n_s", "m", "use_keys", F.lit(0).alias("kind"), null_long.alias("pi"))
    positive_rows = pairs.select(
        "u", null_long.alias("g1"), null_long.alias("g2"), null_long.alias("s"), null_long.alias("n_s"),
        null_long.alias("m"), F.lit(None).cast("boolean").alias("use_keys"), F.lit(1).alias("kind"), F.col("i").alias("pi"),
    )
    # The only shuffle: the small group and positive rows, by user. Every later step keeps
    # this partitioning, so the candidate rows are never shuffled. The partition count is
    # fixed because adaptive execution would otherwise coalesce this small exchange into
    # one partition and leave a single task to expand and sort every candidate.
    rows = group_rows.unionByName(positive_rows).repartition(num_partitions, "u")
    stream = (F.col("kind") == 0) & ~F.col("use_keys")
    keyed = (F.col("kind") == 0) & F.col("use_keys")
    one = F.array(F.lit(-1).cast("long"))
    rows = rows.withColumn("d", F.explode(F.when(stream, F.sequence(F.lit(0).cast("long"), F.col("m") - 1)).otherwise(one)))

    n_buckets = F.col("n_s") * F.lit(BUCKETS_PER_ITEM)
    rows = rows.withColumn("x", F.when(stream, _uniform(F, seed, SALT_STREAM, "u", "g1", "g2", "d")))
    rows = rows.withColumn("b", F.least(F.floor(F.col("x") * n_buckets), n_buckets - 1))
    buckets = _bucket_table(F, items)
    hit = (
        (rows["s"] == buckets["bs"]) & (rows["b"] == buckets["bb"])
        & (rows["x"] >= buckets["bp_lo"]) & (rows["x"] < buckets["bp_hi"])
    )
    rows = rows.join(F.broadcast(buckets), hit, "left")

    stratum_items = items.select(F.col("s").alias("ks"), F.col("i").alias("ki"), F.col("w").alias("kw"), F.col("log_q").alias("klog_q"))
    rows = rows.withColumn("key_s", F.when(keyed, F.col("s"))).join(
        F.broadcast(stratum_items), F.col("key_s") == F.col("ks"), "left"
    )
    rows = rows.withColumn("item", F.coalesce(F.col("bi"), F.col("ki"), F.col("pi")))
    # Efraimidis-Spirakis keys -log(u) / w order each group's candidates; the k smallest win.
    if replace:
        # k independent ES races per group: the winner of race j is draw j.
        rows = rows.withColumn("j", F.explode(F.when(keyed, F.sequence(F.lit(0).cast("long"), F.lit(k - 1).cast("long"))).otherwise(one)))
        u_key = _uniform(F, seed, SALT_KEYS_REPLACE, "u", "g1", "g2", "j", "item")
    else:
        rows = rows.withColumn("j", F.lit(-1).cast("long"))
        u_key = _uniform(F, seed, SALT_KEYS, "u", "g1", "g2", "item")
    rows = rows.select(
        "u", "g1", "g2", "s", "d", "j", "kind", "item",
        F.coalesce(F.col("blog_q"), F.col("klog_q")).alias("log_q"),
        F.when(keyed, -F.log(u_key) / F.col("kw")).otherwise(F.col("d").cast("double")).alias("order"),
    )

    by_pair = Window.partitionBy("u", "item").orderBy(F.desc("kind"), "g1", "g2", "j", "d")
    blocked = F.first("kind").over(by_pair) == 1  # positives sort first in their (user, item)
    admissible = (F.col("kind") == 0) & ~blocked
    if not replace:
        # Only a stream can repeat an item within a group; its first draw counts.
        repeat = F.lag("g1").over(by_pair).eqNullSafe(F.col("g1")) & F.lag("g2").over(by_pair).eqNullSafe(F.col("g2"))
        admissible = admissible & ~repeat
    kept = rows.withColumn("admissible", admissible).filter(F.col("admissible"))
    by_group = Window.partitionBy("u", "g1", "g2", "j").orderBy("order", "item")
    kept = kept.withColumn("rank", F.row_number().over(by_group))
    race = F.col("j") >= 0
    kept = kept.filter(F.when(race, F.col("rank") == 1).otherwise(F.col("rank") <= k))
    return kept.select(
        "u", "g1", "g2", "s", "item", F.when(race, F.col("j")).otherwise(F.col("rank") - 1).alias("slot"), "log_q"
    )


# --- public transformations ----------------------------------------------------------------
_COMMON_DOC = """
    Parameters
    ----------
    interactions_df : pyspark.sql.DataFrame
        The (training) log, one row per interaction, with integer ``user_col`` and
        ``item_col``. Rows with a null id are ignored.
    k : int
        Negatives per group.
    user_col, item_col : str
    per : {"user", "interaction"}
        One negative set per user, or one per interaction (a user's repeated interactions
        with an item each get their own set, numbered by ``occurrence``).
    replace : bool, default False
        Distinct negatives per group (successive / ES sampling) or i.i.d. draws.
    seed : int
        The output depends on the seed only, not on partitioning.
    oversample : "auto" or float
        ``"auto"``: per-group budgets with shortfall probability ``shortfall_prob``; a
        float ``f``: ``ceil(f * k / acceptance_rate)`` draws.
    shortfall_prob : float, default 1e-9
    strategy : {"auto", "stream", "keys"}
        Force one route for every group (``"keys"`` crosses groups with the catalogue:
        only for small catalogues).
    num_partitions : int, optional
        Partitions of the candidate stage (default: the larger of
        ``spark.sql.shuffle.partitions`` and the default parallelism). The output does
        not depend on it.

    Returns
    -------
    pyspark.sql.DataFrame
        ``user_col``, [``item_col``, ``occurrence`` when per interaction],
        ``negative``, ``slot`` (draw order 0..k-1) and ``log_q`` (log-probability of the
        negative under one draw of the proposal, for logQ correction). A group gets fewer
        than ``k`` rows only when fewer than ``k`` admissible items exist.
"""


def uniform_negatives(
    interactions_df, k: int, *, user_col: str = "user", item_col: str = "item", per: str = "user",
    replace: bool = False, seed: int = 0, oversample="auto", shortfall_prob: float = 1e-9,
    strategy: str = "auto", num_partitions: int | None = None,
):
    """Per group, ``k`` negatives uniform over the catalogue minus the user's positives.
    {common}
    Examples
    --------
    >>> neg = uniform_negatives(log_df, 20, seed=0)  # doctest: +SKIP
    >>> neg.columns  # doctest: +SKIP
    ['user', 'negative', 'slot', 'log_q']
    """
    spec = SampleSpec(k, method="uniform", alpha=0.0, per=per, replace=replace, seed=seed, user_col=user_col,
                      item_col=item_col, oversample=oversample, shortfall_prob=shortfall_prob, strategy=strategy)
    return negatives(interactions_df, spec, num_partitions=num_partitions)


def popularity_negatives(
    interactions_df, k: int, alpha: float = 0.75, *, user_col: str = "user", item_col: str = "item",
    per: str = "user", replace: bool = False, seed: int = 0, oversample="auto",
    shortfall_prob: float = 1e-9, strategy: str = "auto", num_partitions: int | None = None,
):
    """Per group, ``k`` negatives with probability proportional to ``count ** alpha``.

    Counts come from ``interactions_df`` itself, so pass the training split only.
    {common}
    Examples
    --------
    >>> spark = spark_session("local[2]", shuffle_partitions=4)  # doctest: +SKIP
    >>> log = synthetic_log(spark, 100_000, n_users=2_000, n_items=5_000, zipf=1.0)  # doctest: +SKIP
    >>> neg = popularity_negatives(log, 20, alpha=0.75, seed=0)  # doctest: +SKIP
    >>> neg.groupBy("user").count().agg({{"count": "min"}}).first()[0]  # doctest: +SKIP
    20
    """
    spec = SampleSpec(k, method="popularity", alpha=alpha, per=per, replace=replace, seed=seed, user_col=user_col,
                      item_col=item_col, oversample=oversample, shortfall_prob=shortfall_prob, strategy=strategy)
    return negatives(interactions_df, spec, num_partitions=num_partitions)


def context_stratified_negatives(
    interactions_df,
    k: int,
    context_cols: Sequence[str] = ("segment", "week"),
    alpha: float = 0.75,
    *,
    user_col: str = "user",
    item_col: str = "item",
    min_context_items: int | None = None,
    replace: bool = False,
    seed: int = 0,
    oversample="auto",
    shortfall_prob: float = 1e-9,
    strategy: str = "auto",
    num_partitions: int | None = None,
):
    """Per (user, context), ``k`` negatives popular in that context that the user never chose.

    A context is a value of ``context_cols`` (e.g. the user's segment and the week). Within
    it, item ``i`` is drawn with probability proportional to ``count_i ** alpha`` counted
    over the context's interactions, so negatives are items that people in the same
    context saw and chose while this user did not — the "seen but not chosen" proxy for
    exposure. The user's positives from *any* context are excluded. A context with fewer
    than ``min_context_items`` distinct items (default ``2 * k``), or with fewer than
    ``k`` items this user has not interacted with, draws from global popularity instead;
    the ``source`` column says which.

    Parameters
    ----------
    interactions_df : pyspark.sql.DataFrame
        Log with ``user_col``, ``item_col`` and the ``context_cols``.
    k : int
    context_cols : sequence of str
    alpha : float, default 0.75
    min_context_items : int, optional
    replace, seed, oversample, shortfall_prob, strategy, num_partitions
        As in :func:`popularity_negatives`.

    Returns
    -------
    pyspark.sql.DataFrame
        ``user_col``, the context columns, ``negative``, ``slot``, ``log_q`` (under the
        group's stratum) and ``source`` (``"context"`` or ``"global"``).

    Examples
    --------
    >>> log = synthetic_log(spark, 50_000, 1_000, 2_000, n_segments=4, n_weeks=4)  # doctest: +SKIP
    >>> neg = context_stratified_negatives(log, 10, ("segment", "week"))  # doctest: +SKIP
    """
    spec = SampleSpec(k, method="context", alpha=alpha, replace=replace, seed=seed, user_col=user_col,
                      item_col=item_col, context_cols=context_cols, min_context_items=min_context_items,
                      oversample=oversample, shortfall_prob=shortfall_prob, strategy=strategy)
    return negatives(interactions_df, spec, num_partitions=num_partitions)


uniform_negatives.__doc__ = uniform_negatives.__doc__.format(common=_COMMON_DOC)
popularity_negatives.__doc__ = popularity_negatives.__doc__.format(common=_COMMON_DOC)


def _check_zipf(zipf) -> float:
    try:
        zipf = float(zipf)
    except (TypeError, ValueError):
        raise RecnegError(f"zipf must be a number >= 0, got {zipf!r}") from None
    if not zipf >= 0.0:
        raise RecnegError(f"zipf must be >= 0, got {zipf}")
    return zipf


def _zipf_rank(F, v, n_items: int, zipf: float):
    """Popularity rank ``1..n_items`` from the uniform ``v``: inverse CDF of a bounded power law."""
    top = float(n_items + 1)
    if abs(zipf - 1.0) < 1e-12:
        x = F.pow(F.lit(top), v)
    else:
        a = 1.0 - zipf
        x = F.pow(F.lit(1.0) + v * F.lit(top**a - 1.0), F.lit(1.0 / a))
    return F.least(F.greatest(F.floor(x), F.lit(1)), F.lit(n_items)).cast("long")


def synthetic_log(
    spark,
    n_interactions: int,
    n_users: int,
    n_items: int,
    zipf: float = 1.0,
    seed: int = 0,
    n_segments: int = 4,
    n_weeks: int = 8,
    *,
    num_partitions: int | None = None,
):
    """A large synthetic interaction log generated on the executors.

    Row ``r`` of ``spark.range(n_interactions)`` becomes one interaction whose fields are
    hashes of ``(seed, r)``, so the driver never holds the log and the result does not
    depend on ``num_partitions``:

    * ``user`` uniform on ``0..n_users-1``; ``segment`` a hash of the user (a user stays
      in one segment); ``week`` uniform on ``0..n_weeks-1``; ``timestamp`` (seconds)
      uniform within that week;
    * the item's popularity *rank* follows a discretised bounded power law with exponent
      ``zipf`` (``P(rank = r)`` close to ``r ** -zipf`` for Zipf-like heads; ``zipf=0``
      is uniform), and each segment, and each week, shifts which items hold which rank,
      so popularity differs across contexts.

    Parameters
    ----------
    spark : SparkSession
    n_interactions, n_users, n_items : int
    zipf : float, default 1.0
    seed : int
    n_segments, n_weeks : int
    num_partitions : int, optional

    Returns
    -------
    pyspark.sql.DataFrame
        ``user`` (bigint), ``item`` (bigint, ``1..n_items``), ``timestamp`` (bigint),
        ``segment`` (int), ``week`` (int).

    Examples
    --------
    >>> log = synthetic_log(spark, 1_000_000, 50_000, 20_000, zipf=1.1, seed=0)  # doctest: +SKIP
    >>> log.count()  # doctest: +SKIP
    1000000
    """
    F, _ = require_pyspark()
    n = check_positive_int("n_interactions", n_interactions)
    n_users = check_positive_int("n_users", n_users)
    n_items = check_positive_int("n_items", n_items)
    n_segments = check_positive_int("n_segments", n_segments)
    n_weeks = check_positive_int("n_weeks", n_weeks)
    seed = check_positive_int("seed", seed, allow_zero=True)
    zipf = _check_zipf(zipf)
    ids = spark.range(0, n, numPartitions=num_partitions) if num_partitions else spark.range(0, n)
    rid = F.col("id")
    user = F.floor(_uniform(F, seed, SALT_SYN_USER, rid) * F.lit(float(n_users))).cast("long")
    rank = _zipf_rank(F, _uniform(F, seed, SALT_SYN_ITEM, rid), n_items, zipf)
    week = F.floor(_uniform(F, seed, SALT_SYN_WEEK, rid) * F.lit(float(n_weeks))).cast("int")
    seg_shift = n_items // n_segments
    week_shift = max(1, n_items // (4 * n_weeks))
    week_seconds = 7 * 24 * 3600
    return (
        ids.select(rid, user.alias("user"), rank.alias("rank"), week.alias("week"))
        .withColumn("segment", F.pmod(F.xxhash64(F.lit(seed).cast("long"), F.lit(SALT_SYN_SEGMENT).cast("long"), F.col("user")), F.lit(n_segments)).cast("int"))
        .select(
            "user",
            (F.pmod(F.col("rank") - 1 + F.col("segment") * seg_shift + F.col("week") * week_shift, F.lit(n_items)) + 1).cast("long").alias("item"),
            (F.lit(1_600_000_000) + F.col("week") * week_seconds
             + F.floor(_uniform(F, seed, SALT_SYN_TIME, rid) * F.lit(float(week_seconds)))).cast("long").alias("timestamp"),
            "segment",
            "week",
        )
    )


# --- files (the Spark engine of `recneg sample`) -------------------------------------------


# --- files (the Spark engine of `recneg sample`) -------------------------------------------
def read_log(spark, path):
    """A csv (with header) or parquet log as a Spark DataFrame, or a one-line error."""
    path = Path(path)
    fmt = input_format(path)
    reader = spark.read
    try:
        if fmt == "csv":
            return reader.option("header", True).option("inferSchema", True).csv(str(path))
        return reader.parquet(str(path))
    except Exception as exc:  # AnalysisException and friends: report them on one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RecnegError(f"Spark cannot read {str(path)!r} as {fmt}: {first}") from None


def write_negatives(neg, path, fmt: str) -> int:
    """Write ``neg`` as a ``fmt`` (``"csv"`` with header, or ``"parquet"``) directory at ``path``; return its rows.

    The rows are counted on what was written, so the count matches the files. ``path``
    must not exist: callers write to a temporary name (``recneg._atomic.atomic_path``),
    which is why the format is passed rather than read from the name.
    """
    writer = neg.write.mode("error")
    spark = neg.sparkSession
    if fmt == "csv":
        writer.option("header", True).csv(str(path))
        return spark.read.option("header", True).csv(str(path)).count()
    writer.parquet(str(path))
    return spark.read.parquet(str(path)).count()


def sample_files(input_path, output_path, spec: SampleSpec, *, master: str = "local[*]",
                 driver_memory: str = "4g", spark=None) -> int:
    """Read a csv/parquet log, sample as ``spec`` asks, write a csv/parquet directory; return rows.

    The result is written to a hidden sibling directory and renamed onto ``output_path``
    only once complete; a previous Spark output there is replaced.

    Examples
    --------
    >>> from recneg.scale.spec import SampleSpec
    >>> sample_files("log.parquet", "neg.parquet", SampleSpec(20))  # doctest: +SKIP
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise RecnegError(f"input {str(input_path)!r} does not exist; check the path")
    fmt = output_format(output_path)
    spark = spark or spark_session(master, driver_memory=driver_memory)
    neg = negatives(read_log(spark, input_path), spec)
    with atomic_path(output_path, folder=previous_output) as tmp:
        return write_negatives(neg, tmp, fmt)
