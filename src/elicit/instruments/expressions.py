"""The safe expression language of instruments' ``relevant`` and ``constraint`` fields.

An instrument decides whether an item is shown (``relevant``) and whether an answer is acceptable
(``constraint``) with small expressions such as::

    consent == 'yes'
    answered(years) and years >= 5
    selected(activities, 'exercises') or count_selected(activities) > 2
    . >= 0 and . <= 100
    state in ['UK', 'PK']

They are written by study authors and evaluated on every page request, so they are parsed by a hand-written
tokenizer and recursive-descent parser into an immutable tree, and evaluated by the code below. Python's
``eval``, ``exec``, ``compile`` and ``ast`` are never used: nothing an author writes can reach Python objects,
attributes, imports or builtins.

Grammar (lowest precedence first)::

    or_expr    := and_expr ('or' and_expr)*
    and_expr   := not_expr ('and' not_expr)*
    not_expr   := 'not' not_expr | comparison
    comparison := additive (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not' 'in') additive)?
    additive   := term (('+'|'-') term)*
    term       := unary (('*'|'/'|'%') unary)*
    unary      := '-' unary | primary
    primary    := NUMBER | STRING | 'true' | 'false' | 'null' | '.' | IDENT
                | FUNCTION '(' args ')' | '(' or_expr ')' | '[' (or_expr (',' or_expr)* ','?)? ']'

Identifiers (item ids) match ``[a-z][a-z0-9_]*``; ``and or not in true false null`` and the function names
``answered selected count_selected`` are reserved. Strings take single or double quotes; inside them only
``\\'``, ``\\"`` and ``\\\\`` are escapes. Numbers are integers or decimals (``12``, ``0.5``, ``.5``), without
exponent. Comparisons do not chain: ``a < b < c`` is an error, write ``a < b and b < c``.

Semantics. ``answers`` maps item ids to values (int, float, str, bool, a list of choice codes, or a dict
for composite items such as a ranking ``{code: rank}``); a missing id or ``None`` means unanswered, and is
``null`` in the language. Because answers can be absent or of an unexpected type at run time, and a
questionnaire must never crash in front of an expert, evaluation does not raise: every structural mistake
is reported by :func:`parse`, and a data problem yields ``null`` or ``false``.

- Equality (``==``, ``!=``, ``in``): ``null == null`` is true and ``null`` equals nothing else; ``int``
  and ``float`` compare numerically; an ``int`` and a ``str`` compare as text, so that a choice code ``1``
  matches ``'1'`` (but not ``'01'`` or ``'1.0'``); booleans equal only booleans; lists compare item by
  item, dicts by key. There is no other coercion: ``'5' == 5.0`` is false.
- Ordering (``< <= > >=``): numbers with numbers and text with text (by code point, so ISO dates order
  correctly); anything else, ``null`` included, is false.
- Arithmetic (``+ - * / %`` and unary ``-``) works on numbers only (a boolean is not a number); ``null``
  or any other operand gives ``null``, as do division by zero and results outside ±10**18, so a
  comparison that uses the result is false. ``/`` is true division (``7 / 2 == 3.5``); ``%`` takes the
  sign of the divisor. Text is not concatenated.
- ``a in b``: ``b`` is a list (a literal, or a multiple-choice answer) and ``a`` equals one of its items
  by the rule above, or ``b`` is a dict and ``a`` equals one of its keys; otherwise false, and
  ``null in ...`` is false. ``a not in b`` is exactly ``not (a in b)``.
- ``and``/``or`` short-circuit and give booleans; ``not`` gives a boolean. Truth: ``null``, ``false``,
  ``0``, ``''``, an empty list or dict are false, everything else true.
- ``answered(x)``: x is not ``null``, ``''``, an empty list or an empty dict.
- ``selected(x, c)``: x is a list (or dict) holding code c, or a scalar equal to c, comparing ``str()``
  of both sides so ``selected(x, 1)`` and ``selected(x, '1')`` agree; false when x is unanswered or c
  is ``null``.
- ``count_selected(x)``: the length of a list (or dict), 0 when unanswered, 1 for any other answer.

Hostile input is bounded: at most 2000 characters, nesting at most 50 levels deep (an
:class:`ExpressionError`, never a ``RecursionError``), number literals of at most 32 characters and at
most 10**18, and no exponent operator, so no expression can exhaust memory or time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import ge, gt, le, lt
from typing import Any

__all__ = ["FUNCTIONS", "CodeComparison", "Expression", "ExpressionError", "parse"]

FUNCTIONS: frozenset[str] = frozenset({"answered", "selected", "count_selected"})
"""The functions an expression may call."""

MAX_SOURCE_LENGTH = 2000
"""The longest expression accepted, in characters."""

MAX_DEPTH = 50
"""How deeply parentheses, brackets, calls, ``not`` and unary ``-`` may nest."""

MAX_NUMBER_LENGTH = 32
"""The longest number literal accepted, in characters."""

MAX_INTEGER = 10**18
"""The largest magnitude of an integer literal or arithmetic result; beyond it arithmetic gives ``null``."""

_ARITY: dict[str, int] = {"answered": 1, "selected": 2, "count_selected": 1}
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ORDERINGS: dict[str, Callable[[Any, Any], Any]] = {
    "<": lt,
    "<=": le,
    ">": gt,
    ">=": ge,
}
_ADDITIVE = frozenset({"+", "-"})
_MULTIPLICATIVE = frozenset({"*", "/", "%"})
_WHITESPACE = frozenset(" \t\r\n")
_DIGITS = frozenset("0123456789")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_NAME_START = _LOWER | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | _DIGITS
_ESCAPABLE = frozenset("'\"\\")
_TWO_CHAR_OPERATORS = frozenset({"==", "!=", "<=", ">="})
_ONE_CHAR_OPERATORS = frozenset("<>+-*/%()[],.")
_MISTAKES = {
    "=": "use '==' to compare, not '='",
    "!": "use 'not', not '!'",
    "&&": "use 'and', not '&&'",
    "||": "use 'or', not '||'",
    "&": "use 'and', not '&'",
    "|": "use 'or', not '|'",
    "**": "there is no power operator",
}
_MAX_VALUE_DEPTH = 20  # how deeply nested lists or dicts in answers are compared


class ExpressionError(ValueError):
    """A syntax error in an expression, with the position where it was found.

    Parameters
    ----------
    message
        What is wrong, as a sentence fragment a study author understands.
    position
        The 0-based column in the source where the problem is, or ``None`` when it concerns the whole
        expression. ``str(error)`` shows it 1-based, as editors count columns.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} at column {self.position + 1}"


# ----------------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True, slots=True)
class _Token:
    """One lexical token: its kind, its source text, its literal value (numbers, strings) and its column."""

    kind: str  # "number", "string", "name", "keyword", "op" or "end"
    text: str
    position: int
    value: int | float | str | None = None

    def describe(self) -> str:
        """Name the token for an error message, e.g. ``')'``, ``name 'foo'`` or ``end of expression``."""
        if self.kind == "end":
            return "end of expression"
        if self.kind in ("op", "keyword"):
            return f"'{self.text}'"
        text = self.text if len(self.text) <= 20 else self.text[:17] + "..."
        if self.kind == "name":
            return f"name '{text}'"
        return f"{self.kind} {text}"


def _tokenize(source: str) -> list[_Token]:
    """Split ``source`` into tokens, ending with an ``end`` token.

    Raises
    ------
    ExpressionError
        On a character that starts no token, an unterminated string, a bad escape or a malformed number.
    """
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in _WHITESPACE:
            i += 1
        elif ch in _DIGITS or (ch == "." and i + 1 < n and source[i + 1] in _DIGITS):
            token = _read_number(source, i)
            tokens.append(token)
            i += len(token.text)
        elif ch in ("'", '"'):
            token = _read_string(source, i)
            tokens.append(token)
            i += len(token.text)
        elif ch in _NAME_START:
            j = i
            while j < n and source[j] in _NAME_CHARS:
                j += 1
            word = source[i:j]
            if word in _KEYWORDS:
                tokens.append(_Token("keyword", word, i))
            elif ch in _LOWER and all(c in _LOWER or c in _DIGITS or c == "_" for c in word):
                tokens.append(_Token("name", word, i))
            elif word.lower() in _KEYWORDS or word == "None":
                keyword = "null" if word == "None" else word.lower()
                raise ExpressionError(f"write '{keyword}', not '{word}'", i)
            else:
                raise ExpressionError(
                    f"invalid name '{word}' (item ids are lowercase letters, digits and '_', "
                    "starting with a letter)",
                    i,
                )
            i = j
        elif source[i : i + 2] in _TWO_CHAR_OPERATORS:
            tokens.append(_Token("op", source[i : i + 2], i))
            i += 2
        elif source[i : i + 2] in _MISTAKES:
            raise ExpressionError(_MISTAKES[source[i : i + 2]], i)
        elif ch in _ONE_CHAR_OPERATORS:
            tokens.append(_Token("op", ch, i))
            i += 1
        elif ch in _MISTAKES:
            raise ExpressionError(_MISTAKES[ch], i)
        else:
            raise ExpressionError(f"unexpected character {ch!r}", i)
    tokens.append(_Token("end", "", n))
    return tokens


def _read_number(source: str, start: int) -> _Token:
    """Read an integer or decimal literal at ``start``, refusing over-long or oversized numbers."""
    n = len(source)
    i = start
    while i < n and source[i] in _DIGITS:
        i += 1
    is_decimal = i < n and source[i] == "."
    if is_decimal:
        i += 1
        if i >= n or source[i] not in _DIGITS:
            raise ExpressionError("expected digits after the decimal point", i)
        while i < n and source[i] in _DIGITS:
            i += 1
    if i < n and (source[i] in _NAME_CHARS or source[i] == "."):
        j = i
        while j < n and (source[j] in _NAME_CHARS or source[j] == "."):
            j += 1
        raise ExpressionError(f"invalid number '{source[start:j]}'", start)
    text = source[start:i]
    if len(text) > MAX_NUMBER_LENGTH:
        raise ExpressionError(f"number is longer than {MAX_NUMBER_LENGTH} characters", start)
    value: int | float
    if is_decimal:
        value = float(text)
    else:
        value = int(text)
        if value > MAX_INTEGER:
            raise ExpressionError("number is too large (at most 10**18)", start)
    return _Token("number", text, start, value)


def _read_string(source: str, start: int) -> _Token:
    """Read a quoted string at ``start``; only the quotes and the backslash may be escaped."""
    quote = source[start]
    n = len(source)
    i = start + 1
    chars: list[str] = []
    while i < n:
        ch = source[i]
        if ch == quote:
            return _Token("string", source[start : i + 1], start, "".join(chars))
        if ch == "\\":
            if i + 1 >= n:
                break
            escaped = source[i + 1]
            if escaped not in _ESCAPABLE:
                raise ExpressionError(
                    f"invalid escape '\\{escaped}' (only \\', \\\" and \\\\ are escapes)",
                    i,
                )
            chars.append(escaped)
            i += 2
        else:
            chars.append(ch)
            i += 1
    raise ExpressionError("unterminated string starting", start)


# ----------------------------------------------------------------------------------------------------
# The tree and its evaluation. Each node evaluates itself against the answers and the current item's value.


class _Node:
    """A node of the expression tree (every subclass is a frozen dataclass)."""

    __slots__ = ()

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        raise NotImplementedError

    def children(self) -> tuple[_Node, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class _Literal(_Node):
    value: int | float | str | bool | None
    position: int | None = field(default=None, compare=False)  # its column in the source, for the checker

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return self.value


@dataclass(frozen=True, slots=True)
class _Reference(_Node):
    name: str

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return answers.get(self.name)


@dataclass(frozen=True, slots=True)
class _Current(_Node):
    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return current


@dataclass(frozen=True, slots=True)
class _ListDisplay(_Node):
    items: tuple[_Node, ...]

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return [item.evaluate(answers, current) for item in self.items]

    def children(self) -> tuple[_Node, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class _Negate(_Node):
    operand: _Node

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        number = _number(self.operand.evaluate(answers, current))
        return None if number is None else _bounded(-number)

    def children(self) -> tuple[_Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class _Arithmetic(_Node):
    """A left-associative chain ``first op operand op operand ...`` of one precedence level.

    Chains are kept flat rather than as nested binary nodes so that ``1 + 1 + ... + 1`` cannot build a tree
    deep enough to exhaust the stack when evaluated.
    """

    first: _Node
    rest: tuple[tuple[str, _Node], ...]

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        result = self.first.evaluate(answers, current)
        for operator, operand in self.rest:
            result = _arithmetic(operator, result, operand.evaluate(answers, current))
        return result

    def children(self) -> tuple[_Node, ...]:
        return (self.first, *(operand for _, operand in self.rest))


@dataclass(frozen=True, slots=True)
class _Compare(_Node):
    operator: str
    left: _Node
    right: _Node

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return _compare(
            self.operator, self.left.evaluate(answers, current), self.right.evaluate(answers, current)
        )

    def children(self) -> tuple[_Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    operand: _Node

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return not _truth(self.operand.evaluate(answers, current))

    def children(self) -> tuple[_Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class _And(_Node):
    operands: tuple[_Node, ...]

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return all(_truth(operand.evaluate(answers, current)) for operand in self.operands)

    def children(self) -> tuple[_Node, ...]:
        return self.operands


@dataclass(frozen=True, slots=True)
class _Or(_Node):
    operands: tuple[_Node, ...]

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        return any(_truth(operand.evaluate(answers, current)) for operand in self.operands)

    def children(self) -> tuple[_Node, ...]:
        return self.operands


@dataclass(frozen=True, slots=True)
class _Call(_Node):
    function: str
    arguments: tuple[_Node, ...]

    def evaluate(self, answers: Mapping[str, object], current: object) -> object:
        values = [argument.evaluate(answers, current) for argument in self.arguments]
        if self.function == "answered":
            return _answered(values[0])
        if self.function == "selected":
            return _selected(values[0], values[1])
        return _count_selected(values[0])

    def children(self) -> tuple[_Node, ...]:
        return self.arguments


def _truth(value: object) -> bool:
    """Whether ``value`` counts as true: not null, false, zero, empty text, an empty list or dict."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _number(value: object) -> int | float | None:
    """``value`` as an operand of arithmetic, or ``None`` when it is not a number or out of range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_INTEGER <= value <= MAX_INTEGER else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None


def _bounded(value: int | float) -> int | float | None:
    """An arithmetic result, or ``None`` when it is beyond ±10**18 or not finite."""
    if isinstance(value, int):
        return value if -MAX_INTEGER <= value <= MAX_INTEGER else None
    return value if math.isfinite(value) else None


def _arithmetic(operator: str, left: object, right: object) -> int | float | None:
    """Apply ``+ - * / %`` to two numbers; anything else, division by zero or overflow gives ``None``."""
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    try:
        if operator == "+":
            result = a + b
        elif operator == "-":
            result = a - b
        elif operator == "*":
            result = a * b
        elif operator == "/":
            result = a / b
        else:
            result = a % b
    except (ZeroDivisionError, OverflowError):
        return None
    return _bounded(result)


def _code(value: object) -> str | None:
    """The text of a choice code (str, int, float or bool), or ``None`` when ``value`` cannot be a code."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        try:
            return str(value)
        except ValueError:  # an int too long to convert to text
            return None
    return None


def _equal(left: object, right: object, depth: int = 0) -> bool:
    """The language's equality; see the module docstring."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, int | str) and isinstance(right, int | str):
        # Both text, or an int choice code and text: compare as text.
        return _code(left) == _code(right)
    if depth >= _MAX_VALUE_DEPTH:
        return False
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            _equal(a, b, depth + 1) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return len(left) == len(right) and all(
            key in right and _equal(value, right[key], depth + 1) for key, value in left.items()
        )
    if type(left) is type(right) and not isinstance(left, int | float | str | list | tuple | Mapping):
        return (left == right) is True  # e.g. two dates; ``is True`` so odd __eq__ results count as unequal
    return False


def _compare(operator: str, left: object, right: object) -> bool:
    """Apply a comparison operator; see the module docstring for the rules."""
    if operator == "==":
        return _equal(left, right)
    if operator == "!=":
        return not _equal(left, right)
    if operator == "in":
        return _contains(right, left)
    if operator == "not in":
        return not _contains(right, left)
    both_numbers = _is_number(left) and _is_number(right)
    both_text = isinstance(left, str) and isinstance(right, str)
    if not (both_numbers or both_text):
        return False
    return bool(_ORDERINGS[operator](left, right))


def _is_number(value: object) -> bool:
    """Whether ``value`` is an int or float (a bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _contains(container: object, member: object) -> bool:
    """``member in container``: an item of a list or a key of a dict, by :func:`_equal`."""
    if member is None:
        return False
    if isinstance(container, list | tuple):
        return any(_equal(member, item) for item in container)
    if isinstance(container, Mapping):
        return any(_equal(member, key) for key in container)
    return False


def _answered(value: object) -> bool:
    """Whether an item holds an answer: not ``None``, ``''``, an empty list or an empty dict."""
    if value is None:
        return False
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _selected(value: object, code: object) -> bool:
    """Whether the answer ``value`` includes the choice ``code``, comparing both as text."""
    wanted = _code(code)
    if wanted is None or not _answered(value):
        return False
    if isinstance(value, list | tuple | Mapping):
        return any(_code(item) == wanted for item in value)
    return _code(value) == wanted


def _count_selected(value: object) -> int:
    """How many choices an answer holds: a list's (or dict's) length, 0 if unanswered, else 1."""
    if not _answered(value):
        return 0
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    return 1


# ----------------------------------------------------------------------------------------------------
# The parser


class _Parser:
    """A recursive-descent parser over the token list, one method per precedence level.

    ``depth`` counts the nesting of parentheses, brackets, calls, ``not`` and unary ``-``, the only
    constructs that recurse; refusing more than :data:`MAX_DEPTH` keeps both parsing and evaluation well
    inside Python's recursion limit.
    """

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

    def at(self, kind: str, text: str) -> bool:
        return self.token.kind == kind and self.token.text == text

    def expect_op(self, text: str, context: str) -> None:
        if not self.at("op", text):
            raise ExpressionError(
                f"expected '{text}' {context}, found {self.token.describe()}", self.token.position
            )
        self.advance()

    def descend(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested more than {MAX_DEPTH} levels deep", position)

    def ascend(self) -> None:
        self.depth -= 1

    def parse(self) -> _Node:
        if self.token.kind == "end":
            raise ExpressionError("empty expression", None)
        node = self.or_expr()
        if self.token.kind != "end":
            raise ExpressionError(f"unexpected {self.token.describe()}", self.token.position)
        return node

    def or_expr(self) -> _Node:
        operands = [self.and_expr()]
        while self.at("keyword", "or"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else _Or(tuple(operands))

    def and_expr(self) -> _Node:
        operands = [self.not_expr()]
        while self.at("keyword", "and"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else _And(tuple(operands))

    def not_expr(self) -> _Node:
        if self.at("keyword", "not"):
            token = self.advance()
            self.descend(token.position)
            operand = self.not_expr()
            self.ascend()
            return _Not(operand)
        return self.comparison()

    def comparison_operator(self) -> tuple[str, int] | None:
        """Consume a comparison operator if one is next, returning it and its position."""
        token = self.token
        if token.kind == "op" and token.text in _COMPARISONS:
            self.advance()
            return token.text, token.position
        if self.at("keyword", "in"):
            self.advance()
            return "in", token.position
        following = self.tokens[self.index + 1] if token.kind != "end" else token
        if self.at("keyword", "not") and following.kind == "keyword" and following.text == "in":
            self.advance()
            self.advance()
            return "not in", token.position
        return None

    def comparison(self) -> _Node:
        left = self.additive()
        found = self.comparison_operator()
        if found is None:
            return left
        operator, _ = found
        right = self.additive()
        chained = self.comparison_operator()
        if chained is not None:
            raise ExpressionError(f"'{chained[0]}' cannot be chained; use 'and'", chained[1])
        return _Compare(operator, left, right)

    def additive(self) -> _Node:
        return self.chain(_ADDITIVE, self.term)

    def term(self) -> _Node:
        return self.chain(_MULTIPLICATIVE, self.unary)

    def chain(self, operators: frozenset[str], operand: Callable[[], _Node]) -> _Node:
        """Parse ``operand (operator operand)*`` as one flat, left-associative :class:`_Arithmetic`."""
        first = operand()
        rest: list[tuple[str, _Node]] = []
        while self.token.kind == "op" and self.token.text in operators:
            rest.append((self.advance().text, operand()))
        return _Arithmetic(first, tuple(rest)) if rest else first

    def unary(self) -> _Node:
        if self.at("op", "-"):
            token = self.advance()
            self.descend(token.position)
            operand = self.unary()
            self.ascend()
            number = _number(operand.value) if isinstance(operand, _Literal) else None
            return _Negate(operand) if number is None else _Literal(-number, token.position)
        return self.primary()

    def primary(self) -> _Node:
        token = self.token
        if token.kind in ("number", "string"):
            self.advance()
            return _Literal(token.value, token.position)
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.advance()
            return _Literal({"true": True, "false": False, "null": None}[token.text], token.position)
        if token.kind == "name":
            self.advance()
            if self.at("op", "("):
                return self.call(token)
            if token.text in FUNCTIONS:
                raise ExpressionError(
                    f"'{token.text}' is a function; write {token.text}(...)", token.position
                )
            return _Reference(token.text)
        if self.at("op", "."):
            self.advance()
            return _Current()
        if self.at("op", "("):
            self.advance()
            self.descend(token.position)
            node = self.or_expr()
            self.expect_op(")", f"to close the '(' at column {token.position + 1}")
            self.ascend()
            return node
        if self.at("op", "["):
            return self.list_display()
        if token.kind == "end":
            raise ExpressionError("expected an expression", token.position)
        raise ExpressionError(f"expected an expression, found {token.describe()}", token.position)

    def list_display(self) -> _Node:
        opening = self.advance()
        self.descend(opening.position)
        items: list[_Node] = []
        while not self.at("op", "]"):
            items.append(self.or_expr())
            if not self.at("op", ","):
                break
            self.advance()
        self.expect_op("]", f"to close the '[' at column {opening.position + 1}")
        self.ascend()
        return _ListDisplay(tuple(items))

    def call(self, name: _Token) -> _Node:
        """Parse a call's arguments after ``name``; the function and its arity are checked here, not later."""
        function = name.text
        if function not in FUNCTIONS:
            raise ExpressionError(f"unknown function '{function}'", name.position)
        opening = self.advance()
        self.descend(opening.position)
        arguments: list[_Node] = []
        first_position = self.token.position
        if not self.at("op", ")"):
            arguments.append(self.or_expr())
            while self.at("op", ","):
                self.advance()
                arguments.append(self.or_expr())
        self.expect_op(")", f"to close the '(' at column {opening.position + 1}")
        self.ascend()
        expected = _ARITY[function]
        if len(arguments) != expected:
            plural = "argument" if expected == 1 else "arguments"
            raise ExpressionError(
                f"{function}() takes {expected} {plural} ({len(arguments)} given)", name.position
            )
        if not isinstance(arguments[0], _Reference | _Current):
            raise ExpressionError(
                f"the first argument of {function}() must be an item id or '.'", first_position
            )
        return _Call(function, tuple(arguments))


def _walk(node: _Node) -> Iterator[_Node]:
    """Every node of the tree under ``node``, itself included."""
    yield node
    for child in node.children():
        yield from _walk(child)


# ----------------------------------------------------------------------------------------------------
# What the checker reads: where an answer is held against a literal choice code

#: An ordering with its sides swapped (``5 < a`` is ``a > 5``).
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class CodeComparison:
    """A place where an expression holds an item's answer against a literal, which should be one of its codes.

    ``item`` is the item id, or ``'.'`` for the current item. ``operator`` reads as if the item stood on the
    left: ``==``, ``!=``, an ordering, ``in``/``not in`` (the answer in a list of literals, one comparison per
    literal), ``holds``/``not holds`` (a literal in the answer: ``'x' in item``) or ``selected``. ``position``
    is the literal's 0-based column in the expression.
    """

    item: str
    operator: str
    value: int | float | str | bool
    position: int | None = None

    @property
    def whole_answer(self) -> bool:
        """Whether the literal is compared with the whole answer (a single code), not looked for inside it."""
        return self.operator not in ("holds", "not holds", "selected")

    @property
    def ordering(self) -> bool:
        """Whether this is ``< <= > >=``, which codes satisfy rather than name."""
        return self.operator in _ORDERINGS

    @property
    def written(self) -> str:
        """The literal as an author writes it: ``'other'``, ``6``, ``true``."""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return repr(self.value)

    def holds_for(self, code: object) -> bool:
        """Whether an answer of ``code`` is named by the literal (or, for an ordering, satisfies it), evaluated as
        :meth:`Expression.evaluate` would (so ``'1'`` names code ``1``, as ``==`` and ``selected()`` agree)."""
        if self.operator == "selected":
            return _selected(code, self.value)
        if self.ordering:
            return _compare(self.operator, code, self.value)
        return _equal(code, self.value)


def _subject(node: _Node) -> str | None:
    """The item a node reads (``'.'`` for the current one), or None when it is not an item's answer."""
    if isinstance(node, _Reference):
        return node.name
    if isinstance(node, _Current):
        return "."
    return None


_Code = tuple[int | float | str | bool, int | None]


def _literal(node: _Node) -> _Code | None:
    """A literal that could be a code (not ``null``), with its position."""
    if isinstance(node, _Literal) and node.value is not None:
        return node.value, node.position
    return None


def _code_comparisons(nodes: list[_Node]) -> Iterator[CodeComparison]:
    for node in nodes:
        if isinstance(node, _Compare):
            left, right = _subject(node.left), _subject(node.right)
            if node.operator in ("in", "not in"):
                if left is not None and isinstance(node.right, _ListDisplay):
                    for element in node.right.items:
                        if (code := _literal(element)) is not None:
                            yield CodeComparison(left, node.operator, *code)
                elif right is not None and (code := _literal(node.left)) is not None:
                    yield CodeComparison(right, "holds" if node.operator == "in" else "not holds", *code)
            elif left is not None and (code := _literal(node.right)) is not None:
                yield CodeComparison(left, node.operator, *code)
            elif right is not None and (code := _literal(node.left)) is not None:
                yield CodeComparison(right, _FLIPPED[node.operator], *code)
        elif isinstance(node, _Call) and node.function == "selected":
            item, code = _subject(node.arguments[0]), _literal(node.arguments[1])
            if item is not None and code is not None:
                yield CodeComparison(item, "selected", *code)


# ----------------------------------------------------------------------------------------------------
# The public face


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source and its tree, ready to evaluate against answers.

    Build one with :func:`parse`, which caches; constructing ``Expression(source)`` directly parses too.
    Two expressions are equal when their sources are.

    Raises
    ------
    ExpressionError
        When ``source`` is not a valid expression.
    """

    source: str
    _tree: _Node = field(init=False, repr=False, compare=False)
    _references: frozenset[str] = field(init=False, repr=False, compare=False)
    _uses_self: bool = field(init=False, repr=False, compare=False)
    _code_comparisons: tuple[CodeComparison, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str):
            raise ExpressionError(f"an expression must be text, not {type(self.source).__name__}")
        if len(self.source) > MAX_SOURCE_LENGTH:
            raise ExpressionError(f"expression is longer than {MAX_SOURCE_LENGTH} characters")
        tree = _Parser(self.source).parse()
        nodes = list(_walk(tree))
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(
            self, "_references", frozenset(node.name for node in nodes if isinstance(node, _Reference))
        )
        object.__setattr__(self, "_uses_self", any(isinstance(node, _Current) for node in nodes))
        object.__setattr__(self, "_code_comparisons", tuple(_code_comparisons(nodes)))

    def references(self) -> frozenset[str]:
        """The item ids the expression reads (not ``.`` and not function names), e.g. to check page order."""
        return self._references

    def uses_self(self) -> bool:
        """Whether the expression reads the current item's value ``.``, as constraints do."""
        return self._uses_self

    def code_comparisons(self) -> tuple[CodeComparison, ...]:
        """Every literal held against an item's answer (``role == 'other'``, ``selected(x, 'a')``), in source
        order, so the checker can tell a misspelt choice code from a real one."""
        return self._code_comparisons

    def evaluate(self, answers: Mapping[str, object], current: object = None) -> object:
        """The value of the expression.

        Parameters
        ----------
        answers
            Item id to answer; a missing id or ``None`` means unanswered.
        current
            The value of the item a constraint belongs to, read by ``.``.

        Returns
        -------
        object
            A bool for comparisons, logic and ``answered``/``selected``; a number, text, list or ``None``
            otherwise. Data problems give ``None`` or ``False`` rather than an error (see the module
            docstring), so evaluating a parsed expression does not raise.
        """
        return self._tree.evaluate(answers, current)

    def truthy(self, answers: Mapping[str, object], current: object = None) -> bool:
        """Evaluate and reduce to a bool: ``None``, ``False``, 0, ``''`` and empty lists are false."""
        return _truth(self.evaluate(answers, current))


@functools.lru_cache(maxsize=4096)
def parse(source: str) -> Expression:
    """Parse ``source`` into an :class:`Expression`.

    Cached, because the same few expressions are parsed on every page request; the same source gives the
    same (immutable) object.

    Raises
    ------
    ExpressionError
        With the problem and its column, e.g. ``expected an expression at column 5``.
    """
    return Expression(source)
