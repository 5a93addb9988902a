"""The HTML report: one self-contained file (figures embedded as PNG data URIs), readable on screen and printable.

The markup is in the package's ``templates/`` folder: ``report.html`` lays out the page and includes one file per
section from ``templates/sections/``, with the shared pieces of markup in ``macros.html`` and the stylesheet in
``report.css`` (inlined, so the report stays one file). This module prepares plain rows for them; the number
formats below are the templates' globals, so every table writes a number, a p-value and an interval the same way.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
import numpy as np

from . import figures
from .descriptives import ALL
from .export_folder import Kind
from .flow import HIDDEN, STAGES
from .pipeline import (
    CORRECTIONS,
    MISSING_DATA_RULES,
    TEST_CHOICE,
    Analysis,
    as_records,
    describe_agreement_design,
)

__all__ = ["render_report"]


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table: fixed decimals, an en dash for missing."""
    if value is None or isinstance(value, jinja2.Undefined):
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "–"
    if number.is_integer() and digits and abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.{digits}f}"


def fmt_p(value: Any) -> str:
    """A p-value as APA style reads it: no leading zero, '< .001' for tiny values."""
    if value is None or isinstance(value, jinja2.Undefined):
        return "–"
    try:
        p = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(p):
        return "–"
    if p < 0.001:
        return "< .001"
    return f"{p:.3f}".replace("0.", ".", 1) if p < 1 else "1.000"


def p_eq(value: Any) -> str:
    """'p = .023' or 'p < .001' for running text."""
    text = fmt_p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def fmt_ci(low: Any, high: Any, digits: int = 2) -> str:
    """An interval as "[low, high]", or an en dash when either end is missing."""
    if fmt(low, digits) == "–" or fmt(high, digits) == "–":
        return "–"
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, text, a boolean, NaN)."""
    if value is None or isinstance(value, bool | jinja2.Undefined):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def cell(value: Any, kind: str = "num3") -> str:
    """One table cell by the kind of its column, so a count never reads "6.000" nor a flag "False".

    Kinds: ``int`` (a count), ``num`` (two decimals), ``num3`` (three), ``sig`` (three significant digits, for
    scores that span orders of magnitude, such as Cooke's calibration), ``p`` (APA p-value), ``pct`` (a proportion
    0-1 as a whole percent), ``pct1`` (one decimal), ``bool`` (yes/no), ``text``. Missing is an en dash.
    """
    missing = value is None or isinstance(value, jinja2.Undefined) or (isinstance(value, str) and not value)
    if kind == "bool" or isinstance(value, bool | np.bool_):
        return "–" if missing or _is_nan(value) else ("yes" if value else "no")
    if missing:
        return "–"
    number = None if kind == "text" else _number(value)
    if number is None:
        return "–" if _is_nan(value) else str(value)
    if kind == "int":
        return f"{number:,.0f}" if number.is_integer() else fmt(number)
    if kind == "p":
        return fmt_p(number)
    if kind in ("pct", "pct1"):
        return f"{100 * number:.{1 if kind == 'pct1' else 0}f}%"
    if kind == "sig":
        return f"{number:.3g}"
    return fmt(number, 3 if kind == "num3" else 2)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float | np.floating) and not math.isfinite(float(value))


#: Column names read as p-values in a tidy table (``p``, ``p_holm``, ``wilcoxon_p``...).
_P_COLUMN = re.compile(r"(^|_)p(_|$)")


def column_kinds(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The kind (:func:`cell`) of each column of a tidy table, from its values: yes/no for flags, whole numbers
    for columns of whole numbers only (counts, rounds, df), APA style for p-values, text, else three decimals."""
    kinds: dict[str, str] = {}
    for key in rows[0] if rows else ():
        values = [r.get(key) for r in rows if r.get(key) is not None and not _is_nan(r.get(key))]
        numbers = [_number(v) for v in values]
        if values and all(isinstance(v, bool | np.bool_) for v in values):
            kinds[key] = "bool"
        elif not values or any(n is None for n in numbers):
            kinds[key] = "text"
        elif _P_COLUMN.search(key) and all(n is not None and 0 <= n <= 1 for n in numbers):
            kinds[key] = "p"
        elif all(n is not None and n.is_integer() for n in numbers):
            kinds[key] = "int"
        else:
            kinds[key] = "num3"
    return kinds


def heading(key: str) -> str:
    """A column name of a tidy table as a header: "n_paired" reads "n paired"."""
    return key.replace("_", " ")


def study_title(book: Any) -> str:
    """What the study is called in its own export: its title, else its slug, else the instrument's id."""
    return str(book.study.get("title") or book.study.get("slug") or book.instrument.get("id") or "study")


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report's templates, read from the package (``elicit/analysis/templates``).

    Plain Jinja2, not Flask's: the analysis package runs without the web application. Escaping is on for every
    template (the stylesheet has no expressions to escape). Undefined values chain (``row.test.p`` on a row without a test is undefined, not an
    error) and the number formats show them as an en dash.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("elicit.analysis", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.globals.update(
        fmt=fmt, fmt_p=fmt_p, fmt_ci=fmt_ci, p_eq=p_eq, cell=cell, heading=heading, column_kinds=column_kinds
    )
    return env


#: The columns of the Delphi, SEJ and confidence tables: (key, header, kind of :func:`cell`). The CSV beside
#: ``results.json`` has every column, unrounded.
DELPHI_CONSENSUS_COLUMNS = (
    ("round", "Round", "int"),
    ("cohort", "Group", "text"),
    ("item", "Item", "text"),
    ("n", "n", "int"),
    ("median", "Median", "num"),
    ("q1", "Q1", "num"),
    ("q3", "Q3", "num"),
    ("iqr", "IQR", "num"),
    ("top2_share", "Top two", "pct"),
    ("bottom2_share", "Bottom two", "pct"),
    ("agreement", "Agreement", "pct"),
    ("mean", "Mean", "num"),
    ("sd", "SD", "num"),
    ("consensus", "Consensus", "bool"),
    ("failed", "Criterion not met", "text"),
)
DELPHI_STABILITY_COLUMNS = (
    ("cohort", "Group", "text"),
    ("item", "Item", "text"),
    ("rounds", "Rounds", "text"),
    ("n_paired", "n in both", "int"),
    ("share_changed", "Changed", "pct"),
    ("n_up", "Up", "int"),
    ("n_down", "Down", "int"),
    ("median_change", "Median change", "num"),
    ("wilcoxon_v", "Wilcoxon V", "num"),
    ("wilcoxon_p", "p", "p"),
    ("method_note", "p method", "text"),
    ("rank_biserial", "Rank-biserial r", "num"),
    ("symmetry", "Symmetry test", "num"),
    ("symmetry_p", "p", "p"),
    ("mcnemar_exact_p", "McNemar exact p", "p"),
)
COOKE_COLUMNS = {
    "experts": (
        ("expert", "Expert", "text"),
        ("n_seeds", "Seeds", "int"),
        ("calibration", "Calibration", "sig"),
        ("information_seeds", "Information (seeds)", "num3"),
        ("information_all", "Information (all items)", "num3"),
        ("score", "Score", "sig"),
        ("above_cutoff", "Above cut-off", "bool"),
        ("weight", "Weight", "pct1"),
    ),
    "decision_makers": (
        ("dm", "Decision maker", "text"),
        ("weights", "Weights", "text"),
        ("n_experts_weighted", "Experts weighted", "int"),
        ("calibration", "Calibration", "sig"),
        ("information_seeds", "Information (seeds)", "num3"),
        ("information_all", "Information (all items)", "num3"),
        ("score", "Score", "sig"),
        ("reported", "Reported", "bool"),
    ),
    "robustness": (
        ("removed", "Left out", "text"),
        ("id", "Which", "text"),
        ("calibration", "Calibration", "sig"),
        ("information_seeds", "Information (seeds)", "num3"),
        ("calibration_change", "Calibration change", "pct1"),
        ("information_change", "Information change", "pct1"),
        ("cutoff", "Cut-off", "sig"),
    ),
}
CONFIDENCE_COLUMNS = (
    ("item", "Item", "text"),
    ("cohort", "Group", "text"),
    ("n", "n", "int"),
    ("mean", "Mean", "num"),
    ("n_rated", "n rated", "int"),
    ("weighted_mean", "Confidence-weighted mean", "num"),
    ("mean_confidence", "Mean confidence", "num"),
)


def _stability_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The stability table's rows with the pair of rounds and the symmetry test each in one cell, and the methods
    of the Wilcoxon p-values said once below the table (a letter in each row), not in every row."""
    methods: dict[str, str] = {}
    shown = []
    for row in rows:
        test = row.get("symmetry_test")
        statistic, df = _number(row.get("symmetry_statistic")), _number(row.get("symmetry_df"))
        symmetry = (
            f"{test} χ²({df:.0f}) = {statistic:.2f}"
            if test and statistic is not None and df
            else (test or "")
        )
        method = str(row.get("wilcoxon_method") or "")
        letter = methods.setdefault(method, "abcdefghijklmnopqrstuvwxyz"[len(methods) % 26]) if method else ""
        shown.append(
            {
                **row,
                "rounds": f"{row.get('round_a')} → {row.get('round_b')}",
                "symmetry": symmetry,
                "method_note": letter,
            }
        )
    return shown, [{"letter": letter, "method": method} for method, letter in methods.items()]


def _setting_text(value: Any) -> str:
    """A Cooke setting as a reader reads it: lists joined, mappings as "key: value"."""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_setting_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_setting_text(v) for v in value)
    number = _number(value)
    return f"{number:.4g}" if number is not None and not isinstance(value, int) else str(value)


def _flow_text(value: Any) -> str:
    if value == HIDDEN:
        return HIDDEN
    return "not recorded" if value is None else cell(value, "int")


def _flow_block(results: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The participant-flow table of ``results.json`` as the report lays it out: per round, a row per stage and
    a column per group (CONSORT-style), every count as results.json has it."""
    flow = results.get("participant_flow")
    if not flow:
        return None
    groups = list(dict.fromkeys(row["group"] for row in flow["rows"]))
    analysed_round = results.get("meta", {}).get("round")
    rounds = []
    for number in dict.fromkeys(row["round"] for row in flow["rows"]):
        by_group = {row["group"]: row for row in flow["rows"] if row["round"] == number}
        stages = []
        for key, label, indent in STAGES:
            if key == "analysed" and number != analysed_round:
                continue
            if key == "opened" and all(by_group[g].get(key) is None for g in groups):
                continue  # recorded for no group in this round: said in the note instead
            stages.append(
                {
                    "label": label,
                    "indent": indent,
                    "cells": {g: _flow_text(by_group[g].get(key)) for g in groups},
                }
            )
        rounds.append({"number": number, "analysed": number == analysed_round, "stages": stages})
    declined = flow.get("declined_links") or {}
    return {
        "groups": [{"code": g, "label": labels.get(g, g)} for g in groups],
        "rounds": rounds,
        "note": flow["note"],
        "anonymous": flow["anonymous"],
        "declined_links": [{"code": c, "n": n} for c, n in declined.items()],
    }


def _distribution_text(distribution: Any, item: str, cohort: str) -> str:
    sub = distribution[(distribution["item"] == item) & (distribution["cohort"] == cohort)]
    return " · ".join(f"{r.code}: {r.count}" for r in sub.itertuples()) if len(sub) else ""


def _choice_blocks(analysis: Analysis, texts: Mapping[str, str]) -> list[dict[str, Any]]:
    """One table per nominal variable: a row per choice, a column per group shown, "count (percent)" in each."""
    counts = analysis.choice_counts
    if counts.empty:
        return []
    blocks = []
    for variable, block in counts.assign(cohort=counts["cohort"].astype(str)).groupby("variable", sort=False):
        groups = list(dict.fromkeys(block["cohort"]))
        n = {str(g): int(v) for g, v in zip(block["cohort"], block["n"], strict=True)}
        rows = []
        for _, cells in block.groupby("code", sort=False):
            by_group = cells.set_index("cohort")
            rows.append(
                {
                    "label": by_group["label"].iloc[0],
                    "counts": {
                        g: f"{int(by_group.loc[g, 'count'])} ({fmt(by_group.loc[g, 'percent'], 0)}%)"
                        if n[g]
                        else "0"
                        for g in groups
                    },
                }
            )
        item = str(block["item"].iloc[0])
        blocks.append(
            {
                "title": f"{variable}: {texts.get(item, '')}".strip(": "),
                "groups": groups,
                "rows": rows,
                "n": n,
            }
        )
    return blocks


def _rounds_blocks(analysis: Analysis, results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section "Rounds compared": a table and a figure per distribution item, from ``results.json``'s rows."""
    compared = analysis.rounds_compared
    section = results.get("rounds_compared")
    if compared is None or not section:
        return None
    texts = {i.id: i.text for i in analysis.export.codebook.items}
    return {
        "rounds": section["rounds"],
        "method": section["method"],
        "blocks": [
            {
                "title": f"{item}: {texts.get(item, '')}".strip(": "),
                "rows": block["rows"],
                "left_out": block["left_out"],
                "figure": compared.figures.get(item),
            }
            for item, block in section["items"].items()
        ],
    }


def render_report(
    analysis: Analysis, results: Mapping[str, Any], title: str | None = None, introduction: str | None = None
) -> str:
    """Render the report for an :class:`Analysis` and its results document as one HTML string."""
    book = analysis.export.codebook
    # The analysis holds only what may be shown under the export's k (elicit.analysis.disclosure), as
    # results.json does: the report renders it and says which cohorts it hides, never their sizes.
    cohorts = list(analysis.cohorts)
    present = {str(row["cohort"]): row for row in as_records(analysis.overview)}
    labels = {c.code: c.label for c in book.cohorts} | {ALL: "All respondents"}
    hidden_row = {
        "n": "hidden",
        "instrument_versions": "",
        "languages": "",
        "first_submitted": "",
        "last_submitted": "",
    }
    overview_rows = [
        present.get(code) or {"cohort": code, "label": labels.get(code, code), **hidden_row}
        for code in (ALL, *book.cohort_codes)
        if code in present or code in analysis.suppressed
    ]
    scale_labels = {s.name: s.label for s in book.scales}
    scale_names = [s.name for s in book.scales]
    ranges = [book.item(i).code_range for s in book.scales for i in s.items]
    value_range = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else (float("nan"),) * 2
    reverse_items = {i for s in book.scales for i in s.reverse} | {i.id for i in book.items if i.reverse}

    reliability_rows, reliability_detail = [], []
    for r in analysis.reliability:
        label = scale_labels.get(r.scale, r.scale)
        reliability_rows.append(
            {
                "label": label,
                "group": r.group,
                "n": r.n,
                "alpha": r.alpha.alpha,
                "ci": fmt_ci(r.alpha.ci_low, r.alpha.ci_high),
                "std": r.alpha.standardized,
                "omega": r.omega.omega,
            }
        )
        loadings = dict(zip(r.item_total["item"], r.omega.fit.loadings, strict=True)) if r.omega.fit else {}
        item_stats = [{**row, "loading": loadings.get(row["item"])} for row in as_records(r.item_total)]
        reliability_detail.append(
            {
                "label": label,
                "group": r.group,
                "interpretation": r.interpretation,
                "n": r.n,
                "n_excluded": r.n_excluded,
                "std": r.alpha.standardized,
                "mean_r": r.alpha.mean_inter_item_r,
                "omega": r.omega.omega,
                "omega_std": r.omega.omega_standardized,
                "omega_note": r.omega.note,
                "item_stats": item_stats,
            }
        )

    between_rows = [
        {**row, "label": scale_labels.get(row["variable"], row["variable"])}
        for row in as_records(analysis.between)
    ]
    mixed_rows = as_records(analysis.mixed)

    # One figure per set of choices (a legend fits only items with the same codes and labels), per cohort, of
    # the items whose counts the analysis shows for it.
    groups: dict[tuple[tuple[str, str], ...], list[Any]] = {}
    for item in book.items_of_kind(Kind.ORDINAL):
        groups.setdefault(tuple((c.code, c.label) for c in item.choices), []).append(item)
    distribution = analysis.distribution
    likert_figures = []
    for cohort in cohorts:
        counted = (
            set(distribution.loc[distribution["cohort"].astype(str) == cohort, "item"])
            if len(distribution)
            else set()
        )
        for items in groups.values():
            drawn = [item for item in items if item.id in counted]
            if drawn:
                likert_figures.append(
                    {
                        "cohort": cohort,
                        "uri": figures.diverging_likert(distribution, drawn, cohort, sorted(reverse_items)),
                    }
                )
    scale_figure = comparison_figure = None
    # a cohort's scores are missing where the scale's table leaves it out, so there may be nothing to draw
    if scale_names and cohorts and analysis.scores[scale_names].notna().to_numpy().any():
        scale_figure = figures.scale_distributions(
            analysis.scores, scale_names, cohorts, scale_labels, value_range
        )
        comparison_figure = figures.scale_comparison(
            analysis.scores, scale_names, cohorts, scale_labels, value_range, subject=study_title(book)
        )

    item_rows = []
    for row in as_records(analysis.item_descriptives):
        text = (
            _distribution_text(analysis.distribution, row["item"], row["cohort"])
            if row["analysis"] == Kind.ORDINAL
            else ""
        )
        item_rows.append({**row, "distribution": text})

    agreement_blocks = [
        {
            "cohort": c,
            "n_raters": a.n_raters,
            "n_raters_complete": a.n_raters_complete,
            "kendall": a.kendall,
            "krippendorff_alpha": a.krippendorff_alpha,
            "icc_rows": as_records(a.icc),
            "warnings": a.warnings,
        }
        for c, a in analysis.agreement.items()
    ]
    within_blocks = [
        {
            "cohort": g,
            "n": w.n,
            "friedman": w.friedman,
            "rm": w.rm_anova,
            "posthoc": as_records(w.posthoc),
            "normality": w.normality,
        }
        for g, w in analysis.within.items()
    ]

    def tests_by_part(tests: Any) -> dict[str, dict[str, Any]]:
        return {row["variable"]: row for row in as_records(tests)}

    allocation_blocks = []
    for comp in analysis.allocations:
        tests = tests_by_part(comp.tests)
        rows = []
        for part in dict.fromkeys(comp.summary["part"]):
            sub = comp.summary[comp.summary["part"] == part].set_index("cohort")
            rows.append(
                {
                    "label": sub["label"].iloc[0],
                    "stats": {
                        c: f"{fmt(sub.loc[c, 'mean'], 1)} ({fmt(sub.loc[c, 'sd'], 1)})"
                        if c in sub.index
                        else "–"
                        for c in cohorts
                    },
                    "test": tests.get(part, {}),
                    "centre": {c: fmt(sub.loc[c, "centre"], 1) if c in sub.index else "–" for c in cohorts},
                }
            )
        allocation_blocks.append(
            {
                "shows_first": False,
                "shows_centre": True,
                "title": f"{comp.item.id}: {comp.item.text}".strip(": "),
                "rows": rows,
                "stat_label": "Mean % (SD)",
                "figure": figures.allocation_chart(comp.summary, cohorts, comp.item.id),
                "joint": as_records(comp.joint)[0] if len(comp.joint) else None,
                "note": "Shares of each expert's total (constant sum); the centre is the closed geometric mean. The "
                "parts of a composition are not independent (Aitchison 1986): one share can only rise if another "
                "falls, so the item is compared between cohorts by one joint permutation test on centred "
                "log-ratio coordinates; the tests per part are follow-ups (Holm across the parts; effect size: "
                "difference in mean clr).",
            }
        )
    ranking_blocks = []
    for comp in analysis.rankings:
        tests = tests_by_part(comp.tests)
        rows = []
        for part in dict.fromkeys(comp.summary["part"]):
            sub = comp.summary[comp.summary["part"] == part].set_index("cohort")
            rows.append(
                {
                    "label": sub["label"].iloc[0],
                    "stats": {c: fmt(sub.loc[c, "mean_rank"]) if c in sub.index else "–" for c in cohorts},
                    "first": {c: sub.loc[c, "first_percent"] if c in sub.index else None for c in cohorts},
                    "test": tests.get(part, {}),
                }
            )
        ranking_blocks.append(
            {
                "shows_first": True,
                "title": f"{comp.item.id}: {comp.item.text}".strip(": "),
                "rows": rows,
                "stat_label": "Mean rank",
                "figure": figures.ranking_chart(comp.summary, cohorts, comp.item.id),
                "joint": as_records(comp.joint)[0] if len(comp.joint) else None,
                "note": "Rank 1 = first. One joint permutation test on the experts' rank vectors between cohorts; the "
                "tests per choice are follow-ups from the same permutations (Holm across the choices; effect size: "
                "difference in mean rank).",
            }
        )
    quantile_blocks = []
    for comp in analysis.quantiles:
        levels = [lv for lv in dict.fromkeys(comp.summary["level"]) if lv != "width"]
        quantile_blocks.append(
            {
                "title": f"{comp.item.id}: {comp.item.text}".strip(": "),
                "rows": as_records(comp.summary),
                "tests": as_records(comp.tests),
                "levels": levels,
                "figure": figures.quantile_chart(comp.summary, cohorts, comp.item.id, comp.item.unit),
            }
        )
    texts = {i.id: i.text for i in book.items}
    single_rows = [
        {**row, "text": texts.get(row["variable"], "")} for row in as_records(analysis.single_items)
    ]

    stability_rows, stability_methods = (
        _stability_rows(as_records(analysis.delphi.stability)) if analysis.delphi is not None else ([], [])
    )
    template = environment().get_template("report.html")
    meta = results.get("meta", {})
    return template.render(
        title=title or f"Analysis report — {study_title(book)}",
        introduction=introduction,
        study=book.study,
        instrument={"id": book.instrument.get("id"), "versions": book.instrument.get("versions") or []},
        results=results,
        software=meta.get("software", {}),
        overview=overview_rows,
        flow=_flow_block(results, labels),
        warnings=analysis.warnings,
        notes=analysis.notes,
        cohorts=cohorts,
        reliability_rows=reliability_rows,
        reliability_detail=reliability_detail,
        reverse_items=reverse_items,
        between_rows=between_rows,
        mixed_rows=mixed_rows,
        mixed_n=(int(analysis.mixed["n_subjects"].iloc[0]) if len(mixed_rows) else 0),
        comparison_figure=comparison_figure,
        scale_figure=scale_figure,
        likert_figures=likert_figures,
        value_range=value_range,
        score_rows=as_records(analysis.score_descriptives),
        item_rows=item_rows,
        choice_blocks=_choice_blocks(analysis, texts),
        date_rows=as_records(analysis.dates),
        scales=[
            {"name": s.name, "label": s.label, "members": s.items, "reverse": s.reverse} for s in book.scales
        ],
        missing_rules=MISSING_DATA_RULES,
        test_choice=TEST_CHOICE,
        corrections=CORRECTIONS,
        agreement_design=describe_agreement_design(analysis),
        agreement=agreement_blocks,
        within=within_blocks,
        allocations=allocation_blocks,
        rankings=ranking_blocks,
        quantiles=quantile_blocks,
        single_rows=single_rows,
        delphi=(
            {
                "rounds": analysis.delphi.rounds,
                "rule": analysis.delphi.rule.describe(),
                "suppressed": analysis.delphi.suppressed,
                "consensus": as_records(analysis.delphi.consensus),
                "consensus_columns": DELPHI_CONSENSUS_COLUMNS,
                "stability": stability_rows,
                "stability_methods": stability_methods,
                "stability_columns": DELPHI_STABILITY_COLUMNS,
            }
            if analysis.delphi is not None
            else None
        ),
        confidence=as_records(analysis.confidence),
        confidence_columns=CONFIDENCE_COLUMNS,
        judgements=[
            {
                "title": f"{j.item.id}: {j.item.text}".strip(": "),
                "elicitation": j.elicitation,
                "support": (j.lower, j.upper),
                "fits": [
                    {**row, "params": ", ".join(f"{k} = {fmt(v, 3)}" for k, v in row["params"].items())}
                    for row in as_records(j.fits)
                ],
                "pooled": as_records(j.pooled),
                "figure": j.figure,
            }
            for j in analysis.judgements
        ],
        given_weights=(results.get("judgements") or {}).get("given_weights"),
        rounds_compared=_rounds_blocks(analysis, results),
        cooke=(
            {
                "results": results.get("cooke", {}),
                "columns": COOKE_COLUMNS,
                "settings": [
                    (key, _setting_text(value))
                    for key, value in (results.get("cooke", {}).get("settings") or {}).items()
                    if key != "references"
                ],
                "figure": analysis.cooke.figure,
                "seeds": analysis.cooke.seeds,
                "targets": analysis.cooke.targets,
            }
            if analysis.cooke is not None
            else None
        ),
        checksums=dict(analysis.export.checksums),
        manifest_sha=analysis.export.checksums.get("manifest.json"),
    )
