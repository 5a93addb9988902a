"""Internal-consistency reliability of a scale.

Missing data: every statistic here uses the respondents who answered *all* items of the scale (listwise
deletion); the number used and the number excluded are reported with each result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import optimize, stats

from .export_folder import Codebook, as_codebook
from .scoring import scale_item_frame

__all__ = [
    "AlphaResult",
    "OmegaResult",
    "OneFactorFit",
    "ScaleReliability",
    "cronbach_alpha",
    "describe_reliability",
    "item_total_statistics",
    "mcdonald_omega",
    "one_factor_ml",
    "reliability_by_group",
    "scale_reliability",
]

#: Below this many complete cases the report warns that reliability estimates are very imprecise.
SMALL_N_RELIABILITY = 30


@dataclass(frozen=True)
class AlphaResult:
    """Cronbach's alpha with its confidence interval and the standardized alpha."""

    alpha: float
    ci_low: float
    ci_high: float
    standardized: float
    mean_inter_item_r: float
    n: int
    k: int
    confidence: float = 0.95


@dataclass(frozen=True)
class OneFactorFit:
    """A one-factor maximum-likelihood solution on the correlation scale."""

    loadings: tuple[float, ...]
    uniquenesses: tuple[float, ...]
    chi2: float
    df: int
    p: float
    converged: bool
    heywood: bool


@dataclass(frozen=True)
class OmegaResult:
    """McDonald's omega total from a one-factor model.

    ``omega`` refers to the unweighted sum (or mean) of the raw items — the scale score analysed here;
    ``omega_standardized`` to the sum of standardized items.
    """

    omega: float
    omega_standardized: float
    fit: OneFactorFit | None
    note: str = ""


def _complete(items: pd.DataFrame | np.ndarray) -> np.ndarray:
    array = np.asarray(items, dtype="float64")
    if array.ndim != 2:
        raise ValueError("item data must be a table with one column per item")
    return np.asarray(array[~np.isnan(array).any(axis=1)], dtype="float64")


def cronbach_alpha(items: pd.DataFrame | np.ndarray, confidence: float = 0.95) -> AlphaResult:
    """Cronbach's alpha with Feldt's F-based confidence interval, and the standardized alpha.

    ``alpha = k / (k - 1) * (1 - sum(var_i) / var_total)`` (Cronbach 1951), computed on complete cases by
    ``pingouin.cronbach_alpha``. The interval is ``1 - (1 - alpha) * F`` at the ``(1 ± confidence) / 2``
    quantiles of ``F(n - 1, (n - 1)(k - 1))`` (Feldt 1965; Feldt, Woodruff & Salih 1987, eq. 7), computed here
    because pingouin rounds its interval to three decimals. The standardized alpha, which pingouin does not
    give, is ``k * r̄ / (1 + (k - 1) * r̄)`` with ``r̄`` the mean inter-item Pearson correlation (Cronbach 1951;
    the Spearman–Brown form).

    Returns NaN fields (never raises) when fewer than 2 items, fewer than 3 complete cases or no variance.
    """
    array = _complete(items)
    n, k = array.shape
    nan = float("nan")
    # pingouin raises (assert) below 2 items or 2 cases, and gives -inf for a constant total score
    if k < 2 or n < 3 or np.ptp(array.sum(axis=1)) == 0:
        return AlphaResult(nan, nan, nan, nan, nan, n, k, confidence)
    # listwise deletion is done above, so pingouin's nan_policy does not come into play
    alpha, _rounded_ci = pg.cronbach_alpha(pd.DataFrame(array))
    df1, df2 = n - 1, (n - 1) * (k - 1)
    tail = (1 - confidence) / 2
    ci_low = 1 - (1 - alpha) * stats.f.ppf(1 - tail, df1, df2)
    ci_high = 1 - (1 - alpha) * stats.f.ppf(tail, df1, df2)
    if np.any(np.ptp(array, axis=0) == 0):
        standardized = mean_r = nan  # a constant item has no correlation
    else:
        corr = np.corrcoef(array, rowvar=False)
        mean_r = float(corr[np.triu_indices(k, 1)].mean())
        spread = 1 + (k - 1) * mean_r  # 0 when every pair correlates at -1/(k-1)
        standardized = k * mean_r / spread if spread else nan
    return AlphaResult(
        float(alpha), float(ci_low), float(ci_high), float(standardized), float(mean_r), n, k, confidence
    )


def _ml_objective(psi: np.ndarray, corr: np.ndarray) -> float:
    scale = 1 / np.sqrt(psi)
    eigenvalues = np.linalg.eigvalsh(corr * np.outer(scale, scale))[::-1]
    rest = eigenvalues[1:]
    return float(-np.sum(np.log(rest) - rest) + 1 - corr.shape[0])


def _ml_loadings(psi: np.ndarray, corr: np.ndarray) -> np.ndarray:
    scale = 1 / np.sqrt(psi)
    values, vectors = np.linalg.eigh(corr * np.outer(scale, scale))
    first = vectors[:, -1] * math.sqrt(max(values[-1] - 1, 0.0))
    loadings = np.sqrt(psi) * first
    return np.asarray(loadings if loadings.sum() >= 0 else -loadings, dtype="float64")


def _ml_gradient(psi: np.ndarray, corr: np.ndarray) -> np.ndarray:
    loadings = _ml_loadings(psi, corr)
    residual = np.outer(loadings, loadings) + np.diag(psi) - corr
    return np.asarray(np.diag(residual) / psi**2, dtype="float64")


def one_factor_ml(matrix: np.ndarray, n_obs: int | None = None, lower: float = 0.005) -> OneFactorFit:
    """Fit a one-factor model by maximum likelihood to a covariance or correlation matrix.

    Follows Jöreskog (1967) and Lawley & Maxwell (1971, ch. 4) as implemented in R's ``factanal``: the
    uniquenesses ``psi`` minimise ``-sum_{j>1}(log e_j - e_j) + 1 - p``, where ``e_j`` are the eigenvalues of
    ``Psi^-1/2 R Psi^-1/2``, by bounded quasi-Newton (L-BFGS-B) with ``psi`` in ``[lower, 1]``; the loadings
    are the leading eigenvector scaled by ``sqrt(e_1 - 1)``. The likelihood-ratio statistic uses Bartlett's
    correction ``(n - 1 - (2p + 5)/6 - 2/3) * F`` on ``((p - 1)^2 - p - 1) / 2`` degrees of freedom.

    Loadings and uniquenesses are on the correlation (standardized) scale. ``heywood`` is True when a
    uniqueness sits at the lower bound (an improper solution).
    """
    cov = np.asarray(matrix, dtype="float64")
    p = cov.shape[0]
    if cov.shape != (p, p) or p < 3:
        raise ValueError("a one-factor model needs a square matrix of at least 3 items")
    sd = np.sqrt(np.diag(cov))
    if np.any(sd <= 0):
        raise ValueError("an item has no variance, so no factor model can be fitted")
    corr = cov / np.outer(sd, sd)
    if np.linalg.eigvalsh(corr)[0] <= 1e-10:
        raise ValueError("the item correlation matrix is singular (too few respondents or redundant items)")
    start = np.clip((1 - 0.5 / p) / np.diag(np.linalg.inv(corr)), lower, 1.0)
    result = optimize.minimize(
        _ml_objective,
        start,
        args=(corr,),
        jac=_ml_gradient,
        method="L-BFGS-B",
        bounds=[(lower, 1.0)] * p,
        options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8},
    )
    psi = result.x
    loadings = _ml_loadings(psi, corr)
    df = ((p - 1) ** 2 - p - 1) // 2
    if n_obs is not None and df > 0:
        chi2 = (n_obs - 1 - (2 * p + 5) / 6 - 2 / 3) * result.fun
        pvalue = float(stats.chi2.sf(chi2, df))
    else:
        chi2, pvalue = float("nan"), float("nan")
    return OneFactorFit(
        loadings=tuple(float(v) for v in loadings),
        uniquenesses=tuple(float(v) for v in psi),
        chi2=float(chi2),
        df=int(df),
        p=pvalue,
        converged=bool(result.success),
        heywood=bool(np.any(psi <= lower * 1.0001)),
    )


def omega_from_loadings(
    loadings: np.ndarray | Sequence[float],
    uniquenesses: np.ndarray | Sequence[float],
    sds: np.ndarray | None = None,
) -> float:
    """McDonald's omega total for the unit-weighted sum of items (McDonald 1999, eq. 6.20b).

    ``omega = (sum l_i)^2 / ((sum l_i)^2 + sum psi_i)`` with loadings ``l_i = sd_i * lambda_i`` and unique
    variances ``psi_i = sd_i^2 * u_i`` from standardized loadings ``lambda`` and uniquenesses ``u``; with
    ``sds=None`` the items are taken as standardized.
    """
    lam = np.asarray(loadings, dtype="float64")
    uniq = np.asarray(uniquenesses, dtype="float64")
    scale = np.ones_like(lam) if sds is None else np.asarray(sds, dtype="float64")
    common = (scale * lam).sum() ** 2
    return float(common / (common + (scale**2 * uniq).sum()))


def mcdonald_omega(items: pd.DataFrame | np.ndarray) -> OmegaResult:
    """McDonald's omega total from a one-factor maximum-likelihood model fitted to complete cases.

    The factor model is fitted with :func:`one_factor_ml` (our own numpy/scipy fit, because ``factor_analyzer``
    does not install beside the pinned scientific stack). ``omega`` refers to the sum of the raw items
    (McDonald 1999, ch. 6; Flora 2020, eq. 3): ``(sum_i sd_i lambda_i)^2 / ((sum_i sd_i lambda_i)^2 +
    sum_i sd_i^2 u_i)``. Returns NaN with a note when the model cannot be fitted (fewer than 3 items, fewer
    complete cases than items + 1, a constant item, a singular correlation matrix).
    """
    array = _complete(items)
    n, k = array.shape
    nan = float("nan")
    if k < 3:
        return OmegaResult(nan, nan, None, "omega needs at least 3 items for a one-factor model")
    if n <= k:
        return OmegaResult(nan, nan, None, f"omega needs more complete cases ({n}) than items ({k})")
    cov = np.cov(array, rowvar=False)
    try:
        fit = one_factor_ml(cov, n_obs=n)
    except ValueError as exc:
        return OmegaResult(nan, nan, None, str(exc))
    sds = np.sqrt(np.diag(cov))
    omega = omega_from_loadings(fit.loadings, fit.uniquenesses, sds)
    omega_std = omega_from_loadings(fit.loadings, fit.uniquenesses)
    notes = []
    if fit.heywood:
        notes.append(
            "improper (Heywood) solution: a uniqueness is at its lower bound, omega is an overestimate"
        )
    if not fit.converged:
        notes.append("the factor model did not converge")
    if any(v < 0 for v in fit.loadings):
        notes.append("an item loads negatively on the common factor (check its keying)")
    return OmegaResult(omega, omega_std, fit, "; ".join(notes))


def item_total_statistics(items: pd.DataFrame) -> pd.DataFrame:
    """Corrected item-total correlation and alpha if item deleted, per item (complete cases).

    The corrected item-total correlation is the Pearson correlation of an item with the sum of the *other*
    items (Nunnally & Bernstein 1994, p. 304); "alpha if deleted" is :func:`cronbach_alpha` of the remaining
    items.
    """
    frame = items.dropna()
    rows = []
    for column in items.columns:
        rest = frame.drop(columns=[column])
        other_sum = rest.sum(axis=1)
        if len(frame) >= 3 and frame[column].std() > 0 and other_sum.std() > 0:
            r = float(np.corrcoef(frame[column], other_sum)[0, 1])
        else:
            r = float("nan")
        rows.append(
            {
                "item": column,
                "n": len(frame),
                "mean": float(frame[column].mean()) if len(frame) else float("nan"),
                "sd": float(frame[column].std()) if len(frame) > 1 else float("nan"),
                "corrected_item_total_r": r,
                "alpha_if_deleted": cronbach_alpha(rest).alpha if rest.shape[1] >= 2 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class ScaleReliability:
    """Reliability of one scale in one group (``all`` or a cohort code)."""

    scale: str
    group: str
    n: int
    n_excluded: int
    k: int
    alpha: AlphaResult
    omega: OmegaResult
    item_total: pd.DataFrame
    interpretation: str
    warnings: tuple[str, ...] = field(default=())


def describe_reliability(alpha: AlphaResult, omega: OmegaResult) -> str:
    """A plain-language reading of alpha and omega, with the usual caveats, not a verdict."""
    if math.isnan(alpha.alpha):
        return (
            f"Reliability could not be estimated ({alpha.n} complete response(s), {alpha.k} item(s)); "
            "at least 3 complete responses with some variation are needed."
        )
    a = alpha.alpha
    if a < 0.5:
        band = "low: the items do not hang together well as one score"
    elif a < 0.7:
        band = "modest: the items share some variance, but a sum score carries much measurement error"
    elif a < 0.8:
        band = "acceptable by the common .70 convention for research use"
    elif a < 0.9:
        band = "good for comparing groups"
    else:
        band = "very high; some items may be near-redundant"
    parts = [
        f"Alpha is {a:.2f} (95% CI {alpha.ci_low:.2f} to {alpha.ci_high:.2f}, n = {alpha.n}, {alpha.k} items): {band}."
    ]
    if alpha.ci_high - alpha.ci_low > 0.3:
        parts.append("The interval is wide, so the sample says little about the scale's true reliability.")
    if not math.isnan(omega.omega):
        gap = omega.omega - a
        parts.append(
            f"Omega (one-factor model) is {omega.omega:.2f}"
            + (
                "; close to alpha, so the items behave roughly as equally good indicators."
                if abs(gap) < 0.03
                else "; it differs from alpha, which suggests the items are not equally good indicators "
                "(alpha assumes they are)."
            )
        )
    parts.append(
        "Cut-offs such as .70 are conventions (Nunnally 1978; Lance, Butts & Michels 2006), not tests, and a "
        "high alpha does not show that the scale measures one thing (Cortina 1993; Sijtsma 2009)."
    )
    return " ".join(parts)


def scale_reliability(items: pd.DataFrame, scale: str = "", group: str = "all") -> ScaleReliability:
    """Alpha (with CI), standardized alpha, omega total, item-total statistics for one scale's items.

    ``items`` are the reverse-keyed item columns; rows with any missing item are excluded (listwise).
    """
    complete = items.dropna()
    n, k = complete.shape
    alpha = cronbach_alpha(complete)
    omega = mcdonald_omega(complete)
    warnings = []
    label = f"{scale} ({group})" if scale else group
    if n < 3:
        warnings.append(f"{label}: only {n} complete response(s); reliability cannot be estimated")
    elif n < SMALL_N_RELIABILITY:
        warnings.append(
            f"{label}: only {n} complete responses; reliability estimates are very imprecise (see the interval)"
        )
    if omega.note and n >= 3:
        warnings.append(f"{label}: {omega.note}")
    return ScaleReliability(
        scale=scale,
        group=group,
        n=n,
        n_excluded=len(items) - n,
        k=k,
        alpha=alpha,
        omega=omega,
        item_total=item_total_statistics(items),
        interpretation=describe_reliability(alpha, omega),
        warnings=tuple(warnings),
    )


def reliability_by_group(
    data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]
) -> list[ScaleReliability]:
    """:func:`scale_reliability` for every scale of the codebook, for all respondents and per cohort."""
    book = as_codebook(codebook)
    results = []
    for scale in book.scales:
        items = scale_item_frame(data, book, scale.name)
        results.append(scale_reliability(items, scale.name, "all"))
        for cohort in book.cohort_codes:
            mask = (data["cohort"] == cohort).to_numpy()
            results.append(scale_reliability(items[mask], scale.name, cohort))
    return results
