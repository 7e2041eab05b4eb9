"""A random sample of exams, stratified by dataset, reproducible from its seed.

Framework-free: the sizes of the strata and their ids come in, the chosen ids go
out; ``Exam.objects.sample`` runs it on the database. The sample of N is split
over the datasets in proportion to their sizes by the largest-remainder method
(Hamilton's), so the parts add up to N exactly and each is within one exam of
its exact share; within a dataset the exams are drawn without replacement by
numpy's PCG64 generator, seeded by the seed and the dataset's name, so the same
seed over the same exams always gives the same sample, and adding a dataset
does not change what is drawn from the others (only how many).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

__all__ = ["allocate", "draw"]


def allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """How many of ``n`` come from each stratum: proportional to ``sizes``,
    largest remainders first (ties by name), never more than a stratum holds.

    ValueError if ``n`` is negative or larger than all strata together.
    """
    total = sum(sizes.values())
    if n < 0 or n > total:
        raise ValueError(f"cannot sample {n} of {total} exams")
    if n == 0:
        return dict.fromkeys(sizes, 0)
    exact = {name: n * size / total for name, size in sizes.items()}
    shares = {name: int(value) for name, value in exact.items()}
    left = n - sum(shares.values())
    order = sorted(sizes, key=lambda name: (-(exact[name] - shares[name]), name))
    for name in order[:left]:
        shares[name] += 1
    return shares


def draw(ids: NDArray[np.integer], k: int, *, seed: int, stratum: str) -> NDArray:
    """``k`` of ``ids`` (sorted first, so their order does not matter), drawn
    without replacement; the same for the same seed, stratum and ids."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    if not 0 <= k <= len(ids):
        raise ValueError(f"cannot draw {k} of {len(ids)}")
    rng = np.random.default_rng([seed, zlib.crc32(stratum.encode())])
    return np.sort(rng.choice(ids, size=k, replace=False))
