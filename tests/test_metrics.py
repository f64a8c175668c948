"""Tests of recneg.metrics: hand-worked values, filtering rules and statistical checks."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from recneg import RecnegError
from recneg import metrics as M

# Five items; padding (column 0) gets the highest score so that ranking it would show.
# Item order by score: 2 (0.9), 4 (0.7), 1 (0.5), 5 (0.3), 3 (0.1).
TOY = torch.tensor([100.0, 0.5, 0.9, 0.1, 0.7, 0.3])


def toy(rows: int) -> torch.Tensor:
    return TOY.repeat(rows, 1)


# -- full ranks --------------------------------------------------------------------------
def test_full_ranks_hand_worked_toy():
    ranks = M.full_ranks(toy(5), torch.tensor([1, 2, 3, 4, 5]))
    assert ranks.tolist() == [2, 0, 4, 1, 3]
    assert ranks.dtype == torch.long


def test_hit_rate_ndcg_mrr_hand_values():
    ranks = M.full_ranks(toy(3), torch.tensor([1, 3, 2]))  # ranks 2, 4, 0
    assert ranks.tolist() == [2, 4, 0]
    assert M.hit_rate_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert M.hit_rate_at_k(ranks, 3) == pytest.approx(2 / 3)
    assert M.hit_rate_at_k(ranks, 5) == pytest.approx(1.0)
    # NDCG@3: row 0 -> 1/log2(4) = 0.5, row 1 -> 0 (rank 4 >= 3), row 2 -> 1.
    assert M.ndcg_gains_at_k(ranks, 3).tolist() == pytest.approx([0.5, 0.0, 1.0])
    assert M.ndcg_at_k(ranks, 3) == pytest.approx(0.5)
    # NDCG@5 includes rank 4: 1/log2(6).
    assert M.ndcg_at_k(ranks, 5) == pytest.approx((0.5 + 1 / math.log2(6) + 1) / 3)
    assert M.reciprocal_ranks(ranks).tolist() == pytest.approx([1 / 3, 1 / 5, 1.0])
    assert M.mrr(ranks) == pytest.approx((1 / 3 + 1 / 5 + 1) / 3)


def test_seen_items_are_filtered_exactly():
    # Row 0: target 1 (rank 2), items 2 and 4 above it; seeing item 2 removes one.
    # Row 1: target 3 (rank 4); seeing items 1 and 5 (both above) removes two.
    # Row 2: target 5; seeing item 3 (below it) changes nothing.
    ranks = M.full_ranks(
        toy(3), torch.tensor([1, 3, 5]), seen_rows=[0, 1, 1, 2], seen_items=[2, 1, 5, 3]
    )
    assert ranks.tolist() == [1, 2, 3]


def test_target_is_never_filtered_even_when_in_history():
    ranks = M.full_ranks(toy(1), torch.tensor([1]), seen_rows=[0, 0], seen_items=[1, 2])
    assert ranks.tolist() == [1]  # only item 4 still above; the target stays ranked


def test_padding_is_never_ranked_or_a_valid_target():
    # Padding scores 100 but the best real item still has rank 0.
    assert M.full_ranks(toy(1), torch.tensor([2])).tolist() == [0]
    with pytest.raises(RecnegError, match="padding"):
        M.full_ranks(toy(1), torch.tensor([0]))
    with pytest.raises(RecnegError, match="outside 1..5"):
        M.full_ranks(toy(1), torch.tensor([6]))


def test_bad_shapes_and_nan_are_reported():
    with pytest.raises(RecnegError, match="one target per row"):
        M.full_ranks(toy(2), torch.tensor([1]))
    with pytest.raises(RecnegError, match="NaN"):
        M.full_ranks(torch.tensor([[0.0, float("nan"), 1.0]]), torch.tensor([1]))
    with pytest.raises(RecnegError, match="both seen_rows and seen_items"):
        M.full_ranks(toy(1), torch.tensor([1]), seen_rows=[0])
    with pytest.raises(RecnegError, match="ties"):
        M.full_ranks(toy(1), torch.tensor([1]), ties="optimistic")


def test_constant_model_is_ranked_last_not_first():
    scores = torch.zeros(4, 21)
    ranks = M.full_ranks(scores, torch.tensor([1, 5, 10, 20]))
    assert ranks.tolist() == [19] * 4
    assert M.hit_rate_at_k(ranks, 10) == 0.0


def test_random_tie_breaking_is_uniform_over_positions():
    # 20 items all tied: the target's rank must be uniform on 0..19.
    n_rows, n_items = 4000, 20
    gen = torch.Generator().manual_seed(0)
    ranks = M.full_ranks(
        torch.zeros(n_rows, n_items + 1), torch.ones(n_rows, dtype=torch.long),
        ties="random", generator=gen,
    )
    observed = np.bincount(ranks.numpy(), minlength=n_items)
    assert len(observed) == n_items
    assert stats.chisquare(observed).pvalue > 1e-3
    # Partial ties: one item strictly above, 4 tied -> rank uniform on 1..5.
    scores = torch.tensor([[0.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.0]]).repeat(2000, 1)
    ranks = M.full_ranks(scores, torch.ones(2000, dtype=torch.long), ties="random", generator=gen)
    counts = np.bincount(ranks.numpy(), minlength=6)
    assert counts[0] == 0 and counts.sum() == 2000
    assert stats.chisquare(counts[1:]).pvalue > 1e-3


# -- sampled ranks -----------------------------------------------------------------------
def test_sampled_rank_never_exceeds_full_rank():
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(300, 201, generator=gen)
    targets = torch.randint(1, 201, (300,), generator=gen)
    seen_rows = torch.arange(300).repeat_interleave(5)
    seen_items = torch.randint(1, 201, (1500,), generator=gen)
    full = M.full_ranks(scores, targets, seen_rows, seen_items)
    sampled = M.sampled_ranks(scores, targets, 50, seen_rows=seen_rows, seen_items=seen_items, generator=gen)
    assert (sampled <= full).all()
    assert sampled.max() <= 50
    assert M.hit_rate_at_k(sampled, 10) >= M.hit_rate_at_k(full, 10)
    # With random scores, full HR@10 is about 10/200 while sampled HR@10 is about 10/51.
    assert M.hit_rate_at_k(full, 10) < 0.1 < M.hit_rate_at_k(sampled, 10)


def test_uniform_sampled_rank_is_hypergeometric():
    # Scores = item id: target 60 among items 1..100 has 40 items above it out of 99
    # competitors. Drawing 20 without replacement, the sampled rank is
    # Hypergeometric(99 competitors, 40 above, 20 draws).
    n_rows = 3000
    scores = torch.arange(101, dtype=torch.float64).repeat(n_rows, 1)
    targets = torch.full((n_rows,), 60)
    ranks = M.sampled_ranks(scores, targets, 20, generator=torch.Generator().manual_seed(2)).numpy()
    dist = stats.hypergeom(99, 40, 20)
    support = np.arange(0, 21)
    expected = dist.pmf(support) * n_rows
    observed = np.bincount(ranks, minlength=21).astype(float)
    # Pool the sparse tails so each expected cell is at least 5.
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-3


def test_sampled_negatives_avoid_seen_items_and_the_target():
    # Every competitor except item 5 is seen; item 5 scores above the target, so with any
    # number of draws the rank is exactly 1.
    scores = torch.arange(11, dtype=torch.float32)[None, :]
    seen = [i for i in range(1, 11) if i not in (3, 5)]
    ranks = M.sampled_ranks(scores, torch.tensor([3]), 100, seen_rows=[0] * len(seen),
                            seen_items=seen, generator=torch.Generator().manual_seed(0))
    assert ranks.tolist() == [1]


def test_popularity_sampled_negatives_follow_item_counts():
    # One negative per row: rank 1 iff the drawn item scores above the target. Items 6..10
    # score above target 1 and hold 10 of the 30 eligible training counts, so
    # P(rank 1) = 1/3 (uniform sampling would give 5/9).
    n_rows = 4000
    counts = np.array([0, 1, 5, 5, 5, 5, 2, 2, 2, 2, 2])
    scores = torch.arange(11, dtype=torch.float64).repeat(n_rows, 1)
    scores[:, 1] = 5.5  # the target sits between items 5 and 6
    ranks = M.sampled_ranks(scores, torch.ones(n_rows, dtype=torch.long), 1, by="popularity",
                            item_counts=counts, generator=torch.Generator().manual_seed(3))
    above = int(ranks.sum())
    assert stats.binomtest(above, n_rows, 1 / 3).pvalue > 1e-3
    # Zero-count items are never drawn: only items 2..5 (count 5, below target 1) remain.
    counts = np.array([0, 0, 5, 5, 5, 5, 0, 0, 0, 0, 0])
    ranks = M.sampled_ranks(scores[:50], torch.ones(50, dtype=torch.long), 3, by="popularity",
                            item_counts=counts, generator=torch.Generator().manual_seed(4))
    assert ranks.tolist() == [0] * 50


def test_sampled_ranks_validate_arguments():
    with pytest.raises(RecnegError, match="item_counts"):
        M.sampled_ranks(toy(1), torch.tensor([1]), 2, by="popularity")
    with pytest.raises(RecnegError, match="'zipf'"):
        M.sampled_ranks(toy(1), torch.tensor([1]), 2, by="zipf")
    with pytest.raises(RecnegError, match="n_negatives"):
        M.sampled_ranks(toy(1), torch.tensor([1]), 0)


# -- cohorts, Gini, Balance --------------------------------------------------------------
def test_popularity_cohorts_hand_made_counts():
    # Total 18. Item 1 (6) starts at 0 -> head. Items 2, 3 (3 each) start at 6 and 9,
    # inside the second third [6, 12) -> mid. Item 4 starts at 12 -> tail, as do the rest.
    counts = [0, 6, 3, 3, 1, 1, 1, 1, 1, 1]
    assert M.popularity_cohorts(counts).tolist() == [-1, 0, 1, 1, 2, 2, 2, 2, 2, 2]


def test_popularity_cohorts_order_ties_and_unseen_items():
    # Ids are shuffled relative to popularity (total 18). Item 3 starts at 0 -> head;
    # item 4 starts at 9 -> mid; item 5 starts at exactly 12 = 2/3 -> tail (a boundary
    # start belongs to the later cohort); the unseen item 2 is tail.
    assert M.popularity_cohorts([0, 1, 0, 9, 3, 3, 2]).tolist() == [-1, 2, 2, 0, 1, 2, 2]
    # Equal counts: ties broken by id, so six equal items split 2 / 2 / 2.
    assert M.popularity_cohorts([0, 4, 4, 4, 4, 4, 4]).tolist() == [-1, 0, 0, 1, 1, 2, 2]
    # A padding count is ignored; an empty log makes everything tail.
    assert M.popularity_cohorts([99, 1, 1, 1]).tolist() == [-1, 0, 1, 2]
    assert M.popularity_cohorts([0, 0, 0]).tolist() == [-1, 2, 2]
    with pytest.raises(RecnegError, match="non-negative"):
        M.popularity_cohorts([0, -1, 2])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=40))
def test_cohorts_are_monotone_in_popularity(raw):
    counts = np.array([0] + raw)
    cohorts = M.popularity_cohorts(counts)
    order = np.argsort(-counts[1:], kind="stable") + 1
    assert (np.diff(cohorts[order]) >= 0).all()
    total = counts.sum()
    if total:
        head = counts[cohorts == 0].sum()
        # The head covers at least a third, and without its last item less than a third.
        assert 3 * head >= total
        assert 3 * (head - counts[order][cohorts[order] == 0][-1]) < total


def test_gini_and_balance_hand_values():
    assert M.gini([0.2, 0.2, 0.2]) == 0.0
    assert M.balance(0.2, 0.2, 0.2) == 1.0
    assert M.gini([0.0, 0.0, 0.7]) == pytest.approx(2 / 3)
    assert M.balance(0.0, 0.7, 0.0) == pytest.approx(1 / 3)
    assert M.gini([3.0, 1.0, 2.0]) == pytest.approx(4 / 18)
    assert math.isnan(M.balance(0.0, 0.0, 0.0))
    assert math.isnan(M.balance(0.1, float("nan"), 0.3))
    with pytest.raises(RecnegError, match="non-negative"):
        M.gini([-1.0, 2.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=12))
def test_gini_equals_relative_mean_absolute_difference(values):
    x = np.asarray(values)
    if x.sum() <= 1e-9:
        return
    expected = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert M.gini(values) == pytest.approx(expected, abs=1e-9)


# -- beyond accuracy ---------------------------------------------------------------------
def test_top_k_items_skip_seen_and_padding():
    items = M.top_k_items(toy(2), 3, seen_rows=[1, 1], seen_items=[2, 4])
    assert items.tolist() == [[2, 4, 1], [1, 5, 3]]
    # Too few unseen items: the list is padded with 0.
    items = M.top_k_items(toy(1), 5, seen_rows=[0, 0], seen_items=[1, 2])
    assert items.tolist() == [[4, 5, 3, 0, 0]]


def test_coverage_popularity_and_tail_share_hand_values():
    lists = [[1, 2], [2, 3], [4, 0]]
    counts = np.array([0, 10, 6, 2, 0, 0])
    cohorts = M.popularity_cohorts(counts)  # 1 head, 2 mid, 3..5 tail
    assert cohorts.tolist() == [-1, 0, 1, 2, 2, 2]
    assert M.catalogue_coverage(lists, n_items=5) == pytest.approx(4 / 5)
    assert M.mean_popularity(lists, counts) == pytest.approx((10 + 6 + 6 + 2 + 0) / 5)
    assert M.tail_share(lists, cohorts) == pytest.approx(2 / 5)
    with pytest.raises(RecnegError, match="exceeds n_items"):
        M.catalogue_coverage([[7]], n_items=5)


# -- item masks (candidate items) ----------------------------------------------------------
# TOY order by score: 2 (0.9), 4 (0.7), 1 (0.5), 5 (0.3), 3 (0.1). Mask out items 2 and 4.
MASK = torch.tensor([False, True, False, True, False, True])


def test_full_ranks_with_item_mask_hand_values():
    ranks = M.full_ranks(toy(3), torch.tensor([1, 5, 3]), item_mask=MASK)
    assert ranks.tolist() == [0, 1, 2]  # among the allowed 1, 5, 3 only
    # A target outside the mask is ranked last among its competitors (1, 3, 5 -> 3),
    # even though item 2 scores highest of all.
    assert M.full_ranks(toy(1), torch.tensor([2]), item_mask=MASK).tolist() == [3]
    # With seen items removed too: row 0 saw item 1, so target 2 has competitors 3, 5.
    assert M.full_ranks(toy(1), torch.tensor([2]), [0], [1], item_mask=MASK).tolist() == [2]
    # Numpy masks work the same.
    assert M.full_ranks(toy(1), torch.tensor([5]), item_mask=MASK.numpy()).tolist() == [1]


def test_masked_items_never_tie_with_the_target_even_at_minus_infinity():
    inf = float("inf")
    scores = torch.tensor([[0.0, -inf, 1.0, -inf, 1.0, -inf, -inf]])
    mask = torch.tensor([False, True, False, True, False, False, False])
    # Target 1 at -inf: the masked items 2, 4 (above) and 5, 6 (tied at -inf) never
    # count; the only competitor is item 3, tied at -inf -> pessimistic rank 1.
    assert M.full_ranks(scores, torch.tensor([1]), item_mask=mask).tolist() == [1]
    ranks = M.full_ranks(scores.repeat(200, 1), torch.ones(200, dtype=torch.long), item_mask=mask,
                         ties="random", generator=torch.Generator().manual_seed(0))
    assert set(ranks.tolist()) == {0, 1}
    # A constant model with a mask: ranked last among the allowed items only.
    const = M.full_ranks(torch.zeros(1, 7), torch.tensor([1]), item_mask=mask)
    assert const.tolist() == [1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([-math.inf, 0.0, 1.0, 2.0]), min_size=8, max_size=8),
    st.lists(st.booleans(), min_size=7, max_size=7),
    st.integers(1, 7),
)
def test_masking_equals_dropping_the_columns(values, allowed, target):
    # Reference: delete the masked columns and rank in what is left.
    scores = torch.tensor([values])
    mask = torch.tensor([False] + allowed)
    masked_rank = int(M.full_ranks(scores, torch.tensor([target]), item_mask=mask))
    if not mask[target]:
        assert masked_rank == int(mask.sum())
        return
    keep = torch.cat([torch.tensor([0]), mask.nonzero().reshape(-1)])
    new_target = int((keep == target).nonzero())
    reference = int(M.full_ranks(scores[:, keep], torch.tensor([new_target])))
    assert masked_rank == reference


def test_top_k_items_never_list_masked_items():
    items = M.top_k_items(toy(1), 3, item_mask=MASK)
    assert items.tolist() == [[1, 5, 3]]
    # Fewer allowed items than k: padded with 0, never filled with a masked item.
    items = M.top_k_items(toy(1), 4, [0], [5], item_mask=MASK)
    assert items.tolist() == [[1, 3, 0, 0]]
    # All scores -inf: topk picks among ties, but no masked item may come through.
    items = M.top_k_items(torch.full((2, 6), -math.inf), 5, item_mask=MASK)
    assert items.tolist() == [[0] * 5] * 2
    without_mask = M.top_k_items(toy(1), 2)
    assert without_mask.tolist() == [[2, 4]]  # the masked items would lead otherwise


def test_sampled_ranks_never_draw_masked_items():
    # Masked items 2 and 4 score above every target; drawn, they would raise the rank.
    gen = torch.Generator().manual_seed(0)
    ranks = M.sampled_ranks(toy(200), torch.full((200,), 1), 2, item_mask=MASK, generator=gen)
    assert ranks.max() == 0  # only 5 and 3 can be drawn, both below target 1
    assert M.sampled_ranks(toy(50), torch.full((50,), 1), 2, generator=gen).max() > 0
    # A target outside the mask: last among the drawn negatives.
    ranks = M.sampled_ranks(toy(20), torch.full((20,), 2), 2, item_mask=MASK, generator=gen)
    assert ranks.tolist() == [2] * 20


def test_item_mask_is_validated():
    with pytest.raises(RecnegError, match="item_mask has shape") as info:
        M.full_ranks(toy(1), torch.tensor([1]), item_mask=MASK[:4])
    assert "\n" not in str(info.value)
    with pytest.raises(RecnegError, match="boolean"):
        M.top_k_items(toy(1), 2, item_mask=[0, 1, 1, 1, 1, 1])
    with pytest.raises(RecnegError, match="item_mask"):
        M.sampled_ranks(toy(1), torch.tensor([1]), 2, item_mask=np.ones(6))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_ranks_and_top_k_together_equal_the_two_separate_calls(data):
    # Discrete scores (ties everywhere), -inf (what SASRec gives padding, and a
    # masked-out item in the fused code), repeated history items, targets that are in
    # their own history or outside the mask.
    n_rows, n_items = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 9))
    value = st.sampled_from([-math.inf, -1.0, 0.0, 0.0, 1.0, 2.5])
    scores = torch.tensor(data.draw(st.lists(st.lists(value, min_size=n_items + 1, max_size=n_items + 1),
                                             min_size=n_rows, max_size=n_rows)), dtype=torch.float32)
    targets = torch.tensor(data.draw(st.lists(st.integers(1, n_items), min_size=n_rows, max_size=n_rows)))
    seen = data.draw(st.lists(st.tuples(st.integers(0, n_rows - 1), st.integers(0, n_items)), max_size=12))
    seen_rows, seen_items = ([r for r, _ in seen], [i for _, i in seen]) if seen else (None, None)
    mask = None
    if data.draw(st.booleans()):
        mask = torch.tensor([False] + data.draw(st.lists(st.booleans(), min_size=n_items, max_size=n_items)))
    k = data.draw(st.integers(1, n_items))
    ranks, top = M.full_ranks_and_top_k(scores, targets, k, seen_rows, seen_items, item_mask=mask)
    assert ranks.dtype == torch.long and ranks.tolist() == \
        M.full_ranks(scores, targets, seen_rows, seen_items, item_mask=mask).tolist()
    assert top.tolist() == M.top_k_items(scores, k, seen_rows, seen_items, item_mask=mask).tolist()


def test_ranks_and_top_k_together_check_their_input_like_the_separate_calls():
    with pytest.raises(RecnegError, match="NaN"):
        M.full_ranks_and_top_k(torch.tensor([[0.0, math.nan, 1.0]]), torch.tensor([1]), 1)
    with pytest.raises(RecnegError, match="k=3 exceeds the 2 items"):
        M.full_ranks_and_top_k(torch.tensor([[0.0, 0.5, 1.0]]), torch.tensor([1]), 3)
    with pytest.raises(RecnegError, match="target item 3 is outside 1..2"):
        M.full_ranks_and_top_k(torch.tensor([[0.0, 0.5, 1.0]]), torch.tensor([3]), 1)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_nan_anywhere_is_reported_with_its_first_row(data):
    # the check reduces with a max (which propagates NaN); +-inf around it must not hide it
    n_rows, n_cols = data.draw(st.integers(1, 6)), data.draw(st.integers(2, 9))
    value = st.sampled_from([-math.inf, math.inf, 0.0, 1.0, -2.0])
    scores = torch.tensor(data.draw(st.lists(st.lists(value, min_size=n_cols, max_size=n_cols),
                                             min_size=n_rows, max_size=n_rows)),
                          dtype=data.draw(st.sampled_from([torch.float32, torch.float64])))
    M.full_ranks(scores, torch.ones(n_rows, dtype=torch.long))           # no NaN: no error
    cells = data.draw(st.lists(st.tuples(st.integers(0, n_rows - 1), st.integers(0, n_cols - 1)), min_size=1))
    for row, col in cells:
        scores[row, col] = math.nan
    with pytest.raises(RecnegError, match=f"first in row {min(r for r, _ in cells)}\\)"):
        M.full_ranks(scores, torch.ones(n_rows, dtype=torch.long))
