"""``text``: free text (one line, or ``multiline``) of at most ``max_length`` characters; scrubbed on export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import field_validator

from elicit.instruments.types.base import (
    DemoContext,
    FieldError,
    Form,
    Gettext,
    ItemType,
    clean_text,
    one,
)
from elicit.instruments.types.document import WHAT, Flag, ItemDocument, WholeNumber, fail

if TYPE_CHECKING:
    from elicit.instruments.model import Item

DEMO_TEXTS = (
    "Staff talks build trust that pays off in a crisis.",
    "Exports matter, but the relationships matter more.",
    "Budgets are tight; the benefits are long term.",
)


class TextDocument(ItemDocument):
    """How long the answer may be and whether it gets a multi-line box."""

    max_length: WholeNumber = None
    multiline: Flag = False

    @field_validator("max_length", mode="after")
    @classmethod
    def _length_in_range(cls, value: Any) -> Any:
        if value is not None and not 1 <= value <= 20000:
            raise fail(f"'max_length' of {WHAT} must be 1 to 20000")
        return value


class Text(ItemType):
    name = "text"
    document: ClassVar[type[ItemDocument]] = TextDocument
    free_text = True
    measure = "nominal"
    analysis = "text"
    xlsform = "text"

    def parse(self, item: Item, form: Form) -> Any:
        raw = clean_text(one(form, item.id), item.id)
        if not item.multiline and "\n" in raw:
            raw = " ".join(raw.split("\n"))
        if len(raw) > item.max_length:
            raise FieldError(
                item.id, "Keep this answer to {max} characters (it has {n}).", max=item.max_length, n=len(raw)
            )
        return raw or None

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        return str(value)

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        return {"max_length": items[-1].max_length}

    def demo(self, item: Item, context: DemoContext) -> Any:
        if not item.required and context.rng.random() < 0.15:
            return None
        return context.rng.choice(DEMO_TEXTS)
