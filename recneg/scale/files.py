"""Reading interaction logs and writing negatives: csv and parquet, checked and atomic.

The readers check every requested column and raise a one-line
:class:`~recneg.RecnegError` naming the first bad value and where it is (``line N of
FILE`` for csv, ``row N of FILE`` for parquet). The writers go through
``recneg._atomic.atomic_path``, so a failed run never leaves a half-written output.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .._atomic import atomic_path
from .._errors import RecnegError
from .columns import check_present, int_ids, shown

__all__ = [
    "input_format",
    "output_format",
    "read_interactions",
    "write_table",
    "shortfall_path",
    "previous_output",
    "first_bad_row",
]


def input_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from a path's suffix (a directory of parquet parts counts)."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if name.endswith((".parquet", ".pq")) or (path.is_dir() and any(path.glob("*.parquet"))):
        return "parquet"
    raise RecnegError(f"cannot tell the format of {str(path)!r}; use a .csv or .parquet file")


def output_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise RecnegError(f"output {str(path)!r} must end in .csv or .parquet")


def read_interactions(path, columns: Sequence[str], *, ids: dict[str, str] | None = None) -> pd.DataFrame:
    """Read the ``columns`` of a csv or parquet log into pandas, checking every row.

    ``ids`` maps id columns to what they hold (``{"user": "user", "item": "item"}``); they
    come back as int64. Every requested column must be present and have no missing
    value. Bad input raises :class:`~recneg.RecnegError` naming the bad value and where it
    is: ``line N of FILE`` for csv (counting the header as line 1), ``row N`` (1-based)
    for parquet.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "log.csv"
    >>> pd.DataFrame({"user": [0], "item": [3], "x": [1.5]}).to_csv(path, index=False)
    >>> read_interactions(path, ["user", "item"]).columns.tolist()
    ['user', 'item']
    >>> _ = path.write_text("user,item\\n1,2\\n2,x\\n")
    >>> read_interactions(path, ["user", "item"], ids={"user": "user", "item": "item"})
    Traceback (most recent call last):
    ...
    recneg._errors.RecnegError: item column 'item', line 3 of .../log.csv: 'x' is not an integer id; fix the row or remap item ids to integers
    """
    path = Path(path)
    if not path.exists():
        raise RecnegError(f"input {str(path)!r} does not exist; check the path")
    columns = list(columns)
    if input_format(path) == "csv":
        frame, where = _read_csv(path, columns), _CsvLines(path)
    else:
        frame, where = _read_parquet(path, columns), _ParquetRows(path)
    return _checked(frame, path, columns, ids or {}, where)


def _checked(frame: pd.DataFrame, path: Path, columns: Sequence[str], ids: dict[str, str], where) -> pd.DataFrame:
    unclean = [c for c in ids if c in frame.columns and not pd.api.types.is_integer_dtype(frame[c])]
    if unclean and isinstance(where, _CsvLines):
        # Slow path: pandas turned the column into floats or text; read it again as text, so
        # that ids keep every digit and messages quote values as written.
        try:
            text = pd.read_csv(path, usecols=unclean, sep=_csv_sep(path), dtype=str, keep_default_na=True)
        except _CSV_ERRORS as error:
            raise _csv_errors(path, error) from None
        if len(text) == len(frame):
            for col in unclean:
                frame[col] = text[col].to_numpy(dtype=object)
    if frame.empty:
        raise RecnegError(f"{path} has a header but no data rows; nothing to sample negatives for")
    for col, what in ids.items():
        frame[col] = int_ids(frame, col, what, where)
    check_present(frame, [c for c in columns if c not in ids], where)
    return frame


def _opener(path: Path):
    import gzip

    return gzip.open if path.name.lower().endswith(".gz") else open


class _CsvLines:
    """``where(position)`` for a csv file: the line of 0-based data row ``position``.

    Found by scanning the file only when an error is reported; blank lines are skipped
    as pandas skips them, and the first non-blank line is the header.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, position: int) -> str:
        seen = -1  # the header
        with _opener(self.path)(self.path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if raw.strip():
                    seen += 1
                    if seen == position + 1:
                        return f"line {number} of {self.path}"
        return f"data row {position + 1} of {self.path}"


class _ParquetRows:
    """``where(position)`` for a parquet file: its 1-based row."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, position: int) -> str:
        return f"row {position + 1} of {self.path}"


def _csv_sep(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _not_utf8(path: Path) -> RecnegError:
    with _opener(path)(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return RecnegError(f"{path}, line {number}: byte 0x{raw[error.start]:02x} is not "
                                   "UTF-8 text; save the file as UTF-8")
    return RecnegError(f"{path} is not UTF-8 text; save it as UTF-8")


def _cannot_read(path: Path, fmt: str, error: BaseException) -> RecnegError:
    detail = " ".join(str(error).split()) or type(error).__name__
    detail = detail.split("C error: ")[-1]
    quote = re.fullmatch(r"EOF inside string starting at row (\d+)", detail)
    if quote:  # pandas counts records from 0, the header included
        return RecnegError(f"{path}, line {int(quote.group(1)) + 1}: a quoted field is never closed; "
                           "add the closing quote")
    return RecnegError(f"cannot read {path} as {fmt}: {detail}; fix the file")


def missing_column(path: Path, present: Sequence, col: str) -> RecnegError:
    hint = "rename it or pass --user-col/--item-col/--context-cols"
    if len(present) == 1:
        for sep in (";", "\t", "|", ",", " "):
            if sep in str(present[0]) and sep != _csv_sep(path):
                kind = "tab" if sep == "\t" else repr(sep)
                hint = (f"the header looks {kind}-separated; recneg reads comma-separated .csv "
                        "and tab-separated .tsv files")
                break
    if present and all(pd.notna(pd.to_numeric(pd.Series([str(c) for c in present]), errors="coerce"))):
        hint = "the first line looks like data, not a header; add a header line such as user,item"
    names = ", ".join(shown(str(c))[1:-1] for c in present) or "none"
    return RecnegError(f"{path} has no column {col!r} (columns: {names}); {hint}")


def _csv_errors(path: Path, error: BaseException) -> RecnegError:
    """A pandas error while reading ``path`` as one line."""
    if isinstance(error, RecnegError):
        return error
    if isinstance(error, pd.errors.EmptyDataError):
        return RecnegError(f"{path} is empty; write a header line (e.g. user,item) and one row per interaction")
    if isinstance(error, UnicodeDecodeError):
        return _not_utf8(path)
    return _cannot_read(path, "csv", error)


_CSV_ERRORS = (OSError, ValueError, pd.errors.ParserError)


def csv_header(path: Path, columns: Sequence[str]) -> list[str]:
    """The header of a csv file, after checking that it names every one of ``columns``."""
    if path.is_file() and path.stat().st_size == 0:
        raise _csv_errors(path, pd.errors.EmptyDataError())
    try:
        present = list(pd.read_csv(path, nrows=0, sep=_csv_sep(path)).columns)
    except _CSV_ERRORS as error:
        raise _csv_errors(path, error) from None
    missing = [c for c in columns if c not in present]
    if missing:
        raise missing_column(path, present, missing[0])
    return present


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    csv_header(path, columns)
    try:
        return pd.read_csv(path, usecols=columns, sep=_csv_sep(path))[columns]
    except _CSV_ERRORS as error:
        raise _csv_errors(path, error) from None


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RecnegError("reading parquet needs pyarrow; pip install pyarrow or pass a .csv file") from None
    try:
        present = list(pq.read_schema(path).names) if path.is_file() else list(pq.ParquetDataset(path).schema.names)
        missing = [c for c in columns if c not in present]
        if missing:
            raise missing_column(path, present, missing[0])
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, pa.ArrowException) as error:
        if isinstance(error, RecnegError):
            raise
        raise _cannot_read(path, "parquet", error) from None


def previous_output(folder: Path) -> None:
    """Let an output folder be replaced only when it is a previous Spark output.

    That is a folder holding ``_SUCCESS`` or only ``part-*`` files (and their checksums),
    never an arbitrary folder; passed as ``folder=`` to ``recneg._atomic.atomic_path``.
    """
    names = [p.name for p in folder.iterdir()]
    spark_like = "_SUCCESS" in names or all(
        n.startswith(("part-", ".part-", "_")) or n.endswith(".crc") for n in names
    )
    if not spark_like:
        raise RecnegError(f"output {str(folder)!r} is an existing directory that is not a previous output; choose another path")


def write_table(columns: dict[str, np.ndarray], path) -> None:
    """Write column arrays to ``path`` (.csv or .parquet) through a temporary file.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "neg.csv"
    >>> write_table({"user": np.array([0]), "negative": np.array([7])}, out)
    >>> out.read_text().splitlines()
    ['user,negative', '0,7']
    """
    path = Path(path)
    fmt = output_format(path)
    if not path.parent.exists():
        raise RecnegError(f"the output folder {str(path.parent)!r} does not exist; create it first")
    with atomic_path(path, folder=previous_output) as tmp:
        if fmt == "parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise RecnegError("writing parquet needs pyarrow; pip install pyarrow or write .csv") from None
            # pyarrow wraps the numpy arrays without copying them (pandas would consolidate).
            pq.write_table(pa.table({name: pa.array(values) for name, values in columns.items()}), tmp)
        else:
            pd.DataFrame(columns, copy=False).to_csv(tmp, index=False)


def shortfall_path(output_path) -> Path:
    """Where ``recneg sample`` lists the groups that got fewer than k negatives."""
    output_path = Path(output_path)
    return output_path.with_name(output_path.name + ".shortfall.csv")


def first_bad_row(path: Path, columns: Sequence[str], ids: dict[str, str]) -> None:
    """Raise the in-memory engine's one-line error for the first bad row of ``path``.

    Reads the file in chunks, so it also serves inputs too large for memory; returns
    silently when every row is fine.
    """
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", "."))) if path.is_dir() else [path]
    for part in files:
        try:
            if input_format(path) == "csv":
                where = _CsvLines(part)
                csv_header(part, columns)
                chunks = pd.read_csv(part, usecols=list(columns), sep=_csv_sep(part), chunksize=1_000_000,
                                     dtype={c: str for c in ids})  # text keeps every digit
            else:
                import pyarrow.parquet as pq

                where = _ParquetRows(part)
                chunks = (batch.to_pandas() for batch in
                          pq.ParquetFile(part).iter_batches(1_000_000, columns=list(columns)))
            offset = 0
            for chunk in chunks:
                _checked(chunk.reset_index(drop=True), part, columns, ids,
                         lambda position, offset=offset: where(position + offset))
                offset += len(chunk)
        except _CSV_ERRORS as error:
            if isinstance(error, RecnegError):
                raise
            raise _csv_errors(part, error) if input_format(path) == "csv" else _cannot_read(part, "parquet", error) from None
