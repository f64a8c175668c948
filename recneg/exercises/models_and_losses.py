"""Self-checks for the exercises of "Models and losses".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._feedback import call_answer, fail, passed

__all__ = ["check_bpr", "check_gbce_beta", "check_logq_uniform"]


def _reference_bpr(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    return -torch.nn.functional.logsigmoid(pos[:, None] - neg).mean()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.isclose(a, b, rtol=1e-5, atol=1e-6).item())


def check_bpr(fn) -> None:
    """Check a BPR loss ``fn(pos (B,), neg (B, k)) -> scalar`` on ordinary and extreme scores."""
    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(16, generator=gen), torch.randn(16, 4, generator=gen)
    got = call_answer(fn, pos, neg, name="my_bpr")
    if not torch.is_tensor(got) or got.dim() != 0:
        fail("Your loss is not one scalar tensor.",
             hint="Return the mean over all (positive, negative) pairs, e.g. with .mean().")
    got = got.detach().double()
    want = _reference_bpr(pos, neg).double()
    if not _close(got, want):
        logsig = torch.nn.functional.logsigmoid
        mistakes = [
            (-logsig(neg - pos[:, None]).mean(),
             "The sign is reversed: BPR rewards s(u,i) - s(u,j) > 0 for the positive i.",
             "Use logsigmoid(pos - neg), positive first."),
            (logsig(pos[:, None] - neg).mean(),
             "Your loss is negative: the minus sign in front of the log-sigmoid is missing.",
             "BPR minimises -log σ(s(u,i) - s(u,j)), which is never negative."),
            (-logsig(pos[:, None] - neg).sum(),
             "You summed over the pairs.", "Return the mean, so that the loss does not grow "
                                           "with the batch size or the number of negatives."),
            (-logsig(pos[:, None] - neg).sum(1).mean(),
             "You summed over the negatives of a row and averaged over rows.",
             "Average over all (positive, negative) pairs: .mean() over both axes."),
            (-logsig(pos - neg.mean(1)).mean(),
             "You averaged the negative scores before the log-sigmoid.",
             "Pair every negative with its row's positive: pos[:, None] - neg, then the mean "
             "of the per-pair losses."),
            (-logsig(pos - neg[:, 0]).mean(),
             "You used only the first negative of each row.",
             "Compare the positive with all k negatives: pos[:, None] - neg."),
        ]
        for value, message, hint in mistakes:
            if _close(got, value.double()):
                fail(message, hint=hint)
        fail("Your loss differs from BPR on random scores.",
             hint="BPR is the mean over all pairs of -log σ(s(u,i) - s(u,j)), with each "
                  "negative paired with its own row's positive.")
    big = call_answer(fn, torch.tensor([-100.0]), torch.tensor([[100.0]]), name="my_bpr")
    if not torch.isfinite(big).item():
        fail("Your loss overflows for a score difference of -200.",
             hint="log(sigmoid(x)) underflows to log(0); use torch.nn.functional.logsigmoid.")
    passed("models-bpr", "correct and numerically stable")


def check_gbce_beta(answer: float, *, k: int, n_items: int, t: float) -> None:
    """Check gBCE's beta = rate * (t * (1 - 1/rate) + 1/rate), with the sampling rate k / (N - 1)."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        fail(f"Your beta is a {type(answer).__name__}, not a number.")

    def beta(rate: float, calibration: float) -> float:
        return rate * (calibration * (1 - 1 / rate) + 1 / rate)

    rate = k / (n_items - 1)
    expected = beta(rate, t)

    def same(candidate: float) -> bool:
        return abs(value - candidate) <= 1e-9 + 1e-7 * abs(candidate)

    if same(expected):
        passed("models-gbce-beta", f"beta = {expected:.4f}.")
        return
    if not math.isfinite(value):
        fail("Your beta is not finite.", hint="Check the division by rate.")
    if same(beta(k / n_items, t)):
        fail("Use the sampling rate k / (N - 1): the positive itself is not a candidate negative.")
    if same(rate):
        fail(f"That is beta for t = 1 (beta = rate), but the exercise sets t = {t}.",
             hint="beta = rate * (t * (1 - 1/rate) + 1/rate).")
    if same(1.0):
        fail("beta = 1 is plain BCE, the value for t = 0.", hint=f"Use the calibration t = {t}.")
    if same(beta(rate, 1 - t)):
        fail("You used 1 - t where the formula has t.", hint="beta = rate * (t * (1 - 1/rate) + 1/rate).")
    if same(beta((n_items - 1) / k, t)) or same(beta(n_items / k, t)):
        fail("Your sampling rate is upside down.",
             hint="rate is the sampling rate k / (N - 1), a number below 1 when few items "
                  "are sampled.")
    if value <= 0 or value > 1:
        fail("gBCE's beta lies in (0, 1] for t in [0, 1]; yours does not.",
             hint="beta = rate * (t * (1 - 1/rate) + 1/rate) = 1 - t * (1 - rate).")
    fail("Your beta does not follow from k, N and t.",
         hint="rate = k / (N - 1) with N the number of real items; then "
              "beta = rate * (t * (1 - 1/rate) + 1/rate): with t = 1 beta equals rate, "
              "with t = 0 it is 1.")


def check_logq_uniform(difference: float) -> None:
    """Check that logQ correction with a uniform sampler changed nothing."""
    try:
        value = float(difference)
    except (TypeError, ValueError):
        fail(f"Your difference is a {type(difference).__name__}, not a number.",
             hint="Store the absolute difference of the two losses as a float (.item()).")
    if not np.isfinite(value):
        fail("The difference is not finite: did a log-probability become -inf?",
             hint="A uniform q over N items has log q = -log N for every item.")
    if value < -1e-5:
        fail("Your difference is negative.", hint="Store the *absolute* difference of the two losses.")
    if value > 1e-5:
        fail(f"The losses differ by {value:.3g}. With a uniform q every logit, the positive's "
             "included, is shifted by the same constant, and softmax is invariant to that.",
             hint="Correct the positive's logit too (pos_log_prob), and compare the two losses "
                  "on the same logits and the same draws.")
    passed("models-logq-uniform", "a constant shift of every logit leaves the softmax unchanged.")
