"""Agreement among experts.

Design: the *raters* are the experts of a cohort and the *targets* are the Likert items (all Likert items of
the instrument after reverse keying, or one scale's items). High agreement means the experts rate the items
alike — order them alike (consistency) or give them the same values (absolute agreement).
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd
import pingouin as pg

from elicit.stats.ranks import KendallW, kendall_w

__all__ = [
    "AgreementResult",
    "KendallW",
    "agreement",
    "icc_table",
    "kendall_w",
    "krippendorff_alpha",
]

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


def agreement(items: pd.DataFrame, cohort: str, value_domain: list[float] | None = None) -> AgreementResult:
    """ICC (all forms), Kendall's W and ordinal Krippendorff's alpha among experts (rows of ``items``).

    ``items`` has one row per expert and one column per Likert item (reverse-keyed). The ICC and Kendall's W
    need complete data and use the experts who answered every item; Krippendorff's alpha uses all answers.
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
    return AgreementResult(
        cohort=cohort,
        targets=tuple(str(c) for c in items.columns),
        n_raters=n_raters,
        n_raters_complete=int(complete.shape[1]),
        icc=icc_table(complete),
        kendall=kendall_w(complete),
        krippendorff_alpha=krippendorff_alpha(ratings, "ordinal", value_domain),
        warnings=tuple(warns),
    )
