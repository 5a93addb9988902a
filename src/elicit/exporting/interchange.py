"""The quantile judgements of an export as EXCALIBUR, anduryl and SHELF read them (docs/export.md, "Interchange").

Written from what the export folder already holds, ``data.csv`` and the codebook (with its ``realizations``), so
the files say exactly what ``elicit analyze`` reads:

* ``excalibur/<study>.dtt`` and ``.rls``: EXCALIBUR's fixed-column ASCII files, laid out as EXCALIBUR writes
  them and as anduryl's ``read_excalibur`` parses them (expert number, an expert id of at most 8 characters, item
  number, an item id of at most 14, ``UNI``/``LOG``, the quantiles as ``1.00000E+0002``; ``-999.5`` for no value);
* ``anduryl.json``: an anduryl project (``version`` 1.2.1: experts, items with realization, scale, question,
  quantiles, unit, bounds, overshoots, and every expert's values for every item, ``null`` where not answered);
* ``shelf_judgements.csv``: one row per expert and item with a column per probability (``p0.05``, ``p0.5``,
  ...), ready for SHELF's ``fitdist(vals, probs, lower, upper)``.

Experts are the export's respondent ids (pseudonyms, never names). The answers are those of the latest round,
the round ``elicit analyze`` analyses (a Delphi or IDEA study's final judgements); an answer missing a quantile
is left out.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ANDURYL_VERSION",
    "MISSING",
    "Judgement",
    "QuantileItem",
    "anduryl_project",
    "excalibur_texts",
    "quantile_items",
    "read_judgements",
    "shelf_table",
    "write_interchange",
]

#: EXCALIBUR's "no value": every number from -1000 to -990 means not given (a target's realization, a skipped item).
MISSING = -999.5
#: The anduryl project format version whose reader (``anduryl.io.reader.read_json``) takes these files.
ANDURYL_VERSION = "1.2.1"
EXPERT_WIDTH = 8
ITEM_WIDTH = 14
SCALES = {"uniform": "UNI", "loguniform": "LOG"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class QuantileItem:
    """One quantiles item of the codebook: its levels (percent), columns, background, text and realization."""

    id: str
    levels: tuple[float, ...]
    columns: tuple[str, ...]
    background: str = "uniform"
    text: str = ""
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    realization: float | None = None


@dataclass(frozen=True)
class Judgement:
    """One expert's quantiles of one item, from the round they were given in."""

    expert: str
    cohort: str
    round: int
    item: str
    values: tuple[float, ...]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def quantile_items(codebook: Mapping[str, Any]) -> list[QuantileItem]:
    """The codebook's quantile judgements (``analysis: distribution`` elicited as quantiles), in instrument order."""
    realizations = codebook.get("realizations") or {}
    found: list[QuantileItem] = []
    for raw in codebook.get("items") or []:
        if not isinstance(raw, Mapping) or raw.get("analysis") != "distribution":
            continue
        if raw.get("elicitation", "quantiles") != "quantiles":
            continue
        levels = tuple(float(level) for level in raw.get("levels") or ())
        columns = tuple(str(c) for c in raw.get("columns") or ())
        if not levels or len(columns) != len(levels):
            continue
        item_id = str(raw["id"])
        found.append(
            QuantileItem(
                id=item_id,
                levels=levels,
                columns=columns,
                background=str(raw.get("background") or "uniform"),
                text=" ".join(str(raw.get("text") or "").split()),
                unit=str(raw.get("unit") or ""),
                lower=_number(raw.get("min")),
                upper=_number(raw.get("max")),
                realization=_number(realizations.get(item_id)),
            )
        )
    return found


def read_judgements(data_csv: Path, items: Sequence[QuantileItem]) -> list[Judgement]:
    """The complete answers of the latest round in ``data.csv`` (streamed), sorted by expert and item.

    The latest round is the one ``elicit analyze`` analyses (a Delphi or IDEA study's final judgements); an answer
    is complete when every quantile column holds a number.
    """
    latest = 0
    kept: dict[tuple[str, str], Judgement] = {}
    with data_csv.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return []
        index = {name: i for i, name in enumerate(header)}
        wanted = [(item, [index.get(c) for c in item.columns]) for item in items]
        respondent, cohort, round_ = index["respondent"], index["cohort"], index["round"]
        for row in reader:
            number = int(row[round_]) if row[round_] else 0
            if number < latest:
                continue
            if number > latest:
                latest = number
                kept.clear()
            for item, positions in wanted:
                values: list[float] = []
                for position in positions:
                    try:
                        value = float(row[position]) if position is not None else math.nan
                    except ValueError:
                        break
                    if not math.isfinite(value):
                        break
                    values.append(value)
                else:
                    key = (row[respondent], item.id)
                    kept[key] = Judgement(row[respondent], row[cohort], number, item.id, tuple(values))
    order = {item.id: position for position, item in enumerate(items)}
    return sorted(kept.values(), key=lambda j: (j.expert, order[j.item]))


# ---------------------------------------------------------------------------------------------------- EXCALIBUR


def short_ids(names: Sequence[str], width: int) -> dict[str, str]:
    """Distinct ids of at most ``width`` characters without spaces: the name cut to the width, ``~2``... on a clash."""
    used: set[str] = set()
    short: dict[str, str] = {}
    for name in names:
        base = _UNSAFE.sub("_", name) or "_"
        candidate = base[:width]
        counter = 1
        while candidate in used:
            counter += 1
            suffix = f"~{counter}"
            candidate = base[: width - len(suffix)] + suffix
        used.add(candidate)
        short[name] = candidate
    return short


def excalibur_value(value: float | None) -> str:
    """A number as EXCALIBUR writes it: 6 significant digits, a 4-digit exponent, a space before positive ones."""
    number = MISSING if value is None else float(value)
    mantissa, exponent = f"{number:.5E}".split("E")
    text = f"{mantissa}E{int(exponent):+05d}"
    return text if text.startswith("-") else " " + text


def _percent(level: float) -> str:
    return f"{int(level):2d}" if float(level).is_integer() else f"{level:g}"


def excalibur_texts(items: Sequence[QuantileItem], judgements: Sequence[Judgement]) -> tuple[str, str]:
    """The ``.dtt`` (assessments) and ``.rls`` (realizations) texts for items that share one set of levels.

    Every expert gets a line for every item (EXCALIBUR's and anduryl's readers expect the full grid), with
    :data:`MISSING` where the expert gave no answer.
    """
    levels = items[0].levels
    if any(item.levels != levels for item in items):
        raise ValueError("an EXCALIBUR file holds items with one set of quantile levels")
    experts = sorted({j.expert for j in judgements})
    expert_ids = short_ids(experts, EXPERT_WIDTH)
    item_ids = short_ids([item.id for item in items], ITEM_WIDTH)
    answers = {(j.expert, j.item): j.values for j in judgements}
    lines = [
        f"* CLASS ASCII OUTPUT FILE. NQ= {len(levels):3d}   QU=  " + "  ".join(_percent(x) for x in levels)
    ]
    for e, expert in enumerate(experts, start=1):
        for i, item in enumerate(items, start=1):
            values = answers.get((expert, item.id)) or (None,) * len(levels)
            cells = " ".join(excalibur_value(v) for v in values)
            lines.append(
                f" {e:4d} {expert_ids[expert]:>8s} {i:4d} {item_ids[item.id]:>14s} {SCALES[item.background]:>3s} "
                f"{cells} "
            )
    rls = [
        f" {i:4d} {item_ids[item.id]:>14s} {excalibur_value(item.realization)} {SCALES[item.background]:>3s} "
        for i, item in enumerate(items, start=1)
    ]
    return "\n".join(lines) + "\n", "\n".join(rls) + "\n"


# ------------------------------------------------------------------------------------------------------ anduryl


def anduryl_project(items: Sequence[QuantileItem], judgements: Sequence[Judgement]) -> dict[str, Any]:
    """An anduryl project (``SaveModel`` 1.2.1): experts, items and every expert's values for every item.

    Field names and order are those anduryl's own ``to_json`` writes; a missing number is ``null`` (pydantic's
    JSON for NaN), which anduryl reads back as missing.
    """
    experts = sorted({j.expert for j in judgements})
    answers = {(j.expert, j.item): j.values for j in judgements}
    return {
        "version": ANDURYL_VERSION,
        "experts": {expert: {"name": "", "user_weight": None} for expert in experts},
        "items": {
            item.id: {
                "realization": item.realization,
                "scale": "log" if item.background == "loguniform" else "uni",
                "question": item.text,
                "quantiles": [level / 100 for level in item.levels],
                "unit": item.unit,
                "bounds": [item.lower, item.upper],
                "overshoots": [None, None],
            }
            for item in items
        },
        "assessments": {
            expert: {
                item.id: list(answers.get((expert, item.id)) or [None] * len(item.levels)) for item in items
            }
            for expert in experts
        },
    }


# -------------------------------------------------------------------------------------------------------- SHELF


def probability_column(level: float) -> str:
    """The SHELF column of a level in percent: ``5 -> "p0.05"``, ``50 -> "p0.5"``, ``2.5 -> "p0.025"``."""
    return f"p{round(level / 100, 12):g}"


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def shelf_table(items: Sequence[QuantileItem], judgements: Sequence[Judgement]) -> list[list[str]]:
    """``shelf_judgements.csv`` as rows, the header first: ``item, expert, cohort, round, lower, upper`` and a
    column per probability (the union of the items' levels, ascending; empty where an item did not ask it)."""
    levels = sorted({level for item in items for level in item.levels})
    by_id = {item.id: item for item in items}
    rows = [["item", "expert", "cohort", "round", "lower", "upper", *(probability_column(x) for x in levels)]]
    order = {item.id: position for position, item in enumerate(items)}
    for j in sorted(judgements, key=lambda j: (order[j.item], j.expert)):
        item = by_id[j.item]
        given = dict(zip(item.levels, j.values, strict=True))
        rows.append(
            [
                j.item,
                j.expert,
                j.cohort,
                str(j.round),
                _cell(item.lower),
                _cell(item.upper),
                *(_cell(given.get(level)) for level in levels),
            ]
        )
    return rows


# -------------------------------------------------------------------------------------------------- the files


def _stem(codebook: Mapping[str, Any]) -> str:
    slug = str((codebook.get("study") or {}).get("slug") or "study")
    return _UNSAFE.sub("_", slug).strip("._") or "study"


def write_interchange(folder: Path, codebook: Mapping[str, Any]) -> list[str]:
    """Write the interchange files into the export ``folder`` and return their paths relative to it.

    Nothing is written when no expert answered a quantile item. The EXCALIBUR pair holds the items that share
    the first quantile item's levels (as the Cooke analysis of ``elicit analyze`` does); ``anduryl.json`` and
    ``shelf_judgements.csv`` hold every quantile item.
    """
    items = quantile_items(codebook)
    if not items:
        return []
    judgements = read_judgements(folder / "data.csv", items)
    if not judgements:
        return []
    same = [item for item in items if item.levels == items[0].levels]
    same_ids = {item.id for item in same}
    stem = _stem(codebook)
    written: list[str] = []
    excalibur = [j for j in judgements if j.item in same_ids]
    if excalibur:
        dtt, rls = excalibur_texts(same, excalibur)
        (folder / "excalibur").mkdir(mode=0o700, exist_ok=True)
        for suffix, text in ((".dtt", dtt), (".rls", rls)):
            name = f"excalibur/{stem}{suffix}"
            (folder / name).write_text(text, encoding="ascii", errors="replace", newline="\n")
            written.append(name)
    project = anduryl_project(items, judgements)
    (folder / "anduryl.json").write_text(
        json.dumps(project, ensure_ascii=False, indent=4, allow_nan=False) + "\n", encoding="utf-8"
    )
    written.append("anduryl.json")
    with (folder / "shelf_judgements.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(shelf_table(items, judgements))
    written.append("shelf_judgements.csv")
    return written
