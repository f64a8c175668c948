"""Hardness curricula and guardrails for hard-negative sampling.

Hard negatives help most once the model can tell easy items apart; early in training
they mostly contribute noise and false negatives (Ma et al., arXiv 2409.07237, name
curriculum learning and the hard-vs-false-negative tension among the open problems).
This module provides

* :class:`HardnessCurriculum` — mixes an easy and a hard sampler with a share of hard
  negatives that grows over epochs;
* :class:`RandomInjection` — replaces a fraction of any sampler's negatives by uniform
  ones, so a hard sampler never trains on hard negatives alone;
* :class:`RankBandSampler` — negatives drawn uniformly from a band of ranks of the
  current model's scores (PinSage's hard negatives), the hard half of a PinSage-style
  curriculum ``HardnessCurriculum(UniformSampler(), RankBandSampler(20, 100))``;
* :class:`RankBandCurriculum` — that curriculum with scalar parameters only, so that a
  grid file (``experiments/*.toml``) can declare it.
"""

from __future__ import annotations

import math

import torch

from .._errors import RecnegError, check_positive_int, check_probability
from ..data.interactions import Interactions
from .base import NegativeSample, NegativeSampler, clone_component, extra_targets, is_excluded, output_shape
from .static import UniformSampler

__all__ = ["HardnessCurriculum", "RandomInjection", "RankBandCurriculum", "RankBandSampler", "SCHEDULES"]

#: Shapes of the ramp from easy to hard, as functions of progress ``t ∈ [0, 1]``.
SCHEDULES = {
    "linear": lambda t: t,
    "cosine": lambda t: 0.5 * (1.0 - math.cos(math.pi * t)),
    "step": lambda t: 1.0 if t >= 1.0 else 0.0,
}


def _sub_sample(sampler: NegativeSampler, users, positives, k, per_position, scorer, generator) -> NegativeSample:
    if sampler.needs_scorer and scorer is None:
        raise RecnegError(f"{type(sampler).__name__} needs a scorer: pass scorer=model.scorer(...)")
    return sampler._sample(users, positives, k, per_position=per_position, scorer=scorer, generator=generator)


def _fitted_clone(sampler: NegativeSampler, exclude_positives: bool, train: Interactions) -> NegativeSampler:
    """A clone of ``sampler`` with the composite's ``exclude_positives``, fitted on ``train``."""
    clone = clone_component(sampler)
    clone.exclude_positives = exclude_positives
    return clone.fit(train)


def _concat(parts: list[NegativeSample]) -> NegativeSample:
    items = torch.cat([p.items for p in parts], dim=-1)
    log_prob = torch.cat([p.log_prob.float() for p in parts], dim=-1)
    weights = None
    if any(p.weights is not None for p in parts):
        weights = torch.cat([p.weights.float() if p.weights is not None else torch.ones(p.items.shape)
                             for p in parts], dim=-1)
    return NegativeSample(items, log_prob, weights)


class HardnessCurriculum(NegativeSampler):
    """Easy negatives first, hard ones later: a curriculum over the share of hard negatives.

    Of ``k`` negatives, ``round(h(e) · k)`` come from ``hard_sampler`` and the rest from
    ``easy_sampler``, where the hard share at epoch ``e`` is

    ``h(e) = max_hard_fraction · shape((e − warmup_epochs) / ramp_epochs)`` clipped to
    ``[0, max_hard_fraction]``,

    with ``shape`` linear, cosine (slow start and finish) or a step at the end of the
    ramp. During ``warmup_epochs`` all negatives are easy. Curriculum learning (Bengio et
    al., 2009) orders training examples from easy to hard; for negative sampling it lets
    the model form a coarse ranking from uniform negatives before a dynamic sampler's
    hard negatives — and their false negatives — dominate.

    The epoch comes from the trainer: :class:`~recneg.training.Trainer` calls
    :meth:`on_epoch_start` before every epoch, and a hand-written loop calls
    :meth:`set_epoch`. Drawing never changes it. ``log_prob`` and ``weights`` are those
    of the component that drew each negative (weights 1 for a component that returns
    none). The two samplers are cloned at :meth:`fit` (``easy_``, ``hard_``), so the
    objects passed in stay as they were.

    Parameters
    ----------
    easy_sampler : NegativeSampler, optional
        Default :class:`~recneg.samplers.UniformSampler`.
    hard_sampler : NegativeSampler, optional
        Default :class:`~recneg.samplers.DNSSampler` with 10 candidates.
    schedule : {"linear", "cosine", "step"}, default "linear"
    warmup_epochs : int, default 0
    ramp_epochs : int, default 5
    max_hard_fraction : float, default 1.0

    Examples
    --------
    >>> c = HardnessCurriculum(warmup_epochs=1, ramp_epochs=4)
    >>> [c.hard_fraction(e) for e in range(7)]
    [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    >>> c.set_epoch(3).split(10)          # (easy, hard) negatives out of 10
    (5, 5)
    >>> c.on_epoch_start(2); c.epoch      # the trainer's epochs count from 1
    1
    """

    family = "dynamic"
    subfamily = "universal DNS"
    variant = "hardness curriculum"

    def __init__(self, easy_sampler: NegativeSampler | None = None, hard_sampler: NegativeSampler | None = None,
                 schedule: str = "linear", warmup_epochs: int = 0, ramp_epochs: int = 5, *,
                 max_hard_fraction: float = 1.0, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        if schedule not in SCHEDULES:
            raise RecnegError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        for name, sampler in (("easy_sampler", easy_sampler), ("hard_sampler", hard_sampler)):
            if sampler is not None and not isinstance(sampler, NegativeSampler):
                raise RecnegError(f"{name} must be a NegativeSampler, got {type(sampler).__name__}")
        if hard_sampler is None:
            from .dynamic import DNSSampler  # dynamic imports this module's neighbours only

            hard_sampler = DNSSampler()
        self.easy_sampler = easy_sampler if easy_sampler is not None else UniformSampler()
        self.hard_sampler = hard_sampler
        self.schedule = schedule
        self.warmup_epochs = check_positive_int("warmup_epochs", warmup_epochs, allow_zero=True)
        self.ramp_epochs = check_positive_int("ramp_epochs", ramp_epochs)
        self.max_hard_fraction = check_probability("max_hard_fraction", max_hard_fraction)
        self._epoch = 0

    @property
    def needs_scorer(self) -> bool:
        """Whether either component needs a scorer."""
        return self.easy_sampler.needs_scorer or self.hard_sampler.needs_scorer

    @property
    def epoch(self) -> int:
        """The current epoch (0-based)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> "HardnessCurriculum":
        """Set the current epoch (0-based); returns ``self``."""
        self._epoch = check_positive_int("epoch", epoch, allow_zero=True)
        return self

    def on_epoch_start(self, epoch: int) -> None:
        """The trainer's hook: ``epoch`` counts from 1, the schedule from 0."""
        self.set_epoch(check_positive_int("epoch", epoch) - 1)
        super().on_epoch_start(epoch)

    def hard_fraction(self, epoch: int | None = None) -> float:
        """``h(epoch)``, the share of hard negatives (the current epoch by default)."""
        epoch = self.epoch if epoch is None else epoch
        progress = min(max((epoch - self.warmup_epochs) / self.ramp_epochs, 0.0), 1.0)
        return self.max_hard_fraction * SCHEDULES[self.schedule](progress)

    def split(self, k: int) -> tuple[int, int]:
        """``(k_easy, k_hard)`` for ``k`` negatives at the current epoch."""
        k_hard = int(round(self.hard_fraction() * k))
        return k - k_hard, k_hard

    def _fit(self, train: Interactions) -> None:
        self.easy_ = _fitted_clone(self.easy_sampler, self.exclude_positives, train)
        self.hard_ = _fitted_clone(self.hard_sampler, self.exclude_positives, train)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        k_easy, k_hard = self.split(k)
        parts = []
        if k_easy:
            parts.append(_sub_sample(self.easy_, users, positives, k_easy, per_position, scorer, generator))
        if k_hard:
            parts.append(_sub_sample(self.hard_, users, positives, k_hard, per_position, scorer, generator))
        return _concat(parts)


class RandomInjection(NegativeSampler):
    """A guardrail: every negative of ``base`` is replaced by a uniform one with
    probability ``random_fraction``.

    Hard samplers concentrate on the items the model scores highest, which include the
    user's unobserved *positives*. Mixing in uniform negatives — which are almost never
    false negatives — bounds the damage and keeps the easy part of the distribution in
    view (the mixed DNS idea of the survey; Yang et al., WWW 2020, mix in-batch with
    uniform negatives for a related reason). Replacement is per entry, so it works even
    with one negative per position (on average ``random_fraction · k`` of them are
    uniform). ``log_prob`` (and ``weights``) of each entry are those of the component
    that produced it: the uniform distribution over the user's allowed items for an
    injected negative (weight 1).

    Parameters
    ----------
    base : NegativeSampler, optional
        The sampler to guard; default :class:`~recneg.samplers.DNSSampler`. A clone of it
    is fitted and drawn from (``base_``); the object passed in stays as it was.
    random_fraction : float, default 0.1

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> from recneg.samplers import DNSSampler
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=50)
    >>> s = RandomInjection(DNSSampler(n_candidates=40), random_fraction=0.5, random_state=0).fit(train)
    >>> neg = s.sample(torch.tensor([0]), torch.tensor([1]), 10, scorer=lambda c: c.float())
    >>> int((neg.items < 35).sum()) > 0          # DNS alone would return only the highest ids
    True
    """

    family = "dynamic"
    subfamily = "mixed DNS"
    variant = "random injection"

    def __init__(self, base: NegativeSampler | None = None, random_fraction: float = 0.1, *,
                 exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        if base is not None and not isinstance(base, NegativeSampler):
            raise RecnegError(f"base must be a NegativeSampler, got {type(base).__name__}")
        if base is None:
            from .dynamic import DNSSampler

            base = DNSSampler()
        self.base = base
        self.random_fraction = check_probability("random_fraction", random_fraction)

    @property
    def needs_scorer(self) -> bool:
        """Whether the guarded sampler needs a scorer."""
        return self.base.needs_scorer

    def _fit(self, train: Interactions) -> None:
        self.base_ = _fitted_clone(self.base, self.exclude_positives, train)
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        drawn = _sub_sample(self.base_, users, positives, k, per_position, scorer, generator)
        inject = torch.rand(drawn.items.shape, generator=generator) < self.random_fraction
        if not bool(inject.any()):
            return drawn
        extra = extra_targets(self, users, positives)
        uniform = self.uniform_._draw_allowed(users, positives, tuple(drawn.items.shape), generator, extra)
        uniform_log_prob = self.uniform_.conditional_log_prob(users, uniform, extra).float()
        items = torch.where(inject, uniform, drawn.items)
        log_prob = torch.where(inject, uniform_log_prob, drawn.log_prob.float())
        weights = None if drawn.weights is None else torch.where(inject, torch.ones(()), drawn.weights.float())
        return NegativeSample(items, log_prob, weights)


class RankBandSampler(NegativeSampler):
    """Negatives drawn uniformly from the items the current model ranks ``low``..``high``.

    PinSage (Ying et al., KDD 2018) ranks the catalogue by personalised PageRank with
    respect to the query and samples its hard negatives from a band of ranks (2000–5000
    in a catalogue of billions): far enough down that they are rarely true matches, high
    enough to be confusable. Its curriculum adds more of them epoch after epoch. Here the
    ranking is the recommender's own: for each row the allowed items (not padding, not
    the user's training items, not the row's targets) are ranked by the scorer's scores
    and ``k`` negatives are drawn uniformly, with replacement, from positions
    ``low``..``high`` (position 1 = highest score, the 0-based rank r = 0). A row with fewer allowed items than ``high`` uses the band
    it has, down to its last allowed item; one with ``low`` or fewer allowed items uses
    its last one. ``log_prob = −log(band width)``.

    Every item is scored, so a draw costs ``B × n_items`` scores and as much memory:
    meant for catalogues of thousands of items, as in the book. A
    sequential scorer's per-position scores are averaged over the valid positions (one
    band per sequence, shared by its positions).

    Parameters
    ----------
    low, high : int, default 20, 100
        First and last position of the band (inclusive; position 1 is the highest score), ``1 <= low <= high``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=30)
    >>> band = RankBandSampler(low=3, high=5, random_state=0).fit(train)
    >>> neg = band.sample(torch.tensor([0]), torch.tensor([1]), 20, scorer=lambda c: c.float())
    >>> sorted(set(neg.items.flatten().tolist()))      # item 30 ranks 1st, 29 2nd, ...
    [26, 27, 28]
    >>> round(float(neg.log_prob[0, 0].exp()), 4)
    0.3333
    """

    family = "dynamic"
    subfamily = "universal DNS"
    variant = "rank band (PinSage)"
    needs_scorer = True

    def __init__(self, low: int = 20, high: int = 100, *, exclude_positives: bool = True,
                 random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.low = check_positive_int("low", low)
        self.high = check_positive_int("high", high)
        if self.high < self.low:
            raise RecnegError(f"high={high} is below low={low}; pass a band with low <= high, e.g. (20, 100)")

    def band(self, users: torch.Tensor, positives: torch.Tensor, scorer) -> tuple[torch.Tensor, torch.Tensor]:
        """The items of each row's band, best first, shape ``(B, high − low + 1)``, and the
        number of real entries per row (``(B,)``, at least 1); the rest repeat the last."""
        from .dynamic import score_candidates  # dynamic imports this module's neighbours only

        # The scorer is bound to the batch's hidden states, so the whole batch is scored at once.
        cand = torch.arange(self.n_items_ + 1).expand(len(users), -1)
        blocked = is_excluded(self, users, positives, cand)
        top = min(self.high, self.n_items_)
        order = score_candidates(scorer, cand, positives).masked_fill(blocked, float("-inf")).topk(top, dim=1).indices
        allowed = (~blocked).sum(1)
        first = (allowed.clamp_max(self.low) - 1).clamp_min(0)
        width = allowed.clamp(1, top) - first
        offset = torch.arange(self.high - self.low + 1).clamp_max(width.unsqueeze(1) - 1)
        return order.gather(1, first.unsqueeze(1) + offset), width

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        items, width = self.band(users, positives, scorer)
        per_row = shape[1] * k if per_position else k
        pick = (torch.rand((len(users), per_row), generator=generator, dtype=torch.float64)
                * width.unsqueeze(1)).long().clamp_max((width - 1).unsqueeze(1))
        drawn = items.gather(1, pick).reshape(shape)
        view = (len(users),) + (1,) * (len(shape) - 1)
        log_prob = (-width.double().log()).reshape(view).expand(shape).float()
        return NegativeSample(drawn, log_prob)


class RankBandCurriculum(HardnessCurriculum):
    """A PinSage-style curriculum: uniform negatives, then a growing share from a rank band.

    The same sampler as ``HardnessCurriculum(UniformSampler(), RankBandSampler(low, high),
    schedule, warmup_epochs, ramp_epochs)``, with scalar parameters only, so that a grid
    file can declare it (``sampler = "rank-band-curriculum"``).

    Parameters
    ----------
    low, high : int, default 20, 100
        The band of the current model's ranks the hard negatives come from (see
        :class:`RankBandSampler`).
    schedule, warmup_epochs, ramp_epochs, max_hard_fraction
        As in :class:`HardnessCurriculum`; here one warm-up epoch of uniform negatives by
        default, as the book's lab uses.

    Examples
    --------
    >>> c = RankBandCurriculum(low=5, high=10, warmup_epochs=1, ramp_epochs=2)
    >>> type(c.hard_sampler).__name__, c.hard_sampler.low, c.hard_sampler.high
    ('RankBandSampler', 5, 10)
    >>> c.on_epoch_start(3); c.hard_fraction()        # epoch 3 is the schedule's 2: halfway up the ramp
    0.5
    """

    variant = "rank-band curriculum (PinSage)"

    def __init__(self, low: int = 20, high: int = 100, schedule: str = "linear", warmup_epochs: int = 1,
                 ramp_epochs: int = 5, *, max_hard_fraction: float = 1.0, exclude_positives: bool = True,
                 random_state=None) -> None:
        super().__init__(UniformSampler(), RankBandSampler(low, high), schedule, warmup_epochs, ramp_epochs,
                         max_hard_fraction=max_hard_fraction, exclude_positives=exclude_positives,
                         random_state=random_state)
        self.low, self.high = self.hard_sampler.low, self.hard_sampler.high


from .registry import register_sampler  # noqa: E402  (registration needs the classes above)

register_sampler("curriculum", HardnessCurriculum)
register_sampler("random-injection", RandomInjection)
register_sampler("rank-band", RankBandSampler)
register_sampler("rank-band-curriculum", RankBandCurriculum)
