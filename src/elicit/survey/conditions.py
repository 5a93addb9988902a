"""Follow-up questions: a question whose ``relevant`` condition reads answers on its own page.

The page shows such a question whatever its condition, because the expert may change those answers before
posting. For the browser, the condition is compiled here into a small JSON tree that ``survey.js`` evaluates with
the language's own rules (``elicit.instruments.expressions``), so the question is hidden until its condition holds;
a condition with parts the browser cannot judge (arithmetic, dates, composite answers) is not compiled, and the
question stays shown. Without JavaScript the question carries a note saying when to answer it, worded from the
controlling question's text and choice labels where the condition is a simple choice, else generically.

The compiled tree::

    ["lit", value]          null, true/false, an integer or a text
    ["float", number]       a decimal number (an integer and a decimal compare with text differently)
    ["list", node...]       a list display, or another page's multiple-choice answer
    ["ref", item_id]        an answer on this page, read from the form as ``r[item_id]`` says
    ["not", node]  ["and", node...]  ["or", node...]
    ["cmp", operator, left, right]   == != < <= > >= in, not in
    ["call", function, node...]      answered, selected, count_selected

Answers on other pages are known to the server and written in as literals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext

from elicit.i18n import N_
from elicit.instruments.expressions import (
    Expression,
    _And,
    _Call,
    _Compare,
    _ListDisplay,
    _Literal,
    _Node,
    _Not,
    _Or,
    _Reference,
)
from elicit.instruments.schema import Item, Page, text_in
from elicit.instruments.types.decimal import Decimal
from elicit.instruments.types.multiple_choice import MultipleChoice
from elicit.instruments.types.single_choice import SingleChoice
from elicit.instruments.types.text import Text
from elicit.responding import flow

MAX_SAFE_INTEGER = 2**53 - 1  # beyond it a browser's numbers are not exact

CHOSE = N_("Answer this only if you answered “%(question)s” with %(choices)s.")
NOT_CHOSE = N_("Answer this only if you did not answer “%(question)s” with %(choices)s.")
CHOSE_AMONG = N_("Answer this only if you chose %(choices)s in “%(question)s”.")
NOT_CHOSE_AMONG = N_("Answer this only if you did not choose %(choices)s in “%(question)s”.")
ANSWERED = N_("Answer this only if you answered “%(question)s”.")
GENERIC = N_("Answer this only if it applies to your earlier answers.")
#: The note for a choice question, by (whether several may be chosen, whether the condition is negated).
MESSAGES = {
    (False, False): CHOSE,
    (False, True): NOT_CHOSE,
    (True, False): CHOSE_AMONG,
    (True, True): NOT_CHOSE_AMONG,
}
QUOTED = N_("“%(text)s”")
EITHER = N_("%(first)s or %(second)s")
ANNOUNCE = N_("Another question is now shown: %(question)s")


class _CannotCompile(Exception):
    """A part of a condition the browser cannot judge."""


@dataclass(frozen=True)
class FollowUp:
    """What the page says of a follow-up question.

    ``rule`` is the compiled condition (JSON text) or None when the browser cannot judge it; ``note`` says when to
    answer the question; ``controls`` are the ids of the page's items the condition reads; ``announce`` is what a
    screen reader hears when the question appears.
    """

    rule: str | None
    note: str
    controls: tuple[str, ...]
    announce: str


def follow_up(
    item: Item, page: Page, answers: Mapping[str, Any], language: str, matrix: Item | None = None
) -> FollowUp | None:
    """The follow-up ``item`` is on ``page`` (None when its condition reads no answer of the page).

    For a row of a matrix only the row's own condition counts: the matrix carries its own.
    """
    if item.relevant is None:
        return None
    controls = flow.same_page_references(item, page)
    if not controls:
        return None
    on_page = {i.id: i for i in page.answerable_items()}
    try:
        rule: str | None = json.dumps(
            compile_condition(item.relevant, on_page, answers), ensure_ascii=False, separators=(",", ":")
        )
    except _CannotCompile:
        rule = None
    question = text_in(item.text, language)
    return FollowUp(
        rule=rule,
        note=condition_note(item.relevant, on_page, language),
        controls=tuple(i for i in on_page if i in controls),
        announce=str(gettext(ANNOUNCE, question=question)),
    )


# ---------------------------------------------------------------------------------------------- for the browser


def compile_condition(
    expression: Expression, on_page: Mapping[str, Item], answers: Mapping[str, Any]
) -> dict[str, Any]:
    """``{"e": tree, "r": readers}``: the condition as the browser evaluates it, and how to read each answer of the
    page it names from the form. Raises _CannotCompile for a condition the browser cannot judge."""
    readers: dict[str, Any] = {}
    values = flow.expression_values(answers)
    tree = _compile(expression._tree, on_page, values, readers)  # noqa: SLF001 - the parsed tree, read only
    return {"e": tree, "r": readers}


def _compile(
    node: _Node, on_page: Mapping[str, Item], values: Mapping[str, Any], readers: dict[str, Any]
) -> Any:
    if isinstance(node, _Literal):
        return _value(node.value)
    if isinstance(node, _Reference):
        item = on_page.get(node.name)
        if item is None:
            return _value(values.get(node.name))
        readers[item.id] = _reader(item)
        return ["ref", item.id]
    if isinstance(node, _ListDisplay):
        return ["list", *(_compile(child, on_page, values, readers) for child in node.items)]
    if isinstance(node, _Not):
        return ["not", _compile(node.operand, on_page, values, readers)]
    if isinstance(node, _And | _Or):
        word = "and" if isinstance(node, _And) else "or"
        return [word, *(_compile(child, on_page, values, readers) for child in node.operands)]
    if isinstance(node, _Compare):
        left = _compile(node.left, on_page, values, readers)
        return ["cmp", node.operator, left, _compile(node.right, on_page, values, readers)]
    if isinstance(node, _Call):
        return [
            "call",
            node.function,
            *(_compile(child, on_page, values, readers) for child in node.arguments),
        ]
    raise _CannotCompile(type(node).__name__)  # arithmetic, '.', a negated answer


def _value(value: Any) -> Any:
    """A known value as a literal of the tree (answers of other pages, literals of the condition)."""
    if value is None or isinstance(value, bool | str):
        return ["lit", value]
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise _CannotCompile("integer")
        return ["lit", value]
    if isinstance(value, float):
        return ["float", value]
    if isinstance(value, list):
        return ["list", *(_value(element) for element in value)]
    raise _CannotCompile(type(value).__name__)  # composite answers, dates


def _reader(item: Item) -> dict[str, Any]:
    """How the browser reads an item's answer from the form, as its type parses it (kinds one, many, int, num,
    text); _CannotCompile for a type it cannot read (composite parts, sliders, dates)."""
    kind = item.kind
    dont_know = bool(item.dont_know)
    if isinstance(kind, SingleChoice | MultipleChoice):
        codes = []
        for choice in item.choices:
            if isinstance(choice.code, int) and not isinstance(choice.code, bool):
                if abs(choice.code) > MAX_SAFE_INTEGER:
                    raise _CannotCompile("code")
            elif not isinstance(choice.code, str):
                raise _CannotCompile("code")
            codes.append([choice.key, choice.code])
        return {"k": "many" if isinstance(kind, MultipleChoice) else "one", "codes": codes, "dk": dont_know}
    if isinstance(kind, Decimal):
        bounds = {"min": item.min, "max": item.max}
        return {"k": "int" if kind.integer else "num", **bounds, "dk": dont_know}
    if isinstance(kind, Text):
        return {"k": "text", "max": item.max_length, "multiline": bool(item.multiline), "dk": dont_know}
    raise _CannotCompile(kind.name)


# ------------------------------------------------------------------------------------------ for the expert's eye


def condition_note(expression: Expression, on_page: Mapping[str, Item], language: str) -> str:
    """When to answer a follow-up, in the page language: "Answer this only if you answered “In which sector do
    you mainly work?” with “Other”." for a condition on one choice question, else a general sentence."""
    found = _choices(expression._tree, on_page)  # noqa: SLF001 - the parsed tree, read only
    if found is None:
        return str(gettext(GENERIC))
    item, codes, negated = found
    question = text_in(item.text, language)
    if codes is None:
        return str(gettext(ANSWERED, question=question))
    labels = []
    for code in codes:
        choice = item.choice(str(code))
        if choice is None:
            return str(gettext(GENERIC))
        labels.append(str(gettext(QUOTED, text=text_in(choice.label, language))))
    choices = labels[0]
    for label in labels[1:]:
        choices = str(gettext(EITHER, first=choices, second=label))
    message = MESSAGES[isinstance(item.kind, MultipleChoice), negated]
    return str(gettext(message, question=question, choices=choices))  # noqa: INT001 - msgids marked above


_Found = tuple[Item, list[Any] | None, bool]  # the item, the codes named (None: "answered"), negated


def _choices(node: _Node, on_page: Mapping[str, Item]) -> _Found | None:
    """The one choice question of the page a condition is about, the codes it names and whether it is negated;
    None for any other condition."""
    if isinstance(node, _Not):
        inner = _choices(node.operand, on_page)
        if inner is None or inner[1] is None:
            return None
        return inner[0], inner[1], not inner[2]
    if isinstance(node, _Or):
        parts = [_choices(operand, on_page) for operand in node.operands]
        if any(p is None or p[1] is None or p[2] for p in parts):
            return None
        items = {p[0].id for p in parts if p is not None}
        if len(items) != 1:
            return None
        codes = [code for p in parts if p is not None and p[1] is not None for code in p[1]]
        return parts[0][0], codes, False  # type: ignore[index]
    if isinstance(node, _Call):
        subject = node.arguments[0]
        if node.function == "answered" and isinstance(subject, _Reference) and subject.name in on_page:
            return on_page[subject.name], None, False
        item = _choice_item(subject, on_page)
        if item is not None and node.function == "selected" and isinstance(node.arguments[1], _Literal):
            return item, [node.arguments[1].value], False
        return None
    if not isinstance(node, _Compare):
        return None
    negated = node.operator in ("!=", "not in")
    if node.operator in ("==", "!="):
        for subject, literal in ((node.left, node.right), (node.right, node.left)):
            item = _choice_item(subject, on_page)
            if (
                item is not None
                and not isinstance(item.kind, MultipleChoice)
                and isinstance(literal, _Literal)
            ):
                return item, [literal.value], negated
        return None
    if node.operator in ("in", "not in"):
        item = _choice_item(node.left, on_page)
        if (
            item is not None
            and not isinstance(item.kind, MultipleChoice)
            and isinstance(node.right, _ListDisplay)
        ):
            if all(isinstance(element, _Literal) for element in node.right.items):
                return item, [element.value for element in node.right.items], negated  # type: ignore[attr-defined]
            return None
        item = _choice_item(node.right, on_page)
        if item is not None and isinstance(item.kind, MultipleChoice) and isinstance(node.left, _Literal):
            return item, [node.left.value], negated
    return None


def _choice_item(node: _Node, on_page: Mapping[str, Item]) -> Item | None:
    """The choice question of the page a node reads, or None."""
    if isinstance(node, _Reference):
        item = on_page.get(node.name)
        if item is not None and isinstance(item.kind, SingleChoice | MultipleChoice):
            return item
    return None
