"""Fitting and pooling at panel scale: 50 experts x 40 quantile items (5/50/95 on [0, 100]).

Elicit: for every item, :func:`elicit.stats.distributions.fit_judgement` on each expert's points (all nine of SHELF's
families apply on a bounded support), then the equal-weight linear pool, the logarithmic pool and a linear pool
with unequal (performance-like) weights of the experts' best fits, each read off at 5/50/95 %.

The floor, measured in the same run on the same judgements: the bare scipy fits alone, i.e. one
``scipy.optimize.least_squares`` per expert, item and family on the residuals ``F(v_i) - p_i`` written with the
same ``scipy.special`` CDFs, from a plain start (median and spread), with no starting-value logic, no frozen
distributions and no pooling. Target: Elicit <= 2 x the floor. ``--quick``: 10 experts x 8 items.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LEVELS = (5, 50, 95)
LOWER, UPPER = 0.0, 100.0


def judgements(experts: int, items: int, seed: int = 5) -> np.ndarray:
    """Experts x items x 3 increasing quantiles inside (0, 100)."""
    rng = np.random.default_rng(seed)
    median = rng.uniform(20, 80, (experts, items))
    below = rng.uniform(3, 15, (experts, items))
    above = rng.uniform(3, 15, (experts, items))
    return np.stack([median - below, median, median + above], axis=-1)


def elicit(values: np.ndarray, weights: np.ndarray) -> list[tuple[float, ...]]:
    """Fit every judgement and pool each item three ways: what the analysis does per distribution item."""
    from elicit.stats.distributions import fit_judgement
    from elicit.stats.judgements import quantile_points
    from elicit.stats.pooling import linear_pool, log_pool

    out = []
    for item in range(values.shape[1]):
        dists = [
            fit_judgement(quantile_points(LEVELS, values[e, item]), lower=LOWER, upper=UPPER).best.dist
            for e in range(values.shape[0])
        ]
        for pool in (linear_pool(dists), log_pool(dists), linear_pool(dists, weights)):
            out.append(pool.quantiles((0.05, 0.5, 0.95)))
    return out


def floor(values: np.ndarray) -> int:
    """The bare scipy least-squares fits of the nine families to every judgement (no pooling)."""
    from scipy import optimize, special

    p = np.array(LEVELS) / 100
    fits = 0
    for v in values.reshape(-1, 3):
        spread = (v[2] - v[0]) / 3.29
        y, z = v - LOWER, UPPER - v
        b = (v - LOWER) / (UPPER - LOWER)
        ly, lz = np.log(y), np.log(z)
        families: list[tuple[Callable[[np.ndarray], np.ndarray], tuple[float, float]]] = [
            (lambda t, v=v: special.ndtr((v - t[0]) / np.exp(t[1])) - p, (v[1], np.log(spread))),
            (lambda t, v=v: special.stdtr(3, (v - t[0]) / np.exp(t[1])) - p, (v[1], np.log(spread))),
            (lambda t, y=y: special.gammainc(np.exp(t[0]), y * np.exp(t[1])) - p, (2.0, -2.0)),
            (
                lambda t, ly=ly: special.ndtr((ly - t[0]) / np.exp(t[1])) - p,
                (ly[1], np.log(np.ptp(ly) / 3.29)),
            ),
            (
                lambda t, ly=ly: special.stdtr(3, (ly - t[0]) / np.exp(t[1])) - p,
                (ly[1], np.log(np.ptp(ly) / 3.29)),
            ),
            (lambda t, b=b: special.betainc(np.exp(t[0]), np.exp(t[1]), b) - p, (1.0, 1.0)),
            (lambda t, z=z: special.gammainc(np.exp(t[0]), z * np.exp(t[1])) - (1 - p), (2.0, -2.0)),
            (
                lambda t, lz=lz: special.ndtr((lz - t[0]) / np.exp(t[1])) - (1 - p),
                (lz[1], np.log(np.ptp(lz) / 3.29)),
            ),
            (
                lambda t, lz=lz: special.stdtr(3, (lz - t[0]) / np.exp(t[1])) - (1 - p),
                (lz[1], np.log(np.ptp(lz) / 3.29)),
            ),
        ]
        for residuals, start in families:
            optimize.least_squares(residuals, start, method="lm", xtol=1e-12, ftol=1e-12, gtol=1e-12)
            fits += 1
    return fits


def best(function: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def run(quick: bool) -> list[dict[str, Any]]:
    experts, items = (10, 8) if quick else (50, 40)
    values = judgements(experts, items)
    weights = np.random.default_rng(1).dirichlet(np.ones(experts))
    floor(values[:2, :2])  # warm-up: imports and first-call caches
    elicit(values[:2, :2], weights[:2])
    floor_seconds = best(lambda: floor(values), 2)
    elicit_seconds = best(lambda: elicit(values, weights), 2)
    judged = experts * items
    return [
        {
            "judgements": judged,
            "case": "floor: bare scipy least_squares, 9 families each",
            "seconds": floor_seconds,
            "vs_floor": 1.0,
            "note": f"{9 * judged} fits",
        },
        {
            "judgements": judged,
            "case": "fit_judgement + 3 pools per item",
            "seconds": elicit_seconds,
            "vs_floor": elicit_seconds / floor_seconds,
            "note": f"{experts} experts x {items} items; target <= 2",
        },
    ]


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run("--quick" in sys.argv)))
