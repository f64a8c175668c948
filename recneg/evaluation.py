"""Evaluate a recommendation model on an :class:`~recneg.data.EvalSet`.

:func:`evaluate` scores every item for each evaluation row, removes the items the user
has already seen (the row's history), and reports accuracy (HR@K, NDCG@K, MRR), the
head / mid / tail cohort analysis with Balance (Prakash et al., arXiv 2410.17276) and
beyond-accuracy properties of the top-K lists. Popularity and cohorts always come from
the *training* split.

Two protocols:

``"full"``
    the target is ranked against every unseen item — the protocol every figure in
    recneg uses by default;
``"sampled"``
    the target is ranked against ``n_sampled`` sampled unseen items. Krichene & Rendle
    (KDD'20) show this is not a consistent estimate of full ranking; the result's
    ``protocol`` reads e.g. ``"sampled-uniform-100"`` so it cannot be mistaken for it.

The beyond-accuracy metrics (coverage, mean popularity, tail share) describe the
recommended top-K lists, which come from full scores under either protocol.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import metrics as M
from ._errors import RecnegError, check_positive_int
from .data.interactions import EvalSet, Interactions
from .samplers.base import make_generator

__all__ = ["evaluate", "evaluate_frame", "protocol_name", "PROTOCOLS"]

PROTOCOLS = ("full", "sampled")
_SAMPLED_BY = ("uniform", "popularity")


def _check_ks(ks) -> tuple[int, ...]:
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    try:
        ks = tuple(ks)
    except TypeError:
        raise RecnegError(f"ks must be an integer or a sequence of integers, got {ks!r}") from None
    if not ks:
        raise RecnegError("ks is empty; pass at least one cut-off, e.g. ks=(10,)")
    return tuple(sorted({check_positive_int("ks", k) for k in ks}))


def _model_device(model) -> torch.device:
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def protocol_name(protocol: str, sampled_by: str = "uniform", n_sampled: int = 100) -> str:
    """The label recorded with results: ``"full"`` or ``"sampled-<by>-<n>"``.

    Examples
    --------
    >>> protocol_name("sampled", "popularity", 100)
    'sampled-popularity-100'
    """
    if protocol not in PROTOCOLS:
        raise RecnegError(f'protocol must be "full" or "sampled", got {protocol!r}')
    if protocol == "full":
        return "full"
    if sampled_by not in _SAMPLED_BY:
        raise RecnegError(f'sampled_by must be "uniform" or "popularity", got {sampled_by!r}')
    return f"sampled-{sampled_by}-{n_sampled}"


def evaluate(
    model,
    eval_set: EvalSet,
    train: Interactions,
    *,
    ks: Iterable[int] | int = (10,),
    protocol: str = "full",
    n_sampled: int = 100,
    sampled_by: str = "uniform",
    batch_size: int = 256,
    random_state=0,
    progress: bool = False,
) -> dict:
    """Rank every evaluation row's target and summarise the ranking.

    Parameters
    ----------
    model : object
        Has ``score_all(users (B,), histories (B, L)) -> (B, n_items + 1)`` and a
        ``maxlen`` attribute (``None`` for non-sequential models, which then receive
        the last history item only, as a ``(B, 1)`` tensor). If it has ``eval`` /
        ``train`` methods (a ``torch.nn.Module``), it is put in eval mode for scoring
        and its previous mode is restored afterwards.
    eval_set : EvalSet
        Rows to rank (``split.valid`` or ``split.test``).
    train : Interactions
        The training split: popularity and cohorts are computed from it only.
    ks : int or sequence of int, default (10,)
        Cut-offs for HR@K, NDCG@K and the cohort / beyond-accuracy metrics.
    protocol : {"full", "sampled"}
    n_sampled : int, default 100
        Negatives per row for ``protocol="sampled"``.
    sampled_by : {"uniform", "popularity"}
        How the sampled protocol draws its negatives.
    batch_size : int, default 256
        Rows scored at once (memory is ``batch_size x (n_items + 1)`` scores).
    random_state : int, torch.Generator or None
        Seed of the sampled protocol's draws.
    progress : bool
        Show a tqdm bar over batches.

    Returns
    -------
    dict
        For each K: ``hr@K``, ``ndcg@K``; per cohort ``hr@K_head|mid|tail`` and
        ``ndcg@K_head|mid|tail``; ``balance@K``; ``coverage@K``, ``mean_pop@K``,
        ``tail_share@K``. Then ``mrr``; ``balance`` (= ``balance@10`` when 10 is among
        ``ks``, else at the smallest K); ``n_rows`` and ``n_rows_head|mid|tail``;
        ``protocol`` (``"full"`` or ``"sampled-<by>-<n>"``). A cohort without rows
        gives NaN for its metrics and for Balance.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import EvalSet, Interactions
    >>> train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 1]), np.arange(3),
    ...                      n_users=2, n_items=4)
    >>> test = EvalSet(users=np.array([0, 1]), targets=np.array([3, 4]),
    ...                history_indptr=np.array([0, 2, 3]), history_items=np.array([1, 2, 1]),
    ...                n_items=4)
    >>> class ByItemId:
    ...     maxlen = None
    ...     def score_all(self, users, histories):
    ...         return torch.arange(5.0).repeat(len(users), 1)
    >>> result = evaluate(ByItemId(), test, train, ks=(1,))
    >>> result["hr@1"], result["mrr"], result["protocol"]
    (0.5, 0.75, 'full')
    """
    if not isinstance(eval_set, EvalSet):
        raise RecnegError(f"eval_set must be an EvalSet (split.valid or split.test), got {type(eval_set).__name__}")
    if not isinstance(train, Interactions):
        raise RecnegError(f"train must be the training Interactions (split.train), got {type(train).__name__}")
    if eval_set.n_items != train.n_items:
        raise RecnegError(
            f"eval_set has {eval_set.n_items} items but train has {train.n_items}; "
            "pass the two parts of the same split"
        )
    if not callable(getattr(model, "score_all", None)):
        raise RecnegError(
            f"model {type(model).__name__} has no score_all(users, histories) method; "
            "see 'Models' in CONTRIBUTING.md"
        )
    ks = _check_ks(ks)
    label = protocol_name(protocol, sampled_by, n_sampled)
    if protocol == "sampled":
        n_sampled = check_positive_int("n_sampled", n_sampled)
    batch_size = check_positive_int("batch_size", batch_size)
    n_items = train.n_items
    if max(ks) > n_items:
        raise RecnegError(f"cut-off K={max(ks)} exceeds the {n_items} items; pass smaller ks")
    maxlen = getattr(model, "maxlen", None)
    maxlen = 1 if maxlen is None else check_positive_int("model.maxlen", maxlen)

    gen = make_generator(random_state)
    item_counts = train.item_counts()
    cohorts = M.popularity_cohorts(item_counts)
    device = _model_device(model)
    n_rows = len(eval_set)
    ranks = torch.empty(n_rows, dtype=torch.long)
    lists = torch.zeros(n_rows, max(ks), dtype=torch.long)

    was_training = getattr(model, "training", None)
    if was_training is not None and callable(getattr(model, "eval", None)):
        model.eval()
    try:
        starts = range(0, n_rows, batch_size)
        for start in tqdm(starts, desc="evaluate", disable=not progress, leave=False):
            rows = np.arange(start, min(start + batch_size, n_rows))
            users = torch.as_tensor(eval_set.users[rows], dtype=torch.long, device=device)
            histories = eval_set.padded_histories(maxlen, rows).to(device)
            with torch.no_grad():
                scores = model.score_all(users, histories)
            scores = torch.as_tensor(scores).detach()
            if scores.shape != (len(rows), n_items + 1):
                raise RecnegError(
                    f"model.score_all returned shape {tuple(scores.shape)}, expected "
                    f"({len(rows)}, {n_items + 1}) = (batch, n_items + 1)"
                )
            seen_rows, seen_items = eval_set.seen_pairs(rows)
            targets = torch.as_tensor(eval_set.targets[rows], dtype=torch.long, device=scores.device)
            if protocol == "full":
                batch_ranks = M.full_ranks(scores, targets, seen_rows, seen_items)
            else:
                batch_ranks = M.sampled_ranks(
                    scores, targets, n_sampled, by=sampled_by, item_counts=item_counts,
                    seen_rows=seen_rows, seen_items=seen_items, generator=gen,
                )
            ranks[rows] = batch_ranks.cpu()
            lists[rows] = M.top_k_items(scores, max(ks), seen_rows, seen_items).cpu()
    finally:
        if was_training is not None and callable(getattr(model, "train", None)):
            model.train(was_training)

    target_cohort = torch.as_tensor(cohorts[eval_set.targets], dtype=torch.long)
    masks = {name: target_cohort == code for code, name in enumerate(M.COHORT_NAMES)}
    result: dict = {}
    for k in ks:
        result[f"hr@{k}"] = M.hit_rate_at_k(ranks, k)
        result[f"ndcg@{k}"] = M.ndcg_at_k(ranks, k)
        for name, mask in masks.items():
            result[f"hr@{k}_{name}"] = M.hit_rate_at_k(ranks[mask], k)
            result[f"ndcg@{k}_{name}"] = M.ndcg_at_k(ranks[mask], k)
        result[f"balance@{k}"] = M.balance(*(result[f"hr@{k}_{n}"] for n in M.COHORT_NAMES))
        topk = lists[:, :k]
        result[f"coverage@{k}"] = M.catalogue_coverage(topk, n_items)
        result[f"mean_pop@{k}"] = M.mean_popularity(topk, item_counts)
        result[f"tail_share@{k}"] = M.tail_share(topk, cohorts)
    result["mrr"] = M.mrr(ranks)
    result["balance"] = result[f"balance@{10 if 10 in ks else ks[0]}"]
    result["n_rows"] = n_rows
    for name, mask in masks.items():
        result[f"n_rows_{name}"] = int(mask.sum())
    result["protocol"] = label
    return result


def evaluate_frame(model, eval_set: EvalSet, train: Interactions, **kwargs) -> pd.DataFrame:
    """:func:`evaluate` as a tidy long DataFrame with columns ``metric, value, protocol``.

    Takes the same keyword arguments as :func:`evaluate`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import EvalSet, Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.array([0]), n_users=1, n_items=3)
    >>> test = EvalSet(np.array([0]), np.array([2]), np.array([0, 1]), np.array([1]), n_items=3)
    >>> class Constant:
    ...     maxlen = None
    ...     def score_all(self, users, histories):
    ...         return torch.zeros(len(users), 4)
    >>> frame = evaluate_frame(Constant(), test, train, ks=(1,))
    >>> float(frame.set_index("metric").loc["hr@1", "value"])   # ties count against the target
    0.0
    """
    result = evaluate(model, eval_set, train, **kwargs)
    label = result.pop("protocol")
    return pd.DataFrame(
        {
            "metric": list(result),
            "value": [float(v) for v in result.values()],
            "protocol": label,
        }
    )
