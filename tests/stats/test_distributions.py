"""SHELF's ``fitdist`` least-squares fits: SHELF's own published examples, independent scipy fits, exact recovery."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from elicit.stats.distributions import FAMILIES, PARAMETERS, fit_judgement
from elicit.stats.judgements import Points, quantile_points, roulette_points


def points(values, probabilities, lower=None, upper=None) -> Points:
    return Points(tuple(map(float, values)), tuple(map(float, probabilities)), lower, upper)


# The cases of SHELF's test suite (SHELF 1.x, tests/testthat/test-elicitation.R, J. Oakley): judgements made from a
# known distribution, with the parameters and the best-fitting family SHELF's fitdist must return (to 0.001).
M, S, L30 = 10.0, 20.0, np.log(30)
V3 = np.array([22.0, 30.0, 42.0])
V4 = np.array([-6.0, -2.0, 2.0, 6.0])
P3 = np.array([0.25, 0.5, 0.75])
SHELF_CASES = [
    ("normal", [M - S, M, M + 2 * S], stats.norm.cdf([M - S, M, M + 2 * S], M, S), {}, [M, S]),
    (
        "t",
        [M - S, M, M + 2 * S],
        stats.t.cdf((np.array([M - S, M, M + 2 * S]) - M) / S, 4),
        {"tdf": 4},
        [M, S, 4],
    ),
    ("logt", V3, stats.t.cdf((np.log(V3) - L30) / 0.5, 5), {"lower": 0, "tdf": 5}, [L30, 0.5, 5]),
    (
        "mirrorlogt",
        V3,
        1 - stats.t.cdf((np.log(60 - V3) - L30) / 0.5, 5),
        {"lower": 0, "upper": 60, "tdf": 5},
        [L30, 0.5, 5],
    ),
    (
        "beta",
        [18, 20, 24],
        stats.beta.cdf((np.array([18, 20, 24]) - 10) / 50, 5, 20),
        {"lower": 10, "upper": 60},
        [5, 20],
    ),
    ("lognormal", V3 - 100, stats.lognorm.cdf(V3, 0.5, scale=30), {"lower": -100}, [L30, 0.5]),
    ("lognormal", V4, stats.lognorm.cdf(V4 + 10, 0.5, scale=np.exp(2)), {"lower": -10}, [2, 0.5]),
    (
        "mirrorlognormal",
        V4,
        1 - stats.lognorm.cdf(10 - V4, 0.5, scale=np.exp(2)),
        {"lower": -20, "upper": 10},
        [2, 0.5],
    ),
    (
        "gamma",
        [32, 35, 37],
        stats.gamma.cdf(np.array([32, 35, 37]) - 10, 50, scale=0.5),
        {"lower": 10},
        [50, 2],
    ),
    (
        "mirrorgamma",
        25 - stats.gamma.ppf(1 - P3, 50, scale=0.5),
        P3,
        {"lower": -10, "upper": 25},
        [50, 2],
    ),
    ("gamma", [12], [stats.expon.cdf(2, scale=2)], {"lower": 10}, [1, 0.5]),  # one point: an exponential
    ("mirrorgamma", [25 - stats.expon.ppf(0.67, scale=10)], [0.33], {"lower": -10, "upper": 25}, [1, 0.1]),
]


@pytest.mark.parametrize(("family", "values", "probabilities", "options", "expected"), SHELF_CASES)
def test_shelf_published_cases(family, values, probabilities, options, expected) -> None:
    tdf = options.pop("tdf", 3)
    fits = fit_judgement(points(values, probabilities), tdf=tdf, **options)
    assert fits.best.family == family
    got = [fits.best.params[name] for name in PARAMETERS[family]]
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    assert fits.best.sse < 1e-12


def test_shelf_vignette_example_families_and_bounds() -> None:
    """SHELF's vignette: fitdist(vals = c(20, 30, 50), probs = c(0.25, 0.5, 0.75), lower = 0, upper = 100)."""
    fits = fit_judgement(points([20, 30, 50], P3), lower=0, upper=100)
    assert {f.family for f in fits.fits} == set(FAMILIES)
    assert [f.sse for f in fits.fits] == sorted(f.sse for f in fits.fits)
    without_upper = fit_judgement(points([20, 30, 50], P3), lower=0)
    assert {f.family for f in without_upper.fits} == {"normal", "t", "gamma", "lognormal", "logt"}
    unbounded = fit_judgement(points([20, 30, 50], P3))
    assert {f.family for f in unbounded.fits} == {"normal", "t"}
    assert fit_judgement(points([20, 30, 50], P3), lower=0, families=["gamma"]).best.family == "gamma"


def test_families_that_cannot_apply_are_left_out() -> None:
    fits = fit_judgement(points([0, 30, 50], P3), lower=0, upper=50)
    assert {f.family for f in fits.fits} == {"normal", "t"}
    with pytest.raises(ValueError, match="no distribution family"):
        fit_judgement(points([0, 30, 50], P3), lower=0, families=["gamma"])
    with pytest.raises(ValueError, match="unknown families"):
        fit_judgement(points([20, 30, 50], P3), families=["weibull"])


INDEPENDENT = {
    "normal": (lambda v, a, b: stats.norm.cdf(v, a, b), (30, 10)),
    "gamma": (lambda v, a, b: stats.gamma.cdf(v, a, scale=1 / b), (5, 0.2)),
    "lognormal": (lambda v, a, b: stats.lognorm.cdf(v, b, scale=np.exp(a)), (3.4, 0.5)),
    "beta": (lambda v, a, b: stats.beta.cdf(v / 100, a, b), (3, 6)),
}


@pytest.mark.parametrize("family", sorted(INDEPENDENT))
@pytest.mark.parametrize("values", [(20, 30, 50), (10, 25, 30, 60)])
def test_against_an_independent_scipy_fit(family, values) -> None:
    probabilities = (0.25, 0.5, 0.75) if len(values) == 3 else (0.05, 0.4, 0.6, 0.95)
    v, p = np.array(values, float), np.array(probabilities)
    cdf, start = INDEPENDENT[family]
    other = optimize.minimize(
        lambda th: np.sum((cdf(v, *th) - p) ** 2),
        start,
        method="Nelder-Mead",
        bounds=[(-50, 100), (1e-3, 100)],
        options={"xatol": 1e-10, "fatol": 1e-16, "maxiter": 20000},
    )
    fit = fit_judgement(points(v, p), lower=0, upper=100).get(family)
    assert fit is not None
    assert fit.sse <= other.fun + 1e-9
    np.testing.assert_allclose([fit.params[n] for n in PARAMETERS[family]], other.x, rtol=2e-3)
    np.testing.assert_allclose(fit.dist.cdf(v), cdf(v, *other.x), atol=1e-4)


def _cdf_by_hand(family: str, p: dict[str, float], x: np.ndarray) -> np.ndarray:
    """The CDF of SHELF's parametrisation, written with scipy's standard distributions."""
    cdfs = {
        "normal": lambda: stats.norm.cdf(x, p["mean"], p["sd"]),
        "t": lambda: stats.t.cdf((x - p["location"]) / p["scale"], p["df"]),
        "gamma": lambda: stats.gamma.cdf(x, p["shape"], scale=1 / p["rate"]),
        "lognormal": lambda: stats.norm.cdf((np.log(x) - p["mean.log.X"]) / p["sd.log.X"]),
        "logt": lambda: stats.t.cdf((np.log(x) - p["location.log.X"]) / p["scale.log.X"], p["df.log.X"]),
        "beta": lambda: stats.beta.cdf(x / 100, p["shape1"], p["shape2"]),
        "mirrorgamma": lambda: stats.gamma.sf(100 - x, p["shape"], scale=1 / p["rate"]),
        "mirrorlognormal": lambda: stats.norm.sf((np.log(100 - x) - p["mean.log.X"]) / p["sd.log.X"]),
        "mirrorlogt": lambda: stats.t.sf(
            (np.log(100 - x) - p["location.log.X"]) / p["scale.log.X"], p["df.log.X"]
        ),
    }
    return cdfs[family]()


def test_frozen_distributions_agree_with_their_parameters() -> None:
    fits = fit_judgement(points([20, 30, 50], P3), lower=0, upper=100)
    x = np.array([15.0, 30.0, 45.0])
    for fit in fits.fits:
        expected = _cdf_by_hand(fit.family, fit.params, x)
        np.testing.assert_allclose(fit.dist.cdf(x), expected, rtol=1e-9, err_msg=fit.family)
        np.testing.assert_allclose(fit.dist.cdf(fit.dist.ppf([0.1, 0.5, 0.9])), [0.1, 0.5, 0.9], rtol=1e-9)
        grid = np.linspace(*fit.dist.ppf([0.01, 0.99]), 20001)
        assert abs(np.trapezoid(fit.dist.pdf(grid), grid) - 0.98) < 1e-4, fit.family


def test_recovers_a_known_distribution_from_many_quantiles_and_from_roulette() -> None:
    levels = (5, 25, 50, 75, 95)
    truth = stats.gamma(4, loc=0, scale=2.5)
    fits = fit_judgement(quantile_points(levels, truth.ppf(np.array(levels) / 100)), lower=0)
    assert fits.best.family == "gamma"
    np.testing.assert_allclose([fits.best.params["shape"], fits.best.params["rate"]], [4, 0.4], rtol=1e-4)
    edges = [0, 10, 20, 30, 40, 50]
    chips = [1, 3, 8, 5, 3]
    judgement = roulette_points(edges, chips)
    fit = fit_judgement(judgement).best
    assert fit.lower == 0 and fit.upper == 50
    assert fit.sse < 0.01
