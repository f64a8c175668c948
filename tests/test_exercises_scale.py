"""The checks of the "negative sampling at scale" chapter: reference answers pass, typical
mistakes get a message that names them."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from recneg.exercises import scale as ex
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


# -- ex-scale-es: exponential keys ----------------------------------------------------------
def es_keys(weights, k, rng):
    weights = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore"):
        keys = rng.exponential(size=len(weights)) / weights
    return np.argsort(keys)[:k]


def test_es_sample_accepts_exponential_keys(capsys):
    ex.check_es_sample(es_keys)
    assert "ex-scale-es passed" in capsys.readouterr().out


def test_es_sample_accepts_gumbel_keys():
    def gumbel_top_k(weights, k, rng):
        with np.errstate(divide="ignore"):
            perturbed = np.log(np.asarray(weights, dtype=float)) + rng.gumbel(size=len(weights))
        return np.argsort(-perturbed)[:k]

    ex.check_es_sample(gumbel_top_k)


def test_es_sample_rejects_largest_keys():
    def largest(weights, k, rng):
        with np.errstate(divide="ignore"):
            keys = rng.exponential(size=len(weights)) / np.asarray(weights, dtype=float)
        finite = np.where(np.isfinite(keys), keys, -np.inf)
        return np.argsort(-finite)[:k]

    fails_with(ex.check_es_sample, largest, "light items win", "SMALLEST")


def test_es_sample_rejects_uniform_over_weight_keys():
    def u_over_w(weights, k, rng):
        with np.errstate(divide="ignore"):
            keys = rng.random(len(weights)) / np.asarray(weights, dtype=float)
        return np.argsort(keys)[:k]

    fails_with(ex.check_es_sample, u_over_w, "first draw", "-log(u) / w")


def test_es_sample_rejects_draws_with_replacement():
    def with_replacement(weights, k, rng):
        w = np.asarray(weights, dtype=float)
        return rng.choice(len(w), size=k, p=w / w.sum())

    fails_with(ex.check_es_sample, with_replacement, "twice in one sample")


def test_es_sample_rejects_wrong_shape():
    fails_with(ex.check_es_sample, lambda w, k, rng: np.sort(rng.exponential(size=len(w)) / np.maximum(w, 1e-9))[:k],
               "float64 values")


# -- ex-scale-budget: the smallest safe stream budget -----------------------------------------
def budget(r, k, delta):
    if r >= 1.0:
        return k
    m = k
    while stats.binom.cdf(k - 1, m, r) > delta:
        m += 1
    return m


def test_budget_accepts_the_exact_search(capsys):
    ex.check_stream_budget(budget)
    assert "ex-scale-budget passed" in capsys.readouterr().out


def test_budget_agrees_with_the_package():
    """The exercise's reference and recneg.scale.budget.draws_table compute the same m."""
    from recneg.scale.budget import FIXED_POINT, draws_table

    thresholds, budgets = draws_table(10, 1e-9)
    for j in (0, 5, 40, 100):
        assert budgets[j] == budget(thresholds[j] / FIXED_POINT, 10, 1e-9)


def test_budget_rejects_the_mean():
    fails_with(ex.check_stream_budget, lambda r, k, delta: math.ceil(k / r), "AVERAGE", "binom.cdf(k - 1, m, r)")


def test_budget_rejects_an_off_by_one_tail():
    def tail_k(r, k, delta):
        if r >= 1.0:
            return k
        m = k
        while stats.binom.cdf(k, m, r) > delta:  # P(X <= k) instead of P(X < k)
            m += 1
        return m

    fails_with(ex.check_stream_budget, tail_k, "already enough", "SMALLEST")


def test_budget_rejects_fractional_budgets():
    fails_with(ex.check_stream_budget, lambda r, k, delta: k / r + 0.5, "whole number")


# -- ex-scale-logq: undoing the proposal -------------------------------------------------------
def test_logq_accepts_adding_log_q(capsys):
    ex.check_logq_correction(lambda logit, log_q: logit + log_q[None, :])
    ex.check_logq_correction(lambda logit, log_q: 1 / (1 + np.exp(-(logit + log_q))) + 3.0)  # monotone
    assert "ex-scale-logq passed" in capsys.readouterr().out


def test_logq_rejects_subtracting_log_q():
    fails_with(ex.check_logq_correction, lambda logit, log_q: logit - log_q, "subtracts log q", "add log q back")


def test_logq_rejects_no_correction():
    fails_with(ex.check_logq_correction, lambda logit, log_q: logit, "correction is missing")


def test_logq_rejects_wrong_shape():
    fails_with(ex.check_logq_correction, lambda logit, log_q: (logit + log_q).mean(axis=1), "shape")
