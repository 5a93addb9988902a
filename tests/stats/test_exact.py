"""Exact and permutation p-values (elicit.stats.exact) against published tables and brute-force enumeration.

Sources of the typed values:
- Friedman's exact distribution for k = 3: Friedman (1937), J. Am. Stat. Assoc. 32: 675-701, Table V; reprinted
  as Siegel & Castellan (1988), Nonparametric Statistics for the Behavioral Sciences, 2nd ed., Table M.
- Mann–Whitney for m = n = 5: Mann & Whitney (1947), Ann. Math. Stat. 18: 50-60, Table I (P(U <= 2) = 4/252).
- Wilcoxon signed-rank for n = 10: Wilcoxon (1945), Biometrics Bulletin 1: 80-83; Siegel & Castellan (1988),
  Table H (P(T+ <= 8) = 0.0244, P(T+ <= 10) = 0.0420).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from elicit.stats import exact
from elicit.stats.exact import friedman_permutation, mann_whitney_exact, wilcoxon_exact


@pytest.mark.parametrize(
    ("blocks", "chi2", "p"),
    [
        ([[1, 2, 3]] * 3, 6.0, 0.028),
        ([[1, 2, 3], [2, 1, 3], [1, 2, 3]], 4.667, 0.194),
        ([[1, 2, 3]] * 3 + [[1, 3, 2]], 6.5, 0.042),
        ([[1, 2, 3]] * 4, 8.0, 0.0046),
        ([[1, 2, 3]] * 4 + [[1, 3, 2]], 8.4, 0.0085),
    ],
)
def test_friedman_matches_friedman_s_exact_table(blocks: list[list[int]], chi2: float, p: float) -> None:
    result = friedman_permutation(blocks)
    assert result.statistic == pytest.approx(chi2, abs=5e-4)
    assert result.p == pytest.approx(p, abs=5e-4 if p < 0.01 else 5e-3)
    assert result.method == "exact (permutation within experts)"


def test_friedman_with_ties_matches_brute_force_and_monte_carlo_agrees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = np.array([[4, 4, 5], [3, 5, 5], [2, 4, 4], [4, 3, 5], [2, 3, 4]], dtype=float)
    result = friedman_permutation(data)
    # Brute force: every arrangement of each block's values, each block independently.
    ranks = np.apply_along_axis(stats.rankdata, 1, data)
    observed = stats.friedmanchisquare(*data.T).statistic
    hits = total = 0
    for combo in itertools.product(*(list(itertools.permutations(row)) for row in ranks)):
        arranged = np.array(combo)
        value = stats.friedmanchisquare(*arranged.T).statistic
        hits += value >= observed - 1e-9
        total += 1
    assert result.statistic == pytest.approx(observed)
    assert result.p == pytest.approx(hits / total, abs=1e-12)
    monkeypatch.setattr(exact, "ENUMERATION_LIMIT", 0)
    sampled = friedman_permutation(data)
    assert sampled.method.startswith("Monte Carlo permutation within experts (20000 resamples, seed")
    assert sampled.p == pytest.approx(result.p, abs=4 * math.sqrt(result.p * (1 - result.p) / 20000) + 1e-4)
    assert friedman_permutation(data).p == sampled.p  # seeded: the same p on every run


def test_friedman_needs_two_experts_and_some_variation() -> None:
    assert math.isnan(friedman_permutation([[1, 2, 3]]).p)
    flat = friedman_permutation([[3, 3, 3], [4, 4, 4]])
    assert math.isnan(flat.p) and "same value" in flat.method


def test_mann_whitney_without_ties_matches_the_table_and_scipy() -> None:
    result = mann_whitney_exact([1, 2, 3, 5, 6], [4, 7, 8, 9, 10])
    assert result.statistic == 2  # pairs with x > y
    assert result.p == pytest.approx(8 / 252)  # two-sided: twice P(U <= 2) = 4 / 252
    assert result.method == "exact"
    rng = np.random.default_rng(7)
    for _ in range(20):
        x, y = rng.normal(size=6), rng.normal(size=8) + 0.5
        ours = mann_whitney_exact(x, y)
        theirs = stats.mannwhitneyu(x, y, method="exact")
        assert ours.statistic == pytest.approx(theirs.statistic)
        assert ours.p == pytest.approx(theirs.pvalue, rel=1e-9)


def _brute_mann_whitney(x: list[float], y: list[float]) -> float:
    """P(|S - E S| >= |s - E S|) over every choice of which values form the first group (midranks)."""
    values = np.array(x + y, dtype=float)
    ranks = stats.rankdata(values)
    m = len(x)
    observed = ranks[:m].sum()
    sums = np.array([ranks[list(c)].sum() for c in itertools.combinations(range(values.size), m)])
    mean = sums.mean()
    return float(np.mean(np.abs(sums - mean) >= abs(observed - mean) - 1e-9))


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([4, 5, 5, 3, 4], [2, 3, 3, 4, 2]),
        ([1, 1, 2, 2, 2, 3], [2, 3, 3, 3, 4, 4, 5]),
        ([5, 5, 5], [5, 5, 4]),
    ],
)
def test_mann_whitney_with_ties_is_the_permutation_test(x: list[float], y: list[float]) -> None:
    result = mann_whitney_exact(x, y)
    assert result.p == pytest.approx(_brute_mann_whitney(x, y), abs=1e-12)
    assert result.method == "exact (permutation, ties by midranks)"
    assert result.statistic == pytest.approx(stats.mannwhitneyu(x, y).statistic)


def test_the_exact_test_keeps_its_level_at_five_per_group() -> None:
    """Likert answers, 5 per group, no difference: the exact test rejects at most 5 % (the normal one more)."""
    rng = np.random.default_rng(20261201)
    levels = np.array([1, 2, 3, 4, 5])
    weights = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    rejected = approximate = 0
    runs = 2000
    for _ in range(runs):
        x, y = rng.choice(levels, 5, p=weights), rng.choice(levels, 5, p=weights)
        if np.unique(np.concatenate([x, y])).size < 2:
            continue
        rejected += mann_whitney_exact(x, y).p <= 0.05
        approximate += stats.mannwhitneyu(x, y, method="asymptotic").pvalue <= 0.05
    assert rejected / runs <= 0.05
    assert approximate >= rejected  # the approximation is the liberal one


def test_wilcoxon_without_ties_matches_the_table_and_scipy() -> None:
    differences = np.array([1, 2, 3, -4, 5, -6, 7, 8, 9, 10], dtype=float)  # R- = 10: T = 10
    result = wilcoxon_exact(-differences)  # R+ of the negated differences is 10
    assert result.statistic == 10
    assert result.p == pytest.approx(2 * 0.0420, abs=5e-4)
    eight = np.array([-1, -2, -5, 3, 4, 6, 7, 8, 9, 10], dtype=float)  # R- = 8
    assert wilcoxon_exact(-eight).p == pytest.approx(2 * 0.0244, abs=5e-4)
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = rng.normal(size=9) + 0.3
        assert wilcoxon_exact(d).p == pytest.approx(stats.wilcoxon(d, method="exact").pvalue, rel=1e-9)


def _brute_wilcoxon(d: list[float]) -> float:
    array = np.array([v for v in d if v != 0], dtype=float)
    ranks = stats.rankdata(np.abs(array))
    observed = ranks[array > 0].sum()
    sums = np.array([np.dot(signs, ranks) for signs in itertools.product((0, 1), repeat=array.size)])
    mean = sums.mean()
    return float(np.mean(np.abs(sums - mean) >= abs(observed - mean) - 1e-9))


@pytest.mark.parametrize(
    "d", [[1, 1, 2, -1, 0, 2, 3, 1], [-2, -2, -1, 0, 0, 1, -3, -1, -1], [1, 1, 1, 1, -1]]
)
def test_wilcoxon_with_ties_and_zeros_is_the_permutation_test(d: list[float]) -> None:
    result = wilcoxon_exact(d)
    assert result.p == pytest.approx(_brute_wilcoxon(d), abs=1e-12)
    assert result.method == "exact (permutation, ties by midranks)"


def test_paired_input_and_nothing_to_test() -> None:
    before, after = [3, 4, 2, 5, 4], [4, 5, 2, 5, 5]
    assert wilcoxon_exact(after, before).p == pytest.approx(_brute_wilcoxon([1, 1, 0, 0, 1]))
    assert math.isnan(wilcoxon_exact([2, 3], [2, 3]).p)
    with pytest.raises(ValueError, match="exact counting is used up to"):
        mann_whitney_exact(np.arange(300), np.arange(200))


def test_friedman_with_many_measures_samples_without_listing_every_ordering() -> None:
    """15 measures have 15! orderings per expert: the count decides on Monte Carlo before anything is listed."""
    rng = np.random.default_rng(5)
    data = rng.integers(1, 6, size=(12, 15)).astype(float)
    result = friedman_permutation(data, resamples=2000)
    assert result.method.startswith("Monte Carlo permutation within experts (2000 resamples")
    assert 0 < result.p <= 1
