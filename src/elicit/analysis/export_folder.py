"""Read an anonymized export folder (``data.csv`` + ``codebook.json`` [+ ``manifest.json``]).

The folder layout is documented in ``docs/export.md``. This module only reads files it is given and turns
them into a tidy :class:`pandas.DataFrame` plus a parsed :class:`Codebook`; it knows nothing about the web
application or its database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum, auto
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ANALYSIS_KINDS",
    "FIXED_COLUMNS",
    "NUMERIC_KINDS",
    "Choice",
    "Codebook",
    "Cohort",
    "ExportData",
    "Item",
    "Kind",
    "Scale",
    "as_codebook",
    "load_export",
    "parse_codebook",
]

#: Columns every export carries before the item variables (docs/export.md, "Columns of data").
FIXED_COLUMNS: tuple[str, ...] = (
    "respondent",
    "cohort",
    "round",
    "instrument_version",
    "language",
    "submitted_on",
)


class Kind(StrEnum):
    """How the analysis treats an item: the codebook's ``analysis`` key, which the exporter writes from the item
    type (docs/export.md). The analysis reads the kind and never the type's name, so a new item type needs no
    change here as long as it is analysed as one of these."""

    ORDINAL = auto()  # coded answers on a scale: the codes are numbers in order
    INTERVAL = auto()  # a number
    NOMINAL = auto()  # one of the choices, in no order (the codes may still be numbers)
    MULTI_SELECT = "multi-select"  # one 0/1 column per choice
    COMPOSITION = auto()  # shares of a constant sum, one column per choice
    RANKING = auto()  # a rank per choice
    DISTRIBUTION = auto()  # quantiles of the expert's judgement, one column per level
    DATE = auto()  # an ISO date, YYYY-MM-DD
    TEXT = auto()  # free text


#: Every kind, as the codebook writes it.
ANALYSIS_KINDS: frozenset[str] = frozenset(Kind)
#: Kinds whose columns hold numbers the analysis uses.
NUMERIC_KINDS: frozenset[str] = frozenset(
    {Kind.ORDINAL, Kind.INTERVAL, Kind.RANKING, Kind.COMPOSITION, Kind.DISTRIBUTION}
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REQUIRED_COLUMNS = ("respondent", "cohort")


@dataclass(frozen=True)
class Choice:
    """One answer option: the stored ``code``, its ``label`` and the number used in the analysis."""

    code: str
    label: str
    value: float


@dataclass(frozen=True)
class Item:
    """An item of the codebook, reduced to what the analysis needs.

    ``analysis`` is the kind the analysis treats the item as; ``type`` is the instrument's item type, kept for
    display only.
    """

    id: str
    type: str
    analysis: Kind
    text: str
    columns: tuple[str, ...]
    choices: tuple[Choice, ...] = ()
    scale: str | None = None
    reverse: bool = False
    total: float | None = None
    levels: tuple[float, ...] = ()
    unit: str | None = None
    privacy: str = "none"

    @property
    def code_range(self) -> tuple[float, float]:
        """Smallest and largest analysis value of the *declared* choices (never the observed values)."""
        if not self.choices:
            raise ValueError(f"item {self.id!r} has no choices in the codebook, so it has no code range")
        values = [c.value for c in self.choices]
        return min(values), max(values)

    @property
    def numeric_codes(self) -> bool:
        """Whether the item has declared choices and every code is a number (the code is then its value)."""
        return bool(self.choices) and all(_is_number(c.code) for c in self.choices)

    def part_of(self, column: str) -> str:
        """The part (choice code or quantile label) a column of this item stands for."""
        prefix = f"{self.id}."
        return column[len(prefix) :] if column.startswith(prefix) else column

    def label_of(self, code: str) -> str:
        """The label of a choice code, or the code itself if unknown."""
        for choice in self.choices:
            if choice.code == code:
                return choice.label
        return code


@dataclass(frozen=True)
class Scale:
    """A construct: the items whose mean (after reverse keying) is the scale score."""

    name: str
    label: str
    items: tuple[str, ...]
    reverse: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cohort:
    """A group of experts, e.g. ``UK`` or ``PK``."""

    code: str
    label: str


@dataclass(frozen=True, eq=False)
class Codebook:
    """The parsed ``codebook.json``; ``raw`` keeps the document as read."""

    raw: Mapping[str, Any]
    study: Mapping[str, Any]
    instrument: Mapping[str, Any]
    cohorts: tuple[Cohort, ...]
    scales: tuple[Scale, ...]
    items: tuple[Item, ...]

    def item(self, item_id: str) -> Item:
        """The item called ``item_id``; ``ValueError`` if the codebook has none."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise ValueError(f"the codebook has no item {item_id!r}")

    def items_of_kind(self, *kinds: str) -> tuple[Item, ...]:
        """Items the analysis treats as one of ``kinds`` (:class:`Kind`), in instrument order."""
        return tuple(item for item in self.items if item.analysis in kinds)

    def quantile_items(self) -> tuple[Item, ...]:
        """Distribution items elicited as quantiles (they have levels): what Cooke's model and the quantile tables
        take; roulette and four-point judgements reach the analysis only through their fitted distributions."""
        return tuple(item for item in self.items_of_kind(Kind.DISTRIBUTION) if item.levels)

    def scale(self, name: str) -> Scale:
        """The scale called ``name``; ``ValueError`` if the codebook has none."""
        for scale in self.scales:
            if scale.name == name:
                return scale
        raise ValueError(f"the codebook has no scale {name!r}")

    @property
    def cohort_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.cohorts)

    def is_reverse_keyed(self, item_id: str) -> bool:
        """True if any scale lists the item under ``reverse`` or the item says ``reverse: true``."""
        if any(item_id in scale.reverse for scale in self.scales):
            return True
        return any(item.id == item_id and item.reverse for item in self.items)

    @property
    def scale_item_ids(self) -> frozenset[str]:
        return frozenset(i for scale in self.scales for i in scale.items)


@dataclass(frozen=True, eq=False)
class ExportData:
    """An export folder read into memory.

    ``data`` has one row per response: the fixed columns (``respondent``, ``cohort``, ...) and one column per
    variable, with the columns of :data:`NUMERIC_KINDS` items converted to numbers (ordinal codes to their analysis
    value), nominal codes as the codebook writes them (``"4"``, not ``"4.0"``) and dates checked to be ISO dates
    (kept as ``YYYY-MM-DD`` text).
    """

    folder: Path
    data: pd.DataFrame
    codebook: Codebook
    manifest: Mapping[str, Any] | None
    checksums: Mapping[str, str]
    notes: tuple[str, ...] = field(default=())


def _text(value: Any, language: str | None = None) -> str:
    """A codebook text: a plain string, or a ``{lang: text}`` map (first language if none matches)."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        if language and language in value:
            return str(value[language])
        return str(next(iter(value.values()), ""))
    return str(value)


def _is_number(code: str) -> bool:
    try:
        float(code)
    except ValueError:
        return False
    return True


def _analysis_kind(entry: Mapping[str, Any], item_id: str) -> Kind:
    """The item's ``analysis`` kind; a codebook written before the exporter recorded it is refused, by name."""
    kind = entry.get("analysis")
    if kind is None:
        raise ValueError(
            f"codebook.json: item {item_id!r} has no 'analysis' kind: the export was made by an older version of "
            "Elicit, which did not record how each item is analysed; export the study again (elicit export) and "
            "analyse the new folder"
        )
    if not isinstance(kind, str) or kind not in ANALYSIS_KINDS:
        raise ValueError(
            f"codebook.json: item {item_id!r} has analysis kind {kind!r}, which this version of the analysis does "
            f"not know (it knows {', '.join(sorted(ANALYSIS_KINDS))}); analyse the folder with the version of "
            "Elicit that exported it"
        )
    return Kind(kind)


def _parse_choices(raw: Any, item_id: str, language: str | None) -> tuple[Choice, ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        pairs = [(str(code), _text(label, language)) for code, label in raw.items()]
    elif isinstance(raw, list):
        pairs = []
        for entry in raw:
            if not isinstance(entry, Mapping) or "code" not in entry:
                raise ValueError(f"codebook item {item_id!r}: each choice needs a 'code'")
            pairs.append((str(entry["code"]), _text(entry.get("label", entry["code"]), language)))
    else:
        raise ValueError(f"codebook item {item_id!r}: 'choices' must be a list or a mapping")
    numeric = all(_is_number(code) for code, _ in pairs)
    return tuple(
        Choice(code=code, label=label, value=float(code) if numeric else float(position))
        for position, (code, label) in enumerate(pairs, start=1)
    )


def parse_codebook(raw: Mapping[str, Any]) -> Codebook:
    """Parse a ``codebook.json`` document (format ``elicit-codebook/1``, see docs/export.md).

    Raises
    ------
    ValueError
        If the document is not an Elicit codebook or is internally inconsistent (a scale naming an unknown
        item, a reverse key outside the scale, a scale item without a choice range), or an item has no
        ``analysis`` kind (an export made before the exporter recorded it: export the study again) or one this
        version does not know.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("codebook.json must hold a JSON object")
    fmt = str(raw.get("format", ""))
    if not fmt.startswith("elicit-codebook/"):
        raise ValueError(
            f"codebook.json is not an Elicit codebook (format is {fmt!r}, expected 'elicit-codebook/1')"
        )
    language = raw.get("language") if isinstance(raw.get("language"), str) else None
    items: list[Item] = []
    for entry in raw.get("items") or []:
        if not isinstance(entry, Mapping) or "id" not in entry or "type" not in entry:
            raise ValueError("codebook.json: every item needs an 'id' and a 'type'")
        item_id = str(entry["id"])
        columns = entry.get("columns")
        if columns is None:
            columns = [item_id]
        levels = tuple(float(v) for v in entry.get("levels") or ())
        total = entry.get("total")
        privacy = entry.get("privacy", "none")
        items.append(
            Item(
                id=item_id,
                type=str(entry["type"]),
                analysis=_analysis_kind(entry, item_id),
                text=_text(entry.get("text"), language),
                columns=tuple(str(c) for c in columns),
                choices=_parse_choices(entry.get("choices"), item_id, language),
                scale=entry.get("scale"),
                reverse=bool(entry.get("reverse", False)),
                total=float(total) if total is not None else None,
                levels=levels,
                unit=entry.get("unit"),
                privacy=privacy if isinstance(privacy, str) else "quasi_identifier",
            )
        )
    by_id = {item.id: item for item in items}
    scales: list[Scale] = []
    raw_scales = raw.get("scales") or {}
    if not isinstance(raw_scales, Mapping):
        raise ValueError("codebook.json: 'scales' must be an object")
    for name, spec in raw_scales.items():
        scale_items = tuple(str(i) for i in (spec or {}).get("items") or ())
        reverse = tuple(str(i) for i in (spec or {}).get("reverse") or ())
        if not scale_items:
            raise ValueError(f"codebook.json: scale {name!r} lists no items")
        for item_id in scale_items:
            if item_id not in by_id:
                raise ValueError(
                    f"codebook.json: scale {name!r} names item {item_id!r}, which is not an item"
                )
            if not by_id[item_id].choices:
                raise ValueError(
                    f"codebook.json: item {item_id!r} of scale {name!r} has no choices, so it cannot be "
                    "reverse-keyed or scored"
                )
        for item_id in reverse:
            if item_id not in scale_items:
                raise ValueError(f"codebook.json: reverse key {item_id!r} is not an item of scale {name!r}")
        scales.append(
            Scale(
                name=str(name),
                label=_text((spec or {}).get("label"), language) or str(name),
                items=scale_items,
                reverse=reverse,
            )
        )
    cohorts = []
    for entry in raw.get("cohorts") or []:
        if isinstance(entry, Mapping):
            code = str(entry.get("code"))
            cohorts.append(Cohort(code=code, label=_text(entry.get("label"), language) or code))
        else:
            cohorts.append(Cohort(code=str(entry), label=str(entry)))
    return Codebook(
        raw=raw,
        study=raw.get("study") or {},
        instrument=raw.get("instrument") or {},
        cohorts=tuple(cohorts),
        scales=tuple(scales),
        items=tuple(items),
    )


def as_codebook(codebook: Codebook | Mapping[str, Any]) -> Codebook:
    """Accept a parsed :class:`Codebook` or the raw ``codebook.json`` mapping."""
    return codebook if isinstance(codebook, Codebook) else parse_codebook(codebook)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_checksums(manifest: Mapping[str, Any]) -> dict[str, str]:
    """File checksums listed in a manifest, tolerant of the shapes a manifest may take."""
    found: dict[str, str] = {}
    files = manifest.get("files") or manifest.get("checksums") or {}
    entries: Iterable[Any]
    if isinstance(files, Mapping):
        entries = [
            ({"name": k, **v} if isinstance(v, Mapping) else {"name": k, "sha256": v})
            for k, v in files.items()
        ]
    elif isinstance(files, list):
        entries = files
    else:
        entries = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("name") or entry.get("path") or entry.get("file")
        digest = entry.get("sha256") or entry.get("checksum")
        if isinstance(name, str) and isinstance(digest, str):
            found[Path(name).name] = digest.removeprefix("sha256:").lower()
    return found


def _coerce_numeric(series: pd.Series, item: Item, column: str) -> pd.Series:
    """Convert one column to floats; ordinal codes become their analysis value."""
    raw = series.astype("string").str.strip()
    raw = raw.mask(raw == "")
    if item.analysis == Kind.ORDINAL and item.choices:
        mapping = {c.code: c.value for c in item.choices}
        # Plain Python values, not pandas' string arrays: a column nobody answered is all missing, and
        # pyarrow refuses to compare its null-typed array with the codes (ArrowTypeError).
        numbers: list[float] = []
        for position, value in enumerate(raw.tolist()):
            if value is None or pd.isna(value):
                numbers.append(math.nan)
                continue
            # integer codes may be written as "4.0" by some writers
            code = value if value in mapping else _normalize_code(value)
            if code not in mapping:
                raise ValueError(
                    f"data.csv row {position + 2}, column {column!r}: value {code!r} is not one of the codes "
                    f"declared in the codebook ({', '.join(mapping)})"
                )
            numbers.append(mapping[code])
        return pd.Series(numbers, index=series.index, dtype="float64")
    values = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & values.isna()
    if bad.any():
        row = int(bad[bad].index[0]) + 2
        raise ValueError(f"data.csv row {row}, column {column!r}: {raw[bad].iloc[0]!r} is not a number")
    return values.astype("float64")


def _clean_codes(series: pd.Series, item: Item) -> pd.Series:
    """A nominal column's codes stripped, numeric codes written as the codebook writes them ("4.0" -> "4")."""
    numeric = item.numeric_codes
    codes: list[str | None] = []
    for value in series.astype("string").str.strip().tolist():  # plain values: see _coerce_numeric
        if value is None or pd.isna(value) or value == "":
            codes.append(None)
        else:
            codes.append(_normalize_code(value) if numeric else value)
    return pd.Series(codes, index=series.index, dtype="string")


def _check_dates(series: pd.Series, column: str) -> pd.Series:
    """A date column stripped and checked: every answer is an ISO date (YYYY-MM-DD), kept as that text."""
    dates: list[str | None] = []
    for position, value in enumerate(series.astype("string").str.strip().tolist()):
        if value is None or pd.isna(value) or value == "":
            dates.append(None)
            continue
        try:
            valid = bool(_ISO_DATE.fullmatch(value)) and dt.date.fromisoformat(value).isoformat() == value
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(
                f"data.csv row {position + 2}, column {column!r}: {value!r} is not a date written as YYYY-MM-DD"
            )
        dates.append(value)
    return pd.Series(dates, index=series.index, dtype="string")


def _normalize_code(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if math.isfinite(number) and number.is_integer() else value


def load_export(folder: str | Path) -> ExportData:
    """Read an export folder written by ``elicit export``.

    Parameters
    ----------
    folder
        The folder holding ``data.csv`` and ``codebook.json`` (``manifest.json`` is read when present).

    Returns
    -------
    ExportData
        The data with numeric columns converted, the parsed codebook, the manifest and sha256 checksums of
        the files read.

    Raises
    ------
    ValueError
        For a missing or unreadable file, a codebook that is not an Elicit codebook (or an item without an
        ``analysis`` kind: an export made before the kinds), a codebook whose item columns are not in
        ``data.csv``, ordinal codes outside the declared choices, numbers or dates that are not numbers or ISO
        dates, cohorts in the data that the codebook does not declare, or a respondent appearing twice in the
        same round.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(
            f"{folder}: not a folder (expected an export folder with data.csv and codebook.json)"
        )
    data_path = folder / "data.csv"
    codebook_path = folder / "codebook.json"
    for path in (data_path, codebook_path):
        if not path.is_file():
            raise ValueError(f"{path}: missing — an export folder holds data.csv and codebook.json")
    try:
        raw_codebook = json.loads(codebook_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{codebook_path}: not valid JSON ({exc})") from exc
    codebook = parse_codebook(raw_codebook)

    manifest: Mapping[str, Any] | None = None
    manifest_path = folder / "manifest.json"
    notes: list[str] = []
    checksums = {"data.csv": _sha256(data_path), "codebook.json": _sha256(codebook_path)}
    if manifest_path.is_file():
        try:
            loaded = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{manifest_path}: not valid JSON ({exc})") from exc
        manifest = loaded if isinstance(loaded, Mapping) else None
        checksums["manifest.json"] = _sha256(manifest_path)
        if manifest is not None:
            listed = _manifest_checksums(manifest)
            for name in ("data.csv", "codebook.json"):
                if name in listed and listed[name] != checksums[name]:
                    notes.append(
                        f"{name} does not match the checksum in manifest.json: the file was changed after export"
                    )
    else:
        notes.append("manifest.json is missing: the export's provenance cannot be checked")

    try:
        data = pd.read_csv(data_path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{data_path}: cannot be read as CSV ({exc})") from exc
    missing_fixed = [c for c in _REQUIRED_COLUMNS if c not in data.columns]
    if missing_fixed:
        raise ValueError(f"{data_path}: required column(s) {', '.join(missing_fixed)} missing")
    expected = [
        column for item in codebook.items if item.privacy != "direct_identifier" for column in item.columns
    ]
    missing = [c for c in expected if c not in data.columns]
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise ValueError(
            f"codebook.json and data.csv do not match: the codebook lists column(s) {shown} that data.csv lacks"
        )
    known = set(FIXED_COLUMNS) | set(expected)
    known |= {str(v.get("name")) for v in raw_codebook.get("variables") or [] if isinstance(v, Mapping)}
    extra = [c for c in data.columns if c not in known and not c.endswith(".dont_know")]
    if extra:
        notes.append(f"data.csv has column(s) the codebook does not describe, ignored: {', '.join(extra)}")

    data["respondent"] = data["respondent"].astype("string")
    data["cohort"] = data["cohort"].astype("string")
    if data["cohort"].isna().any():
        raise ValueError(f"{data_path}: {int(data['cohort'].isna().sum())} row(s) have no cohort")
    declared = codebook.cohort_codes
    if declared:
        undeclared = sorted(set(data["cohort"].dropna()) - set(declared))
        if undeclared:
            raise ValueError(
                f"data.csv has cohort(s) {', '.join(undeclared)} that codebook.json does not declare "
                f"({', '.join(declared) or 'none'})"
            )
    else:
        codebook = Codebook(
            raw=codebook.raw,
            study=codebook.study,
            instrument=codebook.instrument,
            cohorts=tuple(Cohort(c, c) for c in sorted(data["cohort"].dropna().unique())),
            scales=codebook.scales,
            items=codebook.items,
        )
    if "round" in data.columns:
        data["round"] = pd.to_numeric(data["round"], errors="coerce").fillna(1).astype("int64")
    else:
        data["round"] = np.int64(1)
    dupes = data.duplicated(subset=["respondent", "round"])
    if dupes.any():
        who = data.loc[dupes, "respondent"].iloc[0]
        raise ValueError(f"data.csv: respondent {who!r} appears more than once in the same round")
    for item in codebook.items:
        if item.privacy == "direct_identifier":
            continue
        for column in item.columns:
            if item.analysis in NUMERIC_KINDS:
                data[column] = _coerce_numeric(data[column], item, column)
            elif item.analysis == Kind.NOMINAL:
                data[column] = _clean_codes(data[column], item)
            elif item.analysis == Kind.DATE:
                data[column] = _check_dates(data[column], column)
    return ExportData(
        folder=folder,
        data=data,
        codebook=codebook,
        manifest=manifest,
        checksums=checksums,
        notes=tuple(notes),
    )
