"""Answer values: parsing posted form fields per item type, and the row form they are stored in.

In Python a value is: a choice code (int or str) for likert/single choice/consent, a list of codes for a
multiple choice, ``{code: rank}`` for a ranking, ``{code: points}`` for a constant sum, ``{"q05": x, ...}`` for
quantiles, an int, a float or a str; ``DONT_KNOW`` for an explicit "don't know"; ``None`` when unanswered.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from elicit.instruments.schema import Item, level_name


class _DontKnow:
    """The explicit "don't know / prefer not to say" answer: stored as such, never as a value."""

    _instance: _DontKnow | None = None

    def __new__(cls) -> _DontKnow:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DONT_KNOW"

    def __bool__(self) -> bool:
        return True


DONT_KNOW: Final = _DontKnow()
DONT_KNOW_SUFFIX = ".dont_know"
CONFIDENCE_SUFFIX = ".confidence"
RATIONALE_SUFFIX = ".rationale"
MAX_RATIONALE = 2000
NUMBER_RE = re.compile(r"^[+-]?(\d{1,15}([.,]\d{0,12})?|[.,]\d{1,12})$")
INTEGER_RE = re.compile(r"^[+-]?\d{1,15}$")
MAX_FIELD_CHARS = 20000


@dataclass(frozen=True)
class Message:
    """A message for the expert: an English msgid (translated by the view) with parameters, or an instrument text."""

    msgid: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    text: Mapping[str, str] | None = None

    def english(self) -> str:
        if self.text is not None:
            return self.text.get("en") or next(iter(self.text.values()), "")
        return self.msgid.format(**self.params)


class FieldError(ValueError):
    """A posted value that cannot be accepted; ``field`` is the form field to show it beside."""

    def __init__(self, field: str, msgid: str, **params: Any) -> None:
        self.field = field
        self.message = Message(msgid, params)
        super().__init__(self.message.english())


@dataclass(frozen=True)
class StoredValue:
    """One answers row: ``part`` '' for a simple item, else a choice code or quantile level."""

    part: str
    value_num: float | None
    value_text: str | None
    dont_know: bool = False


def is_answered(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = list(form.get(name, ()))
    if len(values) > 1:
        raise FieldError(name, "Choose only one answer.")
    value = values[0] if values else ""
    if len(value) > MAX_FIELD_CHARS:
        raise FieldError(name, "This answer is too long.")
    return value


def _number(text: str, field: str, integer: bool) -> float | int:
    text = unicodedata.normalize("NFKC", text).strip().replace("\u2212", "-")
    pattern = INTEGER_RE if integer else NUMBER_RE
    if not pattern.match(text):
        if integer:
            raise FieldError(field, "Enter a whole number.")
        raise FieldError(field, "Enter a number, e.g. 12 or 12.5.")
    if integer:
        return int(text)
    value = float(text.replace(",", "."))
    if not math.isfinite(value):
        raise FieldError(field, "Enter a number, e.g. 12 or 12.5.")
    return value


def _in_range(value: float, item: Item, field: str) -> None:
    if item.min is not None and value < item.min:
        raise FieldError(field, "Enter a value of at least {min}.", min=_fmt(item.min))
    if item.max is not None and value > item.max:
        raise FieldError(field, "Enter a value of at most {max}.", max=_fmt(item.max))


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_item(item: Item, form: Mapping[str, Sequence[str]]) -> Any:
    """The value an item's posted fields carry (None when left empty); FieldError when malformed."""
    if item.dont_know and _one(form, item.id + DONT_KNOW_SUFFIX) in {"1", "yes", "on", "true"}:
        return DONT_KNOW
    kind = item.type
    if kind in {"likert", "single_choice", "consent"}:
        raw = _one(form, item.id)
        if raw == "":
            return None
        choice = item.choice(raw)
        if choice is None:
            raise FieldError(item.id, "Choose one of the answers offered.")
        return choice.code
    if kind == "multiple_choice":
        raws = list(form.get(item.id, ()))
        if len(set(raws)) != len(raws):
            raise FieldError(item.id, "Each answer can be chosen once.")
        codes = []
        for raw in raws:
            choice = item.choice(raw)
            if choice is None:
                raise FieldError(item.id, "Choose among the answers offered.")
            codes.append(choice.code)
        order = {c.key: i for i, c in enumerate(item.choices)}
        codes.sort(key=lambda code: order[str(code)])
        if codes and item.min_selected is not None and len(codes) < item.min_selected:
            raise FieldError(item.id, "Choose at least {n}.", n=item.min_selected)
        if item.max_selected is not None and len(codes) > item.max_selected:
            raise FieldError(item.id, "Choose at most {n}.", n=item.max_selected)
        return codes or None
    if kind in {"integer", "decimal"}:
        raw = _one(form, item.id).strip()
        if raw == "":
            return None
        value = _number(raw, item.id, integer=kind == "integer")
        _in_range(value, item, item.id)
        return value
    if kind == "text":
        raw = _one(form, item.id).replace("\r\n", "\n").replace("\r", "\n").strip()
        if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in raw):
            raise FieldError(item.id, "The text contains characters that cannot be stored.")
        if not item.multiline and "\n" in raw:
            raw = " ".join(raw.split("\n"))
        if len(raw) > item.max_length:
            raise FieldError(
                item.id, "Keep this answer to {max} characters (it has {n}).", max=item.max_length, n=len(raw)
            )
        return raw or None
    if kind in {"ranking", "constant_sum", "quantiles"}:
        return _parse_composite(item, form)
    return None


def _parse_composite(item: Item, form: Mapping[str, Sequence[str]]) -> Any:
    raw = {part: _one(form, f"{item.id}.{part}").strip() for part in item.parts}
    if all(v == "" for v in raw.values()):
        return None
    if item.type == "ranking":
        n = len(item.parts)
        ranks: dict[str, int] = {}
        for part, text in raw.items():
            field = f"{item.id}.{part}"
            if text == "":
                raise FieldError(field, "Give every option a rank from 1 to {n}.", n=n)
            rank = _number(text, field, integer=True)
            if not 1 <= rank <= n:
                raise FieldError(field, "Ranks go from 1 to {n}.", n=n)
            ranks[part] = int(rank)
        if sorted(ranks.values()) != list(range(1, n + 1)):
            raise FieldError(f"{item.id}.{item.parts[0]}", "Use each rank from 1 to {n} exactly once.", n=n)
        return ranks
    if item.type == "constant_sum":
        points: dict[str, float] = {}
        for part, text in raw.items():
            field = f"{item.id}.{part}"
            value = 0.0 if text == "" else float(_number(text, field, integer=False))
            if value < 0:
                raise FieldError(field, "Points cannot be negative.")
            points[part] = int(value) if value.is_integer() else value
        total = sum(points.values())
        if item.total is not None and not math.isclose(total, item.total, abs_tol=1e-9):
            raise FieldError(
                f"{item.id}.{item.parts[0]}",
                "The points must add up to {total}; they now add up to {current}.",
                total=_fmt(item.total),
                current=_fmt(total),
            )
        return points
    quantiles: dict[str, float] = {}
    previous: float | None = None
    for level in item.levels:
        part = level_name(level)
        field = f"{item.id}.{part}"
        if raw[part] == "":
            raise FieldError(field, "Give all three values: low, best estimate and high.")
        value = float(_number(raw[part], field, integer=False))
        _in_range(value, item, field)
        if previous is not None and value <= previous:
            raise FieldError(field, "Each value must be larger than the one before it.")
        quantiles[part] = value
        previous = value
    return quantiles


def to_rows(item: Item, value: Any) -> list[StoredValue]:
    """The answers rows that store ``value`` (none when unanswered)."""
    if value is None:
        return []
    if value is DONT_KNOW:
        return [StoredValue("", None, None, True)]
    if item.type == "multiple_choice":
        chosen = {str(code) for code in value}
        return [StoredValue(c.key, 1.0 if c.key in chosen else 0.0, None) for c in item.choices]
    if isinstance(value, dict):
        return [StoredValue(part, float(v), None) for part, v in value.items()]
    if isinstance(value, bool):
        raise TypeError("booleans are not answer values")
    if isinstance(value, int | float):
        return [StoredValue("", float(value), None)]
    return [StoredValue("", None, str(value))]


def from_rows(item: Item, rows: Sequence[StoredValue]) -> Any:
    """Rebuild a value from its rows (the inverse of ``to_rows``)."""
    if not rows:
        return None
    if any(r.dont_know for r in rows):
        return DONT_KNOW
    if item.type == "multiple_choice":
        by_part = {r.part: r.value_num for r in rows}
        return [c.code for c in item.choices if by_part.get(c.key)]
    if item.type in {"ranking", "constant_sum", "quantiles"}:
        result: dict[str, Any] = {}
        for r in rows:
            number = r.value_num if r.value_num is not None else math.nan
            result[r.part] = int(number) if item.type == "ranking" or float(number).is_integer() else number
        return result
    row = rows[0]
    if item.type in {"likert", "single_choice", "consent"}:
        key = row.value_text if row.value_text is not None else _fmt(row.value_num or 0)
        choice = item.choice(key)
        return choice.code if choice else key
    if item.type == "integer":
        return int(row.value_num) if row.value_num is not None else None
    if item.type == "decimal":
        return row.value_num
    return row.value_text


def form_fields(item: Item, value: Any) -> dict[str, list[str]]:
    """The form fields that show ``value`` again (for re-rendering and resuming)."""
    if value is None:
        return {}
    if value is DONT_KNOW:
        return {item.id + DONT_KNOW_SUFFIX: ["yes"]}
    if item.type == "multiple_choice":
        return {item.id: [str(code) for code in value]}
    if isinstance(value, dict):
        return {
            f"{item.id}.{part}": [_fmt(v) if isinstance(v, int | float) else str(v)]
            for part, v in value.items()
        }
    if isinstance(value, float):
        return {item.id: [_fmt(value)]}
    return {item.id: [str(value)]}


def parse_note(
    item: Item, form: Mapping[str, Sequence[str]], allow_rationale: bool
) -> tuple[int | None, str | None]:
    """The confidence rating (1-5) and the rationale posted with an item, when the item or round asks for them."""
    confidence: int | None = None
    rationale: str | None = None
    if item.confidence:
        raw = _one(form, item.id + CONFIDENCE_SUFFIX).strip()
        if raw:
            if raw not in {"1", "2", "3", "4", "5"}:
                raise FieldError(item.id + CONFIDENCE_SUFFIX, "Choose a confidence from 1 to 5.")
            confidence = int(raw)
    if allow_rationale:
        raw = _one(form, item.id + RATIONALE_SUFFIX).replace("\r\n", "\n").strip()
        if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in raw):
            raise FieldError(
                item.id + RATIONALE_SUFFIX, "The text contains characters that cannot be stored."
            )
        if len(raw) > MAX_RATIONALE:
            raise FieldError(
                item.id + RATIONALE_SUFFIX,
                "Keep this answer to {max} characters (it has {n}).",
                max=MAX_RATIONALE,
                n=len(raw),
            )
        rationale = raw or None
    return confidence, rationale


def note_fields(item: Item, confidence: int | None, rationale: str | None) -> dict[str, list[str]]:
    """Form fields that show a stored note again."""
    fields: dict[str, list[str]] = {}
    if confidence is not None:
        fields[item.id + CONFIDENCE_SUFFIX] = [str(confidence)]
    if rationale:
        fields[item.id + RATIONALE_SUFFIX] = [rationale]
    return fields
