"""Opinion pools against hand-computed mixtures and the closed form of the logarithmic pool of normals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from elicit.stats.pooling import linear_pool, log_pool, normalized_weights


def test_equal_weight_linear_pool_of_two_normals_is_the_mean_of_their_cdfs() -> None:
    a, b = stats.norm(0, 1), stats.norm(4, 2)
    pool = linear_pool([a, b])
    x = np.linspace(-5, 12, 50)
    np.testing.assert_allclose(pool.cdf(x), (a.cdf(x) + b.cdf(x)) / 2, rtol=1e-12)
    np.testing.assert_allclose(pool.pdf(x), (a.pdf(x) + b.pdf(x)) / 2, rtol=1e-12)
    for level in (0.05, 0.5, 0.95):
        by_hand = optimize.brentq(lambda v, lv=level: (a.cdf(v) + b.cdf(v)) / 2 - lv, -20, 20, xtol=1e-13)
        assert pool.quantiles([level])[0] == pytest.approx(by_hand, abs=1e-9)
    assert pool.weights == (0.5, 0.5)


def test_weighted_linear_pool_and_its_quantiles_invert_its_cdf() -> None:
    parts = [stats.gamma(10, scale=0.25), stats.norm(3, 2), stats.lognorm(2, scale=3)]
    pool = linear_pool(parts, [1, 2, 3])
    assert pool.weights == pytest.approx((1 / 6, 2 / 6, 3 / 6))
    q = pool.quantiles([0.03, 0.5, 0.95])
    by_hand = [sum(w * d.cdf(v) for w, d in zip((1 / 6, 2 / 6, 3 / 6), parts, strict=True)) for v in q]
    np.testing.assert_allclose(by_hand, [0.03, 0.5, 0.95], atol=1e-10)
    one = linear_pool(parts, [0, 1, 0])
    np.testing.assert_allclose(one.quantiles([0.05, 0.95]), stats.norm(3, 2).ppf([0.05, 0.95]), atol=1e-9)


@pytest.mark.parametrize("weights", [None, (0.3, 0.7)])
def test_log_pool_of_normals_is_the_precision_weighted_normal(weights) -> None:
    (m1, s1), (m2, s2) = (0.0, 1.0), (4.0, 2.0)
    w1, w2 = weights or (0.5, 0.5)
    precision = w1 / s1**2 + w2 / s2**2
    mean = (w1 * m1 / s1**2 + w2 * m2 / s2**2) / precision
    truth = stats.norm(mean, precision**-0.5)
    pool = log_pool([stats.norm(m1, s1), stats.norm(m2, s2)], weights)
    np.testing.assert_allclose(pool.quantiles([0.05, 0.5, 0.95]), truth.ppf([0.05, 0.5, 0.95]), atol=1e-4)
    x = np.linspace(-2, 4, 13)
    np.testing.assert_allclose(pool.pdf(x), truth.pdf(x), rtol=1e-4)
    np.testing.assert_allclose(pool.cdf(x), truth.cdf(x), atol=1e-5)


def test_log_pool_respects_bounded_supports_and_rejects_disjoint_ones() -> None:
    pool = log_pool([stats.beta(2, 5), stats.beta(3, 3)])
    low, high = pool.span(1e-9)
    assert 0 <= low < high <= 1
    # the product of Beta(2,5) and Beta(3,3) densities, square-rooted, is proportional to a Beta(2.5, 4)
    np.testing.assert_allclose(
        pool.quantiles([0.05, 0.5, 0.95]), stats.beta(2.5, 4).ppf([0.05, 0.5, 0.95]), atol=1e-4
    )
    with pytest.raises(ValueError, match="share no support"):
        log_pool([stats.uniform(0, 1), stats.uniform(2, 1)])


def test_weights_are_checked() -> None:
    assert normalized_weights([2, 2, 4], 3) == (0.25, 0.25, 0.5)
    for bad in ([1, -1], [0, 0], [1]):
        with pytest.raises(ValueError):
            normalized_weights(bad, 2)
    with pytest.raises(ValueError):
        linear_pool([stats.norm()]).ppf(1.0)
