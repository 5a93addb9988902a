"""The instrument language: a validated, typed model of a questionnaire (see docs/instruments.md).

Declared with pydantic v2 rather than attrs + cattrs: a discriminated union on ``type`` picks each item's model
(declared in its type's module), one pass reports every error with its location, custom error types carry our
wording, serializers give the canonical form from the same field declarations, and pydantic-core is fast.

``build_definition(document, path)`` validates a parsed document and reports *every* problem at once, each as
``file:line: message`` (the error's location is followed through the YAML reader's LineMap/LineList), then
returns an immutable ``Definition``. The definition also keeps its canonical form (a normalized JSON document
that is itself a valid instrument), from which the published sha256 is computed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Union

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from elicit.instruments.expressions import CodeComparison, Expression
from elicit.instruments.model import (
    DEFAULT_TEXT_LENGTH,
    Choice,
    Definition,
    Hypothesis,
    InstrumentError,
    Item,
    Page,
    Practice,
    Privacy,
    Problem,
    Scale,
    Text,
    canonical_dumps,
    text_in,
)
from elicit.instruments.types import ITEM_TYPES, REGISTRY, level_name
from elicit.instruments.types.document import (
    CODE_RE,
    ID_RE,
    MISSING,
    WHAT,
    ChoiceTuple,
    Document,
    DocumentContext,
    ExpressionField,
    Found,
    Identified,
    ItemDocument,
    OptionalText,
    Outline,
    RequiredText,
    RowDocument,
    UnknownItemDocument,
    check_text,
    context_of,
    fail,
    fail_all,
    line_of,
    parse_choices,
    validate_with,
)

__all__ = [  # the model's names, re-exported: most code imports them from here
    "DEFAULT_TEXT_LENGTH",
    "ITEM_TYPES",
    "Choice",
    "Definition",
    "Hypothesis",
    "InstrumentError",
    "Item",
    "Page",
    "Practice",
    "Privacy",
    "Problem",
    "Scale",
    "Text",
    "build_definition",
    "canonical_dumps",
    "level_name",
    "text_in",
]

INSTRUMENT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
UNKNOWN_TYPE = "<unknown>"


@dataclass(frozen=True)
class Named:
    """An entry of ``choice_sets`` or ``scales`` handed to its validator with its name."""

    name: Any
    value: Any


def _named(message: str) -> Any:
    def check(value: Any) -> dict[Any, Named]:
        value = value or {}
        if not isinstance(value, Mapping):
            raise fail(message)
        return {name: Named(name, entry) for name, entry in value.items()}

    return BeforeValidator(check)


def _choice_set(value: Named, info: ValidationInfo) -> ChoiceTuple:
    if not isinstance(value.name, str) or not ID_RE.match(value.name):
        raise fail(f"choice set name {value.name!r} must be lowercase letters, digits and _")
    context = context_of(info)
    found: list[Found] = []
    parsed = parse_choices(value.value, context, found)
    if parsed is not None:
        context.choice_sets[value.name] = parsed
    if found or parsed is None:
        raise fail_all(found)
    return parsed


def _closest(value: Any, names: Any) -> Any:
    """The name most like ``value`` (ignoring case), to suggest for a misspelling; None when none is close."""
    by_text = {str(name).lower(): name for name in names}
    found = difflib.get_close_matches(str(value).lower(), list(by_text), n=1)
    return by_text[found[0]] if found else None


class UnknownTypeDocument(UnknownItemDocument):
    """An item whose ``type`` is not in the registry: its id counts, its type is reported with the closest type
    name, and nothing else of it is read, so what names it (scales, hypotheses, expressions) is not blamed."""

    @classmethod
    def outline(cls, context: DocumentContext, ident: str, data: Mapping[str, Any]) -> Outline | None:
        item = Outline(ident, UNKNOWN_TYPE)
        if context.pages:
            context.pages[-1].members.append(item)
        if isinstance(context, InstrumentContext):
            rows = data.get("rows")
            named = (
                [row.get("id") for row in rows if isinstance(row, Mapping)] if isinstance(rows, list) else []
            )
            context.unchecked.update(name for name in (ident, *named) if isinstance(name, str) and name)
        return item

    @field_validator("type", mode="plain")
    @classmethod
    def _unknown(cls, value: Any) -> Any:
        expected = ", ".join(ITEM_TYPES)
        guess = _closest(value, ITEM_TYPES) if isinstance(value, str) else None
        if guess is None:
            raise fail(f"{WHAT} has unknown type {value!r} (expected one of: {expected})")
        raise fail(
            f"{WHAT} has unknown type {value!r}; did you mean {guess!r}? (expected one of: {expected})"
        )


def _item_tag(value: Any) -> str | None:
    if isinstance(value, UnknownItemDocument):
        return UNKNOWN_TYPE
    if isinstance(value, ItemDocument):  # serializing a validated item
        return value.type
    if not isinstance(value, Mapping):
        return None
    declared = value.get("type")
    return declared if isinstance(declared, str) and declared in REGISTRY else UNKNOWN_TYPE


if TYPE_CHECKING:
    AnyItem = ItemDocument
else:
    AnyItem = Annotated[
        Union[  # noqa: UP007  # built from the registry at run time
            tuple(Annotated[kind.document, Tag(name)] for name, kind in REGISTRY.items())
            + (Annotated[UnknownTypeDocument, Tag(UNKNOWN_TYPE)],)
        ],
        Discriminator(
            _item_tag,
            custom_error_type="item_not_a_mapping",
            custom_error_message="each item must be a mapping with id and type",
        ),
    ]


def _items(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise fail(f"{WHAT} needs a non-empty list of items")
    return value


class PageDocument(Identified):
    """A page: its items, shown together, and when it is shown at all."""

    label: ClassVar[str] = "page"
    not_a_mapping: ClassVar[str] = "each page must be a mapping with id and items"

    title: OptionalText = None
    intro: OptionalText = None
    relevant: ExpressionField = None
    items: Annotated[list[AnyItem], BeforeValidator(_items)] = Field(None, validate_default=True)

    @classmethod
    def outline(cls, context: DocumentContext, ident: str, data: Mapping[str, Any]) -> Outline | None:
        page = Outline(ident)
        context.pages.append(page)
        return page

    def to_page(self, languages: tuple[str, ...]) -> Page:
        return Page(
            self.id,
            self.title,
            self.intro,
            self.relevant,
            tuple(i.to_item(self.id, languages) for i in self.items),
        )


class ScaleDocument(Document):
    """A scale: at least two likert items, some of them reverse-keyed, and an optional label."""

    items: list[Any] = Field(None, validate_default=True)
    reverse: list[Any] = Field(default_factory=list, validate_default=True)
    label: OptionalText = None

    @model_validator(mode="wrap")
    @classmethod
    def _named(cls, data: Named, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        name, spec = data.name, data.value
        if not isinstance(name, str) or not ID_RE.match(name):
            raise fail(f"scale name {name!r} must be lowercase letters, digits and _")
        if not isinstance(spec, Mapping):
            raise fail(f"scale {name!r} must be a mapping with items (and reverse)")
        context = context_of(info)
        context.scale = (name, None)
        found: list[Found] = []
        members, reverse = spec.get("items"), spec.get("reverse", [])
        if isinstance(members, list) and len(members) >= 2 and not isinstance(reverse, list):
            message = f"'reverse' of scale {name!r} must be a list of item ids"
            found.append((message, ("reverse",), False, "reverse-type"))
        return validate_with(cls, spec, handler, found)

    @field_validator("items", mode="plain")
    @classmethod
    def _members(cls, members: Any, info: ValidationInfo) -> list[Any]:
        context = context_of(info)
        name = context.scale[0]
        if not isinstance(members, list) or len(members) < 2:
            raise fail(f"scale {name!r} needs a list of at least two items")
        context.scale = (name, members)
        items = {item.id: item for page in context.pages for item in _answerable(page)}
        scalable = " or ".join(n for n, k in REGISTRY.items() if k.scalable)
        found: list[Found] = []
        for index, member in enumerate(members):
            item = items.get(member) if isinstance(member, str) else None
            if item is None and isinstance(member, str) and member in _unchecked(context):
                continue  # an item of an unknown type: its type is the problem
            if item is None:
                found.append(
                    (f"scale {name!r} lists {member!r}, which is not an item", (index,), False, "members")
                )
            elif not REGISTRY[item.type].scalable:
                message = (
                    f"scale {name!r} lists {member!r}, a {item.type} item; scale items must be {scalable}"
                )
                found.append((message, (index,), False, "members"))
            elif member in context.in_scales:
                message = f"item {member!r} is in scale {context.in_scales[member]!r} already"
                found.append((message, (index,), False, "members"))
            else:
                context.in_scales[member] = name
        if found:
            raise fail_all(found)
        return members

    @field_validator("reverse", mode="plain")
    @classmethod
    def _reverse(cls, reverse: Any, info: ValidationInfo) -> list[Any]:
        name, members = context_of(info).scale
        if members is None:
            return []
        if not isinstance(reverse, list):
            return []  # reported with the scale, before its items' problems
        found: list[Found] = [
            (f"reverse item {member!r} of scale {name!r} is not in its items", (index,), False)
            for index, member in enumerate(reverse)
            if member not in members
        ]
        if found:
            raise fail_all(found)
        return reverse

    @field_validator("label", mode="plain")
    @classmethod
    def _label(cls, label: Any, info: ValidationInfo) -> Text | None:
        context = context_of(info)
        if context.scale[1] is None:
            return None
        return check_text(label, "label", context.languages)

    def to_scale(self, name: str) -> Scale:
        return Scale(name, self.label, tuple(str(m) for m in self.items), tuple(str(r) for r in self.reverse))


def _answerable(page: Outline) -> list[Outline]:
    """The items of a page that store an answer, matrix rows in place of their matrix (as ``Page`` does)."""
    found: list[Outline] = []
    for item in page.members:
        if item.members:
            found.extend(item.members)
        elif item.type in REGISTRY and REGISTRY[item.type].answerable:
            found.append(item)
    return found


def _unchecked(context: DocumentContext) -> set[str]:
    """The ids of items of an unknown type (and their rows), which nothing else is blamed for naming."""
    return context.unchecked if isinstance(context, InstrumentContext) else set()


# -- the practice page (calibration training) ------------------------------------------------------------------
#: Item types a practice question may have: a judgement whose lowest and highest levels make a range.
PRACTICE_TYPES = ("quantiles",)
#: The page a practice item names as its own (never a questionnaire page: practice is stored apart).
PRACTICE_PAGE = "practice"
#: Keys of the practice item's type that have no meaning on the practice page (always shown, never stored with
#: the answers, never exported).
PRACTICE_FORBIDDEN = (
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "dont_know",
    "confidence",
    "privacy",
    "seed",
)
PRACTICE_KEYS = frozenset({"answer", "source"})


def _practice_answer(value: Any, info: ValidationInfo) -> float:
    if value == MISSING or value is None:
        raise fail(f"{WHAT} needs an 'answer': the known true value", container=True)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"'answer' of {WHAT} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise fail(f"'answer' of {WHAT} must be a finite number, not {value!r}")
    low, high = info.data.get("min"), info.data.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise fail(f"'answer' of {WHAT} must lie between its 'min' and 'max'")
    return value


def _practice_document(base: type[ItemDocument]) -> type[ItemDocument]:
    """A practice item of a type: the type's own keys, less those that have no meaning there, plus the answer."""

    class PracticeItemDocument(base):  # type: ignore[valid-type,misc]  # a subclass of the type's document
        label: ClassVar[str] = "practice item"
        options: ClassVar[frozenset[str]] = base.options | PRACTICE_KEYS

        answer: Annotated[float, PlainValidator(_practice_answer)] = Field(MISSING, validate_default=True)
        source: OptionalText = None

        @classmethod
        def outline(cls, context: DocumentContext, ident: str, data: Mapping[str, Any]) -> Outline | None:
            return Outline(ident, str(data.get("type")))  # not on a page: no expression may name it

        @classmethod
        def presence(cls, data: Mapping[str, Any]) -> list[Found]:
            found = list(super().presence(data))
            found.extend(
                (f"'{key}' has no meaning in {WHAT}", (key,), False)
                for key in PRACTICE_FORBIDDEN
                if key in data and key in cls.model_fields
            )
            return found

        def to_practice(self, languages: tuple[str, ...]) -> tuple[Item, float, Text | None]:
            """The runtime item (without the practice keys), its true value and its source."""
            item = self.to_item(PRACTICE_PAGE, languages)
            extra = {k: v for k, v in item.extra.items() if k not in PRACTICE_KEYS}
            return dataclasses.replace(item, extra=extra), float(self.answer), self.source

    PracticeItemDocument.__name__ = PracticeItemDocument.__qualname__ = f"Practice{base.__name__}"
    return PracticeItemDocument


PRACTICE_DOCUMENTS: dict[str, type[ItemDocument]] = {
    name: _practice_document(REGISTRY[name].document) for name in PRACTICE_TYPES
}


class OtherPracticeDocument(Identified):
    """A practice item of a type practice does not take: its id still counts, nothing else is read."""

    label: ClassVar[str] = "practice item"
    model_config = ConfigDict(extra="allow", frozen=True)
    type: Any = Field(None, validate_default=True)

    @field_validator("type", mode="plain")
    @classmethod
    def _other(cls, value: Any) -> Any:
        kinds = ", ".join(PRACTICE_TYPES)
        if value is None:
            raise fail(f"{WHAT} needs a 'type' (practice questions are: {kinds})", container=True)
        raise fail(f"{WHAT} has type {value!r}; practice questions must be: {kinds}")


def _practice_tag(value: Any) -> str | None:
    if isinstance(value, OtherPracticeDocument):
        return UNKNOWN_TYPE
    if isinstance(value, ItemDocument):  # serializing a validated item
        return value.type
    if not isinstance(value, Mapping):
        return None
    declared = value.get("type")
    return declared if isinstance(declared, str) and declared in PRACTICE_DOCUMENTS else UNKNOWN_TYPE


if TYPE_CHECKING:
    AnyPracticeItem = ItemDocument
else:
    AnyPracticeItem = Annotated[
        Union[  # noqa: UP007  # built from PRACTICE_TYPES at run time
            tuple(Annotated[document, Tag(name)] for name, document in PRACTICE_DOCUMENTS.items())
            + (Annotated[OtherPracticeDocument, Tag(UNKNOWN_TYPE)],)
        ],
        Discriminator(
            _practice_tag,
            custom_error_type="practice_item_not_a_mapping",
            custom_error_message="each practice item must be a mapping with id, type, text and answer",
        ),
    ]


def _practice_items(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise fail(f"{WHAT} needs a non-empty list of items")
    return value


def _range_of(levels: tuple[int, ...]) -> str:
    return f"{levels[0]}-{levels[-1]}"


class PracticeDocument(Document):
    """The practice page: an optional ``intro`` and its items, each with the known true ``answer``."""

    intro: OptionalText = None
    items: Annotated[list[AnyPracticeItem], BeforeValidator(_practice_items)] = Field(
        None, validate_default=True
    )

    @model_validator(mode="wrap")
    @classmethod
    def _block(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            raise fail("'practice' must be a mapping with items (and an intro)")
        context = context_of(info)
        outer = context.owner
        context.owner = None
        try:
            return handler(data)
        finally:
            context.owner = outer

    @model_validator(mode="after")
    def _one_range(self) -> PracticeDocument:
        """Every practice range spans the same levels, so the score says one thing ("your 90 % ranges")."""
        first = self.items[0].levels  # type: ignore[attr-defined]  # a practice type has levels
        found: list[Found] = [
            (
                f"{WHAT} asks for a {_range_of(item.levels)} range; every practice item must span the "  # type: ignore[attr-defined]
                f"same levels as the first ({_range_of(first)})",
                ("items", index, "levels"),
                False,
            )
            for index, item in enumerate(self.items)
            if (item.levels[0], item.levels[-1]) != (first[0], first[-1])  # type: ignore[attr-defined]
        ]
        if found:
            raise fail_all(found)
        return self

    def to_practice(self, languages: tuple[str, ...]) -> Practice:
        items: list[Item] = []
        answers: dict[str, float] = {}
        sources: dict[str, Text] = {}
        for document in self.items:
            item, answer, source = document.to_practice(languages)  # type: ignore[attr-defined]
            items.append(item)
            answers[item.id] = answer
            if source is not None:
                sources[item.id] = source
        return Practice(self.intro, tuple(items), answers, sources)


# -- declared hypotheses (confirmatory tests) ------------------------------------------------------------------
#: What a hypothesis may compare: cohorts only for now (the between-cohort test of the analysis).
HYPOTHESIS_COMPARISONS = ("cohorts",)
#: The analysis kinds an ``item:`` hypothesis may name: a rank test needs ordered values.
HYPOTHESIS_KINDS = ("ordinal", "interval")
DIRECTION_FORMS = "{greater: COHORT, less: COHORT}, {two_sided: true} or {two_sided: [COHORT, COHORT]}"


@dataclass
class InstrumentContext(DocumentContext):
    """The validation context of a whole instrument: also the scale names declared (for the hypotheses) and the
    ids of items whose type is unknown."""

    scale_names: frozenset[str] = frozenset()
    unchecked: set[str] = dataclasses.field(default_factory=set)


@dataclass(frozen=True)
class Direction:
    """A hypothesis's direction: the cohort expected ``greater`` than ``less``, or two-sided (``cohorts`` named
    or, when empty, the study's two)."""

    greater: str | None = None
    less: str | None = None
    cohorts: tuple[str, ...] = ()
    named: bool = False  # two-sided with its cohorts written out

    @property
    def canonical(self) -> dict[str, Any]:
        if self.greater is not None:
            return {"greater": self.greater, "less": self.less}
        return {"two_sided": list(self.cohorts) if self.named else True}


def _cohort_code(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and bool(CODE_RE.match(str(value)))


def _direction(value: Any) -> Direction:
    if value == MISSING or value is None:
        raise fail(f"{WHAT} needs a 'direction': {DIRECTION_FORMS}", container=True)
    wrong = f"'direction' of {WHAT} must be {DIRECTION_FORMS}"
    if not isinstance(value, Mapping):
        raise fail(wrong)
    if set(value) == {"greater", "less"}:
        found: list[Found] = [
            (f"'{key}' of {WHAT} must be a cohort code (A-Z, 0-9, _), not {value[key]!r}", (key,), False)
            for key in ("greater", "less")
            if not _cohort_code(value[key])
        ]
        if found:
            raise fail_all(found)
        if str(value["greater"]) == str(value["less"]):
            raise fail(f"'greater' and 'less' of {WHAT} name the same cohort {value['less']!r}", "less")
        return Direction(
            str(value["greater"]), str(value["less"]), (str(value["greater"]), str(value["less"]))
        )
    if set(value) == {"two_sided"}:
        sided = value["two_sided"]
        if sided is True:
            return Direction()
        if (
            isinstance(sided, list)
            and len(sided) == 2
            and all(_cohort_code(c) for c in sided)
            and str(sided[0]) != str(sided[1])
        ):
            return Direction(cohorts=(str(sided[0]), str(sided[1])), named=True)
        raise fail(f"'two_sided' of {WHAT} must be true or a list of two different cohort codes", "two_sided")
    raise fail(wrong)


def _compare(value: Any) -> str:
    if value not in HYPOTHESIS_COMPARISONS:
        kinds = ", ".join(HYPOTHESIS_COMPARISONS)
        raise fail(f"'compare' of {WHAT} must be one of: {kinds} (the comparisons supported), not {value!r}")
    return str(value)


def _hypothesis_scale(value: Any, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    context = context_of(info)
    names = context.scale_names if isinstance(context, InstrumentContext) else frozenset()
    if not isinstance(value, str) or value not in names:
        declared = ", ".join(sorted(names)) or "none declared"
        raise fail(
            f"{WHAT} names scale {value!r}, which is not a scale of the instrument (scales: {declared})"
        )
    return value


def _hypothesis_item(value: Any, info: ValidationInfo) -> str | None:
    from elicit.instruments.types import REGISTRY

    if value is None:
        return None
    context = context_of(info)
    items = {item.id: item for page in context.pages for item in _answerable(page)}
    item = items.get(value) if isinstance(value, str) else None
    if item is None and isinstance(value, str) and value in _unchecked(context):
        return str(value)  # an item of an unknown type: its type is the problem
    if item is None:
        raise fail(f"{WHAT} names item {value!r}, which is not an item")
    kind = REGISTRY[item.type].analysis if item.type in REGISTRY else ""
    if kind not in HYPOTHESIS_KINDS:
        usable = " or ".join(HYPOTHESIS_KINDS)
        raise fail(
            f"{WHAT} names {value!r}, a {item.type} item; a hypothesis tests an item analysed as {usable}"
        )
    return str(value)


class HypothesisDocument(Identified):
    """A declared primary hypothesis: a scale score (or an item) compared between cohorts, in a direction."""

    label: ClassVar[str] = "hypothesis"
    not_a_mapping: ClassVar[str] = (
        "each hypothesis must be a mapping with id, text, scale (or item) and direction"
    )

    text: RequiredText = None
    scale: Annotated[str | None, PlainValidator(_hypothesis_scale)] = None
    item: Annotated[str | None, PlainValidator(_hypothesis_item)] = None
    compare: Annotated[str, PlainValidator(_compare)] = "cohorts"
    direction: Annotated[Direction, PlainValidator(_direction), PlainSerializer(lambda d: d.canonical)] = (
        Field(MISSING, validate_default=True)
    )

    @classmethod
    def presence(cls, data: Mapping[str, Any]) -> list[Found]:
        if "scale" in data and "item" in data:
            return [(f"{WHAT} names a scale and an item; a hypothesis tests one of them", ("item",), False)]
        if data.get("scale") is None and data.get("item") is None:
            return [(f"{WHAT} needs a 'scale' (or an 'item') to test", ("scale",), True)]
        return []

    def to_hypothesis(self) -> Hypothesis:
        return Hypothesis(
            id=self.id,
            text=self.text or {},
            scale=self.scale,
            item=self.item,
            compare=self.compare,
            greater=self.direction.greater,
            less=self.direction.less,
            cohorts=self.direction.cohorts,
        )


def _hypotheses(value: Any) -> Any:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(
            "'hypotheses' must be a list of hypotheses, each with id, text, scale (or item) and direction"
        )
    return value


def _scales(value: Any, info: ValidationInfo) -> dict[Any, Named]:
    """The scales by name; their names are remembered first, for the hypotheses that name them."""
    value = value or {}
    if not isinstance(value, Mapping):
        raise fail("scales must map a name to {items, reverse}")
    context = context_of(info)
    if isinstance(context, InstrumentContext):
        context.scale_names = frozenset(name for name in value if isinstance(name, str) and ID_RE.match(name))
    return {name: Named(name, entry) for name, entry in value.items()}


def _pages(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise fail("the instrument needs a non-empty list of pages")
    return value


def _instrument_id(value: Any) -> str:
    if not isinstance(value, str) or not INSTRUMENT_ID_RE.match(value):
        raise fail(f"instrument id {value!r} must be lowercase letters, digits and -")
    return value


def _version(value: Any) -> str:
    if not isinstance(value, str) or not VERSION_RE.match(value):
        raise fail(f"version {value!r} must look like 1.0.0 (in quotes if needed)")
    return value


def _languages(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(x, str) and LANG_RE.match(x) for x in value)
        or len(set(value)) != len(value)
    ):
        raise fail("languages must be a list of distinct codes such as [en, ur]")
    context_of(info).languages = tuple(value)
    return tuple(value)


def _anonymity(value: Any) -> str:
    if value not in ("anonymous", "pseudonymous"):
        raise fail("anonymity must be 'anonymous' or 'pseudonymous'")
    return str(value)


def _empty(value: Any) -> bool:
    return not value


class InstrumentDocument(Document):
    """A whole instrument file (or the canonical JSON of a published version)."""

    id: Annotated[str, PlainValidator(_instrument_id)] = Field(None, validate_default=True)
    version: Annotated[str, PlainValidator(_version)] = Field(None, validate_default=True)
    languages: Annotated[tuple[str, ...], PlainValidator(_languages), PlainSerializer(list)] = ("en",)
    title: RequiredText = None
    description: OptionalText = None
    anonymity: Annotated[str, PlainValidator(_anonymity)] = "anonymous"
    choice_sets: Annotated[
        dict[
            str, Annotated[ChoiceTuple, PlainValidator(_choice_set), PlainSerializer(lambda c: c.canonical)]
        ],
        _named("choice_sets must map a name to its choices"),
    ] = Field(default_factory=dict, exclude_if=_empty)
    pages: Annotated[list[PageDocument], BeforeValidator(_pages)] = Field(None, validate_default=True)
    scales: Annotated[dict[str, ScaleDocument], BeforeValidator(_scales)] = Field(
        default_factory=dict, exclude_if=_empty
    )
    # After pages and scales: a practice id that an item has is reported on the practice item.
    practice: PracticeDocument | None = None
    # After pages and scales, which the hypotheses name.
    hypotheses: Annotated[list[HypothesisDocument], BeforeValidator(_hypotheses)] = Field(
        default_factory=list, exclude_if=_empty
    )

    def to_definition(self) -> Definition:
        """The runtime definition, with this document's canonical form."""
        return Definition(
            id=self.id,
            version=self.version,
            languages=self.languages,
            title=self.title or {},
            description=self.description,
            anonymity=self.anonymity,
            scales={name: scale.to_scale(name) for name, scale in self.scales.items()},
            pages=tuple(page.to_page(self.languages) for page in self.pages),
            canonical=self.model_dump(exclude_none=True),
            practice=self.practice.to_practice(self.languages) if self.practice is not None else None,
            hypotheses=tuple(h.to_hypothesis() for h in self.hypotheses),
        )


# -- from pydantic's errors to file:line: message -----------------------------------------------------------
TOP_ORDER = {
    "id": 0,
    "version": 1,
    "languages": 2,
    "title": 3,
    "description": 4,
    "anonymity": 5,
    "choice_sets": 6,
    "pages": 7,
    "scales": 8,
    "practice": 9,
    "hypotheses": 10,
}
PAGE_ORDER = {"id": 0, "title": 1, "intro": 2, "relevant": 3, "items": 4}
#: Problems of an item in the order they were always reported: its id and type, unknown keys, the common keys,
#: then the type's own keys (no two types order the keys they share differently).
ITEM_ORDER = {
    key: rank
    for rank, key in enumerate(
        [
            "id",
            "type",
            "",  # unknown keys
            "text",
            "help",
            "required",
            "relevant",
            "constraint",
            "constraint_message",
            "dont_know",
            "confidence",
            "privacy",
            "choices",
            "min",
            "max",
            "unit",
            "min+max",
            "step",
            "min_label",
            "max_label",
            "total",
            "levels",
            "seed",
            "background",
            "min_selected",
            "max_selected",
            "max_length",
            "multiline",
            "rows",
        ]
    )
}
#: A practice item's problems: an item's, then its true value and where it comes from.
PRACTICE_ITEM_ORDER = {**ITEM_ORDER, "answer": len(ITEM_ORDER), "source": len(ITEM_ORDER) + 1}
#: A scale's problems: its items, whether ``reverse`` is a list, what its items are, its reverse items, its label.
SCALE_ORDER = {"items": 0, "reverse-type": 1, "members": 2, "reverse": 3, "label": 4}
#: A hypothesis's problems: its id, its text, what it tests, how and in which direction.
HYPOTHESIS_ORDER = {"id": 0, "text": 1, "scale": 2, "item": 3, "compare": 4, "direction": 5}
#: After the next step, what a container is: (kind, order of its keys, where unknown keys go).
ORDERS: dict[str, tuple[dict[str, int], float]] = {
    "top": (TOP_ORDER, -1),
    "page": (PAGE_ORDER, -1),
    "item": (ITEM_ORDER, ITEM_ORDER[""]),
    "row": (ITEM_ORDER, ITEM_ORDER[""]),
    "scale": (SCALE_ORDER, -1),
    "practice": ({"intro": 0, "items": 1}, -1),
    "practice_item": (PRACTICE_ITEM_ORDER, ITEM_ORDER[""]),
    "hypothesis": (HYPOTHESIS_ORDER, -1),
}
CHILD = {
    ("top", "pages"): "pages",
    ("top", "choice_sets"): "choice_sets",
    ("top", "scales"): "scales",
    ("page", "items"): "items",
    ("item", "rows"): "rows",
    ("pages", None): "page",
    ("items", None): "item",
    ("rows", None): "row",
    ("scales", None): "scale",
    ("top", "practice"): "practice",
    ("practice", "items"): "practice_items",
    ("practice_items", None): "practice_item",
    ("top", "hypotheses"): "hypotheses",
    ("hypotheses", None): "hypothesis",
}


@dataclass
class _Place:
    """Where an error's location leads in the raw document."""

    parent: Any  # the mapping or list holding the last step
    last: Any
    kind: str  # what the parent is: top, page, item, row, scale or a value
    owner: str  # the owner phrase ("item 'x'")
    owner_kind: str
    owner_node: Any
    order: tuple[Any, ...]
    node: Any  # what the location names (None for a key that is not there)


def _owner(kind: str, node: Any, name: Any, context: DocumentContext) -> str:
    if kind == "page":
        ident = context.idents.get(id(node))
        return f"page {ident!r}" if ident else "a page"
    if kind in ("item", "row"):
        ident = context.idents.get(id(node))
        return f"item {ident!r}" if ident else "an item"
    if kind == "practice_item":
        ident = context.idents.get(id(node))
        return f"practice item {ident!r}" if ident else "a practice item"
    if kind == "practice":
        return "the practice page"
    if kind == "hypothesis":
        ident = context.idents.get(id(node))
        return f"hypothesis {ident!r}" if ident else "a hypothesis"
    if kind == "scale":
        return f"scale {name!r}"
    if kind == "choice_set":
        return f"choice set {name!r}"
    return "the instrument"


def _place(document: Any, loc: tuple[Any, ...], context: DocumentContext) -> _Place:
    node, kind, owner_kind, owner_node = document, "top", "top", document
    owner = "the instrument"
    order: list[Any] = []
    steps = list(loc)
    parent: Any = None
    last: Any = None
    index = 0
    while index < len(steps):
        step = steps[index]
        parent, last = node, step
        if kind in ORDERS:
            ranks, unknown = ORDERS[kind]
            known = isinstance(step, str) and step in ranks
            if known and (
                step in _model_of(kind, node).model_fields or not (isinstance(node, Mapping) and step in node)
            ):
                order.append((ranks[step], 0))
            else:
                keys = list(node) if isinstance(node, Mapping) else []
                order.append((unknown, keys.index(step) if step in keys else 0))
            child = CHILD.get((kind, step), "value")
        elif kind in ("pages", "items", "rows", "practice_items", "hypotheses"):
            order.append((step, 0) if isinstance(step, int) else (0, 0))
            child = CHILD[(kind, None)]
        elif kind in ("choice_sets", "scales"):
            keys = list(node) if isinstance(node, Mapping) else []
            order.append((keys.index(step) if step in keys else 0, 0))
            child = CHILD.get((kind, None), "choice_set")
        else:
            order.append((step, 0) if isinstance(step, int) else (0, 0))
            child = "value"
        if (
            isinstance(node, Mapping)
            and step in node
            or isinstance(node, list)
            and isinstance(step, int)
            and 0 <= step < len(node)
        ):
            node = node[step]
        else:
            node = None
        kind = child
        if kind in ("page", "item", "row", "scale", "choice_set", "practice", "practice_item", "hypothesis"):
            owner_kind, owner_node = kind, node
            owner = _owner(kind, node, step, context)
        if kind == "item" and index + 1 < len(steps) and steps[index + 1] == (_item_tag(node) or object()):
            index += 1  # the discriminator's tag names the union member, not a key
        if (
            kind == "practice_item"
            and index + 1 < len(steps)
            and steps[index + 1] == (_practice_tag(node) or object())
        ):
            index += 1
        if kind == "choice_set":
            kind = "value"
        index += 1
    return _Place(parent, last, kind, owner, owner_kind, owner_node, tuple(order), node)


def _model_of(kind: str, node: Any) -> type[Document]:
    """The model that declares the keys of a container of this kind."""
    if kind == "item":
        declared = node.get("type") if isinstance(node, Mapping) else None
        model: type[Document] = ItemDocument
        if isinstance(declared, str) and declared in REGISTRY:
            model = REGISTRY[declared].document
        return model
    if kind == "practice_item":
        declared = node.get("type") if isinstance(node, Mapping) else None
        if isinstance(declared, str) and declared in PRACTICE_DOCUMENTS:
            return PRACTICE_DOCUMENTS[declared]
        return OtherPracticeDocument
    models: dict[str, type[Document]] = {
        "row": RowDocument,
        "page": PageDocument,
        "scale": ScaleDocument,
        "practice": PracticeDocument,
        "hypothesis": HypothesisDocument,
    }
    return models.get(kind, InstrumentDocument)


def _unknown_key(place: _Place, key: Any, context: DocumentContext) -> str:
    raw = place.parent
    kind = place.owner_kind if place.owner_node is raw else "top"
    model = _model_of(kind, raw)
    if kind in ("item", "practice_item"):
        what = f"{place.owner} ({raw.get('type')})"
    elif kind == "practice":
        what = "the practice page"
    elif kind == "row":
        what = f"row {context.idents.get(id(raw))!r} of a likert matrix"
    elif kind == "page":
        what = "a page"
    elif kind in ("scale", "hypothesis"):
        what = place.owner
    else:
        what = "the instrument"
    keys = set(model.model_fields) - (set(PRACTICE_FORBIDDEN) if kind == "practice_item" else set())
    hint = ", ".join(sorted(keys))
    return f"unknown key {key!r} in {what} (expected one of: {hint})"


def _problems(
    error: Any, document: Any, path: str, context: DocumentContext
) -> list[tuple[tuple[Any, ...], Problem]]:
    """One pydantic error as problems (ours may carry several), each with the order it is reported in."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "invalid_key":  # a key that is not a string: pydantic names it by its repr
        loc = (*loc[:-1], error["input"])
        kind = "extra_forbidden"
        holder = _place(document, loc[:-1], context)
        if holder.kind == "item" and _item_tag(holder.node) == UNKNOWN_TYPE:
            return []  # an item of an unknown type: only its id and type are read
    if kind == "elicit":
        found = []
        field = _place(document, loc, context)
        # A model's own problems (its id, keys given together) take the place of the key they name; a field's
        # several problems keep the order they were found in.
        model_level = field.kind in ORDERS
        for message, at, container, *rank in error["ctx"]["problems"]:
            place = _place(document, (*loc, *at), context)
            if rank:  # reported in the place of another key
                order = _place(document, (*(loc if model_level else loc[:-1]), rank[0]), context).order
            elif model_level and at:
                order = _place(document, (*loc, *at[:1]), context).order
            else:
                order = field.order
            line = line_of(place.parent) if container else line_of(place.parent, place.last)
            found.append((order, Problem(path, line, message.replace(WHAT, place.owner))))
        return found
    place = _place(document, loc, context)
    line = line_of(place.parent, place.last) if loc else line_of(document)
    if kind == "extra_forbidden":
        message = _unknown_key(place, place.last, context)
    elif kind == "bool_type":
        message = f"'{place.last}' of {place.owner} must be true or false"
    elif kind == "item_not_a_mapping":
        message = "each item must be a mapping with id and type"
    elif kind == "practice_item_not_a_mapping":
        message = "each practice item must be a mapping with id, type, text and answer"
    else:
        message = f"{'.'.join(str(step) for step in loc) or 'the instrument'}: {error['msg']}"
    return [(place.order, Problem(path, line, message))]


# -- checks across the document ------------------------------------------------------------------------------
def _expression_lines(document: Any) -> dict[tuple[str, str], int | None]:
    """Lines of every relevant/constraint key, by (owner id, key)."""
    found: dict[tuple[str, str], int | None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            owner = node.get("id")
            if isinstance(owner, str):
                for key in ("relevant", "constraint"):
                    if key in node:
                        found[(owner, key)] = line_of(node, key)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document.get("pages"))
    return found


class _ExpressionLines:
    """The line of an owner's ``relevant``/``constraint`` key, read from the raw document only when a problem
    needs one."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.found: dict[tuple[str, str], int | None] | None = None

    def __call__(self, owner: str, key: str) -> int | None:
        if self.found is None:
            self.found = _expression_lines(self.document)
        return self.found.get((owner, key))


def _check_references(
    pages: list[Outline], line_of_expression: _ExpressionLines, path: str, unchecked: set[str]
) -> list[Problem]:
    """Expressions may name items on earlier pages, or earlier-or-same page for item-level expressions."""
    problems: list[Problem] = []
    position: dict[str, tuple[int, int]] = {}
    order = 0
    for page_index, page in enumerate(pages):
        for item in page.members:
            for member in (item, *item.members):
                position[member.id] = (page_index, order)
                order += 1

    for page_index, page in enumerate(pages):
        relevant = page.expressions.get("relevant")
        if relevant is not None:
            for ref in sorted(relevant.references()):
                where = position.get(ref)
                if where is None and ref in unchecked:
                    continue  # a row of a matrix of unknown type: its type is the problem
                if where is None:
                    problems.append(
                        Problem(
                            path,
                            line_of_expression(page.id, "relevant"),
                            f"'relevant' of page {page.id!r} names unknown item {ref!r}",
                        )
                    )
                elif where[0] >= page_index:
                    message = f"'relevant' of page {page.id!r} names {ref!r}, which is not on an earlier page"
                    problems.append(Problem(path, line_of_expression(page.id, "relevant"), message))
            if relevant.uses_self():
                problems.append(
                    Problem(
                        path,
                        line_of_expression(page.id, "relevant"),
                        f"'.' has no meaning in the 'relevant' of page {page.id!r}",
                    )
                )
        for item in page.members:
            for member in (item, *item.members):
                for key in ("relevant", "constraint"):
                    expression = member.expressions.get(key)
                    if expression is None:
                        continue
                    for ref in sorted(expression.references()):
                        where = position.get(ref)
                        if where is None and ref in unchecked:
                            continue
                        if where is None:
                            message = f"'{key}' of item {member.id!r} names unknown item {ref!r}"
                        elif where[0] > page_index:
                            message = f"'{key}' of item {member.id!r} names {ref!r}, which is on a later page"
                        elif key == "relevant" and where[1] >= position[member.id][1]:
                            message = f"'relevant' of item {member.id!r} names {ref!r}, which comes after it"
                        else:
                            continue
                        problems.append(Problem(path, line_of_expression(member.id, key), message))
                    if key == "relevant" and expression.uses_self():
                        message = f"'.' has no meaning in the 'relevant' of item {member.id!r}"
                        problems.append(Problem(path, line_of_expression(member.id, key), message))
    return problems


#: How many codes a message lists before it says how many there are.
SHOWN_CODES = 12


def _code_problem(comparison: CodeComparison, where: str, item: Outline) -> str | None:
    """What is wrong with holding ``item``'s answer against a literal, if anything (``where``: "'relevant' of
    item 'x'")."""
    kind = REGISTRY.get(item.type)
    if kind is None or item.codes is None:
        return None  # not a choice item, or its choices have problems of their own
    name, shown = item.id, comparison.written
    if kind.part_per_choice and comparison.whole_answer:
        return (
            f"{where} compares {name!r} with {shown}, but {name!r} is a {item.type} item, whose answer holds "
            f"several codes: write selected({name}, {shown}) to ask whether one of them was chosen"
        )
    if not kind.part_per_choice and not comparison.whole_answer and comparison.operator != "selected":
        return (
            f"{where} looks for {shown} in {name!r}, but {name!r} is a {item.type} item, whose answer is one "
            f"code: write {name} == {shown}"
        )
    if any(comparison.holds_for(code) for code in item.codes):
        return None
    codes = ", ".join(str(code) for code in item.codes[:SHOWN_CODES])
    if len(item.codes) > SHOWN_CODES:
        codes += f", … ({len(item.codes)} codes)"
    if comparison.ordering:
        return (
            f"{where} compares {name!r} {comparison.operator} {shown}, which no code of {name!r} satisfies "
            f"(its codes: {codes}), so it is never true"
        )
    message = f"{where} compares {name!r} with {shown}, which is not a code of {name!r} (its codes: {codes})"
    guess = _closest(comparison.value, item.codes)
    return f"{message}; did you mean {guess!r}?" if guess is not None else message


def _check_codes(pages: list[Outline], line_of_expression: _ExpressionLines, path: str) -> list[Problem]:
    """Every literal an expression holds against a choice item's answer is one of its codes, and an ordering is
    true for some code: a misspelt code (``role == 'othr'``) would hide its follow-up question for everyone."""
    outlines = {
        member.id: member for page in pages for item in page.members for member in (item, *item.members)
    }
    problems: list[Problem] = []

    def check(expression: Expression, key: str, owner: str, owner_id: str, current: str | None) -> None:
        for comparison in expression.code_comparisons():
            target = current if comparison.item == "." else comparison.item
            item = outlines.get(target) if target is not None else None
            message = _code_problem(comparison, f"'{key}' of {owner}", item) if item is not None else None
            if message is not None:
                problems.append(Problem(path, line_of_expression(owner_id, key), message))

    for page in pages:
        relevant = page.expressions.get("relevant")
        if relevant is not None:
            check(relevant, "relevant", f"page {page.id!r}", page.id, None)
        for item in page.members:
            for member in (item, *item.members):
                for key in ("relevant", "constraint"):
                    expression = member.expressions.get(key)
                    if expression is not None:
                        current = member.id if key == "constraint" else None  # '.' in 'relevant' is reported
                        check(expression, key, f"item {member.id!r}", member.id, current)
    return problems


def build_definition(document: Any, path: str = "<instrument>") -> Definition:
    """Check a parsed document; return its Definition or raise InstrumentError listing every problem."""
    if not isinstance(document, Mapping):
        message = "an instrument is a mapping with id, version, languages, title and pages"
        raise InstrumentError([Problem(path, line_of(document), message)])
    context = InstrumentContext()
    model: InstrumentDocument | None = None
    ordered: list[tuple[tuple[Any, ...], Problem]] = []
    try:
        model = InstrumentDocument.model_validate(document, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            ordered.extend(_problems(error, document, path, context))
    problems = [problem for _order, problem in sorted(ordered, key=lambda pair: pair[0])]
    lines = _ExpressionLines(document)
    problems.extend(_check_references(context.pages, lines, path, context.unchecked))
    problems.extend(_check_codes(context.pages, lines, path))
    if problems or model is None:
        raise InstrumentError(problems or [Problem(path, None, "not a valid instrument")])
    return model.to_definition()
