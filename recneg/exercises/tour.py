"""Self-checks for the exercises of "A tour of recneg"."""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from ..data.interactions import Interactions
from ._feedback import ExerciseCheckFailed, passed

__all__ = ["check_unlabelled_share", "check_collisions", "check_popularity_probability"]


def check_unlabelled_share(answer: float, train: Interactions) -> None:
    """Check the share of (user, item) pairs absent from the training split."""
    observed = len(train.user_item_set())
    expected = 1 - observed / (train.n_users * train.n_items)
    if not np.isfinite(answer):
        raise ExerciseCheckFailed(f"Your answer is {answer!r}; it should be a finite share between 0 and 1.")
    if abs(answer - (1 - expected)) < 1e-9 and abs(answer - expected) > 1e-6:
        raise ExerciseCheckFailed(
            "You computed the share of *observed* pairs (the density); the exercise asks for the "
            "unlabelled share, which is 1 minus it."
        )
    if abs(answer - expected) > 1e-9:
        hint = ""
        if abs(answer - (1 - len(train) / (train.n_users * train.n_items))) < 1e-9:
            hint = (" It looks like you counted interactions, not distinct (user, item) pairs;"
                    " repeated interactions count once.")
        raise ExerciseCheckFailed(f"Expected {expected:.6f}, got {answer:.6f}.{hint}")
    passed("tour-unlabelled", f"{expected:.2%} of the pairs are unlabelled.")


def check_collisions(answer: int, train: Interactions, *, user: int, n_draws: int) -> None:
    """Check a count of draws that hit the user's training items.

    The count is random, so the check accepts any value the binomial distribution of
    collisions makes plausible (two-sided p > 0.001).
    """
    p = len(train.user_item_set().items_of(user)) / train.n_items
    low, high = binom.ppf(0.0005, n_draws, p), binom.ppf(0.9995, n_draws, p)
    if answer == 0 and p > 0:
        raise ExerciseCheckFailed(
            "Zero collisions: did you keep exclude_positives=True? The exercise asks what happens "
            "*without* exclusion."
        )
    if not low <= answer <= high:
        raise ExerciseCheckFailed(
            f"{answer} collisions is implausible: with {n_draws} uniform draws and {p:.3%} of the "
            f"catalogue in the user's history, expect about {n_draws * p:.0f} (99.9 % range "
            f"{low:.0f}–{high:.0f}). Check that you sampled for user {user} and counted with that "
            "user's training items."
        )
    passed("tour-exclusion", f"Plausible: about {n_draws * p:.0f} collisions are expected.")


def check_popularity_probability(answer: float, train: Interactions, *, item: int, alpha: float) -> None:
    """Check the probability of drawing ``item`` from counts**alpha (no exclusion)."""
    counts = train.item_counts().astype(float)[1:]
    weights = counts**alpha
    expected = weights[item - 1] / weights.sum()
    if abs(answer - expected) <= 1e-9 + 1e-6 * expected:
        passed("tour-popularity-prob", f"p(item {item}) = {expected:.6f}.")
        return
    if abs(answer - counts[item - 1] / counts.sum()) < 1e-9:
        raise ExerciseCheckFailed(f"You used the raw counts; raise them to the power alpha = {alpha} first.")
    if abs(answer - weights[item - 1] / (weights.sum() + 0.0**alpha)) < 1e-9:
        raise ExerciseCheckFailed("Index 0 is padding; normalise over items 1..n_items only.")
    raise ExerciseCheckFailed(f"Expected {expected:.6f}, got {answer:.6f}. Normalise c_j^alpha over all items 1..n_items.")
