"""Figures for the report, drawn with matplotlib's object API (Agg canvas, no pyplot state, no display).

Every function returns a ``data:image/png;base64,...`` URI so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from .export_folder import Item

__all__ = [
    "allocation_chart",
    "diverging_likert",
    "pooled_densities",
    "quantile_chart",
    "ranking_chart",
    "rounds_densities",
    "scale_comparison",
    "scale_distributions",
]

DPI = 110
_COHORT_COLOURS = ["#1b6ca8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#5d6d7e"]


def figure_uri(figure: Figure) -> str:
    """A figure made elsewhere (e.g. Cooke's range plot) as an embeddable PNG data URI."""
    return _uri(figure)


def _uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _colour(index: int) -> str:
    return _COHORT_COLOURS[index % len(_COHORT_COLOURS)]


def _wrap(text: str, width: int = 48) -> str:
    return "\n".join(textwrap.wrap(text, width)[:2]) or text


def diverging_likert(
    distribution: pd.DataFrame, items: Sequence[Item], cohort: str, reverse_keyed: Sequence[str] = ()
) -> str:
    """Diverging stacked bars of Likert items for one cohort (Heiberger & Robbins 2014).

    Answers below the middle of the choice range extend to the left of zero and answers above to the right; the
    middle choice (odd-length scales) is split evenly across zero. Percentages are of valid answers; items are
    shown as answered (reverse-keyed items marked "(R)").
    """
    items = [i for i in items if i.choices]
    codes = [c.value for c in items[0].choices] if items else []
    labels = [c.label for c in items[0].choices] if items else []
    k = len(codes)
    palette = colormaps["RdBu"](np.linspace(0.1, 0.9, max(k, 2)))
    figure = Figure(figsize=(9, 0.42 * len(items) + 1.6))
    axes = figure.subplots()
    sub = distribution[distribution["cohort"] == cohort]
    for row, item in enumerate(items):
        pct = sub[sub["item"] == item.id].set_index("value")["percent"].reindex(codes).fillna(0).to_numpy()
        half = k // 2
        middle = pct[half] if k % 2 else 0.0
        left = -(pct[:half].sum() + middle / 2)
        for j in range(k):
            width = pct[j]
            axes.barh(
                row,
                width,
                left=left,
                color=palette[j],
                edgecolor="white",
                linewidth=0.5,
                label=labels[j] if row == 0 else None,
            )
            if width >= 7:
                axes.text(
                    left + width / 2,
                    row,
                    f"{width:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if 0.25 < j / max(k - 1, 1) < 0.75 else "white",
                )
            left += width
    axes.axvline(0, color="#333333", linewidth=0.8)
    axes.set_yticks(range(len(items)))
    axes.set_yticklabels(
        [f"{i.id}{' (R)' if i.id in reverse_keyed else ''}: {_wrap(i.text, 44)}" for i in items], fontsize=7
    )
    axes.invert_yaxis()
    axes.set_xlim(-100, 100)
    axes.set_xticks(range(-100, 101, 25))
    axes.set_xticklabels([f"{abs(v)}%" for v in range(-100, 101, 25)], fontsize=8)
    axes.set_title(f"Likert items — {cohort} (% of valid answers)", fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(k, 5), fontsize=7, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def scale_distributions(
    scores: pd.DataFrame,
    scales: Sequence[str],
    cohorts: Sequence[str],
    labels: dict[str, str] | None = None,
    value_range: tuple[float, float] | None = None,
) -> str:
    """Box plots with the individual scale scores (jittered) per cohort, one panel per scale."""
    labels = labels or {}
    figure = Figure(figsize=(3.0 * max(len(scales), 1) + 0.5, 3.4))
    axes_list = figure.subplots(1, max(len(scales), 1), sharey=True, squeeze=False)[0]
    rng = np.random.default_rng(0)  # jitter only; fixed so the report is reproducible
    for axes, scale in zip(axes_list, scales, strict=False):
        samples = [scores.loc[scores["cohort"] == c, scale].dropna().to_numpy() for c in cohorts]
        positions = range(1, len(cohorts) + 1)
        nonempty = [(p, s) for p, s in zip(positions, samples, strict=True) if s.size]
        if nonempty:
            axes.boxplot(
                [s for _, s in nonempty],
                positions=[p for p, _ in nonempty],
                widths=0.5,
                showfliers=False,
                medianprops={"color": "black"},
            )
        for index, (p, s) in enumerate(zip(positions, samples, strict=True)):
            axes.scatter(p + rng.uniform(-0.15, 0.15, s.size), s, s=12, alpha=0.6, color=_colour(index))
        axes.set_xticks(list(positions))
        axes.set_xticklabels(
            [f"{c}\n(n={s.size})" for c, s in zip(cohorts, samples, strict=True)], fontsize=8
        )
        axes.set_title(labels.get(scale, scale), fontsize=9)
        if value_range:
            axes.set_ylim(value_range[0] - 0.2, value_range[1] + 0.2)
        axes.spines[["top", "right"]].set_visible(False)
    axes_list[0].set_ylabel("scale score (mean of items)", fontsize=8)
    return _uri(figure)


def scale_comparison(
    scores: pd.DataFrame,
    scales: Sequence[str],
    cohorts: Sequence[str],
    labels: Mapping[str, str] | None = None,
    value_range: tuple[float, float] | None = None,
    subject: str = "",
) -> str:
    """The scales side by side per cohort: median (dot) with interquartile range (bar) and the mean (diamond).

    Titled from the instrument (``subject``: the study's or instrument's title, ``labels``: the scales' own
    labels), so the figure names what the study measured and nothing else.
    """
    labels = labels or {}
    figure = Figure(figsize=(7.5, 3.6))
    axes = figure.subplots()
    width = 0.7 / max(len(cohorts), 1)
    for index, cohort in enumerate(cohorts):
        offset = (index - (len(cohorts) - 1) / 2) * width
        for position, scale in enumerate(scales):
            values = scores.loc[scores["cohort"] == cohort, scale].dropna().to_numpy()
            if not values.size:
                continue
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            x = position + offset
            axes.plot([x, x], [q1, q3], color=_colour(index), linewidth=5, alpha=0.45, solid_capstyle="butt")
            axes.plot(x, median, "o", color=_colour(index), label=cohort if position == 0 else None)
            axes.plot(
                x, values.mean(), "D", markersize=4, markerfacecolor="white", markeredgecolor=_colour(index)
            )
    axes.set_xticks(range(len(scales)))
    axes.set_xticklabels([labels.get(s, s) for s in scales], fontsize=9)
    if value_range:
        axes.set_ylim(value_range[0] - 0.2, value_range[1] + 0.2)
    axes.set_ylabel("scale score", fontsize=9)
    heading = "Scale scores by cohort: median (dot), IQR (bar), mean (diamond)"
    axes.set_title(_wrap(f"{subject} — {heading}" if subject else heading, 90), fontsize=10)
    axes.legend(fontsize=8, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def allocation_chart(summary: pd.DataFrame, cohorts: Sequence[str], title: str) -> str:
    """Mean shares (% of the total) of a constant-sum item per cohort, as stacked bars."""
    parts = list(dict.fromkeys(summary["part"]))
    labels = dict(zip(summary["part"], summary["label"], strict=False))
    palette = colormaps["Set2"](np.linspace(0, 1, max(len(parts), 2)))
    figure = Figure(figsize=(7.5, 0.6 * len(cohorts) + 1.4))
    axes = figure.subplots()
    for row, cohort in enumerate(cohorts):
        left = 0.0
        for j, part in enumerate(parts):
            value = summary[(summary["cohort"] == cohort) & (summary["part"] == part)]["mean"]
            share = float(value.iloc[0]) if len(value) and pd.notna(value.iloc[0]) else 0.0
            axes.barh(
                row,
                share,
                left=left,
                color=palette[j],
                edgecolor="white",
                label=labels.get(part, part) if row == 0 else None,
            )
            if share >= 6:
                axes.text(left + share / 2, row, f"{share:.0f}", ha="center", va="center", fontsize=8)
            left += share
    axes.set_yticks(range(len(cohorts)))
    axes.set_yticklabels(cohorts)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("mean share of the total (%)", fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(len(parts), 4), fontsize=8, frameon=False
    )
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def ranking_chart(summary: pd.DataFrame, cohorts: Sequence[str], title: str) -> str:
    """Share of experts ranking each choice first, per cohort (grouped bars)."""
    parts = list(dict.fromkeys(summary["part"]))
    labels = dict(zip(summary["part"], summary["label"], strict=False))
    figure = Figure(figsize=(7.5, 3.2))
    axes = figure.subplots()
    width = 0.8 / max(len(cohorts), 1)
    for index, cohort in enumerate(cohorts):
        sub = summary[summary["cohort"] == cohort].set_index("part").reindex(parts)
        positions = np.arange(len(parts)) + (index - (len(cohorts) - 1) / 2) * width
        axes.bar(positions, sub["first_percent"].fillna(0), width=width, color=_colour(index), label=cohort)
    axes.set_xticks(range(len(parts)))
    axes.set_xticklabels([labels.get(p, p) for p in parts], fontsize=8)
    axes.set_ylim(0, 100)
    axes.set_ylabel("% ranking it first", fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def quantile_chart(summary: pd.DataFrame, cohorts: Sequence[str], title: str, unit: str | None = None) -> str:
    """Per cohort: the median of the experts' lowest and highest quantiles (bar) and of the central one (dot)."""
    levels = [lv for lv in dict.fromkeys(summary["level"]) if lv != "width"]
    figure = Figure(figsize=(7.5, 0.6 * len(cohorts) + 1.4))
    axes = figure.subplots()
    for row, cohort in enumerate(cohorts):
        sub = summary[summary["cohort"] == cohort].set_index("level").reindex(levels)
        if not levels or sub["median"].isna().all():  # no answers, or left out where fewer than k answered
            continue
        low, high = sub.loc[levels[0], "median"], sub.loc[levels[-1], "median"]
        centre = sub.loc[levels[len(levels) // 2], "median"]
        axes.plot([low, high], [row, row], color=_colour(row), linewidth=6, alpha=0.4, solid_capstyle="butt")
        axes.plot(centre, row, "o", color=_colour(row))
    axes.set_yticks(range(len(cohorts)))
    axes.set_yticklabels(cohorts)
    axes.invert_yaxis()
    axes.set_xlabel(f"median of the experts' answers{f' ({unit})' if unit else ''}", fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


_POOL_STYLES = {"linear_equal": "-", "log_equal": "--", "linear_cooke": ":", "linear_given": "-."}
_POOL_LABELS = {
    "linear_equal": "linear, equal",
    "log_equal": "log, equal",
    "linear_cooke": "linear, Cooke",
    "linear_given": "linear, given",
}


def pooled_densities(
    pools: Mapping[tuple[str, str], Any], groups: Sequence[str], title: str, unit: str | None = None
) -> str:
    """The pooled densities of one distribution item: a colour per group, a line style per pool."""
    spans = [pool.span() for pool in pools.values()]
    low, high = min(s[0] for s in spans), max(s[1] for s in spans)
    x = np.linspace(low, high, 400)
    figure = Figure(figsize=(7.5, 3.2))
    axes = figure.subplots()
    for (name, group), pool in pools.items():
        colour = _colour(list(groups).index(group)) if group in groups else "#5d6d7e"
        axes.plot(
            x,
            pool.pdf(x),
            _POOL_STYLES.get(name, "-"),
            color=colour,
            label=f"{group}: {_POOL_LABELS.get(name, name)}",
        )
    axes.set_xlabel(unit or "value", fontsize=8)
    axes.set_ylabel("density", fontsize=8)
    axes.set_title(_wrap(title, 70), fontsize=10)
    axes.legend(fontsize=7, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


_ROUND_STYLES = ("--", "-", ":", "-.")


def rounds_densities(
    pools: Mapping[tuple[int, str], Any], groups: Sequence[str], title: str, unit: str | None = None
) -> str:
    """The equal-weight linear pools of one distribution item in every round: a colour per group, a line style per
    round (the last round solid when there are two), over the pools' central 98 % (a log-t tail would squash it)."""
    spans = [pool.span(0.01) for pool in pools.values()]
    low, high = min(s[0] for s in spans), max(s[1] for s in spans)
    x = np.linspace(low, high, 400)
    rounds = sorted({r for r, _ in pools})
    figure = Figure(figsize=(7.5, 3.2))
    axes = figure.subplots()
    for (number, group), pool in pools.items():
        colour = _colour(list(groups).index(group)) if group in groups else "#5d6d7e"
        style = _ROUND_STYLES[rounds.index(number) % len(_ROUND_STYLES)]
        axes.plot(x, pool.pdf(x), style, color=colour, label=f"{group}: round {number}")
    axes.set_xlabel(unit or "value", fontsize=8)
    axes.set_ylabel("density", fontsize=8)
    axes.set_title(_wrap(title, 70), fontsize=10)
    axes.legend(fontsize=7, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)
