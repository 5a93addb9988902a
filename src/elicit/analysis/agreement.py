"""Agreement among experts.

Design: the *raters* are the experts of a cohort and the *targets* are the Likert items (the items of the scales,
or all Likert items), **as answered**. Reverse keying is for scale scores only: recoding a reverse-worded item as
``min + max - code`` moves its mean across the scale, so a panel that agrees that such an item is low would look,
recoded, as if it rated every item alike, and the ICC and Kendall's W, which read differences between the
targets, would call it disagreeing. High agreement means the experts rate the items alike: order them alike
(consistency) or give them the same values (absolute agreement).

Kendall's W is tested by permuting each expert's ranks (:func:`elicit.stats.exact.friedman_permutation`: W is a
monotone function of Friedman's statistic within one data set, so they share the p-value), exact or seeded Monte
Carlo, and by its chi-square approximation only above ``PERMUTATION_MAX_RATERS`` experts.

Categorical items (single choice, dropdown: kind nominal) that share one set of choices are the targets of
Fleiss' kappa (Fleiss 1971) and Krippendorff's nominal alpha (:func:`categorical_agreement`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd
import pingouin as pg
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from elicit.stats.exact import TOLERANCE, friedman_permutation
from elicit.stats.ranks import KendallW, kendall_w

from .disclosure import Disclosure
from .export_folder import Codebook, Item, Kind

__all__ = [
    "CATEGORICAL_METHOD",
    "KEYING",
    "PERMUTATION_MAX_RATERS",
    "AgreementResult",
    "CategoricalAgreement",
    "KendallW",
    "agreement",
    "categorical_agreement",
    "categorical_item_sets",
    "categorical_agreement_by_cohort",
    "categorical_results",
    "icc_table",
    "kendall_w",
    "kendall_w_test",
    "krippendorff_alpha",
]

#: How the targets enter the agreement statistics (stated in the report and results.json).
KEYING = "as answered"
#: Up to this many experts Kendall's W is tested by permutation; above, by its chi-square approximation.
PERMUTATION_MAX_RATERS = 50
#: ICC forms: pingouin's label -> (Shrout & Fleiss name, McGraw & Wong name, description)
ICC_FORMS: dict[str, tuple[str, str, str]] = {
    "ICC1": ("ICC(1,1)", "one-way random, single", "one-way random effects, single rater"),
    "ICC2": ("ICC(2,1)", "ICC(A,1)", "two-way random, absolute agreement, single rater"),
    "ICC3": ("ICC(3,1)", "ICC(C,1)", "two-way mixed, consistency, single rater"),
    "ICC1k": ("ICC(1,k)", "one-way random, average", "one-way random effects, average of k raters"),
    "ICC2k": ("ICC(2,k)", "ICC(A,k)", "two-way random, absolute agreement, average of k raters"),
    "ICC3k": ("ICC(3,k)", "ICC(C,k)", "two-way mixed, consistency, average of k raters"),
}
#: Fewer raters or targets than this triggers a warning that the agreement statistics say little.
SMALL_RATERS = 5
SMALL_TARGETS = 5


def icc_table(ratings: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """All six intraclass correlations with F tests and 95% confidence intervals.

    ``ratings`` is a targets × raters table without missing values. The forms are those of Shrout & Fleiss
    (1979) — ICC(1,1), ICC(2,1), ICC(3,1) and their averages over k raters — with the McGraw & Wong (1996)
    names (A = absolute agreement, C = consistency); the two-way ones are the forms to read for a fixed panel
    (C) or a panel standing for a population of experts (A). Computed by ``pingouin.intraclass_corr``, whose
    point values and intervals follow McGraw & Wong (1996, Tables 4-7); checked against Shrout & Fleiss (1979,
    Table 4) in the test-suite.
    """
    array = np.asarray(ratings, dtype="float64")
    n_targets, n_raters = array.shape
    columns = [
        "form",
        "shrout_fleiss",
        "mcgraw_wong",
        "description",
        "icc",
        "F",
        "df1",
        "df2",
        "p",
        "ci_low",
        "ci_high",
    ]
    if n_targets < 3 or n_raters < 2 or np.isnan(array).any() or np.nanvar(array) == 0:
        return pd.DataFrame(
            [[form, *names, *([float("nan")] * 7)] for form, names in ICC_FORMS.items()], columns=columns
        )
    long = pd.DataFrame(array).reset_index().melt(id_vars="index", var_name="rater", value_name="rating")
    with _warnings.catch_warnings():
        _warnings.simplefilter(
            "ignore"
        )  # pingouin warns about its own dtype handling; results are unaffected
        table = pg.intraclass_corr(long, targets="index", raters="rater", ratings="rating")
    if confidence != 0.95:
        raise ValueError("only 95% intervals are available for the ICC")
    rows = []
    for (form, names), (_, row) in zip(ICC_FORMS.items(), table.iterrows(), strict=True):
        ci = row["CI95"]
        rows.append(
            [
                form,
                *names,
                float(row["ICC"]),
                float(row["F"]),
                float(row["df1"]),
                float(row["df2"]),
                float(row["pval"]),
                float(ci[0]),
                float(ci[1]),
            ]
        )
    return pd.DataFrame(rows, columns=columns)


KrippendorffLevel = Literal["nominal", "ordinal", "interval", "ratio"]


def krippendorff_alpha(
    ratings: pd.DataFrame | np.ndarray,
    level: KrippendorffLevel = "ordinal",
    value_domain: list[float] | None = None,
) -> float:
    """Krippendorff's alpha for a targets × raters table; missing values allowed.

    ``alpha = 1 - D_o / D_e`` (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"), via the
    ``krippendorff`` package, with the ordinal metric by default. ``value_domain`` should list every code of
    the response scale. Returns NaN when fewer than two pairable values exist or there is no variation.
    """
    array = np.asarray(ratings, dtype="float64").T  # krippendorff wants raters × units
    pairable = (~np.isnan(array)).sum(axis=0) >= 2
    values = array[:, pairable]
    finite = values[~np.isnan(values)]
    if pairable.sum() < 1 or finite.size < 2 or np.unique(finite).size < 2:
        return float("nan")
    domain = value_domain if value_domain is not None else sorted(np.unique(finite).tolist())
    extra = sorted(set(np.unique(finite).tolist()) - set(domain))
    if extra:
        raise ValueError(f"ratings {extra} are outside the value domain {domain}")
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement=level, value_domain=domain))


@dataclass(frozen=True, eq=False)
class AgreementResult:
    """Agreement among the experts of one cohort over a set of items."""

    cohort: str
    targets: tuple[str, ...]
    n_raters: int
    n_raters_complete: int
    icc: pd.DataFrame
    kendall: KendallW
    krippendorff_alpha: float
    warnings: tuple[str, ...] = field(default=())
    #: How ``kendall.p`` was obtained (permutation within experts, exact or Monte Carlo, or chi-square).
    kendall_method: str = ""
    #: The chi-square approximation's p-value, for comparison.
    kendall_p_asymptotic: float = float("nan")
    keying: str = KEYING


def kendall_w_test(ratings: pd.DataFrame | np.ndarray) -> tuple[KendallW, str, float]:
    """Kendall's W of a targets x raters table with its p-value by permutation within raters.

    Returns ``(result, method, p_asymptotic)``: ``result.p`` is the permutation p-value (exact, or seeded Monte
    Carlo) up to :data:`PERMUTATION_MAX_RATERS` raters, the chi-square one above; ``method`` says which.
    """
    result = kendall_w(ratings)
    array = np.asarray(ratings, dtype="float64")
    array = array[:, ~np.isnan(array).any(axis=0)].T  # raters (blocks) x targets
    if math.isnan(result.p):
        return result, "not computed", result.p
    m, n = array.shape
    if m > PERMUTATION_MAX_RATERS:
        return result, f"chi-square approximation (more than {PERMUTATION_MAX_RATERS} experts)", result.p
    permuted = friedman_permutation(array)  # counts the arrangements first: enumerates or samples
    return dataclasses.replace(result, p=float(permuted.p)), permuted.method, result.p


def agreement(items: pd.DataFrame, cohort: str, value_domain: list[float] | None = None) -> AgreementResult:
    """ICC (all forms), Kendall's W and ordinal Krippendorff's alpha among experts (rows of ``items``).

    ``items`` has one row per expert and one column per Likert item, as answered (not reverse-keyed: see the
    module's docstring). The ICC and Kendall's W need complete data and use the experts who answered every item;
    Krippendorff's alpha uses all answers.
    """
    ratings = items.T  # targets × raters
    complete = ratings.loc[:, ratings.notna().all(axis=0)]
    warns = []
    n_raters = ratings.shape[1]
    if complete.shape[1] < SMALL_RATERS:
        warns.append(
            f"{cohort}: agreement rests on {complete.shape[1]} expert(s) with complete answers; with fewer than "
            f"{SMALL_RATERS} the ICC, W and alpha say little"
        )
    if ratings.shape[0] < SMALL_TARGETS:
        warns.append(
            f"{cohort}: only {ratings.shape[0]} item(s) to agree on; agreement statistics are unstable"
        )
    kendall, method, asymptotic = kendall_w_test(complete)
    return AgreementResult(
        cohort=cohort,
        targets=tuple(str(c) for c in items.columns),
        n_raters=n_raters,
        n_raters_complete=int(complete.shape[1]),
        icc=icc_table(complete),
        kendall=kendall,
        krippendorff_alpha=krippendorff_alpha(ratings, "ordinal", value_domain),
        warnings=tuple(warns),
        kendall_method=method,
        kendall_p_asymptotic=asymptotic,
    )


@dataclass(frozen=True, eq=False)
class CategoricalAgreement:
    """Agreement among the experts of one cohort on a set of categorical items with the same choices.

    ``fleiss_kappa`` uses the experts who answered every item (Fleiss' kappa needs the same number of ratings
    per target); it is NaN with ``kappa_note`` saying why when it cannot be given. ``krippendorff_alpha``
    (nominal) uses every answer.
    """

    cohort: str
    items: tuple[str, ...]
    categories: tuple[str, ...]
    n_raters: int
    n_raters_complete: int
    fleiss_kappa: float
    observed_agreement: float
    chance_agreement: float
    krippendorff_alpha: float
    kappa_note: str = ""
    warnings: tuple[str, ...] = field(default=())


def categorical_agreement(
    codes: pd.DataFrame, categories: Sequence[str], cohort: str, *, small: int | None = None
) -> CategoricalAgreement:
    """Fleiss' kappa and Krippendorff's nominal alpha among experts (rows of ``codes``) over items (columns).

    ``codes`` holds the choice codes answered (missing: not answered); ``categories`` lists every declared code,
    so that a choice nobody picked still counts for chance agreement. Fleiss (1971), eq. 2-9: ``kappa = (P - Pe) /
    (1 - Pe)`` with ``P`` the mean proportion of agreeing pairs of raters per item and ``Pe = sum p_j^2``, via
    ``statsmodels.stats.inter_rater.fleiss_kappa``. ``small``: kappa is withheld when fewer experts than this
    (the study's k) answered every item.
    """
    index = {str(code): position for position, code in enumerate(categories)}
    numeric = codes.apply(
        lambda column: column.map(lambda v: index.get(str(v), np.nan) if pd.notna(v) else np.nan)
    )
    numeric = numeric.astype("float64")
    ratings = numeric.T  # items x experts
    answered = ratings.loc[:, ratings.notna().any(axis=0)]
    complete = ratings.loc[:, ratings.notna().all(axis=0)]
    warns = []
    undeclared = int((codes.notna() & numeric.isna()).to_numpy().sum())
    if undeclared:
        warns.append(
            f"{cohort}: {undeclared} answer(s) outside the declared choices are left out of the agreement"
        )
    kappa, observed, chance, note = math.nan, math.nan, math.nan, ""
    if complete.shape[1] < 2:
        note = "fewer than two experts answered every item"
    elif small is not None and complete.shape[1] < small:
        note = f"fewer than {small} experts answered every item (the study's k)"
    else:
        table, _ = aggregate_raters(complete.to_numpy(dtype="int64"), n_cat=len(categories))
        raters = complete.shape[1]
        p_j = table.sum(axis=0) / table.sum()
        observed = float(((table * (table - 1)).sum(axis=1) / (raters * (raters - 1))).mean())
        chance = float((p_j**2).sum())
        if chance >= 1 - TOLERANCE:
            note = "every expert gave every item the same answer: chance agreement is 1, kappa is undefined"
        else:
            kappa = float(fleiss_kappa(table, method="fleiss"))
    if complete.shape[1] < SMALL_RATERS:
        warns.append(
            f"{cohort}: categorical agreement rests on {complete.shape[1]} expert(s) with complete answers; with "
            f"fewer than {SMALL_RATERS} kappa and alpha say little"
        )
    alpha = krippendorff_alpha(answered, "nominal", list(range(len(categories))))
    return CategoricalAgreement(
        cohort=cohort,
        items=tuple(str(c) for c in codes.columns),
        categories=tuple(str(c) for c in categories),
        n_raters=int(answered.shape[1]),
        n_raters_complete=int(complete.shape[1]),
        fleiss_kappa=kappa,
        observed_agreement=observed,
        chance_agreement=chance,
        krippendorff_alpha=alpha,
        kappa_note=note,
        warnings=tuple(warns),
    )


def categorical_item_sets(book: Codebook) -> list[tuple[Item, ...]]:
    """The categorical items agreement is computed on, grouped by their set of choices (two items or more each).

    Items of kind nominal with at least two declared choices that are neither identifiers (a quasi-identifier's
    answers describe the expert, not a judgement) nor a consent (a "no" ends the response, so every answer kept
    is "yes"). Agreement is only defined across targets that share their categories: otherwise chance agreement,
    pooled over the targets, would count choices that no two items offer.
    """
    groups: dict[frozenset[str], list[Item]] = {}
    for item in book.items_of_kind(Kind.NOMINAL):
        if (
            len(item.choices) < 2
            or item.privacy != "none"
            or item.type == "consent"
            or len(item.columns) != 1
        ):
            continue
        groups.setdefault(frozenset(c.code for c in item.choices), []).append(item)
    return [tuple(items) for items in groups.values() if len(items) >= 2]


def categorical_agreement_by_cohort(
    data: pd.DataFrame, book: Codebook, cohorts: Sequence[str], disclosure: Disclosure
) -> tuple[tuple[CategoricalAgreement, ...], bool]:
    """Categorical agreement per cohort shown and per set of items (:func:`categorical_item_sets`), under the
    disclosure rule; ``(results, left_out)`` with ``left_out`` true when a cohort was left out of one set
    because fewer than k of its experts answered there."""
    results, left_out = [], False
    for items in categorical_item_sets(book):
        columns = [item.columns[0] for item in items]
        if any(column not in data.columns for column in columns):
            continue
        categories = [c.code for c in items[0].choices]
        for cohort in (c for c in cohorts if c not in disclosure.hidden):
            rows = data.loc[data["cohort"] == cohort, columns]
            rows.columns = [item.id for item in items]
            result = categorical_agreement(
                rows.reset_index(drop=True), categories, cohort, small=disclosure.k
            )
            if result.n_raters == 0:
                continue
            if disclosure.is_small(result.n_raters) or disclosure.is_small(result.n_raters_complete):
                left_out = True  # the threshold rule alone, as for the Likert agreement: no total to protect
                continue
            results.append(result)
    return tuple(results), left_out


CATEGORICAL_METHOD = (
    "Categorical items (kind nominal: single choice, dropdown) that offer the same choices are the targets, the "
    "experts of a cohort the raters. Fleiss' kappa (Fleiss 1971; statsmodels) on the experts who answered every "
    "item of the set, with P the observed and Pe the chance agreement; Krippendorff's alpha (nominal metric; "
    "Krippendorff 2011) on all answers. Identifiers and consent are not targets."
)


def categorical_results(results: Sequence[CategoricalAgreement]) -> dict[str, object]:
    """``results.json``'s ``categorical_agreement``: the method and, per set of items, each cohort's figures."""
    sets: dict[tuple[str, ...], dict[str, object]] = {}
    for result in results:
        entry = sets.setdefault(
            result.items,
            {"items": list(result.items), "categories": list(result.categories), "by_cohort": {}},
        )
        by_cohort = entry["by_cohort"]
        assert isinstance(by_cohort, dict)  # nosec B101  # narrowing for mypy: set just above
        by_cohort[result.cohort] = {
            "raters": "experts",
            "n_raters": result.n_raters,
            "n_raters_complete": result.n_raters_complete,
            "fleiss_kappa": result.fleiss_kappa,
            "observed_agreement": result.observed_agreement,
            "chance_agreement": result.chance_agreement,
            "kappa_note": result.kappa_note or None,
            "krippendorff_alpha": result.krippendorff_alpha,
            "krippendorff_level": "nominal",
            "warnings": list(result.warnings),
        }
    return {"method": CATEGORICAL_METHOD, "sets": list(sets.values())}
