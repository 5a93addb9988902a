"""Measurement checks across answer languages and cohorts: reliability per group and item-level DIF.

Comparing cohorts on a scale assumes the scale measures the same thing in each of them and in each language
version. Two checks, for every scale:

* **Reliability per group**: Cronbach's alpha (Feldt interval) and McDonald's omega
  (:func:`elicit.analysis.reliability.scale_reliability`) per answer language (the export's ``language`` column)
  and per cohort.
* **Differential item functioning (DIF)** by ordinal logistic regression (Zumbo 1999; Swaminathan & Rogers 1990
  for the binary case): for each item of the scale, a proportional-odds model of the item on the rest score (the
  sum of the scale's other items, after reverse keying) is compared with one that adds the group, by a
  likelihood-ratio test of the group term (``G - 1`` degrees of freedom). This is uniform DIF: at the same level of
  the construct, one group answers the item higher. Holm's correction is applied within each scale and
  grouping, and an adjusted p below :data:`DIF_ALPHA` is reported as a warning. The models are fitted with
  statsmodels' ``OrderedModel`` (logit link) on the distinct response patterns, each weighted by its count (the
  same likelihood as on every response, and fast at thousands of responses).

The respondents are those of the cohorts the report shows, with every item of the scale answered (listwise). A
group with fewer than :data:`MIN_GROUP` such respondents, or fewer than the study's k, is "not checked" rather
than given a number: DIF and reliability estimates on a handful of experts say nothing, and a small group's figures
could identify them. Between cohorts, nothing is checked while the report hides a cohort.
"""

from __future__ import annotations

import math
import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel

from elicit.stats.disclosure import ALL, hidden_groups

from .comparisons import holm
from .disclosure import Disclosure
from .export_folder import Codebook
from .reliability import cronbach_alpha, mcdonald_omega
from .scoring import scale_item_frame

__all__ = [
    "DIF_ALPHA",
    "DIF_METHOD",
    "MIN_GROUP",
    "GroupReliability",
    "ItemDif",
    "Measurement",
    "item_dif",
    "language_name",
    "measurement_checks",
    "measurement_results",
]

#: Fewest complete respondents per group for a DIF test or a reliability estimate per group.
MIN_GROUP = 10
#: A Holm-adjusted DIF p-value below this is reported as a warning.
DIF_ALPHA = 0.05
DIF_METHOD = (
    "Uniform DIF by ordinal logistic regression (Zumbo 1999): proportional-odds model (logit) of each item on the "
    "rest score of its scale, likelihood-ratio test of adding the group; Holm (1979) within each scale and grouping; "
    f"respondents with every item of the scale; at least {MIN_GROUP} per group (and the study's k)."
)
#: Names of common answer languages, for the warnings ("in Urdu and English"); other codes are written as such.
LANGUAGES = {
    "en": "English",
    "ur": "Urdu",
    "ar": "Arabic",
    "bn": "Bengali",
    "de": "German",
    "es": "Spanish",
    "fa": "Persian",
    "fr": "French",
    "hi": "Hindi",
    "pa": "Punjabi",
    "ps": "Pashto",
    "ru": "Russian",
    "zh": "Chinese",
}
GROUPINGS = {"language": "answer language", "cohort": "cohort"}
NAN = float("nan")


def language_name(code: str) -> str:
    """``"Urdu"`` for ``"ur"``; the code itself for a language not in :data:`LANGUAGES`."""
    return LANGUAGES.get(code.split("-")[0].lower(), code)


@dataclass(frozen=True)
class GroupReliability:
    """Alpha and omega of one scale in one group (an answer language or a cohort), or why it was not checked."""

    scale: str
    by: str
    group: str
    n: int | None = None
    alpha: float = NAN
    alpha_ci: tuple[float, float] = (NAN, NAN)
    omega: float = NAN
    note: str = ""


@dataclass(frozen=True)
class ItemDif:
    """The DIF test of one item between the groups of one grouping (``note`` says why when it was not checked)."""

    scale: str
    item: str
    by: str
    groups: tuple[str, ...] = ()
    n: Mapping[str, int] = field(default_factory=dict)
    lr: float = NAN
    df: int = 0
    p: float = NAN
    p_holm: float = NAN
    log_odds: Mapping[str, float] = field(
        default_factory=dict
    )  # each group against the first, at equal rest score
    note: str = ""

    @property
    def detected(self) -> bool:
        return not math.isnan(self.p_holm) and self.p_holm < DIF_ALPHA


@dataclass(frozen=True)
class Measurement:
    """The measurement checks of every scale: reliability per group, DIF per item, and what was not checked."""

    reliability: tuple[GroupReliability, ...] = ()
    dif: tuple[ItemDif, ...] = ()
    not_checked: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class _CountedOrderedModel(OrderedModel):  # type: ignore[misc]  # statsmodels has no type hints
    """``OrderedModel`` on distinct response patterns, each weighted by how often it occurs (frequency weights)."""

    def __init__(self, endog: np.ndarray, exog: np.ndarray, counts: np.ndarray) -> None:
        super().__init__(endog, exog, distr="logit")
        self.counts = np.asarray(counts, dtype="float64")

    def loglike(self, params: np.ndarray) -> float:
        return float((self.counts * self.loglikeobs(params)).sum())

    def score(self, params: np.ndarray) -> np.ndarray:
        """The analytic gradient of :meth:`loglike` (statsmodels differentiates numerically, seven times slower).

        With ``eta = x b``, an answer in category ``j`` has ``p = F(t_j - eta) - F(t_(j-1) - eta)``; the
        thresholds are ``t_0 = a_0`` and ``t_m = t_(m-1) + exp(a_m)``, as ``transform_threshold_params``.
        """
        inner = self.k_levels - 1
        slopes, raw = params[:-inner], params[-inner:]
        thresholds = self.transform_threshold_params(params)
        answer = np.asarray(self.endog, dtype=int)
        eta = self.exog @ slopes
        low, high = thresholds[answer] - eta, thresholds[answer + 1] - eta
        density_low, density_high = self.pdf(low), self.pdf(high)
        weight = self.counts / np.maximum(self.cdf(high) - self.cdf(low), 1e-300)
        by_slope = -(weight * (density_high - density_low)) @ self.exog
        by_threshold = np.zeros(inner)  # d loglike / d t_m
        upper, lower = answer < inner, answer > 0
        np.add.at(by_threshold, answer[upper], (weight * density_high)[upper])
        np.add.at(by_threshold, answer[lower] - 1, -(weight * density_low)[lower])
        by_raw = np.cumsum(by_threshold[::-1])[::-1] * np.concatenate([[1.0], np.exp(raw[1:])])
        return np.asarray(np.concatenate([by_slope, by_raw]), dtype="float64")

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The logistic cdf, as ``distr="logit"`` (scipy.special's, without scipy.stats' per-call overhead)."""
        return np.asarray(special.expit(x))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        p = special.expit(x)
        return np.asarray(p * (1 - p))


def _ordered_fit(
    y: np.ndarray, exog: np.ndarray, start: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """The maximised log-likelihood (NaN if the fit fails) and the parameters (slopes, then thresholds) of the
    proportional-odds model of ``y`` on ``exog``, fitted on the distinct patterns of (y, exog) weighted by their
    counts, from ``start`` if given."""
    patterns, counts = np.unique(np.column_stack([y, exog]), axis=0, return_counts=True)
    model = _CountedOrderedModel(patterns[:, 0], patterns[:, 1:], counts)
    with _warnings.catch_warnings(), np.errstate(all="ignore"):
        _warnings.simplefilter("ignore")  # convergence and Hessian warnings: judged by the result instead
        fitted = model.fit(start_params=start, method="bfgs", disp=False, maxiter=500, skip_hessian=True)
    converged = bool(fitted.mle_retvals.get("converged", False))
    llf = float(fitted.llf) if converged and math.isfinite(fitted.llf) else NAN
    return llf, np.asarray(fitted.params, dtype="float64")


def item_dif(y: Any, rest: Any, group: Any) -> dict[str, Any]:
    """Uniform DIF of one item: LR test of ``group`` in the proportional-odds model ``y ~ rest + group``.

    Returns ``lr``, ``df``, ``p`` and ``log_odds`` (each group's coefficient against the first in sorted order,
    from the full model), or ``note`` when the models cannot be fitted (an item or rest score that does not vary,
    a model that does not converge).
    """
    y_values = np.asarray(y, dtype="float64")
    rest_values = np.asarray(rest, dtype="float64")
    labels = pd.Series(np.asarray(group)).astype(str)
    levels = sorted(labels.unique())
    if np.unique(y_values).size < 2:
        return {"note": "not checked: every answer to the item is the same"}
    if np.unique(rest_values).size < 2:
        return {"note": "not checked: the rest score does not vary"}
    if len(levels) < 2:
        return {"note": "not checked: one group only"}
    dummies = np.column_stack([(labels == level).to_numpy(dtype="float64") for level in levels[1:]])
    try:
        reduced, start = _ordered_fit(y_values, rest_values[:, None])
        begin = np.concatenate([start[:1], np.zeros(dummies.shape[1]), start[1:]])  # the group terms at 0
        full, params = _ordered_fit(y_values, np.column_stack([rest_values, dummies]), begin)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return {"note": f"not checked: the ordinal model could not be fitted ({exc})"}
    if math.isnan(reduced) or math.isnan(full):
        return {
            "note": "not checked: the ordinal model did not converge (too few answers in some categories)"
        }
    lr = max(0.0, 2 * (full - reduced))
    df = len(levels) - 1
    return {
        "lr": lr,
        "df": df,
        "p": float(stats.chi2.sf(lr, df)),
        "log_odds": dict(zip(levels[1:], (float(v) for v in params[1 : len(levels)]), strict=True)),
        "reference": levels[0],
    }


def _groups_label(by: str, groups: Sequence[str]) -> str:
    names = [language_name(g) if by == "language" else g for g in groups]
    return " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1]


def _p_text(p: float) -> str:
    """'p = .024' or 'p < .001', as the report writes p-values."""
    return "p < .001" if p < 0.001 else "p = " + f"{p:.3f}".replace("0.", ".", 1)


def _minimum(disclosure: Disclosure) -> int:
    return max(MIN_GROUP, disclosure.k or 0)


def _scale_dif(
    scale: str, items: pd.DataFrame, group: pd.Series, by: str, disclosure: Disclosure
) -> tuple[list[ItemDif], list[str]]:
    """DIF of every item of one scale between the groups of ``group`` (complete cases), Holm within the scale."""
    complete = items.notna().all(axis=1) & group.notna()
    keyed, labels = items[complete], group[complete].astype(str)
    sizes = labels.value_counts()
    minimum = _minimum(disclosure)
    small = [g for g in sorted(sizes.index) if sizes[g] < minimum]
    kept = [g for g in sorted(sizes.index) if sizes[g] >= minimum]
    not_checked: list[str] = []
    what = GROUPINGS[by]
    if small:
        names = ", ".join(language_name(g) if by == "language" else g for g in small)
        not_checked.append(
            f"{scale}: DIF by {what} not checked for {names}: fewer than {minimum} respondents with every item "
            f"of the scale (at least {MIN_GROUP}, and the study's k, per group)"
        )
    if len(kept) < 2:
        return [], not_checked
    inside = labels.isin(kept)
    keyed, labels = keyed[inside], labels[inside]
    n = {g: int(sizes[g]) for g in kept}
    results: list[ItemDif] = []
    for item in items.columns:
        rest = keyed.drop(columns=[item]).sum(axis=1)
        fitted = item_dif(keyed[item].to_numpy(), rest.to_numpy(), labels.to_numpy())
        results.append(
            ItemDif(
                scale=scale,
                item=str(item),
                by=by,
                groups=tuple(kept),
                n=n,
                lr=fitted.get("lr", NAN),
                df=int(fitted.get("df", 0)),
                p=fitted.get("p", NAN),
                log_odds=fitted.get("log_odds", {}),
                note=fitted.get("note", ""),
            )
        )
    tested = [i for i, r in enumerate(results) if not math.isnan(r.p)]
    if tested:
        for i, adjusted in zip(tested, holm([results[i].p for i in tested]), strict=True):
            r = results[i]
            results[i] = ItemDif(
                r.scale, r.item, r.by, r.groups, r.n, r.lr, r.df, r.p, adjusted, r.log_odds, r.note
            )
    return results, not_checked


def _scale_reliability(
    scale: str, items: pd.DataFrame, group: pd.Series, by: str, disclosure: Disclosure
) -> list[GroupReliability]:
    """Alpha and omega of one scale per group; a group below the minimum or hidden by k is "not checked"."""
    complete = items.notna().all(axis=1)
    labels = group.astype(str).where(group.notna())
    sizes = {str(g): int(((labels == g) & complete).sum()) for g in sorted(labels.dropna().unique())}
    hidden = hidden_groups({**sizes, ALL: int(complete[labels.notna()].sum())}, disclosure.k)
    found = []
    for name, n in sizes.items():
        if name in hidden:
            reason = (
                f"fewer than k = {disclosure.k} complete respondents"
                if disclosure.is_small(n)
                else "its figures would give back a group of fewer than k"
            )
            found.append(GroupReliability(scale, by, name, note=f"not checked: {reason}"))
        elif n < MIN_GROUP:
            found.append(
                GroupReliability(
                    scale,
                    by,
                    name,
                    n,
                    note=f"not checked: {n} complete respondents (at least {MIN_GROUP} needed)",
                )
            )
        else:
            rows = items[(labels == name).to_numpy() & complete.to_numpy()]
            alpha, omega = cronbach_alpha(rows), mcdonald_omega(rows)
            found.append(
                GroupReliability(scale, by, name, n, alpha.alpha, (alpha.ci_low, alpha.ci_high), omega.omega)
            )
    return found


def measurement_checks(
    data: pd.DataFrame, book: Codebook, disclosure: Disclosure, cohorts: Sequence[str]
) -> Measurement:
    """Reliability per answer language and per cohort, and DIF between languages and between cohorts, for every
    scale; on the respondents of ``cohorts`` (those the report shows)."""
    if not book.scales:
        return Measurement()
    shown = data[data["cohort"].astype(str).isin([str(c) for c in cohorts])].reset_index(drop=True)
    reliability: list[GroupReliability] = []
    dif: list[ItemDif] = []
    not_checked: list[str] = []
    warnings: list[str] = []
    languages = shown["language"] if "language" in shown else pd.Series([None] * len(shown), dtype="object")
    spoken = sorted(languages.dropna().astype(str).unique())
    if len(spoken) < 2:
        answered = language_name(spoken[0]) if spoken else "no recorded language"
        not_checked.append(f"Every respondent answered in {answered}: nothing to compare between languages.")
    if len(cohorts) < 2:
        not_checked.append("Fewer than two cohorts are shown: nothing to compare between cohorts.")
    for scale in book.scales:
        items = scale_item_frame(shown, book, scale.name).reset_index(drop=True)
        for by, group in (("language", languages.reset_index(drop=True)), ("cohort", shown["cohort"])):
            if by == "language" and len(spoken) < 2 or by == "cohort" and len(cohorts) < 2:
                continue
            reliability.extend(_scale_reliability(scale.name, items, group, by, disclosure))
            found, skipped = _scale_dif(scale.name, items, group, by, disclosure)
            dif.extend(found)
            not_checked.extend(skipped)
    for r in dif:
        if r.detected:
            warnings.append(
                f"Item {r.item} may not measure the same in {_groups_label(r.by, r.groups)}: DIF {_p_text(r.p_holm)} "
                f"(Holm within scale {r.scale}; ordinal logistic regression on the rest score), so differences "
                f"between these groups on scale {r.scale} may partly reflect the item rather than the construct."
            )
    return Measurement(tuple(reliability), tuple(dif), tuple(not_checked), tuple(warnings))


def measurement_results(result: Measurement) -> dict[str, Any]:
    """The ``measurement`` block of ``results.json``."""
    scales: dict[str, Any] = {}
    for r in result.reliability:
        block = scales.setdefault(r.scale, {"reliability": {}, "dif": {}})
        block["reliability"].setdefault(f"by_{r.by}", {})[r.group] = (
            {"note": r.note, "n": r.n}
            if r.note
            else {"n": r.n, "alpha": r.alpha, "alpha_ci": list(r.alpha_ci), "omega": r.omega}
        )
    for d in result.dif:
        block = scales.setdefault(d.scale, {"reliability": {}, "dif": {}})
        entry: dict[str, Any] = {"groups": list(d.groups), "n": dict(d.n)}
        if d.note:
            entry["note"] = d.note
        else:
            entry.update(
                lr_chi2=d.lr,
                df=d.df,
                p=d.p,
                p_holm=d.p_holm,
                log_odds_vs=d.groups[0],
                log_odds=dict(d.log_odds),
                detected=d.detected,
            )
        block["dif"].setdefault(f"by_{d.by}", {})[d.item] = entry
    return {
        "reliability_method": "Cronbach's alpha (Feldt 95% interval) and McDonald's omega total, per group, "
        f"respondents with every item of the scale; at least {MIN_GROUP} per group",
        "dif_method": DIF_METHOD,
        "groupings": {
            f"by_{key}": label for key, label in GROUPINGS.items()
        },  # "cohort" keys hold codes only
        "scales": scales,
        "not_checked": list(result.not_checked),
        "warnings": list(result.warnings),
    }
