"""Self-checks for the exercises of "Static negative sampling"."""

from __future__ import annotations

from ..data.interactions import Interactions
from ._feedback import ExerciseCheckFailed, passed

__all__ = ["check_uniform_probability", "check_popularity_gof", "check_setdiff_bias"]


def check_uniform_probability(answer: float, train: Interactions, *, user: int) -> None:
    """Check 1 / (number of items the user has not interacted with)."""
    n_pos = len(train.user_item_set().items_of(user))
    expected = 1 / (train.n_items - n_pos)
    if abs(answer - expected) < 1e-12:
        passed("static-uniform-logprob", f"1 / {train.n_items - n_pos}.")
        return
    if abs(answer - 1 / train.n_items) < 1e-12:
        raise ExerciseCheckFailed(
            f"1 / n_items ignores exclusion: user {user} has {n_pos} training items that are never drawn."
        )
    if abs(answer - 1 / (train.n_items + 1 - n_pos)) < 1e-12:
        raise ExerciseCheckFailed("Item 0 is padding and never drawn; do not count it.")
    raise ExerciseCheckFailed(f"Expected {expected:.6g}, got {answer:.6g}.")


def check_popularity_gof(p_value: float) -> None:
    """Check a chi-square p-value for draws against the popularity target."""
    if not 0 <= p_value <= 1:
        raise ExerciseCheckFailed(f"A p-value lies in [0, 1], got {p_value}.")
    if p_value < 1e-3:
        raise ExerciseCheckFailed(
            f"p = {p_value:.2g}: your expected frequencies do not match the sampler. Restrict them to "
            "the user's allowed items (not in training, count > 0), raise counts to 0.75, and scale "
            "them to the number of draws."
        )
    passed("static-popularity-gof", f"Consistent with the target distribution (p = {p_value:.3f}).")


def check_setdiff_bias(ratio: float) -> None:
    """Check the id-bias ratio of the ``setdiff1d(...)[:k]`` shortcut."""
    if ratio >= 0.9:
        raise ExerciseCheckFailed(
            f"A ratio of {ratio:.2f} shows no bias. Did you sort or shuffle the result? Apply "
            "np.setdiff1d(candidates, positives)[:k] exactly as written."
        )
    passed("static-setdiff-bias", f"Ratio {ratio:.2f}: the shortcut keeps the smallest ids, a biased sampler.")
