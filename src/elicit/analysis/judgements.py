"""Constant-sum allocations, rankings, quantile judgements and single ordinal items, by cohort.

Constant-sum and ranking items are compared between cohorts by one joint test each (:mod:`.compositional`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from elicit.stats.compositional import centre

from .comparisons import between_groups
from .compositional import composition_coordinates, group_centres, joint_tests
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


def allocations(
    data: pd.DataFrame, item: Item, cohorts: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Shares of a constant-sum item per part and cohort, and one joint comparison between cohorts.

    Returns ``(summary, follow_up, joint)``: ``summary`` has ``part``, ``label``, ``cohort``, the :func:`describe`
    fields of the share (in % of the respondent's total) and ``centre`` (the compositional centre, in %);
    ``joint`` is the one permutation test of the whole composition between cohorts on clr coordinates and
    ``follow_up`` the test of each part from the same permutations, Holm across the parts
    (:mod:`elicit.analysis.compositional`). The parts of a composition are not independent (Aitchison 1986): when
    one share rises another must fall, so they are tested together first.
    """
    shares = allocation_shares(data, item)
    parts = [c for c in shares.columns if c not in ("respondent", "cohort")]
    replaced, coordinates, delta, zeros = composition_coordinates(shares[parts])
    kept = shares.loc[replaced.index, "cohort"].astype(str)
    centres = group_centres(replaced, kept) | (
        {ALL: pd.Series(100 * centre(replaced.to_numpy()), index=parts)} if len(replaced) else {}
    )
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
                    "centre": float(centres[group][part]) if group in centres else float("nan"),
                }
            )
    joint, follow_up = joint_tests(
        coordinates,
        kept,
        cohorts,
        item=item.id,
        labels={part: item.label_of(part) for part in parts},
        test="joint permutation test on clr coordinates (PERMANOVA, Aitchison distance)",
        effect_size_name="difference in mean clr",
        distance_name="Aitchison distance between the cohorts' centres",
    )
    if len(joint):
        joint["zero_replacement_delta"] = delta
        joint["zeros_replaced"] = zeros
    return pd.DataFrame(rows), follow_up, joint


def rankings(
    data: pd.DataFrame, item: Item, cohorts: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Mean and median rank and the share of experts ranking each choice first, per cohort; one joint test.

    Rank 1 is first. Returns ``(summary, follow_up, joint)``: ``joint`` compares the experts' complete rank
    vectors between cohorts by one permutation test, ``follow_up`` each choice from the same permutations (Holm
    across the choices).
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
    complete = frame.dropna(subset=parts)
    joint, follow_up = joint_tests(
        complete[parts].astype("float64"),
        complete["cohort"].astype(str),
        cohorts,
        item=item.id,
        labels={part: item.label_of(part) for part in parts},
        test="joint permutation test on the rank vectors (PERMANOVA, Euclidean distance)",
        effect_size_name="difference in mean rank",
        distance_name="Euclidean distance between the cohorts' mean rank vectors",
    )
    return pd.DataFrame(rows), follow_up, joint


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
