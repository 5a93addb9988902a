"""The instrument file as pydantic models: the fields every item shares and the field types the types use.

Each item type declares its ``document`` model (a subclass of :class:`ItemDocument`) in its own module; the
top level, pages and scales are declared in ``elicit.instruments.schema``. A problem is a pydantic error: built-in ones
(an unknown key, a non-boolean flag) and ours (``fail``), whose message holds ``WHAT`` where the owner ("item
'x'", "page 'p'") goes; ``elicit.instruments.schema`` turns each into ``file:line: message``. The validation
context (:class:`DocumentContext`) carries the declared languages, the choice sets, the ids seen so far and an
outline of pages and items that the checks across the document (duplicate ids, references, scales) read even
when some fields failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from elicit.instruments.expressions import Expression, ExpressionError, parse
from elicit.instruments.model import Choice, Item, Privacy, Text

#: Stands for the owner of a field ("item 'x'", "page 'p'", "the instrument") until the error is placed.
WHAT: Final = "\x00"
#: The default of a field whose absence (not only ``null``) is itself a problem.
MISSING: Final = "\x00missing"

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CODE_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
PRIVACY_KINDS = ("none", "direct_identifier", "quasi_identifier", "free_text")

#: One problem of a field: the message, the path below the field to the key it stands on, whether the line is
#: that of the key (False) or of the mapping holding it (True), and optionally the key whose place it takes
#: in the order problems are reported.
Found = tuple[Any, ...]


def fail(message: str, *at: Any, container: bool = False) -> PydanticCustomError:
    """A problem with ``message`` at the key ``at`` below the failing field (the field itself when empty)."""
    return PydanticCustomError("elicit", "instrument problem", {"problems": ((message, at, container),)})


def fail_all(found: list[Found]) -> PydanticCustomError:
    """Several problems of one field at once (every translation missing, every bad choice)."""
    return PydanticCustomError("elicit", "instrument problems", {"problems": tuple(found)})


def line_of(container: Any, key: Any = None) -> int | None:
    """The line of ``key`` in a LineMap/LineList (the container's own line without a key or when absent)."""
    if key is not None and hasattr(container, "line_of"):
        result: int | None = container.line_of(key)
        return result
    return getattr(container, "line", None)


class ChoiceTuple(tuple[Choice, ...]):
    """Parsed choices that remember their canonical form: a choice-set name, or the list of codes and labels."""

    canonical: Any = None

    @classmethod
    def of(cls, choices: tuple[Choice, ...], canonical: Any) -> ChoiceTuple:
        result = cls(choices)
        result.canonical = canonical
        return result


@dataclass
class Outline:
    """A page, item or matrix row as the checks across the document see it (kept even when its fields fail)."""

    id: str
    type: str = ""
    expressions: dict[str, Expression] = field(default_factory=dict)
    members: list[Outline] = field(default_factory=list)  # a page's items, a matrix's rows
    codes: tuple[Any, ...] | None = None  # its choice codes, once they are known to be valid


@dataclass
class DocumentContext:
    """What validation carries from one part of the document to the next (``model_validate(context=...)``)."""

    languages: tuple[str, ...] = ("en",)
    choice_sets: dict[str, ChoiceTuple] = field(default_factory=dict)
    seen_ids: dict[str, int | None] = field(default_factory=dict)
    idents: dict[int, str | None] = field(default_factory=dict)  # id() of a raw mapping -> its valid id
    pages: list[Outline] = field(default_factory=list)
    owner: Outline | None = None  # the page, item or row being validated
    scale: tuple[str, list[Any] | None] = ("", None)  # the scale being validated and its members
    in_scales: dict[str, str] = field(default_factory=dict)  # item id -> the scale that lists it

    def identify(self, data: Mapping[str, Any], label: str, found: list[Found]) -> str | None:
        """Check ``data``'s id (valid, not used before); remember it for the owner phrase of its problems."""
        value = data.get("id")
        ident: str | None = None
        if value is None:
            found.append((f"{label} has no 'id'", ("id",), True))
        elif not isinstance(value, str) or not ID_RE.match(value):
            found.append(
                (
                    f"{label} id {value!r} must start with a lowercase letter and use only a-z, 0-9 and _",
                    ("id",),
                    False,
                )
            )
        elif value in self.seen_ids:
            first = self.seen_ids[value] or "?"
            found.append((f"duplicate id {value!r} (first used at line {first})", ("id",), False))
        else:
            self.seen_ids[value] = line_of(data, "id")
            ident = value
        self.idents[id(data)] = ident
        return ident


def context_of(info: ValidationInfo) -> DocumentContext:
    context = info.context
    assert isinstance(context, DocumentContext)  # nosec B101  # build_definition always passes one
    return context


def _detail(error: Any) -> InitErrorDetails:
    """A reported error as the details of a new one (to add problems to those pydantic found)."""
    message = str(error["msg"]).replace("{", "(").replace("}", ")")
    return {
        "type": PydanticCustomError(error["type"], message, error.get("ctx")),
        "loc": tuple(error["loc"]),
        "input": error.get("input"),
    }


def validate_with(
    cls: type[BaseModel], data: Any, handler: ValidatorFunctionWrapHandler, found: list[Found]
) -> Any:
    """``handler(data)``, raising its errors together with ``found`` (problems pydantic's fields cannot see)."""
    try:
        result = handler(data)
    except ValidationError as exc:
        if not found:
            raise
        details = [_detail(error) for error in exc.errors(include_url=False)]
        details.insert(0, {"type": fail_all(found), "loc": (), "input": data})
        raise ValidationError.from_exception_data(cls.__name__, details) from None
    if found:
        raise ValidationError.from_exception_data(
            cls.__name__, [{"type": fail_all(found), "loc": (), "input": data}]
        )
    return result


# -- field types ------------------------------------------------------------------------------------------
def canonical_text(text: Text | None) -> Any:
    """A text as the canonical form writes it: the text itself when every language has the same."""
    if text is None:
        return None
    values = set(text.values())
    return next(iter(values)) if len(values) == 1 else dict(sorted(text.items()))


def check_text(value: Any, key: str, languages: tuple[str, ...], required: bool = False) -> Text | None:
    """A text or a ``{language: text}`` map with every declared language (None when absent and optional)."""
    if value is None or value == MISSING:
        if required:
            raise fail(f"{WHAT} needs '{key}'", container=True)
        return None
    if isinstance(value, str):
        if not value.strip() and required:
            raise fail(f"'{key}' of {WHAT} is empty")
        return dict.fromkeys(languages, value)
    if isinstance(value, Mapping):
        found: list[Found] = []
        result: dict[str, str] = {}
        for lang in languages:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                found.append((f"'{key}' of {WHAT} has no {lang!r} translation", (lang,), False))
            else:
                result[lang] = text
        for lang in value:
            if lang not in languages:
                found.append((f"'{key}' of {WHAT} has text in undeclared language {lang!r}", (lang,), False))
        if found:
            raise fail_all(found)
        return result
    raise fail(f"'{key}' of {WHAT} must be a text or a {{language: text}} map")


def _text(value: Any, info: ValidationInfo) -> Text | None:
    return check_text(value, str(info.field_name), context_of(info).languages)


def _required_text(value: Any, info: ValidationInfo) -> Text | None:
    return check_text(value, str(info.field_name), context_of(info).languages, required=True)


def _number(value: Any, info: ValidationInfo, integer: bool = False) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        kind = "a whole number" if integer else "a number"
        raise fail(f"'{info.field_name}' of {WHAT} must be {kind}, not {value!r}")
    return value


def _whole(value: Any, info: ValidationInfo) -> float | None:
    return _number(value, info, integer=True)


def _expression(value: Any, info: ValidationInfo) -> Expression | None:
    if value is None:
        return None
    key = str(info.field_name)
    source = ("true" if value else "false") if isinstance(value, bool) else value
    if not isinstance(source, str):
        raise fail(f"'{key}' of {WHAT} must be an expression in quotes")
    try:
        expression = parse(source)
    except ExpressionError as exc:
        raise fail(f"'{key}' of {WHAT} does not parse: {exc}") from None
    owner = context_of(info).owner
    if owner is not None:
        owner.expressions[key] = expression
    return expression


def _privacy(value: Any, info: ValidationInfo) -> Privacy:
    from elicit.instruments.types import REGISTRY

    if value is None:
        return Privacy()
    if isinstance(value, str):
        if value not in PRIVACY_KINDS:
            raise fail(f"'privacy' of {WHAT} must be one of: {', '.join(PRIVACY_KINDS)}")
        return Privacy(value)
    if not (
        isinstance(value, Mapping)
        and list(value) == ["quasi_identifier"]
        and isinstance(value["quasi_identifier"], Mapping)
    ):
        raise fail(f"'privacy' of {WHAT} must be a kind or {{quasi_identifier: {{rule}}}}")
    owner = context_of(info).owner
    numeric = owner is not None and REGISTRY[owner.type].numeric
    rule = value["quasi_identifier"]
    if len(rule) != 1 or next(iter(rule)) not in {"bins", "top_code", "merge"}:
        raise fail(f"the quasi_identifier rule of {WHAT} must be one of: bins, top_code, merge")
    kind, arg = next(iter(rule.items()))
    if kind == "bins":
        if (
            not numeric
            or not isinstance(arg, list)
            or len(arg) < 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in arg)
            or any(b <= a for a, b in zip(arg, arg[1:], strict=False))
        ):
            raise fail(f"'bins' of {WHAT} must be increasing numbers on a numeric item")
        return Privacy("quasi_identifier", bins=tuple(arg))
    if kind == "top_code":
        if not numeric or isinstance(arg, bool) or not isinstance(arg, int | float):
            raise fail(f"'top_code' of {WHAT} must be a number on a numeric item")
        return Privacy("quasi_identifier", top_code=arg)
    if not isinstance(arg, Mapping) or not all(isinstance(v, list) and v for v in arg.values()):
        raise fail(f"'merge' of {WHAT} must map a new code to a list of old codes")
    return Privacy("quasi_identifier", merge={str(k): tuple(str(c) for c in v) for k, v in arg.items()})


def canonical_privacy(privacy: Privacy) -> Any:
    """A privacy rule as the canonical form writes it: the kind, or ``{quasi_identifier: {rule: ...}}``."""
    if privacy.bins is not None:
        return {"quasi_identifier": {"bins": list(privacy.bins)}}
    if privacy.top_code is not None:
        return {"quasi_identifier": {"top_code": privacy.top_code}}
    if privacy.merge is not None:
        return {"quasi_identifier": {"merge": {k: list(v) for k, v in privacy.merge.items()}}}
    return privacy.kind


def _label(
    label: Any, at: tuple[Any, ...], what: str, languages: tuple[str, ...], found: list[Found]
) -> Text | None:
    if isinstance(label, str) and label.strip():
        return dict.fromkeys(languages, label)
    if isinstance(label, Mapping):
        result: dict[str, str] = {}
        for lang in languages:
            text = label.get(lang)
            if not isinstance(text, str) or not text.strip():
                found.append((f"{what} has no {lang!r} translation", (*at, lang), False))
            else:
                result[lang] = text
        return result if len(result) == len(languages) else None
    found.append((f"{what} needs a label", at, False))
    return None


def parse_choices(value: Any, context: DocumentContext, found: list[Found]) -> ChoiceTuple | None:
    """Inline choices (a mapping or a list of {code, label}) or a choice-set name; problems go to ``found``."""
    if isinstance(value, str):
        if value not in context.choice_sets:
            found.append(
                (f"{WHAT} uses choice set {value!r}, which is not defined in choice_sets", (), False)
            )
            return None
        return ChoiceTuple.of(tuple(context.choice_sets[value]), value)
    entries: list[tuple[Any, Any, tuple[Any, ...], tuple[Any, ...]]] = []
    if isinstance(value, Mapping):
        entries = [(code, label, (code,), (code,)) for code, label in value.items()]
    elif isinstance(value, list):
        for index, entry in enumerate(value):
            if not isinstance(entry, Mapping) or "code" not in entry or "label" not in entry:
                found.append((f"each choice of {WHAT} needs 'code' and 'label'", (index,), False))
                continue
            entries.append((entry["code"], entry["label"], (index, "code"), (index, "label")))
    else:
        found.append((f"'choices' of {WHAT} must be a choice-set name, a mapping or a list", (), False))
        return None
    if not entries:
        found.append((f"{WHAT} has no choices", (), False))
        return None
    parsed: list[Choice] = []
    canonical: list[dict[str, Any]] = []
    seen: set[str] = set()
    for code, label, code_at, label_at in entries:
        if isinstance(code, bool) or not isinstance(code, int | str) or not CODE_RE.match(str(code)):
            found.append(
                (f"choice code {code!r} of {WHAT} must be a number or a word of A-Z, 0-9, _", code_at, False)
            )
            continue
        if str(code) in seen:
            found.append((f"duplicate choice code {code!r} in {WHAT}", code_at, False))
            continue
        seen.add(str(code))
        # A label's problems stand on the code's line, its translations' on their own.
        text = _label(
            label,
            code_at if isinstance(value, Mapping) else label_at,
            f"choice {code!r} of {WHAT}",
            context.languages,
            found,
        )
        if text is None:
            continue
        parsed.append(Choice(code, text))
        canonical.append({"code": code, "label": canonical_text(text)})
    return ChoiceTuple.of(tuple(parsed), canonical)


def _canonical_expression(expression: Expression | None) -> str | None:
    return None if expression is None else expression.source


OptionalText = Annotated[Text | None, PlainValidator(_text), PlainSerializer(canonical_text)]
#: A text that must be given (None only before validation, which then fails).
RequiredText = Annotated[
    Text | None, PlainValidator(_required_text), PlainSerializer(canonical_text), Field(validate_default=True)
]
Number = Annotated[float | None, PlainValidator(_number)]
WholeNumber = Annotated[int | None, PlainValidator(_whole)]
ExpressionField = Annotated[
    Expression | None, PlainValidator(_expression), PlainSerializer(_canonical_expression)
]


def _families(value: Any) -> tuple[str, ...] | None:
    from elicit.stats.judgements import FAMILIES

    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(name, str) and name in FAMILIES for name in names)
        or len(set(names)) != len(names)
    ):
        raise fail(f"'families' of {WHAT} must be one or more of: {', '.join(FAMILIES)}")
    return tuple(names)


def _canonical_families(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


#: The distribution families a judgement may be fitted with (SHELF's names); all of them when not given.
Families = Annotated[tuple[str, ...] | None, PlainValidator(_families), PlainSerializer(_canonical_families)]


def _unset(value: Any) -> bool:
    return not value


#: A flag: true or false, written in the canonical form only when true.
Flag = Annotated[StrictBool, Field(exclude_if=_unset)]


class Document(BaseModel):
    """A part of an instrument file: unknown keys are problems, and validated parts never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Identified(Document):
    """A page, item or matrix row: its ``id`` is checked first, and the owner phrase of its problems named."""

    #: How an id problem names the thing ("item", "matrix row", "page").
    label: ClassVar[str] = "item"
    #: The problem when the thing is not a mapping at all.
    not_a_mapping: ClassVar[str] = "each item must be a mapping with id and type"

    id: str = ""

    @model_validator(mode="wrap")
    @classmethod
    def _identify(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            raise fail(cls.not_a_mapping)
        context = context_of(info)
        found: list[Found] = []
        ident = context.identify(data, cls.label, found)
        outer = context.owner
        context.owner = cls.outline(context, ident or "", data)
        found.extend(cls.presence(data))
        try:
            return validate_with(cls, {**data, "id": ident or ""}, handler, found)
        finally:
            context.owner = outer

    @classmethod
    def outline(cls, context: DocumentContext, ident: str, data: Mapping[str, Any]) -> Outline | None:
        """Record this thing for the checks across the document; the new owner of its expressions."""
        return None

    @classmethod
    def presence(cls, data: Mapping[str, Any]) -> list[Found]:
        """Problems of keys that must be given together (a slider's bounds), read from the raw mapping."""
        return []


class RowDocument(Identified):
    """A row of a likert matrix: a likert item that takes the matrix's choices."""

    label: ClassVar[str] = "matrix row"
    text: RequiredText = None
    help: OptionalText = None
    required: Flag = False
    relevant: ExpressionField = None
    privacy: Annotated[Privacy, PlainValidator(_privacy), PlainSerializer(canonical_privacy)] = Field(
        default_factory=Privacy, exclude_if=lambda p: p.kind == "none"
    )

    @classmethod
    def outline(cls, context: DocumentContext, ident: str, data: Mapping[str, Any]) -> Outline | None:
        from elicit.instruments.types.likert_matrix import ROW_TYPE

        row = Outline(ident, ROW_TYPE)
        if context.owner is not None:
            context.owner.members.append(row)
            row.codes = context.owner.codes  # the matrix's choices are validated before its rows
        return row

    def to_item(self, page: str, matrix: Item) -> Item:
        """The runtime item of this row."""
        from elicit.instruments.types.likert_matrix import ROW_TYPE

        return Item(
            id=self.id,
            type=ROW_TYPE,
            page=page,
            text=self.text,
            help=self.help,
            required=self.required,
            relevant=self.relevant,
            privacy=self.privacy,
            choices=matrix.choices,
            matrix=matrix.id,
        )


class ItemDocument(Identified):
    """The keys every item has; a type's ``document`` adds its own (``choices``, ``min``...)."""

    #: Fields kept in ``Item.extra`` (settings only this type has) rather than as ``Item`` attributes.
    options: ClassVar[frozenset[str]] = frozenset()

    text: RequiredText = None
    help: OptionalText = None
    required: Flag = False
    relevant: ExpressionField = None
    constraint: ExpressionField = None
    constraint_message: OptionalText = None
    dont_know: Flag = False
    confidence: Flag = False
    privacy: Annotated[Privacy, PlainValidator(_privacy), PlainSerializer(canonical_privacy)] = Field(
        default_factory=Privacy, exclude_if=lambda p: p.kind == "none"
    )
    type: str = ""

    @classmethod
    def outline(cls, context: DocumentContext, ident: str, data: Mapping[str, Any]) -> Outline | None:
        item = Outline(ident, str(data.get("type")))
        if context.pages:
            context.pages[-1].members.append(item)
        return item

    def item_fields(self, languages: tuple[str, ...]) -> dict[str, Any]:
        """``Item`` attributes beyond the common ones (consent's fixed choices)."""
        return {}

    def to_item(self, page: str, languages: tuple[str, ...]) -> Item:
        """The runtime item: each validated field becomes an ``Item`` attribute (or an ``extra`` option)."""
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name in ("id", "type", "rows"):
                continue
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, ChoiceTuple):
                value = tuple(value)
            (extra if name in self.options else values)[name] = value
        values.update(self.item_fields(languages))
        return Item(id=self.id, type=self.type, page=page, extra=extra, **values)


class ChoiceDocument(ItemDocument):
    """An item with required ``choices``; ``numbers`` is the problem when a code is not a number."""

    numbers: ClassVar[str | None] = None

    choices: Annotated[ChoiceTuple, PlainSerializer(lambda choices: choices.canonical)] = Field(
        MISSING, validate_default=True
    )

    @field_validator("choices", mode="plain")
    @classmethod
    def _choices(cls, value: Any, info: ValidationInfo) -> ChoiceTuple:
        context = context_of(info)
        if value == MISSING:
            kind = context.owner.type if context.owner else ""
            raise fail(f"{WHAT} ({kind}) needs 'choices'", container=True)
        found: list[Found] = []
        parsed = parse_choices(value, context, found)
        if cls.numbers and parsed and not all(isinstance(c.code, int) for c in parsed):
            found.append((cls.numbers, (), False))
        if found or parsed is None:
            raise fail_all(found)
        if context.owner is not None:
            context.owner.codes = tuple(choice.code for choice in parsed)
        return parsed


class UnknownItemDocument(Identified):
    """An item whose ``type`` is not in the registry: its id still counts, nothing else is read."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: Any = Field(None, validate_default=True)

    @field_validator("type", mode="plain")
    @classmethod
    def _unknown(cls, value: Any) -> Any:
        from elicit.instruments.types import ITEM_TYPES

        raise fail(f"{WHAT} has unknown type {value!r} (expected one of: {', '.join(ITEM_TYPES)})")


def greater_than_min(value: Any, info: ValidationInfo) -> Any:
    """``max`` above a valid ``min`` (shared by the numeric types' documents)."""
    low = info.data.get("min")
    if low is not None and value is not None and low >= value:
        raise fail(f"'max' of {WHAT} must be greater than 'min'")
    return value


__all__ = [
    "MISSING",
    "WHAT",
    "ChoiceDocument",
    "ChoiceTuple",
    "DocumentContext",
    "ExpressionField",
    "Flag",
    "ItemDocument",
    "Number",
    "OptionalText",
    "Outline",
    "RequiredText",
    "RowDocument",
    "UnknownItemDocument",
    "WholeNumber",
    "canonical_text",
    "check_text",
    "fail",
    "fail_all",
    "greater_than_min",
    "line_of",
]
