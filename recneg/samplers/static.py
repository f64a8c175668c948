"""Static negative samplers: uniform, popularity, in-batch and mixed.

Static samplers draw from a distribution fixed before training — it may depend on the
training data, never on the model (Ma et al., arXiv 2409.07237, section 3.1). Each one
here is vectorised: candidates are drawn for the whole batch at once, excluded ones
(the user's training items, the batch's own targets, padding) are redrawn in a few
rounds, and the rare leftovers are drawn exactly from the allowed items.
"""

from __future__ import annotations

import math
import warnings

import torch

from .._errors import RecnegError, check_positive_int, check_probability
from ..data.interactions import Interactions
from .base import (
    NegativeSample,
    NegativeSampler,
    batch_user_mass,
    clone_component,
    draw_excluding,
    excluded_extra_mass,
    extra_targets,
    is_excluded,
    output_shape,
    user_mass,
)

__all__ = [
    "alias_table",
    "ItemDistributionSampler",
    "UniformSampler",
    "PopularitySampler",
    "InBatchSampler",
    "MixedSampler",
]


def _validate_weights(weights: torch.Tensor, what: str) -> torch.Tensor:
    """Check item weights (index 0 = padding) and return them as float64."""
    weights = torch.as_tensor(weights, dtype=torch.float64)
    if torch.isnan(weights).any():
        item = int(torch.nonzero(torch.isnan(weights))[0])
        raise RecnegError(f"{what} weight of item {item} is NaN; pass finite, non-negative weights")
    if (weights < 0).any():
        item = int(torch.nonzero(weights < 0)[0])
        raise RecnegError(
            f"{what} weight of item {item} is negative ({float(weights[item])}); weights must be >= 0"
        )
    if torch.isinf(weights).any():
        item = int(torch.nonzero(torch.isinf(weights))[0])
        raise RecnegError(f"{what} weight of item {item} is infinite; pass finite weights")
    weights = weights.clone()
    weights[0] = 0.0
    if weights.sum() <= 0:
        raise RecnegError(f"{what} weights are all zero; at least one item needs a positive weight")
    return weights


def alias_table(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Walker's alias table for ``probs``, built without a Python loop.

    Split ``[0, n)`` into ``n`` unit buckets, one per item. Bucket ``b`` returns ``b``
    with probability ``accept[b]`` and ``alias[b]`` otherwise, so a draw costs one
    uniform bucket, one coin and two lookups whatever the distribution. With scaled
    weights ``w = n·p``, *light* items (``w < 1``) keep ``w`` of their bucket and lend
    the rest, ``1 − w``, to a *heavy* item (``w ≥ 1``). Sweeping the lights and the
    heavies in order, the demand of the lights accumulates to ``D`` and the surplus of
    the heavies (``w − 1``) to ``S``: a light is served by the heavy whose surplus
    interval contains the start of its demand, and a heavy whose surplus runs out in
    the middle of a light's demand ``[D_{i−1}, D_i)`` keeps ``1 − (D_i − S_j)`` of its
    own bucket and lends the rest to the next heavy. Two ``searchsorted`` calls place
    every item at once (the sweep of Hübschle-Schneider & Sanders, 2019); the work is
    :func:`batched_alias_tables` with a single row.

    Parameters
    ----------
    probs : Tensor, shape (n,)
        Non-negative, summing to 1.

    Returns
    -------
    accept : float64 Tensor, shape (n,)
    alias : LongTensor, shape (n,)

    Examples
    --------
    >>> accept, alias = alias_table(torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64))
    >>> implied = accept.clone().index_add_(0, alias, 1 - accept) / 3   # what a draw returns
    >>> [round(q, 12) for q in implied.tolist()]
    [0.1, 0.2, 0.7]
    """
    n = len(probs)
    accept, alias = batched_alias_tables((probs.to(torch.float64) * n).unsqueeze(0),
                                         torch.ones(1, n, dtype=torch.bool))
    return accept[0], alias[0].long()


#: Largest per-user tables (bytes) a sampler builds at fit time: the allowed-item table
#: of :class:`UniformSampler` (ML-100K: 3.2 MB, ML-1M: 45 MB) or it plus the per-user
#: alias tables of :class:`ItemDistributionSampler` (ML-100K: 22 MB); beyond it,
#: rejection sampling from the global proposal.
ALLOWED_TABLE_BYTES = 1 << 26


def batched_alias_tables(scaled: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Walker alias tables for every row of ``scaled`` at once (see :func:`alias_table`).

    ``scaled[r, b]`` is ``c_r · p_r(b)`` for the ``c_r`` valid buckets of row ``r`` (a
    prefix of the row, ``valid``); each row's valid entries sum to ``c_r``. The sweep of
    :func:`alias_table` runs on all rows together: the cumulative demand and surplus are
    row-wise cumsums, and both ``searchsorted`` calls are batched over rows, so a search
    never crosses from one row into another.

    Every comparison of the sweep reads the *same* floating-point values — the inclusive
    cumsums and their exclusive versions (the previous entry, not ``D_i − lack_i``) —
    so a tie (a light's demand starting exactly where a heavy's surplus ends, common
    with integer counts) is resolved the same way by the light that chooses its server
    and by the heavy that decides whether it runs dry inside that light. Shifting each
    row by an offset of ``row · (width + 2)`` instead, as this function once did, rounds
    the values of later rows (to about 2e-10 at row 900 of ML-100K) and merged near-ties
    in the two shifted comparisons but not in the unshifted third one: such rows lent
    one light's demand twice (issue #9).

    Returns ``accept`` (float64) and ``alias`` (bucket index within the row), both shaped
    like ``scaled``; invalid buckets keep ``accept = 1`` and are never drawn.

    Examples
    --------
    >>> w = torch.tensor([2 ** 0.75] * 4 + [1.0] * 4, dtype=torch.float64)
    >>> scaled = (8 * w / w.sum()).expand(3, 8)          # three identical rows, tied weights
    >>> accept, alias = batched_alias_tables(scaled, torch.ones(3, 8, dtype=torch.bool))
    >>> implied = accept.scatter_add(1, alias.long(), 1 - accept) / 8
    >>> bool(torch.allclose(implied, w / w.sum(), atol=1e-15, rtol=0))
    True
    """
    n_rows, width = scaled.shape
    accept = torch.ones(n_rows, width, dtype=torch.float64)
    alias = torch.arange(width).expand(n_rows, width).clone()
    if n_rows == 0 or width == 0:
        return accept, alias.to(torch.int32)
    scaled = scaled.to(torch.float64)
    heavy = (scaled >= 1) & valid
    # rounding may leave every entry of a row just below 1: its largest is a heavy
    heavy[torch.arange(n_rows), torch.where(valid, scaled, -1.0).argmax(1)] = True
    heavy &= valid
    light = valid & ~heavy
    if not light.any():
        return accept, alias.to(torch.int32)
    zero = torch.zeros((), dtype=torch.float64)
    # Row-wise cumulative demand D and surplus S over all columns: each is flat where the
    # other kind of bucket sits, so both are non-decreasing per row (a searchsorted needs
    # that; a heavy forced by rounding has its tiny negative surplus clamped to 0). The
    # first column where one exceeds a value is a column where it grew: a light for D,
    # a heavy for S.
    demand = torch.where(light, 1 - scaled, zero).cumsum(1)
    demand_start = torch.cat([torch.zeros(n_rows, 1, dtype=torch.float64), demand[:, :-1]], 1)
    surplus = torch.where(heavy, (scaled - 1).clamp_min(0), zero).cumsum(1)
    last_heavy = torch.where(heavy, torch.arange(width), -1).amax(1, keepdim=True)
    # A light is served by the first heavy whose surplus ends after its demand starts
    # (S_j > D_{i-1}); past the row's last heavy (rounding of the totals) by the last.
    server = torch.searchsorted(surplus, demand_start, right=True)
    server = torch.minimum(server, last_heavy)
    accept = torch.where(light, scaled, accept)
    alias = torch.where(light, server, alias)
    # A heavy (but the row's last) whose surplus ends strictly inside a light's demand,
    # D_{i-1} < S_j < D_i, keeps 1 − (D_i − S_j) and lends the rest to the next heavy.
    crossing = torch.searchsorted(demand, surplus, right=True).clamp_(max=width - 1)
    inside = heavy & (torch.arange(width) != last_heavy) & (demand_start.gather(1, crossing) < surplus) \
        & (demand.gather(1, crossing) > surplus)
    hu, hc = torch.nonzero(heavy, as_tuple=True)
    # row-major: the next heavy of a heavy that is not its row's last is the next entry
    next_heavy = torch.empty_like(alias)
    next_heavy[hu[:-1], hc[:-1]] = hc[1:]
    keep = (1 - (demand.gather(1, crossing) - surplus)).clamp_(0.0, 1.0)
    accept = torch.where(inside, keep, accept)
    alias = torch.where(inside, next_heavy, alias)
    return accept, alias.to(torch.int32)


def allowed_item_table(sampler: NegativeSampler, max_bytes: int, bytes_per_entry: int = 0):
    """Every user's allowed items, ``(n_users, n_items)``, each row's first ``c_u``
    entries in increasing order; ``None`` if it would exceed ``max_bytes`` (counting
    ``bytes_per_entry`` more per entry for tables the caller builds alongside).

    Returns ``(table, counts)`` with ``table`` int16 (or int32 for catalogues of 2¹⁵
    items or more) and ``counts`` the ``c_u``.
    """
    from .base import _exclusion_index

    n_users, n_items = sampler.n_users_, sampler.n_items_
    # The narrowest ids: a smaller table fits more catalogues and stays in cache, and
    # its random gathers are faster even with the conversion to int64 afterwards.
    dtype, itemsize = (torch.int16, 2) if n_items < 2**15 else (torch.int32, 4)
    if not sampler.exclude_positives or n_users * n_items * (itemsize + bytes_per_entry) > max_bytes:
        return None
    index = _exclusion_index(sampler)
    table = torch.empty(n_users, n_items, dtype=dtype)
    counts = torch.empty(n_users, dtype=torch.long)
    chunk = max(1, (1 << 22) // (n_items + 1))  # bounds the sort's temporary memory
    for start in range(0, n_users, chunk):
        users = torch.arange(start, min(start + chunk, n_users))
        excluded = index.rows(users)[:, 1:].to(torch.uint8)
        # A stable sort of the 0/1 "excluded" flags lists each user's allowed items
        # first, in increasing order; the tail (excluded items) is never read.
        table[start:start + len(users)] = (torch.sort(excluded, dim=1, stable=True).indices + 1).to(dtype)
        counts[start:start + len(users)] = n_items - excluded.sum(1)
    return table, counts


def _no_item_left(users: torch.Tensor, empty: torch.Tensor) -> RecnegError:
    user = int(users[empty][0])
    return RecnegError(
        f"user {user} has no item left to sample once their positives and the batch's targets "
        "are excluded; drop such users or pass exclude_positives=False"
    )


class ItemDistributionSampler(NegativeSampler):
    """Negatives from a fixed distribution over items, conditioned on the allowed ones.

    Every static sampler that ignores the batch is this one with its own weights
    ``w_j`` (uniform: ``w_j = 1``; popularity: ``w_j = c_j^α``): propose ``j`` with
    ``p(j) = w_j / Σ w`` and reject the user's training items and the row's targets.
    What comes out is ``p`` *conditioned* on the allowed items,
    ``log q(j | u) = log p(j) − log(1 − Σ_{i excluded} p(i))``, and that is the
    ``log_prob`` returned for logQ correction. The excluded mass of every user is summed
    once at fit time, so the correction costs one lookup per batch.

    Parameters
    ----------
    weights : array-like of shape (n_items + 1,), optional
        Non-negative item weights (entry 0, padding, is ignored). Subclasses compute
        their own from the training split instead.
    exclude_positives : bool, default True
        Never return the user's training items or the batch's targets.
    random_state : int, torch.Generator or None

    Attributes
    ----------
    probs_ : float64 Tensor, shape (n_items + 1,)
        ``p(j)``, 0 for padding.
    zero_probability_items_ : int
        How many real items (``1..n_items``) have weight 0 and so are never drawn. When
        it is positive, :meth:`fit` warns (one :class:`UserWarning`): a model never
        shown those items as negatives has no reason to score them down.

    Notes
    -----
    Negatives are drawn *with replacement*, so ``k`` may exceed the number of items a
    user may receive; only a user with no allowed item at all is an error (at fit time).

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 3]), np.arange(3), n_users=2, n_items=4)
    >>> s = ItemDistributionSampler(weights=[0, 1, 1, 1, 5], random_state=0).fit(train)
    >>> neg = s.sample(torch.tensor([0]), torch.tensor([1]), 3)
    >>> set(neg.items.flatten().tolist()) <= {3, 4}   # items 1 and 2 are user 0's positives
    True
    >>> s.conditional_log_prob(torch.tensor([0]), torch.tensor([[3, 4]]), torch.zeros(1, 0, dtype=torch.long)).exp()
    tensor([[0.1667, 0.8333]], dtype=torch.float64)
    """

    subfamily = "popularity-based"
    variant = "any fixed item distribution"

    def __init__(self, weights=None, *, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.weights = weights

    def item_weights(self, train: Interactions) -> torch.Tensor:
        """Unnormalised item weights, shape ``(n_items + 1,)``."""
        if self.weights is None:
            raise RecnegError("ItemDistributionSampler needs weights=...; or use UniformSampler/PopularitySampler")
        weights = torch.as_tensor(self.weights, dtype=torch.float64)
        if weights.shape != (train.n_items + 1,):
            raise RecnegError(
                f"weights must have n_items + 1 = {train.n_items + 1} entries (index 0 is padding), "
                f"got shape {tuple(weights.shape)}"
            )
        return weights

    def _fit(self, train: Interactions) -> None:
        weights = _validate_weights(self.item_weights(train), type(self).__name__)
        self.zero_probability_items_ = int((weights[1:] == 0).sum())
        if self.zero_probability_items_:
            # stacklevel 3: the caller of NegativeSampler.fit, which calls this hook
            warnings.warn(self._zero_probability_message(self.zero_probability_items_), UserWarning,
                          stacklevel=3)
        self.probs_ = weights / weights.sum()
        self.log_probs_ = self.probs_.log()
        self.accept_, self.alias_ = alias_table(self.probs_)
        # The probability mass each user's training items take away from the proposal,
        # so that log q(j | u) = log p(j) - log(1 - mass_u) costs one lookup per batch.
        self.user_mass_ = user_mass(self, self.probs_)
        if self.exclude_positives:
            left = 1.0 - self.user_mass_
            if (left <= 1e-12).any():
                user = int(torch.nonzero(left <= 1e-12)[0])
                raise RecnegError(
                    f"user {user} has interacted with every item this sampler can draw (all items "
                    "with a positive weight); drop such users, smooth the weights, or pass "
                    "exclude_positives=False"
                )
        self.user_log_norm_ = (1.0 - self.user_mass_).clamp_min(1e-300).log() if self.exclude_positives \
            else torch.zeros(self.n_users_, dtype=torch.float64)
        self._fit_user_tables()

    def _zero_probability_message(self, n_zero: int) -> str:
        """The one-line warning of :meth:`fit` for ``n_zero`` items of weight 0."""
        return (f"{type(self).__name__} gives probability 0 to {n_zero} of the {self.n_items_} items (weight 0): "
                "they are never drawn as negatives, so a model may keep their initial scores high; "
                "give every item a positive weight")

    #: Build per-user alias tables over each user's allowed items when they fit.
    per_user_tables = True

    def _fit_user_tables(self) -> None:
        """Per-user alias tables over the allowed items: exact draws, no rejection.

        Rejection from the global proposal costs ``1 / acceptance`` draws per negative,
        and popular items, the likeliest proposals, are the likeliest to be a user's
        positives (on ML-100K with α = 1, 30 % of proposals are rejected on average).
        When the tables fit in :data:`ALLOWED_TABLE_BYTES` (ML-100K: 22 MB), each user
        gets the alias table of ``p`` restricted to their allowed items instead.
        """
        self.user_alias_ = None
        built = allowed_item_table(self, ALLOWED_TABLE_BYTES, bytes_per_entry=12) \
            if self.per_user_tables else None
        if built is None:
            return
        table, counts = built
        n_items = self.n_items_
        weights = self.probs_.index_select(0, table.reshape(-1).long()).reshape(table.shape)
        valid = torch.arange(n_items) < counts.unsqueeze(1)
        weights = torch.where(valid, weights, 0.0)
        scaled = weights * (counts.unsqueeze(1) / weights.sum(1, keepdim=True))
        accept, alias = batched_alias_tables(scaled, valid)
        self._keep_allowed_table(table, counts)
        self.user_accept_ = accept.reshape(-1)
        self.user_alias_ = alias.reshape(-1)

    def _keep_allowed_table(self, table: torch.Tensor, counts: torch.Tensor) -> None:
        """Store :func:`allowed_item_table`'s output flat, with each user's row offset."""
        self.allowed_ = table.reshape(-1)
        self.allowed_count_ = counts
        self.row_offset_ = torch.arange(self.n_users_) * self.n_items_

    def _draw_from_user_tables(self, users: torch.Tensor, shape: tuple[int, ...],
                               generator: torch.Generator) -> torch.Tensor:
        """Exact draws of ``shape`` from each row's user alias table (one double each:
        ``⌊u · c⌋`` is the bucket, the fraction the coin, as in :meth:`_draw`)."""
        view = users.shape + (1,) * (len(shape) - 1)
        counts = self.allowed_count_.index_select(0, users).reshape(view)
        x = torch.rand(shape, generator=generator, dtype=torch.float64).mul_(counts)
        bucket = torch.minimum(x.long(), counts - 1)
        coin = x.sub_(bucket)
        offset = self.row_offset_.index_select(0, users).reshape(view)
        slot = (bucket + offset).reshape(-1)
        position = torch.where(coin.reshape(-1) < self.user_accept_.index_select(0, slot), slot,
                               self.user_alias_.index_select(0, slot).long() + offset.expand(shape).reshape(-1))
        return self.allowed_.index_select(0, position).reshape(shape).long()

    def _draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` independent draws from the unconditioned distribution (alias method).

        One double ``u`` gives both the bucket and the coin: with ``x = u · (n + 1)``,
        ``⌊x⌋`` is uniform over the buckets and the fraction ``x − ⌊x⌋`` is uniform on
        [0, 1) and independent of it, to about 42 bits for a catalogue of 2¹¹ items.
        """
        x = torch.rand(n, generator=generator, dtype=torch.float64).mul_(self.n_items_ + 1)
        bucket = x.long().clamp_(max=self.n_items_)  # the clamp guards against rounding up
        coin = x.sub_(bucket)
        return torch.where(coin < self.accept_.index_select(0, bucket), bucket, self.alias_.index_select(0, bucket))

    def log_norm(self, users: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """``log(1 − Σ_{excluded} p)`` per row, shape ``(B,)``: the log of the mass left
        once the user's training items and the row's extra targets are removed."""
        if not self.exclude_positives or extra.shape[1] == 0:
            return self.user_log_norm_[users]  # the usual case: precomputed at fit time
        left = 1.0 - self.user_mass_[users] - excluded_extra_mass(extra, self.probs_)
        return left.clamp_min(1e-300).log()

    def conditional_log_prob(self, users: torch.Tensor, items: torch.Tensor, extra: torch.Tensor,
                             *, mask_excluded: bool = True) -> torch.Tensor:
        """``log q(item | row)`` under exclusion, float64, shaped like ``items``.

        ``extra`` is ``recneg.samplers.base.extra_targets(...)`` of the batch. Excluded
        items get ``-inf``; ``mask_excluded=False`` skips that test for items known to
        be allowed (the sampler's own draws).
        """
        norm = self.log_norm(users, extra).reshape(users.shape + (1,) * (items.dim() - 1))
        log_prob = self.log_probs_.index_select(0, items.reshape(-1)).reshape(items.shape) - norm
        if mask_excluded:
            log_prob = log_prob.masked_fill(is_excluded(self, users, None, items, extra=extra), -math.inf)
        return log_prob

    def _draw_allowed(self, users, positives, shape, generator, extra=None) -> torch.Tensor:
        """Draws of ``shape`` from the conditional distribution of every row."""
        extra = extra_targets(self, users, positives) if extra is None else extra
        items, empty = draw_excluding(self, users, positives, shape, lambda n: self._draw(n, generator),
                                      self.probs_, generator, extra=extra,
                                      acceptance=self.log_norm(users, extra).exp())
        if empty.any():
            raise _no_item_left(users, empty)
        return items

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        extra = extra_targets(self, users, positives)
        shape = output_shape(positives, k, per_position)
        if self.__dict__.get("user_alias_") is not None and extra.shape[1] == 0:
            items = self._draw_from_user_tables(users, shape, generator)
        else:
            items = self._draw_allowed(users, positives, shape, generator, extra)
        return NegativeSample(items, self.conditional_log_prob(users, items, extra, mask_excluded=False).float())


class UniformSampler(ItemDistributionSampler):
    """Uniform negatives: every item the user has not interacted with is equally likely.

    The sampler of BPR (Rendle et al., 2009) and NCF. With ``exclude_positives`` it samples
    exactly ``q(j | u) = 1 / (N − |I_u⁺|)`` over the allowed items. When the table fits
    in :data:`ALLOWED_TABLE_BYTES`, :meth:`fit` lists each user's allowed items in a row
    of an ``(n_users, N)`` table, and a draw is one random 31-bit integer ``x`` mapped to
    position ``⌊x · c_u / 2³¹⌋`` of the user's ``c_u`` allowed items — no rejection and
    no redraw, about the cost of :func:`torch.randint` itself (whose own range reduction
    has a granularity of the same order). Larger catalogues, and batches whose targets
    are not training items, use the rejection route of :class:`ItemDistributionSampler`.
    It ignores scores and popularity; with ``exclude_positives=False`` it is the plain
    uniform distribution over all items.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 0]), np.array([1, 2]), np.arange(2), n_users=1, n_items=4)
    >>> neg = UniformSampler(random_state=0).fit(train).sample(torch.tensor([0]), torch.tensor([1]), 4)
    >>> set(neg.items.flatten().tolist()) <= {3, 4}
    True
    >>> float(neg.log_prob[0, 0].exp())  # 1 / (4 - 2)
    0.5
    """

    subfamily = "uniform"
    variant = ""

    def __init__(self, *, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)

    def item_weights(self, train: Interactions) -> torch.Tensor:
        weights = torch.ones(train.n_items + 1, dtype=torch.float64)
        weights[0] = 0.0
        return weights

    def _draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(1, self.n_items_ + 1, (n,), generator=generator)

    per_user_tables = False  # uniform needs no alias: every allowed item weighs the same

    def _fit(self, train: Interactions) -> None:
        super()._fit(train)
        self.allowed_ = None
        built = allowed_item_table(self, ALLOWED_TABLE_BYTES)
        if built is None:
            return
        table, counts = built
        self._keep_allowed_table(table, counts)
        self.allowed_log_q_ = -counts.to(torch.float64).log().to(torch.float32)

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        extra = extra_targets(self, users, positives) if self.allowed_ is not None else None
        if extra is None or extra.shape[1]:
            return super()._sample(users, positives, k, per_position=per_position, scorer=scorer,
                                   generator=generator)
        shape = output_shape(positives, k, per_position)
        view = users.shape + (1,) * (len(shape) - 1)
        # Lemire's multiply-shift maps a 31-bit draw x to floor(x * c_u / 2^31) in
        # 0..c_u-1 without a division. random_() on int32 fills [0, 2^31) on torch's fast
        # 32-bit path (randint with a range above 2^24 takes a slower one).
        # The intermediates live in buffers kept between batches of the same shape: at
        # this size fresh allocations (page faults) would cost as much as the arithmetic.
        bits, position = self._scratch(shape)
        bits.random_(generator=generator)
        torch.mul(bits, self.allowed_count_.index_select(0, users).reshape(view), out=position)
        position.bitwise_right_shift_(31).add_(self.row_offset_.index_select(0, users).reshape(view))
        items = self.allowed_.index_select(0, position.reshape(-1)).reshape(shape)
        if items.dtype != torch.long:
            items = items.long()
        log_prob = self.allowed_log_q_.index_select(0, users).reshape(view).expand(shape).contiguous()
        return NegativeSample(items, log_prob)

    def _scratch(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """Reusable int32 draw and int64 position buffers for batches of ``shape``."""
        cached = self.__dict__.get("_scratch_buffers")
        if cached is None or cached[0].shape != shape:
            cached = self._scratch_buffers = (torch.empty(shape, dtype=torch.int32),
                                              torch.empty(shape, dtype=torch.long))
        return cached

    def conditional_log_prob(self, users, items, extra, *, mask_excluded: bool = True) -> torch.Tensor:
        # Constant within a row, -log(number of allowed items): no per-item lookup needed.
        row = -math.log(self.n_items_) - self.log_norm(users, extra)
        log_prob = row.reshape(users.shape + (1,) * (items.dim() - 1)).expand(items.shape)
        if mask_excluded:
            log_prob = log_prob.masked_fill(is_excluded(self, users, None, items, extra=extra), -math.inf)
        return log_prob


class PopularitySampler(ItemDistributionSampler):
    """Popularity negatives: ``q(j) ∝ c_j^α`` with ``c_j`` the item's training count.

    word2vec (Mikolov et al., 2013) sampled negative words in proportion to count^0.75;
    recommendation adopted the idea to show the model popular items the user skipped
    (Rendle & Freudenthaler, 2014). α = 0 is uniform over the catalogue, α = 1 is
    proportional to popularity, values in between flatten it. Counts come from the
    training split passed to :meth:`fit` — never from validation or test data. With
    α > 0 an item never seen in training has weight 0 unless ``smoothing`` adds a
    pseudo-count.

    Parameters
    ----------
    alpha : float, default 0.75
        Exponent of the counts, >= 0.
    smoothing : float, default 0.0
        Pseudo-count added to every item's count before the exponent; ``smoothing=1.0``
        gives every item a positive probability.

    Attributes
    ----------
    probs_ : float64 Tensor, shape (n_items + 1,)
    zero_probability_items_ : int
        Items of probability 0: with α > 0 and no smoothing, those never seen in
        training. :meth:`fit` warns when there are any.

    Notes
    -----
    **Items of probability 0 are not harmless.** An item that is never a training
    positive and never a drawn negative receives no gradient: it keeps its initial
    score, which can be higher than the scores training has pushed down for every other
    item the user has not interacted with. On ML-100K (temporal split), with
    ``PopularitySampler(alpha=0.75)`` and no smoothing, 45 such items took 73 % of the
    top-10 slots at evaluation; ``smoothing=1.0`` fixed it. Hence the warning.

    The default stays ``smoothing=0.0``, so that ``PopularitySampler(alpha)`` is the
    ``c_j^α`` of word2vec and of the rest of recneg: the Spark and in-memory
    ``method="popularity"`` samplers (``recneg.scale.spark``, ``recneg.scale.memory``) draw
    from ``c_j^α`` and are tested against this sampler, and the static chapter's
    exercise asks for ``c_j^{0.75}`` over the items with count > 0. Pass
    ``smoothing=1.0`` when the model is trained on these negatives alone.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 1, 1, 2]), np.array([1, 1, 2, 1]), np.arange(4), n_users=3, n_items=3)
    >>> s = PopularitySampler(alpha=1.0, smoothing=1.0, exclude_positives=False).fit(train)
    >>> [round(q, 4) for q in s.probs_[1:].tolist()]  # counts 3, 1, 0 plus one each: 4/7, 2/7, 1/7
    [0.5714, 0.2857, 0.1429]
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     plain = PopularitySampler(alpha=1.0, exclude_positives=False).fit(train)
    >>> plain.probs_[1:].tolist(), plain.zero_probability_items_
    ([0.75, 0.25, 0.0], 1)
    >>> print(caught[0].message)
    PopularitySampler(alpha=1) gives probability 0 to 1 of the 3 items (never seen in training): they are never drawn as negatives, so a model may keep their initial scores high; pass smoothing=1.0 to give every item a pseudo-count
    """

    subfamily = "popularity-based"
    variant = ""

    def __init__(self, alpha: float = 0.75, *, smoothing: float = 0.0, exclude_positives: bool = True,
                 random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        alpha = float(alpha)
        if not math.isfinite(alpha) or alpha < 0:
            raise RecnegError(f"alpha must be a finite number >= 0, got {alpha}")
        smoothing = float(smoothing)
        if not math.isfinite(smoothing) or smoothing < 0:
            raise RecnegError(f"smoothing must be a finite number >= 0, got {smoothing}")
        self.alpha = alpha
        self.smoothing = smoothing

    def item_weights(self, train: Interactions) -> torch.Tensor:
        counts = torch.as_tensor(train.item_counts(), dtype=torch.float64) + self.smoothing
        weights = counts.pow(self.alpha)
        if self.alpha > 0:
            weights[counts == 0] = 0.0  # 0 ** alpha, made explicit
        return weights

    def _zero_probability_message(self, n_zero: int) -> str:
        return (f"PopularitySampler(alpha={self.alpha:g}) gives probability 0 to {n_zero} of the "
                f"{self.n_items_} items (never seen in training): they are never drawn as negatives, so a "
                "model may keep their initial scores high; pass smoothing=1.0 to give every item a pseudo-count")

    @property
    def name(self) -> str:
        return f"popularity(alpha={self.alpha:g})"


class InBatchSampler(NegativeSampler):
    """In-batch negatives: the other positives of the same batch.

    Two-tower retrieval models score the batch's positives anyway, so using them as
    each other's negatives costs nothing extra. Pooling the batch's non-padding targets
    and drawing from the pool samples an item in proportion to its frequency *in the
    batch* — popularity sampling for free, ``q(j | batch) = c_j / Σ_i c_i`` — and
    ``log_prob`` returns exactly that, conditioned on the row's allowed items when
    positives are excluded. A row for which every pooled item is excluded (say, a batch
    of one user) gets uniform negatives instead, with the uniform ``log_prob``.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 1, 2]), np.array([1, 2, 3]), np.arange(3), n_users=3, n_items=5)
    >>> s = InBatchSampler(random_state=0).fit(train)
    >>> neg = s.sample(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3]), 4)
    >>> set(neg.items.flatten().tolist()) <= {1, 2, 3}   # only items of the batch
    True
    >>> float(neg.log_prob[0, 0].exp())   # user 0 may get 2 or 3, each once in the batch
    0.5
    """

    subfamily = "popularity-based"
    variant = "in-batch"

    def __init__(self, *, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)

    def _fit(self, train: Interactions) -> None:
        self.fallback_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def _batch_counts(self, positives: torch.Tensor) -> torch.Tensor:
        pool = positives[positives > 0]
        if len(pool) == 0:
            raise RecnegError("the batch has no positive items (all padding); in-batch sampling needs at least one")
        return torch.bincount(pool, minlength=self.n_items_ + 1).double()

    def _allowed_total(self, users, counts, extra) -> torch.Tensor:
        """Pooled count each row may draw from, ``(B,)``."""
        total = counts.sum().expand(len(users))
        if self.exclude_positives:
            total = total - batch_user_mass(self, users, counts) - excluded_extra_mass(extra, counts)
        return total

    def batch_log_prob(self, users: torch.Tensor, positives: torch.Tensor, items: torch.Tensor,
                       extra: torch.Tensor | None = None, *, mask_excluded: bool = True) -> torch.Tensor:
        """``log q(item | row, batch)`` (float64) for any ``items`` shaped ``(B, ...)``.

        ``-inf`` for items outside the row's allowed part of the pool; rows with no
        allowed pooled item use the uniform fallback's probabilities.
        ``mask_excluded=False`` skips the exclusion test for items known to be allowed.
        """
        extra = extra_targets(self, users, positives) if extra is None else extra
        counts = self._batch_counts(positives)
        total = self._allowed_total(users, counts, extra)
        view = users.shape + (1,) * (items.dim() - 1)
        log_prob = counts[items].log() - total.clamp_min(1e-300).log().reshape(view)
        empty = total <= 0.5
        if empty.any():
            uniform = self.fallback_.conditional_log_prob(users, items, extra, mask_excluded=False)
            log_prob = torch.where(empty.reshape(view), uniform, log_prob)
        if mask_excluded:
            log_prob = log_prob.masked_fill(is_excluded(self, users, None, items, extra=extra), -math.inf)
        return log_prob

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        extra = extra_targets(self, users, positives)
        counts = self._batch_counts(positives)
        pool = positives[positives > 0]
        items, empty = draw_excluding(
            self, users, positives, shape,
            lambda n: pool[torch.randint(len(pool), (n,), generator=generator)], counts, generator, extra=extra,
            acceptance=self._allowed_total(users, counts, extra) / counts.sum(),
        )
        if empty.any():
            rows = torch.nonzero(empty).flatten()
            items[rows] = self.fallback_._draw_allowed(users[rows], positives[rows], (len(rows),) + shape[1:],
                                                       generator, extra[rows])
        return NegativeSample(items, self.batch_log_prob(users, positives, items, extra, mask_excluded=False).float())


class MixedSampler(NegativeSampler):
    """Mixed negatives: some from the batch, the rest from a global sampler.

    In-batch negatives are popular items only: a tail item that is rarely anyone's
    positive is rarely anyone's negative either. Mixed negative sampling (Yang et al.,
    WWW 2020) adds items drawn from a global distribution — uniform by default — so
    the tail is seen too. Of ``k`` negatives ``k_b`` come from the batch and ``k − k_b``
    from ``base``. Every slot is then a draw from the mixture
    ``q(j) = (k_b/k)·q_batch(j) + (1 − k_b/k)·q_base(j)``, whose log is ``log_prob``
    (the logQ correction of the MNS paper).

    Parameters
    ----------
    in_batch_fraction : float, default 0.5
        Share of the negatives drawn from the batch, in [0, 1]; ``k_b = round(f·k)``. A
        fraction strictly between 0 and 1 that rounds to none or all of ``k`` draws no mix
        (with one negative per position, "mixed" is uniform or in-batch), and warns once.
    n_in_batch : int, optional
        The number of in-batch negatives itself (at most ``k``); overrides the fraction.
    base : ItemDistributionSampler, optional
        The global sampler (uniform or popularity); :class:`UniformSampler` if omitted.
        It is copied, and takes this sampler's ``exclude_positives``.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 1]), np.array([1, 2]), np.arange(2), n_users=2, n_items=6)
    >>> s = MixedSampler(n_in_batch=1, random_state=0).fit(train)
    >>> neg = s.sample(torch.tensor([0, 1]), torch.tensor([1, 2]), 4)
    >>> neg.items[:, 0].tolist()          # the in-batch slot: each user gets the other's item
    [2, 1]
    >>> round(float(neg.log_prob[0, 0].exp()), 4)   # 1/4 · 1 + 3/4 · 1/5
    0.4
    """

    family = "dynamic"
    subfamily = "mixed DNS"
    variant = "in-batch + uniform (MNS)"

    def __init__(self, in_batch_fraction: float = 0.5, base: ItemDistributionSampler | None = None, *,
                 n_in_batch: int | None = None, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.in_batch_fraction = check_probability("in_batch_fraction", in_batch_fraction)
        self.n_in_batch = None if n_in_batch is None else check_positive_int("n_in_batch", n_in_batch, allow_zero=True)
        if base is not None and not isinstance(base, ItemDistributionSampler):
            raise RecnegError(
                f"base must be an ItemDistributionSampler such as UniformSampler() or PopularitySampler(), "
                f"got {type(base).__name__}"
            )
        self.base = base

    def _fit(self, train: Interactions) -> None:
        base = clone_component(self.base) if self.base is not None else UniformSampler()
        base.exclude_positives = self.exclude_positives
        self.base_ = base.fit(train)
        self.in_batch_ = InBatchSampler(exclude_positives=self.exclude_positives).fit(train)

    def split(self, k: int) -> tuple[int, int]:
        """``(k_batch, k_base)`` for ``k`` negatives."""
        if self.n_in_batch is None:
            k_batch = int(round(self.in_batch_fraction * k))
            if 0 < self.in_batch_fraction < 1 and k_batch in (0, k) and not self.__dict__.get("_warned_"):
                # round() silently turns "mixed" into pure uniform or pure in-batch: say so once
                self._warned_ = True
                warnings.warn(
                    f"MixedSampler: in_batch_fraction={self.in_batch_fraction:g} of num_negatives={k} rounds "
                    f"to {k_batch} in-batch negatives, which is not a mix; draw at least "
                    f"{math.ceil(1 / min(self.in_batch_fraction, 1 - self.in_batch_fraction))} negatives "
                    "or pass n_in_batch", stacklevel=4)
        elif self.n_in_batch > k:
            raise RecnegError(f"n_in_batch={self.n_in_batch} exceeds num_negatives={k}; lower n_in_batch")
        else:
            k_batch = self.n_in_batch
        return k_batch, k - k_batch

    def mixture_log_prob(self, users, positives, items, k: int, extra=None, *, mask_excluded: bool = True) -> torch.Tensor:
        """``log q(item | row)`` (float64) under the mixture used for ``k`` negatives;
        ``-inf`` for excluded items unless ``mask_excluded=False``."""
        extra = extra_targets(self, users, positives) if extra is None else extra
        k_batch, k_base = self.split(k)
        q = torch.zeros(items.shape, dtype=torch.float64)
        if k_batch:
            q = q + (k_batch / k) * self.in_batch_.batch_log_prob(users, positives, items, extra,
                                                                  mask_excluded=False).exp()
        if k_base:
            q = q + (k_base / k) * self.base_.conditional_log_prob(users, items, extra, mask_excluded=False).exp()
        log_q = q.log()
        if mask_excluded:
            log_q = log_q.masked_fill(is_excluded(self, users, None, items, extra=extra), -math.inf)
        return log_q

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        k_batch, k_base = self.split(k)
        extra = extra_targets(self, users, positives)
        parts = []
        if k_batch:
            parts.append(self.in_batch_._sample(users, positives, k_batch, per_position=per_position,
                                                scorer=None, generator=generator).items)
        if k_base:
            shape = output_shape(positives, k_base, per_position)
            parts.append(self.base_._draw_allowed(users, positives, shape, generator, extra))
        items = torch.cat(parts, dim=-1)
        return NegativeSample(items, self.mixture_log_prob(users, positives, items, k, extra, mask_excluded=False).float())


from .registry import register_sampler  # noqa: E402  (registration needs the classes above)

register_sampler("uniform", UniformSampler)
register_sampler("popularity", PopularitySampler)
register_sampler("in-batch", InBatchSampler)
register_sampler("mixed", MixedSampler)
