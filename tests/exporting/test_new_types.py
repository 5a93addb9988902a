"""Slider, date and dropdown items through every export format, read back by independent readers, and the
codebook's ``analysis`` kind (what ``elicit analyze`` reads to decide how to treat each item)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from elicit.db import db
from elicit.exporting import ExportError, build_export
from elicit.instruments.types import ANALYSIS_KINDS
from elicit.models import Answer, Study
from elicit.studies import create_study
from tests.exporting.helpers import SLUG, answer, demo, new_invitation, publish_text, run, submitted

FORMATS = ("csv", "parquet", "xlsx", "sav", "dta")

INSTRUMENT = """
id: new-types
version: 1.0.0
languages: [en]
anonymity: anonymous
title: {en: "Slider, date and dropdown"}
pages:
  - id: only
    items:
      - id: afford_scale
        type: slider
        min: 0
        max: 10
        min_label: {en: "Not affordable at all"}
        max_label: {en: "Easily affordable"}
        text: {en: "How affordable is defence diplomacy?"}
      - id: share
        type: slider
        min: 0
        max: 1
        step: 0.25
        unit: {en: "of the budget"}
        text: {en: "What share of the budget should it get?"}
      - id: experience
        type: slider
        min: 0
        max: 40
        privacy: {quasi_identifier: {bins: [0, 10, 20, 40]}}
        text: {en: "Years of experience"}
      - id: partner
        type: dropdown
        choices:
          CHN: {en: "China"}
          USA: {en: "United States"}
          other: {en: "Another country"}
        text: {en: "Which third country matters most?"}
      - id: priority
        type: dropdown
        choices:
          1: {en: "Low"}
          2: {en: "Medium"}
          3: {en: "High"}
        text: {en: "How high a priority is it?"}
      - id: next_dialogue
        type: date
        min: 2026-01-01
        max: 2035-12-31
        text: {en: "When will the next defence dialogue take place?"}
"""

# What three experts entered (None: left empty); the export must give back exactly this.
ANSWERS: list[dict[str, Any]] = [
    {
        "afford_scale": 7,
        "share": 0.25,
        "experience": 12,
        "partner": "CHN",
        "priority": 3,
        "next_dialogue": "2027-03-15",
    },
    {
        "afford_scale": 0,
        "share": 1.0,
        "experience": 40,
        "partner": "other",
        "priority": 1,
        "next_dialogue": "2035-12-31",
    },
    {
        "afford_scale": None,
        "share": None,
        "experience": 3,
        "partner": "USA",
        "priority": None,
        "next_dialogue": None,
    },
]
# The same as exported: the experience slider is a quasi-identifier, binned into whole-number ranges.
BINS = {12: "10-19", 40: "20-40", 3: "0-9"}
LABELS = {
    "afford_scale": "How affordable is defence diplomacy?",
    "share": "What share of the budget should it get?",
    "experience": "Years of experience",
    "partner": "Which third country matters most?",
    "priority": "How high a priority is it?",
    "next_dialogue": "When will the next defence dialogue take place?",
}
PARTNERS = {"CHN": "China", "USA": "United States", "other": "Another country"}
PRIORITIES = {1: "Low", 2: "Medium", 3: "High"}


def _study(app: Flask) -> Study:
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, INSTRUMENT)
        study = create_study(session, "new-types", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        for number, values in enumerate(ANSWERS):
            answer(session, new_invitation(session, study, ("UK", "PK")[number % 2]), values)
        return study


def _expected(response_values: dict[str, Any]) -> dict[str, Any]:
    expected = dict(response_values)
    expected["experience"] = BINS[response_values["experience"]]
    return expected


def _rows(frame: pd.DataFrame, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Each row's values of the item columns, in the order the experts are matched below (by their answers)."""
    names = names or {name: name for name in LABELS}
    rows = []
    for _, row in frame.iterrows():
        rows.append({item: _missing_as_none(row[column]) for item, column in names.items()})
    return sorted(rows, key=lambda r: str(r["experience"]))


def _missing_as_none(value: Any) -> Any:
    """None for every reader's missing value (None, NaN, NaT, an empty string)."""
    if isinstance(value, str):
        return value or None
    return None if pd.isna(value) else value


def _text(value: Any) -> str | None:
    """A cell as the CSV writes it: whole numbers without ``.0``."""
    if value is None:
        return None
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _wanted(dates: Any = dt.date.fromisoformat) -> list[dict[str, Any]]:
    """The expected cells, with dates as the reader gives them (``dates`` turns ISO text into that)."""
    rows = []
    for values in ANSWERS:
        row = _expected(values)
        if row["next_dialogue"] is not None:
            row["next_dialogue"] = dates(row["next_dialogue"])
        rows.append(row)
    return sorted(rows, key=lambda r: str(r["experience"]))


def test_slider_date_and_dropdown_in_every_format(app: Flask, tmp_path: Path) -> None:
    study = _study(app)
    with app.app_context(), db.transaction() as session:
        for fmt in FORMATS:
            build_export(session, study, fmt, tmp_path / fmt, actor="cli")

    # CSV: plain text, dates as ISO text, whole slider positions without ".0".
    frame = pd.read_csv(tmp_path / "csv" / "data.csv", dtype=str, keep_default_na=False)
    text_rows = _rows(frame)
    assert text_rows == [{k: _text(v) for k, v in row.items()} for row in _wanted(lambda iso: iso)]
    assert set(frame["share"]) == {"0.25", "1", ""}
    long = pd.read_csv(tmp_path / "csv" / "long.csv", dtype=str, keep_default_na=False)
    assert sorted(long[long["item"] == "next_dialogue"]["value"]) == ["2027-03-15", "2035-12-31"]

    # Parquet: typed columns (date32 for the date), labels in the field metadata.
    schema = pq.read_schema(tmp_path / "parquet" / "data.parquet")
    assert schema.field("next_dialogue").type == pa.date32()
    assert schema.field("afford_scale").type == pa.int64() and schema.field("priority").type == pa.int64()
    assert schema.field("share").type == pa.float64()
    assert schema.field("partner").type == pa.string() and schema.field("experience").type == pa.string()
    metadata = schema.field("partner").metadata
    assert json.loads(metadata[b"value_labels"]) == PARTNERS
    assert metadata[b"label"].decode() == LABELS["partner"]
    table = pq.read_table(tmp_path / "parquet" / "data.parquet").to_pandas(date_as_object=True)
    assert _rows(table) == _wanted()

    # Excel: the date is a date cell with a date format.
    sheets = pd.read_excel(tmp_path / "xlsx" / "data.xlsx", sheet_name=None)
    assert _rows(sheets["data"]) == _wanted(lambda iso: pd.Timestamp(iso))
    sheet = load_workbook(tmp_path / "xlsx" / "data.xlsx")["data"]
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    column = header.index("next_dialogue")
    dates = [row[column] for row in sheet.iter_rows(min_row=2) if row[column].value is not None]
    assert len(dates) == 2 and all(cell.is_date and cell.number_format == "yyyy-mm-dd" for cell in dates)

    # SPSS: a DATE variable, numbers by the slider's dtype, value labels of both dropdowns, measures.
    frame, meta = pyreadstat.read_sav(tmp_path / "sav" / "data.sav")
    assert _rows(frame) == _wanted()
    assert meta.original_variable_types["next_dialogue"] == "DATE11"
    assert {name: meta.column_names_to_labels[name] for name in LABELS} == LABELS
    assert meta.variable_value_labels["partner"] == PARTNERS
    assert meta.variable_value_labels["priority"] == PRIORITIES
    assert meta.variable_value_labels["experience"] == {b: b for b in ("0-9", "10-19", "20-40")}
    assert meta.variable_measure["partner"] == "nominal" and meta.variable_measure["afford_scale"] == "scale"
    assert meta.variable_measure["experience"] == "nominal"  # text columns are nominal in SPSS
    assert meta.variable_measure["priority"] == "nominal"

    # Stata: a %td date, value labels on the whole-number dropdown (Stata labels numbers only).
    frame, meta = pyreadstat.read_dta(tmp_path / "dta" / "data.dta")
    assert _rows(frame) == _wanted()
    assert meta.original_variable_types["next_dialogue"] == "%td"
    assert {name: meta.column_names_to_labels[name] for name in LABELS} == LABELS
    assert meta.variable_value_labels["priority"] == PRIORITIES
    assert "partner" not in meta.variable_value_labels

    # The codebook: analysis kinds, slider bounds, step and end labels, the date's bounds, the dropdown's codes.
    codebook = json.loads((tmp_path / "csv" / "codebook.json").read_text(encoding="utf-8"))
    items = {i["id"]: i for i in codebook["items"]}
    assert {item: items[item]["analysis"] for item in LABELS} == {
        "afford_scale": "interval",
        "share": "interval",
        "experience": "nominal",  # binned: text labels, counted as categories
        "partner": "nominal",
        "priority": "nominal",
        "next_dialogue": "date",
    }
    afford = items["afford_scale"]
    assert (afford["type"], afford["min"], afford["max"], afford["step"]) == ("slider", 0, 10, 1)
    assert (afford["min_label"], afford["max_label"]) == ("Not affordable at all", "Easily affordable")
    share = items["share"]
    assert (share["min"], share["max"], share["step"], share["unit"]) == (0, 1, 0.25, "of the budget")
    assert "min_label" not in share
    experience = items["experience"]
    assert (experience["type"], experience["instrument_type"]) == ("single_choice", "slider")
    assert [c["code"] for c in experience["choices"]] == ["0-9", "10-19", "20-40"]
    assert items["next_dialogue"]["min"] == "2026-01-01" and items["next_dialogue"]["max"] == "2035-12-31"
    assert items["partner"]["type"] == "dropdown"
    assert items["partner"]["choices"] == [{"code": c, "label": label} for c, label in PARTNERS.items()]
    variables = {v["name"]: v for v in codebook["variables"]}
    assert {name: variables[name]["dtype"] for name in LABELS} == {
        "afford_scale": "int",
        "share": "float",
        "experience": "string",
        "partner": "string",
        "priority": "int",
        "next_dialogue": "date",
    }
    assert (
        variables["next_dialogue"]["measure"] == "scale" and variables["experience"]["measure"] == "ordinal"
    )
    assert variables["partner"]["value_labels"] == PARTNERS
    html = (tmp_path / "csv" / "codebook.html").read_text(encoding="utf-8")
    assert "analysed as date" in html and "(instrument: slider)" in html


def test_a_date_nobody_gave_is_still_a_date_in_spss_and_stata(app: Flask, tmp_path: Path) -> None:
    with app.app_context(), db.transaction() as session:
        study = create_study(
            session, "no-dates", publish_text(session, INSTRUMENT), [("UK", "United Kingdom")]
        )
        answer(session, new_invitation(session, study, "UK"), {**ANSWERS[0], "next_dialogue": None})
    with app.app_context(), db.transaction() as session:
        for fmt in ("sav", "dta"):
            build_export(session, study, fmt, tmp_path / fmt, actor="cli")
    frame, meta = pyreadstat.read_sav(tmp_path / "sav" / "data.sav")
    assert meta.original_variable_types["next_dialogue"] == "DATE11" and pd.isna(frame["next_dialogue"][0])
    frame, meta = pyreadstat.read_dta(tmp_path / "dta" / "data.dta")
    assert meta.original_variable_types["next_dialogue"] == "%td" and pd.isna(frame["next_dialogue"][0])


@pytest.mark.parametrize("stored", ["31/12/2027", "2027-02-30", "20270215"])
def test_a_stored_date_that_is_not_one_stops_the_export(app: Flask, tmp_path: Path, stored: str) -> None:
    study = _study(app)
    with app.app_context(), db.transaction() as session:
        row = session.scalars(select(Answer).where(Answer.item_id == "next_dialogue")).first()
        assert row is not None
        row.value_text = stored
    with app.app_context(), db.transaction() as session, pytest.raises(ExportError) as caught:
        build_export(session, study, "csv", tmp_path / "out", actor="cli")
    assert str(caught.value) == f"item next_dialogue: a stored answer {stored!r} is not a date (YYYY-MM-DD)"
    assert not (tmp_path / "out").exists()


def test_every_item_of_the_flagship_export_has_an_analysis_kind(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    demo(runner, 1)
    code, _, err = run(runner, "export", SLUG, "--out", str(tmp_path / "x"))
    assert code == 0, err
    codebook = json.loads((tmp_path / "x" / "codebook.json").read_text(encoding="utf-8"))
    kinds = {item["id"]: item["analysis"] for item in codebook["items"]}
    assert set(kinds.values()) <= set(ANALYSIS_KINDS)
    assert (
        kinds["tac_1"] == "ordinal" and kinds["state"] == "nominal" and kinds["activities"] == "multi-select"
    )
    assert kinds["alloc"] == "composition" and kinds["rank_leverage"] == "ranking"
    assert kinds["exports_change"] == "distribution" and kinds["rationale"] == "text"
    assert kinds["years"] == "nominal"  # binned: text labels, counted as categories
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == SLUG))
        assert study is not None and len(submitted(db.session, study)) == 2
