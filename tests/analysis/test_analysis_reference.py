"""Reference tests: published data typed in, with the published results beside them.

Agreement with pingouin alone would not be evidence (pingouin is what we call), so every expected value below
comes from the cited publication or documentation, or from a hand calculation shown in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from elicit.analysis import (
    cronbach_alpha,
    hodges_lehmann,
    holm,
    icc_table,
    kendall_w,
    krippendorff_alpha,
    mann_whitney,
    mcdonald_omega,
    mixed_anova,
    omega_from_loadings,
    one_factor_ml,
    wilcoxon_paired,
    within_subjects,
)

# Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater reliability.
# Psychological Bulletin, 86(2), 420-428. Table 2: four judges (columns) rate six targets (rows).
SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ],
    dtype=float,
)


def test_icc_shrout_fleiss_table_4() -> None:
    table = icc_table(pd.DataFrame(SHROUT_FLEISS)).set_index("shrout_fleiss")
    # Shrout & Fleiss (1979), Table 4: ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71, ICC(1,4)=.44, ICC(2,4)=.62,
    # ICC(3,4)=.91.
    published = {
        "ICC(1,1)": 0.17,
        "ICC(2,1)": 0.29,
        "ICC(3,1)": 0.71,
        "ICC(1,k)": 0.44,
        "ICC(2,k)": 0.62,
        "ICC(3,k)": 0.91,
    }
    for form, value in published.items():
        assert table.loc[form, "icc"] == pytest.approx(value, abs=0.005), form
    # Table 3 (ANOVA): BMS = 11.24, WMS = 6.26, EMS = 1.02 -> F = BMS/EMS = 11.02 (two-way), BMS/WMS = 1.795 (one-way)
    assert table.loc["ICC(3,1)", "F"] == pytest.approx(11.24 / 1.02, rel=0.01)
    assert table.loc["ICC(1,1)", "F"] == pytest.approx(11.24 / 6.26, rel=0.01)
    assert (table.loc["ICC(2,1)", "df1"], table.loc["ICC(2,1)", "df2"]) == (5, 15)
    # Intervals as printed by R psych::ICC(sf) in its documentation (same data): ICC3 [.34, .95], ICC3k [.68, .99],
    # ICC2 [.019, .76], ICC1 [-.13, .72].
    assert table.loc["ICC(3,1)", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.34, 0.95], abs=0.01)
    assert table.loc["ICC(3,k)", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.68, 0.99], abs=0.01)
    assert table.loc["ICC(2,1)", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.02, 0.76], abs=0.01)
    assert table.loc["ICC(1,1)", ["ci_low", "ci_high"]].tolist() == pytest.approx([-0.13, 0.72], abs=0.01)


def test_cronbach_alpha_equals_icc_3k_of_shrout_fleiss() -> None:
    # Cronbach's alpha of the judges-as-items equals the consistency ICC of the mean, ICC(3,k) (McGraw & Wong
    # 1996, p. 35), published as .91 by Shrout & Fleiss (1979, Table 4). By hand from Table 2: judge variances
    # 2.6667, 2.7, 2.6667, 6.2667 (sum 14.3); target totals 24, 12, 26, 16, 30, 19 with variance 44.9667;
    # alpha = 4/3 * (1 - 14.3/44.9667) = 0.9093.
    result = cronbach_alpha(SHROUT_FLEISS)
    assert result.alpha == pytest.approx(4 / 3 * (1 - 14.3 / (269.8 / 6)), abs=1e-9)
    assert result.alpha == pytest.approx(0.91, abs=0.005)
    # Feldt's interval is algebraically the McGraw & Wong ICC(C,k) interval; psych::ICC prints [.68, .99].
    assert (result.ci_low, result.ci_high) == pytest.approx((0.676, 0.986), abs=0.002)
    assert (result.n, result.k) == (6, 4)


def test_cronbach_alpha_textbook_by_hand() -> None:
    # Worked example with three items and five respondents (computed by hand, sample variances):
    # items A = 3,2,4,3,4 (var .7), B = 4,3,4,2,4 (var .8), C = 3,4,5,3,4 (var .7); totals 10,9,13,8,12
    # (var 4.3). alpha = 3/2 * (1 - 2.2/4.3) = 0.7326.
    data = np.array([[3, 4, 3], [2, 3, 4], [4, 4, 5], [3, 2, 3], [4, 4, 4]], dtype=float)
    assert cronbach_alpha(data).alpha == pytest.approx(1.5 * (1 - 2.2 / 4.3), abs=1e-10)


# Smith & Stanley (1983) ability tests, n = 112, covariance matrix as given in R's datasets::ability.cov
# (Bartholomew 1987). R's documented example factanal(factors = 1, covmat = ability.cov) prints
# uniquenesses .535 .853 .748 .910 .232 .280, loadings .682 .384 .502 .300 .877 .849 and
# "The chi square statistic is 75.18 on 9 degrees of freedom. The p-value is 1.46e-12".
ABILITY_COV = np.array(
    [
        [24.641, 5.991, 33.520, 6.023, 20.755, 29.701],
        [5.991, 6.700, 18.137, 1.782, 4.936, 7.204],
        [33.520, 18.137, 149.831, 19.424, 31.430, 50.753],
        [6.023, 1.782, 19.424, 12.711, 4.757, 9.075],
        [20.755, 4.936, 31.430, 4.757, 52.604, 66.762],
        [29.701, 7.204, 50.753, 9.075, 66.762, 135.292],
    ]
)
ABILITY_LOADINGS = [0.682, 0.384, 0.502, 0.300, 0.877, 0.849]
ABILITY_UNIQUENESSES = [0.535, 0.853, 0.748, 0.910, 0.232, 0.280]


def test_one_factor_ml_reproduces_factanal_ability_cov() -> None:
    fit = one_factor_ml(ABILITY_COV, n_obs=112)
    assert fit.loadings == pytest.approx(ABILITY_LOADINGS, abs=0.001)
    assert fit.uniquenesses == pytest.approx(ABILITY_UNIQUENESSES, abs=0.001)
    assert fit.chi2 == pytest.approx(75.18, abs=0.01)
    assert fit.df == 9
    assert fit.p == pytest.approx(1.46e-12, rel=0.01)
    assert fit.converged and not fit.heywood


def test_omega_from_published_loadings() -> None:
    # McDonald (1999, eq. 6.20b) with the published standardized solution:
    # sum of loadings = 3.594, squared = 12.917; sum of uniquenesses = 3.558 -> omega = 12.917/16.475 = .784.
    published = omega_from_loadings(ABILITY_LOADINGS, ABILITY_UNIQUENESSES)
    assert published == pytest.approx(12.916836 / (12.916836 + 3.558), abs=1e-6)
    # Our fit on data with that covariance gives the same omega (standardized items).
    rng = np.random.default_rng(1)
    raw = rng.multivariate_normal(np.zeros(6), ABILITY_COV, size=112)
    # Transform the sample so its covariance equals ABILITY_COV exactly (then the ML fit is the published one).
    centred = raw - raw.mean(axis=0)
    whitened = centred @ np.linalg.inv(np.linalg.cholesky(np.cov(centred, rowvar=False)).T)
    exact = whitened @ np.linalg.cholesky(ABILITY_COV).T
    result = mcdonald_omega(exact)
    assert result.omega_standardized == pytest.approx(published, abs=0.001)
    sds = np.sqrt(np.diag(ABILITY_COV))
    assert result.omega == pytest.approx(
        omega_from_loadings(ABILITY_LOADINGS, ABILITY_UNIQUENESSES, sds), abs=0.001
    )


def test_omega_equals_alpha_for_parallel_items() -> None:
    # For parallel items (equal loadings and uniquenesses) omega equals alpha (McDonald 1999, ch. 6): with
    # correlation .5 among 4 standardized items both are 4*.5/(1+3*.5) = .8.
    corr = np.full((4, 4), 0.5) + np.eye(4) * 0.5
    fit = one_factor_ml(corr, n_obs=200)
    assert omega_from_loadings(fit.loadings, fit.uniquenesses) == pytest.approx(0.8, abs=1e-6)


# Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School for Communication
# Departmental Papers 43. Section C: 4 observers, 12 units, missing values. Published: nominal .743,
# ordinal .815, interval .849, ratio .797.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
).T  # units × observers, as our API takes targets × raters


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_example(level: str, published: float) -> None:
    assert krippendorff_alpha(KRIPPENDORFF_2011, level, [1, 2, 3, 4, 5]) == pytest.approx(published, abs=5e-4)


# Hollander & Wolfe (1973), p. 140ff; the example of R's friedman.test: times to round first base for 22
# players with three methods. Published: Friedman chi-squared = 11.143, df = 2, p-value = 0.003805.
ROUNDING_TIMES = np.array(
    [
        [5.40, 5.50, 5.55],
        [5.85, 5.70, 5.75],
        [5.20, 5.60, 5.50],
        [5.55, 5.50, 5.40],
        [5.90, 5.85, 5.70],
        [5.45, 5.55, 5.60],
        [5.40, 5.40, 5.35],
        [5.45, 5.50, 5.35],
        [5.25, 5.15, 5.00],
        [5.85, 5.80, 5.70],
        [5.25, 5.20, 5.10],
        [5.65, 5.55, 5.45],
        [5.60, 5.35, 5.45],
        [5.05, 5.00, 4.95],
        [5.50, 5.50, 5.40],
        [5.45, 5.55, 5.50],
        [5.55, 5.55, 5.35],
        [5.45, 5.50, 5.55],
        [5.50, 5.45, 5.25],
        [5.65, 5.60, 5.40],
        [5.70, 5.65, 5.55],
        [6.30, 6.30, 6.25],
    ]
)


def test_friedman_hollander_wolfe_rounding_first_base() -> None:
    wide = pd.DataFrame(ROUNDING_TIMES, columns=["round_out", "narrow_angle", "wide_angle"])
    result = within_subjects(wide, list(wide.columns), "players")
    assert result.friedman["statistic"] == pytest.approx(11.143, abs=5e-4)
    assert result.friedman["df"] == 2
    assert result.friedman["p_asymptotic"] == pytest.approx(0.003805, abs=5e-7)
    # 22 players: the p-value reported is the permutation one (ranks permuted within players, seeded Monte Carlo),
    # which the chi-square approximates.
    assert result.friedman["p_method"].startswith("Monte Carlo permutation within experts")
    assert result.friedman["p"] == pytest.approx(0.003805, abs=0.002)
    # Kendall's W = chi2 / (n (k - 1)) = 11.143 / 44 (Siegel & Castellan 1988, eq. 9.18 read backwards).
    assert result.friedman["kendall_w"] == pytest.approx(11.142857 / 44, abs=1e-5)
    # The same W from the coefficient of concordance with the players as raters of the three methods.
    assert kendall_w(ROUNDING_TIMES.T).w == pytest.approx(11.142857 / 44, abs=1e-5)
    assert len(result.posthoc) == 3 and result.posthoc["p_holm"].notna().all()


def test_kendall_w_siegel_castellan_no_ties() -> None:
    # Perfect concordance gives W = 1 and complete reversal among two raters gives W = 0 (Kendall & Babington
    # Smith 1939): 3 raters ranking 4 objects identically.
    assert kendall_w(np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]])).w == pytest.approx(1.0)
    assert kendall_w(np.array([[1, 4], [2, 3], [3, 2], [4, 1]])).w == pytest.approx(0.0)


def test_wilcoxon_hollander_wolfe_depression() -> None:
    # Hollander & Wolfe (1973), p. 29f; R's wilcox.test example: Hamilton depression scale before (x) and after
    # (y) tranquilizer, 9 patients. Published: V = 40, p-value = 0.01953 (one-sided, "greater"), so the
    # two-sided exact p is 0.0391.
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    result = wilcoxon_paired(x, y)
    assert result["V"] == 40
    assert result["p"] == pytest.approx(2 * 0.01953, abs=1e-4)
    assert result["method"] == "exact"
    # matched-pairs rank-biserial (Kerby 2014): (R+ - R-) / (R+ + R-) = (40 - 5) / 45
    assert result["rank_biserial"] == pytest.approx(35 / 45)


# Hollander & Wolfe (1973), p. 69f; R's wilcox.test example: permeability constants of the human chorioamnion at
# term (x) and at 12-26 weeks (y). Published: W = 35, p-value = 0.1272 (alternative "greater"); Hollander & Wolfe
# give the Hodges-Lehmann estimate of the shift as .305.
PERM_X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
PERM_Y = [1.15, 0.88, 0.90, 0.74, 1.21]


def test_mann_whitney_hollander_wolfe_permeability() -> None:
    result = mann_whitney(PERM_X, PERM_Y)
    assert result["U"] == 35
    assert result["p"] == pytest.approx(2 * 0.1272, abs=2e-4)
    assert result["method"] == "exact"
    assert result["rank_biserial"] == pytest.approx(2 * 35 / 50 - 1)


def test_hodges_lehmann_hollander_wolfe_permeability() -> None:
    shift, low, high, method, achieved = hodges_lehmann(PERM_X, PERM_Y)
    assert shift == pytest.approx(0.305)
    # Exact 95% interval from the U distribution (Hollander & Wolfe 1999, sect. 4.3; R's wilcox.test with
    # conf.int = TRUE prints the same interval, with the sign reversed when y and x are swapped): -0.15 to 0.76.
    assert (low, high) == pytest.approx((-0.15, 0.76))
    assert method == "exact (permutation distribution of U)"
    # C = 9 (the smallest u with P(U <= u) >= .025); 60 of the C(15, 5) = 3003 arrangements have U <= 8, so the
    # interval's achieved confidence is 1 - 2 * 60/3003 = 96.0 %.
    assert achieved == pytest.approx(1 - 2 * 60 / 3003)
    # Reversing the samples mirrors the estimate and the interval.
    mirrored = hodges_lehmann(PERM_Y, PERM_X)
    assert mirrored[:3] == pytest.approx((-0.305, -0.76, 0.15))


def test_mixed_anova_worked_example() -> None:
    # Worked example: Wendorf, C. A., "Sourcebook: jamovi annotated output, Mixed ANOVA"
    # (cwendorf.github.io/Sourcebook), 8 subjects in two groups measured twice:
    # group 1: (0,4) (0,7) (3,4) (5,9); group 2: (4,9) (7,6) (4,4) (9,9).
    # Hand calculation following that page: grand mean 5.25; SS_total = 572 - 16*5.25^2 = 131;
    # SS_between subjects = 2 * sum (subject mean - 5.25)^2 = 77; SS_group = 8 * ((4-5.25)^2 + (6.5-5.25)^2) = 25;
    # SS_error(between) = 52 (df 6); SS_time = 25; cell means 2, 6, 6, 7 -> SS_cells = 59, SS_interaction = 9;
    # SS_error(within) = 131 - 77 - 25 - 9 = 20 (df 6).
    # F_group = 25 / (52/6) = 2.885, F_time = 25 / (20/6) = 7.5, F_interaction = 9 / (20/6) = 2.7;
    # partial eta squared 25/77 = .325, 25/45 = .556, 9/29 = .310.
    values = {1: (0, 4), 2: (0, 7), 3: (3, 4), 4: (5, 9), 5: (4, 9), 6: (7, 6), 7: (4, 4), 8: (9, 9)}
    long = pd.DataFrame(
        [
            {"subject": s, "group": "g1" if s <= 4 else "g2", "time": t, "y": v[i]}
            for s, v in values.items()
            for i, t in enumerate(("t1", "t2"))
        ]
    )
    table = mixed_anova(long, dv="y", within="time", between="group", subject="subject").set_index("source")
    assert table.loc["group", "F"] == pytest.approx(25 / (52 / 6))
    assert table.loc["time", "F"] == pytest.approx(7.5)
    assert table.loc["Interaction", "F"] == pytest.approx(2.7)
    assert table.loc["group", "partial_eta_squared"] == pytest.approx(25 / 77)
    assert table.loc["time", "partial_eta_squared"] == pytest.approx(25 / 45)
    assert table.loc["Interaction", "partial_eta_squared"] == pytest.approx(9 / 29)
    assert (table.loc["time", "df1"], table.loc["time", "df2"]) == (1, 6)
    # p from F(1, 6) = 7.5; the p reported is the permutation one (8 subjects: every arrangement enumerated)
    assert table.loc["time", "p_asymptotic"] == pytest.approx(0.0338, abs=1e-4)
    assert table.loc["time", "p_method"] == "exact (permutation of scales within respondents)"


def test_holm_step_down() -> None:
    # Holm (1979): sorted p .01 < .03 < .04 with m = 3 -> 3*.01 = .03, max(.03, 2*.03) = .06, max(.06, .04) = .06.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.5, float("nan")])
    assert out[0] == pytest.approx(0.5) and np.isnan(out[1])
