"""Self-checks for the exercises of "Negative sampling at scale".

* :func:`check_es_sample` — weighted sampling without replacement with exponential keys
  (exercise ``ex-scale-es``);
* :func:`check_stream_budget` — the number of i.i.d. draws a group needs so that it finds
  ``k`` admissible negatives except with a small probability (``ex-scale-budget``);
* :func:`check_logq_correction` — turning the scores of a classifier trained on
  popularity-sampled negatives back into scores that rank like ``log p(item | user)``
  (``ex-scale-logq``).

Examples
--------
>>> import numpy as np
>>> def es_sample(weights, k, rng):
...     weights = np.asarray(weights, dtype=float)
...     with np.errstate(divide="ignore"):
...         keys = rng.exponential(size=len(weights)) / weights
...     return np.argsort(keys)[:k]
>>> check_es_sample(es_sample)
✓ ex-scale-es passed: first draws and ordered pairs match successive sampling
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ._feedback import as_array, call_answer, check_distribution, expect, fail, passed

__all__ = ["check_es_sample", "check_stream_budget", "check_logq_correction"]

# A small catalogue with one heavy item, a zero-weight item (never drawable) and ties.
_WEIGHTS = np.array([6.0, 3.0, 0.0, 1.0, 1.0, 0.5])
_N_DRAWS = 12_000


def _successive_pairs(weights: np.ndarray) -> np.ndarray:
    """P(first = a, second = b) under successive sampling, shape (n, n)."""
    p = weights / weights.sum()
    rest = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(rest[:, None] > 0, p[None, :] / rest[:, None], 0.0)
    pairs = p[:, None] * second
    np.fill_diagonal(pairs, 0.0)
    return pairs


def check_es_sample(es_sample) -> None:
    """Exercise ``ex-scale-es``: ``es_sample(weights, k, rng)`` with exponential keys.

    The answer must return ``k`` distinct indices into ``weights`` in draw order (the
    smallest key first), never an index of weight 0, and its first two draws must follow
    successive sampling: ``P(a, b) = w_a / W * w_b / (W - w_a)``.
    """
    rng = np.random.default_rng(2024)
    n = len(_WEIGHTS)
    firsts = np.empty(_N_DRAWS, dtype=np.int64)
    pairs = np.empty(_N_DRAWS, dtype=np.int64)
    for t in range(_N_DRAWS):
        drawn = as_array(call_answer(es_sample, _WEIGHTS.copy(), 2, rng, name="es_sample"), "sample")
        if t == 0:
            expect(drawn.shape == (2,),
                   f"Your es_sample(weights, 2, rng) returned shape {drawn.shape}; expected (2,): "
                   "k indices, smallest key first.",
                   hint="Return np.argsort(keys)[:k], not the keys or a boolean mask.")
            expect(np.issubdtype(drawn.dtype, np.integer),
                   f"Your es_sample returned {drawn.dtype} values; return integer indices into weights.",
                   hint="np.argsort gives integer positions; return those, not the keys.")
        if drawn.min() < 0 or drawn.max() >= n:
            fail(f"Your es_sample returned index {int(drawn.max() if drawn.max() >= n else drawn.min())}, "
                 f"outside 0..{n - 1}.")
        if drawn[0] == drawn[1]:
            fail(f"Your es_sample returned item {int(drawn[0])} twice in one sample; sampling "
                 "without replacement gives distinct items.",
                 hint="Give every item one key and sort the keys; do not draw k times from p.")
        if (_WEIGHTS[drawn] == 0).any():
            bad = int(drawn[_WEIGHTS[drawn] == 0][0])
            fail(f"Your es_sample returned item {bad}, whose weight is 0. A zero weight must "
                 "never be drawn: its key -log(u) / 0 is +inf.",
                 hint="Divide by the weight (keys = E / w) and silence the division warning; "
                      "do not add a small epsilon to the weights.")
        firsts[t] = drawn[0]
        pairs[t] = drawn[0] * n + drawn[1]

    p = _WEIGHTS / _WEIGHTS.sum()
    freq = np.bincount(firsts, minlength=n) / _N_DRAWS
    heavy, light = int(np.argmax(p)), 5
    if freq[heavy] < freq[light]:
        fail(f"Your first draw is item {heavy} (weight {_WEIGHTS[heavy]:g}) {freq[heavy]:.1%} of the "
             f"time and item {light} (weight {_WEIGHTS[light]:g}) {freq[light]:.1%}: light items win. "
             "You keep the largest keys -log(u)/w, or multiply by the weight.",
             hint="Keys are E_i / w_i with E_i ~ Exp(1); the k SMALLEST keys win.")
    check_distribution(firsts, p, name="first draw", alpha=1e-4,
                       hint="The first draw must be item i with probability w_i / W; "
                            "keys u / w or u ** w do not give that, -log(u) / w does.")
    check_distribution(pairs, _successive_pairs(_WEIGHTS).reshape(-1), name="ordered pair (first, second)",
                       alpha=1e-4,
                       hint="Return the indices in key order (smallest first): the second draw is "
                            "the second-smallest key, not an arbitrary other item.")
    passed("ex-scale-es", "first draws and ordered pairs match successive sampling")


_BUDGET_CASES = [
    (1.0, 5, 1e-9),
    (0.5, 20, 1e-9),
    (0.9, 20, 1e-6),
    (0.2, 10, 1e-3),
    (0.05, 3, 1e-9),
]


def _reference_budget(r: float, k: int, delta: float) -> int:
    if r >= 1.0:
        return k
    m = k
    # Start near the normal approximation and walk to the exact smallest m.
    while stats.binom.cdf(k - 1, m, r) > delta:
        m = max(m + 1, int(m * 1.05))
    while m > k and stats.binom.cdf(k - 1, m - 1, r) <= delta:
        m -= 1
    return m


def check_stream_budget(stream_budget) -> None:
    """Exercise ``ex-scale-budget``: the smallest ``m`` with ``P(Binomial(m, r) < k) <= delta``.

    ``stream_budget(r, k, delta)`` is called on a few fixed cases and compared with the
    exact binomial answer.
    """
    for r, k, delta in _BUDGET_CASES:
        got = call_answer(stream_budget, r, k, delta, name="stream_budget")
        got_array = as_array(got, "budget")
        expect(got_array.size == 1,
               f"Your stream_budget({r}, {k}, {delta:g}) returned {got_array.size} numbers; return one integer.")
        value = float(got_array.reshape(-1)[0])
        expect(math.isfinite(value) and value == round(value),
               f"Your stream_budget({r}, {k}, {delta:g}) returned {value!r}; a number of draws is a whole number.",
               hint="Round up with math.ceil, or search over integers.")
        m = int(round(value))
        want = _reference_budget(r, k, delta)
        if m == want:
            continue
        if m < k:
            fail(f"Your stream_budget({r}, {k}, {delta:g}) is {m}, fewer draws than the {k} negatives "
                 "they must yield.")
        shortfall = float(stats.binom.cdf(k - 1, m, r))
        if m == math.ceil(k / r) and m < want:
            fail(f"Your stream_budget({r}, {k}, {delta:g}) is {m} = ceil(k / r), the draws needed on "
                 f"AVERAGE: with it a group falls short of {k} negatives with probability "
                 f"{shortfall:.2g}, far above delta = {delta:g}.",
                 hint="Search for the smallest m with scipy.stats.binom.cdf(k - 1, m, r) <= delta.")
        if m < want:
            fail(f"Your stream_budget({r}, {k}, {delta:g}) is {m}: with {m} draws a group finds fewer "
                 f"than {k} negatives with probability {shortfall:.2g} > delta = {delta:g}.",
                 hint="Fewer than k successes is binom.cdf(k - 1, m, r), not binom.cdf(k, m, r).")
        smaller = float(stats.binom.cdf(k - 1, m - 1, r))
        fail(f"Your stream_budget({r}, {k}, {delta:g}) is {m}; it is safe, but {m - 1} draws are "
             f"already enough (shortfall probability {smaller:.2g} <= {delta:g}). The budget is the "
             "SMALLEST such m: every extra draw is a row Spark must generate.",
             hint="Check the inequality with <=, and stop at the first m that satisfies it.")
    passed("ex-scale-budget", f"all {len(_BUDGET_CASES)} budgets are the smallest safe ones")


def check_logq_correction(corrected) -> None:
    """Exercise ``ex-scale-logq``: ``corrected(logit, log_q)`` must rank like ``logit + log_q``.

    ``logit`` has shape ``(B, n)`` (one row per user), ``log_q`` shape ``(n,)``. Any
    answer that orders every row like the reference passes (adding a constant or applying
    a monotone function changes no ranking).
    """
    rng = np.random.default_rng(7)
    n_users, n_items = 6, 40
    log_q = np.log(rng.dirichlet(np.full(n_items, 0.3)))
    logit = rng.normal(0.0, 1.0, (n_users, n_items)) - 0.8 * log_q[None, :]
    got = as_array(call_answer(corrected, logit.copy(), log_q.copy(), name="corrected"), "corrected scores")
    expect(got.shape == logit.shape,
           f"Your corrected(logit, log_q) has shape {got.shape}; expected {logit.shape}, one score per "
           "(user, item).", hint="Broadcast log_q over the rows: logit + log_q[None, :].")
    got = got.astype(np.float64)
    reference = logit + log_q[None, :]

    def same_order(a, b):
        return all(stats.spearmanr(a[r], b[r]).statistic > 0.999999 for r in range(n_users))

    if same_order(got, reference):
        passed("ex-scale-logq", "the corrected scores rank items like log p(item | user)")
        return
    if same_order(got, logit - log_q[None, :]):
        fail("Your correction subtracts log q. Training on popularity negatives already made the "
             "logit about log p(i|u) - log q(i); subtracting log q again pushes popular items down twice.",
             hint="Undo the proposal: add log q back.")
    if same_order(got, logit):
        fail("Your corrected scores rank items exactly like the raw logits: the correction is missing.",
             hint="Add log_q (one value per item) to every row of logits.")
    fail("Your corrected scores do not order the items of every user like logit + log q.",
         hint="Work with logits (log-odds), not probabilities, and add log_q per item.")
