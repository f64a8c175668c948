"""The one interface that every negative sampler in recneg implements.

A sampler is *fitted* on the training split (which is where popularity and each user's
positives come from — never from validation or test data) and then *samples*
negatives for a batch of users and their positive targets.

The five families of the survey differ only in what :meth:`NegativeSampler.sample`
may use:

========================  ===========================================================
family                    uses
========================  ===========================================================
``static``                nothing but the training data (ignores scores)
``dynamic``               a ``scorer`` — the current model's scores of candidates
``adversarial``           a generator model that it owns and trains
``reweighting``           returns ``weights`` with the negatives
``knowledge``             item attributes / a knowledge graph
========================  ===========================================================
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch

from .._errors import RecnegError, check_positive_int
from ..data.interactions import Interactions

__all__ = [
    "NegativeSample", "NegativeSampler", "TrainingComponent", "EmbeddingNegatives", "clone_component",
    "Scorer", "make_generator", "output_shape", "is_excluded",
    "extra_targets", "draw_excluding", "user_mass", "batch_user_mass", "excluded_extra_mass",
]

#: A scorer maps candidate items to the current model's scores without tracking
#: gradients. ``candidates`` has shape ``(B, P)`` (one pool per user, shared by all
#: positions) or ``(B, L, P)`` (one pool per position); the result has shape ``(B, P)``
#: for a non-sequential model and ``(B, L, P)`` for a sequential one.
Scorer = Callable[[torch.Tensor], torch.Tensor]


def make_generator(random_state: int | torch.Generator | None) -> torch.Generator:
    """A CPU :class:`torch.Generator` from a seed, an existing generator, or ``None``."""
    if isinstance(random_state, torch.Generator):
        return random_state
    gen = torch.Generator()
    if random_state is None:
        gen.seed()
    else:
        gen.manual_seed(int(random_state))
    return gen


@dataclass
class NegativeSample:
    """Negatives drawn for a batch.

    Attributes
    ----------
    items : LongTensor
        ``(B, k)`` when negatives are shared by all positions of a user's sequence (or
        the model is not sequential), ``(B, L, k)`` when drawn per position.
    log_prob : Tensor
        Same shape as ``items``: log-probability that one draw of the sampler's
        proposal yields this item, renormalised over the items the sampler may return
        (used by logQ correction). For samplers that select from a scored pool
        (dynamic families) it is the log-probability of the *pool* proposal.
    weights : Tensor, optional
        Same shape as ``items``: per-negative importance weights (re-weighting family).
        ``None`` means every negative weighs 1.
    """

    items: torch.Tensor
    log_prob: torch.Tensor
    weights: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.items.shape != self.log_prob.shape:
            raise ValueError(f"items {tuple(self.items.shape)} and log_prob {tuple(self.log_prob.shape)} differ in shape")
        if self.weights is not None and self.weights.shape != self.items.shape:
            raise ValueError("weights must have the shape of items")

    @property
    def per_position(self) -> bool:
        return self.items.dim() == 3


class TrainingComponent:
    """What :class:`~recneg.training.Trainer` fits on the training split and calls back.

    Shared by the negative samplers (:class:`NegativeSampler`, whose negatives are item
    ids) and the embedding-level methods (:class:`EmbeddingNegatives`, whose negatives are
    vectors): the fitted state, the seed, the exclusion of positives and the epoch hooks.

    Parameters
    ----------
    exclude_positives : bool, default True
        Never return an item the user interacted with in the training split, nor the
        batch's own positive targets.
    random_state : int, torch.Generator or None
        Seed for reproducible draws; a ``generator=`` argument overrides it per call.

    Notes
    -----
    After :meth:`fit` a component has ``n_items_``, ``n_users_``, ``item_counts_``
    (training-split counts, shape ``(n_items + 1,)``), ``positives_`` (a
    :class:`UserItemSet`) and ``train_`` (the split it was fitted on).

    Learning happens in the hooks, never while drawing: the trainer calls
    :meth:`on_epoch_start` before an epoch's first batch and :meth:`on_epoch_end` after
    its validation. Components that need neither keep the no-op defaults.
    """

    #: family and sub-family in the survey's taxonomy, spelled as in
    #: ``recneg.samplers.TAXONOMY`` (the registry checks them)
    family: ClassVar[str] = "static"
    subfamily: ClassVar[str] = ""
    #: what distinguishes the class within its sub-family ("" when it is the sub-family's method)
    variant: ClassVar[str] = ""
    #: whether drawing needs a ``scorer``; a component whose need depends on its
    #: configuration overrides this with a read-only property.
    needs_scorer: ClassVar[bool] = False

    def __init__(self, *, exclude_positives: bool = True, random_state=None) -> None:
        self.exclude_positives = bool(exclude_positives)
        self.random_state = random_state
        self._generator = make_generator(random_state)

    # -- fitting ---------------------------------------------------------------------
    def fit(self, train: Interactions) -> "TrainingComponent":
        """Learn what the component needs from the *training* interactions only."""
        if len(train) == 0:
            raise RecnegError(f"cannot fit {type(self).__name__} on an empty training split")
        self.n_items_ = int(train.n_items)
        self.n_users_ = int(train.n_users)
        self.item_counts_ = torch.as_tensor(train.item_counts(), dtype=torch.float64)
        self.positives_ = train.user_item_set()
        self.train_ = train
        if self.exclude_positives:
            full = torch.nonzero(self.positives_.counts >= self.n_items_).flatten()
            if len(full):
                raise RecnegError(
                    f"user {int(full[0])} has interacted with every one of the {self.n_items_} "
                    "items, so no negative exists for them; drop such users or pass "
                    "exclude_positives=False"
                )
        self._fit(train)
        return self

    def _fit(self, train: Interactions) -> None:
        """Hook for subclasses (popularity tables, attribute indexes, ...)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise RecnegError(f"{type(self).__name__} is not fitted; call .fit(train) first")

    # -- the trainer's epoch hooks ---------------------------------------------------------
    def _components(self) -> list["TrainingComponent"]:
        """The fitted components this one draws through (attributes named ``..._``);
        hooks are forwarded to them, so a sampler inside a composite still learns."""
        return [value for key, value in vars(self).items()
                if key.endswith("_") and isinstance(value, TrainingComponent)]

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the trainer before the first batch of ``epoch`` (1-based)."""
        for component in self._components():
            component.on_epoch_start(epoch)

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        """Called by the trainer after ``epoch`` (1-based) and its validation.

        ``record`` is the epoch's row of ``TrainResult.history``; entries added to it
        become history columns (e.g. a generator's mean loss over the epoch).
        """
        for component in self._components():
            component.on_epoch_end(epoch, record)

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}
        inner = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({inner})"

    # Convenience for result tables.
    @property
    def name(self) -> str:
        return type(self).__name__.removesuffix("Sampler").lower()


def clone_component(component: TrainingComponent) -> TrainingComponent:
    """An independent deep copy of ``component`` (its generator state included).

    Composite samplers fit clones of the samplers they are given, so fitting or drawing
    never changes an object the caller still holds.
    """
    return copy.deepcopy(component)


class NegativeSampler(TrainingComponent, ABC):
    """Base class of all negative samplers.

    Parameters are those of :class:`TrainingComponent` (``exclude_positives``,
    ``random_state``; ``sample(generator=...)`` overrides the seed per call).

    Notes
    -----
    Subclasses implement :meth:`_sample`; the public :meth:`sample` validates arguments.
    :meth:`sample` is a draw: it changes no learned parameter. A sampler that learns
    during training does so in :meth:`learn_from_batch` or the epoch hooks of
    :class:`TrainingComponent`, which the trainer calls.
    """

    # -- sampling --------------------------------------------------------------------
    def sample(
        self,
        users: torch.Tensor,
        positives: torch.Tensor,
        num_negatives: int,
        *,
        per_position: bool = False,
        scorer: Scorer | None = None,
        generator: torch.Generator | None = None,
    ) -> NegativeSample:
        """Draw negatives for a batch.

        Parameters
        ----------
        users : LongTensor, shape (B,)
        positives : LongTensor, shape (B,) or (B, L)
            Positive target items (0 = padding position, ignored).
        num_negatives : int
            Negatives per user (shared) or per position (``per_position=True``).
        per_position : bool, default False
            Draw separate negatives for every position of a ``(B, L)`` ``positives``
            tensor instead of one set shared by the whole sequence.
        scorer : callable, optional
            Required by samplers with ``needs_scorer`` (see :data:`Scorer`).
        generator : torch.Generator, optional
            Overrides the sampler's own generator for this call.
        """
        self._check_fitted()
        k = check_positive_int("num_negatives", num_negatives)
        users = torch.as_tensor(users, dtype=torch.long)
        positives = torch.as_tensor(positives, dtype=torch.long)
        if positives.dim() not in (1, 2) or positives.shape[0] != users.shape[0]:
            raise RecnegError(
                f"positives must have shape (B,) or (B, L) with B = len(users) = {len(users)}, "
                f"got {tuple(positives.shape)}"
            )
        if per_position and positives.dim() != 2:
            raise RecnegError("per_position=True needs positives of shape (B, L)")
        if users.dim() != 1:
            raise RecnegError(f"users must have shape (B,), got {tuple(users.shape)}")
        if len(users) and (int(users.min()) < 0 or int(users.max()) >= self.n_users_):
            bad = int(users[(users < 0) | (users >= self.n_users_)][0])
            raise RecnegError(f"user id {bad} is outside 0..{self.n_users_ - 1}; use the ids of the fitted split")
        if positives.numel() and (int(positives.min()) < 0 or int(positives.max()) > self.n_items_):
            bad = int(positives[(positives < 0) | (positives > self.n_items_)][0])
            raise RecnegError(
                f"positive item id {bad} is outside 0..{self.n_items_} (0 = padding); use the ids of the fitted split"
            )
        if self.needs_scorer and scorer is None:
            raise RecnegError(f"{type(self).__name__} needs a scorer: pass scorer=model.scorer(...)")
        gen = self._generator if generator is None else generator
        return self._sample(users, positives, k, per_position=per_position, scorer=scorer, generator=gen)

    @abstractmethod
    def _sample(
        self,
        users: torch.Tensor,
        positives: torch.Tensor,
        k: int,
        *,
        per_position: bool,
        scorer: Scorer | None,
        generator: torch.Generator,
    ) -> NegativeSample:
        """Draw validated negatives; see :meth:`sample`."""

    def learn_from_batch(self, users: torch.Tensor, positives: torch.Tensor, drawn: NegativeSample,
                         scorer: Scorer) -> None:
        """The place for a sampler to learn from a training batch; a no-op here except
        that fitted components (see :meth:`TrainingComponent._components`) are called.

        :class:`~recneg.training.Trainer` calls it once per batch, after :meth:`sample`
        and before the recommender's optimiser step, with the batch's ``users`` and
        ``positives``, the negatives drawn for it and a no-grad ``scorer`` of the
        recommender as it was when they were drawn.
        """
        for component in self._components():
            if isinstance(component, NegativeSampler):
                component.learn_from_batch(users, positives, drawn, scorer)


class EmbeddingNegatives(TrainingComponent, ABC):
    """Base class of methods whose negatives are embeddings, not item ids.

    Such a method cannot hand item ids to a loss, so it supplies the batch loss itself
    (:meth:`batch_loss`); :class:`~recneg.training.Trainer` calls it in place of sampling
    and keeps everything else: batches, the optimiser, the epoch hooks, early stopping
    and the touched-items record (the method reports, with ``batch.touch(items)``, which
    items besides the batch's positives its loss gives a gradient).

    The methods train models with ``user_embedding`` and ``item_embedding`` tables, such
    as :class:`recneg.models.BPRMF`, with the BPR loss.
    """

    family: ClassVar[str] = "dynamic"
    #: the loss the method minimises; the trainer's ``TrainConfig.loss`` must name it
    loss_name: ClassVar[str] = "bpr"

    def check_model(self, model) -> None:
        """Raise unless ``model`` has the embedding tables the method mixes or scores."""
        for table in ("user_embedding", "item_embedding"):
            if not isinstance(getattr(model, table, None), torch.nn.Embedding):
                raise RecnegError(
                    f"{type(self).__name__} needs a model with a {table} table (e.g. BPRMF); "
                    f"{type(model).__name__} has none"
                )

    @abstractmethod
    def batch_loss(self, model, batch) -> torch.Tensor:
        """The loss of one training batch (``batch.users``, ``batch.positives``,
        ``batch.num_negatives``, ``batch.generator``), differentiable in ``model``."""


def output_shape(positives: torch.Tensor, k: int, per_position: bool) -> tuple[int, ...]:
    """Shape of the negatives tensor for a batch."""
    if per_position:
        return (positives.shape[0], positives.shape[1], k)
    return (positives.shape[0], k)


# -- exclusion -------------------------------------------------------------------------
#
# A row of a batch (one user) may not receive: padding (item 0), and with
# ``exclude_positives`` the user's training items and the row's own targets. In training
# the targets are training items, so comparing candidates with them again is wasted work
# (and for per-position negatives of a (B, L) sequence it would cost B·L·k·L). We compare
# only with the *extra* targets — those that are not training items of the user — which
# are usually none, one target column at a time so memory stays O(B·L·k).

#: Rejection rounds after which :func:`draw_excluding` draws the rest exactly.
MAX_REJECTION_ROUNDS = 8
#: Later rounds draw up to this many candidates per rejected entry, about
#: CANDIDATE_BUDGET candidates per round in all.
MAX_CANDIDATES = 64
CANDIDATE_BUDGET = 1 << 15
#: Rows whose proposal is allowed less often than this (and than their number of
#: draws over the catalogue size) are drawn exactly at once.
MIN_ACCEPTANCE = 0.5
#: Once this few entries are still rejected, draw them exactly instead of another round.
EXACT_BELOW = 0

#: Membership tables of at most this many bytes are kept dense (one byte per
#: (user, item) pair: ML-100K 1.6 MB, ML-1M 22 MB); larger ones are bit-packed.
DENSE_MASK_BYTES = 1 << 25
#: Bit-packed tables above this size (e.g. ML-20M) fall back to binary search.
BITSET_BYTES = 1 << 28


class ExclusionIndex:
    """Which (user, item) pairs a sampler may never return on account of the training
    data: the user's training items and the padding item 0. O(1) per query.

    :class:`~recneg.data.UserItemSet` answers membership with a binary search over
    sorted keys, about 17 dependent memory loads per query on ML-100K. A table with one
    entry per (user, item) answers with a single gather. Small catalogues get a byte per
    pair (the lookup is then one add and one gather); larger ones a bit per pair
    (``n_users × (n_items + 1) / 8`` bytes, a shift and a mask more); beyond
    :data:`BITSET_BYTES` the sorted keys are used. Bits are set with one ``index_add_``:
    the pairs are distinct, so adding powers of two inside a byte is OR-ing them.
    """

    def __init__(self, positives) -> None:
        self.source = positives
        n = positives.n_items + 1
        users, items = positives.keys // n, positives.keys % n
        # Padding is excluded for everyone: set it as if every user had item 0.
        users = torch.cat([users, torch.arange(positives.n_users)])
        items = torch.cat([items, torch.zeros(positives.n_users, dtype=torch.long)])
        if positives.n_users * n <= DENSE_MASK_BYTES:
            self.mode, self.row = "dense", n
            self.table = torch.zeros(positives.n_users * n, dtype=torch.bool)
            self.table[users * n + items] = True
        elif positives.n_users * ((n + 7) // 8) <= BITSET_BYTES:
            self.mode, self.row = "bits", (n + 7) // 8
            table = torch.zeros(positives.n_users * self.row, dtype=torch.int16)
            table.index_add_(0, users * self.row + (items >> 3), (1 << (items & 7)).to(torch.int16))
            self.table = table.to(torch.uint8)
        else:
            self.mode, self.row, self.table = "keys", n, None

    def __call__(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor shaped like ``items`` (``(B, ...)``); ``users`` ``(B,)`` broadcasts."""
        if self.mode == "keys":
            return self.source.contains(users, items) | (items == 0)
        offset = (users * self.row).reshape(users.shape + (1,) * (items.dim() - users.dim()))
        # index_select on the flat table is several times faster than advanced indexing
        # with a multi-dimensional index tensor; this lookup is a sampler's hot path.
        if self.mode == "dense":
            return self.table.index_select(0, (offset + items).reshape(-1)).reshape(items.shape)
        byte = self.table.index_select(0, (offset + (items >> 3)).reshape(-1)).reshape(items.shape)
        return ((byte >> (items & 7).to(torch.uint8)) & 1).bool()

    def rows(self, users: torch.Tensor) -> torch.Tensor:
        """Dense ``(len(users), n_items + 1)`` bool mask of each user's excluded items."""
        n = self.source.n_items + 1
        if self.mode == "dense":
            return self.table.view(-1, n)[users]
        if self.mode == "bits":
            packed = self.table.view(-1, self.row)[users]
            bits = (packed.unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1
            return bits.reshape(len(users), -1)[:, :n].bool()
        mask = self.source.dense_mask(users)
        mask[:, 0] = True
        return mask


def _exclusion_index(sampler: NegativeSampler) -> ExclusionIndex:
    """The sampler's :class:`ExclusionIndex`, built on first use and after each fit."""
    cached = sampler.__dict__.get("_exclusion_index")
    if cached is None or cached.source is not sampler.positives_:
        cached = sampler._exclusion_index = ExclusionIndex(sampler.positives_)
    return cached


def extra_targets(sampler: NegativeSampler, users: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """The row's targets that are not training items of its user, ``(B, m)``.

    Deduplicated within a row, left-aligned and padded with 0; ``m`` is the largest number
    of such targets in a row (``m = 0`` in ordinary training, where every target is a
    training interaction). Empty when the sampler does not exclude positives.
    """
    pos = positives.reshape(positives.shape[0], -1)
    if not sampler.exclude_positives or pos.numel() == 0:
        return pos.new_zeros((pos.shape[0], 0))
    # The index holds padding (item 0) for every user, so "not in it" means a real item
    # that is not one of the user's training items.
    outside = ~_exclusion_index(sampler)(users, pos)
    if int(outside.sum()) == 0:  # the usual case in training; sum is cheaper than any()
        return pos.new_zeros((pos.shape[0], 0))
    extra = torch.where(outside, pos, 0)
    extra = extra.sort(dim=1, descending=True).values
    extra[:, 1:][extra[:, 1:] == extra[:, :-1]] = 0  # duplicates inside a row
    extra = extra.sort(dim=1, descending=True).values
    m = int((extra > 0).sum(1).max())
    return extra[:, :m]


def _excluded_at(sampler: NegativeSampler, row_users: torch.Tensor, row_extra: torch.Tensor,
                 cand: torch.Tensor) -> torch.Tensor:
    """Exclusion mask for candidates ``cand`` whose rows have ``row_users`` (same leading
    shape) and extra targets ``row_extra`` (leading shape plus one column per target)."""
    if not sampler.exclude_positives:
        return cand == 0
    bad = _exclusion_index(sampler)(row_users, cand)  # training items and padding
    for column in range(row_extra.shape[-1]):
        bad |= cand == row_extra[..., column]
    return bad


def is_excluded(sampler: NegativeSampler, users: torch.Tensor, positives: torch.Tensor, cand: torch.Tensor,
                *, extra: torch.Tensor | None = None) -> torch.Tensor:
    """Mask of candidates that may not be returned.

    Padding (item 0) is always excluded; with ``exclude_positives`` so are the user's
    training items and every target of the row (``positives[b]``, all positions).
    ``cand`` has shape ``(B, k)`` or ``(B, L, k)``; memory stays ``O(cand.numel())``
    because targets that are training items are caught by the training-set lookup and
    only the others (``extra``, see :func:`extra_targets`) are compared, one column at a
    time.
    """
    if extra is None:
        extra = extra_targets(sampler, users, positives)
    row_extra = extra.reshape((cand.shape[0],) + (1,) * (cand.dim() - 1) + (extra.shape[1],))
    return _excluded_at(sampler, users, row_extra, cand)


def user_mass(sampler: NegativeSampler, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_{i ∈ I_u⁺} weights[i]`` for every user, shape ``(n_users,)`` (one scatter-add)."""
    key_users = sampler.positives_.keys // (sampler.n_items_ + 1)
    return torch.zeros(sampler.n_users_, dtype=weights.dtype).index_add_(
        0, key_users, weights[sampler.positives_.items]
    )


def batch_user_mass(sampler: NegativeSampler, users: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_{i ∈ I_u⁺} weights[i]`` for the batch's users, shape ``(B,)``, for weights that
    change per batch (no per-user table to precompute)."""
    lengths = sampler.positives_.counts[users]
    starts = sampler.positives_.indptr[users]
    rows = torch.repeat_interleave(torch.arange(len(users)), lengths)
    offsets = torch.arange(int(lengths.sum())) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
    items = sampler.positives_.items[torch.repeat_interleave(starts, lengths) + offsets]
    return torch.zeros(len(users), dtype=weights.dtype).index_add_(0, rows, weights[items])


def draw_excluding(
    sampler: NegativeSampler,
    users: torch.Tensor,
    positives: torch.Tensor,
    shape: tuple[int, ...],
    draw: Callable[[int], torch.Tensor],
    weights: torch.Tensor,
    generator: torch.Generator,
    *,
    acceptance: torch.Tensor | None = None,
    extra: torch.Tensor | None = None,
    max_rounds: int = MAX_REJECTION_ROUNDS,
    min_acceptance: float = MIN_ACCEPTANCE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``shape`` candidates from ``draw`` conditioned on not being excluded.

    Rejection sampling, vectorised: draw every entry, test it, and redraw only the
    rejected entries; later rounds give each rejected entry several candidates and keep
    its first allowed one. Two kinds of entries are drawn *exactly* instead, from
    ``weights`` restricted to the row's allowed items with a dense per-row mask: those
    of rows whose proposal mostly hits excluded items (``acceptance`` below
    ``min_acceptance`` and below the row's number of draws over the catalogue size, so
    that rejection would cost more than a pass over the catalogue), and those still
    rejected after ``max_rounds`` rounds (or once at most :data:`EXACT_BELOW` remain). A
    user who has seen most of the catalogue can neither make the loop run forever nor
    slow the batch down, and every route gives the same conditional distribution
    ``q(j | u) = w_j / Σ_{allowed} w``.

    Parameters
    ----------
    draw : callable
        ``draw(n)`` returns ``n`` independent item ids from the unconditioned proposal.
    weights : Tensor, shape (n_items + 1,)
        The proposal's unnormalised weights (for the exact draws).
    acceptance : Tensor, shape (B,), optional
        Each row's probability that a proposal is allowed, if known.
    extra : LongTensor, optional
        :func:`extra_targets` of the batch, if already computed.

    Returns
    -------
    items : LongTensor of ``shape``
    empty : BoolTensor of shape (B,)
        Rows for which no allowed item has positive weight; their entries are left as
        drawn (excluded) and the caller decides what to do (raise or fall back).
    """
    if extra is None:
        extra = extra_targets(sampler, users, positives)
    n = math.prod(shape)
    per_row = n // shape[0] if shape[0] else 1
    items = draw(n)
    # Round 0 tests the whole batch with the users broadcast; later rounds only the
    # rejected entries, each with its own row's user.
    bad = is_excluded(sampler, users, positives, items.reshape(shape), extra=extra)
    exact = None
    if acceptance is not None and sampler.exclude_positives:
        # Rejection needs about per_row / acceptance draws for a row, the exact route a
        # pass over the catalogue: take whichever is cheaper.
        low = acceptance < min(min_acceptance, per_row / (sampler.n_items_ + 1))
        if bool(low.any()):
            row_view = (-1,) + (1,) * (len(shape) - 1)
            exact = torch.nonzero(low.reshape(row_view).expand(shape).reshape(-1)).flatten()
            bad = bad & ~low.reshape(row_view)
    pending = _redraw_rejected(sampler, users, extra, items, torch.nonzero(bad.reshape(-1)).flatten(), per_row,
                               draw, max_rounds)
    if exact is not None:
        pending = torch.cat([pending, exact])
    empty = torch.zeros(shape[0], dtype=torch.bool)
    if len(pending):
        empty = _exact_fill(sampler, users, extra, items, pending, per_row, weights, generator)
    return items.reshape(shape), empty


def _redraw_rejected(sampler, users, extra, items, pending, per_row, draw, max_rounds) -> torch.Tensor:
    """Rejection rounds of :func:`draw_excluding`: redraw ``items[pending]`` in place
    until allowed; returns the entries still rejected after ``max_rounds`` rounds (or
    once at most :data:`EXACT_BELOW` remain)."""
    for _ in range(max_rounds):
        if len(pending) <= EXACT_BELOW:
            break
        # Few entries left: give each several candidates and keep its first allowed one
        # (still an exact conditional draw), so rounds, whose cost is mostly fixed
        # per-operation overhead at this size, end sooner.
        per_entry = max(1, min(MAX_CANDIDATES, CANDIDATE_BUDGET // len(pending)))
        cand = draw(len(pending) * per_entry).reshape(len(pending), per_entry)
        rows = pending // per_row
        allowed = ~_excluded_at(sampler, users.index_select(0, rows), extra.index_select(0, rows).unsqueeze(1), cand)
        found, first = allowed.max(1, keepdim=True)  # the first allowed candidate, if any
        chosen = torch.where(found, cand.gather(1, first), items.index_select(0, pending).unsqueeze(1))
        items.index_copy_(0, pending, chosen.squeeze(1))
        pending = pending[~found.squeeze(1)]
    return pending


#: Largest dense (rows × items) weight matrix the exact fallback builds at once.
_DENSE_BUDGET = 1 << 24


def _exact_fill(sampler, users, extra, items, pending, per_row, weights, generator) -> torch.Tensor:
    """Overwrite ``items[pending]`` with exact draws from each row's allowed items."""
    rows = pending // per_row
    uniq, inverse, counts = torch.unique(rows, return_inverse=True, return_counts=True)
    # The j-th unresolved entry of a row takes the row's j-th exact draw.
    order = torch.argsort(inverse, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(inverse)
    slot[order] = torch.arange(len(inverse)) - starts.repeat_interleave(counts)
    empty = torch.zeros(len(users), dtype=torch.bool)
    chunk = max(1, _DENSE_BUDGET // (sampler.n_items_ + 1))
    for first in range(0, len(uniq), chunk):  # chunks of rows bound the dense matrix
        part = uniq[first:first + chunk]
        w = weights.to(torch.float64).unsqueeze(0).expand(len(part), -1).clone()
        w[:, 0] = 0.0
        if sampler.exclude_positives:
            w.masked_fill_(_exclusion_index(sampler).rows(users[part]), 0.0)
            w.scatter_(1, extra[part], 0.0)  # column 0 (padding of ``extra``) is 0 anyway
        empty_rows = w.sum(1) <= 0
        empty[part[empty_rows]] = True
        w[empty_rows, 0] = 1.0  # any positive weight lets multinomial run; the caller handles these rows
        draws = torch.multinomial(w, int(counts[first:first + chunk].max()), replacement=True, generator=generator)
        sel = (inverse >= first) & (inverse < first + len(part))
        items[pending[sel]] = draws[inverse[sel] - first, slot[sel]]
    return empty


def excluded_extra_mass(extra: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ weights`` over each row's extra targets, shape ``(B,)`` (padding weighs 0)."""
    if extra.shape[1] == 0:
        return torch.zeros(extra.shape[0], dtype=weights.dtype)
    w = weights[extra]
    return torch.where(extra > 0, w, torch.zeros((), dtype=weights.dtype)).sum(1)
