"""Privacy rules other than bins (merge, top_code) and "don't know" columns, through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyreadstat
from flask import Flask

from elicit.db import db
from elicit.exporting import ExportError, build_export
from elicit.responding.values import DONT_KNOW
from elicit.studies import create_study
from tests.exporting.helpers import BASE_ANSWERS, answer, flagship_variant, new_invitation, publish_text

RULES = {
    "privacy: {quasi_identifier: {bins: [0, 5, 10, 20, 30, 60]}}": "privacy: {quasi_identifier: {top_code: 30}}",
    '        privacy: quasi_identifier\n        text:\n          en: "Which best describes the seniority': (
        "        privacy: {quasi_identifier: {merge: {senior_plus: [senior, executive]}}}\n"
        '        text:\n          en: "Which best describes the seniority'
    ),
    "      - id: afford\n        type: likert\n": "      - id: afford\n        type: likert\n        dont_know: true\n",
}


def test_merge_top_code_and_dont_know(app: Flask, tmp_path: Path) -> None:
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, flagship_variant(**RULES))
        study = create_study(session, "rules", version, [("UK", "United Kingdom")])
        for years, seniority, afford in (
            (45, "executive", DONT_KNOW),
            (12, "senior", 2),
            (3, "junior", None),
        ):
            values = {**BASE_ANSWERS, "years": years, "seniority": seniority, "afford": afford}
            answer(session, new_invitation(session, study, "UK"), values)
    with app.app_context(), db.transaction() as session:
        manifest = build_export(session, study, "sav", tmp_path / "out", actor="cli")
        try:
            build_export(session, study, "sav", tmp_path / "out", actor="cli")
        except ExportError as exc:
            assert "is not empty" in str(exc)
        else:
            raise AssertionError("a second export into the same folder must be refused")
    data = pd.read_csv(tmp_path / "out" / "data.csv", dtype=str, keep_default_na=False)
    by_years = data.set_index("years")
    assert sorted(data["years"], key=int) == ["3", "12", "30"]  # 45 top-coded at 30
    assert (
        by_years.loc["30", "seniority"] == "senior_plus" and by_years.loc["12", "seniority"] == "senior_plus"
    )
    assert by_years.loc["3", "seniority"] == "junior"
    assert (by_years.loc["30", "afford"], by_years.loc["30", "afford.dont_know"]) == ("", "1")
    assert (by_years.loc["12", "afford"], by_years.loc["12", "afford.dont_know"]) == ("2", "0")
    assert (by_years.loc["3", "afford"], by_years.loc["3", "afford.dont_know"]) == ("", "")
    long = pd.read_csv(tmp_path / "out" / "long.csv", dtype=str, keep_default_na=False)
    assert len(long[(long["item"] == "afford") & (long["part"] == "dont_know") & (long["value"] == "1")]) == 1

    codebook = json.loads((tmp_path / "out" / "codebook.json").read_text(encoding="utf-8"))
    items = {i["id"]: i for i in codebook["items"]}
    assert [c["code"] for c in items["seniority"]["choices"]] == ["junior", "middle", "senior_plus"]
    assert items["seniority"]["choices"][2]["label"].startswith("Senior / Executive")
    assert items["seniority"]["privacy_rule"] == {"merge": {"senior_plus": ["senior", "executive"]}}
    assert items["years"]["type"] == "integer" and "top-coded" in items["years"]["treatment"]
    assert items["afford"]["columns"] == ["afford", "afford.dont_know"]
    quasi = {q["item"]: q for q in manifest["anonymization"]["quasi_identifiers"]}
    assert quasi["years"]["rule"] == {"top_code": 30}

    _, meta = pyreadstat.read_sav(tmp_path / "out" / "data.sav")
    assert meta.variable_value_labels["seniority"]["senior_plus"].startswith("Senior / Executive")
    assert meta.variable_value_labels["afford.dont_know"] == {0: "answered", 1: "don't know"}
