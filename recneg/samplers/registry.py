"""Samplers by name, for the CLI, experiments and the book, and the survey's taxonomy.

The taxonomy is stated once, here (:data:`TAXONOMY`); each class names its family and
sub-family in class attributes spelled as here, and :func:`catalogue` lists every
registered class under them. The comparison chapter and the API reference are generated
from :func:`catalogue`.

>>> make_sampler("popularity", alpha=0.5).alpha
0.5
"""

from __future__ import annotations

import pandas as pd

from .._errors import RecnegError
from .base import NegativeSampler

__all__ = ["METHODS", "SAMPLERS", "TAXONOMY", "catalogue", "make_sampler", "register_method", "register_sampler"]

#: The survey's five families and seventeen sub-families (Ma et al., arXiv 2409.07237), in its order.
TAXONOMY: dict[str, tuple[str, ...]] = {
    "static": ("uniform", "predefined", "popularity-based", "non-sampling"),
    "dynamic": ("universal DNS", "user-similarity DNS", "knowledge-aware DNS", "distribution-based DNS",
                "interpolation DNS", "mixed DNS"),
    "adversarial": ("generative ANG", "sampled ANG"),
    "re-weighting": ("attention-based IRW", "knowledge-aware IRW", "debiased IRW"),
    "knowledge-enhanced": ("general KNS", "KG-based KNS"),
}

#: name -> sampler class. Every sampler module registers its classes at import time
#: (:func:`register_sampler`), so this module imports none of them: no import cycle.
SAMPLERS: dict[str, type[NegativeSampler]] = {}


def register_sampler(name: str, cls: type[NegativeSampler]) -> None:
    """Make ``cls`` available to :func:`make_sampler` under ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, NegativeSampler)):
        raise RecnegError(f"{cls!r} is not a NegativeSampler subclass")
    existing = SAMPLERS.get(name)
    if existing is not None and existing is not cls:
        raise RecnegError(f"sampler name {name!r} is already taken by {existing.__name__}")
    SAMPLERS[name] = cls


def make_sampler(name: str, **params):
    """Create a sampler by name, e.g. ``make_sampler("popularity", alpha=0.75)``.

    A method with its own batch loss registered by :func:`register_method` (e.g.
    ``"mixgcf"``) is created the same way, so grids and the CLI can name it.
    """
    cls = SAMPLERS.get(name) or METHODS.get(name)
    if cls is None:
        raise RecnegError(
            f"unknown sampler {name!r}; choose one of: {', '.join(sorted({*SAMPLERS, *METHODS}))}"
        )
    try:
        return cls(**params)
    except TypeError as error:
        raise RecnegError(f"bad parameters for sampler {name!r}: {error}") from None


#: name -> method class for the methods that produce negative *embeddings* rather than items
#: (they train through :class:`recneg.training.Trainer` with their own batch loss), and for
#: those that need data ``make_sampler(name)`` cannot supply (e.g. the exposure sampler's
#: impressions). Every entry of :data:`SAMPLERS`, by contrast, builds from its name alone.
METHODS: dict[str, type] = {}


def register_method(name: str, cls: type) -> None:
    """Make an embedding-level method (``recneg.samplers.EmbeddingNegatives``) known to :func:`catalogue`."""
    if name in METHODS and METHODS[name] is not cls:
        raise RecnegError(f"method name {name!r} is already taken by {METHODS[name].__name__}")
    METHODS[name] = cls


def _check_taxonomy(cls: type) -> None:
    subfamilies = TAXONOMY.get(cls.family)
    if subfamilies is None or cls.subfamily not in subfamilies:
        raise RecnegError(f"{cls.__name__} declares family {cls.family!r} / sub-family {cls.subfamily!r}, which is "
                          "not in recneg.samplers.registry.TAXONOMY; spell them as there")


def catalogue() -> pd.DataFrame:
    """Every registered sampler and method under the survey's taxonomy, in the survey's order.

    Columns: ``family``, ``subfamily``, ``name`` (for :func:`make_sampler`), ``class``,
    ``variant`` and ``summary`` (the first line of the class docstring). A sub-family no
    class implements has no row: non-sampling, whose method (ENMF, Chen et al., TOIS 2020)
    is a whole-data weighted squared loss rather than a sampler. It is not the full softmax
    (``loss="ce"``), the whole-catalogue loss recneg does offer.

    Examples
    --------
    >>> table = catalogue()
    >>> table.loc[table.name == "mixed", ["family", "subfamily"]].values.tolist()
    [['dynamic', 'mixed DNS']]
    >>> list(table.family.unique())
    ['static', 'dynamic', 'adversarial', 're-weighting', 'knowledge-enhanced']
    """
    order = {(family, sub): i for i, (family, sub) in
             enumerate((f, s) for f, subs in TAXONOMY.items() for s in subs)}
    rows = []
    for name, cls in list(SAMPLERS.items()) + list(METHODS.items()):
        _check_taxonomy(cls)
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append({"family": cls.family, "subfamily": cls.subfamily, "name": name, "class": cls.__name__,
                     "variant": cls.variant, "summary": doc[0] if doc else "",
                     "_order": order[cls.family, cls.subfamily]})
    table = pd.DataFrame(rows).sort_values(["_order", "name"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)
