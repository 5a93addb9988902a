"""``integer``: a whole number with optional ``min``, ``max`` and ``unit``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from elicit.instruments.types.base import DemoContext, StoredValue
from elicit.instruments.types.decimal import Decimal, DecimalDocument
from elicit.instruments.types.document import ItemDocument, WholeNumber

if TYPE_CHECKING:
    from elicit.instruments.model import Item


class IntegerDocument(DecimalDocument):
    """Whole-number bounds."""

    min: WholeNumber = None
    max: WholeNumber = None


class Integer(Decimal):
    name = "integer"
    document: ClassVar[type[ItemDocument]] = IntegerDocument
    xlsform = "integer"
    integer = True

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        value = rows[0].value_num
        return int(value) if value is not None else None

    def dtype(self, items: Sequence[Item]) -> str:
        return "int"

    def demo(self, item: Item, context: DemoContext) -> Any:
        if not item.required and context.rng.random() < 0.15:
            return None
        low = int(item.min if item.min is not None else 0)
        high = int(item.max if item.max is not None else 100)
        return max(low, min(high, int(context.rng.gammavariate(3, 5)) + low))
