"""The in-memory engine: negatives for a pandas log, on one machine.

The single-machine twin of :mod:`recneg.scale.spark`. Both engines run the same
algorithm on the same hashed uniforms (:mod:`recneg.scale.hashing`), so for a given
``seed`` they return the same negatives (up to last-bit differences between Java's and
numpy's ``pow``/``log``, which change a draw only when a uniform lands within one ulp of
an interval boundary). In short:

* every negative set is drawn for a *group*: a user (``per="user"``), one interaction
  (``per="interaction"``), or a (user, context) pair (``method="context"``);
* a group draws from its *stratum*'s distribution ``w_i = count_i ** alpha`` over the items
  of the stratum (the whole catalogue, or the items seen in one context);
* the *stream* route draws ``m`` items i.i.d. from that distribution (inverse CDF of a
  hashed uniform), drops the user's positives (and, without replacement, repeats) and
  keeps the first ``k`` survivors; ``m`` is the budget of :mod:`recneg.scale.budget`;
* the *keys* route (Efraimidis–Spirakis) gives every unseen item of the stratum the key
  ``-log(u) / w`` and keeps the ``k`` smallest; it is used where it is cheaper than the
  stream (small strata, users who hold most of the popularity mass).

Why both routes sample the intended distribution is derived in the scale chapter
(``notebooks/11_scale.ipynb``, "How recneg.scale draws").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .._errors import RecnegError, check_negatives_fit, check_positive_int
from .budget import FIXED_POINT, NO_BUDGET, stream_budget
from .columns import check_present, int_ids, mixed_types
from .hashing import SALT_KEYS, SALT_KEYS_REPLACE, SALT_STREAM, hash_uniform
from .spec import SampleSpec, Shortfall

__all__ = ["memory_negatives", "memory_negative_arrays", "memory_sample", "inclusion_probabilities"]


@dataclass
class _Log:
    """A log as indices: its catalogue, its users and their distinct positives."""

    catalogue: np.ndarray    # distinct item ids, ascending
    item_gidx: np.ndarray    # each row's item as an index into the catalogue
    item_counts: np.ndarray  # interactions per catalogue item
    user_ids: np.ndarray     # distinct user ids, ascending
    user_idx: np.ndarray     # each row's user as an index into user_ids
    pos_keys: np.ndarray     # user_idx * n_cat + item index per distinct pair, sorted
    pos_indptr: np.ndarray   # user u's positives are pos_keys[pos_indptr[u]:pos_indptr[u + 1]]

    @property
    def n_cat(self) -> int:
        return len(self.catalogue)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)


@dataclass
class _Stratum:
    gidx: np.ndarray      # catalogue indices of the stratum's items, ascending item id
    weight: np.ndarray
    p_hi: np.ndarray      # cumulative upper edge of each item's interval in (0, 1]
    log_q: np.ndarray
    pint: np.ndarray      # ceil(p * FIXED_POINT)
    top_int: int          # fixed-point mass of the k - 1 heaviest items


@dataclass
class _Groups:
    user_idx: np.ndarray
    g1: np.ndarray        # the interaction's item id, or the context id (1-based)
    g2: np.ndarray        # the interaction's occurrence, else 0
    stratum: np.ndarray   # index into the strata list
    r_int: np.ndarray     # fixed-point lower bound of the acceptance rate
    budget: np.ndarray = None
    keys_route: np.ndarray = None


def _encode(frame: pd.DataFrame, spec: SampleSpec, k_name: str, log_name: str) -> _Log:
    """Check the id columns and encode the log as indices."""
    users = int_ids(frame, spec.user_col, "user")
    items = int_ids(frame, spec.item_col, "item")
    if len(users) == 0:
        raise RecnegError("the interaction log is empty; nothing to sample negatives for")
    catalogue, item_gidx, item_counts = np.unique(items, return_inverse=True, return_counts=True)
    n_cat = len(catalogue)
    # The output arrays grow with k: refuse a k beyond the catalogue before allocating them.
    check_negatives_fit(k_name, spec.k, n_cat, pool=f"distinct items in {log_name}")
    user_ids, user_idx = np.unique(users, return_inverse=True)
    pos_keys = np.unique(user_idx * n_cat + item_gidx)  # sorted, grouped by user
    pos_indptr = np.searchsorted(pos_keys // n_cat, np.arange(len(user_ids) + 1))
    return _Log(catalogue, item_gidx, item_counts, user_ids, user_idx, pos_keys, pos_indptr)


def _make_stratum(gidx: np.ndarray, counts: np.ndarray, spec: SampleSpec) -> _Stratum:
    if spec.method == "uniform":
        w = np.ones(len(counts), dtype=np.float64)
    else:
        w = np.power(counts.astype(np.float64), spec.alpha)
    cum = np.cumsum(w)  # sequential sum in item order, like Spark's running window sum
    total = cum[-1]
    p = w / total
    pint = np.ceil(p * FIXED_POINT).astype(np.int64)
    k = spec.k
    top = 0 if spec.replace or k == 1 else int(np.sort(pint)[::-1][: k - 1].sum())
    with np.errstate(divide="ignore"):
        log_q = np.log(p)
    return _Stratum(gidx=gidx, weight=w, p_hi=cum / total, log_q=log_q, pint=pint, top_int=top)


def _segment_sums(values: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``values`` over the contiguous segments starting at ``starts``."""
    out = np.zeros(n, dtype=np.int64)
    if len(values):
        nonempty = starts < len(values)
        out[nonempty] = np.add.reduceat(values, starts[nonempty])
        # reduceat returns values[start] for empty segments; those have equal starts.
        empty = np.append(starts[1:] == starts[:-1], False) & nonempty
        out[empty] = 0
    return out


def _plain_groups(log: _Log, spec: SampleSpec, user_mass: np.ndarray, top_int: int) -> _Groups:
    """One group per user, or one per interaction, all in the global stratum."""
    n_cat = log.n_cat
    if spec.per == "user":
        g_user = np.arange(log.n_users)
        g1 = np.zeros(log.n_users, dtype=np.int64)
        g2 = np.zeros(log.n_users, dtype=np.int64)
    else:
        pairs, pair_counts = np.unique(log.user_idx * n_cat + log.item_gidx, return_counts=True)
        g_user = np.repeat(pairs // n_cat, pair_counts)
        g1 = np.repeat(log.catalogue[pairs % n_cat], pair_counts)
        g2 = np.arange(len(g_user)) - np.repeat(np.cumsum(pair_counts) - pair_counts, pair_counts)
    stratum = np.zeros(len(g_user), dtype=np.int64)
    return _Groups(g_user, g1, g2, stratum, FIXED_POINT - user_mass[g_user] - top_int)


def _contexts(frame: pd.DataFrame, spec: SampleSpec) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each row's context id (1-based, in sorted order of the values) and the values."""
    context_cols = list(spec.context_cols)
    for col in context_cols:
        if col not in frame.columns:
            raise RecnegError(f"the input has no context column {col!r} (columns: {', '.join(map(str, frame.columns))})")
    check_present(frame, context_cols)
    try:
        grouped = frame.groupby(context_cols, sort=True)
        ctx_id = grouped.ngroup().to_numpy(np.int64) + 1  # ids follow the sorted context values
    except TypeError:
        raise RecnegError(mixed_types(frame, context_cols)) from None
    key_frame = grouped.size().index.to_frame(index=False)
    return ctx_id, [key_frame[c].to_numpy() for c in context_cols]


def _context_strata(ctx_id: np.ndarray, n_ctx: int, log: _Log, spec: SampleSpec, strata: list) -> np.ndarray:
    """Append one stratum per context with enough items; return each context's stratum."""
    n_cat = log.n_cat
    ctx_pairs, ctx_counts = np.unique(ctx_id * n_cat + log.item_gidx, return_counts=True)
    pair_ctx, pair_item = ctx_pairs // n_cat, ctx_pairs % n_cat
    ctx_size = np.bincount(pair_ctx, minlength=n_ctx + 1)
    ctx_indptr = np.searchsorted(pair_ctx, np.arange(n_ctx + 2))
    stratum_of_ctx = np.zeros(n_ctx + 1, dtype=np.int64)
    for c in np.flatnonzero(ctx_size >= spec.min_items):  # a loop over contexts, not samples
        lo, hi = ctx_indptr[c], ctx_indptr[c + 1]
        stratum_of_ctx[c] = len(strata)
        strata.append(_make_stratum(pair_item[lo:hi], ctx_counts[lo:hi], spec))
    return stratum_of_ctx


def _local_positives(local_users: np.ndarray, local_strata: np.ndarray, log: _Log, strata: list):
    """Mass and count of each group's positives inside its own context stratum.

    Every group is expanded by its user's positives, which are looked up in the
    stratum's (sorted) item list.
    """
    n_cat = log.n_cat
    starts, ends = log.pos_indptr[local_users], log.pos_indptr[local_users + 1]
    lengths = ends - starts
    rep = np.repeat(np.arange(len(local_users)), lengths)
    offs = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos_item = log.pos_keys[np.repeat(starts, lengths) + offs] % n_cat
    strat_keys = np.concatenate([s * n_cat + strata[s].gidx for s in range(1, len(strata))])
    strat_pint = np.concatenate([strata[s].pint for s in range(1, len(strata))])
    order = np.argsort(strat_keys)
    strat_keys, strat_pint = strat_keys[order], strat_pint[order]
    query = local_strata[rep] * n_cat + pos_item
    at = np.clip(np.searchsorted(strat_keys, query), 0, len(strat_keys) - 1)
    hit = strat_keys[at] == query
    seg_starts = np.cumsum(lengths) - lengths
    mass = _segment_sums(np.where(hit, strat_pint[at], 0), seg_starts, len(local_users))
    npos = _segment_sums(hit.astype(np.int64), seg_starts, len(local_users))
    return mass, npos


def _context_groups(frame, spec: SampleSpec, log: _Log, user_mass: np.ndarray, strata: list):
    """One group per (user, context); a context stratum where it can offer ``k`` unseen items."""
    ctx_id, context_values = _contexts(frame, spec)
    n_ctx = len(context_values[0])
    stratum_of_ctx = _context_strata(ctx_id, n_ctx, log, spec, strata)
    g_keys = np.unique(log.user_idx * (n_ctx + 1) + ctx_id)
    g_user, g_ctx = g_keys // (n_ctx + 1), g_keys % (n_ctx + 1)
    g_stratum = stratum_of_ctx[g_ctx]
    mass = user_mass[g_user].copy()
    local = np.flatnonzero(g_stratum > 0)
    if len(local):
        local_mass, local_npos = _local_positives(g_user[local], g_stratum[local], log, strata)
        sizes = np.array([len(s.gidx) for s in strata], dtype=np.int64)
        # A context that cannot offer k unseen items to this user: draw it globally.
        fits = sizes[g_stratum[local]] - local_npos >= spec.k
        mass[local[fits]] = local_mass[fits]
        g_stratum[local[~fits]] = 0
    top = np.array([s.top_int for s in strata], dtype=np.int64)
    groups = _Groups(g_user, g_ctx, np.zeros(len(g_keys), dtype=np.int64), g_stratum,
                     FIXED_POINT - mass - top[g_stratum])
    return groups, context_values


def _choose_routes(groups: _Groups, strata: list, spec: SampleSpec) -> None:
    """Set each group's stream budget and whether it takes the keys route instead."""
    n_strata_items = np.array([len(s.gidx) for s in strata], dtype=np.int64)
    budget = stream_budget(groups.r_int, spec.k, spec.oversample, spec.shortfall_prob)
    keys_cost = n_strata_items[groups.stratum] * (spec.k if spec.replace else 1)
    if spec.strategy == "keys":
        keys_route = np.ones(len(budget), dtype=bool)
    elif spec.strategy == "stream":
        keys_route = budget >= NO_BUDGET
    else:
        keys_route = budget >= keys_cost
    groups.budget, groups.keys_route = budget, keys_route


def _chunks(cost: np.ndarray, limit: int):
    """Consecutive index ranges whose summed cost stays near ``limit`` (at least one item)."""
    if len(cost) == 0:
        return
    cum = np.cumsum(cost)
    start = 0
    while start < len(cost):
        base = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, base + limit, side="right")))
        yield start, stop
        start = stop


def _stream_route(groups: _Groups, strata: list, log: _Log, spec: SampleSpec, chunk_rows: int, out_item, out_logq) -> None:
    """Fill the slots of the stream groups: hashed i.i.d. draws, first ``k`` admissible ones."""
    user_ids, pos_keys, n_cat = log.user_ids, log.pos_keys, log.n_cat
    k, replace, seed = spec.k, spec.replace, spec.seed
    sel = np.flatnonzero(~groups.keys_route)
    if len(sel) == 0:
        return
    budget = groups.budget[sel]
    for a, b in _chunks(budget, chunk_rows):
        idx = sel[a:b]
        m = budget[a:b]
        local = np.repeat(np.arange(len(idx)), m)
        draw = np.arange(len(local)) - np.repeat(np.cumsum(m) - m, m)
        gu = groups.user_idx[idx][local]
        u = hash_uniform(seed, SALT_STREAM, user_ids[gu], groups.g1[idx][local], groups.g2[idx][local], draw)
        s_of = groups.stratum[idx][local]
        gidx = np.empty(len(local), dtype=np.int64)
        logq = np.empty(len(local), dtype=np.float64)
        for s in np.unique(s_of):  # per stratum: inverse CDF by binary search
            rows = s_of == s
            at = np.searchsorted(strata[s].p_hi, u[rows], side="right")
            gidx[rows] = strata[s].gidx[at]
            logq[rows] = strata[s].log_q[at]
        query = gu * n_cat + gidx
        at = np.clip(np.searchsorted(pos_keys, query), 0, len(pos_keys) - 1)
        valid = pos_keys[at] != query
        if not replace:
            # Keep the first draw of each (group, item): a stable sort by item keeps draws
            # of one group in draw order.
            key = local * n_cat + gidx
            order = np.argsort(key, kind="stable")
            first = np.ones(len(key), dtype=bool)
            first[order[1:]] = key[order[1:]] != key[order[:-1]]
            valid &= first
        keep = np.flatnonzero(valid)  # already ordered by (group, draw)
        kept_group = local[keep]
        starts = np.searchsorted(kept_group, np.arange(len(idx)))
        slot = np.arange(len(keep)) - starts[kept_group]
        ok = slot < k
        target = idx[kept_group[ok]] * k + slot[ok]
        out_item[target] = gidx[keep[ok]]
        out_logq[target] = logq[keep[ok]]


def _keys_route(groups: _Groups, strata: list, log: _Log, spec: SampleSpec, chunk_rows: int, out_item, out_logq) -> None:
    """Fill the slots of the keys groups: the ``k`` smallest exponential keys (or ``k`` races)."""
    user_ids, catalogue, pos_keys, n_cat = log.user_ids, log.catalogue, log.pos_keys, log.n_cat
    k, replace, seed = spec.k, spec.replace, spec.seed
    sel = np.flatnonzero(groups.keys_route)
    for s in np.unique(groups.stratum[sel]):  # per stratum; groups are vectorised inside
        stratum = strata[s]
        in_s = sel[groups.stratum[sel] == s]
        n_s = len(stratum.gidx)
        per_group = n_s * (k if replace else 1)
        item_ids = catalogue[stratum.gidx]
        for a, b in _chunks(np.full(len(in_s), per_group), chunk_rows):
            idx = in_s[a:b]
            gu = groups.user_idx[idx]
            query = gu[:, None] * n_cat + stratum.gidx[None, :]
            at = np.clip(np.searchsorted(pos_keys, query), 0, len(pos_keys) - 1)
            blocked = pos_keys[at] == query
            uid, g1, g2 = user_ids[gu][:, None], groups.g1[idx][:, None], groups.g2[idx][:, None]
            if not replace:
                key = -np.log(hash_uniform(seed, SALT_KEYS, uid, g1, g2, item_ids[None, :])) / stratum.weight
                key[blocked] = np.inf
                take = min(k, n_s)
                order = np.argsort(key, axis=1, kind="stable")[:, :take]  # ties: lower item id
                chosen_key = np.take_along_axis(key, order, axis=1)
                rows, slot = np.nonzero(np.isfinite(chosen_key))
                target = idx[rows] * k + slot
                out_item[target] = stratum.gidx[order[rows, slot]]
                out_logq[target] = stratum.log_q[order[rows, slot]]
            else:
                draw = np.arange(k)[None, :, None]
                u = hash_uniform(seed, SALT_KEYS_REPLACE, uid[:, :, None], g1[:, :, None], g2[:, :, None], draw, item_ids[None, None, :])
                key = -np.log(u) / stratum.weight
                key[np.broadcast_to(blocked[:, None, :], key.shape)] = np.inf
                best = np.argmin(key, axis=2)  # first minimum: lower item id on ties
                finite = np.isfinite(np.take_along_axis(key, best[:, :, None], axis=2)[:, :, 0])
                rows, slot = np.nonzero(finite)
                target = idx[rows] * k + slot
                out_item[target] = stratum.gidx[best[rows, slot]]
                out_logq[target] = stratum.log_q[best[rows, slot]]


def _group_columns(groups: _Groups, at: np.ndarray, log: _Log, spec: SampleSpec, context_values) -> dict:
    """The key columns of the groups ``at``: the user, then the item and occurrence or the context."""
    columns = {spec.user_col: log.user_ids[groups.user_idx[at]]}
    if spec.is_context:
        for col, values in zip(spec.context_cols, context_values):
            columns[col] = values[groups.g1[at] - 1]
    elif spec.per == "interaction":
        columns[spec.item_col] = groups.g1[at]
        columns["occurrence"] = groups.g2[at].astype(np.int32)
    return columns


def memory_sample(
    frame: pd.DataFrame, spec: SampleSpec, *, chunk_rows: int = 4_000_000, k_name: str = "k",
    log_name: str = "the log",
) -> tuple[dict[str, np.ndarray], Shortfall]:
    """Negatives for every group of ``frame`` as column arrays, and the run's :class:`~recneg.scale.spec.Shortfall`.

    The engine behind :func:`memory_negatives` and ``recneg sample``. ``chunk_rows``
    bounds the candidates materialised at once; ``k_name`` and ``log_name`` are how error
    messages call ``k`` and the log.

    Examples
    --------
    >>> log = pd.DataFrame({"user": [1, 1, 2], "item": [2, 3, 2]})
    >>> columns, shortfall = memory_sample(log, SampleSpec(2, method="uniform"))
    >>> columns["negative"].tolist(), shortfall.describe()
    ([3], '2 of 2 users got fewer than 2 negatives (fewest: 0, for user 1)')
    """
    chunk_rows = check_positive_int("chunk_rows", chunk_rows)
    log = _encode(frame, spec, k_name, log_name)
    strata = [_make_stratum(np.arange(log.n_cat), log.item_counts, spec)]
    user_mass = _segment_sums(strata[0].pint[log.pos_keys % log.n_cat], log.pos_indptr[:-1], log.n_users)
    if spec.is_context:
        groups, context_values = _context_groups(frame, spec, log, user_mass, strata)
    else:
        groups, context_values = _plain_groups(log, spec, user_mass, strata[0].top_int), None
    _choose_routes(groups, strata, spec)

    k, n_groups = spec.k, len(groups.user_idx)
    # Slot j of group g lives at g * k + j; unfilled slots (too few items) keep -1.
    out_item = np.full(n_groups * k, -1, dtype=np.int64)
    out_logq = np.empty(n_groups * k, dtype=np.float64)
    _stream_route(groups, strata, log, spec, chunk_rows, out_item, out_logq)
    _keys_route(groups, strata, log, spec, chunk_rows, out_item, out_logq)

    filled = out_item >= 0
    received = filled.reshape(n_groups, k).sum(axis=1)
    short = np.flatnonzero(received < k)
    table = {**_group_columns(groups, short, log, spec, context_values), "negatives": received[short]}
    shortfall = Shortfall(k, n_groups, spec.unit, pd.DataFrame(table))
    if filled.all():  # the common case: no copies of the big output arrays
        group = np.repeat(np.arange(n_groups), k)
        slot = np.tile(np.arange(k, dtype=np.int32), n_groups)
    else:
        rows = np.flatnonzero(filled)
        group, slot = rows // k, (rows % k).astype(np.int32)
        out_item, out_logq = out_item[rows], out_logq[rows]  # frees the uncompacted arrays
    del filled
    result = _group_columns(groups, group, log, spec, context_values)
    result["negative"] = log.catalogue[out_item]
    result["slot"] = slot
    result["log_q"] = out_logq
    if spec.is_context:
        result["source"] = np.where(groups.stratum[group] == 0, "global", "context")
    return result, shortfall


def memory_negative_arrays(frame: pd.DataFrame, k: int, *, chunk_rows: int = 4_000_000, **options) -> dict[str, np.ndarray]:
    """Negatives for every group of an in-memory log, as a dict of column arrays.

    ``options`` are the keyword arguments of :func:`memory_negatives` (the fields of
    :class:`~recneg.scale.spec.SampleSpec`); this variant skips building a DataFrame so
    that large outputs can be written (e.g. by pyarrow) without a copy.

    Examples
    --------
    >>> log = pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 2]})
    >>> sorted(memory_negative_arrays(log, 1, method="uniform", seed=3))
    ['log_q', 'negative', 'slot', 'user']
    """
    return memory_sample(frame, SampleSpec(k, **options), chunk_rows=chunk_rows)[0]


def memory_negatives(
    frame: pd.DataFrame, k: int, *, method: str = "popularity", alpha: float = 0.75, per: str = "user",
    replace: bool = False, seed: int = 0, user_col: str = "user", item_col: str = "item",
    context_cols: Sequence[str] = ("segment", "week"), min_context_items: int | None = None,
    oversample="auto", shortfall_prob: float = 1e-9, strategy: str = "auto", chunk_rows: int = 4_000_000,
) -> pd.DataFrame:
    """Draw ``k`` negatives per group from an in-memory interaction log.

    The single-machine engine of ``recneg sample``; it returns exactly what
    :func:`recneg.scale.spark.popularity_negatives` (and its siblings) return for the same
    arguments, as a pandas DataFrame sorted by group and slot.

    Parameters
    ----------
    frame : pandas.DataFrame
        The (training) log, one row per interaction, with integer ``user_col`` and
        ``item_col`` (any integers; they are not remapped).
    k : int
        Negatives per group.
    method : {"uniform", "popularity", "context"}
        Uniform over the catalogue (the items of the log), popularity
        ``count ** alpha``, or popularity within the group's context (see ``context_cols``).
    alpha : float, default 0.75
        Popularity exponent (ignored by ``"uniform"``).
    per : {"user", "interaction"}
        One negative set per user, or one per interaction (row) of the log.
    replace : bool, default False
        Without replacement a group's ``k`` negatives are distinct (successive sampling);
        with replacement they are i.i.d. draws from the distribution restricted to the
        user's non-positives.
    seed : int
        Every random number is a hash of ``(seed, group, draw)``, so results do not depend
        on chunking or partitioning.
    context_cols : sequence of str
        With ``method="context"``, the columns that define a context (e.g. segment and
        week); a group is a (user, context) pair.
    min_context_items : int, optional
        Contexts with fewer distinct items (default ``2 * k``) draw from global popularity.
    oversample : "auto" or float
        ``"auto"`` sizes each group's draw budget so that it falls short of ``k``
        negatives with probability at most ``shortfall_prob``; a float ``f`` uses
        ``ceil(f * k / acceptance_rate)`` draws instead.
    shortfall_prob : float, default 1e-9
    strategy : {"auto", "stream", "keys"}
        Force the candidate stream or the exponential keys for every group; ``"auto"``
        picks the cheaper exact route per group.
    chunk_rows : int
        Candidates materialised at once (bounds the engine's working memory).

    Returns
    -------
    pandas.DataFrame
        Columns ``user_col``, then ``item_col`` and ``occurrence`` (per interaction) or the
        context columns (context method), then ``negative``, ``slot`` (draw order, 0-based),
        ``log_q`` (log-probability of the negative under one draw of the stratum's
        proposal, for logQ correction) and, for contexts, ``source`` (``"context"`` or
        ``"global"``).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user": [0, 0, 1, 2], "item": [1, 2, 2, 3]})
    >>> neg = memory_negatives(log, 1, method="uniform", seed=0)
    >>> neg.columns.tolist()
    ['user', 'negative', 'slot', 'log_q']
    >>> bool((neg.merge(log, left_on=["user", "negative"], right_on=["user", "item"]).empty))
    True
    """
    spec = SampleSpec(
        k, method=method, alpha=alpha, per=per, replace=replace, seed=seed, user_col=user_col,
        item_col=item_col, context_cols=context_cols, min_context_items=min_context_items,
        oversample=oversample, shortfall_prob=shortfall_prob, strategy=strategy,
    )
    return pd.DataFrame(memory_sample(frame, spec, chunk_rows=chunk_rows)[0])


def inclusion_probabilities(weights, k: int) -> np.ndarray:
    """Exact probability that each item is among ``k`` draws without replacement.

    For successive sampling (equivalently Efraimidis–Spirakis keys ``E_i / w_i``) item
    ``i`` is chosen iff fewer than ``k`` other keys are smaller than its own:

    ``pi_i = integral_0^inf w_i exp(-w_i t) P(#{j != i : E_j / w_j < t} <= k - 1) dt``,

    where the count is Poisson-binomial with success probabilities ``1 - exp(-w_j t)``.
    The integral is evaluated by adaptive quadrature for all items at once. These are the
    expected per-item frequencies of a without-replacement sampler, which differ from
    ``k * p_i`` for heavy items (a heavy item cannot be drawn twice).

    Parameters
    ----------
    weights : array-like of float, shape (n,)
        Positive weights of the admissible items.
    k : int
        Sample size, ``k <= n``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Inclusion probabilities; they sum to ``k``.

    Examples
    --------
    >>> pi = inclusion_probabilities([3.0, 1.0, 1.0], 1)  # one draw: plain p_i
    >>> np.round(pi, 6).tolist()
    [0.6, 0.2, 0.2]
    >>> round(float(inclusion_probabilities([5.0, 1.0, 1.0, 1.0], 2).sum()), 6)
    2.0
    """
    from scipy.integrate import quad_vec

    w = np.asarray(weights, dtype=np.float64)
    k = check_positive_int("k", k)
    if w.ndim != 1 or len(w) == 0 or not np.all(w > 0) or not np.all(np.isfinite(w)):
        raise RecnegError("weights must be a non-empty 1-d array of positive finite numbers")
    n = len(w)
    if k > n:
        raise RecnegError(f"k={k} exceeds the {n} items; a sample without replacement holds at most {n}")
    if k == n:
        return np.ones(n)
    scale = w.sum()
    w = w / scale  # keys then live on the scale t ~ k, whatever the weights' units

    def integrand(t: float) -> np.ndarray:
        below = -np.expm1(-w * t)  # P(key_j < t)
        # prefix[i] / suffix[i]: distribution (truncated at k - 1) of how many of the items
        # before / after i have keys below t; their convolution leaves item i out.
        prefix = np.zeros((n + 1, k))
        prefix[0, 0] = 1.0
        for i in range(n):  # a loop over items of one integrand call, not over samples
            prefix[i + 1] = prefix[i] * (1 - below[i])
            prefix[i + 1, 1:] += prefix[i, :-1] * below[i]
        suffix = np.zeros((n + 1, k))
        suffix[n, 0] = 1.0
        for i in range(n - 1, -1, -1):
            suffix[i] = suffix[i + 1] * (1 - below[i])
            suffix[i, 1:] += suffix[i + 1, :-1] * below[i]
        # P(others <= k - 1) = sum_{a + b <= k - 1} prefix[i, a] * suffix[i + 1, b]
        cum_suffix = np.cumsum(suffix[1:], axis=1)
        others = np.einsum("ia,ia->i", prefix[:n], cum_suffix[:, ::-1])
        return w * np.exp(-w * t) * others

    value, _ = quad_vec(integrand, 0.0, np.inf, epsabs=1e-12, epsrel=1e-10, limit=400)
    return np.clip(value, 0.0, 1.0)
