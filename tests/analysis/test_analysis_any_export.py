"""Any export the exporter can write analyses, or fails with one line: never a traceback (issue 13).

The exports are built by the real exporter from studies answered through the real flow, in every format, for the
shapes that broke the analysis: an item nobody answered, a cohort of one, a scale whose items are all empty, only
one cohort answering, a single expert, a seed question nobody answered or only one expert answered, and no
responses at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from elicit.db import db
from elicit.exporting import build_export
from elicit.rounds import set_realization
from elicit.studies import create_study
from tests.exporting.helpers import BASE_ANSWERS, answer, flagship_variant, new_invitation, publish_text

FORMATS = ("csv", "xlsx", "parquet", "sav", "dta")
TACTICAL = [f"tac_{i}" for i in range(1, 6)]
# The flagship with the tactical items optional, so a study can leave the whole scale empty.
OPTIONAL_TACTICAL = {
    f"- id: {item}\n            required: true": f"- id: {item}\n            required: false"
    for item in TACTICAL
}
OPTIONAL_ITEMS = (
    "afford",
    "afford_value",
    "afford_tradeoff",
    "covid_role",
    "alloc",
    "rank_leverage",
    "exports_change",
    "rationale",
    "sector",
    "seniority",
    "years",
    "activities",
)

# The quantiles item as a seed question, so the export carries a realization and Cooke's model runs.
SEED = {
    "      - id: exports_change\n        type: quantiles\n": (
        "      - id: exports_change\n        type: quantiles\n        seed: true\n"
    )
}

# case: (experts per cohort, answers that differ from BASE_ANSWERS, the seed's realization or None, what
# `elicit analyze` must do)
CASES: dict[str, tuple[dict[str, int], dict[str, Any], float | None, str]] = {
    "item-nobody-answered": ({"UK": 3, "PK": 3}, {"afford": None}, None, "report"),
    "cohort-of-one": ({"UK": 1, "PK": 3}, {}, None, "report"),
    "scale-all-empty": ({"UK": 3, "PK": 3}, dict.fromkeys(TACTICAL), None, "report"),
    "optional-items-all-empty": ({"UK": 3, "PK": 3}, dict.fromkeys(OPTIONAL_ITEMS), None, "report"),
    "one-cohort-answered": ({"UK": 4}, {}, None, "report"),
    "single-expert": ({"PK": 1}, {}, None, "report"),
    "seed-nobody-answered": ({"UK": 2, "PK": 2}, {"exports_change": None}, 12.5, "report"),
    "seed-single-expert": ({"UK": 1}, {}, 12.5, "report"),
    "no-responses": ({}, {}, None, "error"),
}


def _exports(app: Flask, tmp_path: Path, case: str) -> dict[str, Path]:
    counts, overrides, realization, _ = CASES[case]
    changes = {**OPTIONAL_TACTICAL, **(SEED if realization is not None else {})}
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, flagship_variant(**changes))
        study = create_study(session, case, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        for cohort, n in counts.items():
            for _ in range(n):
                values = {**BASE_ANSWERS, "state": cohort, **overrides}
                answer(session, new_invitation(session, study, cohort), values)
        if realization is not None:
            set_realization(session, study, "exports_change", realization, "test")
    folders = {}
    for fmt in FORMATS:
        folder = tmp_path / f"export-{fmt}"
        with app.app_context(), db.transaction() as session:
            build_export(session, study, fmt, folder, actor="cli")
        folders[fmt] = folder
    return folders


@pytest.mark.parametrize("case", list(CASES))
def test_every_export_analyses_or_fails_with_one_line(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, case: str
) -> None:
    expected = CASES[case][3]
    for fmt, folder in _exports(app, tmp_path, case).items():
        report, results = tmp_path / f"{fmt}.html", tmp_path / f"{fmt}.json"
        outcome = runner.invoke(args=["analyze", str(folder), "--out", str(report), "--json", str(results)])
        where = f"{case} as {fmt}"
        assert outcome.exception is None or isinstance(outcome.exception, SystemExit), (
            f"{where}: {outcome.exception!r}"
        )
        assert "Traceback" not in outcome.stderr, where
        if expected == "report":
            assert outcome.exit_code == 0, f"{where}: {outcome.stderr}"
            assert "<html" in report.read_text(encoding="utf-8"), where
            document = json.loads(results.read_text(encoding="utf-8"))
            assert document["meta"]["export"], where
        else:
            lines = outcome.stderr.strip().splitlines()
            assert outcome.exit_code == 1, f"{where}: {outcome.stdout}"
            assert len(lines) == 1 and lines[0].startswith("elicit: error: "), f"{where}: {outcome.stderr}"
            assert not report.exists() and not results.exists(), where


def test_an_item_nobody_answered_is_named_in_the_report(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    folder = _exports(app, tmp_path, "item-nobody-answered")["parquet"]
    results = tmp_path / "results.json"
    outcome = runner.invoke(
        args=["analyze", str(folder), "--out", str(tmp_path / "r.html"), "--json", str(results)]
    )
    assert outcome.exit_code == 0, outcome.stderr
    warnings = json.loads(results.read_text(encoding="utf-8"))["warnings"]
    assert any(w.startswith("No respondent answered afford in round 1") for w in warnings), warnings
