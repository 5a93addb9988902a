"""``roulette``: chips placed in bins (SHELF's "chips and bins"); the stored answer is the chip count of each bin.

The bins are given either as their edges (``bins: [0, 10, 20, 30]``: three bins, the range is the first to the
last edge) or as a number of equal bins between ``min`` and ``max`` (``min: 0, max: 30, bins: 3``). The expert
places all ``chips`` (20 unless the instrument says otherwise); bin ``i`` holding ``c_i`` chips says
``P(X <= e_i) = (c_1 + ... + c_i) / chips``, which is what a distribution is fitted to
(:func:`elicit.stats.judgements.roulette_points`). Parts ``b1`` .. ``bn`` are stored as whole numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, PlainSerializer, PlainValidator, ValidationInfo, field_validator

from elicit.instruments.types.base import (
    DemoContext,
    FieldError,
    Form,
    Gettext,
    ItemType,
    StoredValue,
    fmt,
    number,
    unit_suffix,
)
from elicit.instruments.types.document import (
    MISSING,
    WHAT,
    Families,
    ItemDocument,
    Number,
    OptionalText,
    fail,
    greater_than_min,
)
from elicit.instruments.types.quantiles import families_of
from elicit.instruments.types.ranking import numbers_from_rows, posted_parts

if TYPE_CHECKING:
    from elicit.instruments.model import Item
    from elicit.stats.judgements import Points

MIN_BINS = 3
MAX_BINS = 20
DEFAULT_CHIPS = 20
MAX_CHIPS = 100


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bins(value: Any, info: ValidationInfo) -> int | tuple[float, ...]:
    if value == MISSING:
        raise fail(
            f"{WHAT} is a roulette and needs 'bins': the bin edges (e.g. bins: [0, 10, 20, 30]) "
            "or a number of equal bins between 'min' and 'max'",
            container=True,
        )
    data = info.data
    if isinstance(value, list):
        for index, edge in enumerate(value):
            if not _is_number(edge):
                raise fail(f"the edges in 'bins' of {WHAT} must be numbers, not {edge!r}", index)
        if not MIN_BINS + 1 <= len(value) <= MAX_BINS + 1:
            raise fail(
                f"'bins' of {WHAT} must list {MIN_BINS + 1} to {MAX_BINS + 1} edges "
                f"({MIN_BINS} to {MAX_BINS} bins), not {len(value)}"
            )
        for index in range(1, len(value)):
            if value[index] <= value[index - 1]:
                raise fail(
                    f"the edges in 'bins' of {WHAT} must increase: {value[index]!r} follows {value[index - 1]!r}",
                    index,
                )
        if data.get("min") is not None or data.get("max") is not None:
            raise fail(
                f"{WHAT} gives its bins as edges: leave out 'min' and 'max' (the first and last edge are the range)"
            )
        return tuple(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not MIN_BINS <= value <= MAX_BINS:
            raise fail(f"'bins' of {WHAT} must be {MIN_BINS} to {MAX_BINS} bins, not {value}")
        if ("min" in data and data["min"] is None) or ("max" in data and data["max"] is None):
            raise fail(f"{WHAT} has bins: {value} and needs 'min' and 'max' to divide into equal bins")
        return value
    raise fail(f"'bins' of {WHAT} must be a list of bin edges or a whole number of equal bins, not {value!r}")


def _chips(value: Any, info: ValidationInfo) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CHIPS:
        raise fail(f"'chips' of {WHAT} must be a whole number from 1 to {MAX_CHIPS}, not {value!r}")
    bins = info.data.get("bins")
    count = bins if isinstance(bins, int) else len(bins) - 1 if isinstance(bins, tuple) else 0
    if value < count:
        raise fail(f"'chips' of {WHAT} must be at least the number of bins ({count}), not {value}")
    return value


def _canonical_bins(value: int | tuple[float, ...]) -> int | list[float]:
    return list(value) if isinstance(value, tuple) else value


class RouletteDocument(ItemDocument):
    """The ``bins`` (edges, or a count with ``min`` and ``max``), the number of ``chips`` and a ``unit``."""

    options: ClassVar[frozenset[str]] = frozenset({"bins", "chips", "families"})

    min: Number = None
    max: Number = None
    unit: OptionalText = None
    families: Families = None
    bins: Annotated[int | tuple[float, ...], PlainValidator(_bins), PlainSerializer(_canonical_bins)] = Field(
        MISSING, validate_default=True
    )
    chips: Annotated[int, PlainValidator(_chips)] = Field(
        DEFAULT_CHIPS, exclude_if=lambda value: value == DEFAULT_CHIPS
    )

    _max_above_min = field_validator("max", mode="after")(greater_than_min)

    def to_item(self, page: str, languages: tuple[str, ...]) -> Item:
        """The runtime item, its ``min`` and ``max`` the outer edges however the bins were written."""
        item = super().to_item(page, languages)
        edges = edges_of(item)
        return dataclasses.replace(item, min=edges[0], max=edges[-1])


def edges_of(item: Item) -> tuple[float, ...]:
    """The bin edges of a roulette item (n + 1 for n bins)."""
    bins = item.option("bins")
    if isinstance(bins, int):
        low, high = float(item.min or 0), float(item.max or 0)
        return tuple(round(low + (high - low) * i / bins, 10) for i in range(bins + 1))
    return tuple(float(edge) for edge in bins)


def chips_of(item: Item) -> int:
    """How many chips the expert places."""
    return int(item.option("chips", DEFAULT_CHIPS))


class Roulette(ItemType):
    name = "roulette"
    document: ClassVar[type[ItemDocument]] = RouletteDocument
    measure = "scale"
    analysis = "distribution"
    feedback = "distribution"  # Delphi and IDEA feedback: the medians of the ranges and best estimates
    xlsform = "integer"  # one integer per bin, with a constraint on their sum

    def parts(self, item: Item) -> tuple[str, ...]:
        return tuple(f"b{i}" for i in range(1, len(edges_of(item))))

    def bin_label(self, item: Item, part: str) -> str:
        """A bin's range as the page and the column labels show it: ``10 – 20``."""
        edges = edges_of(item)
        index = int(part[1:])
        return f"{fmt(edges[index - 1])} – {fmt(edges[index])}"

    def placed(self, item: Item, values: Mapping[str, Sequence[str]]) -> str:
        """How many chips the shown fields hold ('?' when one is not a whole number): the server's running total."""
        total = 0
        for name in item.variables:
            text = (values.get(name) or [""])[0].strip()
            if text == "":
                continue
            try:
                total += int(number(text, name, integer=True))
            except FieldError:
                return "?"
        return str(total)

    def parse(self, item: Item, form: Form) -> Any:
        raw = posted_parts(item, form)
        if raw is None:
            return None
        total = chips_of(item)
        chips: dict[str, int] = {}
        for part, text in raw.items():
            field = f"{item.id}.{part}"
            count = 0 if text == "" else int(number(text, field, integer=True))
            if count < 0:
                raise FieldError(field, "A bin cannot hold fewer than 0 chips.")
            if count > total:
                raise FieldError(field, "A bin can hold at most {chips} chips.", chips=total)
            chips[part] = count
        placed = sum(chips.values())
        first = f"{item.id}.{item.parts[0]}"
        if placed < total:
            raise FieldError(
                first,
                "Place all {chips} chips: you have placed {placed} so far.",
                chips=total,
                placed=placed,
            )
        if placed > total:
            raise FieldError(
                first,
                "There are only {chips} chips: you have placed {placed}, so take {extra} away.",
                chips=total,
                placed=placed,
                extra=placed - total,
            )
        return chips

    def to_rows(self, item: Item, value: Any) -> list[StoredValue]:
        return [StoredValue(part, float(value[part]), None) for part in item.parts]

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        return numbers_from_rows(rows, whole=True)

    def form_fields(self, item: Item, value: Any) -> dict[str, list[str]]:
        return {f"{item.id}.{part}": [str(int(value[part]))] for part in item.parts}

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:

        unit = unit_suffix(item, language)
        shown = [f"{self.bin_label(item, part)}{unit}: {value[part]}" for part in item.parts if value[part]]
        return "; ".join(shown)

    def anchor(self, item: Item) -> str:
        return f"{item.id}.{item.parts[0]}"

    def dtype(self, items: Sequence[Item]) -> str:
        return "int"

    def part_label(self, item: Item, part: str, language: str) -> str:
        return f"chips in {self.bin_label(item, part)}"

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        item = items[-1]
        edges = [int(edge) if edge.is_integer() else edge for edge in edges_of(item)]
        return {"elicitation": "roulette", "edges": edges, "chips": chips_of(item), **families_of(item)}

    def cumulative(self, item: Item, value: Any) -> Points | None:
        from elicit.stats.judgements import roulette_points

        return roulette_points(edges_of(item), [value[part] for part in item.parts])

    def demo(self, item: Item, context: DemoContext) -> Any:
        rng = context.rng
        n = len(item.parts)
        centre = rng.uniform(0.3, 0.6) * (n - 1) + (0.5 if context.cohort == "UK" else 0.0)
        spread = rng.uniform(0.8, 1.6)
        weights = [math.exp(-(((i - centre) / spread) ** 2) / 2) for i in range(n)]
        total = chips_of(item)
        counts = [int(total * w / sum(weights)) for w in weights]
        top = max(range(n), key=lambda i: weights[i])
        counts[top] += total - sum(counts)
        return {part: count for part, count in zip(item.parts, counts, strict=True)}
