"""Fitted distributions and opinion pools for every distribution item (quantiles, roulette, four-point, probabilities).

Each respondent's answer becomes cumulative points (:mod:`elicit.stats.judgements`, from the codebook's
``elicitation``), SHELF's families are fitted to them by least squares (:func:`elicit.stats.distributions.
fit_judgement`) on the support the codebook gives (``lower``/``upper``, else ``min``/``max``, else a roulette's
outer edges) and the families it allows (``family`` or ``families``), and each group's best fits are pooled
(:mod:`elicit.stats.pooling`): the equal-weight linear pool, the equal-weight logarithmic pool, and the linear
pool with Cooke's performance weights where Cooke's model ran, and the linear pool with the researcher's own
weights where ``elicit analyze --weights FILE`` gave them (:mod:`.given_weights`). Groups follow the analysis's disclosure decisions:
a group that fewer than k answered, and whatever would give it back, gets no pool, and no expert of it is listed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from elicit.stats.distributions import FAMILIES, Fit, fit_judgement
from elicit.stats.judgements import (
    Points,
    four_point_points,
    probability_points,
    quantile_points,
    roulette_points,
)
from elicit.stats.pooling import PooledDistribution, linear_pool, log_pool

from . import figures
from .descriptives import ALL
from .disclosure import Disclosure
from .export_folder import Item
from .given_weights import GivenWeights

__all__ = ["LEVELS", "POOLS", "ItemJudgement", "best_fits", "item_judgement", "judgement_points"]

#: The pooled quantiles reported.
LEVELS = (0.05, 0.5, 0.95)
#: The pools, as results.json names them.
POOLS = {
    "linear_equal": "linear pool, equal weights",
    "log_equal": "logarithmic pool, equal weights",
    "linear_cooke": "linear pool, Cooke's performance weights",
    "linear_given": "linear pool, researcher-given weights",
}
METHOD = (
    "Each expert's judgement is read as points of their cumulative distribution (quantiles at their levels; "
    "roulette chips as cumulative shares at the bin edges; IDEA four-point estimates as the central c % interval "
    "and the median; fixed-interval probabilities as P(X <= x_i) at the instrument's values). SHELF's families (Oakley, SHELF fitdist) are fitted by least squares on the cumulative "
    "probabilities and the family with the least sum of squares is the expert's. Pools combine the experts' best "
    "fits: linear (a weighted mixture of the distributions) and logarithmic (the normalized weighted geometric "
    "mean of the densities, computed on a grid)."
)
GIVEN_WEIGHTS_METHOD = (
    "The linear pool with researcher-given weights uses the weights of the file given to elicit analyze "
    "(--weights), normalized within each group; respondents not in the file have weight 0, and a group whose "
    "members all have weight 0 has no such pool."
)


@dataclass(frozen=True, eq=False)
class ItemJudgement:
    """One distribution item: every shown expert's best fit, the pooled quantiles per group and the weights used."""

    item: Item
    elicitation: str
    lower: float | None
    upper: float | None
    families: tuple[str, ...]
    fits: pd.DataFrame  # respondent, cohort, family, sse, params (shown groups only)
    pooled: pd.DataFrame  # pool, cohort, n, q05, q50, q95
    weights: dict[str, dict[str, Any]]
    figure: str | None
    skipped: int


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def judgement_points(entry: Mapping[str, Any], item: Item, row: Mapping[str, Any]) -> Points | None:
    """A respondent's answer to a distribution item as cumulative points, or None when not fully answered."""
    values = {item.part_of(c): _number(row.get(c)) for c in item.columns}
    if not values or any(v is None for v in values.values()):
        return None
    given = {k: float(v) for k, v in values.items() if v is not None}
    kind = str(entry.get("elicitation") or "quantiles")
    try:
        if kind == "roulette":
            edges = [float(e) for e in entry.get("edges") or ()]
            return roulette_points(edges, [given[c] for c in sorted(given, key=lambda c: int(c.lstrip("b")))])
        if kind == "four_point":
            return four_point_points(given["low"], given["best"], given["high"], given["confidence"])
        if kind == "probabilities":
            points = [float(x) for x in entry.get("points") or ()]
            parts = sorted(given, key=lambda c: int(c.lstrip("p")))
            if len(parts) != len(points):
                return None
            return probability_points(points, [given[c] for c in parts])
        levels = [float(level) for level in (entry.get("levels") or item.levels)]
        answer = [given[item.part_of(c)] for c in item.columns]
        if len(answer) != len(levels) or any(b <= a for a, b in zip(answer, answer[1:], strict=False)):
            return None
        return quantile_points(levels, answer)
    except (KeyError, ValueError):
        return None


def _support(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The support the instrument fixes (``lower``/``upper``), else the answer's bounds (``min``/``max``)."""
    lower = _number(entry.get("lower", entry.get("min")))
    upper = _number(entry.get("upper", entry.get("max")))
    return lower, upper


def _families(entry: Mapping[str, Any]) -> tuple[str, ...]:
    raw = entry.get("families", entry.get("family"))
    if raw is None:
        return FAMILIES
    names = (raw,) if isinstance(raw, str) else tuple(str(f) for f in raw)
    return tuple(f for f in names if f in FAMILIES) or FAMILIES


def _cooke_weights(cooke: Mapping[str, Any] | None, item_id: str) -> dict[str, float]:
    """Cooke's normalized weights per expert: the item weights if the study reports the item-weight DM."""
    if not cooke:
        return {}
    if cooke.get("reported_dm") == "performance_item":
        rows = [r for r in cooke.get("item_weights") or [] if r.get("item") == item_id]
        if rows:
            return {str(r["expert"]): float(r.get("weight") or 0.0) for r in rows}
    return {str(r["expert"]): float(r.get("weight") or 0.0) for r in cooke.get("experts") or []}


def best_fits(
    item: Item,
    entry: Mapping[str, Any],
    data: pd.DataFrame,
    cache: dict[Points, Fit | None] | None = None,
) -> tuple[dict[str, tuple[str, Fit]], int]:
    """Each respondent's best fit on ``item`` (respondent -> (cohort, fit)) and how many answers no family fits.

    ``cache`` (points -> best fit, None where none fits) lets answers given again, as in a later round, be fitted
    once.
    """
    lower, upper = _support(entry)
    families = _families(entry)
    known: dict[Points, Fit | None] = {} if cache is None else cache
    best: dict[str, tuple[str, Fit]] = {}
    skipped = 0
    for row in data.to_dict("records"):
        points = judgement_points(entry, item, row)
        if points is None:
            continue
        if points not in known:
            try:
                known[points] = fit_judgement(points, lower=lower, upper=upper, families=families).best
            except ValueError:
                known[points] = None
        fit = known[points]
        if fit is None:
            skipped += 1
            continue
        best[str(row["respondent"])] = (str(row["cohort"]), fit)
    return best, skipped


def item_judgement(
    item: Item,
    entry: Mapping[str, Any],
    data: pd.DataFrame,
    cohorts: Sequence[str],
    disclosure: Disclosure,
    cooke: Mapping[str, Any] | None = None,
    given: GivenWeights | None = None,
) -> ItemJudgement:
    """Fit every respondent's judgement on ``item``, pool each shown group's best fits and draw the pools."""
    lower, upper = _support(entry)
    families = _families(entry)
    best, skipped = best_fits(item, entry, data)
    groups = {ALL: list(best)} | {c: [r for r, (g, _) in best.items() if g == c] for c in cohorts}
    sizes = {g: len(members) for g, members in groups.items()}
    hidden = disclosure.hidden_in(sizes) | {g for g, n in sizes.items() if n == 0}
    shown = [g for g in (ALL, *cohorts) if g not in hidden]
    cooke_weights = _cooke_weights(cooke, item.id)
    given_weights = given.for_item(item.id) if given is not None else {}
    rows: list[dict[str, Any]] = []
    weights: dict[str, dict[str, Any]] = {}
    pools: dict[tuple[str, str], PooledDistribution] = {}
    for group in shown:
        members = groups[group]
        dists = [best[r][1].dist for r in members]
        listed = [
            r for r in members if best[r][0] not in hidden
        ]  # experts of a hidden cohort are never named
        candidates: dict[str, tuple[PooledDistribution, dict[str, float]]] = {}
        equal = {r: 1 / len(members) for r in listed}
        candidates["linear_equal"] = (linear_pool(dists), equal)
        with contextlib.suppress(ValueError):  # experts whose supports do not overlap have no log pool
            candidates["log_equal"] = (log_pool(dists), equal)
        raw = [cooke_weights.get(r, 0.0) for r in members]
        if cooke_weights and sum(raw) > 0:
            pooled = linear_pool(dists, raw)
            candidates["linear_cooke"] = (pooled, dict(zip(members, pooled.weights, strict=True)))
        raw = [given_weights.get(r, 0.0) for r in members]
        if given is not None and sum(raw) > 0:  # respondents not in the file have weight 0
            pooled = linear_pool(dists, raw)
            candidates["linear_given"] = (pooled, dict(zip(members, pooled.weights, strict=True)))
        for name, (pool, used) in candidates.items():
            rows.append({"pool": name, "cohort": group, "n": len(members), **_quantiles(pool)})
            weights.setdefault(name, {})[group] = {r: w for r, w in used.items() if r in listed}
            pools[(name, group)] = pool
    fit_rows = [
        {"respondent": r, "cohort": g, "family": f.family, "sse": f.sse, "params": dict(f.params)}
        for r, (g, f) in best.items()
        if g not in hidden and g in shown
    ]
    figure = figures.pooled_densities(pools, shown, f"{item.id}: {item.text}", item.unit) if pools else None
    return ItemJudgement(
        item=item,
        elicitation=str(entry.get("elicitation") or "quantiles"),
        lower=lower,
        upper=upper,
        families=families,
        fits=pd.DataFrame(fit_rows, columns=["respondent", "cohort", "family", "sse", "params"]),
        pooled=pd.DataFrame(rows, columns=["pool", "cohort", "n", "q05", "q50", "q95"]),
        weights=weights,
        figure=figure,
        skipped=skipped,
    )


def _quantiles(pool: PooledDistribution) -> dict[str, float]:
    return dict(zip(("q05", "q50", "q95"), pool.quantiles(LEVELS), strict=True))
