"""k-anonymity over the quasi-identifiers with a crafted small cohort: the report, suppression, and a custom k."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Flask
from flask.testing import FlaskCliRunner

from elicit.db import db
from elicit.studies import create_study
from tests.exporting.helpers import BASE_ANSWERS, answer, flagship_variant, new_invitation, publish_text, run

SLUG = "k-check"
QI = ["state", "sector", "seniority", "years", "language"]


def _study(app: Flask) -> None:
    """UK: 5 experts alike. PK: 5 alike, one who stands out, and one alike except for answering in Urdu."""
    uk = {**BASE_ANSWERS, "state": "UK", "sector": "academia", "seniority": "senior", "years": 12}
    pk = {**BASE_ANSWERS, "state": "PK", "sector": "armed_forces", "seniority": "middle", "years": 7}
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, flagship_variant())
        study = create_study(session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        for _ in range(5):
            answer(session, new_invitation(session, study, "UK"), uk)
            answer(session, new_invitation(session, study, "PK"), pk)
        answer(
            session,
            new_invitation(session, study, "PK"),
            {**pk, "sector": "defence_industry", "seniority": "executive", "years": 35},
        )
        answer(session, new_invitation(session, study, "PK"), pk, language="ur")


def _export(runner: FlaskCliRunner, out: Path, *args: str) -> tuple[dict[str, Any], pd.DataFrame, str]:
    code, stdout, err = run(runner, "export", SLUG, "--out", str(out), *args)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    data = pd.read_csv(out / "data.csv", dtype=str, keep_default_na=False)
    return manifest["anonymization"]["k_anonymity"], data, stdout


def test_k_anonymity_report_and_suppression(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    _study(app)
    report, data, stdout = _export(runner, tmp_path / "plain")
    assert report["k"] == 5
    assert report["quasi_identifiers"] == ["cohort", "language", "state", "sector", "seniority", "years"]
    assert report["rows"] == 12 and report["classes"] == 4 and report["smallest_class"] == 1
    assert report["satisfied"] is False
    assert report["classes_below_k"] == 2 and report["class_sizes_below_k"] == [1, 1]
    assert report["rows_below_k"] == 2 and report["suppressed"] is False
    # The report gives sizes, never the values that make a class small.
    assert "defence_industry" not in json.dumps(report) and "30-60" not in json.dumps(report)
    assert "2 of 4 class(es) below k, 2 row(s); --suppress blanks them" in stdout
    assert len(data) == 12 and (data["sector"] == "defence_industry").sum() == 1  # not suppressed by default

    report, data, stdout = _export(runner, tmp_path / "suppressed", "--suppress")
    assert report["suppressed"] is True and report["rows_suppressed"] == 2
    assert report["suppressed_columns"] == ["language", "state", "sector", "seniority", "years"]
    blank = data[data["sector"] == ""]
    assert len(blank) == 2 and set(blank["cohort"]) == {"PK"}
    assert (blank[QI] == "").all().all()
    assert blank["tac_1"].ne("").all()  # only the quasi-identifiers go
    assert "defence_industry" not in set(data["sector"]) and "ur" not in set(data["language"])
    # The two suppressed rows now form one class of two: still below k, and the report says so.
    after = report["after_suppression"]
    assert after["classes"] == 3 and after["class_sizes_below_k"] == [2]
    assert "2 row(s) suppressed" in stdout
    long = pd.read_csv(tmp_path / "suppressed" / "long.csv", dtype=str, keep_default_na=False)
    suppressed = set(blank["respondent"])
    assert not long[long["respondent"].isin(suppressed) & long["item"].isin(QI)].shape[0]

    report, _, _ = _export(runner, tmp_path / "k6", "--k", "6")
    assert report["k"] == 6 and report["class_sizes_below_k"] == [1, 1, 5, 5] and report["rows_below_k"] == 12

    code, _, err = run(runner, "export", SLUG, "--k", "0", "--out", str(tmp_path / "bad"))
    assert code == 2 and "--k" in err
