"""``multiple_choice``: any number of labelled choices (optionally at least / at most n), one 0/1 part each."""

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
    choice_label,
)
from elicit.instruments.types.document import ChoiceDocument, ItemDocument, WholeNumber

if TYPE_CHECKING:
    from elicit.instruments.model import Item


class MultipleChoiceDocument(ChoiceDocument):
    """The choices and, optionally, how many to select at least and at most."""

    min_selected: WholeNumber = None
    max_selected: WholeNumber = None


class MultipleChoice(ItemType):
    name = "multiple_choice"
    document: ClassVar[type[ItemDocument]] = MultipleChoiceDocument
    has_choices = True
    part_per_choice = True
    measure = "nominal"
    analysis = "multi-select"
    xlsform = "select_multiple"

    def parse(self, item: Item, form: Form) -> Any:
        raws = list(form.get(item.id, ()))
        if len(set(raws)) != len(raws):
            raise FieldError(item.id, "Each answer can be chosen once.")
        codes = []
        for raw in raws:
            choice = item.choice(raw)
            if choice is None:
                raise FieldError(item.id, "Choose among the answers offered.")
            codes.append(choice.code)
        order = {c.key: i for i, c in enumerate(item.choices)}
        codes.sort(key=lambda code: order[str(code)])
        if codes and item.min_selected is not None and len(codes) < item.min_selected:
            raise FieldError(item.id, "Choose at least {n}.", n=item.min_selected)
        if item.max_selected is not None and len(codes) > item.max_selected:
            raise FieldError(item.id, "Choose at most {n}.", n=item.max_selected)
        return codes or None

    def to_rows(self, item: Item, value: Any) -> list[StoredValue]:
        chosen = {str(code) for code in value}
        return [StoredValue(c.key, 1.0 if c.key in chosen else 0.0, None) for c in item.choices]

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        by_part = {r.part: r.value_num for r in rows}
        return [c.code for c in item.choices if by_part.get(c.key)]

    def form_fields(self, item: Item, value: Any) -> dict[str, list[str]]:
        return {item.id: [str(code) for code in value]}

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        return "; ".join(choice_label(item, code, language) for code in value)

    def anchor(self, item: Item) -> str:
        return f"{item.id}-{item.choices[0].key}" if item.choices else item.id

    def dtype(self, items: Sequence[Item]) -> str:
        return "int"

    def part_value_labels(self, item: Item) -> dict[Any, str] | None:
        return {0: "not selected", 1: "selected"}

    def demo(self, item: Item, context: DemoContext) -> Any:
        order = [c.code for c in item.choices]
        pool = [code for code in order if str(code) != "none"]
        return sorted(context.rng.sample(pool, context.rng.randint(1, min(4, len(pool)))), key=order.index)
