"""Issue 14, "Say each thing once": the statistics pingouin computes are pingouin's, and they did not change.

Holm's correction, Cronbach's alpha, Hedges' g, Welch's t and the Friedman test's Kendall's W now call pingouin
inside our wrappers. Each is checked here against the formula it replaced, copied below verbatim from the code
before the change (``_*_before``), on ordinary and edge inputs: ties, missing values, the smallest samples the
function accepts, zero variance. Where pingouin would raise, warn or round, the wrapper keeps our answer; those
cases are asserted too. One answer changed on purpose: a constant sample of decimals (0.1, 0.1, 0.1) has a float
variance of ~1e-34, which the old "variance == 0" guards missed; "no variance" is now tested as "constant".
Kendall's W for ``m`` raters stays ours (``elicit.stats`` must not load pingouin): it is checked against
``pingouin.friedman`` instead, and the light import is checked in a fresh interpreter.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from elicit.analysis import cronbach_alpha, hedges_g, holm, kendall_w, welch_t, within_subjects

ROOT = Path(__file__).resolve().parents[2]
TIGHT = {"rel": 1e-12, "abs": 1e-12, "nan_ok": True}
RNG = np.random.default_rng(14)


# --- the formulas as they were ------------------------------------------------------------------------------


def _holm_before(pvalues: Sequence[float]) -> list[float]:
    p = np.asarray(pvalues, dtype="float64")
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return [float(value) for value in out]
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return [float(value) for value in out]


def _clean(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype="float64").ravel()
    return np.asarray(array[~np.isnan(array)], dtype="float64")


def _hedges_g_before(x: Any, y: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    a, b = _clean(x), _clean(y)
    nx, ny = a.size, b.size
    if nx < 2 or ny < 2:
        return math.nan, math.nan, math.nan
    pooled = math.sqrt(((nx - 1) * a.var(ddof=1) + (ny - 1) * b.var(ddof=1)) / (nx + ny - 2))
    if pooled == 0:
        return math.nan, math.nan, math.nan
    g = (1 - 3 / (4 * (nx + ny) - 9)) * (a.mean() - b.mean()) / pooled
    se = math.sqrt((nx + ny) / (nx * ny) + g**2 / (2 * (nx + ny)))
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    return float(g), float(g - z * se), float(g + z * se)


def _welch_t_before(x: Any, y: Any, confidence: float = 0.95) -> dict[str, float]:
    a, b = _clean(x), _clean(y)
    if a.size < 2 or b.size < 2 or (a.var() == 0 and b.var() == 0):
        nan = math.nan
        return {"t": nan, "df": nan, "p": nan, "mean_diff": nan, "ci_low": nan, "ci_high": nan}
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    result = stats.ttest_ind(a, b, equal_var=False)
    diff = a.mean() - b.mean()
    half = stats.t.ppf(1 - (1 - confidence) / 2, df) * math.sqrt(va + vb)
    return {
        "t": float(result.statistic),
        "df": float(df),
        "p": float(result.pvalue),
        "mean_diff": float(diff),
        "ci_low": float(diff - half),
        "ci_high": float(diff + half),
    }


def _cronbach_before(items: Any, confidence: float = 0.95) -> tuple[float, ...]:
    array = np.asarray(items, dtype="float64")
    array = array[~np.isnan(array).any(axis=1)]
    n, k = array.shape
    nan = math.nan
    if k < 2 or n < 3:
        return (nan, nan, nan, nan, nan, n, k)
    item_var = array.var(axis=0, ddof=1)
    total_var = array.sum(axis=1).var(ddof=1)
    if total_var <= 0:
        return (nan, nan, nan, nan, nan, n, k)
    alpha = k / (k - 1) * (1 - item_var.sum() / total_var)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    tail = (1 - confidence) / 2
    ci_low = 1 - (1 - alpha) * stats.f.ppf(1 - tail, df1, df2)
    ci_high = 1 - (1 - alpha) * stats.f.ppf(tail, df1, df2)
    if np.any(item_var <= 0):
        standardized = mean_r = nan
    else:
        corr = np.corrcoef(array, rowvar=False)
        mean_r = float(corr[np.triu_indices(k, 1)].mean())
        spread = 1 + (k - 1) * mean_r
        standardized = k * mean_r / spread if spread else nan
    return (float(alpha), float(ci_low), float(ci_high), float(standardized), float(mean_r), n, k)


def _friedman_before(wide: pd.DataFrame) -> tuple[float, float, float]:
    """Friedman chi-square, p and W as ``within_subjects`` computed them (scipy, then chi2 / (n (k - 1)))."""
    n, k = wide.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        result = stats.friedmanchisquare(*[wide[c].to_numpy() for c in wide.columns])
    if not np.isfinite(result.statistic):
        return math.nan, math.nan, math.nan
    return float(result.statistic), float(result.pvalue), float(result.statistic) / (n * (k - 1))


# --- Holm -----------------------------------------------------------------------------------------------------

HOLM_CASES = {
    "textbook": [0.01, 0.04, 0.03, 0.005],
    "ties": [0.02, 0.02, 0.02, 0.5, 0.02],
    "capped at 1": [0.4, 0.6, 0.9],
    "with NaN": [0.5, math.nan, 0.01, math.nan, 0.2],
    "all NaN": [math.nan, math.nan],
    "one": [0.03],
    "two": [0.04, 0.01],
    "zeros and ones": [0.0, 1.0, 0.0, 0.5],
    "empty": [],
    "random": RNG.uniform(0, 0.2, 40).tolist(),
}


@pytest.mark.parametrize("pvalues", HOLM_CASES.values(), ids=HOLM_CASES.keys())
def test_holm_is_what_our_step_down_was(pvalues: list[float]) -> None:
    assert holm(pvalues) == pytest.approx(_holm_before(pvalues), **TIGHT)


def test_holm_matches_r_p_adjust() -> None:
    # R 4.3: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") -> 0.03 0.06 0.06 0.02
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], **TIGHT)


# --- Hedges' g and Welch's t ----------------------------------------------------------------------------------

TWO_SAMPLES = {
    "ordinary": ([3.2, 4.1, 5.0, 2.8, 3.9, 4.4], [2.1, 3.3, 2.9, 2.2, 3.0]),
    "ties (Likert)": ([4, 4, 5, 3, 4, 4, 5], [3, 3, 4, 3, 2, 3]),
    "missing values": ([4, math.nan, 5, 3, 4], [3, 2, math.nan, math.nan, 4, 3]),
    "n = 2 each": ([1.0, 2.0], [2.0, 4.0]),
    "n = 2 and 3": ([1.0, 3.0], [2.0, 2.5, 5.0]),
    "n = 3 each": ([2.0, 3.0, 5.0], [1.0, 1.5, 1.0]),
    "one group constant": ([3, 3, 3, 3], [1, 2, 4, 5]),
    "equal means": ([1, 2, 3], [3, 2, 1]),
    "unequal variances": (RNG.normal(0, 1, 8).tolist(), RNG.normal(1, 4, 23).tolist()),
    "larger": (RNG.normal(3, 1, 60).tolist(), RNG.normal(3.4, 1.3, 45).tolist()),
    # as the old code had them: NaN below two values or with no variance at all
    "n = 1": ([1.0], [2.0, 3.0, 4.0]),
    "empty": ([], [2.0, 3.0]),
    "both constant": ([2, 2, 2], [4, 4, 4, 4]),
    "both constant, same value": ([3, 3], [3, 3, 3]),
}


@pytest.mark.parametrize(("x", "y"), TWO_SAMPLES.values(), ids=TWO_SAMPLES.keys())
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_hedges_g_is_what_our_formula_was(x: list[float], y: list[float], confidence: float) -> None:
    assert hedges_g(x, y, confidence) == pytest.approx(_hedges_g_before(x, y, confidence), **TIGHT)
    assert hedges_g(y, x, confidence)[0] == pytest.approx(-_hedges_g_before(x, y, confidence)[0], **TIGHT)


# scipy's ttest_ind warns of precision loss for one constant sample, before as now
@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
@pytest.mark.parametrize(("x", "y"), TWO_SAMPLES.values(), ids=TWO_SAMPLES.keys())
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_welch_t_is_what_our_formula_was(x: list[float], y: list[float], confidence: float) -> None:
    assert welch_t(x, y, confidence) == pytest.approx(_welch_t_before(x, y, confidence), **TIGHT)


def test_hedges_g_and_welch_t_are_nan_where_pingouin_gives_infinities(
    recwarn: pytest.WarningsRecorder,
) -> None:
    for x, y in ([1.0], [2.0, 3.0]), ([2, 2, 2], [4, 4, 4]):
        assert all(math.isnan(v) for v in hedges_g(x, y))
        assert all(math.isnan(v) for v in welch_t(x, y).values())
    assert not recwarn.list
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's, on the constant samples
        assert pg.compute_effsize([2, 2, 2], [4, 4, 4], eftype="hedges") == -math.inf
        assert pg.ttest([2, 2, 2], [4, 4, 4], correction=True)["p_val"].iloc[0] == 0.0


def test_a_constant_decimal_sample_is_constant() -> None:
    """A scale score such as 10/3 or 0.1 repeated has a float variance of ~1e-34, not 0: the old guard missed
    it and divided by that. The wrappers test for a constant sample instead, so these are NaN now too."""
    a, b = [0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2]
    assert np.var(a) > 0  # what fooled the old guard
    assert abs(_hedges_g_before(a, b)[0]) > 1e6  # and what it returned
    assert all(math.isnan(v) for v in hedges_g(a, b))
    assert all(math.isnan(v) for v in welch_t(a, b).values())


def test_welch_t_keeps_the_full_precision_interval() -> None:
    """pingouin rounds its CI95 to two decimals; ours is not rounded."""
    x, y = TWO_SAMPLES["ordinary"]
    ours = welch_t(x, y)
    rounded = pg.ttest(x, y, correction=True)["CI95"].iloc[0]
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx(tuple(rounded), abs=0.005)
    assert (ours["ci_low"], ours["ci_high"]) != pytest.approx(tuple(rounded), abs=1e-6)


# --- Cronbach's alpha -----------------------------------------------------------------------------------------

LIKERT = np.array([[4, 5, 4, 3], [2, 3, 3, 2], [5, 5, 4, 5], [3, 3, 2, 3], [4, 4, 5, 4], [1, 2, 2, 1]], float)
WITH_MISSING = LIKERT.copy()
WITH_MISSING[1, 2] = np.nan
WITH_MISSING[4, 0] = np.nan
ALPHA_CASES = {
    "Likert with ties": LIKERT,
    "missing values (listwise)": WITH_MISSING,
    "two items": LIKERT[:, :2],
    "three cases": LIKERT[:3],
    "negative alpha": np.array([[1, 5], [2, 3], [3, 4], [4, 1], [5, 2]], float),
    "a constant item": np.column_stack([LIKERT[:, :3], np.full(6, 3.0)]),
    "random": RNG.integers(1, 6, size=(40, 6)).astype(float),
    # NaN, as before
    "one item": LIKERT[:, :1],
    "two cases": LIKERT[:2],
    "constant total": np.array([[1, 5], [2, 4], [3, 3], [4, 2]], float),
    "everything constant": np.full((5, 3), 2.0),
}


@pytest.mark.parametrize("items", ALPHA_CASES.values(), ids=ALPHA_CASES.keys())
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_cronbach_alpha_is_what_our_formula_was(items: np.ndarray, confidence: float) -> None:
    result = cronbach_alpha(pd.DataFrame(items), confidence)
    got = (result.alpha, result.ci_low, result.ci_high, result.standardized, result.mean_inter_item_r)
    before = _cronbach_before(items, confidence)
    assert got == pytest.approx(before[:5], **TIGHT)
    assert (result.n, result.k) == before[5:]


def test_cronbach_alpha_keeps_the_unrounded_feldt_interval() -> None:
    result = cronbach_alpha(LIKERT)
    alpha, rounded = pg.cronbach_alpha(pd.DataFrame(LIKERT))
    assert result.alpha == pytest.approx(alpha, **TIGHT)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(rounded), abs=5e-4)
    assert (result.ci_low, result.ci_high) != pytest.approx(tuple(rounded), abs=1e-6)


# --- Kendall's W: the Friedman test's (pingouin) and the raters' (ours, in elicit.stats) ------------------------

WIDE_CASES = {
    "no ties": np.array([[1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2, 3]], float),
    "ties": np.array([[1, 1, 2, 3], [2, 2, 2, 1], [1, 3, 3, 4], [4, 2, 2, 1], [3, 3, 1, 1]], float),
    "two respondents": np.array([[1, 2, 3], [2, 1, 3]], float),
    "three respondents": np.array([[5, 3, 1], [4, 4, 1], [2, 3, 3]], float),
    "one respondent constant": np.array([[2, 2, 2], [1, 2, 3], [3, 1, 2]], float),
    "random Likert": RNG.integers(1, 6, size=(25, 5)).astype(float),
    "every respondent constant": np.array([[2, 2, 2], [4, 4, 4], [1, 1, 1]], float),
}


@pytest.mark.parametrize("values", WIDE_CASES.values(), ids=WIDE_CASES.keys())
def test_within_subjects_friedman_is_what_scipy_and_our_w_were(values: np.ndarray) -> None:
    measures = [f"m{j}" for j in range(values.shape[1])]
    wide = pd.DataFrame(values, columns=measures)
    friedman = within_subjects(wide, measures).friedman
    got = (friedman["statistic"], friedman["p_asymptotic"], friedman["kendall_w"])
    assert got == pytest.approx(_friedman_before(wide), **TIGHT)


def test_within_subjects_friedman_drops_respondents_with_missing_values() -> None:
    values = WIDE_CASES["ties"]
    wide = pd.DataFrame(values, columns=["a", "b", "c", "d"])
    holed = pd.concat([wide, pd.DataFrame({"a": [1.0], "b": [np.nan], "c": [3.0], "d": [2.0]})])
    assert within_subjects(holed, list(wide)).friedman == within_subjects(wide, list(wide)).friedman


def _pingouin_w(ratings: np.ndarray) -> tuple[float, float, float]:
    """Kendall's W of targets (rows) x raters (columns) by pingouin.friedman: raters are its subjects."""
    n, m = ratings.shape
    long = pd.DataFrame(
        {"rater": np.tile(np.arange(m), n), "target": np.repeat(np.arange(n), m), "value": ratings.ravel()}
    )
    row = pg.friedman(long, dv="value", within="target", subject="rater").iloc[0]
    return float(row["W"]), float(row["Q"]), float(row["p_unc"])


RATER_CASES = {
    "no ties": np.array([[1, 2, 1], [2, 1, 3], [3, 3, 2], [4, 4, 4]], float),
    "ties": np.array([[1, 1, 2, 2], [2, 1, 2, 3], [2, 3, 2, 3], [4, 3, 1, 1], [5, 5, 5, 4]], float),
    "two raters": np.array([[1, 2], [2, 1], [3, 3]], float),
    "two targets": np.array([[1, 2, 1, 1], [2, 1, 2, 2]], float),
    "three targets": np.array([[1, 2, 3], [2, 2, 1], [3, 1, 2]], float),
    "perfect": np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]], float),
    "random Likert": RNG.integers(1, 6, size=(15, 12)).astype(float),
}


@pytest.mark.parametrize("ratings", RATER_CASES.values(), ids=RATER_CASES.keys())
def test_our_kendall_w_is_pingouins(ratings: np.ndarray) -> None:
    result = kendall_w(ratings)
    assert (result.w, result.chi2, result.p) == pytest.approx(_pingouin_w(ratings), **TIGHT)
    assert (result.df, result.n, result.m) == (ratings.shape[0] - 1, *ratings.shape)


def test_our_kendall_w_drops_raters_with_missing_values_as_pingouin_drops_subjects() -> None:
    ratings = RATER_CASES["ties"].copy()
    ratings[1, 2] = np.nan
    result = kendall_w(ratings)
    assert result.m == 3
    assert (result.w, result.chi2, result.p) == pytest.approx(_pingouin_w(ratings), **TIGHT)
    assert result.w == pytest.approx(kendall_w(np.delete(ratings, 2, axis=1)).w, **TIGHT)


def test_our_kendall_w_is_nan_where_pingouin_divides_zero_by_zero() -> None:
    ratings = np.full((4, 3), 2.0)  # every rater ties every target
    assert math.isnan(kendall_w(ratings).w) and math.isnan(kendall_w(ratings).p)
    with pytest.warns(RuntimeWarning), np.errstate(all="warn"):
        assert math.isnan(_pingouin_w(ratings)[0])


def test_elicit_stats_does_not_load_pingouin() -> None:
    """The export imports elicit.stats for consensus.csv; pingouin would bring statsmodels, seaborn, matplotlib."""
    script = (
        "import json, sys\n"
        "import elicit.stats, elicit.stats.consensus, elicit.stats.disclosure, elicit.stats.ranks\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(  # noqa: S603  # this interpreter with a fixed script, no shell
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = {m.split(".")[0] for m in json.loads(done.stdout.splitlines()[-1])}
    assert not loaded & {"pingouin", "statsmodels", "seaborn", "matplotlib"}
