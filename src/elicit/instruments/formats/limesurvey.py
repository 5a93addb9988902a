"""LimeSurvey survey structure files (``.lss``, LimeSurvey 3 to 6) read into an instrument document.

An ``.lss`` is XML: ``<document>`` with ``<LimeSurveyDocType>Survey</LimeSurveyDocType>`` and one section per
database table (``<groups>``, ``<questions>``, ``<subquestions>``, ``<answers>``, ``<question_attributes>``,
``<surveys>``, ``<surveys_languagesettings>`` ...), each holding ``<rows><row>`` with one element per column.
LimeSurvey 3 keeps the texts in those rows, one row per language (a ``language`` column); LimeSurvey 4 and later
move them to ``<question_l10ns>``, ``<group_l10ns>`` and ``<answer_l10ns>``. Both are read.

Question groups become pages, questions items (the question code is the item id), and the relevance equations
of LimeSurvey's Expression Manager are translated to Elicit's expression language where they are simple
comparisons, ``is_empty()`` and ``and``/``or``/``!``. What would change the questionnaire and cannot be carried
over (an equation question, a file upload, a hidden question, a validation or relevance we cannot translate) is
a problem with the line of the file; what changes nothing the expert answers is listed as lost. The file is
untrusted, so it is parsed with defusedxml: an entity declaration (an XML bomb) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import defusedxml
import defusedxml.ElementTree as safe_etree

from elicit.instruments.expressions import ExpressionError, parse
from elicit.instruments.formats.common import (
    Identifiers,
    Imported,
    ImportFailed,
    ImportProblem,
    Problems,
    choice_code,
    text_of,
)

__all__ = ["read"]

LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
#: Words of Elicit's expression language, which an item id must not be (a question coded ``IN`` gets ``in_2``).
MAX_EQUATION = 2000
MAX_NESTING = 50

#: LimeSurvey's question types by their one-character code, as its manual names them.
TYPE_NAMES = {
    "1": "array dual scale",
    "5": "5 point choice",
    "A": "array (5 point choice)",
    "B": "array (10 point choice)",
    "C": "array (yes/no/uncertain)",
    "D": "date/time",
    "E": "array (increase/same/decrease)",
    "F": "array",
    "G": "gender",
    "H": "array by column",
    "I": "language switch",
    "K": "multiple numerical input",
    "L": "list (radio)",
    "M": "multiple choice",
    "N": "numerical input",
    "O": "list with comment",
    "P": "multiple choice with comments",
    "Q": "multiple short text",
    "R": "ranking",
    "S": "short free text",
    "T": "long free text",
    "U": "huge free text",
    "X": "text display",
    "Y": "yes/no",
    "!": "list (dropdown)",
    ":": "array (numbers)",
    ";": "array (texts)",
    "|": "file upload",
    "*": "equation",
}

#: Types that cannot be carried over, and why.
REFUSED_TYPES = {
    "*": "an equation question computes and stores a value, which Elicit does not do; remove it (or compute "
    "the value in the analysis)",
    "|": "a file upload cannot be asked in Elicit; ask for a description in a text question instead",
    "1": "a dual-scale array (two answers per row) has no Elicit equivalent; split it into two arrays",
    "C": "an array of yes/no/uncertain has no Elicit equivalent; make it an array (F) with the answer options "
    "Yes, No and Uncertain",
    "E": "an array of increase/same/decrease has no Elicit equivalent; make it an array (F) with those three "
    "answer options",
}

#: Texts LimeSurvey supplies itself (the labels of yes/no and gender questions, "Other"), in the languages we
#: know; another language gets the English text, listed as lost.
BUILTIN = {
    "yes": {"en": "Yes", "de": "Ja", "fr": "Oui", "es": "Sí", "it": "Sì", "nl": "Ja", "pt": "Sim",
            "ur": "ہاں", "ar": "نعم", "tr": "Evet"},
    "no": {"en": "No", "de": "Nein", "fr": "Non", "es": "No", "it": "No", "nl": "Nee", "pt": "Não",
           "ur": "نہیں", "ar": "لا", "tr": "Hayır"},
    "other": {"en": "Other", "de": "Sonstiges", "fr": "Autre", "es": "Otro", "it": "Altro", "nl": "Anders",
              "pt": "Outro", "ur": "دیگر", "ar": "أخرى", "tr": "Diğer"},
    "specify": {"en": "please specify", "de": "bitte angeben", "fr": "veuillez préciser", "es": "especifique",
                "it": "specificare", "nl": "graag specificeren", "pt": "especifique",
                "ur": "براہِ کرم وضاحت کریں", "ar": "يرجى التحديد", "tr": "lütfen belirtin"},
    "comment": {"en": "Comment", "de": "Kommentar", "fr": "Commentaire", "es": "Comentario", "it": "Commento",
                "nl": "Opmerking", "pt": "Comentário", "ur": "تبصرہ", "ar": "تعليق", "tr": "Yorum"},
    "female": {"en": "Female", "de": "Weiblich", "fr": "Féminin", "es": "Femenino", "it": "Femmina",
               "nl": "Vrouw", "pt": "Feminino", "ur": "خاتون", "ar": "أنثى", "tr": "Kadın"},
    "male": {"en": "Male", "de": "Männlich", "fr": "Masculin", "es": "Masculino", "it": "Maschio",
             "nl": "Man", "pt": "Masculino", "ur": "مرد", "ar": "ذكر", "tr": "Erkek"},
}  # fmt: skip

#: Question attributes that only configure LimeSurvey's own statistics, exports, printing or editor: they change
#: nothing an expert sees or answers, so they are passed over without a note.
ADMIN_ATTRIBUTES = frozenset(
    {
        "statistics_showgraph",
        "statistics_showmap",
        "statistics_graphtype",
        "statistics_mapzoom",
        "public_statistics",
        "scale_export",
        "save_as_default",
        "clear_default",
        "printable_help",
        "page_break",
        "assessment_value",
        "question_template",
        "time_limit_action",
        "em_validation_q_tip",
        "em_validation_sq_tip",
    }
)
ADMIN_PREFIXES = ("responseOutput", "statistics_", "time_limit")
#: Attributes that would change what an expert may answer and have no Elicit equivalent.
REFUSED_ATTRIBUTES = {
    "array_filter": "shows only the rows chosen in another question (array filter)",
    "array_filter_exclude": "hides the rows chosen in another question (array filter exclusion)",
    "exclude_all_others": "makes one option exclude all others",
    "exclude_all_others_auto": "selects the exclusive option automatically",
    "em_validation_sq": "has a subquestion validation equation",
    "min_num_value": "limits the sum of its answers",
    "max_num_value": "limits the sum of its answers",
    "multiflexible_checkbox": "asks for ticks, not numbers, in its grid",
    "value_range_allows_missing": "allows a partial sum",
}
#: Explanations of display attributes that are not carried over.
DISPLAY_NOTES = {
    "random_order": "LimeSurvey shuffles its options; Elicit shows them in the order given",
    "random_group": "LimeSurvey shuffles it with its randomization group; Elicit keeps the order given",
    "hide_tip": "LimeSurvey hides its answering tip; Elicit shows its own hints",
    "display_columns": "LimeSurvey lays its options out in columns",
    "alphasort": "LimeSurvey sorts its options alphabetically; Elicit shows them in the order given",
    "dropdown_dates": "LimeSurvey shows date dropdowns; Elicit shows the browser's date picker",
}
DEFAULT_VALUES = frozenset({"", "0", "N", "n", "default", "inherit"})
STRUCTURAL_TAGS = frozenset({"p", "br", "div", "span"})
BREAK_TAGS = frozenset(
    {"br", "p", "div", "li", "tr", "ul", "ol", "table", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
)
#: Sections (tables) read or deliberately passed over without a note.
KNOWN_SECTIONS = frozenset(
    {
        "LimeSurveyDocType",
        "DBVersion",
        "languages",
        "surveys",
        "surveys_languagesettings",
        "groups",
        "group_l10ns",
        "questions",
        "question_l10ns",
        "subquestions",
        "answers",
        "answer_l10ns",
        "question_attributes",
        "conditions",
    }
)
#: Sections whose rows are the survey's running rather than its questions.
PASSED_SECTIONS = {
    "quota": "quotas",
    "quota_members": "quota members",
    "quota_languagesettings": "quota messages",
    "assessments": "assessments",
    "defaultvalues": "default answers (Elicit's questions start empty)",
    "defaultvalue_l10ns": "default answers (Elicit's questions start empty)",
    "survey_url_parameters": "URL parameters",
    "themes": "theme settings",
    "themes_inherited": "theme settings",
    "plugin_settings": "plugin settings",
}


# -- XML with line numbers --------------------------------------------------------------------------------
@dataclass
class _Node:
    """An XML element as read: its tag, the line of its start tag, its children and its own text."""

    tag: str
    line: int
    children: list[_Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def child(self, tag: str) -> _Node | None:
        return next((c for c in self.children if c.tag == tag), None)


class _Builder:
    """The parser's target: builds :class:`_Node` trees, reading each start tag's line from expat."""

    def __init__(self) -> None:
        self.root = _Node("#document", 1)
        self.stack = [self.root]
        self.expat: Any = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        node = _Node(tag, int(self.expat.CurrentLineNumber) if self.expat is not None else 1)
        self.stack[-1].children.append(node)
        self.stack.append(node)

    def end(self, tag: str) -> None:
        self.stack.pop()

    def data(self, text: str) -> None:
        self.stack[-1].parts.append(text)

    def close(self) -> _Node:
        return self.root


def _parse_xml(name: str, data: bytes) -> _Node:
    """The document element of ``data``; ImportFailed when it is not UTF-8, not XML, or declares entities."""

    def fail(line: int | None, message: str) -> ImportFailed:
        return ImportFailed([ImportProblem(name, line, message)])

    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(
            line, "the file is not UTF-8 (LimeSurvey writes .lss files as UTF-8: export the survey again)"
        ) from None
    builder = _Builder()
    parser = safe_etree.DefusedXMLParser(target=builder)
    builder.expat = parser.parser
    try:
        parser.feed(data)
        parser.close()
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden):
        raise fail(
            int(parser.parser.CurrentLineNumber),
            "the file declares XML entities, which are refused (an entity can expand into gigabytes, and "
            "LimeSurvey's own exports never declare any)",
        ) from None
    except safe_etree.ParseError as exc:
        line, column = getattr(exc, "position", (1, 0))
        reason = str(exc).split(":")[0]
        raise fail(
            line, f"the file is not XML ({reason} at column {column + 1}); a LimeSurvey .lss file is XML"
        ) from None
    elements = [c for c in builder.root.children]
    if not elements:
        raise fail(1, "the file holds no XML element")
    return elements[0]


# -- the tables of an .lss --------------------------------------------------------------------------------
@dataclass
class _Row:
    """One ``<row>``: its cells by column name, with the line of each."""

    line: int
    cells: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    def get(self, key: str) -> str:
        return self.cells.get(key, "").strip()

    def text(self, key: str) -> str:
        return self.cells.get(key, "")

    def at(self, key: str) -> int:
        return self.lines.get(key, self.line)


@dataclass
class _Question:
    """A question or subquestion, with its texts and help in every language the file gives."""

    qid: str
    row: _Row
    code: str
    type: str
    gid: str
    order: int
    parent: str
    scale: int
    texts: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)

    @property
    def line(self) -> int:
        return self.row.line


@dataclass
class _Answer:
    """An answer option of a question (on scale 0, or 1 for a second scale)."""

    code: str
    order: int
    scale: int
    row: _Row
    texts: dict[str, str] = field(default_factory=dict)


@dataclass
class _Group:
    """A question group: a page."""

    gid: str
    order: int
    row: _Row
    names: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


@dataclass
class _Attribute:
    """A question attribute: its value per language ('' for one that is not translated) and its line."""

    line: int
    values: dict[str, str] = field(default_factory=dict)


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value.strip() or default)
    except ValueError:
        return default


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _number(value: str) -> int | float | None:
    text = value.strip()
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if re.fullmatch(r"-?(\d{1,15}\.\d{0,10}|\.\d{1,10})", text):
        return float(text)
    return None


def _tables(root: _Node) -> tuple[dict[str, list[_Row]], list[_Node]]:
    """Every section with ``<rows>`` as its rows, and the other sections."""
    tables: dict[str, list[_Row]] = {}
    others: list[_Node] = []
    for section in root.children:
        rows = section.child("rows")
        if rows is None:
            others.append(section)
            continue
        table = tables.setdefault(section.tag, [])
        for element in rows.children:
            if element.tag != "row":
                continue
            row = _Row(element.line)
            for cell in element.children:
                row.cells[cell.tag] = cell.text
                row.lines[cell.tag] = cell.line
            table.append(row)
    return tables, others


# -- HTML to plain text -----------------------------------------------------------------------------------
class _PlainText(HTMLParser):
    """The text of an HTML fragment, with line breaks where blocks and ``<br>`` were; records the tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: set[str] = set()
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag in ("script", "style"):
            self.hidden += 1
        elif tag in BREAK_TAGS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag in BREAK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in BREAK_TAGS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def plain_text(value: str) -> tuple[str, set[str]]:
    """``value`` without HTML markup (line breaks kept) and the tags that were removed."""
    if "<" not in value and "&" not in value:
        return value.strip(), set()
    parser = _PlainText()
    parser.feed(value)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    joined = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return joined, parser.tags


# -- Expression Manager equations -------------------------------------------------------------------------
class _Untranslatable(Exception):
    """An equation (or a part of one) that has no equivalent in Elicit's expression language."""


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<sgqa>\d+X\d+X\d+\w*)
  | (?P<num>\d+(?:\.\d+)?|\.\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!+\-*/(),])
    """,
    re.VERBOSE,
)
_WORD_OPS = {
    "and": "&&",
    "or": "||",
    "not": "!",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
TRUE = ("lit", True)


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    at = 0
    while at < len(source):
        match = _TOKEN.match(source, at)
        if match is None:
            char = source[at]
            if char == "=":
                raise _Untranslatable("'=' assigns a value; a condition compares with '=='")
            if char in "{}":
                raise _Untranslatable("braces inside the equation (text substitution) cannot be translated")
            raise _Untranslatable(f"{char!r} cannot be translated")
        kind = match.lastgroup or ""
        value = match.group()
        at = match.end()
        if kind == "ws":
            continue
        if kind == "sgqa":
            raise _Untranslatable(
                f"{value} is a LimeSurvey SGQA code; refer to the question by its code instead"
            )
        if kind == "name" and value.lower() in _WORD_OPS:
            kind, value = "op", _WORD_OPS[value.lower()]
        tokens.append((kind, value))
    return tokens


class _EquationParser:
    """Expression Manager syntax (JavaScript/PHP precedence) into a small tree of tuples."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.at = 0
        self.depth = 0

    def parse(self) -> tuple[Any, ...]:
        if not self.tokens:
            raise _Untranslatable("the equation is empty")
        node = self.binary(0)
        if self.at < len(self.tokens):
            raise _Untranslatable(f"unexpected {self.tokens[self.at][1]!r}")
        return node

    LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/"))

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] == value:
            self.at += 1
            return True
        return False

    def binary(self, level: int) -> tuple[Any, ...]:
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while True:
            token = self.peek()
            if token is None or token[0] != "op" or token[1] not in self.LEVELS[level]:
                return node
            self.at += 1
            node = ("bin", token[1], node, self.binary(level + 1))

    def unary(self) -> tuple[Any, ...]:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _Untranslatable(f"the equation nests more than {MAX_NESTING} levels deep")
        try:
            if self.take("!"):
                return ("not", self.unary())
            if self.take("-"):
                return ("neg", self.unary())
            if self.take("+"):
                return self.unary()
            return self.primary()
        finally:
            self.depth -= 1

    def primary(self) -> tuple[Any, ...]:
        token = self.peek()
        if token is None:
            raise _Untranslatable("the equation ends too early")
        kind, value = token
        self.at += 1
        if kind == "num":
            return ("lit", _number(value))
        if kind == "str":
            return ("str", re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "name":
            if self.take("("):
                args: list[tuple[Any, ...]] = []
                if not self.take(")"):
                    args.append(self.binary(0))
                    while self.take(","):
                        args.append(self.binary(0))
                    if not self.take(")"):
                        raise _Untranslatable(f"{value}( is not closed")
                return ("call", value, args)
            return ("var", value)
        if kind == "op" and value == "(":
            node = self.binary(0)
            if not self.take(")"):
                raise _Untranslatable("a '(' is not closed")
            return node
        raise _Untranslatable(f"unexpected {value!r}")


@dataclass
class _Var:
    """What a LimeSurvey variable name is in the instrument.

    ``kind`` is ``value`` (an item whose answer is compared: a list, text, number, a matrix row), ``option`` (one
    option of a multiple choice, which LimeSurvey compares with "Y") or ``none`` (nothing an equation can use,
    e.g. a ranking; ``what`` says why)."""

    kind: str
    item: str = ""
    codes: dict[str, int | str] = field(default_factory=dict)
    numeric: bool = False
    option: int | str | None = None
    renumbered: bool = False
    what: str = ""


# The translated expression, as a tree rendered with the fewest parentheses Elicit's grammar needs.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


def _render(node: tuple[Any, ...], need: int = 0) -> str:
    kind = node[0]
    if kind == "id":
        return str(node[1])
    if kind == "lit":
        value = node[1]
        if isinstance(value, str):
            escaped = value.replace("\\", "\\\\").replace("'", "\\'")
            return f"'{escaped}'"
        return repr(value)
    if kind == "call":
        return f"{node[1]}({', '.join(_render(a) for a in node[2])})"
    if kind == "not":
        prec, text = 3, f"not {_render(node[1], 5)}"  # "not (a == b)" rather than "not a == b"
    elif kind == "neg":
        prec, text = 7, f"-{_render(node[1], 8)}"
    else:
        op = node[1]
        prec = _PRECEDENCE["cmp" if op in _COMPARISONS else op]
        if op in _COMPARISONS:
            text = f"{_render(node[2], 5)} {op} {_render(node[3], 5)}"
        else:
            text = f"{_render(node[2], prec)} {op} {_render(node[3], prec + 1)}"
    return f"({text})" if prec < need else text


def _negate(node: tuple[Any, ...]) -> tuple[Any, ...]:
    return node[1] if node[0] == "not" else ("not", node)


def _both(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if a is None:
        return b
    if b is None:
        return a
    return ("bin", "and", a, b)


class _Translator:
    """Translates one equation, given the variables defined so far (only earlier questions are there)."""

    def __init__(self, reader: _Reader, own: str | None) -> None:
        self.reader = reader
        self.own = own  # in a validation, the question's own code stands for its value ('.')

    def translate(self, node: tuple[Any, ...]) -> tuple[Any, ...]:
        kind = node[0]
        if kind == "lit":
            return node
        if kind == "str":
            return ("lit", node[1])
        if kind == "var":
            return self.value(node[1])
        if kind == "not":
            return _negate(self.translate(node[1]))
        if kind == "neg":
            return ("neg", self.translate(node[1]))
        if kind == "call":
            return self.call(node[1], node[2])
        op, left, right = node[1], node[2], node[3]
        if op in ("&&", "||"):
            return ("bin", "and" if op == "&&" else "or", self.translate(left), self.translate(right))
        if op in _COMPARISONS:
            return self.compare(op, left, right)
        return ("bin", op, self.number(left), self.number(right))

    def number(self, node: tuple[Any, ...]) -> tuple[Any, ...]:
        if node[0] == "str":
            value = _number(node[1])
            if value is None:
                raise _Untranslatable(f"arithmetic on the text {node[1]!r}")
            return ("lit", value)
        return self.translate(node)

    def resolve(self, name: str) -> tuple[str, _Var]:
        """The variable a name refers to (``Q1``, ``Q1.NAOK``, ``Q1_SQ001``); untranslatable otherwise."""
        base, *attributes = name.split(".")
        if base in ("self", "that", "this"):
            raise _Untranslatable(f"'{name}' (LimeSurvey's self/that references) cannot be translated")
        for attribute in attributes:
            if attribute == "value" and self.reader.assessments:
                raise _Untranslatable(f"'{name}' is an assessment value, which Elicit does not have")
            if attribute not in ("NAOK", "code", "value"):
                raise _Untranslatable(f"'.{attribute}' of {base} has no equivalent")
        if self.own is not None and base == self.own:
            return base, _Var("value", item=".", codes=self.reader.own_codes, numeric=self.reader.own_numeric)
        var = self.reader.vars.get(base) or self.reader.vars_folded.get(base.lower())
        if var is not None:
            return base, var
        stem = base.split("_")[0]
        if base in self.reader.all_codes or stem in self.reader.all_codes:
            raise _Untranslatable(
                f"it refers to {base}, which is not asked before this point (Elicit's conditions may use only "
                "answers given on the same or an earlier page, before the question)"
            )
        raise _Untranslatable(f"it refers to {base!r}, which is not a question in this survey")

    def value(self, name: str) -> tuple[Any, ...]:
        base, var = self.resolve(name)
        if var.kind == "option":
            return ("call", "selected", [("id", var.item), ("lit", var.option)])
        if var.kind == "none":
            raise _Untranslatable(f"it uses {base}, {var.what}")
        return ("id", var.item)

    def call(self, name: str, args: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        if name.lower() == "is_empty" and len(args) == 1 and args[0][0] == "var":
            base, var = self.resolve(args[0][1])
            if var.kind == "none":
                raise _Untranslatable(f"it uses {base}, {var.what}")
            if var.kind == "option":
                return _negate(self.value(args[0][1]))
            return ("not", ("call", "answered", [("id", var.item)]))
        raise _Untranslatable(f"the function {name}() has no equivalent in Elicit")

    def compare(self, op: str, left: tuple[Any, ...], right: tuple[Any, ...]) -> tuple[Any, ...]:
        if left[0] != "var" and right[0] == "var" and left[0] in ("str", "lit"):
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            return self.compare(flipped, right, left)
        if left[0] == "var" and right[0] in ("str", "lit"):
            base, var = self.resolve(left[1])
            literal = right[1]
            text = "" if literal is None else str(literal)
            if var.kind == "none":
                raise _Untranslatable(f"it uses {base}, {var.what}")
            if var.kind == "option":
                if op not in ("==", "!=") or text not in ("Y", ""):
                    raise _Untranslatable(
                        f"it compares the option {base} with {text!r} using {op}; an option is "
                        "either 'Y' (selected) or '' (not selected)"
                    )
                selected = self.value(left[1])
                return selected if (op == "==") == (text == "Y") else _negate(selected)
            ref = ("id", var.item)
            if text == "" and right[0] == "str":
                if op not in ("==", "!="):
                    raise _Untranslatable(f"it compares {base} with '' using {op}")
                answered = ("call", "answered", [ref])
                return _negate(answered) if op == "==" else answered
            if var.codes and not var.renumbered and op in ("==", "!=") and text not in var.codes:
                raise _Untranslatable(
                    f"it compares {base} with {text!r}, which is not one of its answer codes "
                    f"({', '.join(var.codes)})"
                )
            if var.renumbered and (op not in ("==", "!=") or text not in var.codes):
                raise _Untranslatable(
                    f"it compares {base} with {text!r} using {op}, but the answer codes of {base} are "
                    f"renumbered for Elicit ({', '.join(f'{a} -> {c}' for a, c in var.codes.items())})"
                )
            return ("bin", op, ref, ("lit", self.coerce(var, right)))
        return ("bin", op, self.translate(left), self.translate(right))

    @staticmethod
    def coerce(var: _Var, literal: tuple[Any, ...]) -> Any:
        """A compared literal as the item's answers hold it: its choice code, or a number for a number."""
        text = str(literal[1])
        if text in var.codes:
            return var.codes[text]
        if literal[0] == "lit":
            return literal[1]
        if var.numeric or var.codes:
            number = _number(text)
            if number is not None:
                return number
        return text


# -- the reader -------------------------------------------------------------------------------------------
def read(name: str, data: bytes, instrument_id: str, version: str) -> Imported:
    """Read a LimeSurvey ``.lss`` into an instrument document; ImportFailed lists every problem at once."""
    root = _parse_xml(name, data)
    reader = _Reader(name, root, instrument_id, version)
    document = reader.convert()
    reader.problems.raise_any()
    return Imported(document=document, source=name, mapped=reader.mapped, lost=reader.lost)


class _Reader:
    """Converts one parsed ``.lss``; collects what it mapped, what it lost and its problems."""

    def __init__(self, name: str, root: _Node, instrument_id: str, version: str) -> None:
        self.name = name
        self.root = root
        self.instrument_id = instrument_id
        self.version = version
        self.problems = Problems(name)
        self.mapped: list[str] = []
        self.lost: list[ImportProblem] = []
        self.ids = Identifiers()
        self.vars: dict[str, _Var] = {}
        self.vars_folded: dict[str, _Var] = {}
        self.all_codes: set[str] = set()
        self.languages: list[str] = []
        self.assessments = False
        self.own_codes: dict[str, int | str] = {}
        self.own_numeric = False
        self.markup: dict[str, tuple[int, set[str]]] = {}
        self.untranslated: dict[str, tuple[int, set[str]]] = {}
        self.piped: dict[str, int] = {}
        self.builtin_missing: set[str] = set()
        self.tables: dict[str, list[_Row]] = {}
        self.survey_row = _Row(root.line)
        self.subquestions: dict[str, list[_Question]] = {}
        self.answers: dict[str, list[_Answer]] = {}
        self.attributes: dict[str, dict[str, _Attribute]] = {}
        self.conditions: dict[str, _Row] = {}

    # -- problems and notes --
    def problem(self, line: int | None, message: str) -> None:
        self.problems.add(line, message)

    def note(self, line: int | None, message: str) -> None:
        self.lost.append(ImportProblem(self.name, line, message))

    # -- texts --
    def text(self, values: dict[str, str], owner: str, line: int) -> str | dict[str, str]:
        """An instrument text from LimeSurvey's texts per language (HTML removed, gaps filled and noted)."""
        plain: dict[str, str] = {}
        for lang in self.languages:
            raw = values.get(lang, "")
            text, tags = plain_text(raw)
            plain[lang] = text
            removed = tags - STRUCTURAL_TAGS
            if removed:
                self.markup.setdefault(owner, (line, set()))[1].update(removed)
            if re.search(r"\{[^{}\n]+\}", text):
                self.piped.setdefault(owner, line)
        present = [lang for lang in self.languages if plain[lang]]
        if present and len(present) < len(self.languages):
            missing = {lang for lang in self.languages if not plain[lang]}
            self.untranslated.setdefault(owner, (line, set()))[1].update(missing)
        return text_of(plain, self.languages)

    def builtin(self, key: str) -> str | dict[str, str]:
        labels = BUILTIN[key]
        values: dict[str, str] = {}
        for lang in self.languages:
            label = labels.get(lang.split("-")[0])
            if label is None:
                self.builtin_missing.add(lang)
                label = labels["en"]
            values[lang] = label
        return text_of(values, self.languages)

    def joined(self, *parts: str | dict[str, str], sep: str = ": ") -> str | dict[str, str]:
        values = {
            lang: sep.join(p if isinstance(p, str) else p.get(lang, "") for p in parts if p)
            for lang in self.languages
        }
        return text_of(values, self.languages)

    # -- equations --
    def equation(
        self, source: str, owner: str, line: int, *, own: str | None = None, what: str = "relevance"
    ) -> tuple[Any, ...] | None:
        """A translated equation (None when it is always true, or when it failed: a problem is recorded)."""
        text = " ".join(source.split())
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1].strip()
        if text in ("", "1", "true"):
            return None
        if len(text) > MAX_EQUATION:
            self.problem(line, f"the {what} of {owner} is longer than {MAX_EQUATION} characters")
            return None
        try:
            tree = _Translator(self, own).translate(_EquationParser(text).parse())
        except _Untranslatable as exc:
            self.problem(line, f"the {what} of {owner} cannot be translated: {exc}: {text}")
            return None
        rendered = _render(tree)
        try:
            parse(rendered)
        except ExpressionError as exc:  # a translation we produced but Elicit refuses: report, never crash
            self.problem(
                line, f"the {what} of {owner} ({text}) translates to {rendered!r}, which fails: {exc}"
            )
            return None
        self.mapped.append(f"{what} of {owner} translated: {text} -> {rendered}")
        return tree

    # -- the whole survey --
    def convert(self) -> dict[str, Any]:
        root = self.root
        kind = root.child("LimeSurveyDocType")
        doc_type = kind.text.strip() if kind is not None else ""
        if root.tag != "document" or doc_type != "Survey":
            self.refuse_document(root, doc_type)
            return {}
        tables, others = _tables(root)
        self.tables = tables
        self.survey_row = tables.get("surveys", [_Row(root.line)])[0]
        self.assessments = self.survey_row.get("assessments") == "Y"
        self.read_languages(root)
        db_version = root.child("DBVersion")
        modern = "question_l10ns" in tables or "group_l10ns" in tables
        release = "LimeSurvey 4 or later" if modern else "LimeSurvey 3 or earlier (texts in the rows)"
        version_text = f", DBVersion {db_version.text.strip()}" if db_version is not None else ""
        self.mapped.append(f"read as a survey structure of {release}{version_text}")
        self.passed_sections(tables, others)
        if not self.languages:
            return {}
        groups = self.read_groups(tables)
        questions, subquestions = self.read_questions(tables)
        answers = self.read_answers(tables)
        attributes = self.read_attributes(tables)
        conditions = {row.get("qid"): row for row in tables.get("conditions", [])}
        self.survey_settings()
        return self.build(groups, questions, subquestions, answers, attributes, conditions)

    def refuse_document(self, root: _Node, doc_type: str) -> None:
        exports = {"Group": ".lsg (a question group)", "Question": ".lsq (a question)"}
        if root.tag == "document" and doc_type in exports:
            self.problem(
                root.line,
                f"this is a LimeSurvey {exports[doc_type]} export, not a survey: export the whole survey as a "
                "survey structure file (.lss)",
            )
        elif root.tag == "document" and doc_type:
            self.problem(
                root.line, f"this is a LimeSurvey {doc_type!r} document, not a survey structure (.lss)"
            )
        else:
            self.problem(
                root.line,
                f"this XML is not a LimeSurvey survey structure: it starts with <{root.tag}>, not <document> "
                "holding <LimeSurveyDocType>Survey</LimeSurveyDocType>",
            )

    def read_languages(self, root: _Node) -> None:
        """The survey's base language first, then its additional ones; a code Elicit cannot use is a problem."""
        row = self.survey_row
        codes = [row.get("language"), *row.get("additional_languages").split()]
        line = row.at("language")
        if not codes[0]:
            listed = root.child("languages")
            codes = [c.text.strip() for c in listed.children] if listed is not None else []
            line = listed.line if listed is not None else root.line
        codes = [code for code in dict.fromkeys(codes) if code]
        if not codes:
            self.problem(line, "the survey names no language (the <language> of <surveys>)")
        bad = [code for code in codes if not LANG_RE.match(code)]
        for code in bad:
            self.problem(
                line,
                f"the language code {code!r} cannot be used: Elicit's codes are a language and at most one "
                "subtag, such as en, ur, de or de-informal",
            )
        self.languages = [] if bad else codes

    def passed_sections(self, tables: dict[str, list[_Row]], others: list[_Node]) -> None:
        for section, rows in tables.items():
            if section in KNOWN_SECTIONS or not rows:
                continue
            what = PASSED_SECTIONS.get(section, f"the section <{section}>")
            self.note(rows[0].line, f"{what} ({len(rows)} rows) are not carried over")
        for node in others:
            if node.tag in KNOWN_SECTIONS or not node.children:
                continue
            what = PASSED_SECTIONS.get(node.tag, f"the section <{node.tag}>")
            self.note(node.line, f"{what} are not carried over")

    def read_groups(self, tables: dict[str, list[_Row]]) -> list[_Group]:
        groups: dict[str, _Group] = {}
        for row in tables.get("groups", []):
            gid = row.get("gid")
            group = groups.setdefault(gid, _Group(gid, _int(row.get("group_order")), row))
            lang = row.get("language")
            if lang:
                group.names[lang] = row.text("group_name")
                group.descriptions[lang] = row.text("description")
        for row in tables.get("group_l10ns", []):
            group_ = groups.get(row.get("gid"))
            if group_ is not None:
                group_.names[row.get("language")] = row.text("group_name")
                group_.descriptions[row.get("language")] = row.text("description")
        return sorted(groups.values(), key=lambda g: (g.order, _int(g.gid)))

    def read_questions(
        self, tables: dict[str, list[_Row]]
    ) -> tuple[dict[str, list[_Question]], dict[str, list[_Question]]]:
        by_qid: dict[str, _Question] = {}
        for row in tables.get("questions", []) + tables.get("subquestions", []):
            qid = row.get("qid")
            question = by_qid.get(qid)
            if question is None:
                question = _Question(
                    qid=qid,
                    row=row,
                    code=row.get("title"),
                    type=row.get("type"),
                    gid=row.get("gid"),
                    order=_int(row.get("question_order")),
                    parent=row.get("parent_qid") or "0",
                    scale=_int(row.get("scale_id")),
                )
                by_qid[qid] = question
            lang = row.get("language")
            if lang:
                question.texts[lang] = row.text("question")
                question.helps[lang] = row.text("help")
        for row in tables.get("question_l10ns", []):
            found = by_qid.get(row.get("qid"))
            if found is not None:
                found.texts[row.get("language")] = row.text("question")
                found.helps[row.get("language")] = row.text("help")
        questions: dict[str, list[_Question]] = {}
        subquestions: dict[str, list[_Question]] = {}
        for question in by_qid.values():
            if question.parent == "0":
                questions.setdefault(question.gid, []).append(question)
                self.all_codes.add(question.code)
            else:
                subquestions.setdefault(question.parent, []).append(question)
        for listing in (*questions.values(), *subquestions.values()):
            listing.sort(key=lambda q: (q.order, _int(q.qid)))
        return questions, subquestions

    def read_answers(self, tables: dict[str, list[_Row]]) -> dict[str, list[_Answer]]:
        answers: dict[str, list[_Answer]] = {}
        by_aid: dict[str, _Answer] = {}
        by_key: dict[tuple[str, int, str], _Answer] = {}
        for row in tables.get("answers", []):
            qid, code, scale = row.get("qid"), row.get("code"), _int(row.get("scale_id"))
            aid = row.get("aid")
            answer = by_key.get((qid, scale, code)) if not aid else None
            if answer is None:
                answer = _Answer(code, _int(row.get("sortorder")), scale, row)
                answers.setdefault(qid, []).append(answer)
                if aid:
                    by_aid[aid] = answer
                else:
                    by_key[(qid, scale, code)] = answer
            lang = row.get("language")
            if lang:
                answer.texts[lang] = row.text("answer")
        for row in tables.get("answer_l10ns", []):
            found = by_aid.get(row.get("aid"))
            if found is not None:
                found.texts[row.get("language")] = row.text("answer")
        for listing in answers.values():
            listing.sort(key=lambda a: (a.scale, a.order))
        return answers

    def read_attributes(self, tables: dict[str, list[_Row]]) -> dict[str, dict[str, _Attribute]]:
        attributes: dict[str, dict[str, _Attribute]] = {}
        for row in tables.get("question_attributes", []):
            name = row.get("attribute")
            attribute = attributes.setdefault(row.get("qid"), {}).setdefault(name, _Attribute(row.line))
            attribute.values[row.get("language")] = row.text("value").strip()
        return attributes

    def survey_settings(self) -> None:
        row = self.survey_row
        layout = row.get("format")
        if layout == "S":
            self.note(
                row.at("format"),
                "LimeSurvey shows this survey one question at a time; Elicit shows a page per question group",
            )
        elif layout == "A":
            self.note(
                row.at("format"),
                "LimeSurvey shows this survey on one page; Elicit shows a page per question group",
            )

    # -- building the document --
    def build(
        self,
        groups: list[_Group],
        questions: dict[str, list[_Question]],
        subquestions: dict[str, list[_Question]],
        answers: dict[str, list[_Answer]],
        attributes: dict[str, dict[str, _Attribute]],
        conditions: dict[str, _Row],
    ) -> dict[str, Any]:
        known = {g.gid for g in groups}
        for gid, listing in questions.items():
            if gid not in known:
                for question in listing:
                    self.problem(
                        question.line,
                        f"question {question.code} belongs to group {gid}, which the file does not have",
                    )
        if not groups:
            self.problem(self.root.line, "the survey has no question groups, so there is nothing to import")
        ordered = [q for g in groups for q in questions.get(g.gid, [])]
        for question in ordered:  # question codes first, so that they keep their ids
            self.ids(question.code)
        self.report_renames(ordered)
        self.subquestions, self.answers, self.attributes = subquestions, answers, attributes
        self.conditions = conditions
        pages: list[tuple[_Group, dict[str, Any]]] = []
        count = items_count = 0
        for group in groups:
            owner = f"group {group.names.get(self.languages[0]) or group.gid!r}"
            relevant = self.equation(group.row.text("grelevance"), owner, group.row.at("grelevance"))
            items: list[dict[str, Any]] = []
            for question in questions.get(group.gid, []):
                converted = self.question(question)
                count += 1 if converted else 0
                items_count += sum(len(i.get("rows", [i])) for i in converted if i["type"] != "note")
                items.extend(converted)
            if group.row.get("randomization_group"):
                self.note(
                    group.row.at("randomization_group"),
                    f"{owner} is shuffled with its randomization "
                    "group in LimeSurvey; Elicit keeps the order of the file",
                )
            if not items:
                self.note(group.row.line, f"{owner} has no question Elicit can show, so it is left out")
                continue
            page: dict[str, Any] = {"id": "", "title": self.text(group.names, owner, group.row.line)}
            intro = self.text(group.descriptions, owner, group.row.line)
            if intro:
                page["intro"] = intro
            if relevant is not None:
                page["relevant"] = _render(relevant)
            page["items"] = items
            if not page["title"]:
                del page["title"]
            pages.append((group, page))
        pager = Identifiers()
        pager.taken = self.ids.taken
        for index, (group, page) in enumerate(pages, start=1):
            page["id"] = pager(group.names.get(self.languages[0]) or f"page {index}", prefix="page")
        self.notes_per_owner()
        self.mapped.insert(
            1,
            f"{count} questions as {items_count} items to answer on {len(pages)} pages, languages "
            f"{', '.join(self.languages)}",
        )
        document: dict[str, Any] = {
            "id": self.instrument_id,
            "version": self.version,
            "languages": list(self.languages),
            "title": self.survey_title(),
        }
        description = self.survey_description()
        if description:
            document["description"] = description
        document["pages"] = [page for _, page in pages]
        return document

    def report_renames(self, ordered: list[_Question]) -> None:
        lowered: list[str] = []
        for question in ordered:
            ident = self.ids.of[question.code]
            if ident == question.code:
                continue
            if ident == question.code.lower():
                lowered.append(f"{question.code} -> {ident}")
            else:
                self.mapped.append(f"renamed {question.code!r} -> {ident!r}")
        if lowered:
            shown = ", ".join(lowered[:6]) + (f" and {len(lowered) - 6} more" if len(lowered) > 6 else "")
            self.mapped.append(f"question codes became item ids in lower case: {shown}")

    def survey_title(self) -> str | dict[str, str]:
        settings = self.language_settings()
        values = {lang: row.text("surveyls_title") for lang, row in settings.items()}
        line = next(iter(settings.values())).line if settings else self.root.line
        title = self.text(values, "the survey title", line)
        if not title:
            self.note(line, f"the survey has no title; the instrument id {self.instrument_id!r} is used")
            return self.instrument_id
        return title

    def survey_description(self) -> str | dict[str, str]:
        settings = self.language_settings()
        values: dict[str, str] = {}
        for lang, row in settings.items():
            parts = [row.text(key).strip() for key in ("surveyls_description", "surveyls_welcometext")]
            values[lang] = "\n\n".join(part for part in parts if part)
        ended = [lang for lang, row in settings.items() if row.get("surveyls_endtext")]
        if ended:
            self.note(
                settings[ended[0]].at("surveyls_endtext"),
                f"the end text ({', '.join(ended)}) is not carried over: Elicit shows its own thank-you page",
            )
        line = next(iter(settings.values())).line if settings else self.root.line
        return self.text(values, "the survey description", line)

    def language_settings(self) -> dict[str, _Row]:
        rows = self.tables.get("surveys_languagesettings", [])
        return {row.get("surveyls_language"): row for row in rows}

    def notes_per_owner(self) -> None:
        for owner, (line, tags) in self.markup.items():
            self.note(
                line,
                f"the HTML formatting of {owner} ({', '.join(sorted(tags))}) is removed; its text "
                "is kept as plain text with its line breaks",
            )
        for owner, (line, langs) in self.untranslated.items():
            self.note(
                line,
                f"{owner} has texts without a {', '.join(sorted(langs))} translation; the "
                f"{self.languages[0]} text (or another given one) is shown instead",
            )
        for owner, line in self.piped.items():
            self.note(line, f"{owner} uses LimeSurvey text substitution ({{...}}); it is shown as written")
        for lang in sorted(self.builtin_missing):
            self.note(
                None,
                f"Elicit has no built-in {lang!r} texts for yes/no, gender and 'Other' labels; the "
                "English ones are used",
            )

    # -- one question --
    def question(self, q: _Question) -> list[dict[str, Any]]:
        """The items of one question (several for arrays of texts and numbers), or [] with a problem."""
        owner = f"question {q.code}"
        attrs = self.attributes.get(q.qid, {})
        used: set[str] = set()

        def attr(name: str) -> str:
            used.add(name)
            found = attrs.get(name)
            if found is None:
                return ""
            return (
                found.values.get("")
                or found.values.get(self.languages[0])
                or next(iter(found.values.values()), "")
            )

        if q.type not in TYPE_NAMES:
            self.problem(q.row.at("type"), f"{owner} has the unknown question type {q.type!r}")
            self.define(q.code, _Var("none", what="a question of an unknown type"))
            return []
        if q.type in REFUSED_TYPES:
            self.problem(
                q.row.at("type"),
                f"{owner} is {_a(TYPE_NAMES[q.type])} (type {q.type}): {REFUSED_TYPES[q.type]}",
            )
            self.define(q.code, _Var("none", what=_a(TYPE_NAMES[q.type])))
            return []
        if q.type == "I":
            self.note(
                q.line,
                f"{owner} (a language switch) is left out: experts choose their language with "
                "Elicit's language switch",
            )
            self.define(q.code, _Var("none", what="a language switch"))
            return []
        if attr("hidden") not in DEFAULT_VALUES:
            self.problem(
                attrs["hidden"].line,
                f"{owner} is hidden (attribute hidden = 1): a hidden question "
                "holds a preset or computed value, which Elicit does not have; make it visible or "
                "remove it",
            )
            self.define(q.code, _Var("none", what="a hidden question"))
            return []
        if q.row.get("preg"):
            self.problem(
                q.row.at("preg"),
                f"{owner} checks its answer with a regular expression "
                f"({q.row.get('preg')}), which Elicit cannot; remove the validation or use a number "
                "question",
            )
        if q.qid in self.conditions and q.row.get("relevance") in ("", "1"):
            self.problem(
                self.conditions[q.qid].line,
                f"{owner} is shown by LimeSurvey conditions, which are "
                "not imported: let LimeSurvey convert them to a relevance equation (save the "
                "question in LimeSurvey) and export again",
            )
        relevant = self.equation(q.row.text("relevance"), owner, q.row.at("relevance"))
        mandatory = q.row.get("mandatory")
        if mandatory == "S":
            self.note(
                q.row.at("mandatory"),
                f"{owner} is soft-mandatory in LimeSurvey; Elicit has no soft reminder, so it is optional",
            )
        if q.row.get("encrypted") == "Y":
            self.note(
                q.row.at("encrypted"),
                f"{owner} is encrypted in LimeSurvey's database; if it identifies "
                "someone, give the item a 'privacy' in Elicit",
            )
        base: dict[str, Any] = {
            "id": self.ids(q.code),
            "type": "",
            "text": self.text(q.texts, owner, q.line),
        }
        helptext = self.text(q.helps, owner, q.line)
        if helptext:
            base["help"] = helptext
        if mandatory == "Y":
            base["required"] = True
        if relevant is not None:
            base["relevant"] = _render(relevant)
        if not base["text"] and q.type != "X":
            self.note(q.line, f"{owner} has no text; its code is shown instead")
            base["text"] = q.code
        context = _Context(q, owner, base, relevant, attr, attrs)
        handler = self.HANDLERS[q.type]
        items = handler(self, context)
        for name, attribute in attrs.items():
            if name not in used:
                self.other_attribute(owner, name, attribute)
        if items:
            kinds = ", ".join(dict.fromkeys(f"{i['type']} {i['id']}" for i in items))
            self.mapped.append(f"{TYPE_NAMES[q.type]} {q.code} (type {q.type}) -> {kinds}")
        return items

    def other_attribute(self, owner: str, name: str, attribute: _Attribute) -> None:
        values = {v for v in attribute.values.values() if v not in DEFAULT_VALUES}
        if not values or name in ADMIN_ATTRIBUTES or name.startswith(ADMIN_PREFIXES):
            return
        shown = ", ".join(sorted(values))
        if name in REFUSED_ATTRIBUTES:
            self.problem(
                attribute.line,
                f"{owner} {REFUSED_ATTRIBUTES[name]} ({name} = {shown}), which Elicit cannot do",
            )
            return
        why = DISPLAY_NOTES.get(name, "a LimeSurvey setting Elicit does not use")
        self.note(attribute.line, f"{owner}: attribute {name} = {shown} is not carried over ({why})")

    # -- building blocks --
    def choices_from_answers(
        self, context: _Context, scale: int = 0, numbered: bool = False
    ) -> tuple[dict[int | str, Any], dict[str, int | str], bool]:
        """The choices of a question's answer options, the map of LimeSurvey codes to Elicit codes, and whether
        they were renumbered (a likert scale needs numbers)."""
        q = context.q
        options = [a for a in self.answers.get(q.qid, []) if a.scale == scale]
        if not options:
            self.problem(q.line, f"{context.owner} has no answer options")
            return {}, {}, False
        codes: dict[str, int | str] = {}
        renumber = numbered and not all(isinstance(choice_code(a.code), int) for a in options)
        for position, answer in enumerate(options, start=1):
            code = position if renumber else choice_code(answer.code)
            if code is None:
                self.problem(
                    answer.row.at("code"),
                    f"the answer code {answer.code!r} of {context.owner} must be letters, digits or _",
                )
                continue
            if code in codes.values():
                self.problem(
                    answer.row.at("code"),
                    f"the answer code {answer.code!r} of {context.owner} repeats another one",
                )
                continue
            codes[answer.code] = code
        choices: dict[int | str, Any] = {}
        for answer in options:
            if answer.code not in codes:
                continue
            label = self.text(answer.texts, context.owner, answer.row.line)
            if not label:
                self.note(
                    answer.row.line, f"answer {answer.code} of {context.owner} has no text; its code is shown"
                )
                label = answer.code
            choices[codes[answer.code]] = label
        if renumber:
            pairs = ", ".join(f"{a} -> {c}" for a, c in codes.items())
            self.mapped.append(f"answer codes of {q.code} renumbered for a likert scale: {pairs}")
        return choices, codes, renumber

    def subs(self, context: _Context, scale: int = 0) -> list[_Question]:
        found = [s for s in self.subquestions.get(context.q.qid, []) if s.scale == scale]
        if not found:
            self.problem(context.q.line, f"{context.owner} has no subquestions")
        return found

    def sub_relevance(self, context: _Context, sub: _Question) -> tuple[Any, ...] | None:
        return self.equation(
            sub.row.text("relevance"), f"subquestion {sub.code} of {context.q.code}", sub.row.at("relevance")
        )

    def add_other(
        self, context: _Context, choices: dict[int | str, Any], codes: dict[str, int | str], multiple: bool
    ) -> list[dict[str, Any]]:
        """The 'Other' choice (when the question has ``other`` = Y) and its text follow-up item."""
        q = context.q
        if q.row.get("other") != "Y":
            return []
        code: int | str = next(c for c in ("other", "oth", "other_answer") if c not in choices)
        replaced = context.attrs.get("other_replace_text")
        context.attr("other_replace_text")
        if replaced is not None and any(replaced.values.values()):
            values = dict(replaced.values)
            if "" in values:
                values = {lang: values[""] for lang in self.languages}
            label = self.text(values, context.owner, replaced.line)
        else:
            label = self.builtin("other")
        choices[code] = label
        codes["-oth-"] = code
        item = context.base["id"]
        follow: dict[str, Any] = {
            "id": self.ids(f"{q.code}_other"),
            "type": "text",
            "text": self.joined(label, self.builtin("specify")),
            "max_length": 500,
            "relevant": _render(_both(context.relevant, self.selected(item, code, multiple)) or TRUE),
        }
        self.define(f"{q.code}_other", _Var("value", item=follow["id"]))
        self.mapped.append(f"'Other' of {q.code} -> choice {code!r} and the text item {follow['id']}")
        return [follow]

    @staticmethod
    def selected(item: str, code: int | str, multiple: bool) -> tuple[Any, ...]:
        if multiple:
            return ("call", "selected", [("id", item), ("lit", code)])
        return ("bin", "==", ("id", item), ("lit", code))

    def define(self, name: str, var: _Var) -> None:
        self.vars[name] = var
        self.vars_folded.setdefault(name.lower(), var)

    def sub_item(
        self,
        context: _Context,
        subs: list[_Question],
        ident: str,
        kind: str,
        text: str | dict[str, str],
    ) -> dict[str, Any]:
        """An item that one subquestion (or a row and a column) of a question becomes."""
        item: dict[str, Any] = {"id": self.ids(ident), "type": kind, "text": text or subs[0].code}
        if context.base.get("required"):
            item["required"] = True
        relevant = context.relevant
        for sub in subs:
            relevant = _both(relevant, self.sub_relevance(context, sub))
        if relevant is not None:
            item["relevant"] = _render(relevant)
        return item

    def lead_note(self, context: _Context) -> dict[str, Any]:
        """The question text as a note above the items its subquestions become."""
        self.define(context.q.code, _Var("none", what="a question asked in parts (refer to one part)"))
        return _note(context.base)

    def numeric_bounds(self, context: _Context, item: dict[str, Any], integer: bool) -> None:
        for key, name in (("min", "min_num_value_n"), ("max", "max_num_value_n")):
            raw = context.attr(name)
            if raw in ("",):
                continue
            value = _number(raw)
            if value is None or (integer and value != int(value)):
                self.problem(
                    context.attrs[name].line,
                    f"{context.owner}: {name} = {raw} is not a "
                    f"{'whole ' if integer else ''}number (an equation cannot be translated)",
                )
                continue
            item[key] = int(value) if integer else value
        unit = self.unit(context)
        if unit:
            item["unit"] = unit

    def unit(self, context: _Context) -> str | dict[str, str]:
        chosen = ""
        for name in ("suffix", "prefix"):
            context.attr(name)
            found = context.attrs.get(name)
            if found is None or not any(found.values.values()):
                continue
            if chosen:
                self.note(
                    found.line, f"{context.owner}: its {name} is not carried over (Elicit shows one unit)"
                )
                continue
            chosen = name
            values = dict(found.values)
            if "" in values and values[""]:
                values = {lang: values[""] for lang in self.languages}
            unit = self.text(values, context.owner, found.line)
            if unit:
                return unit
        return ""

    # -- the question types --
    def single(self, context: _Context) -> list[dict[str, Any]]:
        choices, codes, _ = self.choices_from_answers(context)
        if not choices:
            return []
        item = {**context.base, "type": "dropdown" if context.q.type == "!" else "single_choice"}
        follow = self.add_other(context, choices, codes, multiple=False)
        item["choices"] = choices
        self.define(context.q.code, _Var("value", item=item["id"], codes=codes))
        return [item, *follow]

    def with_comment(self, context: _Context) -> list[dict[str, Any]]:
        items = self.single(context)
        if not items:
            return []
        q = context.q
        comment: dict[str, Any] = {
            "id": self.ids(f"{q.code}_comment"),
            "type": "text",
            "text": self.builtin("comment"),
            "multiline": True,
        }
        if context.relevant is not None:
            comment["relevant"] = _render(context.relevant)
        self.define(f"{q.code}_comment", _Var("value", item=comment["id"]))
        return [*items, comment]

    def five_point(self, context: _Context) -> list[dict[str, Any]]:
        item = {**context.base, "type": "likert", "choices": {n: str(n) for n in range(1, 6)}}
        self.define(context.q.code, _Var("value", item=item["id"], codes={str(n): n for n in range(1, 6)}))
        return [item]

    def multiple(self, context: _Context) -> list[dict[str, Any]]:
        q = context.q
        subs = self.subs(context)
        if not subs:
            return []
        item = {**context.base, "type": "multiple_choice"}
        choices: dict[int | str, Any] = {}
        for sub in subs:
            code = choice_code(sub.code)
            if code is None or code in choices:
                self.problem(
                    sub.row.at("title"),
                    f"the subquestion code {sub.code!r} of {context.owner} cannot "
                    "be a choice code (letters, digits and _, each once)",
                )
                continue
            if sub.row.get("relevance") not in ("", "1"):
                self.problem(
                    sub.row.at("relevance"),
                    f"subquestion {sub.code} of {q.code} has its own "
                    "relevance, which Elicit cannot apply to one option",
                )
            choices[code] = self.text(sub.texts, context.owner, sub.line) or sub.code
            self.define(f"{q.code}_{sub.code}", _Var("option", item=item["id"], option=code))
        for key, name in (("min_selected", "min_answers"), ("max_selected", "max_answers")):
            raw = context.attr(name)
            if raw:
                number = _number(raw)
                if isinstance(number, int) and number > 0:
                    item[key] = number
                else:
                    self.problem(
                        context.attrs[name].line,
                        f"{context.owner}: {name} = {raw} is not a whole "
                        "number (an equation cannot be translated)",
                    )
        follow = self.add_other(context, choices, {}, multiple=True)
        item["choices"] = choices
        self.define(
            q.code,
            _Var("none", what=f"a multiple choice (refer to one option, e.g. {q.code}_{subs[0].code})"),
        )
        extra: list[dict[str, Any]] = []
        if q.type == "P":
            for sub in subs:
                code = choice_code(sub.code)
                if code is None:
                    continue
                comment: dict[str, Any] = {
                    "id": self.ids(f"{q.code}_{sub.code}comment"),
                    "type": "text",
                    "text": self.joined(choices[code], self.builtin("comment")),
                    "relevant": _render(
                        _both(context.relevant, self.selected(item["id"], code, True)) or TRUE
                    ),
                }
                self.define(f"{q.code}_{sub.code}comment", _Var("value", item=comment["id"]))
                extra.append(comment)
        return [item, *follow, *extra]

    def matrix(self, context: _Context) -> list[dict[str, Any]]:
        q = context.q
        if q.type in ("A", "B"):
            top = 5 if q.type == "A" else 10
            choices: dict[int | str, Any] = {n: str(n) for n in range(1, top + 1)}
            codes: dict[str, int | str] = {str(n): n for n in range(1, top + 1)}
            renumbered = False
        else:
            choices, codes, renumbered = self.choices_from_answers(context, numbered=True)
        subs = self.subs(context)
        if not choices or not subs:
            return []
        if q.type == "H":
            self.note(
                q.line, f"{context.owner} is an array by column in LimeSurvey; Elicit shows its rows as rows"
            )
        rows: list[dict[str, Any]] = []
        for sub in subs:
            row: dict[str, Any] = {
                "id": self.ids(f"{q.code}_{sub.code}"),
                "text": self.text(sub.texts, context.owner, sub.line) or sub.code,
            }
            if context.base.get("required"):
                row["required"] = True
            relevant = self.sub_relevance(context, sub)
            if relevant is not None:
                row["relevant"] = _render(relevant)
            self.define(
                f"{q.code}_{sub.code}", _Var("value", item=row["id"], codes=codes, renumbered=renumbered)
            )
            rows.append(row)
        item = {k: v for k, v in context.base.items() if k != "required"}
        item.update(type="likert_matrix", choices=choices, rows=rows)
        self.define(q.code, _Var("none", what=f"an array (refer to one row, e.g. {q.code}_{subs[0].code})"))
        return [item]

    def ranking(self, context: _Context) -> list[dict[str, Any]]:
        q = context.q
        if self.answers.get(q.qid):
            choices, _, _ = self.choices_from_answers(context)
        else:
            choices = {}
            for sub in self.subs(context):
                code = choice_code(sub.code)
                if code is not None:
                    choices[code] = self.text(sub.texts, context.owner, sub.line) or sub.code
        if not choices:
            return []
        limit = context.attr("max_answers") or context.attr("max_subquestions")
        number = _number(limit) if limit else None
        if limit and (number is None or number < len(choices)):
            name = "max_answers" if context.attrs.get("max_answers") else "max_subquestions"
            self.problem(
                context.attrs[name].line,
                f"{context.owner} ranks only {limit} of its {len(choices)} "
                "options; Elicit's ranking puts every option in order",
            )
        context.attr("min_answers")
        self.define(q.code, _Var("none", what="a ranking, which Elicit's conditions cannot read"))
        return [{**context.base, "type": "ranking", "choices": choices}]

    def numbers(self, context: _Context) -> list[dict[str, Any]]:
        q = context.q
        subs = self.subs(context)
        if not subs:
            return []
        integer = context.attr("num_value_int_only") == "1"
        total = context.attr("equals_num_value")
        if total:
            value = _number(total)
            if value is None or value <= 0:
                self.problem(
                    context.attrs["equals_num_value"].line,
                    f"{context.owner}: its total (equals_num_value = {total}) is not a positive number",
                )
                return []
            choices: dict[int | str, Any] = {}
            for sub in subs:
                code = choice_code(sub.code)
                if code is None or code in choices:
                    self.problem(
                        sub.row.at("title"),
                        f"the subquestion code {sub.code!r} of {context.owner} cannot be a choice code",
                    )
                    continue
                choices[code] = self.text(sub.texts, context.owner, sub.line) or sub.code
                if sub.row.get("relevance") not in ("", "1"):
                    self.problem(
                        sub.row.at("relevance"),
                        f"subquestion {sub.code} of {q.code} has its own "
                        "relevance, which a constant sum cannot apply to one part",
                    )
                self.define(f"{q.code}_{sub.code}", _Var("none", what="a part of a constant sum"))
            self.define(q.code, _Var("none", what="a constant sum"))
            for name in ("min_num_value_n", "max_num_value_n"):
                if context.attr(name):
                    self.note(
                        context.attrs[name].line,
                        f"{context.owner}: {name} is not carried over (a "
                        "constant sum takes 0 up to its total per part)",
                    )
            if integer:
                self.note(
                    context.attrs["num_value_int_only"].line,
                    f"{context.owner}: 'whole numbers only' is not carried over to the constant sum",
                )
            unit = self.unit(context)
            if unit:
                self.note(q.line, f"{context.owner}: its unit is not carried over (a constant sum has none)")
            self.mapped.append(f"{q.code}: equals_num_value {total} -> a constant sum with total {value}")
            return [{**context.base, "type": "constant_sum", "choices": choices, "total": value}]
        items = [self.lead_note(context)]
        for sub in subs:
            item = self.sub_item(
                context,
                [sub],
                f"{q.code}_{sub.code}",
                "integer" if integer else "decimal",
                self.text(sub.texts, context.owner, sub.line),
            )
            self.numeric_bounds(context, item, integer)
            self.define(f"{q.code}_{sub.code}", _Var("value", item=item["id"], numeric=True))
            items.append(item)
        return items

    def numeric(self, context: _Context) -> list[dict[str, Any]]:
        integer = context.attr("num_value_int_only") == "1"
        item = {**context.base, "type": "integer" if integer else "decimal"}
        self.numeric_bounds(context, item, integer)
        self.validation(context, item, numeric=True)
        self.define(context.q.code, _Var("value", item=item["id"], numeric=True))
        return [item]

    def free_text(self, context: _Context) -> list[dict[str, Any]]:
        q = context.q
        if q.type == "S" and context.attr("numbers_only") == "1":
            item = {**context.base, "type": "decimal"}
            self.mapped.append(f"{q.code}: a short text of numbers only -> a decimal")
            self.validation(context, item, numeric=True)
            self.define(q.code, _Var("value", item=item["id"], numeric=True))
            return [item]
        item = {**context.base, "type": "text"}
        if q.type in ("T", "U"):
            item["multiline"] = True
        raw = context.attr("maximum_chars")
        if raw:
            limit = _number(raw)
            if isinstance(limit, int) and 1 <= limit <= 20000:
                item["max_length"] = limit
            else:
                self.note(
                    context.attrs["maximum_chars"].line,
                    f"{context.owner}: maximum_chars = {raw} is not carried over (Elicit allows 1 to 20000)",
                )
        self.validation(context, item, numeric=False)
        self.define(q.code, _Var("value", item=item["id"]))
        return [item]

    def validation(self, context: _Context, item: dict[str, Any], numeric: bool) -> None:
        """A question validation equation (em_validation_q) as the item's constraint, where it translates."""
        source = context.attr("em_validation_q")
        if not source:
            return
        self.own_codes, self.own_numeric = {}, numeric
        line = context.attrs["em_validation_q"].line
        tree = self.equation(source, context.owner, line, own=context.q.code, what="validation")
        if tree is None:
            return
        item["constraint"] = _render(tree)
        tip = context.attrs.get("em_validation_q_tip")
        if tip is not None and any(tip.values.values()):
            values = dict(tip.values)
            if "" in values and values[""]:
                values = {lang: values[""] for lang in self.languages}
            message = self.text(values, context.owner, tip.line)
            if message:
                item["constraint_message"] = message

    def display(self, context: _Context) -> list[dict[str, Any]]:
        self.define(context.q.code, _Var("none", what="a text display"))
        if not context.base.get("text"):
            self.note(context.q.line, f"{context.owner} (a text display) has no text; it is left out")
            return []
        return [_note(context.base)]

    def date(self, context: _Context) -> list[dict[str, Any]]:
        fmt = context.attr("date_format")
        if re.search(r"HH|MM|hh|ii|:", fmt):
            self.problem(
                context.attrs["date_format"].line,
                f"{context.owner} asks for a time of day "
                f"(date_format {fmt}); Elicit's date items hold a date only",
            )
            return []
        item = {**context.base, "type": "date"}
        for key, name in (("min", "date_min"), ("max", "date_max")):
            raw = context.attr(name)
            if not raw:
                continue
            match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[ T][\d:]+)?", raw)
            if match:
                item[key] = match.group(1)
            elif re.fullmatch(r"\d{4}", raw):
                item[key] = f"{raw}-01-01" if key == "min" else f"{raw}-12-31"
            else:
                self.problem(
                    context.attrs[name].line,
                    f"{context.owner}: {name} = {raw} is not a date (an equation cannot be translated)",
                )
        self.define(context.q.code, _Var("value", item=item["id"]))
        return [item]

    def texts(self, context: _Context) -> list[dict[str, Any]]:
        q = context.q
        subs = self.subs(context)
        if not subs:
            return []
        items = [self.lead_note(context)]
        for sub in subs:
            item = self.sub_item(
                context, [sub], f"{q.code}_{sub.code}", "text", self.text(sub.texts, context.owner, sub.line)
            )
            self.define(f"{q.code}_{sub.code}", _Var("value", item=item["id"]))
            items.append(item)
        return items

    def grid(self, context: _Context) -> list[dict[str, Any]]:
        """An array of texts (;) or numbers (:): one item per row and column, named as LimeSurvey names them."""
        q = context.q
        rows, columns = self.subs(context, 0), self.subs(context, 1)
        if not rows or not columns:
            return []
        numbers = q.type == ":"
        integer = True
        if numbers:
            step = _number(context.attr("multiflexible_step") or "1")
            integer = context.attr("input_boxes") != "1"
            if step != 1 and integer:
                self.problem(
                    context.attrs["multiflexible_step"].line,
                    f"{context.owner} offers numbers in steps of {step}, which Elicit's numbers cannot",
                )
        self.note(
            q.line,
            f"{context.owner} is a grid in LimeSurvey; Elicit asks its {len(rows) * len(columns)} "
            "cells one below the other",
        )
        items = [self.lead_note(context)]
        for row in rows:
            row_text = self.text(row.texts, context.owner, row.line) or row.code
            for column in columns:
                column_text = self.text(column.texts, context.owner, column.line) or column.code
                kind = ("integer" if integer else "decimal") if numbers else "text"
                item = self.sub_item(
                    context,
                    [row, column],
                    f"{q.code}_{row.code}_{column.code}",
                    kind,
                    self.joined(row_text, column_text, sep=" — "),
                )
                if numbers and integer:
                    low = _number(context.attr("multiflexible_min") or "1")
                    high = _number(context.attr("multiflexible_max") or "10")
                    if isinstance(low, int) and isinstance(high, int) and low < high:
                        item.update(min=low, max=high)
                self.define(
                    f"{q.code}_{row.code}_{column.code}", _Var("value", item=item["id"], numeric=numbers)
                )
                items.append(item)
        return items

    HANDLERS: dict[str, Callable[[_Reader, _Context], list[dict[str, Any]]]] = {}


def _note(base: dict[str, Any]) -> dict[str, Any]:
    """A note item with a question's id, text, help and relevance."""
    return {
        "id": base["id"],
        "type": "note",
        **{k: base[k] for k in ("text", "help", "relevant") if k in base},
    }


@dataclass
class _Context:
    """One question being converted: its row, owner phrase, common item keys, relevance and attributes."""

    q: _Question
    owner: str
    base: dict[str, Any]
    relevant: tuple[Any, ...] | None
    attr: Callable[[str], str]
    attrs: dict[str, _Attribute]


def _fixed(labels: list[tuple[str, str]]) -> Callable[[_Reader, _Context], list[dict[str, Any]]]:
    """A single choice with LimeSurvey's own fixed options (yes/no, gender), labelled in every language."""

    def convert(reader: _Reader, context: _Context) -> list[dict[str, Any]]:
        choices: dict[int | str, Any] = {code: reader.builtin(key) for code, key in labels}
        item = {**context.base, "type": "single_choice", "choices": choices}
        reader.define(context.q.code, _Var("value", item=item["id"], codes={c: c for c, _ in labels}))
        return [item]

    return convert


_Reader.HANDLERS = {
    "L": _Reader.single,
    "!": _Reader.single,
    "O": _Reader.with_comment,
    "Y": _fixed([("Y", "yes"), ("N", "no")]),
    "G": _fixed([("F", "female"), ("M", "male")]),
    "5": _Reader.five_point,
    "M": _Reader.multiple,
    "P": _Reader.multiple,
    "F": _Reader.matrix,
    "A": _Reader.matrix,
    "B": _Reader.matrix,
    "H": _Reader.matrix,
    "R": _Reader.ranking,
    "K": _Reader.numbers,
    "N": _Reader.numeric,
    "S": _Reader.free_text,
    "T": _Reader.free_text,
    "U": _Reader.free_text,
    "X": _Reader.display,
    "D": _Reader.date,
    "Q": _Reader.texts,
    ";": _Reader.grid,
    ":": _Reader.grid,
}
