"""Self-checks for the exercises of "Knowledge-enhanced negative sampling"
(``notebooks/09_knowledge``).

Every check calls the reader's function on small fixed inputs and compares the result
with a reference computed here; a typical mistake gets a message that names it (asking
for the *whole* genre set to match, counting empty strata, forgetting to normalise a
walk step, ranking neighbours by raw dot products, keeping the item itself).

>>> import torch
>>> check_same_genre_mask(lambda genres, anchors: (genres[anchors].float() @ genres.float().T) > 0)
✓ ex-knowledge-same-genre passed: an item qualifies as soon as it shares one genre with the positive

Two exercises ask for judgement rather than code: :func:`check_prediction`
(``ex-knowledge-predict``) takes a prediction written down and then the measured change of
the semantic sampler's false-negative rate with a narrower pool, and :func:`check_critique`
(``ex-knowledge-critique``) the flaws among the statements of :data:`CRITIQUE_STATEMENTS`.
"""

from __future__ import annotations

import numpy as np
import torch

from ._feedback import (as_array, as_number, call_answer, check_close, check_flaws, check_prediction_recorded,
                        check_shape, check_signature, expect, fail, passed, same)
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_same_genre_mask", "check_stratified_probs", "check_reach_probability",
           "check_semantic_neighbours", "check_prediction", "check_critique"]


# -- shared toy catalogue ---------------------------------------------------------------------------
def _toy_genres() -> torch.Tensor:
    """12 items over 4 genres (row 0 padding): single-genre, multi-genre and genre-less items.

    Items 1-3 Action, 4-6 Comedy, 7-9 Drama, 10 Horror; item 3 is also Comedy, item 5 also
    Drama and Horror; items 11 and 12 have no genre.
    """
    g = torch.zeros(13, 4, dtype=torch.bool)
    g[1:4, 0] = g[4:7, 1] = g[7:10, 2] = True
    g[10, 3] = True
    g[3, 1] = True
    g[5, 2] = g[5, 3] = True
    return g


def _same_reference(genres: torch.Tensor, anchors: torch.Tensor) -> np.ndarray:
    shared = (genres[anchors].double() @ genres.double().T) > 0
    return shared.numpy()


def _as_bool_mask(got, shape, name) -> np.ndarray:
    got = check_shape(got, shape, name=name,
                      hint="One row per anchor and one column per item id, padding column 0 included.")
    if got.dtype != bool:
        values = np.unique(got)
        expect(np.isin(values, [0, 1]).all(),
               f"Your {name} holds values {values[:5].tolist()}; a mask holds True/False (or 1/0).",
               hint="Compare the number of shared genres with 0: (... ) > 0.")
        got = got.astype(bool)
    return got


def check_same_genre_mask(answer) -> None:
    """Exercise ex-knowledge-same-genre: ``answer(genres (n_items + 1, G) bool, anchors (B,))
    -> (B, n_items + 1)`` bool mask of the items sharing at least one genre with each anchor.

    The anchor itself counts (it shares its own genres); the padding column 0 and items
    without a genre are False.
    """
    check_signature(answer, ["genres", "anchors"], name="same_genre_mask")
    genres = _toy_genres()
    anchors = torch.tensor([1, 3, 5, 10, 11])
    got = call_answer(answer, genres.clone(), anchors.clone(), name="same_genre_mask")
    got = _as_bool_mask(got, (len(anchors), genres.shape[0]), "mask")
    expected = _same_reference(genres, anchors)
    if np.array_equal(got, expected):
        passed("ex-knowledge-same-genre", "an item qualifies as soon as it shares one genre with the positive")
        return
    g = genres.numpy()
    exact = (g[anchors.numpy()][:, None, :] == g[None, :, :]).all(-1) & g.any(1)[None, :]
    if np.array_equal(got, exact) or np.array_equal(got, (g[anchors.numpy()][:, None, :] == g[None, :, :]).all(-1)):
        fail("Your mask requires the *whole* genre set to match: item 4 (Comedy) is missing for "
             "anchor 3 (Action and Comedy).",
             hint="Sharing one genre is enough: count the shared genres with a matrix product and "
                  "compare with 0.")
    other = ~expected & g.any(1)[None, :]
    if np.array_equal(got, other) or np.array_equal(got, ~expected):
        fail("Your mask marks the items that share *no* genre with the anchor: the easy, "
             "other-genre negatives (mode='other').",
             hint="Same-genre means at least one shared genre: shared count > 0.")
    counts = g[anchors.numpy()].astype(int) @ g.T.astype(int)
    if np.array_equal(got, counts > 1):
        fail("Your mask asks for more than one shared genre: anchor 1 (Action only) gets no "
             "same-genre item at all.", hint="Compare the shared-genre count with 0, not 1.")
    if got[:, 0].any():
        fail("Your mask marks column 0, the padding id, which is never a real item.",
             hint="Row 0 of the genre matrix is all False; a product with it is 0.")
    row = int(np.flatnonzero((got != expected).any(1))[0])
    item = int(np.flatnonzero(got[row] != expected[row])[0])
    n_wrong = int((got != expected).sum())
    fail(f"For anchor {int(anchors[row])} your mask is wrong at item {item} ({n_wrong} wrong entries in all).",
         hint="Look up the genres of that anchor and of that item: the mask is True exactly when "
              "they have at least one genre in common.")


# -- strata -----------------------------------------------------------------------------------------
def _toy_cells() -> torch.Tensor:
    """9 items (row 0 padding) in 5 cells, one of them empty; items 2 and 7 in two cells."""
    cells = torch.zeros(10, 5, dtype=torch.bool)
    cells[[1, 2, 3], 0] = True
    cells[[2, 4], 1] = True
    cells[[5, 6, 7, 8], 3] = True
    cells[[7, 9], 4] = True
    return cells


def _stratified_reference(cells: np.ndarray) -> np.ndarray:
    cells = cells.astype(np.float64)
    sizes = cells.sum(0)
    keep = sizes > 0
    return (cells[:, keep] / (keep.sum() * sizes[keep])).sum(1)


def check_stratified_probs(answer) -> None:
    """Exercise ex-knowledge-stratified: ``answer(cells (n_items + 1, C) bool) -> q (n_items + 1,)``.

    ``q(j) = Σ_{non-empty cells c ∋ j} 1 / (C' · |c|)`` with ``C'`` the number of non-empty
    cells: a cell is picked uniformly, then an item uniformly within it.
    """
    check_signature(answer, ["cells"], name="stratified_probs")
    cells = _toy_cells()
    got = call_answer(answer, cells.clone(), name="stratified_probs")
    got = check_shape(got, (cells.shape[0],), name="probabilities",
                      hint="One probability per item id, the padding entry 0 included (it is 0).")
    expected = _stratified_reference(cells.numpy())
    if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        passed("ex-knowledge-stratified", "every non-empty cell receives the same share, split "
                                          "evenly among its items")
        return
    c = cells.numpy().astype(np.float64)
    with_empty = (c / (c.shape[1] * np.maximum(c.sum(0), 1))).sum(1)
    if np.allclose(got, with_empty):
        fail(f"Your probabilities sum to {float(np.sum(got)):.3f}, not 1: you count the empty "
             "cell (column 2) among the cells a draw can pick.",
             hint="Divide by the number of *non-empty* cells.")
    uniform = np.r_[0.0, np.full(c.shape[0] - 1, 1.0 / (c.shape[0] - 1))]
    if np.allclose(got, uniform):
        fail("Your probabilities are uniform over the items: stratification gives each *cell* "
             "the same share, so items in small cells are drawn more often.",
             hint="Follow a draw: a non-empty cell first, uniformly, then an item of that cell.")
    first = np.zeros_like(c)
    has = c.any(1)
    first[np.flatnonzero(has), c[has].argmax(1)] = 1.0
    sizes = c.sum(0)
    keep = sizes > 0
    if np.allclose(got, (first[:, keep] / (keep.sum() * sizes[keep])).sum(1)):
        fail("Item 2 sits in two cells, but your probability counts only its first one (the "
             "probabilities then sum to less than 1).",
             hint="An item in several cells collects the mass of each: sum over its cells.")
    expect(abs(float(np.sum(got)) - 1.0) < 1e-6,
           f"Your probabilities sum to {float(np.sum(got)):.4f}; a distribution sums to 1.",
           hint="Pick a non-empty cell uniformly (1/C'), then an item uniformly in it (1/|c|).")
    check_close(got, expected, name="probabilities", rtol=1e-9, atol=1e-12,
                hint="Follow a draw: first a non-empty cell, uniformly, then an item of that cell, "
                     "uniformly; an item collects the probability of every cell it belongs to.")


# -- walks ----------------------------------------------------------------------------------------------
def _reach_reference(genres: np.ndarray, anchor: int, n_hops: int) -> np.ndarray:
    g = genres.astype(np.float64)
    to_attr = g / np.maximum(g.sum(1, keepdims=True), 1)
    to_item = (g / np.maximum(g.sum(0, keepdims=True), 1)).T
    reach = np.zeros(len(g))
    reach[anchor] = 1.0
    for _ in range(n_hops):
        reach = reach @ to_attr @ to_item
    return reach


def check_reach_probability(answer) -> None:
    """Exercise ex-knowledge-walk: ``answer(genres (n_items + 1, G) bool, anchor, n_hops)
    -> (n_items + 1,)`` probability that a walk of ``n_hops`` item→genre→item steps from
    ``anchor`` ends at each item (each step uniform over the current node's neighbours).
    """
    check_signature(answer, ["genres", "anchor", "n_hops"], name="reach_probability")
    genres = _toy_genres()
    for anchor, hops in ((3, 1), (5, 2), (1, 2)):
        got = call_answer(answer, genres.clone(), anchor, hops, name="reach_probability")
        got = check_shape(got, (genres.shape[0],), name="probabilities",
                          hint="One probability per item id, padding entry 0 included.")
        expected = _reach_reference(genres.numpy(), anchor, hops)
        if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            continue
        g = genres.numpy().astype(np.float64)
        where = f"from item {anchor} with {hops} hop(s)"
        if hops > 1 and np.allclose(got, _reach_reference(genres.numpy(), anchor, 1)):
            fail(f"{where} your probabilities are those of a single hop.",
                 hint="Repeat the item→genre→item step n_hops times.")
        unnormalised = np.zeros(len(g))
        unnormalised[anchor] = 1.0
        for _ in range(hops):
            unnormalised = unnormalised @ g @ g.T
        if np.allclose(got, unnormalised) or np.allclose(got, unnormalised / unnormalised.sum()):
            fail(f"{where} your walk weighs genres and items by raw co-membership counts: "
                 "the steps are not normalised per node.",
                 hint="Divide each item's row by its number of genres and each genre's column by "
                      "its number of items before multiplying.")
        by_catalogue = np.zeros(len(g))
        by_catalogue[anchor] = 1.0
        to_attr = g / np.maximum(g.sum(1, keepdims=True), 1)
        for _ in range(hops):
            by_catalogue = by_catalogue @ to_attr @ (g.T / np.maximum(g.sum(0).sum(), 1))
        if np.allclose(got, by_catalogue):
            fail(f"{where} the genre→item step divides by the number of all memberships, not "
                 "by the genre's size, so the probabilities do not sum to 1.",
                 hint="From a genre, every item of *that* genre is equally likely.")
        total = float(np.sum(got))
        expect(abs(total - 1.0) < 1e-6,
               f"{where} your probabilities sum to {total:.4f}; the walk always ends somewhere, so they sum to 1.",
               hint="Normalise each step: item→genre by the item's genre count, genre→item by the genre's size.")
        check_close(got, expected, name=f"probabilities ({where})", rtol=1e-9, atol=1e-12,
                    hint="Write one hop as two row-normalised transition matrices (item to genre, "
                         "genre to item) and apply the hop n_hops times to the anchor's one-hot vector.")
    passed("ex-knowledge-walk", "multi-genre items are the bridges through which a two-hop walk "
                                "leaves the positive's genres")


# -- text embeddings ---------------------------------------------------------------------------------
def _toy_vectors() -> np.ndarray:
    """20 vectors (row 0 padding, zero) whose norms differ a lot, so dot product ≠ cosine."""
    rng = np.random.default_rng(4)
    v = rng.normal(size=(21, 6))
    v *= rng.uniform(0.2, 5.0, size=(21, 1))
    v[0] = 0.0
    return v.astype(np.float32)


def _neighbours_reference(vectors: np.ndarray, item: int, top_n: int) -> np.ndarray:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit[item]
    sims[[0, item]] = -np.inf
    return np.argsort(-sims)[:top_n]


def check_semantic_neighbours(answer) -> None:
    """Exercise ex-knowledge-semantic: ``answer(vectors (n_items + 1, d), item, top_n) -> (top_n,)``
    item ids with the highest cosine similarity to ``item`` (never the item itself nor the
    padding id 0), in any order.
    """
    check_signature(answer, ["vectors", "item", "top_n"], name="semantic_neighbours")
    vectors = _toy_vectors()
    for item, top_n in ((3, 5), (17, 4)):
        got = call_answer(answer, torch.as_tensor(vectors.copy()), item, top_n, name="semantic_neighbours")
        got = as_array(got, "neighbours").reshape(-1)
        got = check_shape(got, (top_n,), name="neighbours", hint="Return top_n item ids.")
        expected = _neighbours_reference(vectors, item, top_n)
        if set(got.tolist()) == set(expected.tolist()):
            continue
        if item in set(got.tolist()):
            fail(f"Your neighbours of item {item} include item {item} itself (cosine 1 with itself).",
                 hint="Set the item's own similarity to -inf before topk.")
        if 0 in set(got.tolist()):
            fail(f"Your neighbours of item {item} include 0, the padding id.",
                 hint="Set the similarity of row 0 to -inf before topk.")
        dots = vectors @ vectors[item]
        dots[[0, item]] = -np.inf
        if set(got.tolist()) == set(np.argsort(-dots)[:top_n].tolist()):
            fail(f"Your neighbours of item {item} are ranked by raw dot products, which favour long "
                 "vectors; the sampler ranks by cosine similarity.",
                 hint="Divide every vector by its norm first.")
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        far = unit @ unit[item]
        far[[0, item]] = np.inf
        if set(got.tolist()) == set(np.argsort(far)[:top_n].tolist()):
            fail(f"Your neighbours of item {item} are the *least* similar items.",
                 hint="Take the largest cosine similarities (topk, largest=True).")
        missed = len(set(expected.tolist()) - set(got.tolist()))
        fail(f"{missed} of your {top_n} neighbours of item {item} are not among the {top_n} items "
             "with the highest cosine similarity to it.",
             hint="Cosine similarity divides the dot product by both norms; exclude the item itself "
                  "and row 0.")
    passed("ex-knowledge-semantic", "your neighbours are the items nearest by cosine similarity, as "
                                    "SemanticSampler's table")



# -- predict, then measure: a narrower semantic pool ------------------------------------------------
def check_prediction(prediction, measured_gap, narrow_rate, fnr) -> None:
    """Exercise ``ex-knowledge-predict``: a prediction written down, and the gap between the
    false-negative rate of a narrower semantic pool and the audit's semantic row measured.

    ``narrow_rate`` is the reader's audited rate with ``top_n = 10`` (mean over the seeds);
    ``fnr`` is the chapter's audit table (columns ``"sampler"``, ``"fnr"``, ``"uniform_rate"``);
    the gap is ``narrow_rate`` minus the mean rate of the ``"semantic"`` rows.
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_gap, "measured_gap")
    narrow = as_number(narrow_rate, "narrow_rate")
    if not 0.0 <= narrow <= 1.0:
        fail("Your narrow_rate is not a rate between 0 and 1.",
             hint="Give it as a fraction (the 'rate' of false_negative_rate), not a percentage.")
    rates = fnr.groupby("sampler")["fnr"].mean()
    semantic = float(rates["semantic"])
    if same(narrow, semantic, rtol=1e-9):
        fail("Your narrow_rate is the audit's semantic row itself: you audited the chapter's sampler again.",
             hint="Build SemanticSampler(embeddings=world.latent.item_vectors, top_n=10).")
    mistakes = [
        (narrow, "Your gap is the narrow pool's rate itself.", "Subtract the semantic row's mean rate."),
        (narrow - float(fnr["uniform_rate"].mean()), "You compared with the exact uniform rate; the question "
         "compares the narrow pool with the semantic row.", None),
    ]
    mistakes += [(narrow - float(rate), f"You compared with the {label!r} row; the question compares the narrow "
                  "pool with the semantic row.", None) for label, rate in rates.items() if label != "semantic"]
    check_difference(value, narrow, semantic, name="gap", exercise="ex-knowledge-predict",
                     detail="now compare the sign with your prediction, and the gap with the audit's per-user "
                            "standard errors.",
                     order="narrow_rate minus the semantic row's rate.", mistakes=mistakes,
                     what="narrow_rate minus the mean false-negative rate of the semantic rows",
                     how="fnr[fnr.sampler == 'semantic']['fnr'].mean() is the semantic row, averaged over the "
                         "seeds.")


# -- critique: a knowledge-enhanced experiment ------------------------------------------------------
#: Statements about a knowledge-enhanced experiment (exercise ex-knowledge-critique):
#: letter -> (statement, is it a flaw of that experiment?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("Same-genre and uniform negatives were compared on MovieLens-100K by ranking each test target "
          "against 100 randomly sampled items, and the numbers were reported as full-ranking accuracy.", True,
          "sampled metrics reported as full ranking"),
    "B": ("The stratified sampler's popularity bands were computed from the interactions of the whole log, "
          "test rows included.", True, "popularity counted on test data"),
    "C": ("The predefined sampler's model trained on every rating, the one- and two-star ones included, "
          "while the same low ratings served as its negatives.", True, "an item both positive and negative"),
    "D": ("The semantic sampler's embeddings were computed once, before training, from the films' titles "
          "and genres.", False, "item content carries nothing from the test period"),
    "E": ("False negatives were counted on a synthetic world whose preferences are known, not on "
          "MovieLens.", False, "only known preferences can count false negatives"),
    "F": ("Same-genre negatives were declared worse than uniform ones from one seed of each.", True,
          "statistics"),
    "G": ("The attribute sampler's throughput was timed with its compatibility mask built once and reused "
          "for every batch, although training builds a mask for every row of every batch.", True,
          "cost measured on a path training does not take"),
}


def check_critique(flaws) -> None:
    """Exercise ``ex-knowledge-critique``: the letters of :data:`CRITIQUE_STATEMENTS` that are
    flaws of the experiment."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-knowledge-critique",
                hint="Walk through the chapter's protocol: how accuracy is ranked, what popularity is "
                     "counted on, what a model trains on next to its negatives, how many seeds, and what "
                     "a timed call does that training does.")
