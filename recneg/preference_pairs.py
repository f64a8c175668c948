"""Preference pairs for LLM-based recommenders, and what their negatives get wrong.

Direct preference optimisation (DPO, Rafailov et al., NeurIPS 2023) fine-tunes a
language model on pairs: a prompt, a *chosen* response and a *rejected* one. An
LLM-based recommender turns a user's history into the prompt and an item into the
response; the chosen item is one the user went on to consume, and the rejected item is
a **negative sample** — so the negative sampler decides which preferences the model is
taught. A rejected item that the user in fact consumed later is a *false preference*:
the pair teaches the model to prefer one liked item over another.

This module builds such pairs from a split and counts false preferences against the
items each user interacted with after the training period, a proxy (it misses every
liked item the user never reached):

* :func:`later_items` — each user's validation and test targets, as a
  :class:`~recneg.data.UserItemSet`;
* :func:`preference_pairs` — one pair per evaluation row: prompt (the row's history),
  chosen (its target), rejected (drawn by a fitted sampler);
* :func:`flagged_share` — the share of (user, item) pairs that a set contains.

No language model is trained here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ._errors import RecnegError, check_positive_int
from .data.interactions import EvalSet, Split, UserItemSet
from .samplers.base import NegativeSampler, make_generator

__all__ = ["later_items", "preference_pairs", "flagged_share"]


def later_items(split: Split) -> UserItemSet:
    """Every (user, item) of ``split.valid`` and ``split.test``: what users did after training.

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> split = leave_one_out(SyntheticWorld(n_users=30, n_items=40, random_state=0).generate())
    >>> later = later_items(split)
    >>> len(later) <= len(split.valid) + len(split.test)
    True
    """
    if not isinstance(split, Split):
        raise RecnegError(f"split must be a Split (e.g. global_temporal_split(log)), got {type(split).__name__}")
    users = np.concatenate([split.valid.users, split.test.users])
    items = np.concatenate([split.valid.targets, split.test.targets])
    return UserItemSet(users, items, split.n_users, split.n_items)


def flagged_share(flags: UserItemSet, users, items) -> float:
    """Share of the pairs ``(users[b], items[b, j])`` that ``flags`` contains.

    Examples
    --------
    >>> import torch
    >>> flags = UserItemSet([0, 1], [3, 2], n_users=2, n_items=4)
    >>> flagged_share(flags, torch.tensor([0, 1]), torch.tensor([[3, 1], [1, 1]]))
    0.25
    """
    users = torch.as_tensor(users, dtype=torch.long)
    items = torch.as_tensor(items, dtype=torch.long)
    if items.dim() == 1:
        items = items.unsqueeze(1)
    if items.shape[0] != users.shape[0] or items.numel() == 0:
        raise RecnegError(f"items must have one row per user ({len(users)}) and at least one column, "
                          f"got shape {tuple(items.shape)}")
    return float(flags.contains(users, items).double().mean())


def preference_pairs(sampler: NegativeSampler, eval_set: EvalSet, *, scorer=None, rows=None,
                     random_state=0) -> pd.DataFrame:
    """DPO-style pairs: for each evaluation row, the target is chosen and a drawn negative rejected.

    Parameters
    ----------
    sampler : NegativeSampler
        Fitted on the training split the rows belong to. It excludes the user's training
        items and the chosen item, as in training.
    eval_set : EvalSet
        Usually ``split.test``; each row's history is the prompt.
    scorer : callable or model, optional
        For samplers that need one: a model with ``scorer(users)`` (e.g. a trained
        BPR-MF), or a function ``users -> Scorer``.
    rows : array-like of int, optional
        Rows to use; default all.
    random_state : int, optional

    Returns
    -------
    pandas.DataFrame
        ``row``, ``user``, ``prompt`` (the history's item ids, a tuple, time order),
        ``chosen``, ``rejected``.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> from recneg.samplers import UniformSampler
    >>> train = Interactions(np.array([0, 0]), np.array([1, 2]), np.arange(2), n_users=1, n_items=5)
    >>> test = EvalSet(np.array([0]), np.array([3]), np.array([0, 2]), np.array([1, 2]), n_items=5)
    >>> pairs = preference_pairs(UniformSampler().fit(train), test)
    >>> pairs.loc[0, "prompt"], int(pairs.loc[0, "chosen"]), int(pairs.loc[0, "rejected"]) in (4, 5)
    ((1, 2), 3, True)
    """
    if not isinstance(sampler, NegativeSampler) or not hasattr(sampler, "n_items_"):
        raise RecnegError("sampler must be a fitted NegativeSampler; call .fit(split.train) first")
    rows = np.arange(len(eval_set)) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        raise RecnegError("no evaluation rows to build pairs from; pass a non-empty eval_set or rows")
    users = torch.as_tensor(eval_set.users[rows], dtype=torch.long)
    chosen = torch.as_tensor(eval_set.targets[rows], dtype=torch.long)
    batch_scorer = None
    if sampler.needs_scorer:
        if scorer is None:
            raise RecnegError(f"{type(sampler).__name__} needs a scorer: pass scorer=model (a trained model)")
        batch_scorer = scorer.scorer(users) if hasattr(scorer, "scorer") else scorer(users)
    drawn = sampler.sample(users, chosen, 1, scorer=batch_scorer, generator=make_generator(random_state))
    return pd.DataFrame({
        "row": rows, "user": users.numpy(),
        "prompt": [tuple(eval_set.history(int(r)).tolist()) for r in rows],
        "chosen": chosen.numpy(), "rejected": drawn.items[:, 0].numpy(),
    })
