"""``dropdown``: one answer from a long list (countries, ministries), shown as a ``<select>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from elicit.instruments.types.single_choice import SingleChoice

if TYPE_CHECKING:
    from elicit.instruments.model import Item


class Dropdown(SingleChoice):
    name = "dropdown"
    xlsform = "select_one"  # with appearance "minimal"

    def anchor(self, item: Item) -> str:
        return item.id  # one <select>, not a radio per choice
