"""Training losses for implicit feedback, as small composable functions.

Every loss takes the logits of the positives and of the sampled negatives and returns a
scalar: the mean over the valid (unmasked) positions.

Shapes
------
``pos_logits``
    ``(B,)`` — one positive per example (matrix factorisation) — or ``(B, L)`` — one per
    position of a sequence (SASRec).
``neg_logits``
    ``pos_logits.shape + (k,)``: ``(B, k)`` or ``(B, L, k)``. A sequential model scores
    negatives *shared* by a whole sequence at every position, so its negative logits are
    ``(B, L, k)`` either way.
``neg_log_prob``, ``weights``, ``accidental_hits``
    Shaped like ``neg_logits``, or ``(B, k)`` when the negatives are shared by all the
    positions of a sequence (broadcast over ``L``).
``mask``
    Shaped like ``pos_logits``; ``True`` (or 1) marks a position that counts. Padding
    positions of a left-padded sequence are ``False``.

All losses are computed with ``logsigmoid`` / ``logsumexp`` and stay finite for logits
of any magnitude.

References
----------
Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018 (BCE).
Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009.
Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
Recommendations", RecSys 2019 (logQ correction).
Petrov & Macdonald, "gSASRec: Reducing Overconfidence in Sequential Recommendation
Trained with Negative Sampling", RecSys 2023 (gBCE).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ._errors import RecnegError, check_positive_int

__all__ = [
    "accidental_hits",
    "bce_loss",
    "bpr_loss",
    "full_ce_loss",
    "gbce_beta",
    "gbce_loss",
    "sampled_softmax_loss",
]


# -- shape helpers ---------------------------------------------------------------------
def _check_pair(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> None:
    if neg_logits.dim() != pos_logits.dim() + 1 or neg_logits.shape[:-1] != pos_logits.shape:
        raise RecnegError(
            f"neg_logits must have shape pos_logits.shape + (k,) = {tuple(pos_logits.shape)} + (k,), "
            f"got {tuple(neg_logits.shape)}"
        )


def _like_negatives(name: str, value, neg_logits: torch.Tensor) -> torch.Tensor | None:
    """Broadcast a per-negative tensor given as (B, k) for shared negatives to (B, L, k)."""
    if value is None:
        return None
    value = torch.as_tensor(value, device=neg_logits.device)
    if value.shape == neg_logits.shape:
        return value
    if neg_logits.dim() == 3 and value.shape == (neg_logits.shape[0], neg_logits.shape[2]):
        return value[:, None, :].expand_as(neg_logits)
    raise RecnegError(
        f"{name} must have the shape of neg_logits {tuple(neg_logits.shape)} or (B, k) for "
        f"shared negatives, got {tuple(value.shape)}"
    )


def _masked_mean(per_position: torch.Tensor, mask) -> torch.Tensor:
    if mask is None:
        return per_position.mean()
    mask = torch.as_tensor(mask, device=per_position.device)
    if mask.shape != per_position.shape:
        raise RecnegError(
            f"mask must have the shape of pos_logits {tuple(per_position.shape)}, got {tuple(mask.shape)}"
        )
    mask = mask.to(per_position.dtype)
    # A batch with no valid position contributes a zero loss (with zero gradient)
    # instead of a NaN.
    return (per_position * mask).sum() / mask.sum().clamp(min=1.0)


def accidental_hits(negatives: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Which sampled negatives equal the positive target of their position.

    Parameters
    ----------
    negatives : LongTensor, shape (B, k), (B, L, k)
        Shared negatives ``(B, k)`` are compared with every position's target.
    targets : LongTensor, shape (B,) or (B, L)

    Returns
    -------
    BoolTensor, shape ``targets.shape + (k,)``

    Examples
    --------
    >>> import torch
    >>> accidental_hits(torch.tensor([[3, 5]]), torch.tensor([[5, 4]])).tolist()
    [[[False, True], [False, False]]]
    """
    if targets.dim() == 2 and negatives.dim() == 2:
        return negatives[:, None, :] == targets[..., None]
    if negatives.dim() != targets.dim() + 1:
        raise RecnegError(
            f"negatives of shape {tuple(negatives.shape)} do not match targets of shape "
            f"{tuple(targets.shape)}; pass (B, k) or targets.shape + (k,)"
        )
    return negatives == targets[..., None]


# -- losses ------------------------------------------------------------------------------
def bce_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor, mask=None, weights=None) -> torch.Tensor:
    """Binary cross-entropy on one positive and ``k`` negatives per position.

    ``loss = -log σ(s⁺) - Σ_j w_j log(1 - σ(s⁻_j))``, averaged over valid positions.
    This is the loss of the original SASRec (with ``k = 1``) and of the large-scale
    negative-sampling study of Prakash et al. (arXiv 2410.17276).

    Parameters
    ----------
    pos_logits : Tensor, shape (B,) or (B, L)
    neg_logits : Tensor, shape pos_logits.shape + (k,)
    mask : BoolTensor, optional
        Shaped like ``pos_logits``; False positions (padding) are ignored.
    weights : Tensor, optional
        Per-negative weights (importance re-weighting samplers); default 1.

    Examples
    --------
    >>> import math, torch
    >>> loss = bce_loss(torch.tensor([0.0]), torch.tensor([[0.0, 0.0]]))
    >>> math.isclose(float(loss), 3 * math.log(2), rel_tol=1e-6)      # three times log 2
    True
    """
    _check_pair(pos_logits, neg_logits)
    weights = _like_negatives("weights", weights, neg_logits)
    neg_terms = -F.logsigmoid(-neg_logits)
    if weights is not None:
        neg_terms = neg_terms * weights
    per_position = -F.logsigmoid(pos_logits) + neg_terms.sum(-1)
    return _masked_mean(per_position, mask)


def bpr_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor, mask=None, weights=None) -> torch.Tensor:
    """Bayesian personalised ranking: ``-log σ(s⁺ - s⁻)`` averaged over the negatives.

    With ``k`` negatives per position each (positive, negative) pair is one BPR triple;
    the mean over them keeps the scale independent of ``k``. ``weights`` multiply the
    pairs' terms (the mean still divides by ``k``).

    Examples
    --------
    >>> import torch
    >>> round(float(bpr_loss(torch.tensor([2.0]), torch.tensor([[2.0]]))), 4)   # log 2
    0.6931
    """
    _check_pair(pos_logits, neg_logits)
    weights = _like_negatives("weights", weights, neg_logits)
    pair_terms = -F.logsigmoid(pos_logits[..., None] - neg_logits)
    if weights is not None:
        pair_terms = pair_terms * weights
    return _masked_mean(pair_terms.mean(-1), mask)


def sampled_softmax_loss(
    pos_logits: torch.Tensor,
    neg_logits: torch.Tensor,
    *,
    neg_log_prob=None,
    pos_log_prob=None,
    accidental_hits=None,
    weights=None,
    mask=None,
) -> torch.Tensor:
    """Softmax cross-entropy over the positive and its sampled negatives.

    ``loss = -s⁺' + log(exp(s⁺') + Σ_j w_j exp(s⁻_j'))`` with the corrected logits
    ``s' = s - log q`` (Yi et al., RecSys 2019): subtracting the log sampling probability
    removes the bias towards frequently sampled items, so the sampled softmax estimates
    the full one.

    Parameters
    ----------
    pos_logits : Tensor, shape (B,) or (B, L)
    neg_logits : Tensor, shape pos_logits.shape + (k,)
    neg_log_prob : Tensor, optional
        ``log q`` of each negative (``NegativeSample.log_prob``); enables logQ correction.
    pos_log_prob : Tensor, optional
        ``log q`` of each positive, shaped like ``pos_logits``, when the positives come
        from the same proposal (e.g. in-batch negatives).
    accidental_hits : BoolTensor, optional
        True where a negative equals the positive (see :func:`accidental_hits`); such
        logits are removed (set to ``-inf``) so the positive is not its own negative.
    weights : Tensor, optional
        Positive importance weights of the negatives in the partition function (added
        as ``log w`` to the logits).
    mask : BoolTensor, optional
        Shaped like ``pos_logits``.

    Examples
    --------
    >>> import math, torch
    >>> pos, neg = torch.tensor([1.0]), torch.tensor([[1.0, 1.0, 1.0]])
    >>> round(float(sampled_softmax_loss(pos, neg)), 4) == round(math.log(4), 4)
    True
    >>> hit = torch.tensor([[True, False, False]])
    >>> round(float(sampled_softmax_loss(pos, neg, accidental_hits=hit)), 4) == round(math.log(3), 4)
    True
    """
    _check_pair(pos_logits, neg_logits)
    neg_log_prob = _like_negatives("neg_log_prob", neg_log_prob, neg_logits)
    hits = _like_negatives("accidental_hits", accidental_hits, neg_logits)
    weights = _like_negatives("weights", weights, neg_logits)
    # The logQ correction: logits of items the proposal favours are lowered by log q.
    if neg_log_prob is not None:
        neg_logits = neg_logits - neg_log_prob.to(neg_logits.dtype)
    if pos_log_prob is not None:
        pos_log_prob = torch.as_tensor(pos_log_prob, device=pos_logits.device)
        if pos_log_prob.shape != pos_logits.shape:
            raise RecnegError(
                f"pos_log_prob must have the shape of pos_logits {tuple(pos_logits.shape)}, "
                f"got {tuple(pos_log_prob.shape)}"
            )
        pos_logits = pos_logits - pos_log_prob.to(pos_logits.dtype)
    if weights is not None:
        if bool((weights < 0).any()):
            raise RecnegError("weights of a sampled softmax must be non-negative")
        neg_logits = neg_logits + torch.log(weights.to(neg_logits.dtype))
    if hits is not None:
        neg_logits = neg_logits.masked_fill(hits.bool(), float("-inf"))
    logits = torch.cat([pos_logits[..., None], neg_logits], dim=-1)
    per_position = torch.logsumexp(logits, dim=-1) - pos_logits
    return _masked_mean(per_position, mask)


def gbce_beta(num_negatives: int, n_items: int, t: float) -> float:
    """The positive-term exponent β of gBCE (Petrov & Macdonald, RecSys 2023).

    ``α = k / (|I| - 1)`` is the sampling rate and ``β = α (t (1 - 1/α) + 1/α)``;
    ``t = 0`` gives ``β = 1`` (plain BCE) and ``t = 1`` gives ``β = α``.

    Examples
    --------
    >>> gbce_beta(1, 101, 0.0), gbce_beta(1, 101, 1.0)
    (1.0, 0.01)
    """
    k = check_positive_int("num_negatives", num_negatives)
    n = check_positive_int("n_items", n_items)
    if n < 2:
        raise RecnegError(f"gBCE needs at least 2 items, got n_items={n_items}")
    t = float(t)
    if not 0.0 <= t <= 1.0 or math.isnan(t):
        raise RecnegError(f"gBCE calibration t must lie in [0, 1], got {t}")
    alpha = k / (n - 1)
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def gbce_loss(
    pos_logits: torch.Tensor,
    neg_logits: torch.Tensor,
    *,
    n_items: int,
    t: float = 0.75,
    mask=None,
    weights=None,
) -> torch.Tensor:
    """Generalised BCE: ``-β log σ(s⁺) - Σ_j log(1 - σ(s⁻_j))`` (gSASRec).

    Raising the positive's probability to the power β (see :func:`gbce_beta`) offsets
    the overconfidence that training on ``k`` of ``|I| - 1`` negatives causes, so the
    model's probabilities stay calibrated to the full catalogue.

    Parameters
    ----------
    pos_logits, neg_logits : Tensor
    n_items : int
        Catalogue size ``|I|``.
    t : float in [0, 1], default 0.75
        Calibration strength; ``t = 0`` is plain :func:`bce_loss`.
    mask, weights : optional
        As in :func:`bce_loss`.

    Examples
    --------
    >>> import torch
    >>> pos, neg = torch.tensor([0.5]), torch.tensor([[0.2, -1.0]])
    >>> bool(torch.isclose(gbce_loss(pos, neg, n_items=100, t=0.0), bce_loss(pos, neg)))
    True
    """
    _check_pair(pos_logits, neg_logits)
    beta = gbce_beta(neg_logits.shape[-1], n_items, t)
    weights = _like_negatives("weights", weights, neg_logits)
    neg_terms = -F.logsigmoid(-neg_logits)
    if weights is not None:
        neg_terms = neg_terms * weights
    per_position = -beta * F.logsigmoid(pos_logits) + neg_terms.sum(-1)
    return _masked_mean(per_position, mask)


def full_ce_loss(logits: torch.Tensor, targets: torch.Tensor, mask=None) -> torch.Tensor:
    """Cross-entropy over the whole catalogue (no sampling).

    Parameters
    ----------
    logits : Tensor, shape (..., n_items + 1)
        Scores of every item; column 0 (padding) is excluded whatever its value.
    targets : LongTensor, shape (...)
        Target item ids; ``0`` marks padding and is ignored.
    mask : BoolTensor, optional
        Further positions to ignore (False); default ``targets != 0``.

    Examples
    --------
    >>> import math, torch
    >>> logits = torch.zeros(1, 5)
    >>> round(float(full_ce_loss(logits, torch.tensor([3]))), 4) == round(math.log(4), 4)
    True
    """
    targets = torch.as_tensor(targets, device=logits.device)
    if logits.shape[:-1] != targets.shape:
        raise RecnegError(
            f"logits must have shape targets.shape + (n_items + 1,), got logits "
            f"{tuple(logits.shape)} and targets {tuple(targets.shape)}"
        )
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= logits.shape[-1]):
        raise RecnegError(
            f"targets hold ids up to {int(targets.max())} but logits have {logits.shape[-1]} "
            "columns (n_items + 1)"
        )
    valid = targets != 0
    if mask is not None:
        mask = torch.as_tensor(mask, device=logits.device)
        if mask.shape != targets.shape:
            raise RecnegError(f"mask must have the shape of targets {tuple(targets.shape)}, got {tuple(mask.shape)}")
        valid = valid & mask.bool()
    # Every item is a candidate: a softmax over the whole catalogue at each valid position.
    n_columns = logits.shape[-1]
    flat_logits, flat_targets, flat_valid = logits.reshape(-1, n_columns), targets.reshape(-1), valid.reshape(-1)
    if not bool(flat_valid.all()):
        flat_logits, flat_targets = flat_logits[flat_valid], flat_targets[flat_valid]
    if flat_targets.numel() == 0:
        return logits[..., 1:].sum() * 0.0  # nothing to learn from: zero loss, zero gradient
    # Dropping column 0 (padding) in a view is cheaper than masking it in a copy, and
    # the fused cross-entropy is cheaper than logsumexp minus gather.
    return F.cross_entropy(flat_logits[:, 1:], flat_targets - 1)
