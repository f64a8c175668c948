"""Self-checks for the exercises of "Why negative sampling" (``book/why.md``).

* :func:`check_prediction` (``ex-why-predict``): a prediction written down, then the share
  of uniform and of popularity draws that hit each user's held-out next item measured;
* :func:`check_critique` (``ex-why-critique``): the flaws of a claim about negatives, among
  the statements of :data:`CRITIQUE_STATEMENTS`.

A failing check says which mistake the answer looks like; it never prints the expected
value.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ..data.interactions import Split
from ._feedback import as_number, check_flaws, check_prediction_recorded, expect, fail, passed

__all__ = ["CRITIQUE_STATEMENTS", "check_prediction", "check_critique", "held_out_hit_probabilities"]

#: The popularity sampler of the exercise: PopularitySampler(alpha=0.75), no smoothing.
ALPHA = 0.75


def held_out_hit_probabilities(split: Split, *, alpha: float = ALPHA) -> dict[str, np.ndarray]:
    """Per user, the probability that one draw is the user's held-out test item.

    For the uniform sampler and for ``PopularitySampler(alpha)``, both excluding the user's
    training items: the test item's weight over the total weight of the items the user has
    not interacted with in training (0 when the test item is a training item or has weight 0).
    """
    train, test = split.train, split.test
    counts = np.asarray(train.item_counts(), dtype=np.float64)
    weights = {"uniform": np.r_[0.0, np.ones(train.n_items)],
               "popularity": np.where(counts > 0, counts ** alpha, 0.0)}
    weights["popularity"][0] = 0.0
    users = np.asarray(train.users)
    items = np.asarray(train.items)
    pairs = np.unique(users.astype(np.int64) * (train.n_items + 1) + items)
    pair_users, pair_items = pairs // (train.n_items + 1), pairs % (train.n_items + 1)
    test_users = np.asarray(test.users, dtype=np.int64)
    targets = np.asarray(test.targets, dtype=np.int64)
    in_train = np.isin(test_users * (train.n_items + 1) + targets, pairs)
    out = {}
    for name, w in weights.items():
        seen_mass = np.bincount(pair_users, weights=w[pair_items], minlength=train.n_users)
        allowed = w.sum() - seen_mass[test_users]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where((allowed > 0) & ~in_train, w[targets] / allowed, 0.0)
        out[name] = p
    return out


def _rate(hit_rate: Mapping, name: str) -> float:
    expect(isinstance(hit_rate, Mapping) and name in hit_rate,
           f"Your hit_rate has no entry {name!r}; store one rate per sampler, "
           "{'uniform': ..., 'popularity': ...}.")
    return as_number(hit_rate[name], f"{name} hit rate")


def check_prediction(prediction, hit_rate, split: Split, *, num_negatives: int = 100) -> None:
    """Exercise ``ex-why-predict``: a prediction written down, then the share of draws that
    are each user's held-out next item measured for both samplers.

    ``hit_rate`` maps ``"uniform"`` and ``"popularity"`` to the share of all drawn negatives
    (``num_negatives`` per test user, the user's training items excluded) that equal the
    user's test item. A measured share passes when it lies within five standard deviations
    of the exact expectation (:func:`held_out_hit_probabilities`).
    """
    check_prediction_recorded(prediction)
    measured = {name: _rate(hit_rate, name) for name in ("uniform", "popularity")}
    exact = held_out_hit_probabilities(split)
    n_draws = num_negatives * len(split.test)
    mean = {name: float(p.mean()) for name, p in exact.items()}
    sd = {name: math.sqrt(float((num_negatives * p * (1 - p)).sum())) / n_draws for name, p in exact.items()}

    def plausible(value: float, name: str) -> bool:
        return abs(value - mean[name]) <= 5 * sd[name]

    for name, value in measured.items():
        if plausible(value, name):
            continue
        other = "popularity" if name == "uniform" else "uniform"
        if value > 1:
            fail(f"Your {name} hit rate is above 1: a count, not a share of the draws.",
                 hint=f"Divide the number of hits by the number of draws, {n_draws}.")
        if plausible(value / 100, name):
            fail(f"Your {name} hit rate looks like a percentage.", hint="Give it as a fraction of the draws.")
        if value == 0:
            fail(f"Your {name} draws never hit a user's held-out item.",
                 hint="A sampler also excludes the positives you pass to sample(); pass no batch "
                      "positives (zeros, the padding id) so that only the training items are excluded.")
        if plausible(value, other) and plausible(measured[other], name):
            fail("Your two hit rates are swapped.", hint="Check which sampler produced which draws.")
        if plausible(value * num_negatives, name) or plausible(value / len(split.test), name):
            fail(f"Your {name} hit rate is not divided by the number of draws.",
                 hint=f"Average over all {num_negatives} draws of every test user.")
        fail(f"Your {name} hit rate is {'too high' if value > mean[name] else 'too low'} for draws from "
             f"that sampler.", hint=f"Draw {num_negatives} negatives per test user from a sampler fitted "
                                    "on split.train, and count the draws equal to the user's test target.")
    ratio = measured["popularity"] / measured["uniform"] if measured["uniform"] else math.inf
    passed("ex-why-predict", f"a popularity draw is the user's next item {ratio:.1f} times as often as a "
                             "uniform draw; compare that with your prediction.")


#: Statements about a claim on negatives (exercise ex-why-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("Every item a user never interacted with was counted as an item the user dislikes, and the "
          "model was credited with the share of those items it ranked low.", True,
          "unobserved items are unlabelled, not disliked"),
    "B": ("Both samplers excluded each user's training items from the negatives.", False,
          "excluding training positives is what every recneg sampler does by default"),
    "C": ("The popularity negatives trained a sampled softmax without the log q correction, and its "
          "scores were read as estimates of the full softmax's probabilities.", True,
          "a sampled softmax over a non-uniform q estimates another quantity without log q"),
    "D": ("The negatives the current model scored highest were taken to be the surest negatives, "
          "because the users had never chosen them.", True,
          "the hardest unlabelled items are disproportionately false negatives"),
    "E": ("Both models were evaluated on the same test split with the same protocol, full ranking "
          "over every item.", False, "one protocol for both models is what a comparison needs"),
    "F": ("The sampled objective replaced the sum over all unobserved items by k draws per positive.",
          False, "that is the sampled objective itself, not a flaw of it"),
}


def check_critique(flaws) -> None:
    """Exercise ``ex-why-critique``: pick the statements that are flaws of the claim."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-why-critique",
                hint="Ask of each statement what an unobserved item is, which quantity a sampled loss "
                     "estimates, and what makes a hard negative risky.")
