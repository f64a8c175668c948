"""The measuring half of a predict-then-measure exercise, one implementation for the
chapters whose measurement is a difference between two numbers."""

from __future__ import annotations

from typing import Sequence

from ._feedback import fail, passed, same

__all__ = ["check_difference"]


def check_difference(value: float, minuend: float, subtrahend: float, *, name: str, exercise: str, detail: str,
                     order: str, what: str, how: str, mistakes: Sequence = ()) -> None:
    """Pass when ``value`` is ``minuend − subtrahend``; otherwise name the mistake it looks like.

    A wrong sign and a ratio are recognised for every exercise; ``mistakes`` adds the
    chapter's own as ``(number, message, hint)`` triples, tried in order (``number`` None
    skips one). A failure names the mistake, or says the value is not ``what`` with the
    hint ``how``; it never shows the expected difference. ``order`` is the hint of a wrong
    sign, ``name`` what the reader measured ("gap", "change").

    Examples
    --------
    >>> demo = dict(name="gap", exercise="ex-demo", detail="compare it with your prediction",
    ...             order="Popularity minus uniform.", what="popularity's rate minus uniform's",
    ...             how="Subtract uniform's rate.")
    >>> check_difference(0.25, 0.75, 0.5, **demo)
    ✓ ex-demo passed: compare it with your prediction
    >>> try:
    ...     check_difference(-0.25, 0.75, 0.5, **demo)
    ... except AssertionError as error:
    ...     print(error)
    Your gap has the wrong sign. Hint: Popularity minus uniform.
    """
    if same(value, minuend - subtrahend, rtol=1e-6):
        passed(exercise, detail)
        return
    candidates = [(subtrahend - minuend, f"Your {name} has the wrong sign.", order),
                  (minuend / subtrahend if subtrahend else None,
                   f"Your {name} is a ratio; the exercise asks for a difference.", None),
                  *mistakes]
    for number, message, hint in candidates:
        if number is not None and same(value, number, rtol=1e-6):
            fail(message, hint=hint)
    fail(f"Your {name} is not {what}.", hint=how)
