"""Two instrument versions in one study: one table joined on item id, the version per row, a missing item empty."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from flask import Flask
from flask.testing import FlaskCliRunner

from elicit.db import db
from elicit.models import Round, RoundStatus, utcnow
from elicit.studies import find_study
from tests.exporting.helpers import (
    BASE_ANSWERS,
    SLUG,
    answer,
    demo,
    flagship_variant,
    new_invitation,
    publish_text,
    run,
)

COVID = "During the Covid-19 pandemic, military support for relief efforts strengthened your state's bilateral relations."
VERSION_1_1 = {
    "version: 1.0.0": "version: 1.1.0",
    "      - id: covid_role": "      - id: budget_share",  # covid_role removed, budget_share added
    COVID: "Your state spends too little on defence diplomacy.",
    '          none: {en: "None of these"': '          cyber: {en: "Cyber cooperation", ur: "سائبر تعاون"}\n'
    '          none: {en: "None of these"',  # a new choice of a multiple choice
}


def test_two_versions_join_on_item_id_and_missing_is_empty(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    demo(runner, 2)  # round 1 on 1.0.0: 2 experts per cohort
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, flagship_variant(**VERSION_1_1))
        study = find_study(session, SLUG)
        first = study.rounds[0]
        first.status, first.closed_at = RoundStatus.CLOSED.value, utcnow()
        session.add(
            Round(study=study, number=2, instrument_version=version, status="open", opened_at=utcnow())
        )
        session.flush()
        for cohort in ("UK", "PK"):
            values = {**BASE_ANSWERS, "state": cohort, "budget_share": 4, "activities": ["cyber"]}
            answer(session, new_invitation(session, study, cohort), values)

    for fmt in ("csv", "parquet"):
        code, _, err = run(runner, "export", SLUG, "--format", fmt, "--out", str(tmp_path / fmt))
        assert code == 0, err
    data = pd.read_parquet(tmp_path / "parquet" / "data.parquet")
    text = pd.read_csv(tmp_path / "csv" / "data.csv", dtype=str, keep_default_na=False)
    old = data["instrument_version"] == "1.0.0"
    new = data["instrument_version"] == "1.1.0"
    assert old.sum() == 4 and new.sum() == 2
    assert set(data.loc[old, "round"]) == {1} and set(data.loc[new, "round"]) == {2}
    # An item absent from a version is empty in its rows, never zero.
    assert data.loc[old, "covid_role"].notna().all() and data.loc[new, "covid_role"].isna().all()
    assert data.loc[new, "budget_share"].tolist() == [4, 4] and data.loc[old, "budget_share"].isna().all()
    assert (
        data.loc[new, "activities.cyber"].tolist() == [1, 1]
        and data.loc[old, "activities.cyber"].isna().all()
    )
    assert data.loc[new, "activities.staff_talks"].tolist() == [0, 0]
    assert (text.loc[new.to_numpy(), "covid_role"] == "").all() and (
        text.loc[old.to_numpy(), "budget_share"] == ""
    ).all()
    # Items shared by both versions are one column.
    assert data["tac_1"].notna().all() and list(data.columns).count("tac_1") == 1
    columns = list(data.columns)
    assert (
        columns.index("afford_tradeoff") < columns.index("covid_role") < columns.index("exports_change.q05")
    )

    codebook = json.loads((tmp_path / "csv" / "codebook.json").read_text(encoding="utf-8"))
    items = {i["id"]: i for i in codebook["items"]}
    assert items["covid_role"]["versions"] == ["1.0.0"]
    assert items["budget_share"]["versions"] == ["1.1.0"]
    assert items["tac_1"]["versions"] == ["1.0.0", "1.1.0"]
    assert [c["code"] for c in items["activities"]["choices"]][-2:] == ["cyber", "none"]
    variables = {v["name"]: v for v in codebook["variables"]}
    assert variables["activities.cyber"]["versions"] == ["1.1.0"]
    assert variables["activities.staff_talks"]["versions"] == ["1.0.0", "1.1.0"]
    assert [v["version"] for v in codebook["instrument"]["versions"]] == ["1.0.0", "1.1.0"]
    manifest = json.loads((tmp_path / "csv" / "manifest.json").read_text(encoding="utf-8"))
    assert [(v["version"], v["rounds"], v["rows"]) for v in manifest["instrument"]["versions"]] == [
        ("1.0.0", [1], 4),
        ("1.1.0", [2], 2),
    ]
    assert [(r["number"], r["version"], r["status"]) for r in manifest["rounds"]] == [
        (1, "1.0.0", "closed"),
        (2, "1.1.0", "open"),
    ]
