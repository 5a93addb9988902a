"""XLSForm's XPath expressions in Elicit's expression language, and Elicit's expressions back in XPath.

XLSForm writes ``relevant``, ``constraint`` and ``choice_filter`` in the subset of XPath 1.0 that ODK evaluates,
with ``${name}`` for a question and ``.`` for the question's own value. :func:`parse` reads that subset into a
small tree (a hand-written tokenizer and recursive-descent parser, bounded like Elicit's own: nothing is ever
evaluated by Python), :func:`to_elicit` writes the tree in Elicit's language (docs/instruments.md
"Expressions"), and :func:`to_xpath` walks an Elicit expression's tree to write it as XPath for the export.

What translates, and how::

    ${x}                    x                        .                     .
    =  !=  <  <=  >  >=     ==  !=  <  <=  >  >=     and  or  not(e)       and  or  not e
    + - * div mod           + - * / %                true()  false()       true  false
    selected(${x}, 'a')     selected(x, 'a')         count-selected(${x})  count_selected(x)
    ${x} != ''              answered(x)              ${x} = ''             not answered(x)
    string-length(${x}) > 0 answered(x)              date('2026-01-01')    '2026-01-01' (dates are ISO text)

Anything else (``if()``, ``regex()``, ``string-length()`` compared with another number, ``today()``, paths such
as ``/data/x`` or ``../x``, ``jr:choice-name()``...) raises :class:`XPathError` naming what has no equivalent; the
XLSForm reader turns a few of these into item settings first (``string-length(.) <= 200`` is ``max_length``,
``. <= today()`` a date's ``max``). XPath's ``mod`` takes the sign of the dividend and Elicit's ``%`` that of the
divisor: they differ only for negative numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from elicit.instruments.expressions import ExpressionError
from elicit.instruments.expressions import parse as parse_elicit

__all__ = [
    "Binary",
    "Call",
    "Current",
    "Name",
    "Node",
    "Number",
    "Reference",
    "String",
    "XPathError",
    "choice_filter",
    "conjuncts",
    "parse",
    "references",
    "to_elicit",
    "to_xpath",
]

MAX_SOURCE_LENGTH = 4000
MAX_DEPTH = 50
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(:[A-Za-z_][A-Za-z0-9_.\-]*)?")
_REF_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"\d+(\.\d*)?|\.\d+")
_OPERATOR_NAMES = frozenset({"and", "or", "div", "mod"})
_TWO_CHAR = ("!=", "<=", ">=")
_ONE_CHAR = frozenset("=<>+-*(),")


class XPathError(ValueError):
    """An XPath expression that cannot be read, or that has no equivalent in the other language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- the tree --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Number:
    text: str


@dataclass(frozen=True)
class String:
    value: str


@dataclass(frozen=True)
class Reference:
    """``${name}``: a question's value."""

    name: str


@dataclass(frozen=True)
class Current:
    """``.``: the value of the question the expression belongs to."""


@dataclass(frozen=True)
class Name:
    """A bare name: a column of the choices sheet in a choice_filter, a path step anywhere else."""

    name: str


@dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    operator: str  # or and = != < <= > >= + - * div mod
    left: Node
    right: Node


@dataclass(frozen=True)
class Negate:
    operand: Node


Node = Number | String | Reference | Current | Name | Call | Binary | Negate


# -- reading XPath ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # number string ref dot op name end
    text: str
    position: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        operand_before = bool(tokens) and (
            tokens[-1].kind in ("number", "string", "ref", "dot")
            or (tokens[-1].kind == "op" and tokens[-1].text == ")")
            or tokens[-1].kind == "name"
        )
        if source.startswith("${", i):
            end = source.find("}", i)
            name = source[i + 2 : end] if end >= 0 else ""
            if end < 0 or not _REF_NAME.fullmatch(name.strip()):
                raise XPathError(f"'${{' at column {i + 1} must be followed by a question name and '}}'")
            tokens.append(_Token("ref", name.strip(), i))
            i = end + 1
        elif ch.isdigit() or (ch == "." and i + 1 < n and source[i + 1].isdigit()):
            match = _NUMBER.match(source, i)
            assert match is not None  # nosec B101  # narrows the type: the value was checked just before
            tokens.append(_Token("number", match.group(), i))
            i = match.end()
        elif source.startswith("..", i):
            raise XPathError(
                "'..' (a path to a parent node) has no equivalent; refer to questions as ${name}"
            )
        elif ch == ".":
            tokens.append(_Token("dot", ".", i))
            i += 1
        elif ch in ("'", '"'):
            end = source.find(ch, i + 1)
            if end < 0:
                raise XPathError(f"the string starting at column {i + 1} is not closed")
            tokens.append(_Token("string", source[i + 1 : end], i))
            i = end + 1
        elif source.startswith(_TWO_CHAR, i):
            tokens.append(_Token("op", source[i : i + 2], i))
            i += 2
        elif ch in _ONE_CHAR:
            tokens.append(_Token("op", ch, i))
            i += 1
        elif ch.isalpha() or ch == "_":
            match = _NAME.match(source, i)
            assert match is not None  # nosec B101  # narrows the type: the value was checked just before
            word = match.group()
            if word in _OPERATOR_NAMES and operand_before:
                tokens.append(_Token("op", word, i))
            else:
                tokens.append(_Token("name", word, i))
            i = match.end()
        elif ch == "/":
            raise XPathError("paths such as /data/x have no equivalent; refer to questions as ${name}")
        elif ch == "$":
            raise XPathError(f"'$' at column {i + 1}: refer to a question as ${{name}}")
        elif ch == "|":
            raise XPathError("'|' (a union of node sets) has no equivalent")
        elif ch in "[]@":
            raise XPathError(f"'{ch}' (an XPath path or predicate) has no equivalent")
        else:
            raise XPathError(f"unexpected character {ch!r} at column {i + 1}")
    tokens.append(_Token("end", "", n))
    return tokens


class _Parser:
    """XPath 1.0's precedence: or, and, equality, relational, additive, multiplicative, unary minus."""

    levels: tuple[tuple[str, ...], ...] = (
        ("or",),
        ("and",),
        ("=", "!="),
        ("<", "<=", ">", ">="),
        ("+", "-"),
        ("*", "div", "mod"),
    )

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def is_op(self, *texts: str) -> bool:
        return self.token.kind == "op" and self.token.text in texts

    def descend(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise XPathError(f"the expression is nested more than {MAX_DEPTH} levels deep")

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise XPathError("the expression is empty")
        node = self.binary(0)
        if self.token.kind != "end":
            raise XPathError(f"unexpected {self.describe()} at column {self.token.position + 1}")
        return node

    def describe(self) -> str:
        token = self.token
        return "end of expression" if token.kind == "end" else f"'{token.text}'"

    def binary(self, level: int) -> Node:
        if level == len(self.levels):
            return self.unary()
        node = self.binary(level + 1)
        while self.is_op(*self.levels[level]):
            operator = self.advance().text
            node = Binary(operator, node, self.binary(level + 1))
        return node

    def unary(self) -> Node:
        if self.is_op("-"):
            self.advance()
            self.descend()
            operand = self.unary()
            self.depth -= 1
            return Negate(operand)
        return self.primary()

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "number":
            text = token.text + "0" if token.text.endswith(".") else token.text
            return Number(text)
        if token.kind == "string":
            return String(token.text)
        if token.kind == "ref":
            return Reference(token.text)
        if token.kind == "dot":
            return Current()
        if token.kind == "name":
            if self.is_op("("):
                return self.call(token.text)
            return Name(token.text)
        if token.kind == "op" and token.text == "(":
            self.descend()
            node = self.binary(0)
            if not self.is_op(")"):
                raise XPathError(f"expected ')' at column {self.token.position + 1}, found {self.describe()}")
            self.advance()
            self.depth -= 1
            return node
        if token.kind == "end":
            raise XPathError("the expression ends where a value was expected")
        raise XPathError(f"expected a value at column {token.position + 1}, found '{token.text}'")

    def call(self, function: str) -> Node:
        self.advance()  # (
        self.descend()
        arguments: list[Node] = []
        if not self.is_op(")"):
            arguments.append(self.binary(0))
            while self.is_op(","):
                self.advance()
                arguments.append(self.binary(0))
        if not self.is_op(")"):
            raise XPathError(
                f"expected ')' to close {function}( at column {self.token.position + 1}, found {self.describe()}"
            )
        self.advance()
        self.depth -= 1
        return Call(function, tuple(arguments))


def parse(source: str) -> Node:
    """The tree of an XLSForm expression; XPathError when it is not one."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise XPathError(f"the expression is longer than {MAX_SOURCE_LENGTH} characters")
    return _Parser(source).parse()


def conjuncts(node: Node) -> list[Node]:
    """The operands of a top-level chain of ``and`` (the node itself when it is no ``and``)."""
    if isinstance(node, Binary) and node.operator == "and":
        return [*conjuncts(node.left), *conjuncts(node.right)]
    return [node]


def references(node: Node) -> list[str]:
    """The question names ``${name}`` an expression reads, in order, each once."""
    found: dict[str, None] = {}

    def walk(current: Node) -> None:
        if isinstance(current, Reference):
            found[current.name] = None
        elif isinstance(current, Binary):
            walk(current.left)
            walk(current.right)
        elif isinstance(current, Negate):
            walk(current.operand)
        elif isinstance(current, Call):
            for argument in current.arguments:
                walk(argument)

    walk(node)
    return list(found)


# -- XPath to Elicit -------------------------------------------------------------------------------------------
# Elicit's precedence levels (expressions.py): or, and, not, comparison, additive, multiplicative, unary, primary.
_E_OR, _E_AND, _E_NOT, _E_CMP, _E_ADD, _E_MUL, _E_UNARY, _E_ATOM = range(1, 9)
_E_OPERATORS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_E_ARITHMETIC = {
    "+": ("+", _E_ADD),
    "-": ("-", _E_ADD),
    "*": ("*", _E_MUL),
    "div": ("/", _E_MUL),
    "mod": ("%", _E_MUL),
}
_NO_EQUIVALENT = {
    "if": "if() has no equivalent in Elicit's expressions; split the question, or write two conditions",
    "today": "today() has no equivalent in Elicit's expressions (only a date's min or max may be today)",
    "now": "now() has no equivalent in Elicit's expressions",
    "string-length": (
        "string-length() has no equivalent in Elicit's expressions (a text's longest length is its max_length, "
        "written as string-length(.) <= N)"
    ),
    "regex": "regex() has no equivalent in Elicit's expressions",
    "jr:choice-name": "jr:choice-name() has no equivalent in Elicit's expressions",
    "position": "position() has no equivalent in Elicit's expressions (repeats are not imported)",
    "indexed-repeat": "indexed-repeat() has no equivalent in Elicit's expressions (repeats are not imported)",
    "pulldata": "pulldata() reads an external file and has no equivalent in Elicit's expressions",
    "once": "once() has no equivalent in Elicit's expressions",
    "coalesce": "coalesce() has no equivalent in Elicit's expressions",
    "concat": "concat() has no equivalent in Elicit's expressions (text is not concatenated)",
}


def _wrap(text: str, precedence: int, minimum: int) -> str:
    return f"({text})" if precedence < minimum else text


def _elicit_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class _ToElicit:
    """Writes an XPath tree in Elicit's language; ``resolve`` names the item of a ``${name}`` (or raises)."""

    def __init__(self, resolve: Callable[[str], str], consent: Collection[str]) -> None:
        self.resolve = resolve
        self.consent = consent  # XLSForm names of acknowledge questions imported as consent (OK -> yes)

    def subject(self, node: Node) -> str | None:
        """The Elicit text of a question reference or ``.``, else None."""
        if isinstance(node, Reference):
            return self.resolve(node.name)
        if isinstance(node, Current):
            return "."
        return None

    def is_consent(self, node: Node) -> bool:
        return isinstance(node, Reference) and node.name in self.consent

    def emit(self, node: Node) -> tuple[str, int]:
        if isinstance(node, Number):
            return node.text, _E_ATOM
        if isinstance(node, String):
            return _elicit_string(node.value), _E_ATOM
        if isinstance(node, Reference):
            return self.resolve(node.name), _E_ATOM
        if isinstance(node, Current):
            return ".", _E_ATOM
        if isinstance(node, Name):
            raise XPathError(
                f"'{node.name}' is an XPath path, not a question: refer to a question as ${{{node.name}}}"
            )
        if isinstance(node, Negate):
            text, precedence = self.emit(node.operand)
            return f"-{_wrap(text, precedence, _E_UNARY)}", _E_UNARY
        if isinstance(node, Call):
            return self.call(node)
        return self.binary(node)

    def call(self, node: Call) -> tuple[str, int]:
        function, arguments = node.function, node.arguments
        if function in ("true", "false"):
            self.arity(node, 0)
            return function, _E_ATOM
        if function == "not":
            self.arity(node, 1)
            text, precedence = self.emit(arguments[0])
            if text.startswith("not answered(") and text.endswith(")") and precedence == _E_NOT:
                return text.removeprefix("not "), _E_ATOM  # not(${x} = '') is answered(x)
            return f"not {_wrap(text, precedence, _E_NOT)}", _E_NOT
        if function in ("selected", "count-selected"):
            self.arity(node, 2 if function == "selected" else 1)
            subject = self.subject(arguments[0])
            if subject is None:
                raise XPathError(f"the first argument of {function}() must be a question ${{name}} or '.'")
            if function == "count-selected":
                return f"count_selected({subject})", _E_ATOM
            code, _ = self.emit(arguments[1])
            return f"selected({subject}, {code})", _E_ATOM
        if function == "date":
            self.arity(node, 1)
            argument = arguments[0]
            if isinstance(argument, String) and ISO_DATE.match(argument.value):
                return _elicit_string(argument.value), _E_ATOM
            raise XPathError("date() is translated only with a literal date such as date('2026-01-31')")
        message = _NO_EQUIVALENT.get(function, f"{function}() has no equivalent in Elicit's expressions")
        raise XPathError(message)

    def arity(self, node: Call, expected: int) -> None:
        if len(node.arguments) != expected:
            raise XPathError(f"{node.function}() takes {expected} argument(s), not {len(node.arguments)}")

    def emptiness(self, node: Binary) -> tuple[str, int] | None:
        """``${x} = ''``, ``${x} != ''`` and ``string-length(${x}) > 0`` as (not) answered(x)."""
        left, right, operator = node.left, node.right, node.operator
        if isinstance(left, String) and not isinstance(right, String):
            left, right = right, left
            operator = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(operator, operator)
        answered: bool | None = None
        subject: Node | None = None
        if isinstance(right, String) and right.value == "" and operator in ("=", "!="):
            subject, answered = left, operator == "!="
        elif isinstance(left, Call) and left.function == "string-length" and len(left.arguments) == 1:
            subject = left.arguments[0]
            number = right.text if isinstance(right, Number) else None
            answered = {
                (">", "0"): True,
                ("!=", "0"): True,
                (">=", "1"): True,
                ("=", "0"): False,
                ("<", "1"): False,
                ("<=", "0"): False,
            }.get((operator, number or ""))
        if subject is None or answered is None:
            return None
        if self.is_consent(subject):
            assert isinstance(subject, Reference)  # nosec B101  # narrows the type: the value was checked just before
            ident = self.resolve(subject.name)
            return f"{ident} {'==' if answered else '!='} 'yes'", _E_CMP
        text = self.subject(subject)
        if text is None:
            return None
        return (f"answered({text})", _E_ATOM) if answered else (f"not answered({text})", _E_NOT)

    def binary(self, node: Binary) -> tuple[str, int]:
        operator = node.operator
        if operator in ("or", "and"):
            precedence = _E_OR if operator == "or" else _E_AND
            operands = self.chain(node, operator)
            minimum = _E_AND if operator == "or" else _E_NOT
            parts = [_wrap(*self.emit(operand), minimum) for operand in operands]
            return f" {operator} ".join(parts), precedence
        if operator in _E_OPERATORS:
            special = self.emptiness(node)
            if special is not None:
                return special
            left, right = node.left, node.right
            if self.is_consent(left) and isinstance(right, String) and right.value == "OK":
                right = String("yes")
            if self.is_consent(right) and isinstance(left, String) and left.value == "OK":
                left = String("yes")
            left_text = _wrap(*self.emit(left), _E_ADD)
            right_text = _wrap(*self.emit(right), _E_ADD)
            return f"{left_text} {_E_OPERATORS[operator]} {right_text}", _E_CMP
        symbol, precedence = _E_ARITHMETIC[operator]
        left_text = _wrap(*self.emit(node.left), precedence)
        right_text = _wrap(*self.emit(node.right), precedence + 1)
        return f"{left_text} {symbol} {right_text}", precedence

    def chain(self, node: Node, operator: str) -> list[Node]:
        if isinstance(node, Binary) and node.operator == operator:
            return [*self.chain(node.left, operator), *self.chain(node.right, operator)]
        return [node]


def to_elicit(
    node: Node | str, resolve: Callable[[str], str], *, consent: Collection[str] = frozenset()
) -> str:
    """The expression in Elicit's language; XPathError naming what cannot be translated.

    ``resolve`` gives the Elicit item id of a question name (and raises XPathError for a name that is no
    question); ``consent`` names acknowledge questions imported as consent, whose ``'OK'`` becomes ``'yes'``.
    """
    tree = parse(node) if isinstance(node, str) else node
    text, _ = _ToElicit(resolve, consent).emit(tree)
    try:
        parse_elicit(text)
    except ExpressionError as exc:
        raise XPathError(f"the translation {text!r} is not a valid Elicit expression: {exc}") from None
    return text


# -- static choice filters -------------------------------------------------------------------------------------
def choice_filter(source: str) -> Callable[[Mapping[str, str]], bool]:
    """A choice_filter that reads only the choices sheet's columns, as a test of one choice row.

    A filter that reads an answer (``${x}``) changes the choices while the expert answers, which Elicit's
    questions cannot do: XPathError.
    """
    tree = parse(source)
    names = references(tree)
    if names:
        raise XPathError(
            f"it depends on the answer to ${{{names[0]}}}; Elicit shows every choice of a question "
            "(split the question into one per case, each with its own relevant)"
        )

    def test(row: Mapping[str, str]) -> bool:
        return _truth(_static(tree, row))

    _static(tree, {})  # report unsupported constructs now, not per row
    return test


def _static(node: Node, row: Mapping[str, str]) -> Any:
    if isinstance(node, Number):
        return float(node.text)
    if isinstance(node, String):
        return node.value
    if isinstance(node, Name):
        return row.get(node.name, "")
    if isinstance(node, Negate):
        return -_as_number(_static(node.operand, row))
    if isinstance(node, Call):
        if node.function in ("true", "false") and not node.arguments:
            return node.function == "true"
        if node.function == "not" and len(node.arguments) == 1:
            return not _truth(_static(node.arguments[0], row))
        raise XPathError(f"{node.function}() is not supported in a choice_filter")
    if isinstance(node, Current):
        raise XPathError("'.' has no meaning in a choice_filter")
    if isinstance(node, Reference):  # pragma: no cover - refused before
        raise XPathError(f"it depends on the answer to ${{{node.name}}}")
    left, right = _static(node.left, row), _static(node.right, row)
    operator = node.operator
    if operator == "or":
        return _truth(left) or _truth(right)
    if operator == "and":
        return _truth(left) and _truth(right)
    if operator in ("=", "!="):
        if isinstance(left, bool) or isinstance(right, bool):
            equal = _truth(left) == _truth(right)
        elif isinstance(left, float) or isinstance(right, float):
            equal = _as_number(left) == _as_number(right)
        else:
            equal = str(left) == str(right)
        return equal if operator == "=" else not equal
    a, b = _as_number(left), _as_number(right)
    if operator in ("<", "<=", ">", ">="):
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0:
        return math.nan
    return a / b if operator == "div" else math.fmod(a, b)


def _as_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return not math.isnan(value) and value != 0
    return bool(value)


# -- Elicit to XPath -------------------------------------------------------------------------------------------
_X_OR, _X_AND, _X_EQ, _X_REL, _X_ADD, _X_MUL, _X_UNARY, _X_ATOM = range(1, 9)
_X_COMPARISONS = {
    "==": ("=", _X_EQ),
    "!=": ("!=", _X_EQ),
    "<": ("<", _X_REL),
    "<=": ("<=", _X_REL),
    ">": (">", _X_REL),
    ">=": (">=", _X_REL),
}
_X_ARITHMETIC = {
    "+": ("+", _X_ADD),
    "-": ("-", _X_ADD),
    "*": ("*", _X_MUL),
    "/": ("div", _X_MUL),
    "%": ("mod", _X_MUL),
}


def _xpath_string(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise XPathError(f"the text {value!r} holds both kinds of quote, which an XPath string cannot")


def _xpath_number(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    text = f"{value:.15f}".rstrip("0")
    return text


class _ToXPath:
    """Writes an Elicit expression tree (expressions.py's node classes, read by name) as XPath."""

    def __init__(self, name_of: Callable[[str], str], consent: Collection[str]) -> None:
        self.name_of = name_of
        self.consent = consent  # Elicit ids of consent items written as acknowledge ('yes' is 'OK')

    def emit(self, node: Any) -> tuple[str, int]:
        kind = type(node).__name__
        if kind == "_Literal":
            return self.literal(node.value), _X_ATOM
        if kind == "_Reference":
            return f"${{{self.name_of(node.name)}}}", _X_ATOM
        if kind == "_Current":
            return ".", _X_ATOM
        if kind == "_Negate":
            text, precedence = self.emit(node.operand)
            return f"-{_wrap(text, precedence, _X_UNARY)}", _X_UNARY
        if kind == "_Arithmetic":
            text, precedence = self.emit(node.first)
            level = _X_ARITHMETIC[node.rest[0][0]][1] if node.rest else _X_ATOM
            text = _wrap(text, precedence, level)
            for operator, operand in node.rest:
                symbol, level = _X_ARITHMETIC[operator]
                right, right_precedence = self.emit(operand)
                text = f"{text} {symbol} {_wrap(right, right_precedence, level + 1)}"
            return text, level
        if kind == "_Not":
            operand = node.operand
            if type(operand).__name__ == "_Call" and operand.function == "answered":
                subject = self.subject(operand.arguments[0])  # not answered(x) is ${x} = ''
                if self.is_consent(operand.arguments[0]):
                    return f"{subject} != 'OK'", _X_EQ
                return f"{subject} = ''", _X_EQ
            text, _ = self.emit(operand)
            return f"not({text})", _X_ATOM
        if kind in ("_And", "_Or"):
            word, level = ("and", _X_AND) if kind == "_And" else ("or", _X_OR)
            parts = [_wrap(*self.emit(operand), level + 1) for operand in node.operands]
            return f" {word} ".join(parts), level
        if kind == "_Call":
            return self.call(node)
        if kind == "_Compare":
            return self.compare(node)
        if kind == "_ListDisplay":
            raise XPathError("a list [...] has no equivalent in XPath outside 'in'")
        raise XPathError(f"{kind.strip('_').lower()} has no equivalent in XPath")

    def literal(self, value: Any) -> str:
        if value is None:
            raise XPathError("null has an equivalent in XPath only when compared: x == null is ${x} = ''")
        if value is True or value is False:
            return "true()" if value else "false()"
        if isinstance(value, int | float):
            return _xpath_number(value)
        return _xpath_string(str(value))

    def subject(self, node: Any) -> str:
        kind = type(node).__name__
        if kind == "_Reference":
            return f"${{{self.name_of(node.name)}}}"
        if kind == "_Current":
            return "."
        raise XPathError("a function's first argument must be an item or '.'")

    def is_consent(self, node: Any) -> bool:
        return type(node).__name__ == "_Reference" and node.name in self.consent

    def call(self, node: Any) -> tuple[str, int]:
        function, arguments = node.function, node.arguments
        subject = self.subject(arguments[0])
        if function == "answered":
            if self.is_consent(arguments[0]):
                return f"{subject} = 'OK'", _X_EQ
            return f"{subject} != ''", _X_EQ
        if function == "count_selected":
            return f"count-selected({subject})", _X_ATOM
        code = arguments[1]
        if type(code).__name__ != "_Literal" or code.value is None or isinstance(code.value, bool):
            raise XPathError("selected() is written in XPath only with a literal choice code")
        value = code.value
        text = _xpath_number(value) if isinstance(value, int | float) else str(value)
        return f"selected({subject}, {_xpath_string(text)})", _X_ATOM

    def compare(self, node: Any) -> tuple[str, int]:
        operator, left, right = node.operator, node.left, node.right
        if operator in ("in", "not in"):
            return self.membership(operator, left, right)
        for a, b in ((left, right), (right, left)):
            if type(b).__name__ == "_Literal" and b.value is None and operator in ("==", "!="):
                subject, _ = self.emit(a)
                return f"{subject} {'=' if operator == '==' else '!='} ''", _X_EQ
        if operator in ("==", "!="):
            for a, b in ((left, right), (right, left)):
                if self.is_consent(a) and type(b).__name__ == "_Literal" and b.value in ("yes", "no"):
                    subject, _ = self.emit(a)
                    equal = (operator == "==") == (b.value == "yes")
                    return f"{subject} {'=' if equal else '!='} 'OK'", _X_EQ
        symbol, level = _X_COMPARISONS[operator]
        left_text = self.operand(left, level, operator)
        right_text = self.operand(right, level + 1, operator)
        return f"{left_text} {symbol} {right_text}", level

    def operand(self, node: Any, minimum: int, operator: str) -> str:
        """A comparison operand; an ISO date compared for order is written as date('...')."""
        if (
            operator in ("<", "<=", ">", ">=")
            and type(node).__name__ == "_Literal"
            and isinstance(node.value, str)
            and ISO_DATE.match(node.value)
        ):
            return f"date('{node.value}')"
        return _wrap(*self.emit(node), minimum)

    def membership(self, operator: str, left: Any, right: Any) -> tuple[str, int]:
        if type(right).__name__ == "_ListDisplay":
            if not right.items:
                return ("false()" if operator == "in" else "true()"), _X_ATOM
            subject = _wrap(*self.emit(left), _X_REL)
            equals = [f"{subject} = {_wrap(*self.emit(item), _X_REL)}" for item in right.items]
            text = " or ".join(equals)
            if operator == "in":
                return (text, _X_OR) if len(equals) > 1 else (text, _X_EQ)
            return f"not({text})", _X_ATOM
        if type(right).__name__ == "_Reference" and type(left).__name__ == "_Literal":
            text = f"selected({self.subject(right)}, {self.literal(str(left.value))})"
            return (text, _X_ATOM) if operator == "in" else (f"not({text})", _X_ATOM)
        raise XPathError("'in' is written in XPath only with a list [...] or as 'code' in item")


def to_xpath(source: str, name_of: Callable[[str], str], *, consent: Collection[str] = frozenset()) -> str:
    """An Elicit expression in XLSForm's XPath; XPathError when it has no equivalent there.

    ``name_of`` gives the XLSForm name of an item id (raising XPathError for an item XLSForm holds as several
    questions); ``consent`` names consent items written as acknowledge, whose ``'yes'`` is ``'OK'``.
    """
    tree = parse_elicit(source)._tree  # the tree's node classes are read by name
    text, _ = _ToXPath(name_of, consent).emit(tree)
    return text
