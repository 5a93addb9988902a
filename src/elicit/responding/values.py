"""Answer values: what a page posts for an item, and the rows it is stored in.

Each item type parses and stores its own values (``elicit.instruments.types``); this module adds what every item
shares: the explicit "don't know", the confidence rating and the Delphi rationale, and the empty answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from elicit.instruments.model import Item
from elicit.instruments.types.base import (
    DONT_KNOW,
    FieldError,
    Message,
    StoredValue,
    clean_text,
    one,
)

__all__ = [
    "CONFIDENCE_SUFFIX",
    "DONT_KNOW",
    "DONT_KNOW_SUFFIX",
    "MAX_RATIONALE",
    "RATIONALE_SUFFIX",
    "FieldError",
    "Message",
    "StoredValue",
    "form_fields",
    "form_names",
    "from_rows",
    "is_answered",
    "note_fields",
    "parse_item",
    "parse_note",
    "sent_fields",
    "to_rows",
]

DONT_KNOW_SUFFIX: Final = ".dont_know"
CONFIDENCE_SUFFIX: Final = ".confidence"
RATIONALE_SUFFIX: Final = ".rationale"
NOTE_SUFFIXES: Final = (DONT_KNOW_SUFFIX, CONFIDENCE_SUFFIX, RATIONALE_SUFFIX)
MAX_RATIONALE = 2000
YES = frozenset({"1", "yes", "on", "true"})


def is_answered(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def parse_item(item: Item, form: Mapping[str, Sequence[str]]) -> Any:
    """The value an item's posted fields carry (None when left empty); FieldError when malformed."""
    if item.dont_know and one(form, item.id + DONT_KNOW_SUFFIX) in YES:
        return DONT_KNOW
    return item.kind.parse(item, form)


def to_rows(item: Item, value: Any) -> list[StoredValue]:
    """The answers rows that store ``value`` (none when unanswered)."""
    if value is None:
        return []
    if value is DONT_KNOW:
        return [StoredValue("", None, None, True)]
    return item.kind.to_rows(item, value)


def from_rows(item: Item, rows: Sequence[StoredValue]) -> Any:
    """Rebuild a value from its rows (the inverse of ``to_rows``)."""
    if not rows:
        return None
    if any(r.dont_know for r in rows):
        return DONT_KNOW
    return item.kind.from_rows(item, rows)


def form_fields(item: Item, value: Any) -> dict[str, list[str]]:
    """The form fields that show ``value`` again (for re-rendering and resuming)."""
    if value is None:
        return {}
    if value is DONT_KNOW:
        return {item.id + DONT_KNOW_SUFFIX: ["yes"]}
    return item.kind.form_fields(item, value)


def form_names(item: Item, rationale: bool) -> set[str]:
    """Every field a page may post for ``item``: its value fields and, where asked, its notes."""
    names = set(item.kind.form_names(item))
    if item.dont_know:
        names.add(item.id + DONT_KNOW_SUFFIX)
    if item.confidence:
        names.add(item.id + CONFIDENCE_SUFFIX)
    if rationale:
        names.add(item.id + RATIONALE_SUFFIX)
    return names


def sent_fields(item: Item, form: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The non-empty fields a form sent for an item and its notes, as ``form_fields``/``note_fields`` write them."""
    sent = item.kind.sent_fields(item, form)
    for name in (item.id + suffix for suffix in NOTE_SUFFIXES):
        values = sorted(str(v).strip() for v in form.get(name, ()) if str(v).strip())
        if values:
            sent[name] = values
    return sent


def parse_note(
    item: Item, form: Mapping[str, Sequence[str]], allow_rationale: bool
) -> tuple[int | None, str | None]:
    """The confidence rating (1-5) and the rationale posted with an item, when the item or round asks for them."""
    confidence: int | None = None
    rationale: str | None = None
    if item.confidence:
        raw = one(form, item.id + CONFIDENCE_SUFFIX).strip()
        if raw:
            if raw not in {"1", "2", "3", "4", "5"}:
                raise FieldError(item.id + CONFIDENCE_SUFFIX, "Choose a confidence from 1 to 5.")
            confidence = int(raw)
    if allow_rationale:
        raw = clean_text(one(form, item.id + RATIONALE_SUFFIX), item.id + RATIONALE_SUFFIX)
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
