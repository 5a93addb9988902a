"""The participant flow (issue 16): the export's manifest counts links and responses, and the report shows them
as a CONSORT-style table, hiding what the k rule hides.

Experts answer through the real flow (submit, leave unfinished, decline consent), the study is exported, and the
manifest's ``participant_flow`` is checked count by count; the report and the CSV beside ``results.json`` show
the same counts, and a cohort under k shows its links only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Flask, current_app

from elicit.analysis import run_analysis
from elicit.db import db
from elicit.exporting import build_export
from elicit.models import Invitation
from elicit.responding import flow
from elicit.studies import create_study
from elicit.studio.invitations import revoke
from tests.analysis.conftest import build_codebook, build_data, write_export
from tests.exporting.helpers import BASE_ANSWERS, answer, flagship_variant, new_invitation, publish_text


def _study(app: Flask, tmp_path: Path, anonymity: str, plan: dict[str, dict[str, int]]) -> dict[str, Any]:
    """A study whose cohorts' experts submit, stop half-way, decline or never open, exported; its manifest."""
    changes = {"anonymity: anonymous": "anonymity: pseudonymous"} if anonymity == "pseudonymous" else {}
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, flagship_variant(**changes))
        study = create_study(
            session, f"flow-{anonymity}", version, [("UK", "United Kingdom"), ("PK", "Pakistan")]
        )
        for cohort, counts in plan.items():
            values = {**BASE_ANSWERS, "state": cohort}
            for _ in range(counts.get("submitted", 0)):
                answer(session, new_invitation(session, study, cohort), values)
            for _ in range(counts.get("in_progress", 0)):
                answer(session, new_invitation(session, study, cohort), values, submit=False)
            for _ in range(counts.get("declined", 0)):
                link = flow.open_by_token(
                    session, new_invitation(session, study, cohort), secret=current_app.config["SECRET_KEY"]
                )
                flow.start(session, link, "en")
                flow.decline(session, link)
            for _ in range(counts.get("not_opened", 0)):
                new_invitation(session, study, cohort)
            for _ in range(counts.get("revoked", 0)):
                new_invitation(session, study, cohort)
                invitation = session.query(Invitation).order_by(Invitation.id.desc()).first()
                assert invitation is not None
                revoke(invitation)
        session.flush()
    folder = tmp_path / f"export-{anonymity}"
    with app.app_context(), db.transaction() as session:
        manifest = build_export(session, study, "csv", folder, actor="cli")
    return {"folder": folder, "manifest": manifest}


def test_an_anonymous_export_counts_links_exactly_and_hides_small_response_counts(
    app: Flask, tmp_path: Path
) -> None:
    plan = {
        "UK": {"submitted": 6, "in_progress": 1, "declined": 2, "not_opened": 3, "revoked": 1},
        "PK": {"submitted": 5, "not_opened": 2},
    }
    made = _study(app, tmp_path, "anonymous", plan)
    entry = made["manifest"]["participant_flow"]
    assert entry["anonymous"] is True and entry["k"] == 5
    uk = entry["invitations"]["UK"]
    # an anonymous link never shows who opened or answered it: it stays "not opened" until confirmed finished
    assert uk["invited"] == 12 and uk["revoked"] == 1
    assert entry["invitations"]["PK"]["invited"] == 7
    (first,) = entry["rounds"]
    responses = first["responses"]
    assert responses["UK"]["submitted"] == 6 and responses["PK"]["submitted"] == 5
    assert responses["all"]["submitted"] == 11
    # 1 in progress and 2 declined in UK are below k: hidden, and "all" with them (PK's zero is never hidden)
    assert responses["UK"]["in_progress"] is None and responses["all"]["in_progress"] is None
    assert responses["UK"]["declined"] is None and responses["all"]["declined"] is None
    assert responses["PK"]["in_progress"] == 0 and responses["PK"]["declined"] == 0
    assert "rounds.1.UK.declined" in entry["hidden"]
    on_disk = json.loads((made["folder"] / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["participant_flow"] == json.loads(json.dumps(entry))

    out = tmp_path / "out"
    out.mkdir()
    results = run_analysis(made["folder"], out / "report.html", out / "results.json")
    rows = {(r["round"], r["group"]): r for r in results["participant_flow"]["rows"]}
    assert rows[(1, "UK")]["invited"] == 12 and rows[(1, "UK")]["submitted"] == 6
    assert rows[(1, "UK")]["declined"] == "hidden" and rows[(1, "UK")]["started"] == "hidden"
    assert rows[(1, "UK")]["opened"] is None  # never recorded in an anonymous study
    assert rows[(1, "PK")]["started"] == 5 and rows[(1, "PK")]["excluded"] == 0
    assert rows[(1, "all")]["analysed"] == 11
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Participant flow" in html and "declined consent" in html and "Analysed in this report" in html
    csv = pd.read_csv(
        out / "results_tables" / "summary_participant_flow.csv", dtype=str, keep_default_na=False
    )
    uk_row = csv[(csv["group"] == "UK")].iloc[0]
    assert (uk_row["invited"], uk_row["submitted"], uk_row["declined"]) == ("12", "6", "hidden")


def test_a_pseudonymous_export_has_exact_counts_and_opened_links(app: Flask, tmp_path: Path) -> None:
    plan = {"UK": {"submitted": 5, "in_progress": 2, "declined": 1, "not_opened": 2}, "PK": {"submitted": 5}}
    made = _study(app, tmp_path, "pseudonymous", plan)
    entry = made["manifest"]["participant_flow"]
    assert entry["anonymous"] is False and entry["hidden"] == []
    uk = entry["invitations"]["UK"]
    assert (uk["invited"], uk["not_opened"], uk["declined"], uk["in_progress"], uk["submitted"]) == (
        10,
        2,
        1,
        2,
        5,
    )
    responses = entry["rounds"][0]["responses"]
    assert responses["UK"] == {
        "in_progress": 2,
        "submitted": 5,
        "declined": 0,
    }  # a declined expert keeps none

    out = tmp_path / "out"
    out.mkdir()
    results = run_analysis(made["folder"], out / "report.html", out / "results.json")
    flow_result = results["participant_flow"]
    rows = {(r["round"], r["group"]): r for r in flow_result["rows"]}
    assert rows[(1, "UK")]["opened"] == 8 and rows[(1, "UK")]["started"] == 7
    assert rows[(1, "UK")]["excluded"] == 2 and rows[(1, "UK")]["analysed"] == 5
    assert flow_result["declined_links"] == {"UK": 1, "PK": 0}


def test_a_cohort_under_k_has_no_row(tmp_path: Path) -> None:
    sizes = {"UK": 8, "PK": 3, "IN": 7}
    folder = write_export(tmp_path / "export", build_data(sizes), build_codebook(tuple(sizes)))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["study"]["k_threshold"] = 5
    links = {"UK": (10, 1), "PK": (6, 2), "IN": (9, 1)}
    manifest["participant_flow"] = {
        "anonymous": False,
        "k": 5,
        "invitations": {c: {"invited": n, "not_opened": o, "declined": 0} for c, (n, o) in links.items()},
        "rounds": [
            {
                "number": 1,
                "status": "open",
                "responses": {
                    **{c: {"in_progress": 1, "submitted": n, "declined": 0} for c, n in sizes.items()},
                    "all": {"in_progress": 3, "submitted": 18, "declined": 0},
                },
            }
        ],
        "hidden": [],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    rows = {r["group"]: r for r in results["participant_flow"]["rows"]}
    # PK (3) is under k, and IN is hidden with it so that "all" minus UK cannot give PK back: neither has a row
    assert "PK" not in rows and "IN" not in rows
    assert rows["UK"]["submitted"] == 8 and rows["UK"]["analysed"] == 8 and rows["UK"]["opened"] == 9
    # "all" keeps what the k rule shows of it (18 submitted, as the report's sample does) and hides the rest
    assert rows["all"]["invited"] == 25 and rows["all"]["submitted"] == 18 and rows["all"]["analysed"] == 18
    assert {rows["all"][s] for s in ("opened", "started", "not_submitted")} == {"hidden"}
    table = (tmp_path / "report.html").read_text(encoding="utf-8").split("Participant flow", 1)[1]
    assert ">3<" not in table.split("</table>", 1)[0]
