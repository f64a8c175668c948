"""Errors raised by recneg.

Every error recneg raises for bad input is a :class:`RecnegError` whose message is one
line that says what is wrong and how to fix it. The CLI turns them into exit code 2.
"""

from __future__ import annotations

import math

__all__ = ["RecnegError", "check_finite", "check_positive_int", "check_probability", "check_negatives_fit"]


class RecnegError(ValueError):
    """Bad input: the message says what is wrong and how to fix it (one line)."""


def check_positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int, or raise :class:`RecnegError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__")
    ):
        raise RecnegError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    low = 0 if allow_zero else 1
    if value < low:
        bound = "non-negative" if allow_zero else "positive"
        raise RecnegError(f"{name} must be {bound}, got {value}; pass an integer >= {low}")
    return value


def check_finite(name: str, value, *, positive: bool = False, allow_zero: bool = False,
                 allow_inf: bool = False) -> float:
    """Return ``value`` as a float, or raise :class:`RecnegError` naming ``name``.

    NaN is always refused and infinity unless ``allow_inf``. ``positive`` asks for
    ``value > 0`` (``value >= 0`` with ``allow_zero``).

    Examples
    --------
    >>> check_finite("temperature", "0.5", positive=True)
    0.5
    >>> check_finite("temperature", 0, positive=True)
    Traceback (most recent call last):
    ...
    recneg._errors.RecnegError: temperature must be > 0, got 0.0
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecnegError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise RecnegError(f"{name} must be a finite number, got {value!r}")
    if positive:
        ok = number >= 0 if allow_zero else number > 0
        if not ok:
            raise RecnegError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {number}")
    return number


def check_probability(name: str, value, *, closed: bool = True) -> float:
    """Return ``value`` as a float in [0, 1] (or (0, 1) when ``closed`` is False)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise RecnegError(f"{name} must be a number in [0, 1], got {value!r}") from None
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        interval = "[0, 1]" if closed else "(0, 1)"
        raise RecnegError(f"{name} must lie in {interval}, got {value}")
    return value


def check_negatives_fit(name: str, requested: int, available: int, *, pool: str) -> int:
    """Raise :class:`RecnegError` when ``requested`` negatives exceed the ``available`` items.

    The rule, applied before anything is allocated: a *configured* number of negatives
    (``recneg train/compare --negatives`` and ``--n-sampled`` against the items of the
    split, ``recneg sample --k`` and :func:`recneg.scale.memory.memory_negatives` against
    the distinct items of the log) may not exceed the candidate items. Up to that cap a
    user who has seen many items may get fewer distinct negatives than asked, which
    ``recneg sample`` reports as a shortfall. Beyond it a request can only repeat items,
    and its cost is the hazard: training memory grows with it (issue #10: 99,999
    negatives for 1,682 items filled 7.6 GB).

    :meth:`recneg.samplers.NegativeSampler.sample` itself draws with replacement and
    accepts any ``num_negatives`` (goodness-of-fit checks draw thousands from a dozen
    items), so a training loop calls this helper with the split's ``n_items`` before its
    first batch.

    ``name`` is how the caller spells the request (``"num_negatives"``, ``"--negatives"``),
    ``pool`` describes the items (``"items of ml-100k"``).

    Examples
    --------
    >>> check_negatives_fit("num_negatives", 10, 1682, pool="items the sampler was fitted on")
    10
    >>> check_negatives_fit("num_negatives", 99999, 1682, pool="items the sampler was fitted on")
    Traceback (most recent call last):
    ...
    recneg._errors.RecnegError: num_negatives 99999 exceeds the 1682 items the sampler was fitted on; pass num_negatives 1682 or fewer
    """
    requested, available = int(requested), int(available)
    if requested > available:
        raise RecnegError(
            f"{name} {requested} exceeds the {available} {pool}; pass {name} {available} or fewer"
        )
    return requested
