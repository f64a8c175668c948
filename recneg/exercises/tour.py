"""Self-checks for the exercises of "A tour of recneg".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import functools

from scipy.stats import binom

from ..data.interactions import Interactions
from ..evaluation import evaluate
from ..models import MostPopular
from ._feedback import as_number, check_flaws, check_prediction_recorded, fail, passed, same
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_critique", "check_prediction", "check_unlabelled_share",
           "check_collisions", "check_popularity_probability"]

_close = functools.partial(same, rtol=1e-6, atol=1e-12)  # answers may come from float32 tensors


def check_unlabelled_share(answer: float, train: Interactions) -> None:
    """Check the share of (user, item) pairs absent from the training split."""
    value = as_number(answer, "share")
    cells = train.n_users * train.n_items
    observed = len(train.user_item_set())
    expected = 1 - observed / cells
    if _close(value, expected):
        passed("tour-unlabelled", f"{expected:.2%} of the pairs are unlabelled.")
        return
    if _close(value, 100 * expected):
        fail("Your share looks like a percentage.", hint="Give it as a fraction between 0 and 1.")
    if not 0 <= value <= 1:
        fail("A share lies between 0 and 1; yours does not.",
             hint="Divide the number of unlabelled pairs by the number of all (user, item) pairs.")
    if _close(value, 1 - expected):
        fail("You computed the share of *observed* pairs (the density); the exercise asks for "
             "the unlabelled share.", hint="Subtract the density from 1.")
    if _close(value, 1 - len(train) / cells):
        fail("You counted interactions, not distinct (user, item) pairs.",
             hint="Repeated interactions of a user with an item count once: use "
                  "len(train.user_item_set()).")
    if _close(value, 1 - observed / (train.n_users * (train.n_items + 1))):
        fail("You counted item 0, the padding id, as a catalogue item.",
             hint="The catalogue is items 1..n_items: there are n_users × n_items pairs.")
    fail("Your share is not the unlabelled share of the training split.",
         hint="Count the distinct (user, item) pairs of split.train, divide by "
              "n_users × n_items, and subtract the result from 1.")


def check_collisions(answer: int, train: Interactions, *, user: int, n_draws: int) -> None:
    """Check a count of draws that hit the user's training items.

    The count is random, so the check accepts any value the binomial distribution of
    collisions makes plausible (two-sided p > 0.001).
    """
    value = as_number(answer, "collision count")
    p = len(train.user_item_set().items_of(user)) / train.n_items
    low, high = binom.ppf(0.0005, n_draws, p), binom.ppf(0.9995, n_draws, p)
    if low <= value <= high and value == int(value):
        passed("tour-exclusion", f"Plausible: about {n_draws * p:.0f} collisions are expected.")
        return
    if value != int(value) or (0 < value < 1):
        fail("Your answer is not a whole number of draws.",
             hint="Count the colliding draws (an integer); do not divide by the number of draws.")
    if value < 0 or value > n_draws:
        fail(f"A count of colliding draws lies between 0 and {n_draws}; yours does not.")
    if value == 0 and p > 0:
        fail("Zero collisions: did you keep exclude_positives=True?",
             hint="The exercise asks what happens *without* exclusion: "
                  "UniformSampler(exclude_positives=False).")
    if value > high:
        fail(f"Implausibly many collisions for uniform draws for user {user}.",
             hint="Count only the draws that are in *this* user's training items "
                  "(train.user_item_set().contains with the user's id), and draw uniformly, "
                  "not by popularity.")
    fail(f"Implausibly few collisions for uniform draws for user {user}.",
         hint="Sample without exclusion, for the user you check, and compare each draw with "
              "that user's training items. In expectation the count is n_draws × (the user's "
              "training items ÷ n_items).")


def check_popularity_probability(answer: float, train: Interactions, *, item: int, alpha: float) -> None:
    """Check the probability of drawing ``item`` from counts**alpha (no exclusion)."""
    value = as_number(answer, "probability")
    counts = train.item_counts().astype(float)[1:]
    weights = counts**alpha
    expected = weights[item - 1] / weights.sum()
    if _close(value, expected):
        passed("tour-popularity-prob", f"p(item {item}) = {expected:.6f}.")
        return
    if _close(value, 100 * expected):
        fail("Your probability looks like a percentage.", hint="Give it as a number between 0 and 1.")
    if _close(value, counts[item - 1] / counts.sum()):
        fail("You used the raw counts.", hint=f"Raise every count to the power alpha = {alpha} "
                                               "before normalising.")
    if _close(value, 1 / train.n_items):
        fail("That is the uniform probability.",
             hint="The popularity sampler weighs each item by its training count to the power alpha.")
    if _close(value, weights[item - 1]):
        fail("You gave the item's unnormalised weight.", hint="Divide by the sum of all items' weights.")
    neighbours = [j for j in (item - 1, item + 1) if 1 <= j <= train.n_items]
    if any(_close(value, weights[j - 1] / weights.sum()) for j in neighbours):
        fail("Off by one in the item index: you took the weight of a neighbouring item.",
             hint="item_counts()[0] is padding, so item j is item_counts()[j], and weights[j - 1] "
                  "once the padding entry is dropped.")
    if not 0 <= value <= 1:
        fail("A probability lies between 0 and 1; yours does not.",
             hint="Divide the item's weight by the sum of all items' weights.")
    fail("Your probability is not the item's share of the popularity weights.",
         hint="Compute c_j**alpha for every item 1..n_items from the *training* counts, then "
              "divide the item's weight by their sum.")


def check_prediction(prediction, measured_gap, log: Interactions, split) -> None:
    """Exercise tour-predict: a prediction written down, then the leak measured.

    ``measured_gap`` is the test HR@10 of ``MostPopular`` counted on the whole ``log``
    minus that of ``MostPopular`` counted on ``split.train`` (both evaluated on
    ``split.test`` with the training split's seen items filtered).
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_gap, "measured_gap")

    def scores(counted_on, rows):
        return evaluate(MostPopular(counted_on), rows, split.train, ks=(10,))

    leaky, honest = scores(log, split.test), scores(split.train, split.test)
    on_valid = scores(log, split.valid)["hr@10"] - scores(split.train, split.valid)["hr@10"]
    check_difference(
        value, leaky["hr@10"], honest["hr@10"], name="gap", exercise="tour-predict",
        detail="now compare it with your prediction, and with the share of the log that the test "
               "rows make up.",
        order="The model counted on the whole log minus the one counted on the training split.",
        what="the difference of the two MostPopular models' test HR@10",
        how="Evaluate MostPopular(log) and MostPopular(split.train) on split.test, each with "
            "evaluate(model, split.test, split.train), and subtract the second HR@10 from the first.",
        mistakes=[
            (leaky["ndcg@10"] - honest["ndcg@10"], "Your gap is in NDCG@10; the exercise compares HR@10.",
             None),
            (100 * (leaky["hr@10"] - honest["hr@10"]), "Your gap is in percentage points.",
             "Give the difference of the two HR@10 values as they are, fractions between 0 and 1."),
            (on_valid, "Your gap is measured on the validation rows.",
             "The leak concerns the test targets: evaluate on split.test."),
        ])


#: Statements about a first pipeline run (exercise tour-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("The popularity sampler was fitted on the whole log, before it was split.", True,
          "popularity counted on test data"),
    "B": ("Test HR@10 was computed against 100 sampled items and reported as HR@10, with no "
          "word on the protocol.", True, "sampled metrics reported as full ranking"),
    "C": ("The sampler was built with exclude_positives=False, so a negative could be one of the "
          "user's training items.", True, "negatives that can equal a positive"),
    "D": ("Every item the user interacted with in training was removed from the ranking, except "
          "the test target.", False, "filtering seen items is the full-ranking protocol"),
    "E": ("The epoch to report was chosen by test HR@10 after every epoch.", True,
          "model selection on the test split"),
    "F": ("The model was trained on split.train only, and the run's seed was reported with its "
          "numbers.", False, "training on the training split, with the seed named, is what the "
                             "tour does"),
}


def check_critique(flaws) -> None:
    """Exercise tour-critique: pick the statements that are flaws of the run."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="tour-critique",
                hint="Walk through the pipeline step by step: what each step may see (training, "
                     "validation or test rows), what a negative may be, and what the reported "
                     "number was computed against.")
