"""The export plan: which columns the data has, and how each stored answer becomes a cell.

The plan is built once per export from the instrument versions a study used, so nothing re-describes an item:
column names, types, labels, value labels, measures and privacy treatment all come from the definitions. Across
versions the columns are the union joined on item id; an item absent from a version is simply never filled
(empty, never zero). Where versions disagree, the newest version that has the item describes it, except that a
``direct_identifier`` marking in any version wins (the strictest reading is the safe one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elicit.errors import ElicitError
from elicit.exporting.anonymize import Coarsening, Scrubber, coarsening_for
from elicit.instruments.schema import Definition, Item, text_in
from elicit.instruments.types.date import parse_date

FIXED_COLUMNS = ("respondent", "cohort", "round", "instrument_version", "language", "submitted_on")
IDENTITY_COLUMNS = ("invitation_id", "roster_name", "roster_email", "roster_organisation")
DONT_KNOW_PART = "dont_know"

Converter = Callable[[float | None, str | None], Any]
"""Turns a stored answer (value_num, value_text) into a cell."""


@dataclass(frozen=True)
class VersionInfo:
    """A published instrument version used by the study (by a round or by a submitted response)."""

    id: int
    version: str
    sha256: str
    definition: Definition

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.version.split("."))


@dataclass
class Variable:
    """One column of ``data``: its name, meaning and cell type (``int``, ``float``, ``string`` or ``date``)."""

    name: str
    item_id: str | None
    part: str | None
    kind: str  # fixed | identity | value | dont_know | note (confidence, Delphi reason)
    type: str  # the item type as exported (a binned number is a single_choice of bins), or "meta"
    dtype: str
    measure: str
    label: str
    value_labels: dict[Any, str] | None = None
    versions: tuple[str, ...] = ()
    privacy: str = "none"
    treatment: str = "kept"
    quasi_identifier: bool = False
    suffix: str = (
        ""  # the end of the label naming the part (": 5th percentile"); kept when a label is shortened
    )
    #: The label and value labels in each of the instrument's languages (``codebook.json``'s ``wording``);
    #: empty for the fixed columns, whose labels are Elicit's own.
    wording: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ItemEntry:
    """An item of the codebook (every item of every version, exported or not)."""

    data: dict[str, Any]
    columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Slot:
    """Where one stored variable (item id, part) goes, and how its stored value becomes a cell."""

    index: int
    convert: Converter
    dk_index: int | None


@dataclass
class ExportPlan:
    """Everything the row pipeline and the writers need to know about the columns."""

    variables: list[Variable]
    slots: dict[tuple[str, str], Slot]
    dont_know: dict[str, int]
    items: list[ItemEntry]
    language: str
    dropped: list[str]
    coarsened: dict[str, Coarsening]
    scrubbed: list[str]
    qi_indexes: list[int]
    qi_items: list[str]
    identified: bool
    languages: tuple[str, ...] = ()  # every language of the versions, the first (``language``) first

    def lookup(self) -> dict[str, dict[str, tuple[int, Converter | None, int | None]]]:
        """Slots by item id, then part: ``(index, converter, dont-know index)`` for the row pipeline's hot loop.

        The converter is None for the common case, a whole number stored as a number with no rule to apply,
        so the loop can call ``int`` directly.
        """
        table: dict[str, dict[str, tuple[int, Converter | None, int | None]]] = {}
        for (item_id, part), slot in self.slots.items():
            convert = None if slot.convert is to_int else slot.convert
            table.setdefault(item_id, {})[part] = (slot.index, convert, slot.dk_index)
        return table

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def width(self) -> int:
        return len(self.variables)

    def index(self, name: str) -> int:
        for position, variable in enumerate(self.variables):
            if variable.name == name:
                return position
        raise KeyError(name)


class PlanError(ElicitError, ValueError):
    """The stored answers cannot be read as the instrument describes them."""


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def to_int(num: float | None, text: str | None) -> int | None:
    if num is not None:
        return int(num)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise PlanError(f"a stored answer {text!r} is not a whole number") from None


def _to_float(num: float | None, text: str | None) -> float | int | None:
    if num is None:
        if text is None:
            return None
        try:
            num = float(text)
        except ValueError:
            raise PlanError(f"a stored answer {text!r} is not a number") from None
    # Whole numbers are written as such ("40", not "40.0"); typed formats still store a float.
    return int(num) if num.is_integer() else num


def _to_text(num: float | None, text: str | None) -> str | None:
    if text is not None:
        return text
    return None if num is None else _number_text(num)


def _to_date(num: float | None, text: str | None) -> dt.date | None:
    """A date stored as ISO text (``2024-05-31``) as a date; anything else stored is refused, not guessed at."""
    if text is None:
        if num is None:
            return None
        raise PlanError(f"a stored answer {_number_text(num)} is not a date (YYYY-MM-DD)")
    value = parse_date(text)
    if value is None:
        raise PlanError(f"a stored answer {text!r} is not a date (YYYY-MM-DD)")
    return value


CONVERTERS: dict[str, Converter] = {
    "int": to_int,
    "float": _to_float,
    "string": _to_text,
    "date": _to_date,
}


def _compose(convert: Converter, transform: Callable[[Any], Any] | None) -> Converter:
    if transform is None:
        return convert

    def converted(num: float | None, text: str | None) -> Any:
        value = convert(num, text)
        return None if value is None else transform(value)

    return converted


def merged_item_order(versions: Sequence[VersionInfo]) -> list[str]:
    """Item ids of every version in one order: the newest version's, with older-only items after their predecessor."""
    ordered = sorted(versions, key=lambda v: v.key)
    if not ordered:
        return []
    order = [item.id for item in ordered[-1].definition.items()]
    for info in reversed(ordered[:-1]):
        previous: str | None = None
        for item in info.definition.items():
            if item.id not in order:
                position = order.index(previous) + 1 if previous is not None else 0
                order.insert(position, item.id)
            previous = item.id
    return order


def _resolved_privacy(members: Sequence[tuple[VersionInfo, Item]]) -> tuple[str, Item]:
    """The privacy kind an item is treated under, and the item (version) whose rule applies."""
    newest = members[-1][1]
    if any(item.privacy.kind == "direct_identifier" for _, item in members):
        return "direct_identifier", newest
    return newest.privacy.kind, newest


def _choice_labels(items: Sequence[Item], language: str) -> list[tuple[Any, str]]:
    """Codes and labels of a choice item, newest version first, codes only older versions had after them."""
    seen: dict[str, tuple[Any, str]] = {}
    for item in reversed(items):
        for choice in item.choices:
            seen.setdefault(choice.key, (choice.code, text_in(choice.label, language) or choice.key))
    return list(seen.values())


def _label(item: Item, language: str) -> str:
    return text_in(item.text, language) or item.id


#: The keys of an item type's codebook entry (``ItemType.codebook``) that are the instrument's wording.
WORDING_KEYS = ("min_label", "max_label")


def _item_wording(items: Sequence[Item], languages: Sequence[str]) -> dict[str, dict[str, Any]]:
    """An item's wording in each language: text, and where it has them help, unit, choices and a type's anchors.

    A type's codebook key counts as wording when it is one of :data:`WORDING_KEYS` or differs between languages.
    """
    item = items[-1]
    extras = {language: item.kind.codebook(items, language) for language in languages}
    worded = {
        key
        for extra in extras.values()
        for key, value in extra.items()
        if key in WORDING_KEYS or any(other.get(key) != value for other in extras.values())
    }
    wording: dict[str, dict[str, Any]] = {}
    for language in languages:
        words: dict[str, Any] = {"text": _label(item, language)}
        if item.help:
            words["help"] = text_in(item.help, language)
        if item.unit:
            words["unit"] = text_in(item.unit, language)
        choices = _choice_labels(items, language)
        if choices:
            words["choices"] = [{"code": code, "label": label} for code, label in choices]
        words.update({key: value for key, value in extras[language].items() if key in worded})
        wording[language] = words
    return wording


def _variable_wording(
    item: Item, suffixes: Mapping[str, str], value_labels: Mapping[str, Mapping[Any, str] | None]
) -> dict[str, dict[str, Any]]:
    """A column's label (the item's text, then its suffix) and value labels in each language of ``suffixes``."""
    wording: dict[str, dict[str, Any]] = {}
    for language, suffix in suffixes.items():
        words: dict[str, Any] = {"label": _label(item, language) + suffix}
        labels = value_labels.get(language)
        if labels is not None:
            words["value_labels"] = value_labels_json(labels)
        wording[language] = words
    return wording


def build_plan(
    versions: Sequence[VersionInfo],
    cohorts: Sequence[tuple[str, str]],
    *,
    identified: bool,
    pseudonymous: bool,
    scrubber: Scrubber | None,
    rationale_items: frozenset[str] = frozenset(),
) -> ExportPlan:
    """Columns and converters for a study's versions.

    ``identified`` keeps direct identifiers and raw values (and adds roster columns in pseudonymous studies);
    otherwise direct identifiers are dropped, quasi-identifiers coarsened by their rule and every text item is
    passed through ``scrubber``.
    """
    ordered = sorted(versions, key=lambda v: v.key)
    newest = ordered[-1].definition if ordered else None
    language = newest.languages[0] if newest else "en"
    languages = {lang for info in ordered for lang in info.definition.languages}
    all_languages = tuple(
        dict.fromkeys(lang for info in reversed(ordered) for lang in info.definition.languages)
    )
    variables: list[Variable] = [
        Variable("respondent", None, None, "fixed", "meta", "string", "nominal", "Respondent (pseudonym)"),
        Variable(
            "cohort",
            None,
            None,
            "fixed",
            "meta",
            "string",
            "nominal",
            "Cohort",
            value_labels={code: label for code, label in cohorts},
            quasi_identifier=True,
        ),
        Variable("round", None, None, "fixed", "meta", "int", "ordinal", "Round"),
        Variable(
            "instrument_version", None, None, "fixed", "meta", "string", "nominal", "Instrument version"
        ),
        Variable(
            "language",
            None,
            None,
            "fixed",
            "meta",
            "string",
            "nominal",
            "Language the expert answered in",
            quasi_identifier=len(languages) > 1,
        ),
        Variable("submitted_on", None, None, "fixed", "meta", "date", "scale", "Date submitted"),
    ]
    if identified and pseudonymous:
        variables += [
            Variable("invitation_id", None, None, "identity", "meta", "int", "nominal", "Invitation id"),
            Variable("roster_name", None, None, "identity", "meta", "string", "nominal", "Name (roster)"),
            Variable("roster_email", None, None, "identity", "meta", "string", "nominal", "E-mail (roster)"),
            Variable(
                "roster_organisation",
                None,
                None,
                "identity",
                "meta",
                "string",
                "nominal",
                "Organisation (roster)",
            ),
        ]
    taken = {v.name for v in variables}
    slots: dict[tuple[str, str], Slot] = {}
    dont_know: dict[str, int] = {}
    entries: list[ItemEntry] = []
    dropped: list[str] = []
    coarsened: dict[str, Coarsening] = {}
    scrubbed: list[str] = []
    qi_items: list[str] = []

    def unique(name: str) -> str:
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate)
        return candidate

    for item_id in merged_item_order(ordered):
        members = [
            (info, info.definition.item(item_id)) for info in ordered if _has(info.definition, item_id)
        ]
        items = [item for _, item in members]
        in_versions = tuple(info.version for info, _ in members)
        kind, ruled = _resolved_privacy(members)
        item = items[-1]
        assert newest is not None  # nosec B101  # narrows the type; without it a None fails just the same (AttributeError)
        scale = next((s for s in newest.scales.values() if item_id in s.items), None)
        if scale is None:
            scale = next(
                (
                    s
                    for info in reversed(ordered)
                    for s in info.definition.scales.values()
                    if item_id in s.items
                ),
                None,
            )
        data: dict[str, Any] = {
            "id": item_id,
            "type": item.type,
            "analysis": item.kind.analysis,
            "page": item.page,
            "text": _label(item, language),
            "scale": scale.name if scale else None,
            "reverse": bool(scale and item_id in scale.reverse),
            "versions": list(in_versions),
            "privacy": kind,
            "required": item.required,
        }
        if item.matrix:
            data["matrix"] = item.matrix
        if item.help:
            data["help"] = text_in(item.help, language)
        choices = _choice_labels(items, language)
        if choices:
            data["choices"] = [{"code": code, "label": label} for code, label in choices]
        for key in ("min", "max", "total"):
            value = getattr(item, key)
            if value is not None:
                data[key] = value
        data.update(item.kind.codebook(items, language))
        if any(member.confidence for member in items):
            data["confidence"] = True
        if item.unit:
            data["unit"] = text_in(item.unit, language)
        wording = _item_wording(items, all_languages)
        data["wording"] = wording
        entry = ItemEntry(data)
        entries.append(entry)

        if kind == "direct_identifier" and not identified:
            dropped.append(item_id)
            data["treatment"] = "dropped: a direct identifier never leaves in an anonymized export"
            data["columns"] = []
            continue

        dtype = item.kind.dtype(items)
        transform: Callable[[Any], Any] | None = None
        exported_type = item.type
        measure = item.kind.measure
        value_labels: dict[Any, str] | None = {code: label for code, label in choices} if choices else None
        treatment = "kept"
        rule: Coarsening | None = None
        if kind == "quasi_identifier":
            qi_items.append(item_id)
            treatment = "kept as is; counted in the k-anonymity report"
            if not identified:
                rule = coarsening_for(ruled, dtype, choices)
        if rule is not None:
            coarsened[item_id] = rule
            transform = rule.apply
            dtype = rule.dtype
            treatment = rule.description + "; counted in the k-anonymity report"
            data["privacy_rule"] = rule.rule
            if rule.choices is not None:
                value_labels = dict(rule.choices)
                data["choices"] = [{"code": code, "label": label} for code, label in rule.choices]
                # A merged code's label joins the old labels in each language.
                for lang, words in wording.items():
                    translated = coarsening_for(ruled, rule.source_dtype, _choice_labels(items, lang))
                    if translated is not None and translated.choices is not None:
                        words["choices"] = [
                            {"code": code, "label": label} for code, label in translated.choices
                        ]
            if rule.exported_type != item.type:
                data["instrument_type"] = item.type
                data["type"] = exported_type = rule.exported_type
            if rule.measure is not None:
                measure = rule.measure
            if rule.analysis is not None:
                data["analysis"] = rule.analysis
        if item.kind.free_text:
            if identified:
                treatment = "kept as written (identified export)"
            else:
                assert scrubber is not None  # nosec B101  # narrows the type; the builder always passes a scrubber, and without the assert a None still fails closed
                transform = scrubber.scrub
                scrubbed.append(item_id)
                treatment = (
                    "scrubbed: e-mail addresses, phone numbers, URLs, link tokens and roster names and "
                    "organisations replaced by [email], [phone], [url], [token], [name], [organisation]"
                )
        elif kind == "direct_identifier":
            treatment = "kept (identified export)"
        data["treatment"] = treatment

        parts: list[str] = []
        for member in reversed(items):
            for part in member.parts:
                if part not in parts:
                    parts.append(part)
        convert = _compose(CONVERTERS[dtype if rule is None else rule.source_dtype], transform)
        columns: list[str] = []
        indexes: list[int] = []
        named = [part for part in parts if part]
        coded: dict[str, dict[Any, str] | None] = {}  # the value labels of the item's own column, by language
        for lang, words in wording.items():
            if named:
                words["parts"] = {part: item.kind.part_label(item, part, lang) for part in named}
            listed = words.get("choices")
            coded[lang] = (
                value_labels
                if value_labels is None or listed is None
                else {c["code"]: c["label"] for c in listed}
            )
        for part in parts:
            name = unique(item_id if part == "" else f"{item_id}.{part}")
            part_versions = tuple(info.version for info, member in members if part in member.parts)
            suffix = "" if part == "" else f": {item.kind.part_label(item, part, language)}"
            labels = value_labels if part == "" else item.kind.part_value_labels(item)
            part_wording = _variable_wording(
                item,
                {lang: f": {words['parts'][part]}" if part else "" for lang, words in wording.items()},
                coded if part == "" else dict.fromkeys(all_languages, labels),
            )
            variables.append(
                Variable(
                    name,
                    item_id,
                    part or None,
                    "value",
                    exported_type,
                    dtype,
                    measure,
                    _label(item, language) + suffix,
                    labels,
                    part_versions,
                    kind,
                    treatment,
                    quasi_identifier=kind == "quasi_identifier",
                    suffix=suffix,
                    wording=part_wording,
                )
            )
            columns.append(name)
            indexes.append(len(variables) - 1)
        dk_index: int | None = None
        if any(member.dont_know for member in items):
            name = unique(f"{item_id}.{DONT_KNOW_PART}")
            variables.append(
                Variable(
                    name,
                    item_id,
                    DONT_KNOW_PART,
                    "dont_know",
                    "dont_know",
                    "int",
                    "nominal",
                    f"{_label(item, language)}: don't know",
                    {0: "answered", 1: "don't know"},
                    tuple(info.version for info, member in members if member.dont_know),
                    kind,
                    "kept",
                    quasi_identifier=kind == "quasi_identifier",
                    suffix=": don't know",
                    wording=_variable_wording(
                        item,
                        dict.fromkeys(all_languages, ": don't know"),
                        dict.fromkeys(all_languages, {0: "answered", 1: "don't know"}),
                    ),
                )
            )
            columns.append(name)
            dk_index = len(variables) - 1
            dont_know[item_id] = dk_index
        for part, index in zip(parts, indexes, strict=True):
            slots[(item_id, part)] = Slot(index, convert, dk_index)
        notes: list[str] = []  # not answer columns: the analysis must not read them as the item's values
        if any(member.confidence for member in items):
            name = unique(f"{item_id}.confidence")
            variables.append(
                Variable(
                    name,
                    item_id,
                    "confidence",
                    "note",
                    "confidence",
                    "int",
                    "ordinal",
                    f"{_label(item, language)}: confidence",
                    {1: "not at all confident", 5: "very confident"},
                    tuple(info.version for info, member in members if member.confidence),
                    "none",
                    "kept",
                    suffix=": confidence",
                    wording=_variable_wording(
                        item,
                        dict.fromkeys(all_languages, ": confidence"),
                        dict.fromkeys(all_languages, {1: "not at all confident", 5: "very confident"}),
                    ),
                )
            )
            notes.append(name)
            slots[(item_id, "confidence")] = Slot(len(variables) - 1, CONVERTERS["int"], None)
        if item_id in rationale_items:
            name = unique(f"{item_id}.rationale")
            scrub = None if identified or scrubber is None else scrubber.scrub
            variables.append(
                Variable(
                    name,
                    item_id,
                    "rationale",
                    "note",
                    "text",
                    "string",
                    "nominal",
                    f"{_label(item, language)}: reason given in a Delphi round",
                    None,
                    in_versions,
                    "free_text",
                    "kept as written (identified export)" if scrub is None else "scrubbed like free text",
                    suffix=": reason",
                    wording=_variable_wording(
                        item,
                        dict.fromkeys(all_languages, ": reason given in a Delphi round"),
                        dict.fromkeys(all_languages, None),
                    ),
                )
            )
            notes.append(name)
            slots[(item_id, "rationale")] = Slot(
                len(variables) - 1, _compose(CONVERTERS["string"], scrub), None
            )
        entry.columns = columns
        data["columns"] = columns
        if notes:
            data["note_columns"] = notes
        if item.dont_know:
            data["dont_know"] = True

    qi_indexes = [i for i, v in enumerate(variables) if v.quasi_identifier]
    return ExportPlan(
        variables=variables,
        slots=slots,
        dont_know=dont_know,
        items=entries,
        language=language,
        dropped=dropped,
        coarsened=coarsened,
        scrubbed=scrubbed,
        qi_indexes=qi_indexes,
        qi_items=qi_items,
        identified=identified,
        languages=all_languages,
    )


def _has(definition: Definition, item_id: str) -> bool:
    try:
        definition.item(item_id)
    except KeyError:
        return False
    return True


def value_labels_json(labels: Mapping[Any, str] | None) -> dict[str, str] | None:
    """Value labels with string keys, as JSON needs them."""
    return None if labels is None else {str(k): v for k, v in labels.items()}
