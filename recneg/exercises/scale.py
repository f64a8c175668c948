"""Self-checks for the exercises of "Negative sampling at scale".

* :func:`check_es_sample` — weighted sampling without replacement with exponential keys
  (exercise ``ex-scale-es``);
* :func:`check_stream_budget` — the number of i.i.d. draws a group needs so that it finds
  ``k`` admissible negatives except with a small probability (``ex-scale-budget``);
* :func:`check_logq_correction` — turning the scores of a classifier trained on
  popularity-sampled negatives back into scores that rank like ``log p(item | user)``
  (``ex-scale-logq``);
* :func:`check_prediction` — a prediction written down, then the change of Spark's time
  per negative when the log grows fourfold (``ex-scale-predict``);
* :func:`check_critique` — the flaws of a scale-out recipe (``ex-scale-critique``).

A failing check says which mistake the answer looks like; it never prints the expected
value.

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
import pandas as pd
from scipy import stats

from ._feedback import (as_array, as_number, call_answer, check_distribution, check_flaws, check_prediction_recorded,
                        expect, fail, passed)
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_es_sample", "check_stream_budget", "check_logq_correction",
           "check_prediction", "check_critique"]

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
                   hint="Return the indices of the k smallest keys, not the keys or a boolean mask.")
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
    """Exercise ``ex-scale-budget``: the smallest ``D`` with ``P(Binomial(D, ψ) < k) <= ε``.

    ``stream_budget(psi, k, eps)`` is called on a few fixed cases and compared with the
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
            fail(f"Your stream_budget({r}, {k}, {delta:g}) is {m} = ceil(k / ψ), the draws needed on "
                 f"AVERAGE: with it a group falls short of {k} negatives with probability "
                 f"{shortfall:.2g}, far above ε = {delta:g}.",
                 hint="The budget bounds the probability of a shortfall, not the mean: search over m for the "
                      "first one whose probability of fewer than k successes is at most ε.")
        if m < want:
            fail(f"Your stream_budget({r}, {k}, {delta:g}) is {m}: with {m} draws a group finds fewer "
                 f"than {k} negatives with probability {shortfall:.2g} > ε = {delta:g}.",
                 hint="Fewer than k successes is binom.cdf(k - 1, D, psi), not binom.cdf(k, D, psi).")
        smaller = float(stats.binom.cdf(k - 1, m - 1, r))
        fail(f"Your stream_budget({r}, {k}, {delta:g}) is {m}; it is safe, but {m - 1} draws are "
             f"already enough (shortfall probability {smaller:.2g} <= {delta:g}). The budget is the "
             "SMALLEST such D: every extra draw is a row Spark must generate.",
             hint="Check the inequality with <=, and stop at the first D that satisfies it.")
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


_TIMING_COLUMNS = ("interactions", "negatives", "seconds")


def _two_runs(timings) -> pd.DataFrame:
    """The timing table of ex-scale-predict, smaller log first, after checking its shape."""
    expect(isinstance(timings, pd.DataFrame) and set(_TIMING_COLUMNS) <= set(timings.columns),
           f"Your timings is a {type(timings).__name__}; the check wants a DataFrame with the columns "
           f"{list(_TIMING_COLUMNS)}, one row per run.",
           hint="Collect one dict per run and build pd.DataFrame(rows).")
    expect(len(timings) == 2 and timings["interactions"].nunique() == 2,
           f"Your timings has {len(timings)} row(s) for {timings['interactions'].nunique()} log size(s); "
           "the exercise times one run on each of two log sizes.")
    runs = timings.sort_values("interactions").reset_index(drop=True)
    values = runs[list(_TIMING_COLUMNS)].to_numpy(dtype=float)
    expect(bool(np.isfinite(values).all() and (values > 0).all()),
           "Every run in your timings needs a positive number of interactions, negatives and seconds.",
           hint="Store len() of the sampled negatives and the wall time of the call that produced them.")
    return runs


def check_prediction(prediction, change_us, timings) -> None:
    """Exercise ``ex-scale-predict``: a prediction written down, then the change measured.

    ``timings`` has one row per run of :func:`recneg.scale.spark.popularity_negatives`, on
    a log and on a log four times its size, with the columns ``interactions``,
    ``negatives`` (rows produced) and ``seconds`` (wall time). ``change_us`` is the larger
    log's microseconds per negative minus the smaller log's. Any prediction passes; the
    check only requires one to be written down first.
    """
    check_prediction_recorded(prediction)
    value = as_number(change_us, "change_us")
    runs = _two_runs(timings)
    seconds, negatives, interactions = (runs[c].to_numpy(dtype=float) for c in ("seconds", "negatives",
                                                                               "interactions"))
    per_negative = 1e6 * seconds / negatives
    small, large = per_negative
    check_difference(
        value, large, small, name="change", exercise="ex-scale-predict",
        detail="compare the sign with your prediction, and read how much of each run is a fixed cost "
               "that does not grow with the log.",
        order="The larger log's time per negative minus the smaller log's.",
        what="the larger log's microseconds per negative minus the smaller log's",
        how="Divide each run's seconds by its negatives, multiply by 1e6, and subtract the smaller "
            "log's value from the larger log's.",
        mistakes=[
            (seconds[1] - seconds[0], "Your change is in total seconds, not per negative.",
             "Divide each run's seconds by the negatives it produced."),
            ((large - small) / 1e6, "Your change is in seconds per negative; the exercise asks for microseconds.",
             "Multiply the seconds per negative by 1e6."),
            ((large - small) / 1e3, "Your change is in milliseconds per negative; the exercise asks for "
             "microseconds.", "Multiply the seconds per negative by 1e6."),
            (float(np.diff(1e6 * seconds / interactions)[0]),
             "You divided by the interactions of the log; the exercise asks per negative produced.",
             "Divide by the column negatives."),
            (float(np.diff(negatives / seconds)[0]),
             "Your change is in negatives per second, a throughput; the exercise asks for the time per negative.",
             "Divide the seconds by the negatives, not the negatives by the seconds."),
        ])


#: Statements about a scale-out recipe (exercise ex-scale-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("Each executor counted item popularity over its own partition of users and drew that partition's "
          "negatives from those local counts.", True, "a per-partition distribution instead of the global one"),
    "B": ("Every task seeded NumPy with its partition number, so each nightly run repeated the previous "
          "night's random numbers, and a repartitioned log received different negatives.", True,
          "seeds that repeat across runs and depend on the partitioning"),
    "C": ("The item counts behind the popularity weights were computed once over the whole log, test rows "
          "included, before the train/test split.", True, "popularity counted on test data"),
    "D": ("A user's k negatives were the k smallest keys -log(u)/w among the items that user had not "
          "interacted with.", False,
          "the k smallest exponential keys are an exact weighted sample without replacement"),
    "E": ("The job's time per negative was measured on a 10,000-row sample, JVM start-up included, and "
          "multiplied by the full log's number of negatives to size the cluster.", True,
          "a fixed cost extrapolated as if it were a cost per negative"),
    "F": ("One night's draws were compared by a chi-square test with the exact target restricted to each "
          "user's unobserved items, and every negative was checked not to be a positive of its user.",
          False, "a goodness-of-fit test plus a direct exclusion check is how a sampler's output is verified"),
}


def check_critique(flaws) -> None:
    """Exercise ``ex-scale-critique``: pick the statements that are flaws of the recipe."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-scale-critique",
                hint="For each step ask which items' counts a draw uses, where its random numbers come from "
                     "and whether they depend on the partitioning, what data the counts include, and what a "
                     "timing at small scale measures.")
