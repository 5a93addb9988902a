"""``consent``: "yes, I agree" or "no"; a "no" ends the response."""

from __future__ import annotations

import functools
import gettext
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from elicit.instruments.types.base import DemoContext, Gettext, Message
from elicit.instruments.types.document import DocumentContext, ItemDocument, Outline
from elicit.instruments.types.single_choice import SingleChoice

if TYPE_CHECKING:
    from elicit.instruments.model import Item

CONSENT_CODES = ("yes", "no")
#: The choices' labels: the words of the expert page (templates/survey/items/consent.html), so that the diff,
#: the codebook and the export's value labels say what the expert was offered.
CONSENT_LABELS = (Message("Yes, I agree to take part"), Message("No, I do not wish to take part"))
TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"


@functools.lru_cache(maxsize=32)
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation("messages", TRANSLATIONS, [language, language.split("-")[0]], fallback=True)


def translated(message: Message, language: str) -> str:
    """``message`` in ``language`` from the interface catalog (English when the catalog has no such language)."""
    return _catalog(language).gettext(message.msgid)


class ConsentDocument(ItemDocument):
    """No keys of its own: the choices are always "yes" and "no", labelled as the expert page words them."""

    @classmethod
    def outline(cls, context: DocumentContext, ident: str, data: Mapping[str, Any]) -> Outline | None:
        item = super().outline(context, ident, data)
        if item is not None:
            item.codes = CONSENT_CODES  # what expressions may compare a consent with
        return item

    def item_fields(self, languages: tuple[str, ...]) -> dict[str, Any]:
        from elicit.instruments.model import Choice

        return {
            "choices": tuple(
                Choice(code, {lang: translated(label, lang) for lang in languages})
                for code, label in zip(CONSENT_CODES, CONSENT_LABELS, strict=True)
            )
        }


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
