"""The book's self-check functions accept the reference solutions and reject typical
mistakes with a specific message (not a bare assertion)."""

import re

import numpy as np
import pytest
import torch

from recneg.data import Interactions
from recneg.exercises import case_study, evaluation, false_negatives, static, tour
from recneg.exercises import models_and_losses as models
from recneg.exercises._feedback import ExerciseCheckFailed


@pytest.fixture
def train():
    users = np.array([0, 0, 0, 1, 1, 2])
    items = np.array([1, 2, 3, 2, 4, 5])
    return Interactions(users, items, np.arange(6), n_users=3, n_items=6, name="toy")


def test_tour_unlabelled_share(train):
    share = 1 - 6 / 18
    tour.check_unlabelled_share(share, train)
    with pytest.raises(ExerciseCheckFailed, match="observed"):
        tour.check_unlabelled_share(6 / 18, train)


def test_tour_collisions(train):
    tour.check_collisions(500, train, user=0, n_draws=1000)  # p = 3/6
    with pytest.raises(ExerciseCheckFailed, match="exclude_positives"):
        tour.check_collisions(0, train, user=0, n_draws=1000)
    with pytest.raises(ExerciseCheckFailed, match="Implausibly many"):
        tour.check_collisions(900, train, user=0, n_draws=1000)


def test_tour_popularity_probability(train):
    c = train.item_counts()[1:].astype(float)
    tour.check_popularity_probability(c[1] ** 0.75 / (c**0.75).sum(), train, item=2, alpha=0.75)
    with pytest.raises(ExerciseCheckFailed, match="raw counts"):
        tour.check_popularity_probability(c[1] / c.sum(), train, item=2, alpha=0.75)


def test_models_bpr():
    models.check_bpr(lambda p, n: -torch.nn.functional.logsigmoid(p[:, None] - n).mean())
    with pytest.raises(ExerciseCheckFailed, match="sign"):
        models.check_bpr(lambda p, n: -torch.nn.functional.logsigmoid(n - p[:, None]).mean())
    with pytest.raises(ExerciseCheckFailed, match="logsigmoid"):
        models.check_bpr(lambda p, n: -torch.log(torch.sigmoid(p[:, None] - n)).mean())


def test_models_gbce_beta():
    k, n, t = 256, 1682, 0.75
    a = k / (n - 1)
    models.check_gbce_beta(a * (t * (1 - 1 / a) + 1 / a), k=k, n_items=n, t=t)
    with pytest.raises(ExerciseCheckFailed):
        models.check_gbce_beta(0.5, k=k, n_items=n, t=t)


def test_models_logq_uniform():
    models.check_logq_uniform(1e-8)
    with pytest.raises(ExerciseCheckFailed, match="positive"):
        models.check_logq_uniform(0.3)


def test_evaluation_checks():
    r = np.array([2, 0, 15, 7, 40])
    evaluation.check_ndcg(float(np.where(r < 10, 1 / np.log2(r + 2), 0).mean()), r)
    with pytest.raises(ExerciseCheckFailed, match="rank < 10"):
        evaluation.check_ndcg(float(np.where(r <= 10, 1 / np.log2(r + 2), 0).mean()), np.array([10, 0]))
    evaluation.check_seen_filtering(1, 3)
    with pytest.raises(ExerciseCheckFailed, match="padding"):
        evaluation.check_seen_filtering(1, 4)
    c = np.array([0, 50, 30, 10, 5, 3, 2])
    from recneg.metrics import popularity_cohorts
    evaluation.check_cohorts(popularity_cohorts(c)[1:], c)
    with pytest.raises(ExerciseCheckFailed, match="wrong cohort"):
        evaluation.check_cohorts(np.zeros(6, int), c)


def test_static_checks(train):
    static.check_uniform_probability(1 / 3, train, user=0)
    with pytest.raises(ExerciseCheckFailed, match="exclusion"):
        static.check_uniform_probability(1 / 6, train, user=0)
    static.check_popularity_gof(0.4)
    with pytest.raises(ExerciseCheckFailed, match="expected frequencies"):
        static.check_popularity_gof(1e-9)
    static.check_setdiff_bias(0.4)
    with pytest.raises(ExerciseCheckFailed, match="no bias"):
        static.check_setdiff_bias(1.0)


def test_case_study_checks():
    from recneg.metrics import balance
    case_study.check_balance(float(balance(0.3, 0.1, 0.02)), (0.3, 0.1, 0.02))
    with pytest.raises(ExerciseCheckFailed, match="Gini"):
        case_study.check_balance(1 - float(balance(0.3, 0.1, 0.02)), (0.3, 0.1, 0.02))
    a, b = np.array([0.1, 0.12, 0.11]), np.array([0.08, 0.09, 0.085])
    from scipy.stats import ttest_ind
    t = float(ttest_ind(a, b, equal_var=False).statistic)
    case_study.check_welch_t(t, a, b)
    with pytest.raises(ExerciseCheckFailed, match="reversed"):
        case_study.check_welch_t(-t, a, b)


def _never_reveals(check, answer, expected, *args):
    with pytest.raises(ExerciseCheckFailed) as info:
        check(answer, *args)
    message = str(info.value)
    for digits in (2, 3, 4):
        assert f"{expected:.{digits}f}" not in message, message
    return message


def test_case_study_checks_name_the_mistake_and_never_the_answer():
    from scipy.stats import ttest_ind
    from recneg.data import SyntheticWorld, leave_one_out
    from recneg.metrics import balance
    rates = (0.3, 0.1, 0.02)
    right = float(balance(*rates))
    x = np.array(rates)                       # not sorted: the classic slip
    unsorted = 1 - ((2 * np.arange(1, 4) - 4) * x).sum() / (3 * x.sum())
    assert "sort them ascending" in _never_reveals(case_study.check_balance, unsorted, right, rates)
    zero_based = 1 - ((2 * np.arange(3) - 4) * np.sort(x)).sum() / (3 * x.sum())
    assert "Off by one" in _never_reveals(case_study.check_balance, zero_based, right, rates)
    assert "Not Balance yet" in _never_reveals(case_study.check_balance, 0.5, right, rates)
    a, b = np.array([0.1, 0.12, 0.11, 0.1]), np.array([0.08, 0.09, 0.085, 0.095, 0.07])
    welch = float(ttest_ind(a, b, equal_var=False).statistic)
    student = float(ttest_ind(a, b, equal_var=True).statistic)
    assert "pooled" in _never_reveals(case_study.check_welch_t, student, welch, a, b)
    split = leave_one_out(SyntheticWorld(n_users=80, n_items=40, random_state=0).generate())
    wrong = {"head": 0.2, "mid": 0.3, "tail": 0.5}
    with pytest.raises(ExerciseCheckFailed) as info:
        case_study.check_target_share(wrong, split)
    assert "expected" not in str(info.value)


def test_false_negative_checks(fn_world):
    fn, tm, allowed, counts = fn_world
    exact = float((fn.sum(1) / allowed.sum(1)).mean())
    false_negatives.check_uniform_fnr(exact, fn, tm)
    with pytest.raises(ExerciseCheckFailed, match="pooled"):
        false_negatives.check_uniform_fnr(float(fn.sum() / allowed.sum()), fn, tm)
    w = np.where(allowed, counts, 0)
    false_negatives.check_popularity_fnr(float(((w * fn).sum(1) / w.sum(1)).mean()), fn, tm, counts)
    from scipy.stats import hypergeom
    false_negatives.check_expected_sampled_hr(lambda r, M, n, k=10: hypergeom.cdf(k - 1, M - 1, r, n))
    with pytest.raises(ExerciseCheckFailed):
        false_negatives.check_expected_sampled_hr(lambda r, M, n, k=10: np.minimum(1.0, n / (np.asarray(r) + 1)))


# -- checks of chapters 1, 2, 3, 4 and 10: each typical mistake is named, the answer never shown


def _names_mistake_not_answer(check, answer, expected, *fragments, integer=None, **kwargs):
    """``check(answer, **kwargs)`` fails with a message holding every fragment and none of
    the renderings of ``expected`` (2, 3 and 4 decimals; ``integer`` as a whole number)."""
    with pytest.raises(ExerciseCheckFailed) as info:
        check(answer, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    for value in np.atleast_1d(np.asarray(expected, dtype=float)):
        for digits in (2, 3, 4):
            assert f"{value:.{digits}f}" not in message, message
    for value in np.atleast_1d(integer if integer is not None else []):
        assert not re.search(rf"(?<![\d.]){int(value)}(?![\d.])", message), message
    return message


@pytest.fixture
def train_with_repeats():
    users = np.array([0, 0, 0, 0, 1, 1, 2])
    items = np.array([1, 2, 3, 1, 2, 4, 5])  # user 0 met item 1 twice
    return Interactions(users, items, np.arange(7), n_users=3, n_items=6, name="repeats")


def test_tour_unlabelled_share_names_each_mistake(train_with_repeats):
    train = train_with_repeats
    right = 1 - 6 / 18
    check = tour.check_unlabelled_share
    tour.check_unlabelled_share(right, train)
    _names_mistake_not_answer(check, 6 / 18, right, "*observed* pairs", train=train)
    _names_mistake_not_answer(check, 1 - 7 / 18, right, "counted interactions", train=train)
    _names_mistake_not_answer(check, 1 - 6 / 21, right, "padding", train=train)
    _names_mistake_not_answer(check, 100 * right, right, "percentage", train=train)
    _names_mistake_not_answer(check, float("nan"), right, "not a finite number", train=train)
    _names_mistake_not_answer(check, 0.5, right, "not the unlabelled share", train=train)


def test_tour_collisions_say_too_many_or_too_few_without_the_count(train):
    kwargs = dict(train=train, user=0, n_draws=1000)   # p = 3/6: about 500 expected
    check = tour.check_collisions
    _names_mistake_not_answer(check, 900, 500, "Implausibly many", integer=500, **kwargs)
    _names_mistake_not_answer(check, 100, 500, "Implausibly few", integer=500, **kwargs)
    _names_mistake_not_answer(check, 0, 500, "exclude_positives", integer=500, **kwargs)
    _names_mistake_not_answer(check, 0.5, 500, "whole number", integer=500, **kwargs)
    _names_mistake_not_answer(check, 2000, 500, "lies between", integer=500, **kwargs)


def test_tour_popularity_probability_names_each_mistake(train):
    c = train.item_counts()[1:].astype(float)
    w = c**0.75
    right = w[1] / w.sum()
    check, kwargs = tour.check_popularity_probability, dict(train=train, item=2, alpha=0.75)
    _names_mistake_not_answer(check, c[1] / c.sum(), right, "raw counts", **kwargs)
    _names_mistake_not_answer(check, 1 / 6, right, "uniform probability", **kwargs)
    _names_mistake_not_answer(check, w[1], right, "unnormalised weight", **kwargs)
    _names_mistake_not_answer(check, w[2] / w.sum(), right, "Off by one", **kwargs)
    _names_mistake_not_answer(check, 100 * right, right, "percentage", **kwargs)
    _names_mistake_not_answer(check, 0.01, right, "share of the popularity weights", **kwargs)


def test_models_bpr_names_each_mistake_and_never_the_loss():
    logsig = torch.nn.functional.logsigmoid
    gen = torch.Generator().manual_seed(0)   # the check's own random scores
    pos, neg = torch.randn(16, generator=gen), torch.randn(16, 4, generator=gen)
    right = float(-logsig(pos[:, None] - neg).mean())
    wrong = {
        "sign is reversed": lambda p, n: -logsig(n - p[:, None]).mean(),
        "minus sign": lambda p, n: logsig(p[:, None] - n).mean(),
        "summed over the pairs": lambda p, n: -logsig(p[:, None] - n).sum(),
        "summed over the negatives": lambda p, n: -logsig(p[:, None] - n).sum(1).mean(),
        "averaged the negative scores": lambda p, n: -logsig(p - n.mean(1)).mean(),
        "first negative": lambda p, n: -logsig(p - n[:, 0]).mean(),
        "not one scalar": lambda p, n: -logsig(p[:, None] - n),
        "differs from BPR": lambda p, n: -logsig(p[:, None] - n).mean() + 0.1,
        "logsigmoid": lambda p, n: -torch.log(torch.sigmoid(p[:, None] - n)).mean(),
        "raised RuntimeError": lambda p, n: -logsig(p - n).mean(),   # (16,) - (16, 4)
    }
    for fragment, fn in wrong.items():
        _names_mistake_not_answer(lambda f: models.check_bpr(f), fn, right, fragment)


def test_models_gbce_beta_names_each_mistake():
    k, n, t = 256, 1682, 0.75
    a = k / (n - 1)

    def beta(alpha, calibration):
        return alpha * (calibration * (1 - 1 / alpha) + 1 / alpha)

    right = beta(a, t)
    check, kwargs = models.check_gbce_beta, dict(k=k, n_items=n, t=t)
    _names_mistake_not_answer(check, beta(k / n, t), right, "(N - 1)", **kwargs)
    _names_mistake_not_answer(check, a, right, "t = 1", **kwargs)
    _names_mistake_not_answer(check, 1.0, right, "plain BCE", **kwargs)
    _names_mistake_not_answer(check, beta(a, 1 - t), right, "1 - t", **kwargs)
    _names_mistake_not_answer(check, beta((n - 1) / k, t), right, "upside down", **kwargs)
    _names_mistake_not_answer(check, 0.5, right, "does not follow", **kwargs)


def test_models_logq_uniform_names_each_mistake():
    _names_mistake_not_answer(models.check_logq_uniform, -0.2, 0.0, "absolute")
    _names_mistake_not_answer(models.check_logq_uniform, 0.3, 0.0, "positive's logit")
    _names_mistake_not_answer(models.check_logq_uniform, float("inf"), 0.0, "not finite")


def test_evaluation_ndcg_names_each_mistake_and_never_the_value():
    r = np.array([2, 0, 15, 7, 10, 40])
    gains = np.where(r < 10, 1 / np.log2(r + 2), 0)
    right = float(gains.mean())
    cases = {
        "1-based": np.where(r + 1 < 10, 1 / np.log2(r + 3), 0).mean(),
        "rank < 10": np.where(r <= 10, 1 / np.log2(r + 2), 0).mean(),
        "natural logarithm": np.where(r < 10, 1 / np.log(r + 2), 0).mean(),
        "HR@10": (r < 10).mean(),
        "summed the gains": gains.sum(),
        "hits only": gains[r < 10].mean(),
        "not finite": float("inf"),
        "does not match": 0.9,
    }
    for fragment, answer in cases.items():
        _names_mistake_not_answer(evaluation.check_ndcg, float(answer), right, fragment, ranks=r)


def test_evaluation_seen_filtering_never_names_a_rank():
    cases = {
        (3, 1): "swapped",
        (2, 4): "one too large",
        (3, 3): "not removed",
        (1, 4): "padding",
        (0, 3): "too optimistic",
        (1, 2): "raw (unfiltered) rank is off",
        (2, 3): "filtered rank is off",
    }
    for (filtered, raw), fragment in cases.items():
        _names_mistake_not_answer(lambda f: evaluation.check_seen_filtering(f, raw), filtered,
                                  [], fragment, integer=[1, 3])


def test_evaluation_cohorts_name_each_mistake_and_never_the_assignment():
    from recneg.metrics import popularity_cohorts
    c = np.array([0, 50, 30, 10, 5, 3, 2])
    right = popularity_cohorts(c)[1:]            # [0, 1, 2, 2, 2, 2]
    cases = {
        "padding entry 0": popularity_cohorts(c),
        "Head and tail are swapped": 2 - right,
        "least to most popular": np.array([1, 0, 0, 0, 0, 0]),
        "*items* into thirds": np.array([0, 0, 1, 1, 2, 2]),
        "shifted by one item": np.array([1, 2, 2, 2, 2, 2]),
        "wrong cohort": np.array([0, 0, 2, 2, 2, 2]),
        "labelled 0 (head)": np.array([0, 1, 2, 3, 3, 3]),
    }
    for fragment, answer in cases.items():
        message = _names_mistake_not_answer(evaluation.check_cohorts, answer, [], fragment,
                                            counts=c)
        assert str(right.tolist()) not in message, message


@pytest.fixture
def fn_world():
    fn = np.zeros((2, 5), bool)
    fn[0, 3] = fn[1, 1] = fn[1, 2] = True
    tm = np.zeros((2, 5), bool)
    tm[0, 1] = True
    allowed = ~tm
    allowed[:, 0] = False
    return fn, tm, allowed, np.array([0, 5, 1, 1, 3.0])


def test_false_negative_rates_name_each_mistake(fn_world):
    fn, tm, allowed, counts = fn_world
    uniform = float((fn.sum(1) / allowed.sum(1)).mean())
    check, kwargs = false_negatives.check_uniform_fnr, dict(fn_mask=fn, train_mask=tm)
    _names_mistake_not_answer(check, fn.sum() / allowed.sum(), uniform, "pooled", **kwargs)
    _names_mistake_not_answer(check, (fn.sum(1) / 4).mean(), uniform, "training items", **kwargs)
    _names_mistake_not_answer(check, (fn.sum(1) / 5).mean(), uniform, "padding", **kwargs)
    _names_mistake_not_answer(check, 100 * uniform, uniform, "percentage", **kwargs)
    _names_mistake_not_answer(check, 0.9, uniform, "not the exact", **kwargs)
    w = np.where(allowed, counts, 0)
    popular = float(((w * fn).sum(1) / w.sum(1)).mean())
    check = false_negatives.check_popularity_fnr
    kwargs = dict(fn_mask=fn, train_mask=tm, counts=counts)
    false_negatives.check_popularity_fnr(popular, **kwargs)
    _names_mistake_not_answer(check, (w * fn).sum() / w.sum(), popular, "pooled", **kwargs)
    everything = np.where(np.arange(5) > 0, counts, 0)[None, :].repeat(2, 0)
    over_all = float(((everything * fn).sum(1) / everything.sum(1)).mean())
    _names_mistake_not_answer(check, over_all, popular, "training items", **kwargs)
    _names_mistake_not_answer(check, uniform, popular, "uniform sampler's rate", **kwargs)
    _names_mistake_not_answer(check, 0.9, popular, "not the exact", **kwargs)


def test_sampled_hit_rate_names_each_mistake_and_never_the_probabilities():
    from scipy.stats import binom, hypergeom
    r = np.array([0, 5, 9, 10, 50, 400])
    right = hypergeom.cdf(9, 999, r, 100)
    wrong = {
        "probability of a miss": lambda r, M, n, k=10: hypergeom.sf(k - 1, M - 1, r, n),
        "Off by one": lambda r, M, n, k=10: hypergeom.cdf(k, M - 1, r, n),
        "population is off by one": lambda r, M, n, k=10: hypergeom.cdf(k - 1, M, r, n),
        "binomial": lambda r, M, n, k=10: binom.cdf(k - 1, n, np.asarray(r) / (M - 1)),
        "always a hit": lambda r, M, n, k=10: np.full(len(r), 0.5),
        "Vectorise": lambda r, M, n, k=10: 0.5,
        "off at r =": lambda r, M, n, k=10: np.minimum(1.0, n / (np.asarray(r) + 1)),
    }
    for fragment, fn in wrong.items():
        _names_mistake_not_answer(false_negatives.check_expected_sampled_hr, fn, right, fragment)


def test_static_uniform_probability_names_each_mistake(train, train_with_repeats):
    right = 1 / 3                              # user 0: 3 of 6 items allowed
    check, kwargs = static.check_uniform_probability, dict(train=train, user=0)
    cases = {
        "ignores the exclusion": 1 / 6,
        "log-probability": np.log(right),
        "count, not a probability": 3,
        "padding": 1 / 4,
        "another user": 1 / 5,               # user 2 has one training item
        "not that of one allowed item": 0.9,
    }
    for fragment, answer in cases.items():
        _names_mistake_not_answer(check, answer, right, fragment, integer=3, **kwargs)
    _names_mistake_not_answer(check, 1 / 2, right, "repeated interactions", integer=3,
                              train=train_with_repeats, user=0)


def test_static_gof_and_setdiff_name_each_mistake():
    with pytest.raises(ExerciseCheckFailed, match="statistic"):
        static.check_popularity_gof(35.2)
    with pytest.raises(ExerciseCheckFailed, match="upside down"):
        static.check_setdiff_bias(2.5)
    with pytest.raises(ExerciseCheckFailed, match="positive"):
        static.check_setdiff_bias(-0.4)
