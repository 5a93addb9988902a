"""``note``: text between questions; stores nothing."""

from __future__ import annotations

from elicit.instruments.types.base import ItemType


class Note(ItemType):
    name = "note"
    answerable = False
    xlsform = "note"
