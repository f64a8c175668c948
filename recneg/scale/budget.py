"""The stream route's draw budget: how many i.i.d. draws find ``k`` admissible items.

A group whose draws are admissible with probability at least ``r`` (its *acceptance
rate*) finds ``k`` negatives among ``m`` draws unless ``Binomial(m, r) < k``; the budget is
the smallest ``m`` for which that has probability at most ``shortfall_prob``. Rates are
fixed-point integers (:data:`FIXED_POINT` units per 1), so that the per-user mass of
positives is an exact integer sum whatever the partitioning, and both engines look the
budget up in the same table (:func:`draws_table`). Why ``r`` bounds the acceptance rate is
explained in the scale chapter (``notebooks/11_scale.ipynb``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["draws_table", "stream_budget", "FIXED_POINT", "NO_BUDGET"]

#: Probabilities are compared in fixed point with this many units per 1, so that the
#: per-user "mass of positives" is an exact integer sum (independent of partitioning).
FIXED_POINT = 1 << 40
#: The draws table has ``GRID`` entries per halving of the acceptance rate.
GRID = 32
#: Acceptance rates below ``2 ** -(GRID_STEPS / GRID)`` always use the keys route.
GRID_STEPS = GRID * 24
#: Budget that marks "no finite stream budget": such groups use the keys route.
NO_BUDGET = 1 << 62


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


def stream_budget(r_int: np.ndarray, k: int, oversample, shortfall_prob: float) -> np.ndarray:
    """Draw budget per group from its fixed-point acceptance rate ``r_int``.

    ``oversample="auto"`` looks the budget up in :func:`draws_table`; a number ``f``
    gives ``ceil(f * k / r)``. A rate of 0 (or a budget beyond :data:`NO_BUDGET`) gets
    :data:`NO_BUDGET`: such a group takes the keys route.

    Examples
    --------
    >>> stream_budget([FIXED_POINT, FIXED_POINT // 2, 0], 5, 2.0, 1e-9).tolist() == [10, 20, NO_BUDGET]
    True
    """
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
