"""Shared test fixtures.

The real datasets live outside the repository (their licences forbid redistribution):
``$RECNEG_DATA_DIR`` when set, else ``../shared/data`` next to the repository. Tests
that need them take the ``data_dir`` fixture and are skipped when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"


def _data_root() -> Path:
    env = os.environ.get("RECNEG_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


# Loaders called without data_dir in any test find the shared copies.
if "RECNEG_DATA_DIR" not in os.environ and DEFAULT_DATA_DIR.is_dir():
    os.environ["RECNEG_DATA_DIR"] = str(DEFAULT_DATA_DIR)


@pytest.fixture
def data_dir(monkeypatch) -> Path:
    """The folder holding ``ml-100k/``, ``ml-latest-small/``, ``amazon-beauty/``."""
    root = _data_root()
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root}; set RECNEG_DATA_DIR")
    monkeypatch.setenv("RECNEG_DATA_DIR", str(root))
    return root


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for the module: its tensors are tiny, so one thread is
    fastest and keeps the timings stable on shared cores. Opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
