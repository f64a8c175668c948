"""Calibration of a trained model over the whole candidate catalogue.

:mod:`recneg.production.calibration` works on arrays of predictions; this module makes
those predictions from a model and an evaluation split, the way a served model meets
them: for every test row, *every* candidate item gets a probability, the row's target is
the one positive and all other unseen candidates are negatives. The base rate is then
about one in the catalogue size, far below the one in ``1 + k`` a model trained with
``k`` negatives per positive saw, which is exactly where a sampled loss miscalibrates.

Two readings of a score as a probability:

``"sigmoid"``
    ``σ(s_i)`` for each item separately (what BCE and gBCE train);
``"softmax"``
    ``softmax(s)_i`` over the row's candidates (what a softmax loss trains; the row's
    probabilities sum to 1 by construction, so only their spread can be miscalibrated).

The reliability bins are accumulated batch by batch, so memory stays at one batch of
scores even on large catalogues.

:func:`sampled_pairs` pairs each test row's target with a few of the same candidates,
drawn uniformly, as the inputs of :func:`recneg.production.score_separation` and
:func:`recneg.production.margin_histogram`.
"""

from __future__ import annotations

import numpy as np
import torch

from .._errors import RecnegError, check_positive_int
from ..samplers.base import make_generator
from ..data.interactions import EvalSet, Interactions
from ..metrics import COHORT_NAMES, popularity_cohorts

__all__ = ["PROBABILITIES", "catalogue_calibration", "probability_for_loss", "sampled_pairs"]

PROBABILITIES = ("sigmoid", "softmax")
_POINTWISE = ("bce", "gbce")


def probability_for_loss(loss: str) -> str:
    """How a model trained with ``loss`` turns scores into probabilities.

    >>> probability_for_loss("gbce"), probability_for_loss("sampled-softmax")
    ('sigmoid', 'softmax')
    """
    return "sigmoid" if loss in _POINTWISE else "softmax"


def _row_probabilities(scores: torch.Tensor, allowed: torch.Tensor, probability: str) -> torch.Tensor:
    """Probabilities of the allowed candidates of each row (0 elsewhere)."""
    if probability == "sigmoid":
        return torch.sigmoid(scores) * allowed
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=1)


def catalogue_calibration(model, eval_set: EvalSet, train: Interactions, *, probability: str = "sigmoid",
                          n_bins: int = 15, batch_size: int = 256) -> dict:
    """Calibration and separability of ``model`` over every unseen trained item.

    Parameters
    ----------
    model : object
        Has ``score_all(users, histories)`` and ``maxlen`` (as for :func:`recneg.evaluation.evaluate`).
    eval_set : EvalSet
        Rows to probe (``split.test``); rows whose target has no training interaction
        are skipped (it is not a candidate) and counted in ``n_rows_skipped``.
    train : Interactions
        The training split: candidates are items with a training interaction.
    probability : {"sigmoid", "softmax"}
        See the module notes; :func:`probability_for_loss` picks it from the loss.
    n_bins : int, default 15
        Equal-width bins on [0, 1] of the reliability table.
    batch_size : int, default 256

    Returns
    -------
    dict
        ``ece`` (expected calibration error over all row × candidate pairs),
        ``mean_probability`` and ``base_rate`` (the observed positive share),
        ``expected_positives`` (mean over rows of the summed probabilities; 1 when
        calibrated, as each row has one positive), ``auc`` (mean over rows of the share
        of negatives the target outscores, ties ½) and ``auc_<cohort>`` by the target's
        popularity cohort, ``n_rows``, ``n_rows_skipped``, and ``reliability``: a dict of
        per-bin arrays ``mean_probability``, ``observed_rate``, ``count``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import EvalSet, Interactions

    Four trained items; each user has seen one and the next is item 4. A model that
    scores every item 0 predicts σ(0) = 0.5 for each of three candidates per row, so it
    expects 1.5 positives per row where there is one, and cannot separate them (AUC ½):

    >>> train = Interactions(np.array([0, 0, 1, 1]), np.array([1, 2, 3, 4]), np.arange(4), n_users=2, n_items=4)
    >>> test = EvalSet(users=np.array([0, 1]), targets=np.array([4, 4]), history_indptr=np.array([0, 1, 2]),
    ...                history_items=np.array([1, 2]), n_items=4)
    >>> class Constant:
    ...     maxlen = None
    ...     def score_all(self, users, histories):
    ...         return torch.zeros(len(users), 5)
    >>> probe = catalogue_calibration(Constant(), test, train)
    >>> probe["expected_positives"], probe["auc"], round(probe["ece"], 3), round(probe["base_rate"], 3)
    (1.5, 0.5, 0.167, 0.333)

    As a softmax the same scores give each candidate ⅓ — the base rate — and ECE 0:

    >>> catalogue_calibration(Constant(), test, train, probability="softmax")["ece"]
    0.0
    """
    if probability not in PROBABILITIES:
        raise RecnegError(f"probability must be one of {', '.join(PROBABILITIES)}; got {probability!r}")
    n_bins, batch_size = check_positive_int("n_bins", n_bins), check_positive_int("batch_size", batch_size)
    if not isinstance(eval_set, EvalSet) or not isinstance(train, Interactions):
        raise RecnegError("pass eval_set=split.test (an EvalSet) and train=split.train (Interactions)")
    counts = np.asarray(train.item_counts())
    trained = torch.as_tensor(counts > 0)
    trained[0] = False
    cohorts = popularity_cohorts(counts)
    rows = np.flatnonzero(trained.numpy()[eval_set.targets])
    sums, row_mass, row_auc = _scan(model, eval_set, rows, trained, probability, n_bins, batch_size)
    return _summary(sums, row_mass, row_auc, cohorts[eval_set.targets[rows]], len(eval_set) - len(rows))


def sampled_pairs(model, eval_set: EvalSet, train: Interactions, *, num_negatives: int = 100, random_state=None,
                  batch_size: int = 256) -> dict:
    """Each test row's target with ``num_negatives`` negatives drawn uniformly from its candidates.

    The candidates are those of :func:`catalogue_calibration`: items with a training
    interaction, outside the row's history, other than the target. They are drawn
    uniformly with replacement, so the share of a row's pairs that the target wins is an
    unbiased estimate of that row's AUC over the whole catalogue. Rows whose target has
    no training interaction, or that have no candidate, are skipped.

    Parameters
    ----------
    model : object
        Has ``score_all(users, histories)`` and ``maxlen``.
    eval_set : EvalSet
        Rows to pair (``split.test``).
    train : Interactions
        The training split: it decides which items are candidates.
    num_negatives : int, default 100
    random_state : int, torch.Generator or None
    batch_size : int, default 256

    Returns
    -------
    dict
        numpy arrays: ``rows`` (indices into ``eval_set``, shape ``(R,)``), ``targets``
        ``(R,)``, ``positive_scores`` ``(R,)``, ``negative_items`` ``(R, k)`` and
        ``negative_scores`` ``(R, k)`` — the arguments of
        :func:`~recneg.production.score_separation` and
        :func:`~recneg.production.margin_histogram`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import EvalSet, Interactions
    >>> train = Interactions(np.array([0, 0, 1, 1]), np.array([1, 2, 3, 4]), np.arange(4), n_users=2, n_items=4)
    >>> test = EvalSet(users=np.array([0, 1]), targets=np.array([4, 4]), history_indptr=np.array([0, 1, 2]),
    ...                history_items=np.array([1, 2]), n_items=4)
    >>> class ById:                      # scores every item by its id: item 4 beats every other
    ...     maxlen = None
    ...     def score_all(self, users, histories):
    ...         return torch.arange(5.0).expand(len(users), 5)
    >>> pairs = sampled_pairs(ById(), test, train, num_negatives=3, random_state=0)
    >>> pairs["negative_items"].shape, sorted(set(pairs["negative_items"][0].tolist()) - {2, 3})
    ((2, 3), [])
    >>> bool((pairs["positive_scores"][:, None] > pairs["negative_scores"]).all())
    True
    """
    num_negatives = check_positive_int("num_negatives", num_negatives)
    batch_size = check_positive_int("batch_size", batch_size)
    if not isinstance(eval_set, EvalSet) or not isinstance(train, Interactions):
        raise RecnegError("pass eval_set=split.test (an EvalSet) and train=split.train (Interactions)")
    generator = make_generator(random_state)
    trained = torch.as_tensor(np.asarray(train.item_counts()) > 0)
    trained[0] = False
    rows = np.flatnonzero(trained.numpy()[eval_set.targets])
    kept, targets, positive, items, negative = [], [], [], [], []
    for _, batch, scores, allowed, batch_targets in _scored_batches(model, eval_set, rows, trained, batch_size):
        allowed[torch.arange(len(batch)), batch_targets] = False
        has = allowed.any(1)
        drawn = torch.multinomial(allowed[has].double(), num_negatives, replacement=True, generator=generator)
        kept.append(batch[has.numpy()])
        targets.append(batch_targets[has])
        positive.append(scores[has].gather(1, batch_targets[has, None])[:, 0])
        items.append(drawn)
        negative.append(scores[has].gather(1, drawn))
    if not kept:
        raise RecnegError("no test row has a trained target; pass the split the model was trained on")
    return {"rows": np.concatenate(kept), "targets": torch.cat(targets).numpy(),
            "positive_scores": torch.cat(positive).numpy(), "negative_items": torch.cat(items).numpy(),
            "negative_scores": torch.cat(negative).numpy()}


def _scan(model, eval_set: EvalSet, rows: np.ndarray, trained: torch.Tensor, probability: str, n_bins: int,
          batch_size: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Reliability sums, per-row probability mass and per-row AUC, batch by batch, without gradients."""
    sums = {name: np.zeros(n_bins) for name in ("count", "probability", "positives")}
    row_mass, row_auc = np.zeros(len(rows)), np.zeros(len(rows))
    for start, batch, scores, allowed, targets in _scored_batches(model, eval_set, rows, trained, batch_size):
        allowed[torch.arange(len(batch)), targets] = True  # the target is a candidate even if re-consumed
        probs = _row_probabilities(scores, allowed, probability)
        labels = torch.zeros_like(allowed)
        labels[torch.arange(len(batch)), targets] = True
        _accumulate(sums, probs[allowed].numpy(), labels[allowed].numpy(), n_bins)
        row_mass[start:start + len(batch)] = probs.sum(1).numpy()
        row_auc[start:start + len(batch)] = _row_auc(scores, allowed, targets).numpy()
    return sums, row_mass, row_auc


def _scored_batches(model, eval_set: EvalSet, rows: np.ndarray, trained: torch.Tensor, batch_size: int):
    """Yield ``(start, batch, scores, allowed, targets)`` for the test rows ``rows``, batch by batch.

    Scores are computed in eval mode and without gradients (the model's mode is restored
    afterwards); ``allowed`` marks the trained items minus each row's seen items.
    """
    maxlen = getattr(model, "maxlen", None) or 1
    parameters = getattr(model, "parameters", None)
    device = next(parameters()).device if callable(parameters) else torch.device("cpu")
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            users = torch.as_tensor(eval_set.users[batch], dtype=torch.long, device=device)
            with torch.no_grad():
                scores = torch.as_tensor(model.score_all(users, eval_set.padded_histories(maxlen, batch).to(device)))
            scores = scores.detach().double().cpu()
            allowed = trained.expand_as(scores).clone()
            seen_rows, seen_items = eval_set.seen_pairs(batch)
            allowed[seen_rows, seen_items] = False
            yield start, batch, scores, allowed, torch.as_tensor(eval_set.targets[batch], dtype=torch.long)
    finally:
        if was_training is not None:
            model.train(was_training)


def _accumulate(sums: dict, probs: np.ndarray, labels: np.ndarray, n_bins: int) -> None:
    bins = np.minimum((probs * n_bins).astype(np.int64), n_bins - 1)
    sums["count"] += np.bincount(bins, minlength=n_bins)
    sums["probability"] += np.bincount(bins, weights=probs, minlength=n_bins)
    sums["positives"] += np.bincount(bins, weights=labels.astype(np.float64), minlength=n_bins)


def _row_auc(scores: torch.Tensor, allowed: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Share of each row's negative candidates that its target outscores, ties ½."""
    target_scores = scores.gather(1, targets[:, None])
    negatives = allowed.clone()
    negatives[torch.arange(len(targets)), targets] = False
    below = ((scores < target_scores) & negatives).sum(1).double()
    tied = ((scores == target_scores) & negatives).sum(1).double()
    n_negatives = negatives.sum(1).double()
    # A row without negative candidates has no AUC (NaN), not a perfect or a zero one.
    return (below + 0.5 * tied) / n_negatives.where(n_negatives > 0, torch.tensor(float("nan"), dtype=torch.float64))


def _summary(sums: dict, row_mass: np.ndarray, row_auc: np.ndarray, target_cohorts: np.ndarray,
             skipped: int) -> dict:
    count = sums["count"]
    total = count.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_probability = sums["probability"] / count
        observed = sums["positives"] / count
    ece = float(np.nansum(count / total * np.abs(observed - mean_probability))) if total else float("nan")
    result = {"ece": ece, "mean_probability": float(sums["probability"].sum() / total) if total else float("nan"),
              "base_rate": float(sums["positives"].sum() / total) if total else float("nan"),
              "expected_positives": float(row_mass.mean()) if len(row_mass) else float("nan"),
              "auc": _nanmean(row_auc)}
    for code, name in enumerate(COHORT_NAMES):
        mask = target_cohorts == code
        result[f"auc_{name}"] = _nanmean(row_auc[mask])
    result.update(n_rows=len(row_auc), n_rows_skipped=int(skipped),
                  reliability={"mean_probability": mean_probability, "observed_rate": observed, "count": count})
    return result


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")
