"""Self-checks for the exercises of "False negatives and evaluation pitfalls".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value. Besides the computations, :func:`check_prediction`
(``fn-predict``) takes a prediction written down and then the measured change of a hard
sampler's false-negative rate when its scorer is untrained, and :func:`check_critique`
(``fn-critique``) the flaws among the statements of :data:`CRITIQUE_STATEMENTS`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom, hypergeom

from ._feedback import as_number, call_answer, check_flaws, check_prediction_recorded, fail, passed, same
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_uniform_fnr", "check_popularity_fnr", "check_expected_sampled_hr",
           "check_prediction", "check_critique"]


def _allowed(train_mask: np.ndarray) -> np.ndarray:
    allowed = ~np.asarray(train_mask, bool)
    allowed[:, 0] = False
    return allowed


def _rate(answer, name: str = "rate") -> float:
    return as_number(answer, name, hint="Store one number: the mean over users.",
                     nonfinite_hint="Does some user have no item left to draw? Look for a division by zero.")


def check_uniform_fnr(answer: float, fn_mask, train_mask) -> None:
    """Check the exact false-negative rate of uniform sampling with exclusion."""
    value = _rate(answer)
    fn = np.asarray(fn_mask, bool)
    allowed = _allowed(train_mask)
    per_user = fn.sum(1) / allowed.sum(1)
    expected = float(per_user.mean())
    if same(value, expected):
        passed("fn-uniform-exact", f"{expected:.2%} of uniform negatives are false negatives.")
        return
    if same(value, 100 * expected):
        fail("Your rate looks like a percentage.", hint="Give it as a fraction between 0 and 1.")
    if not 0 <= value <= 1:
        fail("A false-negative rate lies between 0 and 1; yours does not.")
    if same(value, float(fn.sum() / allowed.sum())):
        fail("You pooled all users into one ratio.",
             hint="Users are drawn uniformly, so every user weighs the same: average the "
                  "per-user rates.")
    if same(value, float((fn.sum(1) / (fn.shape[1] - 1)).mean())):
        fail("You divided by all items, including the user's training items.",
             hint="The sampler excludes training positives: divide by the items each user may "
                  "be drawn.")
    if same(value, float((fn.sum(1) / fn.shape[1]).mean())) or same(
            value, float((fn.sum(1) / (~np.asarray(train_mask, bool)).sum(1)).mean())):
        fail("You counted item 0, the padding column, as a drawable item.",
             hint="Column 0 of the masks is padding; real items are columns 1..n_items.")
    if same(value, float(np.median(per_user))):
        fail("You took the median over users.", hint="The expected rate is the mean over users.")
    fail("Your rate is not the exact false-negative rate of the uniform sampler.",
         hint="Per user: liked items outside training ÷ items the user may be drawn "
              "(real items not in training); then average over users.")


def check_popularity_fnr(answer: float, fn_mask, train_mask, counts) -> None:
    """Check the exact false-negative rate of popularity (alpha = 1) sampling with exclusion."""
    value = _rate(answer)
    fn = np.asarray(fn_mask, bool)
    allowed = _allowed(train_mask)
    c = np.asarray(counts, float)
    w = np.where(allowed, c[None, :], 0.0)
    expected = float(((w * fn).sum(1) / w.sum(1)).mean())
    if same(value, expected):
        passed("fn-popularity-exact", f"{expected:.2%} of popularity negatives are false negatives.")
        return
    if same(value, 100 * expected):
        fail("Your rate looks like a percentage.", hint="Give it as a fraction between 0 and 1.")
    if not 0 <= value <= 1:
        fail("A false-negative rate lies between 0 and 1; yours does not.")
    if same(value, float((w * fn).sum() / w.sum())):
        fail("You pooled all users into one ratio.",
             hint="Normalise the weights per user, then average the per-user rates.")
    everything = np.broadcast_to(c[None, :], fn.shape).copy()
    everything[:, 0] = 0.0
    if same(value, float(((everything * fn).sum(1) / everything.sum(1)).mean())):
        fail("You normalised over all items, including the user's training items.",
             hint="The sampler never draws a training positive: restrict the weights to the "
                  "items each user may be drawn before normalising.")
    if same(value, float((fn.sum(1) / allowed.sum(1)).mean())):
        fail("That is the uniform sampler's rate.",
             hint="Weigh each allowed item by its training count.")
    fail("Your rate is not the exact false-negative rate of the popularity sampler.",
         hint="Weight each allowed item by its training count, normalise per user, sum the "
              "weights of the false negatives, then average over users.")


def check_expected_sampled_hr(fn) -> None:
    """Check ``fn(r, n_unseen, n, k)``, the probability of a sampled hit given a full rank."""
    r = np.array([0, 5, 9, 10, 50, 400])
    n_unseen, n, k = 1000, 100, 10
    expected = hypergeom.cdf(k - 1, n_unseen - 1, r, n)
    raw = call_answer(fn, r, n_unseen, n, k, name="expected_sampled_hr")
    try:
        got = np.asarray(raw, float)
    except (TypeError, ValueError):
        fail("Your function does not return numbers.", hint="Return a NumPy array of probabilities.")
    if got.shape != r.shape:
        fail(f"Vectorise over r: your function returned shape {got.shape} for {r.shape[0]} ranks.",
             hint="Use array operations (scipy.stats functions accept arrays) instead of a "
                  "single scalar.")
    if not np.isfinite(got).all():
        fail("Some of your probabilities are not finite.")
    if np.allclose(got, expected, atol=1e-9):
        passed("fn-sampled-hit", "a full rank of 50 is still a sampled hit with probability "
              f"{expected[4]:.2f}.")
        return
    if ((got < -1e-12) | (got > 1 + 1e-12)).any():
        fail("Some of your probabilities lie outside [0, 1].")
    if np.allclose(got, 1 - expected, atol=1e-9):
        fail("You computed the probability of a miss.",
             hint=f"A hit is fewer than k = {k} sampled items above the target: the CDF, not "
                  "the survival function.")
    mistakes = [
        (hypergeom.cdf(k, n_unseen - 1, r, n), "Off by one in the hit condition.",
         f"A hit needs at most k - 1 = {k - 1} sampled items above the target (fewer than k), "
         "not at most k."),
        (hypergeom.cdf(k - 1, n_unseen, r, n), "The population is off by one.",
         "The target is never sampled: the n items are drawn from the n_unseen - 1 *other* unseen items."),
        (binom.cdf(k - 1, n, r / (n_unseen - 1)), "That is the binomial approximation.",
         "The protocol draws without replacement, so the count is hypergeometric, not binomial."),
    ]
    for value, message, hint in mistakes:
        if np.allclose(got, value, atol=1e-9):
            fail(message, hint=hint)
    if got[0] != 1 or got[2] != 1:
        fail(f"A target with fewer than k = {k} items above it is always a hit: your function "
             "must return 1 for every r < k.")
    worst = int(np.argmax(np.abs(got - expected)))
    fail(f"Your probability is off at r = {int(r[worst])} (n_unseen = {n_unseen}, n = {n}, k = {k}).",
         hint="The number of sampled items above the target is hypergeometric: n draws without "
              "replacement from the n_unseen - 1 other unseen items, r of which rank above it; a hit "
              "is at most k - 1 of them.")


def check_prediction(prediction, measured_gap, untrained_rate, adaptive_fnr) -> None:
    """Exercise ``fn-predict``: a prediction written down, and the gap between the adaptive
    sampler's false-negative rate with an untrained scorer and with the trained BPR-MF measured.

    ``untrained_rate`` is the reader's audited rate (mean over the seeds) at the largest pool;
    ``adaptive_fnr`` is the chapter's audit table (columns ``"oversampling"``, ``"rate"``);
    the gap is ``untrained_rate`` minus the mean rate at the largest oversampling factor.
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_gap, "measured_gap")
    untrained = as_number(untrained_rate, "untrained_rate", hint="Store one number: the mean rate over the seeds.")
    if not 0.0 <= untrained <= 1.0:
        fail("Your untrained_rate is not a rate between 0 and 1.",
             hint="Give it as a fraction (the 'rate' of false_negative_rate), not a percentage.")
    by_pool = adaptive_fnr.groupby("oversampling")["rate"].mean()
    largest = by_pool.index.max()
    trained = float(by_pool[largest])
    if same(untrained, trained, rtol=1e-9):
        fail("Your untrained_rate is the chapter's trained row itself: you audited the trained models again.",
             hint="Give the sampler a fresh BPRMF (same size, never trained) as its scorer.")
    mistakes = [
        (untrained, "Your gap is the untrained scorer's rate itself.", "Subtract the trained row's mean rate."),
    ]
    mistakes += [(untrained - float(rate), f"You compared with the trained sampler's pool of {pool}·k; the "
                  "question keeps the largest pool.", None) for pool, rate in by_pool.items() if pool != largest]
    check_difference(value, untrained, trained, name="gap", exercise="fn-predict",
                     detail="now compare the sign with your prediction, and the untrained rate with the uniform "
                            "one before you explain the gap.",
                     order="The untrained scorer's rate minus the trained one's.", mistakes=mistakes,
                     what="untrained_rate minus the mean rate of the trained models at the largest pool",
                     how="adaptive_fnr.groupby('oversampling')['rate'].mean() holds the trained rows, one per "
                         "pool size.")


#: Statements about a false-negative and evaluation study (exercise fn-critique):
#: letter -> (statement, is it a flaw of that study?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("Four models were ranked by HR@10 against 100 sampled items, and the order was reported as if it "
          "were the full-ranking order.", True, "sampled metrics can re-order models"),
    "B": ("The popularity sampler's counts included the validation and test targets.", True,
          "popularity counted on test data"),
    "C": ("The uniform sampler drew from the whole catalogue, and draws equal to one of the user's training "
          "items were kept as negatives.", True, "negatives that can equal a positive"),
    "D": ("The false-negative audit drew the same number of negatives for every user, so every user weighed "
          "the same in the rate.", False, "with equal draws per user, the pooled rate is the mean of the "
          "per-user rates"),
    "E": ("The adaptive sampler scored its candidates under torch.no_grad().", False,
          "choosing negatives needs scores, not gradients"),
    "F": ("The hard-negative sampler's false-negative rate was measured with an untrained model as its "
          "scorer and reported as the rate it has during training.", True,
          "the scorer a rate was measured with"),
    "G": ("The sampled metrics drew the 100 items by popularity for one model and uniformly for the "
          "others.", True, "one protocol for every model"),
}


def check_critique(flaws) -> None:
    """Exercise ``fn-critique``: the letters of :data:`CRITIQUE_STATEMENTS` that are flaws."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="fn-critique",
                hint="Walk through the chapter's two pitfalls and their guards: what the negatives are drawn "
                     "from, what popularity is counted on, which model scores a hard sampler's candidates, "
                     "and which protocol each number comes from.")
