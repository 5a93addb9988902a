"""Constant-sum and ranking items between cohorts: one joint permutation test per item, then each part.

A constant-sum item's shares, and a ranking's ranks, are one answer each: the parts add up to the total (or to
``1 + 2 + ... + k``), so a test per part repeats one comparison several times and Holm over parts that sum to a
constant does not make them separate questions. Each item therefore gets **one** joint test between cohorts
(:func:`elicit.stats.compositional.permutation_between`): on the centred log-ratio coordinates of the shares after
multiplicative zero replacement (PERMANOVA with the Aitchison distance), or on the rank vectors (Euclidean
distance). The tests per part come from the same permutations and are labelled follow-ups, Holm-adjusted across
the parts, to be read where the joint test rejects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from elicit.stats.compositional import (
    DELTA_FRACTION,
    centre,
    clr,
    multiplicative_replacement,
    permutation_between,
    zero_replacement_delta,
)

from .comparisons import holm

__all__ = [
    "COMPOSITION_METHOD",
    "RANKING_METHOD",
    "composition_coordinates",
    "group_centres",
    "joint_tests",
    "results_block",
]

COMPOSITION_METHOD = (
    "Shares of each expert's total, analysed as compositions (Aitchison 1986): zeros replaced multiplicatively "
    f"(Martín-Fernández, Barceló-Vidal & Pawlowsky-Glahn 2003) by delta = {DELTA_FRACTION} x the detection limit "
    "(the smallest non-zero share given to the item, at most 1/D for D parts), then centred log-ratio (clr) "
    "coordinates. One joint permutation test between cohorts on the clr vectors: PERMANOVA pseudo-F (Anderson "
    "2001) with the Aitchison distance, permuting the respondents' cohort labels (exact over every labelling for "
    "two cohorts up to 200,000 labellings, otherwise 20,000 seeded Monte Carlo labellings). Per-part follow-ups: the same permutations on "
    "each clr coordinate, Holm across the parts; read them where the joint test rejects. The centre is the "
    "closed geometric mean of the parts."
)
RANKING_METHOD = (
    "One joint permutation test between cohorts on the experts' complete rank vectors: the between-cohort sum of "
    "squares of the ranks (PERMANOVA pseudo-F with Euclidean distance, Anderson 2001; for two cohorts a monotone "
    "function of the distance between their mean rank vectors), permuting the respondents' cohort labels (exact "
    "over every labelling for two cohorts up to 200,000 labellings, otherwise 20,000 seeded Monte Carlo "
    "labellings). Per-choice follow-ups "
    "from the same permutations, Holm across the choices; read them where the joint test rejects."
)


def composition_coordinates(shares: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, float, int]:
    """Compositions of the rows of ``shares`` (parts in columns; rows with a missing part are dropped).

    Returns ``(replaced, coordinates, delta, zeros)``: the closed compositions after multiplicative zero
    replacement, their clr coordinates (both indexed as the kept rows), the delta used and the number of zero
    parts replaced.
    """
    complete = shares.dropna()
    if complete.empty:
        empty = complete.astype("float64")
        return empty, empty, float("nan"), 0
    values = complete.to_numpy(dtype="float64")
    delta = zero_replacement_delta(values)
    replaced = multiplicative_replacement(values, delta)
    frame = pd.DataFrame(replaced, index=complete.index, columns=complete.columns)
    coordinates = pd.DataFrame(clr(replaced), index=complete.index, columns=complete.columns)
    return frame, coordinates, delta, int((values == 0).sum())


def group_centres(replaced: pd.DataFrame, groups: pd.Series) -> dict[str, pd.Series]:
    """The centre (closed geometric mean, in % of the total) of the compositions of each group."""
    out = {}
    for group in dict.fromkeys(groups):
        rows = replaced[groups == group]
        if len(rows):
            out[str(group)] = pd.Series(100 * centre(rows.to_numpy()), index=replaced.columns)
    return out


def joint_tests(
    values: pd.DataFrame,
    cohort: pd.Series,
    cohorts: Sequence[str],
    *,
    item: str,
    labels: dict[str, str],
    test: str,
    effect_size_name: str,
    distance_name: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One joint permutation test of the rows of ``values`` (complete coordinates) between ``cohorts``, and the
    follow-up per column; ``(joint, follow_up)``, each with an ``n_<cohort>`` column per cohort.

    Empty frames when fewer than two cohorts or a cohort with fewer than two respondents would be compared.
    """
    keep = cohort.isin(cohorts)
    values, cohort = values[keep], cohort[keep].astype(str)
    sizes = {c: int((cohort == c).sum()) for c in cohorts}
    if len(cohorts) < 2 or min(sizes.values(), default=0) < 2:
        return pd.DataFrame(), pd.DataFrame()
    result = permutation_between(values.to_numpy(dtype="float64"), cohort.tolist())
    counts = {f"n_{c}": n for c, n in sizes.items()}
    means = {c: values[cohort == c].mean() for c in cohorts}
    two = len(cohorts) == 2
    distance = float(np.linalg.norm(means[cohorts[0]] - means[cohorts[1]])) if two else float("nan")
    joint = pd.DataFrame(
        [
            {
                "item": item,
                "variable": item,
                "role": "joint",
                "test": test,
                "statistic": result.statistic,
                "statistic_name": "pseudo-F",
                "between_ss": result.between_ss,
                "p": result.p,
                "p_method": result.method,
                "distance": distance,
                "distance_name": distance_name if two else None,
                **counts,
            }
        ]
    )
    adjusted = holm(list(result.part_p))
    rows = []
    for position, part in enumerate(values.columns):
        rows.append(
            {
                "item": item,
                "variable": part,
                "label": labels.get(part, part),
                "role": "follow-up",
                "test": "permutation follow-up",
                "statistic": result.part_ss[position],
                "statistic_name": "between-cohort sum of squares",
                "p": result.part_p[position],
                "p_holm": adjusted[position],
                "p_method": result.method,
                "effect_size": float(means[cohorts[0]][part] - means[cohorts[1]][part])
                if two
                else float("nan"),
                "effect_size_name": f"{effect_size_name} ({cohorts[0]} minus {cohorts[1]})" if two else None,
                **{f"mean_{c}": float(means[c][part]) for c in cohorts},
                **counts,
            }
        )
    return joint, pd.DataFrame(rows)


def results_block(comparisons: Sequence[Any], cohorts: Sequence[str], method: str) -> dict[str, Any]:
    """``results.json``'s entry for the constant-sum or ranking items: per item its summary, the joint test and the
    follow-ups per part (each with its p-value's method and the respondents per cohort)."""
    block: dict[str, Any] = {}
    for comparison in comparisons:
        joint = comparison.joint.to_dict(orient="records") if len(comparison.joint) else []
        follow = comparison.tests.to_dict(orient="records") if len(comparison.tests) else []

        def entry(row: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
            return {
                **{key: row.get(key) for key in keys},
                "groups": list(cohorts),
                "n": {c: row.get(f"n_{c}") for c in cohorts},
            }

        block[comparison.item.id] = {
            "summary": comparison.summary.to_dict(orient="records") if len(comparison.summary) else [],
            "method": method,
            "joint_test": (
                entry(
                    joint[0],
                    (
                        "test",
                        "statistic",
                        "statistic_name",
                        "p",
                        "p_method",
                        "distance",
                        "distance_name",
                        "zero_replacement_delta",
                        "zeros_replaced",
                    ),
                )
                if joint
                else None
            ),
            "follow_up": {
                row["variable"]: {
                    **entry(
                        row,
                        (
                            "label",
                            "test",
                            "statistic",
                            "statistic_name",
                            "p",
                            "p_holm",
                            "p_method",
                            "effect_size",
                            "effect_size_name",
                        ),
                    ),
                    "mean": {c: row.get(f"mean_{c}") for c in cohorts},
                }
                for row in follow
            },
            "follow_up_correction": "Holm across the parts of the item; follow-ups to the joint test",
        }
    return block
