"""The distribution judgements of an export as EXCALIBUR, anduryl and SHELF read them (docs/export.md,
"Interchange").

Written from what the export folder already holds, ``data.csv`` and the codebook (with its ``realizations``), so
the files say exactly what ``elicit analyze`` reads:

* ``excalibur/<study>.dtt`` and ``.rls``: EXCALIBUR's fixed-column ASCII files, laid out as EXCALIBUR writes
  them and as anduryl's ``read_excalibur`` parses them (expert number, an expert id of at most 8 characters, item
  number, an item id of at most 14, ``UNI``/``LOG``, the quantiles as ``1.00000E+0002``; ``-999.5`` for no value);
* ``anduryl.json``: an anduryl project (``version`` 1.2.1: experts, items with realization, scale, question,
  quantiles, unit, bounds, overshoots, and every expert's values for every item, ``null`` where not answered);
* ``shelf_judgements.csv``: one row per cumulative point of every expert's judgement of every distribution item
  (``item, expert, cohort, round, elicitation, lower, upper, value, probability``), the ``vals`` and ``probs``
  of SHELF's ``fitdist(vals, probs, lower, upper)`` for each expert: a quantile item's quantiles at their levels,
  a roulette's cumulative chip shares at the bin edges, a four-point estimate's central interval and median, a
  fixed-interval item's stated probabilities (:mod:`elicit.stats.judgements`, which the analysis reads them with
  too).

**Conversion to quantiles.** EXCALIBUR and anduryl take quantiles at one set of levels for every item: the
study's levels, those of its first quantile item (5, 50 and 95 % when it has none). A roulette, four-point or
fixed-interval (probabilities) judgement is written there as the quantiles, at those levels, of the expert's
best-fitting SHELF distribution: the family with the least sum of squares among those the item allows, fitted
by least squares on the item's support to the cumulative points above (:func:`elicit.stats.distributions.
fit_judgement`), the fit the analysis pools. A judgement no family fits is written as not answered. The export
then also holds ``interchange.md``, naming the converted items and this method.

Experts are the export's respondent ids (pseudonyms, never names). The answers are those of the latest round,
the round ``elicit analyze`` analyses (a Delphi or IDEA study's final judgements); an incomplete answer is left
out.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from elicit.stats.judgements import (
    FAMILIES,
    Points,
    four_point_points,
    probability_points,
    quantile_points,
    roulette_points,
)

__all__ = [
    "ANDURYL_VERSION",
    "DEFAULT_LEVELS",
    "MISSING",
    "Judgement",
    "QuantileItem",
    "anduryl_project",
    "distribution_items",
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
#: The levels (percent) judgements are converted to when the study has no quantile item to take them from.
DEFAULT_LEVELS = (5.0, 50.0, 95.0)
EXPERT_WIDTH = 8
ITEM_WIDTH = 14
SCALES = {"uniform": "UNI", "loguniform": "LOG"}
CONVERTED = ("roulette", "four_point", "probabilities")
CONVERSION = (
    "quantiles of the expert's best-fitting SHELF distribution (least squares on the cumulative points, the "
    "family with the least sum of squares among those the item allows, on the item's support)"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class QuantileItem:
    """One distribution item of the codebook as EXCALIBUR and anduryl take it: the levels (percent) its quantiles
    are written at, its columns, background, text, support and realization.

    ``elicitation`` is how it was asked; for anything but ``quantiles`` the levels are the study's and the
    quantiles are converted from the expert's points (module docstring). ``entry`` is the codebook's entry.
    """

    id: str
    levels: tuple[float, ...]
    columns: tuple[str, ...]
    background: str = "uniform"
    text: str = ""
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    realization: float | None = None
    elicitation: str = "quantiles"
    entry: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def converted(self) -> bool:
        """Whether its quantiles are converted from other points (roulette, four-point, probabilities)."""
        return self.elicitation != "quantiles"


@dataclass(frozen=True)
class Judgement:
    """One expert's judgement of one item, from the round they were given in: the cumulative ``points`` and the
    quantiles at the item's levels (``values``; None for a converted judgement no family fits)."""

    expert: str
    cohort: str
    round: int
    item: str
    values: tuple[float, ...] | None
    points: Points | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _bound(raw: Mapping[str, Any], name: str, fallback: str) -> float | None:
    """The support the item fixes (``lower``/``upper``), else the answer's range (``min``/``max``)."""
    value = _number(raw.get(name))
    return value if value is not None else _number(raw.get(fallback))


def distribution_items(codebook: Mapping[str, Any]) -> list[QuantileItem]:
    """Every distribution item of the codebook (quantiles, roulette, four-point, probabilities), in instrument
    order; the ones not asked as quantiles get the study's levels (the first quantile item's, else
    :data:`DEFAULT_LEVELS`)."""
    realizations = codebook.get("realizations") or {}
    raws = [
        raw
        for raw in codebook.get("items") or []
        if isinstance(raw, Mapping)
        and raw.get("analysis") == "distribution"
        and raw.get("elicitation", "quantiles") in ("quantiles", *CONVERTED)
    ]
    study_levels: tuple[float, ...] | None = None
    found: list[QuantileItem] = []
    for raw in raws:
        elicitation = str(raw.get("elicitation", "quantiles"))
        columns = tuple(str(c) for c in raw.get("columns") or ())
        levels = (
            tuple(float(level) for level in raw.get("levels") or ()) if elicitation == "quantiles" else ()
        )
        if elicitation == "quantiles":
            if not levels or len(columns) != len(levels):
                continue
            study_levels = study_levels or levels
        elif not columns:
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
                lower=_bound(raw, "lower", "min"),
                upper=_bound(raw, "upper", "max"),
                realization=_number(realizations.get(item_id)),
                elicitation=elicitation,
                entry=raw,
            )
        )
    levels = study_levels or DEFAULT_LEVELS
    return [item if not item.converted else replace(item, levels=levels) for item in found]


def quantile_items(codebook: Mapping[str, Any]) -> list[QuantileItem]:
    """The codebook's quantile judgements (``analysis: distribution`` elicited as quantiles), in instrument order."""
    return [item for item in distribution_items(codebook) if not item.converted]


def _part(column: str, item: QuantileItem) -> str:
    prefix = f"{item.id}."
    return column[len(prefix) :] if column.startswith(prefix) else column


def judgement_points(item: QuantileItem, values: Sequence[float]) -> Points | None:
    """The cumulative points of one complete answer (one number per column), or None when they are not valid."""
    given = {_part(column, item): value for column, value in zip(item.columns, values, strict=True)}
    try:
        if item.elicitation == "quantiles":
            return quantile_points(item.levels, values)
        if item.elicitation == "roulette":
            edges = [float(e) for e in item.entry.get("edges") or ()]
            chips = [given[c] for c in sorted(given, key=lambda c: int(c.lstrip("b")))]
            return roulette_points(edges, chips)
        if item.elicitation == "four_point":
            return four_point_points(given["low"], given["best"], given["high"], given["confidence"])
        points = [float(x) for x in item.entry.get("points") or ()]
        percents = [given[c] for c in sorted(given, key=lambda c: int(c.lstrip("p")))]
        return probability_points(points, percents) if len(points) == len(percents) else None
    except (KeyError, ValueError):
        return None


def converted_quantiles(item: QuantileItem, points: Points) -> tuple[float, ...] | None:
    """The quantiles at ``item.levels`` of the best-fitting SHELF distribution to ``points`` (module docstring),
    or None when no family fits them."""
    from elicit.stats.distributions import fit_judgement  # scipy: loaded only for a study with such items

    raw = item.entry.get("families", item.entry.get("family"))
    names = (raw,) if isinstance(raw, str) else tuple(str(f) for f in raw or ())
    families = tuple(f for f in names if f in FAMILIES) or None
    try:
        best = fit_judgement(points, lower=item.lower, upper=item.upper, families=families).best
    except ValueError:
        return None
    quantiles = [float(q) for q in best.dist.ppf([level / 100 for level in item.levels])]
    return tuple(quantiles) if all(math.isfinite(q) for q in quantiles) else None


def read_judgements(data_csv: Path, items: Sequence[QuantileItem]) -> list[Judgement]:
    """The complete answers of the latest round in ``data.csv`` (streamed), sorted by expert and item.

    The latest round is the one ``elicit analyze`` analyses (a Delphi or IDEA study's final judgements); an answer
    is complete when every column of the item holds a number (and, for an item not asked as quantiles, when the
    numbers make valid points; their quantiles are then converted, :func:`converted_quantiles`).
    """
    latest = 0
    kept: dict[tuple[str, str], tuple[str, int, tuple[float, ...]]] = {}
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
                    kept[(row[respondent], item.id)] = (row[cohort], number, tuple(values))
    by_id = {item.id: item for item in items}
    judgements: list[Judgement] = []
    for (expert, item_id), (group, number, answer) in kept.items():
        item = by_id[item_id]
        points = judgement_points(item, answer)
        if not item.converted:
            judgements.append(Judgement(expert, group, number, item_id, answer, points))
        elif points is not None:
            quantiles = converted_quantiles(item, points)
            judgements.append(Judgement(expert, group, number, item_id, quantiles, points))
    order = {item.id: position for position, item in enumerate(items)}
    return sorted(judgements, key=lambda j: (j.expert, order[j.item]))


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


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


SHELF_COLUMNS = ("item", "expert", "cohort", "round", "elicitation", "lower", "upper", "value", "probability")


def shelf_table(items: Sequence[QuantileItem], judgements: Sequence[Judgement]) -> list[list[str]]:
    """``shelf_judgements.csv`` as rows, the header (:data:`SHELF_COLUMNS`) first: one row per cumulative point of
    each judgement (items in instrument order, experts by id, points by value).

    ``lower`` and ``upper`` are the support a fit takes: the item's, else the judgement's own (a roulette's outer
    edges with chips, a fixed-interval value given 0 or 100 %); empty when unbounded.
    """
    rows = [list(SHELF_COLUMNS)]
    by_id = {item.id: item for item in items}
    order = {item.id: position for position, item in enumerate(items)}
    for j in sorted(judgements, key=lambda j: (order[j.item], j.expert)):
        item, points = by_id[j.item], j.points
        if points is None:
            continue
        lower = item.lower if item.lower is not None else points.lower
        upper = item.upper if item.upper is not None else points.upper
        for value, probability in zip(points.values, points.probabilities, strict=True):
            rows.append(
                [
                    j.item,
                    j.expert,
                    j.cohort,
                    str(j.round),
                    item.elicitation,
                    _cell(lower),
                    _cell(upper),
                    _cell(value),
                    _cell(round(probability, 12)),
                ]
            )
    return rows


def conversion_note(items: Sequence[QuantileItem]) -> str:
    """``interchange.md``: which items EXCALIBUR and anduryl hold as converted quantiles, and how."""
    converted = [item for item in items if item.converted]
    levels = ", ".join(f"{level:g}" for level in converted[0].levels) if converted else ""
    lines = [
        "# Interchange files",
        "",
        "`excalibur/*.dtt`, `anduryl.json`: quantiles at one set of levels for every item "
        f"({levels} %). The items below were not asked as quantiles; their quantiles are the {CONVERSION}. "
        "A judgement no family fits is written as not answered.",
        "",
        "`shelf_judgements.csv`: every judgement as its own cumulative points (value, probability), as SHELF's "
        "fitdist takes them; nothing is converted there.",
        "",
        "| item | elicitation | support |",
        "|---|---|---|",
        *(
            f"| {item.id} | {item.elicitation} | {_cell(item.lower) or '-inf'} to {_cell(item.upper) or 'inf'} |"
            for item in converted
        ),
        "",
    ]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- the files


def _stem(codebook: Mapping[str, Any]) -> str:
    slug = str((codebook.get("study") or {}).get("slug") or "study")
    return _UNSAFE.sub("_", slug).strip("._") or "study"


def write_interchange(folder: Path, codebook: Mapping[str, Any]) -> list[str]:
    """Write the interchange files into the export ``folder`` and return their paths relative to it.

    Nothing is written when no expert answered a distribution item. The EXCALIBUR pair holds the items at the
    study's levels: the quantile items that share the first one's levels (those the Cooke analysis of ``elicit
    analyze`` scores) and the converted items;
    ``anduryl.json`` every distribution item; ``shelf_judgements.csv`` every judgement's points; and
    ``interchange.md``, when an item was converted, says which and how.
    """
    items = distribution_items(codebook)
    if not items:
        return []
    judgements = read_judgements(folder / "data.csv", items)
    if not judgements:
        return []
    levels = next((item.levels for item in items if not item.converted), items[0].levels)
    same = [item for item in items if item.levels == levels]
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
    if any(item.converted for item in items):
        (folder / "interchange.md").write_text(conversion_note(items), encoding="utf-8")
        written.append("interchange.md")
    return written
