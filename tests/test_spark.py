"""recneg.scale.spark in Spark local mode: correctness, distributions, determinism, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("pyspark")

from recneg import RecnegError  # noqa: E402
from recneg.scale import spark as rs  # noqa: E402
from recneg.scale.hashing import hash_uniform  # noqa: E402
from recneg.scale.memory import inclusion_probabilities, memory_negatives  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]

try:
    rs.require_java()
except RecnegError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(str(exc), allow_module_level=True)


@pytest.fixture(scope="session")
def spark():
    session = rs.spark_session(
        "local[2]",
        app_name="recneg-tests",
        driver_memory="1g",
        shuffle_partitions=4,
        config={"spark.default.parallelism": 4, "spark.sql.adaptive.enabled": "true"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session


def probe_log(n_items: int, n_probes: int, *, zipf: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Background users give items Zipf-like counts; each probe user holds only item 1,
    so all probes share one target distribution and their negatives are i.i.d."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(1, np.round(400 / np.arange(1, n_items + 1) ** zipf)).astype(int)
    items = np.repeat(np.arange(1, n_items + 1), counts)
    rng.shuffle(items)
    background = 10_000_000 + np.arange(len(items)) // 7
    return pd.DataFrame({
        "user": np.concatenate([background, np.arange(n_probes)]).astype(np.int64),
        "item": np.concatenate([items, np.ones(n_probes, dtype=int)]).astype(np.int64),
    })


def target(log: pd.DataFrame, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    counts = log["item"].value_counts().sort_index()
    keep = counts.index != 1
    return counts.index[keep].to_numpy(), counts.to_numpy()[keep].astype(float) ** alpha


def pool_sparse_cells(observed: np.ndarray, expected: np.ndarray, minimum: float = 5.0):
    """Merge the cells expected to hold fewer than ``minimum`` counts into one, so the
    chi-square approximation holds; without such cells the table is returned as is."""
    big = expected >= minimum
    if big.all():
        return observed, expected
    return np.append(observed[big], observed[~big].sum()), np.append(expected[big], expected[~big].sum())


@pytest.fixture(scope="module")
def mixed_log() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 4000
    users = rng.integers(0, 200, n)
    items = np.minimum((rng.pareto(0.9, n) + 1).astype(int), 150)
    return pd.DataFrame({"user": users, "item": items, "segment": (users % 3).astype(str), "week": rng.integers(0, 3, n)})


def test_hash_uniforms_match_numpy(spark):
    from pyspark.sql import functions as F

    frame = spark.range(0, 500).select(
        F.col("id"), (F.col("id") * 7919 - 1000).alias("a"),
        rs._uniform(F, 12345, 77, "id", (F.col("id") * 7919 - 1000)).alias("u"),
        F.xxhash64(F.lit(3).cast("long"), F.lit(-5).cast("long"), F.lit(7).cast("long")).alias("h"),
    ).toPandas()
    np.testing.assert_array_equal(frame["u"].to_numpy(), hash_uniform(12345, 77, frame["id"].to_numpy(), frame["a"].to_numpy()))
    assert int(frame["h"].iloc[0]) == -1837915294542365774


@pytest.mark.parametrize(
    "function, kwargs, method",
    [
        (rs.uniform_negatives, dict(), "uniform"),
        (rs.popularity_negatives, dict(per="interaction", replace=True), "popularity"),
        (rs.popularity_negatives, dict(strategy="keys"), "popularity"),
        (rs.context_stratified_negatives, dict(min_context_items=20), "context"),
    ],
)
def test_spark_and_memory_engines_return_the_same_negatives(spark, mixed_log, function, kwargs, method):
    got = function(spark.createDataFrame(mixed_log), 6, seed=21, **kwargs).toPandas()
    expected = memory_negatives(mixed_log, 6, method=method, seed=21, **kwargs)
    keys = [c for c in expected.columns if c not in ("negative", "log_q", "source")]
    got = got.sort_values(keys).reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got.drop(columns="log_q"), expected.drop(columns="log_q"), check_dtype=False)
    np.testing.assert_allclose(got["log_q"], expected["log_q"], rtol=1e-12)


def test_k_negatives_per_user_none_positive(spark):
    from pyspark.sql import functions as F

    log = rs.synthetic_log(spark, 30_000, 600, 2_000, zipf=1.0, seed=1)
    neg = rs.popularity_negatives(log, 15, alpha=0.75, seed=2)
    stats_row = neg.groupBy("user").agg(
        F.count(F.lit(1)).alias("n"), F.countDistinct("negative").alias("distinct"),
        F.min("slot").alias("lo"), F.max("slot").alias("hi"),
    ).agg(F.count(F.lit(1)), F.min("n"), F.max("n"), F.min("distinct"), F.min("lo"), F.max("hi")).first()
    users = log.select("user").distinct().count()
    assert tuple(stats_row) == (users, 15, 15, 15, 0, 14)
    clash = neg.join(log, (neg["user"] == log["user"]) & (neg["negative"] == log["item"]), "left_semi")
    assert clash.count() == 0


def test_popularity_frequencies_match_exact_inclusion_probabilities(spark):
    """Per item, the number of probes that receive it is Binomial(n, pi_i) exactly, with
    pi_i the successive-sampling inclusion probability (not k * p_i: k = 5 of 120 items
    with a Zipf head is where with- and without-replacement differ)."""
    n_probes, k, alpha = 2500, 5, 0.75
    log = probe_log(120, n_probes)
    neg = rs.popularity_negatives(spark.createDataFrame(log), k, alpha=alpha, seed=13, strategy="stream").toPandas()
    probes = neg[neg.user < n_probes]
    assert len(probes) == n_probes * k
    items, w = target(log, alpha)
    pi = inclusion_probabilities(w, k)
    observed = probes["negative"].value_counts().reindex(items, fill_value=0).to_numpy()
    pvalues = np.array([stats.binomtest(int(o), n_probes, float(p)).pvalue for o, p in zip(observed, pi)])
    assert pvalues.min() * len(items) > 1e-3  # Bonferroni over the items
    # Slot 0 is a single draw from the restricted distribution: an exact multinomial.
    first = probes[probes.slot == 0]["negative"].value_counts().reindex(items, fill_value=0).to_numpy()
    expected = n_probes * w / w.sum()
    observed_cells, expected_cells = pool_sparse_cells(first, expected)
    assert stats.chisquare(observed_cells, expected_cells).pvalue > 1e-3
    # The test has power: the same counts reject a target with the wrong exponent.
    wrong = n_probes * w ** (0.5 / alpha) / (w ** (0.5 / alpha)).sum()
    assert stats.chisquare(*pool_sparse_cells(first, wrong)).pvalue < 1e-6


def test_first_negative_agrees_with_the_in_memory_sampler(spark):
    """Slot 0 of Spark and one draw of the in-memory popularity sampler (with replacement,
    positives excluded) are the same law: a two-sample homogeneity test."""
    n_probes, alpha = 3000, 0.75
    log = probe_log(60, n_probes, seed=5)
    neg = rs.popularity_negatives(spark.createDataFrame(log), 3, alpha=alpha, seed=17).toPandas()
    spark_first = neg[(neg.user < n_probes) & (neg.slot == 0)]["negative"].to_numpy()
    try:
        import torch

        from recneg.data import Interactions
        from recneg.samplers.static import PopularitySampler
    except ImportError:  # pragma: no cover - the sampler ships with recneg
        items, w = target(log, alpha)
        other = np.random.default_rng(0).choice(items, size=n_probes, p=w / w.sum())
    else:
        users, codes = np.unique(log["user"].to_numpy(), return_inverse=True)
        train = Interactions(codes, log["item"].to_numpy(), np.arange(len(log)), n_users=len(users), n_items=60)
        sampler = PopularitySampler(alpha=alpha, random_state=0).fit(train)
        probe_codes = torch.as_tensor(np.searchsorted(users, np.arange(n_probes)))
        other = sampler.sample(probe_codes, torch.ones(n_probes, dtype=torch.long), 1).items[:, 0].numpy()
    assert 1 not in set(other) and 1 not in set(spark_first)
    cells = np.union1d(spark_first, other)
    table = np.stack([
        pd.Series(spark_first).value_counts().reindex(cells, fill_value=0).to_numpy(),
        pd.Series(other).value_counts().reindex(cells, fill_value=0).to_numpy(),
    ])
    big = table.sum(0) >= 10
    if not big.all():  # pool the sparse tail into one column
        table = np.column_stack([table[:, big], table[:, ~big].sum(1)])
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_same_seed_same_negatives_whatever_the_partitioning(spark):
    log = rs.synthetic_log(spark, 8_000, 300, 500, zipf=1.1, seed=4, num_partitions=3)
    a = rs.popularity_negatives(log.repartition(1), 4, per="interaction", seed=8, num_partitions=2).toPandas()
    b = rs.popularity_negatives(log.repartition(7, "item"), 4, per="interaction", seed=8, num_partitions=9).toPandas()
    order = ["user", "item", "occurrence", "slot"]
    pd.testing.assert_frame_equal(a.sort_values(order).reset_index(drop=True), b.sort_values(order).reset_index(drop=True))
    c = rs.popularity_negatives(log, 4, per="interaction", seed=9).toPandas().sort_values(order).reset_index(drop=True)
    assert (c["negative"].to_numpy() != a.sort_values(order)["negative"].to_numpy()).mean() > 0.5


def test_context_negatives_only_come_from_their_context(spark):
    log = rs.synthetic_log(spark, 20_000, 400, 1_500, zipf=1.0, seed=6, n_segments=3, n_weeks=2)
    # One extra context with two items: too small, so it falls back to global popularity.
    tiny = spark.createDataFrame(pd.DataFrame({"user": [0, 1], "item": [5, 6], "timestamp": [0, 0], "segment": [9, 9], "week": [9, 9]}))
    log = log.unionByName(tiny)
    neg = rs.context_stratified_negatives(log, 8, ("segment", "week"), alpha=0.75, seed=3)
    seen = log.select("segment", "week", "item").distinct()
    local = neg.filter("source = 'context'")
    outside = local.join(seen, (local.segment == seen.segment) & (local.week == seen.week) & (local.negative == seen.item), "left_anti")
    assert outside.count() == 0
    summary = neg.groupBy("source").count().toPandas().set_index("source")["count"]
    assert summary.get("context", 0) > 0.95 * summary.sum()
    assert set(neg.filter("segment = 9").toPandas().source) == {"global"}


def test_synthetic_log_is_deterministic_and_heavy_headed(spark):
    a = rs.synthetic_log(spark, 20_000, 500, 1_000, zipf=1.2, seed=3, n_segments=1, n_weeks=1, num_partitions=2)
    b = rs.synthetic_log(spark, 20_000, 500, 1_000, zipf=1.2, seed=3, n_segments=1, n_weeks=1, num_partitions=5)
    pa_, pb = a.toPandas(), b.toPandas()
    pd.testing.assert_frame_equal(pa_, pb)
    assert dict(a.dtypes) == {"user": "bigint", "item": "bigint", "timestamp": "bigint", "segment": "int", "week": "int"}
    assert pa_.item.between(1, 1_000).all() and pa_.user.between(0, 499).all()
    counts = pa_.item.value_counts().reindex(range(1, 1_001), fill_value=0).to_numpy()
    # With one segment and week the rank is the item: frequencies fall like a power law.
    slope = np.polyfit(np.log(np.arange(1, 101)), np.log(counts[:100] + 0.5), 1)[0]
    assert -1.5 < slope < -0.9


def test_bad_columns_raise_one_line_errors(spark):
    frame = spark.createDataFrame(pd.DataFrame({"user": [1, 2], "item": ["a", "b"]}))
    with pytest.raises(RecnegError, match="column 'item' has type string; item ids must be integers"):
        rs.popularity_negatives(frame, 2)
    with pytest.raises(RecnegError, match="no user column 'uid'"):
        rs.uniform_negatives(frame, 2, user_col="uid")
    with pytest.raises(RecnegError, match="k must be positive"):
        rs.uniform_negatives(frame, 0)
