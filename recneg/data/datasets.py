"""Public recommendation datasets: a registry, checksummed downloads and robust parsers.

:func:`load_dataset` looks for a dataset's files in this order:

1. the ``data_dir`` argument (the dataset's own folder, or a root holding ``<name>/``);
2. ``$RECNEG_DATA_DIR/<name>/`` when the variable is set;
3. the download cache, ``$RECNEG_CACHE_DIR/<name>/`` or ``pooch.os_cache("recneg")/<name>/``;

and, when none has them and ``download=True``, fetches the archive from its canonical
source into the cache, verifies its SHA-256 and unpacks it. The MovieLens licence does
not allow redistribution, so recneg never ships the files: it downloads them for you.

Parsing is vectorised (:func:`pandas.read_csv`); malformed input raises
:class:`~recneg.RecnegError` naming the file and the line.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from .._atomic import atomic_path
from .._errors import RecnegError
from . import preprocess
from .interactions import Interactions

__all__ = ["DatasetSpec", "Source", "DATASETS", "SOURCES", "cache_dir", "list_datasets",
           "load_dataset"]


@dataclass(frozen=True)
class Source:
    """Where a dataset is downloaded from.

    Parameters
    ----------
    url : str
    known_hash : str or None
        Hex SHA-256 of the downloaded file (a ``"sha256:"`` prefix is allowed). ``None``
        downloads without verification and warns.
    filename : str
        Name of the downloaded file in the cache.
    archive : bool
        Whether the file is a zip archive to unpack (else it is the data file itself).
    """

    url: str
    known_hash: str | None
    filename: str
    archive: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    """What recneg knows about one dataset."""

    name: str
    description: str
    homepage: str
    licence: str
    has_timestamps: bool
    has_attributes: bool
    files: tuple[str, ...]  # files that must be present to load it


# Checksums of the GroupLens archives: tensorflow/datasets,
# tensorflow_datasets/url_checksums/movielens.txt (commit 1c076ac3), which pins
# ml-100k.zip (4,924,029 bytes), ml-1m.zip (5,917,549 bytes) and ml-latest-small.zip
# (978,202 bytes). Beauty.txt's is the SHA-256 of the copy in the project's shared data
# folder, the file S3-Rec publishes.
_GROUPLENS = "https://files.grouplens.org/datasets/movielens"

#: Download sources by dataset name. A module-level dict so that it can be overridden
#: (a mirror, or a local server in tests).
SOURCES: dict[str, Source] = {
    "ml-100k": Source(
        f"{_GROUPLENS}/ml-100k.zip",
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        "ml-100k.zip",
    ),
    "ml-1m": Source(
        f"{_GROUPLENS}/ml-1m.zip",
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        "ml-1m.zip",
    ),
    "ml-latest-small": Source(
        f"{_GROUPLENS}/ml-latest-small.zip",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        "ml-latest-small.zip",
    ),
    "amazon-beauty": Source(
        "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/Beauty.txt",
        "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
        "Beauty.txt",
        archive=False,
    ),
}

_ML_LICENCE = (
    "GroupLens research licence: no redistribution, no commercial use without "
    "permission; cite Harper & Konstan, ACM TiiS 2015"
)

#: Every dataset :func:`load_dataset` knows, by name.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            "ml-100k",
            "MovieLens 100K: 100,000 ratings (1-5) by 943 users of 1,682 movies, "
            "1997-98, 19 genre flags",
            "https://grouplens.org/datasets/movielens/100k/",
            _ML_LICENCE, True, True, ("u.data", "u.item"),
        ),
        DatasetSpec(
            "ml-1m",
            "MovieLens 1M: 1,000,209 ratings (1-5) by 6,040 users of 3,706 movies, "
            "2000-03, 18 genres",
            "https://grouplens.org/datasets/movielens/1m/",
            _ML_LICENCE, True, True, ("ratings.dat", "movies.dat"),
        ),
        DatasetSpec(
            "ml-latest-small",
            "MovieLens latest-small (2018-09): 100,836 ratings (0.5-5) by 610 users of "
            "9,742 movies, 1996-2018, 19 genres",
            "https://grouplens.org/datasets/movielens/latest/",
            _ML_LICENCE, True, True, ("ratings.csv", "movies.csv"),
        ),
        DatasetSpec(
            "amazon-beauty",
            "Amazon Beauty 5-core (2014 reviews) as preprocessed for S3-Rec: 198,502 "
            "interactions, 22,363 users, 12,101 items, in time order, no timestamps",
            "https://github.com/RUCAIBox/CIKM2020-S3Rec",
            "Amazon review data (McAuley et al., SIGIR 2015) for research use; cite it "
            "and S3-Rec (Zhou et al., CIKM 2020)",
            False, False, ("Beauty.txt",),
        ),
        DatasetSpec(
            "synthetic",
            "recneg.data.SyntheticWorld with default parameters: 1,000 users, 500 items, "
            "known preferences, exposure and sequential drift",
            "",
            "generated locally, no restrictions",
            True, True, (),
        ),
    ]
}

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
_NO_GENRES = "(no genres listed)"


class _Raw(NamedTuple):
    """A parsed dataset before id remapping."""

    frame: pd.DataFrame  # user, item, timestamp[, rating], original ids
    items: pd.DataFrame | None  # indexed by original item id: title + attribute columns
    attribute_names: list[str] | None
    has_time: bool


# -- locating files --------------------------------------------------------------------
def cache_dir() -> Path:
    """The download cache: ``$RECNEG_CACHE_DIR`` or ``pooch.os_cache("recneg")``.

    Examples
    --------
    >>> isinstance(cache_dir(), Path)
    True
    """
    env = os.environ.get("RECNEG_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("recneg"))


def _spec(name) -> DatasetSpec:
    if not isinstance(name, str) or name.strip().lower() not in DATASETS:
        raise RecnegError(
            f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[name.strip().lower()]


def _has_files(folder: Path, spec: DatasetSpec) -> bool:
    return folder.is_dir() and all((folder / f).is_file() for f in spec.files)


def _env_data_dir() -> Path | None:
    env = os.environ.get("RECNEG_DATA_DIR")
    if not env:
        return None
    root = Path(env).expanduser()
    if not root.is_dir():
        raise RecnegError(
            f"RECNEG_DATA_DIR points to {root} which does not exist; create it or unset "
            "the variable"
        )
    return root


def _candidates(spec: DatasetSpec, data_dir) -> list[Path]:
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise RecnegError(
                f"data_dir {root} does not exist; pass the folder that holds "
                f"{spec.name}'s files ({', '.join(spec.files)})"
            )
        folders = [root / spec.name, root]
    else:
        env = _env_data_dir()
        folders = [] if env is None else [env / spec.name]
    return folders + [cache_dir() / spec.name]


def _locate(spec: DatasetSpec, data_dir) -> Path | None:
    for folder in _candidates(spec, data_dir):
        if _has_files(folder, spec):
            return folder
    return None


# -- downloading -----------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _download(name: str, source: Source, destination: Path, progress: bool) -> None:
    """Download ``source`` to ``destination`` (written under a temporary name)."""
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(progressbar=bool(progress), timeout=60)
    with atomic_path(destination) as partial:
        try:
            downloader(source.url, str(partial), None)
        except (requests.exceptions.RequestException, OSError) as error:
            raise RecnegError(
                f"could not download {source.filename} from {source.url} ({_one_line(error)}); "
                f"check the connection or place the dataset in $RECNEG_DATA_DIR/{name}"
            ) from None
        got = _sha256(partial)
        expected = None if source.known_hash is None else source.known_hash.lower()
        if expected is not None and expected.startswith("sha256:"):
            expected = expected[len("sha256:"):]
        if expected is None:
            warnings.warn(
                f"no checksum is pinned for {source.filename}: the download from {source.url} "
                f"(sha256 {got}) is not verified",
                stacklevel=3,
            )
        elif got != expected:
            raise RecnegError(
                f"checksum mismatch for {source.filename}: expected {expected}, got {got}; the "
                f"file was removed, try again or place the dataset in $RECNEG_DATA_DIR/{name}"
            )


def _any_folder(path: Path) -> None:
    """The cache's own unpacked folder may always be replaced."""


def _unzip(name: str, archive: Path, target: Path, spec: DatasetSpec) -> None:
    """Unpack the files of ``archive``'s top folder into ``target``."""
    with atomic_path(target, folder=_any_folder) as staging:
        try:
            with zipfile.ZipFile(archive) as bundle:
                staging.mkdir()
                for member in bundle.infolist():
                    parts = PurePosixPath(member.filename).parts
                    # Only regular files at the top or one folder down: the GroupLens layout,
                    # and no path can escape the target folder.
                    if member.is_dir() or len(parts) > 2 or ".." in parts:
                        continue
                    with bundle.open(member) as src, open(staging / parts[-1], "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            archive.unlink(missing_ok=True)
            raise RecnegError(
                f"{archive.name} is not a valid zip archive ({_one_line(error)}); the file was "
                f"removed, try again or place the dataset in $RECNEG_DATA_DIR/{name}"
            ) from None
        missing = [f for f in spec.files if not (staging / f).is_file()]
        if missing:
            archive.unlink(missing_ok=True)
            raise RecnegError(
                f"{archive.name} lacks {', '.join(missing)}; the file was removed, try again or "
                f"place the dataset in $RECNEG_DATA_DIR/{name}"
            )


def _fetch(spec: DatasetSpec, progress: bool) -> Path:
    """Download (if needed) and unpack ``spec`` into the cache; return its folder."""
    source = SOURCES.get(spec.name)
    if source is None:
        raise RecnegError(
            f"{spec.name} has no download source; place its files "
            f"({', '.join(spec.files)}) in $RECNEG_DATA_DIR/{spec.name}"
        )
    target = cache_dir() / spec.name
    if not source.archive:
        _download(spec.name, source, target / source.filename, progress)
        return target
    archive = cache_dir() / source.filename
    expected = (source.known_hash or "").lower().removeprefix("sha256:")
    if archive.is_file() and source.known_hash is not None and _sha256(archive) != expected:
        archive.unlink()  # a stale or damaged earlier download: fetch it again
    if not archive.is_file():
        _download(spec.name, source, archive, progress)
    _unzip(spec.name, archive, target, spec)
    return target


# -- parsing ---------------------------------------------------------------------------
def _empty(path: Path) -> RecnegError:
    return RecnegError(f"{path} is empty; download the dataset again or fix the file")


def _read_table(path: Path, *, sep: str, names=None, header: bool = False,
                encoding: str = "utf-8", quoting: int = csv.QUOTE_MINIMAL):
    """Read a delimited file; return the frame without blank lines and their line numbers."""
    if path.stat().st_size == 0:
        raise _empty(path)
    try:
        frame = pd.read_csv(
            path, sep=sep, header=0 if header else None, names=names, encoding=encoding,
            skip_blank_lines=False, quoting=quoting, engine="c", low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise _empty(path) from None
    except pd.errors.ParserError as error:
        match = re.search(r"line (\d+)", str(error))
        where = f"line {match.group(1)}" if match else "a line"
        detail = re.sub(r"^.*C error: ", "", _one_line(error))
        raise RecnegError(
            f"malformed {where} in {path} ({detail}); fix or remove the line"
        ) from None
    except UnicodeDecodeError:
        raise _not_text(path, encoding) from None
    lines = np.arange(len(frame), dtype=np.int64) + (2 if header else 1)
    blank = frame.isna().all(axis=1).to_numpy()
    frame, lines = frame.loc[~blank], lines[~blank]
    if frame.empty:
        raise RecnegError(f"{path} has no data lines; download the dataset again")
    return frame, lines


def _not_text(path: Path, encoding: str) -> RecnegError:
    """The first line of ``path`` that is not ``encoding`` text, as a one-line error."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as error:
                return RecnegError(f"line {number} of {path}: byte 0x{raw[error.start]:02x} is not "
                                   f"{encoding} text; download the dataset again or fix the line")
    return RecnegError(f"{path} is not valid {encoding} text; download the dataset again")


def _require_columns(frame: pd.DataFrame, path: Path, columns) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RecnegError(
            f"{path} lacks the column(s) {', '.join(missing)} in its header line; it has "
            f"{', '.join(map(str, frame.columns))}"
        )


def _numbers(frame, column, path: Path, lines, what: str, *, integer: bool) -> np.ndarray:
    col = frame[column]
    if integer and pd.api.types.is_integer_dtype(col.dtype):
        if col.dtype.kind != "u" or not (col.to_numpy(np.uint64) > np.iinfo(np.int64).max).any():
            return col.to_numpy(np.int64)
    values = pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    too_large = np.zeros(len(values), dtype=bool)
    if integer:
        with np.errstate(invalid="ignore"):
            bad |= values != np.round(values)
            # Beyond 2**53 a float no longer holds every integer: the id would change.
            too_large = ~bad & (np.abs(values) >= 2.0**53)
        bad |= too_large
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raw = col.iloc[row]
        if pd.isna(raw):
            raise RecnegError(f"malformed line {lines[row]} in {path}: the {what} is missing; "
                              "fix or remove the line")
        if too_large[row]:
            # A float column no longer holds the digits as written: quote the line instead.
            shown = (f"{str(raw)!r} on line {lines[row]}" if not pd.api.types.is_float_dtype(col.dtype)
                     else f"on line {lines[row]} ({_line_text(path, lines[row])!r})")
            raise RecnegError(f"{what} {shown} of {path} is too large (at most 2**53 - 1); "
                              "fix or remove the line")
        article = "an integer" if integer else "a number"
        raise RecnegError(f"{what} {str(raw)!r} on line {lines[row]} of {path} is not "
                          f"{article}; fix or remove the line")
    return values.astype(np.int64) if integer else values


def _line_text(path: Path, number: int) -> str:
    """Line ``number`` (1-based) of ``path`` as written, for an error message."""
    with open(path, "rb") as handle:
        for at, raw in enumerate(handle, 1):
            if at == number:
                text = raw.decode("latin-1").rstrip("\r\n")
                return text if len(text) <= 60 else text[:57] + "..."
    return ""


def _check_unique(ids: np.ndarray, path: Path, lines) -> None:
    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if len(repeated):
        first, second = order[repeated[0]], order[repeated[0] + 1]
        raise RecnegError(
            f"item id {ids[second]} appears on lines {lines[first]} and {lines[second]} of "
            f"{path}; keep one of them"
        )


def _log_frame(frame, path, lines, *, user="user", item="item", rating="rating",
               timestamp="timestamp") -> pd.DataFrame:
    return pd.DataFrame({
        "user": _numbers(frame, user, path, lines, "user id", integer=True),
        "item": _numbers(frame, item, path, lines, "item id", integer=True),
        "timestamp": _numbers(frame, timestamp, path, lines, "timestamp", integer=True),
        "rating": _numbers(frame, rating, path, lines, "rating", integer=False),
    })


def _genre_table(ids, titles, genres: pd.Series, path, lines) -> tuple[pd.DataFrame, list]:
    _check_unique(ids, path, lines)
    dummies = genres.fillna("").astype(str).str.get_dummies(sep="|").astype(bool)
    dummies = dummies.drop(columns=[_NO_GENRES, ""], errors="ignore")
    names = list(dummies.columns)
    table = pd.DataFrame(dummies.to_numpy(), index=ids, columns=names)
    table.insert(0, "title", titles.fillna("").astype(str).to_numpy())
    return table, names


def _load_ml100k(folder: Path) -> _Raw:
    path = folder / "u.data"
    frame, lines = _read_table(path, sep="\t", names=["user", "item", "rating", "timestamp"],
                               quoting=csv.QUOTE_NONE)
    log = _log_frame(frame, path, lines)
    path = folder / "u.item"
    names = ["item", "title", "release", "video_release", "url", *ML100K_GENRES]
    meta, lines = _read_table(path, sep="|", names=names, encoding="latin-1",
                              quoting=csv.QUOTE_NONE)
    ids = _numbers(meta, "item", path, lines, "item id", integer=True)
    _check_unique(ids, path, lines)
    flags = np.column_stack([
        _numbers(meta, g, path, lines, f"{g} flag", integer=True) for g in ML100K_GENRES
    ])
    bad = np.flatnonzero(((flags != 0) & (flags != 1)).any(axis=1))
    if len(bad):
        raise RecnegError(f"genre flags on line {lines[bad[0]]} of {path} must be 0 or 1; "
                          "fix the line")
    table = pd.DataFrame(flags.astype(bool), index=ids, columns=list(ML100K_GENRES))
    table.insert(0, "title", meta["title"].fillna("").astype(str).to_numpy())
    return _Raw(log, table, list(ML100K_GENRES), True)


def _load_ml1m(folder: Path) -> _Raw:
    path = folder / "ratings.dat"
    # "::" separated; splitting on ":" keeps pandas' fast C parser, and the empty fields
    # between the colons are checked below.
    names = ["user", "_1", "item", "_2", "rating", "_3", "timestamp"]
    frame, lines = _read_table(path, sep=":", names=names, quoting=csv.QUOTE_NONE)
    stray = np.flatnonzero(frame[["_1", "_2", "_3"]].notna().any(axis=1).to_numpy())
    if len(stray):
        raise RecnegError(f"malformed line {lines[stray[0]]} in {path}: fields must be "
                          "separated by '::'; fix or remove the line")
    log = _log_frame(frame, path, lines)
    path = folder / "movies.dat"
    meta, lines = _split_lines(path, "::", 3, encoding="latin-1")
    ids = _numbers(meta, 0, path, lines, "movie id", integer=True)
    table, genres = _genre_table(ids, meta[1], meta[2], path, lines)
    return _Raw(log, table, genres, True)


def _split_lines(path: Path, sep: str, n_fields: int, *, encoding: str):
    """Split each non-blank line on the first ``n_fields - 1`` separators."""
    if path.stat().st_size == 0:
        raise _empty(path)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError:
        raise _not_text(path, encoding) from None
    series = pd.Series(text.splitlines(), dtype=object)
    lines = np.arange(1, len(series) + 1)
    keep = (series.str.strip() != "").to_numpy()
    series, lines = series[keep], lines[keep]
    if series.empty:
        raise RecnegError(f"{path} has no data lines; download the dataset again")
    parts = series.str.split(sep, n=n_fields - 1, expand=True, regex=False)
    if parts.shape[1] < n_fields or parts[n_fields - 1].isna().any():
        row = 0 if parts.shape[1] < n_fields else int(np.flatnonzero(
            parts[n_fields - 1].isna().to_numpy())[0])
        raise RecnegError(f"malformed line {lines[row]} in {path}: expected {n_fields} "
                          f"fields separated by {sep!r}; fix or remove the line")
    return parts.reset_index(drop=True), lines


def _load_ml_latest(folder: Path) -> _Raw:
    path = folder / "ratings.csv"
    frame, lines = _read_table(path, sep=",", header=True)
    _require_columns(frame, path, ["userId", "movieId", "rating", "timestamp"])
    log = _log_frame(frame, path, lines, user="userId", item="movieId")
    path = folder / "movies.csv"
    meta, lines = _read_table(path, sep=",", header=True)
    _require_columns(meta, path, ["movieId", "title", "genres"])
    ids = _numbers(meta, "movieId", path, lines, "movie id", integer=True)
    table, genres = _genre_table(ids, meta["title"], meta["genres"], path, lines)
    return _Raw(log, table, genres, True)


def _load_beauty(folder: Path) -> _Raw:
    path = folder / "Beauty.txt"
    if path.stat().st_size == 0:
        raise _empty(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _not_text(path, "utf-8") from None
    # One pass of string splitting; everything after it is numpy.
    rows = [line.split() for line in text.splitlines()]
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    if lengths.sum() == 0:
        raise RecnegError(f"{path} has no data lines; download the dataset again")
    line_numbers = np.arange(1, len(rows) + 1)
    lonely = np.flatnonzero(lengths == 1)
    if len(lonely):
        raise RecnegError(f"malformed line {line_numbers[lonely[0]]} in {path}: a user id "
                          "without items; each line must be 'user item item ...'")
    tokens = np.array(list(chain.from_iterable(rows)))
    values = pd.to_numeric(pd.Series(tokens), errors="coerce").to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**53)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        line = int(np.repeat(line_numbers, lengths)[at])
        problem = ("is too large (at most 2**53 - 1)" if np.isfinite(values[at]) and values[at] == np.round(values[at])
                   else "is not an integer")
        raise RecnegError(f"id {str(tokens[at])!r} on line {line} of {path} {problem}; "
                          "fix or remove the line")
    values = values.astype(np.int64)
    nonblank = lengths > 0
    starts = (np.cumsum(lengths) - lengths)[nonblank]
    is_user = np.zeros(len(values), dtype=bool)
    is_user[starts] = True
    user_ids = values[starts]
    _check_user_lines(user_ids, line_numbers[nonblank], path)
    n_items = lengths[nonblank] - 1
    position = np.arange(len(values)) - np.repeat(starts, lengths[nonblank]) - 1
    frame = pd.DataFrame({
        "user": np.repeat(user_ids, n_items),
        "item": values[~is_user],
        "timestamp": position[~is_user],
    })
    return _Raw(frame, None, None, False)


def _check_user_lines(user_ids: np.ndarray, lines: np.ndarray, path: Path) -> None:
    order = np.argsort(user_ids, kind="stable")
    repeated = np.flatnonzero(user_ids[order][1:] == user_ids[order][:-1])
    if len(repeated):
        first, second = order[repeated[0]], order[repeated[0] + 1]
        raise RecnegError(f"user {user_ids[second]} has two lines ({lines[first]} and "
                          f"{lines[second]}) in {path}; merge them into one sequence")


_LOADERS: dict[str, Callable[[Path], _Raw]] = {
    "ml-100k": _load_ml100k,
    "ml-1m": _load_ml1m,
    "ml-latest-small": _load_ml_latest,
    "amazon-beauty": _load_beauty,
}


# -- public API ------------------------------------------------------------------------
def list_datasets() -> pd.DataFrame:
    """The registered datasets and whether each is available without downloading.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, description, url, licence, has_timestamps, has_attributes,
        available, location`` (``location`` is the folder that would be loaded, or "").

    Examples
    --------
    >>> table = list_datasets()
    >>> sorted(table["name"])[:2]
    ['amazon-beauty', 'ml-100k']
    """
    rows = []
    for spec in DATASETS.values():
        try:
            folder = _locate(spec, None) if spec.files else None
        except RecnegError:
            folder = None  # a broken RECNEG_DATA_DIR is reported by load_dataset
        source = SOURCES.get(spec.name)
        rows.append({
            "name": spec.name,
            "description": spec.description,
            "url": source.url if source is not None else spec.homepage,
            "licence": spec.licence,
            "has_timestamps": spec.has_timestamps,
            "has_attributes": spec.has_attributes,
            "available": folder is not None or not spec.files,
            "location": "" if folder is None else str(folder),
        })
    return pd.DataFrame(rows)


def load_dataset(name: str, *, data_dir=None, download: bool = True, min_rating=None,
                 k_core: int | None = None, progress: bool = True) -> Interactions:
    """Load a dataset as an :class:`~recneg.data.Interactions` with remapped ids.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`' names: ``"ml-100k"``, ``"ml-1m"``,
        ``"ml-latest-small"``, ``"amazon-beauty"`` or ``"synthetic"``.
    data_dir : str or Path, optional
        Folder holding the dataset's files, or a root with a ``<name>/`` subfolder.
        Defaults to ``$RECNEG_DATA_DIR/<name>/``, then the download cache.
    download : bool
        Download into the cache when the files are not found (verified by SHA-256).
    min_rating : float, optional
        Keep only interactions rated at least this (datasets with ratings only).
    k_core : int, optional
        Then keep the k-core (every user and item with at least ``k_core``
        interactions).
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Interactions
        Users ``0..n_users - 1`` and items ``1..n_items`` in increasing order of the
        original ids (``original_user_ids`` / ``original_item_ids`` map back), rows
        sorted by user then time; ``ratings`` where the source has them; for MovieLens,
        genres as ``item_attributes`` (row 0 is padding) with ``attribute_names`` and
        titles in ``item_titles``. Amazon Beauty has no clock: its ``timestamps`` are
        positions in each user's sequence and ``has_time`` is False.

    Examples
    --------
    >>> log = load_dataset("synthetic", k_core=5)
    >>> log.name, log.has_time, int(log.item_counts()[1:].min()) >= 5
    ('synthetic', True, True)
    """
    spec = _spec(name)
    if spec.name == "synthetic":
        from .synthetic import SyntheticWorld

        log = SyntheticWorld().generate()
        if min_rating is not None:
            log = preprocess.filter_by_rating(log, min_rating)
        return log if k_core is None else preprocess.k_core(log, k_core)

    folder = _locate(spec, data_dir)
    if folder is None:
        if not download:
            where = ", ".join(str(p) for p in _candidates(spec, data_dir))
            raise RecnegError(
                f"{spec.name} is not in {where}; pass download=True or place its files "
                f"({', '.join(spec.files)}) in $RECNEG_DATA_DIR/{spec.name}"
            )
        folder = _fetch(spec, progress)
    raw = _LOADERS[spec.name](folder)
    return _to_interactions(spec, raw, min_rating, k_core)


def _to_interactions(spec: DatasetSpec, raw: _Raw, min_rating, k_core) -> Interactions:
    frame = raw.frame
    if min_rating is not None:
        if "rating" not in frame.columns:
            raise RecnegError(f"{spec.name} has no ratings, so min_rating={min_rating} "
                              "cannot be applied; pass min_rating=None")
        frame = preprocess.filter_by_rating(frame, min_rating)
    if k_core is not None:
        frame = preprocess.k_core(frame, k_core)
    if frame.empty:
        raise RecnegError(f"no interactions of {spec.name} are left after min_rating="
                          f"{min_rating} and k_core={k_core}; relax the filters")
    ids = preprocess.remap_ids(frame["user"].to_numpy(), frame["item"].to_numpy())
    timestamps = frame["timestamp"].to_numpy(np.int64)
    # Users, then time, then file order: sequences() and the splits read this order.
    order = np.lexsort((np.arange(len(frame)), timestamps, ids.users))
    ratings = None
    if "rating" in frame.columns:
        ratings = frame["rating"].to_numpy(np.float32)[order]

    attributes = titles = names = None
    if raw.items is not None:
        table = raw.items.reindex(ids.item_ids[1:])
        names = list(raw.attribute_names)
        attributes = np.zeros((ids.n_items + 1, len(names)), dtype=bool)
        attributes[1:] = table[names].to_numpy(dtype=np.float64, na_value=0.0) > 0
        titles = [""] + table["title"].fillna("").astype(str).tolist()
    return Interactions(
        users=ids.users[order],
        items=ids.items[order],
        timestamps=timestamps[order],
        n_users=ids.n_users,
        n_items=ids.n_items,
        name=spec.name,
        ratings=ratings,
        item_attributes=attributes,
        attribute_names=names,
        item_titles=titles,
        has_time=raw.has_time,
        original_item_ids=ids.item_ids,
        original_user_ids=ids.user_ids,
    )
