"""Anonymization of exports: coarsening quasi-identifiers, scrubbing free text, k-anonymity, formula injection.

Rules come from the instrument (``privacy`` of each item, docs/instruments.md):

- ``direct_identifier``: the column is never written (the plan drops it) unless the export is identified.
- ``quasi_identifier`` with ``bins``: numbers become bin labels ``"0-4"``, ``"5-9"``, ..., the last bin closed
  (``"30-60"``); for decimals a bin ``"2.5-<5"`` runs up to but not including 5. ``top_code: T`` records values
  above T as T. ``merge: {new: [old, ...]}`` replaces the old codes by the new one.
- every ``text`` item (marked ``free_text`` or not) is scrubbed of e-mail addresses, phone numbers, URLs,
  link-like tokens and every roster name and organisation of the study.

k-anonymity is measured over the quasi-identifier columns after coarsening plus the cohort (and the language
when the instrument has several): an equivalence class is a combination of those values, its size the number of
distinct respondents in it. The report gives the sizes of the classes below k, never their values.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elicit.instruments.schema import Item
from elicit.studies import csv_safe

__all__ = [
    "Coarsening",
    "KAnonymity",
    "Scrubber",
    "bin_labels",
    "coarsening_for",
    "csv_safe",
]

# -------------------------------------------------------------------------------------------- coarsening


@dataclass(frozen=True)
class Coarsening:
    """A quasi-identifier rule ready to apply: ``apply`` maps a converted value to its exported value."""

    rule: dict[str, Any]
    description: str
    apply: Callable[[Any], Any]
    source_dtype: str  # the cell type the stored value is converted to before the rule
    dtype: str  # the cell type after the rule
    exported_type: str  # the item type as exported (binned numbers are categories)
    choices: tuple[tuple[Any, str], ...] | None = None  # the categories after the rule, with labels


def _fmt(value: float) -> str:
    text = str(int(value)) if float(value).is_integer() else f"{value:g}"
    # A leading minus would look like a formula to a spreadsheet (and be neutralised with a quote).
    return f"({text})" if value < 0 else text


def bin_labels(bins: Sequence[float], integer: bool) -> list[tuple[float, float, str]]:
    """``(low, high, label)`` per bin: ``[0, 5, 10]`` -> ``0-4``, ``5-10`` for whole numbers (last bin closed)."""
    whole = integer and all(float(b).is_integer() for b in bins)
    result = []
    for index, (low, high) in enumerate(zip(bins, bins[1:], strict=False)):
        last = index == len(bins) - 2
        if last:
            label = f"{_fmt(low)}-{_fmt(high)}"
        elif whole:
            label = f"{_fmt(low)}-{_fmt(high - 1)}"
        else:
            label = f"{_fmt(low)}-<{_fmt(high)}"
        result.append((low, high, label))
    return result


def coarsening_for(item: Item, dtype: str, choices: Sequence[tuple[Any, str]]) -> Coarsening | None:
    """The coarsening rule of a quasi-identifier item, or None when it is kept as is."""
    privacy = item.privacy
    if privacy.bins is not None:
        integer = item.type == "integer"
        table = bin_labels(privacy.bins, integer)
        below = f"<{_fmt(privacy.bins[0])}"
        above = f">{_fmt(privacy.bins[-1])}"

        def to_bin(value: Any) -> str:
            if value < table[0][0]:
                return below
            for low, high, label in table[:-1]:
                if low <= value < high:
                    return label
            return table[-1][2] if value <= table[-1][1] else above

        labels = tuple((label, label) for _, _, label in table)
        return Coarsening(
            {"bins": list(privacy.bins)},
            "binned into " + ", ".join(label for _, _, label in table),
            to_bin,
            "float" if not integer else "int",
            "string",
            "single_choice",
            labels,
        )
    if privacy.top_code is not None:
        top = privacy.top_code
        cap: float | int = int(top) if float(top).is_integer() and dtype == "int" else top

        def top_code(value: Any) -> Any:
            return cap if value > cap else value

        return Coarsening(
            {"top_code": top},
            f"top-coded: values above {_fmt(top)} are recorded as {_fmt(top)}",
            top_code,
            dtype,
            dtype,
            item.type,
        )
    if privacy.merge is not None:
        old_to_new = {old: new for new, olds in privacy.merge.items() for old in olds}
        groups: dict[str, list[str]] = {}
        for code, label in choices:
            groups.setdefault(old_to_new.get(str(code), str(code)), []).append(label)
        numeric = all(re.fullmatch(r"-?\d+", code) for code in groups)

        def cast(code: str) -> Any:
            return int(code) if numeric else code

        mapping = {old: cast(new) for old, new in old_to_new.items()}

        def merge(value: Any) -> Any:
            key = str(value)
            return mapping[key] if key in mapping else cast(key)

        return Coarsening(
            {"merge": {k: list(v) for k, v in privacy.merge.items()}},
            "merged: " + "; ".join(f"{new} = {' + '.join(olds)}" for new, olds in privacy.merge.items()),
            merge,
            "string",
            "int" if numeric else "string",
            item.type,
            tuple((cast(code), " / ".join(labels)) for code, labels in groups.items()),
        )
    return None


# -------------------------------------------------------------------------------------------- free text

EMAIL_RE = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)+")
URL_RE = re.compile(
    r"(?:(?:https?|ftp)://|www\.)[^\s<>\"']+"
    r"|(?<![\w@.-])(?:[a-z0-9][a-z0-9-]*[a-z0-9]\.)+"
    r"(?:com|org|net|gov|mil|edu|int|info|io|uk|pk|eu|co|ac|biz)(?:/[^\s<>\"']*)?(?![\w-])",
    re.IGNORECASE,
)
TOKEN_RE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9_-]{20,}(?![\w-])")
PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().\-/]{5,}\d(?![\w])")
WORD_RE = re.compile(r"\w+")  # apostrophes split words: O'Brien -> o, brien; Khan's -> khan, s
TRAILING = ".,;:!?)]}'\""

# Honorifics, ranks and particles are never scrubbed on their own (they are, as part of a full name).
HONORIFICS = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "miss",
        "prof",
        "professor",
        "sir",
        "dame",
        "lord",
        "lady",
        "hon",
        "rev",
        "gen",
        "general",
        "brig",
        "brigadier",
        "col",
        "colonel",
        "maj",
        "major",
        "capt",
        "captain",
        "lt",
        "lieutenant",
        "cdr",
        "commander",
        "cmdr",
        "cdre",
        "commodore",
        "adm",
        "admiral",
        "air",
        "marshal",
        "vice",
        "rear",
        "wing",
        "group",
        "sqn",
        "squadron",
        "ldr",
        "leader",
        "retd",
        "rtd",
        "ret",
        "mp",
        "mpa",
        "obe",
        "mbe",
        "cbe",
        "kbe",
        "phd",
        "esq",
        "sahib",
        "begum",
        "syed",
        "sayyid",
        "mian",
        "chaudhry",
        "chaudhary",
        "rana",
        "raja",
        "malik",
        "mirza",
        "van",
        "von",
        "der",
        "den",
        "del",
        "la",
        "le",
        "de",
        "bin",
        "ibn",
        "al",
        "el",
    ]
)
# Name parts that are everyday English words: scrubbed only when written with a capital, as names are.
COMMON_WORDS = frozenset(
    [
        "will",
        "may",
        "mark",
        "grant",
        "hope",
        "rose",
        "long",
        "young",
        "white",
        "black",
        "brown",
        "green",
        "hill",
        "bell",
        "park",
        "king",
        "ward",
        "page",
        "lane",
        "wood",
        "art",
        "bill",
        "frank",
        "guy",
        "drew",
        "rich",
        "sunny",
        "joy",
        "faith",
        "grace",
        "june",
        "april",
        "august",
        "summer",
        "dawn",
        "may",
        "rob",
        "pat",
        "chase",
        "case",
        "price",
        "story",
        "hunter",
        "baker",
        "cook",
        "mason",
        "little",
        "short",
        "strong",
        "sharp",
        "best",
        "fox",
        "love",
        "new",
        "north",
        "south",
        "west",
        "east",
        "field",
        "stone",
        "more",
    ]
)


CAPITALISED_NAME = "name (capitalised)"


def _norm(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold().replace("’", "'")


@dataclass
class Scrubber:
    """Replaces identifying strings in free text; counts what it replaced (by kind, never the text)."""

    phrases: dict[tuple[str, ...], str] = field(default_factory=dict)
    capitalised: frozenset[str] = frozenset()
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_roster(cls, entries: Iterable[tuple[str, str, str]]) -> Scrubber:
        """Build from roster rows ``(name, email, organisation)``.

        Scrubbed as words, case-insensitively: every full name and every run of two or more of its words,
        every name part of three or more letters (surnames, given names) except honorifics, every organisation as a whole and the e-mail's local part.
        Name parts that are everyday English words (Will, May, Grant, ...) are scrubbed only when capitalised.
        """
        phrases: dict[tuple[str, ...], str] = {}
        capitalised: set[str] = set()

        def words(text: str) -> tuple[str, ...]:
            return tuple(_norm(w) for w in WORD_RE.findall(text))

        for name, email, organisation in entries:
            if organisation and organisation.strip():
                key = words(organisation)
                if key:
                    phrases.setdefault(key, "organisation")
            key = words(name or "")
            # The full name, and every run of two or more of its words (O'Brien, Thistlewood-Brackenbury,
            # the name without a title), so a name written partly or with other punctuation still matches.
            for start in range(len(key)):
                for end in range(start + 2, len(key) + 1):
                    run = key[start:end]
                    if all(word in HONORIFICS for word in run):
                        continue
                    # "Will Grant" as a name, but not "will grant" in a sentence.
                    everyday = all(word in COMMON_WORDS or word in HONORIFICS for word in run)
                    if phrases.get(run) != "name":
                        phrases[run] = CAPITALISED_NAME if everyday else "name"
            if len(key) == 1:
                phrases.setdefault(key, "name")
            for raw in WORD_RE.findall(name or ""):
                part = _norm(raw)
                letters = sum(ch.isalpha() for ch in part)
                if letters < 3 or part in HONORIFICS:
                    continue
                if part in COMMON_WORDS:
                    capitalised.add(part)
                else:
                    phrases.setdefault((part,), "name")
            local = (email or "").split("@", 1)[0]
            local_words = words(local)
            if len(local) >= 5 and local_words:
                phrases.setdefault(local_words, "email")
        return cls(phrases, frozenset(capitalised))

    def __post_init__(self) -> None:
        self._starts: dict[str, list[int]] = {}
        for key in self.phrases:
            self._starts.setdefault(key[0], []).append(len(key))
        for lengths in self._starts.values():
            lengths.sort(reverse=True)

    def scrub(self, text: str) -> str:
        """The text with identifying strings replaced by ``[email]``, ``[url]``, ``[name]`` and so on."""
        if not text:
            return text
        text = EMAIL_RE.sub(lambda m: self._count("email"), text)
        text = URL_RE.sub(self._url, text)
        text = TOKEN_RE.sub(lambda m: self._count("token"), text)
        text = PHONE_RE.sub(self._phone, text)
        if self.phrases or self.capitalised:
            text = self._names(text)
        return text

    def _count(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"[{kind}]"

    def _url(self, match: re.Match[str]) -> str:
        url = match.group(0)
        stripped = url.rstrip(TRAILING)
        return self._count("url") + url[len(stripped) :]

    def _phone(self, match: re.Match[str]) -> str:
        found = match.group(0)
        digits = sum(ch.isdigit() for ch in found)
        international = found.startswith(("+", "00"))
        if digits >= 9 or (international and digits >= 7):
            return self._count("phone")
        return found

    def _names(self, text: str) -> str:
        tokens = [(m.start(), m.end(), m.group(0), _norm(m.group(0))) for m in WORD_RE.finditer(text)]
        out: list[str] = []
        position = 0
        i = 0
        while i < len(tokens):
            start, _end, raw, word = tokens[i]
            kind: str | None = None
            length = 0
            for n in self._starts.get(word, ()):
                found = (
                    self.phrases.get(tuple(t[3] for t in tokens[i : i + n])) if i + n <= len(tokens) else None
                )
                if found == CAPITALISED_NAME:
                    found = "name" if raw[:1].isupper() else None
                if found is not None:
                    kind, length = found, n
                    break
            if kind is None and word in self.capitalised and raw[:1].isupper():
                kind, length = "name", 1
            if kind is None:
                i += 1
                continue
            out.append(text[position:start])
            out.append(self._count(kind))
            position = tokens[i + length - 1][1]
            i += length
        out.append(text[position:])
        return "".join(out)


# -------------------------------------------------------------------------------------------- k-anonymity


@dataclass
class KAnonymity:
    """Counts distinct respondents (and rows) per equivalence class of quasi-identifier values.

    With ``rows_are_respondents`` (anonymous studies: every row is a different, unlinkable respondent) only
    counts are kept, so memory grows with the number of classes, not of rows.
    """

    k: int
    columns: list[str]
    rows_are_respondents: bool = False
    members: dict[tuple[Any, ...], set[str]] = field(default_factory=dict)
    row_counts: Counter[tuple[Any, ...]] = field(default_factory=Counter)

    def add(self, key: tuple[Any, ...], respondent: str) -> None:
        self.row_counts[key] += 1
        if not self.rows_are_respondents:
            self.members.setdefault(key, set()).add(respondent)

    def size(self, key: tuple[Any, ...]) -> int:
        return self.row_counts[key] if self.rows_are_respondents else len(self.members.get(key, ()))

    def small(self) -> set[tuple[Any, ...]]:
        """Classes with fewer than k respondents."""
        return {key for key in self.row_counts if self.size(key) < self.k}

    def report(self) -> dict[str, Any]:
        """k, the classes, and the sizes of the classes below k (never their values) with the rows they hold."""
        sizes = [self.size(key) for key in self.row_counts]
        small = self.small()
        below = sorted(self.size(key) for key in small)
        return {
            "k": self.k,
            "quasi_identifiers": list(self.columns),
            "rows": sum(self.row_counts.values()),
            "classes": len(sizes),
            "smallest_class": min(sizes) if sizes else None,
            "satisfied": not below,
            "classes_below_k": len(below),
            "class_sizes_below_k": below,
            "respondents_below_k": sum(below),
            "rows_below_k": sum(self.row_counts[key] for key in small),
        }
