"""The checks of the importance re-weighting chapter: reference answers pass, typical
mistakes get a message that names them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from recneg.exercises import ExerciseCheckFailed
from recneg.exercises import reweighting as ex
from recneg.losses import sampled_softmax_loss
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


# -- convergence of the logQ + 1/k estimate ------------------------------------------------
N = 60
COUNTS = (1000.0 / torch.arange(1, N + 1)).round() + 1
LOGITS = 0.8 * COUNTS.log() + 0.5 * torch.randn(N, generator=torch.Generator().manual_seed(0))
POSITIVE = int(torch.argsort(LOGITS, descending=True)[N // 4])
OTHERS = torch.tensor([j for j in range(N) if j != POSITIVE])
Q = COUNTS[OTHERS] / COUNTS[OTHERS].sum()
TRUE_P = float(torch.softmax(LOGITS, 0)[POSITIVE])


def make_estimate(logq: bool, inverse_k: bool):
    def estimate(k, n, seed):
        g = torch.Generator().manual_seed(seed)
        idx = torch.multinomial(Q.expand(n, -1), k, replacement=True, generator=g)
        kwargs = {}
        if logq:
            kwargs["neg_log_prob"] = Q[idx].log()
        if inverse_k:
            kwargs["weights"] = torch.full(idx.shape, 1.0 / k)
        # sampled_softmax_loss averages over rows: one call per trial gives each trial's estimate
        per_row = torch.stack([sampled_softmax_loss(LOGITS[POSITIVE][None], LOGITS[OTHERS[idx[t]]][None],
                                                    **{key: v[t:t + 1] for key, v in kwargs.items()})
                               for t in range(n)])
        return float(torch.exp(-per_row).mean())
    return estimate


def test_convergence_reference_passes(capsys):
    ex.check_convergence(make_estimate(True, True), TRUE_P)
    assert "passed" in capsys.readouterr().out


def test_convergence_without_correction_fails():
    with pytest.raises(ExerciseCheckFailed) as info:
        ex.check_convergence(make_estimate(False, False), TRUE_P)
    assert "neg_log_prob" in str(info.value)


def test_convergence_returning_loss_fails():
    with pytest.raises(ExerciseCheckFailed) as info:
        ex.check_convergence(lambda k, n, seed: 3.5, TRUE_P)
    assert "exp(-loss)" in str(info.value)


# -- self-adversarial weights --------------------------------------------------------------
def test_self_adversarial_reference_passes(capsys):
    ex.check_self_adversarial(lambda s, tau: s.shape[-1] * torch.softmax(s / tau, dim=-1))
    assert "passed" in capsys.readouterr().out


def test_self_adversarial_unscaled_softmax_fails():
    fails_with(ex.check_self_adversarial, lambda s, tau: torch.softmax(s / tau, dim=-1), "sum to k")


def test_self_adversarial_wrong_axis_fails():
    fails_with(ex.check_self_adversarial, lambda s, tau: s.shape[-1] * torch.softmax(s / tau, dim=0), "dim=-1")


def test_self_adversarial_ignoring_temperature_fails():
    fails_with(ex.check_self_adversarial, lambda s, tau: s.shape[-1] * torch.softmax(s, dim=-1), "τ")


# -- false-negative posterior --------------------------------------------------------------
def test_fn_probability_reference_passes(capsys):
    ex.check_fn_probability(lambda s: np.minimum(1.0, 0.1 * norm.pdf(s, 2.0) / norm.pdf(s, 0.0)))
    assert "passed" in capsys.readouterr().out


def test_fn_probability_unclipped_fails():
    fails_with(ex.check_fn_probability, lambda s: 0.1 * norm.pdf(s, 2.0) / norm.pdf(s, 0.0), "Clip")


def test_fn_probability_swapped_densities_fails():
    fails_with(ex.check_fn_probability, lambda s: np.minimum(1.0, 0.1 * norm.pdf(s, 0.0) / norm.pdf(s, 2.0)),
               "swapped")


def test_fn_probability_missing_prior_fails():
    fails_with(ex.check_fn_probability, lambda s: np.minimum(1.0, norm.pdf(s, 2.0) / norm.pdf(s, 0.0)), "prior")
