"""Descriptive statistics per item (variable) and cohort.

Quantiles (median, quartiles) use the linear interpolation of Hyndman & Fan (1996) type 7 (the default of R
and numpy). Standard deviations use ``n - 1``. Item values are reported as answered (before reverse keying);
scale scores are reverse-keyed by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .export_folder import Codebook, as_codebook

__all__ = ["ALL", "describe", "item_distribution", "item_descriptives", "sample_overview"]

#: Label of the group holding every respondent.
ALL = "all"


def _groups(data: pd.DataFrame, cohorts: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    return [(ALL, data)] + [(code, data[data["cohort"] == code]) for code in cohorts]


def describe(values: Any) -> dict[str, float]:
    """n, missing, median, quartiles, IQR, mean, sd, min and max of one variable."""
    series = pd.to_numeric(pd.Series(values), errors="coerce")
    valid = series.dropna().to_numpy(dtype="float64")
    n = int(valid.size)
    nan = float("nan")
    q1, median, q3 = np.percentile(valid, [25, 50, 75]).tolist() if n else [nan, nan, nan]
    return {
        "n": n,
        "missing": int(series.size - n),
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "mean": float(valid.mean()) if n else nan,
        "sd": float(valid.std(ddof=1)) if n > 1 else nan,
        "min": float(valid.min()) if n else nan,
        "max": float(valid.max()) if n else nan,
    }


def item_descriptives(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]) -> pd.DataFrame:
    """Descriptives of every numeric variable, for all respondents and per cohort (tidy, one row each).

    Columns: ``variable``, ``item``, ``part``, ``type``, ``cohort``, then the fields of :func:`describe`.
    """
    book = as_codebook(codebook)
    rows = []
    for item in book.items_of_type("likert", "integer", "decimal", "constant_sum", "ranking", "quantiles"):
        if item.privacy == "direct_identifier":
            continue
        for column in item.columns:
            if column not in data.columns:
                continue
            for group, frame in _groups(data, book.cohort_codes):
                rows.append(
                    {
                        "variable": column,
                        "item": item.id,
                        "part": item.part_of(column) if column != item.id else "",
                        "type": item.type,
                        "cohort": group,
                        **describe(frame[column]),
                    }
                )
    return pd.DataFrame(rows)


def item_distribution(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]) -> pd.DataFrame:
    """Counts and percentages (of valid answers) per choice of every Likert item, all and per cohort.

    Every declared choice appears, also with a count of zero.
    """
    book = as_codebook(codebook)
    rows = []
    for item in book.items_of_type("likert"):
        if item.id not in data.columns:
            continue
        for group, frame in _groups(data, book.cohort_codes):
            values = frame[item.id].dropna()
            total = int(values.size)
            for choice in item.choices:
                count = int((values == choice.value).sum())
                rows.append(
                    {
                        "item": item.id,
                        "cohort": group,
                        "code": choice.code,
                        "value": choice.value,
                        "label": choice.label,
                        "count": count,
                        "percent": 100 * count / total if total else float("nan"),
                        "n_valid": total,
                    }
                )
    return pd.DataFrame(rows)


def sample_overview(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]) -> pd.DataFrame:
    """Who answered: responses per cohort with instrument versions, languages and submission dates."""
    book = as_codebook(codebook)
    rows = []
    for group, frame in _groups(data, book.cohort_codes):
        label = "All respondents" if group == ALL else next(c.label for c in book.cohorts if c.code == group)

        def values(column: str, frame: pd.DataFrame = frame) -> str:
            if column not in frame.columns:
                return ""
            return ", ".join(sorted(str(v) for v in frame[column].dropna().unique()))

        dates = (
            frame["submitted_on"].dropna().astype(str) if "submitted_on" in frame.columns else pd.Series([])
        )
        rows.append(
            {
                "cohort": group,
                "label": label,
                "n": int(len(frame)),
                "instrument_versions": values("instrument_version"),
                "languages": values("language"),
                "first_submitted": dates.min() if len(dates) else "",
                "last_submitted": dates.max() if len(dates) else "",
            }
        )
    return pd.DataFrame(rows)
