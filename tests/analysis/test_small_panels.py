"""Inference for small expert panels: exact and permutation p-values by default, an interval (or the reason for
none) for every effect size, and the method of every p-value in results.json.

Sources of the typed values:
- Efron, B. & Tibshirani, R. J. (1993), An Introduction to the Bootstrap, Chapman & Hall, Table 2.1: survival
  times (days) of 16 mice, 7 treated and 9 controls.
- BCa: Efron, B. (1987), "Better bootstrap confidence intervals", J. Am. Stat. Assoc. 82: 171-185, eqs. 2.3 and
  6.6 (bias correction z0 and acceleration a from the jackknife); recomputed below by those formulas, not by scipy.
- Hollander, M. & Wolfe, D. A. (1999), Nonparametric Statistical Methods, 2nd ed., sect. 4.3: the Moses interval
  ``[D_(C), D_(mn+1-C)]`` has confidence ``1 - 2 P(U <= C - 1)``; at 3 vs 3 the widest one, ``[min, max]``,
  has 1 - 2/20 = 90 %.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from elicit.analysis import run_analysis
from elicit.analysis.comparisons import (
    between_groups,
    hodges_lehmann,
    mann_whitney,
    mixed_anova,
    mixed_permutation,
    within_subjects,
)
from elicit.stats import intervals
from elicit.stats.ranks import wilcoxon_paired

# --- exact p-values against brute-force enumeration ------------------------------------------------------------


def _brute_mann_whitney(x: list[float], y: list[float]) -> float:
    """Two-sided permutation p of U over every choice of len(x) of the pooled values as 'x'."""
    pooled = np.array(x + y, dtype=float)
    observed = stats.mannwhitneyu(x, y).statistic
    mean = len(x) * len(y) / 2
    hits = total = 0
    for chosen in itertools.combinations(range(pooled.size), len(x)):
        mask = np.zeros(pooled.size, bool)
        mask[list(chosen)] = True
        u = stats.mannwhitneyu(pooled[mask], pooled[~mask]).statistic
        hits += abs(u - mean) >= abs(observed - mean) - 1e-9
        total += 1
    return hits / total


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([4, 5, 5, 3, 4], [2, 3, 3, 4, 1]),  # 5-point Likert answers, 5 per cohort
        ([3.4, 3.8, 4.2, 3.8, 4.0, 3.6], [3.0, 3.4, 3.2, 3.8, 2.8]),  # scale scores (means of 5 items), tied
        ([1, 1, 2, 2, 2], [2, 2, 3, 3, 3, 3]),
    ],
)
def test_mann_whitney_p_on_likert_ties_is_the_enumerated_permutation_p(
    x: list[float], y: list[float]
) -> None:
    result = mann_whitney(x, y)
    assert result["p"] == pytest.approx(_brute_mann_whitney(x, y), abs=1e-12)
    assert result["method"] == "exact (permutation, ties by midranks)"


def test_wilcoxon_with_ties_and_zeros_is_the_enumerated_sign_flip_p() -> None:
    before = [3, 4, 2, 5, 4, 3, 2, 4]
    after = [4, 5, 2, 5, 5, 5, 1, 4]
    d = np.array(after, float) - np.array(before, float)
    nonzero = d[d != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum()
    sums = [np.dot(s, ranks) for s in itertools.product((0, 1), repeat=nonzero.size)]
    mean = np.mean(sums)
    brute = np.mean([abs(s - mean) >= abs(observed - mean) - 1e-9 for s in sums])
    result = wilcoxon_paired(after, before)
    assert result["p"] == pytest.approx(brute, abs=1e-12)
    assert result["method"] == "exact (permutation, ties by midranks; 3 zero differences dropped)"
    assert set(result) == {"V", "p", "n", "n_nonzero", "method", "rank_biserial"}


def test_friedman_within_cohort_p_is_the_enumerated_within_expert_permutation_p() -> None:
    data = np.array([[4, 4, 5], [3, 5, 5], [2, 4, 4], [4, 3, 5]], dtype=float)
    wide = pd.DataFrame(data, columns=["a", "b", "c"])
    friedman = within_subjects(wide, ["a", "b", "c"], "PK").friedman
    observed = stats.friedmanchisquare(*data.T).statistic
    values = [
        stats.friedmanchisquare(*np.array(combo).T).statistic
        for combo in itertools.product(*(list(itertools.permutations(row)) for row in data))
    ]
    assert friedman["p"] == pytest.approx(np.mean([v >= observed - 1e-9 for v in values]), abs=1e-12)
    assert friedman["p_method"] == "exact (permutation within experts)"
    assert friedman["p_asymptotic"] == pytest.approx(stats.chi2.sf(observed, 2))


def _mixed_long(values: np.ndarray, labels: list[str]) -> pd.DataFrame:
    n, k = values.shape
    return pd.DataFrame(
        {
            "subject": np.repeat(np.arange(n), k),
            "cohort": np.repeat(labels, k),
            "scale": np.tile([f"s{j}" for j in range(k)], n),
            "score": values.ravel(),
        }
    )


def test_mixed_design_permutation_p_is_the_enumerated_relabelling_p() -> None:
    """The cohort effect and the interaction, by every relabelling of whole respondents, F from pingouin."""
    values = np.array([[4, 3, 5], [3, 3, 4], [5, 4, 4], [2, 3, 3], [3, 4, 2], [2, 2, 3]], dtype=float)
    labels = ["UK"] * 3 + ["PK"] * 3
    table = mixed_anova(_mixed_long(values, labels), "score", "scale", "cohort", "subject").set_index(
        "source"
    )
    observed_between, observed_interaction = table.loc["cohort", "F"], table.loc["Interaction", "F"]
    centred = values - values.mean(axis=1, keepdims=True)
    hits_between = hits_interaction = total = 0
    for chosen in itertools.combinations(range(6), 3):
        relabelled = ["UK" if i in chosen else "PK" for i in range(6)]
        raw = pg.mixed_anova(_mixed_long(values, relabelled), "score", "scale", "subject", "cohort")
        f_between = raw.set_index("Source").loc["cohort", "F"]
        interaction = pg.mixed_anova(_mixed_long(centred, relabelled), "score", "scale", "subject", "cohort")
        f_interaction = interaction.set_index("Source").loc["Interaction", "F"]
        hits_between += f_between >= observed_between - 1e-9
        hits_interaction += f_interaction >= observed_interaction - 1e-9
        total += 1
    assert table.loc["cohort", "p"] == pytest.approx(hits_between / total, abs=1e-12)
    assert table.loc["Interaction", "p"] == pytest.approx(hits_interaction / total, abs=1e-12)
    assert table.loc["cohort", "p_method"] == "exact (permutation of whole respondents between cohorts)"
    assert table.loc["scale", "p_method"] == "exact (permutation of scales within respondents)"  # 6^6 orders
    # the F-test p stays beside it
    assert table.loc["cohort", "p_asymptotic"] == pytest.approx(table.loc["cohort", "p_uncorrected"])


def test_mixed_scale_effect_p_is_the_enumerated_within_respondent_p() -> None:
    """Two scales, five respondents: all 2^5 swaps of a respondent's two scores, F of the scale effect by pingouin."""
    values = np.array([[3, 4], [2, 4], [4, 4], [3, 5], [5, 3]], dtype=float)
    labels = ["UK", "UK", "UK", "PK", "PK"]
    observed = pg.mixed_anova(_mixed_long(values, labels), "score", "scale", "subject", "cohort")
    f_observed = observed.set_index("Source").loc["scale", "F"]
    hits = 0
    for swaps in itertools.product((False, True), repeat=5):
        arranged = np.array([row[::-1] if swap else row for row, swap in zip(values, swaps, strict=True)])
        table = pg.mixed_anova(_mixed_long(arranged, labels), "score", "scale", "subject", "cohort")
        hits += table.set_index("Source").loc["scale", "F"] >= f_observed - 1e-9
    result = mixed_permutation(values, np.array(labels))["within"]
    assert result.p == pytest.approx(hits / 32, abs=1e-12)
    assert result.method == "exact (permutation of scales within respondents)"


def test_mixed_scale_effect_permutation_agrees_with_the_f_test_under_sphericity() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(size=(30, 3)) + np.array([0.0, 0.3, 0.6])
    labels = np.array(["UK"] * 15 + ["PK"] * 15)
    permuted = mixed_permutation(values, labels)
    table = mixed_anova(_mixed_long(values, list(labels)), "score", "scale", "cohort", "subject")
    f_test = table.set_index("source").loc["scale", "p_uncorrected"]
    assert permuted["within"].p == pytest.approx(f_test, abs=0.02)


# --- level and coverage -----------------------------------------------------------------------------------------


def test_between_cohort_test_keeps_its_level_at_five_per_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """No difference between cohorts, 5 per group on a 5-point scale: at most 5 % rejected at .05."""
    monkeypatch.setattr(intervals, "rank_biserial_interval", lambda *a: intervals.not_estimable("not needed"))
    rng = np.random.default_rng(16)
    levels, weights = np.arange(1, 6), np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    runs, rejected = 2000, 0
    for _ in range(runs):
        x, y = rng.choice(levels, 5, p=weights), rng.choice(levels, 5, p=weights)
        p = mann_whitney(x, y)["p"]
        rejected += bool(p <= 0.05)  # NaN (all equal) is not a rejection
    assert 0.005 <= rejected / runs <= 0.05


def test_bootstrap_interval_of_r_covers_95_percent(monkeypatch: pytest.MonkeyPatch) -> None:
    """BCa intervals of the rank-biserial r, 25 vs 25 answers on a 5-point scale: coverage 93-97 %.

    Fair design: a true r well inside (-1, 1) (0.325, computed exactly from the two distributions below), cohorts
    large enough for the bootstrap to apply, 600 seeded replicates (standard error of the coverage 0.9 points);
    1999 resamples per interval instead of 9999 to run in a few seconds (BCa's coverage barely depends on it).
    """
    monkeypatch.setattr(intervals, "RESAMPLES", 1999)
    levels = np.arange(1, 6)
    px = np.array([0.05, 0.10, 0.25, 0.35, 0.25])
    py = np.array([0.15, 0.20, 0.30, 0.25, 0.10])
    sign = np.sign(levels[:, None] - levels[None, :])
    true_r = float(px @ sign @ py)
    assert true_r == pytest.approx(0.325)  # sum over answer pairs of P(x = a) P(y = b) sign(a - b)
    rng = np.random.default_rng(1987)
    runs, covered = 600, 0
    for _ in range(runs):
        x, y = rng.choice(levels, 25, p=px), rng.choice(levels, 25, p=py)
        interval = intervals.rank_biserial_interval(x, y)
        covered += interval.low <= true_r <= interval.high
    assert 0.93 <= covered / runs <= 0.97


def test_hodges_lehmann_interval_with_ties_covers_at_least_its_achieved_confidence() -> None:
    rng = np.random.default_rng(5)
    levels, weights = np.arange(1, 6), np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    runs, covered, achieved = 1000, 0, []
    for _ in range(runs):
        x, y = rng.choice(levels, 6, p=weights), rng.choice(levels, 6, p=weights)
        hl = hodges_lehmann(x, y)
        if hl.confidence is None:  # every difference equal: no interval; counts as not covering
            continue
        achieved.append(hl.confidence)
        covered += hl.ci_low <= 0 <= hl.ci_high
    assert covered / runs >= min(achieved)


# --- BCa against Efron (1987) by hand and against scipy on the raw data ----------------------------------------------

MOUSE_TREATMENT = [94, 197, 16, 38, 99, 141, 23]  # Efron & Tibshirani (1993), Table 2.1
MOUSE_CONTROL = [52, 104, 146, 10, 51, 30, 40, 27, 46]


def _r(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    u = stats.mannwhitneyu(x, y, axis=axis).statistic
    return np.asarray(2 * u / (x.shape[axis] * y.shape[axis]) - 1)


def test_bca_interval_of_r_is_efron_1987_and_scipy_on_the_raw_data() -> None:
    x, y = np.array(MOUSE_TREATMENT, float), np.array(MOUSE_CONTROL, float)
    ours = intervals.rank_biserial_interval(x, y)
    assert ours.method == f"BCa bootstrap (9999 resamples, seed {intervals.SEED})"
    # scipy on the raw values with its own Mann-Whitney U as the statistic (not our counting on indices)
    direct = stats.bootstrap(
        (x, y), _r, n_resamples=9999, method="BCa", rng=np.random.default_rng(intervals.SEED)
    )
    assert (ours.low, ours.high) == pytest.approx(
        (direct.confidence_interval.low, direct.confidence_interval.high), abs=1e-12
    )
    # Efron (1987) by hand on the same resamples: z0 from the share of resamples below the estimate (ties count
    # one half, as scipy), a from the jackknife of each sample (Efron 1987, eq. 6.6 for several samples).
    theta = float(_r(x, y))
    boot = np.asarray(direct.bootstrap_distribution)
    z0 = stats.norm.ppf(((boot < theta).sum() + (boot <= theta).sum()) / (2 * boot.size))
    numerator = denominator = 0.0
    for sample in (0, 1):
        arrays = [x, y]
        jack = []
        for i in range(arrays[sample].size):
            left = list(arrays)
            left[sample] = np.delete(arrays[sample], i)
            jack.append(float(_r(left[0], left[1])))
        u = (len(jack) - 1) * (np.mean(jack) - np.array(jack))
        numerator += (u**3).sum() / len(jack) ** 3
        denominator += (u**2).sum() / len(jack) ** 2
    a = numerator / (6 * denominator**1.5)
    bounds = []
    for z in (stats.norm.ppf(0.025), stats.norm.ppf(0.975)):
        level = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
        bounds.append(float(np.percentile(boot, 100 * level, method="linear")))
    assert (ours.low, ours.high) == pytest.approx(tuple(bounds), abs=1e-9)
    assert ours.low < theta < ours.high


# --- degenerate cases: reasons instead of intervals ----------------------------------------------------------------


def test_one_respondent_per_cohort_gives_reasons_not_r_of_one() -> None:
    frame = pd.DataFrame({"cohort": ["UK", "PK"], "score": [4.0, 2.0]})
    row = between_groups(frame, ["score"], groups=["UK", "PK"]).iloc[0]
    assert math.isnan(row["effect_size"])
    assert row["effect_size_ci_method"] == "not estimable: one respondent in UK"
    assert math.isnan(row["hl_ci_low"]) and row["hl_ci_method"].startswith("not estimable: one respondent")
    more = pd.DataFrame({"cohort": ["UK", "UK", "UK", "PK"], "score": [4.0, 3.0, 5.0, 2.0]})
    row = between_groups(more, ["score"], groups=["UK", "PK"]).iloc[0]
    assert (
        math.isnan(row["effect_size"])
        and row["effect_size_ci_method"] == "not estimable: one respondent in PK"
    )


def test_hodges_lehmann_three_vs_three_states_its_90_percent() -> None:
    hl = hodges_lehmann([3.0, 4.2, 5.0], [1.0, 2.4, 2.0])
    assert hl.confidence == pytest.approx(1 - 2 / 20)
    assert (hl.ci_low, hl.ci_high) == pytest.approx((3.0 - 2.4, 5.0 - 1.0))
    four = hodges_lehmann([3.0, 4.2, 5.0, 4.4], [1.0, 2.4, 2.0, 3.1])
    assert four.confidence == pytest.approx(1 - 2 / 70)  # P(U <= 0) = 1/C(8, 4)


def test_all_values_equal_gives_no_interval() -> None:
    frame = pd.DataFrame({"cohort": ["UK"] * 3 + ["PK"] * 3, "score": [3.0] * 6})
    row = between_groups(frame, ["score"], groups=["UK", "PK"]).iloc[0]
    assert row["effect_size_ci_method"] == "not estimable: all values are equal"
    assert math.isnan(row["hl_ci_low"])
    separated = intervals.rank_biserial_interval([4, 5, 5], [1, 2, 2])
    assert (
        not separated.estimable and separated.method == "not estimable: every bootstrap resample gives 1.00"
    )
    flat = within_subjects(pd.DataFrame({"a": [2.0, 3.0], "b": [2.0, 3.0], "c": [2.0, 3.0]}), ["a", "b", "c"])
    assert flat.friedman["kendall_w_ci_method"].startswith("not estimable")


def test_interval_statistics_are_the_reported_effect_sizes() -> None:
    """The batched statistics the bootstrap resamples equal pingouin's and scipy's on the observed data."""
    rng = np.random.default_rng(8)
    a, b = rng.integers(1, 6, (9, 3)).astype(float), rng.integers(1, 6, (7, 3)).astype(float)
    long = _mixed_long(np.vstack([a, b]), ["UK"] * 9 + ["PK"] * 7)
    np2 = pg.mixed_anova(long, "score", "scale", "subject", "cohort", effsize="np2")["np2"].to_numpy()
    moments = [intervals._moments(a).sum(axis=0), intervals._moments(b).sum(axis=0)]
    ours = intervals.mixed_eta(moments, [9, 7], 3)
    assert [float(ours[e]) for e in ("between", "within", "interaction")] == pytest.approx(list(np2))
    rm = pg.rm_anova(
        pd.DataFrame(a).melt(ignore_index=False).reset_index(), "value", "variable", "index", effsize="np2"
    )
    assert float(intervals.rm_eta(intervals._moments(a).sum(axis=0), 9, 3)) == pytest.approx(
        rm["np2"].iloc[0]
    )


# --- results.json: the method of every p-value ---------------------------------------------------------------------


def _p_without_method(node: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "p" and value is not None and not ({"p_method", "method"} & set(node)):
                found.append(path)
            found.extend(_p_without_method(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_p_without_method(value, f"{path}[{i}]"))
    return found


def test_every_comparison_p_in_results_carries_its_method(
    make_export: Callable[..., Path], tmp_path: Path
) -> None:
    folder = make_export(n_per_cohort={"UK": 6, "PK": 5})
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    comparisons = results["comparisons"]
    assert _p_without_method(comparisons) == []
    between = comparisons["between_cohorts"]["tactical"]
    assert between["p_method"].startswith("exact")
    assert between["effect_size_ci"]["method"].startswith(("BCa", "percentile", "not estimable"))
    assert set(between["hodges_lehmann"]) >= {"shift", "ci", "method", "confidence"}
    within = comparisons["within_cohort"]["PK"]
    assert within["p_method"].startswith("exact (permutation within experts)")
    assert all(row["method"].startswith("exact") for row in within["posthoc"])
    mixed = comparisons["mixed_anova"]["table"]
    assert {row["p_method"].split(" (")[0] for row in mixed} <= {
        "exact",
        "Monte Carlo permutation of scales within respondents",
    }
    settings = results["meta"]["inference"]["bootstrap"]
    assert (settings["seed"], settings["resamples"]) == (intervals.SEED, intervals.RESAMPLES)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "exact (permutation within experts)" in html
    json.dumps(results)
