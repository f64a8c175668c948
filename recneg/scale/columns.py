"""Checks on a log's columns, shared by both engines and the file readers.

Each check raises a one-line :class:`~recneg.RecnegError` that names the column, where
the first bad value sits (``row 3`` in a frame, ``line 4 of log.csv`` in a file: the
``where`` argument), the value, and the fix.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .._errors import RecnegError

__all__ = ["int_ids", "check_present", "check_distinct_columns", "mixed_types", "frame_row", "shown"]


def frame_row(position: int) -> str:
    """Where a value sits in an in-memory frame: its 1-based row."""
    return f"row {position + 1}"


def shown(value) -> str:
    """A bad value as a message shows it: its repr, shortened to stay on one line."""
    value = value.item() if isinstance(value, np.generic) else value
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def int_ids(frame: pd.DataFrame, col: str, what: str, where=frame_row) -> np.ndarray:
    """The ``col`` column as int64 ids, or a one-line error naming the first bad value.

    ``where(position)`` says where the 0-based data row ``position`` is (``"row 3"``, or
    ``"line 4 of log.csv"`` for a file). Clean integer columns take the fast path; the
    slow path (object columns, floats, missing values) only reports the earliest bad row.
    """
    if col not in frame.columns:
        raise RecnegError(
            f"the input has no {what} column {col!r} (columns: {', '.join(map(str, frame.columns))}); "
            f"name it with --{what}-col"
        )
    series = frame[col]
    if isinstance(series, pd.DataFrame):
        raise RecnegError(f"{series.shape[1]} columns are named {col!r}; rename all but one")
    head = f"{what} column {col!r}"
    if pd.api.types.is_bool_dtype(series):
        first = int(np.flatnonzero(series.notna().to_numpy())[0]) if series.notna().any() else 0
        raise RecnegError(f"{head}, {where(first)}: {shown(series.iloc[first])} is a boolean, "
                          f"not an integer id; store {what} ids as integers")
    missing = series.isna().to_numpy()
    if pd.api.types.is_integer_dtype(series) and not missing.any():
        if series.dtype.kind == "u":  # uint64 from a file: the top half does not fit int64
            values = series.to_numpy(np.uint64)
            too_big = np.flatnonzero(values > np.uint64(np.iinfo(np.int64).max))
            if len(too_big):
                at = int(too_big[0])
                raise RecnegError(f"{head}, {where(at)}: {int(values[at])} is outside the 64-bit "
                                  f"integer range; remap {what} ids to smaller integers")
        return series.to_numpy(dtype=np.int64)

    # Slow path: find the first row that is missing, not a number, not whole, or too large.
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.to_numpy(np.float64, na_value=np.nan)
    else:
        try:
            numbers = pd.to_numeric(series, errors="coerce")
        except (TypeError, ValueError):  # objects that are not scalars (lists, dicts)
            numbers = pd.Series(np.nan, index=series.index)
        if pd.api.types.is_integer_dtype(numbers) and not missing.any():
            return numbers.to_numpy(np.int64)  # all whole numbers: exact, no float detour
        numbers = numbers.to_numpy(np.float64, na_value=np.nan)
    not_number = np.isnan(numbers) & ~missing
    if series.dtype == object:  # True would pass as 1
        not_number |= series.map(type).isin([bool, np.bool_]).to_numpy()
    with np.errstate(invalid="ignore"):
        not_whole = np.isfinite(numbers) & (numbers != np.round(numbers))
        infinite = np.isinf(numbers)
        too_big = np.isfinite(numbers) & (np.abs(numbers) >= 2.0**53) & ~not_whole
    exact = {}
    if too_big.any() and not pd.api.types.is_numeric_dtype(series):
        # Text holds every digit: parse the large ids exactly (few rows, so a loop is fine).
        for at in np.flatnonzero(too_big):
            try:
                value = int(str(series.iloc[at]).strip())
            except ValueError:  # "1e17": a float in disguise, not exact
                continue
            if -(2**63) <= value < 2**63:
                exact[int(at)] = value
                too_big[at] = False
    bad = missing | not_number | not_whole | infinite | too_big
    if not bad.any():
        ids = numbers.astype(np.int64)
        ids[list(exact)] = list(exact.values())
        return ids
    at = int(np.flatnonzero(bad)[0])
    value = series.iloc[at]
    if missing[at]:
        n = int(missing.sum())
        rows = "1 row" if n == 1 else f"{n} rows"
        raise RecnegError(f"{head}, {where(at)}: the {what} id is missing ({rows} in all); "
                          "fill or drop those rows")
    if too_big[at] and abs(numbers[at]) >= 2.0**63:
        raise RecnegError(f"{head}, {where(at)}: {shown(value)} is outside the 64-bit integer "
                          f"range; remap {what} ids to smaller integers")
    if too_big[at]:
        raise RecnegError(f"{head}, {where(at)}: {shown(value)} is too large to be an exact id "
                          f"as a decimal number (|id| < 2**53); write {what} ids as plain integers")
    raise RecnegError(f"{head}, {where(at)}: {shown(value)} is not an integer id; "
                      f"fix the row or remap {what} ids to integers")


def check_present(frame: pd.DataFrame, columns: Sequence[str], where=frame_row) -> None:
    """Raise naming the first missing value of any of ``columns`` (context columns)."""
    for col in columns:
        missing = frame[col].isna().to_numpy()
        if missing.any():
            at, n = int(np.flatnonzero(missing)[0]), int(missing.sum())
            rows = "1 row" if n == 1 else f"{n} rows"
            raise RecnegError(f"context column {col!r}, {where(at)}: the value is missing "
                              f"({rows} in all); fill or drop those rows")


def mixed_types(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """The message for context values that cannot be sorted: the first row of another type."""
    for col in columns:
        kinds = frame[col].map(lambda v: "number" if isinstance(v, (int, float, np.number)) and not
                               isinstance(v, (bool, np.bool_)) else type(v).__name__)
        other = np.flatnonzero((kinds != kinds.iloc[0]).to_numpy())
        if len(other):
            at = int(other[0])
            return (f"context column {col!r}, {frame_row(at)}: {shown(frame[col].iloc[at])} is a "
                    f"{kinds.iloc[at]} but row 1 holds a {kinds.iloc[0]} ({shown(frame[col].iloc[0])}); "
                    "cast the column to one type")
    return f"context columns {list(columns)} hold values that cannot be sorted; cast them to one type"


def check_distinct_columns(user_col: str, item_col: str, context_cols: Sequence[str]) -> None:
    """One column cannot play two parts (user and item, or an id and a context)."""
    seen: dict[str, str] = {}
    for flag, col in [("--user-col", user_col), ("--item-col", item_col),
                      *[("--context-cols", c) for c in context_cols]]:
        if col in seen:
            both = f"{flag} names column {col!r} twice" if seen[col] == flag else f"{seen[col]} and {flag} both name column {col!r}"
            raise RecnegError(f"{both}; give each part its own column")
        seen[col] = flag
