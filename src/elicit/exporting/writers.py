"""One writer per format. CSV, long CSV and Parquet are streamed chunk by chunk; XLSX, SPSS and Stata are built
from a Parquet file the stream wrote.

Memory: the streamed writers hold one chunk of rows at a time. The XLSX writer reads the Parquet file batch by
batch into openpyxl's write-only workbook, so it is bounded too (but slow for very large studies). SPSS and Stata
files are written by pyreadstat from a whole DataFrame, so ``sav`` and ``dta`` exports hold the whole wide table in
memory once (about 8 bytes per numeric cell: 100,000 responses x 60 items is about 50 MB).

Every text cell of a CSV or XLSX file goes through ``csv_safe`` so a spreadsheet never runs it as a formula.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from elicit.errors import ElicitError
from elicit.exporting.anonymize import csv_safe
from elicit.exporting.plan import ExportPlan, Variable, value_labels_json

ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string(), "date": pa.date32()}
XLSX_MAX_ROWS = 1_048_575  # one row of the sheet is the header
SAV_LABEL_BYTES = 256
SAV_VALUE_LABEL_BYTES = 120
DTA_LABEL_CHARS = 80
DTA_VALUE_LABEL_BYTES = 32000
SAV_RESERVED = frozenset(["all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with"])
DTA_RESERVED = frozenset(
    [
        "_all",
        "_b",
        "byte",
        "_coef",
        "_cons",
        "double",
        "float",
        "if",
        "in",
        "int",
        "long",
        "_n",
        "_N",
        "_pi",
        "_pred",
        "_rc",
        "_skip",
        "str",
        "strL",
        "using",
        "with",
    ]
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class WriterError(ElicitError, ValueError):
    """A format cannot hold this export (too many rows for a sheet, for example)."""


# ------------------------------------------------------------------------------------------------ names


def format_names(names: Sequence[str], fmt: str) -> list[str]:
    """Column names valid in SPSS (``sav``) or Stata (``dta``), unique, as close to the originals as allowed.

    SPSS keeps ``alloc.tactical`` (dots are allowed, 64 bytes); Stata has no dots and 32 characters, so it
    gets ``alloc_tactical``. The codebook lists each variable's name in both.
    """
    if fmt not in {"sav", "dta"}:
        return list(names)
    limit = 64 if fmt == "sav" else 32
    bad = re.compile(r"[^A-Za-z0-9_.@#$]" if fmt == "sav" else r"[^A-Za-z0-9_]")
    reserved = SAV_RESERVED if fmt == "sav" else DTA_RESERVED
    taken: set[str] = set()
    result = []
    for name in names:
        candidate = bad.sub("_", name)
        if not re.match(r"[A-Za-z]" if fmt == "sav" else r"[A-Za-z_]", candidate):
            candidate = "v_" + candidate
        candidate = candidate.rstrip(".") or "v"
        if candidate.lower() in reserved or candidate in reserved:
            candidate += "_v"
        candidate = candidate[:limit].rstrip(".")
        base, n = candidate, 1
        while candidate.lower() in taken:
            n += 1
            suffix = f"_{n}"
            candidate = base[: limit - len(suffix)] + suffix
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def _cut_bytes(text: str, limit: int) -> str:
    """Text cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def fit_label(
    label: str, suffix: str, size: Callable[[str], int], limit: int, part: str | None = None
) -> str:
    """A label shortened to ``limit`` (as ``size`` measures it), keeping the end that names its part.

    ``By how much will ...: 5th percentile`` becomes ``By how much…: 5th percentile`` rather than losing what
    tells the three quantile columns apart; when the part's own label is long, its code stands in for it
    (``Distribute 100 points…: tactical``). Trailing spaces go (SPSS and Stata drop them anyway).
    """
    label = label.rstrip()
    if size(label) <= limit:
        return label
    tail = "…"
    if suffix and label.endswith(suffix):
        label = label[: len(label) - len(suffix)]
        tail = "…" + (suffix if size(suffix) <= limit // 2 or not part else f": {part}")
    if size(tail) > limit // 2:
        tail = "…"
    stem = label
    while stem and size(stem.rstrip() + tail) > limit:
        stem = stem[: len(stem) - max(1, (size(stem.rstrip() + tail) - limit) // 4)]
    return stem.rstrip() + tail


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def sav_label(variable: Variable) -> str:
    return fit_label(variable.label, variable.suffix, _utf8, SAV_LABEL_BYTES, variable.part)


def sav_value_label(text: str) -> str:
    return _cut_bytes(text, SAV_VALUE_LABEL_BYTES).rstrip()


def dta_label(variable: Variable) -> str:
    return fit_label(variable.label, variable.suffix, len, DTA_LABEL_CHARS, variable.part)


def dta_value_label(text: str) -> str:
    return _cut_bytes(text, DTA_VALUE_LABEL_BYTES).rstrip()


# ------------------------------------------------------------------------------------------------ CSV


class CsvSink:
    """``data.csv``: UTF-8 without a byte-order mark, a header row, empty cells for missing values."""

    def __init__(self, path: Path, plan: ExportPlan) -> None:
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.writer.writerow(plan.names)
        self.text_indexes = [i for i, v in enumerate(plan.variables) if v.dtype == "string"]

    def write(self, rows: list[list[Any]]) -> None:
        """Write rows (neutralising formula-like text cells in place)."""
        for row in rows:
            for index in self.text_indexes:
                value = row[index]
                if value and value.startswith(_FORMULA_START):
                    row[index] = csv_safe(value)
        self.writer.writerows(rows)

    def close(self) -> None:
        self.handle.close()


class LongCsvSink:
    """``long.csv``: ``respondent, round, item, part, value``, one row per stored value (after anonymization).

    A "don't know" answer is the row ``item, dont_know, 1``; empty and dropped variables have no row.
    """

    def __init__(self, path: Path, plan: ExportPlan) -> None:
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.writer.writerow(["respondent", "round", "item", "part", "value"])
        values = [(i, v) for i, v in enumerate(plan.variables) if v.kind in {"value", "dont_know", "note"}]
        self.columns = [(i, v.item_id, v.part or "") for i, v in values]
        self.text_indexes = [i for i, v in values if v.dtype == "string"]
        self.round_index = plan.index("round")

    def write(self, rows: list[list[Any]]) -> None:
        """Write the stored values of rows (neutralising formula-like text cells in place, as CsvSink does)."""
        for row in rows:
            for index in self.text_indexes:
                value = row[index]
                if value and value.startswith(_FORMULA_START):
                    row[index] = csv_safe(value)
        columns = self.columns
        r = self.round_index
        out = [
            (row[0], row[r], item_id, part, value)
            for row in rows
            for index, item_id, part in columns
            if (value := row[index]) is not None
        ]
        self.writer.writerows(out)

    def close(self) -> None:
        self.handle.close()


# ------------------------------------------------------------------------------------------------ Parquet


def arrow_schema(plan: ExportPlan) -> pa.Schema:
    """Typed columns with each variable's label and value labels as field metadata (R's arrow shows them)."""
    fields = []
    for variable in plan.variables:
        metadata = {"label": variable.label}
        labels = value_labels_json(variable.value_labels)
        if labels:
            metadata["value_labels"] = json.dumps(labels, ensure_ascii=False)
        fields.append(pa.field(variable.name, ARROW_TYPES[variable.dtype], metadata=metadata))
    return pa.schema(fields, metadata={"elicit": json.dumps({"format": "elicit-export/1"})})


class ParquetSink:
    """A Parquet file written one row group per chunk (``pyarrow.parquet.ParquetWriter``)."""

    def __init__(self, path: Path, plan: ExportPlan) -> None:
        self.schema = arrow_schema(plan)
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.width = plan.width

    def write(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(columns[i], type=self.schema.field(i).type) for i in range(self.width)]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


# ------------------------------------------------------------------------------------------------ SPSS, Stata


def _frame(parquet: Path, plan: ExportPlan) -> Any:
    """The whole table as a DataFrame: dates as dates, missing text as "" (how SPSS and Stata store it).

    A date column nobody answered becomes all-missing numbers, which the date format passed to pyreadstat
    (``_date_formats``) turns into an empty date variable; left as Python ``None`` it would be written as text.
    """
    frame = pq.read_table(parquet).to_pandas(date_as_object=True)
    for variable in plan.variables:
        if variable.dtype == "string":
            frame[variable.name] = frame[variable.name].fillna("").astype(object)
        elif variable.dtype == "date" and frame[variable.name].isna().all():
            frame[variable.name] = frame[variable.name].astype("float64")
    return frame


def _date_formats(names: Sequence[str], plan: ExportPlan, date_format: str) -> dict[str, str]:
    """The display format of every date column (SPSS ``DATE11``, Stata ``%td``), by the column's name there."""
    return {
        name: date_format
        for name, variable in zip(names, plan.variables, strict=True)
        if variable.dtype == "date"
    }


def _numeric_labels(variable: Variable) -> dict[int | float, str] | None:
    if not variable.value_labels or variable.dtype not in {"int", "float"}:
        return None
    return {code: label for code, label in variable.value_labels.items() if isinstance(code, int | float)}


def write_sav(parquet: Path, path: Path, plan: ExportPlan, file_label: str) -> None:
    """SPSS ``.sav``: variable labels, value labels (numeric and string codes) and measurement levels."""
    import pyreadstat

    frame = _frame(parquet, plan)
    names = format_names(plan.names, "sav")
    frame.columns = names
    labels: dict[str, Any] = {}
    measures: dict[str, str] = {}
    value_labels: dict[str, dict[Any, str]] = {}
    for name, variable in zip(names, plan.variables, strict=True):
        labels[name] = sav_label(variable)
        measures[name] = "nominal" if variable.dtype == "string" else variable.measure
        if variable.value_labels:
            value_labels[name] = {code: sav_value_label(text) for code, text in variable.value_labels.items()}
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label=fit_label(file_label, "", _utf8, 64),
        column_labels=labels,
        variable_value_labels=value_labels,
        variable_measure=measures,
        variable_format=_date_formats(names, plan, "DATE11"),
    )


def write_dta(parquet: Path, path: Path, plan: ExportPlan, file_label: str) -> None:
    """Stata ``.dta`` (version 15): variable labels and value labels (Stata labels whole numbers only)."""
    import pyreadstat

    frame = _frame(parquet, plan)
    names = format_names(plan.names, "dta")
    frame.columns = names
    labels: dict[str, Any] = {}
    value_labels: dict[str, dict[int | float, str]] = {}
    for name, variable in zip(names, plan.variables, strict=True):
        labels[name] = dta_label(variable)
        numeric = _numeric_labels(variable) if variable.dtype == "int" else None
        if numeric:
            value_labels[name] = {code: dta_value_label(text) for code, text in numeric.items()}
    pyreadstat.write_dta(
        frame,
        str(path),
        file_label=fit_label(file_label, "", len, DTA_LABEL_CHARS),
        column_labels=labels,
        variable_value_labels=value_labels,
        variable_format=_date_formats(names, plan, "%td"),
    )


# ------------------------------------------------------------------------------------------------ Excel


def write_xlsx(parquet: Path, path: Path, plan: ExportPlan, codebook_rows: list[list[Any]]) -> None:
    """``data.xlsx``: a ``data`` sheet (streamed from the Parquet file) and a ``codebook`` sheet."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    source = pq.ParquetFile(parquet)
    if source.metadata.num_rows > XLSX_MAX_ROWS:
        raise WriterError(
            f"{source.metadata.num_rows} rows do not fit in an Excel sheet (at most {XLSX_MAX_ROWS}); "
            "export as csv or parquet instead"
        )
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("data")
    sheet.append(plan.names)
    text = [v.dtype == "string" for v in plan.variables]
    dates = [v.dtype == "date" for v in plan.variables]
    for batch in source.iter_batches(batch_size=2000):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for values in zip(*columns, strict=True):
            row: list[Any] = []
            for index, value in enumerate(values):
                if value is None:
                    row.append(None)
                elif text[index]:
                    row.append(csv_safe(_XLSX_ILLEGAL.sub("", value)))
                elif dates[index]:
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.number_format = "yyyy-mm-dd"
                    row.append(cell)
                else:
                    row.append(value)
            sheet.append(row)
    book = workbook.create_sheet("codebook")
    for record in codebook_rows:
        book.append([csv_safe(_XLSX_ILLEGAL.sub("", v)) if isinstance(v, str) else v for v in record])
    workbook.save(path)
