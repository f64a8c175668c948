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

Candidate items (``candidates=``):

``"trained"`` (default)
    only items with at least one training interaction are ranked, listed in the top-K
    lists and drawn as the sampled protocol's negatives. An item no training row
    contains cannot have been learned: its score is whatever the model's initialisation
    left, and with popularity-family samplers (which rarely or never draw such items as
    negatives) those untouched scores can flood the top-K lists (recneg issue #9).
``"all"``
    the whole catalogue ``1..n_items``.

**Rows whose target was never seen in training.** Under ``candidates="trained"`` such
a target is not a candidate. The row stays in every denominator and counts as a miss:
its HR@K, NDCG@K and reciprocal rank are 0 (a model could not have learned the item,
and dropping the row would flatter every model equally while hiding how many there
are). Their number and share are reported as ``n_rows_untrained_target`` and
``untrained_target_share`` under either setting.

**Untouched items.** ``untouched_share@K`` is the share of top-K slots held by items
that never received a gradient signal in training (never a positive target, never a
drawn negative); :class:`recneg.training.Trainer` records them and passes them as
``touched=``. Without ``touched``, items with no training interaction count as
untouched.

**Result keys.** For each K: ``hr@K``, ``ndcg@K``; per cohort ``hr@K_head|mid|tail`` and
``ndcg@K_head|mid|tail``; ``balance@K``; ``coverage@K`` (share of the whole catalogue
listed), ``mean_pop@K``, ``tail_share@K``, ``untouched_share@K`` (share of listed slots
held by untouched items). Then ``mrr``; ``balance`` (= ``balance@10`` when 10 is among
``ks``, else at the smallest K); ``n_rows`` and ``n_rows_head|mid|tail``;
``n_rows_untrained_target`` and ``untrained_target_share``; ``n_candidates`` (items that
could be ranked); ``candidates``; ``protocol`` (``"full"`` or ``"sampled-<by>-<n>"``). A
cohort without rows gives NaN for its metrics and for Balance.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import metrics
from ._errors import RecnegError, check_positive_int
from .data.interactions import EvalSet, Interactions
from .samplers.base import make_generator

__all__ = ["evaluate", "evaluate_frame", "protocol_name", "PROTOCOLS", "CANDIDATES"]

PROTOCOLS = ("full", "sampled")
#: Values of ``evaluate(..., candidates=...)``.
CANDIDATES = ("trained", "all")
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


def _check_candidates(candidates) -> str:
    if not isinstance(candidates, str) or candidates not in CANDIDATES:
        raise RecnegError(
            f'candidates must be "trained" (items with a training interaction) or "all", got {candidates!r}'
        )
    return candidates


def _check_touched(touched, n_items: int) -> np.ndarray:
    array = np.asarray(touched.detach().cpu() if torch.is_tensor(touched) else touched)
    if array.dtype != np.bool_:
        raise RecnegError(
            f"touched must be a boolean array, got dtype {array.dtype}; pass TrainResult.touched_items"
        )
    if array.shape != (n_items + 1,):
        raise RecnegError(
            f"touched has shape {array.shape}, expected ({n_items + 1},) = (n_items + 1,); "
            "pass TrainResult.touched_items of a model trained on the same split"
        )
    return array


def _masked_mean(values: torch.Tensor, rows: torch.Tensor | None = None) -> float:
    if rows is not None:
        values = values[rows]
    return float(values.double().mean()) if len(values) else math.nan


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


def evaluate(model, eval_set: EvalSet, train: Interactions, *, ks: Iterable[int] | int = (10,),
             protocol: str = "full", n_sampled: int = 100, sampled_by: str = "uniform", batch_size: int = 256,
             random_state=0, progress: bool = False, candidates: str = "trained", touched=None) -> dict:
    """Rank every evaluation row's target and summarise the ranking.

    Parameters
    ----------
    model : object
        Has ``score_all(users (B,), histories (B, L)) -> (B, n_items + 1)`` and a ``maxlen``
        attribute (``None``: non-sequential, it receives the last history item as ``(B, 1)``).
        A ``torch.nn.Module`` is scored in eval mode and its mode restored afterwards.
    eval_set : EvalSet
        Rows to rank (``split.valid`` or ``split.test``).
    train : Interactions
        The training split: popularity and cohorts are computed from it only.
    ks : int or sequence of int, default (10,)
        Cut-offs for HR@K, NDCG@K and the cohort and beyond-accuracy metrics.
    protocol : {"full", "sampled"}
    n_sampled : int, default 100
        Negatives per row for ``protocol="sampled"``, drawn ``sampled_by`` {"uniform", "popularity"}.
    batch_size : int, default 256
        Rows scored at once (memory is ``batch_size x (n_items + 1)`` scores).
    random_state : int, torch.Generator or None
        Seed of the sampled protocol's draws.
    progress : bool
        Show a tqdm bar over batches.
    candidates : {"trained", "all"}, default "trained"
        Items ranked, listed and sampled (see the module notes).
    touched : bool array-like, shape (n_items + 1,), optional
        Items that received a gradient in training (``TrainResult.touched_items``), for
        ``untouched_share@K``; ``None`` treats items without training interactions as untouched.

    Returns
    -------
    dict
        The keys listed under "Result keys" in the module notes.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import EvalSet, Interactions
    >>> train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 1]), np.arange(3), n_users=2, n_items=4)
    >>> test = EvalSet(users=np.array([0, 1]), targets=np.array([3, 4]), history_indptr=np.array([0, 2, 3]),
    ...                history_items=np.array([1, 2, 1]), n_items=4)
    >>> class ByItemId:
    ...     maxlen = None
    ...     def score_all(self, users, histories):
    ...         return torch.arange(5.0).repeat(len(users), 1)
    >>> result = evaluate(ByItemId(), test, train, ks=(1,), candidates="all")
    >>> result["hr@1"], result["mrr"], result["protocol"]
    (0.5, 0.75, 'full')

    Items 3 and 4 have no training interaction: by default they are not ranked, and both
    targets count as misses.

    >>> result = evaluate(ByItemId(), test, train, ks=(1,))
    >>> result["hr@1"], result["n_candidates"], result["n_rows_untrained_target"]
    (0.0, 2, 2)
    """
    ks, maxlen = _check_evaluation(model, eval_set, train, ks, candidates)
    label = protocol_name(protocol, sampled_by, n_sampled)
    if protocol == "sampled":
        n_sampled = check_positive_int("n_sampled", n_sampled)
    batch_size = check_positive_int("batch_size", batch_size)
    items = _ItemSets.of(train, candidates, touched)
    ranks, lists = _rank_rows(model, eval_set, items, maxlen, max(ks), batch_size, progress, protocol,
                              n_sampled, sampled_by, make_generator(random_state))
    result = _summarise(ranks, lists, eval_set, items, ks)
    result.update(n_candidates=items.n_candidates, candidates=candidates, protocol=label)
    return result


def _check_evaluation(model, eval_set, train, ks, candidates) -> tuple[tuple[int, ...], int]:
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
    _check_candidates(candidates)
    if max(ks) > train.n_items:
        raise RecnegError(f"cut-off K={max(ks)} exceeds the {train.n_items} items; pass smaller ks")
    maxlen = getattr(model, "maxlen", None)
    return ks, 1 if maxlen is None else check_positive_int("model.maxlen", maxlen)


class _ItemSets:
    """What the training split says about each item: counts, cohorts, which items are
    candidates and which ones training never touched."""

    def __init__(self, item_counts, cohorts, trained, untouched, candidate_mask, n_candidates):
        self.item_counts, self.cohorts, self.trained = item_counts, cohorts, trained
        self.untouched, self.candidate_mask, self.n_candidates = untouched, candidate_mask, n_candidates

    @classmethod
    def of(cls, train: Interactions, candidates: str, touched) -> "_ItemSets":
        item_counts = train.item_counts()
        trained = np.asarray(item_counts) > 0
        trained[0] = False
        untouched = ~(trained if touched is None else _check_touched(touched, train.n_items))
        untouched[0] = False  # padding slots are not recommendations
        if candidates == "trained":
            return cls(item_counts, metrics.popularity_cohorts(item_counts), trained, untouched,
                       torch.as_tensor(trained), int(trained.sum()))
        return cls(item_counts, metrics.popularity_cohorts(item_counts), trained, untouched, None, train.n_items)


def _rank_rows(model, eval_set: EvalSet, items: _ItemSets, maxlen: int, max_k: int, batch_size: int,
               progress: bool, protocol: str, n_sampled: int, sampled_by: str, gen) -> tuple[torch.Tensor, torch.Tensor]:
    """The target's rank and the top-``max_k`` list of every row, batch by batch, without gradients."""
    device, n_rows, n_items = _model_device(model), len(eval_set), eval_set.n_items
    ranks = torch.empty(n_rows, dtype=torch.long)
    lists = torch.zeros(n_rows, max_k, dtype=torch.long)
    was_training = getattr(model, "training", None)
    if was_training is not None and callable(getattr(model, "eval", None)):
        model.eval()
    order = np.arange(n_rows)
    if protocol == "full" and maxlen > 1:
        # Full ranking draws nothing, so the batches may be formed freely: rows of similar
        # history length share a batch and a model that drops all-padding columns (SASRec)
        # reads little padding. Sampled protocols keep row order: their draws follow it.
        order = np.argsort(np.minimum(np.diff(eval_set.history_indptr), maxlen), kind="stable")
    try:
        for start in tqdm(range(0, n_rows, batch_size), desc="evaluate", disable=not progress, leave=False):
            rows = order[start:start + batch_size]
            users = torch.as_tensor(eval_set.users[rows], dtype=torch.long, device=device)
            with torch.no_grad():
                scores = model.score_all(users, eval_set.padded_histories(maxlen, rows).to(device))
            scores = torch.as_tensor(scores).detach()
            if scores.shape != (len(rows), n_items + 1):
                raise RecnegError(f"model.score_all returned shape {tuple(scores.shape)}, expected "
                                  f"({len(rows)}, {n_items + 1}) = (batch, n_items + 1)")
            seen_rows, seen_items = eval_set.seen_pairs(rows)
            targets = torch.as_tensor(eval_set.targets[rows], dtype=torch.long, device=scores.device)
            if protocol == "full":
                batch_ranks, top = metrics.full_ranks_and_top_k(scores, targets, max_k, seen_rows, seen_items,
                                                                item_mask=items.candidate_mask)
            else:
                batch_ranks = metrics.sampled_ranks(
                    scores, targets, n_sampled, by=sampled_by, item_counts=items.item_counts, seen_rows=seen_rows,
                    seen_items=seen_items, generator=gen, item_mask=items.candidate_mask)
                top = metrics.top_k_items(scores, max_k, seen_rows, seen_items, item_mask=items.candidate_mask)
            ranks[rows] = batch_ranks.cpu()
            lists[rows] = top.cpu()
    finally:
        if was_training is not None and callable(getattr(model, "train", None)):
            model.train(was_training)
    return ranks, lists


def _summarise(ranks: torch.Tensor, lists: torch.Tensor, eval_set: EvalSet, items: _ItemSets,
               ks: tuple[int, ...]) -> dict:
    """Accuracy, cohorts, Balance and the beyond-accuracy figures of ranked rows."""
    target_cohort = torch.as_tensor(items.cohorts[eval_set.targets], dtype=torch.long)
    masks = {name: target_cohort == code for code, name in enumerate(metrics.COHORT_NAMES)}
    untrained_target = torch.as_tensor(~items.trained[eval_set.targets], dtype=torch.bool)
    # Under "trained" an untrained target is a miss in every metric (not just ranked
    # last, which would still earn it a reciprocal rank): `reachable` zeroes its row.
    ranked_all = items.candidate_mask is None
    reachable = torch.ones(len(ranks), dtype=torch.float64) if ranked_all else (~untrained_target).double()
    result: dict = {}
    for k in ks:
        hits = metrics.hits_at_k(ranks, k) * reachable
        gains = metrics.ndcg_gains_at_k(ranks, k) * reachable
        result[f"hr@{k}"], result[f"ndcg@{k}"] = _masked_mean(hits), _masked_mean(gains)
        for name, mask in masks.items():
            result[f"hr@{k}_{name}"] = _masked_mean(hits, mask)
            result[f"ndcg@{k}_{name}"] = _masked_mean(gains, mask)
        result[f"balance@{k}"] = metrics.balance(*(result[f"hr@{k}_{n}"] for n in metrics.COHORT_NAMES))
        topk = lists[:, :k]
        result[f"coverage@{k}"] = metrics.catalogue_coverage(topk, eval_set.n_items)
        result[f"mean_pop@{k}"] = metrics.mean_popularity(topk, items.item_counts)
        result[f"tail_share@{k}"] = metrics.tail_share(topk, items.cohorts)
        listed = topk[topk > 0].numpy()
        result[f"untouched_share@{k}"] = float(items.untouched[listed].mean()) if len(listed) else math.nan
    result["mrr"] = _masked_mean(metrics.reciprocal_ranks(ranks) * reachable)
    result["balance"] = result[f"balance@{10 if 10 in ks else ks[0]}"]
    result["n_rows"] = len(ranks)
    for name, mask in masks.items():
        result[f"n_rows_{name}"] = int(mask.sum())
    result["n_rows_untrained_target"] = int(untrained_target.sum())
    result["untrained_target_share"] = _masked_mean(untrained_target.double())
    return result


def evaluate_frame(model, eval_set: EvalSet, train: Interactions, **kwargs) -> pd.DataFrame:
    """:func:`evaluate` as a tidy long DataFrame with columns ``metric, value, protocol, candidates``.

    Takes the same keyword arguments as :func:`evaluate`; its two labels (``protocol``
    and ``candidates``) become columns, every other entry a row.

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
    >>> frame = evaluate_frame(Constant(), test, train, ks=(1,), candidates="all")
    >>> float(frame.set_index("metric").loc["hr@1", "value"])   # ties count against the target
    0.0
    """
    result = evaluate(model, eval_set, train, **kwargs)
    label = result.pop("protocol")
    candidates = result.pop("candidates")
    return pd.DataFrame(
        {
            "metric": list(result),
            "value": [float(v) for v in result.values()],
            "protocol": label,
            "candidates": candidates,
        }
    )
