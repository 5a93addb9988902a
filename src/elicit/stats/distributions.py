"""Distributions fitted to an expert's cumulative points by least squares, as SHELF's ``fitdist`` fits them.

For each family the parameters minimize ``sum_i (F(v_i) - p_i)^2`` over the points ``(v_i, p_i)`` of a
:class:`~elicit.stats.judgements.Points` (Oakley, SHELF ``fitdist``; O'Hagan et al. 2006, *Uncertain Judgements*,
ch. 6). Positive parameters are optimized on the log scale and started where SHELF starts them: a normal
matched to the lowest and highest points (``m``, ``v``), the log-scale equivalents for the log families and the
beta's method-of-moments values on ``[lower, upper]``. Which families apply depends on the support:

* ``normal`` and ``t`` (location, scale; ``tdf`` = 3 degrees of freedom, SHELF's default) always;
* ``gamma``, ``lognormal`` and ``logt`` of ``X - lower`` when a ``lower`` bound is given and every value lies above
  it;
* ``beta`` of ``(X - lower) / (upper - lower)`` when both bounds are given and every value lies between them;
* ``mirrorgamma``, ``mirrorlognormal`` and ``mirrorlogt`` of ``upper - X`` when an ``upper`` bound is given and
  every value lies below it (as SHELF fits them whenever ``upper`` is finite).

When the points do not reach below 0.4 and above 0.6 (e.g. a single point), SHELF fits only exponentials: a gamma
(or mirror gamma) with shape 1, for whichever bound is given. Parameters are reported in SHELF's notation; each
:class:`Fit` carries the frozen scipy distribution (``dist.cdf``, ``dist.pdf``, ``dist.ppf``). The log-t and the
mirror families are scipy ``rv_continuous`` classes defined here by their change of variable from scipy's
``t``, ``gamma`` and ``lognorm``; no density is written out by hand.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from .judgements import FAMILIES, Points

__all__ = [
    "FAMILIES",
    "PARAMETERS",
    "TDF",
    "Fit",
    "Fits",
    "distribution",
    "fit_judgement",
]

#: The parameter names of each family, as SHELF prints them.
PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "normal": ("mean", "sd"),
    "t": ("location", "scale", "df"),
    "gamma": ("shape", "rate"),
    "lognormal": ("mean.log.X", "sd.log.X"),
    "logt": ("location.log.X", "scale.log.X", "df.log.X"),
    "beta": ("shape1", "shape2"),
    "mirrorgamma": ("shape", "rate"),
    "mirrorlognormal": ("mean.log.X", "sd.log.X"),
    "mirrorlogt": ("location.log.X", "scale.log.X", "df.log.X"),
}
#: SHELF's default degrees of freedom of the t and log-t families.
TDF = 3.0
_NEEDS_LOWER = frozenset({"gamma", "lognormal", "logt", "beta"})
_NEEDS_UPPER = frozenset({"beta", "mirrorgamma", "mirrorlognormal", "mirrorlogt"})


class _logt_gen(stats.rv_continuous):  # type: ignore[misc]  # scipy ships no type stubs
    """``Y = exp(s T)`` with ``T`` Student-t on ``df`` degrees of freedom; ``loc``/``scale`` give lower + exp(mu) Y."""

    def _pdf(self, x: Any, df: Any, s: Any) -> Any:
        return stats.t.pdf(np.log(x) / s, df) / (s * x)

    def _cdf(self, x: Any, df: Any, s: Any) -> Any:
        return stats.t.cdf(np.log(x) / s, df)

    def _sf(self, x: Any, df: Any, s: Any) -> Any:
        return stats.t.sf(np.log(x) / s, df)

    def _ppf(self, q: Any, df: Any, s: Any) -> Any:
        return np.exp(s * stats.t.ppf(q, df))

    def _isf(self, q: Any, df: Any, s: Any) -> Any:
        return np.exp(s * stats.t.isf(q, df))


class _mirrorgamma_gen(stats.rv_continuous):  # type: ignore[misc]  # scipy ships no type stubs
    """``-Y`` with ``Y`` standard gamma of shape ``a``; ``loc`` = upper, ``scale`` = 1 / rate."""

    def _pdf(self, x: Any, a: Any) -> Any:
        return stats.gamma.pdf(-x, a)

    def _cdf(self, x: Any, a: Any) -> Any:
        return stats.gamma.sf(-x, a)

    def _sf(self, x: Any, a: Any) -> Any:
        return stats.gamma.cdf(-x, a)

    def _ppf(self, q: Any, a: Any) -> Any:
        return -stats.gamma.isf(q, a)

    def _isf(self, q: Any, a: Any) -> Any:
        return -stats.gamma.ppf(q, a)


class _mirrorlognorm_gen(stats.rv_continuous):  # type: ignore[misc]  # scipy ships no type stubs
    """``-Y`` with ``Y`` standard log-normal of shape ``s``; ``loc`` = upper, ``scale`` = exp(mean.log.X)."""

    def _pdf(self, x: Any, s: Any) -> Any:
        return stats.lognorm.pdf(-x, s)

    def _cdf(self, x: Any, s: Any) -> Any:
        return stats.lognorm.sf(-x, s)

    def _sf(self, x: Any, s: Any) -> Any:
        return stats.lognorm.cdf(-x, s)

    def _ppf(self, q: Any, s: Any) -> Any:
        return -stats.lognorm.isf(q, s)

    def _isf(self, q: Any, s: Any) -> Any:
        return -stats.lognorm.ppf(q, s)


class _mirrorlogt_gen(stats.rv_continuous):  # type: ignore[misc]  # scipy ships no type stubs
    """``-Y`` with ``Y`` the standard log-t of :class:`_logt_gen`; ``loc`` = upper, ``scale`` = exp(location)."""

    def _pdf(self, x: Any, df: Any, s: Any) -> Any:
        return _logt.pdf(-x, df, s)

    def _cdf(self, x: Any, df: Any, s: Any) -> Any:
        return _logt.sf(-x, df, s)

    def _sf(self, x: Any, df: Any, s: Any) -> Any:
        return _logt.cdf(-x, df, s)

    def _ppf(self, q: Any, df: Any, s: Any) -> Any:
        return -_logt.isf(q, df, s)

    def _isf(self, q: Any, df: Any, s: Any) -> Any:
        return -_logt.ppf(q, df, s)


_logt = _logt_gen(a=0.0, name="logt")
_mirrorgamma = _mirrorgamma_gen(b=0.0, name="mirrorgamma")
_mirrorlognorm = _mirrorlognorm_gen(b=0.0, name="mirrorlognormal")
_mirrorlogt = _mirrorlogt_gen(b=0.0, name="mirrorlogt")


def distribution(family: str, params: Mapping[str, float], lower: float | None, upper: float | None) -> Any:
    """The frozen scipy distribution of ``family`` with SHELF's ``params`` on the support's bounds."""
    p = [float(params[name]) for name in PARAMETERS[family]]
    if family == "normal":
        return stats.norm(p[0], p[1])
    if family == "t":
        return stats.t(p[2], loc=p[0], scale=p[1])
    if family == "beta":
        assert lower is not None and upper is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
        return stats.beta(p[0], p[1], loc=lower, scale=upper - lower)
    if family in ("gamma", "lognormal", "logt"):
        assert lower is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
        if family == "gamma":
            return stats.gamma(p[0], loc=lower, scale=1 / p[1])
        if family == "lognormal":
            return stats.lognorm(p[1], loc=lower, scale=math.exp(p[0]))
        return _logt(p[2], p[1], loc=lower, scale=math.exp(p[0]))
    assert upper is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
    if family == "mirrorgamma":
        return _mirrorgamma(p[0], loc=upper, scale=1 / p[1])
    if family == "mirrorlognormal":
        return _mirrorlognorm(p[1], loc=upper, scale=math.exp(p[0]))
    if family == "mirrorlogt":
        return _mirrorlogt(p[2], p[1], loc=upper, scale=math.exp(p[0]))
    raise ValueError(f"unknown family {family!r}; SHELF's families are {', '.join(FAMILIES)}")


@dataclass(frozen=True)
class Fit:
    """One family fitted to one judgement: SHELF's parameters, the sum of squares and the frozen distribution."""

    family: str
    params: dict[str, float]
    sse: float
    lower: float | None = None
    upper: float | None = None

    @functools.cached_property
    def dist(self) -> Any:
        """The frozen scipy distribution, made when first asked for (freezing costs more than a fit)."""
        return distribution(self.family, self.params, self.lower, self.upper)


@dataclass(frozen=True)
class Fits:
    """Every family that applied to a judgement, best (least sum of squares) first."""

    fits: tuple[Fit, ...]
    lower: float | None = None
    upper: float | None = None

    @property
    def best(self) -> Fit:
        """The family with the least sum of squares (SHELF's ``best.fitting``)."""
        return self.fits[0]

    def get(self, family: str) -> Fit | None:
        """The fit of ``family``, or None where it did not apply."""
        return next((f for f in self.fits if f.family == family), None)


def _least_squares(
    residuals: Callable[[np.ndarray], np.ndarray], start: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, float]:
    """The parameters minimizing the sum of squared residuals, from ``start``, and that sum."""
    x0 = np.asarray(start, dtype=float)
    n = len(residuals(x0))
    method = "lm" if n >= len(x0) else "trf"
    with np.errstate(all="ignore"):
        result = optimize.least_squares(residuals, x0, method=method, xtol=1e-12, ftol=1e-12, gtol=1e-12)
        x = np.asarray(result.x)
        if (
            np.all(np.isfinite(x))
            and np.all(np.abs(x) < 700)
            and result.cost <= 0.5 * np.sum(residuals(x0) ** 2)
        ):
            return x, float(np.sum(residuals(x) ** 2))
        found = (
            optimize.minimize(  # the trust region left for a degenerate corner: SHELF's Nelder-Mead instead
                lambda th: float(np.sum(residuals(th) ** 2)),
                x0,
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 2000},
            )
        )
    return np.asarray(found.x), float(found.fun)


def _finite(*numbers: float) -> bool:
    return all(math.isfinite(n) for n in numbers)


def _applicable(
    family: str, values: np.ndarray, lower: float | None, upper: float | None, wide: bool
) -> bool:
    """Whether ``family`` can be fitted to ``values`` with these bounds (and points on both sides of 0.4-0.6)."""
    if family in _NEEDS_LOWER and (lower is None or values.min() <= lower):
        return False
    if family in _NEEDS_UPPER and (upper is None or values.max() >= upper):
        return False
    return wide or family in ("gamma", "mirrorgamma")


def fit_judgement(
    points: Points,
    *,
    lower: float | None = None,
    upper: float | None = None,
    families: Sequence[str] | None = None,
    tdf: float = TDF,
) -> Fits:
    """Fit SHELF's families to ``points`` by least squares on the cumulative probabilities.

    ``lower`` and ``upper`` default to the bounds the points carry (a roulette's outer edges); ``families``
    restricts the families tried (an instrument that fixes the family). Families that cannot apply to the values
    and bounds are left out; ``ValueError`` when none applies.
    """
    lower = points.lower if lower is None else float(lower)
    upper = points.upper if upper is None else float(upper)
    if lower is not None and upper is not None and not lower < upper:
        raise ValueError("the lower bound must be below the upper bound")
    wanted = tuple(FAMILIES if families is None else families)
    unknown = [f for f in wanted if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {', '.join(unknown)}; SHELF's families are {', '.join(FAMILIES)}")
    v = np.asarray(points.values, dtype=float)
    p = np.asarray(points.probabilities, dtype=float)
    if len(v) == 0 or len(v) != len(p) or not np.all((p > 0) & (p < 1)) or not np.all(np.isfinite(v)):
        raise ValueError("a fit needs points with finite values and probabilities strictly between 0 and 1")
    wide = bool(p.min() < 0.4 and p.max() > 0.6)
    fits = []
    for family in (f for f in FAMILIES if f in wanted):
        if not _applicable(family, v, lower, upper, wide):
            continue
        params, sse = (
            _fit_family(family, v, p, lower, upper, tdf)
            if wide
            else _fit_exponential(family, v, p, lower, upper)
        )
        if math.isfinite(sse) and all(math.isfinite(x) for x in params.values()):
            fits.append(Fit(family, params, sse, lower, upper))
    if not fits:
        raise ValueError("no distribution family applies to these points and bounds")
    order = {f: i for i, f in enumerate(FAMILIES)}
    fits.sort(key=lambda f: (f.sse, order[f.family]))  # ties: SHELF's order, as its which.min
    return Fits(tuple(fits), lower, upper)


def _fit_family(
    family: str, v: np.ndarray, p: np.ndarray, lower: float | None, upper: float | None, tdf: float
) -> tuple[dict[str, float], float]:
    """SHELF's start and the least-squares parameters of one family (points reach below 0.4 and above 0.6)."""
    minq, maxq = stats.norm.ppf(p.min()), stats.norm.ppf(p.max())
    minv, maxv = v[np.argmin(p)], v[np.argmax(p)]
    m = (minv * maxq - maxv * minq) / (maxq - minq)
    var = ((maxv - minv) / (maxq - minq)) ** 2
    q40, q60 = np.interp([0.4, 0.6], p, v)
    names = PARAMETERS[family]
    if family in ("normal", "t"):
        if family == "normal":
            x, sse = _least_squares(
                lambda th: special.ndtr((v - th[0]) / np.exp(th[1])) - p, (m, 0.5 * math.log(var))
            )
        else:
            x, sse = _least_squares(
                lambda th: special.stdtr(tdf, (v - th[0]) / np.exp(th[1])) - p, (m, 0.5 * math.log(var))
            )
        values = [x[0], math.exp(x[1])] + ([tdf] if family == "t" else [])
        return dict(zip(names, map(float, values), strict=True)), sse
    if family == "beta":
        assert lower is not None and upper is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
        width = upper - lower
        y = (v - lower) / width
        m2, v2 = (m - lower) / width, var / width**2
        alp = abs(m2**3 / v2 * (1 / m2 - 1) - m2) if 0 < m2 < 1 else 1.0
        bet = abs(alp / m2 - alp) if 0 < m2 < 1 else 1.0
        if np.allclose(p, y, rtol=0, atol=1e-15) or not _finite(math.log(alp or 1), math.log(bet or 1)):
            alp = bet = 1.0
        x, sse = _least_squares(
            lambda th: special.betainc(np.exp(th[0]), np.exp(th[1]), y) - p, np.log([alp, bet])
        )
        return dict(zip(names, map(float, np.exp(x)), strict=True)), sse
    mirror = family.startswith("mirror")
    base = family.removeprefix("mirror")
    if mirror:
        assert upper is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
        y, probs, centre = upper - v, 1 - p, upper - m
        spread = (math.log(upper - q40) - math.log(upper - q60)) / 1.35
        mlog = (math.log(upper - minv) * maxq - math.log(upper - maxv) * minq) / (maxq - minq)
    else:
        assert lower is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
        y, probs, centre = v - lower, p, m - lower
        spread = (math.log(q60 - lower) - math.log(q40 - lower)) / 1.35
        mlog = (math.log(minv - lower) * maxq - math.log(maxv - lower) * minq) / (maxq - minq)
    if centre <= 0:  # the normal start lies outside the support: start from the median instead
        centre = float(np.interp(0.5, probs[::-1] if mirror else probs, y[::-1] if mirror else y))
    if base == "gamma":
        start = (math.log(centre**2 / var), math.log(centre / var))
        x, sse = _least_squares(lambda th: special.gammainc(np.exp(th[0]), y * np.exp(th[1])) - probs, start)
        return dict(zip(names, map(float, np.exp(x)), strict=True)), sse
    spread = spread if spread > 0 and math.isfinite(spread) else 0.5
    if base == "lognormal":
        mlog = mlog if math.isfinite(mlog) else math.log(centre)
        x, sse = _least_squares(
            lambda th: special.ndtr((np.log(y) - th[0]) / np.exp(th[1])) - probs, (mlog, math.log(spread))
        )
        return dict(zip(names, (float(x[0]), math.exp(x[1])), strict=True)), sse
    x, sse = _least_squares(
        lambda th: special.stdtr(tdf, (np.log(y) - th[0]) / np.exp(th[1])) - probs,
        (math.log(centre), math.log(spread)),
    )
    return dict(zip(names, (float(x[0]), math.exp(x[1]), tdf), strict=True)), sse


def _fit_exponential(
    family: str, v: np.ndarray, p: np.ndarray, lower: float | None, upper: float | None
) -> tuple[dict[str, float], float]:
    """SHELF's exponential (a gamma or mirror gamma of shape 1) for points that do not straddle 0.4 to 0.6."""
    if family == "gamma":
        assert lower is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
        y, probs = v - lower, p
        rate0 = -math.log(1 - p.max()) / (v.max() - lower)
    else:
        assert upper is not None  # nosec B101  # narrows the type: the family's support was checked before it was fitted
        y, probs = upper - v, 1 - p
        rate0 = -math.log(p.min()) / (upper - v.min())
    found = optimize.minimize_scalar(
        lambda rate: float(np.sum((-np.expm1(-y * rate) - probs) ** 2)),
        bounds=(0.0, 2 * rate0),
        method="bounded",
        options={"xatol": 1e-10 * rate0},
    )
    return {"shape": 1.0, "rate": float(found.x)}, float(found.fun)
