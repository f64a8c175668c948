"""Drift of the negative distribution: what a model was trained against versus what it sees live.

A model trained with negatives from one distribution learns to push down *those* items;
when the live negatives (the pool of a streaming sampler, the impressions a user skipped)
drift towards other items, scores of the new ones were never pushed down. This module
measures the drift over popularity bins of a *reference window* (the training split):

* :func:`psi` — the population stability index ``Σ (a − e) · ln(a / e)``, which is the
  symmetrised KL divergence ``KL(a ‖ e) + KL(e ‖ a)``;
* :func:`kl_divergence` — ``KL(a ‖ e)``, how surprising the live negatives are under the
  training ones;
* :func:`popularity_bins` and :func:`cohort_shares` — where the negatives fall in the
  reference popularity order (head / mid / tail are the thirds of the reference
  interactions, :func:`recneg.metrics.popularity_cohorts`);
* :class:`DriftMonitor` — replays a time-ordered log of live negatives in windows.

Smoothing. An empty bin makes ``ln(a / e)`` infinite. Both distributions are first
normalised to proportions and then smoothed towards uniform with the same ``ε``:
``p_i ← (p_i + ε) / (1 + B·ε)`` for ``B`` bins. Identical proportions stay identical (PSI
and KL exactly 0, whatever the sample sizes), every term is finite, and a bin that was
empty in training but holds a share ``a`` live contributes about ``a · ln(a / ε)``: with
the default ``ε = 1e-4`` a 10% share appearing from nothing adds 0.69, a major shift on
its own. ``epsilon=0`` gives the unsmoothed values (``inf`` when one side is empty).

Thresholds. PSI below 0.1 is read as stable, 0.1 to 0.25 as a moderate shift, 0.25 and
above as a major one. These bands are a convention of credit-risk practice, not a test;
PSI of two samples from one distribution is about ``(B − 1)·(1/n + 1/N)`` on its own
(the chi-square approximation; Yurdakul, 2018), so :class:`DriftMonitor` reports that
no-drift level beside every window.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._errors import RecnegError, check_finite, check_positive_int
from ..data import Interactions
from ..metrics import popularity_cohorts

__all__ = ["PSI_WARN", "PSI_ALERT", "DEFAULT_EPSILON", "psi", "kl_divergence", "popularity_bins",
           "cohort_shares", "DriftMonitor"]

#: PSI from which a shift is called moderate (convention).
PSI_WARN = 0.1
#: PSI from which a shift is called major (convention).
PSI_ALERT = 0.25
#: Default smoothing of empty bins (see the module docstring).
DEFAULT_EPSILON = 1e-4

_COHORTS = ("head", "mid", "tail")


def _counts(name: str, values) -> np.ndarray:
    """Non-negative finite bin counts (or masses) with a positive total, as float64."""
    counts = np.asarray(values, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0:
        raise RecnegError(f"{name} must be a non-empty 1-d array of bin counts, got shape {counts.shape}")
    bad = ~np.isfinite(counts) | (counts < 0)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise RecnegError(f"{name}[{at}] is {counts[at]}; bin counts must be finite and >= 0")
    if counts.sum() <= 0:
        raise RecnegError(f"{name} is all zero; a distribution needs at least one count")
    return counts


def _smoothed_pair(expected, actual, epsilon) -> tuple[np.ndarray, np.ndarray]:
    """Both distributions as proportions, smoothed towards uniform by ``epsilon``."""
    e, a = _counts("expected", expected), _counts("actual", actual)
    if len(e) != len(a):
        raise RecnegError(f"expected has {len(e)} bins but actual has {len(a)}; count both over the same bins")
    eps = check_finite("epsilon", epsilon, positive=True, allow_zero=True)
    smooth = lambda c: (c / c.sum() + eps) / (1.0 + len(c) * eps)  # noqa: E731
    return smooth(e), smooth(a)


def _kl_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``p · ln(p / q)`` with ``0 · ln 0 = 0`` and ``+inf`` where only ``q`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = p * (np.log(p) - np.log(q))
    return np.where(p == 0, 0.0, terms)


def psi(expected, actual, *, epsilon: float = DEFAULT_EPSILON) -> float:
    """Population stability index of ``actual`` against ``expected``.

    ``PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)`` over bins, after normalising both to
    proportions and smoothing them by ``epsilon`` (module docstring). It equals
    ``kl_divergence(expected, actual) + kl_divergence(actual, expected)``, is 0 for
    identical proportions and symmetric in its arguments.

    Parameters
    ----------
    expected, actual : array-like of float, shape (B,)
        Counts (or masses) per bin, e.g. training and live negatives per popularity bin.
    epsilon : float, default 1e-4
        Smoothing towards uniform; 0 turns it off (``inf`` when one side has an empty
        bin the other does not).

    Returns
    -------
    float

    Examples
    --------
    >>> round(psi([50, 30, 20], [30, 30, 40], epsilon=0), 4)   # 0.2·ln(5/3) + 0.2·ln 2
    0.2408
    >>> psi([1, 2, 3], [10, 20, 30])
    0.0
    """
    e, a = _smoothed_pair(expected, actual, epsilon)
    value = float(np.sum(_kl_terms(a, e) + _kl_terms(e, a)))
    return 0.0 if value == 0 else value  # -0.0 from cancelling terms prints oddly


def kl_divergence(expected, actual, *, epsilon: float = DEFAULT_EPSILON) -> float:
    """``KL(actual ‖ expected) = Σ a_i ln(a_i / e_i)``: live against training, in nats.

    Same inputs and smoothing as :func:`psi`. Not symmetric: a bin empty in ``expected``
    but not in ``actual`` is what blows it up (unsmoothed, to ``inf``), an item the
    model was trained against that the live stream dropped costs little.

    Examples
    --------
    >>> round(kl_divergence([1, 3], [1, 1], epsilon=0), 4)   # 0.5·ln 2 + 0.5·ln(2/3)
    0.1438
    >>> kl_divergence([0, 1], [1, 1], epsilon=0)
    inf
    """
    e, a = _smoothed_pair(expected, actual, epsilon)
    value = float(np.sum(_kl_terms(a, e)))
    return 0.0 if value == 0 else value


def _item_counts(item_counts) -> np.ndarray:
    """``item_counts`` of an :class:`Interactions` or an array, shape (n_items + 1,)."""
    if isinstance(item_counts, Interactions):
        return item_counts.item_counts().astype(np.float64)
    counts = np.asarray(item_counts, dtype=np.float64).reshape(-1)
    if len(counts) < 2 or not np.isfinite(counts).all() or (counts < 0).any():
        raise RecnegError("item_counts must be n_items + 1 >= 2 finite, non-negative counts (entry 0 is "
                          "padding); pass train.item_counts()")
    return counts


def popularity_bins(item_counts, n_bins: int = 10) -> np.ndarray:
    """Bin of every item by its reference popularity: equal shares of interactions.

    Items are sorted by count, most frequent first, ties by item id; an item falls in
    bin ``b`` when the interactions before it cover at least ``b / n_bins`` but less
    than ``(b + 1) / n_bins`` of the total. Items never seen go to the last bin. With
    ``n_bins=3`` these are :func:`recneg.metrics.popularity_cohorts` (head, mid, tail).

    Parameters
    ----------
    item_counts : array-like, shape (n_items + 1,), or Interactions
        Reference-window interactions per item; entry 0 is padding.
    n_bins : int, default 10

    Returns
    -------
    np.ndarray of int64, shape (n_items + 1,)
        Bin codes ``0 .. n_bins − 1`` (0 = most popular), ``-1`` for padding.

    Examples
    --------
    >>> popularity_bins([0, 6, 3, 3, 1, 1, 1, 1, 1, 1], 3).tolist()
    [-1, 0, 1, 1, 2, 2, 2, 2, 2, 2]
    """
    counts = _item_counts(item_counts).copy()
    n_bins = check_positive_int("n_bins", n_bins)
    if n_bins < 2:
        raise RecnegError(f"n_bins must be at least 2, got {n_bins}")
    counts[0] = 0.0
    bins = np.full(len(counts), n_bins - 1, dtype=np.int64)
    bins[0] = -1
    total = counts.sum()
    if total == 0:
        return bins
    order = np.argsort(-counts[1:], kind="stable") + 1
    before = np.cumsum(counts[order]) - counts[order]
    # floor(n_bins · before / total), exact for integer counts: both products are exact
    # in float64 and floor division of exact values rounds the right way.
    bin_of = np.minimum(np.floor_divide(n_bins * before, total), n_bins - 1).astype(np.int64)
    bin_of[counts[order] == 0] = n_bins - 1
    bins[order] = bin_of
    return bins


def _item_ids(name: str, items, n_items: int) -> np.ndarray:
    ids = np.asarray(items).reshape(-1)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        if not np.all(np.isfinite(ids)) or not np.all(ids == np.round(ids)):
            raise RecnegError(f"{name} must hold integer item ids; got {ids[~(ids == np.round(ids))][0]!r}")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 1 or ids.max() > n_items):
        bad = int(ids[(ids < 1) | (ids > n_items)][0])
        raise RecnegError(f"{name} holds item id {bad}, outside 1..{n_items}; pass ids of the reference catalogue")
    return ids


def cohort_shares(items, item_counts) -> dict[str, float]:
    """Share of ``items`` (negatives) in the head, mid and tail of the reference window.

    Examples
    --------
    >>> cohort_shares([1, 1, 2, 9], [0, 6, 3, 3, 1, 1, 1, 1, 1, 1])
    {'head': 0.5, 'mid': 0.25, 'tail': 0.25}
    """
    counts = _item_counts(item_counts)
    ids = _item_ids("items", items, len(counts) - 1)
    if ids.size == 0:
        raise RecnegError("items is empty; pass at least one negative")
    return _shares(ids, popularity_cohorts(counts))


def _shares(ids: np.ndarray, cohorts: np.ndarray) -> dict[str, float]:
    """Head / mid / tail shares of the (validated, non-empty) item ids."""
    shares = np.bincount(cohorts[ids], minlength=3)[:3] / ids.size
    return dict(zip(_COHORTS, (float(s) for s in shares)))


class DriftMonitor:
    """Compare live negatives with the negatives a model was trained with, window by window.

    Parameters
    ----------
    reference_items : array-like of int
        Negatives of the training run (e.g. ``sampler.sample(...).items`` flattened).
    item_counts : array-like, shape (n_items + 1,), or Interactions
        Interactions of the reference window (the training split): they define the
        popularity bins and the head / mid / tail cohorts.
    n_bins : int, default 10
        Popularity bins for PSI and KL (:func:`popularity_bins`).
    epsilon : float, default 1e-4
        Smoothing of empty bins (module docstring).
    warn_at, alert_at : float, default 0.1 and 0.25
        PSI bands (convention).

    Attributes
    ----------
    bins_, cohorts_ : np.ndarray, shape (n_items + 1,)
    reference_counts_ : np.ndarray, shape (n_bins,)
    reference_shares_ : dict
        Head / mid / tail shares of the reference negatives.

    Examples
    --------
    >>> counts = [0, 40, 30, 20, 10]
    >>> monitor = DriftMonitor([1, 2, 3, 4] * 25, counts, n_bins=4)
    >>> frame = monitor.replay([0, 1, 2, 3, 10, 11, 12, 13], [1, 2, 3, 4, 4, 4, 4, 3], window=10)
    >>> frame[["window", "n_negatives", "band", "alert"]]
       window  n_negatives    band  alert
    0       0            4  stable  False
    1       1            4   major   True
    """

    def __init__(self, reference_items, item_counts, *, n_bins: int = 10, epsilon: float = DEFAULT_EPSILON,
                 warn_at: float = PSI_WARN, alert_at: float = PSI_ALERT) -> None:
        counts = _item_counts(item_counts)
        self.n_items = len(counts) - 1
        self.n_bins = check_positive_int("n_bins", n_bins)
        self.epsilon = check_finite("epsilon", epsilon, positive=True, allow_zero=True)
        self.warn_at = check_finite("warn_at", warn_at, positive=True)
        self.alert_at = check_finite("alert_at", alert_at, positive=True)
        if self.alert_at < self.warn_at:
            raise RecnegError(f"alert_at {self.alert_at} is below warn_at {self.warn_at}; pass alert_at >= warn_at")
        self.bins_ = popularity_bins(counts, self.n_bins)
        self.cohorts_ = popularity_cohorts(counts)
        reference = _item_ids("reference_items", reference_items, self.n_items)
        if reference.size == 0:
            raise RecnegError("reference_items is empty; pass the negatives the model was trained with")
        self.reference_counts_ = np.bincount(self.bins_[reference], minlength=self.n_bins).astype(np.float64)
        self.reference_shares_ = _shares(reference, self.cohorts_)

    def no_drift_psi(self, n_live: int) -> float:
        """Approximate PSI of ``n_live`` live negatives drawn from the reference
        distribution itself: ``(B − 1)·(1/n + 1/N)`` (chi-square approximation)."""
        return (self.n_bins - 1) * (1.0 / n_live + 1.0 / self.reference_counts_.sum()) if n_live else math.nan

    def compare(self, live_items) -> dict:
        """Drift statistics of one batch of live negatives against the reference.

        Returns
        -------
        dict
            ``n_negatives, psi, kl, psi_no_drift, head_share, mid_share, tail_share,
            band`` (``"stable"``, ``"moderate"``, ``"major"``; ``"empty"`` without
            negatives), ``warn`` (PSI >= ``warn_at``) and ``alert`` (PSI >= ``alert_at``).

        Examples
        --------
        >>> DriftMonitor([1, 2, 3, 4], [0, 4, 3, 2, 1], n_bins=2).compare([1, 2, 3, 4])["psi"]
        0.0
        """
        live = _item_ids("live_items", live_items, self.n_items)
        row = {"n_negatives": int(live.size)}
        if live.size == 0:
            nan = math.nan
            row.update(psi=nan, kl=nan, psi_no_drift=nan, head_share=nan, mid_share=nan, tail_share=nan,
                       band="empty", warn=False, alert=False)
            return row
        live_counts = np.bincount(self.bins_[live], minlength=self.n_bins)
        value = psi(self.reference_counts_, live_counts, epsilon=self.epsilon)
        row.update(psi=value, kl=kl_divergence(self.reference_counts_, live_counts, epsilon=self.epsilon),
                   psi_no_drift=self.no_drift_psi(live.size))
        row.update({f"{name}_share": share for name, share in _shares(live, self.cohorts_).items()})
        band = "major" if value >= self.alert_at else "moderate" if value >= self.warn_at else "stable"
        row.update(band=band, warn=value >= self.warn_at, alert=value >= self.alert_at)
        return row

    def replay(self, times, items, *, window: float, start: float | None = None) -> pd.DataFrame:
        """Replay a time-ordered log of live negatives in windows of width ``window``.

        Window ``w`` covers ``[start + w·window, start + (w + 1)·window)``; ``start``
        defaults to the first time. Every window up to the last event gets a row, empty
        ones too (``band == "empty"``).

        Parameters
        ----------
        times : array-like of float, shape (n,)
            Non-decreasing event times.
        items : array-like of int, shape (n,)
            The negative item of each event.
        window : float
            Window width, in the units of ``times``.
        start : float, optional

        Returns
        -------
        pandas.DataFrame
            One row per window: ``window, start, end`` and the columns of :meth:`compare`.
        """
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        ids = _item_ids("items", items, self.n_items)
        width = check_finite("window", window, positive=True)
        if len(times) != len(ids):
            raise RecnegError(f"times has {len(times)} entries but items has {len(ids)}; pass one time per item")
        if len(times) == 0:
            raise RecnegError("the log is empty; pass at least one event")
        if not np.isfinite(times).all():
            raise RecnegError(f"times[{int(np.flatnonzero(~np.isfinite(times))[0])}] is not finite; pass finite times")
        if (np.diff(times) < 0).any():
            at = int(np.flatnonzero(np.diff(times) < 0)[0]) + 1
            raise RecnegError(f"times[{at}] = {times[at]} comes before times[{at - 1}] = {times[at - 1]}; "
                              "sort the log by time first")
        origin = float(times[0]) if start is None else check_finite("start", start)
        if times[0] < origin:
            raise RecnegError(f"start {origin} is after the first event at {times[0]}; pass an earlier start")
        which = np.floor((times - origin) / width).astype(np.int64)
        bounds = np.searchsorted(which, np.arange(int(which[-1]) + 2))
        rows = []
        for w in range(int(which[-1]) + 1):
            row = {"window": w, "start": origin + w * width, "end": origin + (w + 1) * width}
            row.update(self.compare(ids[bounds[w]:bounds[w + 1]]))
            rows.append(row)
        return pd.DataFrame(rows)
