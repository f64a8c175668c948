"""Helpers that compare a reader's answer with a reference and explain the difference.

Every helper either returns quietly or raises :class:`ExerciseCheckFailed` — an
``AssertionError`` whose message says *what* differs, *where* (the index, the user, the
item) and, through ``hint``, what the usual mistake is. Chapter modules combine them into
``check_<name>(answer)`` functions and finish with :func:`passed`::

    # recneg/exercises/static.py
    from ._feedback import check_close, check_no_positives, passed

    def check_uniform_hit_probability(answer):
        \"\"\"Exercise ex-static-hit: P(a uniform draw is a training positive).\"\"\"
        check_close(answer, 40 / 10_000, name="probability", rtol=1e-6,
                    hint="Divide the user's positives by the catalogue size.")
        passed("ex-static-hit", "a uniform draw hits a positive 0.4% of the time")

A check never modifies the answer and never prints a reference value: a failure names
the kind of mistake (a wrong sign, an off-by-one, a wrong shape or order, too high or too
low, and where), which is what a reader needs to find it without being handed the answer.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, NoReturn, Sequence

import math

import numpy as np
from scipy import stats

__all__ = [
    "ExerciseCheckFailed",
    "fail",
    "expect",
    "passed",
    "as_array",
    "as_number",
    "same",
    "call_answer",
    "check_signature",
    "check_shape",
    "check_equal",
    "check_close",
    "check_item_ids",
    "check_no_positives",
    "check_distribution",
]


class ExerciseCheckFailed(AssertionError):
    """An exercise answer differs from the reference.

    Parameters
    ----------
    message : str
        What differs and where, in one or two sentences addressed to the reader.
    hint : str, optional
        The usual cause of this difference; appended after ``Hint:``.

    Examples
    --------
    >>> error = ExerciseCheckFailed("Your probability is 0.4, too high.",
    ...                             hint="Divide by the number of items.")
    >>> print(error)
    Your probability is 0.4, too high. Hint: Divide by the number of items.
    >>> isinstance(error, AssertionError)
    True
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} Hint: {hint}")


def fail(message: str, *, hint: str | None = None) -> NoReturn:
    """Raise :class:`ExerciseCheckFailed` with ``message`` and ``hint``.

    Examples
    --------
    >>> try:
    ...     fail("Your loss is negative.", hint="BCE losses are never negative.")
    ... except ExerciseCheckFailed as error:
    ...     print(error.hint)
    BCE losses are never negative.
    """
    raise ExerciseCheckFailed(message, hint=hint)


def expect(condition: bool, message: str, *, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` holds.

    Examples
    --------
    >>> expect(3 > 2, "three should exceed two")
    """
    if not condition:
        fail(message, hint=hint)


def passed(exercise: str, detail: str = "") -> None:
    """Tell the reader that ``exercise`` passed its check.

    Examples
    --------
    >>> passed("ex-preface-accidental", "0.4 accidental positives per 100 draws")
    ✓ ex-preface-accidental passed: 0.4 accidental positives per 100 draws
    """
    print(f"✓ {exercise} passed" + (f": {detail}" if detail else ""))


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return repr(value)


def as_number(answer: Any, name: str = "answer", *, hint: str | None = None,
              nonfinite_hint: str | None = None) -> float:
    """``answer`` as a float, or a failure that says it is not a (finite) number.

    ``hint`` and ``nonfinite_hint`` replace the generic hints of the two failures.

    Examples
    --------
    >>> as_number(np.float32(0.5), "share")
    0.5
    """
    try:
        value = float(answer)
    except (TypeError, ValueError):
        fail(f"Your {name} is a {type(answer).__name__}, not a number.",
             hint=hint or "Store a single Python or NumPy number (use .item() on a tensor).")
    if not math.isfinite(value):
        fail(f"Your {name} is {value!r}, not a finite number.",
             hint=nonfinite_hint or "Look for a division by zero or a log of zero.")
    return value


def same(a: float, b: float, *, rtol: float = 1e-7, atol: float = 1e-9) -> bool:
    """Whether an answer ``a`` equals a reference ``b`` up to rounding.

    Examples
    --------
    >>> same(0.1 + 0.2, 0.3), same(0.3, 0.31)
    (True, False)
    """
    return abs(a - b) <= atol + rtol * abs(b)


def as_array(value: Any, name: str = "answer") -> np.ndarray:
    """``value`` (a tensor, array, list or number) as a NumPy array.

    Raises
    ------
    ExerciseCheckFailed
        When ``value`` is not array-like (for instance ``None`` because a function forgot
        to ``return``).

    Examples
    --------
    >>> import torch
    >>> as_array(torch.tensor([1, 2]), "items")
    array([1, 2])
    """
    if value is None:
        fail(f"Your {name} is None.", hint="Did the function forget to return its result?")
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = None  # NumPy 2 refuses ragged nested lists
    if array is None or array.dtype == object:
        fail(
            f"Your {name} is a {type(value).__name__} of ragged or mixed entries, not a "
            "rectangular array.",
            hint="Return a tensor or an array with one row per user and equal row lengths.",
        )
    return array


def call_answer(function: Callable, *args, name: str | None = None, **kwargs) -> Any:
    """Call the reader's ``function`` and turn an exception into specific feedback.

    Examples
    --------
    >>> call_answer(lambda k: k * 2, 21)
    42
    >>> try:
    ...     call_answer(lambda k: k / 0, 1, name="draw")
    ... except ExerciseCheckFailed as error:
    ...     print(error.message)
    Calling your draw(1) raised ZeroDivisionError: division by zero.
    """
    name = name or getattr(function, "__name__", "function")
    if not callable(function):
        fail(f"Your {name} is a {type(function).__name__}, not a function.",
             hint="Pass the function itself, without calling it.")
    try:
        return function(*args, **kwargs)
    except ExerciseCheckFailed:
        raise
    except Exception as error:  # the reader's code may raise anything
        shown = ", ".join(
            [_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()]
        )
        fail(f"Calling your {name}({shown}) raised {type(error).__name__}: {error}.")


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) > 0:
        return f"<{type(value).__name__} of shape {tuple(shape)}>"
    return _fmt(value)


def check_signature(function: Callable, parameters: Sequence[str], name: str | None = None) -> None:
    """Check that ``function`` accepts the named ``parameters`` (in that order).

    Examples
    --------
    >>> def sample(users, k, generator=None):
    ...     return users
    >>> check_signature(sample, ["users", "k"])
    """
    name = name or getattr(function, "__name__", "function")
    if not callable(function):
        fail(f"Your {name} is a {type(function).__name__}, not a function.")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # builtins without a signature: leave it to the call itself
    try:
        signature.bind(*parameters)
    except TypeError:
        fail(
            f"Your {name}{signature} cannot be called with the arguments "
            f"({', '.join(parameters)}).",
            hint=f"Define it as def {name}({', '.join(parameters)}): ...",
        )


def check_shape(value: Any, expected: Sequence[int | None], *, name: str = "answer",
                hint: str | None = None) -> np.ndarray:
    """Check the shape of ``value``; ``None`` in ``expected`` matches any size.

    Returns the answer as an array.

    Examples
    --------
    >>> check_shape([[1, 2, 3]], (1, None), name="negatives").shape
    (1, 3)
    >>> try:
    ...     check_shape([1, 2], (2, 5), name="negatives")
    ... except ExerciseCheckFailed as error:
    ...     print(error.message)
    Your negatives has shape (2,); expected (2, 5).
    """
    array = as_array(value, name)
    expected = tuple(expected)
    ok = array.ndim == len(expected) and all(
        e is None or e == s for s, e in zip(array.shape, expected)
    )
    if not ok:
        shown = "(" + ", ".join("any" if e is None else str(e) for e in expected) + \
            ("," if len(expected) == 1 else "") + ")"
        fail(f"Your {name} has shape {tuple(array.shape)}; expected {shown}.", hint=hint)
    return array


def _first_mismatch(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _kind_of_difference(got: np.ndarray, want: np.ndarray, close: Callable) -> str | None:
    """The kind of mistake that turns ``want`` into ``got``, named without showing ``want``.

    ``close(a, b)`` is the elementwise comparison of the calling check. Tried in order: a
    flipped sign, an off-by-one of integer values, a reordering, a shift by one position, a
    constant factor (a missing normalisation, a percentage) and a constant offset.
    """
    if got.shape != want.shape or got.dtype == bool or want.dtype == bool:
        return None
    finite = np.isfinite(want).all() and np.isfinite(got).all()
    if not finite:
        return None
    if np.any(want != 0) and close(got, -want).all():
        return "the wrong sign"
    if np.all(want == np.round(want)):
        if close(got, want + 1).all():
            return "one too high, an off-by-one"
        if close(got, want - 1).all():
            return "one too low, an off-by-one"
    if got.size > 1:
        flat_got, flat_want = got.reshape(-1), want.reshape(-1)
        if close(np.sort(flat_got), np.sort(flat_want)).all():
            return "the right values in the wrong order"
        if close(flat_got[1:], flat_want[:-1]).all() or close(flat_got[:-1], flat_want[1:]).all():
            return "the right values shifted by one position"
        nonzero = flat_want != 0
        if nonzero.sum() >= 2 and close(flat_got[~nonzero], 0.0).all():
            ratio = flat_got[nonzero] / flat_want[nonzero]
            if close(ratio, ratio[0]).all() and not close(ratio[:1], 1.0).any() and ratio[0] != 0:
                return ("the right values times a constant factor (a missing or extra "
                        "normalisation, or a percentage)")
        offset = flat_got - flat_want
        if close(offset, offset[0]).all():
            return "the right values plus a constant (a missing or extra term)"
    else:
        if want != 0 and (close(got, 100 * want).all() or close(got, want / 100).all()):
            return "off by a factor of 100 (a percentage where a fraction is asked, or the reverse)"
    return None


def _direction(got: float, want: float) -> str:
    return "too high" if got > want else "too low"


def _report_difference(got: np.ndarray, want: np.ndarray, bad: np.ndarray, close: Callable, *,
                       name: str, tolerance: str = "", hint: str | None) -> NoReturn:
    """Fail for an answer that differs from the reference at the entries ``bad``.

    The message says what kind of mistake the answer looks like (a sign, an off-by-one, a
    reordering, a factor), or where the largest error is and in which direction; it never
    shows a reference value.
    """
    kind = _kind_of_difference(got, want, close)
    if got.ndim == 0:
        if kind:
            fail(f"Your {name} is {_fmt(got.item())}: {kind}.", hint=hint)
        fail(f"Your {name} is {_fmt(got.item())}, {_direction(float(got), float(want))}"
             + (f" (beyond {tolerance})." if tolerance else "."), hint=hint)
    count = f"{int(bad.sum())} of {bad.size} entries " + (f"outside {tolerance}" if tolerance else "differ")
    if kind:
        fail(f"Your {name} differ from the reference: {kind} ({count}).", hint=hint)
    if got.dtype == bool or want.dtype == bool:
        where = _first_mismatch(bad)
        fail(f"Your {name} are wrong at index {where} ({count}).", hint=hint)
    error = np.where(bad, np.abs(got.astype(np.float64) - want.astype(np.float64)), -np.inf)
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), got.shape))
    fail(
        f"Your {name} differ from the reference ({count}); the largest error is at index "
        f"{where}, where your {_fmt(got[where])} is {_direction(float(got[where]), float(want[where]))}.",
        hint=hint,
    )


def check_equal(value: Any, expected: Any, *, name: str = "answer", hint: str | None = None) -> None:
    """Check exact equality of numbers, strings or arrays, naming the kind of difference.

    A failure says where the answer differs and what the difference looks like (a wrong
    sign, an off-by-one, a wrong order, a shift, a direction), never the reference value.

    Examples
    --------
    >>> check_equal([1, 2, 3], [1, 2, 3], name="ranks")
    >>> try:
    ...     check_equal([2, 3, 4], [1, 2, 3], name="ranks")
    ... except ExerciseCheckFailed as error:
    ...     print(error.message)
    Your ranks differ from the reference: one too high, an off-by-one (3 of 3 entries differ).
    >>> try:
    ...     check_equal([1, 2, 9], [1, 2, 3], name="ranks")
    ... except ExerciseCheckFailed as error:
    ...     print(error.message)
    Your ranks differ from the reference (1 of 3 entries differ); the largest error is at index (2,), where your 9 is too high.
    """
    if isinstance(expected, (str, bool)) or expected is None:
        if value != expected:
            fail(f"Your {name} is {value!r}, which is not the one asked for.", hint=hint)
        return
    got = as_array(value, name)
    want = np.asarray(expected)
    if got.shape != want.shape:
        fail(f"Your {name} has shape {tuple(got.shape)}; expected {tuple(want.shape)}.", hint=hint)
    differ = got != want
    if np.any(differ):
        exact = lambda a, b: np.asarray(a) == np.asarray(b)  # noqa: E731
        _report_difference(got, want, differ, exact, name=name, hint=hint)


def check_close(value: Any, expected: Any, *, name: str = "answer", rtol: float = 1e-5,
                atol: float = 1e-8, hint: str | None = None) -> None:
    """Check that numbers or arrays match the reference within ``rtol`` and ``atol``.

    A failure names the kind of mistake the answer looks like (a wrong sign, an off-by-one,
    a wrong order, a shift, a constant factor or offset, a percentage) or else the entry
    with the largest error and whether it is too high or too low. It never shows a
    reference value.

    Examples
    --------
    >>> check_close(0.1 + 0.2, 0.3, name="probability")
    >>> try:
    ...     check_close([0.5, 0.25], [0.5, 0.2], name="weights", rtol=1e-3)
    ... except ExerciseCheckFailed as error:
    ...     print(error.message)
    Your weights differ from the reference (1 of 2 entries outside rtol=0.001, atol=1e-08); the largest error is at index (1,), where your 0.25 is too high.
    >>> try:
    ...     check_close([-0.5, -0.2], [0.5, 0.2], name="weights")
    ... except ExerciseCheckFailed as error:
    ...     print(error.message)
    Your weights differ from the reference: the wrong sign (2 of 2 entries outside rtol=1e-05, atol=1e-08).
    """
    got = as_array(value, name)
    want = np.asarray(expected, dtype=np.float64)
    if got.shape != want.shape:
        fail(f"Your {name} has shape {tuple(got.shape)}; expected {tuple(want.shape)}.", hint=hint)
    if not np.issubdtype(got.dtype, np.number) and got.dtype != bool:
        fail(f"Your {name} holds {got.dtype} values, not numbers.", hint=hint)
    got = got.astype(np.float64)
    if np.isnan(got).any() and not np.isnan(want).any():
        where = _first_mismatch(np.isnan(got))
        fail(f"Your {name} contains NaN" + (f" at index {where}" if got.ndim else "") + ".",
             hint=hint or "Look for a log of zero or a division by zero.")
    close = lambda a, b: np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)  # noqa: E731
    bad = ~close(got, want)
    if np.any(bad):
        _report_difference(got, want, bad, close, name=name,
                           tolerance=f"rtol={_fmt(rtol)}, atol={_fmt(atol)}", hint=hint)


def check_item_ids(items: Any, n_items: int, *, name: str = "items", hint: str | None = None) -> np.ndarray:
    """Check that ``items`` are integer item ids in ``1..n_items`` (0 is padding).

    Returns the items as an array.

    Examples
    --------
    >>> check_item_ids([[3, 1]], n_items=5).tolist()
    [[3, 1]]
    >>> try:
    ...     check_item_ids([[3, 0]], n_items=5)
    ... except ExerciseCheckFailed as error:
    ...     print(error.message)
    Your items contain 0, the padding id, at index (0, 1); real items are 1..5.
    """
    array = as_array(items, name)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        fail(f"Your {name} have dtype {array.dtype}; item ids are integers.",
             hint=hint or "Convert with .long() (torch) or .astype(np.int64) (NumPy).")
    if (array == 0).any():
        where = _first_mismatch(array == 0)
        fail(f"Your {name} contain 0, the padding id, at index {where}; real items are "
             f"1..{n_items}.", hint=hint or "Draw from 1..n_items, not 0..n_items - 1.")
    outside = (array < 0) | (array > n_items)
    if outside.any():
        where = _first_mismatch(outside)
        fail(f"Your {name} contain {_fmt(array[where])} at index {where}, outside 1..{n_items}.",
             hint=hint)
    return array


def _positive_mask(users: np.ndarray, items: np.ndarray, positives) -> np.ndarray:
    """Mask of ``items`` (users along axis 0) that are training positives of their user."""
    flat_users = np.broadcast_to(users.reshape((-1,) + (1,) * (items.ndim - 1)), items.shape)
    if hasattr(positives, "contains"):  # recneg.data.UserItemSet
        import torch

        hit = positives.contains(torch.as_tensor(flat_users.copy()), torch.as_tensor(items))
        return np.asarray(hit, dtype=bool)
    if isinstance(positives, Mapping):
        keys = {(int(u), int(i)) for u, seen in positives.items() for i in seen}
    else:
        pairs = np.asarray(positives)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise TypeError("positives must be a UserItemSet, a mapping user -> items, or (n, 2) pairs")
        keys = set(map(tuple, pairs.tolist()))
    if not keys:
        return np.zeros(items.shape, dtype=bool)
    # Encode pairs as single integers so membership is one vectorised isin call.
    width = int(max(items.max(initial=0), max(i for _, i in keys))) + 1
    codes = np.fromiter((u * width + i for u, i in keys), dtype=np.int64, count=len(keys))
    return np.isin(flat_users.astype(np.int64) * width + items.astype(np.int64), codes)


def check_no_positives(users: Any, items: Any, positives, *, name: str = "sampler",
                       hint: str | None = None) -> None:
    """Check that no sampled negative is one of its user's training positives.

    Parameters
    ----------
    users : array-like, shape (B,)
    items : array-like, shape (B, k) or (B, L, k)
        Negatives drawn for each user (row).
    positives : UserItemSet, mapping or array of (user, item) pairs
        The training interactions.

    Examples
    --------
    >>> history = {0: {1, 2}, 3: {12}}
    >>> check_no_positives([0, 3], [[3, 4], [5, 6]], history)
    >>> try:
    ...     check_no_positives([0, 3], [[3, 4], [12, 6]], history)
    ... except ExerciseCheckFailed as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    Your sampler returned item 12 for user 3, which is in that user's training history
    (1 of 4 draws were training positives). Hint: Did you forget to exclude positives?
    """
    user_array = as_array(users, "users").astype(np.int64).reshape(-1)
    item_array = as_array(items, "negatives")
    if item_array.ndim < 2 or item_array.shape[0] != user_array.shape[0]:
        fail(f"Your {name} returned negatives of shape {tuple(item_array.shape)} for "
             f"{user_array.shape[0]} users; expected one row per user.")
    item_array = item_array.astype(np.int64)
    hit = _positive_mask(user_array, item_array, positives)
    if hit.any():
        where = _first_mismatch(hit)
        fail(
            f"Your {name} returned item {int(item_array[where])} for user "
            f"{int(user_array[where[0]])}, which is in that user's training history "
            f"({int(hit.sum())} of {hit.size} draws were training positives).",
            hint=hint or "Did you forget to exclude positives?",
        )


def check_distribution(samples: Any, expected: Any, *, name: str = "sampler",
                       alpha: float = 1e-3, min_expected: float = 5.0,
                       hint: str | None = None) -> float:
    """Chi-square goodness-of-fit test of drawn ids against reference probabilities.

    Parameters
    ----------
    samples : array-like of int
        Drawn ids (any shape); each must index ``expected``.
    expected : array-like of float
        Reference probability of each id (normalised here; zeros mean "never").
    alpha : float, default 1e-3
        Significance level. A correct sampler fails with probability ``alpha``, so keep it
        small and fix the seed of the draws that are checked.
    min_expected : float, default 5
        Ids expected fewer times than this are pooled into one bin, as the chi-square
        approximation requires.

    Returns
    -------
    float
        The p-value.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = np.array([0.0, 0.5, 0.3, 0.2])
    >>> draws = rng.choice(4, size=5_000, p=p)
    >>> check_distribution(draws, p) > 1e-3
    True
    >>> try:
    ...     check_distribution(rng.choice(4, size=5_000, p=[0, .2, .3, .5]), p)
    ... except ExerciseCheckFailed as error:
    ...     print(error.message.split(":")[0])
    Your sampler drew item 3 2517 times in 5000 draws, more often than it should
    """
    draws = as_array(samples, "samples").reshape(-1)
    probs = np.asarray(expected, dtype=np.float64).reshape(-1)
    if draws.size == 0:
        fail(f"Your {name} drew nothing.")
    if not np.issubdtype(draws.dtype, np.integer):
        fail(f"Your {name} drew values of dtype {draws.dtype}; ids are integers.")
    if draws.min() < 0 or draws.max() >= probs.size:
        bad = int(draws.min() if draws.min() < 0 else draws.max())
        fail(f"Your {name} drew id {bad}, outside 0..{probs.size - 1}.", hint=hint)
    probs = probs / probs.sum()
    counts = np.bincount(draws, minlength=probs.size).astype(np.float64)
    impossible = (probs == 0) & (counts > 0)
    if impossible.any():
        item = int(np.flatnonzero(impossible)[0])
        fail(f"Your {name} drew item {item} {int(counts[item])} times, but it has probability "
             "0 under the reference (padding, or an item that must be excluded).", hint=hint)
    n = draws.size
    mean = n * probs
    big = mean >= min_expected
    observed = np.append(counts[big], counts[~big].sum())
    wanted = np.append(mean[big], mean[~big].sum())
    keep = wanted > 0
    if keep.sum() < 2:
        return 1.0
    p_value = float(stats.chisquare(observed[keep], wanted[keep]).pvalue)
    if p_value < alpha:
        # Point at the id whose count is the most standard deviations off.
        sd = np.sqrt(np.maximum(mean * (1 - probs), 1e-12))
        z = np.where(probs > 0, (counts - mean) / sd, 0.0)
        item = int(np.argmax(np.abs(z)))
        direction = "more" if z[item] > 0 else "less"
        fail(
            f"Your {name} drew item {item} {int(counts[item])} times in {n} draws, {direction} "
            f"often than it should: over all draws the counts are unlikely under the reference "
            f"distribution (chi-square p = {p_value:.2g}).",
            hint=hint,
        )
    return p_value


# -- critique and predict-then-measure exercises (one implementation for every chapter) ----
PREDICTIONS = ("higher", "lower", "indistinguishable")


def check_flaws(answer, statements: Mapping[str, tuple[str, bool, str]], *, exercise: str,
                hint: str) -> None:
    """Check a critique exercise: the letters of the ``statements`` that are flaws.

    ``statements`` maps a letter to ``(statement, is_flaw, kind)``; ``kind`` names the
    point a statement makes and is shown when a sound practice is blamed. A missed flaw
    is reported by count, never by letter, with the chapter's generic ``hint``.

    Examples
    --------
    >>> S = {"A": ("No seeds.", True, "statistics"), "B": ("Full ranking.", False, "the right protocol")}
    >>> check_flaws("a", S, exercise="ex-demo", hint="Check the statistics.")
    ✓ ex-demo passed: all 1 flaw(s) found, and no sound practice blamed
    """
    if isinstance(answer, str):
        answer = answer.replace(",", " ").split() if (" " in answer or "," in answer) else list(answer)
    try:
        chosen = {str(c).strip().upper() for c in answer}
    except TypeError:
        fail(f"Your answer is a {type(answer).__name__}; give the letters, e.g. ['A', 'C'].")
    letters = sorted(statements)
    unknown = sorted(chosen - set(letters))
    expect(not unknown, f"{unknown} are not statements of the exercise; use the letters {letters[0]} to {letters[-1]}.")
    sound = sorted(c for c in chosen if not statements[c][1])
    if sound:
        fail(f"Statement {sound[0]} describes a sound practice, not a flaw: {statements[sound[0]][2]}.",
             hint="A flaw is something that can make the experiment's conclusion wrong.")
    missed = [c for c, (_, is_flaw, _) in statements.items() if is_flaw and c not in chosen]
    if missed:
        fail(f"You found {len(chosen)} flaw(s) and missed {len(missed)}.", hint=hint)
    passed(exercise, f"all {len(chosen)} flaw(s) found, and no sound practice blamed")


def check_prediction_recorded(prediction, *, allowed: Sequence[str] = PREDICTIONS) -> str:
    """The first half of a predict-then-measure exercise: a prediction written down.

    Examples
    --------
    >>> check_prediction_recorded(" Higher ")
    'higher'
    """
    expect(isinstance(prediction, str) and prediction.strip().lower() in allowed,
           f"Write your prediction as one of {tuple(allowed)} before you run the measurement; got {prediction!r}.")
    return prediction.strip().lower()
