"""Streaming negative pools: weighted reservoirs of candidate negatives.

In production the catalogue and its popularity move while a model serves; a pool of
candidate negatives has to follow the stream of interactions without storing it. A
*weighted reservoir* keeps ``m`` items at all times and is exactly a weighted sample
without replacement of everything seen so far.

A-Res (Efraimidis & Spirakis, 2006)
    Give every arriving element ``i`` of weight ``w_i`` the key ``k_i = u_i^(1/w_i)``
    with ``u_i`` uniform on (0, 1), and keep the ``m`` largest keys. The kept set is
    distributed as ``m`` successive draws without replacement, each proportional to
    weight among the items not yet drawn. Since ``log k_i = −E_i / w_i`` with
    ``E_i = −log u_i`` exponential, "largest ``k``" is "smallest ``E_i / w_i``", and we
    store ``log(E_i / w_i) = log E_i − log w_i`` (the *rank key*, smaller is better),
    which neither underflows for tiny weights nor overflows for huge ones.

Repeated items
    An item that appears several times keeps the smallest of its rank keys. The minimum
    of independent ``E_a / w_a`` and ``E_b / w_b`` is exponential with rate
    ``w_a + w_b``, so the pool is A-Res over *distinct* items, each weighted by the sum
    of its occurrences' weights: a stream of interactions with weight 1 each gives a
    popularity-weighted pool. An item that fell out of the pool had a key above the
    pool's threshold, which only ever decreases, so a reappearance is decided by its new
    key alone and nothing but the pool has to be stored.

Time decay (forward decay, Cormode et al., ICDE 2009)
    With decay rate ``λ`` an occurrence at time ``t_i`` weighs ``w_i·exp(−λ(T − t_i))``
    at a later time ``T``. A-Res at time ``T`` keeps the smallest
    ``E_i / (w_i e^{−λ(T − t_i)}) = e^{λT} · E_i / (w_i e^{λ t_i})``; the factor
    ``e^{λT}`` is common to all keys, so the *order* is that of ``E_i / w'_i`` with
    ``w'_i = w_i·e^{λ t_i}``, a weight that grows with arrival time and never changes
    afterwards: in A-Res terms the log key is ``log(u_i) / w'_i``, fixed on arrival, and
    the pool is A-Res on the decayed weights at every ``T`` after the last arrival.
    Written directly, ``e^{λt}`` overflows float64 once ``λt > 709`` (with a decay of
    one per day, Unix timestamps are already some 19,700 days past their origin). In the
    rank key it is the additive term ``−λ(t − L)`` against a *landmark* ``L``:
    subtracting the same ``λL`` from every key changes no order, and when ``λ(t − L)``
    exceeds :data:`RESCALE_AT` the landmark moves to ``t`` and every stored key gains
    ``λ·(t − L_old)`` (the rescaling step). Keys stay of order one, where float64
    resolves the differences that decide the order.

Every update is vectorised over the chunk it receives (three stable sorts over the
pool's touched rows and the chunk); no Python code runs per item.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._errors import RecnegError, check_finite, check_positive_int
from ..data import Interactions
from ..samplers import NegativeSample, NegativeSampler, make_generator
from ..samplers.base import is_excluded, output_shape

__all__ = ["RESCALE_AT", "WeightedReservoir", "UserReservoir", "StreamingPoolSampler"]

#: ``λ·(t − landmark)`` beyond which the landmark moves forward: keys stay within a few
#: dozen of zero, so float64 keeps about 13 significant digits for their differences.
RESCALE_AT = 32.0


def _as_vector(name: str, values, dtype: torch.dtype) -> torch.Tensor:
    """``values`` as a 1-d tensor of ``dtype`` (numpy arrays, lists and tensors)."""
    if isinstance(values, torch.Tensor):
        tensor = values.detach().to("cpu")
    else:
        tensor = torch.as_tensor(np.asarray(values))
    if tensor.dim() != 1:
        raise RecnegError(f"{name} must be one-dimensional, got shape {tuple(tensor.shape)}")
    if dtype == torch.long and tensor.is_floating_point():
        if not bool(torch.all(tensor == tensor.round())):
            raise RecnegError(f"{name} must hold integer ids, got {tensor[tensor != tensor.round()][0].item()}")
    return tensor.to(dtype)


def _check_weights(weights: torch.Tensor, name: str = "weights") -> None:
    """Weights must be finite and non-negative (0 means "never admit")."""
    bad = torch.isnan(weights) | torch.isinf(weights) | (weights < 0)
    if bool(bad.any()):
        at = int(torch.nonzero(bad)[0])
        raise RecnegError(f"{name}[{at}] is {weights[at].item()}; pass finite, non-negative weights")


class _ReservoirTable:
    """Rows of A-Res reservoirs kept as dense ``(n_rows, capacity)`` tables.

    Row ``r`` holds its members in ``items_[r]`` ordered by rank key (best first) and
    padded with item 0; ``keys_[r]`` holds their rank keys ``log(E/w') + λL`` (``+inf``
    for empty slots). See the module docstring for the derivation.
    """

    def __init__(self, capacity: int, n_rows: int, *, decay: float = 0.0, random_state=None) -> None:
        self.capacity = check_positive_int("capacity", capacity)
        self.decay = check_finite("decay", decay, positive=True, allow_zero=True)
        self.random_state = random_state
        self._n_rows = n_rows
        self._generator = make_generator(random_state)
        self.reset()

    def reset(self) -> None:
        """Empty every row; the next update starts a new stream."""
        self.items_ = torch.zeros(self._n_rows, self.capacity, dtype=torch.long)
        self.keys_ = torch.full((self._n_rows, self.capacity), math.inf, dtype=torch.float64)
        self.landmark_: float | None = None
        self.n_seen_ = 0

    @property
    def sizes_(self) -> torch.Tensor:
        """Members per row, shape ``(n_rows,)``."""
        return (self.items_ > 0).sum(1)

    def _validated(self, rows, items, weights, times):
        items = _as_vector("items", items, torch.long)
        n = len(items)
        weights = torch.ones(n, dtype=torch.float64) if weights is None else _as_vector("weights", weights,
                                                                                          torch.float64)
        if times is None:
            if self.decay > 0:
                raise RecnegError(f"a reservoir with decay={self.decay:g} needs times=...; pass the "
                                  "arrival times of the chunk")
            times = torch.zeros(n, dtype=torch.float64)
        else:
            times = _as_vector("times", times, torch.float64)
        if len(weights) != n or len(times) != n or len(rows) != n:
            raise RecnegError(f"items ({n}), weights ({len(weights)}), times ({len(times)}) and users "
                              f"({len(rows)}) must have equal length")
        if n and int(items.min()) < 1:
            raise RecnegError(f"item id {int(items[items < 1][0])} is below 1 (0 is padding); pass real item ids")
        _check_weights(weights)
        if not bool(torch.isfinite(times).all()):
            raise RecnegError(f"times[{int(torch.nonzero(~torch.isfinite(times))[0])}] is not finite; "
                              "pass finite arrival times")
        return items, weights, times

    def _rank_keys(self, weights: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Rank keys of a chunk, drawn in arrival order; moves the landmark if needed."""
        exponential = torch.empty(len(weights), dtype=torch.float64).exponential_(generator=self._generator)
        if self.decay > 0 and len(times):
            latest = float(times.max())
            if self.landmark_ is None:
                self.landmark_ = latest
            elif self.decay * (latest - self.landmark_) > RESCALE_AT:
                # Moving the landmark adds the same amount to every stored key: no order
                # changes, and the keys of the members return to the order of one.
                self.keys_ += self.decay * (latest - self.landmark_)
                self.landmark_ = latest
        # A weight of 0 gives the key +inf: never admitted, since only keys below a
        # threshold (+inf for a row that is not full) enter.
        keys = exponential.log() - weights.log()
        if self.decay > 0:
            keys = keys - self.decay * (times - self.landmark_)
        return keys

    def _update_rows(self, rows: torch.Tensor, items, weights, times) -> None:
        items, weights, times = self._validated(rows, items, weights, times)
        self.n_seen_ += len(items)
        keys = self._rank_keys(weights, times)
        # A key at or above a full row's threshold can neither enter the row nor lower
        # the key of a member (a member's key is below the threshold already).
        threshold = torch.where(self.items_[:, -1] > 0, self.keys_[:, -1], math.inf)
        keep = keys < threshold[rows]
        if bool(keep.any()):
            self._merge(rows[keep], items[keep], keys[keep])

    def _merge(self, rows: torch.Tensor, items: torch.Tensor, keys: torch.Tensor) -> None:
        """Merge candidates into their rows: per (row, item) the smallest key, per row
        the ``capacity`` smallest."""
        touched = torch.unique(rows)
        members = self.items_[touched]
        present = members > 0
        rows = torch.cat([touched.unsqueeze(1).expand_as(members)[present], rows])
        items = torch.cat([members[present], items])
        keys = torch.cat([self.keys_[touched][present], keys])
        # Sort by (row, item, key) with three stable sorts, last key first.
        order = torch.sort(keys, stable=True).indices
        order = order[torch.sort(items[order], stable=True).indices]
        order = order[torch.sort(rows[order], stable=True).indices]
        rows, items, keys = rows[order], items[order], keys[order]
        first = torch.ones(len(rows), dtype=torch.bool)
        first[1:] = (rows[1:] != rows[:-1]) | (items[1:] != items[:-1])
        rows, items, keys = rows[first], items[first], keys[first]
        # Then by (row, key): each row's members in rank order.
        order = torch.sort(keys, stable=True).indices
        order = order[torch.sort(rows[order], stable=True).indices]
        rows, items, keys = rows[order], items[order], keys[order]
        position = torch.arange(len(rows))
        starts = torch.ones(len(rows), dtype=torch.bool)
        starts[1:] = rows[1:] != rows[:-1]
        rank = position - torch.cummax(torch.where(starts, position, 0), 0).values
        keep = rank < self.capacity
        self.items_[touched] = 0
        self.keys_[touched] = math.inf
        self.items_[rows[keep], rank[keep]] = items[keep]
        self.keys_[rows[keep], rank[keep]] = keys[keep]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(capacity={self.capacity}, decay={self.decay:g}, "
                f"seen={self.n_seen_}, random_state={self.random_state!r})")


class WeightedReservoir(_ReservoirTable):
    """A weighted pool of at most ``capacity`` distinct items over a stream (A-Res).

    After any sequence of :meth:`update` calls the pool is distributed exactly as
    ``capacity`` successive draws without replacement from the distinct items seen,
    each drawn with probability proportional to its weight among those not yet drawn;
    an item's weight is the sum of its occurrences' weights, decayed by
    ``exp(−decay · (T − t))`` when ``decay > 0`` (``T`` any time after the last arrival).
    How the stream is cut into chunks does not change the distribution; as keys are
    drawn in arrival order from one generator, with torch's CPU generator it does not
    change the pool either.

    Parameters
    ----------
    capacity : int
        Pool size ``m``.
    decay : float, default 0
        Decay rate ``λ`` per time unit (0: no decay; the half-life is ``log 2 / λ``).
    random_state : int, torch.Generator or None

    Attributes
    ----------
    items_ : LongTensor, shape (1, capacity)
        Members, best rank key first, padded with 0.
    keys_ : float64 Tensor, shape (1, capacity)
        Rank keys ``log(E / w')`` relative to the landmark (smaller is better).
    landmark_ : float or None
        Reference time of the keys (decayed pools only).
    n_seen_ : int
        Stream elements received.

    Examples
    --------
    >>> pool = WeightedReservoir(2, random_state=0)
    >>> pool.update([1, 2, 3, 4, 2], weights=[1.0, 5.0, 0.0, 1.0, 5.0]).pool().numel()
    2
    >>> 3 in pool.pool().tolist()   # weight 0 is never admitted
    False
    """

    def __init__(self, capacity: int, *, decay: float = 0.0, random_state=None) -> None:
        super().__init__(capacity, 1, decay=decay, random_state=random_state)

    def update(self, items, weights=None, times=None) -> "WeightedReservoir":
        """Admit a chunk of the stream.

        Parameters
        ----------
        items : array-like of int, shape (n,)
            Item ids (``>= 1``), in arrival order; repeats allowed.
        weights : array-like of float, shape (n,), optional
            Non-negative weights (default 1 each; 0 never admits the occurrence).
        times : array-like of float, shape (n,), optional
            Arrival times; required when ``decay > 0``, any order.

        Returns
        -------
        WeightedReservoir
            ``self``.
        """
        items = _as_vector("items", items, torch.long)
        self._update_rows(torch.zeros(len(items), dtype=torch.long), items, weights, times)
        return self

    def pool(self) -> torch.Tensor:
        """The current members, best rank key first (LongTensor)."""
        return self.items_[0][self.items_[0] > 0]


class UserReservoir(_ReservoirTable):
    """One :class:`WeightedReservoir` per user, updated together.

    Each user's row is an independent A-Res pool over the items that user's stream
    elements carry (say, items shown to them and not clicked), with the same exactness
    as :class:`WeightedReservoir`; a chunk mixing many users costs a few sorts over the
    chunk and the touched users' rows.

    Parameters
    ----------
    capacity : int
        Pool size per user.
    n_users : int
        Users are ``0 .. n_users − 1``.
    decay : float, default 0
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> pools = UserReservoir(2, n_users=2, random_state=0)
    >>> pools = pools.update([0, 0, 0, 1], [5, 6, 7, 5])
    >>> pools.pool(1).tolist(), len(pools.pool(0))
    ([5], 2)
    """

    def __init__(self, capacity: int, n_users: int, *, decay: float = 0.0, random_state=None) -> None:
        self.n_users = check_positive_int("n_users", n_users)
        super().__init__(capacity, self.n_users, decay=decay, random_state=random_state)

    def update(self, users, items, weights=None, times=None) -> "UserReservoir":
        """Admit a chunk: element ``j`` offers ``items[j]`` to the pool of ``users[j]``.

        Parameters
        ----------
        users : array-like of int, shape (n,)
        items, weights, times
            As in :meth:`WeightedReservoir.update`.

        Returns
        -------
        UserReservoir
            ``self``.
        """
        users = _as_vector("users", users, torch.long)
        if len(users) and (int(users.min()) < 0 or int(users.max()) >= self.n_users):
            bad = int(users[(users < 0) | (users >= self.n_users)][0])
            raise RecnegError(f"user id {bad} is outside 0..{self.n_users - 1}; pass ids of the pool's users")
        self._update_rows(users, items, weights, times)
        return self

    def pool(self, user: int) -> torch.Tensor:
        """The current members of ``user``'s pool, best rank key first."""
        row = self.items_[int(user)]
        return row[row > 0]


class StreamingPoolSampler(NegativeSampler):
    """Negatives drawn uniformly from a streaming weighted pool.

    :meth:`fit` builds the pool (a :class:`WeightedReservoir`, or a
    :class:`UserReservoir` with ``per_user=True``) and, with ``seed_from_train``, feeds
    it the training interactions in time order, each weighing 1: the pool is then a
    popularity-weighted sample without replacement of the training items (with decay,
    of recent popularity). :meth:`update` and :meth:`partial_fit` feed the live stream;
    :meth:`sample` only draws, uniformly among the pool members each row may receive.
    Exclusion works as in every recneg sampler: the user's training items (from
    :meth:`fit`), the batch's targets and padding are never returned.

    ``log_prob`` is that of the *pool proposal* given the current pool,
    ``−log(allowed members of the row)``, the convention of the samplers that select
    from a pool; the pool itself is random, with inclusion probabilities that grow with
    an item's weight.

    Parameters
    ----------
    capacity : int, default 1000
        Pool size (per user with ``per_user``).
    decay : float, default 0
        Decay rate per time unit of the stream's timestamps.
    per_user : bool, default False
        One pool per user, fed by that user's stream elements.
    seed_from_train : bool, default True
        Feed the training interactions at :meth:`fit`.
    exclude_positives : bool, default True
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 3]), np.arange(3), n_users=2, n_items=5)
    >>> s = StreamingPoolSampler(capacity=4, random_state=0).fit(train)
    >>> s.update([4, 5, 5], times=[3, 4, 5]).pool().tolist() == s.reservoir_.pool().tolist()
    True
    >>> neg = s.sample(torch.tensor([0]), torch.tensor([1]), 3)
    >>> set(neg.items.flatten().tolist()) <= {3, 4, 5}    # items 1 and 2 are user 0's
    True
    """

    subfamily = "streaming pool"

    def __init__(self, capacity: int = 1000, *, decay: float = 0.0, per_user: bool = False,
                 seed_from_train: bool = True, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.capacity = check_positive_int("capacity", capacity)
        self.decay = check_finite("decay", decay, positive=True, allow_zero=True)
        self.per_user = bool(per_user)
        self.seed_from_train = bool(seed_from_train)

    def _fit(self, train: Interactions) -> None:
        # The pool's keys get their own stream, so draws and admissions do not interleave.
        pool_seed = int(torch.randint(0, 2**62, (1,), generator=self._generator))
        if self.per_user:
            self.reservoir_ = UserReservoir(self.capacity, train.n_users, decay=self.decay,
                                            random_state=pool_seed)
        else:
            self.reservoir_ = WeightedReservoir(self.capacity, decay=self.decay, random_state=pool_seed)
        if self.seed_from_train:
            order = np.argsort(train.timestamps, kind="stable")
            self.update(train.items[order], times=train.timestamps[order], users=train.users[order])

    def update(self, items, weights=None, times=None, *, users=None) -> "StreamingPoolSampler":
        """Feed a chunk of the stream to the pool (see :meth:`WeightedReservoir.update`).

        ``users`` is required with ``per_user=True`` and ignored otherwise. Items must be
        ids of the fitted catalogue, ``1 .. n_items``.

        Returns
        -------
        StreamingPoolSampler
            ``self``.
        """
        self._check_fitted()
        ids = _as_vector("items", items, torch.long)
        if len(ids) and int(ids.max()) > self.n_items_:
            raise RecnegError(f"item id {int(ids.max())} is outside 1..{self.n_items_}; refit the sampler on a "
                              "split that holds the new items")
        if self.per_user:
            if users is None:
                raise RecnegError("a per-user pool needs users=...; pass the user of every stream element")
            self.reservoir_.update(users, ids, weights, times)
        else:
            self.reservoir_.update(ids, weights, times)
        return self

    def partial_fit(self, log: Interactions) -> "StreamingPoolSampler":
        """Feed the interactions of ``log`` (weight 1 each, its timestamps), in time order.

        Exclusion keeps using the training split of :meth:`fit`.

        Returns
        -------
        StreamingPoolSampler
            ``self``.
        """
        order = np.argsort(log.timestamps, kind="stable")
        return self.update(log.items[order], times=log.timestamps[order], users=log.users[order])

    def pool(self, user: int | None = None) -> torch.Tensor:
        """Current pool members (of ``user`` with ``per_user=True``)."""
        self._check_fitted()
        if self.per_user:
            if user is None:
                raise RecnegError("a per-user pool needs a user: pass pool(user)")
            return self.reservoir_.pool(user)
        return self.reservoir_.pool()

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        table = self.reservoir_.items_[users] if self.per_user else self.reservoir_.items_.expand(len(users), -1)
        excluded = is_excluded(self, users, positives, table)  # padding slots (item 0) too
        allowed = (~excluded).sum(1)
        if bool((allowed == 0).any()):
            user = int(users[allowed == 0][0])
            raise RecnegError(f"the pool holds no item user {user} may receive (pool size "
                              f"{int((table[allowed == 0][0] > 0).sum())}); feed the stream with update(...) "
                              "or raise capacity")
        # Each row's allowed members first (a stable sort keeps their rank order), then
        # a uniform position among the first ``allowed`` of them.
        firsts = table.gather(1, torch.sort(excluded.to(torch.uint8), dim=1, stable=True).indices)
        shape = output_shape(positives, k, per_position)
        view = users.shape + (1,) * (len(shape) - 1)
        counts = allowed.reshape(view)
        position = torch.minimum((torch.rand(shape, generator=generator, dtype=torch.float64) * counts).long(),
                                 counts - 1)
        items = firsts.gather(1, position.reshape(len(users), -1)).reshape(shape)
        log_prob = (-allowed.to(torch.float64).log()).reshape(view).expand(shape).float()
        return NegativeSample(items, log_prob.contiguous())
