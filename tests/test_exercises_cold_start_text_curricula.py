"""The checks of the open-problems chapter (LLM-era negatives, cold start, curricula):
reference answers pass, typical mistakes get a message that names them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recneg.cold_start import thin_item_cohort
from recneg.data import SyntheticWorld, leave_one_out
from recneg.exercises import cold_start_text_curricula as ex
from recneg.preference_pairs import later_items, preference_pairs
from recneg.samplers import RankBandSampler, UniformSampler
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


# -- band ------------------------------------------------------------------------------------------
def band_reference(scores, excluded, low, high):
    return scores.masked_fill(excluded, float("-inf")).argsort(descending=True, stable=True)[low - 1:high]


def test_band_reference_passes(capsys):
    ex.check_band_items(band_reference)
    assert "ex-cold-text-band passed" in capsys.readouterr().out


def test_band_agrees_with_the_sampler():
    scores, excluded = ex._band_case()
    from recneg.data import Interactions
    seen = np.flatnonzero(excluded.numpy()[1:]) + 1
    train = Interactions(np.zeros(len(seen), dtype=np.int64), seen, np.arange(len(seen)), n_users=1, n_items=40)
    items, _ = RankBandSampler(3, 7).fit(train).band(torch.tensor([0]), torch.tensor([int(seen[0])]),
                                                      lambda c: scores[c].float())
    assert items[0].tolist() == band_reference(scores, excluded, 3, 7).tolist()


@pytest.mark.parametrize("wrong, fragment", [
    (lambda s, e, lo, hi: s.argsort(descending=True, stable=True)[lo - 1:hi], "excluded items"),
    (lambda s, e, lo, hi: band_reference(s, e, lo + 1, hi + 1), "shifted by one"),
    (lambda s, e, lo, hi: band_reference(s, e, lo, hi).flip(0), "wrong order"),
    (lambda s, e, lo, hi: band_reference(s, e, lo, hi + 1), "instead of"),
    (lambda s, e, lo, hi: s.masked_fill(e, float("inf")).argsort(stable=True)[lo - 1:hi], "lowest score up"),
])
def test_band_mistakes_are_named(wrong, fragment):
    fails_with(ex.check_band_items, wrong, fragment)


# -- false preferences ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pairs_case():
    split = leave_one_out(SyntheticWorld(n_users=120, n_items=40, random_state=0).generate())
    pairs = preference_pairs(UniformSampler().fit(split.train), split.test, random_state=0)
    return split, pairs, later_items(split)


def test_false_preference_reference_passes(pairs_case, capsys):
    split, pairs, later = pairs_case
    share = float(later.contains(torch.tensor(pairs.user.to_numpy()), torch.tensor(pairs.rejected.to_numpy()))
                  .double().mean())
    assert 0 < share < 1
    ex.check_false_preference_share(share, pairs, later, split.train)
    assert "passed" in capsys.readouterr().out


def test_false_preference_mistakes_are_named(pairs_case):
    split, pairs, later = pairs_case
    hits = later.contains(torch.tensor(pairs.user.to_numpy()), torch.tensor(pairs.rejected.to_numpy()))
    fails_with(ex.check_false_preference_share, 1.0, "*chosen*", pairs=pairs, later=later)
    fails_with(ex.check_false_preference_share, float(hits.sum()), "count", pairs=pairs, later=later)
    fails_with(ex.check_false_preference_share, 1 - float(hits.double().mean()), "*not*", pairs=pairs, later=later)
    fails_with(ex.check_false_preference_share, 0.0, "training interactions", pairs=pairs, later=later,
               train=split.train)
    fails_with(ex.check_false_preference_share, "a lot", "not a number", pairs=pairs, later=later)


# -- predict, then measure ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort_case():
    split = leave_one_out(SyntheticWorld(n_users=150, n_items=80, random_state=2).generate())
    return thin_item_cohort(split, fraction=0.15, keep=2, random_state=0)


def share(train, cohort, smoothing, alpha=0.75):
    weights = (train.item_counts().astype(float) + smoothing) ** alpha
    weights[0] = 0.0
    return weights[cohort].sum() / weights.sum()


def test_prediction_reference_passes(cohort_case, capsys):
    cold, cohort = cohort_case
    ex.check_prediction("lower", share(cold.train, cohort, 10) - share(cold.train, cohort, 1), cold.train, cohort)
    assert "ex-cold-text-predict passed" in capsys.readouterr().out


def test_prediction_mistakes_are_named(cohort_case):
    cold, cohort = cohort_case
    gap = share(cold.train, cohort, 10) - share(cold.train, cohort, 1)
    check = ex.check_prediction
    fails_with(check, "maybe", "Write your prediction", measured_gap=gap, train=cold.train, cohort=cohort)
    fails_with(check, "higher", "wrong sign", measured_gap=-gap, train=cold.train, cohort=cohort)
    fails_with(check, "higher", "larger smoothing itself", measured_gap=share(cold.train, cohort, 10),
               train=cold.train, cohort=cohort)
    fails_with(check, "higher", "alpha = 1", measured_gap=share(cold.train, cohort, 10, 1.0)
               - share(cold.train, cohort, 1, 1.0), train=cold.train, cohort=cohort)
    fails_with(check, "higher", "is not", measured_gap=gap + 0.05, train=cold.train, cohort=cohort)


# -- critique ------------------------------------------------------------------------------------------
def test_critique_reference_passes(capsys):
    ex.check_critique(["A", "B", "C", "E"])
    assert "passed" in capsys.readouterr().out


def test_critique_mistakes_are_named():
    fails_with(ex.check_critique, ["A", "B"], "missed 2")
    fails_with(ex.check_critique, ["A", "B", "C", "E", "D"], "Statement D describes a sound practice")
    fails_with(ex.check_critique, ["Z"], "not statements")
