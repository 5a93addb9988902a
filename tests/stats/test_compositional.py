"""Compositional data (clr, multiplicative zero replacement) and the joint permutation test, checked by hand and
by brute-force enumeration (issue 16)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from elicit.stats.compositional import (
    aitchison_distance,
    centre,
    clr,
    multiplicative_replacement,
    permutation_between,
    zero_replacement_delta,
)


def test_clr_by_hand() -> None:
    # x = (0.2, 0.3, 0.5): g = (0.2 * 0.3 * 0.5) ** (1/3) = 0.03 ** (1/3); clr_j = ln(x_j / g)
    g = 0.03 ** (1 / 3)
    expected = [math.log(0.2 / g), math.log(0.3 / g), math.log(0.5 / g)]
    assert clr([0.2, 0.3, 0.5])[0] == pytest.approx(expected, abs=1e-12)
    assert clr([20, 30, 50])[0] == pytest.approx(expected, abs=1e-12)  # scale invariant: points or shares
    assert clr([0.2, 0.3, 0.5])[0].sum() == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="replace the zeros"):
        clr([0.5, 0.5, 0])


def test_aitchison_distance_and_centre_by_hand() -> None:
    # d_A(x, y)^2 = (1 / 2D) sum_{i,j} (ln(x_i/x_j) - ln(y_i/y_j))^2 (Aitchison 1986, eq. 2.20 form), D = 3
    x, y = np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.3, 0.1])
    pairs = sum((math.log(x[i] / x[j]) - math.log(y[i] / y[j])) ** 2 for i in range(3) for j in range(3))
    assert aitchison_distance(x, y) == pytest.approx(math.sqrt(pairs / 6), abs=1e-12)
    # the centre is the closed geometric mean of each part
    both = np.array([x, y])
    geometric = np.sqrt(x * y)
    assert centre(both) == pytest.approx(geometric / geometric.sum(), abs=1e-12)


def test_multiplicative_replacement_keeps_the_ratios_of_the_non_zero_parts() -> None:
    points = np.array([[60, 40, 0], [100, 0, 0], [30, 30, 40]])
    delta = zero_replacement_delta(points)
    assert delta == pytest.approx(0.65 * 0.3)  # the smallest non-zero share is 30 of 100, at most 1/D = 1/3
    whole = np.array([[60, 39, 1], [99, 0, 1]])
    assert zero_replacement_delta(whole) == pytest.approx(0.65 * 0.01)  # 1 point of 100: 0.65 points
    replaced = multiplicative_replacement(whole, 0.0065)
    # Martín-Fernández et al. (2003), eq. 4: r = delta on the zero, (1 - delta) x elsewhere
    assert replaced[1] == pytest.approx([0.99 * (1 - 0.0065), 0.0065, 0.01 * (1 - 0.0065)])
    assert replaced[0] == pytest.approx([0.60, 0.39, 0.01])  # no zero: unchanged
    assert replaced.sum(axis=1) == pytest.approx([1, 1])
    with pytest.raises(ValueError, match="too large"):
        multiplicative_replacement([[1, 0, 0]], 0.6)


def _brute_force(values: np.ndarray, labels: list[str]) -> tuple[float, list[float]]:
    """The two-group p-value by enumerating every labelling, with the distance between the groups' mean vectors
    (and, per coordinate, the absolute difference of the means) as the statistic."""
    n, first = len(labels), labels.count(labels[0])

    def stats(chosen: tuple[int, ...]) -> tuple[float, np.ndarray]:
        mask = np.zeros(n, dtype=bool)
        mask[list(chosen)] = True
        difference = values[mask].mean(axis=0) - values[~mask].mean(axis=0)
        return float(np.linalg.norm(difference)), np.abs(difference)

    observed, observed_parts = stats(tuple(i for i in range(n) if labels[i] == labels[0]))
    every = [stats(chosen) for chosen in itertools.combinations(range(n), first)]
    p = np.mean([d >= observed - 1e-12 for d, _ in every])
    part_p = [float(np.mean([parts[j] >= observed_parts[j] - 1e-12 for _, parts in every])) for j in range(3)]
    return float(p), part_p


def test_the_joint_permutation_p_is_the_brute_force_enumeration() -> None:
    rng = np.random.default_rng(5)
    points = rng.dirichlet([2, 3, 4], size=7) * 100
    points[1, 2] = 0  # a zero, replaced before the clr
    shares = multiplicative_replacement(points, zero_replacement_delta(points))
    coordinates = clr(shares)
    labels = ["UK"] * 4 + ["PK"] * 3
    result = permutation_between(coordinates, labels)
    p, part_p = _brute_force(coordinates, labels)
    assert result.method.startswith("exact") and "35 labellings" in result.method  # C(7, 3)
    assert result.p == pytest.approx(p, abs=1e-12)
    assert result.part_p == pytest.approx(part_p, abs=1e-12)


def test_rank_vectors_by_brute_force_and_a_clear_difference_is_found() -> None:
    ranks = np.array([[1, 2, 3], [1, 3, 2], [1, 2, 3], [2, 1, 3], [3, 2, 1], [3, 1, 2], [2, 3, 1], [3, 2, 1]])
    labels = ["UK"] * 4 + ["PK"] * 4
    result = permutation_between(ranks, labels)
    p, part_p = _brute_force(ranks.astype(float), labels)
    assert result.p == pytest.approx(p, abs=1e-12) and result.part_p == pytest.approx(part_p, abs=1e-12)
    assert result.p < 0.05  # UK ranks the first choice first, PK last


def test_monte_carlo_above_the_limit_is_seeded_and_three_groups_agree_with_enumeration() -> None:
    rng = np.random.default_rng(8)
    big = rng.normal(size=(40, 3))
    first = permutation_between(big, ["a"] * 20 + ["b"] * 20)
    again = permutation_between(big, ["a"] * 20 + ["b"] * 20)
    assert first == again and first.method.startswith("Monte Carlo") and "seed" in first.method
    # three groups of 3, 2, 2: Monte Carlo, within its error of the enumeration of all 210 labellings
    small = rng.normal(size=(7, 2))
    labels = ["a"] * 3 + ["b"] * 2 + ["c"] * 2

    def between(assignment: tuple[str, ...]) -> float:
        grand = small.mean(axis=0)
        return sum(
            (np.array(assignment) == g).sum()
            * float(((small[np.array(assignment) == g].mean(axis=0) - grand) ** 2).sum())
            for g in "abc"
        )

    observed = between(tuple(labels))
    every = {p for p in itertools.permutations(labels)}
    exact = np.mean([between(p) >= observed - 1e-12 for p in every])
    assert len(every) == 210
    assert permutation_between(small, labels).p == pytest.approx(exact, abs=0.01)


def test_no_test_without_two_groups_or_with_missing_values() -> None:
    with pytest.raises(ValueError, match="two groups"):
        permutation_between(np.ones((4, 2)), ["a"] * 4)
    with pytest.raises(ValueError, match="complete values"):
        permutation_between(np.array([[1.0, np.nan], [2, 3], [3, 4]]), ["a", "b", "b"])
