"""Questionnaires in other tools' formats: XLSForm, REDCap data dictionaries and LimeSurvey ``.lss`` in;
XLSForm and REDCap out.

Each format is a module with ``read(path, data, instrument_id, version) -> Imported`` (and, for the formats that
can be written, ``write(definition) -> bytes``). :func:`import_file` picks the reader from the file, converts,
runs the normal instrument check on the YAML it would write, and writes it only when all of that succeeded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from elicit.instruments.formats.common import (
    Imported,
    ImportFailed,
    ImportProblem,
    check_document,
    id_and_version,
    write_new,
)
from elicit.instruments.schema import Definition

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_SUFFIXES",
    "ImportFailed",
    "ImportProblem",
    "Imported",
    "convert",
    "export_definition",
    "import_file",
    "reader_for",
]

IMPORT_SUFFIXES = (".xlsx", ".xls", ".csv", ".lss")
EXPORT_FORMATS = {"xlsform": ".xlsx", "redcap": ".csv"}
MAX_IMPORT_BYTES = 20 * 1024 * 1024
# The first header cell of a REDCap data dictionary: as the Designer downloads it, or as the API writes it.
REDCAP_FIRST_COLUMNS = frozenset({"variable / field name", "field_name"})

Reader = Callable[[str, bytes, str, str], Imported]


def reader_for(name: str, data: bytes) -> tuple[str, Reader]:
    """The format of a file (by its suffix, and for ``.csv`` by its header row) and its reader."""
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xls"):
        import elicit.instruments.formats.xlsform as xlsform

        return "XLSForm", xlsform.read
    if suffix == ".lss":
        import elicit.instruments.formats.limesurvey as limesurvey

        return "LimeSurvey", limesurvey.read
    if suffix == ".csv":
        if _first_cell(data).strip().lower() in REDCAP_FIRST_COLUMNS:
            import elicit.instruments.formats.redcap as redcap

            return "REDCap data dictionary", redcap.read
        import elicit.instruments.formats.xlsform as xlsform_csv

        return "XLSForm", xlsform_csv.read
    raise ImportFailed(
        [
            ImportProblem(
                name,
                None,
                "cannot tell the format: import an XLSForm (.xlsx, .xls or .csv), a REDCap data dictionary "
                "(.csv) or a LimeSurvey structure file (.lss)",
            )
        ]
    )


def _first_cell(data: bytes) -> str:
    """The first cell of a CSV file (any encoding error is left to the reader to report)."""
    text = data[:4096].decode("utf-8-sig", errors="replace")
    for row in csv.reader(io.StringIO(text)):
        return row[0] if row else ""
    return ""


def convert(name: str, data: bytes, instrument_id: str, version: str) -> tuple[str, Imported]:
    """Convert a file's bytes into an instrument document; ImportFailed with every problem otherwise."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFailed(
            [ImportProblem(name, None, f"the file is {len(data)} bytes; the limit is {MAX_IMPORT_BYTES}")]
        )
    kind, read = reader_for(name, data)
    return kind, read(name, data, instrument_id, version)


def import_file(
    source: str | Path, out: str | Path, *, replace: bool = False
) -> tuple[str, Imported, Definition]:
    """Convert ``source``, check the result as ``out`` and write it there; nothing is written on any failure.

    The id and version come from ``out`` (``instruments/ID/VERSION.yaml``). An existing ``out`` is kept unless
    ``replace``: a published version's file must not change under it.
    """
    name = str(source)
    instrument_id, version = id_and_version(out)
    if Path(out).exists() and not replace:
        raise ImportFailed(
            [ImportProblem(str(out), None, "exists already; choose a new version or use --replace")]
        )
    try:
        data = Path(source).read_bytes()
    except FileNotFoundError:
        raise ImportFailed([ImportProblem(name, None, "no such file")]) from None
    except IsADirectoryError:
        raise ImportFailed([ImportProblem(name, None, "is a folder, not a questionnaire file")]) from None
    except OSError as exc:
        raise ImportFailed([ImportProblem(name, None, f"cannot read: {exc.strerror}")]) from None
    kind, imported = convert(name, data, instrument_id, version)
    text, definition = check_document(imported, out)
    write_new(out, text)
    return kind, imported, definition


def export_definition(definition: Definition, fmt: str) -> bytes:
    """The instrument in another tool's format: ``xlsform`` (an .xlsx workbook) or ``redcap`` (a CSV)."""
    if fmt == "xlsform":
        import elicit.instruments.formats.xlsform as xlsform

        data: bytes = xlsform.write(definition)
        return data
    if fmt == "redcap":
        import elicit.instruments.formats.redcap as redcap

        written: bytes = redcap.write(definition)
        return written
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
