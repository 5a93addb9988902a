"""An expert's judgement of one uncertain quantity as points of a cumulative distribution.

Every elicitation method ends as pairs ``(value, P(X <= value))``, which is what distributions are fitted to
(:mod:`elicit.stats.distributions`) and pooled. The survey (through the item-type registry) and the analysis
(from the codebook's ``elicitation``) both call these, so the expert's feedback and the report agree.

* **quantiles** (``levels`` in percent): value ``v_i`` at probability ``level_i / 100``.
* **roulette** (bin ``edges`` e_0 < ... < e_n, ``chips`` c_1..c_n): ``P(X <= e_i) = (c_1 + ... + c_i) / sum(c)``,
  as SHELF's ``roulette`` hands its chips to ``fitdist``; the points at probability 0 and 1 carry no information
  for a fit (any family puts e_0 below and e_n above) and are left out, except the outer ones that bound the
  support.
* **four-point** (IDEA: lowest, highest, best, confidence c in percent that the truth lies between lowest and
  highest): the interval is read as the central ``c`` % interval and the best estimate as the median, so the
  points are ``(lowest, (1 - c) / 2)``, ``(best, 0.5)``, ``(highest, (1 + c) / 2)``. Hemming et al. (2018, Methods
  Ecol. Evol. 9: 169-180) standardize intervals to one confidence by linear extrapolation from the best estimate
  before aggregating; fitting to the points as stated is the same reading without that extra assumption.
* **probabilities** (SHELF's fixed-interval or "probability" method: fixed values x_1 < ... < x_n, and for each the
  expert's probability p_i in percent that the quantity is at most x_i): ``P(X <= x_i) = p_i / 100``. As with
  roulette, points at 0 and 100 % are left out of the fit but bound the support: the largest value said to have 0 %
  is ``lower``, the smallest said to have 100 % is ``upper``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "FAMILIES",
    "Points",
    "four_point_points",
    "probability_points",
    "quantile_points",
    "roulette_points",
]

#: SHELF's families, in the order SHELF breaks ties in (the first with the least sum of squares is best); here, not
#: in ``distributions``, so that instruments can name them without loading scipy.
FAMILIES: tuple[str, ...] = (
    "normal",
    "t",
    "gamma",
    "lognormal",
    "logt",
    "beta",
    "mirrorgamma",
    "mirrorlognormal",
    "mirrorlogt",
)


@dataclass(frozen=True)
class Points:
    """Increasing values and their cumulative probabilities (each strictly between 0 and 1)."""

    values: tuple[float, ...]
    probabilities: tuple[float, ...]
    lower: float | None = None  # where the judgement says the support starts (roulette: the first edge)
    upper: float | None = None


def quantile_points(levels: Sequence[float], values: Sequence[float]) -> Points:
    """Quantiles at ``levels`` percent."""
    if len(levels) != len(values):
        raise ValueError("one value per quantile level")
    return Points(tuple(float(v) for v in values), tuple(float(level) / 100 for level in levels))


def roulette_points(edges: Sequence[float], chips: Sequence[float]) -> Points:
    """Chips per bin between ``edges`` (one more edge than bins)."""
    if len(edges) != len(chips) + 1:
        raise ValueError("roulette needs one more edge than bins")
    total = float(sum(chips))
    if total <= 0 or any(c < 0 for c in chips):
        raise ValueError("roulette needs a positive number of chips and none negative")
    values: list[float] = []
    probabilities: list[float] = []
    running = 0.0
    for edge, count in zip(edges[1:], chips, strict=True):
        running += count
        p = running / total
        if 0 < p < 1:
            values.append(float(edge))
            probabilities.append(p)
    first = next(i for i, c in enumerate(chips) if c > 0)
    last = max(i for i, c in enumerate(chips) if c > 0)
    return Points(tuple(values), tuple(probabilities), float(edges[first]), float(edges[last + 1]))


def four_point_points(lowest: float, best: float, highest: float, confidence: float) -> Points:
    """IDEA's four points, ``confidence`` in percent (50 to 100)."""
    if not lowest <= best <= highest or lowest == highest:
        raise ValueError("lowest <= best <= highest, with lowest < highest")
    if not 50 <= confidence <= 100:
        raise ValueError("confidence is a percentage from 50 to 100")
    c = (
        min(float(confidence), 99.9) / 100
    )  # a 100 % interval is read as 99.9 %: a fit needs probabilities below 1
    values = [float(lowest), float(best), float(highest)]
    probabilities = [(1 - c) / 2, 0.5, (1 + c) / 2]
    if values[0] == values[1]:  # a best estimate at an end of the interval says nothing more there
        del values[0], probabilities[0]
    if values[-1] == values[-2]:
        del values[-1], probabilities[-1]
    return Points(tuple(values), tuple(probabilities))


def probability_points(values: Sequence[float], percents: Sequence[float]) -> Points:
    """Probabilities in percent that the quantity is at most each of the increasing ``values`` (SHELF's
    probability method); the values at 0 and 100 % bound the support instead of being fitted."""
    if len(values) != len(percents) or not values:
        raise ValueError("one probability per value")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError("the values must increase")
    if any(not 0 <= p <= 100 for p in percents):
        raise ValueError("probabilities are percentages from 0 to 100")
    if any(b < a for a, b in zip(percents, percents[1:], strict=False)):
        raise ValueError("the probabilities must not decrease")
    kept = [(float(v), float(p) / 100) for v, p in zip(values, percents, strict=True) if 0 < p < 100]
    lower = max((float(v) for v, p in zip(values, percents, strict=True) if p == 0), default=None)
    upper = min((float(v) for v, p in zip(values, percents, strict=True) if p == 100), default=None)
    return Points(tuple(v for v, _ in kept), tuple(p for _, p in kept), lower, upper)
