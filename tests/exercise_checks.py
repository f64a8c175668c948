"""Shared helper of the exercise-check tests (``tests/test_exercises_*.py``)."""

from __future__ import annotations

import pytest

from recneg.exercises import ExerciseCheckFailed


def fails_with(check, answer, *fragments, **kwargs):
    """Assert that ``check(answer, **kwargs)`` rejects the answer with a message holding
    every one of ``fragments``; return the message."""
    with pytest.raises(ExerciseCheckFailed) as info:
        check(answer, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message
