"""What every item type provides, and the answer values they share.

An item type is one class in one module of this package. It owns everything that differs between types: the
keys an instrument may give it and their checks, the parts it stores, how a posted page becomes a value and a
value becomes answer rows (and back), the template that shows it, how the export types and labels its columns,
what the codebook tells the analysis (its ``analysis`` kind) and what ``elicit demo`` answers. Nothing outside
this package asks which type an item is; it asks the item's ``kind``.

A value in Python is: a choice code (int or str), a list of codes, ``{part: number}`` for composite items, an
int, a float or a str; ``DONT_KNOW`` for an explicit "don't know"; ``None`` when unanswered.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

from elicit.instruments.types.document import ItemDocument

if TYPE_CHECKING:
    from elicit.instruments.model import Item
    from elicit.stats.judgements import Points


class _DontKnow:
    """The explicit "don't know / prefer not to say" answer: stored as such, never as a value."""

    _instance: _DontKnow | None = None

    def __new__(cls) -> _DontKnow:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DONT_KNOW"

    def __bool__(self) -> bool:
        return True


DONT_KNOW: Final = _DontKnow()
NUMBER_RE = re.compile(r"^[+-]?(\d{1,15}([.,]\d{0,12})?|[.,]\d{1,12})$")
INTEGER_RE = re.compile(r"^[+-]?\d{1,15}$")
MAX_FIELD_CHARS = 20000

Form = Mapping[str, Sequence[str]]
Gettext = Callable[..., str]


@dataclass(frozen=True)
class Message:
    """A message for the expert: an English msgid (translated by the view) with parameters, or an instrument text."""

    msgid: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    text: Mapping[str, str] | None = None

    def english(self) -> str:
        if self.text is not None:
            return self.text.get("en") or next(iter(self.text.values()), "")
        return self.msgid.format(**self.params)


class FieldError(ValueError):
    """A posted value that cannot be accepted; ``field`` is the form field to show it beside."""

    def __init__(self, field: str, msgid: str, **params: Any) -> None:
        self.field = field
        self.message = Message(msgid, params)
        super().__init__(self.message.english())


@dataclass(frozen=True)
class StoredValue:
    """One answers row: ``part`` '' for a simple item, else a choice code or quantile level."""

    part: str
    value_num: float | None
    value_text: str | None
    dont_know: bool = False


def one(form: Form, name: str) -> str:
    """The single value posted for ``name`` ('' when absent); FieldError for two values or a flood."""
    values = list(form.get(name, ()))
    if len(values) > 1:
        raise FieldError(name, "Choose only one answer.")
    value = values[0] if values else ""
    if len(value) > MAX_FIELD_CHARS:
        raise FieldError(name, "This answer is too long.")
    return value


def number(text: str, field: str, integer: bool) -> float | int:
    """A typed number (full-width digits, a comma as decimal mark and the minus sign accepted)."""
    text = unicodedata.normalize("NFKC", text).strip().replace("\u2212", "-")
    pattern = INTEGER_RE if integer else NUMBER_RE
    if not pattern.match(text):
        if integer:
            raise FieldError(field, "Enter a whole number.")
        raise FieldError(field, "Enter a number, e.g. 12 or 12.5.")
    if integer:
        return int(text)
    value = float(text.replace(",", "."))
    if not math.isfinite(value):
        raise FieldError(field, "Enter a number, e.g. 12 or 12.5.")
    return value


def in_range(value: float, item: Item, field: str) -> None:
    """FieldError when ``value`` lies outside the item's ``min``/``max``."""
    if item.min is not None and value < item.min:
        raise FieldError(field, "Enter a value of at least {min}.", min=fmt(item.min))
    if item.max is not None and value > item.max:
        raise FieldError(field, "Enter a value of at most {max}.", max=fmt(item.max))


def fmt(value: float) -> str:
    """A number as people write it: ``5`` not ``5.0``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def unit_suffix(item: Item, language: str) -> str:
    """`` %`` or `` days``: the item's unit after a value, in ``language`` ('' without a unit)."""
    from elicit.instruments.model import text_in

    return f" {text_in(item.unit, language)}" if item.unit else ""


def plain(value: Any) -> str:
    """A stored number as the review page shows it: ``5`` for 5.0, else as Python prints it."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def clean_text(raw: str, field: str) -> str:
    """Posted text with line ends normalized and surrounding space removed; FieldError for control characters."""
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in raw):
        raise FieldError(field, "The text contains characters that cannot be stored.")
    return raw


@dataclass(frozen=True)
class DemoContext:
    """What a demo answer may depend on: the expert's cohort, their latent views and a seeded generator."""

    cohort: str
    latent: Mapping[str, float]
    rng: random.Random
    scale_position: float | None = None  # where the expert stands on the item's scale, if it is in one
    reverse: bool = False  # whether the item is reverse-keyed in that scale


class ItemType:
    """One item type. Subclasses set the class attributes and override what differs from these defaults."""

    #: The name instruments use in ``type:``.
    name: ClassVar[str]
    #: The type's part of the instrument file: a pydantic model of every key its items may have.
    document: ClassVar[type[ItemDocument]] = ItemDocument
    #: Whether ``choices`` is required and parsed.
    has_choices: ClassVar[bool] = False
    #: Whether ``min``/``max`` bins and top-coding apply (the privacy rules for numbers).
    numeric: ClassVar[bool] = False
    #: Whether the item stores an answer (a note or a matrix does not; a matrix's rows do).
    answerable: ClassVar[bool] = True
    #: Whether the item is a display group whose ``rows`` are the answerable items.
    is_group: ClassVar[bool] = False
    #: Whether a "no" ends the response (consent).
    gates_response: ClassVar[bool] = False
    #: Whether the answer is free text (scrubbed in anonymized exports).
    free_text: ClassVar[bool] = False
    #: SPSS/Stata measurement level of the value columns: nominal, ordinal or scale.
    measure: ClassVar[str] = "nominal"
    #: How the analysis treats the item: ordinal, interval, nominal, multi-select, composition, ranking,
    #: distribution, date or text (written into the codebook as ``analysis``).
    analysis: ClassVar[str] = "nominal"
    #: The XLSForm type the item maps to (``select_one {list}`` etc.).
    xlsform: ClassVar[str] = "text"
    #: Delphi feedback shown in later rounds: ``choice`` (counts of coded answers), ``number`` (median and
    #: quartiles), ``quantiles`` (pooled estimates), ``distribution`` (the medians of the experts' ranges and best
    #: estimates, from their cumulative points) or None (no feedback).
    feedback: ClassVar[str | None] = None
    #: Whether each choice is a part of its own (one row and one export column per choice).
    part_per_choice: ClassVar[bool] = False
    #: Whether choice codes must be numbers (likert codes are positions on a scale).
    numeric_codes: ClassVar[bool] = False
    #: Whether the item belongs in a scale (``scales:`` may list it).
    scalable: ClassVar[bool] = False

    @property
    def template(self) -> str:
        """The template whose ``render(view, item)`` macro shows the item (``survey/items/<name>.html``)."""
        return f"survey/items/{self.name}.html"

    # -- the instrument file ---------------------------------------------------------------------------
    @property
    def keys(self) -> frozenset[str]:
        """Keys this type accepts beyond the common ones (``id``, ``text``, ``help``, ``required``, ...)."""
        return frozenset(self.document.model_fields) - frozenset(ItemDocument.model_fields)

    # -- parts and values ------------------------------------------------------------------------------
    def parts(self, item: Item) -> tuple[str, ...]:
        """Names of the stored parts ('' for an item stored in one row; a choice code each with ``part_per_choice``)."""
        return tuple(c.key for c in item.choices) if self.part_per_choice else ("",)

    def form_names(self, item: Item) -> tuple[str, ...]:
        """Every field the item's form may post for its value (the notes' fields are added by the caller)."""
        return tuple(dict.fromkeys((item.id, *item.variables)))

    def sent_fields(self, item: Item, form: Form) -> dict[str, list[str]]:
        """The non-empty value fields a form sent, normalised as ``form_fields`` writes them (stale-page check)."""
        sent: dict[str, list[str]] = {}
        for name in dict.fromkeys((item.id, *item.variables)):
            values = sorted(str(v).strip() for v in form.get(name, ()) if str(v).strip())
            if values:
                sent[name] = values
        return sent

    def parse(self, item: Item, form: Form) -> Any:
        """The value the posted fields carry (None when left empty); FieldError when malformed."""
        return None

    def to_rows(self, item: Item, value: Any) -> list[StoredValue]:
        """The answer rows that store a (non-empty, not don't-know) value."""
        if isinstance(value, dict):
            return [StoredValue(part, float(v), None) for part, v in value.items()]
        if isinstance(value, bool):
            raise TypeError("booleans are not answer values")
        if isinstance(value, int | float):
            return [StoredValue("", float(value), None)]
        return [StoredValue("", None, str(value))]

    def from_rows(self, item: Item, rows: Sequence[StoredValue]) -> Any:
        """The value the rows store (the inverse of ``to_rows``)."""
        return rows[0].value_text

    def form_fields(self, item: Item, value: Any) -> dict[str, list[str]]:
        """The form fields that show a value again (re-rendering and resuming)."""
        if isinstance(value, dict):
            return {
                f"{item.id}.{part}": [fmt(v) if isinstance(v, int | float) else str(v)]
                for part, v in value.items()
            }
        if isinstance(value, float):
            return {item.id: [fmt(value)]}
        return {item.id: [str(value)]}

    def describe(self, item: Item, value: Any, language: str, gettext: Gettext) -> str:
        """An answered value as the expert reads it on the review page."""

        unit = unit_suffix(item, language)
        return f"{plain(value)}{unit}"

    def anchor(self, item: Item) -> str:
        """The id of the input an error summary entry for this item jumps to."""
        return item.id

    # -- export and codebook ---------------------------------------------------------------------------
    def dtype(self, items: Sequence[Item]) -> str:
        """The cell type of the value columns (int, float, string or date), over every version of the item."""
        return "string"

    def part_label(self, item: Item, part: str, language: str) -> str:
        """How a part is named in a column label (after the item's text)."""
        from elicit.instruments.model import text_in

        choice = item.choice(part)
        return text_in(choice.label, language) if choice else part

    def part_value_labels(self, item: Item) -> dict[Any, str] | None:
        """Value labels of a part's column (for composite items), or None."""
        return None

    def codebook(self, items: Sequence[Item], language: str) -> dict[str, Any]:
        """What the codebook says of the item beyond the common fields (bounds, levels, lengths...)."""
        return {}

    # -- judgements of uncertain quantities ------------------------------------------------------------
    def cumulative(self, item: Item, value: Any) -> Points | None:
        """A distribution judgement as cumulative points (``elicit.stats.judgements``), or None for other items."""
        return None

    # -- demo and tests --------------------------------------------------------------------------------
    def demo(self, item: Item, context: DemoContext) -> Any:
        """A plausible answer for ``elicit demo`` and the tests (None: left empty)."""
        return None


def choice_dtype(items: Sequence[Item]) -> str:
    """int when every code of every version is a number, else string."""
    codes = [c.code for item in items for c in item.choices]
    return "int" if codes and all(isinstance(c, int) for c in codes) else "string"


def choice_label(item: Item, code: Any, language: str) -> str:
    """The label of a code in ``language`` (the code itself when the item has no such choice)."""
    from elicit.instruments.model import text_in

    choice = item.choice(str(code))
    return text_in(choice.label, language) if choice else str(code)
