"""Rank-based statistics: Kendall's W, and the Wilcoxon signed-rank test with its matched-pairs rank-biserial r.

Shared by ``elicit.analysis`` (agreement among experts, comparisons within a cohort; re-exported there) and the
Delphi consensus of :mod:`elicit.stats.consensus` (stability between rounds, agreement on a ranking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from elicit.stats import exact

__all__ = ["KendallW", "kendall_w", "rank_biserial_paired", "wilcoxon_paired"]

NAN = float("nan")


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance with its chi-square test."""

    w: float
    chi2: float
    df: int
    p: float
    m: int
    n: int


def kendall_w(ratings: pd.DataFrame | np.ndarray) -> KendallW:
    """Kendall's W for ``m`` raters (columns) ranking ``n`` targets (rows), corrected for ties.

    ``W = 12 S / (m^2 (n^3 - n) - m sum T)`` with ``S`` the sum of squared deviations of the targets' rank sums
    from their mean and ``T = sum (t^3 - t)`` over groups of ties within a rater (Kendall & Babington Smith
    1939; Siegel & Castellan 1988, eq. 9.16). The test uses ``chi2 = m (n - 1) W`` on ``n - 1`` df (Siegel &
    Castellan 1988, eq. 9.18), which equals the Friedman statistic. Raters with missing values are dropped.

    Written here although ``pingouin.friedman`` reports the same tie-corrected W (its subjects are our raters):
    ``elicit.stats`` is imported by the export for ``consensus.csv`` and stays light, and pingouin would load
    statsmodels, seaborn and matplotlib with it (tests/test_layering.py). tests/analysis/test_said_once.py
    checks that the two agree. Unlike pingouin's, this returns NaN rather than dividing 0 by 0 when every rater
    ties all targets, and accepts two raters.
    """
    array = np.asarray(ratings, dtype="float64")
    array = array[:, ~np.isnan(array).any(axis=0)]
    n, m = array.shape
    nan = float("nan")
    if n < 2 or m < 2:
        return KendallW(nan, nan, max(n - 1, 0), nan, m, n)
    ranks = np.apply_along_axis(stats.rankdata, 0, array)
    rank_sums = ranks.sum(axis=1)
    s = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    ties = 0.0
    for j in range(m):
        _, counts = np.unique(array[:, j], return_counts=True)
        ties += float((counts**3 - counts).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    if denominator <= 0:
        return KendallW(nan, nan, n - 1, nan, m, n)
    w = 12 * s / denominator
    chi2 = m * (n - 1) * w
    return KendallW(float(w), float(chi2), n - 1, float(stats.chi2.sf(chi2, n - 1)), m, n)


def rank_biserial_paired(x: Any, y: Any) -> float:
    """Matched-pairs rank-biserial correlation ``(R+ - R-) / (R+ + R-)`` over non-zero differences.

    ``R+`` and ``R-`` are the sums of the ranks of the absolute positive and negative differences (King, Rosopa
    & Minium 2011; Kerby 2014). Positive when ``x`` tends to exceed ``y``.
    """
    d = np.asarray(x, dtype="float64") - np.asarray(y, dtype="float64")
    d = d[~np.isnan(d) & (d != 0)]
    if d.size == 0:
        return NAN
    ranks = stats.rankdata(np.abs(d))
    plus, minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((plus - minus) / (plus + minus))


def wilcoxon_paired(x: Any, y: Any) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test on paired values (zero differences dropped; Wilcoxon 1945).

    Reports ``V = R+`` (the sum of ranks of positive differences, as R). The p-value is exact, ties (midranks) and
    zeros included, by counting all sign assignments of the non-zero differences
    (:func:`elicit.stats.exact.wilcoxon_exact`, a permutation test) for up to ``exact.SIGNED_RANK_LIMIT`` of them;
    above, the normal approximation with tie-corrected variance and continuity correction. ``method`` says which
    and how many zero differences were dropped.
    """
    a, b = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    keep = ~np.isnan(a) & ~np.isnan(b)
    d = a[keep] - b[keep]
    nonzero = d[d != 0]
    if nonzero.size < 1:
        return {"V": NAN, "p": NAN, "n": int(d.size), "method": "not computed", "rank_biserial": NAN}
    ranks = stats.rankdata(np.abs(nonzero))
    zeros = int(d.size - nonzero.size)
    notes = [f"{zeros} zero difference{'s' if zeros > 1 else ''} dropped"] if zeros else []
    if nonzero.size <= exact.SIGNED_RANK_LIMIT:
        result = exact.wilcoxon_exact(nonzero)
        p = result.p
        tied = result.method != "exact"
        method = "exact (" + "; ".join((["permutation, ties by midranks"] if tied else []) + notes) + ")"
        method = method.replace(" ()", "")
    else:
        p = float(stats.wilcoxon(nonzero, zero_method="wilcox", correction=True, method="approx").pvalue)
        method = (
            "normal approximation (" + "; ".join([f"continuity; n > {exact.SIGNED_RANK_LIMIT}", *notes]) + ")"
        )
    return {
        "V": float(ranks[nonzero > 0].sum()),
        "p": p,
        "n": int(d.size),
        "n_nonzero": int(nonzero.size),
        "method": method,
        "rank_biserial": rank_biserial_paired(a[keep], b[keep]),
    }
