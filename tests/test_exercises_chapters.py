"""The book's self-check functions accept the reference solutions and reject typical
mistakes with a specific message (not a bare assertion)."""

import numpy as np
import pytest
import torch

from recneg.data import Interactions
from recneg.exercises import case_study, evaluation, false_negatives, models, static, tour
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
    with pytest.raises(ExerciseCheckFailed, match="implausible"):
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


def test_false_negative_checks():
    fn = np.zeros((2, 5), bool)
    fn[0, 3] = fn[1, 1] = fn[1, 2] = True
    tm = np.zeros((2, 5), bool)
    tm[0, 1] = True
    allowed = ~tm
    allowed[:, 0] = False
    exact = float((fn.sum(1) / allowed.sum(1)).mean())
    false_negatives.check_uniform_fnr(exact, fn, tm)
    with pytest.raises(ExerciseCheckFailed, match="pooled"):
        false_negatives.check_uniform_fnr(float(fn.sum() / allowed.sum()), fn, tm)
    counts = np.array([0, 5, 1, 1, 3.0])
    w = np.where(allowed, counts, 0)
    false_negatives.check_popularity_fnr(float(((w * fn).sum(1) / w.sum(1)).mean()), fn, tm, counts)
    from scipy.stats import hypergeom
    false_negatives.check_expected_sampled_hr(lambda r, M, n, k=10: hypergeom.cdf(k - 1, M - 1, r, n))
    with pytest.raises(ExerciseCheckFailed):
        false_negatives.check_expected_sampled_hr(lambda r, M, n, k=10: np.minimum(1.0, n / (np.asarray(r) + 1)))
