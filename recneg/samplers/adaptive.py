"""Adaptive negative samplers: keep the hardest candidates of a cheap pool.

Adaptive sampling (Prakash et al., arXiv 2410.17276) is dynamic negative sampling
(Zhang et al., SIGIR 2013) at scale: draw a pool of ``oversampling × k`` candidates from a
cheap static sampler, score the pool with the current model, keep the ``k`` the model
ranks highest. Scores are computed under :func:`torch.no_grad` — selecting negatives is
not part of the computation graph.

The rule is :class:`~recneg.samplers.DNSSampler`'s; the classes here are the study's
presets of it (one pool per sequence shared by every position, repeats kept), under the
study's names.
"""

from __future__ import annotations

import torch

from .._errors import RecnegError, check_positive_int, check_probability
from .base import NegativeSample, NegativeSampler
from .dynamic import DNSSampler, _take
from .static import MixedSampler

__all__ = ["AdaptiveSampler", "AdaptiveMixedSampler", "select_hardest"]


def select_hardest(pool: NegativeSample, scores: torch.Tensor, k: int) -> NegativeSample:
    """Keep the ``k`` highest-scoring candidates of ``pool``.

    ``pool.items`` has shape ``(B, P)``; ``scores`` is ``(B, P)`` (one choice per user) or
    ``(B, L, P)`` (one choice per position, from the same shared pool). The kept items
    keep the pool proposal's ``log_prob``.

    Examples
    --------
    >>> pool = NegativeSample(torch.tensor([[5, 6, 7]]), torch.zeros(1, 3))
    >>> select_hardest(pool, torch.tensor([[0.1, 0.9, 0.5]]), 2).items.tolist()
    [[6, 7]]
    """
    if scores.shape[-1] != pool.items.shape[-1]:
        raise RecnegError(
            f"the scorer returned {scores.shape[-1]} scores per row for a pool of {pool.items.shape[-1]} "
            "candidates; it must return one score per candidate"
        )
    if k > pool.items.shape[-1]:
        raise RecnegError(f"cannot keep k={k} of a pool of {pool.items.shape[-1]}; enlarge the pool")
    return _take(pool, scores.topk(k, dim=-1).indices)


class AdaptiveSampler(DNSSampler):
    """Adaptive (hard) negatives: the top-k of a scored candidate pool.

    Dynamic negative sampling (Zhang et al., SIGIR 2013) draws a few candidates and
    keeps the one the current model scores highest: the item it most confuses with a
    positive, and so the one with the largest gradient. Adaptive sampling (ANS, Prakash
    et al., 2024) does this for ``k`` negatives at once: draw a pool of
    ``oversampling × k`` candidates per user from ``base`` (uniform, positives excluded),
    score it under :func:`torch.no_grad`, keep the ``k`` highest. ``oversampling = 1``
    is the base sampler itself; larger pools give harder negatives — and more false
    negatives — at the cost of scoring more candidates.

    This is :class:`~recneg.samplers.DNSSampler` with ``n_candidates=oversampling``,
    ``shared_pool=True`` and ``distinct=False``: the pool is shared by the positions of
    a sequence. With per-position scores ``(B, L, P)`` the selection is per position,
    giving ``(B, L, k)``; for shared negatives (``per_position=False``) candidates are
    ranked by their mean score over the non-padding positions. A candidate drawn twice
    may be kept twice. ``log_prob`` is the pool proposal's, not that of the selection,
    which has no closed form.

    Parameters
    ----------
    oversampling : int, default 4
        Pool size as a multiple of ``k``. (Not the study's "batch oversampling factor",
        which is how many pre-sampled batches its code keeps and reuses.)
    base : NegativeSampler, optional
        A sampler that needs no scorer, for the pool; :class:`UniformSampler` if
        omitted. It is cloned, and takes this sampler's ``exclude_positives``.
    exclude_positives : bool, default True
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=9)
    >>> s = AdaptiveSampler(oversampling=8, random_state=0).fit(train)
    >>> scorer = lambda cand: cand.double()   # a "model" that prefers high ids
    >>> neg = s.sample(torch.tensor([0]), torch.tensor([1]), 2, scorer=scorer)
    >>> neg.items.tolist()                    # the two highest ids of a pool of 16
    [[9, 8]]
    """

    subfamily = "universal DNS"
    variant = "adaptive (shared pool)"

    def __init__(self, oversampling: int = 4, base: NegativeSampler | None = None, *,
                 exclude_positives: bool = True, random_state=None) -> None:
        oversampling = check_positive_int("oversampling", oversampling)
        super().__init__(oversampling, base, shared_pool=True, distinct=False,
                         exclude_positives=exclude_positives, random_state=random_state)

    @property
    def oversampling(self) -> int:
        """Pool size as a multiple of ``k`` (the preset's name for ``n_candidates``)."""
        return self.n_candidates

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(oversampling={self.oversampling}, base={self.base!r}, "
                f"exclude_positives={self.exclude_positives}, random_state={self.random_state!r})")


class AdaptiveMixedSampler(AdaptiveSampler):
    """Adaptive selection over a mixed (in-batch + uniform) pool.

    AMNS in Prakash et al. (2024): the pool comes from :class:`MixedSampler`, so before
    the model picks the hardest it holds both popular items (from the batch) and tail
    items (uniform) — hard negatives drawn from the whole catalogue rather than the
    head alone.

    Parameters
    ----------
    oversampling : int, default 4
        Pool size as a multiple of ``k``.
    in_batch_fraction : float, default 0.5
        Share of the pool drawn from the batch.
    exclude_positives : bool, default True
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 1]), np.array([1, 2]), np.arange(2), n_users=2, n_items=9)
    >>> s = AdaptiveMixedSampler(oversampling=4, random_state=0).fit(train)
    >>> s.sample(torch.tensor([0, 1]), torch.tensor([1, 2]), 3, scorer=lambda c: -c.double()).items.shape
    torch.Size([2, 3])
    """

    subfamily = "mixed DNS"
    variant = "adaptive over a mixed pool (AMNS)"

    def __init__(self, oversampling: int = 4, in_batch_fraction: float = 0.5, *,
                 exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(oversampling=oversampling, exclude_positives=exclude_positives,
                         random_state=random_state)
        self.in_batch_fraction = check_probability("in_batch_fraction", in_batch_fraction)

    def _make_base(self) -> NegativeSampler:
        return MixedSampler(self.in_batch_fraction)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(oversampling={self.oversampling}, in_batch_fraction={self.in_batch_fraction}, "
                f"exclude_positives={self.exclude_positives}, random_state={self.random_state!r})")


from .registry import register_sampler  # noqa: E402  (registration needs the classes above)

register_sampler("adaptive", AdaptiveSampler)
register_sampler("adaptive-mixed", AdaptiveMixedSampler)
