"""``consent``: "yes, I agree" or "no"; a "no" ends the response."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from elicit.instruments.types.base import DemoContext, Gettext
from elicit.instruments.types.document import ItemDocument
from elicit.instruments.types.single_choice import SingleChoice

if TYPE_CHECKING:
    from elicit.instruments.model import Item

CONSENT_CODES = ("yes", "no")


class ConsentDocument(ItemDocument):
    """No keys of its own: the choices are always "yes" (labelled by the item's text) and "no"."""

    def item_fields(self, languages: tuple[str, ...]) -> dict[str, Any]:
        from elicit.instruments.model import Choice

        return {"choices": (Choice("yes", dict.fromkeys(languages, "yes")), Choice("no", {}))}


class Consent(SingleChoice):
    name = "consent"
    document: ClassVar[type[ItemDocument]] = ConsentDocument
    gates_response = True
    feedback = None
    xlsform = "acknowledge"

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        return str(gettext("Yes, I agree") if value == "yes" else gettext("No"))

    def anchor(self, item: Item) -> str:
        return f"{item.id}-yes"

    def dtype(self, items: object) -> str:
        return "string"

    def demo(self, item: Item, context: DemoContext) -> Any:
        return "yes"
