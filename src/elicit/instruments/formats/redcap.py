"""REDCap data dictionaries (the project's fields as a CSV file) in and out.

A data dictionary has one row per field and 18 columns (``Variable / Field Name``, ``Form Name``, ``Section
Header``, ``Field Type``, ``Field Label``, ``Choices, Calculations, OR Slider Labels``, ...). :func:`read` turns
one into an instrument document: forms and section headers become pages, field types become item types, branching
logic becomes ``relevant`` in Elicit's expression language, matrix groups become likert matrices. :func:`write`
turns an instrument back into a dictionary: one form named after the instrument, a section header per page.

REDCap holds one language, has no composite answers (a ranking, quantiles) and no checks across fields, so the
writer uses the nearest honest equivalent and says so (:func:`write_with_warnings`); what the reader cannot carry
and that changes the questionnaire (a calculated field, a function in branching logic) is a problem with its row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from elicit.instruments.expressions import ExpressionError, parse
from elicit.instruments.formats.common import (
    Identifiers,
    Imported,
    ImportProblem,
    Problems,
    choice_code,
    safe_identifier,
)
from elicit.instruments.model import DEFAULT_TEXT_LENGTH, Definition, Item, Page, text_in

__all__ = ["COLUMNS", "read", "write", "write_with_warnings"]

#: The 18 columns of a REDCap data dictionary, in order, as REDCap's "Download the current Data Dictionary"
#: writes them; the key is what this module calls each.
COLUMNS: dict[str, str] = {
    "name": "Variable / Field Name",
    "form": "Form Name",
    "section": "Section Header",
    "type": "Field Type",
    "label": "Field Label",
    "choices": "Choices, Calculations, OR Slider Labels",
    "note": "Field Note",
    "validation": "Text Validation Type OR Show Slider Number",
    "min": "Text Validation Min",
    "max": "Text Validation Max",
    "identifier": "Identifier?",
    "branching": "Branching Logic (Show field only if...)",
    "required": "Required Field?",
    "alignment": "Custom Alignment",
    "question_number": "Question Number (surveys only)",
    "matrix_group": "Matrix Group Name",
    "matrix_ranking": "Matrix Ranking?",
    "annotation": "Field Annotation",
}
#: Other spellings of the headers: the API's metadata export (``field_name`` ...) and older REDCap versions
#: (``Choices OR Calculations``, ``Text Validation Type``, ``Field Units`` of REDCap 3 and 4).
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("field_name", "variable / field name"),
    "form": ("form_name",),
    "section": ("section_header",),
    "type": ("field_type",),
    "label": ("field_label",),
    "choices": (
        "select_choices_or_calculations",
        "choices or calculations",
        "choices, calculations, or slider labels",
    ),
    "note": ("field_note",),
    "validation": ("text_validation_type_or_show_slider_number", "text validation type"),
    "min": ("text_validation_min",),
    "max": ("text_validation_max",),
    "identifier": ("identifier",),
    "branching": ("branching_logic", "branching logic"),
    "required": ("required_field", "required field"),
    "alignment": ("custom_alignment",),
    "question_number": ("question_number", "question number"),
    "matrix_group": ("matrix_group_name",),
    "matrix_ranking": ("matrix_ranking", "matrix ranking"),
    "annotation": ("field_annotation",),
    "units": ("field units", "field_units"),
}
#: Columns without which a dictionary cannot be read.
REQUIRED = ("name", "form", "type", "label", "choices")
LANGUAGE = "en"

NUMBER_VALIDATIONS = {
    "number",
    "number_1dp",
    "number_2dp",
    "number_3dp",
    "number_4dp",
    "number_comma_decimal",
    "number_1dp_comma_decimal",
    "number_2dp_comma_decimal",
    "number_3dp_comma_decimal",
    "number_4dp_comma_decimal",
    "float",
}
INTEGER_VALIDATIONS = {"integer", "int"}
DATE_VALIDATIONS = {"date_ymd": "ymd", "date_dmy": "dmy", "date_mdy": "mdy", "date": "ymd"}
#: Validations of a text field that Elicit cannot check: the answer stays free text.
TEXT_VALIDATIONS = {
    "email": "an e-mail address",
    "phone": "a North American phone number",
    "phone_australia": "an Australian phone number",
    "zipcode": "a US ZIP code",
    "postalcode_australia": "an Australian postcode",
    "postalcode_canada": "a Canadian postal code",
    "postalcode_french": "a French postcode",
    "postalcode_germany": "a German postcode",
    "postalcode_uk": "a UK postcode",
    "ssn": "a US social security number",
    "alpha_only": "letters only",
    "mrn_10d": "a 10-digit medical record number",
    "mrn_generic": "a medical record number",
    "vmrn": "a Vanderbilt medical record number",
    "time": "a time (HH:MM)",
    "time_hh_mm_ss": "a time (HH:MM:SS)",
    "time_mm_ss": "a duration (MM:SS)",
    "datetime_ymd": "a date and time",
    "datetime_dmy": "a date and time",
    "datetime_mdy": "a date and time",
    "datetime_seconds_ymd": "a date and time",
    "datetime_seconds_dmy": "a date and time",
    "datetime_seconds_mdy": "a date and time",
}
REFUSED_TYPES = {
    "calc": "is a calculated field: a computed value is not a question, and Elicit computes no fields "
    "(compute it in the analysis, or delete the row)",
    "file": "is a file upload (or signature) field: Elicit does not take files from experts (delete the row)",
    "sql": "is an sql field, which queries REDCap's own database (delete the row, or make it a dropdown)",
}
KNOWN_TYPES = {"text", "notes", "radio", "dropdown", "select", "checkbox", "yesno", "truefalse", "slider"}
KNOWN_TYPES |= {"descriptive", *REFUSED_TYPES}
YES_NO = ((1, "Yes"), (0, "No"))
TRUE_FALSE = ((1, "True"), (0, "False"))
TAG_RE = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?\s*>")
PIPING_RE = re.compile(r"\[[a-z][a-z0-9_-]*(\([^)\]]*\))?(:[a-z-]+)?\]")
ACTION_TAG_RE = re.compile(
    r"@[A-Z][A-Z0-9_-]*(\s*=\s*(\"[^\"]*\"|'[^']*'|\([^)]*\)|\S+))?|@[A-Z][A-Z0-9_-]*\([^)]*\)"
)
COMPUTING_TAGS = ("@CALCTEXT", "@CALCDATE")
DICTIONARY_SUFFIX = re.compile(r"_?DataDictionary(_\d{4}-\d{2}-\d{2}(_\d{4})?)?$", re.IGNORECASE)


# -- reading ---------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One field of the dictionary: its cells by column key, and the row a user sees it on in Excel."""

    number: int
    cells: dict[str, str]
    used: set[str] = field(default_factory=lambda: {"name", "form", "type"})

    def get(self, key: str) -> str:
        """A cell's text, stripped, marked as read (so that what no mapping reads is reported as lost)."""
        self.used.add(key)
        return self.cells.get(key, "").strip()

    @property
    def name(self) -> str:
        return self.cells.get("name", "").strip()

    @property
    def kind(self) -> str:
        return self.cells.get("type", "").strip().lower()

    @property
    def group(self) -> str:
        return self.cells.get("matrix_group", "").strip()


@dataclass
class Known:
    """What branching logic may say of a field read so far: its Elicit id and what its answers are."""

    ident: str
    kind: str  # choice, checkbox, number, date, text, none, refused
    codes: tuple[int | str, ...] = ()
    redcap_type: str = ""


class _LogicError(Exception):
    """Branching logic that cannot be translated; the message says why."""


def read(name: str, data: bytes, instrument_id: str, version: str) -> Imported:
    """Convert a REDCap data dictionary into an instrument document; ImportFailed lists every problem."""
    problems = Problems(name)
    text = _decode(data, problems)
    problems.raise_any()
    assert text is not None  # nosec B101  # narrows the type: the value was checked just before
    rows, extra = _rows(text, problems)
    problems.raise_any()
    reader = _Reader(name, problems)
    for header in extra:
        reader.lose(None, f"column {header!r} is not a REDCap data dictionary column; it is not read")
    document = reader.convert(rows, instrument_id, version, _title_of(name, instrument_id))
    problems.raise_any()
    return Imported(document=document, source=name, mapped=reader.mapped, lost=reader.lost)


def _decode(data: bytes, problems: Problems) -> str | None:
    if not data.strip():
        problems.add(1, "the file is empty: a REDCap data dictionary has a header row and one row per field")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        problems.add(
            row,
            f"the file is not UTF-8 (byte 0x{data[exc.start]:02x}): it was probably saved as Windows-1252, as "
            "Excel's plain 'CSV' does with REDCap dictionaries; save it as 'CSV UTF-8' (or download it from "
            "REDCap again) and import that",
        )
        return None


def _rows(text: str, problems: Problems) -> tuple[list[Row], list[str]]:
    """The field rows under the header, with their columns found by name (long, short or older spellings),
    and the headers of columns a data dictionary does not have."""
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        problems.add(None, f"not a readable CSV file: {exc}")
        return [], []
    if not records or not any(cell.strip() for cell in records[0]):
        problems.add(
            1, "row 1 must be the header row of a REDCap data dictionary ('Variable / Field Name', ...)"
        )
        return [], []
    spellings = {_normal(long): key for key, long in COLUMNS.items()}
    for key, aliases in ALIASES.items():
        spellings.update({_normal(alias): key for alias in aliases})
    where: dict[str, int] = {}
    extra: list[str] = []
    for index, header in enumerate(records[0]):
        column = spellings.get(_normal(header))
        if column is None:
            if header.strip():
                extra.append(header.strip())
        elif column in where:
            problems.add(1, f"the column {header.strip()!r} appears twice")
        else:
            where[column] = index
    for key in REQUIRED:
        if key not in where:
            problems.add(
                1, f"the header has no column {COLUMNS[key]!r}, which a REDCap data dictionary needs"
            )
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        cells = {key: record[index] if index < len(record) else "" for key, index in where.items()}
        rows.append(Row(number, cells))
    if not rows and not problems.items:
        problems.add(1, "the dictionary has a header but no fields")
    return rows, extra


def _normal(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").lower().split())


def _title_of(name: str, instrument_id: str) -> str:
    """A title from the file's name: ``My_Study_DataDictionary_2024-05-01.csv`` is "My Study"."""
    stem = DICTIONARY_SUFFIX.sub("", Path(name).stem)
    title = " ".join(stem.replace("_", " ").replace("-", " ").split())
    return title or instrument_id


def _readable(name: str) -> str:
    """A REDCap name as a heading: ``baseline_visit`` is "Baseline visit"."""
    words = " ".join(name.replace("_", " ").split())
    return words[:1].upper() + words[1:]


class _PlainText(HTMLParser):
    """HTML as the plain text it shows, keeping line breaks (``<br>``, paragraphs, list items, rows)."""

    BREAKS = frozenset(
        {"br", "p", "div", "li", "tr", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
    )
    HIDDEN = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BREAKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def plain_text(value: str) -> tuple[str, bool]:
    """``value`` without HTML markup (line breaks kept, entities decoded) and whether it had any."""
    if not TAG_RE.search(value):
        return value.strip(), False
    parser = _PlainText()
    parser.feed(value)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip(), True


class _Reader:
    """One dictionary's conversion: the fields read so far, the pages built, what was mapped and lost."""

    def __init__(self, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        self.mapped: list[str] = []
        self.lost: list[ImportProblem] = []
        self.ids = Identifiers()
        self.known: dict[str, Known] = {}
        self.first_header = ""  # the record ID's section header, which titles the first page

    # -- bookkeeping -------------------------------------------------------------------------------------
    def lose(self, row: Row | None, message: str) -> None:
        self.lost.append(ImportProblem(self.path, row.number if row else None, message))

    def text(self, row: Row, key: str, what: str) -> str:
        """A cell's text without HTML (a lost note when markup was removed; piping is shown as written)."""
        value, had_markup = plain_text(row.get(key))
        if had_markup:
            self.lose(row, f"HTML markup removed from the {what} of {row.name!r} (kept as plain text)")
        piped = sorted({m.group(0) for m in PIPING_RE.finditer(value)})
        if piped:
            self.lose(
                row,
                f"the {what} of {row.name!r} pipes {', '.join(piped)}: REDCap shows an answer there, "
                "Elicit shows the text as written",
            )
        return value

    # -- the whole dictionary ----------------------------------------------------------------------------
    def convert(self, rows: list[Row], instrument_id: str, version: str, title: str) -> dict[str, Any]:
        rows = self.check_names(rows)
        if rows and rows[0].kind == "text":
            first = rows.pop(0)
            self.lose(
                first,
                f"the first field {first.name!r} is REDCap's record ID, which survey respondents never see: "
                "Elicit numbers responses itself, so it is not a question",
            )
            self.first_header = self.text(first, "section", "section header")
        for row in rows:
            self.ids(row.name)
        pages = self.pages(rows)
        for old, new in self.ids.renamed:
            self.mapped.append(f"renamed {old!r} -> {new!r} (Elicit ids are lowercase letters, digits and _)")
        questions = sum(len(item.get("rows", [item])) for page in pages for item in page["items"])
        self.mapped.insert(0, f"{questions} questions and notes on {len(pages)} pages")
        self.mapped.insert(
            1,
            f"language: {LANGUAGE} (a REDCap data dictionary holds one language and does not name it; change "
            "'languages' if the texts are in another)",
        )
        self.mapped.insert(2, f"title {title!r} from the file name (a data dictionary has no title)")
        if not pages and not self.problems.items:
            self.problems.add(None, "the dictionary has no fields to import besides the record ID")
        return {
            "id": instrument_id,
            "version": version,
            "languages": [LANGUAGE],
            "title": title,
            "pages": pages,
        }

    def check_names(self, rows: list[Row]) -> list[Row]:
        """Rows with a usable, unique field name and a form (each fault is a problem)."""
        seen: dict[str, int] = {}
        good: list[Row] = []
        for row in rows:
            name, form = row.name, row.cells.get("form", "").strip()
            if not name:
                self.problems.add(row.number, "the field has no 'Variable / Field Name'")
                continue
            if name in seen:
                self.problems.add(row.number, f"field {name!r} is defined twice (first on row {seen[name]})")
                continue
            seen[name] = row.number
            if not form:
                self.problems.add(row.number, f"field {name!r} has no 'Form Name'")
                continue
            good.append(row)
        return good

    def pages(self, rows: list[Row]) -> list[dict[str, Any]]:
        """Pages: one per form, and a new one at each section header (see docs: a matrix's header is its text)."""
        pages: list[dict[str, Any]] = []
        page: dict[str, Any] | None = None
        form = None
        sections: dict[str, int] = {}
        index = 0
        finished_groups: set[str] = set()
        while index < len(rows):
            row = rows[index]
            row_form = row.get("form")
            if row_form != form:
                form = row_form
                page = {"id": self.fresh(form, "page"), "title": _readable(form), "items": []}
                if not pages and self.first_header:
                    page["title"] = self.first_header
                pages.append(page)
                sections[form] = 1
                self.mapped.append(f"form {form!r} -> page {page['id']!r} titled {page['title']!r}")
            assert page is not None  # nosec B101  # narrows the type: the value was checked just before
            header = self.text(row, "section", "section header")
            group = row.group
            matrix_rows = self.matrix_rows(rows, index) if group else [row]
            is_matrix = group != "" and self.matrix_kind(matrix_rows) == "likert_matrix"
            if header and not is_matrix:
                if page["items"]:
                    sections[form] += 1
                    page = {
                        "id": self.fresh(f"{form}_{sections[form]}", "page"),
                        "title": header,
                        "items": [],
                    }
                    pages.append(page)
                    self.mapped.append(
                        f"section header on row {row.number} -> page {page['id']!r} titled {header!r}"
                    )
                else:
                    page["title"] = header
                    self.mapped.append(f"section header on row {row.number} -> title of page {page['id']!r}")
            elif header and page["items"]:
                sections[form] += 1
                page = {"id": self.fresh(f"{form}_{sections[form]}", "page"), "items": []}
                pages.append(page)
                self.mapped.append(
                    f"section header on row {row.number} (matrix {group!r}) -> page {page['id']!r} and the matrix's text"
                )
            if group:
                if group in finished_groups:
                    self.problems.add(
                        row.number,
                        f"matrix group {group!r} continues after other fields: a matrix group's rows must follow "
                        "each other",
                    )
                finished_groups.add(group)
                page["items"].extend(self.matrix(matrix_rows, header if is_matrix else ""))
                index += len(matrix_rows)
            else:
                item = self.item(row)
                if item is not None:
                    page["items"].append(item)
                index += 1
        empty = [page for page in pages if not page["items"]]
        for page in empty:
            self.lose(None, f"page {page['id']!r} has no fields to import and is left out")
        return [page for page in pages if page["items"]]

    def fresh(self, name: str, prefix: str) -> str:
        """An id for a page or a matrix made from a REDCap name, unique among every id given so far."""
        base = safe_identifier(name, prefix)
        ident, n = base, 2
        while ident in self.ids.taken:
            ident, n = f"{base[:60]}_{n}", n + 1
        self.ids.taken.add(ident)
        return ident

    # -- matrices ----------------------------------------------------------------------------------------
    def matrix_rows(self, rows: list[Row], start: int) -> list[Row]:
        """The rows of the matrix group that starts at ``start``: consecutive, same group, same form."""
        first = rows[start]
        found = [first]
        for row in rows[start + 1 :]:
            if (
                row.group != first.group
                or row.cells.get("form", "").strip() != first.cells.get("form", "").strip()
            ):
                break
            found.append(row)
        return found

    def matrix_kind(self, rows: list[Row]) -> str:
        """``likert_matrix`` for radio rows with numbered choices; ``items`` for what a likert matrix cannot hold."""
        kinds = {row.kind for row in rows}
        if kinds != {"radio"}:
            return "items"
        codes = [_code(part.partition(",")[0]) for part in rows[0].cells.get("choices", "").split("|")]
        return "likert_matrix" if codes and all(isinstance(c, int) for c in codes) else "items"

    def matrix(self, rows: list[Row], header: str) -> list[dict[str, Any]]:
        """A matrix group: a likert matrix of radio rows with numbered choices, else one item per row."""
        first = rows[0]
        group = first.get("matrix_group")
        for row in rows:
            row.get("matrix_group")
            if row.get("matrix_ranking").lower() in ("y", "yes", "1"):
                self.problems.add(
                    row.number,
                    f"matrix group {group!r} has 'Matrix Ranking?' = y (each column chosen in one row only), "
                    "which Elicit cannot check: clear it to import the matrix without it",
                )
                break
        if any(row.kind not in ("radio", "checkbox") for row in rows):
            bad = next(row for row in rows if row.kind not in ("radio", "checkbox"))
            self.problems.add(
                bad.number,
                f"field {bad.name!r} of matrix group {group!r} is {bad.kind!r}: matrix fields are radio or checkbox",
            )
            return []
        reference = _choice_text(first.cells.get("choices", ""))
        for row in rows[1:]:
            if _choice_text(row.cells.get("choices", "")) != reference:
                self.problems.add(
                    row.number,
                    f"field {row.name!r} has other choices than the first field of matrix group {group!r}: the "
                    "rows of a matrix share their choices",
                )
            if row.cells.get("section", "").strip():
                self.problems.add(
                    row.number,
                    f"field {row.name!r} has a section header inside matrix group {group!r}: only its first field may",
                )
        if self.matrix_kind(rows) != "likert_matrix":
            what = "checkboxes" if rows[0].kind == "checkbox" else "radio buttons without numbered choices"
            self.mapped.append(
                f"matrix group {group!r} of {what} -> {len(rows)} separate items (a likert matrix has numbered choices, one per row)"
            )
            return [item for row in rows if (item := self.item(row)) is not None]
        choices = self.choices(first)
        ident = self.fresh(group, "matrix")
        if ident != group:
            self.mapped.append(
                f"matrix group {group!r} -> id {ident!r} (ids are unique across the instrument)"
            )
        if not header:
            header = _readable(group)
            self.lose(
                first,
                f"matrix group {group!r} has no header (section header): its text is its name, {header!r}",
            )
        matrix_rows: list[dict[str, Any]] = []
        for row in rows:
            row.get("choices")  # the same as the first row's (checked above)
            entry = self.common(row, {"id": self.ids(row.name)})
            matrix_rows.append(entry)
            self.known[row.name] = Known(self.ids(row.name), "choice", tuple(choices or ()), "radio")
            self.leftovers(row, "matrix row")
        self.mapped.append(f"matrix group {group!r} -> likert_matrix {ident!r} with {len(rows)} rows")
        if choices is None:
            return []
        return [
            {
                "id": ident,
                "type": "likert_matrix",
                "text": header,
                "choices": dict(choices_pairs(first, choices, self)),
                "rows": matrix_rows,
            }
        ]

    # -- one field ---------------------------------------------------------------------------------------
    def item(self, row: Row) -> dict[str, Any] | None:
        kind = row.kind
        ident = self.ids(row.name)
        if kind in REFUSED_TYPES:
            self.problems.add(row.number, f"field {row.name!r} {REFUSED_TYPES[kind]}")
            self.known[row.name] = Known(ident, "refused", redcap_type=kind)
            return None
        if kind not in KNOWN_TYPES:
            expected = ", ".join(sorted(KNOWN_TYPES - {"select"}))
            self.problems.add(
                row.number,
                f"field {row.name!r} has unknown field type {kind!r} (REDCap's types are: {expected})",
            )
            self.known[row.name] = Known(ident, "refused", redcap_type=kind)
            return None
        annotation = row.cells.get("annotation", "")
        for tag in COMPUTING_TAGS:
            if re.search(re.escape(tag) + r"\b", annotation):
                self.problems.add(
                    row.number,
                    f"field {row.name!r} is computed by {tag}: a computed value is not a question (delete the row)",
                )
                self.known[row.name] = Known(ident, "refused", redcap_type=kind)
                return None
        handler = {
            "text": self.text_field,
            "notes": self.notes_field,
            "radio": self.choice_field,
            "dropdown": self.choice_field,
            "select": self.choice_field,
            "checkbox": self.choice_field,
            "yesno": self.fixed_field,
            "truefalse": self.fixed_field,
            "slider": self.slider_field,
            "descriptive": self.descriptive_field,
        }[kind]
        item = handler(row, ident)
        if item is None:
            return None
        self.leftovers(row, kind)
        validation = row.cells.get("validation", "").strip()
        redcap = f"text ({validation})" if kind == "text" and validation else kind
        self.mapped.append(f"{redcap} {row.name!r} -> {item['type']} {item['id']!r}")
        return item

    def common(self, row: Row, item: dict[str, Any], question: bool = True) -> dict[str, Any]:
        """The keys every question has: text, help, required, relevant, privacy (and action tags' notes)."""
        label = self.text(row, "label", "label")
        if not label:
            self.problems.add(row.number, f"field {row.name!r} has no 'Field Label'")
        item["text"] = label
        if question:
            note = self.text(row, "note", "field note")
            if note:
                item["help"] = note
            if row.get("required").lower() in ("y", "yes", "1"):
                item["required"] = True
            if row.get("identifier").lower() in ("y", "yes", "1"):
                item["privacy"] = "direct_identifier"
                self.mapped.append(f"'Identifier?' of {row.name!r} -> privacy: direct_identifier")
        relevant = self.branching(row)
        if relevant:
            item["relevant"] = relevant
        self.annotation(row, item)
        return item

    def text_field(self, row: Row, ident: str) -> dict[str, Any] | None:
        validation = row.get("validation").lower()
        item: dict[str, Any] = {"id": ident}
        if validation in INTEGER_VALIDATIONS or validation in NUMBER_VALIDATIONS:
            integer = validation in INTEGER_VALIDATIONS
            item["type"] = "integer" if integer else "decimal"
            self.common(row, item)
            self.bounds(row, item, integer)
            units = row.get("units")
            if units:
                item["unit"] = units
            if validation not in ("integer", "int", "number", "float"):
                self.lose(
                    row,
                    f"validation {validation!r} of {row.name!r}: Elicit takes any decimal (with a point), not a fixed "
                    "number of decimal places or a decimal comma",
                )
            self.known[row.name] = Known(ident, "number", redcap_type="text")
            return item
        if validation in DATE_VALIDATIONS:
            item["type"] = "date"
            self.common(row, item)
            for key in ("min", "max"):
                raw = row.get(key)
                if raw:
                    bound = _date_bound(raw, DATE_VALIDATIONS[validation])
                    if bound is None:
                        self.problems.add(
                            row.number,
                            f"'Text Validation {key.title()}' {raw!r} of {row.name!r} is not a date such as 2020-01-31 (or today)",
                        )
                    else:
                        item[key] = bound
            if validation not in ("date_ymd", "date"):
                self.lose(
                    row,
                    f"validation {validation!r} of {row.name!r}: dates are entered with the browser's date picker, stored as YYYY-MM-DD",
                )
            self.known[row.name] = Known(ident, "date", redcap_type="text")
            return item
        item["type"] = "text"
        self.common(row, item)
        if validation:
            what = TEXT_VALIDATIONS.get(validation)
            detail = f"that the answer is {what}" if what else f"REDCap's validation {validation!r}"
            self.lose(
                row,
                f"validation {validation!r} of {row.name!r}: Elicit does not check {detail}; the answer is free text",
            )
            for key in ("min", "max"):
                if row.get(key):
                    self.lose(
                        row,
                        f"'Text Validation {key.title()}' of {row.name!r} belongs to its validation and is not checked",
                    )
        self.known[row.name] = Known(ident, "text", redcap_type="text")
        return item

    def notes_field(self, row: Row, ident: str) -> dict[str, Any]:
        item: dict[str, Any] = {"id": ident, "type": "text"}
        self.common(row, item)
        item["multiline"] = True
        self.known[row.name] = Known(ident, "text", redcap_type="notes")
        return item

    def choice_field(self, row: Row, ident: str) -> dict[str, Any] | None:
        kind = row.kind
        elicit = {
            "radio": "single_choice",
            "dropdown": "dropdown",
            "select": "dropdown",
            "checkbox": "multiple_choice",
        }[kind]
        item: dict[str, Any] = {"id": ident, "type": elicit}
        self.common(row, item)
        choices = self.choices(row)
        if choices is None:
            self.known[row.name] = Known(ident, "refused", redcap_type=kind)
            return None
        item["choices"] = dict(choices_pairs(row, choices, self))
        self.known[row.name] = Known(
            ident, "checkbox" if kind == "checkbox" else "choice", tuple(choices), kind
        )
        return item

    def fixed_field(self, row: Row, ident: str) -> dict[str, Any]:
        pairs = YES_NO if row.kind == "yesno" else TRUE_FALSE
        item: dict[str, Any] = {"id": ident, "type": "single_choice"}
        self.common(row, item)
        item["choices"] = dict(pairs)
        if row.get("choices"):
            self.lose(
                row,
                f"the choices of {row.kind} field {row.name!r} are fixed ({pairs[0][0]} {pairs[0][1]}, {pairs[1][0]} {pairs[1][1]}); the column is ignored",
            )
        self.known[row.name] = Known(ident, "choice", (1, 0), row.kind)
        return item

    def slider_field(self, row: Row, ident: str) -> dict[str, Any]:
        item: dict[str, Any] = {"id": ident, "type": "slider"}
        self.common(row, item)
        self.bounds(row, item, integer=False)
        item.setdefault("min", 0)
        item.setdefault("max", 100)
        if item["min"] >= item["max"]:
            self.problems.add(
                row.number,
                f"slider {row.name!r} needs a 'Text Validation Min' below its 'Text Validation Max'",
            )
        labels = [plain_text(part)[0] for part in row.get("choices").split("|")] if row.get("choices") else []
        if len(labels) > 3:
            self.lose(
                row,
                f"slider {row.name!r} has more than three labels (left | middle | right); the others are not shown",
            )
        if labels and labels[0]:
            item["min_label"] = labels[0]
        if len(labels) > 1 and labels[1]:
            self.lose(
                row,
                f"the middle label {labels[1]!r} of slider {row.name!r}: Elicit's slider labels its two ends only",
            )
        if len(labels) > 2 and labels[2]:
            item["max_label"] = labels[2]
        shown = row.get("validation").lower()
        if shown and shown != "number":
            self.lose(
                row,
                f"'Show Slider Number' {shown!r} of {row.name!r} is not 'number'; Elicit always shows a number box beside the slider",
            )
        self.known[row.name] = Known(ident, "number", redcap_type="slider")
        return item

    def descriptive_field(self, row: Row, ident: str) -> dict[str, Any]:
        item: dict[str, Any] = {"id": ident, "type": "note"}
        self.common(row, item, question=False)
        self.known[row.name] = Known(ident, "none", redcap_type="descriptive")
        return item

    def bounds(self, row: Row, item: dict[str, Any], integer: bool) -> None:
        for key in ("min", "max"):
            raw = row.get(key)
            if not raw:
                continue
            value = _number(raw)
            if value is None or (integer and not float(value).is_integer()):
                what = "a whole number" if integer else "a number"
                self.problems.add(
                    row.number, f"'Text Validation {key.title()}' {raw!r} of {row.name!r} must be {what}"
                )
            else:
                item[key] = int(value) if integer else value
        if "min" in item and "max" in item and item["min"] >= item["max"] and item["type"] != "slider":
            self.problems.add(
                row.number, f"'Text Validation Min' of {row.name!r} must be below its 'Text Validation Max'"
            )

    def choices(self, row: Row) -> list[int | str] | None:
        """The codes of a field's choices ("1, Yes | 2, No"); every fault is a problem with the row."""
        raw = row.get("choices")
        if not raw:
            self.problems.add(
                row.number, f"{row.kind} field {row.name!r} needs choices such as '1, Yes | 2, No'"
            )
            return None
        codes: list[int | str] = []
        good = True
        for part in raw.split("|"):
            if not part.strip():
                continue
            text, comma, label = part.partition(",")
            code = _code(text)
            if not comma:
                self.problems.add(
                    row.number,
                    f"choice {part.strip()!r} of {row.name!r} needs a code and a label, such as '1, Yes'",
                )
                good = False
            elif code is None:
                self.problems.add(
                    row.number,
                    f"choice code {text.strip()!r} of {row.name!r} must be a number or letters, digits and _",
                )
                good = False
            elif code in codes:
                self.problems.add(row.number, f"choice code {text.strip()!r} of {row.name!r} appears twice")
                good = False
            elif not plain_text(label)[0]:
                self.problems.add(row.number, f"choice {text.strip()!r} of {row.name!r} has no label")
                good = False
            else:
                codes.append(code)
        if good and not codes:
            self.problems.add(
                row.number, f"{row.kind} field {row.name!r} needs choices such as '1, Yes | 2, No'"
            )
        return codes if good and codes else None

    def annotation(self, row: Row, item: dict[str, Any]) -> None:
        """Action tags: ``@CHARLIMIT`` becomes ``max_length``; every other tag and any remaining text is lost."""
        raw = row.get("annotation")
        if not raw:
            return
        rest = raw
        for match in ACTION_TAG_RE.finditer(raw):
            tag = match.group(0)
            rest = rest.replace(tag, " ", 1)
            charlimit = re.fullmatch(r"@CHARLIMIT\s*=\s*['\"]?(\d+)['\"]?", tag)
            if charlimit and item.get("type") == "text" and 1 <= int(charlimit.group(1)) <= 20000:
                item["max_length"] = int(charlimit.group(1))
                self.mapped.append(f"{tag} of {row.name!r} -> max_length: {charlimit.group(1)}")
                continue
            self.lose(row, f"action tag {tag} of {row.name!r} is a REDCap behaviour Elicit does not have")
        rest = " ".join(rest.split())
        if rest:
            self.lose(row, f"the field annotation of {row.name!r} ({rest!r}) is kept only in REDCap")

    def leftovers(self, row: Row, kind: str) -> None:
        """Cells no mapping read, reported as lost (nothing is dropped silently)."""
        notes = {
            "alignment": "custom alignment (layout of the choices)",
            "question_number": "survey question number",
        }
        for key, value in row.cells.items():
            if key in row.used or not value.strip():
                continue
            what = notes.get(key, f"{COLUMNS.get(key, key)!r}")
            self.lose(row, f"{what} {value.strip()!r} of {kind} field {row.name!r} is not used")

    # -- branching logic ---------------------------------------------------------------------------------
    def branching(self, row: Row) -> str | None:
        source = row.get("branching")
        if not source:
            return None
        try:
            tree = _LogicParser(source).parse()
            translated = _Translator(self.known).boolean(tree)
            parse(translated)
        except _LogicError as exc:
            self.problems.add(
                row.number, f"branching logic of {row.name!r} cannot be translated: {exc} (in: {source})"
            )
            return None
        except ExpressionError as exc:  # a translation this module got wrong: say so rather than crash
            self.problems.add(
                row.number, f"branching logic of {row.name!r} could not be translated ({exc}) (in: {source})"
            )
            return None
        self.mapped.append(f"branching logic of {row.name!r} translated to: {translated}")
        return translated


def choices_pairs(row: Row, codes: Sequence[int | str], reader: _Reader) -> Iterator[tuple[int | str, str]]:
    """The (code, label) pairs of a field's choices, labels without HTML."""
    labels = []
    for part in row.cells.get("choices", "").split("|"):
        if part.strip():
            labels.append(part.partition(",")[2])
    marked = False
    for code, label in zip(codes, labels, strict=False):
        text, had = plain_text(label)
        marked = marked or had
        yield code, text
    if marked:
        reader.lose(row, f"HTML markup removed from the choices of {row.name!r} (kept as plain text)")


def _choice_text(raw: str) -> list[tuple[str, str]]:
    pairs = (part.partition(",") for part in raw.split("|") if part.strip())
    return [(code.strip(), label.strip()) for code, _, label in pairs]


def _code(text: str) -> int | str | None:
    """A REDCap choice code as Elicit holds it: an int only when written as one (``01`` stays text)."""
    code = choice_code(text)
    if isinstance(code, int) and str(code) != text.strip():
        return text.strip()
    return code


def _number(text: str) -> int | float | None:
    if re.fullmatch(r"-?\d+", text.strip()):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+)", text.strip()):
        return float(text)
    return None


def _date_bound(text: str, order: str) -> str | None:
    """A date bound as Elicit writes it (ISO, or ``today``; REDCap's ``now`` is today too)."""
    value = text.strip().lower()
    if value in ("today", "now"):
        return "today"
    match = re.fullmatch(r"(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})", value)
    if not match:
        return None
    a, b, c = (int(part) for part in match.groups())
    if len(match.group(1)) == 4:
        year, month, day = a, b, c
    elif order == "mdy":
        month, day, year = a, b, c
    else:
        day, month, year = a, b, c
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


# -- REDCap's branching logic --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    kind: str  # field, string, number, op, word, end
    text: str
    name: str = ""
    code: str | None = None


@dataclass(frozen=True)
class _Node:
    kind: str  # field, literal, compare, and, or, arith, negate, group
    text: str = ""
    name: str = ""
    code: str | None = None
    quoted: bool = False
    children: tuple[_Node, ...] = ()
    operators: tuple[str, ...] = ()


def _tokens(source: str) -> list[_Tok]:
    """REDCap's logic as tokens: ``[field]``, ``[field(code)]``, quoted values, numbers, operators, and/or."""
    tokens: list[_Tok] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch == "[":
            end = source.find("]", i)
            if end < 0:
                raise _LogicError(f"'[' at column {i + 1} is not closed")
            inner = source[i + 1 : end].strip()
            after = source[end + 1 :].lstrip()
            if after.startswith("["):
                raise _LogicError(
                    f"[{inner}][...] names an event or an instance of a longitudinal or repeating project, which "
                    "Elicit does not have"
                )
            plain = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)", inner)
            checkbox = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)\(\s*(-?[A-Za-z0-9_]+)\s*\)", inner)
            if plain:
                tokens.append(_Tok("field", source[i : end + 1], plain.group(1)))
            elif checkbox:
                tokens.append(_Tok("field", source[i : end + 1], checkbox.group(1), checkbox.group(2)))
            elif ":" in inner or "-" in inner:
                raise _LogicError(
                    f"[{inner}] is a smart variable or a piping option, which Elicit does not have"
                )
            else:
                raise _LogicError(f"[{inner}] is not a field name")
            i = end + 1
        elif ch in "'\"":
            end = source.find(ch, i + 1)
            if end < 0:
                raise _LogicError(f"the quote at column {i + 1} is not closed")
            tokens.append(_Tok("string", source[i + 1 : end]))
            i = end + 1
        elif ch.isdigit() or (ch == "." and i + 1 < n and source[i + 1].isdigit()):
            match = re.match(r"\d*\.?\d+|\d+\.", source[i:])
            assert match is not None  # nosec B101  # narrows the type: the value was checked just before
            tokens.append(_Tok("number", match.group(0)))
            i += len(match.group(0))
        elif ch.isalpha() or ch == "_":
            match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", source[i:])
            assert match is not None  # nosec B101  # narrows the type: the value was checked just before
            word = match.group(0)
            i += len(word)
            if word.lower() in ("and", "or"):
                tokens.append(_Tok("op", word.lower()))
            elif source[i:].lstrip().startswith("("):
                raise _LogicError(f"{word}() is a REDCap function, which Elicit's skip logic does not have")
            else:
                raise _LogicError(f"unexpected word {word!r} (values are quoted: '{word}')")
        else:
            two = source[i : i + 2]
            if two in ("<>", "!=", ">=", "<=", "=="):
                tokens.append(_Tok("op", "<>" if two == "!=" else "=" if two == "==" else two))
                i += 2
            elif ch in "=<>+-*/()":
                tokens.append(_Tok("op", ch))
                i += 1
            elif ch == "^":
                raise _LogicError("'^' (a power) is not in Elicit's expression language")
            else:
                raise _LogicError(f"unexpected character {ch!r} at column {i + 1}")
    tokens.append(_Tok("end", ""))
    return tokens


class _LogicParser:
    """Recursive descent over REDCap's logic: or, and, one comparison, + -, * /, unary -, values, parentheses."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Tok:
        return self.tokens[self.index]

    def take(self) -> _Tok:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def parse(self) -> _Node:
        if self.token.kind == "end":
            raise _LogicError("it is empty")
        node = self.or_expr()
        if self.token.kind != "end":
            raise _LogicError(f"unexpected {self.token.text or self.token.kind!r}")
        return node

    def or_expr(self) -> _Node:
        parts = [self.and_expr()]
        while self.at("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _Node("or", children=tuple(parts))

    def and_expr(self) -> _Node:
        parts = [self.comparison()]
        while self.at("and"):
            self.take()
            parts.append(self.comparison())
        return parts[0] if len(parts) == 1 else _Node("and", children=tuple(parts))

    def comparison(self) -> _Node:
        left = self.additive()
        if self.at("=", "<>", "<", "<=", ">", ">="):
            operator = self.take().text
            right = self.additive()
            if self.at("=", "<>", "<", "<=", ">", ">="):
                raise _LogicError("comparisons cannot be chained; join them with 'and'")
            return _Node("compare", operator, children=(left, right))
        return left

    def additive(self) -> _Node:
        return self.chain(("+", "-"), self.term)

    def term(self) -> _Node:
        return self.chain(("*", "/"), self.unary)

    def chain(self, operators: tuple[str, ...], operand: Any) -> _Node:
        first = operand()
        rest: list[_Node] = [first]
        ops: list[str] = []
        while self.at(*operators):
            ops.append(self.take().text)
            rest.append(operand())
        return first if not ops else _Node("arith", children=tuple(rest), operators=tuple(ops))

    def unary(self) -> _Node:
        if self.at("-"):
            self.take()
            return _Node("negate", children=(self.unary(),))
        return self.primary()

    def primary(self) -> _Node:
        token = self.take()
        if token.kind == "field":
            return _Node("field", token.text, token.name, token.code)
        if token.kind == "string":
            return _Node("literal", token.text, quoted=True)
        if token.kind == "number":
            return _Node("literal", token.text)
        if token.kind == "op" and token.text == "(":
            self.depth += 1
            if self.depth > 40:
                raise _LogicError("parentheses are nested too deeply")
            node = self.or_expr()
            if not self.at(")"):
                raise _LogicError("a '(' is not closed")
            self.take()
            self.depth -= 1
            return _Node("group", children=(node,))
        if token.kind == "end":
            raise _LogicError("it ends where a field or a value should follow")
        raise _LogicError(f"{token.text!r} where a field or a value should be")


class _Translator:
    """REDCap logic (a :class:`_Node` tree) as an Elicit expression, given the fields read so far."""

    OPERATORS = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

    def __init__(self, known: dict[str, Known]) -> None:
        self.known = known

    def field(self, node: _Node) -> Known:
        known = self.known.get(node.name)
        if known is None:
            raise _LogicError(
                f"{node.text} is not a field above this one (skip logic may name only earlier fields)"
            )
        if known.kind == "refused":
            raise _LogicError(f"{node.text} is a {known.redcap_type} field, which is not imported")
        if known.kind == "none":
            raise _LogicError(f"{node.text} is a descriptive field, which has no answer")
        return known

    def boolean(self, node: _Node) -> str:
        if node.kind == "group":
            inner = node.children[0]
            text = self.boolean(inner)
            return f"({text})" if inner.kind in ("or", "and") else text
        if node.kind in ("or", "and"):
            return f" {node.kind} ".join(self.boolean(child) for child in node.children)
        if node.kind == "compare":
            return self.compare(node)
        raise _LogicError(f"{_show(node)} is not a condition (compare it, e.g. {_show(node)} = '1')")

    def compare(self, node: _Node) -> str:
        left, right = node.children
        operator = node.text
        if _literal(left) is not None and _literal(right) is None:
            left, right = right, left
            operator = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(operator, operator)
        if left.kind == "field" and left.code is not None:
            return self.checkbox(left, operator, right)
        if right.kind == "field" and right.code is not None:
            raise _LogicError(f"{right.text} is a checkbox option: compare it with '1' or '0'")
        literal = _literal(right)
        if left.kind == "field" and literal is not None:
            return self.with_value(left, operator, right, literal)
        if _literal(left) is not None:
            raise _LogicError(f"{_show(node)} compares two values, not a field")
        return f"{self.value(left)} {self.OPERATORS[operator]} {self.value(right)}"

    def checkbox(self, node: _Node, operator: str, other: _Node) -> str:
        known = self.field(node)
        if known.kind != "checkbox":
            raise _LogicError(
                f"{node.text}: {node.name!r} is not a checkbox field, so it has no options in ()"
            )
        code = _code(node.code or "")
        if code not in known.codes:
            codes = ", ".join(str(c) for c in known.codes)
            raise _LogicError(
                f"{node.text}: {node.code!r} is not one of the choices of {node.name!r} ({codes})"
            )
        value = _literal(other)
        if operator not in ("=", "<>") or value not in ("0", "1"):
            raise _LogicError(
                f"a checkbox option such as {node.text} is compared with = or <> and '1' or '0'"
            )
        checked = (value == "1") == (operator == "=")
        call = f"selected({known.ident}, {_elicit_literal(code)})"
        return call if checked else f"not {call}"

    def with_value(self, node: _Node, operator: str, other: _Node, value: str) -> str:
        known = self.field(node)
        ident = known.ident
        if known.kind == "checkbox":
            raise _LogicError(
                f"{node.text} is a checkbox field: name one option, e.g. [{node.name}(1)] = '1'"
            )
        if value == "" and other.quoted:
            if operator == "=":
                return f"not answered({ident})"
            if operator == "<>":
                return f"answered({ident})"
            raise _LogicError(f"{node.text} {operator} '' orders against an empty value")
        number = _number(value)
        if known.kind == "number":
            if number is None:
                raise _LogicError(f"{node.text} is a number field, compared with the text {value!r}")
            literal = _elicit_number(number)
        elif known.kind == "choice":
            code = _code(value)
            if operator in ("=", "<>"):
                if code not in known.codes:
                    codes = ", ".join(str(c) for c in known.codes)
                    raise _LogicError(f"{value!r} is not one of the choices of {node.name!r} ({codes})")
            elif not isinstance(code, int):
                raise _LogicError(f"{node.text} {operator} {value!r} orders choices that are not numbers")
            literal = _elicit_literal(code if code is not None else value)
        elif known.kind == "date":
            if number is not None and not other.quoted:
                raise _LogicError(f"{node.text} is a date field, compared with the number {value}")
            literal = _elicit_literal(value)
        else:
            literal = _elicit_literal(value)
        return f"{ident} {self.OPERATORS[operator]} {literal}"

    def value(self, node: _Node) -> str:
        if node.kind == "field":
            known = self.field(node)
            if known.kind not in ("number", "choice"):
                raise _LogicError(f"{node.text} is a {known.redcap_type} field and cannot be computed with")
            if known.kind == "choice" and not all(isinstance(c, int) for c in known.codes):
                raise _LogicError(f"{node.text} has choices that are not numbers and cannot be computed with")
            return known.ident
        literal = _literal(node)
        if literal is not None:
            number = _number(literal)
            if number is None:
                raise _LogicError(f"the text '{literal}' cannot be computed with")
            return _elicit_number(number)
        if node.kind == "negate":
            return f"-{self.value(node.children[0])}"
        if node.kind == "arith":
            parts = [self.value(node.children[0])]
            for operator, child in zip(node.operators, node.children[1:], strict=True):
                parts.append(f"{operator} {self.value(child)}")
            return " ".join(parts)
        if node.kind == "group":
            inner = node.children[0]
            if inner.kind in ("or", "and", "compare"):
                raise _LogicError("a condition in parentheses is used as a value")
            return f"({self.value(inner)})"
        raise _LogicError(f"{_show(node)} is a condition where a value should be")


def _literal(node: _Node) -> str | None:
    """The text of a literal (a quoted value, a number, or a negative number), or None."""
    if node.kind == "literal":
        return node.text
    if node.kind == "negate" and node.children[0].kind == "literal" and not node.children[0].quoted:
        return f"-{node.children[0].text}"
    return None


def _show(node: _Node) -> str:
    if node.kind == "field":
        return node.text
    if node.kind == "literal":
        return f"'{node.text}'" if node.quoted else node.text
    return "this part"


def _elicit_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _elicit_literal(value: int | str) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- writing ---------------------------------------------------------------------------------------------------
COMPOSITE = {"ranking", "constant_sum", "quantiles", "four_point", "roulette", "probabilities"}
CONFIDENCE_CHOICES = "1, 1 - not at all | 2, 2 | 3, 3 | 4, 4 | 5, 5 - very"


class _Untranslatable(Exception):
    """An Elicit expression REDCap's branching logic cannot say."""


@dataclass
class _Target:
    """How an Elicit item is held in REDCap: its kind and the field names written for it."""

    kind: str  # single, multi, number, text, date, composite, none
    codes: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()


def write(definition: Definition) -> bytes:
    """The instrument as a REDCap data dictionary CSV (UTF-8 with a byte-order mark, which Excel needs)."""
    return write_with_warnings(definition)[0]


def write_with_warnings(definition: Definition) -> tuple[bytes, list[str]]:
    """The dictionary and what it could not hold as Elicit does (one sentence each)."""
    writer = _Writer(definition)
    rows = writer.rows()
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\r\n")
    table.writerow(COLUMNS.values())
    for row in rows:
        table.writerow([row.get(key, "") for key in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8"), writer.warnings


class _Writer:
    """One instrument's dictionary: the rows, the field names taken, and what REDCap could not hold."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.language = definition.languages[0]
        self.form = safe_identifier(definition.id.replace("-", "_"), "form")
        self.warnings: list[str] = []
        self.names: set[str] = set()
        self.targets: dict[str, _Target] = {}
        self.page_notes: list[str] = []  # what the current page's condition could not say, for each field

    def t(self, text: Any) -> str:
        """A text in the default language, the only one a dictionary holds."""
        return text_in(text, self.language) if text else ""

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def name(self, wanted: str) -> str:
        """A unique REDCap field name (lowercase letters, digits, _), warned about when over REDCap's 26."""
        name = safe_identifier(wanted.lower(), "f")
        base, n = name, 2
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        if len(name) > 26:
            self.warn(f"field name {name!r} is longer than the 26 characters REDCap recommends")
        return name

    def rows(self) -> list[dict[str, str]]:
        definition = self.definition
        others = definition.languages[1:]
        if others:
            self.warn(
                f"REDCap holds one language: only {self.language} is written; {', '.join(others)} are not "
                "(REDCap's Multi-Language Management adds translations in the project)"
            )
        if definition.description:
            self.warn(
                "the description is not written: a data dictionary has no place for it (use the survey's instructions)"
            )
        if definition.scales:
            self.warn(
                f"scales ({', '.join(definition.scales)}) are not written: a data dictionary has no scales"
            )
        if definition.hypotheses:
            self.warn("the declared hypotheses are not written: a data dictionary has no place for them")
        if definition.practice is not None:
            self.warn("the practice page is not written: REDCap has no calibration training")
        for item in _members(definition):
            self.names.add(item.id)
            if len(item.id) > 26:
                self.warn(f"field name {item.id!r} is longer than the 26 characters REDCap recommends")
        record = self.name("record_id")
        self.plan()
        rows = [{"name": record, "form": self.form, "type": "text", "label": "Record ID"}]
        for index, page in enumerate(definition.pages):
            rows.extend(self.page(page, index))
        return rows

    def plan(self) -> None:
        """What each item is in REDCap, before any logic is written (logic may name any earlier item)."""
        for page in self.definition.pages:
            for item in page.items:
                for member in item.rows or (item,):
                    self.targets[member.id] = self.target(member)

    def target(self, item: Item) -> _Target:
        kind = item.type
        if kind in ("single_choice", "likert", "dropdown", "consent"):
            return _Target("single", tuple(c.key for c in item.choices), (item.id,))
        if kind == "multiple_choice":
            return _Target("multi", tuple(c.key for c in item.choices), (item.id,))
        if kind in ("integer", "decimal", "slider"):
            return _Target("number", (), (item.id,))
        if kind == "date":
            return _Target("date", (), (item.id,))
        if kind == "text":
            return _Target("text", (), (item.id,))
        if kind in COMPOSITE:
            return _Target("composite", (), tuple(self.name(f"{item.id}_{part}") for part in item.parts))
        return _Target("none")

    def page(self, page: Page, index: int) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        title = self.t(page.title)
        header: str | None = title
        starts_with_matrix = not page.intro and bool(page.items[0].rows)
        if not title and index > 0 and not starts_with_matrix:
            header = _readable(page.id)
            self.warn(
                f"page {page.id!r} has no title: its section header (which starts it in REDCap) is {header!r}"
            )
        page_logic: str | None = None
        self.page_notes = []
        if page.relevant is not None:
            page_logic = self.logic(page.relevant.source, f"page {page.id!r}")
            if page_logic is None:
                self.page_notes = [f"Elicit shows this page only if: {page.relevant.source}"]
            else:
                self.warn(
                    f"page {page.id!r} is shown only if {page.relevant.source}: REDCap has no logic for a section, "
                    "so every field on it carries that condition"
                )
        if page.intro:
            name = self.name(f"{page.id}_intro")
            rows.append(self.field(name, "descriptive", self.t(page.intro), header=header, logic=page_logic))
            header = None
        for item in page.items:
            if item.rows:
                rows.extend(self.matrix(item, page, header, page_logic))
            else:
                rows.extend(self.item(item, header, page_logic))
            header = None
        return rows

    def field(
        self,
        name: str,
        kind: str,
        label: str,
        *,
        header: str | None = None,
        logic: str | None = None,
        **cells: str,
    ) -> dict[str, str]:
        row = {"name": name, "form": self.form, "type": kind, "label": label, **cells}
        if header:
            row["section"] = header
        if logic:
            row["branching"] = logic
        return row

    def combined(self, page_logic: str | None, item: Item) -> tuple[str | None, list[str]]:
        """The field's branching logic (the page's condition and the item's), and annotation notes."""
        notes = list(self.page_notes)
        logic = None
        if item.relevant is not None:
            logic = self.logic(item.relevant.source, f"item {item.id!r}")
            if logic is None:
                notes.append(f"Elicit shows this only if: {item.relevant.source}")
        if page_logic and logic:
            return f"{_wrap(page_logic)} and {_wrap(logic)}", notes
        return page_logic or logic, notes

    def common(self, item: Item, row: dict[str, str], notes: list[str]) -> None:
        """Field note, required, identifier and what else the item says (as annotation notes and warnings)."""
        help_text = self.t(item.help)
        unit = self.t(item.unit)
        if unit:
            help_text = f"{help_text} ({unit})" if help_text else unit
            self.warn(f"the unit of {item.id!r} is written in its field note")
        if help_text:
            row["note"] = help_text
        if item.required:
            row["required"] = "y"
        if item.privacy.kind == "direct_identifier":
            row["identifier"] = "y"
        elif item.privacy.kind != "none":
            notes.append(f"Elicit privacy: {item.privacy.kind}")
            self.warn(
                f"privacy {item.privacy.kind!r} of {item.id!r} is noted in its annotation: REDCap marks only identifiers"
            )
        if item.constraint is not None:
            notes.append(f"Elicit accepts an answer only if: {item.constraint.source}")
            self.warn(
                f"the constraint of {item.id!r} ({item.constraint.source}) is not checked by REDCap: noted in its annotation"
            )
        if item.dont_know:
            notes.append("Elicit offers don't know")
            self.warn(f"{item.id!r} offers 'don't know': in REDCap, use the project's missing data codes")
        if notes:
            row["annotation"] = " ".join(filter(None, [row.get("annotation", ""), "; ".join(notes)]))

    def item(self, item: Item, header: str | None, page_logic: str | None) -> list[dict[str, str]]:
        logic, notes = self.combined(page_logic, item)
        text = self.t(item.text)
        kind = item.type
        rows: list[dict[str, str]]
        if kind in ("single_choice", "likert", "dropdown", "consent"):
            row = self.field(
                item.id, "dropdown" if kind == "dropdown" else "radio", text, header=header, logic=logic
            )
            pairs = tuple((c.code, self.t(c.label)) for c in item.choices)
            if kind != "dropdown" and pairs in (YES_NO, TRUE_FALSE):
                row["type"] = "yesno" if pairs == YES_NO else "truefalse"
            else:
                row["choices"] = self.choices(item)
            if kind == "consent":
                self.warn(
                    f"consent {item.id!r} is a radio field: REDCap does not end the survey on 'no' (use a survey stop action)"
                )
            rows = [row]
        elif kind == "multiple_choice":
            row = self.field(
                item.id, "checkbox", text, header=header, logic=logic, choices=self.choices(item)
            )
            if item.min_selected or item.max_selected:
                notes.append(
                    f"Elicit asks for {item.min_selected or 0} to {item.max_selected or len(item.choices)} choices"
                )
                self.warn(
                    f"the number of choices {item.id!r} allows is not checked by REDCap: noted in its annotation"
                )
            rows = [row]
        elif kind in ("integer", "decimal"):
            row = self.field(item.id, "text", text, header=header, logic=logic)
            row["validation"] = "integer" if kind == "integer" else "number"
            row.update(self.bounds(item.min, item.max))
            rows = [row]
        elif kind == "text":
            row = self.field(item.id, "notes" if item.multiline else "text", text, header=header, logic=logic)
            if item.max_length != DEFAULT_TEXT_LENGTH:
                row["annotation"] = f"@CHARLIMIT={item.max_length}"
            rows = [row]
        elif kind == "date":
            row = self.field(item.id, "text", text, header=header, logic=logic, validation="date_ymd")
            for key in ("min", "max"):
                bound = item.option(key)
                if bound:
                    row[key] = str(bound)
            rows = [row]
        elif kind == "slider":
            rows = [self.slider(item, text, header, logic)]
        elif kind == "note":
            rows = [self.field(item.id, "descriptive", text, header=header, logic=logic)]
        elif kind in COMPOSITE:
            return self.composite(item, text, header, logic, notes)
        else:
            self.warn(
                f"item {item.id!r} of type {kind!r} has no REDCap equivalent and is written as a descriptive field"
            )
            rows = [self.field(item.id, "descriptive", text, header=header, logic=logic)]
        self.common(item, rows[0], notes)
        if item.confidence:
            rows.append(self.confidence(item, logic))
        return rows

    def slider(self, item: Item, text: str, header: str | None, logic: str | None) -> dict[str, str]:
        labels = [self.t(item.option("min_label")), "", self.t(item.option("max_label"))]
        row = self.field(item.id, "slider", text, header=header, logic=logic, validation="number")
        if any(labels):
            row["choices"] = " | ".join(labels).replace("|  |", "| |").strip()
        if (item.min, item.max) != (0, 100):
            row.update(self.bounds(item.min, item.max))
            self.warn(
                f"slider {item.id!r} runs from {_fmt(item.min)} to {_fmt(item.max)}: older REDCap versions ignore "
                "a slider's min and max and use 0 to 100"
            )
        step = item.option("step")
        if step not in (None, 1):
            self.warn(
                f"slider {item.id!r} moves in steps of {_fmt(step)}: REDCap's slider moves in steps of 1"
            )
        return row

    def confidence(self, item: Item, logic: str | None) -> dict[str, str]:
        name = self.name(f"{item.id}_confidence")
        self.warn(f"{item.id!r} asks how confident the expert is: written as a radio field {name!r}")
        return self.field(
            name, "radio", "How confident are you in this answer?", logic=logic, choices=CONFIDENCE_CHOICES
        )

    def composite(
        self, item: Item, text: str, header: str | None, logic: str | None, notes: list[str]
    ) -> list[dict[str, str]]:
        """One number field per part: the nearest honest equivalent of an answer REDCap cannot hold whole."""
        kind = item.type
        fields = self.targets[item.id].fields
        check = _composite_check(item)
        self.warn(
            f"{kind} {item.id!r} is written as {len(fields)} number fields ({', '.join(fields)}): REDCap does not "
            f"check that {check}"
        )
        rows = []
        for index, (part, name) in enumerate(zip(item.parts, fields, strict=True)):
            label = f"{text}: {item.kind.part_label(item, part, self.language)}"
            row = self.field(name, "text", label, header=header if index == 0 else None, logic=logic)
            validation, low, high = _part_range(item, part)
            row["validation"] = validation
            row.update(self.bounds(low, high))
            part_notes = [f"Elicit {kind} {item.id!r}, part {part}: {check}"]
            if index == 0:
                self.common(item, row, [*part_notes, *notes])
            else:
                row["annotation"] = "; ".join(part_notes)
                if item.required:
                    row["required"] = "y"
            rows.append(row)
        if item.confidence:
            rows.append(self.confidence(item, logic))
        return rows

    def matrix(
        self, item: Item, page: Page, header: str | None, page_logic: str | None
    ) -> list[dict[str, str]]:
        """A likert matrix as a REDCap matrix group; its text is the section header of its first row."""
        text = self.t(item.text)
        first_on_page = header is not None
        if first_on_page:
            if header and header != text:
                self.warn(
                    f"page {page.id!r} starts with matrix {item.id!r}: its title {header!r} is not written, since "
                    "REDCap holds one section header there, the matrix's text"
                )
            section: str | None = text
        elif text == _readable(item.id):
            section = None
        else:
            section = text
            self.warn(
                f"matrix {item.id!r}: its text is a section header, which starts a new section in REDCap"
            )
        if item.help:
            self.warn(
                f"the help of matrix {item.id!r} is not written: a REDCap matrix has no text of its own besides its header"
            )
        rows = []
        for index, member in enumerate(item.rows):
            logic, notes = self.combined(page_logic, member)
            row = self.field(
                member.id,
                "radio",
                self.t(member.text),
                header=section if index == 0 else None,
                logic=logic,
                choices=self.choices(item),
                matrix_group=item.id,
            )
            self.common(member, row, notes)
            rows.append(row)
        return rows

    def choices(self, item: Item) -> str:
        parts = []
        for choice in item.choices:
            label = self.t(choice.label)
            clean = " ".join(label.replace("|", "/").split())
            if clean != label:
                self.warn(
                    f"a choice label of {item.id!r} had a '|' or a line break, which REDCap's choices cannot hold"
                )
            parts.append(f"{choice.key}, {clean}")
        return " | ".join(parts)

    def bounds(self, low: float | None, high: float | None) -> dict[str, str]:
        found = {}
        if low is not None:
            found["min"] = _fmt(low)
        if high is not None:
            found["max"] = _fmt(high)
        return found

    # -- expressions -------------------------------------------------------------------------------------
    def logic(self, source: str, owner: str) -> str | None:
        """An Elicit expression as REDCap branching logic, or None (with a warning) when REDCap cannot say it."""
        try:
            text, _ = self.boolean(parse(source)._tree, negate=False)
        except _Untranslatable as exc:
            self.warn(
                f"the condition of {owner} ({source}) cannot be written as REDCap branching logic: {exc}; noted in its annotation"
            )
            return None
        return text

    def boolean(self, node: Any, negate: bool) -> tuple[str, int]:
        """REDCap logic for a condition and its precedence (0: or, 1: and, 2: a single comparison)."""
        name = type(node).__name__
        if name in ("_Or", "_And"):
            is_or = (name == "_Or") != negate
            parts = [self.boolean(child, negate) for child in node.operands]
            if is_or:
                return " or ".join(f"({text})" if level == 1 else text for text, level in parts), 0
            return " and ".join(f"({text})" if level == 0 else text for text, level in parts), 1
        if name == "_Not":
            return self.boolean(node.operand, not negate)
        if name == "_Compare":
            return self.compare(node, negate)
        if name == "_Call":
            return self.call(node, negate)
        raise _Untranslatable(
            "only comparisons, answered() and selected() joined by and/or/not can be written"
        )

    def reference(self, node: Any) -> _Target:
        if type(node).__name__ != "_Reference":
            raise _Untranslatable("a function's first argument must be an item")
        return self.targets.get(node.name, _Target("none"))

    def call(self, node: Any, negate: bool) -> tuple[str, int]:
        target = self.reference(node.arguments[0])
        item = node.arguments[0].name
        if node.function == "answered":
            if target.kind == "multi":
                symbol, join = ("0", " and ") if negate else ("1", " or ")
                return join.join(
                    f"[{item}({code})] = '{symbol}'" for code in target.codes
                ), 1 if negate else 0
            if target.kind == "composite":
                op, join = ("=", " and ") if negate else ("<>", " or ")
                return join.join(f"[{field}] {op} ''" for field in target.fields), 1 if negate else 0
            if target.kind == "none":
                raise _Untranslatable(f"{item!r} has no answer in REDCap")
            return f"[{item}] {'=' if negate else '<>'} ''", 2
        if node.function == "selected":
            code_node = node.arguments[1]
            if type(code_node).__name__ != "_Literal" or code_node.value is None:
                raise _Untranslatable("selected() needs a literal code")
            code = str(code_node.value)
            if target.kind == "multi":
                return f"[{item}({code})] = '{'0' if negate else '1'}'", 2
            if target.kind == "single":
                return f"[{item}] {'<>' if negate else '='} {_quote(code)}", 2
            raise _Untranslatable(f"selected() of {item!r}, which REDCap holds in several fields")
        raise _Untranslatable(f"{node.function}() has no REDCap equivalent")

    NEGATED = {
        "==": "!=",
        "!=": "==",
        "<": ">=",
        "<=": ">",
        ">": "<=",
        ">=": "<",
        "in": "not in",
        "not in": "in",
    }
    REDCAP = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

    def compare(self, node: Any, negate: bool) -> tuple[str, int]:
        operator = self.NEGATED[node.operator] if negate else node.operator
        left, right = node.left, node.right
        if type(left).__name__ == "_Literal" and type(right).__name__ == "_Reference":
            left, right = right, left
            operator = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(operator, operator)
        if operator in ("in", "not in"):
            if type(right).__name__ != "_ListDisplay" or type(left).__name__ != "_Reference":
                raise _Untranslatable("'in' is written only as an item in a list of values")
            op, join = ("=", " or ") if operator == "in" else ("<>", " and ")
            target = self.reference(left)
            parts = [f"{self.value(left)} {op} {self.value(element, target)}" for element in right.items]
            if not parts:
                raise _Untranslatable("'in' an empty list")
            return join.join(parts), 0 if operator == "in" and len(parts) > 1 else 1
        context = self.targets.get(left.name) if type(left).__name__ == "_Reference" else None
        if type(right).__name__ == "_Literal" and right.value is None:
            if operator not in ("==", "!="):
                raise _Untranslatable("null can only be compared with == or !=")
            if context is not None and context.kind == "multi":
                return self.call(_FakeCall("answered", (left,)), operator == "==")
            return f"{self.value(left)} {'=' if operator == '==' else '<>'} ''", 2
        text = f"{self.value(left, None)} {self.REDCAP[operator]} {self.value(right, context)}"
        if negate and node.operator in ("<", "<=", ">", ">="):
            empties = [f"[{n.name}] = ''" for n in (left, right) if type(n).__name__ == "_Reference"]
            if empties:  # Elicit: an unanswered item makes an ordering false, so its negation true
                return " or ".join([*empties, text]), 0
        return text, 2

    def value(self, node: Any, context: _Target | None = None) -> str:
        name = type(node).__name__
        if name == "_Reference":
            target = self.targets.get(node.name, _Target("none"))
            if target.kind in ("multi", "composite", "none"):
                raise _Untranslatable(f"{node.name!r} is held in several fields (or none) in REDCap")
            return f"[{node.name}]"
        if name == "_Literal":
            value = node.value
            if isinstance(value, bool) or value is None:
                raise _Untranslatable("true, false and null have no REDCap equivalent here")
            if isinstance(value, int | float):
                text = _fmt(value)
                return (
                    f"'{text}'"
                    if context is not None and context.kind in ("single", "text", "date")
                    else text
                )
            return _quote(value)
        if name == "_Negate":
            return f"-{self.value(node.operand)}"
        if name == "_Arithmetic":
            parts = [self.operand(node.first)]
            for operator, operand in node.rest:
                if operator == "%":
                    raise _Untranslatable("'%' (remainder) has no REDCap equivalent")
                parts.append(f"{operator} {self.operand(operand)}")
            return " ".join(parts)
        if name == "_Call":
            raise _Untranslatable(f"{node.function}() has no REDCap equivalent")
        raise _Untranslatable("only items, numbers, text and arithmetic can be compared")

    def operand(self, node: Any) -> str:
        text = self.value(node)
        return f"({text})" if type(node).__name__ == "_Arithmetic" else text


def _members(definition: Definition) -> Iterator[Item]:
    """Every item of every page, matrices and their rows included."""
    for page in definition.pages:
        for item in page.items:
            yield item
            yield from item.rows


def _composite_check(item: Item) -> str:
    """What Elicit checks of a composite answer that REDCap's separate fields do not."""
    from elicit.instruments.types.roulette import chips_of

    if item.type == "ranking":
        return "the ranks are 1 to n, each once"
    if item.type == "constant_sum":
        return f"the points total {_fmt(item.total or 0)}"
    if item.type == "quantiles":
        return "the values increase"
    if item.type == "four_point":
        return "lowest <= best estimate <= highest, with a confidence of 50 to 100 %"
    if item.type == "roulette":
        return f"the chips total {chips_of(item)}"
    return "the probabilities do not decrease"


def _part_range(item: Item, part: str) -> tuple[str, float | None, float | None]:
    """The validation type and bounds of one part's field."""
    from elicit.instruments.types.roulette import chips_of

    if item.type == "ranking":
        return "integer", 1, len(item.parts)
    if item.type == "constant_sum":
        return "number", 0, item.total
    if item.type == "roulette":
        return "integer", 0, chips_of(item)
    if item.type == "probabilities":
        return "number", 0, 100
    if item.type == "four_point" and part == "confidence":
        return "integer", 50, 100
    return "number", item.min, item.max


@dataclass(frozen=True)
class _FakeCall:
    """A call node built by the writer (``x == null`` for a checkbox is ``not answered(x)``)."""

    function: str
    arguments: tuple[Any, ...]


def _quote(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise _Untranslatable("a value holding both kinds of quote")


def _wrap(logic: str) -> str:
    """Logic in parentheses when joining it with 'and' could change what it means."""
    return f"({logic})" if re.search(r"\bor\b", logic) else logic


def _fmt(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
