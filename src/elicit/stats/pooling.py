"""Opinion pools: the experts' fitted distributions combined into one, as SHELF's and Cooke's aggregations do.

* **Linear pool** (a mixture): ``F(x) = sum_i w_i F_i(x)``, ``f(x) = sum_i w_i f_i(x)`` (Stone 1961; SHELF's
  ``plinearpool``/``qlinearpool``). Its quantiles are found by root finding on ``F``; each lies between the
  smallest and the largest of the experts' quantiles at the same level.
* **Logarithmic pool**: ``f(x) proportional to prod_i f_i(x)^w_i`` (Genest & Zidek 1986), computed on a grid over
  the experts' central 99.9999 % ranges and normalized there by the trapezoid rule; its CDF is the cumulative
  trapezoid and its quantiles are read off by interpolation.

Weights are non-negative numbers (equal, researcher-given, or Cooke's performance weights passed in as numbers)
and are normalized to sum to 1. Every component is anything with scipy's frozen-distribution methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GRID_POINTS", "PooledDistribution", "linear_pool", "log_pool", "normalized_weights"]

#: Points of the grid the logarithmic pool is computed on.
GRID_POINTS = 4001
_TAIL = 1e-6


def normalized_weights(weights: Sequence[float] | None, n: int) -> tuple[float, ...]:
    """``weights`` scaled to sum to 1 (equal weights for None); ``ValueError`` for negative or all-zero ones."""
    if n < 1:
        raise ValueError("a pool needs at least one distribution")
    if weights is None:
        return (1.0 / n,) * n
    w = np.asarray(weights, dtype=float)
    if len(w) != n:
        raise ValueError("one weight per distribution")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative numbers, not all zero")
    return tuple(float(x) for x in w / w.sum())


@dataclass(frozen=True, eq=False)
class PooledDistribution:
    """A pooled distribution: ``cdf``, ``pdf``, ``ppf`` and :meth:`quantiles`, with the method and weights used."""

    method: str
    weights: tuple[float, ...]
    components: tuple[Any, ...] = field(repr=False)
    grid: np.ndarray | None = field(default=None, repr=False)
    density: np.ndarray | None = field(default=None, repr=False)
    cumulative: np.ndarray | None = field(default=None, repr=False)

    def cdf(self, x: Any) -> np.ndarray:
        """P(X <= x) of the pool."""
        xs = np.asarray(x, dtype=float)
        if self.method == "linear":
            return np.asarray(sum(w * c.cdf(xs) for w, c in zip(self.weights, self.components, strict=True)))
        assert self.grid is not None and self.cumulative is not None  # nosec B101  # narrows the type: a log pool always has its grid
        return np.asarray(np.interp(xs, self.grid, self.cumulative, left=0.0, right=1.0))

    def pdf(self, x: Any) -> np.ndarray:
        """The pooled density at ``x``."""
        xs = np.asarray(x, dtype=float)
        if self.method == "linear":
            return np.asarray(sum(w * c.pdf(xs) for w, c in zip(self.weights, self.components, strict=True)))
        assert self.grid is not None and self.density is not None  # nosec B101  # narrows the type: a log pool always has its grid
        return np.asarray(np.interp(xs, self.grid, self.density, left=0.0, right=0.0))

    def ppf(self, q: Any) -> np.ndarray:
        """The pooled quantile at probability ``q`` (numeric inversion of :meth:`cdf`)."""
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qs <= 0) | (qs >= 1)):
            raise ValueError("quantile levels are probabilities strictly between 0 and 1")
        if self.method == "linear":
            result = self._invert(qs)
        else:
            assert self.grid is not None and self.cumulative is not None  # nosec B101  # narrows the type: a log pool always has its grid
            result = np.interp(qs, self.cumulative, self.grid)
        return result if np.ndim(q) else result[0]

    def _invert(self, qs: np.ndarray) -> np.ndarray:
        """Mixture quantiles: bracketed on a fine grid between the components' quantiles, then Newton steps."""
        used = [(w, c) for w, c in zip(self.weights, self.components, strict=True) if w > 0]
        ends = np.array([np.atleast_1d(c.ppf(qs)) for _, c in used])
        low, high = float(ends.min()), float(ends.max())
        if high - low <= 1e-12 * max(1.0, abs(high)):
            return np.full_like(qs, low)
        grid = np.linspace(low, high, 2049)
        cumulative = np.maximum.accumulate(self.cdf(grid))
        x = np.interp(qs, cumulative, grid)
        for _ in range(
            3
        ):  # the mixture's CDF is smooth: Newton from the interpolated value converges at once
            density = self.pdf(x)
            step = np.where(density > 0, (self.cdf(x) - qs) / np.where(density > 0, density, 1.0), 0.0)
            x = np.clip(x - step, low, high)
        return np.asarray(x)

    def quantiles(self, levels: Sequence[float]) -> tuple[float, ...]:
        """The pooled quantiles at ``levels`` (probabilities, e.g. 0.05, 0.5, 0.95)."""
        return tuple(float(v) for v in np.atleast_1d(self.ppf(np.asarray(levels, dtype=float))))

    def span(self, tail: float = 0.001) -> tuple[float, float]:
        """A range holding all but ``tail`` of the pool in each tail: where a figure draws it."""
        low, high = self.quantiles((tail, 1 - tail))
        return low, high


def linear_pool(distributions: Sequence[Any], weights: Sequence[float] | None = None) -> PooledDistribution:
    """The linear opinion pool (weighted mixture) of ``distributions``."""
    w = normalized_weights(weights, len(distributions))
    return PooledDistribution("linear", w, tuple(distributions))


def log_pool(
    distributions: Sequence[Any], weights: Sequence[float] | None = None, points: int = GRID_POINTS
) -> PooledDistribution:
    """The logarithmic opinion pool (normalized weighted geometric mean of the densities), on a grid."""
    w = normalized_weights(weights, len(distributions))
    used = [(wi, d) for wi, d in zip(w, distributions, strict=True) if wi > 0]
    low = min(
        float(d.ppf(_TAIL)) for _, d in used
    )  # the union of the central ranges holds the product's mass
    high = max(float(d.ppf(1 - _TAIL)) for _, d in used)
    pad = 0.05 * (high - low)
    supports = [d.support() for _, d in used]
    low = max(low - pad, max(float(s[0]) for s in supports))
    high = min(high + pad, min(float(s[1]) for s in supports))
    if not low < high:
        raise ValueError("the distributions share no support, so their logarithmic pool is undefined")
    grid = np.linspace(low, high, points)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_density = sum(wi * d.logpdf(grid) for wi, d in used)
    log_density = np.where(np.isfinite(log_density), log_density, -np.inf)
    if not np.isfinite(log_density).any():
        raise ValueError("the distributions share no support, so their logarithmic pool is undefined")
    density = np.exp(log_density - log_density.max())
    steps = np.diff(grid) * (density[1:] + density[:-1]) / 2
    total = steps.sum()
    cumulative = np.concatenate(([0.0], np.cumsum(steps))) / total
    return PooledDistribution(
        "logarithmic", w, tuple(distributions), grid=grid, density=density / total, cumulative=cumulative
    )
