"""Comparing scale scores within and between cohorts, and the other item types between cohorts.

Choice of tests (explained in the report): scale scores built from a few Likert items are bounded, discrete and
often skewed, and expert panels are small, so the primary tests are rank-based (Mann–Whitney U, Friedman,
Wilcoxon signed-rank). Parametric companions (Welch's t, repeated-measures and mixed ANOVA) are reported beside
them with their assumption checks (Shapiro–Wilk, Brown–Forsythe/Levene, Mauchly).

Small panels get exact or permutation p-values by default (:mod:`elicit.stats.exact`; ties are the rule on
Likert scores and the normal approximation is then too liberal): Mann–Whitney exact up to
``exact.DP_LIMIT`` (200) respondents, Wilcoxon exact up to ``exact.SIGNED_RANK_LIMIT`` (400) non-zero
differences, Friedman, Kruskal–Wallis and the mixed design's effects by permutation up to
``exact.PERMUTATION_LIMIT`` (200) respondents (exact enumeration where the arrangements are few, otherwise a
seeded Monte Carlo); the asymptotic distribution only above those sizes, and every p-value carries its method.
Every effect size carries an interval (:mod:`elicit.stats.intervals`: seeded BCa bootstrap) or the reason why none
can be given.
"""

from __future__ import annotations

import math
import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats

from elicit.stats import exact, intervals
from elicit.stats.intervals import Interval
from elicit.stats.ranks import rank_biserial_paired, wilcoxon_paired

__all__ = [
    "EXACT_LIMIT",
    "HodgesLehmann",
    "WithinResult",
    "between_groups",
    "hedges_g",
    "hodges_lehmann",
    "holm",
    "inference_settings",
    "interval_entry",
    "mann_whitney",
    "mixed_anova",
    "mixed_permutation",
    "rank_biserial_paired",
    "welch_t",
    "wilcoxon_paired",
    "within_subjects",
]

#: Exact null distributions are used when there are no ties and n1 * n2 is at most this.
EXACT_LIMIT = 2500
NAN = float("nan")


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values; NaN entries are left out of the family and stay NaN.

    Computed by ``pingouin.multicomp(..., method="holm")``: the running maximum of ``(m - j + 1) p_(j)`` over
    the sorted p-values, capped at 1 (Holm 1979), with ``m`` the number of non-NaN p-values, as R's
    ``p.adjust(method = "holm")``.
    """
    p = np.asarray(pvalues, dtype="float64")
    _, adjusted = pg.multicomp(p, method="holm")
    return [float(value) for value in adjusted]


def _clean(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype="float64").ravel()
    return np.asarray(array[~np.isnan(array)], dtype="float64")


def _mwu_null_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u), u = 0..mn, for the Mann–Whitney U statistic without ties (Mann & Whitney 1947 recursion)."""
    # p[i][j] is the distribution for sample sizes i, j; built row by row.
    previous = [np.ones(1) for _ in range(n + 1)]  # i = 0: U = 0 with probability 1
    for i in range(1, m + 1):
        current = [np.ones(1)]  # j = 0
        for j in range(1, n + 1):
            dist = np.zeros(i * j + 1)
            a = previous[j]  # (i-1, j): the largest value is from y -> U gains j
            dist[j : j + a.size] += i / (i + j) * a
            b = current[j - 1]  # (i, j-1)
            dist[: b.size] += j / (i + j) * b
            current.append(dist)
        previous = current
    return np.cumsum(previous[n])


class HodgesLehmann(NamedTuple):
    """The Hodges–Lehmann shift, its interval, how the interval was obtained, and its confidence."""

    shift: float
    ci_low: float
    ci_high: float
    method: str
    confidence: float | None


def hodges_lehmann(
    x: Any, y: Any, confidence: float = 0.95, names: tuple[str, str] = ("x", "y")
) -> HodgesLehmann:
    """Hodges–Lehmann shift ``median(x_i - y_j)`` with its distribution-free confidence interval.

    The interval is ``[D_(C), D_(mn + 1 - C)]`` of the ordered pairwise differences ``D`` (Moses 1965; Hollander &
    Wolfe 1999, sect. 4.3), where ``C`` is the ``(1 - confidence)/2`` quantile of the permutation distribution of
    ``U`` (as R's ``wilcox.test``), used when ``m n <= EXACT_LIMIT``; its achieved confidence
    ``1 - 2 P(U <= C - 1)`` is returned, and is below the requested one where the samples are too small (90 % at 3
    vs 3, the interval ``[min, max]``). With ties the closed interval covers at least that confidence: a tied
    difference at the true shift falls inside the closed interval, so ties only widen the event of coverage
    (checked by simulation in tests/analysis/test_small_panels.py). Above ``EXACT_LIMIT`` the normal
    approximation ``C = mn/2 - z sqrt(mn(m + n + 1)/12)`` (Hollander & Wolfe 1999, eq. 4.41).

    No interval (NaN, with the reason as ``method``) with one respondent in a sample or when every pairwise
    difference is the same (the interval would be a point).
    """
    a, b = _clean(x), _clean(y)
    m, n = a.size, b.size
    if m == 0 or n == 0:
        return HodgesLehmann(NAN, NAN, NAN, "not computed", None)
    diffs = np.subtract.outer(a, b).ravel()  # order statistics by partitioning, not a sort of all m n
    shift = float(np.median(diffs))
    if m < 2 or n < 2:
        return HodgesLehmann(shift, NAN, NAN, f"not estimable: one respondent in {names[m >= 2]}", None)
    if np.ptp(diffs) == 0:
        return HodgesLehmann(shift, NAN, NAN, "not estimable: every pairwise difference is equal", None)
    tail = (1 - confidence) / 2
    tied = np.unique(np.concatenate([a, b])).size < m + n
    if m * n <= EXACT_LIMIT:
        cdf = _mwu_null_cdf(m, n)
        c = int(np.searchsorted(cdf, tail - 1e-12))  # smallest u with P(U <= u) >= tail, as qwilcox
        c = max(c, 1)
        achieved = float(1 - 2 * cdf[c - 1])
        method = "exact (permutation distribution of U" + (
            "; ties: at least this confidence)" if tied else ")"
        )
    else:
        z = stats.norm.ppf(1 - tail)
        c = int(math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12)))
        achieved = confidence
        method = "normal approximation"
    if c < 1:
        return HodgesLehmann(shift, NAN, NAN, f"{method} (samples too small for this confidence)", None)
    low, high = np.partition(diffs, (c - 1, m * n - c))[[c - 1, m * n - c]]
    return HodgesLehmann(shift, float(low), float(high), method, achieved)


def mann_whitney(x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> dict[str, Any]:
    """Two-sided Mann–Whitney U test of ``x`` against ``y`` with the rank-biserial correlation and its interval.

    ``U`` is the statistic of ``x`` (the number of pairs with ``x > y``, ties counting one half; Mann & Whitney
    1947). The p-value is exact (the permutation distribution of the midrank sum, ties included;
    :func:`elicit.stats.exact.mann_whitney_exact`) when ``n_x + n_y <= exact.DP_LIMIT``, otherwise the normal
    approximation with tie-corrected variance and continuity correction (as R's ``wilcox.test``). The
    rank-biserial correlation is ``r = 2 U / (n_x n_y) - 1`` (Wendt 1972; Kerby 2014): positive when ``x``
    tends to be larger; it is not estimable (NaN, with the reason) with one respondent in a sample, as it would be
    ±1 from a single comparison. ``rank_biserial_ci`` is its seeded BCa bootstrap interval
    (:func:`elicit.stats.intervals.rank_biserial_interval`); ``names`` label the samples in the reasons.
    """
    a, b = _clean(x), _clean(y)
    if a.size < 1 or b.size < 1 or np.unique(np.concatenate([a, b])).size < 2:
        reason = (
            "not computed: all values are equal" if a.size and b.size else "not computed: a sample is empty"
        )
        return {
            "U": NAN,
            "p": NAN,
            "rank_biserial": NAN,
            "method": "not computed",
            "rank_biserial_ci": intervals.not_estimable(reason.removeprefix("not computed: ")),
        }
    if a.size + b.size <= exact.DP_LIMIT:
        result = exact.mann_whitney_exact(a, b)
        u, p, method = result.statistic, result.p, result.method
    else:
        asymptotic = stats.mannwhitneyu(
            a, b, alternative="two-sided", method="asymptotic", use_continuity=True
        )
        u, p = float(asymptotic.statistic), float(asymptotic.pvalue)
        method = f"normal approximation (tie-corrected, continuity; n > {exact.DP_LIMIT})"
    interval = intervals.rank_biserial_interval(a, b, names)
    single = [name for sample, name in ((a, names[0]), (b, names[1])) if sample.size == 1]
    return {
        "U": u,
        "p": p,
        "rank_biserial": NAN if single else 2 * u / (a.size * b.size) - 1,
        "method": method,
        "rank_biserial_ci": interval,
    }


def hedges_g(x: Any, y: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """Hedges' g (bias-corrected standardized mean difference) with an approximate confidence interval.

    ``d = (mean_x - mean_y) / s_pooled``, ``g = J d`` with ``J = 1 - 3 / (4 (n_x + n_y) - 9)`` (Hedges 1981),
    computed by ``pingouin.compute_effsize(x, y, eftype="hedges")``. The interval is the large-sample one,
    ``g ± z se`` with ``se = sqrt((n_x + n_y)/(n_x n_y) + g^2 / (2 (n_x + n_y)))`` (Hedges & Olkin 1985,
    eq. 5.14), computed here: ``pingouin.compute_esci`` uses a t quantile instead of z and rounds.

    NaN (no warning) when either sample has fewer than 2 values or both are constant.
    """
    a, b = _clean(x), _clean(y)
    nx, ny = a.size, b.size
    # pingouin would treat a single y as a population mean (one-sample g), and give ±inf for two constants
    if nx < 2 or ny < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return NAN, NAN, NAN
    g = float(pg.compute_effsize(a, b, paired=False, eftype="hedges"))
    se = math.sqrt((nx + ny) / (nx * ny) + g**2 / (2 * (nx + ny)))
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    return g, float(g - z * se), float(g + z * se)


def welch_t(x: Any, y: Any, confidence: float = 0.95) -> dict[str, float]:
    """Welch's t test (Welch 1947) with the Welch–Satterthwaite df and the CI of the mean difference.

    ``t``, ``df`` and ``p`` are ``pingouin.ttest(x, y, correction=True)``'s (two-sided). The interval
    ``mean_x - mean_y ± t_(1 - (1 - confidence)/2, df) sqrt(s_x^2/n_x + s_y^2/n_y)`` is computed here from
    pingouin's df, because pingouin rounds its ``CI95`` column to two decimals.

    NaN (no warning) when either sample has fewer than 2 values or both are constant.
    """
    a, b = _clean(x), _clean(y)
    # pingouin would run a one-sample test against a single y, and give t = ±inf, p = 0 for two constants
    if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return {"t": NAN, "df": NAN, "p": NAN, "mean_diff": NAN, "ci_low": NAN, "ci_high": NAN}
    result = pg.ttest(a, b, paired=False, alternative="two-sided", correction=True).iloc[0]
    df = float(result["dof"])
    diff = float(a.mean() - b.mean())
    half = stats.t.ppf(1 - (1 - confidence) / 2, df) * math.sqrt(
        a.var(ddof=1) / a.size + b.var(ddof=1) / b.size
    )
    return {
        "t": float(result["T"]),
        "df": df,
        "p": float(result["p_val"]),
        "mean_diff": diff,
        "ci_low": float(diff - half),
        "ci_high": float(diff + half),
    }


def _shapiro(values: np.ndarray) -> float:
    if values.size < 3 or np.ptp(values) == 0:
        return NAN
    return float(stats.shapiro(values).pvalue)


def between_groups(
    frame: pd.DataFrame, variables: Sequence[str], group: str = "cohort", groups: Sequence[str] | None = None
) -> pd.DataFrame:
    """Compare each variable between groups (cohorts); one row per variable.

    With two groups: Mann–Whitney U with rank-biserial r and the Hodges–Lehmann shift (first minus second
    group) and its CI; Welch's t with Hedges' g and its CI; Shapiro–Wilk per group and the Brown–Forsythe
    (median-centred Levene) test. Holm's correction is applied across ``variables`` to the Mann–Whitney and
    Welch p-values separately (``p_holm``, ``welch_p_holm``). With more than two groups: Kruskal–Wallis H with
    epsilon-squared ``H / (n - 1)`` (Tomczak & Tomczak 2014). With fewer than two groups: an empty frame.
    """
    with _warnings.catch_warnings(), np.errstate(all="ignore"):
        # scipy warns on tiny or constant samples; those cases are reported as NaN with a warning of our own
        _warnings.simplefilter("ignore", RuntimeWarning)
        return _between_groups(frame, variables, group, groups)


def _between_groups(
    frame: pd.DataFrame, variables: Sequence[str], group: str, groups: Sequence[str] | None
) -> pd.DataFrame:
    codes = list(groups) if groups is not None else sorted(frame[group].dropna().unique())
    rows: list[dict[str, Any]] = []
    if len(codes) < 2:
        return pd.DataFrame(rows)
    for variable in variables:
        samples = [_clean(frame.loc[frame[group] == code, variable]) for code in codes]
        row: dict[str, Any] = {"variable": variable, "groups": " vs ".join(codes)}
        for code, sample in zip(codes, samples, strict=True):
            row[f"n_{code}"] = int(sample.size)
            row[f"median_{code}"] = float(np.median(sample)) if sample.size else NAN
            row[f"mean_{code}"] = float(sample.mean()) if sample.size else NAN
            row[f"sd_{code}"] = float(sample.std(ddof=1)) if sample.size > 1 else NAN
            row[f"shapiro_p_{code}"] = _shapiro(sample)
        enough = [s for s in samples if s.size >= 2]
        row["levene_p"] = (
            float(stats.levene(*samples, center="median").pvalue)
            if len(enough) == len(samples) and any(np.ptp(s) > 0 for s in samples)
            else NAN
        )
        if len(codes) == 2:
            a, b = samples
            mw = mann_whitney(a, b, (codes[0], codes[1]))
            hl = hodges_lehmann(a, b, names=(codes[0], codes[1]))
            g, g_lo, g_hi = hedges_g(a, b)
            wt = welch_t(a, b)
            row.update(
                test="Mann-Whitney U",
                statistic=mw["U"],
                p=mw["p"],
                p_method=mw["method"],
                effect_size=mw["rank_biserial"],
                effect_size_name="rank-biserial r",
                **_interval_columns("effect_size", mw["rank_biserial_ci"]),
                hl_shift=hl.shift,
                hl_ci_low=hl.ci_low,
                hl_ci_high=hl.ci_high,
                hl_ci_method=hl.method,
                hl_ci_confidence=hl.confidence,
                welch_t=wt["t"],
                welch_df=wt["df"],
                welch_p=wt["p"],
                welch_p_method="t distribution, Welch-Satterthwaite df"
                if wt["p"] == wt["p"]
                else "not computed",
                mean_diff=wt["mean_diff"],
                mean_diff_ci_low=wt["ci_low"],
                mean_diff_ci_high=wt["ci_high"],
                hedges_g=g,
                hedges_g_ci_low=g_lo,
                hedges_g_ci_high=g_hi,
            )
        else:
            usable = [s for s in samples if s.size > 0]
            if len(usable) >= 2 and np.unique(np.concatenate(usable)).size > 1:
                h, p, p_method = _kruskal(usable)
                n = sum(s.size for s in usable)
                row.update(
                    test="Kruskal-Wallis H",
                    statistic=h,
                    df=len(usable) - 1,
                    p=p,
                    p_method=p_method,
                    effect_size=h / (n - 1),
                    effect_size_name="epsilon-squared",
                    **_interval_columns("effect_size", intervals.epsilon_squared_interval(usable)),
                )
            else:
                row.update(
                    test="Kruskal-Wallis H",
                    statistic=NAN,
                    p=NAN,
                    effect_size=NAN,
                    effect_size_name="epsilon-squared",
                )
        rows.append(row)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"].tolist())
    if "welch_p" in out:
        out["welch_p_holm"] = holm(out["welch_p"].tolist())
    return out


def _interval_columns(name: str, interval: Interval) -> dict[str, Any]:
    """The columns ``<name>_ci_low``, ``_ci_high``, ``_ci_confidence`` and ``_ci_method`` of an interval."""
    return {
        f"{name}_ci_low": interval.low,
        f"{name}_ci_high": interval.high,
        f"{name}_ci_confidence": interval.confidence,
        f"{name}_ci_method": interval.method,
    }


def interval_entry(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The ``results.json`` form of the interval columns of ``name`` in ``row`` (see :func:`_interval_columns`):
    ``ci`` (``None`` where not estimable), ``confidence`` and ``method`` (with the reason where not estimable)."""
    low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    finite = all(isinstance(v, int | float) and math.isfinite(v) for v in (low, high))
    return {
        "ci": [low, high] if finite else None,
        "confidence": row.get(f"{name}_ci_confidence") if finite else None,
        "method": row.get(f"{name}_ci_method"),
    }


def inference_settings() -> dict[str, Any]:
    """Which p-values are exact, permutation or asymptotic at which sizes, and the bootstrap's settings."""
    return {
        "mann_whitney": f"exact permutation distribution (ties by midranks) up to n_x + n_y = {exact.DP_LIMIT}, "
        "normal approximation (tie-corrected, continuity) above",
        "wilcoxon": f"exact (ties by midranks, zeros dropped) up to {exact.SIGNED_RANK_LIMIT} non-zero differences, "
        "normal approximation above",
        "friedman_kruskal_mixed": f"permutation up to {exact.PERMUTATION_LIMIT} respondents: exact enumeration up to "
        f"{exact.ENUMERATION_LIMIT} arrangements, else Monte Carlo ({exact.RESAMPLES} resamples, seed {exact.SEED}, "
        "p = (b + 1)/(R + 1)); chi-square or F above",
        "parametric_companions": "Welch t, repeated-measures and mixed ANOVA F: t and F distributions",
        "hodges_lehmann": f"exact permutation distribution of U up to n_x n_y = {EXACT_LIMIT} (achieved confidence "
        "reported), normal approximation above",
        "bootstrap": intervals.describe(),
    }


def _kruskal(samples: Sequence[np.ndarray]) -> tuple[float, float, str]:
    """Kruskal–Wallis H (tie-corrected) with its p-value: by permuting the cohort labels of the respondents up to
    ``exact.PERMUTATION_LIMIT`` respondents, the chi-square approximation above."""
    result = stats.kruskal(*samples)
    h = float(result.statistic)
    n = sum(s.size for s in samples)
    if n > exact.PERMUTATION_LIMIT:
        return h, float(result.pvalue), f"chi-square approximation (n > {exact.PERMUTATION_LIMIT})"
    values = np.concatenate(samples)
    labels = np.repeat(np.arange(len(samples)), [s.size for s in samples])
    ranks = stats.rankdata(values)

    def statistic(sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        return np.asarray((sums[..., 0] ** 2 / sizes).sum(axis=-1))  # H is increasing in sum R_g^2 / n_g

    test = exact.label_permutation(ranks, labels, statistic)
    return h, test.p, test.method


@dataclass(frozen=True, eq=False)
class WithinResult:
    """Comparison of repeated measures (the scales) within one cohort."""

    cohort: str
    n: int
    friedman: dict[str, Any]
    posthoc: pd.DataFrame
    rm_anova: dict[str, Any]
    normality: dict[str, float]
    warnings: tuple[str, ...] = field(default=())


def within_subjects(wide: pd.DataFrame, measures: Sequence[str], cohort: str = "all") -> WithinResult:
    """Friedman test, pairwise Wilcoxon tests (Holm) and repeated-measures ANOVA across ``measures``.

    Uses respondents with all measures present. Friedman's chi-square (Friedman 1937), tie-corrected, and its
    effect size Kendall's W = chi2 / (n (k - 1)) (Kendall & Babington Smith 1939) are ``pingouin.friedman``'s
    (the same chi-square as ``scipy.stats.friedmanchisquare``; Conover 1999, sect. 5.8). Its p-value is the
    permutation one (ranks permuted within respondents, :func:`elicit.stats.exact.friedman_permutation`: exact
    enumeration or a seeded Monte Carlo) up to ``exact.PERMUTATION_LIMIT`` respondents, the chi-square one above
    (``p_asymptotic`` is always given); W has a bootstrap interval. Post hoc: every pair by
    :func:`wilcoxon_paired` (exact with ties and zeros), Holm-adjusted, with the matched-pairs rank-biserial r and
    its interval. The parametric companion is the one-way repeated-measures ANOVA (``pingouin.rm_anova``)
    with Mauchly's sphericity test; the reported p is Greenhouse–Geisser corrected (Greenhouse & Geisser 1959),
    which Maxwell & Delaney (2004, ch. 11) recommend routinely because Mauchly's test has little power in small
    samples. Effect size: partial eta squared, with a bootstrap interval.
    """
    measures = list(measures)
    complete = wide.dropna(subset=measures)
    n, k = len(complete), len(measures)
    warns = []
    if n < 5:
        warns.append(f"{cohort}: only {n} complete respondent(s) for the within-cohort comparison")
    values = complete[measures].to_numpy(dtype="float64")
    friedman: dict[str, Any] = {
        "test": "Friedman",
        "statistic": NAN,
        "df": k - 1,
        "p": NAN,
        "p_method": "not computed",
        "p_asymptotic": NAN,
        "kendall_w": NAN,
        "n": n,
        **_interval_columns("kendall_w", intervals.not_estimable("no Friedman test")),
    }
    # Two measures are the Wilcoxon test's case (below). When every respondent gave all measures one value there
    # is nothing to rank: pingouin divides 0 by 0 (with a warning), and the statistics stay NaN instead.
    if k >= 3 and n >= 2 and np.ptp(values, axis=1).any():
        long = pd.DataFrame(
            {"subject": np.repeat(np.arange(n), k), "measure": np.tile(measures, n), "value": values.ravel()}
        )  # long format: pingouin's wide format asks for at least three respondents
        result = pg.friedman(long, dv="value", within="measure", subject="subject", method="chisq").iloc[0]
        asymptotic = float(result["p_unc"])
        if n <= exact.PERMUTATION_LIMIT:
            permuted = exact.friedman_permutation(values)
            p, p_method = permuted.p, permuted.method
        else:
            p, p_method = asymptotic, f"chi-square approximation (n > {exact.PERMUTATION_LIMIT})"
        friedman.update(
            statistic=float(result["Q"]),
            p=p,
            p_method=p_method,
            p_asymptotic=asymptotic,
            kendall_w=float(result["W"]),
            **_interval_columns("kendall_w", intervals.kendall_w_interval(values)),
        )
    posthoc_rows = []
    for first, second in combinations(measures, 2):
        test = wilcoxon_paired(complete[first], complete[second]) if n else {"V": NAN, "p": NAN}
        posthoc_rows.append(
            {
                "a": first,
                "b": second,
                "n": n,
                "V": test["V"],
                "p": test["p"],
                "method": test.get("method", "not computed"),
                # one pair would give r = ±1 from a single respondent: not estimable (the interval says why)
                "rank_biserial": test.get("rank_biserial", NAN) if n >= 2 else NAN,
                **_interval_columns(
                    "rank_biserial",
                    intervals.paired_rank_biserial_interval(complete[first], complete[second]),
                ),
                "median_diff": float(np.median(complete[first] - complete[second])) if n else NAN,
            }
        )
    posthoc = pd.DataFrame(posthoc_rows)
    if len(posthoc):
        posthoc["p_holm"] = holm(posthoc["p"].tolist())
    rm: dict[str, Any] = {
        "test": "repeated-measures ANOVA",
        "F": NAN,
        "df1": NAN,
        "df2": NAN,
        "p": NAN,
        "p_uncorrected": NAN,
        "p_gg": NAN,
        "epsilon_gg": NAN,
        "partial_eta_squared": NAN,
        **_interval_columns("partial_eta_squared", intervals.not_estimable("no repeated-measures ANOVA")),
        "p_method": "not computed",
        "mauchly_w": NAN,
        "mauchly_p": NAN,
        "sphericity": None,
    }
    if n >= 3 and k >= 2 and np.ptp(complete[measures].to_numpy()) > 0:
        long = (
            complete.reset_index(drop=True)
            .reset_index(names="_subject")
            .melt(id_vars="_subject", value_vars=measures, var_name="measure", value_name="value")
        )
        with _warnings.catch_warnings(), np.errstate(all="ignore"):
            _warnings.simplefilter("ignore")
            table = pg.rm_anova(
                long, dv="value", within="measure", subject="_subject", correction=True, effsize="np2"
            )
        row = table.iloc[0]
        p_gg = float(row.get("p_GG_corr", NAN)) if k > 2 else float(row["p_unc"])
        rm.update(
            F=float(row["F"]),
            df1=float(row["ddof1"]),
            df2=float(row["ddof2"]),
            p_uncorrected=float(row["p_unc"]),
            p_gg=p_gg,
            p=p_gg if not math.isnan(p_gg) else float(row["p_unc"]),
            epsilon_gg=float(row.get("eps", 1.0)),
            partial_eta_squared=float(row["np2"]),
            **_interval_columns("partial_eta_squared", intervals.rm_eta_interval(values)),
            p_method=(
                "F distribution, Greenhouse-Geisser corrected"
                if k > 2 and not math.isnan(p_gg)
                else "F distribution"
            ),
            mauchly_w=float(row.get("W_spher", NAN)) if k > 2 else NAN,
            mauchly_p=float(row.get("p_spher", NAN)) if k > 2 else NAN,
            sphericity=(bool(row["sphericity"]) if k > 2 and "sphericity" in row else None),
        )
    normality = {m: _shapiro(complete[m].to_numpy()) for m in measures}
    return WithinResult(
        cohort=cohort,
        n=n,
        friedman=friedman,
        posthoc=posthoc,
        rm_anova=rm,
        normality=normality,
        warnings=tuple(warns),
    )


def mixed_anova(long: pd.DataFrame, dv: str, within: str, between: str, subject: str) -> pd.DataFrame:
    """Mixed (split-plot) ANOVA: ``between`` × ``within`` with partial eta squared.

    Computed by ``pingouin.mixed_anova`` (sums of squares as in Maxwell & Delaney 2004, ch. 12), on subjects with
    every level of ``within``; the within effects carry Mauchly's test and the Greenhouse–Geisser corrected p.
    Checked against a hand-worked example in the test-suite. Returns an empty frame when the design cannot be
    estimated (fewer than two groups or fewer than two complete subjects per group).

    ``p`` is the permutation p-value of :func:`mixed_permutation` up to ``exact.PERMUTATION_LIMIT`` subjects
    (``p_method`` says which), the F distribution's above; ``p_asymptotic`` is always the F test's (GG-corrected
    where it applies). Partial eta squared has a bootstrap interval (subjects resampled within each group).
    """
    levels = long[within].dropna().unique()
    counts = long.dropna(subset=[dv]).groupby(subject)[within].nunique()
    keep = counts[counts == len(levels)].index
    data = long[long[subject].isin(keep)].dropna(subset=[dv])
    per_group = data.groupby(between)[subject].nunique()
    if len(per_group) < 2 or (per_group < 2).any() or len(levels) < 2 or data[dv].var() == 0:
        return pd.DataFrame()
    with _warnings.catch_warnings(), np.errstate(all="ignore"):
        _warnings.simplefilter("ignore")
        table = pg.mixed_anova(
            data, dv=dv, within=within, between=between, subject=subject, correction=True, effsize="np2"
        )
    table = table.rename(
        columns={
            "Source": "source",
            "DF1": "df1",
            "DF2": "df2",
            "p_unc": "p_uncorrected",
            "np2": "partial_eta_squared",
            "eps": "epsilon_gg",
            "p_GG_corr": "p_gg",
            "W_spher": "mauchly_w",
            "p_spher": "mauchly_p",
        }
    )
    table["p"] = (
        table["p_gg"].where(table["p_gg"].notna(), table["p_uncorrected"])
        if "p_gg" in table
        else table["p_uncorrected"]
    )
    table["p_asymptotic"] = table["p"]
    table["p_method"] = [
        "F distribution, Greenhouse-Geisser corrected" if gg else "F distribution"
        for gg in (table["p_gg"].notna() if "p_gg" in table else [False] * len(table))
    ]
    wide = data.pivot_table(index=[subject, between], columns=within, values=dv, aggfunc="first").dropna()
    labels = wide.index.get_level_values(between).to_numpy()
    values = wide.to_numpy(dtype="float64")
    effects = ("between", "within", "interaction")  # pingouin's rows: between, within, Interaction
    found = intervals.mixed_eta_intervals([values[labels == g] for g in pd.unique(labels)])
    rows = []
    permuted = mixed_permutation(values, labels) if len(values) <= exact.PERMUTATION_LIMIT else {}
    for index, effect in enumerate(effects[: len(table)]):
        row = _interval_columns("partial_eta_squared", found[effect])
        if effect in permuted:
            row.update(p=permuted[effect].p, p_method=permuted[effect].method)
        else:
            asymptotic = table.loc[index, "p_method"]
            row.update(p=table.loc[index, "p"], p_method=f"{asymptotic} (n > {exact.PERMUTATION_LIMIT})")
        rows.append(row)
    extra = pd.DataFrame(rows, index=table.index[: len(rows)])
    for column in extra:
        table[column] = extra[column]
    table["n_subjects"] = int(data[subject].nunique())
    return table.reset_index(drop=True)


def mixed_permutation(values: Any, labels: Any) -> dict[str, exact.ExactResult]:
    """Permutation p-values of the mixed design's effects (rows of ``values``: subjects; columns: the within
    levels; ``labels``: each subject's group).

    * ``between`` (the group main effect): the group labels of whole subjects are permuted (their scales kept
      together); the statistic is the F of the group effect, which is the one-way ANOVA of the subjects' means.
      Exact under the null hypothesis that the subjects are exchangeable between groups.
    * ``interaction``: the same relabelling of the subjects' profiles centred on their own means (which leaves
      out the group main effect); the statistic is the interaction F. Exact under the null hypothesis that the
      centred profiles are exchangeable between groups (no interaction, and equal spread of the profiles).
    * ``within`` (the scale main effect): the values are permuted within each subject; the statistic is the
      scale F. Exact under the null hypothesis that the scales are exchangeable within subjects, which implies
      no interaction either (a Monte Carlo test).

    Two groups with few subjects are enumerated exactly (``exact.ENUMERATION_LIMIT``); otherwise seeded Monte
    Carlo runs (``exact.RESAMPLES``, ``exact.SEED``).
    """
    array = np.asarray(values, dtype="float64")
    groups = np.asarray(labels)
    codes = np.unique(groups, return_inverse=True)[1]
    sizes = np.bincount(codes).astype("float64")
    n, k = array.shape

    def group_sums(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return np.asarray((sums**2 / counts[:, None]).sum(axis=(-2, -1)))  # sum_g sum_j T_gj^2 / n_g

    means = array.mean(axis=1, keepdims=True)
    between = exact.label_permutation(means, groups, group_sums, what="whole respondents between cohorts")
    interaction = exact.label_permutation(
        array - means, groups, group_sums, what="respondents' centred profiles between cohorts"
    )
    onehot = np.eye(sizes.size)[codes]  # (n, G)
    total = ((array - array.mean()) ** 2).sum()
    subjects = k * ((means - array.mean()) ** 2).sum()
    correction = array.sum() ** 2 / (n * k)
    cohort = (onehot.T @ array).sum(axis=1) ** 2 @ (1 / (sizes * k)) - correction

    def scale_f(batch: np.ndarray) -> np.ndarray:
        scale = (batch.sum(axis=1) ** 2).sum(axis=-1) / n - correction
        cells = np.einsum("ng,bnk->bgk", onehot, batch)
        interaction_ss = (cells**2 / sizes[:, None]).sum(axis=(-2, -1)) - correction - cohort - scale
        error = total - subjects - scale - interaction_ss
        return np.asarray(np.where(error > 0, scale / np.where(error > 0, error, 1), np.inf))

    within = exact.within_permutation(array, scale_f, what="scales within respondents")
    return {"between": between, "within": within, "interaction": interaction}
