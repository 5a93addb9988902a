"""`elicit backup` while experts are submitting, and `elicit restore` into a fresh database, on both databases.

The backup is taken through the CLI while scripted experts keep answering over HTTP; after the restore, every
response whose submission was acknowledged before the backup started must be there, submitted, with all its
answers, and nothing half-submitted may appear.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from elicit import audit
from elicit.db import db
from elicit.instruments.schema import Definition
from tests.conftest import StudyHandle, make_test_app
from tests.load.harness import database_state, scratch_database, wait_until
from tests.load.respondent import Crowd, Respondent, expected_variables


def _record_audit_events(app: Flask, count: int) -> None:
    with app.app_context():
        for i in range(count):
            audit.record(db.session, "test.event", "load-test", target=f"event {i}")
        db.session.commit()


def _restore(target_url: str, tmp_path: Path, backup: Path, *args: str) -> tuple[int, str]:
    target = make_test_app(target_url, tmp_path)
    try:
        result = target.test_cli_runner().invoke(args=["restore", str(backup), *args])
    finally:
        target.extensions["elicit.db"][0].dispose()
    return result.exit_code, result.output  # stdout and stderr, as a terminal shows them


def test_backup_during_live_traffic_restores_every_response_submitted_before_it(
    app: Flask,
    study: StudyHandle,
    live_server: str,
    database_url: str,
    tmp_path: Path,
    definition: Definition,
) -> None:
    _record_audit_events(app, 3)
    experts = [
        Respondent(live_server, token, cohort, definition, seed=600 + i, deadline=120)
        for i, (cohort, token) in enumerate(
            [("UK", t) for t in study.invite("UK", 6)] + [("PK", t) for t in study.invite("PK", 6)]
        )
    ]
    backup_file = tmp_path / "elicit.backup"
    with Crowd(experts, threads=len(experts)) as crowd:
        wait_until(lambda: crowd.submitted() >= 3, 120, what="three submits")
        backup_started = time.monotonic()
        busy = len(experts) - crowd.submitted()
        result = app.test_cli_runner().invoke(args=["backup", "--out", str(backup_file)])
        outcomes = crowd.results(180)
    assert result.exit_code == 0, result.output
    assert "written to" in result.output
    assert busy > 0, "everyone had finished before the backup: it proved nothing about live traffic"
    assert not [o.failure for o in outcomes if o.failure]

    before = [o for o in outcomes if o.submit_acknowledged_at and o.submit_acknowledged_at < backup_started]
    assert len(before) >= 3
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    if kind == "sqlite":
        code, output = _restore(f"sqlite:///{tmp_path / 'restored.db'}", tmp_path, backup_file)
        responses, _ = database_state(f"sqlite:///{tmp_path / 'restored.db'}")
    else:
        with scratch_database("elicit_restore") as target_url:
            code, output = _restore(target_url, tmp_path, backup_file)
            responses, _ = database_state(target_url)
    assert code == 0, output
    assert "schema revision" in output and "(current)" in output
    assert "audit log intact: 3 event(s)" in output
    restored = Counter(frozenset(r.variables.items()) for r in responses if r.status == "submitted")
    wanted = Counter(frozenset(expected_variables(definition, o.sent).items()) for o in before)
    assert not wanted - restored, (
        f"{sum((wanted - restored).values())} response(s) submitted before the backup are missing"
    )
    # Nothing in the backup is half-submitted: every submitted response there is one expert's complete answers.
    everyone = Counter(frozenset(expected_variables(definition, o.sent).items()) for o in outcomes)
    assert not restored - everyone


def test_restore_refuses_a_database_with_data_unless_forced(
    app: Flask, client: FlaskClient, study: StudyHandle, database_url: str, tmp_path: Path
) -> None:
    _record_audit_events(app, 1)
    backup_file = tmp_path / "first.backup"
    assert app.test_cli_runner().invoke(args=["backup", "--out", str(backup_file)]).exit_code == 0
    study.invite("UK", 4)  # the live database moves on after the backup
    code, output = _restore(database_url, tmp_path, backup_file)
    assert code == 1
    assert "elicit: error: " in output and "already holds data" in output and "--force" in output
    code, output = _restore(database_url, tmp_path, backup_file, "--force")
    assert code == 0, output
    assert "invitations 0" in output and "audit log intact: 1 event(s)" in output


def test_restore_refuses_files_that_are_not_a_backup_of_this_kind_of_database(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    other = tmp_path / "other.backup"
    if database_url.startswith("sqlite"):
        other.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
        expected = "is a postgresql backup but the configured database is sqlite"
    else:
        sqlite3.connect(other).close()
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE t (x)")
        expected = "is a sqlite backup but the configured database is postgresql"
    code, output = _restore(database_url, tmp_path, other)
    assert code == 1 and expected in output
    junk = tmp_path / "junk.backup"
    junk.write_text("hello", encoding="utf-8")
    code, output = _restore(database_url, tmp_path, junk)
    assert code == 1 and "neither a SQLite database nor a pg_dump custom-format archive" in output
    code, output = _restore(database_url, tmp_path, tmp_path / "missing.backup")
    assert code == 1 and "no such file" in output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_restore_reports_an_audit_log_edited_inside_the_backup(
    app: Flask, study: StudyHandle, tmp_path: Path
) -> None:
    _record_audit_events(app, 3)
    backup_file = tmp_path / "tampered.backup"
    assert app.test_cli_runner().invoke(args=["backup", "--out", str(backup_file)]).exit_code == 0
    with sqlite3.connect(backup_file) as conn:
        conn.execute("UPDATE audit_events SET actor = 'someone else' WHERE id = 2")
    code, output = _restore(f"sqlite:///{tmp_path / 'restored.db'}", tmp_path, backup_file)
    assert code == 1
    assert "elicit: error: audit log broken: event 2 (test.event) was edited after it was recorded" in output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_backup_without_pg_dump_says_how_to_make_one(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = app.test_cli_runner().invoke(args=["backup", "--out", str(tmp_path / "x.dump")])
    assert result.exit_code == 1
    assert "pg_dump was not found on PATH" in result.output and "pg_dump --format=custom" in result.output
    assert not (tmp_path / "x.dump").exists()
