"""Write files so that a reader never sees a half-written one: temp file, then rename.

The one atomic writer of the package: the ``recneg`` command's outputs, the sampler's
negatives (a file, or a Spark directory of part files), the dataset cache's downloads
and unpacked folders, and the experiment runner's records all go through
:func:`atomic_path`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ._errors import RecnegError

__all__ = ["atomic_path", "atomic_write_text", "refuse_folder", "temporary_sibling"]


def refuse_folder(path: Path) -> None:
    """The default for a folder found where a file is to go: refuse it, on one line."""
    raise RecnegError(f"output path {path} is a folder; pass a file name")


def temporary_sibling(path: Path) -> Path:
    """An unused hidden name beside ``path``: ``.<name>.tmp-<random hex>``.

    Nothing is created there: Spark refuses to write into an existing directory, and a
    folder is made by whoever writes it. The name is in the target folder, so the final
    rename stays on one file system and is atomic.
    """
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")


def _move_into_place(tmp: Path, path: Path, folder: Callable[[Path], None]) -> None:
    """Rename ``tmp`` onto ``path``; an existing folder there goes only if ``folder`` allows."""
    if path.is_dir() and not path.is_symlink():
        folder(path)  # raises when this folder must stay
        shutil.rmtree(path)
    elif path.exists() and tmp.is_dir():
        path.unlink()  # os.replace cannot put a folder where a file is
    os.replace(tmp, path)


def _remove(tmp: Path) -> None:
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike, *, folder: Callable[[Path], None] = refuse_folder) -> Iterator[Path]:
    """Yield a temporary name beside ``path``; move what the block wrote there onto ``path``.

    The block writes a file or a folder (a Spark output, an unpacked archive) under the
    yielded name, which does not exist yet. When the block succeeds it is renamed onto
    ``path``; on any exception it is removed and ``path`` is left as it was. A folder
    already at ``path`` is passed to ``folder``, which raises to keep it (the default,
    :func:`refuse_folder`) or returns to let it be replaced. Missing parent folders are
    created.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    >>> sorted(p.name for p in target.parent.iterdir())  # no temporary file is left
    ['out.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        _move_into_place(tmp, path, folder)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
