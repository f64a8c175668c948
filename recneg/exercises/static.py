"""Self-checks for the exercises of "Static negative sampling".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.interactions import Interactions
from ._feedback import as_number, fail, passed

__all__ = ["check_uniform_probability", "check_popularity_gof", "check_setdiff_bias"]


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
