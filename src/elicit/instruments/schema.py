"""The instrument language: a validated, typed model of a questionnaire (see docs/instruments.md).

``build_definition(document, path)`` checks a parsed document and reports *every* problem at once, each with the
line it stands on, then returns an immutable ``Definition``. The definition also keeps its canonical form (a
normalized JSON document that is itself a valid instrument), from which the published sha256 is computed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from elicit.errors import ElicitError
from elicit.instruments.expressions import Expression, ExpressionError, parse

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
INSTRUMENT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
CODE_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")

ITEM_TYPES = (
    "likert",
    "likert_matrix",
    "single_choice",
    "multiple_choice",
    "integer",
    "decimal",
    "text",
    "ranking",
    "constant_sum",
    "quantiles",
    "consent",
    "note",
)
CHOICE_TYPES = {"likert", "likert_matrix", "single_choice", "multiple_choice", "ranking", "constant_sum"}
NUMERIC_TYPES = {"integer", "decimal", "quantiles"}
PRIVACY_KINDS = ("none", "direct_identifier", "quasi_identifier", "free_text")
COMMON_ITEM_KEYS = {
    "id",
    "type",
    "text",
    "help",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "privacy",
    "dont_know",
    "confidence",
}
TYPE_KEYS: dict[str, set[str]] = {
    "likert": {"choices"},
    "likert_matrix": {"choices", "rows"},
    "single_choice": {"choices"},
    "multiple_choice": {"choices", "min_selected", "max_selected"},
    "integer": {"min", "max", "unit"},
    "decimal": {"min", "max", "unit"},
    "text": {"max_length", "multiline"},
    "ranking": {"choices"},
    "constant_sum": {"choices", "total"},
    "quantiles": {"levels", "min", "max", "unit", "seed", "background"},
    "consent": set(),
    "note": set(),
}
TOP_KEYS = {
    "id",
    "version",
    "languages",
    "title",
    "description",
    "anonymity",
    "choice_sets",
    "scales",
    "pages",
}
PAGE_KEYS = {"id", "title", "intro", "relevant", "items"}
ROW_KEYS = {"id", "text", "help", "required", "relevant", "privacy"}
DEFAULT_TEXT_LENGTH = 2000
CONSENT_CODES = ("yes", "no")


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

    @property
    def parts(self) -> tuple[str, ...]:
        """Names of the stored parts: choice codes or quantile levels for composite items, else ('',)."""
        if self.type in {"multiple_choice", "ranking", "constant_sum"}:
            return tuple(c.key for c in self.choices)
        if self.type == "quantiles":
            return tuple(level_name(level) for level in self.levels)
        return ("",)

    @property
    def variables(self) -> tuple[str, ...]:
        """Column names in the export (and field names in forms)."""
        return tuple(self.id if part == "" else f"{self.id}.{part}" for part in self.parts)

    @property
    def answerable(self) -> bool:
        return self.type not in {"note", "likert_matrix"}

    def choice(self, key: str) -> Choice | None:
        for choice in self.choices:
            if choice.key == key:
                return choice
        return None


def level_name(level: int) -> str:
    """``5 -> 'q05'``, ``50 -> 'q50'``: the part name of a quantile level."""
    return f"q{level:02d}"


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
            if item.type == "likert_matrix":
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


class _Checker:
    """Walks a parsed document, collecting problems and building the typed model and canonical form."""

    def __init__(self, document: Any, path: str) -> None:
        self.doc = document
        self.path = path
        self.problems: list[Problem] = []
        self.languages: tuple[str, ...] = ("en",)
        self.choice_sets: dict[str, tuple[Choice, ...]] = {}
        self.canonical_choice_sets: dict[str, list[dict[str, Any]]] = {}
        self.seen_ids: dict[str, int | None] = {}

    # -- reporting -------------------------------------------------------------------------------------
    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    @staticmethod
    def line(container: Any, key: Any = None) -> int | None:
        if key is not None and hasattr(container, "line_of"):
            result: int | None = container.line_of(key)
            return result
        return getattr(container, "line", None)

    def unknown_keys(self, mapping: Mapping[str, Any], allowed: set[str], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                self.problem(
                    self.line(mapping, key), f"unknown key {key!r} in {what} (expected one of: {hint})"
                )

    # -- values ----------------------------------------------------------------------------------------
    def text(self, container: Mapping[str, Any], key: str, what: str, required: bool = False) -> Text | None:
        if key not in container or container[key] is None:
            if required:
                self.problem(self.line(container), f"{what} needs '{key}'")
            return None
        value = container[key]
        line = self.line(container, key)
        if isinstance(value, str):
            if not value.strip() and required:
                self.problem(line, f"'{key}' of {what} is empty")
            return dict.fromkeys(self.languages, value)
        if isinstance(value, Mapping):
            result: dict[str, str] = {}
            for lang in self.languages:
                text = value.get(lang)
                if not isinstance(text, str) or not text.strip():
                    self.problem(self.line(value, lang), f"'{key}' of {what} has no {lang!r} translation")
                else:
                    result[lang] = text
            for lang in value:
                if lang not in self.languages:
                    self.problem(
                        self.line(value, lang), f"'{key}' of {what} has text in undeclared language {lang!r}"
                    )
            return result
        self.problem(line, f"'{key}' of {what} must be a text or a {{language: text}} map")
        return None

    @staticmethod
    def canonical_text(text: Text | None) -> Any:
        if text is None:
            return None
        values = set(text.values())
        return next(iter(values)) if len(values) == 1 else dict(sorted(text.items()))

    def number(
        self, container: Mapping[str, Any], key: str, what: str, integer: bool = False
    ) -> float | None:
        if key not in container or container[key] is None:
            return None
        value = container[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
        ):
            kind = "a whole number" if integer else "a number"
            self.problem(self.line(container, key), f"'{key}' of {what} must be {kind}, not {value!r}")
            return None
        return value

    def boolean(self, container: Mapping[str, Any], key: str, what: str) -> bool:
        value = container.get(key, False)
        if not isinstance(value, bool):
            self.problem(self.line(container, key), f"'{key}' of {what} must be true or false")
            return False
        return value

    def identifier(self, container: Mapping[str, Any], what: str) -> str | None:
        value = container.get("id")
        if value is None:
            self.problem(self.line(container), f"{what} has no 'id'")
            return None
        if not isinstance(value, str) or not ID_RE.match(value):
            self.problem(
                self.line(container, "id"),
                f"{what} id {value!r} must start with a lowercase letter and use only a-z, 0-9 and _",
            )
            return None
        line = self.line(container, "id")
        if value in self.seen_ids:
            self.problem(line, f"duplicate id {value!r} (first used at line {self.seen_ids[value] or '?'})")
            return None
        self.seen_ids[value] = line
        return value

    def choices(self, value: Any, line: int | None, what: str) -> tuple[tuple[Choice, ...], Any] | None:
        """Parse inline choices (mapping or list of {code, label}) or a choice-set name."""
        if isinstance(value, str):
            if value not in self.choice_sets:
                self.problem(line, f"{what} uses choice set {value!r}, which is not defined in choice_sets")
                return None
            return self.choice_sets[value], value
        entries: list[tuple[Any, Any, int | None]] = []
        if isinstance(value, Mapping):
            entries = [(code, label, self.line(value, code)) for code, label in value.items()]
        elif isinstance(value, list):
            for index, entry in enumerate(value):
                if not isinstance(entry, Mapping) or "code" not in entry or "label" not in entry:
                    self.problem(self.line(value, index), f"each choice of {what} needs 'code' and 'label'")
                    continue
                entries.append((entry["code"], entry["label"], self.line(entry, "code")))
        else:
            self.problem(line, f"'choices' of {what} must be a choice-set name, a mapping or a list")
            return None
        if not entries:
            self.problem(line, f"{what} has no choices")
            return None
        parsed: list[Choice] = []
        canonical: list[dict[str, Any]] = []
        seen: set[str] = set()
        for code, label, code_line in entries:
            if isinstance(code, bool) or not isinstance(code, int | str) or not CODE_RE.match(str(code)):
                self.problem(
                    code_line, f"choice code {code!r} of {what} must be a number or a word of A-Z, 0-9, _"
                )
                continue
            if str(code) in seen:
                self.problem(code_line, f"duplicate choice code {code!r} in {what}")
                continue
            seen.add(str(code))
            text = self._label(label, code_line, f"choice {code!r} of {what}")
            if text is None:
                continue
            parsed.append(Choice(code, text))
            canonical.append({"code": code, "label": self.canonical_text(text)})
        return tuple(parsed), canonical

    def _label(self, label: Any, line: int | None, what: str) -> Text | None:
        if isinstance(label, str) and label.strip():
            return dict.fromkeys(self.languages, label)
        if isinstance(label, Mapping):
            result: dict[str, str] = {}
            for lang in self.languages:
                text = label.get(lang)
                if not isinstance(text, str) or not text.strip():
                    self.problem(self.line(label, lang) or line, f"{what} has no {lang!r} translation")
                else:
                    result[lang] = text
            return result if len(result) == len(self.languages) else None
        self.problem(line, f"{what} needs a label")
        return None

    def expression(self, container: Mapping[str, Any], key: str, what: str) -> Expression | None:
        if key not in container or container[key] is None:
            return None
        source = container[key]
        line = self.line(container, key)
        if isinstance(source, bool):
            source = "true" if source else "false"
        if not isinstance(source, str):
            self.problem(line, f"'{key}' of {what} must be an expression in quotes")
            return None
        try:
            return parse(source)
        except ExpressionError as exc:
            self.problem(line, f"'{key}' of {what} does not parse: {exc}")
            return None

    # -- the walk --------------------------------------------------------------------------------------
    def run(self) -> tuple[Definition | None, dict[str, Any]]:
        doc = self.doc
        canonical: dict[str, Any] = {}
        if not isinstance(doc, Mapping):
            self.problem(
                self.line(doc), "an instrument is a mapping with id, version, languages, title and pages"
            )
            return None, canonical
        self.unknown_keys(doc, TOP_KEYS, "the instrument")
        inst_id = doc.get("id")
        if not isinstance(inst_id, str) or not INSTRUMENT_ID_RE.match(inst_id):
            self.problem(
                self.line(doc, "id"), f"instrument id {inst_id!r} must be lowercase letters, digits and -"
            )
        version = doc.get("version")
        if not isinstance(version, str) or not VERSION_RE.match(version):
            self.problem(
                self.line(doc, "version"), f"version {version!r} must look like 1.0.0 (in quotes if needed)"
            )
        languages = doc.get("languages", ["en"])
        if (
            not isinstance(languages, list)
            or not languages
            or not all(isinstance(x, str) and LANG_RE.match(x) for x in languages)
            or len(set(languages)) != len(languages)
        ):
            self.problem(
                self.line(doc, "languages"), "languages must be a list of distinct codes such as [en, ur]"
            )
        else:
            self.languages = tuple(languages)
        title = self.text(doc, "title", "the instrument", required=True)
        description = self.text(doc, "description", "the instrument")
        anonymity = doc.get("anonymity", "anonymous")
        if anonymity not in ("anonymous", "pseudonymous"):
            self.problem(self.line(doc, "anonymity"), "anonymity must be 'anonymous' or 'pseudonymous'")
        canonical.update(
            id=inst_id,
            version=version,
            languages=list(self.languages),
            title=self.canonical_text(title),
            anonymity=anonymity,
        )
        if description is not None:
            canonical["description"] = self.canonical_text(description)

        sets = doc.get("choice_sets") or {}
        if not isinstance(sets, Mapping):
            self.problem(self.line(doc, "choice_sets"), "choice_sets must map a name to its choices")
            sets = {}
        for name, value in sets.items():
            line = self.line(sets, name)
            if not isinstance(name, str) or not ID_RE.match(name):
                self.problem(line, f"choice set name {name!r} must be lowercase letters, digits and _")
                continue
            parsed = self.choices(value, line, f"choice set {name!r}")
            if parsed is not None:
                self.choice_sets[name] = parsed[0]
                self.canonical_choice_sets[name] = parsed[1]
        if self.canonical_choice_sets:
            canonical["choice_sets"] = self.canonical_choice_sets

        pages_raw = doc.get("pages")
        pages: list[Page] = []
        canonical_pages: list[dict[str, Any]] = []
        if not isinstance(pages_raw, list) or not pages_raw:
            self.problem(self.line(doc, "pages"), "the instrument needs a non-empty list of pages")
            pages_raw = []
        for index, page_raw in enumerate(pages_raw):
            built = self.page(page_raw, self.line(pages_raw, index))
            if built is not None:
                pages.append(built[0])
                canonical_pages.append(built[1])
        canonical["pages"] = canonical_pages

        scales, canonical_scales = self.scales(doc, pages)
        if canonical_scales:
            canonical["scales"] = canonical_scales
        self.check_references(pages)

        if self.problems:
            return None, canonical
        assert isinstance(inst_id, str) and isinstance(version, str) and title is not None  # nosec B101  # narrows types after validation (problems already returned above); not a security check
        definition = Definition(
            id=inst_id,
            version=version,
            languages=self.languages,
            title=title,
            description=description,
            anonymity=str(anonymity),
            scales=scales,
            pages=tuple(pages),
            canonical=canonical,
        )
        return definition, canonical

    def page(self, raw: Any, line: int | None) -> tuple[Page, dict[str, Any]] | None:
        if not isinstance(raw, Mapping):
            self.problem(line, "each page must be a mapping with id and items")
            return None
        self.unknown_keys(raw, PAGE_KEYS, "a page")
        page_id = self.identifier(raw, "page")
        what = f"page {page_id!r}" if page_id else "a page"
        title = self.text(raw, "title", what)
        intro = self.text(raw, "intro", what)
        relevant = self.expression(raw, "relevant", what)
        items_raw = raw.get("items")
        items: list[Item] = []
        canonical_items: list[dict[str, Any]] = []
        if not isinstance(items_raw, list) or not items_raw:
            self.problem(self.line(raw, "items") or self.line(raw), f"{what} needs a non-empty list of items")
            items_raw = []
        for index, item_raw in enumerate(items_raw):
            built = self.item(item_raw, self.line(items_raw, index), page_id or "")
            if built is not None:
                items.append(built[0])
                canonical_items.append(built[1])
        canonical: dict[str, Any] = {"id": page_id, "items": canonical_items}
        if title is not None:
            canonical["title"] = self.canonical_text(title)
        if intro is not None:
            canonical["intro"] = self.canonical_text(intro)
        if relevant is not None:
            canonical["relevant"] = relevant.source
        return Page(page_id or "", title, intro, relevant, tuple(items)), canonical

    def item(
        self, raw: Any, line: int | None, page_id: str, matrix: Item | None = None, matrix_choices: Any = None
    ) -> tuple[Item, dict[str, Any]] | None:
        if not isinstance(raw, Mapping):
            self.problem(line, "each item must be a mapping with id and type")
            return None
        item_id = self.identifier(raw, "matrix row" if matrix else "item")
        what = f"item {item_id!r}" if item_id else "an item"
        if matrix is not None:
            self.unknown_keys(raw, ROW_KEYS, f"row {item_id!r} of a likert matrix")
            item_type = "likert"
        else:
            declared = raw.get("type")
            if not isinstance(declared, str) or declared not in ITEM_TYPES:
                self.problem(
                    self.line(raw, "type"),
                    f"{what} has unknown type {declared!r} (expected one of: {', '.join(ITEM_TYPES)})",
                )
                return None
            item_type = declared
            self.unknown_keys(raw, COMMON_ITEM_KEYS | TYPE_KEYS[item_type], f"{what} ({item_type})")
        canonical: dict[str, Any] = {"id": item_id}
        if matrix is None:
            canonical["type"] = item_type
        text = self.text(raw, "text", what, required=True)
        if text is not None:
            canonical["text"] = self.canonical_text(text)
        help_text = self.text(raw, "help", what)
        if help_text is not None:
            canonical["help"] = self.canonical_text(help_text)
        required = self.boolean(raw, "required", what)
        if required:
            canonical["required"] = True
        relevant = self.expression(raw, "relevant", what)
        if relevant is not None:
            canonical["relevant"] = relevant.source
        kwargs: dict[str, Any] = {}
        if matrix is None:
            constraint = self.expression(raw, "constraint", what)
            if constraint is not None:
                canonical["constraint"] = constraint.source
                kwargs["constraint"] = constraint
            message = self.text(raw, "constraint_message", what)
            if message is not None:
                canonical["constraint_message"] = self.canonical_text(message)
                kwargs["constraint_message"] = message
            dont_know = self.boolean(raw, "dont_know", what)
            if dont_know:
                canonical["dont_know"] = True
                kwargs["dont_know"] = True
            if self.boolean(raw, "confidence", what):
                canonical["confidence"] = True
                kwargs["confidence"] = True
        privacy = self.privacy(raw, what, item_type)
        if privacy.kind != "none":
            canonical["privacy"] = self.canonical_privacy(privacy)

        if item_type in CHOICE_TYPES:
            if matrix is not None:
                kwargs["choices"] = matrix.choices
            elif "choices" not in raw:
                self.problem(self.line(raw), f"{what} ({item_type}) needs 'choices'")
            else:
                parsed = self.choices(raw["choices"], self.line(raw, "choices"), what)
                if parsed is not None:
                    kwargs["choices"] = parsed[0]
                    canonical["choices"] = parsed[1]
        if (
            item_type == "likert"
            and matrix is None
            and kwargs.get("choices")
            and not all(isinstance(c.code, int) for c in kwargs["choices"])
        ):
            self.problem(
                self.line(raw, "choices") or line, f"{what} is likert, so its choice codes must be numbers"
            )
        if item_type in {"integer", "decimal", "quantiles"}:
            integer = item_type == "integer"
            for key in ("min", "max"):
                value = self.number(raw, key, what, integer=integer)
                if value is not None:
                    kwargs[key] = value
                    canonical[key] = value
            if (
                kwargs.get("min") is not None
                and kwargs.get("max") is not None
                and kwargs["min"] >= kwargs["max"]
            ):
                self.problem(self.line(raw, "max"), f"'max' of {what} must be greater than 'min'")
            unit = self.text(raw, "unit", what)
            if unit is not None:
                kwargs["unit"] = unit
                canonical["unit"] = self.canonical_text(unit)
        if item_type == "text":
            max_length = self.number(raw, "max_length", what, integer=True)
            if max_length is not None:
                if not 1 <= max_length <= 20000:
                    self.problem(self.line(raw, "max_length"), f"'max_length' of {what} must be 1 to 20000")
                kwargs["max_length"] = int(max_length)
                canonical["max_length"] = int(max_length)
            if self.boolean(raw, "multiline", what):
                kwargs["multiline"] = True
                canonical["multiline"] = True
        if item_type == "multiple_choice":
            for key in ("min_selected", "max_selected"):
                value = self.number(raw, key, what, integer=True)
                if value is not None:
                    kwargs[key] = int(value)
                    canonical[key] = int(value)
        if item_type == "constant_sum":
            total = self.number(raw, "total", what)
            if total is None:
                self.problem(
                    self.line(raw), f"{what} is a constant_sum and needs a 'total' (e.g. total: 100)"
                )
            elif total <= 0:
                self.problem(self.line(raw, "total"), f"'total' of {what} must be positive")
            else:
                kwargs["total"] = total
                canonical["total"] = total
        if item_type == "quantiles":
            levels = raw.get("levels", [5, 50, 95])
            level_line = self.line(raw, "levels") or line
            if (
                not isinstance(levels, list)
                or len(levels) < 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x < 100 for x in levels)
            ):
                self.problem(
                    level_line, f"'levels' of {what} must be at least two whole percentages between 0 and 100"
                )
            elif any(b <= a for a, b in zip(levels, levels[1:], strict=False)):
                self.problem(level_line, f"'levels' of {what} must be strictly increasing, e.g. [5, 50, 95]")
            else:
                kwargs["levels"] = tuple(levels)
                canonical["levels"] = list(levels)
            if self.boolean(raw, "seed", what):
                kwargs["seed"] = canonical["seed"] = True
            background = raw.get("background", "uniform")
            if background not in ("uniform", "loguniform"):
                self.problem(
                    self.line(raw, "background"), f"'background' of {what} must be uniform or loguniform"
                )
            elif background != "uniform":
                kwargs["background"] = canonical["background"] = background
        if item_type == "consent":
            kwargs["choices"] = (Choice("yes", dict.fromkeys(self.languages, "yes")), Choice("no", {}))

        item = Item(
            id=item_id or "",
            type=item_type,
            page=page_id,
            text=text,
            help=help_text,
            required=required,
            relevant=relevant,
            privacy=privacy,
            matrix=matrix.id if matrix else None,
            **kwargs,
        )
        if item_type == "likert_matrix":
            rows_raw = raw.get("rows")
            rows: list[Item] = []
            canonical_rows: list[dict[str, Any]] = []
            if not isinstance(rows_raw, list) or not rows_raw:
                self.problem(
                    self.line(raw, "rows") or line, f"{what} (likert_matrix) needs a non-empty list of rows"
                )
                rows_raw = []
            for index, row_raw in enumerate(rows_raw):
                built = self.item(row_raw, self.line(rows_raw, index), page_id, matrix=item)
                if built is not None:
                    rows.append(built[0])
                    canonical_rows.append(built[1])
            if kwargs.get("choices") and not all(isinstance(c.code, int) for c in kwargs["choices"]):
                self.problem(
                    self.line(raw, "choices") or line,
                    f"{what} is a likert matrix, so its codes must be numbers",
                )
            item = Item(**{**item.__dict__, "rows": tuple(rows)})
            canonical["rows"] = canonical_rows
        return item, canonical

    def privacy(self, raw: Mapping[str, Any], what: str, item_type: str) -> Privacy:
        value = raw.get("privacy")
        line = self.line(raw, "privacy")
        if value is None:
            return Privacy()
        if isinstance(value, str):
            if value not in PRIVACY_KINDS:
                self.problem(line, f"'privacy' of {what} must be one of: {', '.join(PRIVACY_KINDS)}")
                return Privacy()
            return Privacy(value)
        if (
            isinstance(value, Mapping)
            and list(value) == ["quasi_identifier"]
            and isinstance(value["quasi_identifier"], Mapping)
        ):
            rule = value["quasi_identifier"]
            if len(rule) != 1 or next(iter(rule)) not in {"bins", "top_code", "merge"}:
                self.problem(
                    line, f"the quasi_identifier rule of {what} must be one of: bins, top_code, merge"
                )
                return Privacy("quasi_identifier")
            kind, arg = next(iter(rule.items()))
            if kind == "bins":
                if (
                    item_type not in NUMERIC_TYPES
                    or not isinstance(arg, list)
                    or len(arg) < 2
                    or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in arg)
                    or any(b <= a for a, b in zip(arg, arg[1:], strict=False))
                ):
                    self.problem(line, f"'bins' of {what} must be increasing numbers on a numeric item")
                    return Privacy("quasi_identifier")
                return Privacy("quasi_identifier", bins=tuple(arg))
            if kind == "top_code":
                if (
                    item_type not in NUMERIC_TYPES
                    or isinstance(arg, bool)
                    or not isinstance(arg, int | float)
                ):
                    self.problem(line, f"'top_code' of {what} must be a number on a numeric item")
                    return Privacy("quasi_identifier")
                return Privacy("quasi_identifier", top_code=arg)
            if not isinstance(arg, Mapping) or not all(isinstance(v, list) and v for v in arg.values()):
                self.problem(line, f"'merge' of {what} must map a new code to a list of old codes")
                return Privacy("quasi_identifier")
            return Privacy(
                "quasi_identifier", merge={str(k): tuple(str(c) for c in v) for k, v in arg.items()}
            )
        self.problem(line, f"'privacy' of {what} must be a kind or {{quasi_identifier: {{rule}}}}")
        return Privacy()

    @staticmethod
    def canonical_privacy(privacy: Privacy) -> Any:
        if privacy.bins is not None:
            return {"quasi_identifier": {"bins": list(privacy.bins)}}
        if privacy.top_code is not None:
            return {"quasi_identifier": {"top_code": privacy.top_code}}
        if privacy.merge is not None:
            return {"quasi_identifier": {"merge": {k: list(v) for k, v in privacy.merge.items()}}}
        return privacy.kind

    def scales(self, doc: Mapping[str, Any], pages: list[Page]) -> tuple[dict[str, Scale], dict[str, Any]]:
        raw = doc.get("scales") or {}
        result: dict[str, Scale] = {}
        canonical: dict[str, Any] = {}
        if not isinstance(raw, Mapping):
            self.problem(self.line(doc, "scales"), "scales must map a name to {items, reverse}")
            return result, canonical
        items = {item.id: item for page in pages for item in page.answerable_items()}
        used: dict[str, str] = {}
        for name, spec in raw.items():
            line = self.line(raw, name)
            if not isinstance(name, str) or not ID_RE.match(name):
                self.problem(line, f"scale name {name!r} must be lowercase letters, digits and _")
                continue
            if not isinstance(spec, Mapping):
                self.problem(line, f"scale {name!r} must be a mapping with items (and reverse)")
                continue
            self.unknown_keys(spec, {"label", "items", "reverse"}, f"scale {name!r}")
            members = spec.get("items")
            reverse = spec.get("reverse", [])
            if not isinstance(members, list) or len(members) < 2:
                self.problem(
                    self.line(spec, "items") or line, f"scale {name!r} needs a list of at least two items"
                )
                continue
            if not isinstance(reverse, list):
                self.problem(
                    self.line(spec, "reverse"), f"'reverse' of scale {name!r} must be a list of item ids"
                )
                reverse = []
            for index, member in enumerate(members):
                member_line = self.line(members, index)
                item = items.get(member) if isinstance(member, str) else None
                if item is None:
                    self.problem(member_line, f"scale {name!r} lists {member!r}, which is not an item")
                elif item.type != "likert":
                    self.problem(
                        member_line,
                        f"scale {name!r} lists {member!r}, a {item.type} item; scale items must be likert",
                    )
                elif member in used:
                    self.problem(member_line, f"item {member!r} is in scale {used[member]!r} already")
                else:
                    used[member] = name
            for index, member in enumerate(reverse):
                if member not in members:
                    self.problem(
                        self.line(reverse, index),
                        f"reverse item {member!r} of scale {name!r} is not in its items",
                    )
            label = self.text(spec, "label", f"scale {name!r}")
            result[name] = Scale(name, label, tuple(str(m) for m in members), tuple(str(r) for r in reverse))
            canonical[name] = {"items": list(members), "reverse": list(reverse)}
            if label is not None:
                canonical[name]["label"] = self.canonical_text(label)
        return result, canonical

    def check_references(self, pages: list[Page]) -> None:
        """Expressions may name items on earlier pages, or earlier-or-same page for item-level expressions."""
        position: dict[str, tuple[int, int]] = {}
        order = 0
        for page_index, page in enumerate(pages):
            for item in page.items:
                for member in (item, *item.rows):
                    position[member.id] = (page_index, order)
                    order += 1
        lines = self._expression_lines()
        for page_index, page in enumerate(pages):
            if page.relevant is not None:
                for ref in sorted(page.relevant.references()):
                    where = position.get(ref)
                    if where is None:
                        self.problem(
                            lines.get((page.id, "relevant")),
                            f"'relevant' of page {page.id!r} names unknown item {ref!r}",
                        )
                    elif where[0] >= page_index:
                        self.problem(
                            lines.get((page.id, "relevant")),
                            f"'relevant' of page {page.id!r} names {ref!r}, which is not on an earlier page",
                        )
                if page.relevant.uses_self():
                    self.problem(
                        lines.get((page.id, "relevant")),
                        f"'.' has no meaning in the 'relevant' of page {page.id!r}",
                    )
            for item in page.items:
                for member in (item, *item.rows):
                    for key, expr in (("relevant", member.relevant), ("constraint", member.constraint)):
                        if expr is None:
                            continue
                        line = lines.get((member.id, key))
                        for ref in sorted(expr.references()):
                            where = position.get(ref)
                            if where is None:
                                self.problem(
                                    line, f"'{key}' of item {member.id!r} names unknown item {ref!r}"
                                )
                            elif where[0] > page_index:
                                self.problem(
                                    line,
                                    f"'{key}' of item {member.id!r} names {ref!r}, which is on a later page",
                                )
                            elif key == "relevant" and where[1] >= position[member.id][1]:
                                self.problem(
                                    line,
                                    f"'relevant' of item {member.id!r} names {ref!r}, which comes after it",
                                )
                        if key == "relevant" and expr.uses_self():
                            self.problem(line, f"'.' has no meaning in the 'relevant' of item {member.id!r}")

    def _expression_lines(self) -> dict[tuple[str, str], int | None]:
        """Lines of every relevant/constraint key, by (owner id, key)."""
        found: dict[tuple[str, str], int | None] = {}

        def walk(node: Any) -> None:
            if isinstance(node, Mapping):
                owner = node.get("id")
                if isinstance(owner, str):
                    for key in ("relevant", "constraint"):
                        if key in node:
                            found[(owner, key)] = self.line(node, key)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.doc.get("pages") if isinstance(self.doc, Mapping) else None)
        return found


def build_definition(document: Any, path: str = "<instrument>") -> Definition:
    """Check a parsed document; return its Definition or raise InstrumentError listing every problem."""
    checker = _Checker(document, path)
    definition, _canonical = checker.run()
    if checker.problems or definition is None:
        raise InstrumentError(checker.problems or [Problem(path, None, "not a valid instrument")])
    return definition
