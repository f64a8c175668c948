"""Self-checks for the exercises of "Open problems: LLM-era negatives, cold start, curricula".

A failing check names the mistake the answer looks like and gives a hint; it never prints
the expected value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..data.interactions import Interactions, UserItemSet
from ._feedback import (as_array, as_number, call_answer, check_flaws, check_prediction_recorded, fail, passed,
                        same)
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_band_items", "check_false_preference_share", "check_prediction",
           "check_critique"]


# -- rank bands -----------------------------------------------------------------------------------
def _band_reference(scores: torch.Tensor, excluded: torch.Tensor, low: int, high: int) -> torch.Tensor:
    order = scores.masked_fill(excluded, float("-inf")).argsort(descending=True, stable=True)
    return order[low - 1:high]


def _band_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct scores for 41 ids (0 is padding) and an exclusion mask with padding and four items."""
    scores = torch.randperm(41, generator=torch.Generator().manual_seed(3)).double()
    excluded = torch.zeros(41, dtype=torch.bool)
    excluded[[0, 5, 9, 17, int(scores.argmax())]] = True  # the top-scored item is a training item
    return scores, excluded


def check_band_items(band_items) -> None:
    """Exercise ``ex-cold-text-band``: ``band_items(scores, excluded, low, high)`` returns the
    allowed items at positions ``low``..``high`` (inclusive; position 1 is the highest score), best first."""
    scores, excluded = _band_case()
    for low, high in ((1, 1), (3, 7), (10, 20)):
        got = as_array(call_answer(band_items, scores, excluded, low, high, name="band_items"), "band")
        want = _band_reference(scores, excluded, low, high).numpy()
        if got.shape != want.shape:
            if got.size == want.size - 1 or got.size == want.size + 1:
                fail(f"For positions {low}..{high} you returned {got.size} items instead of {want.size}.",
                     hint="Both ends are included and position 1 is the best item: positions low..high are the "
                          "slice [low - 1 : high] of the ranking.")
            fail(f"For positions {low}..{high} your band has shape {got.shape}; expected ({want.size},).")
        if np.array_equal(got, want):
            continue
        plain = scores.argsort(descending=True, stable=True)[low - 1:high].numpy()
        if np.array_equal(got, plain):
            fail("Your band contains excluded items (padding or the user's training items).",
                 hint="Set the scores of excluded items to -inf before ranking.")
        rising = scores.masked_fill(excluded, float("inf")).argsort(stable=True)[low - 1:high].numpy()
        if np.array_equal(got, rising):
            fail("Your ranking runs from the lowest score up; position 1 is the highest score.")
        shifted = _band_reference(scores, excluded, low + 1, high + 1).numpy()
        if np.array_equal(got, shifted):
            fail("Your band is shifted by one rank.", hint="Rank 1 is index 0 of the ranking.")
        if set(got.tolist()) == set(want.tolist()):
            fail(f"For ranks {low}..{high} you have the right items in the wrong order.",
                 hint="Return them best first.")
        fail(f"For ranks {low}..{high} your band differs from the allowed items ranked there.")
    passed("ex-cold-text-band", "the band matches RankBandSampler's ranking rule.")


# -- false preferences ----------------------------------------------------------------------------
def check_false_preference_share(share, pairs: pd.DataFrame, later: UserItemSet,
                                 train: Interactions | None = None) -> None:
    """Exercise ``ex-cold-text-false-preference``: the share of ``pairs`` whose rejected item
    is one of the user's later items (``later``, validation and test targets)."""
    value = as_number(share, "share")
    users, rejected, chosen = (torch.tensor(np.asarray(pairs[column], dtype=np.int64))
                               for column in ("user", "rejected", "chosen"))
    hits = later.contains(users, rejected)
    expected = float(hits.double().mean())
    if same(value, expected, rtol=1e-9):
        passed("ex-cold-text-false-preference", f"{int(hits.sum())} of {len(pairs)} pairs teach a false preference.")
        return
    mistakes = [
        (float(later.contains(users, chosen).double().mean()),
         "That is the share of pairs whose *chosen* item is a later item.", "Look up the rejected item."),
        (float(hits.sum()), "You gave a count, not a share.", "Divide by the number of pairs."),
        (100 * expected, "Your share looks like a percentage.", "Give it as a fraction between 0 and 1."),
        (1 - expected, "That is the share of pairs whose rejected item is *not* a later item.", None),
    ]
    if train is not None:
        seen = train.user_item_set()
        mistakes.append((float(seen.contains(users, rejected).double().mean()),
                         "You looked the rejected items up in the training interactions.",
                         "The sampler never returns those; use the later items."))
    for number, message, hint in mistakes:
        if same(value, number, rtol=1e-9):
            fail(message, hint=hint)
    if not 0 <= value <= 1:
        fail("A share of pairs lies between 0 and 1; yours does not.")
    fail("Your share is not that of pairs whose rejected item the user interacted with later.",
         hint="later.contains(users, rejected) marks them; average it over the pairs.")


# -- predict, then measure: smoothing and the new items' share of the proposal --------------------
def _cohort_mass(train: Interactions, cohort: np.ndarray, alpha: float, smoothing: float) -> float:
    weights = (train.item_counts().astype(float) + smoothing) ** alpha
    weights[0] = 0.0
    return float(weights[cohort].sum() / weights.sum())


def check_prediction(prediction, measured_gap, train: Interactions, cohort, *, alpha: float = 0.75,
                     smoothing: float = 10.0, baseline: float = 1.0) -> None:
    """Exercise ``ex-cold-text-predict``: a prediction, then the change in the cohort's share of
    ``PopularitySampler(alpha, smoothing)``'s proposal when smoothing goes from ``baseline`` to
    ``smoothing`` (before any user's positives are excluded)."""
    check_prediction_recorded(prediction, allowed=("higher", "lower"))
    value = as_number(measured_gap, "measured_gap")
    cohort = np.asarray(cohort, dtype=bool)
    high, low = _cohort_mass(train, cohort, alpha, smoothing), _cohort_mass(train, cohort, alpha, baseline)
    mistakes = [
        (high, "Your gap is the share with the larger smoothing itself.", f"Subtract the share at smoothing={baseline:g}."),
        (_cohort_mass(train, cohort, 1.0, smoothing) - _cohort_mass(train, cohort, 1.0, baseline),
         "You used the raw counts (alpha = 1).", f"Raise (count + smoothing) to alpha = {alpha} first."),
        (_cohort_mass(train, cohort, alpha, smoothing) - float(cohort[1:].mean()),
         "You compared with the uniform share; the question compares two smoothings.", None),
        ((train.item_counts()[cohort].sum() + smoothing * cohort.sum()) / (len(train) + smoothing * train.n_items)
         - (train.item_counts()[cohort].sum() + baseline * cohort.sum()) / (len(train) + baseline * train.n_items),
         "You added the pseudo-count after raising to the power, or dropped alpha.",
         "The weight of an item is (count + smoothing) ** alpha."),
    ]
    check_difference(value, high, low, name="gap", exercise="ex-cold-text-predict",
                     detail=f"smoothing={smoothing:g} moves the new items' share of the proposal from {low:.2%} to "
                            f"{high:.2%}; compare with the cohort's {float(cohort[1:].mean()):.0%} of the catalogue.",
                     order=f"The share at smoothing={smoothing:g} minus the share at smoothing={baseline:g}.",
                     mistakes=mistakes, what="the change in the cohort's share of the popularity proposal",
                     how="Weigh every real item by (training count + smoothing) ** alpha, sum the cohort's weights, "
                         "divide by the total, and subtract the two smoothings' shares.")


# -- critique ---------------------------------------------------------------------------------------
#: Statements about an open-problems experiment (exercise ex-cold-text-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("On MovieLens, the share of negatives that users interacted with after the training period was "
          "reported as the samplers' false-negative rate.", True,
          "a proxy that misses every liked item a user never reached, reported as the rate itself"),
    "B": ("New items were given no training interaction at all, evaluated with candidates='trained', and "
          "their HR@10 of 0 for every sampler was read as 'no sampler helps cold items'.", True,
          "a result fixed by the protocol, not measured"),
    "C": ("The rank-band curriculum was declared better than fixed DNS from one seed each.", True,
          "one seed per arm"),
    "D": ("The DPO pairs' rejected items were drawn excluding the user's training items and the chosen item.",
          False, "the exclusion training uses, so the pairs are what a trainer would see"),
    "E": ("The popularity sampler of the cold-start lab counted items over the whole log, test included.", True,
          "popularity counted on test data"),
    "F": ("The curriculum read its epoch from the trainer's on_epoch_start hook.", False,
          "how recneg's trainer tells a curriculum the epoch"),
    "G": ("The false negatives of the curriculum were counted on the negatives the trainer actually used, "
          "epoch by epoch, on a world whose preferences are known.", False,
          "counting what training used, where the truth is known"),
}


def check_critique(flaws) -> None:
    """Exercise ``ex-cold-text-critique``: the letters of the statements that are flaws."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-cold-text-critique",
                hint="Ask of each statement whether the number measures what it is called, whether the protocol "
                     "decided the result in advance, what data it was computed on, and how many seeds stand "
                     "behind it.")
