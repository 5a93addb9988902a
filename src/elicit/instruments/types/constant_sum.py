"""``constant_sum``: points shared among the choices so that they add up to ``total``; one part per choice."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, PlainValidator

from elicit.instruments.types.base import (
    DemoContext,
    FieldError,
    Form,
    Gettext,
    ItemType,
    StoredValue,
    choice_label,
    fmt,
    number,
    plain,
)
from elicit.instruments.types.document import WHAT, ChoiceDocument, Found, ItemDocument, fail, fail_all
from elicit.instruments.types.ranking import numbers_from_rows, posted_parts

if TYPE_CHECKING:
    from elicit.instruments.model import Item


def _total(value: Any) -> float:
    found: list[Found] = []
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        found.append((f"'total' of {WHAT} must be a number, not {value!r}", (), False))
        value = None
    if value is None:
        found.append((f"{WHAT} is a constant_sum and needs a 'total' (e.g. total: 100)", (), True))
        raise fail_all(found)
    if value <= 0:
        raise fail(f"'total' of {WHAT} must be positive")
    return value  # type: ignore[no-any-return]  # an int or a float, as written


class ConstantSumDocument(ChoiceDocument):
    """The choices and the ``total`` their points add up to."""

    total: Annotated[float, PlainValidator(_total)] = Field(None, validate_default=True)


class ConstantSum(ItemType):
    name = "constant_sum"
    document: ClassVar[type[ItemDocument]] = ConstantSumDocument
    has_choices = True
    part_per_choice = True
    measure = "scale"
    analysis = "composition"
    xlsform = "integer"  # one integer per choice, with a constraint on their sum

    def parse(self, item: Item, form: Form) -> Any:
        raw = posted_parts(item, form)
        if raw is None:
            return None
        points: dict[str, float] = {}
        for part, text in raw.items():
            field = f"{item.id}.{part}"
            value = 0.0 if text == "" else float(number(text, field, integer=False))
            if value < 0:
                raise FieldError(field, "Points cannot be negative.")
            points[part] = int(value) if value.is_integer() else value
        total = sum(points.values())
        if item.total is not None and not math.isclose(total, item.total, abs_tol=1e-9):
            raise FieldError(
                f"{item.id}.{item.parts[0]}",
                "The points must add up to {total}; they now add up to {current}.",
                total=fmt(item.total),
                current=fmt(total),
            )
        return points

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        return numbers_from_rows(rows, whole=False)

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        """The parts in the question's order (stored rows come back in any order)."""
        order = {key: index for index, key in enumerate(item.parts)}
        parts = sorted(value.items(), key=lambda part: order.get(part[0], len(order)))
        return "; ".join(f"{choice_label(item, code, language)}: {plain(points)}" for code, points in parts)

    def dtype(self, items: Sequence[Item]) -> str:
        return "float"

    def demo(self, item: Item, context: DemoContext) -> Any:
        total = int(item.total or 100)
        weights = [max(0.05, context.latent.get(c.key, 3.5) - 1 + context.rng.random()) for c in item.choices]
        shares = [int(total * w / sum(weights)) for w in weights]
        shares[0] += total - sum(shares)
        return {c.key: s for c, s in zip(item.choices, shares, strict=True)}
