"""Self-checks for the exercises of "Static negative sampling".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.interactions import Interactions
from ..metrics import popularity_cohorts
from ._feedback import PREDICTIONS, as_number, check_flaws, fail, passed, same

__all__ = ["CRITIQUE_STATEMENTS", "check_critique", "check_prediction", "check_uniform_probability",
           "check_popularity_gof", "check_setdiff_bias"]


def check_uniform_probability(answer: float, train: Interactions, *, user: int) -> None:
    """Check 1 / (number of items the user has not interacted with)."""
    value = as_number(answer, "probability")
    seen = train.user_item_set()
    n_pos = len(seen.items_of(user))
    expected = 1 / (train.n_items - n_pos)

    def same(candidate: float) -> bool:
        return abs(value - candidate) <= 1e-15 + 1e-9 * abs(candidate)

    if same(expected):
        passed("static-uniform-logprob", f"1 / {train.n_items - n_pos}.")
        return
    if same(math.log(expected)):
        fail("You gave the log-probability.", hint="The exercise asks for the probability itself.")
    if value >= 1 and value == int(value):
        fail("You gave a count, not a probability.",
             hint="A uniform draw picks each allowed item with probability one over the number "
                  "of allowed items.")
    if not 0 < value < 1:
        fail("A probability of drawing one item out of several lies strictly between 0 and 1; "
             "yours does not.")
    if same(1 / train.n_items):
        fail("1 / n_items ignores the exclusion: the user's training items are never drawn.",
             hint=f"Subtract user {user}'s training items from the catalogue first.")
    if same(1 / (train.n_items + 1 - n_pos)) or same(1 / (train.n_items + 1)):
        fail("Item 0 is padding and never drawn; do not count it.")
    interactions = int((np.asarray(train.users) == user).sum())
    if interactions != n_pos and same(1 / (train.n_items - interactions)):
        fail(f"You subtracted user {user}'s interactions, but repeated interactions with an item "
             "count once.", hint="Exclude the distinct items of the user's training history.")
    per_user = seen.counts.numpy()
    others = np.delete(per_user, user)
    with np.errstate(divide="ignore"):
        theirs = 1 / (train.n_items - others.astype(float))
    if np.isclose(theirs, value, rtol=1e-9, atol=1e-15).any():
        fail(f"That is the probability for another user; the exercise asks about user {user}.",
             hint="Count the training items of the user you were asked about.")
    fail(f"Your probability is not that of one allowed item for user {user}.",
         hint="UniformSampler draws uniformly among the real items the user has not "
              "interacted with in the training split.")


def check_popularity_gof(p_value: float) -> None:
    """Check a chi-square p-value for draws against the popularity target."""
    value = as_number(p_value, "p-value")
    if not 0 <= value <= 1:
        fail("A p-value lies in [0, 1]; yours does not.",
             hint="scipy.stats.chisquare returns (statistic, pvalue): store the p-value, not "
                  "the statistic.")
    if value < 1e-3:
        fail(f"p = {value:.2g}: your expected frequencies do not match the sampler.",
             hint="Restrict them to the user's allowed items (not in training, count > 0), "
                  "raise the counts to 0.75, and scale them to the number of draws.")
    passed("static-popularity-gof", f"Consistent with the target distribution (p = {value:.3f}).")


def check_setdiff_bias(ratio: float) -> None:
    """Check the id-bias ratio of the ``setdiff1d(...)[:k]`` shortcut."""
    value = as_number(ratio, "ratio")
    if value <= 0:
        fail("A ratio of two mean item ids is positive; yours is not.",
             hint="Divide the mean id of the kept items by the mean id of all allowed items.")
    if value > 1.1:
        fail(f"A ratio of {value:.2f} is upside down.",
             hint="Divide the mean id of the *kept* items by the mean id of *all allowed* items.")
    if value >= 0.9:
        fail(f"A ratio of {value:.2f} shows no bias. Did you sort or shuffle the result?",
             hint="Apply np.setdiff1d(candidates, positives)[:k] exactly as written.")
    passed("static-setdiff-bias", f"Ratio {value:.2f}: the shortcut keeps the smallest ids, a biased sampler.")


def _head_share(weights: np.ndarray, cohorts: np.ndarray, cohort: int = 0) -> float:
    """Share of the sampling weights of items 1..N that falls on ``cohort`` (0 is the head)."""
    return float(weights[cohorts == cohort].sum() / weights.sum())


def _recorded_share(prediction) -> float:
    """The prediction of static-predict: a share between 0 and 1, written down first."""
    if isinstance(prediction, str) and prediction.strip().lower() in PREDICTIONS:
        fail("This exercise asks for a number: the share you expect, between 0 and 1.")
    value = as_number(prediction, "prediction",
                      hint="Write your predicted share as a number, e.g. 0.2, before you measure.")
    if not 0 <= value <= 1:
        fail("Your prediction is a share of the draws; write it between 0 and 1.")
    return value


def check_prediction(prediction, head_share, train: Interactions, *, alpha: float = 0.75,
                     log: Interactions | None = None) -> None:
    """Exercise static-predict: a predicted share, then the share measured exactly.

    ``head_share`` is the probability that ``PopularitySampler(alpha)``, before any user's
    positives are excluded, draws a head item: the head items' share of ``c_j^alpha`` over
    items 1..N, with counts and cohorts from the training split. ``log``, when given, lets
    the check recognise counts taken over the whole log.
    """
    _recorded_share(prediction)
    value = as_number(head_share, "head_share")
    counts = train.item_counts().astype(float)
    cohorts = popularity_cohorts(train.item_counts())
    weights, real = counts[1:] ** alpha, cohorts[1:]
    expected = _head_share(weights, real)
    if same(value, expected, rtol=1e-6):
        passed("static-predict", f"before exclusion a uniform draw lands in the head "
                                 f"{(real == 0).mean():.1%} of the time; compare both shares with "
                                 "your prediction.")
        return
    mistakes = [
        (float((real == 0).mean()), "That is the uniform sampler's share: the head's share of the items.",
         "Weigh each item by its training count to the power alpha."),
        (_head_share(counts[1:], real), "You used the raw counts (alpha = 1).",
         f"Raise every count to alpha = {alpha} first."),
        (_head_share(weights, real, 2), "That is the share of the tail cohort.",
         "The head is cohort 0, the tail cohort 2."),
        (1 - expected, "That is the share that falls outside the head.", "Sum the weights of cohort 0."),
        (_head_share(weights, cohorts[:-1]), "Your cohorts are shifted by one item against the weights.",
         "popularity_cohorts(counts) has an entry for the padding id 0: drop it ([1:]) as you drop "
         "it from the counts."),
        (100 * expected, "Your share looks like a percentage.", "Give it as a fraction between 0 and 1."),
    ]
    if log is not None:
        leaky = log.item_counts().astype(float)
        mistakes.append((_head_share(leaky[1:] ** alpha, popularity_cohorts(log.item_counts())[1:]),
                         "Your counts include the validation and test interactions.",
                         "Count popularity on the training split only, as PopularitySampler.fit(train) does."))
        mistakes.append((_head_share(leaky[1:] ** alpha, real),
                         "Your weights count the validation and test interactions too.",
                         "Take the counts from train.item_counts(), not from the whole log."))
    for number, message, hint in mistakes:
        if same(value, number, rtol=1e-6):
            fail(message, hint=hint)
    if not 0 <= value <= 1:
        fail("A share of the draws lies between 0 and 1; yours does not.")
    fail("Your share is not the head's share of the popularity weights.",
         hint="Compute c_j**alpha for items 1..N from the training counts, sum it over the items "
              "whose cohort is 0, and divide by the sum over all items.")


#: Statements about a static-sampling experiment (exercise static-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("The popularity counts behind q(j) were computed once, on the whole log, before the split.",
          True, "popularity counted on test data"),
    "B": ("One user's draws were compared with c_j^alpha restricted to that user's unobserved items "
          "by a chi-square test.", False, "a goodness-of-fit test is how the sampler's distribution "
                                          "is checked"),
    "C": ("Negatives were taken as np.setdiff1d(candidates, positives)[:k].", True,
          "a shortcut biased towards low item ids"),
    "D": ("A sampler with a Python loop over users was timed on a hundred users, and that time was "
          "reported as the cost of popularity sampling.", True,
          "a Python-loop sampler timed as if representative"),
    "E": ("The log-probability of each draw was renormalised over the items left after the user's "
          "positives were excluded.", False, "the renormalised probability is the one the sampler "
                                             "really draws from"),
    "F": ("alpha was picked by the best test NDCG@10 of the sweep, and that NDCG@10 was reported as "
          "the result.", True, "model selection on the test split"),
}


def check_critique(flaws) -> None:
    """Exercise static-critique: pick the statements that are flaws of the experiment."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="static-critique",
                hint="Look at what data each statement used, whether the negatives are drawn from "
                     "the distribution claimed, and whether a measured number means what it is said "
                     "to mean.")
