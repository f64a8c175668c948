"""Self-checks for the exercises of "False negatives and evaluation pitfalls"."""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom

from ._feedback import ExerciseCheckFailed, passed

__all__ = ["check_uniform_fnr", "check_popularity_fnr", "check_expected_sampled_hr"]


def _allowed(train_mask: np.ndarray) -> np.ndarray:
    allowed = ~np.asarray(train_mask, bool)
    allowed[:, 0] = False
    return allowed


def check_uniform_fnr(answer: float, fn_mask, train_mask) -> None:
    """Check the exact false-negative rate of uniform sampling with exclusion."""
    allowed = _allowed(train_mask)
    expected = float((np.asarray(fn_mask).sum(1) / allowed.sum(1)).mean())
    if abs(answer - expected) < 1e-9:
        passed("fn-uniform-exact", f"{expected:.2%} of uniform negatives are false negatives.")
        return
    pooled = float(np.asarray(fn_mask).sum() / allowed.sum())
    if abs(answer - pooled) < 1e-9:
        raise ExerciseCheckFailed(
            "You pooled all users; but every user is drawn equally often, so average the per-user rates."
        )
    if abs(answer - float((np.asarray(fn_mask).sum(1) / (fn_mask.shape[1] - 1)).mean())) < 1e-9:
        raise ExerciseCheckFailed("Divide by the items each user may be drawn (not in training), not by all items.")
    raise ExerciseCheckFailed(f"Expected {expected:.6f}, got {answer:.6f}.")


def check_popularity_fnr(answer: float, fn_mask, train_mask, counts) -> None:
    """Check the exact false-negative rate of popularity (alpha = 1) sampling with exclusion."""
    allowed = _allowed(train_mask)
    w = np.where(allowed, np.asarray(counts, float)[None, :], 0.0)
    expected = float(((w * fn_mask).sum(1) / w.sum(1)).mean())
    if abs(answer - expected) < 1e-9:
        passed("fn-popularity-exact", f"{expected:.2%} of popularity negatives are false negatives.")
        return
    raise ExerciseCheckFailed(
        f"Expected {expected:.6f}, got {answer:.6f}. Weight each allowed item by its training count, "
        "normalise per user, sum the weights of false negatives, then average over users."
    )


def check_expected_sampled_hr(fn) -> None:
    """Check ``fn(r, M, n, k)``, the probability of a sampled hit given a full rank."""
    r = np.array([0, 5, 9, 10, 50, 400])
    M, n = 1000, 100
    expected = hypergeom.cdf(9, M - 1, r, n)
    got = np.asarray(fn(r, M, n, 10), float)
    if got.shape != r.shape:
        raise ExerciseCheckFailed(f"Vectorise over r: expected shape {r.shape}, got {got.shape}.")
    if got[0] != 1 or got[2] != 1:
        raise ExerciseCheckFailed("A target with fewer than 10 items above it is always a hit: fn must be 1 for r < 10.")
    if not np.allclose(got, expected, atol=1e-9):
        raise ExerciseCheckFailed(
            f"Expected {np.round(expected, 4).tolist()}, got {np.round(got, 4).tolist()}. The number of "
            "sampled items above the target is hypergeometric with M - 1 items of which r are 'above'."
        )
    passed("fn-sampled-hit", "a full rank of 50 is still a sampled hit with probability "
          f"{expected[4]:.2f}.")
