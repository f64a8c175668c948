"""Self-checks for the exercises of "Models and losses"."""

from __future__ import annotations

import numpy as np
import torch

from ._feedback import ExerciseCheckFailed, passed

__all__ = ["check_bpr", "check_gbce_beta", "check_logq_uniform"]


def _reference_bpr(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    return -torch.nn.functional.logsigmoid(pos[:, None] - neg).mean()


def check_bpr(fn) -> None:
    """Check a BPR loss ``fn(pos (B,), neg (B, k)) -> scalar`` on ordinary and extreme scores."""
    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(16, generator=gen), torch.randn(16, 4, generator=gen)
    got = fn(pos, neg)
    if not torch.is_tensor(got) or got.dim() != 0:
        raise ExerciseCheckFailed("Return one scalar tensor: the mean over all (positive, negative) pairs.")
    want = _reference_bpr(pos, neg)
    reversed_sign = -torch.nn.functional.logsigmoid(neg - pos[:, None]).mean()
    if torch.isclose(got, reversed_sign).item() and not torch.isclose(got, want).item():
        raise ExerciseCheckFailed("The sign is reversed: BPR rewards s(u,i) - s(u,j) > 0 for the positive i.")
    if not torch.isclose(got, want, atol=1e-6).item():
        raise ExerciseCheckFailed(f"Expected {want.item():.6f}, got {got.item():.6f} on random scores.")
    big = fn(torch.tensor([-100.0]), torch.tensor([[100.0]]))
    if not torch.isfinite(big).item():
        raise ExerciseCheckFailed(
            "Your loss overflows for a score difference of -200: use torch.nn.functional.logsigmoid "
            "instead of log(sigmoid(x))."
        )
    passed("models-bpr", "correct and numerically stable")


def check_gbce_beta(answer: float, *, k: int, n_items: int, t: float) -> None:
    """Check gBCE's beta = alpha * (t * (1 - 1/alpha) + 1/alpha), alpha = k / (n_items - 1)."""
    alpha = k / (n_items - 1)
    expected = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
    if abs(answer - expected) < 1e-9:
        passed("models-gbce-beta", f"beta = {expected:.4f}.")
        return
    if abs(answer - k / n_items * (t * (1 - n_items / k) + n_items / k)) < 1e-9:
        raise ExerciseCheckFailed("Use alpha = k / (|I| - 1): the positive itself is not a candidate negative.")
    raise ExerciseCheckFailed(f"Expected {expected:.6f}, got {answer:.6f}. With t = 1, beta equals alpha; with t = 0 it is 1.")


def check_logq_uniform(difference: float) -> None:
    """Check that logQ correction with a uniform sampler changed nothing."""
    if not np.isfinite(difference):
        raise ExerciseCheckFailed("The difference is not finite: did a log-probability become -inf?")
    if difference > 1e-5:
        raise ExerciseCheckFailed(
            f"The losses differ by {difference:.3g}. With a uniform q every logit, the positive's "
            "included, is shifted by the same constant, and softmax is invariant to that — correct "
            "the positive's logit too (pos_log_prob)."
        )
    passed("models-logq-uniform", "a constant shift of every logit leaves the softmax unchanged.")
