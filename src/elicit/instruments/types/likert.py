"""``likert``: a position on an ordered scale of numbered choices; the building block of scales."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from elicit.instruments.types.base import DemoContext
from elicit.instruments.types.document import WHAT, ItemDocument
from elicit.instruments.types.single_choice import SingleChoice, SingleChoiceDocument

if TYPE_CHECKING:
    from elicit.instruments.model import Item


class LikertDocument(SingleChoiceDocument):
    """Choices whose codes are numbers: positions on the scale."""

    numbers: ClassVar[str | None] = f"{WHAT} is likert, so its choice codes must be numbers"


class Likert(SingleChoice):
    name = "likert"
    document: ClassVar[type[ItemDocument]] = LikertDocument
    measure = "ordinal"
    analysis = "ordinal"
    numeric_codes = True
    scalable = True

    def demo(self, item: Item, context: DemoContext) -> Any:
        codes = [int(c.code) for c in item.choices]
        low, high = min(codes), max(codes)
        if context.scale_position is None:
            centre = context.rng.gauss(3.3 if context.cohort == "UK" else 3.0, 0.8)
        else:
            centre = low + high - context.scale_position if context.reverse else context.scale_position
        return int(min(high, max(low, round(context.rng.gauss(centre, 0.7)))))
