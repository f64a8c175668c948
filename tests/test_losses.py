"""Tests for recneg.losses against hand-computed values."""

import math

import pytest
import torch
from torch.nn import functional as F

from recneg import RecnegError
from recneg.losses import (
    accidental_hits,
    bce_loss,
    bpr_loss,
    full_ce_loss,
    gbce_beta,
    gbce_loss,
    sampled_softmax_loss,
)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def close(tensor, value, tol=1e-6):
    return math.isclose(float(tensor), value, rel_tol=tol, abs_tol=tol)


@pytest.fixture
def logits():
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(3, 5, generator=gen)
    neg = torch.randn(3, 5, 4, generator=gen)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.bool)
    return pos, neg, mask


# -- BCE ------------------------------------------------------------------------------------
def test_bce_hand_computed():
    pos, neg = torch.tensor([1.0, -2.0]), torch.tensor([[-0.5, 2.0], [0.0, 3.0]])
    rows = [
        -math.log(sig(1.0)) - math.log(1 - sig(-0.5)) - math.log(1 - sig(2.0)),
        -math.log(sig(-2.0)) - math.log(1 - sig(0.0)) - math.log(1 - sig(3.0)),
    ]
    assert close(bce_loss(pos, neg), sum(rows) / 2)


def test_bce_ignores_masked_positions(logits):
    pos, neg, mask = logits
    full = bce_loss(pos, neg, mask=mask)
    garbage_pos = pos.masked_fill(~mask, 1e6)
    garbage_neg = neg.masked_fill(~mask[..., None], -1e6)
    assert close(bce_loss(garbage_pos, garbage_neg, mask=mask), float(full))
    assert close(full, float(bce_loss(pos[mask], neg[mask])))


def test_bce_weights_scale_negative_terms_and_broadcast(logits):
    pos, neg, mask = logits
    shared = torch.rand(3, 4, generator=torch.Generator().manual_seed(1))
    expanded = shared[:, None, :].expand(3, 5, 4)
    assert close(bce_loss(pos, neg, mask, shared), float(bce_loss(pos, neg, mask, expanded)))
    ones = torch.ones(3, 4)
    assert close(bce_loss(pos, neg, mask, ones), float(bce_loss(pos, neg, mask)))
    by_hand = (-F.logsigmoid(pos) - (F.logsigmoid(-neg) * expanded).sum(-1))[mask].mean()
    assert close(bce_loss(pos, neg, mask, shared), float(by_hand))


def test_losses_are_finite_for_huge_logits():
    pos = torch.tensor([1e4, -1e4, 0.0], requires_grad=True)
    neg = torch.tensor([[-1e4, 1e4], [1e4, 1e4], [0.0, -1e4]], requires_grad=True)
    for loss in (
        bce_loss(pos, neg),
        bpr_loss(pos, neg),
        sampled_softmax_loss(pos, neg),
        gbce_loss(pos, neg, n_items=10),
    ):
        assert torch.isfinite(loss)
        (grad_pos, grad_neg) = torch.autograd.grad(loss, (pos, neg))
        assert torch.isfinite(grad_pos).all() and torch.isfinite(grad_neg).all()


# -- BPR -----------------------------------------------------------------------------------------
def test_bpr_hand_computed():
    pos, neg = torch.tensor([1.0]), torch.tensor([[0.5, 3.0]])
    expected = (-math.log(sig(0.5)) - math.log(sig(-2.0))) / 2
    assert close(bpr_loss(pos, neg), expected)


def test_bpr_gradient_pushes_positive_up_negative_down():
    pos = torch.tensor([0.2], requires_grad=True)
    neg = torch.tensor([[0.1, 0.3]], requires_grad=True)
    bpr_loss(pos, neg).backward()
    assert pos.grad.item() < 0 and (neg.grad > 0).all()


# -- sampled softmax ---------------------------------------------------------------------------
def test_sampled_softmax_hand_computed():
    pos, neg = torch.tensor([2.0]), torch.tensor([[1.0, 0.0, -1.0]])
    expected = -2.0 + math.log(math.exp(2) + math.exp(1) + 1 + math.exp(-1))
    assert close(sampled_softmax_loss(pos, neg), expected)


def test_logq_shifts_negative_logits_by_minus_log_q(logits):
    pos, neg, mask = logits
    q = torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.01
    corrected = sampled_softmax_loss(pos, neg, neg_log_prob=q.log(), mask=mask)
    shifted = sampled_softmax_loss(pos, neg - q.log(), mask=mask)
    assert float(corrected) == pytest.approx(float(shifted), rel=1e-6)
    # A uniform proposal shifts every negative equally: by hand, log(e^s+ + Σ e^(s- + log n)).
    n = 50
    uniform = torch.full((3, 4), -math.log(n))
    by_hand = (torch.logsumexp(torch.cat([pos[..., None], neg + math.log(n)], -1), -1) - pos)[mask].mean()
    assert close(sampled_softmax_loss(pos, neg, neg_log_prob=uniform, mask=mask), float(by_hand), 1e-5)


def test_pos_log_prob_shifts_the_positive(logits):
    pos, neg, mask = logits
    lq = torch.full_like(pos, -1.5)
    assert close(sampled_softmax_loss(pos, neg, pos_log_prob=lq, mask=mask),
                 float(sampled_softmax_loss(pos + 1.5, neg, mask=mask)))


def test_accidental_hits_are_removed():
    pos, neg = torch.tensor([[0.5, 1.0]]), torch.tensor([[[2.0, -1.0, 0.0], [1.0, 1.0, 4.0]]])
    hits = torch.tensor([[[True, False, False], [False, False, True]]])
    removed = sampled_softmax_loss(pos, neg, accidental_hits=hits)
    without = (sampled_softmax_loss(pos[:, :1], neg[:, :1, 1:]) + sampled_softmax_loss(pos[:, 1:], neg[:, 1:, :2])) / 2
    assert close(removed, float(without))
    assert not close(removed, float(sampled_softmax_loss(pos, neg)), 1e-3)


def test_accidental_hits_helper_shapes():
    negatives = torch.tensor([[3, 5, 7]])
    targets = torch.tensor([[5, 0, 7, 3]])
    hits = accidental_hits(negatives, targets)
    assert hits.shape == (1, 4, 3)
    assert hits[0].tolist() == [[False, True, False], [False, False, False],
                                [False, False, True], [True, False, False]]
    per_position = torch.tensor([[[5, 1], [2, 2]]])
    assert accidental_hits(per_position, torch.tensor([[5, 3]])).tolist() == [[[True, False], [False, False]]]


def test_sampled_softmax_weights_act_as_multiplicities():
    pos, neg = torch.tensor([0.3]), torch.tensor([[1.2, -0.4]])
    weighted = sampled_softmax_loss(pos, neg, weights=torch.tensor([[2.0, 1.0]]))
    duplicated = sampled_softmax_loss(pos, torch.tensor([[1.2, 1.2, -0.4]]))
    assert close(weighted, float(duplicated))
    with pytest.raises(RecnegError, match="non-negative"):
        sampled_softmax_loss(pos, neg, weights=torch.tensor([[-1.0, 1.0]]))


# -- gBCE ------------------------------------------------------------------------------------------
def test_gbce_beta_formula():
    # k = 4 of |I| - 1 = 100 items: alpha = 0.04, beta = 0.04 * (0.75 * (1 - 25) + 25) = 0.28
    assert gbce_beta(4, 101, 0.75) == pytest.approx(0.28)
    assert gbce_beta(4, 101, 0.0) == pytest.approx(1.0)
    assert gbce_beta(4, 101, 1.0) == pytest.approx(0.04)
    with pytest.raises(RecnegError, match="t must lie"):
        gbce_beta(4, 101, 1.5)


def test_gbce_reduces_to_bce_when_beta_is_one(logits):
    pos, neg, mask = logits
    assert close(gbce_loss(pos, neg, n_items=1000, t=0.0, mask=mask), float(bce_loss(pos, neg, mask=mask)))


def test_gbce_hand_computed():
    pos, neg = torch.tensor([0.7]), torch.tensor([[0.1, -0.3, 2.0, 0.0]])
    beta = 0.28
    expected = -beta * math.log(sig(0.7)) - sum(math.log(1 - sig(x)) for x in (0.1, -0.3, 2.0, 0.0))
    assert close(gbce_loss(pos, neg, n_items=101, t=0.75), expected)


# -- full cross-entropy ----------------------------------------------------------------------------
def test_full_ce_matches_cross_entropy_over_real_items():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 7, generator=gen)
    targets = torch.tensor([[0, 2, 6], [1, 0, 0]])
    expected = F.cross_entropy(logits[..., 1:][targets != 0], targets[targets != 0] - 1)
    assert close(full_ce_loss(logits, targets), float(expected))
    # Column 0 never counts, whatever its value.
    logits[..., 0] = 100.0
    assert close(full_ce_loss(logits, targets), float(expected))
    mask = torch.tensor([[True, True, False], [True, True, True]])
    partial = F.cross_entropy(logits[..., 1:][(targets != 0) & mask], targets[(targets != 0) & mask] - 1)
    assert close(full_ce_loss(logits, targets, mask), float(partial))


def test_full_ce_with_only_padding_is_zero():
    logits = torch.randn(1, 3, 5)
    logits[..., 0] = float("-inf")
    logits.requires_grad_()
    loss = full_ce_loss(logits, torch.zeros(1, 3, dtype=torch.long))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(logits.grad).all()


def test_full_ce_has_no_nan_gradient_at_padding():
    logits = torch.randn(2, 5, requires_grad=True)
    full_ce_loss(logits, torch.tensor([0, 3])).backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0].abs().sum() == 0


# -- shapes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", [bce_loss, bpr_loss, sampled_softmax_loss])
def test_shape_mismatch_is_an_error(loss):
    with pytest.raises(RecnegError, match="pos_logits.shape"):
        loss(torch.zeros(2, 3), torch.zeros(2, 4, 5))


def test_bad_weight_shape_and_mask_shape():
    with pytest.raises(RecnegError, match="weights"):
        bce_loss(torch.zeros(2, 3), torch.zeros(2, 3, 4), weights=torch.ones(2, 5))
    with pytest.raises(RecnegError, match="mask"):
        bce_loss(torch.zeros(2, 3), torch.zeros(2, 3, 4), mask=torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(RecnegError, match="targets"):
        full_ce_loss(torch.zeros(2, 5), torch.tensor([1, 9]))


def test_empty_mask_gives_zero_loss_not_nan():
    pos, neg = torch.zeros(1, 2, requires_grad=True), torch.zeros(1, 2, 3)
    loss = bce_loss(pos, neg, mask=torch.zeros(1, 2, dtype=torch.bool))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(pos.grad).all()
