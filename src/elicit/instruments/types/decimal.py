"""``decimal``: a number with optional ``min``, ``max`` and ``unit``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import field_validator

from elicit.instruments.types.base import (
    DemoContext,
    Form,
    ItemType,
    StoredValue,
    in_range,
    number,
    one,
)
from elicit.instruments.types.document import ItemDocument, Number, OptionalText, greater_than_min

if TYPE_CHECKING:
    from elicit.instruments.model import Item


class DecimalDocument(ItemDocument):
    """``min`` below ``max`` and a ``unit``: shared by every numeric type."""

    min: Number = None
    max: Number = None
    unit: OptionalText = None

    _max_above_min = field_validator("max", mode="after")(greater_than_min)


class Decimal(ItemType):
    name = "decimal"
    document: ClassVar[type[ItemDocument]] = DecimalDocument
    numeric = True
    measure = "scale"
    analysis = "interval"
    xlsform = "decimal"
    feedback = "number"
    integer: ClassVar[bool] = False

    def parse(self, item: Item, form: Form) -> Any:
        raw = one(form, item.id).strip()
        if raw == "":
            return None
        value = number(raw, item.id, integer=self.integer)
        in_range(value, item, item.id)
        return value

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        return rows[0].value_num

    def dtype(self, items: Sequence[Item]) -> str:
        return "float"

    def demo(self, item: Item, context: DemoContext) -> Any:
        lower = item.min if item.min is not None else 0.0
        upper = item.max if item.max is not None else 100.0
        return round(context.rng.uniform(lower, upper), 2)
