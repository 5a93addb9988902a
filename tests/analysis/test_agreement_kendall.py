"""Kendall's W among experts is tested by permutation within experts (issue 16), chi-square only above a size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from elicit.analysis.agreement import (
    PERMUTATION_MAX_RATERS,
    agreement,
    kendall_w_test,
)
from elicit.stats.exact import friedman_permutation


def test_small_panels_get_the_exact_permutation_p_of_friedmans_statistic() -> None:
    rng = np.random.default_rng(3)
    ratings = rng.integers(1, 6, size=(4, 5)).astype(float)  # 4 targets x 5 experts, ties within experts
    result, method, asymptotic = kendall_w_test(ratings)
    permuted = friedman_permutation(ratings.T)  # blocks = experts
    assert method == permuted.method and method.startswith("exact")
    assert result.p == permuted.p
    assert result.chi2 == pytest.approx(permuted.statistic)  # W and Friedman's statistic: one test
    assert asymptotic != result.p  # the chi-square p is kept beside it, for comparison


def test_many_targets_use_the_same_monte_carlo_as_friedman_permutation() -> None:
    # 6 targets, 20 experts: friedman_permutation takes its Monte Carlo branch, and W's test is that one
    rng = np.random.default_rng(9)
    array = rng.integers(1, 6, size=(20, 6)).astype(float)
    expected = friedman_permutation(array)
    assert expected.method.startswith("Monte Carlo")
    result, method, _ = kendall_w_test(array.T)
    assert (result.p, method) == (expected.p, expected.method)
    # 15 targets (the flagship's): k! arrangements per expert are not listed, the Monte Carlo is run directly
    wide = rng.integers(1, 6, size=(15, 8)).astype(float)
    result, method, _ = kendall_w_test(wide)
    assert method.startswith("Monte Carlo permutation within experts") and 0 < result.p <= 1


def test_the_chi_square_approximation_only_above_the_limit() -> None:
    rng = np.random.default_rng(1)
    ratings = rng.integers(1, 6, size=(5, PERMUTATION_MAX_RATERS + 1)).astype(float)
    result, method, asymptotic = kendall_w_test(ratings)
    assert method.startswith("chi-square approximation") and result.p == asymptotic


def test_agreement_records_the_method() -> None:
    items = pd.DataFrame(
        {"q1": [1, 2, 1, 2, 1], "q2": [3, 3, 4, 3, 3], "q3": [5, 5, 5, 4, 5]}, dtype="float64"
    )  # 5 experts (rows) agree on the order q1 < q2 < q3
    result = agreement(items, "UK")
    assert result.kendall_method.startswith("exact") and result.keying == "as answered"
    assert result.kendall.w > 0.8
    # (3!)^5 = 7776 arrangements: the exact p is the share with W at least as large; W = 1-ish is rare
    assert result.kendall.p < 0.01
