"""What every questionnaire format converter shares: problems with their rows, identifiers, texts, YAML out.

A converter (``xlsform``, ``redcap``, ``limesurvey``) reads a foreign file into an instrument *document* (the plain
mapping an instrument YAML file holds), listing what it mapped and what it could not carry. :func:`finish` then
writes that document as YAML, runs the normal instrument check on the text, and only then writes the file: a
failed import writes nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from elicit.errors import ElicitError
from elicit.instruments.expressions import FUNCTIONS
from elicit.instruments.model import Problem
from elicit.instruments.schema import Definition, InstrumentError

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
INSTRUMENT_ID_RE = re.compile(r"^[a-z][a-z0-9-]*$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
MAX_ID = 64
# Words of the expression language: an item named so could not be referred to in skip logic.
RESERVED = frozenset({"and", "or", "not", "in", "true", "false", "null"}) | FUNCTIONS


@dataclass(frozen=True)
class ImportProblem:
    """One thing a converter could not do, printed as ``file:row: message`` (row 1 when it has no row)."""

    path: str
    row: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.row or 1}: {self.message}"


class ImportFailed(ElicitError):
    """A file could not be converted; ``problems`` lists every reason (nothing was written)."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Imported:
    """A converted instrument document, what was mapped (one line each) and what was not carried over.

    ``lost`` are the format's features the instrument cannot hold and that change nothing an expert answers
    (an appearance, a colour); a feature that would change the questionnaire (skip logic, a constraint, a type)
    and cannot be translated is a problem, and the import fails.
    """

    document: dict[str, Any]
    source: str
    mapped: list[str] = field(default_factory=list)
    lost: list[ImportProblem] = field(default_factory=list)


class Problems:
    """Collects a converter's problems; :meth:`raise_any` fails with all of them at the end."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[ImportProblem] = []

    def add(self, row: int | None, message: str) -> None:
        self.items.append(ImportProblem(self.path, row, message))

    def raise_any(self) -> None:
        if self.items:
            raise ImportFailed(list(self.items))


class Identifiers:
    """Elicit identifiers (``[a-z][a-z0-9_]*``, at most 64, unique) for a format's names, with renames recorded.

    The same foreign name always gets the same identifier, so references to it translate consistently.
    """

    def __init__(self) -> None:
        self.of: dict[str, str] = {}
        self.taken: set[str] = set()
        self.renamed: list[tuple[str, str]] = []

    def __call__(self, name: str, prefix: str = "q") -> str:
        if name in self.of:
            return self.of[name]
        ident = safe_identifier(name, prefix)
        if ident in RESERVED:
            ident = f"{prefix}_{ident}"
        base, n = ident, 2
        while ident in self.taken:
            suffix = f"_{n}"
            ident, n = base[: MAX_ID - len(suffix)] + suffix, n + 1
        self.taken.add(ident)
        self.of[name] = ident
        if ident != name:
            self.renamed.append((name, ident))
        return ident


def safe_identifier(name: str, prefix: str = "q") -> str:
    """``name`` as an Elicit identifier: ASCII-folded, lower case, runs of other characters as ``_``."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ident = re.sub(r"[^a-z0-9]+", "_", folded.lower()).strip("_")
    if not ident or not ident[0].isalpha():
        ident = f"{prefix}_{ident}" if ident else prefix
    return ident[:MAX_ID].rstrip("_") or prefix


def choice_code(value: str) -> int | str | None:
    """A choice code as the instrument holds it (an int when it is a plain integer), or None when invalid."""
    text = value.strip()
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if re.fullmatch(r"[A-Za-z0-9_]+", text):
        return text
    return None


def text_of(values: Mapping[str, str], languages: Iterable[str]) -> str | dict[str, str]:
    """An instrument text: one string when every language says the same, else a map with every language.

    A language the source left empty gets the first language's text that is present (a converter records that
    as lost, since the expert then reads another language)."""
    languages = list(languages)
    present = {lang: values[lang].strip() for lang in languages if values.get(lang, "").strip()}
    if not present:
        return ""
    fallback = next(iter(present.values()))
    full = {lang: present.get(lang, fallback) for lang in languages}
    if len(set(full.values())) == 1:
        return fallback
    return full


class _PlainDumper(yaml.SafeDumper):
    """A YAML writer without anchors and aliases (the instrument loader refuses them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(document: Mapping[str, Any], header: str = "") -> str:
    """The document as readable YAML (keys in order, Unicode as written, long lines kept whole, no aliases)."""
    body = yaml.dump(
        document,
        Dumper=_PlainDumper,
        allow_unicode=True,
        sort_keys=False,
        width=100_000,
        default_flow_style=False,
    )
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + body


def id_and_version(out: str | Path) -> tuple[str, str]:
    """The instrument id and version an ``instruments/ID/VERSION.yaml`` path names."""
    path = Path(out)
    ident, version = path.parent.name, path.name.removesuffix(".yaml").removesuffix(".yml")
    if not INSTRUMENT_ID_RE.match(ident) or not VERSION_RE.match(version):
        raise ImportFailed(
            [
                ImportProblem(
                    str(out),
                    None,
                    "the output path must be instruments/ID/VERSION.yaml, with an id such as "
                    "'defence-diplomacy' and a version such as 1.0.0",
                )
            ]
        )
    return ident, version


def check_document(imported: Imported, out: str | Path) -> tuple[str, Definition]:
    """The document's YAML and its checked Definition; InstrumentError when the normal check refuses it."""
    from elicit.instruments.loading import load_text

    header = f"Imported by `elicit instrument import` from {Path(imported.source).name}."
    text = dump_yaml(imported.document, header)
    return text, load_text(text, str(out))


def write_new(out: str | Path, text: str) -> None:
    """Write ``text`` to ``out`` atomically (a temporary file renamed into place): no half-written file."""
    write_new_bytes(out, text.encode("utf-8"))


def write_new_bytes(out: str | Path, data: bytes) -> None:
    """Write ``data`` to ``out`` atomically (a temporary file renamed into place)."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def problems_of(error: InstrumentError | ImportFailed) -> list[ImportProblem | Problem]:
    """Every problem of a failed import or check, for printing one per line."""
    return list(error.problems)
