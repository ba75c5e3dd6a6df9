"""Deterministic random streams: every stream is named, so adding one never shifts another."""

from __future__ import annotations

import hashlib
import random

import numpy as np


def derive_seed(seed: int, *parts: object) -> int:
    """A 64-bit seed from the run seed and a stream name (stable across runs and platforms)."""
    text = "/".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def py_rng(seed: int, *parts: object) -> random.Random:
    """Fast scalar draws (random.Random's algorithms are stable across CPython versions)."""
    return random.Random(derive_seed(seed, *parts))


def np_rng(seed: int, *parts: object) -> np.random.Generator:
    """Vectorised draws for the market-level processes."""
    return np.random.Generator(np.random.PCG64(derive_seed(seed, *parts)))


def stable_bucket(key: str, buckets: int) -> int:
    """A bucket that depends on the key only (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets
