"""XLSForm (ODK, KoboToolbox, SurveyCTO) in and out: ``read`` converts a form into an instrument document,
``write`` writes an instrument as an XLSForm workbook.

A form is a workbook (``.xlsx``, ``.xls``) or pyxform's CSV layout (a row whose first cell names a sheet, then
that sheet's rows with an empty first cell) with the sheets ``survey``, ``choices`` and ``settings``
(https://xlsform.org/en/). Top-level groups become pages and questions outside any group share an automatic page;
nested groups are flattened into their page (their label becomes a note, their relevance their questions');
a ``table-list`` group of ``select_one`` questions on one numbered list becomes a likert matrix; repeats are
refused. XPath expressions are translated by :mod:`elicit.instruments.formats.xpath`. Every change to what an
expert answers that cannot be carried over is a problem (the import fails with all of them); what changes nothing
they answer (an appearance, a device id, a default) is listed as not carried over.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elicit.instruments.formats.common import (
    RESERVED,
    Identifiers,
    Imported,
    ImportProblem,
    Problems,
    choice_code,
    safe_identifier,
    text_of,
)
from elicit.instruments.formats.xpath import (
    Binary,
    Call,
    Current,
    Negate,
    Node,
    Number,
    Reference,
    String,
    XPathError,
    choice_filter,
    conjuncts,
    parse,
    to_elicit,
    to_xpath,
)
from elicit.instruments.model import Definition, Item, Page, Text
from elicit.instruments.schema import LANG_RE

__all__ = ["LANGUAGE_NAMES", "read", "write", "write_with_warnings"]

MAX_ROWS = 20_000
MAX_COLUMNS = 500

#: Language names XLSForms write without a code, and the code each is.
LANGUAGE_CODES: dict[str, str] = {
    "english": "en",
    "urdu": "ur",
    "french": "fr",
    "français": "fr",
    "francais": "fr",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
    "arabic": "ar",
    "portuguese": "pt",
    "português": "pt",
    "swahili": "sw",
    "kiswahili": "sw",
    "hindi": "hi",
    "bengali": "bn",
    "bangla": "bn",
    "punjabi": "pa",
    "pashto": "ps",
    "sindhi": "sd",
    "persian": "fa",
    "farsi": "fa",
    "dari": "prs",
    "german": "de",
    "italian": "it",
    "dutch": "nl",
    "russian": "ru",
    "ukrainian": "uk",
    "polish": "pl",
    "turkish": "tr",
    "chinese": "zh",
    "japanese": "ja",
    "korean": "ko",
    "indonesian": "id",
    "malay": "ms",
    "vietnamese": "vi",
    "thai": "th",
    "burmese": "my",
    "nepali": "ne",
    "tamil": "ta",
    "amharic": "am",
    "tigrinya": "ti",
    "oromo": "om",
    "somali": "so",
    "hausa": "ha",
    "yoruba": "yo",
    "igbo": "ig",
    "zulu": "zu",
    "kinyarwanda": "rw",
    "luganda": "lg",
    "tagalog": "tl",
}
#: The name the export writes before each language code (``label::Urdu (ur)``); other codes are written as is.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "ur": "Urdu",
    "fr": "French",
    "es": "Spanish",
    "ar": "Arabic",
    "pt": "Portuguese",
    "sw": "Swahili",
    "hi": "Hindi",
    "bn": "Bengali",
    "pa": "Punjabi",
    "ps": "Pashto",
    "sd": "Sindhi",
    "fa": "Persian",
    "prs": "Dari",
    "de": "German",
    "it": "Italian",
    "nl": "Dutch",
    "ru": "Russian",
    "uk": "Ukrainian",
    "pl": "Polish",
    "tr": "Turkish",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "id": "Indonesian",
    "ms": "Malay",
    "vi": "Vietnamese",
    "th": "Thai",
    "my": "Burmese",
    "ne": "Nepali",
    "ta": "Tamil",
    "am": "Amharic",
    "ti": "Tigrinya",
    "om": "Oromo",
    "so": "Somali",
    "ha": "Hausa",
    "yo": "Yoruba",
    "ig": "Igbo",
    "zu": "Zulu",
    "rw": "Kinyarwanda",
    "lg": "Luganda",
    "tl": "Tagalog",
}

_ALIASES = {
    "relevance": "relevant",
    "readonly": "read_only",
    "caption": "label",
    "constraining_message": "constraint_message",
    "requiredmsg": "required_message",
    "jr:constraintmsg": "constraint_message",
    "jr:requiredmsg": "required_message",
    "repeat_count": "repeat_count",
    "jr:count": "repeat_count",
}
_CHOICE_ALIASES = {"value": "name", "caption": "label"}
_TRANSLATABLE = frozenset({"label", "hint", "constraint_message", "required_message", "guidance_hint"})
_MEDIA = frozenset({"media", "image", "big-image", "audio", "video"})
_SURVEY_COLUMNS = frozenset(
    {
        "type",
        "name",
        "label",
        "hint",
        "required",
        "required_message",
        "relevant",
        "constraint",
        "constraint_message",
        "choice_filter",
        "appearance",
        "parameters",
        "default",
        "read_only",
        "calculation",
        "trigger",
        "guidance_hint",
        "repeat_count",
        "note",
        "comment",
        "elicit_note",
        *_MEDIA,
    }
)
_QUIET_COLUMNS = frozenset({"note", "comment", "elicit_note"})  # annotations for people, not the form
_YES = frozenset({"yes", "true", "true()", "1"})
_NO = frozenset({"no", "false", "false()", "0"})

_GROUP = re.compile(r"^(begin|end)[ _](group|repeat|loop|looped group)(\s.*)?$", re.IGNORECASE)
_SELECT = re.compile(
    r"^(?P<command>select_one_from_file|select_multiple_from_file|select one from file|select multiple from file|"
    r"select_one_external|select_one|select one|select1|select_multiple|select all that apply|rank)"
    r"(\s+(?P<list>\S+))?(\s+(?P<other>or_other|or other|or specify other))?$",
    re.IGNORECASE,
)
_PLAIN_TYPES = {
    "integer": "integer",
    "int": "integer",
    "decimal": "decimal",
    "text": "text",
    "string": "text",
    "date": "date",
    "range": "range",
    "note": "note",
    "acknowledge": "acknowledge",
}
#: Metadata types: what the device records about a submission; nothing an expert answers.
_METADATA = {
    "start": "Elicit records when each response was started and submitted",
    "end": "Elicit records when each response was started and submitted",
    "today": "Elicit records when each response was started and submitted",
    "start-geopoint": "Elicit records no location",
    "background-geopoint": "Elicit records no location",
    "background-audio": "Elicit records no audio",
    "audit": "Elicit keeps its own audit log, not ODK's",
    "deviceid": "Elicit records no device",
    "imei": "Elicit records no device",
    "subscriberid": "Elicit records no device",
    "simserial": "Elicit records no device",
    "phonenumber": "Elicit records no device",
    "username": "experts answer through their own invitation link",
    "email": "experts answer through their own invitation link",
}
#: Question types Elicit cannot ask, and what to do instead.
_UNSUPPORTED = {
    "geopoint": "a location",
    "geotrace": "a line on a map",
    "geoshape": "an area on a map",
    "gps": "a location",
    "location": "a location",
    "image": "a photo",
    "photo": "a photo",
    "audio": "an audio recording",
    "video": "a video",
    "file": "a file upload",
    "barcode": "a barcode",
    "time": "a time of day (ask for it as text, or as a date)",
    "datetime": "a date and time (ask for a date)",
    "date time": "a date and time (ask for a date)",
    "trigger": "a trigger",
    "osm": "an OpenStreetMap feature",
    "xml-external": "an external XML instance",
    "csv-external": "an external CSV instance",
}
_METADATA_TEXT = "is ODK metadata"


class _Skip(Exception):
    """A row that was reported as a problem: the conversion goes on without it."""


# -- reading the file into sheets ------------------------------------------------------------------------------
@dataclass
class _Row:
    number: int
    cells: dict[str, str]

    def get(self, key: str) -> str:
        return self.cells.get(key, "")


@dataclass
class _Sheet:
    name: str
    header_row: int
    headers: list[str] = field(default_factory=list)
    rows: list[_Row] = field(default_factory=list)


def _cell_text(value: Any) -> str:
    """A cell as pyxform reads it: numbers without a trailing .0, TRUE/FALSE, dates in ISO form."""
    if value is None:
        return ""
    if value is True or value is False:
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).replace("\xa0", " ").strip()


def _raw_xlsx(name: str, data: bytes, problems: Problems) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except zipfile.BadZipFile:
        problems.add(None, "is not an .xlsx workbook (it is not a zip archive): save it from Excel as .xlsx")
        problems.raise_any()
        raise AssertionError("unreachable") from None
    except Exception as exc:  # an untrusted file: any failure to read it is the file's problem, reported
        problems.add(None, f"cannot be read as an .xlsx workbook: {exc}")
        problems.raise_any()
        raise AssertionError("unreachable") from None
    sheets: list[tuple[str, list[tuple[int, list[str]]]]] = []
    try:
        for worksheet in workbook.worksheets:
            rows: list[tuple[int, list[str]]] = []
            for number, values in enumerate(worksheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), 1):
                if number > MAX_ROWS:
                    problems.add(number, f"sheet '{worksheet.title}' has more than {MAX_ROWS} rows")
                    break
                rows.append((number, [_cell_text(value) for value in values]))
            sheets.append((worksheet.title, rows))
    except Exception as exc:  # a damaged sheet inside a readable archive
        problems.add(None, f"cannot be read as an .xlsx workbook: {exc}")
    finally:
        workbook.close()
    problems.raise_any()
    return sheets


def _raw_xls(name: str, data: bytes, problems: Problems) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data)
    except Exception as exc:  # an untrusted file: any failure to read it is reported
        problems.add(None, f"cannot be read as an .xls workbook: {exc}")
        problems.raise_any()
        raise AssertionError("unreachable") from None
    sheets: list[tuple[str, list[tuple[int, list[str]]]]] = []
    try:
        for sheet in book.sheets():
            rows: list[tuple[int, list[str]]] = []
            for index in range(min(sheet.nrows, MAX_ROWS)):
                cells: list[str] = []
                for cell in sheet.row(index)[:MAX_COLUMNS]:
                    value: Any = cell.value
                    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
                        value = bool(value)
                    elif cell.ctype == xlrd.XL_CELL_DATE:
                        value = xlrd.xldate.xldate_as_datetime(value, book.datemode)
                    cells.append(_cell_text(value))
                rows.append((index + 1, cells))
            if sheet.nrows > MAX_ROWS:
                problems.add(MAX_ROWS, f"sheet '{sheet.name}' has more than {MAX_ROWS} rows")
            sheets.append((sheet.name, rows))
    except Exception as exc:  # a damaged sheet
        problems.add(None, f"cannot be read as an .xls workbook: {exc}")
    finally:
        book.release_resources()
    problems.raise_any()
    return sheets


def _raw_csv(name: str, data: bytes, problems: Problems) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    """pyxform's CSV layout: a row whose first cell is a sheet name starts that sheet (its other cells, or the
    next row's, are the headers); the sheet's rows follow with an empty first cell."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.add(line, "the file is not UTF-8 (save it as CSV UTF-8)")
        problems.raise_any()
        raise AssertionError("unreachable") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    sheets: dict[str, list[tuple[int, list[str]]]] = {}
    current: str | None = None
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(line, f"is not a readable CSV file: {exc}")
            break
        if line > MAX_ROWS:
            problems.add(line, f"has more than {MAX_ROWS} lines")
            break
        if not row:
            continue
        first, rest = row[0].strip(), [cell.replace("\xa0", " ").strip() for cell in row[1:MAX_COLUMNS]]
        if first:
            current = first
            sheets.setdefault(current, [])
            if current in sheets and sheets[current]:
                sheets[current].append((line, []))  # a sheet named again: its next row is a header again
        if not any(rest):
            continue
        if current is None:
            problems.add(
                line,
                "an XLSForm CSV starts with a row whose first cell is the sheet name 'survey' "
                "(the sheet's rows follow with an empty first cell)",
            )
            break
        sheets[current].append((line, rest))
    problems.raise_any()
    return list(sheets.items())


def _header(raw: str, double_colon: bool, aliases: dict[str, str]) -> str:
    """A column header as pyxform reads it: ``Constraint Message`` is ``constraint_message``, and
    ``label::English (en)`` keeps its language after ``::`` (a single ``:`` in forms that use no ``::``)."""
    text = " ".join(raw.split())
    if double_colon or "::" in text:
        tokens = [token.strip() for token in text.split("::")]
    else:
        tokens = [token.strip() for token in text.split(":")]
        if tokens[0].lower() == "jr" and len(tokens) > 1:
            tokens = [f"jr:{tokens[1]}", *tokens[2:]]
    base = "_".join(tokens[0].split()).lower()
    base = aliases.get(base, base)
    rest = "::".join(tokens[1:])
    return f"{base}::{rest}" if rest else base


def _sheets(name: str, data: bytes, problems: Problems) -> tuple[dict[str, _Sheet], list[str]]:
    """The workbook's XLSForm sheets by lower-case name, and notes on how they were found."""
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        raw = _raw_xlsx(name, data, problems)
    elif suffix == ".xls":
        raw = _raw_xls(name, data, problems)
    else:
        raw = _raw_csv(name, data, problems)
    notes: list[str] = []
    known = {"survey", "choices", "settings"}
    if len(raw) == 1 and raw[0][0].lower() not in known:
        notes.append(f"the only sheet, '{raw[0][0]}', read as the survey sheet (as pyxform does)")
        raw = [("survey", raw[0][1])]
    sheets: dict[str, _Sheet] = {}
    for sheet_name, rows in raw:
        key = sheet_name.strip().lower()
        if key not in known:
            continue
        if key in sheets:
            problems.add(None, f"there are two '{key}' sheets")
            continue
        sheets[key] = _read_sheet(key, rows, problems)
    return sheets, notes


def _read_sheet(key: str, rows: list[tuple[int, list[str]]], problems: Problems) -> _Sheet:
    aliases = {**_ALIASES, **_CHOICE_ALIASES} if key == "choices" else _ALIASES
    sheet: _Sheet | None = None
    headers: list[str] | None = None
    for number, cells in rows:
        if headers is None:
            while cells and not cells[-1]:
                cells = cells[:-1]
            if not cells:
                continue
            double = any("::" in cell for cell in cells)
            headers = [_header(cell, double, aliases) if cell else "" for cell in cells]
            if sheet is None:
                sheet = _Sheet(key, number)
            seen: set[str] = set()
            for header in headers:
                if header and header in seen:
                    problems.add(number, f"{key}: the column '{header}' appears twice")
                seen.add(header)
                if header and header not in sheet.headers:
                    sheet.headers.append(header)
            continue
        if not cells:  # a sheet named again in a CSV: the next row is its header
            headers = None
            continue
        values = {
            header: value for header, value in zip(headers, cells, strict=False) if header and value.strip()
        }
        if values and sheet is not None:
            sheet.rows.append(_Row(number, values))
    return sheet or _Sheet(key, 1)


# -- languages and texts ---------------------------------------------------------------------------------------
_LANGUAGE_WITH_CODE = re.compile(r"^(?P<name>.*?)\s*\(\s*(?P<code>[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\s*\)$")


def language_code(label: str) -> str | None:
    """The code of an XLSForm language: ``English (en)`` is ``en``, ``Urdu`` is ``ur``, ``fr`` is ``fr``."""
    text = label.strip()
    match = _LANGUAGE_WITH_CODE.match(text)
    if match:
        primary, _, region = match.group("code").partition("-")
        code = primary.lower() + (f"-{region}" if region else "")
        return code if LANG_RE.match(code) else None
    if text.lower() in LANGUAGE_CODES:
        return LANGUAGE_CODES[text.lower()]
    if LANG_RE.match(text):
        return text
    return None


_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_OUTPUT = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}")


@dataclass
class _Lost:
    """What was not carried over, one message for many rows."""

    rows: dict[str, list[int]] = field(default_factory=dict)

    def add(self, row: int | None, message: str) -> None:
        rows = self.rows.setdefault(message, [])
        if row is not None and row not in rows:
            rows.append(row)

    def problems(self, path: str) -> list[ImportProblem]:
        found: list[ImportProblem] = []
        for message, rows in self.rows.items():
            if len(rows) > 1:
                shown = ", ".join(str(row) for row in rows[:12]) + (", ..." if len(rows) > 12 else "")
                message = f"{message} (rows {shown})"
            found.append(ImportProblem(path, rows[0] if rows else None, message))
        return found


# -- the survey ------------------------------------------------------------------------------------------------
@dataclass
class _Name:
    """What a survey name is: its row, what kind of row, and its Elicit id."""

    row: int
    kind: str  # question, note, group, in repeat, metadata, calculate, unsupported
    type: str
    ident: str = ""
    list_name: str | None = None  # the list of a select question
    or_other: bool = False


@dataclass
class _Choice:
    row: int
    code: int | str
    label: str | dict[str, str]
    cells: dict[str, str]


@dataclass
class _PageBuild:
    id: str
    row: int
    title: Any = None
    intro: Any = None
    relevant: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    automatic: bool = False


@dataclass
class _Frame:
    """An open group: a page, a flattened group, a likert matrix or a refused repeat."""

    kind: str  # page, flat, matrix, skip
    name: str
    row: int
    conditions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    matrix: dict[str, Any] | None = None


@dataclass
class _Use:
    """An expression's references, checked once every item's place is known."""

    row: int
    what: str
    names: list[str]
    owner: str  # the XLSForm name whose place the references are checked against
    page_level: bool = False
    constraint: bool = False


def _parameters(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in re.split(r"[\s,;]+", text.strip()):
        key, sep, value = part.partition("=")
        if sep:
            found[key.strip().lower()] = value.strip()
    return found


def _number(text: str) -> int | float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if value.is_integer() else value


def _all_of(conditions: Iterable[str]) -> str | None:
    parts = [c for c in conditions if c]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({part})" if " or " in part else part for part in parts)


def _compared_codes(tree: Node) -> list[tuple[str, str]]:
    """(question, value) for every ``${x} = 'value'``, ``${x} != value`` and ``selected(${x}, 'value')``."""
    found: list[tuple[str, str]] = []

    def literal(node: Node) -> str | None:
        if isinstance(node, String):
            return node.value
        return node.text if isinstance(node, Number) else None

    def walk(node: Node) -> None:
        if isinstance(node, Binary):
            if node.operator in ("=", "!="):
                for side, other in ((node.left, node.right), (node.right, node.left)):
                    value = literal(other)
                    if isinstance(side, Reference) and value:
                        found.append((side.name, value))
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Negate):
            walk(node.operand)
        elif isinstance(node, Call):
            arguments = node.arguments
            if node.function == "selected" and len(arguments) == 2 and isinstance(arguments[0], Reference):
                value = literal(arguments[1])
                if value:
                    found.append((arguments[0].name, value))
            for argument in arguments:
                walk(argument)

    walk(tree)
    return found


def _fresh(value: Any) -> Any:
    """A copy sharing no mapping or list, so the YAML written has no anchors or aliases (which are refused)."""
    if isinstance(value, dict):
        return {key: _fresh(entry) for key, entry in value.items()}
    if isinstance(value, list):
        return [_fresh(entry) for entry in value]
    return value


def _and(nodes: list[Node]) -> Node:
    tree = nodes[0]
    for node in nodes[1:]:
        tree = Binary("and", tree, node)
    return tree


class _Reader:
    """One form's conversion; ``problems`` collects every reason it fails, ``lost`` what it leaves out."""

    def __init__(self, name: str, sheets: dict[str, _Sheet], instrument_id: str, version: str) -> None:
        self.path = name
        self.sheets = sheets
        self.instrument_id = instrument_id
        self.version = version
        self.problems = Problems(name)
        self.lost = _Lost()
        self.mapped: list[str] = []
        self.ids = Identifiers()
        self.list_ids = Identifiers()
        self.names: dict[str, _Name] = {}
        self.languages: list[str] = []
        self.codes: dict[str, str] = {}  # a column's language suffix -> code
        self.default: str | None = None
        self.choices: dict[str, list[_Choice]] = {}
        self.choice_sets: dict[str, dict[Any, Any]] = {}
        self.used_lists: dict[str, str] = {}  # list name -> its choice set's name
        self.referenced: set[str] = set()  # the lists questions use (some inline, filtered or with "other")
        self.consent: set[str] = set()
        self.pages: list[_PageBuild] = []
        self.stack: list[_Frame] = []
        self.page: _PageBuild | None = None
        self.place: dict[str, tuple[int, int]] = {}  # XLSForm name -> (page index, order)
        self.order = 0
        self.uses: list[_Use] = []
        self.counts: dict[str, int] = {}
        self.settings: dict[str, str] = {}
        self.filter_columns: list[tuple[int, str]] = []  # extra columns of the choices sheet
        self.filtered = False  # whether any question has a choice_filter (which reads those columns)

    # -- helpers -------------------------------------------------------------------------------------------
    def problem(self, row: int | None, message: str) -> None:
        self.problems.add(row, message)

    def convert(self) -> Imported:
        survey = self.sheets.get("survey")
        if survey is None or not survey.rows:
            found = ", ".join(sorted(self.sheets)) or "none"
            self.problem(
                None, f"there is no 'survey' sheet with rows (sheets found: {found}); see xlsform.org"
            )
            self.problems.raise_any()
        assert survey is not None  # nosec B101  # narrows the type: the value was checked just before
        if "type" not in survey.headers:
            self.problem(survey.header_row, "survey: the sheet has no 'type' column")
        if "name" not in survey.headers:
            self.problem(survey.header_row, "survey: the sheet has no 'name' column")
        self.problems.raise_any()
        self.read_settings()
        self.read_languages()
        self.register(survey)
        self.read_choices()
        self.walk(survey)
        self.check_references()
        document = self.document()
        self.problems.items.sort(key=lambda problem: problem.row or 0)  # in the order of the file
        self.problems.raise_any()
        return Imported(
            document=document, source=self.path, mapped=self.mapped, lost=self.lost.problems(self.path)
        )

    # -- settings and languages ----------------------------------------------------------------------------
    def read_settings(self) -> None:
        sheet = self.sheets.get("settings")
        if sheet is None or not sheet.rows:
            return
        row = sheet.rows[0]
        self.settings = {key: value for key, value in row.cells.items()}
        known = {"form_title", "form_id", "version", "default_language"}
        aliases = {"set_form_title": "form_title", "set_form_id": "form_id"}
        for key, value in list(self.settings.items()):
            if key in aliases:
                self.settings[aliases[key]] = value
            elif key not in known:
                self.lost.add(
                    row.number, f"settings: '{key}' ({value}) is an ODK setting Elicit does not use"
                )
        for extra in sheet.rows[1:]:
            self.lost.add(
                extra.number, "settings: only the first row of the settings sheet is read (as pyxform)"
            )
        if "form_id" in self.settings:
            self.mapped.append(
                f"form_id '{self.settings['form_id']}' -> the instrument id '{self.instrument_id}' (from --out)"
            )
        if "version" in self.settings:
            self.mapped.append(f"version '{self.settings['version']}' -> version {self.version} (from --out)")

    def read_languages(self) -> None:
        found: list[str] = []
        plain = False
        columns: list[tuple[int, str]] = []
        for key in ("survey", "choices"):
            sheet = self.sheets.get(key)
            if sheet is not None:
                columns.extend((sheet.header_row, header) for header in sheet.headers)
        for row, header in columns:
            base, _, suffix = header.partition("::")
            if base not in _TRANSLATABLE and base not in _MEDIA:
                continue
            if base in _MEDIA:
                continue
            if not suffix:
                plain = plain or base in ("label", "hint")
                continue
            if suffix in self.codes:
                continue
            code = language_code(suffix)
            if code is None:
                self.problem(
                    row,
                    f"the language '{suffix}' of column '{header}' has no code: write it as "
                    f"{base}::{suffix} (code), e.g. label::English (en) or label::Urdu (ur)",
                )
                continue
            self.codes[suffix] = code
            if code not in found:
                found.append(code)
        default_setting = self.settings.get("default_language", "")
        if default_setting:
            code = language_code(default_setting)
            if code is None:
                self.problem(
                    self.sheets["settings"].rows[0].number,
                    f"settings: default_language '{default_setting}' has no code: write it as Name (code), "
                    "e.g. English (en)",
                )
            else:
                self.default = code
                if code in found:
                    found.remove(code)
                found.insert(0, code)
                self.mapped.append(f"default_language '{default_setting}' -> first language {code}")
        if plain and self.default is None:
            if found:
                survey = self.sheets["survey"]
                self.problem(
                    survey.header_row,
                    "survey: the 'label' column without a language sits beside translated columns "
                    f"({', '.join(found)}): name its language (label::English (en)) or set default_language "
                    "in the settings sheet",
                )
            else:
                self.default = "en"
                found = ["en"]
                self.mapped.append(
                    "the form names no language: its labels are read as English (en); if they are in another "
                    "language, change 'languages' in the instrument file"
                )
        self.languages = found or ["en"]
        if not plain and self.default is None:
            self.default = self.languages[0]
        if len(self.languages) > 1:
            self.mapped.append(f"languages: {', '.join(self.languages)}")

    def clean(self, text: str, row: int, owner: str) -> str:
        value = text
        if _TAG.search(value):
            value = html.unescape(_TAG.sub("", _BREAK.sub("\n", value)))
            self.lost.add(row, f"markup (HTML) removed from the texts of '{owner}': Elicit shows plain text")
        if _OUTPUT.search(value):
            names = ", ".join(dict.fromkeys(f"${{{m}}}" for m in _OUTPUT.findall(value)))
            value = _OUTPUT.sub("…", value)
            self.lost.add(
                row, f"the text of '{owner}' shows the answer {names}; Elicit's texts do not, so it reads '…'"
            )
        return value.strip()

    def texts(self, row: _Row, base: str, owner: str, sheet: str = "survey") -> Any:
        """The row's text in every language (None when it has none); a missing translation is listed."""
        plain: dict[str, str] = {}
        values: dict[str, str] = {}
        for header, value in row.cells.items():
            column, _, suffix = header.partition("::")
            if column != base:
                continue
            if not suffix:
                if self.default is not None:
                    plain[self.default] = self.clean(value, row.number, owner)
                continue
            code = self.codes.get(suffix)
            if code is not None and code not in values:
                values[code] = self.clean(value, row.number, owner)
        for code, value in plain.items():
            if not values.get(code):
                values[code] = value
        present = [lang for lang in self.languages if values.get(lang, "").strip()]
        if not present:
            return None
        for lang in self.languages:
            if lang not in present:
                self.lost.add(
                    row.number,
                    f"{sheet}: no {lang} {base}; the {present[0]} text is shown to experts answering in {lang}",
                )
        return text_of(values, self.languages)

    # -- the first pass: every name and what it is ---------------------------------------------------------
    def kind_of(self, type_text: str) -> tuple[str, str]:
        """(kind, normalized type) of a survey type."""
        text = " ".join(type_text.split())
        lower = text.lower()
        group = _GROUP.match(text)
        if group:
            what = group.group(2).lower()
            begin = group.group(1).lower() == "begin"
            if what == "group":
                return ("group" if begin else "end group"), lower
            return ("repeat" if begin else "end repeat"), lower
        if _SELECT.match(text):
            return "question", lower
        if lower in _PLAIN_TYPES:
            return ("note" if lower == "note" else "question"), _PLAIN_TYPES[lower]
        if lower in _METADATA or lower.startswith("uri:"):
            return "metadata", lower
        if lower in ("calculate", "hidden"):
            return "calculate", lower
        if lower in _UNSUPPORTED:
            return "unsupported", lower
        return "unknown", text

    def register(self, survey: _Sheet) -> None:
        first_question = True
        repeats = 0  # how deep in refused repeats the row is
        for row in survey.rows:
            type_text = row.get("type")
            name = row.get("name")
            if not type_text:
                if name or row.get("label"):
                    self.problem(row.number, f"survey: the row of '{name or row.get('label')}' has no type")
                continue
            kind, normalized = self.kind_of(type_text)
            if kind == "end repeat":
                repeats = max(0, repeats - 1)
            if kind in ("end group", "end repeat", "unknown"):
                continue
            if kind == "repeat":
                repeats += 1
            if repeats:
                if name and name not in self.names:
                    self.names[name] = _Name(row.number, "in repeat", normalized)
                continue
            if not name:
                if kind in ("question", "note", "group", "calculate"):
                    self.problem(row.number, f"survey: the {type_text} row has no name")
                continue
            if name in self.names:
                self.problem(
                    row.number, f"survey: the name '{name}' is used already on row {self.names[name].row}"
                )
                continue
            entry = _Name(row.number, kind, normalized)
            if kind in ("question", "note", "group"):
                if safe_identifier(name) in RESERVED:  # a word of the expression language
                    entry.ident = self.ids(f"{name}_item")
                    self.mapped.append(
                        f"renamed '{name}' -> '{entry.ident}' (a word of Elicit's expressions)"
                    )
                else:
                    entry.ident = self.ids(name)
            select = _SELECT.match(" ".join(type_text.split()))
            if select and kind == "question":
                entry.list_name, entry.or_other = select.group("list"), bool(select.group("other"))
            self.names[name] = entry
            if kind == "question" and first_question:
                first_question = False
                if normalized == "acknowledge":
                    self.consent.add(name)
        for original, ident in self.ids.renamed:
            self.mapped.append(f"renamed '{original}' -> '{ident}'")

    def synthetic(self, wanted: str) -> str:
        """An id for something the form does not name (an automatic page, a follow-up question)."""
        ident = self.ids(f"\x00{wanted}")
        return ident

    # -- choices -------------------------------------------------------------------------------------------
    def read_choices(self) -> None:
        sheet = self.sheets.get("choices")
        if sheet is None:
            return
        for column in sheet.headers:
            base = column.partition("::")[0]
            if base not in ("list_name", "name", "label", *_MEDIA) and column not in _QUIET_COLUMNS:
                self.filter_columns.append((sheet.header_row, column))
        allow_duplicates = self.settings.get("allow_choice_duplicates", "").lower() in _YES
        for row in sheet.rows:
            list_name, name = row.get("list_name"), row.get("name")
            if not list_name and not name:
                continue
            if not list_name or not name:
                self.problem(row.number, "choices: a choice needs both a list_name and a name")
                continue
            code: int | str | None = choice_code(name)
            if isinstance(code, int) and str(code) != name.strip():
                code = name.strip()  # "01" stays "01": relevance compares it as written
            if code is None:
                self.problem(
                    row.number,
                    f"choices: the name '{name}' of list '{list_name}' cannot be a choice code "
                    "(letters, digits and _ only)",
                )
                continue
            label = self.texts(row, "label", f"{list_name}/{name}", "choices")
            if label is None:
                self.problem(row.number, f"choices: choice '{name}' of list '{list_name}' has no label")
                continue
            entries = self.choices.setdefault(list_name, [])
            if any(str(c.code) == str(code) for c in entries):
                message = f"choices: list '{list_name}' has the choice '{name}' twice"
                if allow_duplicates:
                    message += " (allow_choice_duplicates: Elicit's choice codes must differ)"
                self.problem(row.number, message)
                continue
            for key in row.cells:
                if key.partition("::")[0] in _MEDIA:
                    self.lost.add(
                        row.number, "choices: media (images, audio) of choices are not carried over"
                    )
            entries.append(_Choice(row.number, code, label, row.cells))

    def choice_set(self, list_name: str, row: _Row, name: str) -> str | None:
        if list_name not in self.choices:
            self.problem(
                row.number, f"'{name}' uses the list '{list_name}', which is not on the choices sheet"
            )
            return None
        self.referenced.add(list_name)
        if list_name not in self.used_lists:
            ident = self.list_ids(list_name, "list")
            self.used_lists[list_name] = ident
            self.choice_sets[ident] = {c.code: c.label for c in self.choices[list_name]}
        return self.used_lists[list_name]

    # -- the walk ------------------------------------------------------------------------------------------
    def walk(self, survey: _Sheet) -> None:
        rows = survey.rows
        for index, row in enumerate(rows):
            type_text = row.get("type")
            if not type_text:
                continue
            kind, normalized = self.kind_of(type_text)
            if self.stack and self.stack[-1].kind == "skip":
                if kind in ("group", "repeat"):
                    self.stack.append(_Frame("skip", row.get("name"), row.number))
                elif kind in ("end group", "end repeat"):
                    self.stack.pop()
                continue
            try:
                if kind == "group":
                    self.begin_group(row, rows[index + 1 :])
                elif kind == "end group":
                    self.end_group(row)
                elif kind == "repeat":
                    self.problem(
                        row.number,
                        f"repeat '{row.get('name')}' asks its questions any number of times; Elicit's "
                        "questionnaires ask each question once (write the repeated questions out, e.g. for the "
                        "first three cases)",
                    )
                    self.stack.append(_Frame("skip", row.get("name"), row.number))
                elif kind == "end repeat":
                    self.problem(row.number, "'end repeat' without a 'begin repeat'")
                elif kind == "metadata":
                    self.lost.add(
                        row.number,
                        f"{normalized} {_METADATA_TEXT}: {_METADATA.get(normalized, 'Elicit does not record it')}",
                    )
                elif kind == "calculate":
                    formula = row.get("calculation") or "no calculation"
                    self.problem(
                        row.number,
                        f"{normalized} '{row.get('name')}' computes a value ({formula}); Elicit has no "
                        "calculated fields: compute it in the analysis, or remove the row",
                    )
                elif kind == "unsupported":
                    self.problem(
                        row.number,
                        f"'{row.get('name')}' asks for {_UNSUPPORTED[normalized]}, which Elicit cannot ask "
                        f"(type {type_text})",
                    )
                elif kind == "unknown":
                    self.problem(row.number, f"unknown type '{type_text}' (see xlsform.org for the types)")
                elif row.get("name") in self.names:
                    self.question(row, normalized)
            except _Skip:
                continue
        for frame in reversed(self.stack):
            if frame.kind != "skip":
                self.problem(frame.row, f"group '{frame.name}' has no 'end group'")
            else:
                self.problem(frame.row, f"'{frame.name}' has no 'end repeat'")
        self.close_page()

    def new_page(self, ident: str, row: int, automatic: bool = False) -> _PageBuild:
        self.close_page()
        self.page = _PageBuild(ident, row, automatic=automatic)
        return self.page

    def close_page(self) -> None:
        page = self.page
        self.page = None
        if page is None:
            return
        if not page.items:
            what = "questions outside any group" if page.automatic else f"group '{page.id}'"
            self.lost.add(page.row, f"{what}: no question Elicit imports; no page is made")
            return
        self.pages.append(page)

    def current_page(self, row: int) -> _PageBuild:
        if self.page is None:
            page = self.new_page(self.synthetic(f"page_{len(self.pages) + 1}"), row, automatic=True)
            self.mapped.append(f"questions outside any group (from row {row}) -> page '{page.id}'")
        assert self.page is not None  # nosec B101  # narrows the type: the value was checked just before
        return self.page

    def translate(self, source: str, row: int, what: str, owner: str, **kind: bool) -> str | None:
        """An XPath expression in Elicit's language, its references recorded; a problem (None) otherwise."""
        try:
            tree = parse(source)
        except XPathError as exc:
            self.problem(row, f"{what}: cannot read {source!r}: {exc}")
            return None
        return self.translate_tree(tree, source, row, what, owner, **kind)

    def translate_tree(
        self, tree: Node, source: str, row: int, what: str, owner: str, **kind: bool
    ) -> str | None:
        names: list[str] = []

        def resolve(name: str) -> str:
            names.append(name)
            return self.resolve(name)

        try:
            text = to_elicit(tree, resolve, consent=self.consent)
        except XPathError as exc:
            self.problem(row, f"{what}: {source!r} cannot be translated: {exc}")
            return None
        for name, value in _compared_codes(tree):
            entry = self.names.get(name)
            if entry is None or entry.list_name is None or entry.list_name not in self.choices:
                continue
            codes = [str(choice.code) for choice in self.choices[entry.list_name]]
            codes += ["other"] if entry.or_other else []
            if value not in codes:
                self.problem(
                    row,
                    f"{what}: {source!r} compares ${{{name}}} with '{value}', which is not a choice of list "
                    f"'{entry.list_name}' (its choices: {', '.join(codes)})",
                )
                return None
        self.uses.append(_Use(row, what, names, owner, **kind))
        if text.replace(" ", "") != source.replace(" ", ""):
            self.mapped.append(f"{what} translated to: {text}")
        return text

    def resolve(self, name: str) -> str:
        entry = self.names.get(name)
        if entry is None:
            raise XPathError(f"${{{name}}} names no question of the form")
        if entry.kind == "question":
            return entry.ident
        what = {
            "note": f"${{{name}}} is a note, which holds no answer",
            "group": f"${{{name}}} is a group, not a question",
            "in repeat": f"${{{name}}} is inside a repeat, which is not imported",
            "metadata": f"${{{name}}} is ODK metadata ({entry.type}), which Elicit does not record",
            "calculate": f"${{{name}}} is a {entry.type}, which Elicit cannot import",
            "unsupported": f"${{{name}}} is a {entry.type} question, which Elicit cannot ask",
        }
        raise XPathError(what.get(entry.kind, f"${{{name}}} is not imported"))

    def conditions(self) -> tuple[list[str], list[str]]:
        """The relevance of the flattened groups around the current row, and the names they read."""
        found: list[str] = []
        names: list[str] = []
        for frame in self.stack:
            if frame.kind in ("flat", "matrix"):
                found.extend(frame.conditions)
                names.extend(frame.references)
        return found, names

    def begin_group(self, row: _Row, following: list[_Row]) -> None:
        name = row.get("name")
        entry = self.names.get(name)
        if entry is None or entry.kind != "group":
            self.stack.append(_Frame("skip", name, row.number))
            return
        members = self.members(following)
        label = self.texts(row, "label", name)
        appearance = row.get("appearance").split()
        self.lose_columns(row, {"type", "name", "label", "hint", "relevant", "appearance"})
        matrix_list = self.matrix_list(members) if "table-list" in appearance else None
        top = not any(frame.kind in ("page", "flat", "matrix") for frame in self.stack)
        if top:
            page = self.new_page(entry.ident, row.number)
            page.title = label
            page.intro = self.texts(row, "hint", name)
            if row.get("relevant"):
                page.relevant = self.translate(
                    row.get("relevant"), row.number, f"relevant of group '{name}'", name, page_level=True
                )
            self.place[name] = (len(self.pages), self.order)
            frame = _Frame("page", name, row.number)
            self.stack.append(frame)
            for word in appearance:
                if word not in ("field-list", "table-list"):
                    self.lost.add(row.number, f"appearance '{word}' of group '{name}' is not carried over")
            if matrix_list is not None:
                frame.kind = "matrix"
                frame.matrix = self.start_matrix(
                    row, entry, label, matrix_list, self.synthetic(f"{name}_matrix")
                )
                page.items.append(frame.matrix)
            elif "table-list" in appearance:
                self.lost.add(
                    row.number,
                    f"group '{name}' (table-list) is shown as separate questions: a likert matrix needs "
                    "select_one questions on one list of numbered choices",
                )
            return
        frame = _Frame("flat", name, row.number)
        conditions, names = self.conditions()
        if row.get("relevant"):
            text = self.translate(row.get("relevant"), row.number, f"relevant of group '{name}'", name)
            if text is not None:
                frame.conditions.append(text)
                frame.references.extend(self.uses[-1].names)
        if matrix_list is not None:
            frame.kind = "matrix"
            frame.matrix = self.start_matrix(row, entry, label, matrix_list, entry.ident)
            relevant = _all_of([*conditions, *frame.conditions])
            if relevant:
                frame.matrix["relevant"] = relevant
            self.add_item(frame.matrix, name, row.number)
            frame.conditions, frame.references = [], []  # on the matrix, not again on its rows
            self.stack.append(frame)
            return
        self.stack.append(frame)
        page = self.current_page(row.number)
        self.mapped.append(f"nested group '{name}' flattened into page '{page.id}'")
        if "table-list" in appearance:
            self.lost.add(
                row.number,
                f"group '{name}' (table-list) is shown as separate questions: a likert matrix needs "
                "select_one questions on one list of numbered choices",
            )
        for word in appearance:
            if word not in ("field-list", "table-list"):
                self.lost.add(row.number, f"appearance '{word}' of group '{name}' is not carried over")
        if label is not None:
            note: dict[str, Any] = {"id": entry.ident, "type": "note", "text": label}
            hint = self.texts(row, "hint", name)
            if hint is not None:
                note["help"] = hint
            relevant = _all_of([*conditions, *frame.conditions])
            if relevant:
                note["relevant"] = relevant
                self.uses.append(
                    _Use(row.number, f"relevant of group '{name}'", [*names, *frame.references], name)
                )
            self.add_item(note, name, row.number)
            self.mapped.append(f"the label of nested group '{name}' -> note '{entry.ident}'")

    def members(self, following: list[_Row]) -> list[_Row]:
        """The rows inside a group (up to its end group), nested groups included."""
        depth = 0
        found: list[_Row] = []
        for row in following:
            kind, _ = self.kind_of(row.get("type")) if row.get("type") else ("", "")
            if kind in ("group", "repeat"):
                depth += 1
            elif kind in ("end group", "end repeat"):
                if depth == 0:
                    break
                depth -= 1
            found.append(row)
        return found

    def matrix_list(self, members: list[_Row]) -> str | None:
        """The list of a table-list group that is a likert matrix: select_one rows on one numbered list."""
        lists: set[str] = set()
        questions = 0
        for row in members:
            if not row.get("type"):
                continue
            match = _SELECT.match(" ".join(row.get("type").split()))
            if not match or match.group("command").lower() not in ("select_one", "select one", "select1"):
                return None
            if match.group("other") or row.get("constraint") or row.get("choice_filter"):
                return None
            lists.add(match.group("list") or "")
            questions += 1
        if len(lists) != 1 or questions == 0:
            return None
        (list_name,) = lists
        entries = self.choices.get(list_name)
        if not entries or not all(isinstance(c.code, int) for c in entries):
            return None
        return list_name

    def start_matrix(self, row: _Row, entry: _Name, label: Any, list_name: str, ident: str) -> dict[str, Any]:
        name = row.get("name")
        if label is None:
            self.problem(
                row.number, f"group '{name}' (table-list) needs a label: it is the likert matrix's question"
            )
        matrix: dict[str, Any] = {"id": ident, "type": "likert_matrix", "text": label or ""}
        hint = self.texts(row, "hint", name)
        if hint is not None:
            matrix["help"] = hint
        matrix["choices"] = self.choice_set(list_name, row, name)
        matrix["rows"] = []
        self.count("begin group (table-list)", "likert_matrix")
        self.mapped.append(f"group '{name}' (table-list) -> likert_matrix '{ident}'")
        return matrix

    def end_group(self, row: _Row) -> None:
        if not self.stack:
            self.problem(row.number, "'end group' without a 'begin group'")
            return
        frame = self.stack.pop()
        if frame.kind == "skip":
            return
        if frame.kind == "matrix" and frame.matrix is not None and not frame.matrix["rows"]:
            self.problem(frame.row, f"group '{frame.name}' (table-list) has no questions")
        open_groups = any(f.kind in ("page", "flat", "matrix") for f in self.stack)
        if not open_groups and self.page is not None and not self.page.automatic:
            self.close_page()

    def add_item(self, item: dict[str, Any], name: str, row: int) -> None:
        page = self.current_page(row)
        page.items.append(item)
        self.place[name] = (len(self.pages), self.order)
        self.order += 1

    def count(self, source: str, target: str) -> None:
        key = f"{source} -> {target}"
        self.counts[key] = self.counts.get(key, 0) + 1

    def lose_columns(self, row: _Row, used: set[str]) -> None:
        name = row.get("name") or row.get("type")
        for header, value in row.cells.items():
            base = header.partition("::")[0]
            if base in used or base in _QUIET_COLUMNS:
                continue
            if base in _MEDIA:
                self.lost.add(row.number, "media (images, audio, video) of questions are not carried over")
            elif base == "guidance_hint":
                self.lost.add(row.number, "guidance_hint is not carried over (Elicit shows the hint)")
            elif base == "required_message":
                self.lost.add(
                    row.number, "required_message: Elicit shows its own message for a required question"
                )
            elif base == "default":
                self.lost.add(row.number, f"default of '{name}' ({value}): Elicit's questions start empty")
            elif base == "read_only":
                if value.lower() in _YES:
                    self.problem(
                        row.number,
                        f"'{name}' is read_only: the expert cannot answer it; Elicit has no read-only "
                        "questions (make it a note)",
                    )
                elif value.lower() not in _NO:
                    self.problem(
                        row.number, f"read_only of '{name}' is a condition ({value}); Elicit has none"
                    )
            elif base == "calculation":
                self.lost.add(
                    row.number, f"calculation of '{name}' ({value}): Elicit does not compute answers"
                )
            elif base == "trigger":
                self.lost.add(row.number, f"trigger of '{name}': Elicit does not recompute answers")
            elif base == "parameters":
                self.lost.add(row.number, f"parameters '{value}' of '{name}' are not carried over")
            elif base == "appearance":
                for word in value.split():
                    self.lost.add(row.number, f"appearance '{word}' of '{name}' is not carried over")
            elif base == "choice_filter":
                self.problem(row.number, f"choice_filter of '{name}': only select questions have one")
            elif base not in ("required", "relevant", "constraint", "constraint_message", "hint", "label"):
                self.lost.add(row.number, f"survey: the column '{header}' is not read by Elicit")

    # -- questions -----------------------------------------------------------------------------------------
    def question(self, row: _Row, normalized: str) -> None:
        name = row.get("name")
        entry = self.names[name]
        if entry.row != row.number:
            return
        ident = entry.ident
        frame = self.stack[-1] if self.stack else None
        in_matrix = frame is not None and frame.kind == "matrix"
        item: dict[str, Any] = {"id": ident, "type": ""}
        label = self.texts(row, "label", name)
        is_note = normalized == "note"
        if label is None:
            hint_only = self.texts(row, "hint", name) if is_note else None
            if hint_only is None:
                self.problem(row.number, f"'{name}' has no label")
                raise _Skip
            label = hint_only
            row = _Row(row.number, {k: v for k, v in row.cells.items() if k.partition("::")[0] != "hint"})
        item["text"] = label
        hint = self.texts(row, "hint", name)
        if hint is not None:
            item["help"] = hint
        used = {"type", "name", "label", "hint", "required", "relevant", "constraint", "constraint_message"}
        if not is_note:
            required = row.get("required").strip().lower()
            if required in _YES:
                item["required"] = True
            elif required and required not in _NO:
                self.problem(
                    row.number,
                    f"required of '{name}' is a condition ({row.get('required')}); Elicit's questions are "
                    "required or not (yes or no)",
                )
        conditions, condition_names = self.conditions() if not in_matrix else ([], [])
        own = None
        if row.get("relevant"):
            own = self.translate(row.get("relevant"), row.number, f"relevant of '{name}'", name)
            if own is None:
                raise _Skip
        relevant = _all_of([*conditions, own or ""])
        if relevant:
            item["relevant"] = relevant
            if conditions:
                self.uses.append(_Use(row.number, f"relevant of '{name}'", condition_names, name))
        if in_matrix:
            assert frame is not None and frame.matrix is not None  # nosec B101  # narrows the type: the value was checked just before
            used.add("appearance")
            self.lose_columns(row, used)
            self.matrix_row(row, item, frame.matrix)
            return
        handler = {
            "integer": self.number_question,
            "decimal": self.number_question,
            "text": self.text_question,
            "date": self.date_question,
            "range": self.range_question,
            "note": self.note_question,
            "acknowledge": self.acknowledge_question,
        }.get(normalized, self.select_question)
        extra = handler(row, item, normalized, used)
        self.lose_columns(row, used)
        self.add_item(item, name, row.number)
        for follow_up, follow_name in extra:
            self.add_item(follow_up, follow_name, row.number)

    def constraint(self, row: _Row, item: dict[str, Any], subject: str) -> None:
        """Translate the constraint; bounds XLSForm writes as constraints become the item's own settings."""
        name = row.get("name")
        source = row.get("constraint")
        if not source:
            if row.get("constraint_message"):
                self.lost.add(row.number, f"constraint_message of '{name}' without a constraint is not shown")
            return
        try:
            tree = parse(source)
        except XPathError as exc:
            self.problem(row.number, f"constraint of '{name}': cannot read {source!r}: {exc}")
            return
        settings: dict[str, Any] = {}
        rest: list[Node] = []
        for node in conjuncts(tree):
            bound = self.bound(node, subject)
            if bound is not None and all(key not in settings for key in bound):
                settings.update(bound)
            else:
                rest.append(node)
        if "min" in settings and "max" in settings and settings["min"] == settings["max"] == "today":
            rest.append(parse(". = today()"))
        for key, value in settings.items():
            item[key] = value
        if settings:
            written = ", ".join(f"{key}: {value}" for key, value in settings.items())
            self.mapped.append(f"constraint of '{name}' -> {written}")
        message = self.texts(row, "constraint_message", name)
        if rest:
            text = self.translate_tree(
                _and(rest), source, row.number, f"constraint of '{name}'", name, constraint=True
            )
            if text is not None:
                item["constraint"] = text
                if message is not None:
                    item["constraint_message"] = message
        elif message is not None:
            self.lost.add(
                row.number,
                f"constraint_message of '{name}': Elicit shows its own message for {', '.join(settings)}",
            )

    def bound(self, node: Node, subject: str) -> dict[str, Any] | None:
        """A conjunct of a constraint that is one of the item's settings (``. <= 60`` is ``max: 60``)."""
        if (
            subject == "none"
            or not isinstance(node, Binary)
            or node.operator not in ("<", "<=", ">", ">=", "=")
        ):
            return None
        left, right, operator = node.left, node.right, node.operator
        flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "="}
        if self.is_subject(right, subject) and not self.is_subject(left, subject):
            left, right, operator = right, left, flipped[operator]
        if not self.is_subject(left, subject):
            return None
        if subject in ("integer", "decimal"):
            value = self.literal_number(right)
            if value is None or (subject == "integer" and not float(value).is_integer()):
                return None
            if subject == "integer":
                value = int(value)
                if operator == ">":
                    return {"min": value + 1}
                if operator == "<":
                    return {"max": value - 1}
            return {">=": {"min": value}, "<=": {"max": value}}.get(operator)
        if subject == "date":
            when: str | None = None
            if isinstance(right, Call) and right.function == "today" and not right.arguments:
                when = "today"
            elif isinstance(right, Call) and right.function == "date" and len(right.arguments) == 1:
                argument = right.arguments[0]
                when = argument.value if isinstance(argument, String) else None
            elif isinstance(right, String):
                when = right.value
            if when is None or (when != "today" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", when)):
                return None
            return {">=": {"min": when}, "<=": {"max": when}}.get(operator)
        count = self.literal_number(right)
        if count is None or not float(count).is_integer() or count < 0:
            return None
        whole = int(count)
        if subject == "text":
            return {"<=": {"max_length": whole}, "<": {"max_length": whole - 1}}.get(operator)
        return {
            ">=": {"min_selected": whole},
            ">": {"min_selected": whole + 1},
            "<=": {"max_selected": whole},
            "<": {"max_selected": whole - 1},
            "=": {"min_selected": whole, "max_selected": whole},
        }.get(operator)

    @staticmethod
    def is_subject(node: Node, subject: str) -> bool:
        if subject in ("integer", "decimal", "date"):
            return isinstance(node, Current)
        function = "string-length" if subject == "text" else "count-selected"
        return (
            isinstance(node, Call)
            and node.function == function
            and len(node.arguments) == 1
            and isinstance(node.arguments[0], Current)
        )

    @staticmethod
    def literal_number(node: Node) -> int | float | None:
        if isinstance(node, Number):
            return _number(node.text)
        if isinstance(node, Negate) and isinstance(node.operand, Number):
            value = _number(node.operand.text)
            return None if value is None else -value
        return None

    def number_question(self, row: _Row, item: dict[str, Any], normalized: str, used: set[str]) -> list[Any]:
        item["type"] = normalized
        self.count(normalized, normalized)
        self.constraint(row, item, normalized)
        return []

    def text_question(self, row: _Row, item: dict[str, Any], normalized: str, used: set[str]) -> list[Any]:
        item["type"] = "text"
        self.count("text", "text")
        appearance = row.get("appearance").split()
        if "multiline" in appearance:
            item["multiline"] = True
        for word in appearance:
            if word != "multiline":
                self.lost.add(row.number, f"appearance '{word}' of '{row.get('name')}' is not carried over")
        used.add("appearance")
        self.constraint(row, item, "text")
        return []

    def date_question(self, row: _Row, item: dict[str, Any], normalized: str, used: set[str]) -> list[Any]:
        item["type"] = "date"
        self.count("date", "date")
        for word in row.get("appearance").split():
            self.lost.add(
                row.number,
                f"appearance '{word}' of date '{row.get('name')}': Elicit asks for a full date on its own "
                "calendar (year, month and day)",
            )
        used.add("appearance")
        self.constraint(row, item, "date")
        return []

    def range_question(self, row: _Row, item: dict[str, Any], normalized: str, used: set[str]) -> list[Any]:
        name = row.get("name")
        item["type"] = "slider"
        self.count("range", "slider")
        parameters = _parameters(row.get("parameters"))
        used.add("parameters")
        values: dict[str, int | float] = {}
        for key, default in (("start", 1), ("end", 10), ("step", 1)):
            text = parameters.pop(key, None)
            number = default if text is None else _number(text)
            if number is None:
                self.problem(row.number, f"parameter {key}={text} of range '{name}' is not a number")
                raise _Skip
            values[key] = number
        for key, value in parameters.items():
            self.lost.add(row.number, f"parameter {key}={value} of range '{name}' is not carried over")
        if values["end"] <= values["start"]:
            self.problem(
                row.number,
                f"range '{name}' runs from {values['start']} down to {values['end']}; Elicit's sliders run from "
                "the smaller value to the larger (swap start and end)",
            )
            raise _Skip
        item["min"], item["max"], item["step"] = values["start"], values["end"], values["step"]
        for word in row.get("appearance").split():
            self.lost.add(row.number, f"appearance '{word}' of range '{name}': Elicit shows a plain slider")
        used.add("appearance")
        self.mapped.append(
            f"range '{name}' -> slider from {values['start']} to {values['end']} in steps of {values['step']}"
        )
        self.constraint(row, item, "none")
        return []

    def note_question(self, row: _Row, item: dict[str, Any], normalized: str, used: set[str]) -> list[Any]:
        item["type"] = "note"
        self.count("note", "note")
        used.update({"required", "read_only"})
        if row.get("constraint"):
            self.lost.add(row.number, f"note '{row.get('name')}' has a constraint, which a note never checks")
        return []

    def acknowledge_question(
        self, row: _Row, item: dict[str, Any], normalized: str, used: set[str]
    ) -> list[Any]:
        name = row.get("name")
        if name in self.consent:
            item["type"] = "consent"
            self.count("acknowledge", "consent")
            self.mapped.append(
                f"acknowledge '{name}' (the first question) -> consent: the expert answers yes or no, and a "
                "'no' ends the response; ${" + name + "} = 'OK' reads as " + f"{item['id']} == 'yes'"
            )
        else:
            item["type"] = "single_choice"
            item["choices"] = {"OK": "OK"}
            self.count("acknowledge", "single_choice")
            self.mapped.append(
                f"acknowledge '{name}' -> single_choice with one choice, OK (only a first question becomes "
                "consent)"
            )
        self.constraint(row, item, "none")
        return []

    def select_question(self, row: _Row, item: dict[str, Any], normalized: str, used: set[str]) -> list[Any]:
        name = row.get("name")
        match = _SELECT.match(" ".join(row.get("type").split()))
        assert match is not None  # nosec B101  # narrows the type: the value was checked just before
        command = match.group("command").lower()
        list_name = match.group("list")
        if "from file" in command or "from_file" in command or "external" in command:
            self.problem(
                row.number,
                f"'{name}' ({row.get('type')}) takes its choices from an external file; put them on the "
                "choices sheet",
            )
            raise _Skip
        if not list_name:
            self.problem(row.number, f"'{name}' ({row.get('type')}) needs a list name: {command} LIST")
            raise _Skip
        if list_name not in self.choices:
            self.problem(
                row.number, f"'{name}' uses the list '{list_name}', which is not on the choices sheet"
            )
            raise _Skip
        entries = self.choices[list_name]
        self.referenced.add(list_name)
        choices: Any = None  # the list's choice set, unless a filter or or_other changes the choices
        used.update({"appearance", "choice_filter", "parameters"})
        if row.get("choice_filter"):
            self.filtered = True
            source = row.get("choice_filter")
            try:
                test = choice_filter(source)
            except XPathError as exc:
                self.problem(
                    row.number, f"choice_filter of '{name}' ({source}) cannot be carried over: {exc}"
                )
                raise _Skip from None
            kept = [c for c in entries if test(c.cells)]
            if not kept:
                self.problem(row.number, f"choice_filter of '{name}' ({source}) leaves no choice")
                raise _Skip
            choices = {c.code: c.label for c in kept}
            self.mapped.append(
                f"choice_filter of '{name}' ({source}) keeps {len(kept)} of the {len(entries)} choices of "
                f"'{list_name}'"
            )
        appearance = row.get("appearance").split()
        codes_numeric = all(isinstance(c.code, int) for c in entries)
        if command in ("select_one", "select one", "select1"):
            if "likert" in appearance and codes_numeric:
                kind, note = "likert", "likert"
            elif "minimal" in appearance or "autocomplete" in appearance:
                kind, note = "dropdown", "dropdown"
            else:
                kind, note = "single_choice", ""
            taken = {"likert", "minimal", "autocomplete"} if kind != "single_choice" else set()
            source_type = "select_one"
        elif command == "rank":
            kind, note, taken, source_type = "ranking", "", set(), "rank"
        else:
            kind, note, taken, source_type = "multiple_choice", "", set(), "select_multiple"
        item["type"] = kind
        self.count(source_type, kind)
        if note:
            self.mapped.append(f"{source_type} '{name}' (appearance {' '.join(appearance)}) -> {kind}")
        for word in appearance:
            if word not in taken:
                self.lost.add(
                    row.number,
                    f"appearance '{word}' of '{name}' is not carried over: Elicit lays out choices its own way",
                )
        parameters = _parameters(row.get("parameters"))
        for key, value in parameters.items():
            if key == "randomize" and value.lower() in _YES:
                self.lost.add(
                    row.number, f"'{name}' shuffles its choices (randomize); Elicit shows them in order"
                )
            elif key != "seed":
                self.lost.add(row.number, f"parameter {key}={value} of '{name}' is not carried over")
        extra: list[tuple[dict[str, Any], str]] = []
        if match.group("other"):
            if choices is None:
                choices = {c.code: c.label for c in entries}
            if not any(str(code) == "other" for code in choices):
                choices["other"] = "Other"
            follow_name = f"{name}_other"
            if follow_name in self.names:
                follow_id = self.synthetic(f"{name}_other")
            else:
                follow_id = self.synthetic(follow_name)
                self.names[follow_name] = _Name(row.number, "question", "text", follow_id)
            follow: dict[str, Any] = {
                "id": follow_id,
                "type": "text",
                "text": "Specify other.",
                "relevant": _all_of([item.get("relevant", ""), f"selected({item['id']}, 'other')"]),
            }
            extra.append((follow, follow_name))
            self.mapped.append(
                f"'{name}' or_other -> an 'other' choice and the text question '{follow_id}' (\"Specify other.\", "
                f"asked when 'other' is chosen), as pyxform writes it"
            )
            if len(self.languages) > 1:
                self.lost.add(
                    row.number,
                    "the 'Other' choice and 'Specify other.' of or_other are in English in every language, as "
                    "pyxform writes them",
                )
        item["choices"] = choices if choices is not None else self.choice_set(list_name, row, name)
        self.constraint(row, item, "multiple" if kind == "multiple_choice" else "none")
        return extra

    def matrix_row(self, row: _Row, item: dict[str, Any], matrix: dict[str, Any]) -> None:
        name = row.get("name")
        if "label" in row.get("appearance").split():
            self.lost.add(
                row.number,
                f"'{name}' (appearance label) only shows the choice labels as column headings; Elicit's matrix "
                "shows them itself",
            )
            self.names[name].kind = "note"
            return
        entry: dict[str, Any] = {"id": item["id"], "text": item["text"]}
        for key in ("help", "required", "relevant"):
            if key in item:
                entry[key] = item[key]
        matrix["rows"].append(entry)
        self.count("select_one (table-list)", "likert_matrix row")
        for word in row.get("appearance").split():
            if word != "list-nolabel":
                self.lost.add(row.number, f"appearance '{word}' of '{name}' is not carried over")
        self.place[name] = (len(self.pages), self.order)
        self.order += 1

    # -- checks and the document ---------------------------------------------------------------------------
    def check_references(self) -> None:
        for use in self.uses:
            owner = self.place.get(use.owner)
            if owner is None:
                continue
            for name in use.names:
                where = self.place.get(name)
                if where is None:
                    continue
                if use.page_level and where[0] >= owner[0]:
                    self.problem(
                        use.row,
                        f"{use.what} reads ${{{name}}}, which is not on an earlier page: Elicit decides whether to "
                        "show a page before it is answered",
                    )
                elif use.constraint and where[0] > owner[0]:
                    self.problem(use.row, f"{use.what} reads ${{{name}}}, which is on a later page")
                elif not use.page_level and not use.constraint and where[1] >= owner[1]:
                    self.problem(
                        use.row,
                        f"{use.what} reads ${{{name}}}, which comes after it: Elicit asks the questions in order",
                    )

    def document(self) -> dict[str, Any]:
        if not self.pages and not self.problems.items:
            self.problem(None, "the survey sheet has no question Elicit can import")
        if not self.filtered:
            for row, column in self.filter_columns:
                self.lost.add(
                    row, f"choices: the column '{column}' is read only by a choice_filter, and none uses it"
                )
        title = self.settings.get("form_title") or self.settings.get("form_id") or Path(self.path).stem
        if not self.settings.get("form_title"):
            self.mapped.append(f"the form has no form_title: the title is '{title}'")
        for list_name in self.choices:
            if list_name not in self.referenced:
                self.lost.add(
                    self.choices[list_name][0].row, f"choices: list '{list_name}' is used by no question"
                )
        questions = sum(
            len(item.get("rows", [])) if item["type"] == "likert_matrix" else item["type"] != "note"
            for page in self.pages
            for item in page.items
        )
        pages = len(self.pages)
        summary = [f"{questions} question{'s' * (questions != 1)} on {pages} page{'s' * (pages != 1)}"]
        summary += [f"{key} ({number})" for key, number in self.counts.items()]
        self.mapped[:0] = summary
        document: dict[str, Any] = {
            "id": self.instrument_id,
            "version": self.version,
            "languages": self.languages,
            "title": title,
        }
        if self.choice_sets:
            document["choice_sets"] = self.choice_sets
        entries: list[dict[str, Any]] = []
        for page in self.pages:
            entry: dict[str, Any] = {"id": page.id}
            if page.title is not None:
                entry["title"] = page.title
            if page.intro is not None:
                entry["intro"] = page.intro
            if page.relevant:
                entry["relevant"] = page.relevant
            entry["items"] = page.items
            entries.append(entry)
        document["pages"] = entries
        fresh: dict[str, Any] = _fresh(document)
        return fresh


def read(name: str, data: bytes, instrument_id: str, version: str) -> Imported:
    """Convert an XLSForm (``.xlsx``, ``.xls`` or pyxform's ``.csv``) into an instrument document.

    Raises ImportFailed with every problem, each as ``file:row: message`` (the row as the spreadsheet numbers
    it; for a CSV the line).
    """
    problems = Problems(name)
    sheets, notes = _sheets(name, data, problems)
    problems.raise_any()
    reader = _Reader(name, sheets, instrument_id, version)
    reader.mapped.extend(notes)
    return reader.convert()


# -- writing ---------------------------------------------------------------------------------------------------
def _language_label(code: str) -> str:
    return f"{LANGUAGE_NAMES.get(code.split('-')[0], code)} ({code})"


class _Writer:
    """Builds the survey, choices and settings rows of one instrument, and what it could not write exactly."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.languages = list(definition.languages)
        self.survey: list[dict[str, str]] = []
        self.choices: list[dict[str, str]] = []
        self.lists: dict[tuple[Any, ...], str] = {}
        self.list_names: set[str] = set()
        self.warnings: list[str] = []
        self.names: dict[str, str] = {}  # item id -> XLSForm name of its one question
        self.composite: dict[str, str] = {}  # item id -> its type, for items written as several questions
        self.consent = frozenset(item.id for item in definition.items() if item.type == "consent")
        self.composite = {
            item.id: item.type
            for item in definition.items()
            if item.type in ("constant_sum", "quantiles", "roulette", "four_point", "probabilities")
        }
        self.taken: set[str] = set()
        for page in definition.pages:
            self.taken.add(page.id)
            for item in page.items:
                self.taken.add(item.id)
                self.taken.update(row.id for row in item.rows)

    def unique(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.taken:
            name, n = f"{wanted}_{n}", n + 1
        self.taken.add(name)
        return name

    def text(self, column: str, value: Text | None, row: dict[str, str]) -> None:
        if not value:
            return
        for lang in self.languages:
            text = value.get(lang) or next(iter(value.values()), "")
            if text:
                row[f"{column}::{_language_label(lang)}"] = text

    def same(self, text: str) -> Text:
        return dict.fromkeys(self.languages, text)

    def xpath(self, source: str | None, where: str, row: dict[str, str], column: str) -> str:
        if not source:
            return ""

        def name_of(ident: str) -> str:
            if ident in self.composite:
                raise XPathError(
                    f"'{ident}' is a {self.composite[ident]} item, which XLSForm holds as several questions"
                )
            return self.names.get(ident, ident)

        try:
            return to_xpath(source, name_of, consent=self.consent)
        except XPathError as exc:
            note = f"{column} not written: {source} ({exc})"
            row["elicit_note"] = f"{row['elicit_note']}; {note}" if row.get("elicit_note") else note
            self.warnings.append(
                f"{where}: {column} '{source}' has no XPath equivalent ({exc}); it is left out"
            )
            return ""

    def list_name(self, item: Item) -> str:
        key = tuple((choice.key, tuple(sorted(choice.label.items()))) for choice in item.choices)
        if key in self.lists:
            return self.lists[key]
        name, n = item.id, 2
        while name in self.list_names:
            name, n = f"{item.id}_{n}", n + 1
        self.list_names.add(name)
        self.lists[key] = name
        for choice in item.choices:
            row = {"list_name": name, "name": choice.key}
            label = choice.label if any(choice.label.values()) else (item.text or self.same(choice.key))
            self.text("label", label, row)
            self.choices.append(row)
        return name

    def question(
        self,
        kind: str,
        name: str,
        label: Text | None,
        *,
        item: Item | None = None,
        hint: Text | None = None,
        required: bool = False,
        relevant: str = "",
        constraint: str = "",
        message: Text | None = None,
        appearance: str = "",
        parameters: str = "",
    ) -> dict[str, str]:
        row: dict[str, str] = {"type": kind, "name": name}
        self.text("label", label, row)
        self.text("hint", hint, row)
        if required:
            row["required"] = "yes"
        if relevant:
            row["relevant"] = relevant
        if constraint:
            row["constraint"] = constraint
            self.text("constraint_message", message, row)
        if appearance:
            row["appearance"] = appearance
        if parameters:
            row["parameters"] = parameters
        self.survey.append(row)
        return row

    def write(self) -> None:
        definition = self.definition
        for page in definition.pages:
            self.page(page)
        if len(set(definition.title.values())) > 1:
            self.warnings.append(
                f"the title is written in {definition.languages[0]} only: the settings sheet holds one form_title"
            )
        left_out = {
            "the description": definition.description is not None,
            "the practice page": definition.practice is not None,
            "the scales": bool(definition.scales),
            "the declared hypotheses": bool(definition.hypotheses),
        }
        for what, present in left_out.items():
            if present:
                self.warnings.append(f"{what} of the instrument: XLSForm has no place for it; left out")
        marked = [item.id for item in definition.items() if item.privacy.kind != "none"]
        if marked:
            self.warnings.append(
                f"privacy marks ({', '.join(marked)}): XLSForm has none; the export of ODK's data does not "
                "anonymize"
            )
        dont_know = [item.id for item in definition.items() if item.dont_know]
        if dont_know:
            self.warnings.append(
                f"'don't know' answers ({', '.join(dont_know)}): XLSForm has none; leave the question empty"
            )

    def page(self, page: Page) -> None:
        row = {"type": "begin group", "name": page.id, "appearance": "field-list"}
        self.text("label", page.title, row)
        self.survey.append(row)
        if page.relevant is not None:
            row["relevant"] = self.xpath(page.relevant.source, f"page '{page.id}'", row, "relevant")
        if page.intro:
            self.question("note", self.unique(f"{page.id}_intro"), page.intro)
            self.warnings.append(f"page '{page.id}': its intro is written as the note '{page.id}_intro'")
        for item in page.items:
            self.item(item)
        self.survey.append({"type": "end group", "name": page.id})

    def relevant(self, item: Item, row: dict[str, str]) -> None:
        if item.relevant is not None:
            row["relevant"] = self.xpath(item.relevant.source, f"item '{item.id}'", row, "relevant")

    def constraint(self, item: Item, row: dict[str, str], bounds: list[str]) -> None:
        parts = list(bounds)
        if item.constraint is not None:
            translated = self.xpath(item.constraint.source, f"item '{item.id}'", row, "constraint")
            if translated:
                parts.append(f"({translated})" if bounds and " or " in translated else translated)
        if parts:
            row["constraint"] = " and ".join(parts)
            self.text("constraint_message", item.constraint_message, row)

    def item(self, item: Item) -> None:
        writer = {
            "note": self.note,
            "consent": self.consent_item,
            "likert_matrix": self.matrix,
            "constant_sum": self.constant_sum,
            "quantiles": self.parts_item,
            "roulette": self.parts_item,
            "four_point": self.parts_item,
            "probabilities": self.parts_item,
        }.get(item.type, self.simple)
        writer(item)
        if item.confidence:
            name = self.unique(f"{item.id}_confidence")
            row = self.question(
                "integer",
                name,
                self.same("How confident are you in this answer? (1 = not at all, 5 = very)"),
                constraint=". >= 1 and . <= 5",
            )
            self.relevant(item, row)
            self.warnings.append(
                f"item '{item.id}': its confidence question is written as the integer '{name}' (1 to 5), "
                "labelled in English"
            )

    def simple(self, item: Item) -> None:
        kind, appearance, parameters = item.kind.xlsform, "", ""
        hint: dict[str, str] = dict(item.help or {})
        bounds: list[str] = []
        unit = item.unit
        if item.type in ("single_choice", "dropdown", "likert", "multiple_choice", "ranking"):
            kind = f"{kind} {self.list_name(item)}"
            appearance = {"dropdown": "minimal", "likert": "likert"}.get(item.type, "")
            if item.min_selected is not None:
                bounds.append(f"count-selected(.) >= {item.min_selected}")
            if item.max_selected is not None:
                bounds.append(f"count-selected(.) <= {item.max_selected}")
        elif item.type in ("integer", "decimal"):
            bounds.extend(self.number_bounds(item))
        elif item.type == "text":
            if item.multiline:
                appearance = "multiline"
            if item.max_length != 2000:
                bounds.append(f"string-length(.) <= {item.max_length}")
        elif item.type == "date":
            for key, symbol in (("min", ">="), ("max", "<=")):
                value = item.option(key)
                if value is not None:
                    bounds.append(f". {symbol} {'today()' if value == 'today' else f'date({value!r})'}")
        elif item.type == "slider":
            step = item.option("step", 1)
            parameters = f"start={_num(item.min)} end={_num(item.max)} step={_num(step)}"
            ends = [item.option("min_label"), item.option("max_label")]
            if any(ends):
                for lang in self.languages:
                    low, high = (_in(end, lang) for end in ends)
                    extra = f"{_num(item.min)}: {low} … {_num(item.max)}: {high}"
                    hint[lang] = f"{hint[lang]}\n{extra}" if hint.get(lang) else extra
                self.warnings.append(f"item '{item.id}': the slider's end labels are written into its hint")
        elif kind == "text":
            self.warnings.append(
                f"item '{item.id}' ({item.type}) has no XLSForm type: written as a text question"
            )
        if unit:
            for lang in self.languages:
                hint[lang] = (
                    f"{hint[lang]}\n({_in(unit, lang)})" if hint.get(lang) else f"({_in(unit, lang)})"
                )
            self.warnings.append(
                f"item '{item.id}': its unit is written into its hint (XLSForm has no units)"
            )
        self.names[item.id] = item.id
        row = self.question(
            kind,
            item.id,
            item.text,
            hint=hint or None,
            required=item.required,
            appearance=appearance,
            parameters=parameters,
        )
        self.relevant(item, row)
        self.constraint(item, row, bounds)

    @staticmethod
    def number_bounds(item: Item, low: float | None = None, high: float | None = None) -> list[str]:
        bounds: list[str] = []
        low = item.min if low is None else low
        high = item.max if high is None else high
        if low is not None:
            bounds.append(f". >= {_num(low)}")
        if high is not None:
            bounds.append(f". <= {_num(high)}")
        return bounds

    def note(self, item: Item) -> None:
        self.names[item.id] = item.id
        row = self.question("note", item.id, item.text, hint=item.help)
        self.relevant(item, row)

    def consent_item(self, item: Item) -> None:
        self.names[item.id] = item.id
        row = self.question("acknowledge", item.id, item.text, hint=item.help, required=item.required)
        self.relevant(item, row)
        self.warnings.append(
            f"item '{item.id}' (consent) is written as acknowledge: XLSForm offers no 'no', so an expert who "
            "does not consent leaves the form; consent == 'yes' is written as ${" + item.id + "} = 'OK'"
        )

    def matrix(self, item: Item) -> None:
        list_name = self.list_name(item)
        group = {"type": "begin group", "name": item.id, "appearance": "table-list"}
        self.text("label", item.text, group)
        self.text("hint", item.help, group)
        self.survey.append(group)
        self.relevant(item, group)
        for row_item in item.rows:
            self.names[row_item.id] = row_item.id
            row = self.question(
                f"select_one {list_name}",
                row_item.id,
                row_item.text,
                hint=row_item.help,
                required=row_item.required,
            )
            self.relevant(row_item, row)
        self.survey.append({"type": "end group", "name": item.id})

    def group(self, item: Item) -> dict[str, str]:
        group = {"type": "begin group", "name": item.id}
        self.text("label", item.text, group)
        self.text("hint", item.help, group)
        self.survey.append(group)
        self.relevant(item, group)
        return group

    def constant_sum(self, item: Item) -> None:
        self.group(item)
        names = [self.unique(f"{item.id}_{choice.key}") for choice in item.choices]
        total = _num(item.total or 0)
        for index, (choice, name) in enumerate(zip(item.choices, names, strict=True)):
            bounds = [". >= 0"]
            if index == len(names) - 1:
                others = " + ".join(f"${{{other}}}" for other in names[:-1])
                bounds.append(f"{others} + . = {total}" if others else f". = {total}")
            self.question(
                "decimal",
                name,
                choice.label,
                required=item.required,
                constraint=" and ".join(bounds),
                message=self.same(f"The points must add up to {total}."),
            )
        self.survey.append({"type": "end group", "name": item.id})
        self.warnings.append(
            f"item '{item.id}' (constant_sum) is written as a group of {len(names)} decimal questions, the last "
            f"checking that they add up to {total} (its message is in English)"
        )

    def parts_item(self, item: Item) -> None:
        self.group(item)
        names = {part: self.unique(f"{item.id}_{part}") for part in item.parts}
        kind = "integer" if item.type == "roulette" else "decimal"
        previous: str | None = None
        for index, part in enumerate(item.parts):
            name = names[part]
            label = self.same(item.kind.part_label(item, part, self.languages[0]))
            bounds: list[str]
            if item.type == "four_point":
                if part == "confidence":
                    bounds = [". >= 50", ". <= 100"]
                else:
                    bounds = self.number_bounds(item)
                    if part == "high":
                        bounds.append(f". > ${{{names['low']}}}")
                    if part == "best":
                        bounds += [f". >= ${{{names['low']}}}", f". <= ${{{names['high']}}}"]
            elif item.type == "roulette":
                bounds = [". >= 0"]
                if index == len(item.parts) - 1:
                    chips = item.option("chips", 20)
                    others = " + ".join(f"${{{names[p]}}}" for p in item.parts[:-1])
                    bounds.append(f"{others} + . = {chips}")
            elif item.type == "probabilities":
                bounds = [". >= 0", ". <= 100"]
                if previous:
                    bounds.append(f". >= ${{{previous}}}")
            else:
                bounds = self.number_bounds(item)
                if previous:
                    bounds.append(f". > ${{{previous}}}")
            self.question(
                "integer" if part == "confidence" else kind,
                name,
                label,
                required=item.required,
                constraint=" and ".join(bounds),
            )
            previous = name
        self.survey.append({"type": "end group", "name": item.id})
        how = {
            "quantiles": "decimal questions whose constraints keep them increasing",
            "roulette": "integer chip counts whose last constraint checks the total",
            "four_point": "lowest, highest, best (between them) and a confidence from 50 to 100",
            "probabilities": "decimal percentages whose constraints keep them from decreasing",
        }[item.type]
        self.warnings.append(
            f"item '{item.id}' ({item.type}) is written as a group of {len(names)} questions: {how}; their "
            "labels are in English"
        )


def _num(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _in(text: Text | None, lang: str) -> str:
    if not text:
        return ""
    return text.get(lang) or next(iter(text.values()), "")


def write_with_warnings(definition: Definition) -> tuple[bytes, list[str]]:
    """The instrument as an XLSForm workbook, and what could only be written approximately."""
    import openpyxl

    writer = _Writer(definition)
    writer.write()
    languages = [_language_label(lang) for lang in definition.languages]
    survey_columns = ["type", "name"]
    for base in ("label", "hint"):
        survey_columns += [f"{base}::{lang}" for lang in languages]
    survey_columns += ["required", "relevant", "constraint"]
    survey_columns += [f"constraint_message::{lang}" for lang in languages]
    survey_columns += ["appearance", "parameters", "elicit_note"]
    choice_columns = ["list_name", "name", *(f"label::{lang}" for lang in languages)]
    settings = {
        "form_title": _in(definition.title, definition.languages[0]),
        "form_id": definition.id,
        "version": definition.version,
        "default_language": languages[0],
    }
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None  # nosec B101  # narrows the type: the value was checked just before
    sheet.title = "survey"
    _fill(sheet, survey_columns, writer.survey)
    _fill(workbook.create_sheet("choices"), choice_columns, writer.choices)
    _fill(workbook.create_sheet("settings"), list(settings), [settings])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), writer.warnings


def _fill(sheet: Any, columns: list[str], rows: list[dict[str, str]]) -> None:
    """Write the rows under their headers; a text starting with '=' stays text, never a formula."""
    for number, values in enumerate([dict(zip(columns, columns, strict=True)), *rows], start=1):
        for index, column in enumerate(columns, start=1):
            value = values.get(column) or None
            cell = sheet.cell(row=number, column=index, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"


def write(definition: Definition) -> bytes:
    """The instrument as an XLSForm ``.xlsx`` (survey, choices and settings sheets, every language)."""
    return write_with_warnings(definition)[0]
