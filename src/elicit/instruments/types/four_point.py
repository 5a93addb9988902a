"""``four_point``: the IDEA protocol's four-step estimate of an uncertain quantity.

The expert gives, in this order, the lowest plausible value, the highest plausible value, a best estimate, and
how confident they are (a whole percent from 50 to 100) that the truth lies between the lowest and the highest.
Parts ``low``, ``high``, ``best`` and ``confidence``. For fitting, the interval is read as the central
``confidence`` % interval and the best estimate as the median
(:func:`elicit.stats.judgements.four_point_points`, which states the method).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from elicit.instruments.types.base import (
    DemoContext,
    FieldError,
    Form,
    Gettext,
    ItemType,
    StoredValue,
    in_range,
    number,
    plain,
    unit_suffix,
)
from elicit.instruments.types.decimal import DecimalDocument
from elicit.instruments.types.document import Families, ItemDocument
from elicit.instruments.types.quantiles import families_of
from elicit.instruments.types.ranking import numbers_from_rows, posted_parts

if TYPE_CHECKING:
    from elicit.instruments.model import Item
    from elicit.stats.judgements import Points

#: The parts in the order IDEA asks for them (and the form shows them).
PARTS = ("low", "high", "best", "confidence")
LOWEST_CONFIDENCE = 50
HIGHEST_CONFIDENCE = 100


class FourPointDocument(DecimalDocument):
    """Optional ``min`` and ``max`` bounds of the three values, their ``unit`` and the ``families`` to fit."""

    options: ClassVar[frozenset[str]] = frozenset({"families"})

    families: Families = None


class FourPoint(ItemType):
    name = "four_point"
    document: ClassVar[type[ItemDocument]] = FourPointDocument
    measure = "scale"
    analysis = "distribution"
    feedback = "distribution"  # Delphi and IDEA feedback: the medians of the ranges and best estimates
    xlsform = "decimal"  # one decimal per part; the confidence an integer from 50 to 100

    def parts(self, item: Item) -> tuple[str, ...]:
        return PARTS

    def parse(self, item: Item, form: Form) -> Any:
        raw = posted_parts(item, form)
        if raw is None:
            return None
        for part in PARTS:
            if raw[part] == "":
                raise FieldError(
                    f"{item.id}.{part}",
                    "Give all four: the lowest and highest plausible values, your best estimate and how "
                    "sure you are.",
                )
        values: dict[str, float | int] = {}
        for part in ("low", "high", "best"):
            field = f"{item.id}.{part}"
            value = float(number(raw[part], field, integer=False))
            in_range(value, item, field)
            values[part] = value
        field = f"{item.id}.confidence"
        confidence = int(number(raw["confidence"].rstrip("%\u066a ").strip(), field, integer=True))
        if not LOWEST_CONFIDENCE <= confidence <= HIGHEST_CONFIDENCE:
            raise FieldError(
                field,
                "Enter how sure you are as a whole percent from {low} to {high}.",
                low=LOWEST_CONFIDENCE,
                high=HIGHEST_CONFIDENCE,
            )
        if values["high"] <= values["low"]:
            raise FieldError(f"{item.id}.high", "The highest value must be above the lowest value.")
        if not values["low"] <= values["best"] <= values["high"]:
            raise FieldError(
                f"{item.id}.best", "Your best estimate must lie between your lowest and highest values."
            )
        values["confidence"] = confidence
        return values

    def to_rows(self, item: Item, value: Any) -> list[StoredValue]:
        return [StoredValue(part, float(value[part]), None) for part in PARTS]

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        return numbers_from_rows(rows, whole=False)

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:

        unit = unit_suffix(item, language)
        return str(
            gettext(
                "%(low)s – %(high)s%(unit)s (best estimate %(best)s), %(confidence)s %% sure",
                low=plain(value["low"]),
                high=plain(value["high"]),
                unit=unit,
                best=plain(value["best"]),
                confidence=plain(value["confidence"]),
            )
        )

    def anchor(self, item: Item) -> str:
        return f"{item.id}.low"

    def dtype(self, items: Sequence[Item]) -> str:
        return "float"

    def part_label(self, item: Item, part: str, language: str) -> str:
        return {
            "low": "lowest plausible value",
            "high": "highest plausible value",
            "best": "best estimate",
            "confidence": "confidence (%) that the truth lies between lowest and highest",
        }[part]

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        return {"elicitation": "four_point", **families_of(items[-1])}

    def cumulative(self, item: Item, value: Any) -> Points | None:
        from elicit.stats.judgements import four_point_points

        return four_point_points(value["low"], value["best"], value["high"], value["confidence"])

    def demo(self, item: Item, context: DemoContext) -> Any:
        rng = context.rng
        low_bound = item.min if item.min is not None else -1e9
        high_bound = item.max if item.max is not None else 1e9
        best = round(rng.gauss(12 if context.cohort == "UK" else 20, 6), 1)
        below, above = abs(rng.gauss(8, 3)) + 1, abs(rng.gauss(12, 4)) + 1
        low = max(low_bound, round(best - below, 1))
        high = min(high_bound, round(best + above, 1))
        best = min(max(best, low), high)
        if high <= low:
            low, best, high = low_bound, (low_bound + high_bound) / 2, high_bound
        return {"low": low, "high": high, "best": best, "confidence": rng.choice((60, 70, 75, 80, 90))}
