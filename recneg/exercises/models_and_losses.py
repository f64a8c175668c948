"""Self-checks for the exercises of "Models and losses".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._feedback import as_number, call_answer, check_flaws, check_prediction_recorded, fail, passed
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_critique", "check_prediction", "check_bpr",
           "check_gbce_beta", "check_logq_uniform"]

#: The two runs of the chapter's loss comparison that the predict exercise compares: arm labels of
#: the published grid experiments/models_losses_ml100k.toml (the chapter also trains them live).
LOGQ_RUN, NO_LOGQ_RUN = "sampled softmax, popularity, logQ", "sampled softmax, popularity, no logQ"


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
    """Check gBCE's beta = rate * (t * (1 - 1/rate) + 1/rate), with the sampling rate k / (N - 1).

    ``t`` is the calibration, written ξ in the book (the gSASRec paper's t).
    """
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


def check_prediction(prediction, tail_change, wide) -> None:
    """Exercise models-predict: a prediction written down, then the change measured.

    ``wide`` is the chapter's table of the published grid's runs (index ``(run, seed)``,
    ``run`` an arm label of ``models_losses_ml100k``, one column per metric);
    ``tail_change`` is the mean ``hr@10_tail`` over seeds of the logQ-corrected popularity
    run minus that of the uncorrected one.
    """
    check_prediction_recorded(prediction)
    value = as_number(tail_change, "tail_change")
    means = wide.groupby(level="run").mean()

    def change(column, table=means):
        return float(table.loc[LOGQ_RUN, column] - table.loc[NO_LOGQ_RUN, column])

    seeds = wide.index.get_level_values("seed").unique()
    one_seed = change("hr@10_tail", wide.xs(seeds[0], level="seed")) if len(seeds) > 1 else None
    check_difference(
        value, float(means.loc[LOGQ_RUN, "hr@10_tail"]), float(means.loc[NO_LOGQ_RUN, "hr@10_tail"]),
        name="change", exercise="models-predict",
        detail="now compare its sign with your prediction, and its size with the difference "
               "between the seeds of one run.",
        order="With logQ minus without.",
        what="the change of the mean tail HR@10 between the two popularity-sampled runs",
        how=f"Average hr@10_tail over the seeds of the runs {LOGQ_RUN!r} and {NO_LOGQ_RUN!r}, "
            "and subtract the second from the first.",
        mistakes=[
            (change("hr@10"), "Your change is in overall HR@10; the exercise asks about the tail "
                              "cohort.", "Use the column hr@10_tail."),
            (change("ndcg@10"), "Your change is in NDCG@10; the exercise asks about tail HR@10.", None),
            (change("hr@10_head") if "hr@10_head" in means else None,
             "Your change is that of the head cohort.", "Tail items are the column hr@10_tail."),
            (one_seed, "Your change uses a single seed.", "Average each run over all its seeds first."),
            (100 * change("hr@10_tail"), "Your change is in percentage points.",
             "Give the difference of the two hit rates as they are, fractions between 0 and 1."),
        ])


#: Statements about a loss comparison (exercise models-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("Every loss trained the same model under the same early-stopping rule on validation and was "
          "evaluated by full ranking on the same leave-one-out split.", False,
          "one model, one stopping rule and one protocol is what makes the losses comparable"),
    "B": ("The BPR loss was written as -torch.log(torch.sigmoid(pos - neg)), and runs whose loss "
          "became infinite were left out of the table.", True,
          "numerical stability (and the runs that were dropped)"),
    "C": ("Sampled negatives that happened to equal the positive were kept as negatives in the "
          "sampled softmax.", True, "accidental hits"),
    "D": ("Sampled softmax with popularity negatives and no logQ correction was reported as "
          "'sampled softmax', and its gap to full cross-entropy blamed on sampling itself.", True,
          "the missing logQ correction"),
    "E": ("gBCE's beta was computed from the sampling rate k/(N-1) with the calibration ξ fixed "
          "before training.", False, "this is how gBCE sets beta"),
    "F": ("Each loss was trained with one seed, and the order of the losses was read off those "
          "single runs.", True, "a single seed"),
    "G": ("Every run stopped after six epochs, and the table left out the MostPopular baseline of the "
          "same split, which every run was below.", True, "unfinished runs below the popularity floor"),
}


def check_critique(flaws) -> None:
    """Exercise models-critique: pick the statements that are flaws of the comparison."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="models-critique",
                hint="Look at each statement: was the loss computed correctly, was it the loss "
                     "it was called, had every run learned more than a popularity count, and could "
                     "the comparison tell the runs apart?")
