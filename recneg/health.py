"""Health checks of a training run: does it beat the popularity floor, and can it be trusted?

A run can produce a table of numbers and still be degenerate. The published runs of
recneg issue #9 were: with popularity-family samplers, items that no positive and no
drawn negative ever touched kept their initial scores, and those scores filled the
top-10 lists (45 such items held 73 % of the top-10 slots on ML-100K). Nothing in the
usual accuracy table said so. :func:`assess` turns three symptoms into flags that a
results table can carry next to the numbers:

``"below-most-popular"``
    HR@10 under the most-popular baseline (:func:`popularity_floor`). Recommending the
    items with the most training interactions needs no training at all; a trained
    model below it has learned less than a count. Degenerate runs typically land here
    with all their hits on head items — the cohort analysis then shows Balance stuck
    at 1/3, which means two of the three popularity cohorts (mid and tail) get zero
    hits.
``"untouched-items"``
    ``untouched_share@10`` above ``untouched_limit``: more than that share of the
    top-10 slots goes to items that never received a gradient signal in training
    (never a positive target, never a drawn negative; see
    ``touched_items`` of :class:`recneg.training.TrainResult`). Their scores are whatever the
    initialisation gave them, so every such slot is noise, however the accuracy
    looks. Evaluating on trained candidates only (``evaluate(...,
    candidates="trained")``, the default) keeps items without training interactions
    out of the lists, but a sequential model can still list items that occur only as
    the first item of a sequence (an input, never a target).
``"not-converged"``
    training stopped at the epoch cap or the time budget while validation was still
    improving (``still_improving`` of :class:`recneg.training.TrainResult`): the numbers
    describe an unfinished model, and comparing samplers at unequal stages of training
    compares their speed, not their quality.

The floor and the run must be evaluated the same way (same protocol, same candidate
items); :func:`assess` refuses metrics that disagree on either.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from ._errors import RecnegError, check_probability
from .data.interactions import Split
from .evaluation import evaluate
from .models import MostPopular

__all__ = ["FLAGS", "RunHealth", "popularity_floor", "assess", "assess_result", "health_line"]

#: Every flag :func:`assess` can raise, in the order it reports them.
FLAGS = ("below-most-popular", "untouched-items", "not-converged")


def popularity_floor(split: Split, *, ks: Iterable[int] | int = (10,), candidates: str = "trained") -> dict:
    """Metrics of the most-popular baseline on ``split.test``: the floor to beat.

    :class:`recneg.models.MostPopular` fitted on ``split.train``, evaluated with
    :func:`recneg.evaluation.evaluate` under the full protocol.

    Parameters
    ----------
    split : Split
    ks : int or sequence of int, default (10,)
        Cut-offs; :func:`assess` needs 10 among them.
    candidates : {"trained", "all"}, default "trained"
        As in :func:`~recneg.evaluation.evaluate`; use the same value as for the runs
        the floor is compared with.

    Returns
    -------
    dict
        The result of :func:`~recneg.evaluation.evaluate`.

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> split = leave_one_out(SyntheticWorld(n_users=60, n_items=40, random_state=0).generate())
    >>> floor = popularity_floor(split)
    >>> 0 <= floor["hr@10"] <= 1, floor["candidates"], floor["untouched_share@10"]
    (True, 'trained', 0.0)
    """
    if not isinstance(split, Split):
        raise RecnegError(f"popularity_floor expects a Split (e.g. leave_one_out(log)), got {type(split).__name__}")
    return evaluate(MostPopular(split.train), split.test, split.train, ks=ks, candidates=candidates)


@dataclass(frozen=True)
class RunHealth:
    """The health of one run: the figures :func:`assess` looked at and its flags.

    Attributes
    ----------
    hr10, floor_hr10 : float
        HR@10 of the run and of the most-popular floor.
    coverage10 : float
        Share of the catalogue in at least one top-10 list.
    untouched_share10 : float
        Share of top-10 slots held by items that never received a gradient signal.
    mean_pop10 : float
        Mean training count of the recommended items.
    epochs_trained, best_epoch : int
    stop_reason : str
        ``"epochs"``, ``"patience"`` or ``"time budget"``.
    still_improving : bool
    flags : tuple of str
        A subset of :data:`FLAGS`, in that order; empty for a healthy run.

    Examples
    --------
    >>> health = RunHealth(0.3, 0.2, 0.4, 0.0, 55.0, 20, 15, "patience", False, ())
    >>> health.flagged, health.as_dict()["flags"]
    (False, '')
    """

    hr10: float
    floor_hr10: float
    coverage10: float
    untouched_share10: float
    mean_pop10: float
    epochs_trained: int
    best_epoch: int
    stop_reason: str
    still_improving: bool
    flags: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when any flag was raised."""
        return bool(self.flags)

    def as_dict(self) -> dict:
        """The fields as a flat dict (``flags`` joined with ``","``), ready for a table row."""
        row = asdict(self)
        row["flags"] = ",".join(self.flags)
        return row


def _metric(metrics: dict, key: str, name: str) -> float:
    if not isinstance(metrics, dict):
        raise RecnegError(f"{name} must be the dict returned by evaluate(), got {type(metrics).__name__}")
    if key not in metrics:
        raise RecnegError(f"{name} has no {key!r}; evaluate with 10 among ks, e.g. ks=(10,)")
    return float(metrics[key])


def assess(
    test_metrics: dict,
    floor_metrics: dict,
    *,
    epochs_trained: int,
    best_epoch: int,
    stop_reason: str,
    still_improving: bool,
    untouched_limit: float = 0.05,
) -> RunHealth:
    """Check one run against the popularity floor, untouched items and convergence.

    Parameters
    ----------
    test_metrics : dict
        :func:`~recneg.evaluation.evaluate` of the trained model on ``split.test``
        (e.g. ``TrainResult.test``), with 10 among its ``ks``.
    floor_metrics : dict
        :func:`popularity_floor` of the same split, same protocol and candidates.
    epochs_trained, best_epoch : int
    stop_reason : str
    still_improving : bool
        As in :class:`recneg.training.TrainResult`.
    untouched_limit : float, default 0.05
        Largest tolerated ``untouched_share@10``.

    Returns
    -------
    RunHealth
        ``"below-most-popular"`` when ``hr@10`` is below the floor's,
        ``"untouched-items"`` when ``untouched_share@10 > untouched_limit``,
        ``"not-converged"`` when ``still_improving``. A NaN figure (no test rows, no
        listed items) raises no flag.

    Examples
    --------
    >>> run = {"hr@10": 0.08, "coverage@10": 0.2, "untouched_share@10": 0.4,
    ...        "mean_pop@10": 12.0, "protocol": "full", "candidates": "all"}
    >>> floor = {"hr@10": 0.10, "protocol": "full", "candidates": "all"}
    >>> assess(run, floor, epochs_trained=200, best_epoch=199, stop_reason="epochs",
    ...        still_improving=True).flags
    ('below-most-popular', 'untouched-items', 'not-converged')
    """
    for key in ("protocol", "candidates"):
        if key in test_metrics and key in floor_metrics and test_metrics[key] != floor_metrics[key]:
            raise RecnegError(
                f"the run was evaluated with {key}={test_metrics[key]!r} but the floor with "
                f"{floor_metrics[key]!r}; evaluate both the same way"
            )
    untouched_limit = check_probability("untouched_limit", untouched_limit)
    if not isinstance(still_improving, bool):
        raise RecnegError(f"still_improving must be True or False, got {still_improving!r}")
    hr10 = _metric(test_metrics, "hr@10", "test_metrics")
    floor_hr10 = _metric(floor_metrics, "hr@10", "floor_metrics")
    untouched = _metric(test_metrics, "untouched_share@10", "test_metrics")
    flags = []
    if hr10 < floor_hr10:  # False when either is NaN
        flags.append("below-most-popular")
    if untouched > untouched_limit:
        flags.append("untouched-items")
    if still_improving:
        flags.append("not-converged")
    return RunHealth(
        hr10=hr10,
        floor_hr10=floor_hr10,
        coverage10=float(test_metrics.get("coverage@10", math.nan)),
        untouched_share10=untouched,
        mean_pop10=float(test_metrics.get("mean_pop@10", math.nan)),
        epochs_trained=int(epochs_trained),
        best_epoch=int(best_epoch),
        stop_reason=str(stop_reason),
        still_improving=still_improving,
        flags=tuple(flags),
    )


def assess_result(train_result, floor_metrics: dict, **kwargs) -> RunHealth:
    """:func:`assess` of a :class:`recneg.training.TrainResult` (its test metrics and stop).

    Parameters
    ----------
    train_result : TrainResult
    floor_metrics : dict
        :func:`popularity_floor` of the split the run was trained on.
    **kwargs
        ``untouched_limit``.

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> from recneg.models import SASRec
    >>> from recneg.training import TrainConfig, Trainer
    >>> split = leave_one_out(SyntheticWorld(n_users=60, n_items=40, random_state=0).generate())
    >>> model = SASRec(split.n_items, hidden=16, maxlen=20, random_state=0)
    >>> result = Trainer(model, None, TrainConfig(epochs=2, loss="ce", progress=False)).fit(split)
    >>> health = assess_result(result, popularity_floor(split))
    >>> health.epochs_trained, health.untouched_share10
    (2, 0.0)
    """
    for attribute in ("test", "epochs_trained", "best_epoch", "stop_reason", "still_improving"):
        if not hasattr(train_result, attribute):
            raise RecnegError(
                f"train_result has no {attribute!r}; pass the TrainResult returned by Trainer.fit"
            )
    return assess(
        train_result.test,
        floor_metrics,
        epochs_trained=train_result.epochs_trained,
        best_epoch=train_result.best_epoch,
        stop_reason=train_result.stop_reason,
        still_improving=train_result.still_improving,
        **kwargs,
    )


def _run_name(key: Any) -> str:
    # (label, seed) keys read "label (seed 3)"; any other key reads as itself
    if isinstance(key, tuple) and len(key) == 2:
        return f"{key[0]} (seed {key[1]})"
    return str(key)


def health_line(healths: Mapping[Any, RunHealth], *, label: str = "") -> str:
    """One line that says how a set of runs ended and what the health checks found.

    Chapters print it above a table of live runs, so that a reader sees how training
    ended and which runs do not beat the floor before reading any number.

    Parameters
    ----------
    healths : mapping
        Run key (e.g. ``(label, seed)``) -> :class:`RunHealth` (from :func:`assess_result`).
    label : str, optional
        What the runs are (data, split), put at the front of the line.

    Returns
    -------
    str
        Epochs trained and best epochs (ranges), the stop reasons with counts, the runs
        still improving at the cap, the runs *at or below* the MostPopular floor (a tie
        has not beaten it either), and the largest untouched share of top-10 slots.

    Examples
    --------
    >>> good = RunHealth(0.12, 0.09, 0.3, 0.0, 90.0, 12, 7, "patience", False, ())
    >>> tied = RunHealth(0.09, 0.09, 0.1, 0.02, 200.0, 30, 30, "epochs", True, ("not-converged",))
    >>> print(health_line({("uniform", 0): good, ("popularity", 0): tied}, label="ml-100k"))
    ml-100k: 2 runs; epochs trained 12–30, best epoch 7–30; stopped by patience ×1, epochs ×1; still improving at the cap: 1 (popularity (seed 0)); at or below the MostPopular floor (HR@10 0.0900): 1 (popularity (seed 0)); largest untouched share of the top-10 slots: 2.0%.
    """
    if not healths:
        raise RecnegError("health_line got no runs; pass a mapping of run key -> RunHealth")
    runs = list(healths.values())
    stops = Counter(h.stop_reason for h in runs)
    improving = [_run_name(k) for k, h in healths.items() if "not-converged" in h.flags]
    below = [_run_name(k) for k, h in healths.items() if h.hr10 <= h.floor_hr10]
    floors = sorted({f"{h.floor_hr10:.4f}" for h in runs})

    def span(values):
        return f"{min(values)}–{max(values)}" if min(values) != max(values) else f"{min(values)}"

    def listed(names):
        return f"{len(names)} ({', '.join(names)})" if names else "none"

    return ((f"{label}: " if label else "")
            + f"{len(runs)} run{'s' * (len(runs) != 1)}; epochs trained {span([h.epochs_trained for h in runs])}, "
            f"best epoch {span([h.best_epoch for h in runs])}; stopped by "
            + ", ".join(f"{reason} ×{n}" for reason, n in stops.items())
            + f"; still improving at the cap: {listed(improving)}; at or below the MostPopular floor "
            f"(HR@10 {' / '.join(floors)}): {listed(below)}; largest untouched share of the top-10 slots: "
            f"{max(h.untouched_share10 for h in runs):.1%}.")
