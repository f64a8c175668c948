"""The checks of the knowledge-enhanced sampling chapter: reference answers pass, typical
mistakes get a message that names them."""

from __future__ import annotations

import numpy as np
import torch

from recneg.data import Interactions
from recneg.exercises import knowledge as ex
from recneg.samplers import AttributeSampler, KGWalkSampler, SemanticSampler, StratifiedSampler
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


def toy_log(genres):
    n_items = genres.shape[0] - 1
    return Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=n_items,
                        item_attributes=genres.numpy(), attribute_names=[f"g{i}" for i in range(genres.shape[1])])


# -- same-genre mask ---------------------------------------------------------------------------
def same_reference(genres, anchors):
    return (genres[anchors].float() @ genres.float().T) > 0


def test_same_genre_reference_passes(capsys):
    ex.check_same_genre_mask(same_reference)
    assert "ex-knowledge-same-genre passed" in capsys.readouterr().out


def test_same_genre_mask_agrees_with_the_package():
    genres = ex._toy_genres()
    sampler = AttributeSampler("same").fit(toy_log(genres))
    ex.check_same_genre_mask(lambda g, a: sampler.compatible(a))


def test_same_genre_integer_mask_passes():
    ex.check_same_genre_mask(lambda g, a: same_reference(g, a).long().numpy())


def test_same_genre_exact_set_match_named():
    def exact(genres, anchors):
        return (genres[anchors][:, None, :] == genres[None, :, :]).all(-1)
    fails_with(ex.check_same_genre_mask, exact, "whole* genre set", "Hint:")


def test_same_genre_inverted_named():
    fails_with(ex.check_same_genre_mask, lambda g, a: ~same_reference(g, a), "share *no* genre", "mode='other'")


def test_same_genre_two_shared_named():
    fails_with(ex.check_same_genre_mask, lambda g, a: (g[a].float() @ g.float().T) > 1, "more than one")


def test_same_genre_wrong_shape_and_values_named():
    fails_with(ex.check_same_genre_mask, lambda g, a: same_reference(g, a)[:, 1:], "shape (5, 12)", "expected (5, 13)")
    fails_with(ex.check_same_genre_mask, lambda g, a: g[a].float() @ g.float().T, "True/False")


def test_same_genre_other_error_names_anchor_and_item():
    def off(genres, anchors):
        mask = same_reference(genres, anchors)
        mask[0, 12] = True
        return mask
    fails_with(ex.check_same_genre_mask, off, "anchor 1", "item 12")


def test_same_genre_exception_and_signature_reported():
    def broken(genres, anchors):
        raise RuntimeError("boom")
    fails_with(ex.check_same_genre_mask, broken, "RuntimeError: boom")
    fails_with(ex.check_same_genre_mask, lambda genres: genres, "cannot be called")


# -- stratified probabilities --------------------------------------------------------------------
def stratified_reference(cells):
    cells = cells.double()
    sizes = cells.sum(0)
    keep = sizes > 0
    return (cells[:, keep] / (int(keep.sum()) * sizes[keep])).sum(1)


def test_stratified_reference_passes(capsys):
    ex.check_stratified_probs(stratified_reference)
    assert "ex-knowledge-stratified passed" in capsys.readouterr().out


def test_stratified_reference_matches_the_package_formula():
    # with only the genre stratum, the package's probabilities follow the same formula
    genres = ex._toy_genres()
    sampler = StratifiedSampler(strata=("genre",), exclude_positives=False).fit(toy_log(genres))
    expected = stratified_reference(sampler.cells_)
    assert torch.allclose(sampler.probs_.double(), expected / expected.sum())


def test_stratified_counting_empty_cells_named():
    def with_empty(cells):
        c = cells.double()
        return (c / (c.shape[1] * c.sum(0).clamp_min(1))).sum(1)
    fails_with(ex.check_stratified_probs, with_empty, "empty", "non-empty")


def test_stratified_uniform_named():
    fails_with(ex.check_stratified_probs,
               lambda c: torch.cat([torch.zeros(1), torch.full((c.shape[0] - 1,), 1 / (c.shape[0] - 1))]),
               "uniform over the items")


def test_stratified_first_cell_only_named():
    def first_only(cells):
        c = cells.double()
        first = torch.zeros_like(c)
        has = c.any(1)
        first[has.nonzero().flatten(), c[has].argmax(1)] = 1.0
        sizes = c.sum(0)
        keep = sizes > 0
        return (first[:, keep] / (int(keep.sum()) * sizes[keep])).sum(1)
    fails_with(ex.check_stratified_probs, first_only, "two cells", "sum over its cells")


def test_stratified_unnormalised_named():
    fails_with(ex.check_stratified_probs, lambda c: 2 * stratified_reference(c), "sum to 2.0000")


# -- walk reach probabilities -------------------------------------------------------------------
def reach_reference(genres, anchor, n_hops):
    g = genres.double()
    to_attr = g / g.sum(1, keepdim=True).clamp_min(1)
    to_item = (g / g.sum(0, keepdim=True).clamp_min(1)).T
    reach = torch.zeros(len(g), dtype=torch.float64)
    reach[anchor] = 1.0
    for _ in range(n_hops):
        reach = reach @ to_attr @ to_item
    return reach


def test_reach_reference_passes(capsys):
    ex.check_reach_probability(reach_reference)
    assert "ex-knowledge-walk passed" in capsys.readouterr().out


def test_reach_package_method_passes():
    genres = ex._toy_genres()

    def with_package(g, anchor, n_hops):
        return KGWalkSampler(n_hops=n_hops).fit(toy_log(g)).reach_probability(torch.tensor([anchor]))[0]
    ex.check_reach_probability(with_package)


def test_reach_single_hop_named():
    fails_with(ex.check_reach_probability, lambda g, a, h: reach_reference(g, a, 1), "single hop")


def test_reach_unnormalised_named():
    def raw(genres, anchor, n_hops):
        g = genres.double()
        reach = torch.zeros(len(g), dtype=torch.float64)
        reach[anchor] = 1.0
        for _ in range(n_hops):
            reach = reach @ g @ g.T
        return reach / reach.sum()
    fails_with(ex.check_reach_probability, raw, "not normalised")


def test_reach_not_summing_to_one_named():
    fails_with(ex.check_reach_probability, lambda g, a, h: 0.5 * reach_reference(g, a, h), "sum to 0.5000")


# -- semantic neighbours --------------------------------------------------------------------------
def neighbours_reference(vectors, item, top_n):
    unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sims = unit @ unit[item]
    sims[[0, item]] = float("-inf")
    return sims.topk(top_n).indices


def test_neighbours_reference_passes(capsys):
    ex.check_semantic_neighbours(neighbours_reference)
    assert "ex-knowledge-semantic passed" in capsys.readouterr().out


def test_neighbours_agree_with_the_package():
    vectors = ex._toy_vectors()
    train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=len(vectors) - 1)

    def with_package(v, item, top_n):
        return SemanticSampler(embeddings=v.numpy(), top_n=top_n).fit(train).neighbours_[item]
    ex.check_semantic_neighbours(with_package)


def test_neighbours_dot_product_named():
    def dots(vectors, item, top_n):
        sims = vectors @ vectors[item]
        sims[[0, item]] = float("-inf")
        return sims.topk(top_n).indices
    fails_with(ex.check_semantic_neighbours, dots, "raw dot products", "norm")


def test_neighbours_including_itself_named():
    def with_self(vectors, item, top_n):
        unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return (unit @ unit[item]).topk(top_n).indices
    fails_with(ex.check_semantic_neighbours, with_self, "itself")


def test_neighbours_least_similar_named():
    def least(vectors, item, top_n):
        unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sims = unit @ unit[item]
        sims[[0, item]] = float("inf")
        return sims.topk(top_n, largest=False).indices
    fails_with(ex.check_semantic_neighbours, least, "*least* similar")


def test_neighbours_wrong_count_named():
    fails_with(ex.check_semantic_neighbours, lambda v, i, n: neighbours_reference(v, i, n + 1), "shape (6,)")
