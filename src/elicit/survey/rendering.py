"""Turning a definition page into what the expert sees: values to show, messages in the page language.

Every item renders through its type's template (``item.kind.template``, in ``templates/survey/items/``), called by
the ``question`` macro of ``templates/survey/_questions.html``; this module only prepares their inputs, so the
studio preview shows exactly what experts see.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import g, render_template
from flask_babel import gettext
from markupsafe import Markup

from elicit.i18n import N_
from elicit.instruments.schema import Definition, Item, Page, level_name, text_in
from elicit.instruments.types.base import fmt
from elicit.instruments.types.date import bound
from elicit.instruments.types.slider import SLIDER_SUFFIX, START_SUFFIX, Slider
from elicit.responding import flow
from elicit.responding.values import DONT_KNOW, DONT_KNOW_SUFFIX, NOTE_SUFFIXES, Message, is_answered

PERCENTILE_LABELS = {
    5: N_("Low (5th percentile)"),
    50: N_("Best estimate (median)"),
    95: N_("High (95th percentile)"),
}


def translate(message: Message, language: str) -> str:
    """A domain message in the page language (instrument texts in theirs, interface strings via the catalog)."""
    if message.text is not None:
        return text_in(message.text, language)
    return str(gettext(message.msgid)).format(**message.params)  # noqa: INT001 - msgids are literals in the domain


@dataclass(frozen=True)
class SliderShown:
    """A slider as the page draws it: its ends and step, where the thumb stands, and where the page put it.

    ``start`` goes back in the hidden ``.start`` field, so an expert who never moves the thumb stays unanswered.
    """

    low: str
    high: str
    step: str
    position: str
    start: str


@dataclass
class PageView:
    """Everything the page template needs."""

    definition: Definition
    page: Page
    language: str
    values: Mapping[str, Sequence[str]]
    errors: dict[str, str] = field(default_factory=dict)
    answers: Mapping[str, Any] = field(default_factory=dict)
    number: int = 1
    total: int = 1
    preview: bool = False
    feedback: Mapping[str, Any] = field(default_factory=dict)
    rationale_items: frozenset[str] = frozenset()
    k: int = 5
    always_shown: frozenset[str] = (
        frozenset()
    )  # items shown whatever their relevance (they hold typed values)

    def answer_text(self, item: Item, value: Any) -> str:
        return format_answer(item, value, self.language)

    def choice_label(self, item: Item, code: str) -> str:
        choice = item.choice(code)
        return text_in(choice.label, self.language) if choice else code

    def number_text(self, value: float | None) -> str:
        if value is None:
            return "–"
        return str(int(value)) if float(value).is_integer() else f"{value:.1f}"

    def t(self, text: Mapping[str, str] | None) -> str:
        return text_in(text, self.language)

    def value(self, name: str) -> str:
        values = self.values.get(name) or [""]
        return values[0]

    def checked(self, name: str, code: str) -> bool:
        return code in (self.values.get(name) or [])

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def item_errors(self, item: Item) -> list[tuple[str, str]]:
        """Errors of an item and its parts, with the field each points to."""
        names = [*item.kind.form_names(item), *(item.id + suffix for suffix in NOTE_SUFFIXES)]
        seen: list[tuple[str, str]] = []
        for name in names:
            if name in self.errors and (name, self.errors[name]) not in seen:
                seen.append((name, self.errors[name]))
        return seen

    def visible(self, item: Item, matrix: Item | None = None) -> bool:
        """Items whose relevance depends on this page's answers are shown; the server decides on posting."""
        if item.relevant is None and (matrix is None or matrix.relevant is None):
            return True
        if item.id in self.always_shown:
            return True
        references: set[str] = set()
        for expr in (item.relevant, matrix.relevant if matrix else None):
            if expr is not None:
                references |= expr.references()
        same_page = {i.id for i in self.page.answerable_items()}
        if references & same_page:
            return True
        return flow.item_visible(item, self.answers, matrix)

    def constant_sum_total(self, item: Item) -> str:
        total = 0.0
        for part in item.parts:
            text = self.value(f"{item.id}.{part}").replace(",", ".").strip()
            try:
                total += float(text) if text else 0.0
            except ValueError:
                return "?"
        return str(int(total)) if total.is_integer() else f"{total:g}"

    def percentile_label(self, level: int) -> str:
        label = PERCENTILE_LABELS.get(level)
        return str(gettext(label) if label else gettext("%(level)s th percentile", level=level))

    def dont_know_checked(self, item: Item) -> bool:
        return bool(self.values.get(item.id + DONT_KNOW_SUFFIX))

    def anchor(self, name: str) -> str:
        """The id of the input an error summary entry jumps to."""
        try:
            item = self.definition.item(name)
        except KeyError:
            return name
        return item.kind.anchor(item)

    def slider(self, item: Item) -> SliderShown:
        """Where a slider's thumb stands: as posted when the page is shown again, else at the stored answer or
        the type's start position (the page remembers that start in ``.start``)."""
        kind = item.kind
        if not isinstance(kind, Slider):
            raise TypeError(f"{item.id} is not a slider")
        start = self._slider_number(item, item.id + START_SUFFIX)
        if start is None:
            start = self._slider_number(item, item.id)
        if start is None:
            start = kind.start(item)
        position = self._slider_number(item, item.id + SLIDER_SUFFIX)
        return SliderShown(
            low=fmt(item.min or 0),
            high=fmt(item.max or 0),
            step=fmt(kind.step(item)),
            position=fmt(start if position is None else position),
            start=fmt(start),
        )

    def _slider_number(self, item: Item, name: str) -> float | None:
        """The number in field ``name`` when it is one on the slider's range, else None."""
        text = self.value(name).strip().replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            return None
        low, high = float(item.min or 0), float(item.max or 0)
        return value if math.isfinite(value) and low <= value <= high else None

    def date_bounds(self, item: Item) -> tuple[str, str]:
        """A date item's earliest and latest dates in ISO form ('' where open), ``today`` resolved now."""
        low, high = bound(item, "min"), bound(item, "max")
        return (low.isoformat() if low else "", high.isoformat() if high else "")

    def level_name(self, level: int) -> str:
        return level_name(level)

    def describe_required(self, item: Item) -> Markup:
        if not item.required:
            return Markup("")
        return Markup(
            '<span class="required-mark" aria-hidden="true">*</span><span class="visually-hidden">{}</span>'
        ).format(gettext("(required)"))


def format_answer(item: Item, value: Any, language: str) -> str:
    """An answer as the expert reads it on the review page (the item's type words an answered value)."""
    if value is DONT_KNOW:
        return str(gettext("Don't know / prefer not to say"))
    if not is_answered(value):
        return str(gettext("Not answered"))
    return item.kind.describe(item, value, language, gettext)


def render_preview(definition: Definition, page_id: str | None, language: str) -> str:
    """A page exactly as experts see it, with a preview banner and inert forms (for the studio)."""
    if language not in definition.languages:
        language = definition.languages[0]
    pages = list(definition.pages)
    page = next((p for p in pages if p.id == page_id), pages[0]) if page_id else pages[0]
    g.language = language
    view = PageView(
        definition=definition,
        page=page,
        language=language,
        values={},
        number=pages.index(page) + 1,
        total=len(pages),
        preview=True,
    )
    index = pages.index(page)
    return render_template(
        "survey/page.html",
        view=view,
        token=None,
        previous_page=pages[index - 1].id if index > 0 else None,
        next_page=pages[index + 1].id if index + 1 < len(pages) else None,
    )
