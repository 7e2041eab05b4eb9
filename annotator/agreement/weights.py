"""Poisson(1) bootstrap weights, a pure function of (seed, exam key, replicate).

Part of :mod:`annotator.agreement` (its module docstring, "Bootstrap", says why
the weights must not depend on how the exams are chunked).
"""

from __future__ import annotations

import functools
from decimal import ROUND_FLOOR, Decimal, localcontext

import numpy as np
from numpy.typing import NDArray

__all__ = ["poisson_weights"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser (Steele, Lea & Flood 2014), a bijection of uint64."""
    z = z ^ (z >> np.uint64(30))
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


@functools.cache
def _poisson_tables() -> tuple[
    NDArray[np.uint64], NDArray[np.uint8], NDArray[np.bool_]
]:
    """Thresholds floor(F(k) 2^64) of the Poisson(1) CDF, and a 16-bit lookup table."""
    thresholds = []
    with localcontext() as ctx:
        ctx.prec = 80
        term = Decimal(-1).exp()
        cdf, scale = Decimal(0), Decimal(2) ** 64
        for k in range(64):
            cdf += term
            t = int((cdf * scale).to_integral_value(rounding=ROUND_FLOOR))
            if t >= 2**64:
                break
            thresholds.append(t)
            term /= k + 1
    table = np.array(thresholds, dtype=np.uint64)
    lo = np.arange(1 << 16, dtype=np.uint64) << np.uint64(48)
    hi = lo | np.uint64((1 << 48) - 1)
    w_lo = np.searchsorted(table, lo, side="right")
    w_hi = np.searchsorted(table, hi, side="right")
    return table, w_lo.astype(np.uint8), w_lo != w_hi


def poisson_weights(
    exam_keys: NDArray[np.integer], seed: int, n_replicates: int
) -> NDArray[np.uint8]:
    """Bootstrap weights ``w[b, e] ~ Poisson(1)``, shape (n_replicates, exams), uint8.

    Deterministic and chunk-independent: ``w[b, e]`` depends only on ``seed``, the
    exam's integer key (use the database id; keys must be unique) and ``b``.
    ``h = mix(mix(key + mix(seed + g)) + (b+1) g)`` with splitmix64's ``mix`` and
    ``g = 0x9E3779B97F4A7C15``; ``w = #{k : floor(F(k) 2^64) <= h}`` inverts the
    Poisson(1) CDF ``F`` at the uniform ``h / 2^64`` (exact to 2^-64; weights reach
    at most 20). Replicate ``b`` does not depend on ``n_replicates``.
    """
    keys = np.asarray(exam_keys)
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        raise ValueError("exam_keys must be a 1-D array of integers")
    k64 = keys.astype(np.uint64) if keys.dtype.kind == "u" else keys.astype(np.int64)
    k64 = k64.view(np.uint64)
    s0 = _mix(np.array([seed % 2**64], dtype=np.uint64) + _GOLDEN)
    base = _mix(k64 + s0)
    steps = np.arange(1, n_replicates + 1, dtype=np.uint64) * _GOLDEN
    h = _mix(base[None, :] + steps[:, None])
    table, lut, ambiguous = _poisson_tables()
    top = h >> np.uint64(48)
    w = lut[top]
    edge = ambiguous[top]
    if edge.any():
        w[edge] = np.searchsorted(table, h[edge], side="right")
    return w
