"""``single_choice``: one answer among labelled choices, shown as radio buttons."""

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
    choice_dtype,
    choice_label,
    fmt,
    one,
)
from elicit.instruments.types.document import ChoiceDocument, ItemDocument

if TYPE_CHECKING:
    from elicit.instruments.model import Item


class SingleChoiceDocument(ChoiceDocument):
    """``choices``: a choice-set name, a ``{code: label}`` mapping or a list of ``{code, label}``."""


class SingleChoice(ItemType):
    name = "single_choice"
    document: ClassVar[type[ItemDocument]] = SingleChoiceDocument
    has_choices = True
    measure = "nominal"
    analysis = "nominal"
    xlsform = "select_one"
    feedback: ClassVar[str | None] = "choice"

    def parse(self, item: Item, form: Form) -> Any:
        raw = one(form, item.id)
        if raw == "":
            return None
        choice = item.choice(raw)
        if choice is None:
            raise FieldError(item.id, "Choose one of the answers offered.")
        return choice.code

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        row = rows[0]
        key = row.value_text if row.value_text is not None else fmt(row.value_num or 0)
        choice = item.choice(key)
        return choice.code if choice else key

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        return choice_label(item, value, language)

    def anchor(self, item: Item) -> str:
        return f"{item.id}-{item.choices[0].key}" if item.choices else item.id

    def dtype(self, items: Sequence[Item]) -> str:
        return choice_dtype(items)

    def demo(self, item: Item, context: DemoContext) -> Any:
        codes = [c.code for c in item.choices]
        cohort = next((code for code in codes if str(code) == context.cohort), None)
        if cohort is not None:  # a question about the expert's own state answers with their cohort
            return cohort
        weights = [0.1 if str(code) == "other" else 1.0 for code in codes]
        return context.rng.choices(codes, weights)[0]
