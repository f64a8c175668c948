"""Tests for recneg.models: SASRec, BPR-MF and the most-popular baseline."""

import numpy as np
import pytest
import torch

from recneg import RecnegError
from recneg.data import Interactions
from recneg.evaluation import evaluate
from recneg.data import EvalSet
from recneg.models import BPRMF, MostPopular, SASRec


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def sasrec():
    model = SASRec(n_items=30, hidden=16, n_blocks=2, n_heads=2, dropout=0.2, maxlen=8, random_state=0)
    return model.eval()


def histories():
    return torch.tensor([[0, 0, 0, 4, 9, 2, 7, 30], [5, 6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 0, 0, 0, 0, 3]])


# -- SASRec ---------------------------------------------------------------------------------
def test_sasrec_shapes(sasrec):
    h = histories()
    hidden = sasrec(h)
    assert hidden.shape == (3, 8, 16)
    assert sasrec.score_items(hidden, torch.randint(1, 31, (3, 5))).shape == (3, 8, 5)
    assert sasrec.score_items(hidden, torch.randint(1, 31, (3, 8, 4))).shape == (3, 8, 4)
    assert sasrec.score_items(hidden[:, -1], torch.randint(1, 31, (3, 5))).shape == (3, 5)
    scores = sasrec.score_all(torch.arange(3), h)
    assert scores.shape == (3, 31)
    assert torch.isneginf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()
    assert sasrec.maxlen == 8


def test_sasrec_score_items_agree_with_score_all(sasrec):
    h = histories()
    with torch.no_grad():
        every = sasrec.score_all(None, h)
        items = torch.tensor([[1, 2, 30], [4, 5, 6], [7, 3, 3]])
        some = sasrec.score_items(sasrec(h)[:, -1], items)
    torch.testing.assert_close(some, every.gather(1, items))


def test_sasrec_is_causal(sasrec):
    h = histories()
    changed = h.clone()
    changed[:, 5] = torch.tensor([11, 13, 17])
    with torch.no_grad():
        before, after = sasrec(h), sasrec(changed)
    torch.testing.assert_close(before[:, :5], after[:, :5], rtol=0, atol=1e-6)
    # The changed position and the later ones do see the change.
    assert not torch.allclose(before[:2, 5:], after[:2, 5:])


def test_sasrec_left_padding_does_not_change_real_positions(sasrec):
    short = torch.tensor([[4, 9, 2, 7]])
    padded = torch.tensor([[0, 0, 0, 0, 4, 9, 2, 7]])
    with torch.no_grad():
        a, b = sasrec(short), sasrec(padded)
    torch.testing.assert_close(a, b[:, 4:], rtol=0, atol=1e-5)
    assert torch.count_nonzero(b[:, :4]) == 0
    torch.testing.assert_close(sasrec.score_all(None, short), sasrec.score_all(None, padded), rtol=0, atol=1e-4)


@pytest.mark.parametrize("n_blocks", [1, 2, 3])
def test_sasrec_score_all_is_the_last_position_of_forward(n_blocks):
    # score_all computes the last block at the last position only, after dropping the
    # columns that are padding in every row: neither may change a score
    model = SASRec(n_items=30, hidden=16, n_blocks=n_blocks, n_heads=2, maxlen=8, random_state=1).eval()
    h = histories()
    with torch.no_grad():
        reference = model.score_catalogue(model(h)[:, -1])
        for rows in ([0, 1, 2], [0, 2], [2], [1]):   # [0, 2]: three all-padding columns
            torch.testing.assert_close(model.score_all(None, h[rows])[:, 1:], reference[rows, 1:],
                                       rtol=0, atol=1e-5)
        empty = torch.zeros(2, 8, dtype=torch.long)   # nothing to read: every score 0
        assert model.score_all(None, empty)[:, 1:].abs().max() == 0


def test_sasrec_longer_histories_keep_the_last_maxlen(sasrec):
    long = torch.arange(1, 13)[None]  # 12 items, maxlen 8
    with torch.no_grad():
        torch.testing.assert_close(sasrec(long), sasrec(long[:, -8:]))


def test_sasrec_padding_in_a_batch_does_not_affect_other_rows(sasrec):
    h = histories()
    with torch.no_grad():
        alone = sasrec(h[1:2])
        together = sasrec(h)
    torch.testing.assert_close(alone, together[1:2], rtol=0, atol=1e-6)


def test_sasrec_gradients_flow_to_every_parameter():
    model = SASRec(n_items=30, hidden=16, n_blocks=2, maxlen=8, dropout=0.0, random_state=0)
    h = histories()
    hidden = model(h)
    loss = model.score_catalogue(hidden[h != 0]).log_softmax(-1)[:, 1:].mean()
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    # Padding row of the embedding never receives a gradient.
    assert model.item_embedding.weight.grad[0].abs().sum() == 0


def test_sasrec_scorer_is_detached_and_matches_scores(sasrec):
    sasrec.train()
    h = histories()
    hidden = sasrec(h)
    assert hidden.requires_grad
    score = sasrec.scorer_from_hidden(hidden)
    shared = torch.randint(1, 31, (3, 6))
    per_position = torch.randint(1, 31, (3, 8, 6))
    s_shared, s_pos = score(shared), score(per_position)
    assert s_shared.shape == (3, 8, 6) and s_pos.shape == (3, 8, 6)
    assert not s_shared.requires_grad and not s_pos.requires_grad
    torch.testing.assert_close(s_shared, sasrec.score_items(hidden, shared).detach())
    sasrec.eval()
    fresh = sasrec.scorer(None, h)(shared)
    with torch.no_grad():
        torch.testing.assert_close(fresh, sasrec.score_items(sasrec(h), shared))


def test_sasrec_initialisation_follows_random_state():
    a = SASRec(n_items=10, hidden=8, maxlen=4, random_state=3)
    b = SASRec(n_items=10, hidden=8, maxlen=4, random_state=3)
    c = SASRec(n_items=10, hidden=8, maxlen=4, random_state=4)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.item_embedding.weight, c.item_embedding.weight)
    assert a.item_embedding.weight[0].abs().sum() == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"maxlen": 0}, "maxlen"),
        ({"hidden": 10, "n_heads": 3}, "n_heads=3"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_blocks": -1}, "n_blocks"),
    ],
)
def test_sasrec_rejects_bad_parameters(kwargs, message):
    with pytest.raises(RecnegError, match=message):
        SASRec(n_items=10, **kwargs)


def test_sasrec_rejects_out_of_range_items(sasrec):
    with pytest.raises(RecnegError, match="outside 0..30"):
        sasrec(torch.tensor([[0, 31]]))
    with pytest.raises(RecnegError, match="shape"):
        sasrec(torch.tensor([1, 2, 3]))


# -- BPR-MF -----------------------------------------------------------------------------------
def test_bprmf_scores_are_dot_products():
    model = BPRMF(n_users=4, n_items=6, dim=5, random_state=0)
    users = torch.tensor([0, 3])
    expected = model.user_embedding.weight[users] @ model.item_embedding.weight.T
    scores = model.score_all(users, None)
    assert scores.shape == (2, 7) and torch.isneginf(scores[:, 0]).all()
    torch.testing.assert_close(scores[:, 1:], expected[:, 1:])
    assert model.maxlen is None


def test_bprmf_scorer_shapes_and_values():
    model = BPRMF(n_users=4, n_items=6, dim=5, random_state=0)
    users = torch.tensor([1, 2])
    score = model.scorer(users)
    cand = torch.tensor([[1, 2, 6], [3, 3, 4]])
    out = score(cand)
    assert out.shape == (2, 3) and not out.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(out, model.score_all(users).gather(1, cand))
    assert score(cand[:, None, :].expand(2, 4, 3)).shape == (2, 4, 3)


def test_bprmf_rejects_bad_input():
    with pytest.raises(RecnegError, match="dim"):
        BPRMF(n_users=3, n_items=3, dim=0)
    model = BPRMF(n_users=3, n_items=3, dim=2)
    with pytest.raises(RecnegError, match="outside 0..2"):
        model.score_all(torch.tensor([3]))


# -- MostPopular ----------------------------------------------------------------------------------
def test_most_popular_ranks_by_training_counts():
    train = Interactions(np.array([0, 1, 2, 0, 1, 0]), np.array([3, 3, 3, 1, 1, 4]), np.arange(6),
                         n_users=3, n_items=5)
    model = MostPopular(random_state=0).fit(train)
    scores = model.score_all(torch.tensor([0, 1]), None)
    assert scores.shape == (2, 6)
    order = scores[0, 1:].argsort(descending=True) + 1
    assert order[:2].tolist() == [3, 1]
    # Items 2 and 5 tie at zero; the tie-break orders them but keeps them last.
    assert set(order[3:].tolist()) == {2, 5}
    assert model.scorer(None)(torch.tensor([[3, 4]])).tolist() == scores[:1, [3, 4]].tolist()


def test_most_popular_tie_break_never_reorders_counts():
    rng = np.random.default_rng(0)
    items = rng.integers(1, 50, size=500)
    train = Interactions(np.zeros(500, dtype=np.int64), items, np.arange(500), n_users=1, n_items=60)
    scores = MostPopular(random_state=1).fit(train).score_all(torch.tensor([0]))[0, 1:].numpy()
    counts = train.item_counts()[1:]
    higher = counts[:, None] > counts[None, :]
    assert (scores[:, None] > scores[None, :])[higher].all()
    assert len(np.unique(scores)) == 60


def test_most_popular_works_with_evaluate_and_needs_fit():
    train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 2]), np.arange(3), n_users=2, n_items=4)
    test = EvalSet(np.array([0, 1]), np.array([3, 1]), np.array([0, 2, 3]), np.array([1, 2, 2]), n_items=4)
    result = evaluate(MostPopular(train), test, train, ks=(1,))
    # User 1 has seen item 2 (the most popular), so item 1 is its top recommendation.
    assert result["hr@1"] == 0.5
    with pytest.raises(RecnegError, match="not fitted"):
        MostPopular().score_all(torch.tensor([0]))


@pytest.mark.parametrize("sequential", [False, True])
def test_scorer_gives_the_same_scores_for_an_expanded_catalogue(sasrec, sequential):
    # A rank band scores the whole catalogue for every row as an expanded (stride-0) tensor;
    # the scorer's matrix-product shortcut must agree with scoring a materialised copy.
    if sequential:
        model, users = sasrec, torch.tensor([[0, 1, 2, 3], [0, 0, 4, 5]])
        scorer = model.scorer_from_hidden(model.forward(users))
        n_items = model.n_items
    else:
        model = BPRMF(n_users=3, n_items=7, dim=4, random_state=0)
        scorer, n_items = model.scorer(torch.tensor([0, 2])), 7
    expanded = torch.arange(n_items + 1).expand(2, -1)
    assert expanded.stride(0) == 0
    fast, slow = scorer(expanded), scorer(expanded.clone())
    assert fast.shape == slow.shape and fast.shape[-1] == n_items + 1
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


def test_build_model_by_name_includes_cosine_mf():
    from recneg.data import SyntheticWorld, leave_one_out
    from recneg.experiment import build_model
    from recneg.models import CosineMF

    split = leave_one_out(SyntheticWorld(n_users=20, n_items=30, random_state=0).generate())
    model = build_model("cosine-mf", split, dim=8, temperature=0.5, random_state=1)
    assert isinstance(model, CosineMF) and model.temperature == 0.5
    assert model.user_embedding.num_embeddings >= split.n_users
    with pytest.raises(RecnegError, match="cosine-mf"):
        build_model("cosine", split)
