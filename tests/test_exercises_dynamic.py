"""The checks of the dynamic-sampling chapter: reference answers pass, typical mistakes
get a message that names them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recneg.exercises import dynamic as ex
from recneg.samplers import AHNSSampler, SRNSSampler
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


# -- DNS -------------------------------------------------------------------------------------
def dns_reference(candidates, scores, k):
    return candidates.gather(1, scores.topk(k, dim=1).indices)


def test_dns_reference_passes(capsys):
    ex.check_dns_select(dns_reference)
    assert "ex-dynamic-dns passed" in capsys.readouterr().out


def test_dns_numpy_answer_in_any_order_passes():
    def numpy_answer(candidates, scores, k):
        order = np.argsort(scores.numpy(), axis=1)[:, -k:]       # ascending: order differs
        return np.take_along_axis(candidates.numpy(), order, axis=1)
    ex.check_dns_select(numpy_answer)


def test_dns_lowest_scores_named():
    fails_with(ex.check_dns_select,
               lambda c, s, k: c.gather(1, s.topk(k, dim=1, largest=False).indices),
               "lowest", "Hint:")


def test_dns_positions_instead_of_items_named():
    fails_with(ex.check_dns_select, lambda c, s, k: s.topk(k, dim=1).indices,
               "positions in the pool", "gather")


def test_dns_scores_instead_of_items_named():
    fails_with(ex.check_dns_select, lambda c, s, k: s.topk(k, dim=1).values, "item ids")


def test_dns_wrong_shape_named():
    fails_with(ex.check_dns_select, lambda c, s, k: c.gather(1, s.argmax(1, keepdim=True)),
               "shape (6, 1)", "expected (6, 3)")


def test_dns_ranking_over_the_batch_named():
    def flat(c, s, k):   # ranks the whole batch at once, then reshapes
        top = s.flatten().topk(k * len(c)).indices
        return c.flatten()[top].reshape(len(c), k)
    message = fails_with(ex.check_dns_select, flat)
    assert "Row" in message


def test_dns_other_rows_counted_without_the_reference_items():
    message = fails_with(ex.check_dns_select, lambda c, s, k: c[:, :k], "highest-scoring", "rows")
    assert "candidates are [" not in message


def test_dns_exception_reported():
    def broken(c, s, k):
        raise RuntimeError("boom")
    fails_with(ex.check_dns_select, broken, "RuntimeError: boom")


def test_dns_wrong_signature_named():
    fails_with(ex.check_dns_select, lambda c, s: c, "cannot be called")


# -- AHNS ------------------------------------------------------------------------------------
def ahns_reference(pos_scores, cand_scores, alpha, beta, p):
    target = beta * (pos_scores + alpha) ** (p + 1)
    return (cand_scores - target[:, None]).abs().argmin(1)


def test_ahns_reference_passes(capsys):
    ex.check_ahns_select(ahns_reference)
    assert "ex-dynamic-ahns passed" in capsys.readouterr().out


def test_ahns_package_distances_pass():
    def with_package(pos_scores, cand_scores, alpha, beta, p):
        sampler = AHNSSampler(alpha=alpha, beta=beta, p=p)
        return sampler.distances(cand_scores, pos_scores).argmin(-1)
    ex.check_ahns_select(with_package)


def test_ahns_keepdim_column_passes():
    ex.check_ahns_select(lambda s, c, a, b, p: ahns_reference(s, c, a, b, p)[:, None])


def test_ahns_dns_named():
    fails_with(ex.check_ahns_select, lambda s, c, a, b, p: c.argmax(1), "DNS", "closest")


def test_ahns_missing_alpha_named():
    fails_with(ex.check_ahns_select, lambda s, c, a, b, p: ahns_reference(s, c, 0.0, b, p),
               "without the shift a")


def test_ahns_exponent_p_named():
    fails_with(ex.check_ahns_select, lambda s, c, a, b, p: ahns_reference(s, c, a, b, p - 1),
               "exponent p instead of p + 1")


def test_ahns_signed_difference_named():
    def signed(s, c, a, b, p):
        return (c - (b * (s + a) ** (p + 1))[:, None]).argmin(1)
    fails_with(ex.check_ahns_select, signed, "absolute value")


def test_ahns_other_mistake_reports_the_row():
    message = fails_with(ex.check_ahns_select, lambda s, c, a, b, p: torch.zeros(len(s), dtype=torch.long),
                         "row 0", "target")
    assert "closest candidate is at position" not in message  # the reference position stays hidden


# -- oracle FNR of DNS ------------------------------------------------------------------------
def test_oracle_reference_passes(capsys):
    ex.check_oracle_dns_fnr(lambda f, M: 1 - (1 - f) ** M)
    assert "ex-dynamic-oracle passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, fragment", [
    (lambda f, M: f ** M, "every"),
    (lambda f, M: f * M, "φ·M"),
    (lambda f, M: f, "uniform sampler's rate"),
    (lambda f, M: 1 - (1 - f) ** (M - 1), "differ from the reference"),
])
def test_oracle_mistakes_named(wrong, fragment):
    fails_with(ex.check_oracle_dns_fnr, wrong, fragment)


def test_oracle_scalar_answer_named():
    fails_with(ex.check_oracle_dns_fnr, lambda f, M: 0.5, "shape ()")


# -- SRNS criterion ----------------------------------------------------------------------------
def test_srns_reference_passes(capsys):
    ex.check_srns_criterion(lambda h, w: h[..., -1] + w * h.std(-1, correction=0))
    assert "ex-dynamic-srns passed" in capsys.readouterr().out


def test_srns_package_history_std_passes():
    ex.check_srns_criterion(lambda h, w: h[..., -1] + w * SRNSSampler.history_std(h))


def test_srns_numpy_passes():
    ex.check_srns_criterion(lambda h, w: h.numpy()[..., -1] + w * np.std(h.numpy(), axis=-1))


@pytest.mark.parametrize("wrong, fragment", [
    (lambda h, w: h[..., -1] + w * h.std(-1), "sample standard deviation"),
    (lambda h, w: h[..., -1] + w * h.var(-1, correction=0), "variance instead"),
    (lambda h, w: h.mean(-1) + w * h.std(-1, correction=0), "mean score"),
    (lambda h, w: h[..., 0] + w * h.std(-1, correction=0), "first recorded"),
    (lambda h, w: h[..., -1] - w * h.std(-1, correction=0), "subtracted"),
    (lambda h, w: h[..., -1], "differ from the reference"),
])
def test_srns_mistakes_named(wrong, fragment):
    fails_with(ex.check_srns_criterion, wrong, fragment)


def test_srns_wrong_axis_shape_named():
    fails_with(ex.check_srns_criterion, lambda h, w: h[:, -1] + w * h.std(1), "shape (4, 5)")
