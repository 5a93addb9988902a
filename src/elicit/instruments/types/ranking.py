"""``ranking``: every choice gets a different rank, 1 for the first; one part per choice."""

from __future__ import annotations

import math
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
    number,
    one,
)
from elicit.instruments.types.document import ChoiceDocument, ItemDocument

if TYPE_CHECKING:
    from elicit.instruments.model import Item


def posted_parts(item: Item, form: Form) -> dict[str, str] | None:
    """The posted text of each part, or None when every part is empty."""
    raw = {part: one(form, f"{item.id}.{part}").strip() for part in item.parts}
    return None if all(v == "" for v in raw.values()) else raw


def numbers_from_rows(rows: Sequence[StoredValue], whole: bool) -> dict[str, Any]:
    """``{part: number}`` from answer rows (whole numbers as int)."""
    result: dict[str, Any] = {}
    for r in rows:
        value = r.value_num if r.value_num is not None else math.nan
        result[r.part] = int(value) if whole or float(value).is_integer() else value
    return result


class RankingDocument(ChoiceDocument):
    """The choices to put in order."""


class Ranking(ItemType):
    name = "ranking"
    document: ClassVar[type[ItemDocument]] = RankingDocument
    has_choices = True
    part_per_choice = True
    measure = "ordinal"
    analysis = "ranking"
    xlsform = "rank"

    def parse(self, item: Item, form: Form) -> Any:
        raw = posted_parts(item, form)
        if raw is None:
            return None
        n = len(item.parts)
        ranks: dict[str, int] = {}
        for part, text in raw.items():
            field = f"{item.id}.{part}"
            if text == "":
                raise FieldError(field, "Give every option a rank from 1 to {n}.", n=n)
            rank = number(text, field, integer=True)
            if not 1 <= rank <= n:
                raise FieldError(field, "Ranks go from 1 to {n}.", n=n)
            ranks[part] = int(rank)
        if sorted(ranks.values()) != list(range(1, n + 1)):
            raise FieldError(f"{item.id}.{item.parts[0]}", "Use each rank from 1 to {n} exactly once.", n=n)
        return ranks

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        return numbers_from_rows(rows, whole=True)

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        order = sorted(value.items(), key=lambda kv: kv[1])
        return "; ".join(f"{rank}. {choice_label(item, code, language)}" for code, rank in order)

    def dtype(self, items: Sequence[Item]) -> str:
        return "int"

    def demo(self, item: Item, context: DemoContext) -> Any:
        order = sorted(
            item.choices, key=lambda c: -(context.latent.get(c.key, 3.5) + context.rng.gauss(0, 0.5))
        )
        return {c.key: rank for rank, c in enumerate(order, start=1)}
