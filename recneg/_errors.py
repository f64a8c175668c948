"""Errors raised by recneg.

Every error recneg raises for bad input is a :class:`RecnegError` whose message is one
line that says what is wrong and how to fix it. The CLI turns them into exit code 2.
"""

from __future__ import annotations

__all__ = ["RecnegError", "check_positive_int", "check_probability"]


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
