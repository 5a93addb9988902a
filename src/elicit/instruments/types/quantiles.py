"""``quantiles``: an expert's uncertainty as increasing values at given percentiles (5th, 50th, 95th by default).

Seed questions (``seed: true``) have a true value the study enters later, for Cooke's classical model; the
``background`` measure (uniform or log-uniform) is the one the model's information score uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, PlainSerializer, PlainValidator

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
from elicit.instruments.types.document import WHAT, Families, Flag, ItemDocument, fail
from elicit.instruments.types.ranking import numbers_from_rows, posted_parts

if TYPE_CHECKING:
    from elicit.instruments.model import Item
    from elicit.stats.judgements import Points

BACKGROUNDS = ("uniform", "loguniform")


def families_of(item: Item) -> dict[str, list[str]]:
    """The codebook's ``families`` when the instrument fixes which distributions a judgement is fitted with."""
    families = item.option("families")
    return {"families": list(families)} if families else {}


def level_name(level: int) -> str:
    """``5 -> 'q05'``, ``50 -> 'q50'``: the part name of a quantile level."""
    return f"q{level:02d}"


def _levels(value: Any) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) < 2
        or not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x < 100 for x in value)
    ):
        raise fail(f"'levels' of {WHAT} must be at least two whole percentages between 0 and 100")
    if any(b <= a for a, b in zip(value, value[1:], strict=False)):
        raise fail(f"'levels' of {WHAT} must be strictly increasing, e.g. [5, 50, 95]")
    return tuple(value)


def _background(value: Any) -> str:
    if value not in BACKGROUNDS:
        raise fail(f"'background' of {WHAT} must be uniform or loguniform")
    return str(value)


class QuantilesDocument(DecimalDocument):
    """The bounds, the percentile ``levels``, whether it is a ``seed`` question and its ``background``."""

    options: ClassVar[frozenset[str]] = frozenset({"families"})

    levels: Annotated[tuple[int, ...], PlainValidator(_levels), PlainSerializer(list)] = (5, 50, 95)
    families: Families = None
    seed: Flag = False
    background: Annotated[str, PlainValidator(_background)] = Field(
        "uniform", exclude_if=lambda value: value == "uniform"
    )


class Quantiles(ItemType):
    name = "quantiles"
    document: ClassVar[type[ItemDocument]] = QuantilesDocument
    numeric = True
    measure = "scale"
    analysis = "distribution"
    xlsform = "decimal"  # one decimal per level
    feedback = "quantiles"

    def parts(self, item: Item) -> tuple[str, ...]:
        return tuple(level_name(level) for level in item.levels)

    def parse(self, item: Item, form: Form) -> Any:
        raw = posted_parts(item, form)
        if raw is None:
            return None
        quantiles: dict[str, float] = {}
        previous: float | None = None
        for level in item.levels:
            part = level_name(level)
            field = f"{item.id}.{part}"
            if raw[part] == "":
                raise FieldError(field, "Give all three values: low, best estimate and high.")
            value = float(number(raw[part], field, integer=False))
            in_range(value, item, field)
            if previous is not None and value <= previous:
                raise FieldError(field, "Each value must be larger than the one before it.")
            quantiles[part] = value
            previous = value
        return quantiles

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        return numbers_from_rows(rows, whole=False)

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:

        unit = unit_suffix(item, language)
        return " < ".join(plain(v) for v in value.values()) + unit

    def dtype(self, items: Sequence[Item]) -> str:
        return "float"

    def part_label(self, item: Item, part: str, language: str) -> str:
        return f"{int(part[1:])}th percentile"

    def cumulative(self, item: Item, value: Any) -> Points | None:
        from elicit.stats.judgements import quantile_points

        return quantile_points(item.levels, [value[level_name(level)] for level in item.levels])

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        extra: dict[str, Any] = {"elicitation": "quantiles", "levels": list(items[-1].levels)}
        if any(member.seed for member in items):
            extra["seed"] = True
        extra["background"] = items[-1].background
        return {**extra, **families_of(items[-1])}

    def demo(self, item: Item, context: DemoContext) -> Any:
        rng = context.rng
        mid = rng.gauss(12 if context.cohort == "UK" else 20, 8)
        spread = abs(rng.gauss(15, 5)) + 1
        low_bound = item.min if item.min is not None else -1e9
        high_bound = item.max if item.max is not None else 1e9
        q = sorted(
            {
                max(low_bound, round(mid - spread, 1)),
                round(mid, 1),
                min(high_bound, round(mid + spread * 1.3, 1)),
            }
        )
        if len(q) < len(item.levels):
            q = [mid - 2 * spread, mid, mid + 2 * spread]
        return {level_name(level): value for level, value in zip(item.levels, q, strict=False)}
