"""Every format read back by an independent reader and compared, value by value and label by label, with what
the experts entered (the demo's simulated experts answer through the real flow; their stored answers are decoded
by the responding domain, not by the exporter)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.schema import text_in
from elicit.models import AuditEvent, InstrumentVersion, Study
from elicit.responding.flow import load_answers
from tests.exporting.helpers import SLUG, definition_for, demo, expected_cells, run, same, submitted

FORMATS = ("csv", "parquet", "xlsx", "sav", "dta")


def _cell(value: Any) -> Any:
    """Dates of every reader as YYYY-MM-DD, everything else as read."""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _mismatches(frame: pd.DataFrame, expected: list[dict[str, Any]], names: dict[str, str]) -> list[str]:
    problems = []
    assert len(frame) == len(expected)
    for index, row in enumerate(expected):
        for column, value in row.items():
            actual = _cell(frame.iloc[index][names[column]])
            if not same(value, actual):
                problems.append(f"row {index + 1}, {column}: expected {value!r}, read {actual!r}")
    return problems


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def _fits(read: str, variable: dict[str, Any], limit: int, size: Any) -> bool:
    """A label as written: the whole label when it fits (SPSS: 256 bytes, Stata: 80 characters), else its
    beginning, an ellipsis and the part it names (its label, or its code when that is long), within the limit."""
    full = variable["label"].rstrip()
    if size(full) <= limit:
        return read == full
    stem, ellipsis, tail = read.partition("…")
    part = variable["part"]
    if part is None:
        named = tail == ""
    else:
        named = tail.startswith(": ") and (full.endswith(tail) or tail == f": {part}")
    return size(read) <= limit and ellipsis == "…" and full.startswith(stem) and named


def test_demo_exports_in_every_format_and_independent_readers_agree(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    demo(runner, 6)
    for fmt in FORMATS:
        code, out, err = run(runner, "export", SLUG, "--format", fmt, "--out", str(tmp_path / fmt))
        assert code == 0, err
        assert f"exported 12 response(s) of {SLUG} as {fmt}" in out and "(anonymized)" in out

    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == SLUG))
        assert study is not None
        responses = submitted(db.session, study)
        definition = definition_for(responses[0])
        expected = []
        for number, response in enumerate(responses, start=1):
            values = load_answers(db.session, response, definition)
            expected.append(
                {
                    "respondent": f"R{number:04d}",
                    "cohort": response.cohort.code,
                    "round": 1,
                    "instrument_version": "1.0.0",
                    "language": response.language,
                    "submitted_on": response.submitted_on.isoformat() if response.submitted_on else None,
                    **expected_cells(definition, values),
                }
            )
        sha256 = db.session.scalar(select(InstrumentVersion.sha256))
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
        assert [json.loads(e.details_json)["format"] for e in events] == list(FORMATS)
        assert all(json.loads(e.details_json)["rows"] == 12 for e in events)
    columns = list(expected[0])
    codebook = json.loads((tmp_path / "csv" / "codebook.json").read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in codebook["variables"]}
    assert list(variables) == columns
    identity = {c: c for c in columns}

    # CSV: UTF-8, read as text by pandas.
    raw = (tmp_path / "csv" / "data.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(tmp_path / "csv" / "data.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    assert list(frame.columns) == columns
    assert _mismatches(frame, expected, identity) == []

    # Parquet, typed.
    frame = pd.read_parquet(tmp_path / "parquet" / "data.parquet")
    assert list(frame.columns) == columns
    assert _mismatches(frame, expected, identity) == []
    assert pd.api.types.is_integer_dtype(frame["round"]) and pd.api.types.is_float_dtype(
        frame["alloc.tactical"]
    )

    # Excel: a data sheet and a codebook sheet.
    sheets = pd.read_excel(tmp_path / "xlsx" / "data.xlsx", sheet_name=None)
    assert list(sheets) == ["data", "codebook"]
    assert list(sheets["data"].columns) == columns
    assert _mismatches(sheets["data"], expected, identity) == []
    book = sheets["codebook"].set_index("variable")
    for name, variable in variables.items():
        assert book.loc[name, "label"] == variable["label"]
    assert book.loc["tac_1", "value labels"].startswith("1 = Strongly disagree; 2 = Disagree")

    # SPSS: values, variable labels, value labels (numeric and string codes), measures.
    frame, meta = pyreadstat.read_sav(tmp_path / "sav" / "data.sav")
    sav_names = {name: variables[name]["names"]["sav"] for name in columns}
    assert list(frame.columns) == list(sav_names.values()) == columns  # every name is valid in SPSS as is
    assert _mismatches(frame, expected, sav_names) == []
    for name in columns:
        assert _fits(meta.column_names_to_labels[name], variables[name], 256, _utf8), name
    # Stata: names without dots, labels of at most 80 characters, value labels on whole-number codes.
    dta_frame, dta_meta = pyreadstat.read_dta(tmp_path / "dta" / "data.dta")
    dta_names = {name: variables[name]["names"]["dta"] for name in columns}
    assert list(dta_frame.columns) == list(dta_names.values())
    assert dta_names["alloc.tactical"] == "alloc_tactical"
    assert _mismatches(dta_frame, expected, dta_names) == []
    for name in columns:
        assert _fits(dta_meta.column_names_to_labels[dta_names[name]], variables[name], 80, len), name
    quantile_labels = [dta_meta.column_names_to_labels[f"exports_change_q{n:02d}"] for n in (5, 50, 95)]
    assert [label.rsplit(": ", 1)[1] for label in quantile_labels] == [
        "5th percentile",
        "50th percentile",
        "95th percentile",
    ]

    # Labels against the instrument itself, not the codebook.
    tac_1 = definition.item("tac_1")
    agree = {int(c.code): text_in(c.label, "en") for c in tac_1.choices}
    assert meta.column_names_to_labels["tac_1"] == text_in(tac_1.text, "en")
    assert meta.variable_value_labels["tac_1"] == agree
    assert dta_meta.variable_value_labels["tac_1"] == agree
    assert meta.variable_measure["tac_1"] == "ordinal" and meta.variable_measure["alloc.tactical"] == "scale"
    state = definition.item("state")
    assert meta.variable_value_labels["state"] == {str(c.code): text_in(c.label, "en") for c in state.choices}
    sector = definition.item("sector")
    assert meta.variable_value_labels["sector"] == {
        str(c.code): text_in(c.label, "en") for c in sector.choices
    }
    assert meta.variable_value_labels["activities.staff_talks"] == {0: "not selected", 1: "selected"}
    assert dta_meta.variable_value_labels["activities_hadr"] == {0: "not selected", 1: "selected"}
    assert meta.column_names_to_labels["alloc.tactical"].endswith(
        ": " + text_in(definition.item("alloc").choice("tactical").label, "en")  # type: ignore[union-attr]
    )

    # The manifest: versions with sha256, counts per cohort, checksums of every file.
    for fmt in FORMATS:
        folder = tmp_path / fmt
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["instrument"]["versions"] == [
            {"version": "1.0.0", "sha256": sha256, "rounds": [1], "rows": 12}
        ]
        assert {c: v["rows"] for c, v in manifest["counts"]["by_cohort"].items()} == {"UK": 6, "PK": 6}
        assert manifest["software"]["name"] == "elicit" and manifest["software"]["version"]
        assert manifest["identified"] is False
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        interchange = {  # the flagship has a quantile item: its judgements for EXCALIBUR, anduryl and SHELF
            "excalibur/defence-diplomacy-demo.dtt",
            "excalibur/defence-diplomacy-demo.rls",
            "anduryl.json",
            "shelf_judgements.csv",
        }
        assert files == sorted(
            {
                f"data.{fmt}",
                "data.csv",
                "data.R",
                "long.csv",
                "codebook.json",
                "codebook.html",
                "manifest.json",
            }
            | interchange
        )
        for name, entry in manifest["files"].items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == entry["sha256"], name
        assert set(manifest["files"]) == set(files) - {"manifest.json"}

    # long.csv: one row per stored value, the same values.
    long = pd.read_csv(tmp_path / "csv" / "long.csv", dtype=str, keep_default_na=False)
    assert list(long.columns) == ["respondent", "round", "item", "part", "value"]
    first = long[long["respondent"] == "R0001"]
    values = {(r.item, r.part): r.value for r in first.itertuples()}
    row = expected[0]
    assert same(row["tac_1"], values[("tac_1", "")])
    assert same(row["alloc.economic"], values[("alloc", "economic")])
    # years is optional: the simulated expert who sorts first (ids are random) may have left it empty.
    assert values.get(("years", "")) == row["years"]
    assert ("covid_role", "") in values and len(first) == sum(
        1 for column, value in row.items() if value is not None and column not in columns[:6]
    )


def test_codebook_describes_items_scales_versions_and_privacy(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    demo(runner, 2)
    code, _, err = run(runner, "export", SLUG, "--out", str(tmp_path / "x"))
    assert code == 0, err
    codebook = json.loads((tmp_path / "x" / "codebook.json").read_text(encoding="utf-8"))
    assert codebook["format"] == "elicit-codebook/1" and codebook["language"] == "en"
    assert codebook["cohorts"] == [
        {"code": "UK", "label": "United Kingdom"},
        {"code": "PK", "label": "Pakistan"},
    ]
    assert codebook["scales"]["tactical"]["items"] == ["tac_1", "tac_2", "tac_3", "tac_4", "tac_5"]
    assert codebook["scales"]["tactical"]["reverse"] == ["tac_5"]
    items = {i["id"]: i for i in codebook["items"]}
    assert items["tac_5"]["reverse"] is True and items["tac_5"]["scale"] == "tactical"
    assert items["tac_5"]["choices"][0] == {"code": 1, "label": "Strongly disagree"}
    assert items["tac_5"]["versions"] == ["1.0.0"] and items["tac_5"]["privacy"] == "none"
    # A binned number is exported as categories: the codebook says so, and keeps the instrument's type.
    assert items["years"]["type"] == "single_choice" and items["years"]["instrument_type"] == "integer"
    assert [c["code"] for c in items["years"]["choices"]] == ["0-4", "5-9", "10-19", "20-29", "30-60"]
    assert items["years"]["privacy"] == "quasi_identifier" and "binned" in items["years"]["treatment"]
    assert items["rationale"]["privacy"] == "free_text" and "scrubbed" in items["rationale"]["treatment"]
    assert items["exports_change"]["columns"] == [
        "exports_change.q05",
        "exports_change.q50",
        "exports_change.q95",
    ]
    assert items["alloc"]["total"] == 100
    html = (tmp_path / "x" / "codebook.html").read_text(encoding="utf-8")
    assert "Codebook: Defence diplomacy (demo)" in html and "<code>tac_5</code>" in html
    assert "(reverse-keyed)" in html and "binned into 0-4" in html


def test_bad_requests_get_one_clear_message(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    demo(runner, 1)
    code, _, err = run(runner, "export", "no-such-study", "--out", str(tmp_path / "a"))
    assert code == 1 and err.strip() == "elicit: error: no study named 'no-such-study'"
    code, _, err = run(runner, "export", SLUG, "--format", "sas", "--out", str(tmp_path / "a"))
    assert code == 2 and "'sas' is not one of" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    code, _, err = run(runner, "export", SLUG, "--out", str(tmp_path / "full"))
    assert code == 1 and "exists and is not empty" in err
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    code, _, err = run(runner, "export", SLUG, "--out", str(tmp_path / "missing" / "x"))
    assert code == 1 and "does not exist" in err
    code, _, err = run(runner, "export", SLUG, "--identified", "--out", str(tmp_path / "b"))
    assert code == 2 and "--identified needs --admin" in err
    code, _, err = run(
        runner, "export", SLUG, "--identified", "--admin", "nobody@example.org", "--out", str(tmp_path / "b")
    )
    assert code == 1 and "is not an active admin" in err
    assert not (tmp_path / "b").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    (tmp_path / "empty").mkdir()
    code, _, err = run(runner, "export", SLUG, "--out", str(tmp_path / "empty"))
    assert code == 0, err
