"""``probabilities``: SHELF's fixed-interval ("probability") method for an uncertain quantity.

The instrument fixes increasing values (``points: [1, 2, 3, 4]``); for each the expert gives the probability, in
percent, that the quantity is at most that value: P(X <= x_i). Parts ``p1`` .. ``pn`` hold the percents (decimals
allowed); they may not go down from one value to the next, and at least one must lie strictly between 0 and 100 so
that a distribution can be fitted (:func:`elicit.stats.judgements.probability_points`, which also says how 0 and
100 % bound the support). ``min`` and ``max`` are the quantity's support, as on ``quantiles``; ``unit`` follows
each value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, PlainSerializer, ValidationInfo, field_validator

from elicit.instruments.types.base import (
    DemoContext,
    FieldError,
    Form,
    Gettext,
    ItemType,
    StoredValue,
    fmt,
    number,
    plain,
    unit_suffix,
)
from elicit.instruments.types.decimal import DecimalDocument
from elicit.instruments.types.document import MISSING, WHAT, Families, ItemDocument, fail
from elicit.instruments.types.quantiles import families_of
from elicit.instruments.types.ranking import numbers_from_rows, posted_parts

if TYPE_CHECKING:
    from elicit.instruments.model import Item
    from elicit.stats.judgements import Points

MIN_POINTS = 2
MAX_POINTS = 20
#: The percent signs an expert may type after a probability ("30 %", Urdu "٣٠٪").
PERCENT_SIGNS = "%\u066a\uff05 "


class Phrase(str):
    """A message parameter written in every language of the instrument (a value with its unit).

    As a str it is the English; the survey shows ``texts[language]`` (``elicit.survey.rendering.translate``).
    """

    texts: Mapping[str, str]

    def __new__(cls, texts: Mapping[str, str]) -> Phrase:
        phrase = super().__new__(cls, texts.get("en") or next(iter(texts.values()), ""))
        phrase.texts = dict(texts)
        return phrase


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class ProbabilitiesDocument(DecimalDocument):
    """The fixed ``points`` (increasing, inside ``min`` and ``max`` when given), a ``unit`` and ``families``."""

    options: ClassVar[frozenset[str]] = frozenset({"points", "families"})

    families: Families = None
    points: Annotated[tuple[float, ...], PlainSerializer(list)] = Field(MISSING, validate_default=True)

    @field_validator("points", mode="plain")
    @classmethod
    def _points(cls, value: Any, info: ValidationInfo) -> tuple[float, ...]:
        if value == MISSING:
            raise fail(
                f"{WHAT} is a probabilities item and needs 'points': the values the expert gives the "
                "probability of being at or below (e.g. points: [1, 2, 3, 4])",
                container=True,
            )
        if not isinstance(value, list):
            raise fail(f"'points' of {WHAT} must be a list of increasing numbers, e.g. [1, 2, 3, 4]")
        for index, point in enumerate(value):
            if not _is_number(point):
                raise fail(f"the values in 'points' of {WHAT} must be numbers, not {point!r}", index)
        if not MIN_POINTS <= len(value) <= MAX_POINTS:
            raise fail(f"'points' of {WHAT} must list {MIN_POINTS} to {MAX_POINTS} values, not {len(value)}")
        for index in range(1, len(value)):
            if value[index] <= value[index - 1]:
                raise fail(
                    f"the values in 'points' of {WHAT} must increase: {value[index]!r} follows "
                    f"{value[index - 1]!r}",
                    index,
                )
        low, high = info.data.get("min"), info.data.get("max")
        for index, point in enumerate(value):
            if (low is not None and point <= low) or (high is not None and point >= high):
                raise fail(
                    f"the values in 'points' of {WHAT} must lie strictly between 'min' and 'max' (the "
                    f"quantity's range), not {point!r}",
                    index,
                )
        return tuple(value)


def points_of(item: Item) -> tuple[float, ...]:
    """The values a probabilities item asks about, lowest first."""
    return tuple(float(point) for point in item.option("points", ()))


def point_phrase(item: Item, part: str) -> Phrase:
    """The value of part ``p<i>`` with the item's unit, in each of the item's languages: ``3 % of GDP``."""
    value = fmt(points_of(item)[int(part[1:]) - 1])
    if item.unit is None:
        return Phrase({"en": value})
    return Phrase({language: f"{value} {unit}" for language, unit in item.unit.items()})


class Probabilities(ItemType):
    name = "probabilities"
    document: ClassVar[type[ItemDocument]] = ProbabilitiesDocument
    measure = "scale"
    analysis = "distribution"
    xlsform = "decimal"  # one decimal (0 to 100) per point
    feedback = "quantiles"  # the group's median probability at each point, part by part

    def parts(self, item: Item) -> tuple[str, ...]:
        return tuple(f"p{i}" for i in range(1, len(points_of(item)) + 1))

    def parse(self, item: Item, form: Form) -> Any:
        raw = posted_parts(item, form)
        if raw is None:
            return None
        percents: dict[str, float] = {}
        previous: tuple[str, float] | None = None
        for part in item.parts:
            field = f"{item.id}.{part}"
            if raw[part] == "":
                raise FieldError(
                    field, "Give a probability for every value: a percent from 0 to 100, such as 25."
                )
            percent = float(number(raw[part].rstrip(PERCENT_SIGNS).strip(), field, integer=False))
            if not 0 <= percent <= 100:
                raise FieldError(field, "Enter a probability from 0 to 100 %.")
            if previous is not None and percent < previous[1]:
                raise FieldError(
                    field,
                    "The probability that the value is at most {point} cannot be smaller than the probability "
                    "that it is at most {before}, which you gave as {percent} %.",
                    point=point_phrase(item, part),
                    before=point_phrase(item, previous[0]),
                    percent=fmt(previous[1]),
                )
            percents[part] = percent
            previous = (part, percent)
        if all(p in (0, 100) for p in percents.values()):
            raise FieldError(
                f"{item.id}.{item.parts[0]}",
                # Worded so that no "% d"-like run makes gettext take it for a printf format.
                "Give at least one probability between 0 and 100 %. With only 0 % and 100 %, your answers "
                "do not say how unsure you are.",
            )
        return percents

    def to_rows(self, item: Item, value: Any) -> list[StoredValue]:
        return [StoredValue(part, float(value[part]), None) for part in item.parts]

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        return numbers_from_rows(rows, whole=False)

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        unit = unit_suffix(item, language)
        return "; ".join(
            str(
                gettext(
                    "at most %(point)s: %(percent)s %%",
                    point=f"{fmt(point)}{unit}",
                    percent=plain(value[part]),
                )
            )
            for point, part in zip(points_of(item), item.parts, strict=True)
        )

    def anchor(self, item: Item) -> str:
        return f"{item.id}.{item.parts[0]}"

    def dtype(self, items: Sequence[Item]) -> str:
        return "float"

    def part_label(self, item: Item, part: str, language: str) -> str:
        point = fmt(points_of(item)[int(part[1:]) - 1])
        return f"probability (%) of at most {point}{unit_suffix(item, language)}"

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        item = items[-1]
        points = [int(p) if p.is_integer() else p for p in points_of(item)]
        return {"elicitation": "probabilities", "points": points, **families_of(item)}

    def cumulative(self, item: Item, value: Any) -> Points | None:
        from elicit.stats.judgements import probability_points

        return probability_points(points_of(item), [value[part] for part in item.parts])

    def demo(self, item: Item, context: DemoContext) -> Any:
        rng = context.rng
        points = points_of(item)
        span = points[-1] - points[0]
        shift = 0.15 if context.cohort == "UK" else -0.15
        centre = points[0] + span * (rng.uniform(0.3, 0.7) + shift)
        spread = span * rng.uniform(0.25, 0.5)
        percents = [round(50 * (1 + math.erf((x - centre) / (spread * math.sqrt(2))))) for x in points]
        if all(p in (0, 100) for p in percents):  # too sure to fit: the middle value becomes an even chance
            middle = len(percents) // 2
            percents = [
                min(p, 50) if i < middle else max(p, 50) if i > middle else 50 for i, p in enumerate(percents)
            ]
        return {part: float(p) for part, p in zip(self.parts(item), percents, strict=True)}
