"""Pseudonyms stable across rounds and not derivable from tokens or the roster; identified exports admin-only,
audited and marked in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from elicit.db import db
from elicit.models import AuditEvent, Round, RoundStatus, Study, utcnow
from elicit.studies import RosterRow, create_study, find_study, import_roster
from elicit.tokens import pseudonym
from tests.exporting.helpers import BASE_ANSWERS, SLUG, answer, demo, flagship_variant, publish_text, run

ROSTER = [
    RosterRow(2, "Imogen Vantablack", "imogen@example.org", "Royal Example Institute", "UK"),
    RosterRow(3, "Bilal Examplewala", "bilal@example.pk", "Example Staff College", "PK"),
    RosterRow(4, "Cordelia Pemberton", "cordelia@example.org", "", "UK"),
]


def test_pseudonyms_are_stable_across_rounds_and_identified_export_is_for_admins(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    with app.app_context(), db.transaction() as session:
        version = publish_text(
            session,
            flagship_variant(
                **{
                    "id: defence-diplomacy": "id: delphi-check",
                    "anonymity: anonymous": "anonymity: pseudonymous",
                }
            ),
        )
        study = create_study(session, "delphi", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        links = import_roster(session, study, ROSTER)
        tokens = [link.token for link in links]
        for link, row in zip(links, ROSTER, strict=True):
            answer(session, link.token, {**BASE_ANSWERS, "state": row.cohort, "tac_1": 2})
        first = study.rounds[0]
        first.status, first.closed_at = RoundStatus.CLOSED.value, utcnow()
        session.add(
            Round(study=study, number=2, instrument_version=version, status="open", opened_at=utcnow())
        )
        session.flush()
        for link, row in list(zip(links, ROSTER, strict=True))[:2]:  # two experts answer round 2 as well
            link.invitation.status = "not_opened"  # what opening a Delphi round does to the experts' links
            answer(session, link.token, {**BASE_ANSWERS, "state": row.cohort, "tac_1": 5})
        key = study.pseudonym_key
        invitation_ids = [link.invitation.id for link in links]

    code, _, err = run(runner, "export", "delphi", "--out", str(tmp_path / "anon"))
    assert code == 0, err
    data = pd.read_csv(tmp_path / "anon" / "data.csv", dtype=str, keep_default_na=False)
    assert len(data) == 5
    per_expert = data.groupby("respondent")["round"].apply(sorted).to_dict()
    assert sorted(per_expert.values()) == [["1"], ["1", "2"], ["1", "2"]]
    for respondent, rounds in per_expert.items():
        assert respondent.startswith("P") and len(respondent) == 11
        if rounds == ["1", "2"]:  # the same expert: the same pseudonym, and their own answers in each round
            assert data[data["respondent"] == respondent].sort_values("round")["tac_1"].tolist() == ["2", "5"]
    derivable = {pseudonym(key, s) for s in tokens + [r.email for r in ROSTER] + [r.name for r in ROSTER]}
    derivable |= {pseudonym(key, str(i)) for i in invitation_ids}
    assert not derivable & set(per_expert)
    assert not {"invitation_id", "roster_name", "roster_email"} & set(data.columns)
    manifest = json.loads((tmp_path / "anon" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["identified"] is False and "not derivable" in manifest["anonymization"]["pseudonyms"]

    # Identified: admins only, named, audited, and the manifest says so.
    for email, role in (("admin@example.org", "admin"), ("researcher@example.org", "researcher")):
        code, _, err = run(
            runner, "user", "add", email, "--role", role, "--password-stdin", input="long password 123\n"
        )
        assert code == 0, err
    code, _, err = run(
        runner,
        "export",
        "delphi",
        "--identified",
        "--admin",
        "researcher@example.org",
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 1 and "researcher@example.org is not an active admin" in err
    code, _, err = run(
        runner,
        "export",
        "delphi",
        "--identified",
        "--admin",
        "admin@example.org",
        "--suppress",
        "--out",
        str(tmp_path / "s"),
    )
    assert code == 0, err  # suppression then blanks the raw quasi-identifiers of small classes
    suppressed = pd.read_csv(tmp_path / "s" / "data.csv", dtype=str, keep_default_na=False)
    assert (suppressed["years"] == "").all() and suppressed["roster_name"].ne("").all()
    code, out, err = run(
        runner,
        "export",
        "delphi",
        "--identified",
        "--admin",
        "ADMIN@example.org",
        "--out",
        str(tmp_path / "id"),
    )
    assert code == 0, err
    assert "IDENTIFIED" in out
    identified = pd.read_csv(tmp_path / "id" / "data.csv", dtype=str, keep_default_na=False)
    assert list(identified.columns[6:10]) == [
        "invitation_id",
        "roster_name",
        "roster_email",
        "roster_organisation",
    ]
    roster = {r.email: r for r in ROSTER}
    for row in identified.itertuples():
        assert row.roster_name == roster[row.roster_email].name
        assert row.respondent in per_expert  # the same pseudonyms as the anonymized export
    assert identified["years"].str.isdigit().all()  # uncoarsened
    manifest = json.loads((tmp_path / "id" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["identified"] is True and manifest["identified_by"] == "admin@example.org"
    assert manifest["anonymization"]["notice"].startswith("IDENTIFIED EXPORT")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
        details = [(e.actor, json.loads(e.details_json)["identified"]) for e in events]
        assert details == [("cli", False), ("admin@example.org", True), ("admin@example.org", True)]
        assert find_study(db.session, "delphi").anonymity == "pseudonymous"


def test_identified_export_of_an_anonymous_study_has_no_roster_link(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    demo(runner, 1)  # the demo's administrator login
    code, _, err = run(
        runner,
        "export",
        SLUG,
        "--identified",
        "--admin",
        "admin@example.org",
        "--out",
        str(tmp_path / "id"),
    )
    assert code == 0, err
    data = pd.read_csv(tmp_path / "id" / "data.csv", dtype=str, keep_default_na=False)
    assert "roster_name" not in data.columns and data["respondent"].tolist() == ["R0001", "R0002"]
    manifest = json.loads((tmp_path / "id" / "manifest.json").read_text(encoding="utf-8"))
    assert "no invitation was ever stored with its response" in manifest["anonymization"]["roster_link"]
    with app.app_context():
        assert db.session.scalar(select(Study.anonymity)) == "anonymous"
