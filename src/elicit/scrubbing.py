"""Scrubbing identifying strings out of free text: answers in exports, and Delphi reasons shown to other experts.

A :class:`Scrubber` is built once per study (``Scrubber.from_roster`` or :func:`scrubber_for_study`) and then
applied to every text; building it compiles what the roster holds into lookup tables, so scrubbing costs about
the same for a roster of ten or of a thousand. It replaces, with ``[kind]`` placeholders:

- **tokens**: every token of the current format (``eli_`` / ``elicit_`` + 38 base62 characters, see
  ``elicit.tokens``) found by its shape and checksum, also when spaces or line breaks split it; and every string
  whose SHA-256 equals one of the study's invitation token hashes, after removing the whitespace inside it,
  whatever its shape (links made before the prefix existed have none; 0.4 % of them hold no digit either).
  Candidates are runs of ``[A-Za-z0-9_-]`` of an issued token length, also glued to a word, or up to three such
  runs separated only by whitespace; a long string of mixed letters and digits (or with several capitals inside
  a word) is also a ``[token]``, whatever study it belongs to;
- **e-mail addresses**, also written ``name at mod dot gov dot pk``, ``name [at] mod [dot] gov``,
  ``name(at)mod.gov.pk``, ``name @ mod.gov.pk``; **domains**, bare (``mod.gov.pk``) or obfuscated
  (``mofa dot gov dot pk``) as ``[url]``; **URLs**; **phone numbers** of nine digits or more (seven with an
  international prefix), in any script's digits;
- every **roster name** as words, whatever the case, diacritics, width, Arabic or Urdu letter variant (Arabic
  and Farsi yeh, Arabic and Urdu kaf and heh, teh marbuta, alef with hamza or madda, tatweel and harakat
  ignored, so علي matches علی): the full name and every run of two or more of its words, every name part of
  three or more letters except honorifics, initials with a surname (``J. Smith``, ``J Smith``, ``J. R. Smith``),
  the surname first (``Smith, John``), joined forms (``JohnSmith``, ``john.smith``, ``john_smith``,
  ``jsmith``); every organisation as a whole; the local part of every roster e-mail address. Name parts that are
  everyday English words (Will, Grant, ...), two-letter parts (Li, Wu) and family names that are also titles
  (Syed, Malik, ...) are scrubbed only when written with a capital, as names are.

Counts of what was replaced are kept by kind (never the text), for the export's manifest.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from elicit.models import Invitation, RosterEntry
from elicit.tokens import CHECKSUM_LENGTH, INVITATION_TOKEN_LENGTHS, PREFIXES, RANDOM_LENGTH, checksum

__all__ = ["Scrubber", "roster_of", "scrubber_for_study", "study_token_hashes"]

# -------------------------------------------------------------------------------------------- folding

# Removed before matching: tatweel, zero-width and bidirectional controls, soft hyphen (they hide a name's
# letters from a plain comparison without changing how it reads).
_REMOVED = (
    frozenset("\u0640\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\ufeff")
    | {chr(c) for c in range(0x202A, 0x202F)}
    | {chr(c) for c in range(0x2066, 0x206A)}
)
# One letter for each group of Arabic-script letters that Urdu, Persian and Arabic spell a name with.
_ARABIC = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Farsi yeh
        "\u0649": "\u06cc",  # alef maksura
        "\u06d0": "\u06cc",  # yeh with two dots below (Pashto e)
        "\u06cd": "\u06cc",  # yeh with tail
        "\u0643": "\u06a9",  # Arabic kaf -> keheh (Urdu kaf)
        "\u06aa": "\u06a9",  # swash kaf
        "\u06c1": "\u0647",  # heh goal -> heh
        "\u06be": "\u0647",  # heh doachashmee
        "\u06d5": "\u0647",  # ae
        "\u0629": "\u0647",  # teh marbuta
        "\u06c3": "\u0647",  # teh marbuta goal
        "\u0671": "\u0627",  # alef wasla (alef with hamza or madda decompose to alef)
        "\u0672": "\u0627",
        "\u0673": "\u0627",
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Extended Arabic-Indic (Urdu, Persian) digits
    }
)
MASK = "\x00"  # marks text already claimed by an earlier rule; never part of a word, token, URL or number


@functools.lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    """One character as matching sees it: compatibility-normalized, case-folded, without marks or variants."""
    if ch in _REMOVED:
        return ""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", ch).casefold())
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Me") and c not in _REMOVED)
    return unicodedata.normalize("NFKC", text).translate(_ARABIC)


def _fold(text: str) -> tuple[str, list[int] | None]:
    """The folded text and, unless it is plain ASCII, where each of its characters comes from in ``text``."""
    if text.isascii():
        return text.lower(), None
    pieces: list[str] = []
    origins: list[int] = []
    for index, ch in enumerate(text):
        folded = ch.lower() if ch.isascii() else _fold_char(ch)
        if folded:
            pieces.append(folded)
            origins.extend([index] * len(folded))
    return "".join(pieces), origins


def _words(text: str) -> tuple[str, ...]:
    return tuple(NAME_WORD_RE.findall(_fold(text)[0]))


# -------------------------------------------------------------------------------------------- patterns

# Tokens of the current format, with any whitespace between their characters (a line break in a pasted link).
_SPACED_PREFIX = "|".join(r"\s*".join(re.escape(ch) for ch in prefix) for prefix in PREFIXES)
FORMAT_TOKEN_RE = re.compile(rf"(?:{_SPACED_PREFIX})(?:\s*[0-9A-Za-z]){{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")
TOKEN_RUN_RE = re.compile(r"[A-Za-z0-9_-]+")  # the alphabet of every token we ever issued
MAX_TOKEN_PIECES = 3  # a token split by up to two spaces or line breaks is still found by its hash
WHITESPACE_RE = re.compile(r"\s+")

# Patterns start only where a word starts and use possessive quantifiers where no backtracking can help, so
# each costs one pass over the text (these run on every free-text cell of an export).
EMAIL_RE = re.compile(r"(?<![\w.%+'-])[\w.%+'-]++@[\w-]+(?:\.[\w-]+)+")
_AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+|\s*-at-\s*|\s*@\s*)"
_OBFUSCATED_DOT = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+)"
_DOT = rf"(?:{_OBFUSCATED_DOT}|\.)"
_LABEL = r"[a-z0-9][a-z0-9-]*+"
_LOCAL = r"[\w%+'-]++"
# A domain is a chain of labels taken whole (possessive, so a long "x dot y dot ..." costs one pass); the judge
# then checks that its last label is a top-level domain.
_DOMAIN = rf"{_LABEL}(?:{_DOT}{_LABEL})++(?![\w-])"
OBFUSCATED_EMAIL_RE = re.compile(rf"(?<![\w%+'.-]){_LOCAL}(?:{_DOT}{_LOCAL})*+{_AT}{_DOMAIN}")
OBFUSCATED_DOMAIN_RE = re.compile(rf"(?<![\w.@-]){_DOMAIN}")
LAST_LABEL_RE = re.compile(r"[a-z0-9-]+$")
BRACKETED_DOT_RE = re.compile(r"[\[({<]\s*dot\s*[\])}>]")
SPACED_DOT_RE = re.compile(r"\s+dot\s+")
TLDS = frozenset(
    [
        "com",
        "org",
        "net",
        "gov",
        "mil",
        "edu",
        "int",
        "info",
        "biz",
        "io",
        "co",
        "ac",
        "mobi",
        "name",
        "pro",
        "aero",
        "coop",
        "museum",
        "example",
        "test",
    ]
)
STRONG_TLDS = frozenset({"gov", "mil", "edu", "int"})  # "mofa dot gov" is a domain; "the dot com era" is not
# URLs and bare domains, on folded (lower-case) text.
_URL_TLDS = (
    "(?:com|org|net|gov|mil|edu|int|info|io|uk|pk|eu|co|ac|biz|in|af|ir|cn|ru|us|de|fr|ae|sa|bd|lk|au|ca"
    "|nz|nl|ch|tr|qa)"
)
URL_RE = re.compile(r"(?:(?:https?|ftp)://|www\.)[^\s<>\"'\x00]+")
DOMAIN_RE = re.compile(rf"(?<![\w@.-])(?:[a-z0-9][a-z0-9-]*+\.)+{_URL_TLDS}(?:/[^\s<>\"'\x00]*)?(?![\w-])")
# Cheap tests that let a text skip a pattern that cannot match in it.
TLD_HINT_RE = re.compile(rf"\.{_URL_TLDS}(?![a-z0-9-])")
AT_HINT_RE = re.compile(r"@|\sat\s|[\[({<]\s*at\s*[\])}>]|-at-")
DOMAIN_TAIL_RE = re.compile(rf"\s*{_DOMAIN}")
LONG_RUN_RE = re.compile(r"(?<![\w-])[a-z0-9_-]{20,}(?![\w-])")
CAMEL_RE = re.compile(r"[a-z][A-Z]")
PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().\-/]{5,}\d(?!\w)")
NAME_WORD_RE = re.compile(r"[^\W\d_]+")  # letters only: O'Brien -> o, brien; john_smith2 -> john, smith
# What may stand between the words of one name: spaces and line breaks, up to three punctuation marks, or an
# underscore ("Z. Quartermaine", "Thistlewood - Brackenbury", "O'Brien", "john_smith"); never digits or text.
NAME_GAP_RE = re.compile(r"\s*(?:[^\w\s\x00]{1,3}|_{1,2})?\s*")
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
# Family names that are also titles: scrubbed on their own only when capitalised ("Malik said", not ملک).
TITLE_NAMES = frozenset(
    ["syed", "sayyid", "mian", "chaudhry", "chaudhary", "rana", "raja", "malik", "mirza", "begum"]
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
# Local parts of shared mailboxes: not a person's name, and common words besides.
GENERIC_MAILBOXES = frozenset(
    [
        "admin",
        "contact",
        "office",
        "email",
        "press",
        "enquiries",
        "inquiries",
        "hello",
        "support",
        "secretary",
        "director",
        "reception",
        "noreply",
        "webmaster",
        "postmaster",
        "registrar",
        "sales",
        "research",
        "info",
    ]
)
CAPITALISED_NAME = "name (capitalised)"
_RANK = {"name": 4, "organisation": 3, "email": 2, CAPITALISED_NAME: 1}

Claim = tuple[int, int, str]  # a span of the folded text and the kind that replaces it
# Decides whether a match (in the folded text) is what its pattern looks for, and what span it claims.
Judge = Callable[[re.Match[str], str, list[int] | None], Claim | None]


# -------------------------------------------------------------------------------------------- the scrubber


@dataclass
class Scrubber:
    """Replaces identifying strings in free text; counts what it replaced (by kind, never the text)."""

    phrases: dict[tuple[str, ...], str] = field(default_factory=dict)
    capitalised: frozenset[str] = frozenset()
    token_hashes: frozenset[str] = frozenset()
    token_lengths: tuple[int, ...] = tuple(sorted(INVITATION_TOKEN_LENGTHS))
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_roster(
        cls,
        entries: Iterable[tuple[str, str, str]],
        *,
        token_hashes: Iterable[str] = (),
        token_lengths: Iterable[int] = INVITATION_TOKEN_LENGTHS,
    ) -> Scrubber:
        """Build from roster rows ``(name, email, organisation)`` and the study's invitation token hashes.

        Everything the module docstring lists is compiled here, once: the names, their parts, initials and
        joined forms as lookup keys of folded words.
        """
        phrases: dict[tuple[str, ...], str] = {}
        capitalised: set[str] = set()

        def add(key: tuple[str, ...], kind: str) -> None:
            if key and all(key) and _RANK[kind] > _RANK.get(phrases.get(key, ""), 0):
                phrases[key] = kind

        def everyday(words: Iterable[str]) -> bool:
            return all(w in COMMON_WORDS or w in HONORIFICS or w in TITLE_NAMES for w in words)

        for name, email, organisation in entries:
            add(_words(organisation or ""), "organisation")
            words = _words(name or "")
            for start in range(len(words)):
                for end in range(start + 2, len(words) + 1):
                    run = words[start:end]
                    if not all(word in HONORIFICS for word in run):
                        add(run, CAPITALISED_NAME if everyday(run) else "name")
            if len(words) == 1:
                add(words, "name")
            for word in words:
                letters = sum(ch.isalpha() for ch in word)
                if word in HONORIFICS or letters < 2:
                    continue
                if word in COMMON_WORDS or word in TITLE_NAMES or letters == 2:
                    capitalised.add(word)
                else:
                    add((word,), "name")
            core = [word for word in words if word not in HONORIFICS]
            _add_variants(core, add, everyday)
            local = _words((email or "").split("@", 1)[0])
            if len("".join(local)) >= 5 and "".join(local) not in GENERIC_MAILBOXES:
                add(local, "email")
                add(("".join(local),), "email")
        hashes = frozenset(h.lower() for h in token_hashes)
        return cls(phrases, frozenset(capitalised), hashes, tuple(sorted(set(token_lengths))))

    def __post_init__(self) -> None:
        self._starts: dict[str, list[int]] = {}
        for key in self.phrases:
            self._starts.setdefault(key[0], []).append(len(key))
        for lengths in self._starts.values():
            lengths.sort(reverse=True)
        self._stages: list[tuple[re.Pattern[str], Judge, Callable[[str], bool]]] = [
            (EMAIL_RE, _email, lambda text: "@" in text),
            (OBFUSCATED_EMAIL_RE, _obfuscated_email, _may_hold_obfuscated_email),
            (URL_RE, _url, lambda text: "://" in text or "www." in text),
            (DOMAIN_RE, _url, lambda text: TLD_HINT_RE.search(text) is not None),
            (OBFUSCATED_DOMAIN_RE, _obfuscated_domain, lambda text: "dot" in text),
            (LONG_RUN_RE, _long_run, lambda text: len(text) >= 20),
            (PHONE_RE, _phone, lambda text: True),
        ]

    def scrub(self, text: str) -> str:
        """The text with identifying strings replaced by ``[email]``, ``[url]``, ``[name]`` and so on."""
        if not text:
            return text
        text = self._tokens(text.replace(MASK, ""))
        folded, origins = _fold(text)
        claims: list[Claim] = []
        masked = folded
        for pattern, judge, possible in self._stages:
            if not possible(masked):
                continue
            found = [c for c in (judge(m, text, origins) for m in pattern.finditer(masked)) if c is not None]
            if found:
                claims += found
                masked = _mask(masked, found)
        if self.phrases or self.capitalised:
            claims += self._names(masked, text, origins)
        if not claims:
            return text
        return self._replace(text, origins, len(folded), claims)

    # ---------------------------------------------------------------------------------------- tokens

    def _tokens(self, text: str) -> str:
        """Replace tokens first, on the text as written: base62 checksums and hashes are case-sensitive."""
        spans: list[tuple[int, int]] = []
        if "_" in text:
            position = 0
            while (match := FORMAT_TOKEN_RE.search(text, position)) is not None:
                compact = WHITESPACE_RE.sub("", match.group(0))
                if checksum(compact[:-CHECKSUM_LENGTH]) == compact[-CHECKSUM_LENGTH:]:
                    spans.append(match.span())
                    position = match.end()
                else:
                    position = match.start() + 1
        if self.token_hashes:
            spans += self._hashed(text)
        if not spans:
            return text
        out: list[str] = []
        position = 0
        for start, end in sorted(spans):
            if end <= position:
                continue
            if start >= position:
                out.append(text[position:start])
                out.append(self._count("token"))
            position = end
        out.append(text[position:])
        return "".join(out)

    def _hashed(self, text: str) -> list[tuple[int, int]]:
        """Spans whose characters, whitespace removed, hash to one of the study's invitation tokens."""
        runs = [m.span() for m in TOKEN_RUN_RE.finditer(text)]
        shortest, longest = self.token_lengths[0], self.token_lengths[-1]
        spans: list[tuple[int, int]] = []
        # The characters in up to MAX_TOKEN_PIECES runs from each: most prose never holds enough for a token.
        total = [0, *itertools.accumulate(end - start for start, end in runs)]
        starts = [
            i for i in range(len(runs)) if total[min(i + MAX_TOKEN_PIECES, len(runs))] - total[i] >= shortest
        ]

        def check(start: int, end: int) -> None:
            candidate = WHITESPACE_RE.sub("", text[start:end])
            if hashlib.sha256(candidate.encode("utf-8")).hexdigest() in self.token_hashes:
                spans.append((start, end))

        for i in starts:
            start, end = runs[i]
            size = end - start
            for length in self.token_lengths:  # within one run, at any offset: glued to a word by - or _
                for offset in range(size - length + 1):
                    check(start + offset, start + offset + length)
            interior = 0
            for j in range(i + 1, min(len(runs), i + MAX_TOKEN_PIECES)):
                if not text[runs[j - 1][1] : runs[j][0]].isspace() or interior + 2 > longest:
                    break
                last_start, last_end = runs[j]
                last = last_end - last_start
                for length in self.token_lengths:
                    head = length - size - interior  # all of the first run, the start of the last
                    if 1 <= head <= last:
                        check(start, last_start + head)
                    tail = length - last - interior  # the end of the first run, all of the last
                    if 1 <= tail <= size and tail != size:
                        check(end - tail, last_end)
                interior += last
        return spans

    # ---------------------------------------------------------------------------------------- names

    def _names(self, masked: str, text: str, origins: list[int] | None) -> list[Claim]:
        present = set(NAME_WORD_RE.findall(masked))
        if present.isdisjoint(self._starts) and present.isdisjoint(self.capitalised):
            return []  # no word of the text can begin a name (most texts)
        words = [(m.start(), m.end(), m.group(0)) for m in NAME_WORD_RE.finditer(masked)]

        def capital(index: int) -> bool:
            start = words[index][0]
            return text[origins[start] if origins is not None else start].isupper()

        claims: list[Claim] = []
        i = 0
        while i < len(words):
            word = words[i][2]
            kind: str | None = None
            length = 0
            for n in self._starts.get(word, ()):
                if i + n > len(words):
                    continue
                found = self.phrases.get(tuple(w[2] for w in words[i : i + n]))
                if found is None:
                    continue
                if not all(
                    NAME_GAP_RE.fullmatch(masked, words[t][1], words[t + 1][0]) for t in range(i, i + n - 1)
                ):
                    continue
                if found == CAPITALISED_NAME:
                    if not all(capital(t) for t in range(i, i + n)):
                        continue
                    found = "name"
                kind, length = found, n
                break
            if kind is None and word in self.capitalised and capital(i):
                kind, length = "name", 1
            if kind is None:
                i += 1
                continue
            claims.append((words[i][0], words[i + length - 1][1], kind))
            i += length
        return claims

    # ---------------------------------------------------------------------------------------- output

    def _replace(self, text: str, origins: list[int] | None, size: int, claims: list[Claim]) -> str:
        out: list[str] = []
        position = 0
        for start, end, kind in sorted(claims):
            if origins is not None:
                # Characters folded away (marks, tatweel, invisible controls) go with the text they sit in.
                if end == size:
                    end = len(text)
                elif origins[end] > origins[end - 1]:
                    end = origins[end]
                else:  # the claim ends inside one character that folds to several (ß -> ss)
                    end = origins[end - 1] + 1
                start = origins[start]
            if start < position:
                continue
            out.append(text[position:start])
            out.append(self._count(kind))
            position = end
        out.append(text[position:])
        return "".join(out)

    def _count(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"[{kind}]"


def _add_variants(
    core: list[str], add: Callable[[tuple[str, ...], str], None], everyday: Callable[[Iterable[str]], bool]
) -> None:
    """Initials with a surname, the surname first, and the name's words joined into one."""
    named = [word for word in core if len(word) >= 2]
    if len(named) < 2:
        return
    for i, given in enumerate(named[:-1]):
        for j in range(i + 1, len(named)):
            rest = tuple(named[j:])
            kind = CAPITALISED_NAME if everyday(rest) else "name"
            add((given[0], named[j]), CAPITALISED_NAME if everyday((named[j],)) else "name")
            add((given[0], *rest), kind)
        surname = named[-1]
        add((surname, given), CAPITALISED_NAME if everyday((surname, given)) else "name")
    add((*(word[0] for word in named[:-1]), named[-1]), CAPITALISED_NAME if everyday(named[-1:]) else "name")
    joined = {"".join(named[i:j]) for i in range(len(named)) for j in range(i + 2, len(named) + 1)}
    joined |= {named[-1] + named[0], named[0][0] + named[-1], named[0] + named[-1][0]}
    for word in joined:
        if len(word) >= 5:
            add((word,), "name")


def _may_hold_obfuscated_email(text: str) -> bool:
    """An "at" of any spelling followed by something shaped like a domain."""
    return any(DOMAIN_TAIL_RE.match(text, hint.end()) for hint in AT_HINT_RE.finditer(text))


def _mask(text: str, claims: list[Claim]) -> str:
    out: list[str] = []
    position = 0
    for start, end, _kind in sorted(claims):
        out.append(text[position:start])
        out.append(MASK * (end - start))
        position = end
    out.append(text[position:])
    return "".join(out)


def _original(match: re.Match[str], text: str, origins: list[int] | None) -> str:
    if origins is None:
        return match.group(0)
    return text[origins[match.start()] : origins[match.end() - 1] + 1]


def _email(match: re.Match[str], _text: str, _origins: list[int] | None) -> Claim | None:
    return match.start(), match.end(), "email"


def _tld(domain: str) -> str | None:
    """The last label of a domain when it can be a top-level domain (2 to 24 letters)."""
    last = LAST_LABEL_RE.search(domain)
    label = last.group(0) if last else ""
    return label if 2 <= len(label) <= 24 and label.isalpha() else None


def _obfuscated_email(match: re.Match[str], _text: str, _origins: list[int] | None) -> Claim | None:
    return (match.start(), match.end(), "email") if _tld(match.group(0)) else None


def _obfuscated_domain(match: re.Match[str], _text: str, _origins: list[int] | None) -> Claim | None:
    found = match.group(0)
    tld = _tld(found)
    if tld is None:
        return None
    if BRACKETED_DOT_RE.search(found):
        return match.start(), match.end(), "url"
    dots = len(SPACED_DOT_RE.findall(found)) + found.count(".")
    if dots == 0 or not SPACED_DOT_RE.search(found):
        return None
    if tld in STRONG_TLDS or (dots >= 2 and (tld in TLDS or len(tld) == 2)):
        return match.start(), match.end(), "url"
    return None


def _url(match: re.Match[str], _text: str, _origins: list[int] | None) -> Claim | None:
    url = match.group(0)
    return match.start(), match.start() + len(url.rstrip(TRAILING)), "url"


def _long_run(match: re.Match[str], text: str, origins: list[int] | None) -> Claim | None:
    """A long run of token characters that is no word: letters with digits, or capitals inside a word."""
    found = match.group(0)
    written = _original(match, text, origins)
    has_digit = any(ch.isdigit() for ch in found)
    has_letter = any(ch.isalpha() for ch in found)
    if (has_digit and has_letter) or len(CAMEL_RE.findall(written)) >= 3:
        return match.start(), match.end(), "token"
    return None


def _phone(match: re.Match[str], _text: str, _origins: list[int] | None) -> Claim | None:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    international = found.startswith(("+", "00"))
    if digits >= 9 or (international and digits >= 7):
        return match.start(), match.end(), "phone"
    return None


# -------------------------------------------------------------------------------------------- per study


def roster_of(executor: Session | Connection, study_id: int) -> list[tuple[str, str, str]]:
    """The study's roster rows ``(name, email, organisation)``."""
    rows = executor.execute(
        select(RosterEntry.name, RosterEntry.email, RosterEntry.organisation).where(
            RosterEntry.study_id == study_id
        )
    )
    return [(name, email, organisation or "") for name, email, organisation in rows]


def study_token_hashes(executor: Session | Connection, study_id: int) -> list[str]:
    """The SHA-256 of every invitation token the study ever issued (revoked and reissued ones too)."""
    return list(executor.scalars(select(Invitation.token_hash).where(Invitation.study_id == study_id)))


def scrubber_for_study(session: Session | Connection, study_id: int) -> Scrubber:
    """The scrubber for a study's free text: its roster's names, addresses and organisations, and its tokens."""
    return Scrubber.from_roster(
        roster_of(session, study_id), token_hashes=study_token_hashes(session, study_id)
    )
