"""Samplers by name, for the CLI, experiments and the book.

>>> make_sampler("popularity", alpha=0.5).alpha
0.5
"""

from __future__ import annotations

from .._errors import RecnegError
from .adaptive import AdaptiveMixedSampler, AdaptiveSampler
from .base import NegativeSampler
from .static import InBatchSampler, MixedSampler, PopularitySampler, UniformSampler

__all__ = ["SAMPLERS", "make_sampler", "register_sampler"]

#: name -> sampler class; extended by :func:`register_sampler`.
SAMPLERS: dict[str, type[NegativeSampler]] = {
    "uniform": UniformSampler,
    "popularity": PopularitySampler,
    "in-batch": InBatchSampler,
    "mixed": MixedSampler,
    "adaptive": AdaptiveSampler,
    "adaptive-mixed": AdaptiveMixedSampler,
}


def register_sampler(name: str, cls: type[NegativeSampler]) -> None:
    """Make ``cls`` available to :func:`make_sampler` under ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, NegativeSampler)):
        raise RecnegError(f"{cls!r} is not a NegativeSampler subclass")
    existing = SAMPLERS.get(name)
    if existing is not None and existing is not cls:
        raise RecnegError(f"sampler name {name!r} is already taken by {existing.__name__}")
    SAMPLERS[name] = cls


def make_sampler(name: str, **params) -> NegativeSampler:
    """Create a sampler by name, e.g. ``make_sampler("popularity", alpha=0.75)``."""
    try:
        cls = SAMPLERS[name]
    except KeyError:
        raise RecnegError(
            f"unknown sampler {name!r}; choose one of: {', '.join(sorted(SAMPLERS))}"
        ) from None
    try:
        return cls(**params)
    except TypeError as error:
        raise RecnegError(f"bad parameters for sampler {name!r}: {error}") from None
