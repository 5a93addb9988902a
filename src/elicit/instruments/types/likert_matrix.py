"""``likert_matrix``: likert rows sharing one set of choices, shown as a grid; the rows are the items."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from elicit.instruments.types.base import ItemType
from elicit.instruments.types.document import WHAT, ChoiceDocument, ItemDocument, RowDocument, fail

if TYPE_CHECKING:
    from elicit.instruments.model import Item

#: The type of each row.
ROW_TYPE = "likert"


def _rows(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise fail(f"{WHAT} (likert_matrix) needs a non-empty list of rows")
    return value


class LikertMatrixDocument(ChoiceDocument):
    """Numbered choices shared by the ``rows``, each a likert item of its own."""

    numbers: ClassVar[str | None] = f"{WHAT} is a likert matrix, so its codes must be numbers"

    rows: Annotated[list[RowDocument], BeforeValidator(_rows)] = Field(None, validate_default=True)

    def to_item(self, page: str, languages: tuple[str, ...]) -> Item:
        matrix = super().to_item(page, languages)
        return replace(matrix, rows=tuple(row.to_item(page, matrix) for row in self.rows))


class LikertMatrix(ItemType):
    name = "likert_matrix"
    document: ClassVar[type[ItemDocument]] = LikertMatrixDocument
    has_choices = True
    answerable = False
    is_group = True
    xlsform = "begin group"  # appearance "table-list"
