"""Self-check functions for the book's exercises.

Each chapter with exercises has a module ``recneg.exercises.<chapter>`` (for example
``recneg.exercises.static`` for the chapter on static samplers) that defines one
``check_<name>(answer, ...)`` function per exercise. A check compares the reader's answer
with a reference and either prints a confirmation or raises
:class:`ExerciseCheckFailed` (an ``AssertionError``) whose message says what is wrong
and where — "Your sampler returned item 12 for user 3, which is in that user's training
history" — followed by a hint.

Writing a check
---------------
Build checks from the helpers of :mod:`recneg.exercises._feedback` so that every
exercise in the book reports mistakes the same way:

>>> from recneg.exercises import check_close, passed
>>> def check_hit_probability(answer):
...     '''Exercise ex-preface-accidental, part 1.'''
...     check_close(answer, 40 / 10_000, name="probability", rtol=1e-6,
...                 hint="Divide the user's positives by the number of items.")
...     passed("ex-preface-accidental", "one uniform draw is a positive 0.4% of the time")
>>> check_hit_probability(0.004)
✓ ex-preface-accidental passed: one uniform draw is a positive 0.4% of the time
>>> try:
...     check_hit_probability(0.4)
... except ExerciseCheckFailed as error:
...     print(error)
Your probability is 0.4: off by a factor of 100 (a percentage where a fraction is asked, or the reverse). Hint: Divide the user's positives by the number of items.

Rules for chapter modules:

* one ``check_<name>`` per exercise, named after what the answer is, with a docstring
  that names the exercise label used in the notebook (``ex-<chapter>-<name>``);
* a failure says what kind of mistake the answer looks like, never the reference value;
* a check takes the reader's *answer* — a value, or a function it then calls through
  :func:`call_answer` on small fixed inputs with fixed seeds — never the reader's
  notebook state;
* statistical answers are checked with :func:`check_distribution` at a small ``alpha``
  and a fixed seed, so that a correct answer passes on every run;
* the notebook's solution cell ends with the call of its check, so executing the
  notebook proves that every solution passes (see ``CONTRIBUTING.md``, "Writing a
  chapter").
"""

from ._feedback import (
    ExerciseCheckFailed,
    as_array,
    call_answer,
    check_close,
    check_distribution,
    check_equal,
    check_item_ids,
    check_no_positives,
    check_shape,
    check_signature,
    expect,
    fail,
    passed,
)

__all__ = [
    "ExerciseCheckFailed",
    "as_array",
    "call_answer",
    "check_close",
    "check_distribution",
    "check_equal",
    "check_item_ids",
    "check_no_positives",
    "check_shape",
    "check_signature",
    "expect",
    "fail",
    "passed",
]
