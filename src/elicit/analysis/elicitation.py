"""Expert elicitation in the report: Delphi consensus and stability across rounds, and Cooke's classical model.

Both read only the export folder: rounds come from the ``round`` column, the study's consensus rule from
``codebook.json``'s ``consensus_rule`` (or ``manifest.json``'s ``study.consensus_rule``), the k under which small
groups are hidden from ``manifest.json`` (:func:`elicit.analysis.disclosure.manifest_k`), seed realizations and
backgrounds from ``codebook.json`` (``realizations`` and each distribution item's ``seed``/``background``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from elicit.stats.consensus import ConsensusRule, answers_long, delphi_tables

from . import figures
from .cooke import CookeSettings, classical_model, plot_ranges, results_dict, robustness
from .disclosure import manifest_k
from .export_folder import ExportData, Kind
from .json_values import json_safe

MIN_EXPERTS = 2


@dataclass(frozen=True, eq=False)
class DelphiSummary:
    """Consensus per round and stability between consecutive rounds.

    ``k`` is the export's k (None for a folder without a manifest: nothing is then hidden) and ``suppressed``
    the number of consensus rows left out under it, as in the export's ``consensus.csv``.
    """

    rule: ConsensusRule
    consensus: pd.DataFrame
    stability: pd.DataFrame
    rounds: tuple[int, ...]
    k: int | None = None
    suppressed: int = 0


@dataclass(frozen=True, eq=False)
class CookeSummary:
    results: Mapping[str, Any]
    figure: str | None
    seeds: tuple[str, ...]
    targets: tuple[str, ...]


def _ordinal_items(export: ExportData) -> dict[str, list[Any]]:
    """The items whose consensus the Delphi tables judge: ordinal items and nominal ones coded with numbers (as
    the export's ``consensus.csv`` takes them), each with its codes' values."""
    return {
        item.id: [c.value for c in item.choices]
        for item in export.codebook.items_of_kind(Kind.ORDINAL, Kind.NOMINAL)
        if item.numeric_codes
    }


def export_rule(export: ExportData) -> ConsensusRule | None:
    """The study's consensus rule as the export records it, or None for an export that records none.

    Raises ``ValueError`` when the recorded rule is not a valid :class:`ConsensusRule`.
    """
    raw = export.codebook.raw.get("consensus_rule")
    if raw is None and export.manifest:
        raw = (export.manifest.get("study") or {}).get("consensus_rule")
    if raw is None:
        return None
    try:
        return ConsensusRule.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the export's consensus rule cannot be used: {exc}") from None


def delphi_summary(export: ExportData, rule: ConsensusRule | None = None) -> DelphiSummary | None:
    """Consensus and stability tables when the data hold more than one round (None otherwise).

    ``rule`` defaults to the study's rule recorded in the export (:func:`export_rule`), and to
    :class:`ConsensusRule`'s defaults only for an export that records none. The tables come from
    :func:`elicit.stats.consensus.delphi_tables`, as the studio's and the export's consensus tables do, and
    under the same k (the manifest's, :func:`elicit.analysis.disclosure.manifest_k`): a cohort with fewer than k
    answers is left out, with whatever would give it back, so no table shows a group ``consensus.csv`` hides.
    """
    data = export.data
    rounds = tuple(sorted(int(r) for r in data["round"].dropna().unique()))
    if len(rounds) < 2:
        return None
    choices = _ordinal_items(export)
    columns = [c for c in choices if c in data.columns]
    if not columns:
        return None
    rule = rule or export_rule(export) or ConsensusRule()
    k = manifest_k(export.manifest)
    tables = delphi_tables(answers_long(data, columns), {c: choices[c] for c in columns}, rule, k=k)
    return DelphiSummary(rule, tables.consensus, tables.stability, rounds, k, tables.suppressed)


def cooke_summary(export: ExportData, data: pd.DataFrame) -> tuple[CookeSummary | None, list[str]]:
    """Cooke's classical model on the quantile items when the codebook carries seed realizations."""
    raw_items = {
        str(i.get("id")): i for i in export.codebook.raw.get("items") or [] if isinstance(i, Mapping)
    }
    realizations = {
        str(k): float(v) for k, v in (export.codebook.raw.get("realizations") or {}).items() if v is not None
    }
    quantile_items = export.codebook.quantile_items()
    if not realizations or not quantile_items:
        return None, []
    warnings: list[str] = []
    levels = quantile_items[0].levels
    same_levels = [i for i in quantile_items if i.levels == levels]
    rows = []
    for record in data.to_dict("records"):
        for item in same_levels:
            values = [record.get(column) for column in item.columns]
            if all(pd.notna(v) for v in values):
                rows.append(
                    {
                        "expert": record["respondent"],
                        "item": item.id,
                        **dict(zip(item.columns, values, strict=True)),
                    }
                )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return None, ["No expert answered every part of the quantile items, so Cooke's model was not run."]
    frame.columns = [c.split(".")[-1] if "." in c else c for c in frame.columns]
    seeds = tuple(i.id for i in same_levels if i.id in realizations)
    if frame["expert"].nunique() < MIN_EXPERTS or not seeds:
        return None, ["Cooke's model needs at least two experts and one seed question with its realization."]
    backgrounds = {i.id: str(raw_items.get(i.id, {}).get("background", "uniform")) for i in same_levels}
    fractions = tuple(level / 100 if level > 1 else level for level in levels)
    settings = CookeSettings(levels=fractions, background=backgrounds)
    try:
        result = classical_model(frame, {k: realizations[k] for k in seeds}, settings)
    except ValueError as exc:
        return None, [f"Cooke's model could not be computed: {exc}"]
    figure = figures.figure_uri(plot_ranges(result))
    targets = tuple(i.id for i in same_levels if i.id not in realizations)
    warnings.extend(result.warnings)
    document = results_dict(result)
    document["robustness"] = json_safe(
        robustness(frame, {k: realizations[k] for k in seeds}, settings).to_dict(orient="records")
    )
    return CookeSummary(document, figure, seeds, targets), warnings


def confidence_summary(export: ExportData, data: pd.DataFrame) -> pd.DataFrame:
    """Items that asked for a confidence rating: per cohort the mean answer, the confidence-weighted mean
    (weights = the expert's rating 1-5) and the mean confidence. "Don't know" answers are missing, never values.
    """
    rows = []
    raw_items = [i for i in export.codebook.raw.get("items") or [] if isinstance(i, Mapping)]
    for raw in raw_items:
        column = f"{raw.get('id')}.confidence"
        if column not in (raw.get("note_columns") or []) or column not in data.columns:
            continue
        value_column = str(raw.get("id"))
        if value_column not in data.columns:
            continue
        values = pd.to_numeric(data[value_column], errors="coerce")
        weights = pd.to_numeric(data[column], errors="coerce")
        for cohort in [*sorted(data["cohort"].dropna().unique()), "all"]:
            mask = values.notna() & (data["cohort"] == cohort if cohort != "all" else True)
            both = mask & weights.notna()
            rows.append(
                {
                    "item": value_column,
                    "cohort": cohort,
                    "n": int(mask.sum()),
                    "mean": float(values[mask].mean()) if mask.any() else float("nan"),
                    "n_rated": int(both.sum()),
                    "weighted_mean": float((values[both] * weights[both]).sum() / weights[both].sum())
                    if both.any()
                    else float("nan"),
                    "mean_confidence": float(weights[both].mean()) if both.any() else float("nan"),
                }
            )
    return pd.DataFrame(rows)
