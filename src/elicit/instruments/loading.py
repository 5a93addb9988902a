"""Read instruments from files or published canonical JSON into Definitions."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from elicit.instruments.schema import Definition, InstrumentError, Problem, build_definition
from elicit.instruments.yamlsource import MAX_BYTES, YamlProblem, load_yaml


def load_text(text: str | bytes, path: str) -> Definition:
    """Parse and check YAML text; raise InstrumentError with every problem (``path`` names it in messages)."""
    try:
        document = load_yaml(text)
    except YamlProblem as exc:
        message = f"column {exc.column}: {exc.message}" if exc.column else exc.message
        raise InstrumentError([Problem(path, exc.line, message)]) from None
    return build_definition(document, path)


def load_file(path: str | Path) -> Definition:
    """Read and check one instrument file."""
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_BYTES:
            raise InstrumentError(
                [Problem(name, None, f"the file is {size} bytes; the limit is {MAX_BYTES}")]
            )
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InstrumentError([Problem(name, None, "no such file")]) from None
    except IsADirectoryError:
        raise InstrumentError([Problem(name, None, "is a folder, not an instrument file")]) from None
    except OSError as exc:
        raise InstrumentError([Problem(name, None, f"cannot read: {exc.strerror}")]) from None
    return load_text(data, name)


@lru_cache(maxsize=64)
def load_canonical(canonical_json: str) -> Definition:
    """Rebuild a Definition from the canonical JSON of a published version (cached: versions never change)."""
    return build_definition(json.loads(canonical_json), "<published>")


def check_paths(paths: list[str]) -> tuple[list[Definition], list[Problem]]:
    """Check every file; return the good definitions and every problem of the bad ones."""
    good: list[Definition] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            good.append(load_file(path))
        except InstrumentError as exc:
            problems.extend(exc.problems)
    return good, problems
