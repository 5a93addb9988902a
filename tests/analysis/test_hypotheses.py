"""Declared hypotheses tested as confirmatory: the one-sided exact Mann–Whitney test, Holm over the declared
hypotheses only, the reasons a hypothesis is not tested, and the report's section and ``results.json`` block."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats

from elicit.analysis import analyze, load_export
from elicit.analysis.disclosure import Disclosure
from elicit.analysis.export_folder import parse_codebook
from elicit.analysis.hypotheses import ALPHA, confirm_hypotheses, mann_whitney_greater
from elicit.analysis.report import render_report
from elicit.analysis.results import build_results

H1 = {
    "id": "h1",
    "text": "Pakistani experts rate economic leverage higher than UK experts",
    "scale": "economic",
    "item": None,
    "compare": "cohorts",
    "direction": {"greater": "PK", "less": "UK"},
}
H2 = {
    "id": "h2",
    "text": "UK and PK differ on tactical leverage",
    "scale": "tactical",
    "direction": {"two_sided": True},
}
H3 = {
    "id": "h3",
    "text": "UK experts can afford it more",
    "item": "afford",
    "direction": {"greater": "UK", "less": "PK"},
}


def _brute_force_greater(x: list[float], y: list[float]) -> float:
    """P(W >= w) over every choice of x's positions among the midranks (the definition of the exact test)."""
    ranks = stats.rankdata(x + y)
    observed = ranks[: len(x)].sum()
    sums = [ranks[list(chosen)].sum() for chosen in itertools.combinations(range(len(ranks)), len(x))]
    return float(np.mean([s >= observed - 1e-9 for s in sums]))


def test_the_one_sided_exact_test_is_the_permutation_distribution() -> None:
    rng = np.random.default_rng(16)
    for _ in range(5):  # without ties: scipy's exact distribution (Mann & Whitney 1947)
        x, y = rng.normal(0.5, 1, 6), rng.normal(0, 1, 7)
        expected = stats.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue
        result = mann_whitney_greater(x, y)
        assert result.p == pytest.approx(expected, abs=1e-12) and result.method == "exact"
        assert result.statistic == stats.mannwhitneyu(x, y).statistic
    for _ in range(5):  # with ties (5-point answers): every relabelling counted
        tied_x = [float(v) for v in rng.integers(1, 6, 5)]
        tied_y = [float(v) for v in rng.integers(1, 6, 6)]
        tied = mann_whitney_greater(tied_x, tied_y)
        assert tied.p == pytest.approx(_brute_force_greater(tied_x, tied_y), abs=1e-12)
        assert tied.method == "exact (permutation, ties by midranks)"
    # A one-sided p in the direction observed is at most the two-sided one; against it, at least 1/2.
    assert mann_whitney_greater([4, 5, 5, 4, 3], [1, 2, 2, 3, 1]).p == pytest.approx(1 / 252 * 2, abs=0.01)
    assert mann_whitney_greater([1, 2, 2, 3, 1], [4, 5, 5, 4, 3]).p > 0.99


def _codebook(
    builders: SimpleNamespace, *hypotheses: dict[str, Any], cohorts: tuple[str, ...] = ("UK", "PK")
) -> Any:
    raw = builders.build_codebook(cohorts)
    raw["hypotheses"] = list(hypotheses)
    return raw


def test_declared_hypotheses_are_tested_with_holm_over_them_only(builders: SimpleNamespace) -> None:
    data = builders.build_data({"UK": 20, "PK": 20}, seed=7)
    book = parse_codebook(_codebook(builders, H1, H2, H3))
    result = confirm_hypotheses(data, book, Disclosure(5))
    h1, h2, h3 = result.tests
    assert result.m == 3 and not result.warnings
    # h1: one-sided PK > UK on the economic score, the exact test on the scale scores as the analysis scores them
    assert h1.groups == ("PK", "UK") and h1.alternative == "greater"
    assert h1.method == "exact (permutation, ties by midranks), one-sided"
    scores = analyze_scores(data, book)
    pk = scores.loc[scores["cohort"] == "PK", "economic"].dropna()
    uk = scores.loc[scores["cohort"] == "UK", "economic"].dropna()
    assert h1.p == pytest.approx(mann_whitney_greater(pk, uk).p)
    assert h1.n == {"PK": pk.size, "UK": uk.size} and h1.rank_biserial > 0
    # h2: two-sided between the study's two cohorts, the comparisons module's exact two-sided p
    assert h2.groups == ("UK", "PK") and h2.method.endswith("two-sided")
    # Holm over the three declared hypotheses: the step-down adjusted p-values (Holm 1979)
    raw = [h1.p, h2.p, h3.p]
    order = np.argsort(raw)
    adjusted = np.maximum.accumulate([(3 - j) * raw[i] for j, i in enumerate(order)])
    expected = dict(zip(order, np.minimum(adjusted, 1), strict=True))
    assert [t.p_adjusted for t in result.tests] == pytest.approx([expected[i] for i in range(3)])
    for test in result.tests:
        assert test.decision.startswith("supported") == (test.p_adjusted < ALPHA)
    assert h1.decision == "supported"


def analyze_scores(data: Any, book: Any) -> Any:
    from elicit.analysis.scoring import scale_scores

    return scale_scores(data, book)


def test_a_hypothesis_that_cannot_be_tested_says_why_and_leaves_the_family(builders: SimpleNamespace) -> None:
    data = builders.build_data({"UK": 20, "PK": 20}, seed=7)
    unknown = {**H1, "id": "h4", "direction": {"greater": "IN", "less": "UK"}}
    three = {**H2, "id": "h5", "direction": {"two_sided": True}}
    book = parse_codebook(_codebook(builders, H1, unknown))
    result = confirm_hypotheses(data, book, Disclosure(5))
    assert result.m == 1
    assert result.tests[1].decision == "not tested"
    assert result.tests[1].reason == "not tested: IN is not a cohort of this study"
    assert result.warnings == (
        "Hypothesis h4 names cohort(s) IN, which this study does not have (its cohorts: UK, PK): it is not tested.",
    )
    assert result.tests[0].p_adjusted == result.tests[0].p  # a family of one
    # two_sided: true needs a study of exactly two cohorts
    data3 = builders.build_data({"UK": 12, "PK": 12, "IN": 12}, seed=3)
    book3 = parse_codebook(_codebook(builders, three, cohorts=("UK", "PK", "IN")))
    (only,) = confirm_hypotheses(data3, book3, Disclosure(5)).tests
    assert only.reason.startswith("not tested: 'two_sided: true' compares the study's two cohorts")


def test_a_cohort_below_k_is_not_tested(builders: SimpleNamespace) -> None:
    data = builders.build_data({"UK": 20, "PK": 3}, seed=7)
    book = parse_codebook(_codebook(builders, H1))
    small = Disclosure.for_sample({"all": 23, "UK": 20, "PK": 3}, 5)
    (h1,) = confirm_hypotheses(data, book, small).tests
    assert (h1.decision, h1.reason) == ("not tested", "not tested: fewer than k = 5 respondents in PK")
    assert not h1.n and np.isnan(h1.p)  # nothing of the small cohort is kept
    # Both cohorts shown, but fewer than k of PK answered the item: not tested either
    data = builders.build_data({"UK": 20, "PK": 8}, seed=7)
    data["afford"] = data["afford"].astype("float64")
    data.loc[data["cohort"] == "PK", "afford"] = [1, 2, *[np.nan] * 6]
    (h3,) = confirm_hypotheses(data, parse_codebook(_codebook(builders, H3)), Disclosure(5)).tests
    assert h3.reason == "not tested: fewer than k = 5 respondents in PK answered item afford"


def test_the_report_and_results_carry_the_declared_hypotheses(
    builders: SimpleNamespace, tmp_path: Path, make_export: Callable[..., Path]
) -> None:
    data = builders.build_data({"UK": 15, "PK": 15}, seed=11)
    folder = builders.write_export(tmp_path / "declared", data, _codebook(builders, H1, H3))
    analysis = analyze(load_export(folder))
    results = build_results(analysis)
    block = results["hypotheses"]
    assert block["family"]["method"] == "holm" and block["family"]["tested"] == 2
    assert block["family"]["correction"].startswith(
        "Holm (1979) step-down correction over the declared hypotheses"
    )
    assert block["other_tests"] == "exploratory"
    first = block["hypotheses"][0]
    for key in ("id", "text", "test", "method", "p", "p_adjusted", "decision", "alternative", "n"):
        assert key in first
    assert first["status"] == "confirmatory" and first["alternative"] == "PK greater than UK"
    json.dumps(results, allow_nan=False)  # JSON-safe
    html = render_report(analysis, results)
    assert '<section id="hypotheses">' in html and "Declared hypotheses" in html
    assert "Every other test in this report is exploratory" in html
    # Without declared hypotheses: no section, and results say every test is exploratory
    plain = analyze(load_export(make_export(n_per_cohort={"UK": 12, "PK": 12}, name="plain")))
    plain_results = build_results(plain)
    assert plain_results["hypotheses"]["hypotheses"] == []
    assert plain_results["hypotheses"]["note"] == "No hypotheses were declared: every test is exploratory."
    assert '<section id="hypotheses">' not in render_report(plain, plain_results)
