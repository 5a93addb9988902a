"""The typed model of a valid instrument: pages, items, choices, scales and the definition that holds them.

``elicit.instruments.schema`` builds these from a document; what each item *type* means (its parts, values,
rendering, export and analysis) lives in ``elicit.instruments.types``, which ``Item.kind`` looks up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from elicit.errors import ElicitError
from elicit.instruments.expressions import Expression

if TYPE_CHECKING:
    from elicit.instruments.types import ItemType

DEFAULT_TEXT_LENGTH = 2000
__all__ = [
    "DEFAULT_TEXT_LENGTH",
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
    "canonical_dumps",
    "text_in",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an instrument file, printed as ``file:line: message``."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line or 1}: {self.message}"


class InstrumentError(ElicitError):
    """An instrument has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


Text = Mapping[str, str]


def text_in(value: Text | None, language: str) -> str:
    """The text in ``language`` (every declared language is present once an instrument is valid)."""
    if value is None:
        return ""
    return value.get(language) or next(iter(value.values()), "")


@dataclass(frozen=True)
class Choice:
    code: int | str
    label: Text

    @property
    def key(self) -> str:
        """The code as it appears in form fields and column names."""
        return str(self.code)


@dataclass(frozen=True)
class Privacy:
    kind: str = "none"
    bins: tuple[float, ...] | None = None
    top_code: float | None = None
    merge: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Item:
    """An answerable item (or a note). A likert matrix is a display group whose ``rows`` are likert items."""

    id: str
    type: str
    page: str
    text: Text | None = None
    help: Text | None = None
    required: bool = False
    relevant: Expression | None = None
    constraint: Expression | None = None
    constraint_message: Text | None = None
    choices: tuple[Choice, ...] = ()
    min: float | None = None
    max: float | None = None
    unit: Text | None = None
    max_length: int = DEFAULT_TEXT_LENGTH
    multiline: bool = False
    total: float | None = None
    levels: tuple[int, ...] = ()
    min_selected: int | None = None
    max_selected: int | None = None
    privacy: Privacy = field(default_factory=Privacy)
    dont_know: bool = False
    confidence: bool = False
    seed: bool = False
    background: str = "uniform"
    rows: tuple[Item, ...] = ()
    matrix: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> ItemType:
        """What this item's type means: its parts, values, form, export and analysis (the registry's entry)."""
        from elicit.instruments.types import REGISTRY

        return REGISTRY[self.type]

    @property
    def parts(self) -> tuple[str, ...]:
        """Names of the stored parts: choice codes or quantile levels for composite items, else ('',)."""
        cached: tuple[str, ...] | None = self.__dict__.get("_parts")
        if cached is None:
            cached = self.kind.parts(self)
            object.__setattr__(self, "_parts", cached)
        return cached

    @property
    def variables(self) -> tuple[str, ...]:
        """Column names in the export (and field names in forms)."""
        return tuple(self.id if part == "" else f"{self.id}.{part}" for part in self.parts)

    @property
    def answerable(self) -> bool:
        return self.kind.answerable

    def option(self, name: str, default: Any = None) -> Any:
        """A setting only this item's type declares (a slider's ``step``, a date's bounds), or ``default``."""
        return self.extra.get(name, default)

    def choice(self, key: str) -> Choice | None:
        for choice in self.choices:
            if choice.key == key:
                return choice
        return None


@dataclass(frozen=True)
class Page:
    id: str
    title: Text | None
    intro: Text | None
    relevant: Expression | None
    items: tuple[Item, ...]

    def answerable_items(self) -> Iterator[Item]:
        """Every item that stores an answer, with matrix rows in place of their matrix."""
        for item in self.items:
            if item.rows:
                yield from item.rows
            elif item.answerable:
                yield item


@dataclass(frozen=True)
class Scale:
    name: str
    label: Text | None
    items: tuple[str, ...]
    reverse: tuple[str, ...]


@dataclass(frozen=True)
class Hypothesis:
    """A declared primary hypothesis, tested as confirmatory with the study-wide correction (docs/instruments.md).

    It compares one ``scale`` score or one ``item`` between cohorts (``compare``: only ``cohorts`` for now). One-sided
    when ``greater`` and ``less`` name the cohorts expected higher and lower; two-sided otherwise, between the two
    cohorts of ``cohorts`` or, when that is empty, the study's two cohorts. Cohorts are the study's, so their codes
    are checked when the analysis runs.
    """

    id: str
    text: Text
    scale: str | None = None
    item: str | None = None
    compare: str = "cohorts"
    greater: str | None = None
    less: str | None = None
    cohorts: tuple[str, ...] = ()

    @property
    def two_sided(self) -> bool:
        return self.greater is None


@dataclass(frozen=True)
class Practice:
    """Calibration training shown before the questions: seed-like items whose true values are known.

    ``answers`` holds each item's true value and ``sources`` where it comes from (by item id). Practice items
    are not in ``Definition.items()``: they are stored apart and never exported or analysed.
    """

    intro: Text | None
    items: tuple[Item, ...]
    answers: Mapping[str, float]
    sources: Mapping[str, Text] = field(default_factory=dict)

    def item(self, item_id: str) -> Item:
        """The practice item with this id (KeyError when there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


@dataclass(frozen=True)
class Definition:
    """A valid instrument: pages, items, scales and its canonical JSON form."""

    id: str
    version: str
    languages: tuple[str, ...]
    title: Text
    description: Text | None
    anonymity: str
    scales: Mapping[str, Scale]
    pages: tuple[Page, ...]
    canonical: Mapping[str, Any] = field(repr=False, compare=False)
    #: The optional practice page (calibration training); None when the instrument has none.
    practice: Practice | None = None
    #: The declared primary hypotheses (confirmatory), in the order declared.
    hypotheses: tuple[Hypothesis, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def canonical_json(self) -> str:
        """Deterministic JSON: sorted keys, no insignificant white space, UTF-8 text kept as is."""
        return canonical_dumps(self.canonical)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def items(self) -> Iterator[Item]:
        """Every answerable item in questionnaire order (matrix rows expanded)."""
        for page in self.pages:
            yield from page.answerable_items()

    def item(self, item_id: str) -> Item:
        return self._index()[item_id]

    def page_of(self, item_id: str) -> Page:
        return self._page_index()[item_id]

    def _index(self) -> dict[str, Item]:
        cached: dict[str, Item] | None = self.__dict__.get("_item_index")
        if cached is None:
            cached = {item.id: item for item in self.items()}
            object.__setattr__(self, "_item_index", cached)
        return cached

    def _page_index(self) -> dict[str, Page]:
        cached: dict[str, Page] | None = self.__dict__.get("_page_index_cache")
        if cached is None:
            cached = {item.id: page for page in self.pages for item in page.answerable_items()}
            object.__setattr__(self, "_page_index_cache", cached)
        return cached

    def scale_of(self, item_id: str) -> Scale | None:
        for scale in self.scales.values():
            if item_id in scale.items:
                return scale
        return None


def canonical_dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
