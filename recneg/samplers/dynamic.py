"""Dynamic negative samplers: let the current model choose among candidates.

Dynamic negative sampling (Ma et al., arXiv 2409.07237, section 3.2) re-decides at every
step which items are informative negatives, using the model being trained. The common
pattern is two passes: a cheap static proposal (uniform here) draws a *pool* of
candidates, the model scores the pool under :func:`torch.no_grad`, and a rule picks the
negatives from it. The rules implemented here are the survey's sub-families:

* universal DNS — keep the highest-scoring candidates (:class:`DNSSampler`), sample
  them from a softmax over the scores (:class:`SoftmaxHardSampler`), or pick the
  candidate whose score matches a hardness that adapts to the positive
  (:class:`AHNSSampler`);
* distribution-based DNS — prefer candidates whose score is high *and* unstable across
  training (:class:`SRNSSampler`);
* interpolation DNS — synthesise negative embeddings by mixing the positive into hard
  candidates (:class:`MixGCFInterpolation`);
* user-similarity DNS — draw the items that similar users interacted with
  (:class:`UserSimilaritySampler`).

For every sampler that selects from a pool, ``log_prob`` is the log-probability of the
*pool proposal* for the returned item (see :class:`~recneg.samplers.NegativeSample`);
the selection step has no tractable marginal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .._errors import RecnegError, check_finite, check_positive_int, check_probability
from ..data.interactions import Interactions
from ..losses import bpr_loss
from .base import (
    EmbeddingNegatives,
    NegativeSample,
    NegativeSampler,
    Scorer,
    extra_targets,
    is_excluded,
    clone_component,
    output_shape,
)
from .static import UniformSampler

__all__ = [
    "DNSSampler",
    "SoftmaxHardSampler",
    "AHNSSampler",
    "SRNSSampler",
    "UserSimilaritySampler",
    "MixGCFInterpolation",
    "MixedNegatives",
    "bpr_loss_with_mixed_negatives",
    "score_candidates",
    "positive_scores",
    "mean_over_positions",
    "duplicate_mask",
    "gumbel_noise",
]


# -- helpers shared by the scored-pool samplers ------------------------------------------
def mean_over_positions(values: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Average ``values`` of shape ``(B, L, P)`` over the non-padding positions of
    ``positives`` ``(B, L)``, giving ``(B, P)``: a per-sequence summary of per-position
    scores for negatives shared by the whole sequence. Rows without a valid position
    (or ``positives`` of another length) fall back to the plain mean.

    The masked sum divided by the count is the arithmetic the case study's adaptive
    sampler used; its published draws depend on it to the last bit (near-ties among
    candidates), so keep it rather than, say, a batched matrix product.

    Examples
    --------
    >>> values = torch.tensor([[[1.0, 4.0], [3.0, 0.0]]])          # (B=1, L=2, P=2)
    >>> mean_over_positions(values, torch.tensor([[0, 7]])).tolist()   # position 0 is padding
    [[3.0, 0.0]]
    """
    if positives.dim() != 2 or positives.shape[1] != values.shape[1]:
        return values.mean(1)
    mask = (positives > 0).unsqueeze(-1).to(values.dtype)
    count = mask.sum(1)
    mean = (values * mask).sum(1) / count.clamp_min(1.0)
    empty = count.squeeze(1) == 0
    if bool(empty.any()):
        mean[empty] = values[empty].mean(1)
    return mean


def score_candidates(scorer: Scorer, candidates: torch.Tensor, positives: torch.Tensor, *,
                     reduce: bool = True) -> torch.Tensor:
    """Scores of ``candidates`` by the current model, without gradients.

    Parameters
    ----------
    scorer : callable
        See the ``Scorer`` contract of ``recneg.samplers.base``.
    candidates : LongTensor, shape (B, P) or (B, L, P)
    positives : LongTensor, shape (B,) or (B, L)
        Used to average per-position scores over valid (non-padding) positions.
    reduce : bool, default True
        When candidates are ``(B, P)`` and the scorer is sequential (returns
        ``(B, L, P)``), average over positions to ``(B, P)``; with ``False`` the
        per-position scores are returned.

    Returns
    -------
    Tensor, float32
        ``(B, P)``, ``(B, L, P)`` (3-D candidates, or ``reduce=False`` with a sequential
        scorer).
    """
    # Scores only choose the negatives: no gradient may flow through them.
    with torch.no_grad():
        scores = scorer(candidates)
    scores = torch.as_tensor(scores).detach().float()
    if candidates.dim() == 3:
        if scores.shape != candidates.shape:
            raise RecnegError(
                f"the scorer returned scores of shape {tuple(scores.shape)} for candidates of shape "
                f"{tuple(candidates.shape)}; a scorer must return one score per candidate"
            )
        return scores
    ok = scores.shape == candidates.shape or (
        scores.dim() == 3 and scores.shape[0] == candidates.shape[0] and scores.shape[2] == candidates.shape[1]
    )
    if not ok:
        raise RecnegError(
            f"the scorer returned scores of shape {tuple(scores.shape)} for candidates of shape "
            f"{tuple(candidates.shape)}; expected (B, P) or (B, L, P)"
        )
    if scores.dim() == 3 and reduce:
        return mean_over_positions(scores, positives)
    return scores


def positive_scores(scorer: Scorer, positives: torch.Tensor) -> torch.Tensor:
    """The model's score of each positive target, shaped like ``positives``.

    The scorer contract only scores *candidates*, so the positive is scored as a pool of
    one: ``scorer(positives[..., None])``. For ``(B, L)`` positives the candidates are
    ``(B, L, 1)`` and a sequential scorer scores the target of every position with that
    position's state; padding positions get a meaningless score and are masked by the
    callers.
    """
    candidates = positives.unsqueeze(-1)
    scores = score_candidates(scorer, candidates, positives, reduce=False)
    if positives.dim() == 1 and scores.dim() == 3:
        raise RecnegError(
            "a sequential scorer needs positives of shape (B, L) to score each position's "
            "target; pass the (B, L) targets"
        )
    return scores[..., 0]


def duplicate_mask(items: torch.Tensor) -> torch.Tensor:
    """True where an item already occurred earlier in its row (last dimension).

    Pools are drawn with replacement; masking repeats keeps a top-k selection from
    returning the same hardest item twice.
    """
    sorted_items, order = items.sort(dim=-1, stable=True)
    repeat = torch.zeros_like(items, dtype=torch.bool)
    repeat[..., 1:] = sorted_items[..., 1:] == sorted_items[..., :-1]
    return torch.zeros_like(repeat).scatter_(-1, order, repeat)


def gumbel_noise(shape, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """Standard Gumbel noise: ``argmax(logits + noise)`` samples ``softmax(logits)``,
    and the top-k of ``logits + noise`` samples k items without replacement."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64).clamp_(1e-12, 1.0 - 1e-12)
    return (-torch.log(-torch.log(u))).to(dtype)


def _broadcast_like(mask: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """A pool-shaped mask ``(B, P)`` broadcast to per-position scores ``(B, L, P)``."""
    if mask.dim() == 2 and scores.dim() == 3:
        return mask.unsqueeze(1).expand_as(scores)
    return mask


def _take(pool: NegativeSample, index: torch.Tensor) -> NegativeSample:
    """Gather the selected entries of a pool; ``index`` may add a position axis."""
    items, log_prob = pool.items, pool.log_prob
    if index.dim() == 3 and items.dim() == 2:
        items = items.unsqueeze(1).expand(-1, index.shape[1], -1)
        log_prob = log_prob.unsqueeze(1).expand(-1, index.shape[1], -1)
    return NegativeSample(items.gather(-1, index), log_prob.gather(-1, index))


class _ScoredPoolSampler(NegativeSampler):
    """Shared machinery: a static pool sampler (uniform by default) whose draws the
    current model scores. Pools are per row for shared negatives and per position for
    ``per_position=True``."""

    family = "dynamic"
    needs_scorer = True

    def __init__(self, n_candidates: int | None, base: NegativeSampler | None, *,
                 exclude_positives: bool, random_state) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.n_candidates = None if n_candidates is None else check_positive_int("n_candidates", n_candidates)
        if base is not None and (not isinstance(base, NegativeSampler) or base.needs_scorer):
            raise RecnegError(
                f"base must be a sampler that needs no scorer (e.g. UniformSampler()), got {type(base).__name__}"
            )
        self.base = base

    def _make_base(self) -> NegativeSampler:
        """The unfitted pool sampler: a clone of ``base`` (the caller's object is never
        fitted or changed), or a uniform sampler."""
        return clone_component(self.base) if self.base is not None else UniformSampler()

    def _fit(self, train: Interactions) -> None:
        base = self._make_base()
        base.exclude_positives = self.exclude_positives
        self.base_ = base.fit(train)

    def _pool(self, users, positives, size: int, per_position: bool, generator) -> NegativeSample:
        return self.base_._sample(users, positives, size, per_position=per_position, scorer=None,
                                  generator=generator)

    def pool_size(self, k: int) -> int:
        """Candidates scored per row (or position) for ``k`` negatives: ``M · k``, so
        every negative is chosen among ``M`` candidates on average and ``k`` never
        exceeds the pool."""
        return self.n_candidates * k


# -- universal DNS ------------------------------------------------------------------------
class DNSSampler(_ScoredPoolSampler):
    """Dynamic negative sampling: the highest-scoring of M uniform candidates.

    Zhang et al. (SIGIR 2013) observed that a uniformly drawn negative is usually so
    obviously irrelevant that the BPR gradient ``σ(s⁻ − s⁺)`` is nearly zero: the model
    learns nothing from it. DNS draws ``M`` candidates uniformly from the items the user
    has not interacted with, scores them with the *current* model, and trains on the one
    with the highest score, ``j* = argmax_{j ∈ C} s(u, j)`` — the item the model most
    confuses with a positive. With ``k > 1`` negatives the pool has ``M · k`` candidates
    and the top-k are kept (the vectorised form of "best of M" per negative; repeats in
    the pool are counted once). ``M = 1`` is uniform sampling; larger ``M``
    gives harder negatives and, because the highest-scoring unobserved items are often
    items the user would like, more false negatives (see :class:`SRNSSampler`).

    With ``per_position=True`` every position of a sequence gets its own pool, scored
    with that position's state; otherwise one pool per sequence is ranked by its mean
    score over the valid positions. Scoring runs under :func:`torch.no_grad`.
    With ``shared_pool=True`` one pool per sequence serves every position even when the
    selection is per position (each position keeps its own top ``k`` of the same pool):
    the large-scale study's adaptive sampler, preset as
    :class:`~recneg.samplers.AdaptiveSampler` (``shared_pool=True, distinct=False``). A
    non-sequential scorer gives one ranking per user, so with ``per_position=True`` every
    position then shares the user's choice.

    **Guards against false negatives** (both off by default, which is plain DNS draw for
    draw). *Random injection*: ``uniform_fraction`` ``f`` of each row's ``k`` negatives
    are uniform draws over the row's allowed items instead of the lowest-ranked of its top
    ``k`` — ``⌊f·k⌋`` of them, plus one more with probability ``f·k − ⌊f·k⌋``, so the
    expected share is exactly ``f`` even for ``k = 1``; a uniform negative is a false
    negative only at the base rate. The pool keeps ``M · k`` candidates, so the hard
    negatives that remain are the hardest of it (:class:`~recneg.samplers.RandomInjection`
    replaces random entries of any sampler instead). *Weight cap*: with ``loss_cap`` ``c`` every returned
    negative carries the loss weight ``w = min(1, c / softplus(s))``, ``s`` its current
    score (the mean over valid positions for shared negatives). ``softplus(s) =
    −log(1 − σ(s))`` is the negative's BCE term, so the weighted term ``w · softplus(s)``
    of any single negative is at most ``c``: an item scored far above the rest — the
    likeliest false negative — keeps a gradient that shrinks like ``c / s`` instead of
    taking a full share. The weights reach the loss through ``NegativeSample.weights``
    (``weights=`` of :mod:`recneg.losses`); the bound is exact for ``"bce"`` and
    ``"gbce"`` and a monotone down-weighting of high scores for the other losses.

    Parameters
    ----------
    n_candidates : int, default 10
        Candidates ``M`` per negative; the pool of a row (or position) has ``M · k``.
    base : NegativeSampler, optional
        Static sampler for the pool; :class:`~recneg.samplers.UniformSampler` by default.
        It is cloned before fitting and takes this sampler's ``exclude_positives``.
    shared_pool : bool, default False
        Draw one pool per sequence for all positions (see above).
    distinct : bool, default True
        Count a candidate drawn twice into the pool once, so the top ``k`` holds ``k``
        different items when the pool has them; ``False`` keeps repeats (the study's rule).
    uniform_fraction : float in [0, 1], default 0.0
        Expected share of each row's negatives drawn uniformly (random injection);
        ``1.0`` draws no pool at all.
    loss_cap : float or None, default None
        ``c > 0``: attach the capped loss weights above; ``None`` attaches none.
    exclude_positives : bool, default True
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=20)
    >>> dns = DNSSampler(n_candidates=8, random_state=0).fit(train)
    >>> scorer = lambda cand: cand.float()          # a model that prefers high item ids
    >>> neg = dns.sample(torch.tensor([0]), torch.tensor([1]), 2, scorer=scorer)
    >>> neg.items.shape, bool(neg.items.min() > 1)
    (torch.Size([1, 2]), True)
    >>> guarded = DNSSampler(n_candidates=8, uniform_fraction=0.5, loss_cap=2.0, random_state=0).fit(train)
    >>> neg = guarded.sample(torch.tensor([0]), torch.tensor([1]), 4, scorer=scorer)
    >>> terms = neg.weights * torch.nn.functional.softplus(neg.items.float())   # weighted BCE terms
    >>> bool(terms.max() <= 2.0), bool(neg.weights.max() <= 1.0)
    (True, True)
    """

    subfamily = "universal DNS"

    def __init__(self, n_candidates: int = 10, base: NegativeSampler | None = None, *, shared_pool: bool = False,
                 distinct: bool = True, uniform_fraction: float = 0.0, loss_cap: float | None = None,
                 exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(n_candidates, base, exclude_positives=exclude_positives, random_state=random_state)
        self.shared_pool = bool(shared_pool)
        self.distinct = bool(distinct)
        self.uniform_fraction = check_probability("uniform_fraction", uniform_fraction)
        self.loss_cap = None if loss_cap is None else check_finite("loss_cap", loss_cap, positive=True)

    def _fit(self, train: Interactions) -> None:
        super()._fit(train)
        if self.uniform_fraction > 0:
            self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        if self.uniform_fraction == 1.0:  # every slot is injected: no pool to draw or rank
            return self._guard(users, positives, None, output_shape(positives, k, per_position), scorer, generator)
        pool = self._pool(users, positives, self.pool_size(k), per_position and not self.shared_pool, generator)
        # Shared negatives rank a (B, P) pool by its mean score over the positions; per
        # position, a shared pool keeps each position's own scores.
        scores = score_candidates(scorer, pool.items, positives, reduce=not per_position)
        if self.distinct:
            scores = scores.masked_fill(_broadcast_like(duplicate_mask(pool.items), scores), float("-inf"))
        chosen = _take(pool, scores.topk(k, dim=-1).indices)
        if per_position and chosen.items.dim() == 2:
            # A non-sequential scorer gives one ranking per user: every position shares it.
            length = positives.shape[1]
            chosen = NegativeSample(chosen.items.unsqueeze(1).expand(-1, length, -1).contiguous(),
                                    chosen.log_prob.unsqueeze(1).expand(-1, length, -1).contiguous())
        return self._guard(users, positives, chosen, tuple(chosen.items.shape), scorer, generator)

    def _guard(self, users, positives, chosen: NegativeSample | None, shape: tuple, scorer,
               generator) -> NegativeSample:
        """Apply the two guards to the top-``k`` negatives ``chosen`` (``None``: every slot
        is uniform); with both off, ``chosen`` is returned as it is."""
        if self.uniform_fraction > 0:
            inject = torch.ones(shape, dtype=torch.bool) if chosen is None else self._injected(shape, generator)
            chosen = self._uniform_slots(users, positives, inject, chosen, generator)
        if self.loss_cap is not None:
            scores = score_candidates(scorer, chosen.items, positives)
            chosen = NegativeSample(chosen.items, chosen.log_prob, self.capped_weights(scores))
        return chosen

    def capped_weights(self, scores: torch.Tensor) -> torch.Tensor:
        """``min(1, loss_cap / softplus(scores))``, float32, shaped like ``scores``.

        Examples
        --------
        >>> DNSSampler(loss_cap=1.0).capped_weights(torch.tensor([-3.0, 0.0, 4.0])).tolist()
        [1.0, 1.0, 0.2488...]
        """
        if self.loss_cap is None:
            raise RecnegError("capped_weights needs a loss_cap; build the sampler with loss_cap=... (e.g. 2.0)")
        # float64: softplus of a very negative score underflows to 0 and the ratio to +inf,
        # which the clamp turns into the weight 1 it should be.
        loss = torch.nn.functional.softplus(torch.as_tensor(scores).double())
        return (self.loss_cap / loss).clamp(max=1.0).float()

    def _injected(self, shape: tuple, generator: torch.Generator) -> torch.Tensor:
        """Which slots are uniform: the last ``⌊f·k⌋`` (or one more, with probability
        ``f·k − ⌊f·k⌋``) of every row, where the top ``k`` keeps its least hard negatives."""
        k = shape[-1]
        share = self.uniform_fraction * k
        count = torch.full(shape[:-1], math.floor(share), dtype=torch.long)
        if share != math.floor(share):  # no random number is spent when f·k is whole
            extra_one = torch.rand(shape[:-1], generator=generator, dtype=torch.float64) < share - math.floor(share)
            count = count + extra_one.long()
        return torch.arange(k) >= (k - count).unsqueeze(-1)

    def _uniform_slots(self, users, positives, inject: torch.Tensor, drawn: NegativeSample | None,
                       generator) -> NegativeSample:
        """``drawn`` with the ``inject`` slots replaced by uniform draws over each row's
        allowed items (every slot when ``drawn`` is None), with their uniform ``log_prob``."""
        extra = extra_targets(self, users, positives)
        uniform = self.uniform_._draw_allowed(users, positives, tuple(inject.shape), generator, extra)
        log_prob = self.uniform_.conditional_log_prob(users, uniform, extra, mask_excluded=False).float()
        if drawn is None:
            return NegativeSample(uniform, log_prob)
        return NegativeSample(torch.where(inject, uniform, drawn.items),
                              torch.where(inject, log_prob, drawn.log_prob.float()))


class SoftmaxHardSampler(_ScoredPoolSampler):
    """Negatives drawn from a softmax over the model's scores of a candidate pool.

    DNS always takes the hardest candidate; a temperature makes the choice soft:
    ``P(j | C) = exp(s(u, j)/τ) / Σ_{c ∈ C} exp(s(u, c)/τ)``. As ``τ → 0`` this is DNS,
    as ``τ → ∞`` it is a uniform choice from the pool (so uniform sampling), and in
    between hard candidates are preferred without always taking the one most likely to
    be a false negative. ``k`` negatives are drawn *without* replacement with the
    Gumbel-top-k trick (add Gumbel noise to ``s/τ``, keep the k largest), which is
    exactly sequential sampling from the softmax. The same distribution underlies
    self-adversarial weighting (:class:`~recneg.samplers.ScoreWeightedSampler`) and the
    IRGAN generator (:class:`~recneg.samplers.IRGANSampler`).

    Parameters
    ----------
    n_candidates : int or None, default 16
        Candidates per negative (pool ``M · k``). ``None`` scores the *whole catalogue*
        (every allowed item), which is
        feasible for small catalogues and makes the distribution exactly the softmax
        over allowed items; ``log_prob`` is then that softmax probability of a single
        draw. With a pool, ``log_prob`` is the pool proposal's.
    temperature : float, default 1.0
        ``τ > 0``; ``float("inf")`` gives uniform choices.
    base : NegativeSampler, optional
        Static pool sampler (uniform by default).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=5)
    >>> s = SoftmaxHardSampler(n_candidates=None, temperature=1.0, random_state=0).fit(train)
    >>> neg = s.sample(torch.tensor([0]), torch.tensor([1]), 1, scorer=lambda c: c.float())
    >>> int(neg.items) in {2, 3, 4, 5}
    True
    >>> probs = torch.softmax(torch.tensor([2.0, 3.0, 4.0, 5.0]), 0)   # items 2..5; item 1 is excluded
    >>> bool(torch.isclose(neg.log_prob.exp(), probs[neg.items - 2]).all())
    True
    """

    subfamily = "universal DNS"
    variant = "softmax over the pool"

    def __init__(self, n_candidates: int | None = 16, temperature: float = 1.0, base: NegativeSampler | None = None,
                 *, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(n_candidates, base, exclude_positives=exclude_positives, random_state=random_state)
        self.temperature = check_finite("temperature", temperature, positive=True, allow_inf=True)

    def _logits(self, scores: torch.Tensor) -> torch.Tensor:
        if math.isinf(self.temperature):
            return torch.zeros_like(scores)
        return scores / self.temperature

    def _catalogue(self, users, positives, per_position) -> torch.Tensor:
        items = torch.arange(1, self.n_items_ + 1)
        shape = output_shape(positives, self.n_items_, per_position)
        return items.expand(shape)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        if self.n_candidates is None:
            candidates = self._catalogue(users, positives, per_position)
            blocked = is_excluded(self, users, positives, candidates)
            allowed = (~blocked).sum(-1)
            if bool((allowed < k).any()):
                row = int(torch.nonzero((allowed < k).reshape(len(users), -1).any(-1))[0])
                raise RecnegError(
                    f"user {int(users[row])} has only {int(allowed.reshape(len(users), -1)[row].min())} "
                    f"allowed items, fewer than num_negatives={k}; lower num_negatives"
                )
            scores = score_candidates(scorer, candidates, positives)
            logits = self._logits(scores).masked_fill(_broadcast_like(blocked, scores), float("-inf"))
            log_probs = torch.log_softmax(logits, dim=-1)
            pool = NegativeSample(candidates, torch.zeros(candidates.shape))
        else:
            pool = self._pool(users, positives, self.pool_size(k), per_position, generator)
            scores = score_candidates(scorer, pool.items, positives)
            logits = self._logits(scores).masked_fill(
                _broadcast_like(duplicate_mask(pool.items), scores), float("-inf"))
            log_probs = None
        keys = logits + gumbel_noise(logits.shape, generator)
        index = keys.topk(k, dim=-1).indices
        chosen = _take(pool, index)
        if log_probs is not None:
            chosen = NegativeSample(chosen.items, log_probs.gather(-1, index))
        return chosen


class AHNSSampler(_ScoredPoolSampler):
    """Adaptive hardness negative sampling (Lai et al., AAAI 2024).

    DNS gives every positive the hardest negative available, whatever the positive's
    own score. AHNS argues that the hardness of a negative should *adapt* to the
    positive: a positive the model already scores highly can take a hard negative, a
    poorly scored one (perhaps a noisy interaction) an easier one. From a pool ``C`` of
    uniform candidates it picks

    ``j* = argmin_{j ∈ C} | s(u, j) − β · (s(u, i⁺) + α)^(p + 1) |``,

    the candidate whose score is closest to a target set by the positive's score
    ``s(u, i⁺)``; with ``k > 1`` the k closest. The positive is scored with the same
    scorer as the candidates, as a pool of one (``scorer(positives[..., None])``, see
    :func:`positive_scores`). For negatives shared by a sequence the distance is averaged
    over the valid positions. Where the target is undefined (a negative base with a
    fractional exponent) or infinite, every candidate is equally close and the choice
    falls back to the first candidate of the uniform pool.

    Parameters
    ----------
    n_candidates : int, default 16
        Candidates per negative (pool ``M · k``).
    alpha, beta, p : float, default 1.0, 0.1, -2.0
        The shift, scale and exponent of the target hardness (the defaults give
        ``β / (s⁺ + α)``, a negative hardness that decreases as the positive's score
        grows past ``−α``).
    base : NegativeSampler, optional

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=9)
    >>> ahns = AHNSSampler(n_candidates=16, alpha=0.0, beta=1.0, p=0.0, random_state=0).fit(train)
    >>> scores = torch.tensor([0.0, 5.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    >>> neg = ahns.sample(torch.tensor([0]), torch.tensor([1]), 1, scorer=lambda c: scores[c])
    >>> int(neg.items)   # target = s(u, 1) = 5.0: the closest candidate is the highest-scoring one
    9
    """

    subfamily = "universal DNS"
    variant = "adaptive hardness (AHNS)"

    def __init__(self, n_candidates: int = 16, alpha: float = 1.0, beta: float = 0.1, p: float = -2.0,
                 base: NegativeSampler | None = None, *, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(n_candidates, base, exclude_positives=exclude_positives, random_state=random_state)
        self.alpha = check_finite("alpha", alpha)
        self.beta = check_finite("beta", beta)
        self.p = check_finite("p", p)

    def target_scores(self, positive_scores: torch.Tensor) -> torch.Tensor:
        """``β · (s⁺ + α)^(p + 1)``, elementwise (NaN where undefined)."""
        return self.beta * torch.pow(positive_scores.double() + self.alpha, self.p + 1.0)

    def distances(self, candidate_scores: torch.Tensor, positive_scores: torch.Tensor) -> torch.Tensor:
        """``|s(u, j) − target|`` with ``+inf`` where the target is undefined.

        ``candidate_scores`` is ``(B, P)`` or ``(B, L, P)``; ``positive_scores`` is
        ``(B,)`` or ``(B, L)``; the result broadcasts to ``(B, P)`` or ``(B, L, P)``.
        """
        target = self.target_scores(positive_scores).to(candidate_scores.dtype).unsqueeze(-1)
        cand = candidate_scores
        if cand.dim() == 2 and target.dim() == 3:
            cand = cand.unsqueeze(1)
        return (cand - target).abs_().nan_to_num_(nan=float("inf"), posinf=float("inf"))

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        pool = self._pool(users, positives, self.pool_size(k), per_position, generator)
        scores = score_candidates(scorer, pool.items, positives, reduce=False)
        dist = self.distances(scores, positive_scores(scorer, positives))
        if pool.items.dim() == 2 and dist.dim() == 3:
            dist = mean_over_positions(dist, positives)
        dist = dist.masked_fill(_broadcast_like(duplicate_mask(pool.items), dist), float("inf"))
        # A stable sort keeps ties (all-infinite rows) in pool order: a uniform choice.
        index = dist.argsort(dim=-1, stable=True)[..., :k]
        return _take(pool, index)


# -- distribution-based DNS -----------------------------------------------------------------
class SRNSSampler(NegativeSampler):
    """Simplify-and-robustify negative sampling (Ding et al., NeurIPS 2020).

    The highest-scoring unobserved items are the hardest negatives but also the most
    likely *false* negatives — items the user would like but has not met. Ding et al.
    observed that the two differ over training: a false negative is scored high
    *consistently* (the model keeps being pulled towards it by similar positives), while
    a true hard negative's score fluctuates as it is pushed down and drifts back. SRNS
    therefore keeps, for every user, a small **memory** of candidate negatives together
    with the **history** of their scores, and picks the candidates maximising

    ``score(u, j) + w · std_t[ score_t(u, j) ]``,

    the current score plus ``variance_weight`` times the standard deviation of the
    item's recorded scores: high score *and* high variance. After each draw the memory
    is refreshed: ``n_candidates`` new uniform candidates join it and ``memory_size``
    items survive, sampled without replacement with probability
    ``softmax(score / temperature)`` — so the memory drifts towards informative items
    while staying diverse. Items keep their score history while they stay in memory.

    Memory and history live in tensors of shape ``(n_users, memory_size)`` and
    ``(n_users, memory_size, history_length)`` (``memory_items_``, ``score_history_``),
    created at :meth:`fit`. A score is recorded per call (per batch in which the user
    appears); Ding et al. record per epoch — with one batch per user and epoch the two
    coincide. Scores are per user: for negatives shared by a sequence the score is the
    mean over the valid positions; with ``per_position=True`` each position ranks the
    memory by its own score plus the user's variance term.

    Parameters
    ----------
    n_candidates : int, default 8
        Fresh uniform candidates per call (``S₂`` in the paper).
    memory_size : int, default 16
        Memory items per user (``S₁``); at least ``num_negatives``.
    variance_weight : float, default 1.0
        ``w`` ≥ 0; ``0`` is DNS over the memory.
    history_length : int, default 5
        Scores kept per memory item; the standard deviation needs two.
    temperature : float, default 1.0
        Softmax temperature of the memory update.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 1]), np.array([1, 2]), np.arange(2), n_users=2, n_items=30)
    >>> srns = SRNSSampler(memory_size=4, n_candidates=4, random_state=0).fit(train)
    >>> srns.memory_items_.shape, srns.score_history_.shape
    (torch.Size([2, 4]), torch.Size([2, 4, 5]))
    >>> neg = srns.sample(torch.tensor([0, 1]), torch.tensor([1, 2]), 2, scorer=lambda c: c.float())
    >>> neg.items.shape
    torch.Size([2, 2])
    """

    family = "dynamic"
    subfamily = "distribution-based DNS"
    needs_scorer = True

    def __init__(self, n_candidates: int = 8, memory_size: int = 16, variance_weight: float = 1.0, *,
                 history_length: int = 5, temperature: float = 1.0, exclude_positives: bool = True,
                 random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.n_candidates = check_positive_int("n_candidates", n_candidates)
        self.memory_size = check_positive_int("memory_size", memory_size)
        self.variance_weight = check_finite("variance_weight", variance_weight)
        if self.variance_weight < 0:
            raise RecnegError(f"variance_weight must be >= 0, got {self.variance_weight}")
        self.history_length = check_positive_int("history_length", history_length)
        self.temperature = check_finite("temperature", temperature, positive=True)

    def _fit(self, train: Interactions) -> None:
        self.pool_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)
        users = torch.arange(self.n_users_)
        no_targets = torch.zeros((self.n_users_, 0), dtype=torch.long)
        self.memory_items_ = self.pool_._draw_allowed(users, no_targets, (self.n_users_, self.memory_size),
                                                      self._generator)
        self.score_history_ = torch.full((self.n_users_, self.memory_size, self.history_length), float("nan"))

    @staticmethod
    def history_std(history: torch.Tensor) -> torch.Tensor:
        """Population standard deviation over the last axis, ignoring NaN (unrecorded)
        entries; 0 where fewer than two scores are recorded."""
        valid = ~torch.isnan(history)
        n = valid.sum(-1)
        filled = torch.where(valid, history, torch.zeros((), dtype=history.dtype))
        mean = filled.sum(-1) / n.clamp_min(1)
        sq = torch.where(valid, (history - mean.unsqueeze(-1)) ** 2, torch.zeros((), dtype=history.dtype))
        std = (sq.sum(-1) / n.clamp_min(1)).sqrt()
        return torch.where(n >= 2, std, torch.zeros_like(std))

    def _last_rows(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unique users of the batch and the last batch row of each (a user appearing in
        several rows keeps the memory update of its last row, deterministically)."""
        uniq, inverse = torch.unique(users, return_inverse=True)
        last = torch.full((len(uniq),), -1, dtype=torch.long)
        last.scatter_reduce_(0, inverse, torch.arange(len(users)), reduce="amax")
        return uniq, last

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        if k > self.memory_size:
            raise RecnegError(
                f"num_negatives={k} exceeds memory_size={self.memory_size}; raise memory_size to at least {k}"
            )
        memory = self.memory_items_[users]
        fresh = self.pool_._sample(users, positives, self.n_candidates, per_position=False, scorer=None,
                                   generator=generator).items
        # One scorer call for the memory and the fresh candidates of the refresh.
        raw = score_candidates(scorer, torch.cat([memory, fresh], dim=1), positives, reduce=False)
        current = mean_over_positions(raw, positives) if raw.dim() == 3 else raw
        mem_raw, mem_current = raw[..., : self.memory_size], current[:, : self.memory_size]
        history = torch.cat([self.score_history_[users][..., 1:], mem_current.unsqueeze(-1)], dim=-1)
        spread = self.history_std(history)
        blocked = is_excluded(self, users, positives, memory) | duplicate_mask(memory)
        if per_position:
            per_pos = mem_raw if mem_raw.dim() == 3 else mem_raw.unsqueeze(1).expand(-1, positives.shape[1], -1)
            criterion = per_pos + self.variance_weight * spread.unsqueeze(1)
        else:
            criterion = mem_current + self.variance_weight * spread
        criterion = criterion.masked_fill(_broadcast_like(blocked, criterion), float("-inf"))
        index = criterion.topk(k, dim=-1).indices
        items = _take(NegativeSample(memory, torch.zeros(memory.shape)), index).items
        bad = is_excluded(self, users, positives, items)
        if bool(bad.any()):
            # Fewer than k usable memory items (the batch's own targets sat in memory):
            # fill the gap with uniform draws rather than return a positive.
            items = torch.where(bad, self.pool_._draw_allowed(users, positives, tuple(items.shape), generator), items)
        log_prob = self.pool_.conditional_log_prob(users, items, extra_targets(self, users, positives)).float()
        self._refresh(users, positives, memory, fresh, current, history, generator)
        return NegativeSample(items, log_prob)

    def _refresh(self, users, positives, memory, fresh, current, history, generator) -> None:
        """Keep ``memory_size`` of memory ∪ fresh candidates, drawn without replacement
        with probability ``softmax(score / temperature)`` (Gumbel-top-k); survivors keep
        their score history, newcomers start one with today's score."""
        items = torch.cat([memory, fresh], dim=1)
        fresh_history = torch.full(fresh.shape + (self.history_length,), float("nan"))
        fresh_history[..., -1] = current[:, self.memory_size:]
        histories = torch.cat([history, fresh_history], dim=1)
        # Targets of this batch that are not training items may sit in the memory; they
        # are positives, not negatives, so they are dropped, like repeats.
        blocked = is_excluded(self, users, positives, items) | duplicate_mask(items)
        keys = (current / self.temperature).masked_fill(blocked, float("-inf"))
        keys = keys + gumbel_noise(keys.shape, generator)
        keep = keys.topk(self.memory_size, dim=-1).indices
        uniq, last = self._last_rows(users)
        self.memory_items_[uniq] = items.gather(1, keep)[last]
        self.score_history_[uniq] = histories.gather(
            1, keep.unsqueeze(-1).expand(-1, -1, self.history_length))[last]


# -- user-similarity DNS ----------------------------------------------------------------------
class UserSimilaritySampler(NegativeSampler):
    """Negatives among the items that similar users interacted with.

    A user's neighbours in interaction space — users whose training items overlap
    theirs — consumed items that are plausible for this user too; the ones the user has
    not interacted with are *informative* negatives: close to the user's taste, so the
    model has to learn fine distinctions. This is the idea of user-similarity dynamic
    sampling in the survey (SamWalker, Wang et al. 2020, walks a social or similarity
    graph to reach such items). Here the graph is built from the training data:

    1. cosine similarity of users' binary interaction vectors,
       ``sim(u, v) = |I_u ∩ I_v| / sqrt(|I_u| · |I_v|)``, computed with sparse matrix
       products in chunks of users, keeping each user's ``n_neighbours`` most similar
       users (a one-step walk on the similarity graph);
    2. item weights ``w_u(j) = Σ_{v ∈ N(u)} sim(u, v) · [j ∈ I_v]`` for items ``j`` not
       in ``I_u`` — items liked by many close neighbours weigh most;
    3. negatives drawn from ``q(j | u) ∝ w_u(j)``, vectorised over the batch with one
       ``searchsorted`` on the concatenated per-user cumulative weights.

    ``uniform_fraction`` of each row's negatives are uniform instead. Users without
    neighbour items (no overlap with anyone) get uniform negatives. With
    ``n_candidates > 1`` and a scorer the sampler becomes
    dynamic: it draws ``n_candidates`` neighbour items per negative and keeps the
    highest-scoring ones (DNS over the similarity proposal). ``log_prob`` is the log of
    the slot mixture ``(1 − f)·q(j | u) + f·q_uniform(j | u)`` under
    exclusion (for ``n_candidates > 1``, of the proposal).

    The user's own training items are never proposed (that is the definition), whatever
    ``exclude_positives`` says; it still controls the batch's targets and the uniform part.

    **Why half the negatives are uniform by default.** Neighbour negatives are
    informative — close to the user's taste, so the model must learn fine distinctions —
    but they come from a concentrated set: the items of a few similar users, mostly
    popular ones. Alone they have two costs. *False negatives*: an item that similar
    users chose is more likely than a random one to be an item the user would like.
    *Coverage*: an item outside every user's neighbourhood is never a negative, receives
    no gradient unless it is someone's positive, keeps its initial score and can
    flood the top of the ranking (on ML-100K with ``uniform_fraction=0.0``, 136 items
    were never drawn and took 52 % of the top-10 slots; with 0.5 the same run reached
    HR@10 0.097). The uniform share covers the catalogue and dilutes the false
    negatives, at the price of easier negatives; pass ``uniform_fraction=0.0`` for the
    pure neighbour proposal (and check ``never_proposed_items_``), higher values for a
    safer, more uniform mix.

    Parameters
    ----------
    n_neighbours : int, default 20
    uniform_fraction : float, default 0.5
        Share of each row's negatives drawn uniformly: ``⌊f · k⌋`` slots, and one more with
        probability ``f · k − ⌊f · k⌋`` (so with one negative per row, each is uniform with
        probability ``f``).
    n_candidates : int, default 1
        Neighbour items scored per negative; > 1 needs a scorer.
    chunk_size : int, default 512
        Users per chunk of the similarity computation (memory ``chunk_size × n_users``).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix, shape (n_users, n_users)
        The kept neighbour similarities.
    never_proposed_items_ : int
        Real items (``1..n_items``) with weight 0 for every user: the neighbour
        proposal never draws them, only the uniform share (and the uniform fallback of
        users without neighbour items) can.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 0, 1, 1, 1, 2]), np.array([1, 2, 1, 2, 3, 4]), np.arange(6),
    ...                      n_users=3, n_items=5)
    >>> s = UserSimilaritySampler(n_neighbours=1, uniform_fraction=0.0, random_state=0).fit(train)
    >>> s.sample(torch.tensor([0]), torch.tensor([1]), 3).items.tolist()   # user 1 also had item 3
    [[3, 3, 3]]
    >>> s.never_proposed_items_   # only item 3 is anyone's neighbour item
    4
    >>> mixed = UserSimilaritySampler(n_neighbours=1, random_state=0).fit(train)   # half uniform
    >>> mixed.sample(torch.tensor([0]), torch.tensor([1]), 4).items[0, :2].tolist()
    [3, 3]
    """

    family = "dynamic"
    subfamily = "user-similarity DNS"

    def __init__(self, n_neighbours: int = 20, uniform_fraction: float = 0.5, n_candidates: int = 1, *,
                 chunk_size: int = 512, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.n_neighbours = check_positive_int("n_neighbours", n_neighbours)
        self.uniform_fraction = check_probability("uniform_fraction", uniform_fraction)
        self.n_candidates = check_positive_int("n_candidates", n_candidates)
        self.chunk_size = check_positive_int("chunk_size", chunk_size)

    @property
    def needs_scorer(self) -> bool:
        """A scorer picks among ``n_candidates`` neighbour items; one candidate needs none."""
        return self.n_candidates > 1

    def _fit(self, train: Interactions) -> None:
        n_users, width = train.n_users, train.n_items + 1
        interactions = sp.csr_matrix(
            (np.ones(len(train), dtype=np.float64), (train.users, train.items)), shape=(n_users, width))
        interactions.sum_duplicates()
        interactions.data[:] = 1.0
        norms = np.sqrt(np.asarray(interactions.sum(1)).ravel())
        normalised = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ interactions
        n_keep = min(self.n_neighbours, n_users - 1)
        rows, cols, sims = [], [], []
        for start in range(0, n_users if n_keep > 0 else 0, self.chunk_size):
            stop = min(start + self.chunk_size, n_users)
            block = (normalised[start:stop] @ normalised.T).toarray()
            block[np.arange(stop - start), np.arange(start, stop)] = 0.0  # a user is not their own neighbour
            top = np.argpartition(-block, n_keep - 1, axis=1)[:, :n_keep]
            values = np.take_along_axis(block, top, axis=1)
            keep = values > 0
            rows.append(np.repeat(np.arange(start, stop), n_keep)[keep.ravel()])
            cols.append(top[keep])
            sims.append(values[keep])
        cat = (lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype))
        self.similarity_ = sp.csr_matrix((cat(sims, np.float64), (cat(rows, np.int64), cat(cols, np.int64))),
                                         shape=(n_users, n_users))
        weights = (self.similarity_ @ interactions).tocsr()
        weights = (weights - weights.multiply(interactions)).tocsr()
        weights.eliminate_zeros()
        weights.sort_indices()
        self.weight_indptr_ = torch.as_tensor(weights.indptr.astype(np.int64))
        self.weight_items_ = torch.as_tensor(weights.indices.astype(np.int64))
        self.weight_values_ = torch.as_tensor(weights.data.astype(np.float64))
        proposed = np.zeros(width, dtype=bool)
        proposed[weights.indices] = True
        self.never_proposed_items_ = int(train.n_items - proposed[1:].sum())
        self.weight_cumsum_ = torch.cumsum(self.weight_values_, 0)
        self.row_total_ = torch.zeros(n_users, dtype=torch.float64).index_add_(
            0, torch.repeat_interleave(torch.arange(n_users), self.weight_indptr_.diff()), self.weight_values_)
        row_of = torch.repeat_interleave(torch.arange(n_users), self.weight_indptr_.diff())
        self.weight_keys_ = row_of * width + self.weight_items_
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def neighbour_weight(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``w_u(j)`` for ``items`` of shape ``(B, ...)`` (0 where the item is not proposed)."""
        if len(self.weight_keys_) == 0:
            return torch.zeros(items.shape, dtype=torch.float64)
        view = users.reshape(users.shape + (1,) * (items.dim() - 1))
        query = view * (self.n_items_ + 1) + items
        pos = torch.searchsorted(self.weight_keys_, query).clamp_(max=len(self.weight_keys_) - 1)
        return torch.where(self.weight_keys_[pos] == query, self.weight_values_[pos],
                           torch.zeros((), dtype=torch.float64))

    def _draw_similar(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One draw from ``q(· | u)`` for every entry of ``users`` (users with neighbour items)."""
        start, stop = self.weight_indptr_[users], self.weight_indptr_[users + 1]
        before = torch.where(start > 0, self.weight_cumsum_[(start - 1).clamp_min(0)],
                             torch.zeros((), dtype=torch.float64))
        target = before + torch.rand(len(users), generator=generator, dtype=torch.float64) * self.row_total_[users]
        index = torch.searchsorted(self.weight_cumsum_, target, right=True)
        index = torch.minimum(torch.maximum(index, start), stop - 1)
        return self.weight_items_[index]

    def _similar_part(self, users, positives, shape, generator) -> torch.Tensor:
        per_row = math.prod(shape[1:])
        entry_users = users.repeat_interleave(per_row)
        has = self.row_total_[entry_users] > 0
        items = torch.zeros(len(entry_users), dtype=torch.long)
        pending = torch.nonzero(has).flatten()
        for _ in range(8):
            if len(pending) == 0:
                break
            items[pending] = self._draw_similar(entry_users[pending], generator)
            bad = is_excluded(self, users, positives, items.reshape(shape)).flatten()
            pending = pending[bad[pending]]
        items = items.reshape(shape)
        leftover = is_excluded(self, users, positives, items)
        if bool(leftover.any()):
            # Rows without neighbour items, or whose neighbour items are all the batch's
            # targets: uniform negatives.
            uniform = self.uniform_._draw_allowed(users, positives, shape, generator)
            items = torch.where(leftover, uniform, items)
        return items

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        share = self.uniform_fraction * k
        k_uniform = math.floor(share)
        # A fractional share f·k makes one more slot uniform with probability f·k − ⌊f·k⌋,
        # so the slot mixture is (1 − f, f) for every k (rounding would make f = 0.5 with
        # one negative per row draw neighbour items only).
        one_more = None
        if share != k_uniform:
            one_more = torch.rand(shape[:-1], generator=generator, dtype=torch.float64) < share - k_uniform
            k_uniform += 1
        k_similar = k - math.floor(share)
        extra = extra_targets(self, users, positives)
        parts = []
        if k_similar:
            pool = self.n_candidates if (self.n_candidates > 1 and scorer is not None) else 1
            similar = self._similar_part(users, positives, shape[:-1] + (k_similar * pool,), generator)
            if pool > 1:
                scores = score_candidates(scorer, similar, positives)
                scores = scores.masked_fill(_broadcast_like(duplicate_mask(similar), scores), float("-inf"))
                similar = similar.gather(-1, scores.topk(k_similar, dim=-1).indices)
            parts.append(similar)
        if k_uniform:
            parts.append(self.uniform_._draw_allowed(users, positives, shape[:-1] + (k_uniform,), generator, extra))
        items = torch.cat(parts, dim=-1)
        if one_more is not None:  # slot k_similar − 1 is uniform where one_more, else a neighbour item
            last = k_similar - 1
            chosen = torch.where(one_more, items[..., k_similar], items[..., last])
            items = torch.cat([items[..., :last], chosen.unsqueeze(-1), items[..., k_similar + 1:]], dim=-1)
        return NegativeSample(items, self.mixture_log_prob(users, items, extra).float())

    def mixture_log_prob(self, users, items, extra) -> torch.Tensor:
        """``log q(item | u)`` of the slot mixture ``(1 − f) q_sim + f q_uniform`` (float64),
        shaped like ``items``."""
        view = users.shape + (1,) * (items.dim() - 1)
        uniform = self.uniform_.conditional_log_prob(users, items, extra).exp()
        left = self.row_total_[users]
        if extra.shape[1]:
            left = left - self.neighbour_weight(users, extra).sum(1)
        similar = self.neighbour_weight(users, items) / left.clamp_min(1e-300).reshape(view)
        mixed = (1 - self.uniform_fraction) * similar + self.uniform_fraction * uniform
        return torch.where((left > 0).reshape(view), mixed, uniform).log()


# -- interpolation DNS (MixGCF) --------------------------------------------------------------
@dataclass
class MixedNegatives:
    """Synthetic negatives of :class:`MixGCFInterpolation`.

    Attributes
    ----------
    vectors : Tensor, shape (B, k, d)
        The mixed negative embeddings (differentiable w.r.t. the embedding table).
    items : LongTensor, shape (B, k)
        The candidate each synthetic negative was mixed from.
    mixing : Tensor, shape (B, k)
        The coefficient ``λ`` of the positive in each mix.
    """

    vectors: torch.Tensor
    items: torch.Tensor
    mixing: torch.Tensor


class MixGCFInterpolation(EmbeddingNegatives):
    """Interpolated hard negatives for MF/BPR (MixGCF, Huang et al., KDD 2021).

    Instead of *choosing* a negative item, MixGCF *synthesises* a negative embedding
    that is harder than any real candidate. For a (user, positive) pair it draws ``M``
    uniform candidates and

    1. **positive mixing**: ``e'_j = λ · e_pos + (1 − λ) · e_j`` with ``λ ~ U(0, 1)``
       (one ``λ`` per synthetic negative, shared by its candidates, as in the authors'
       code) — pulling each candidate towards the positive makes it harder;
    2. **hop mixing** picks, from the mixed candidates, the one the model scores
       highest, ``argmax_j <e_u, e'_j>`` (under :func:`torch.no_grad`; the selection is
       not differentiated), and the loss uses its embedding *with* gradients, so the
       update moves the positive and the candidate's embedding.

    The original applies both steps per layer of a graph neural network (LightGCN) and
    pools the layers; this is the **single-layer version for matrix factorisation**
    (no GNN): one embedding per item, so hop mixing reduces to one argmax. Because the
    result is an embedding and not an item id, it is not a
    :class:`~recneg.samplers.NegativeSampler`: it supplies its own BPR loss
    (:meth:`batch_loss`), and :class:`~recneg.training.Trainer` trains with it like with
    a sampler (``TrainConfig(loss="bpr")``). The items it touches are the positives and
    the candidates its negatives were mixed from. :meth:`bpr_loss` is the same loss for a
    hand-written loop, as in the example below.

    Parameters
    ----------
    n_candidates : int, default 16
    exclude_positives : bool, default True
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> from recneg.models import BPRMF
    >>> train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 3]), np.arange(3), n_users=2, n_items=6)
    >>> model = BPRMF(n_users=2, n_items=6, dim=8, random_state=0)
    >>> mix = MixGCFInterpolation(n_candidates=4, random_state=0).fit(train)
    >>> optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    >>> users, positives = torch.tensor([0, 0, 1]), torch.tensor([1, 2, 3])
    >>> loss = mix.bpr_loss(model, users, positives)
    >>> loss.backward(); optimiser.step()
    >>> float(loss.detach()) > 0
    True
    """

    family = "dynamic"
    subfamily = "interpolation DNS"

    def __init__(self, n_candidates: int = 16, *, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.n_candidates = check_positive_int("n_candidates", n_candidates)

    def _fit(self, train: Interactions) -> None:
        self.pool_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def candidates(self, users: torch.Tensor, positives: torch.Tensor, num_negatives: int = 1,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniform candidate items, shape ``(B, num_negatives, n_candidates)``."""
        self._check_fitted()
        k = check_positive_int("num_negatives", num_negatives)
        gen = self._generator if generator is None else generator
        pool = self.pool_.sample(users, positives, k * self.n_candidates, generator=gen).items
        return pool.reshape(len(pool), k, self.n_candidates)

    def mix(self, user_vectors: torch.Tensor, positive_vectors: torch.Tensor, candidate_vectors: torch.Tensor,
            candidate_items: torch.Tensor | None = None, generator: torch.Generator | None = None) -> MixedNegatives:
        """Positive mixing and hardest-selection on given embeddings.

        Parameters
        ----------
        user_vectors, positive_vectors : Tensor, shape (B, d)
        candidate_vectors : Tensor, shape (B, k, M, d)
        candidate_items : LongTensor, shape (B, k, M), optional
            Recorded in the result.
        """
        if candidate_vectors.dim() != 4 or candidate_vectors.shape[0] != user_vectors.shape[0]:
            raise RecnegError(
                f"candidate_vectors must have shape (B, k, M, d) with B = {user_vectors.shape[0]}, "
                f"got {tuple(candidate_vectors.shape)}"
            )
        gen = self._generator if generator is None else generator
        b, k = candidate_vectors.shape[:2]
        lam = torch.rand((b, k, 1, 1), generator=gen).to(candidate_vectors)
        mixed = lam * positive_vectors[:, None, None, :] + (1 - lam) * candidate_vectors
        with torch.no_grad():
            scores = (mixed * user_vectors[:, None, None, :]).sum(-1)
        best = scores.argmax(-1)
        vectors = mixed.gather(2, best[..., None, None].expand(-1, -1, 1, mixed.shape[-1])).squeeze(2)
        items = (candidate_items.gather(2, best[..., None].to(candidate_items.device)).squeeze(2)
                 if candidate_items is not None else torch.full((b, k), -1, dtype=torch.long))
        return MixedNegatives(vectors, items, lam.reshape(b, k).detach())

    def negatives(self, user_vectors: torch.Tensor, positive_vectors: torch.Tensor, item_embedding,
                  users: torch.Tensor, positives: torch.Tensor, num_negatives: int = 1,
                  generator: torch.Generator | None = None) -> MixedNegatives:
        """Draw candidates, look their embeddings up in ``item_embedding`` (an
        :class:`torch.nn.Embedding` or a ``(n_items + 1, d)`` tensor) and mix."""
        gen = self._generator if generator is None else generator
        cand = self.candidates(users, positives, num_negatives, generator=gen)
        table = item_embedding.weight if isinstance(item_embedding, torch.nn.Embedding) else item_embedding
        return self.mix(user_vectors, positive_vectors, table[cand.to(table.device)], cand, generator=gen)

    def _loss(self, model, users, positives, num_negatives, generator) -> tuple[torch.Tensor, MixedNegatives]:
        users = torch.as_tensor(users, dtype=torch.long)
        positives = torch.as_tensor(positives, dtype=torch.long)
        device = model.item_embedding.weight.device
        user_vectors = model.user_embedding(users.to(device))
        positive_vectors = model.item_embedding(positives.to(device))
        mixed = self.negatives(user_vectors, positive_vectors, model.item_embedding, users, positives,
                               num_negatives, generator)
        return bpr_loss_with_mixed_negatives(user_vectors, positive_vectors, mixed.vectors), mixed

    def bpr_loss(self, model, users: torch.Tensor, positives: torch.Tensor, num_negatives: int = 1,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """BPR loss of one batch with MixGCF negatives for a model with
        ``user_embedding`` and ``item_embedding`` tables (e.g. ``recneg.models.BPRMF``)."""
        return self._loss(model, users, positives, num_negatives, generator)[0]

    def batch_loss(self, model, batch) -> torch.Tensor:
        """:meth:`bpr_loss` of a trainer's :class:`~recneg.training.Batch`; the mixed-from
        candidates are reported as touched (their embeddings get the gradient ``1 − λ``)."""
        loss, mixed = self._loss(model, batch.users, batch.positives, batch.num_negatives, batch.generator)
        batch.touch(mixed.items)
        return loss

    def __repr__(self) -> str:
        return f"MixGCFInterpolation(n_candidates={self.n_candidates}, exclude_positives={self.exclude_positives})"


def bpr_loss_with_mixed_negatives(user_vectors: torch.Tensor, positive_vectors: torch.Tensor,
                                  negative_vectors: torch.Tensor) -> torch.Tensor:
    """``mean −log σ(<e_u, e_pos> − <e_u, e'_neg>)`` over users and synthetic negatives:
    :func:`recneg.losses.bpr_loss` on the dot-product scores.

    ``negative_vectors`` is ``(B, d)`` or ``(B, k, d)``.

    Examples
    --------
    >>> u = torch.tensor([[1.0, 0.0]]); pos = torch.tensor([[2.0, 0.0]]); neg = torch.tensor([[2.0, 5.0]])
    >>> round(float(bpr_loss_with_mixed_negatives(u, pos, neg)), 4)   # equal scores: log 2
    0.6931
    """
    if negative_vectors.dim() == 2:
        negative_vectors = negative_vectors.unsqueeze(1)
    pos = (user_vectors * positive_vectors).sum(-1)
    neg = (user_vectors.unsqueeze(1) * negative_vectors).sum(-1)
    return bpr_loss(pos, neg)


from .registry import register_method, register_sampler  # noqa: E402  (registration needs the classes above)

register_sampler("dns", DNSSampler)
register_sampler("softmax-hard", SoftmaxHardSampler)
register_sampler("ahns", AHNSSampler)
register_sampler("srns", SRNSSampler)
register_sampler("user-similarity", UserSimilaritySampler)
register_method("mixgcf", MixGCFInterpolation)
