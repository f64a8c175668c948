"""Hash-based random numbers shared by both engines: Spark's xxHash64, in numpy.

Every random quantity of :mod:`recneg.scale` is a uniform computed from a hash of
``(seed, salt, *values)``, never a draw from a generator's stream, so a sample depends on
the seed only — not on chunking, partitions or executors. Spark computes the same
numbers with ``F.xxhash64`` (``_uniform`` in :mod:`recneg.scale.spark`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["hash_uniform", "xxhash64"]

#: Hash salts: one per independent random quantity.
SALT_STREAM = 0x5EED01
SALT_KEYS = 0x5EED02
SALT_KEYS_REPLACE = 0x5EED03
SALT_SYN_USER = 0x5EED11
SALT_SYN_ITEM = 0x5EED12
SALT_SYN_SEGMENT = 0x5EED13
SALT_SYN_WEEK = 0x5EED14
SALT_SYN_TIME = 0x5EED15

# --- xxHash64, bit-compatible with Spark's F.xxhash64 on bigint columns ----------------
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_SPARK_HASH_SEED = np.uint64(42)
def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _hash_long(value: np.ndarray, seed: np.ndarray) -> np.ndarray:
    h = seed + _P5 + np.uint64(8)
    h = h ^ (_rotl(value * _P2, 31) * _P1)
    h = _rotl(h, 27) * _P1 + _P4
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


def xxhash64(*values) -> np.ndarray:
    """Spark's ``F.xxhash64(*cols)`` for bigint inputs, vectorised with broadcasting.

    Examples
    --------
    >>> int(xxhash64(3, -5, 7))  # equals spark.range(1).select(F.xxhash64(lit(3L), lit(-5L), lit(7L)))
    -1837915294542365774
    """
    h = _SPARK_HASH_SEED
    with np.errstate(over="ignore"):
        for value in values:
            h = _hash_long(np.asarray(value, dtype=np.int64).view(np.uint64), h)
    return np.asarray(h).view(np.int64)


def hash_uniform(seed: int, salt: int, *values) -> np.ndarray:
    """Uniforms in (0, 1) that depend only on ``(seed, salt, *values)``.

    The top 52 bits of the xxHash64 give ``(x + 0.5) / 2**52``; the half offset keeps
    ``log(u)`` finite and ``u < 1`` exactly. Spark computes the same numbers with
    ``F.xxhash64``, which is what makes sampling independent of partitioning.

    Examples
    --------
    >>> u = hash_uniform(0, 1, np.arange(5))
    >>> bool(((u > 0) & (u < 1)).all())
    True
    """
    h = xxhash64(seed, salt, *values).view(np.uint64)
    return ((h >> np.uint64(12)).astype(np.float64) + 0.5) / 4503599627370496.0
