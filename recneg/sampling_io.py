"""In-memory negative sampling engine, and the file I/O behind ``recneg sample``.

This module is the single-machine twin of :mod:`recneg.spark`. Both engines run the same
algorithm on the same hash-based random numbers, so for a given ``seed`` they return the
same negatives (up to last-bit differences between Java's and numpy's ``pow``/``log``,
which change a draw only when a uniform lands within one ulp of an interval boundary).
The algorithm and why it samples the intended distribution are explained in
:mod:`recneg.spark`; the short version:

* every negative set is drawn for a *group*: a user (``per="user"``), one interaction
  (``per="interaction"``), or a (user, context) pair (``method="context"``);
* a group draws from its *stratum*'s distribution ``w_i = count_i ** alpha`` over the items
  of the stratum (the whole catalogue, or the items seen in one context);
* the *stream* route draws ``m`` items i.i.d. from that distribution (inverse CDF of a
  hashed uniform), drops the user's positives (and, without replacement, repeats) and
  keeps the first ``k`` survivors; ``m`` is the smallest budget for which fewer than ``k``
  survivors has probability at most ``shortfall_prob`` (an exact binomial bound);
* the *keys* route (Efraimidis–Spirakis) gives every unseen item of the stratum the key
  ``-log(u) / w`` and keeps the ``k`` smallest; it is used where it is cheaper than the
  stream (small strata, users who hold most of the popularity mass).

The file side reads ``csv``/``parquet`` logs, validates them with one-line
:class:`~recneg.RecnegError` messages, and writes the result to a temporary name that is
renamed into place, so a failed run never leaves a half-written output.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ._errors import RecnegError, check_negatives_fit, check_positive_int

__all__ = [
    "hash_uniform",
    "xxhash64",
    "draws_table",
    "memory_negatives",
    "memory_negative_arrays",
    "inclusion_probabilities",
    "read_interactions",
    "write_table",
    "run_sample",
    "SampleSummary",
    "Shortfall",
]

# --- constants shared with recneg.spark ------------------------------------------------
#: Probabilities are compared in fixed point with this many units per 1, so that the
#: per-user "mass of positives" is an exact integer sum (independent of partitioning).
FIXED_POINT = 1 << 40
#: The draws table has ``GRID`` entries per halving of the acceptance rate.
GRID = 32
#: Acceptance rates below ``2 ** -(GRID_STEPS / GRID)`` always use the keys route.
GRID_STEPS = GRID * 24
#: Budget that marks "no finite stream budget": such groups use the keys route.
NO_BUDGET = 1 << 62
#: Hash salts: one per independent random quantity.
SALT_STREAM = 0x5EED01
SALT_KEYS = 0x5EED02
SALT_KEYS_REPLACE = 0x5EED03
SALT_SYN_USER = 0x5EED11
SALT_SYN_ITEM = 0x5EED12
SALT_SYN_SEGMENT = 0x5EED13
SALT_SYN_WEEK = 0x5EED14
SALT_SYN_TIME = 0x5EED15
#: Buckets per stratum item in the Spark inverse-CDF lookup table.
BUCKETS_PER_ITEM = 2

METHODS = ("uniform", "popularity", "context")
PER = ("user", "interaction")
STRATEGIES = ("auto", "stream", "keys")
ENGINES = ("auto", "memory", "spark")
#: ``engine="auto"`` hands inputs larger than this to Spark.
SPARK_THRESHOLD_BYTES = 256 * 1024 * 1024

# --- xxHash64, bit-compatible with Spark's F.xxhash64 on bigint columns ----------------
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_SPARK_HASH_SEED = np.uint64(42)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _hash_long(value: np.ndarray, seed: np.ndarray) -> np.ndarray:
    h = seed + _P5 + np.uint64(8)
    h = h ^ (_rotl(value * _P2, 31) * _P1)
    h = _rotl(h, 27) * _P1 + _P4
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


def xxhash64(*values) -> np.ndarray:
    """Spark's ``F.xxhash64(*cols)`` for bigint inputs, vectorised with broadcasting.

    Examples
    --------
    >>> int(xxhash64(3, -5, 7))  # equals spark.range(1).select(F.xxhash64(lit(3L), lit(-5L), lit(7L)))
    -1837915294542365774
    """
    h = _SPARK_HASH_SEED
    with np.errstate(over="ignore"):
        for value in values:
            h = _hash_long(np.asarray(value, dtype=np.int64).view(np.uint64), h)
    return np.asarray(h).view(np.int64)


def hash_uniform(seed: int, salt: int, *values) -> np.ndarray:
    """Uniforms in (0, 1) that depend only on ``(seed, salt, *values)``.

    The top 52 bits of the xxHash64 give ``(x + 0.5) / 2**52``; the half offset keeps
    ``log(u)`` finite and ``u < 1`` exactly. Spark computes the same numbers with
    ``F.xxhash64``, which is what makes sampling independent of partitioning.

    Examples
    --------
    >>> u = hash_uniform(0, 1, np.arange(5))
    >>> bool(((u > 0) & (u < 1)).all())
    True
    """
    h = xxhash64(seed, salt, *values).view(np.uint64)
    return ((h >> np.uint64(12)).astype(np.float64) + 0.5) / 4503599627370496.0


# --- the draw budget ---------------------------------------------------------------------
@lru_cache(maxsize=64)
def draws_table(k: int, shortfall_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Stream budgets by acceptance rate: ``(thresholds, budgets)``.

    Entry ``j`` is for acceptance rates ``r >= thresholds[j] / FIXED_POINT`` (a geometric
    grid, ``2 ** (-j / GRID)``): ``budgets[j]`` is the smallest ``m`` with
    ``P(Binomial(m, r_j) < k) <= shortfall_prob``. A group whose acceptance rate is at
    least ``r_j`` finds ``k`` negatives in ``budgets[j]`` draws except with at most that
    probability. The final entry is a sentinel (threshold 0, budget :data:`NO_BUDGET`).

    Examples
    --------
    >>> thresholds, budgets = draws_table(5, 1e-9)
    >>> int(budgets[0])  # acceptance rate 1: every draw is accepted
    5
    """
    from scipy.stats import binom

    j = np.arange(GRID_STEPS + 1)
    thresholds = np.floor(FIXED_POINT * np.exp2(-j / GRID)).astype(np.int64)
    rate = thresholds / FIXED_POINT
    log_inv = -math.log(shortfall_prob)
    # Chernoff: m * r >= k + L + sqrt(L^2 + 2kL) suffices, so it bounds the search.
    hi = np.ceil((k + log_inv + math.sqrt(log_inv**2 + 2 * k * log_inv)) / rate).astype(np.int64)
    lo = np.full_like(hi, k - 1)  # infeasible: k - 1 draws never give k negatives
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = binom.cdf(k - 1, mid, rate) <= shortfall_prob
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    thresholds = np.append(thresholds, 0)
    budgets = np.append(hi, NO_BUDGET)
    thresholds.setflags(write=False)
    budgets.setflags(write=False)
    return thresholds, budgets


def check_common(k, alpha, seed, per, replace, oversample, shortfall_prob, strategy):
    """Validate the arguments shared by both engines; return them normalised."""
    k = check_positive_int("k", k)
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise RecnegError(f"alpha must be a number, got {alpha!r}") from None
    if not math.isfinite(alpha):
        raise RecnegError(f"alpha must be finite, got {alpha}; 0.75 is the word2vec default")
    seed = check_positive_int("seed", seed, allow_zero=True)
    if seed >= 1 << 63:
        raise RecnegError(f"seed must be below 2**63, got {seed}")
    if per not in PER:
        raise RecnegError(f"per must be one of {PER}, got {per!r}")
    if strategy not in STRATEGIES:
        raise RecnegError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if oversample != "auto":
        try:
            oversample = float(oversample)
        except (TypeError, ValueError):
            raise RecnegError(f"oversample must be 'auto' or a number >= 1, got {oversample!r}") from None
        if not oversample >= 1.0 or not math.isfinite(oversample):
            raise RecnegError(f"oversample must be 'auto' or a finite number >= 1, got {oversample}")
    try:
        shortfall_prob = float(shortfall_prob)
    except (TypeError, ValueError):
        raise RecnegError(f"shortfall_prob must be a number in (0, 0.5), got {shortfall_prob!r}") from None
    if not 0.0 < shortfall_prob < 0.5:
        raise RecnegError(f"shortfall_prob must lie in (0, 0.5), got {shortfall_prob}; 1e-9 is the default")
    return k, alpha, seed, per, bool(replace), oversample, shortfall_prob, strategy


def stream_budget(r_int: np.ndarray, k: int, replace: bool, oversample, shortfall_prob) -> np.ndarray:
    """Draw budget per group from its fixed-point acceptance rate ``r_int``."""
    r_int = np.asarray(r_int, dtype=np.int64)
    if oversample == "auto":
        thresholds, budgets = draws_table(k, shortfall_prob)
        j = np.searchsorted(-thresholds, -r_int, side="left")
        m = budgets[np.minimum(j, len(budgets) - 1)]
    else:
        with np.errstate(divide="ignore"):
            m = np.ceil((oversample * k * FIXED_POINT) / r_int.astype(np.float64))
        m = np.where(np.isfinite(m) & (m < NO_BUDGET), m, NO_BUDGET).astype(np.int64)
    return np.where(r_int > 0, m, NO_BUDGET)


def inclusion_probabilities(weights, k: int) -> np.ndarray:
    """Exact probability that each item is among ``k`` draws without replacement.

    For successive sampling (equivalently Efraimidis–Spirakis keys ``E_i / w_i``) item
    ``i`` is chosen iff fewer than ``k`` other keys are smaller than its own:

    ``pi_i = integral_0^inf w_i exp(-w_i t) P(#{j != i : E_j / w_j < t} <= k - 1) dt``,

    where the count is Poisson-binomial with success probabilities ``1 - exp(-w_j t)``.
    The integral is evaluated by adaptive quadrature for all items at once. These are the
    expected per-item frequencies of a without-replacement sampler, which differ from
    ``k * p_i`` for heavy items (a heavy item cannot be drawn twice).

    Parameters
    ----------
    weights : array-like of float, shape (n,)
        Positive weights of the admissible items.
    k : int
        Sample size, ``k <= n``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Inclusion probabilities; they sum to ``k``.

    Examples
    --------
    >>> pi = inclusion_probabilities([3.0, 1.0, 1.0], 1)  # one draw: plain p_i
    >>> np.round(pi, 6).tolist()
    [0.6, 0.2, 0.2]
    >>> round(float(inclusion_probabilities([5.0, 1.0, 1.0, 1.0], 2).sum()), 6)
    2.0
    """
    from scipy.integrate import quad_vec

    w = np.asarray(weights, dtype=np.float64)
    k = check_positive_int("k", k)
    if w.ndim != 1 or len(w) == 0 or not np.all(w > 0) or not np.all(np.isfinite(w)):
        raise RecnegError("weights must be a non-empty 1-d array of positive finite numbers")
    n = len(w)
    if k > n:
        raise RecnegError(f"k={k} exceeds the {n} items; a sample without replacement holds at most {n}")
    if k == n:
        return np.ones(n)
    scale = w.sum()
    w = w / scale  # keys then live on the scale t ~ k, whatever the weights' units

    def integrand(t: float) -> np.ndarray:
        below = -np.expm1(-w * t)  # P(key_j < t)
        # prefix[i] / suffix[i]: distribution (truncated at k - 1) of how many of the items
        # before / after i have keys below t; their convolution leaves item i out.
        prefix = np.zeros((n + 1, k))
        prefix[0, 0] = 1.0
        for i in range(n):  # a loop over items of one integrand call, not over samples
            prefix[i + 1] = prefix[i] * (1 - below[i])
            prefix[i + 1, 1:] += prefix[i, :-1] * below[i]
        suffix = np.zeros((n + 1, k))
        suffix[n, 0] = 1.0
        for i in range(n - 1, -1, -1):
            suffix[i] = suffix[i + 1] * (1 - below[i])
            suffix[i, 1:] += suffix[i + 1, :-1] * below[i]
        # P(others <= k - 1) = sum_{a + b <= k - 1} prefix[i, a] * suffix[i + 1, b]
        cum_suffix = np.cumsum(suffix[1:], axis=1)
        others = np.einsum("ia,ia->i", prefix[:n], cum_suffix[:, ::-1])
        return w * np.exp(-w * t) * others

    value, _ = quad_vec(integrand, 0.0, np.inf, epsabs=1e-12, epsrel=1e-10, limit=400)
    return np.clip(value, 0.0, 1.0)


# --- the in-memory engine ----------------------------------------------------------------
@dataclass
class _Stratum:
    gidx: np.ndarray      # catalogue indices of the stratum's items, ascending item id
    weight: np.ndarray
    p_hi: np.ndarray      # cumulative upper edge of each item's interval in (0, 1]
    log_q: np.ndarray
    pint: np.ndarray      # ceil(p * FIXED_POINT)
    top_int: int          # fixed-point mass of the k - 1 heaviest items


@dataclass
class _Groups:
    user_idx: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    stratum: np.ndarray   # index into the strata list
    budget: np.ndarray
    keys_route: np.ndarray
    extra: dict = field(default_factory=dict)


def _rows(position: int) -> str:
    """Where a value sits in an in-memory frame: its 1-based row."""
    return f"row {position + 1}"


def _shown(value) -> str:
    """A bad value as a message shows it: its repr, shortened to stay on one line."""
    value = value.item() if isinstance(value, np.generic) else value
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int_ids(frame: pd.DataFrame, col: str, what: str, where=_rows) -> np.ndarray:
    """The ``col`` column as int64 ids, or a one-line error naming the first bad value.

    ``where(position)`` says where the 0-based data row ``position`` is (``"row 3"``, or
    ``"line 4 of log.csv"`` for a file). Clean integer columns take the fast path; the
    slow path (object columns, floats, missing values) only reports the earliest bad row.
    """
    if col not in frame.columns:
        raise RecnegError(
            f"the input has no {what} column {col!r} (columns: {', '.join(map(str, frame.columns))}); "
            f"name it with --{what}-col"
        )
    series = frame[col]
    if isinstance(series, pd.DataFrame):
        raise RecnegError(f"{series.shape[1]} columns are named {col!r}; rename all but one")
    head = f"{what} column {col!r}"
    if pd.api.types.is_bool_dtype(series):
        first = int(np.flatnonzero(series.notna().to_numpy())[0]) if series.notna().any() else 0
        raise RecnegError(f"{head}, {where(first)}: {_shown(series.iloc[first])} is a boolean, "
                          f"not an integer id; store {what} ids as integers")
    missing = series.isna().to_numpy()
    if pd.api.types.is_integer_dtype(series) and not missing.any():
        if series.dtype.kind == "u":  # uint64 from a file: the top half does not fit int64
            values = series.to_numpy(np.uint64)
            too_big = np.flatnonzero(values > np.uint64(np.iinfo(np.int64).max))
            if len(too_big):
                at = int(too_big[0])
                raise RecnegError(f"{head}, {where(at)}: {int(values[at])} is outside the 64-bit "
                                  f"integer range; remap {what} ids to smaller integers")
        return series.to_numpy(dtype=np.int64)

    # Slow path: find the first row that is missing, not a number, not whole, or too large.
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.to_numpy(np.float64, na_value=np.nan)
    else:
        try:
            numbers = pd.to_numeric(series, errors="coerce")
        except (TypeError, ValueError):  # objects that are not scalars (lists, dicts)
            numbers = pd.Series(np.nan, index=series.index)
        if pd.api.types.is_integer_dtype(numbers) and not missing.any():
            return numbers.to_numpy(np.int64)  # all whole numbers: exact, no float detour
        numbers = numbers.to_numpy(np.float64, na_value=np.nan)
    not_number = np.isnan(numbers) & ~missing
    if series.dtype == object:  # True would pass as 1
        not_number |= series.map(type).isin([bool, np.bool_]).to_numpy()
    with np.errstate(invalid="ignore"):
        not_whole = np.isfinite(numbers) & (numbers != np.round(numbers))
        infinite = np.isinf(numbers)
        too_big = np.isfinite(numbers) & (np.abs(numbers) >= 2.0**53) & ~not_whole
    exact = {}
    if too_big.any() and not pd.api.types.is_numeric_dtype(series):
        # Text holds every digit: parse the large ids exactly (few rows, so a loop is fine).
        for at in np.flatnonzero(too_big):
            try:
                value = int(str(series.iloc[at]).strip())
            except ValueError:  # "1e17": a float in disguise, not exact
                continue
            if -(2**63) <= value < 2**63:
                exact[int(at)] = value
                too_big[at] = False
    bad = missing | not_number | not_whole | infinite | too_big
    if not bad.any():
        ids = numbers.astype(np.int64)
        ids[list(exact)] = list(exact.values())
        return ids
    at = int(np.flatnonzero(bad)[0])
    value = series.iloc[at]
    if missing[at]:
        n = int(missing.sum())
        rows = "1 row" if n == 1 else f"{n} rows"
        raise RecnegError(f"{head}, {where(at)}: the {what} id is missing ({rows} in all); "
                          "fill or drop those rows")
    if too_big[at] and abs(numbers[at]) >= 2.0**63:
        raise RecnegError(f"{head}, {where(at)}: {_shown(value)} is outside the 64-bit integer "
                          f"range; remap {what} ids to smaller integers")
    if too_big[at]:
        raise RecnegError(f"{head}, {where(at)}: {_shown(value)} is too large to be an exact id "
                          f"as a decimal number (|id| < 2**53); write {what} ids as plain integers")
    raise RecnegError(f"{head}, {where(at)}: {_shown(value)} is not an integer id; "
                      f"fix the row or remap {what} ids to integers")


def _check_present(frame: pd.DataFrame, columns: Sequence[str], where=_rows) -> None:
    """Raise naming the first missing value of any of ``columns`` (context columns)."""
    for col in columns:
        missing = frame[col].isna().to_numpy()
        if missing.any():
            at, n = int(np.flatnonzero(missing)[0]), int(missing.sum())
            rows = "1 row" if n == 1 else f"{n} rows"
            raise RecnegError(f"context column {col!r}, {where(at)}: the value is missing "
                              f"({rows} in all); fill or drop those rows")


def _weights(counts: np.ndarray, method: str, alpha: float) -> np.ndarray:
    if method == "uniform":
        return np.ones(len(counts), dtype=np.float64)
    return np.power(counts.astype(np.float64), alpha)


def _make_stratum(gidx: np.ndarray, counts: np.ndarray, method: str, alpha: float, k: int, replace: bool) -> _Stratum:
    w = _weights(counts, method, alpha)
    cum = np.cumsum(w)  # sequential sum in item order, like Spark's running window sum
    total = cum[-1]
    p = w / total
    pint = np.ceil(p * FIXED_POINT).astype(np.int64)
    top = 0 if replace or k == 1 else int(np.sort(pint)[::-1][: k - 1].sum())
    with np.errstate(divide="ignore"):
        log_q = np.log(p)
    return _Stratum(gidx=gidx, weight=w, p_hi=cum / total, log_q=log_q, pint=pint, top_int=top)


def _segment_sums(values: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``values`` over the contiguous segments starting at ``starts``."""
    out = np.zeros(n, dtype=np.int64)
    if len(values):
        nonempty = starts < len(values)
        out[nonempty] = np.add.reduceat(values, starts[nonempty])
        # reduceat returns values[start] for empty segments; those have equal starts.
        empty = np.append(starts[1:] == starts[:-1], False) & nonempty
        out[empty] = 0
    return out


@dataclass
class Shortfall:
    """The groups of a sampling run that received fewer than ``k`` negatives.

    A group falls short when it has fewer than ``k`` unseen items to draw from (without
    replacement), or none at all. ``table`` has one row per short group: its key columns
    (the user column, plus the item column and ``occurrence`` per interaction, or the
    context columns) and ``negatives``, the number it received; every group not listed
    received ``k``.
    """

    k: int
    groups: int
    unit: str  # "users", "interactions" or "(user, context) groups"
    table: pd.DataFrame

    @property
    def short(self) -> int:
        return len(self.table)

    @property
    def fewest(self) -> int:
        return int(self.table["negatives"].min()) if len(self.table) else self.k

    def example(self) -> str:
        """The key of a group with the fewest negatives, e.g. ``"user 7"``."""
        row = self.table.loc[self.table["negatives"].idxmin()]
        keys = [c for c in self.table.columns if c != "negatives"]
        return ", ".join([f"user {_shown(row[keys[0]])}", *(f"{c} {_shown(row[c])}" for c in keys[1:])])

    def describe(self) -> str:
        """``"2 of 2 users got fewer than 5 negatives (fewest: 0, for user 1)"``."""
        return (f"{self.short:,} of {self.groups:,} {self.unit} got fewer than {self.k} "
                f"{'negative' if self.k == 1 else 'negatives'} "
                f"(fewest: {self.fewest}, for {self.example()})")


def _shortfall_unit(method: str, per: str) -> str:
    if method == "context":
        return "(user, context) groups"
    return "users" if per == "user" else "interactions"


def memory_negative_arrays(
    frame: pd.DataFrame,
    k: int,
    *,
    method: str = "popularity",
    alpha: float = 0.75,
    per: str = "user",
    replace: bool = False,
    seed: int = 0,
    user_col: str = "user",
    item_col: str = "item",
    context_cols: Sequence[str] = ("segment", "week"),
    min_context_items: int | None = None,
    oversample="auto",
    shortfall_prob: float = 1e-9,
    strategy: str = "auto",
    chunk_rows: int = 4_000_000,
) -> dict[str, np.ndarray]:
    """Negatives for every group of an in-memory log, as a dict of column arrays.

    See :func:`memory_negatives` for the parameters; this variant skips building a
    DataFrame so that large outputs can be written (e.g. by pyarrow) without a copy.
    """
    return _memory_sample(
        frame, k, method=method, alpha=alpha, per=per, replace=replace, seed=seed,
        user_col=user_col, item_col=item_col, context_cols=context_cols,
        min_context_items=min_context_items, oversample=oversample,
        shortfall_prob=shortfall_prob, strategy=strategy, chunk_rows=chunk_rows,
    )[0]


def _memory_sample(
    frame: pd.DataFrame,
    k: int,
    *,
    method: str = "popularity",
    alpha: float = 0.75,
    per: str = "user",
    replace: bool = False,
    seed: int = 0,
    user_col: str = "user",
    item_col: str = "item",
    context_cols: Sequence[str] = ("segment", "week"),
    min_context_items: int | None = None,
    oversample="auto",
    shortfall_prob: float = 1e-9,
    strategy: str = "auto",
    chunk_rows: int = 4_000_000,
    k_name: str = "k",
    log_name: str = "the log",
) -> tuple[dict[str, np.ndarray], Shortfall]:
    """:func:`memory_negative_arrays` plus the :class:`Shortfall` of the run.

    ``k_name`` and ``log_name`` are how error messages call ``k`` and the log.
    """
    if method not in METHODS:
        raise RecnegError(f"method must be one of {METHODS}, got {method!r}")
    k, alpha, seed, per, replace, oversample, shortfall_prob, strategy = check_common(
        k, alpha, seed, per, replace, oversample, shortfall_prob, strategy
    )
    if method == "context" and per != "user":
        raise RecnegError("method='context' draws per (user, context); use per='user' with it")
    chunk_rows = check_positive_int("chunk_rows", chunk_rows)
    _check_distinct_columns(user_col, item_col, context_cols if method == "context" else ())
    users = _int_ids(frame, user_col, "user")
    items = _int_ids(frame, item_col, "item")
    if len(users) == 0:
        raise RecnegError("the interaction log is empty; nothing to sample negatives for")

    catalogue, item_gidx, global_counts = np.unique(items, return_inverse=True, return_counts=True)
    n_cat = len(catalogue)
    # The output arrays grow with k: refuse a k beyond the catalogue before allocating them.
    check_negatives_fit(k_name, k, n_cat, pool=f"distinct items in {log_name}")
    user_ids, user_idx = np.unique(users, return_inverse=True)
    n_users = len(user_ids)
    pos_keys = np.unique(user_idx * n_cat + item_gidx)  # sorted, grouped by user
    pos_user = pos_keys // n_cat
    pos_indptr = np.searchsorted(pos_user, np.arange(n_users + 1))

    strata = [_make_stratum(np.arange(n_cat), global_counts, method, alpha, k, replace)]
    global_pint = strata[0].pint
    user_mass = _segment_sums(global_pint[pos_keys % n_cat], pos_indptr[:-1], n_users)
    user_npos = np.diff(pos_indptr)

    if method == "context":
        groups, context_values = _context_groups(
            frame, context_cols, user_idx, item_gidx, n_cat, pos_keys, pos_indptr,
            user_mass, user_npos, strata, method, alpha, k, replace, min_context_items,
        )
    else:
        if per == "user":
            g_user = np.arange(n_users)
            g1 = np.zeros(n_users, dtype=np.int64)
            g2 = np.zeros(n_users, dtype=np.int64)
        else:
            pairs, pair_counts = np.unique(user_idx * n_cat + item_gidx, return_counts=True)
            g_user = np.repeat(pairs // n_cat, pair_counts)
            g1 = np.repeat(catalogue[pairs % n_cat], pair_counts)
            g2 = np.arange(len(g_user)) - np.repeat(np.cumsum(pair_counts) - pair_counts, pair_counts)
        stratum = np.zeros(len(g_user), dtype=np.int64)
        r_int = FIXED_POINT - user_mass[g_user] - strata[0].top_int
        groups = _Groups(g_user, g1, g2, stratum, np.zeros(0), np.zeros(0))
        groups.extra["r_int"] = r_int
        context_values = None

    n_strata_items = np.array([len(s.gidx) for s in strata], dtype=np.int64)
    budget = stream_budget(groups.extra["r_int"], k, replace, oversample, shortfall_prob)
    keys_cost = n_strata_items[groups.stratum] * (k if replace else 1)
    if strategy == "keys":
        keys_route = np.ones(len(budget), dtype=bool)
    elif strategy == "stream":
        keys_route = budget >= NO_BUDGET
    else:
        keys_route = budget >= keys_cost
    groups.budget, groups.keys_route = budget, keys_route

    n_groups = len(groups.user_idx)
    # Slot j of group g lives at g * k + j; unfilled slots (too few items) keep -1.
    out_item = np.full(n_groups * k, -1, dtype=np.int64)
    out_logq = np.empty(n_groups * k, dtype=np.float64)
    _stream_route(groups, strata, user_ids, pos_keys, n_cat, k, replace, seed, chunk_rows, out_item, out_logq)
    _keys_route(groups, strata, user_ids, catalogue, pos_keys, n_cat, k, replace, seed, chunk_rows, out_item, out_logq)

    filled = out_item >= 0
    received = filled.reshape(n_groups, k).sum(axis=1)
    short = np.flatnonzero(received < k)
    table = {user_col: user_ids[groups.user_idx[short]]}
    if method == "context":
        for col, values in zip(context_cols, context_values):
            table[col] = values[groups.g1[short] - 1]
    elif per == "interaction":
        table[item_col] = groups.g1[short]
        table["occurrence"] = groups.g2[short].astype(np.int32)
    table["negatives"] = received[short]
    shortfall = Shortfall(k, n_groups, _shortfall_unit(method, per), pd.DataFrame(table))
    rows = None if filled.all() else np.flatnonzero(filled)
    if rows is None:  # the common case: no copies of the big output arrays
        group = np.repeat(np.arange(n_groups), k)
        slot = np.tile(np.arange(k, dtype=np.int32), n_groups)
        negative_idx, log_q = out_item, out_logq
    else:
        group, slot = rows // k, (rows % k).astype(np.int32)
        negative_idx, log_q = out_item[rows], out_logq[rows]
    del out_item, out_logq
    result = {user_col: user_ids[groups.user_idx[group]]}
    if method == "context":
        ctx_id = groups.g1[group]
        for col, values in zip(context_cols, context_values):
            result[col] = values[ctx_id - 1]
    elif per == "interaction":
        result[item_col] = groups.g1[group]
        result["occurrence"] = groups.g2[group].astype(np.int32)
    result["negative"] = catalogue[negative_idx]
    result["slot"] = slot
    result["log_q"] = log_q
    if method == "context":
        result["source"] = np.where(groups.stratum[group] == 0, "global", "context")
    return result, shortfall


def _check_distinct_columns(user_col: str, item_col: str, context_cols: Sequence[str]) -> None:
    """One column cannot play two parts (user and item, or an id and a context)."""
    seen: dict[str, str] = {}
    for flag, col in [("--user-col", user_col), ("--item-col", item_col),
                      *[("--context-cols", c) for c in context_cols]]:
        if col in seen:
            both = f"{flag} names column {col!r} twice" if seen[col] == flag else f"{seen[col]} and {flag} both name column {col!r}"
            raise RecnegError(f"{both}; give each part its own column")
        seen[col] = flag


def _context_groups(frame, context_cols, user_idx, item_gidx, n_cat, pos_keys, pos_indptr,
                    user_mass, user_npos, strata, method, alpha, k, replace, min_context_items):
    context_cols = list(context_cols)
    if not context_cols:
        raise RecnegError("context_cols is empty; name the columns that define a context, e.g. ('segment', 'week')")
    for col in context_cols:
        if col not in frame.columns:
            raise RecnegError(f"the input has no context column {col!r} (columns: {', '.join(map(str, frame.columns))})")
    _check_present(frame, context_cols)
    min_items = 2 * k if min_context_items is None else check_positive_int("min_context_items", min_context_items)
    try:
        grouped = frame.groupby(context_cols, sort=True)
        ctx_id = grouped.ngroup().to_numpy(np.int64) + 1  # ids follow the sorted context values
    except TypeError:
        raise RecnegError(_mixed_types(frame, context_cols)) from None
    key_frame = grouped.size().index.to_frame(index=False)
    context_values = [key_frame[c].to_numpy() for c in context_cols]
    n_ctx = len(key_frame)

    ctx_pairs, ctx_counts = np.unique(ctx_id * n_cat + item_gidx, return_counts=True)
    pair_ctx, pair_item = ctx_pairs // n_cat, ctx_pairs % n_cat
    ctx_size = np.bincount(pair_ctx, minlength=n_ctx + 1)
    ctx_indptr = np.searchsorted(pair_ctx, np.arange(n_ctx + 2))
    stratum_of_ctx = np.zeros(n_ctx + 1, dtype=np.int64)
    big = np.flatnonzero(ctx_size >= min_items)
    for c in big:  # one stratum per large context; the loop is over contexts, not samples
        lo, hi = ctx_indptr[c], ctx_indptr[c + 1]
        stratum_of_ctx[c] = len(strata)
        strata.append(_make_stratum(pair_item[lo:hi], ctx_counts[lo:hi], method, alpha, k, replace))

    g_keys = np.unique(user_idx * (n_ctx + 1) + ctx_id)
    g_user, g_ctx = g_keys // (n_ctx + 1), g_keys % (n_ctx + 1)
    g_stratum = stratum_of_ctx[g_ctx]
    n_groups = len(g_keys)
    mass = user_mass[g_user].copy()
    npos = user_npos[g_user].copy()

    # Mass and count of each group's positives inside its context stratum: expand every
    # group by its user's positives and look them up in the stratum's (sorted) item list.
    local = np.flatnonzero(g_stratum > 0)
    if len(local):
        starts, ends = pos_indptr[g_user[local]], pos_indptr[g_user[local] + 1]
        lengths = ends - starts
        rep = np.repeat(np.arange(len(local)), lengths)
        offs = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos_item = pos_keys[np.repeat(starts, lengths) + offs] % n_cat
        s_of = g_stratum[local][rep]
        strat_keys = np.concatenate([s * n_cat + strata[s].gidx for s in range(1, len(strata))])
        strat_pint = np.concatenate([strata[s].pint for s in range(1, len(strata))])
        order = np.argsort(strat_keys)
        strat_keys, strat_pint = strat_keys[order], strat_pint[order]
        query = s_of * n_cat + pos_item
        at = np.clip(np.searchsorted(strat_keys, query), 0, len(strat_keys) - 1)
        hit = strat_keys[at] == query
        seg_starts = np.cumsum(lengths) - lengths
        mass[local] = _segment_sums(np.where(hit, strat_pint[at], 0), seg_starts, len(local))
        npos[local] = _segment_sums(hit.astype(np.int64), seg_starts, len(local))
        sizes = np.array([len(s.gidx) for s in strata], dtype=np.int64)
        n_stratum = sizes[g_stratum[local]]
        # A context that cannot offer k unseen items to this user: draw it globally.
        short = n_stratum - npos[local] < k
        fallback = local[short]
        g_stratum[fallback] = 0
        mass[fallback] = user_mass[g_user[fallback]]
        npos[fallback] = user_npos[g_user[fallback]]
    top = np.array([s.top_int for s in strata], dtype=np.int64)
    groups = _Groups(g_user, g_ctx, np.zeros(n_groups, dtype=np.int64), g_stratum, np.zeros(0), np.zeros(0))
    groups.extra["r_int"] = FIXED_POINT - mass - top[g_stratum]
    return groups, context_values


def _mixed_types(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """The message for context values that cannot be sorted: the first row of another type."""
    for col in columns:
        kinds = frame[col].map(lambda v: "number" if isinstance(v, (int, float, np.number)) and not
                               isinstance(v, (bool, np.bool_)) else type(v).__name__)
        other = np.flatnonzero((kinds != kinds.iloc[0]).to_numpy())
        if len(other):
            at = int(other[0])
            return (f"context column {col!r}, {_rows(at)}: {_shown(frame[col].iloc[at])} is a "
                    f"{kinds.iloc[at]} but row 1 holds a {kinds.iloc[0]} ({_shown(frame[col].iloc[0])}); "
                    "cast the column to one type")
    return f"context columns {list(columns)} hold values that cannot be sorted; cast them to one type"


def _chunks(cost: np.ndarray, limit: int):
    """Consecutive index ranges whose summed cost stays near ``limit`` (at least one item)."""
    if len(cost) == 0:
        return
    cum = np.cumsum(cost)
    start = 0
    while start < len(cost):
        base = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, base + limit, side="right")))
        yield start, stop
        start = stop


def _stream_route(groups, strata, user_ids, pos_keys, n_cat, k, replace, seed, chunk_rows, out_item, out_logq):
    sel = np.flatnonzero(~groups.keys_route)
    if len(sel) == 0:
        return
    budget = groups.budget[sel]
    for a, b in _chunks(budget, chunk_rows):
        idx = sel[a:b]
        m = budget[a:b]
        local = np.repeat(np.arange(len(idx)), m)
        draw = np.arange(len(local)) - np.repeat(np.cumsum(m) - m, m)
        gu = groups.user_idx[idx][local]
        u = hash_uniform(seed, SALT_STREAM, user_ids[gu], groups.g1[idx][local], groups.g2[idx][local], draw)
        s_of = groups.stratum[idx][local]
        gidx = np.empty(len(local), dtype=np.int64)
        logq = np.empty(len(local), dtype=np.float64)
        for s in np.unique(s_of):  # per stratum: inverse CDF by binary search
            rows = s_of == s
            at = np.searchsorted(strata[s].p_hi, u[rows], side="right")
            gidx[rows] = strata[s].gidx[at]
            logq[rows] = strata[s].log_q[at]
        query = gu * n_cat + gidx
        at = np.clip(np.searchsorted(pos_keys, query), 0, len(pos_keys) - 1)
        valid = pos_keys[at] != query
        if not replace:
            # Keep the first draw of each (group, item): a stable sort by item keeps draws
            # of one group in draw order.
            key = local * n_cat + gidx
            order = np.argsort(key, kind="stable")
            first = np.ones(len(key), dtype=bool)
            first[order[1:]] = key[order[1:]] != key[order[:-1]]
            valid &= first
        keep = np.flatnonzero(valid)  # already ordered by (group, draw)
        kept_group = local[keep]
        starts = np.searchsorted(kept_group, np.arange(len(idx)))
        slot = np.arange(len(keep)) - starts[kept_group]
        ok = slot < k
        target = idx[kept_group[ok]] * k + slot[ok]
        out_item[target] = gidx[keep[ok]]
        out_logq[target] = logq[keep[ok]]


def _keys_route(groups, strata, user_ids, catalogue, pos_keys, n_cat, k, replace, seed, chunk_rows, out_item, out_logq):
    sel = np.flatnonzero(groups.keys_route)
    for s in np.unique(groups.stratum[sel]):  # per stratum; groups are vectorised inside
        stratum = strata[s]
        in_s = sel[groups.stratum[sel] == s]
        n_s = len(stratum.gidx)
        per_group = n_s * (k if replace else 1)
        item_ids = catalogue[stratum.gidx]
        for a, b in _chunks(np.full(len(in_s), per_group), chunk_rows):
            idx = in_s[a:b]
            gu = groups.user_idx[idx]
            query = gu[:, None] * n_cat + stratum.gidx[None, :]
            at = np.clip(np.searchsorted(pos_keys, query), 0, len(pos_keys) - 1)
            blocked = pos_keys[at] == query
            uid, g1, g2 = user_ids[gu][:, None], groups.g1[idx][:, None], groups.g2[idx][:, None]
            if not replace:
                key = -np.log(hash_uniform(seed, SALT_KEYS, uid, g1, g2, item_ids[None, :])) / stratum.weight
                key[blocked] = np.inf
                take = min(k, n_s)
                order = np.argsort(key, axis=1, kind="stable")[:, :take]  # ties: lower item id
                chosen_key = np.take_along_axis(key, order, axis=1)
                rows, slot = np.nonzero(np.isfinite(chosen_key))
                target = idx[rows] * k + slot
                out_item[target] = stratum.gidx[order[rows, slot]]
                out_logq[target] = stratum.log_q[order[rows, slot]]
            else:
                draw = np.arange(k)[None, :, None]
                u = hash_uniform(seed, SALT_KEYS_REPLACE, uid[:, :, None], g1[:, :, None], g2[:, :, None], draw, item_ids[None, None, :])
                key = -np.log(u) / stratum.weight
                key[np.broadcast_to(blocked[:, None, :], key.shape)] = np.inf
                best = np.argmin(key, axis=2)  # first minimum: lower item id on ties
                finite = np.isfinite(np.take_along_axis(key, best[:, :, None], axis=2)[:, :, 0])
                rows, slot = np.nonzero(finite)
                target = idx[rows] * k + slot
                out_item[target] = stratum.gidx[best[rows, slot]]
                out_logq[target] = stratum.log_q[best[rows, slot]]


def memory_negatives(
    frame: pd.DataFrame,
    k: int,
    *,
    method: str = "popularity",
    alpha: float = 0.75,
    per: str = "user",
    replace: bool = False,
    seed: int = 0,
    user_col: str = "user",
    item_col: str = "item",
    context_cols: Sequence[str] = ("segment", "week"),
    min_context_items: int | None = None,
    oversample="auto",
    shortfall_prob: float = 1e-9,
    strategy: str = "auto",
    chunk_rows: int = 4_000_000,
) -> pd.DataFrame:
    """Draw ``k`` negatives per group from an in-memory interaction log.

    The single-machine engine of ``recneg sample``; it returns exactly what
    :func:`recneg.spark.popularity_negatives` (and its siblings) return for the same
    arguments, as a pandas DataFrame sorted by group and slot.

    Parameters
    ----------
    frame : pandas.DataFrame
        The (training) log, one row per interaction, with integer ``user_col`` and
        ``item_col`` (any integers; they are not remapped).
    k : int
        Negatives per group.
    method : {"uniform", "popularity", "context"}
        Uniform over the catalogue (the items of the log), popularity
        ``count ** alpha``, or popularity within the group's context (see ``context_cols``).
    alpha : float, default 0.75
        Popularity exponent (ignored by ``"uniform"``).
    per : {"user", "interaction"}
        One negative set per user, or one per interaction (row) of the log.
    replace : bool, default False
        Without replacement a group's ``k`` negatives are distinct (successive sampling);
        with replacement they are i.i.d. draws from the distribution restricted to the
        user's non-positives.
    seed : int
        Every random number is a hash of ``(seed, group, draw)``, so results do not depend
        on chunking or partitioning.
    context_cols : sequence of str
        With ``method="context"``, the columns that define a context (e.g. segment and
        week); a group is a (user, context) pair.
    min_context_items : int, optional
        Contexts with fewer distinct items (default ``2 * k``) draw from global popularity.
    oversample : "auto" or float
        ``"auto"`` sizes each group's draw budget so that it falls short of ``k``
        negatives with probability at most ``shortfall_prob``; a float ``f`` uses
        ``ceil(f * k / acceptance_rate)`` draws instead.
    shortfall_prob : float, default 1e-9
    strategy : {"auto", "stream", "keys"}
        Force the candidate stream or the exponential keys for every group; ``"auto"``
        picks the cheaper exact route per group.
    chunk_rows : int
        Candidates materialised at once (bounds the engine's working memory).

    Returns
    -------
    pandas.DataFrame
        Columns ``user_col``, then ``item_col`` and ``occurrence`` (per interaction) or the
        context columns (context method), then ``negative``, ``slot`` (draw order, 0-based),
        ``log_q`` (log-probability of the negative under one draw of the stratum's
        proposal, for logQ correction) and, for contexts, ``source`` (``"context"`` or
        ``"global"``).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user": [0, 0, 1, 2], "item": [1, 2, 2, 3]})
    >>> neg = memory_negatives(log, 1, method="uniform", seed=0)
    >>> neg.columns.tolist()
    ['user', 'negative', 'slot', 'log_q']
    >>> bool((neg.merge(log, left_on=["user", "negative"], right_on=["user", "item"]).empty))
    True
    """
    arrays = memory_negative_arrays(
        frame, k, method=method, alpha=alpha, per=per, replace=replace, seed=seed,
        user_col=user_col, item_col=item_col, context_cols=context_cols,
        min_context_items=min_context_items, oversample=oversample,
        shortfall_prob=shortfall_prob, strategy=strategy, chunk_rows=chunk_rows,
    )
    return pd.DataFrame(arrays)


# --- files -------------------------------------------------------------------------------
def input_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from a path's suffix (a directory of parquet parts counts)."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if name.endswith((".parquet", ".pq")) or (path.is_dir() and any(path.glob("*.parquet"))):
        return "parquet"
    raise RecnegError(f"cannot tell the format of {str(path)!r}; use a .csv or .parquet file")


def output_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise RecnegError(f"output {str(path)!r} must end in .csv or .parquet")


def read_interactions(path, columns: Sequence[str], *, ids: dict[str, str] | None = None) -> pd.DataFrame:
    """Read the ``columns`` of a csv or parquet log into pandas, checking every row.

    ``ids`` maps id columns to what they hold (``{"user": "user", "item": "item"}``); they
    come back as int64. Every requested column must be present and have no missing
    value. Bad input raises :class:`~recneg.RecnegError` naming the bad value and where it
    is: ``line N of FILE`` for csv (counting the header as line 1), ``row N`` (1-based)
    for parquet.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "log.csv"
    >>> pd.DataFrame({"user": [0], "item": [3], "x": [1.5]}).to_csv(path, index=False)
    >>> read_interactions(path, ["user", "item"]).columns.tolist()
    ['user', 'item']
    >>> _ = path.write_text("user,item\\n1,2\\n2,x\\n")
    >>> read_interactions(path, ["user", "item"], ids={"user": "user", "item": "item"})
    Traceback (most recent call last):
    ...
    recneg._errors.RecnegError: item column 'item', line 3 of .../log.csv: 'x' is not an integer id; fix the row or remap item ids to integers
    """
    path = Path(path)
    if not path.exists():
        raise RecnegError(f"input {str(path)!r} does not exist; check the path")
    columns = list(columns)
    if input_format(path) == "csv":
        frame, where = _read_csv(path, columns), _CsvLines(path)
    else:
        frame, where = _read_parquet(path, columns), _ParquetRows(path)
    return _checked(frame, path, columns, ids or {}, where)


def _checked(frame: pd.DataFrame, path: Path, columns: Sequence[str], ids: dict[str, str], where) -> pd.DataFrame:
    unclean = [c for c in ids if c in frame.columns and not pd.api.types.is_integer_dtype(frame[c])]
    if unclean and isinstance(where, _CsvLines):
        # Slow path: pandas turned the column into floats or text; read it again as text, so
        # that ids keep every digit and messages quote values as written.
        try:
            text = pd.read_csv(path, usecols=unclean, sep=_csv_sep(path), dtype=str, keep_default_na=True)
        except _CSV_ERRORS as error:
            raise _csv_errors(path, error) from None
        if len(text) == len(frame):
            for col in unclean:
                frame[col] = text[col].to_numpy(dtype=object)
    if frame.empty:
        raise RecnegError(f"{path} has a header but no data rows; nothing to sample negatives for")
    for col, what in ids.items():
        frame[col] = _int_ids(frame, col, what, where)
    _check_present(frame, [c for c in columns if c not in ids], where)
    return frame


def _opener(path: Path):
    import gzip

    return gzip.open if path.name.lower().endswith(".gz") else open


class _CsvLines:
    """``where(position)`` for a csv file: the line of 0-based data row ``position``.

    Found by scanning the file only when an error is reported; blank lines are skipped
    as pandas skips them, and the first non-blank line is the header.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, position: int) -> str:
        seen = -1  # the header
        with _opener(self.path)(self.path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if raw.strip():
                    seen += 1
                    if seen == position + 1:
                        return f"line {number} of {self.path}"
        return f"data row {position + 1} of {self.path}"


class _ParquetRows:
    """``where(position)`` for a parquet file: its 1-based row."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, position: int) -> str:
        return f"row {position + 1} of {self.path}"


def _csv_sep(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _not_utf8(path: Path) -> RecnegError:
    with _opener(path)(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return RecnegError(f"{path}, line {number}: byte 0x{raw[error.start]:02x} is not "
                                   "UTF-8 text; save the file as UTF-8")
    return RecnegError(f"{path} is not UTF-8 text; save it as UTF-8")


def _cannot_read(path: Path, fmt: str, error: BaseException) -> RecnegError:
    detail = " ".join(str(error).split()) or type(error).__name__
    detail = detail.split("C error: ")[-1]
    quote = re.fullmatch(r"EOF inside string starting at row (\d+)", detail)
    if quote:  # pandas counts records from 0, the header included
        return RecnegError(f"{path}, line {int(quote.group(1)) + 1}: a quoted field is never closed; "
                           "add the closing quote")
    return RecnegError(f"cannot read {path} as {fmt}: {detail}; fix the file")


def _missing_column(path: Path, present: Sequence, col: str) -> RecnegError:
    hint = "rename it or pass --user-col/--item-col/--context-cols"
    if len(present) == 1:
        for sep in (";", "\t", "|", ",", " "):
            if sep in str(present[0]) and sep != _csv_sep(path):
                kind = "tab" if sep == "\t" else repr(sep)
                hint = (f"the header looks {kind}-separated; recneg reads comma-separated .csv "
                        "and tab-separated .tsv files")
                break
    if present and all(pd.notna(pd.to_numeric(pd.Series([str(c) for c in present]), errors="coerce"))):
        hint = "the first line looks like data, not a header; add a header line such as user,item"
    shown = ", ".join(_shown(str(c))[1:-1] for c in present) or "none"
    return RecnegError(f"{path} has no column {col!r} (columns: {shown}); {hint}")


def _csv_errors(path: Path, error: BaseException) -> RecnegError:
    """A pandas error while reading ``path`` as one line."""
    if isinstance(error, RecnegError):
        return error
    if isinstance(error, pd.errors.EmptyDataError):
        return RecnegError(f"{path} is empty; write a header line (e.g. user,item) and one row per interaction")
    if isinstance(error, UnicodeDecodeError):
        return _not_utf8(path)
    return _cannot_read(path, "csv", error)


_CSV_ERRORS = (OSError, ValueError, pd.errors.ParserError)


def _csv_header(path: Path, columns: Sequence[str]) -> list[str]:
    """The header of a csv file, after checking that it names every one of ``columns``."""
    if path.is_file() and path.stat().st_size == 0:
        raise _csv_errors(path, pd.errors.EmptyDataError())
    try:
        present = list(pd.read_csv(path, nrows=0, sep=_csv_sep(path)).columns)
    except _CSV_ERRORS as error:
        raise _csv_errors(path, error) from None
    missing = [c for c in columns if c not in present]
    if missing:
        raise _missing_column(path, present, missing[0])
    return present


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    _csv_header(path, columns)
    try:
        return pd.read_csv(path, usecols=columns, sep=_csv_sep(path))[columns]
    except _CSV_ERRORS as error:
        raise _csv_errors(path, error) from None


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RecnegError("reading parquet needs pyarrow; pip install pyarrow or pass a .csv file") from None
    try:
        present = list(pq.read_schema(path).names) if path.is_file() else list(pq.ParquetDataset(path).schema.names)
        missing = [c for c in columns if c not in present]
        if missing:
            raise _missing_column(path, present, missing[0])
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, pa.ArrowException) as error:
        if isinstance(error, RecnegError):
            raise
        raise _cannot_read(path, "parquet", error) from None


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")


def replace_path(tmp: Path, final: Path) -> None:
    """Move a finished ``tmp`` file or directory onto ``final``.

    An existing file is replaced atomically; an existing directory is only removed when it
    is itself a Spark-style output (``_SUCCESS`` or only ``part-*`` files), never an
    arbitrary folder.
    """
    if final.is_dir() and not final.is_symlink():
        names = [p.name for p in final.iterdir()]
        spark_like = "_SUCCESS" in names or all(
            n.startswith(("part-", ".part-", "_")) or n.endswith(".crc") for n in names
        )
        if not spark_like:
            raise RecnegError(f"output {str(final)!r} is an existing directory that is not a previous output; choose another path")
        shutil.rmtree(final)
    elif final.exists() and tmp.is_dir():
        final.unlink()
    os.replace(tmp, final)


def write_table(columns: dict[str, np.ndarray], path) -> None:
    """Write column arrays to ``path`` (.csv or .parquet) through a temporary file.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "neg.csv"
    >>> write_table({"user": np.array([0]), "negative": np.array([7])}, out)
    >>> out.read_text().splitlines()
    ['user,negative', '0,7']
    """
    path = Path(path)
    fmt = output_format(path)
    if not path.parent.exists():
        raise RecnegError(f"the output folder {str(path.parent)!r} does not exist; create it first")
    tmp = _temporary_sibling(path)
    try:
        if fmt == "parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise RecnegError("writing parquet needs pyarrow; pip install pyarrow or write .csv") from None
            # pyarrow wraps the numpy arrays without copying them (pandas would consolidate).
            pq.write_table(pa.table({name: pa.array(values) for name, values in columns.items()}), tmp)
        else:
            pd.DataFrame(columns, copy=False).to_csv(tmp, index=False)
        replace_path(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()


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


def shortfall_path(output_path) -> Path:
    """Where ``recneg sample`` lists the groups that got fewer than k negatives."""
    output_path = Path(output_path)
    return output_path.with_name(output_path.name + ".shortfall.csv")


def _spark_unavailable_reason() -> str | None:
    try:
        from . import spark as _spark

        _spark.require_pyspark()
        _spark.require_java()
    except RecnegError as exc:
        return str(exc)
    return None


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
    :func:`shortfall_path` (``<output>.shortfall.csv``, written atomically after the
    output; a stale one from an earlier run is removed). With ``strict=True`` a
    shortfall raises :class:`~recneg.RecnegError` instead and nothing is written.

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
    k = check_positive_int("k", k)
    if method not in METHODS:
        raise RecnegError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if engine not in ENGINES:
        raise RecnegError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    check_common(k, alpha, seed, per, replace, "auto", 1e-9, "auto")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise RecnegError(f"input {str(input_path)!r} does not exist; check the path")
    input_format(input_path)
    output_format(output_path)
    if not output_path.parent.exists():
        raise RecnegError(f"the output folder {str(output_path.parent)!r} does not exist; create it first")
    if input_path.resolve() == output_path.resolve():
        raise RecnegError("--output must differ from --input")
    context_cols = tuple(context_cols) if method == "context" else ()
    _check_distinct_columns(user_col, item_col, context_cols)

    note = ""
    chosen = engine
    if engine == "auto":
        size = sum(p.stat().st_size for p in input_path.rglob("*") if p.is_file()) if input_path.is_dir() else input_path.stat().st_size
        chosen = "memory"
        if size > spark_threshold_bytes:
            reason = _spark_unavailable_reason()
            if reason is None:
                chosen = "spark"
            else:
                note = f"input is {size / 2**20:.0f} MiB but Spark is unavailable: {reason}"
    sidecar = shortfall_path(output_path)
    if chosen == "memory":
        frame = read_interactions(input_path, [user_col, item_col, *context_cols],
                                  ids={user_col: "user", item_col: "item"})
        columns, shortfall = _memory_sample(
            frame, k, method=method, alpha=alpha, per=per, replace=replace, seed=seed,
            user_col=user_col, item_col=item_col, context_cols=context_cols or ("segment", "week"),
            k_name="--k", log_name=str(input_path),
        )
        del frame
        _refuse_if_strict(shortfall, strict, k)
        write_table(columns, output_path)
        rows = len(columns["negative"])
    else:
        rows, shortfall = _spark_sample(
            input_path, output_path, k=k, method=method, alpha=alpha, seed=seed, per=per,
            replace=replace, user_col=user_col, item_col=item_col, context_cols=context_cols,
            master=spark_master, driver_memory=driver_memory, strict=strict,
        )
    if shortfall.short:
        write_table({c: shortfall.table[c].to_numpy() for c in shortfall.table.columns}, sidecar)
    elif sidecar.is_file():
        sidecar.unlink()  # it described the output this run replaced
    return SampleSummary(chosen, str(output_path), rows, time.perf_counter() - started, note,
                         shortfall, str(sidecar) if shortfall.short else None)


def _refuse_if_strict(shortfall: Shortfall, strict: bool, k: int) -> None:
    if not strict or not shortfall.short:
        return
    fewest = shortfall.fewest
    fix = (f"pass --k {fewest} or less" if fewest else
           f"drop the {shortfall.unit} that have interacted with every item")
    raise RecnegError(f"{shortfall.describe()} and --strict is set, so nothing was written; "
                      f"{fix}, or drop --strict to write what exists")


def _spark_sample(input_path: Path, output_path: Path, *, k, method, alpha, seed, per, replace,
                  user_col, item_col, context_cols, master, driver_memory, strict) -> tuple[int, Shortfall]:
    """The Spark engine: check the input, sample into a temporary sibling, count, rename."""
    from . import spark as _spark

    F, _ = _spark.require_pyspark()
    if input_path.is_file() and input_format(input_path) == "csv":
        _csv_header(input_path, [user_col, item_col, *context_cols])  # the memory engine's messages
    spark = _spark.spark_session(master, driver_memory=driver_memory)
    reader = spark.read
    try:
        if input_format(input_path) == "csv":
            df = reader.option("header", True).option("inferSchema", True).csv(str(input_path))
        else:
            df = reader.parquet(str(input_path))
    except Exception as exc:  # AnalysisException and friends: report them on one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RecnegError(f"Spark cannot read {str(input_path)!r}: {first}") from None
    wanted = [user_col, item_col, *context_cols]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise _missing_column(input_path, df.columns, missing[0])
    integral = {"tinyint", "smallint", "int", "bigint"}
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    group_cols = {"user": [user_col], "interaction": [user_col, item_col]}[per] if method != "context" else [user_col, *context_cols]
    stats = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(item_col).alias("items"),
        F.countDistinct(*group_cols).alias("groups"),
        *[F.count(F.when(F.col(c).isNull(), 1)).alias(f"null_{i}") for i, c in enumerate(wanted)],
    ).first()
    if types[user_col] not in integral or types[item_col] not in integral or any(
        stats[f"null_{i}"] for i in range(len(wanted))
    ):
        # A bad value somewhere: the in-memory validator names it and its line (error path only).
        _first_bad_row(input_path, wanted, {user_col: "user", item_col: "item"})
    if stats["rows"] == 0:
        raise RecnegError(f"{input_path} has a header but no data rows; nothing to sample negatives for")
    check_negatives_fit("--k", k, stats["items"], pool=f"distinct items in {input_path}")
    n_groups = stats["rows"] if per == "interaction" and method != "context" else stats["groups"]

    tmp = output_path.with_name(f".{output_path.stem}.tmp-{uuid.uuid4().hex[:12]}{output_path.suffix}")
    try:
        rows = _spark.sample_files(
            input_path, tmp, k=k, method=method, alpha=alpha, seed=seed, per=per,
            replace=replace, user_col=user_col, item_col=item_col, context_cols=context_cols,
            master=master, driver_memory=driver_memory, spark=spark,
        )
        table = pd.DataFrame({c: [] for c in [*group_cols, "negatives"]})
        if rows < n_groups * k:  # no group gets more than k, so only then can one be short
            table = _spark_short_groups(F, spark, df, tmp, k, per, method, user_col, item_col, context_cols)
        shortfall = Shortfall(k, int(n_groups), _shortfall_unit(method, per), table)
        _refuse_if_strict(shortfall, strict, k)
        replace_path(tmp, output_path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    return rows, shortfall


def _spark_short_groups(F, spark, df, written: Path, k, per, method, user_col, item_col, context_cols) -> pd.DataFrame:
    """Every group of the input with fewer than ``k`` rows in the written output."""
    if method == "context":
        keys = [user_col, *context_cols]
        groups = df.select(*keys).distinct()
    elif per == "interaction":
        keys = [user_col, item_col, "occurrence"]
        groups = (df.groupBy(user_col, item_col).count()
                  .withColumn("occurrence", F.explode(F.sequence(F.lit(0), F.col("count") - 1)))
                  .drop("count"))
    else:
        keys = [user_col]
        groups = df.select(user_col).distinct()
    if output_format(written) == "parquet":
        out = spark.read.parquet(str(written))
    else:
        out = spark.read.option("header", True).csv(str(written))
    types = dict(groups.dtypes)
    counts = (out.select(*[F.col(c).cast(types[c]).alias(c) for c in keys])
              .groupBy(*keys).agg(F.count(F.lit(1)).alias("negatives")))
    short = (groups.join(counts, on=keys, how="left").fillna(0, subset=["negatives"])
             .filter(F.col("negatives") < k).orderBy(*keys))
    columns = [*keys, "negatives"]
    return pd.DataFrame.from_records([tuple(row) for row in short.collect()], columns=columns)


def _first_bad_row(path: Path, columns: Sequence[str], ids: dict[str, str]) -> None:
    """Raise the in-memory engine's one-line error for the first bad row of ``path``.

    Reads the file in chunks, so it also serves inputs too large for memory; returns
    silently when every row is fine.
    """
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", "."))) if path.is_dir() else [path]
    for part in files:
        try:
            if input_format(path) == "csv":
                where = _CsvLines(part)
                _csv_header(part, columns)
                chunks = pd.read_csv(part, usecols=list(columns), sep=_csv_sep(part), chunksize=1_000_000,
                                     dtype={c: str for c in ids})  # text keeps every digit
            else:
                import pyarrow.parquet as pq

                where = _ParquetRows(part)
                chunks = (batch.to_pandas() for batch in
                          pq.ParquetFile(part).iter_batches(1_000_000, columns=list(columns)))
            offset = 0
            for chunk in chunks:
                _checked(chunk.reset_index(drop=True), part, columns, ids,
                         lambda position, offset=offset: where(position + offset))
                offset += len(chunk)
        except _CSV_ERRORS as error:
            if isinstance(error, RecnegError):
                raise
            raise _csv_errors(part, error) if input_format(path) == "csv" else _cannot_read(part, "parquet", error) from None
