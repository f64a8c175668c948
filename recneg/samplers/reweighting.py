"""Importance re-weighting: keep the negatives, change how much each one counts.

Re-weighting methods (Ma et al., arXiv 2409.07237, section 3.4) draw negatives with any
sampler and attach a weight to each; the loss multiplies every negative's term by it
(see ``recneg.losses``). Two opposite goals are served:

* **emphasise hard negatives** — :class:`ScoreWeightedSampler` weighs negatives by a
  softmax over their scores (self-adversarial weighting): a cheap uniform sampler
  behaves like a hard one, without discarding the easy draws;
* **de-emphasise likely false negatives** — :class:`DebiasedWeightingSampler`
  estimates, from the score distributions of positives and of sampled negatives,
  the probability that a negative is in fact an unobserved positive, and weighs it
  down (the positive–unlabeled view of debiased contrastive learning).

:class:`KnowledgeWeightedSampler` serves either goal from side information instead of
scores: a negative's weight grows (or shrinks) with the attributes it shares with the
positive.

The logQ correction of sampled softmax is a re-weighting too; it lives in
``recneg.losses.sampled_softmax_loss`` and uses the samplers' ``log_prob``.
"""

from __future__ import annotations

import math

import torch

from .._errors import RecnegError, check_finite, check_positive_int, check_probability
from ..data.interactions import Interactions
from .base import NegativeSample, NegativeSampler, clone_component
from .dynamic import positive_scores, score_candidates
from .static import UniformSampler

__all__ = ["cap_weights", "ScoreWeightedSampler", "DebiasedWeightingSampler",
           "KnowledgeWeightedSampler"]


def cap_weights(weights: torch.Tensor, max_weight: float, *, preserve_sum: bool = False) -> torch.Tensor:
    """Cap every importance weight at ``max_weight``.

    Re-weighting samplers (e.g. :class:`~recneg.samplers.ScoreWeightedSampler`) can give
    one negative a weight many times the others' — with a softmax over scores, a single high-scoring
    (and possibly false) negative can dominate the gradient. Capping bounds any single
    negative's influence. With ``preserve_sum=True`` the mass removed from capped
    entries is handed to the uncapped entries of the same row (last dimension) in
    proportion to their weights, repeating until nothing exceeds the cap ("water
    filling"); rows whose total exceeds ``max_weight × k`` end with every entry at the
    cap.

    Parameters
    ----------
    weights : Tensor, shape (..., k)
        Non-negative weights.
    max_weight : float
        ``> 0``.
    preserve_sum : bool, default False

    Examples
    --------
    >>> w = torch.tensor([[4.0, 1.0, 1.0, 2.0]])
    >>> cap_weights(w, 2.0).tolist()
    [[2.0, 1.0, 1.0, 2.0]]
    >>> cap_weights(w, 2.0, preserve_sum=True).tolist()   # sum 8 kept
    [[2.0, 2.0, 2.0, 2.0]]
    """
    cap = check_finite("max_weight", max_weight, positive=True, allow_inf=True)
    weights = torch.as_tensor(weights)
    if bool((weights < 0).any()) or bool(torch.isnan(weights).any()):
        raise RecnegError("weights must be non-negative numbers; got a negative or NaN weight")
    if not preserve_sum:
        return weights.clamp(max=cap)
    total = weights.sum(-1, keepdim=True)
    out = weights.clamp(max=cap)
    # Each round caps at least one more entry of every row that still has excess mass,
    # so k rounds suffice.
    for _ in range(weights.shape[-1]):
        deficit = total - out.sum(-1, keepdim=True)
        free = out < cap
        free_mass = torch.where(free, out, torch.zeros((), dtype=out.dtype)).sum(-1, keepdim=True)
        n_free = free.sum(-1, keepdim=True)
        pending = (deficit > 1e-9 * total.clamp_min(1.0)) & (n_free > 0)
        if not bool(pending.any()):
            break
        # Proportional to the weights; equal shares where the free entries weigh 0.
        share = torch.where(free_mass > 0, out / free_mass.clamp_min(1e-300),
                            free.to(out.dtype) / n_free.clamp_min(1))
        out = torch.where(pending & free, (out + deficit * share).clamp(max=cap), out)
    return out


class _WeightingSampler(NegativeSampler):
    """Draw with ``base`` (uniform by default), then attach weights computed from scores."""

    family = "re-weighting"
    needs_scorer = True

    def __init__(self, base: NegativeSampler | None, *, exclude_positives: bool, random_state) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        if base is not None and not isinstance(base, NegativeSampler):
            raise RecnegError(f"base must be a NegativeSampler such as UniformSampler(), got {type(base).__name__}")
        self.base = base

    def _fit(self, train: Interactions) -> None:
        base = clone_component(self.base) if self.base is not None else UniformSampler()
        base.exclude_positives = self.exclude_positives
        self.base_ = base.fit(train)

    def _draw(self, users, positives, k, per_position, scorer, generator) -> NegativeSample:
        return self.base_._sample(users, positives, k, per_position=per_position,
                                  scorer=scorer if self.base_.needs_scorer else None, generator=generator)

    @staticmethod
    def _combine(drawn: NegativeSample, weights: torch.Tensor) -> NegativeSample:
        if drawn.weights is not None:
            weights = weights * drawn.weights.float()
        return NegativeSample(drawn.items, drawn.log_prob, weights.float())


class ScoreWeightedSampler(_WeightingSampler):
    """Self-adversarial weights: ``w_j = k · softmax(s(u, j) / τ)`` over a row's negatives.

    Sun et al. (RotatE, ICLR 2019) sample negatives uniformly but weigh each one by the
    softmax of its current score, so that the loss concentrates on the negatives the
    model gets most wrong — the gradient of a sampled hard-negative method at the cost
    of a uniform one, and with every draw still contributing. Weights are computed
    under :func:`torch.no_grad` (they are not trained through) and scaled to sum to
    ``k`` per row, so ``τ → ∞`` gives weight 1 everywhere (plain uniform sampling) and
    ``τ → 0`` puts all weight on the hardest negative, like DNS over the ``k`` draws.
    For negatives shared by a sequence the score is the mean over valid positions.
    ``max_weight`` caps any single weight (the excess goes to the others, see
    :func:`~recneg.samplers.cap_weights`), a guard against a false negative taking the
    whole gradient.

    Parameters
    ----------
    base : NegativeSampler, optional
        Where the negatives come from; :class:`~recneg.samplers.UniformSampler` by default.
    temperature : float, default 1.0
    max_weight : float, optional

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=9)
    >>> s = ScoreWeightedSampler(temperature=1.0, random_state=0).fit(train)
    >>> neg = s.sample(torch.tensor([0]), torch.tensor([1]), 4, scorer=lambda c: c.float())
    >>> round(float(neg.weights.sum()), 4)                   # weights sum to k
    4.0
    >>> bool(neg.weights[0, neg.items[0].argmax()] == neg.weights.max())   # highest id, highest weight
    True
    """

    subfamily = "attention-based IRW"
    variant = "self-adversarial"

    def __init__(self, base: NegativeSampler | None = None, temperature: float = 1.0, *,
                 max_weight: float | None = None, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(base, exclude_positives=exclude_positives, random_state=random_state)
        self.temperature = check_finite("temperature", temperature, positive=True, allow_inf=True)
        if max_weight is not None:
            cap_weights(torch.ones(1), max_weight)  # validates
        self.max_weight = max_weight

    def weights_from_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """``k · softmax(scores / τ)`` over the last axis (optionally capped)."""
        k = scores.shape[-1]
        logits = torch.zeros_like(scores) if math.isinf(self.temperature) else scores / self.temperature
        weights = k * torch.softmax(logits.double(), dim=-1)
        if self.max_weight is not None:
            weights = cap_weights(weights, self.max_weight, preserve_sum=True)
        return weights.float()

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        drawn = self._draw(users, positives, k, per_position, scorer, generator)
        scores = score_candidates(scorer, drawn.items, positives)
        return self._combine(drawn, self.weights_from_scores(scores))


def _normal_log_pdf(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)


class DebiasedWeightingSampler(_WeightingSampler):
    """Down-weight likely false negatives: ``w_j = 1 − P(false negative | s(u, j))``.

    An unobserved item is not a negative but *unlabeled*: with probability ``π`` (the
    class prior) it is an item the user would like. Positive–unlabeled learning and
    debiased contrastive learning (Chuang et al., NeurIPS 2020) model the distribution
    of sampled items as a mixture ``p_U = π · p₊ + (1 − π) · p₋``. Applied to the
    model's scores, Bayes' rule gives the probability that a sampled negative with score
    ``s`` is a false negative,

    ``P(FN | s) = π · f₊(s) / f_U(s)``,

    where ``f₊`` is the density of the positives' scores and ``f_U`` that of the sampled
    negatives' scores. Both are estimated from the current batch — the positives scored
    as a pool of one (``positive_scores``), the negatives
    as drawn — with a Gaussian fit (``density="gaussian"``) or a Gaussian kernel density
    estimate (``density="kde"``, Silverman's bandwidth, at most ``max_reference`` points
    per density). The posterior is clipped to ``[0, 1]`` and the weight is
    ``max(1 − P(FN | s), min_weight)``: a negative scored like the positives is
    discounted, one scored far below them keeps weight 1. With fewer than two scores of
    either kind in a batch every weight is 1.

    This is an estimate, and only as good as the prior ``π``: the fraction of sampled
    unobserved items that are really positives — small for uniform samplers on large
    catalogues, larger for hard samplers (see the chapter on false negatives, where
    :class:`~recneg.data.SyntheticWorld` knows the truth).

    Parameters
    ----------
    base : NegativeSampler, optional
        Where the negatives come from; uniform by default.
    class_prior : float, default 0.05
        ``π`` in (0, 1).
    density : {"gaussian", "kde"}, default "gaussian"
    min_weight : float, default 0.0
    max_reference : int, default 2048

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 0, 1, 1]), np.array([1, 2, 1, 2]), np.arange(4), n_users=2, n_items=40)
    >>> table = torch.zeros(41); table[1], table[2] = 2.8, 3.2; table[40] = 3.0   # item 40: scored like a positive
    >>> s = DebiasedWeightingSampler(class_prior=0.1, random_state=0).fit(train)
    >>> neg = s.sample(torch.tensor([0, 1]), torch.tensor([1, 2]), 200, scorer=lambda c: table[c])
    >>> bool(neg.weights[neg.items == 40].max() < 0.5) and bool(neg.weights[neg.items != 40].min() > 0.9)
    True
    """

    subfamily = "debiased IRW"
    variant = "positive-unlabeled"

    def __init__(self, base: NegativeSampler | None = None, class_prior: float = 0.05, *, density: str = "gaussian",
                 min_weight: float = 0.0, max_reference: int = 2048, exclude_positives: bool = True,
                 random_state=None) -> None:
        super().__init__(base, exclude_positives=exclude_positives, random_state=random_state)
        self.class_prior = check_probability("class_prior", class_prior, closed=False)
        if density not in ("gaussian", "kde"):
            raise RecnegError(f"density must be 'gaussian' or 'kde', got {density!r}")
        self.density = density
        self.min_weight = check_probability("min_weight", min_weight)
        self.max_reference = check_positive_int("max_reference", max_reference)

    def _log_density(self, x: torch.Tensor, reference: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        std = reference.std().clamp_min(1e-6)
        if self.density == "gaussian":
            return _normal_log_pdf(x, reference.mean(), std)
        if len(reference) > self.max_reference:
            reference = reference[torch.randperm(len(reference), generator=generator)[: self.max_reference]]
        bandwidth = (1.06 * std * len(reference) ** (-0.2)).clamp_min(1e-6)
        flat = x.reshape(-1, 1)
        log_kernels = _normal_log_pdf(flat, reference.reshape(1, -1), bandwidth)
        return (torch.logsumexp(log_kernels, dim=1) - math.log(len(reference))).reshape(x.shape)

    def false_negative_probability(self, negative_scores: torch.Tensor, positive_scores: torch.Tensor,
                                   reference: torch.Tensor | None = None,
                                   generator: torch.Generator | None = None) -> torch.Tensor:
        """``P(FN | s)`` for every entry of ``negative_scores`` (any shape).

        ``f₊`` is estimated from ``positive_scores`` and ``f_U`` from ``reference``
        (default: ``negative_scores`` themselves); non-finite scores are ignored.
        """
        gen = self._generator if generator is None else generator
        neg = negative_scores.double()
        pos = positive_scores.double().reshape(-1)
        pos = pos[torch.isfinite(pos)]
        ref = (neg if reference is None else reference.double()).reshape(-1)
        ref = ref[torch.isfinite(ref)]
        if len(pos) < 2 or len(ref) < 2:
            return torch.zeros(neg.shape, dtype=torch.float64)
        log_ratio = (math.log(self.class_prior) + self._log_density(neg, pos, gen)
                     - self._log_density(neg, ref, gen))
        return log_ratio.clamp(max=0.0).exp()

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        drawn = self._draw(users, positives, k, per_position, scorer, generator)
        neg_scores = score_candidates(scorer, drawn.items, positives)
        pos_scores = positive_scores(scorer, positives)
        valid = positives > 0
        # Draws for padding positions are not part of the batch's score distribution.
        reference = neg_scores[valid] if per_position else neg_scores
        probability = self.false_negative_probability(neg_scores, pos_scores[valid], reference, generator)
        weights = (1.0 - probability).clamp_min(self.min_weight)
        return self._combine(drawn, weights.float())


class KnowledgeWeightedSampler(_WeightingSampler):
    """Knowledge-aware weights: ``w_j = k · softmax(β · J(i, j))`` over a row's negatives.

    ``J(i, j)`` is the Jaccard overlap of the attribute sets (e.g. genres) of the row's
    positive ``i`` and the negative ``j``. The survey's knowledge-aware importance
    re-weighting uses item knowledge rather than model scores to decide how much each
    negative counts, and the sign of ``strength`` (β) picks the goal:

    * ``β > 0`` emphasises negatives that resemble the positive — a skipped film of the
      same genre says more about the user's taste than one from a genre they never
      watch — like :class:`~recneg.samplers.ScoreWeightedSampler`, but with no scorer and no model in
      the loop;
    * ``β < 0`` down-weights them, reading attribute overlap as evidence of a likely
      false negative (the knowledge-based counterpart of
      :class:`~recneg.samplers.DebiasedWeightingSampler`);
    * ``β = 0`` gives every negative weight 1.

    Weights sum to ``k`` per row, so the loss keeps its scale. For negatives shared by a
    sequence the positive is the row's last target; positives without attributes (and
    padding) give weight 1 to every negative.

    Parameters
    ----------
    base : NegativeSampler, optional
        Where the negatives come from; :class:`~recneg.samplers.UniformSampler` by default.
    strength : float, default 2.0
        β, the inverse temperature of the softmax over overlaps (any sign).
    attributes : sequence of str, optional
        Attribute names to use; all of the log's attributes by default.
    max_weight : float, optional
        Cap on any single weight (see :func:`~recneg.samplers.cap_weights`).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> genres = np.array([[0, 0], [1, 0], [1, 0], [0, 1], [1, 1]], dtype=bool)  # items 1..4
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=4,
    ...                      item_attributes=genres, attribute_names=["drama", "comedy"])
    >>> s = KnowledgeWeightedSampler(strength=2.0, random_state=0).fit(train)
    >>> s.similarity(torch.tensor([1]), torch.tensor([[2, 3, 4]])).tolist()
    [[1.0, 0.0, 0.5]]
    >>> neg = s.sample(torch.tensor([0]), torch.tensor([1]), 6)
    >>> round(float(neg.weights.sum()), 4)
    6.0
    """

    subfamily = "knowledge-aware IRW"
    needs_scorer = False

    def __init__(self, base: NegativeSampler | None = None, strength: float = 2.0, attributes=None, *,
                 max_weight: float | None = None, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(base, exclude_positives=exclude_positives, random_state=random_state)
        try:
            strength = float(strength)
        except (TypeError, ValueError):
            raise RecnegError(f"strength must be a finite number, got {strength!r}") from None
        if not math.isfinite(strength):
            raise RecnegError(f"strength must be a finite number, got {strength}")
        self.strength = strength
        self.attributes = None if attributes is None else list(attributes)
        if max_weight is not None:
            cap_weights(torch.ones(1), max_weight)  # validates
        self.max_weight = max_weight

    def _fit(self, train: Interactions) -> None:
        from .knowledge import _attribute_matrix

        super()._fit(train)
        self.attribute_matrix_ = _attribute_matrix(train, self.attributes, type(self).__name__).float()
        self.attribute_count_ = self.attribute_matrix_.sum(1)

    def similarity(self, anchors: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Jaccard overlap of attribute sets, ``anchors`` ``(B,)`` or ``(B, L)`` against
        ``items`` with one more axis; 0 where neither item has an attribute."""
        a = self.attribute_matrix_[anchors].unsqueeze(-2)
        shared = (self.attribute_matrix_[items] * a).sum(-1)
        union = self.attribute_count_[anchors].unsqueeze(-1) + self.attribute_count_[items] - shared
        return torch.where(union > 0, shared / union.clamp_min(1.0), torch.zeros((), dtype=shared.dtype))

    def weights_from_similarity(self, similarity: torch.Tensor) -> torch.Tensor:
        """``k · softmax(β · similarity)`` over the last axis (optionally capped)."""
        k = similarity.shape[-1]
        weights = k * torch.softmax(self.strength * similarity.double(), dim=-1)
        if self.max_weight is not None:
            weights = cap_weights(weights, self.max_weight, preserve_sum=True)
        return weights.float()

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        from .knowledge import anchor_items

        drawn = self._draw(users, positives, k, per_position, scorer, generator)
        similarity = self.similarity(anchor_items(positives, per_position), drawn.items)
        return self._combine(drawn, self.weights_from_similarity(similarity))


from .registry import register_sampler  # noqa: E402  (registration needs the classes above)

register_sampler("score-weighted", ScoreWeightedSampler)
register_sampler("debiased", DebiasedWeightingSampler)
register_sampler("knowledge-weighted", KnowledgeWeightedSampler)
