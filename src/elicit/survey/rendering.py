"""Turning a definition page into what the expert sees: values to show, messages in the page language.

Every item type renders through the macros in ``templates/survey/_questions.html``; this module only prepares
their inputs, so the studio preview shows exactly what experts see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import g, render_template
from flask_babel import gettext
from markupsafe import Markup

from elicit.i18n import N_
from elicit.instruments.schema import Definition, Item, Page, level_name, text_in
from elicit.responding import flow
from elicit.responding.values import (
    CONFIDENCE_SUFFIX,
    DONT_KNOW,
    DONT_KNOW_SUFFIX,
    RATIONALE_SUFFIX,
    Message,
    form_fields,
    is_answered,
    note_fields,
)

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
        names = [item.id, *item.variables, item.id + DONT_KNOW_SUFFIX, item.id + CONFIDENCE_SUFFIX]
        names.append(item.id + RATIONALE_SUFFIX)
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
        if item.type in {"likert", "single_choice", "multiple_choice"} and item.choices:
            return f"{item.id}-{item.choices[0].key}"
        if item.type == "consent":
            return f"{item.id}-yes"
        return name

    def level_name(self, level: int) -> str:
        return level_name(level)

    def describe_required(self, item: Item) -> Markup:
        if not item.required:
            return Markup("")
        return Markup(
            '<span class="required-mark" aria-hidden="true">*</span><span class="visually-hidden">{}</span>'
        ).format(gettext("(required)"))


def stored_values(
    definition: Definition,
    answers: Mapping[str, Any],
    notes: Mapping[str, tuple[int | None, str | None]] | None = None,
) -> dict[str, list[str]]:
    """Form fields that show stored answers (and their confidence and rationale) again."""
    values: dict[str, list[str]] = {}
    for item_id, value in answers.items():
        try:
            item = definition.item(item_id)
        except KeyError:
            continue
        values.update(form_fields(item, value))
    for item_id, (confidence, rationale) in (notes or {}).items():
        try:
            item = definition.item(item_id)
        except KeyError:
            continue
        values.update(note_fields(item, confidence, rationale))
    return values


def format_answer(item: Item, value: Any, language: str) -> str:
    """An answer as the expert reads it on the review page."""
    if value is DONT_KNOW:
        return str(gettext("Don't know / prefer not to say"))
    if not is_answered(value):
        return str(gettext("Not answered"))
    if item.type in {"likert", "single_choice"}:
        choice = item.choice(str(value))
        return text_in(choice.label, language) if choice else str(value)
    if item.type == "consent":
        return str(gettext("Yes, I agree") if value == "yes" else gettext("No"))
    if item.type == "multiple_choice":
        labels = []
        for code in value:
            choice = item.choice(str(code))
            labels.append(text_in(choice.label, language) if choice else str(code))
        return "; ".join(labels)
    if item.type == "ranking":
        order = sorted(value.items(), key=lambda kv: kv[1])
        return "; ".join(f"{rank}. {_label(item, code, language)}" for code, rank in order)
    if item.type == "constant_sum":
        return "; ".join(f"{_label(item, code, language)}: {_num(points)}" for code, points in value.items())
    if item.type == "quantiles":
        return " < ".join(_num(v) for v in value.values()) + (
            f" {text_in(item.unit, language)}" if item.unit else ""
        )
    if isinstance(value, float):
        return _num(value)
    unit = f" {text_in(item.unit, language)}" if item.unit else ""
    return f"{value}{unit}"


def _label(item: Item, code: str, language: str) -> str:
    choice = item.choice(str(code))
    return text_in(choice.label, language) if choice else str(code)


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


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
