"""Calibration and separability probes for a model trained with sampled negatives.

A model trained with a few sampled negatives per positive sees positives far more often
than serving does, and BCE then makes it overconfident (the motivation of gSASRec's
gBCE). Before its scores are used as probabilities (a threshold, a blend with another
model, an expected-revenue ranking) they should be checked against observed outcomes:

* :func:`reliability_table` — per bin of predicted probability, the mean prediction, the
  observed rate and the count (the data of a reliability diagram);
* :func:`expected_calibration_error` — ``ECE = Σ_b (n_b / N) · |ȳ_b − p̄_b|`` (Naeini et
  al., AAAI 2015; Guo et al., ICML 2017), with equal-width or equal-mass bins;
* :func:`auc` — the probability that a positive outscores a negative, ties counted ½
  (the Mann–Whitney statistic over all pairs);
* :func:`score_separation` and :func:`margin_histogram` — positive-minus-negative
  margins of paired samples (each positive with its own negatives), optionally split by
  the popularity cohort of the negative: a model that only separates tail negatives
  has learnt popularity, not preference.

ECE is biased upwards: even a perfectly calibrated model shows ``|ȳ_b − p̄_b|`` of order
``sqrt(p̄_b(1 − p̄_b) / n_b)`` per bin, so compare it with that noise level rather than 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import RecnegError, check_positive_int

__all__ = ["reliability_table", "expected_calibration_error", "auc", "score_separation", "margin_histogram"]

_STRATEGIES = ("width", "mass")
_COHORTS = ("head", "mid", "tail")


def _finite(name: str, values, *, ndim: int | None = None) -> np.ndarray:
    """``values`` as float64 (torch tensors too), refusing NaN, infinity and emptiness."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise RecnegError(f"{name} must be numbers, got {type(values).__name__}") from None
    if ndim is not None and array.ndim != ndim:
        raise RecnegError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if array.size == 0:
        raise RecnegError(f"{name} is empty; pass at least one score")
    bad = ~np.isfinite(array)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        where = at[0] if len(at) == 1 else at
        raise RecnegError(f"{name}[{where}] is {array[at]}; pass finite values")
    return array


def _predictions(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validated flat predictions in [0, 1] and 0/1 labels of the same length."""
    p = _finite("probs", probs).reshape(-1)
    y = _finite("labels", labels).reshape(-1)
    if len(p) != len(y):
        raise RecnegError(f"probs has {len(p)} entries but labels has {len(y)}; pass one label per prediction")
    outside = (p < 0) | (p > 1)
    if outside.any():
        at = int(np.flatnonzero(outside)[0])
        raise RecnegError(f"probs[{at}] is {p[at]}, outside [0, 1]; pass probabilities (apply a sigmoid to scores)")
    not_binary = (y != 0) & (y != 1)
    if not_binary.any():
        at = int(np.flatnonzero(not_binary)[0])
        raise RecnegError(f"labels[{at}] is {y[at]:g}; labels must be 0 or 1")
    return p, y


def _bin_codes(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin of every prediction: equal-width on [0, 1], or equal-mass by rank.

    Equal-mass bins put prediction ``i`` in bin ``⌊B · s_i / N⌋`` where ``s_i`` counts
    the predictions strictly below it, so tied predictions always share a bin (bins
    then hold unequal counts, and some may be empty).
    """
    if strategy == "width":
        return np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    below = np.searchsorted(np.sort(p), p, side="left")
    return (n_bins * below) // len(p)


def reliability_table(probs, labels, *, n_bins: int = 15, strategy: str = "width") -> pd.DataFrame:
    """The data of a reliability diagram: per bin, mean prediction against observed rate.

    Parameters
    ----------
    probs : array-like of float
        Predicted probabilities in [0, 1] (any shape; flattened).
    labels : array-like of {0, 1}
        Observed outcomes, one per prediction.
    n_bins : int, default 15
    strategy : {"width", "mass"}, default "width"
        Equal-width bins on [0, 1] or equal-mass bins (about ``N / n_bins`` predictions
        each; ties kept together).

    Returns
    -------
    pandas.DataFrame
        ``bin, lower, upper, count, mean_predicted, observed_rate, gap`` (``gap =
        observed_rate − mean_predicted``), one row per bin; empty bins have count 0 and
        NaN means. ``lower``/``upper`` are the bin edges (width) or the smallest and
        largest prediction in the bin (mass).

    Examples
    --------
    >>> table = reliability_table([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 0], n_bins=2)
    >>> table[["bin", "count", "mean_predicted", "observed_rate"]]
       bin  count  mean_predicted  observed_rate
    0    0      2            0.15            0.0
    1    1      2            0.85            0.5
    """
    p, y = _predictions(probs, labels)
    n_bins = check_positive_int("n_bins", n_bins)
    if strategy not in _STRATEGIES:
        raise RecnegError(f"strategy must be one of {', '.join(_STRATEGIES)}, got {strategy!r}")
    codes = _bin_codes(p, n_bins, strategy)
    count = np.bincount(codes, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(codes, weights=p, minlength=n_bins) / count
        rate = np.bincount(codes, weights=y, minlength=n_bins) / count
    if strategy == "width":
        lower, upper = np.arange(n_bins) / n_bins, np.arange(1, n_bins + 1) / n_bins
    else:
        lower, upper = np.full(n_bins, np.nan), np.full(n_bins, np.nan)
        np.fmin.at(lower, codes, p)
        np.fmax.at(upper, codes, p)
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": lower, "upper": upper, "count": count,
                         "mean_predicted": mean_p, "observed_rate": rate, "gap": rate - mean_p})


def expected_calibration_error(probs, labels, *, n_bins: int = 15, strategy: str = "width") -> float:
    """Expected calibration error ``Σ_b (n_b / N) · |ȳ_b − p̄_b|`` over the bins of
    :func:`reliability_table` (empty bins weigh 0).

    Parameters
    ----------
    probs, labels, n_bins, strategy
        As in :func:`reliability_table`.

    Returns
    -------
    float
        In [0, 1]; 0 only when every bin's observed rate equals its mean prediction.

    Examples
    --------
    >>> round(expected_calibration_error([0.9] * 10, [1] * 6 + [0] * 4), 12)   # predicts 0.9, observes 0.6
    0.3
    """
    table = reliability_table(probs, labels, n_bins=n_bins, strategy=strategy)
    used = table["count"] > 0
    weights = table["count"][used] / table["count"].sum()
    return float((weights * table["gap"][used].abs()).sum())


def auc(positive_scores, negative_scores) -> float:
    """Area under the ROC curve: ``P(s⁺ > s⁻) + ½ P(s⁺ = s⁻)`` over all pairs.

    This is the Mann–Whitney ``U`` of the positives divided by ``n⁺ · n⁻``, computed with
    two binary searches per positive (``O((n⁺ + n⁻) log n⁻)``, no pair matrix).

    Parameters
    ----------
    positive_scores, negative_scores : array-like of float
        Scores of positives and of negatives (any shapes; flattened).

    Returns
    -------
    float

    Examples
    --------
    >>> auc([0.9, 0.5], [0.5, 0.1, 0.7])   # pairs won: 3 + (1 + ½ tie) of 6
    0.75
    """
    pos = _finite("positive_scores", positive_scores).reshape(-1)
    neg = np.sort(_finite("negative_scores", negative_scores).reshape(-1))
    below = np.searchsorted(neg, pos, side="left")
    tied = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (len(pos) * len(neg)))


def _paired_margins(positive_scores, negative_scores) -> np.ndarray:
    """``s⁺_b − s⁻_{b,j}``, shape ``(B, k)``, for positives ``(B,)`` and negatives ``(B, k)``."""
    pos = _finite("positive_scores", positive_scores, ndim=1)
    neg = _finite("negative_scores", negative_scores, ndim=2)
    if neg.shape[0] != len(pos):
        raise RecnegError(f"negative_scores has {neg.shape[0]} rows but there are {len(pos)} positives; "
                          "pass shape (B, k) with one row per positive")
    return pos[:, None] - neg


def score_separation(positive_scores, negative_scores, *, negative_items=None, cohorts=None) -> pd.DataFrame:
    """How well each positive outscores its own negatives, overall and per cohort.

    Parameters
    ----------
    positive_scores : array-like, shape (B,)
    negative_scores : array-like, shape (B, k)
        Row ``b`` holds the scores of the negatives drawn for positive ``b``.
    negative_items : array-like of int, shape (B, k), optional
        Item ids of the negatives; needed with ``cohorts``.
    cohorts : array-like of int, shape (n_items + 1,), optional
        Cohort code of every item, e.g.
        ``recneg.metrics.popularity_cohorts(train.item_counts())`` (0 head, 1 mid, 2 tail).

    Returns
    -------
    pandas.DataFrame
        Rows ``all`` and, with cohorts, ``head``, ``mid``, ``tail`` (cohorts of the
        *negatives*); columns ``pairs``, ``auc`` (share of pairs with a positive margin,
        ties ½), ``mean_margin`` and ``median_margin``. A cohort without negatives has
        0 pairs and NaN statistics.

    Examples
    --------
    >>> frame = score_separation([2.0, 1.0], [[1.0, 2.0], [0.0, 3.0]],
    ...                          negative_items=[[1, 3], [1, 3]], cohorts=[-1, 0, 1, 2])
    >>> frame[["pairs", "auc", "mean_margin"]]
          pairs   auc  mean_margin
    all       4  0.625          0.0
    head      2  1.000          1.0
    mid       0    NaN          NaN
    tail      2  0.250         -1.0
    """
    margins = _paired_margins(positive_scores, negative_scores)
    groups = {"all": np.ones(margins.shape, dtype=bool)}
    if cohorts is not None:
        if negative_items is None:
            raise RecnegError("cohorts need negative_items=...: pass the item ids of the negatives")
        codes = np.asarray(cohorts, dtype=np.int64).reshape(-1)
        items = np.asarray(negative_items, dtype=np.int64)
        if items.shape != margins.shape:
            raise RecnegError(f"negative_items has shape {items.shape} but negative_scores {margins.shape}; "
                              "pass one item id per negative score")
        if items.size and (items.min() < 0 or items.max() >= len(codes)):
            bad = int(items[(items < 0) | (items >= len(codes))][0])
            raise RecnegError(f"negative item id {bad} has no cohort (cohorts covers 0..{len(codes) - 1}); "
                              "pass cohorts of the full catalogue")
        groups.update({name: codes[items] == code for code, name in enumerate(_COHORTS)})
    rows = {}
    for name, mask in groups.items():
        m = margins[mask]
        rows[name] = {"pairs": int(m.size),
                      "auc": float(np.mean((m > 0) + 0.5 * (m == 0))) if m.size else np.nan,
                      "mean_margin": float(m.mean()) if m.size else np.nan,
                      "median_margin": float(np.median(m)) if m.size else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index")


def margin_histogram(positive_scores, negative_scores, *, n_bins: int = 20, value_range=None,
                     where=None) -> pd.DataFrame:
    """Histogram of the paired margins ``s⁺_b − s⁻_{b,j}`` (negative = a violated pair).

    Parameters
    ----------
    positive_scores : array-like, shape (B,)
    negative_scores : array-like, shape (B, k)
    n_bins : int, default 20
    value_range : (float, float), optional
        Histogram range; the margins' own range if omitted.
    where : array-like of bool, shape (B, k), optional
        Keep only these pairs, e.g. ``cohorts[negative_items] == 2`` for the tail
        negatives; ``share`` is then a share of the kept pairs.

    Returns
    -------
    pandas.DataFrame
        ``lower, upper, count, share`` per bin (``numpy.histogram`` bins: the last one
        is closed).

    Examples
    --------
    >>> margin_histogram([1.0, 0.0], [[0.0, 2.0], [1.0, 0.0]], n_bins=2)
       lower  upper  count  share
    0   -1.0    0.0      2    0.5
    1    0.0    1.0      2    0.5
    >>> margin_histogram([1.0, 0.0], [[0.0, 2.0], [1.0, 0.0]], n_bins=2, where=[[True, False], [True, True]]).share.tolist()
    [0.3333333333333333, 0.6666666666666666]
    """
    margins = _paired_margins(positive_scores, negative_scores)
    if where is not None:
        keep = np.asarray(where)
        if keep.shape != margins.shape or keep.dtype != bool:
            raise RecnegError(f"where must be a boolean array of shape {margins.shape} (one flag per pair), got "
                              f"{keep.dtype} of shape {keep.shape}")
        if not keep.any():
            raise RecnegError("where keeps no pair; pass a mask with at least one True")
        margins = margins[keep]
    margins = margins.reshape(-1)
    n_bins = check_positive_int("n_bins", n_bins)
    counts, edges = np.histogram(margins, bins=n_bins, range=value_range)
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": counts,
                         "share": counts / margins.size})
