"""``date``: a calendar date (``<input type=date>``, or typed as YYYY-MM-DD), optionally between ``min`` and ``max``.

Bounds are ISO dates (``2020-01-01``) or ``today`` (the day the expert answers). Values are stored as ISO text
and exported as dates (SPSS and Stata date formats, Parquet ``date32``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import PlainValidator, ValidationInfo, field_validator

from elicit.instruments.types.base import (
    DemoContext,
    FieldError,
    Form,
    Gettext,
    ItemType,
    one,
)
from elicit.instruments.types.document import WHAT, ItemDocument, fail

if TYPE_CHECKING:
    from elicit.instruments.model import Item

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TODAY = "today"


def parse_date(text: str) -> dt.date | None:
    """An ISO date (YYYY-MM-DD), or None when ``text`` is not one."""
    if not ISO_DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _bound(value: Any, info: ValidationInfo) -> str | None:
    """A bound as written in the canonical form: an ISO date or ``today``."""
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = value.isoformat()
    if value == TODAY or (isinstance(value, str) and parse_date(value) is not None):
        return str(value)
    raise fail(f"'{info.field_name}' of {WHAT} must be a date such as 2020-01-31, or today")


class DateDocument(ItemDocument):
    """Optional ``min`` and ``max`` dates (or ``today``), kept as options: they are not numbers."""

    options: ClassVar[frozenset[str]] = frozenset({"min", "max"})

    min: Annotated[str | None, PlainValidator(_bound)] = None
    max: Annotated[str | None, PlainValidator(_bound)] = None

    @field_validator("max", mode="after")
    @classmethod
    def _later_than_min(cls, value: Any, info: ValidationInfo) -> Any:
        low, high = info.data.get("min"), value
        if low and high and low != TODAY and high != TODAY:
            first, last = parse_date(low), parse_date(high)
            if first is not None and last is not None and first >= last:
                raise fail(f"'max' of {WHAT} must be later than 'min'")
        return value


def bound(item: Item, key: str) -> dt.date | None:
    """The item's ``min``/``max`` as a date (``today`` resolved now)."""
    value = item.option(key)
    if value is None:
        return None
    return dt.date.today() if value == TODAY else dt.date.fromisoformat(value)


class Date(ItemType):
    name = "date"
    document: ClassVar[type[ItemDocument]] = DateDocument
    measure = "scale"
    analysis = "date"
    xlsform = "date"

    def parse(self, item: Item, form: Form) -> Any:
        raw = one(form, item.id).strip()
        if raw == "":
            return None
        value = parse_date(raw)
        if value is None:
            raise FieldError(item.id, "Enter a date as year-month-day, e.g. 2026-03-31.")
        low, high = bound(item, "min"), bound(item, "max")
        if low is not None and value < low:
            raise FieldError(item.id, "Enter a date on or after {date}.", date=low.isoformat())
        if high is not None and value > high:
            raise FieldError(item.id, "Enter a date on or before {date}.", date=high.isoformat())
        return value.isoformat()

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        return str(value)

    def dtype(self, items: Sequence[Item]) -> str:
        return "date"

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        item = items[-1]
        return {key: item.option(key) for key in ("min", "max") if item.option(key) is not None}

    def demo(self, item: Item, context: DemoContext) -> Any:
        low = bound(item, "min") or dt.date(2015, 1, 1)
        high = bound(item, "max") or dt.date(2026, 12, 31)
        return (low + dt.timedelta(days=context.rng.randint(0, (high - low).days))).isoformat()
