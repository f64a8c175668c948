"""What a sampling run is asked for (:class:`SampleSpec`) and who came back short (:class:`Shortfall`).

Both engines and ``recneg sample`` take one :class:`SampleSpec`: it is validated once,
when it is made, so every later step can trust its fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from .._errors import RecnegError, check_positive_int
from .columns import check_distinct_columns, shown

__all__ = ["SampleSpec", "Shortfall", "METHODS", "PER", "STRATEGIES"]

METHODS = ("uniform", "popularity", "context")
PER = ("user", "interaction")
STRATEGIES = ("auto", "stream", "keys")


def _number(name: str, value, expected: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RecnegError(f"{name} must be {expected}, got {value!r}") from None


def _oversample(value):
    if value == "auto":
        return value
    value = _number("oversample", value, "'auto' or a number >= 1")
    if not value >= 1.0 or not math.isfinite(value):
        raise RecnegError(f"oversample must be 'auto' or a finite number >= 1, got {value}")
    return value


@dataclass(frozen=True)
class SampleSpec:
    """The options of one sampling run, checked once when the spec is made.

    Parameters
    ----------
    k : int
        Negatives per group.
    method : {"uniform", "popularity", "context"}
    alpha : float, default 0.75
        Popularity exponent (ignored by ``"uniform"``).
    per : {"user", "interaction"}
        A group is a user or one interaction; ``method="context"`` draws per (user,
        context) and needs ``per="user"``.
    replace : bool, default False
    seed : int
        In ``[0, 2**63)``.
    user_col, item_col : str
    context_cols : sequence of str
        The columns that define a context (``method="context"`` only).
    min_context_items : int, optional
        Contexts with fewer distinct items (default ``2 * k``) draw globally.
    oversample : "auto" or float
    shortfall_prob : float, default 1e-9
        In ``(0, 0.5)``.
    strategy : {"auto", "stream", "keys"}

    Examples
    --------
    >>> spec = SampleSpec(5, method="context", context_cols=["segment", "week"])
    >>> spec.context_cols, spec.min_items, spec.unit
    (('segment', 'week'), 10, '(user, context) groups')
    >>> SampleSpec(5, alpha="high")
    Traceback (most recent call last):
    ...
    recneg._errors.RecnegError: alpha must be a number, got 'high'
    """

    k: int
    method: str = "popularity"
    alpha: float = 0.75
    per: str = "user"
    replace: bool = False
    seed: int = 0
    user_col: str = "user"
    item_col: str = "item"
    context_cols: Sequence[str] = ("segment", "week")
    min_context_items: int | None = None
    oversample: float | str = "auto"
    shortfall_prob: float = 1e-9
    strategy: str = "auto"

    def __post_init__(self) -> None:
        def normalise(name, value):  # frozen: fields are set once, here
            object.__setattr__(self, name, value)

        if self.method not in METHODS:
            raise RecnegError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        normalise("k", check_positive_int("k", self.k))
        normalise("alpha", _number("alpha", self.alpha, "a number"))
        if not math.isfinite(self.alpha):
            raise RecnegError(f"alpha must be finite, got {self.alpha}; 0.75 is the word2vec default")
        normalise("seed", check_positive_int("seed", self.seed, allow_zero=True))
        if self.seed >= 1 << 63:
            raise RecnegError(f"seed must be below 2**63, got {self.seed}")
        if self.per not in PER:
            raise RecnegError(f"per must be one of {PER}, got {self.per!r}")
        if self.strategy not in STRATEGIES:
            raise RecnegError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        normalise("oversample", _oversample(self.oversample))
        normalise("shortfall_prob", _number("shortfall_prob", self.shortfall_prob, "a number in (0, 0.5)"))
        if not 0.0 < self.shortfall_prob < 0.5:
            raise RecnegError(f"shortfall_prob must lie in (0, 0.5), got {self.shortfall_prob}; 1e-9 is the default")
        normalise("replace", bool(self.replace))
        normalise("context_cols", tuple(self.context_cols))
        self._check_context()
        check_distinct_columns(self.user_col, self.item_col, self.context_cols if self.is_context else ())

    def _check_context(self) -> None:
        if self.min_context_items is not None:
            object.__setattr__(self, "min_context_items",
                               check_positive_int("min_context_items", self.min_context_items))
        if not self.is_context:
            return
        if self.per != "user":
            raise RecnegError("method='context' draws per (user, context); use per='user' with it")
        if not self.context_cols:
            raise RecnegError("context_cols is empty; name the columns that define a context, e.g. ('segment', 'week')")

    @property
    def is_context(self) -> bool:
        return self.method == "context"

    @property
    def min_items(self) -> int:
        """Distinct items a context needs to be its own stratum."""
        return 2 * self.k if self.min_context_items is None else self.min_context_items

    @property
    def unit(self) -> str:
        """What a group is, in the plural: ``"users"``, ``"interactions"`` or ``"(user, context) groups"``."""
        if self.is_context:
            return "(user, context) groups"
        return "users" if self.per == "user" else "interactions"

    @property
    def input_cols(self) -> list[str]:
        """The input columns a run reads: the ids, then the context columns (contexts only)."""
        return [self.user_col, self.item_col, *(self.context_cols if self.is_context else ())]

    @property
    def group_cols(self) -> list[str]:
        """The input columns that identify a group."""
        if self.is_context:
            return [self.user_col, *self.context_cols]
        return [self.user_col] if self.per == "user" else [self.user_col, self.item_col]


@dataclass
class Shortfall:
    """The groups of a sampling run that received fewer than ``k`` negatives.

    A group falls short when it has fewer than ``k`` unseen items to draw from (without
    replacement), or none at all. ``table`` has one row per short group: its key columns
    (the user column, plus the item column and ``occurrence`` per interaction, or the
    context columns) and ``negatives``, the number it received; every group not listed
    received ``k``.
    """

    k: int
    groups: int
    unit: str  # "users", "interactions" or "(user, context) groups"
    table: pd.DataFrame

    @property
    def short(self) -> int:
        return len(self.table)

    @property
    def fewest(self) -> int:
        return int(self.table["negatives"].min()) if len(self.table) else self.k

    def example(self) -> str:
        """The key of a group with the fewest negatives, e.g. ``"user 7"``."""
        row = self.table.loc[self.table["negatives"].idxmin()]
        keys = [c for c in self.table.columns if c != "negatives"]
        return ", ".join([f"user {shown(row[keys[0]])}", *(f"{c} {shown(row[c])}" for c in keys[1:])])

    def describe(self) -> str:
        """``"2 of 2 users got fewer than 5 negatives (fewest: 0, for user 1)"``."""
        return (f"{self.short:,} of {self.groups:,} {self.unit} got fewer than {self.k} "
                f"{'negative' if self.k == 1 else 'negatives'} "
                f"(fewest: {self.fewest}, for {self.example()})")
