"""Constant-sum allocations, rankings, quantile judgements and single ordinal items, by cohort."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .comparisons import between_groups
from .descriptives import ALL, describe
from .export_folder import Item

__all__ = ["allocation_shares", "allocations", "quantile_judgements", "rankings", "single_items"]


def _groups(frame: pd.DataFrame, cohorts: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    return [(ALL, frame)] + [(code, frame[frame["cohort"] == code]) for code in cohorts]


def allocation_shares(data: pd.DataFrame, item: Item) -> pd.DataFrame:
    """Points of a constant-sum item as percentages of each respondent's total (``respondent``, ``cohort``, parts).

    A respondent who allocated nothing has missing shares.
    """
    parts = [c for c in item.columns if c in data.columns]
    points = data[parts].astype("float64")
    total = points.sum(axis=1, min_count=1)
    shares = points.div(total.where(total > 0), axis=0) * 100
    shares.columns = [item.part_of(c) for c in parts]
    return pd.concat(
        [data[["respondent", "cohort"]].reset_index(drop=True), shares.reset_index(drop=True)], axis=1
    )


def allocations(data: pd.DataFrame, item: Item, cohorts: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shares of a constant-sum item per part and cohort, and their between-cohort comparison.

    Returns ``(summary, tests)``: ``summary`` has ``part``, ``label``, ``cohort`` and the :func:`describe` fields
    of the share (in % of the respondent's total); ``tests`` is :func:`between_groups` per part (Mann–Whitney with
    Holm correction across the parts). The parts of a composition are not independent (Aitchison 1986): when one
    share rises another must fall, so the tests describe each share, not separate effects.
    """
    shares = allocation_shares(data, item)
    parts = [c for c in shares.columns if c not in ("respondent", "cohort")]
    rows = []
    for part in parts:
        for group, frame in _groups(shares, cohorts):
            rows.append(
                {
                    "item": item.id,
                    "part": part,
                    "label": item.label_of(part),
                    "cohort": group,
                    **describe(frame[part]),
                }
            )
    tests = between_groups(shares, parts, groups=cohorts)
    if len(tests):
        tests.insert(0, "item", item.id)
    return pd.DataFrame(rows), tests


def rankings(data: pd.DataFrame, item: Item, cohorts: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and median rank and the share of experts ranking each choice first, per cohort; tests on ranks.

    Rank 1 is first. ``tests`` compares the ranks of each choice between cohorts (Mann–Whitney, Holm across the
    choices).
    """
    columns = [c for c in item.columns if c in data.columns]
    frame = data[["respondent", "cohort", *columns]].copy()
    frame.columns = ["respondent", "cohort", *[item.part_of(c) for c in columns]]
    parts = [item.part_of(c) for c in columns]
    rows = []
    for part in parts:
        for group, sub in _groups(frame, cohorts):
            ranks = sub[part].dropna()
            answered = sub[parts].notna().any(axis=1).sum()
            stats_ = describe(ranks)
            rows.append(
                {
                    "item": item.id,
                    "part": part,
                    "label": item.label_of(part),
                    "cohort": group,
                    "n": stats_["n"],
                    "mean_rank": stats_["mean"],
                    "median_rank": stats_["median"],
                    "first_count": int((ranks == 1).sum()),
                    "first_percent": 100 * float((ranks == 1).sum()) / answered if answered else float("nan"),
                }
            )
    tests = between_groups(frame, parts, groups=cohorts)
    if len(tests):
        tests.insert(0, "item", item.id)
    return pd.DataFrame(rows), tests


def quantile_judgements(
    data: pd.DataFrame, item: Item, cohorts: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Median and spread of the experts' quantile answers (e.g. 5/50/95%) per cohort.

    ``summary`` has one row per level (``q05``, ``q50``, ``q95``, and ``width`` = highest minus lowest level, the
    expert's stated uncertainty) and cohort with the :func:`describe` fields. ``tests`` compares the central
    quantile and the width between cohorts (Mann–Whitney, Holm across the two).
    """
    columns = [c for c in item.columns if c in data.columns]
    frame = data[["respondent", "cohort", *columns]].copy()
    frame.columns = ["respondent", "cohort", *[item.part_of(c) for c in columns]]
    parts = [item.part_of(c) for c in columns]
    if len(parts) >= 2:
        frame["width"] = frame[parts[-1]] - frame[parts[0]]
    rows = []
    for part in [*parts, *(["width"] if "width" in frame else [])]:
        for group, sub in _groups(frame, cohorts):
            rows.append({"item": item.id, "level": part, "cohort": group, **describe(sub[part])})
    central = parts[len(parts) // 2] if parts else None
    compare = [p for p in (central, "width") if p is not None and p in frame]
    tests = between_groups(frame, compare, groups=cohorts)
    if len(tests):
        tests.insert(0, "item", item.id)
    return pd.DataFrame(rows), tests


def single_items(data: pd.DataFrame, items: Sequence[Item], cohorts: Sequence[str]) -> pd.DataFrame:
    """Between-cohort comparison of ordinal items that belong to no scale (Mann–Whitney each, Holm across them)."""
    columns = [item.id for item in items if item.id in data.columns]
    if not columns:
        return pd.DataFrame()
    frame = data[["respondent", "cohort", *columns]].copy()
    frame[columns] = frame[columns].astype("float64")
    return between_groups(frame, columns, groups=cohorts)
