"""Diagnostics of negative samplers: what they draw, how often it is a false negative, how fast.

These functions look at a sampler from the outside, through its public
:meth:`~recneg.samplers.NegativeSampler.sample` method, so they apply to every family:

* :func:`negative_popularity_profile` — the training popularity of the drawn negatives
  (quantiles and the share falling in the head / mid / tail cohorts);
* :func:`false_negative_rate` — on a :class:`~recneg.data.SyntheticWorld`, the share of
  drawn negatives that the user truly likes but had not interacted with in training;
* :func:`true_preference_metrics` — on the same world, how well a trained model's top-K
  lists match what the users truly like, not only what they clicked;
* :func:`sampling_throughput` — negatives drawn per second;
* :class:`DrawRecorder` — wraps a sampler during training and records what it drew:
  draws per item, and per epoch the share of negatives a flag matrix marks (on a
  synthetic world, the false negatives the model actually trained on).
"""

from __future__ import annotations

import math
import time
from typing import Mapping

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ._errors import RecnegError, check_positive_int
from .data.interactions import Interactions, Split, UserItemSet, left_padded
from .metrics import popularity_cohorts, top_k_items
from .data.synthetic import SyntheticWorld
from .samplers.base import NegativeSample, NegativeSampler, Scorer, clone_component, make_generator

__all__ = ["negative_popularity_profile", "false_negative_rate", "true_preference_metrics", "sampling_throughput",
           "DrawRecorder"]

COHORT_NAMES = ("head", "mid", "tail")
#: History length given to a model-backed scorer whose ``maxlen`` is None (e.g. MF).
_DEFAULT_HISTORY = 50


# -- shared helpers --------------------------------------------------------------------
def _train_of(data) -> Interactions:
    if isinstance(data, Split):
        return data.train
    if isinstance(data, Interactions):
        return data
    raise RecnegError(
        f"expected a Split or the training Interactions, got {type(data).__name__}; "
        "pass split or split.train"
    )


def _fitted(sampler: NegativeSampler, train: Interactions) -> NegativeSampler:
    """Fit ``sampler`` on ``train`` unless it is already fitted on matching id spaces."""
    if not isinstance(sampler, NegativeSampler):
        raise RecnegError(
            f"expected a recneg NegativeSampler, got {type(sampler).__name__}"
        )
    if not hasattr(sampler, "n_items_"):
        return sampler.fit(train)
    if sampler.n_items_ != train.n_items or getattr(sampler, "n_users_", train.n_users) != train.n_users:
        raise RecnegError(
            f"{type(sampler).__name__} was fitted on {sampler.n_users_} users x "
            f"{sampler.n_items_} items but the data has {train.n_users} x {train.n_items}; "
            "fit it on this training split or pass an unfitted sampler"
        )
    return sampler


def _users_with_history(train: Interactions, users) -> torch.Tensor:
    counts = np.bincount(train.users, minlength=train.n_users)
    if users is None:
        chosen = np.flatnonzero(counts > 0)
    else:
        chosen = np.asarray(users, dtype=np.int64).reshape(-1)
        if chosen.size and (chosen.min() < 0 or chosen.max() >= train.n_users):
            bad = chosen[(chosen < 0) | (chosen >= train.n_users)][0]
            raise RecnegError(f"user id {bad} is outside 0..{train.n_users - 1}")
        empty = chosen[counts[chosen] == 0]
        if empty.size:
            raise RecnegError(
                f"user {empty[0]} has no training interactions, so no positive can be drawn "
                "for them; pass users that appear in the training split"
            )
    if chosen.size == 0:
        raise RecnegError("no users to sample for: the training split or users is empty")
    return torch.as_tensor(chosen, dtype=torch.long)


def _random_positives(positives: UserItemSet, users: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One training item per user, uniformly among the user's distinct items."""
    start = positives.indptr[users]
    count = positives.indptr[users + 1] - start
    offset = (torch.rand(len(users), generator=gen) * count).long().clamp_(max=count - 1)
    return positives.items[start + offset]


def _padded_histories(train: Interactions, users: torch.Tensor, maxlen: int) -> torch.Tensor:
    """Left-padded last ``maxlen`` training items of each user, shape ``(B, maxlen)``."""
    indptr = np.zeros(train.n_users + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(train.users, minlength=train.n_users))
    return left_padded(indptr, train.items[train.time_order()], users.numpy(), maxlen)


def _batch_scorer(scorer, train: Interactions, users: torch.Tensor) -> Scorer | None:
    """Turn the ``scorer`` argument into the no-grad Scorer of one batch of users."""
    if scorer is None:
        return None
    if hasattr(scorer, "scorer") and hasattr(scorer, "score_all"):
        maxlen = getattr(scorer, "maxlen", None)
        histories = _padded_histories(train, users, int(maxlen or _DEFAULT_HISTORY))
        if maxlen is not None and hasattr(scorer, "scorer_from_hidden"):
            # A sequential model scores every position; the diagnostics draw one positive
            # per user, so score with the state after the whole history (the next-item
            # prediction): candidates (B, P) -> scores (B, P).
            with torch.no_grad():
                hidden = scorer(histories)[:, -1]
            return scorer.scorer_from_hidden(hidden)
        return scorer.scorer(users, histories)
    if callable(scorer):
        return scorer(users)
    raise RecnegError(
        f"scorer must be a model with .scorer(users, histories) or a function users -> "
        f"Scorer, got {type(scorer).__name__}"
    )


def _draw(sampler, train, users, num_negatives, scorer, gen, *, with_weights: bool = False):
    positives = _random_positives(sampler.positives_, users, gen)
    with torch.no_grad():
        sample = sampler.sample(
            users,
            positives,
            num_negatives,
            scorer=_batch_scorer(scorer, train, users),
            generator=gen,
        )
    items = sample.items.reshape(len(users), -1)
    if not with_weights:
        return items
    weights = torch.ones(items.shape, dtype=torch.float64) if sample.weights is None else \
        sample.weights.reshape(len(users), -1).double()
    return items, weights


# -- popularity profile ----------------------------------------------------------------
def negative_popularity_profile(sampler: NegativeSampler | Mapping[str, NegativeSampler], data: Split | Interactions,
                                *, users=None, num_negatives: int = 10, n_batches: int = 10, batch_size: int = 256,
                                scorer=None, random_state: int | None = 0) -> pd.DataFrame:
    """Training popularity of the negatives a sampler draws.

    For each of ``n_batches`` batches, ``batch_size`` users are drawn uniformly (with
    replacement) from ``users``, each gets one of their training items as positive, and
    the sampler draws ``num_negatives`` negatives per user.  The negatives' training
    counts are summarised.

    Parameters
    ----------
    sampler : NegativeSampler or mapping of name to NegativeSampler
        Samplers not yet fitted are fitted on the training split.
    data : Split or Interactions
        The split (its ``train`` is used) or the training interactions themselves.
        Popularity and cohorts are always computed from training data.
    users : array-like of int, optional
        Users to draw batches from; default every user with a training interaction.
    num_negatives, n_batches, batch_size : int
    scorer : model or callable, optional
        For samplers that need one: a model with ``scorer(users, histories)`` (given the
        users' last training items) or a function ``users -> Scorer``.
    random_state : int, optional
        Seeds the users, positives and the sampler's draws.

    Returns
    -------
    pandas.DataFrame
        One row per sampler (index ``sampler``) with ``negatives`` (number drawn),
        ``mean_count``, ``q10``, ``q25``, ``median_count``, ``q75``, ``q90`` (training
        interactions of the drawn items), ``mean_percentile`` (popularity percentile of
        the drawn items, 100 = most popular; a uniform draw over the catalogue gives
        about 50) and ``head_share``, ``mid_share``, ``tail_share``.  ``frame.attrs``
        holds ``catalogue_shares``, the share of *items* in each cohort: what a uniform
        sampler would give.

    Examples
    --------
    >>> from recneg.data import SyntheticWorld
    >>> from recneg.samplers import NegativeSample, NegativeSampler
    >>> import torch
    >>> class Uniform(NegativeSampler):
    ...     def _sample(self, users, positives, k, *, per_position, scorer, generator):
    ...         items = torch.randint(1, self.n_items_ + 1, (len(users), k), generator=generator)
    ...         return NegativeSample(items, torch.full(items.shape, -torch.log(torch.tensor(float(self.n_items_)))))
    >>> train = SyntheticWorld(n_users=50, n_items=80).generate()
    >>> profile = negative_popularity_profile(Uniform(exclude_positives=False), train, n_batches=2)
    >>> list(profile.columns[-3:])
    ['head_share', 'mid_share', 'tail_share']
    """
    train = _train_of(data)
    samplers = _as_mapping(sampler)
    k = check_positive_int("num_negatives", num_negatives)
    n_batches = check_positive_int("n_batches", n_batches)
    batch_size = check_positive_int("batch_size", batch_size)
    pool = _users_with_history(train, users)

    counts = train.item_counts().astype(np.float64)
    cohorts = popularity_cohorts(counts)
    ranks = stats.rankdata(counts[1:], method="average")
    percentile = np.concatenate([[np.nan], 100.0 * (ranks - 0.5) / train.n_items])

    rows = []
    for name, one in samplers.items():
        one = _fitted(one, train)
        gen = make_generator(random_state)
        drawn = []
        for _ in range(n_batches):
            pick = torch.randint(len(pool), (batch_size,), generator=gen)
            drawn.append(_draw(one, train, pool[pick], k, scorer, gen).reshape(-1).numpy())
        rows.append(_profile_row(name, np.concatenate(drawn), counts, cohorts, percentile))
    frame = pd.DataFrame(rows).set_index("sampler")
    catalogue = np.bincount(cohorts[1:], minlength=3)[:3] / train.n_items
    frame.attrs["catalogue_shares"] = dict(zip(COHORT_NAMES, catalogue.tolist()))
    return frame


def _profile_row(name: str, items: np.ndarray, counts: np.ndarray, cohorts: np.ndarray,
                 percentile: np.ndarray) -> dict:
    """Popularity summary of one sampler's drawn ``items``."""
    c = counts[items]
    share = np.bincount(cohorts[items], minlength=3)[:3] / len(items)
    q10, q25, q50, q75, q90 = np.quantile(c, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {"sampler": name, "negatives": len(items), "mean_count": c.mean(), "q10": q10, "q25": q25,
            "median_count": q50, "q75": q75, "q90": q90, "mean_percentile": percentile[items].mean(),
            "head_share": share[0], "mid_share": share[1], "tail_share": share[2]}


def _as_mapping(sampler) -> dict[str, NegativeSampler]:
    if isinstance(sampler, Mapping):
        if not sampler:
            raise RecnegError("the mapping of samplers is empty; pass at least one sampler")
        return dict(sampler)
    return {getattr(sampler, "name", type(sampler).__name__): sampler}


# -- false negatives -------------------------------------------------------------------
def _cluster_stderr(per_user_fn: torch.Tensor, per_user_n: torch.Tensor) -> float:
    """Ratio-estimator (cluster) standard error of the rate, with users as clusters."""
    n, m = float(per_user_n.sum()), len(per_user_n)
    resid = (per_user_fn - float(per_user_fn.sum()) / n * per_user_n).numpy()
    return math.sqrt(m / max(m - 1, 1) * float((resid**2).sum())) / n


def _exact_uniform_rate(world, train: Interactions, fn_mask: np.ndarray, pool: torch.Tensor) -> float:
    """The rate a uniform sampler has in expectation: liked share of each user's unobserved items."""
    seen = np.zeros((train.n_users, train.n_items + 1), dtype=bool)
    seen[train.users, train.items] = True
    u = pool.numpy()
    unobserved = world.n_items - seen[u, 1:].sum(axis=1)
    return float((fn_mask[u, 1:].sum(axis=1) / unobserved).mean())


def _count_false_draws(sampler, train, pool, fn_mask, k, n_rounds, batch_size, scorer, gen):
    """Per user, count the sampler's draws that the world's users in fact like.

    Returns per-user false and total counts, and the loss weight on false draws and on all.
    """
    # Draw as training would, and count the draws the world's users in fact like.
    per_user_fn = torch.zeros(len(pool), dtype=torch.float64)
    per_user_n = torch.zeros(len(pool), dtype=torch.float64)
    weight_fn = weight_all = 0.0
    for _ in range(n_rounds):
        for lo in range(0, len(pool), batch_size):
            batch = pool[lo : lo + batch_size]
            items, weights = _draw(sampler, train, batch, k, scorer, gen, with_weights=True)
            hits = fn_mask[batch.numpy()[:, None], items.numpy()]
            per_user_fn[lo : lo + batch_size] += torch.from_numpy(hits.sum(axis=1).astype(np.float64))
            per_user_n[lo : lo + batch_size] += items.shape[1]
            weight_fn += float(weights[torch.from_numpy(hits)].sum())
            weight_all += float(weights.sum())
    return per_user_fn, per_user_n, weight_fn, weight_all


def false_negative_rate(sampler: NegativeSampler, world: SyntheticWorld, train: Split | Interactions, *, users=None,
                        num_negatives: int = 10, n_rounds: int = 10, scorer=None, batch_size: int = 1024,
                        random_state: int | None = 0) -> dict:
    """Share of drawn negatives that the user truly likes but did not interact with.

    In each of ``n_rounds`` rounds every user in ``users`` gets one of their training
    items as positive and ``num_negatives`` negatives; a negative is *false* when
    :meth:`SyntheticWorld.false_negative_mask` marks it for ``train``.

    Parameters
    ----------
    sampler : NegativeSampler
        Fitted on ``train`` here if it is not fitted yet.
    world : SyntheticWorld
        The world that generated the data; it knows which items each user likes.
    train : Split or Interactions
        The training interactions (or a split whose ``train`` is used): what the sampler
        sees and what counts as observed.
    users : array-like of int, optional
        Default every user with a training interaction.
    num_negatives, n_rounds, batch_size : int
        ``batch_size`` users are passed to the sampler at a time.
    scorer : model or callable, optional
        As in :func:`negative_popularity_profile`.
    random_state : int, optional

    Returns
    -------
    dict
        ``sampler`` (name), ``negatives`` (number drawn), ``false_negatives``, ``rate``,
        ``stderr`` (binomial standard error ``sqrt(rate (1 - rate) / negatives)``),
        ``weighted_rate`` (the share of the draws' loss weights on false negatives; equal
        to ``rate`` for a sampler whose draws all weigh the same),
        ``stderr_by_user`` (users as clusters: one user's negatives are not independent) and
        ``uniform_rate``, the expected rate of a uniform sampler that excludes positives.

    Examples
    --------
    >>> import torch
    >>> from recneg.data import SyntheticWorld
    >>> from recneg.samplers import NegativeSample, NegativeSampler
    >>> class FirstItems(NegativeSampler):
    ...     def _sample(self, users, positives, k, *, per_position, scorer, generator):
    ...         items = torch.arange(1, k + 1).expand(len(users), k)
    ...         return NegativeSample(items, torch.zeros(items.shape))
    >>> world = SyntheticWorld(n_users=50, n_items=80)
    >>> log = world.generate()
    >>> result = false_negative_rate(FirstItems(exclude_positives=False), world, log, n_rounds=1)
    >>> 0.0 <= result["rate"] <= 1.0
    True
    """
    train = _train_of(train)
    if not isinstance(world, SyntheticWorld):
        raise RecnegError(
            f"world must be the SyntheticWorld that generated the data, got {type(world).__name__}"
        )
    k = check_positive_int("num_negatives", num_negatives)
    n_rounds = check_positive_int("n_rounds", n_rounds)
    batch_size = check_positive_int("batch_size", batch_size)
    fn_mask = world.false_negative_mask(train)  # also checks the id spaces match
    sampler = _fitted(sampler, train)
    pool = _users_with_history(train, users)

    per_user_fn, per_user_n, weight_fn, weight_all = _count_false_draws(
        sampler, train, pool, fn_mask, k, n_rounds, batch_size, scorer, make_generator(random_state))
    n, fn = float(per_user_n.sum()), float(per_user_fn.sum())
    rate = fn / n
    return {"sampler": getattr(sampler, "name", type(sampler).__name__), "negatives": int(n),
            "false_negatives": int(fn), "rate": rate, "stderr": math.sqrt(rate * (1.0 - rate) / n),
            "weighted_rate": weight_fn / weight_all if weight_all > 0 else math.nan,
            "stderr_by_user": _cluster_stderr(per_user_fn, per_user_n),
            "uniform_rate": _exact_uniform_rate(world, train, fn_mask, pool)}


def true_preference_metrics(model, world: SyntheticWorld, train: Split | Interactions, *, k: int = 10,
                            batch_size: int = 512) -> dict:
    """Top-``k`` accuracy against the world's true preferences, under full ranking.

    A held-out click is one liked item among many; the world knows them all. Every real
    item outside the user's training interactions is ranked, and an item is relevant when
    the user likes it (:meth:`SyntheticWorld.liked_mask`), clicked later or never.

    Parameters
    ----------
    model : recneg model
        Anything with ``score_all(users, histories)``; a sequential model gets the
        user's last ``model.maxlen`` training items as history.
    world : SyntheticWorld
    train : Split or Interactions
        What the model was trained on; those items are not ranked.
    k : int, default 10

    Returns
    -------
    dict
        ``precision@k`` (share of the top-``k`` the user likes), ``ndcg@k`` (binary
        gains, ideal = ``min(k, liked unseen items)``), ``popularity@k`` (mean latent
        popularity ``p(i)`` of the listed items, in units of the uniform ``1/n_items``)
        and ``users``.

    Examples
    --------
    >>> from recneg.data import SyntheticWorld
    >>> from recneg.models import MostPopular
    >>> world = SyntheticWorld(n_users=40, n_items=30, random_state=0)
    >>> log = world.generate()
    >>> result = true_preference_metrics(MostPopular().fit(log), world, log, k=5)
    >>> 0 <= result["precision@5"] <= 1, result["users"]
    (True, 40)
    """
    train = _train_of(train)
    k = check_positive_int("k", k)
    batch_size = check_positive_int("batch_size", batch_size)
    relevant = world.false_negative_mask(train)  # liked and not in train; checks the id spaces
    seen = train.user_item_set()
    if k > world.n_items - int(seen.counts.max()):
        raise RecnegError(f"k={k} exceeds the items some user has left to rank; pass a smaller k")
    users = torch.from_numpy(np.flatnonzero(relevant.any(axis=1)))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    precision, ndcg, popularity = [], [], []
    maxlen = getattr(model, "maxlen", None)
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    with torch.no_grad():
        for lo in range(0, len(users), batch_size):
            batch = users[lo : lo + batch_size]
            histories = None if maxlen is None else _padded_histories(train, batch, int(maxlen))
            scores = model.score_all(batch, histories).float().cpu()
            blocked = seen.dense_mask(batch)
            top = top_k_items(scores.masked_fill(blocked, -math.inf), k).numpy()
            hits = relevant[batch.numpy()[:, None], top] & (top > 0)
            ideal = np.cumsum(discount)[np.minimum(relevant[batch.numpy()].sum(axis=1), k) - 1]
            precision.append(hits.mean(axis=1))
            ndcg.append((hits * discount).sum(axis=1) / ideal)
            popularity.append(world.item_popularity[top].mean(axis=1) * world.n_items)
    if was_training:
        model.train()
    return {f"precision@{k}": float(np.concatenate(precision).mean()),
            f"ndcg@{k}": float(np.concatenate(ndcg).mean()),
            f"popularity@{k}": float(np.concatenate(popularity).mean()), "users": int(len(users))}


# -- throughput ------------------------------------------------------------------------
def sampling_throughput(
    sampler: NegativeSampler,
    users,
    positives,
    num_negatives: int,
    repeats: int = 5,
    *,
    per_position: bool = False,
    scorer: Scorer | None = None,
    warmup: int = 1,
    random_state: int | None = 0,
) -> float:
    """Negatives drawn per second by a fitted sampler (median over ``repeats`` calls).

    Parameters
    ----------
    sampler : NegativeSampler
        A fitted sampler.
    users : LongTensor, shape (B,)
    positives : LongTensor, shape (B,) or (B, L)
    num_negatives : int
    repeats : int, default 5
        Timed calls; the median time is used, so one slow call does not dominate.
    per_position : bool, default False
    scorer : Scorer, optional
        The batch's no-grad scorer, for samplers that need one.
    warmup : int, default 1
        Untimed calls first (allocations, lazy tables).
    random_state : int, optional

    Returns
    -------
    float
        Negatives per second (``items.numel()`` of one call over its median duration).

    Examples
    --------
    >>> import torch
    >>> from recneg.data import SyntheticWorld
    >>> from recneg.samplers import NegativeSample, NegativeSampler
    >>> class Uniform(NegativeSampler):
    ...     def _sample(self, users, positives, k, *, per_position, scorer, generator):
    ...         items = torch.randint(1, self.n_items_ + 1, (len(users), k), generator=generator)
    ...         return NegativeSample(items, torch.zeros(items.shape))
    >>> s = Uniform(exclude_positives=False).fit(SyntheticWorld(n_users=50, n_items=80).generate())
    >>> sampling_throughput(s, torch.arange(50), torch.ones(50, dtype=torch.long), 10) > 0
    True
    """
    if not isinstance(sampler, NegativeSampler):
        raise RecnegError(f"expected a recneg NegativeSampler, got {type(sampler).__name__}")
    sampler._check_fitted()
    repeats = check_positive_int("repeats", repeats)
    warmup = check_positive_int("warmup", warmup, allow_zero=True)
    users = torch.as_tensor(users, dtype=torch.long)
    positives = torch.as_tensor(positives, dtype=torch.long)
    gen = make_generator(random_state)

    def once() -> int:
        with torch.no_grad():
            sample = sampler.sample(
                users, positives, num_negatives, per_position=per_position, scorer=scorer, generator=gen
            )
        return sample.items.numel()

    for _ in range(warmup):
        once()
    durations, drawn = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        drawn = once()
        durations.append(time.perf_counter() - start)
    return drawn / max(float(np.median(durations)), 1e-9)


# -- what training drew ----------------------------------------------------------------
class DrawRecorder(NegativeSampler):
    """A sampler that draws through ``base`` and records the negatives training used.

    :func:`false_negative_rate` audits a sampler after the fact, with one model. A
    schedule that changes over training (a curriculum, a dynamic sampler whose model
    improves) needs the record of the draws themselves: :class:`~recneg.training.Trainer`
    calls :meth:`learn_from_batch` once per batch with the negatives it is about to train
    on, and the recorder counts them there — draws made outside training (an audit, a
    plot) are not counted. Hooks and learning are forwarded to the fitted clone of
    ``base`` (``base_``), so a curriculum inside still sees its epochs.

    Parameters
    ----------
    base : NegativeSampler
        The sampler that draws; a clone is fitted, the object passed in stays as it was.
    flags : bool array-like, shape (n_users, n_items + 1), optional
        Pairs to count separately, e.g. ``world.false_negative_mask(train)``.

    Attributes
    ----------
    item_draws_ : Tensor, float64, shape (n_items + 1,)
        How often each item was drawn as a training negative (since :meth:`fit`).
    item_weights_ : Tensor, float64, shape (n_items + 1,)
        The same draws summed with the weights the loss gives them (the re-weighting
        family's ``NegativeSample.weights``; 1 per draw for every other sampler), so that
        a sampler which draws uniformly and then weights can be compared with one that
        draws in proportion.
    history_ : list of dict
        Per epoch: ``epoch``, ``negatives``, ``flagged`` and ``flagged_share``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> from recneg.samplers import UniformSampler
    >>> train = Interactions(np.array([0, 1]), np.array([1, 2]), np.arange(2), n_users=2, n_items=4)
    >>> flags = np.zeros((2, 5), dtype=bool); flags[:, 3] = True       # item 3 is "false" for both
    >>> rec = DrawRecorder(UniformSampler(random_state=0), flags=flags).fit(train)
    >>> rec.on_epoch_start(1)
    >>> users, pos = torch.tensor([0, 1]), torch.tensor([1, 2])
    >>> drawn = rec.sample(users, pos, 50)
    >>> rec.learn_from_batch(users, pos, drawn, None)
    >>> row = rec.history_[0]
    >>> row["negatives"], row["flagged"] == int((drawn.items == 3).sum())
    (100, True)
    >>> int(rec.item_draws_.sum())
    100
    """

    family = "static"  # a pass-through: the family is that of ``base``

    def __init__(self, base: NegativeSampler, flags=None) -> None:
        if not isinstance(base, NegativeSampler):
            raise RecnegError(f"base must be a NegativeSampler, got {type(base).__name__}")
        super().__init__(exclude_positives=base.exclude_positives)
        self.base = base
        self.flags = None if flags is None else np.asarray(flags)
        if self.flags is not None and (self.flags.dtype != np.bool_ or self.flags.ndim != 2):
            raise RecnegError(f"flags must be a 2-D boolean array (n_users, n_items + 1), got dtype "
                              f"{self.flags.dtype} and shape {self.flags.shape}")

    @property
    def needs_scorer(self) -> bool:
        """Whether ``base`` needs a scorer."""
        return self.base.needs_scorer

    def _fit(self, train: Interactions) -> None:
        if self.flags is not None and self.flags.shape != (train.n_users, train.n_items + 1):
            raise RecnegError(f"flags has shape {self.flags.shape} but the split needs "
                              f"({train.n_users}, {train.n_items + 1}) = (n_users, n_items + 1)")
        self.base_ = clone_component(self.base).fit(train)
        self.flags_table_ = None if self.flags is None else torch.as_tensor(self.flags)
        self.item_draws_ = torch.zeros(train.n_items + 1, dtype=torch.float64)
        self.item_weights_ = torch.zeros(train.n_items + 1, dtype=torch.float64)
        self.history_ = []

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        return self.base_._sample(users, positives, k, per_position=per_position, scorer=scorer, generator=generator)

    def on_epoch_start(self, epoch: int) -> None:
        """Open the record of ``epoch`` and forward the hook to ``base_``."""
        self._check_fitted()
        self.history_.append({"epoch": int(epoch), "negatives": 0, "flagged": 0, "flagged_share": math.nan})
        super().on_epoch_start(epoch)

    def learn_from_batch(self, users, positives, drawn: NegativeSample, scorer) -> None:
        """Count the batch's negatives, then forward to ``base_``."""
        self._check_fitted()
        if not self.history_:  # drawn before any epoch hook: a hand-written loop
            self.on_epoch_start(1)
        items = drawn.items.reshape(len(users), -1)
        counts = torch.bincount(items.flatten(), minlength=self.n_items_ + 1).double()
        self.item_draws_ += counts
        self.item_weights_ += counts if drawn.weights is None else torch.bincount(
            items.flatten(), weights=drawn.weights.detach().flatten().double(), minlength=self.n_items_ + 1)
        row = self.history_[-1]
        row["negatives"] += int(items.numel())
        if self.flags_table_ is not None:
            row["flagged"] += int(self.flags_table_[users.unsqueeze(1), items].sum())
        if self.flags_table_ is not None and row["negatives"]:
            row["flagged_share"] = row["flagged"] / row["negatives"]
        super().learn_from_batch(users, positives, drawn, scorer)

    def history(self) -> pd.DataFrame:
        """:attr:`history_` as a DataFrame, one row per epoch."""
        self._check_fitted()
        return pd.DataFrame(self.history_, columns=["epoch", "negatives", "flagged", "flagged_share"])
