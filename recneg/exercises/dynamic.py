"""Self-checks for the exercises of "Dynamic negative sampling" (``notebooks/06_dynamic``).

Every check calls the reader's function on small fixed inputs (fixed seeds) and compares
the result with a reference computed here; a typical mistake gets a message that names
it (keeping the *easiest* candidates, returning pool positions instead of item ids,
forgetting the shift ``a`` of AHNS, a sample instead of a population standard deviation).

>>> import torch
>>> check_dns_select(lambda cand, scores, k: cand.gather(1, scores.topk(k, dim=1).indices))
✓ ex-dynamic-dns passed: you keep the k candidates the model scores highest, as DNS does
"""

from __future__ import annotations

import numpy as np
import torch

from ._feedback import (as_array, as_number, call_answer, check_close, check_flaws, check_prediction_recorded,
                        check_shape, check_signature, fail, passed)
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_critique", "check_prediction", "check_dns_select",
           "check_ahns_select", "check_oracle_dns_fnr", "check_srns_criterion"]


def _dns_inputs() -> tuple[torch.Tensor, torch.Tensor, int]:
    """Six rows of eight distinct candidate ids in 1..60 with distinct scores."""
    gen = torch.Generator().manual_seed(5)
    candidates = torch.stack([torch.randperm(60, generator=gen)[:8] + 1 for _ in range(6)])
    scores = torch.randn(6, 8, generator=gen, dtype=torch.float64)
    return candidates, scores, 3


def check_dns_select(answer) -> None:
    """Exercise ex-dynamic-dns: ``answer(candidates (B, M), scores (B, M), k) -> (B, k)``.

    The k highest-scoring candidate *items* of each row, in any order.
    """
    check_signature(answer, ["candidates", "scores", "k"], name="dns_select")
    candidates, scores, k = _dns_inputs()
    got = call_answer(answer, candidates.clone(), scores.clone(), k, name="dns_select")
    got = check_shape(got, (candidates.shape[0], k), name="result",
                      hint="Return one row per user with k items, e.g. a (B, k) tensor.")
    if not np.issubdtype(got.dtype, np.integer):
        fail(f"Your result holds {got.dtype} values; DNS returns item ids (integers), not scores.",
             hint="Gather the candidates at the positions of the top scores.")
    cand, sc = candidates.numpy(), scores.numpy()
    order = np.argsort(-sc, axis=1)
    top_pos, low_pos = order[:, :k], order[:, ::-1][:, :k]
    expected = np.take_along_axis(cand, top_pos, axis=1)
    same = lambda a, b: np.array_equal(np.sort(a, axis=1), np.sort(b, axis=1))  # noqa: E731
    if same(got, expected):
        passed("ex-dynamic-dns", "you keep the k candidates the model scores highest, as DNS does")
        return
    if same(got, top_pos):
        fail("Your result holds positions in the pool (0..M-1), not item ids.",
             hint="Turn positions into items with a gather along dimension 1.")
    if same(got, np.take_along_axis(cand, low_pos, axis=1)):
        fail("You kept the k *lowest*-scoring candidates: the easiest negatives, the ones a "
             "uniform sampler already gives.",
             hint="DNS keeps the hardest negatives, the highest scores: topk(k, largest=True).")
    for row in range(got.shape[0]):
        foreign = np.setdiff1d(got[row], cand[row])
        if foreign.size:
            fail(f"Row {row} of your result contains item {int(foreign[0])}, which is not among "
                 f"that row's candidates {cand[row].tolist()}.",
                 hint="Select from each row's own candidates (gather along dimension 1).")
    wrong = [r for r in range(got.shape[0]) if set(got[r]) != set(expected[r])]
    missed = len(set(expected[wrong[0]]) - set(got[wrong[0]]))
    fail(f"In {len(wrong)} of {got.shape[0]} rows you did not keep the {k} highest-scoring candidates; "
         f"in row {wrong[0]}, {missed} of your {k} items are not among them.",
         hint="Rank each row by its own scores (dimension 1), not the whole batch.")


def _ahns_reference(pos, cand, alpha, beta, p):
    target = beta * np.power(pos + alpha, p + 1.0)
    return np.argmin(np.abs(cand - target[:, None]), axis=1)


def check_ahns_select(answer) -> None:
    """Exercise ex-dynamic-ahns:
    ``answer(pos_scores (B,), cand_scores (B, M), alpha, beta, p) -> (B,)`` positions.

    ``argmin_j | s(u, j) − μ · (s(u, i⁺) + a)^(p + 1) |`` per row (the book's shift ``a`` and
    scale ``μ`` are the arguments ``alpha`` and ``beta``, as in the AHNS paper).
    """
    check_signature(answer, ["pos_scores", "cand_scores", "alpha", "beta", "p"], name="ahns_select")
    rng = np.random.default_rng(11)
    pos = rng.uniform(0.2, 3.0, size=8)
    cand = rng.normal(0.0, 1.0, size=(8, 12))
    alpha, beta, p = 1.0, 1.5, -2.0
    got = call_answer(answer, torch.as_tensor(pos), torch.as_tensor(cand), alpha, beta, p,
                      name="ahns_select")
    got = as_array(got, "result")
    if got.ndim == 2 and got.shape[1] == 1:  # (B, 1) from keepdim=True is fine
        got = got[:, 0]
    got = check_shape(got, (8,), name="result",
                      hint="Return the position (0..M-1) of one candidate per row.")
    expected = _ahns_reference(pos, cand, alpha, beta, p)
    if np.array_equal(got, expected):
        passed("ex-dynamic-ahns", "your negatives track the target μ·(s⁺ + a)^(p+1): the higher "
                                  "the positive's score, the easier the negative")
        return
    if np.array_equal(got, cand.argmax(1)):
        fail("You picked the highest-scoring candidate of every row: that is DNS, whatever "
             "the positive's score.",
             hint="AHNS picks the candidate whose score is *closest* to the target "
                  "μ·(s⁺ + a)^(p+1): argmin of the absolute difference.")
    if np.array_equal(got, _ahns_reference(pos, cand, 0.0, beta, p)):
        fail("Your choice matches a target without the shift a (`alpha`): μ·(s⁺)^(p+1).",
             hint="Add alpha to the positive's score before raising it to the power p + 1.")
    if np.array_equal(got, _ahns_reference(pos, cand, alpha, beta, p - 1.0)):
        fail("Your choice matches the exponent p instead of p + 1.",
             hint="The target is μ·(s⁺ + a)^(p+1).")
    if np.array_equal(got, np.argmin(cand - (beta * np.power(pos + alpha, p + 1.0))[:, None], axis=1)):
        fail("You took the smallest signed difference, which picks the lowest score, not the "
             "closest one.", hint="Take the absolute value of the difference before argmin.")
    if got.min() >= 1 and got.max() <= cand.shape[1] and np.array_equal(got - 1, expected):
        fail("Your positions are off by one (1-based).", hint="Return 0-based positions, as argmin does.")
    wrong = np.flatnonzero(got != expected)
    row = int(wrong[0])
    fail(f"In {len(wrong)} of {len(got)} rows you did not choose the candidate closest to the target; "
         f"in row {row} (positive score {pos[row]:.3f}) another candidate is closer than your "
         f"position {int(got[row])}.",
         hint="Compute the row's target from the positive's score first, then take the argmin of "
              "|candidate score − target| along the row.")


def check_oracle_dns_fnr(answer) -> None:
    """Exercise ex-dynamic-oracle: ``answer(phi, M) -> P(DNS returns a false negative)``.

    With a perfect model, DNS over ``M`` uniform draws (with replacement) from the
    unlabelled items returns a false negative whenever at least one draw is one:
    ``1 − (1 − φ)^M``, with ``φ`` the share of liked items. Vectorised over ``phi`` and ``M``.
    """
    check_signature(answer, ["phi", "M"], name="oracle_dns_fnr")
    f = np.array([0.0, 0.05, 0.19, 0.19, 0.5, 1.0])
    m = np.array([8, 8, 1, 16, 4, 3])
    expected = 1.0 - (1.0 - f) ** m
    got = call_answer(answer, f, m, name="oracle_dns_fnr")
    got = check_shape(got, f.shape, name="result",
                      hint="Work elementwise on the arrays phi and M (NumPy broadcasting), no loop needed.")
    if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        passed("ex-dynamic-oracle", "a perfect scorer turns DNS into a false-negative finder: "
                                    "1 − (1 − φ)^M grows quickly with the pool")
        return
    if np.allclose(got, f ** m):
        fail("φ^M is the probability that *every* draw is a false negative.",
             hint="DNS returns a false negative as soon as *one* of the M draws is one: take "
                  "the complement of 'none is'.")
    if np.allclose(got, np.minimum(f * m, 1.0)) or np.allclose(got, f * m):
        fail("φ·M adds the probabilities of the draws, which counts overlaps twice (and exceeds "
             "1 for large pools).", hint="Use the complement: 1 − P(no draw is a false negative).")
    if np.allclose(got, f):
        fail("That is the uniform sampler's rate (M = 1); with a perfect model the pool matters.",
             hint="The top-scored draw is a false negative whenever any draw is.")
    check_close(got, expected, name="probabilities", rtol=1e-9,
                hint="The top-scored draw is a false negative exactly when at least one of the M "
                     "independent draws is; compute that event through its complement.")


def check_srns_criterion(answer) -> None:
    """Exercise ex-dynamic-srns: ``answer(history (B, P, T), w) -> (B, P)``.

    The SRNS criterion: the latest score plus ``w`` times the population standard
    deviation of the recorded scores.
    """
    check_signature(answer, ["history", "w"], name="srns_criterion")
    gen = torch.Generator().manual_seed(3)
    history = torch.randn(4, 6, 5, generator=gen, dtype=torch.float64).cumsum(-1)
    w = 2.0
    expected = history[..., -1] + w * history.std(-1, correction=0)
    got = call_answer(answer, history.clone(), w, name="srns_criterion")
    got = check_shape(got, (4, 6), name="result",
                      hint="One criterion per (user, memory item): reduce over the last axis only.")
    if np.allclose(got, expected.numpy(), rtol=1e-9, atol=1e-12):
        passed("ex-dynamic-srns", "high score and high variance across training, as SRNS ranks its memory")
        return
    last = history[..., -1]
    variants = {
        "the sample standard deviation (dividing by T − 1)":
            (last + w * history.std(-1, correction=1),
             "SRNS's spread is the population one here: torch.std(..., correction=0) or np.std."),
        "the variance instead of the standard deviation":
            (last + w * history.var(-1, correction=0), "Take the square root of the variance."),
        "the mean score instead of the latest one":
            (history.mean(-1) + w * history.std(-1, correction=0),
             "The current score is the most recent entry, history[..., -1]."),
        "the first recorded score instead of the latest one":
            (history[..., 0] + w * history.std(-1, correction=0),
             "Time runs along the last axis: the latest score is history[..., -1]."),
        "the spread subtracted instead of added":
            (last - w * history.std(-1, correction=0),
             "SRNS *prefers* unstable candidates: add w·std."),
        "the spread over the wrong axis":
            (last + w * history.std(1, correction=0, keepdim=True).expand_as(history)[..., -1],
             "The spread is over time, the last axis (T), not over memory items."),
    }
    for what, (values, hint) in variants.items():
        if values.shape == got.shape and np.allclose(got, values.numpy(), rtol=1e-9, atol=1e-12):
            fail(f"Your criterion matches {what}.", hint=hint)
    check_close(got, expected.numpy(), name="criterion", rtol=1e-9, atol=1e-12,
                hint="The criterion adds two per-candidate terms: the latest recorded score, and w "
                     "times the spread of the recorded scores over time.")


def check_prediction(prediction, fnr_change, fnr) -> None:
    """Exercise ex-dynamic-predict: a prediction written down, then the change measured.

    ``fnr`` is the chapter's audit table (columns ``sampler``, ``seed``, ``fnr``,
    ``uniform_rate``); ``fnr_change`` is the mean rate of ``"DNS"`` (a pool of M) minus
    that of ``"uniform"`` (a pool of one), each averaged over the seeds.
    """
    check_prediction_recorded(prediction)
    value = as_number(fnr_change, "fnr_change")
    means = fnr.groupby("sampler")["fnr"].mean()
    dns, uniform = float(means["DNS"]), float(means["uniform"])
    first = fnr[fnr["seed"] == fnr["seed"].iloc[0]].set_index("sampler")["fnr"]
    one_seed = float(first["DNS"] - first["uniform"]) if fnr["seed"].nunique() > 1 else None
    check_difference(
        value, dns, uniform, name="change", exercise="ex-dynamic-predict",
        detail="now compare it with your prediction, and with the bound 1 - (1 - φ)^M of "
               "ex-dynamic-oracle.",
        order="DNS minus uniform.",
        what="the mean false-negative rate of DNS minus that of the uniform sampler",
        how="Average the column fnr over the seeds for the rows 'DNS' and 'uniform' of fnr, and "
            "subtract the second from the first.",
        mistakes=[
            (dns - float(fnr["uniform_rate"].mean()),
             "You subtracted the exact uniform rate f; the exercise compares two measured samplers.",
             "Use the uniform sampler's measured rate, the row 'uniform' of the column fnr."),
            (dns, "Your change is DNS's rate itself.", "Subtract the uniform sampler's rate."),
            (one_seed, "Your change uses the first seed only.", "Average each sampler over all seeds first."),
            (100 * (dns - uniform), "Your change is in percentage points.",
             "Give the difference of the two rates as they are, fractions between 0 and 1."),
        ])


#: Statements about a hard-negative experiment (exercise ex-dynamic-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("The candidate pool was drawn from the whole catalogue, so it could contain the user's "
          "own training items, and DNS kept whichever candidate scored highest.", True,
          "negatives that can equal a positive"),
    "B": ("Every sampler trained the same BPR-MF with the same epoch budget, and the best "
          "validation epoch was restored before testing.", False,
          "one model and one budget is what makes the samplers comparable"),
    "C": ("The pool was scored with autograd on, outside torch.no_grad(), and the sampler's "
          "speed was reported from those calls.", True, "scoring without torch.no_grad()"),
    "D": ("Pool sizes were compared with one training seed each, and the larger pool was called "
          "better because its NDCG@10 was higher.", True, "a single seed"),
    "E": ("Negatives per second were the median of several calls of sample on the same pairs "
          "with the same scorer.", False, "a median over repeated calls is how speed is measured"),
    "F": ("Harder negatives were credited with the accuracy gain, and their false-negative rate "
          "was not measured anywhere.", True, "false negatives left unmeasured"),
    "G": ("No most-popular baseline was evaluated on the temporal split, so no sampler could be "
          "found below that floor.", True, "the MostPopular floor"),
}


def check_critique(flaws) -> None:
    """Exercise ex-dynamic-critique: pick the statements that are flaws of the experiment."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-dynamic-critique",
                hint="Look at the three costs of hardness the chapter measures (accuracy against a "
                     "floor and across seeds, false negatives, speed) and what the pool may contain.")
