"""The examples in recneg's docstrings run and print what they show.

Docstring examples are the first code a reader copies; running them here keeps them
from drifting when the implementation changes (a sampler's draws for a seed, say).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import recneg

MODULES = sorted(m.name for m in pkgutil.walk_packages(recneg.__path__, "recneg."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
