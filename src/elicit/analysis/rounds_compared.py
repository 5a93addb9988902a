"""Distribution judgements compared across rounds (the IDEA protocol: private estimates, discussion, revision).

For every distribution item (quantiles, roulette, four-point, probabilities) and every round in the data, per
group (all respondents and each cohort):

* ``n``: the experts whose judgement could be fitted (:func:`elicit.analysis.judgement.best_fits`, the fits of the
  section "Fitted distributions and opinion pools");
* ``pool_q05``, ``pool_q50``, ``pool_q95``: the 5/50/95 % quantiles of the equal-weight linear pool of their best
  fits (Stone 1961; SHELF's ``qlinearpool``);
* ``median_best``: the median of the experts' best estimates: their stated median (the 50 % quantile of a
  quantile item that asks it, the best estimate of a four-point item), else the median of their fitted
  distribution (roulette, fixed-interval probabilities, quantile items without a 50 % level);
* ``median_width90``: the median width of the experts' 90 % ranges, from their fitted distributions
  (95 % minus 5 % quantile), the width Hemming et al. (2018, Methods Ecol. Evol. 9: 169-180) compare between IDEA
  rounds;
* ``n_both`` and ``changed`` (from the second round on): the experts who gave a complete answer in this round and
  the one before, and how many of them changed any part of it.

Disclosure: the study's k applies as everywhere in the report (:class:`~elicit.analysis.disclosure.Disclosure`),
and one decision holds for every round of an item: a group left out in any round (it had 1 to k-1 fitted
judgements there, or gives back one that had) is left out of every round, until no round needs more hidden, so
that no one can subtract a round where it is shown from one where it is not. ``n_both``/``changed`` follow the
same rule on the numbers of experts in both rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from elicit.stats.distributions import Fit
from elicit.stats.judgements import Points
from elicit.stats.pooling import linear_pool

from . import figures
from .descriptives import ALL
from .disclosure import Disclosure
from .export_folder import ExportData, Item, Kind
from .judgement import best_fits, judgement_points

__all__ = ["COLUMNS", "METHOD", "RoundsCompared", "rounds_compared"]

COLUMNS = (
    "item",
    "round",
    "cohort",
    "n",
    "pool_q05",
    "pool_q50",
    "pool_q95",
    "median_best",
    "median_width90",
    "n_both",
    "changed",
)
METHOD = (
    "Per distribution item, round and group: n fitted judgements; the 5/50/95 % quantiles of the equal-weight "
    "linear pool of the experts' best-fitting distributions; the median of the experts' best estimates (their "
    "stated median or best estimate where the item asks one, else the median of their fitted distribution); the "
    "median width of their 90 % ranges (the 95 % minus the 5 % quantile of their fitted distribution); and, from "
    "the second round on, how many of the experts who answered in this round and the one before changed any "
    "part of their answer. A group left out in one round under the study's k is left out in every round."
)


@dataclass(frozen=True, eq=False)
class RoundsCompared:
    """The comparison table (:data:`COLUMNS`), a figure per item and the groups each item leaves out beyond the
    analysis's own (named only as groups, never sized)."""

    rounds: tuple[int, ...]
    table: pd.DataFrame
    figures: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _answer(item: Item, row: Mapping[str, Any]) -> tuple[float, ...]:
    values = []
    for column in item.columns:
        try:
            values.append(float(row.get(column)))  # type: ignore[arg-type]  # a missing cell is NaN, caught below
        except (TypeError, ValueError):
            values.append(float("nan"))
    return tuple(values)


def _stated_median(entry: Mapping[str, Any], item: Item, row: Mapping[str, Any]) -> float | None:
    """The expert's own best estimate where the item asks one (a 50 % quantile, a four-point best estimate)."""
    kind = str(entry.get("elicitation") or "quantiles")
    if kind == "four_point":
        value = row.get(f"{item.id}.best")
    elif kind == "quantiles":
        levels = [float(level) for level in (entry.get("levels") or item.levels)]
        if 50.0 not in levels or len(levels) != len(item.columns):
            return None
        value = row.get(item.columns[levels.index(50.0)])
    else:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # checked below
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _closed(
    disclosure: Disclosure, sizes: Sequence[Mapping[str, int]], start: frozenset[str]
) -> frozenset[str]:
    """The groups hidden in every round: each round's rule applied with the others' decisions, to a fixed point."""
    hidden = frozenset(start)
    while True:
        decided = Disclosure(disclosure.k, hidden)
        grown = hidden.union(*(decided.hidden_in(s) for s in sizes)) if sizes else hidden
        if grown == hidden:
            return hidden
        hidden = grown


def rounds_compared(
    export: ExportData, disclosure: Disclosure, entries: Mapping[str, Mapping[str, Any]]
) -> RoundsCompared | None:
    """The rounds compared for every distribution item, or None when the data hold one round or no such item."""
    book = export.codebook
    items = book.items_of_kind(Kind.DISTRIBUTION)
    data = export.data
    rounds = tuple(sorted(int(r) for r in data["round"].dropna().unique()))
    if len(rounds) < 2 or not items:
        return None
    cohorts = tuple(book.cohort_codes)
    by_round = {r: data[data["round"] == r].reset_index(drop=True) for r in rounds}
    rows: list[dict[str, Any]] = []
    drawn: dict[str, str] = {}
    left_out: dict[str, tuple[str, ...]] = {}
    for item in items:
        entry = entries.get(item.id, {})
        fitted: dict[int, dict[str, tuple[str, Fit]]] = {}
        answers: dict[int, dict[str, tuple[str, tuple[float, ...]]]] = {}
        medians: dict[int, dict[str, float]] = {}
        cache: dict[Points, Fit | None] = {}  # an answer kept from one round to the next is fitted once
        for r, frame in by_round.items():
            fitted[r], _ = best_fits(item, entry, frame, cache)
            answers[r], medians[r] = {}, {}
            for row in frame.to_dict("records"):
                if judgement_points(entry, item, row) is None:
                    continue
                respondent = str(row["respondent"])
                answers[r][respondent] = (str(row["cohort"]), _answer(item, row))
                stated = _stated_median(entry, item, row)
                if stated is not None:
                    medians[r][respondent] = stated
        if not any(fitted.values()):
            continue

        def members(group: str, of: Mapping[str, tuple[str, Any]]) -> list[str]:
            return [p for p, (cohort, _) in of.items() if group in (ALL, cohort)]

        groups = (ALL, *cohorts)
        sizes = [{g: len(members(g, fitted[r])) for g in groups} for r in rounds]
        hidden = _closed(disclosure, sizes, disclosure.hidden)
        both: dict[int, dict[str, tuple[str, bool]]] = {}
        for previous, r in zip(rounds, rounds[1:], strict=False):
            both[r] = {
                p: (
                    cohort,
                    not np.allclose(values, answers[previous][p][1], rtol=0, atol=1e-9, equal_nan=True),
                )
                for p, (cohort, values) in answers[r].items()
                if p in answers[previous]
            }
        both_sizes = [{g: len(members(g, both[r])) for g in groups} for r in rounds[1:]]
        changes_hidden = _closed(disclosure, both_sizes, hidden)
        if hidden - disclosure.hidden:
            left_out[item.id] = tuple(g for g in groups if g in hidden - disclosure.hidden)
        pools = {}
        for r in rounds:
            for group in groups:
                names = members(group, fitted[r])
                if group in hidden or not names:
                    continue
                fits = [fitted[r][p][1] for p in names]
                pool = linear_pool([f.dist for f in fits])
                q05, q50, q95 = pool.quantiles((0.05, 0.5, 0.95))
                pools[(r, group)] = pool
                best = [medians[r].get(p, float(f.dist.ppf(0.5))) for p, f in zip(names, fits, strict=True)]
                widths = [float(f.dist.ppf(0.95) - f.dist.ppf(0.05)) for f in fits]
                pairs = members(group, both.get(r, {}))
                shown_changes = r in both and group not in changes_hidden
                rows.append(
                    {
                        "item": item.id,
                        "round": r,
                        "cohort": group,
                        "n": len(names),
                        "pool_q05": q05,
                        "pool_q50": q50,
                        "pool_q95": q95,
                        "median_best": statistics.median(best),
                        "median_width90": statistics.median(widths),
                        "n_both": len(pairs) if shown_changes else None,
                        "changed": sum(both[r][p][1] for p in pairs) if shown_changes else None,
                    }
                )
        if pools:
            shown = [g for g in groups if g not in hidden]
            drawn[item.id] = figures.rounds_densities(pools, shown, f"{item.id}: {item.text}", item.unit)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for counts in ("n_both", "changed"):  # whole numbers, None in the first round (not NaN floats)
        table[counts] = pd.Series([row[counts] for row in rows], index=table.index, dtype=object)
    return RoundsCompared(rounds, table, drawn, left_out)
