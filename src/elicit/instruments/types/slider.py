"""``slider``: a number on a range from ``min`` to ``max`` in steps of ``step``, with labelled ends.

The page shows a plain ``<input type=range>`` and a number box. With JavaScript the two move together; without
it both are posted: a typed number counts, else the slider's position counts once it has been moved from where
the page put it (``.start``), so an untouched slider stays unanswered instead of answering its midpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationInfo, field_validator

from elicit.instruments.types.base import (
    DemoContext,
    FieldError,
    Form,
    ItemType,
    StoredValue,
    fmt,
    in_range,
    number,
    one,
)
from elicit.instruments.types.decimal import DecimalDocument
from elicit.instruments.types.document import WHAT, Found, ItemDocument, Number, OptionalText, fail

if TYPE_CHECKING:
    from elicit.instruments.model import Item

SLIDER_SUFFIX = ".slider"
START_SUFFIX = ".start"


class SliderDocument(DecimalDocument):
    """Required bounds, an optional ``step`` and labels for the two ends."""

    options: ClassVar[frozenset[str]] = frozenset({"step", "min_label", "max_label"})

    step: Number = None
    min_label: OptionalText = None
    max_label: OptionalText = None

    @classmethod
    def presence(cls, data: Mapping[str, Any]) -> list[Found]:
        if "min" in data and "max" in data:
            return []
        message = f"{WHAT} is a slider and needs 'min' and 'max' (e.g. min: 0, max: 10)"
        return [(message, ("min+max",), True)]

    @field_validator("step", mode="after")
    @classmethod
    def _step_within_range(cls, step: Any, info: ValidationInfo) -> Any:
        low, high = info.data.get("min"), info.data.get("max")
        if step is not None and (
            step <= 0 or (low is not None and high is not None and low < high and step > high - low)
        ):
            raise fail(f"'step' of {WHAT} must be positive and at most 'max' - 'min'")
        return step


class Slider(ItemType):
    name = "slider"
    document: ClassVar[type[ItemDocument]] = SliderDocument
    numeric = True
    measure = "scale"
    analysis = "interval"
    xlsform = "range"
    feedback = "number"

    @staticmethod
    def step(item: Item) -> float:
        """The distance between two positions (1 unless the instrument says otherwise)."""
        return float(item.option("step", 1))

    @staticmethod
    def whole(item: Item) -> bool:
        """Whether every position is a whole number (then values are stored and exported as int)."""
        return all(float(x).is_integer() for x in (item.min or 0, item.max or 0, Slider.step(item)))

    def start(self, item: Item) -> float | int:
        """Where the slider stands before the expert moves it: the position nearest the middle."""
        low, high, step = float(item.min or 0), float(item.max or 0), self.step(item)
        position = low + round((high - low) / 2 / step) * step
        return int(position) if self.whole(item) else position

    def form_names(self, item: Item) -> tuple[str, ...]:
        return (item.id, item.id + SLIDER_SUFFIX, item.id + START_SUFFIX)

    def parse(self, item: Item, form: Form) -> Any:
        whole = self.whole(item)
        typed = one(form, item.id).strip()
        if typed:
            value = number(typed, item.id, integer=False)
        else:
            moved = one(form, item.id + SLIDER_SUFFIX).strip()
            if moved == "" or moved == one(form, item.id + START_SUFFIX).strip():
                return None
            value = number(moved, item.id, integer=False)
        in_range(value, item, item.id)
        low, step = float(item.min or 0), self.step(item)
        steps = (value - low) / step
        if not math.isclose(steps, round(steps), abs_tol=1e-9):
            raise FieldError(
                item.id, "Choose a value in steps of {step} from {min}.", step=fmt(step), min=fmt(low)
            )
        return int(round(value)) if whole else float(value)

    def sent_fields(self, item: Item, form: Form) -> dict[str, list[str]]:
        try:
            value = self.parse(item, form)
        except FieldError:
            return super().sent_fields(item, form)
        return {} if value is None else self.form_fields(item, value)

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        value = rows[0].value_num
        if value is None:
            return None
        return int(value) if self.whole(item) else value

    def dtype(self, items: Sequence[Item]) -> str:
        return "int" if all(self.whole(item) for item in items) else "float"

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        from elicit.instruments.model import text_in

        item = items[-1]
        extra: dict[str, Any] = {"step": self.step(item)}
        for key in ("min_label", "max_label"):
            label = item.option(key)
            if label is not None:
                extra[key] = text_in(label, language)
        return extra

    def demo(self, item: Item, context: DemoContext) -> Any:
        low, high, step = float(item.min or 0), float(item.max or 0), self.step(item)
        positions = int(round((high - low) / step))
        centre = positions * (0.6 if context.cohort == "UK" else 0.45)
        position = min(positions, max(0, round(context.rng.gauss(centre, positions / 5))))
        value = low + position * step
        return int(value) if self.whole(item) else round(value, 10)
