"""Descriptive statistics per item (variable) and cohort, chosen by the item's analysis kind.

Numbers (the kinds of :data:`~elicit.analysis.export_folder.NUMERIC_KINDS`) get n, median, quartiles, mean, sd,
minimum and maximum; ordinal items also their counts per code; nominal items their counts per choice; dates the
earliest, median and latest date. Quantiles (median, quartiles) use the linear interpolation of Hyndman & Fan
(1996) type 7 (the default of R and numpy). Standard deviations use ``n - 1``. Item values are reported as
answered (before reverse keying); scale scores are reverse-keyed by construction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .export_folder import NUMERIC_KINDS, Codebook, Item, Kind, as_codebook

__all__ = [
    "ALL",
    "choice_counts",
    "date_descriptives",
    "describe",
    "describe_dates",
    "item_descriptives",
    "item_distribution",
    "sample_overview",
]

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

    Columns: ``variable``, ``item``, ``part``, ``type``, ``analysis``, ``cohort``, then the fields of
    :func:`describe`.
    """
    rows = [
        {
            "variable": column,
            "item": item.id,
            "part": item.part_of(column) if column != item.id else "",
            "type": item.type,
            "analysis": item.analysis.value,
            "cohort": group,
            **describe(frame[column]),
        }
        for item, column, group, frame in _columns_by_group(data, codebook, *sorted(NUMERIC_KINDS))
    ]
    return pd.DataFrame(rows)


def _columns_by_group(
    data: pd.DataFrame, codebook: Codebook | Mapping[str, Any], *kinds: str
) -> Iterator[tuple[Item, str, str, pd.DataFrame]]:
    """Each column of the items of ``kinds`` (direct identifiers never), with each group's rows: all, then cohorts."""
    book = as_codebook(codebook)
    for item in book.items_of_kind(*kinds):
        if item.privacy == "direct_identifier":
            continue
        for column in item.columns:
            if column in data.columns:
                for group, frame in _groups(data, book.cohort_codes):
                    yield item, column, group, frame


def item_distribution(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]) -> pd.DataFrame:
    """Counts and percentages (of valid answers) per code of every ordinal (Likert) item, all and per cohort.

    Every declared choice appears, also with a count of zero.
    """
    book = as_codebook(codebook)
    rows = []
    for item in book.items_of_kind(Kind.ORDINAL):
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


def choice_counts(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]) -> pd.DataFrame:
    """Counts and percentages (of valid answers) per choice of every nominal item, all and per cohort (tidy).

    Columns: ``variable``, ``item``, ``type``, ``cohort``, ``code``, ``label``, ``count``, ``percent``, ``n`` (the
    group's valid answers) and ``missing``. Every declared choice appears in the codebook's order, also with a count
    of zero; an answer outside the declared choices (a binned number below or above its bins, or an item the
    codebook gives no choices) follows them, in code order. ``data`` holds the codes as :func:`load_export`
    leaves them.
    """
    book = as_codebook(codebook)
    rows = []
    for item in book.items_of_kind(Kind.NOMINAL):
        if item.privacy == "direct_identifier":
            continue
        for column in item.columns:
            if column not in data.columns:
                continue
            answered = data[column].dropna().astype(str)
            declared = [c.code for c in item.choices]
            codes = declared + sorted(set(answered) - set(declared))
            for group, frame in _groups(data, book.cohort_codes):
                values = frame[column].dropna().astype(str)
                n = int(values.size)
                tally = values.value_counts()
                for code in codes:
                    count = int(tally.get(code, 0))
                    rows.append(
                        {
                            "variable": column,
                            "item": item.id,
                            "type": item.type,
                            "cohort": group,
                            "code": code,
                            "label": item.label_of(code),
                            "count": count,
                            "percent": 100 * count / n if n else math.nan,
                            "n": n,
                            "missing": int(len(frame) - n),
                        }
                    )
    return pd.DataFrame(rows)


def describe_dates(values: Any) -> dict[str, Any]:
    """n, missing, earliest, median and latest of a column of ISO dates (``YYYY-MM-DD``; missing values skipped).

    The median is that of the days (Hyndman & Fan type 7, i.e. the middle date, or for an even n the midpoint of
    the two middle dates), given as the day the midpoint falls on, as R's ``median()`` of a ``Date`` prints it.
    The dates are ``YYYY-MM-DD`` text (None where no date was given).
    """
    series = pd.Series(values, dtype="object")
    valid = [dt.date.fromisoformat(str(v)) for v in series if v is not None and not pd.isna(v)]
    if not valid:
        return {"n": 0, "missing": int(series.size), "earliest": None, "median": None, "latest": None}
    days = np.array([d.toordinal() for d in valid], dtype="float64")
    middle = dt.date.fromordinal(math.floor(float(np.percentile(days, 50))))
    return {
        "n": len(valid),
        "missing": int(series.size - len(valid)),
        "earliest": min(valid).isoformat(),
        "median": middle.isoformat(),
        "latest": max(valid).isoformat(),
    }


def date_descriptives(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]) -> pd.DataFrame:
    """Earliest, median and latest answer of every date item, for all respondents and per cohort (tidy).

    Columns: ``variable``, ``item``, ``type``, ``cohort``, then the fields of :func:`describe_dates`.
    """
    rows = [
        {
            "variable": column,
            "item": item.id,
            "type": item.type,
            "cohort": group,
            **describe_dates(frame[column]),
        }
        for item, column, group, frame in _columns_by_group(data, codebook, Kind.DATE)
    ]
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
