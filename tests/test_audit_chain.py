"""The audit log cannot be trimmed or rewritten unseen (issue 19), on SQLite and PostgreSQL.

Every test works as the adversary would: plain SQL on the database (delete the last events, wipe the table, edit
an event and recompute every later hash, insert a well-formed event), a line appended to the anchor file, a
backup file replaced by a trimmed one. The chain is keyed (HMAC-SHA256 under an audit key that is not in the
database) and its head is anchored outside it (an append-only anchor file, syslog, every export manifest and
every backup), so ``elicit audit verify`` and ``elicit restore`` must catch each of these.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, text

from elicit import audit
from elicit.cli import main
from elicit.db import db
from elicit.migrate import upgrade
from elicit.models import AuditEvent
from tests.conftest import StudyHandle, make_test_app

KEY = "audit-key-of-the-tests-" + "5" * 41
OTHER_KEY = "another-audit-key-an-attacker-guessed-" + "9" * 26
SECRET = "test-secret-key"
MARK = "elicit-audit-anchor/1"


# ---------------------------------------------------------------------------------------------------- helpers
@pytest.fixture
def anchor_file(tmp_path: Path) -> Path:
    return tmp_path / "anchors" / "audit-anchor.log"


@pytest.fixture
def chain_app(database_url: str, tmp_path: Path, anchor_file: Path) -> Iterator[Flask]:
    """An app with an audit key and an anchor file of its own."""
    application = make_test_app(database_url, tmp_path, AUDIT_KEY=KEY, AUDIT_ANCHOR=str(anchor_file))
    yield application
    application.extensions["elicit.db"][0].dispose()


def record_events(app: Flask, count: int, start: int = 0) -> None:
    """``count`` events, each committed on its own (so each writes its own anchor line)."""
    with app.app_context():
        for number in range(start, start + count):
            audit.record(db.session, "test.event", "tester", target=f"event {number}")
            db.session.commit()


def verify(app: Flask, *args: str) -> tuple[int, str, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def sql(app: Flask, statement: str, **params: Any) -> None:
    """Plain SQL, committed: what anyone who can write to the database can do."""
    with app.extensions["elicit.db"][0].begin() as conn:
        conn.execute(text(statement), params)


def events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return found


def body(prev_hash: str, event: AuditEvent, actor: str | None = None) -> bytes:
    """The canonical bytes an event's hash covers, as the adversary reads them from the source."""
    at = (event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)).astimezone(UTC)
    return json.dumps(
        [
            prev_hash,
            at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            event.actor if actor is None else actor,
            event.action,
            event.study_id,
            event.target,
            event.details_json,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wrong_key_mac(data: bytes) -> str:
    return hmac.new(OTHER_KEY.encode("utf-8"), data, hashlib.sha256).hexdigest()


def rehash_from(app: Flask, position: int, hasher: Any, *, keyed: bool | None = None) -> None:
    """Edit the event at ``position`` (1-based) and recompute its hash and every later one with ``hasher``."""
    chain = events(app)
    prev = chain[position - 2].hash if position > 1 else "0" * 64
    for index, event in enumerate(chain[position - 1 :]):
        actor = "someone-else" if index == 0 else event.actor
        new = hasher(body(prev, event, actor))
        sql(
            app,
            "UPDATE audit_events SET actor = :actor, prev_hash = :prev, hash = :hash, keyed = :keyed WHERE id = :id",
            actor=actor,
            prev=prev,
            hash=new,
            keyed=event.keyed if keyed is None else keyed,
            id=event.id,
        )
        prev = new


def forge_append(app: Flask, hasher: Any, *, keyed: bool) -> None:
    """Insert a well-formed event after the last one, as SQL can."""
    last = events(app)[-1]
    forged = AuditEvent(
        at=datetime.now(UTC).replace(microsecond=0),
        actor="tester",
        action="test.event",
        study_id=None,
        target="forged",
        details_json="{}",
    )
    digest = hasher(body(last.hash, forged))
    with app.extensions["elicit.db"][0].begin() as conn:
        conn.execute(
            sa.insert(AuditEvent.__table__).values(
                at=forged.at,
                actor=forged.actor,
                action=forged.action,
                study_id=None,
                target=forged.target,
                details_json="{}",
                prev_hash=last.hash,
                hash=digest,
                keyed=keyed,
            )
        )


def anchor_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="ascii").splitlines() if MARK in line]


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("elicit: error: ")]


# ------------------------------------------------------------------------------------------------ intact log
def test_an_intact_log_verifies_against_every_anchor_line(chain_app: Flask, anchor_file: Path) -> None:
    record_events(chain_app, 6)
    assert len(anchor_lines(anchor_file)) == 6
    assert stat.S_IMODE(anchor_file.stat().st_mode) == 0o600
    assert all(event.keyed for event in events(chain_app))
    code, out, err = verify(chain_app)
    assert (code, out.strip()) == (0, "audit log intact: 6 event(s), checked against 6 anchor(s)"), err


# ------------------------------------------------------------------------------------------------- truncation
@pytest.mark.parametrize("deleted", [1, 3])
def test_deleting_the_last_events_is_reported_as_truncation(
    chain_app: Flask, anchor_file: Path, deleted: int
) -> None:
    record_events(chain_app, 6)
    last = [event.id for event in events(chain_app)][-deleted:]
    sql(chain_app, f"DELETE FROM audit_events WHERE id >= {min(last)}")  # noqa: S608  # ids from the test
    code, _, err = verify(chain_app)
    assert code == 1
    assert (
        f"elicit: error: truncated: the anchor at {anchor_file}:6 says 6 events, the database has {6 - deleted}"
        in errors(err)
    ), err


def test_deleting_every_event_is_reported_as_a_wipe(chain_app: Flask, anchor_file: Path) -> None:
    record_events(chain_app, 4)
    sql(chain_app, "DELETE FROM audit_events")
    code, _, err = verify(chain_app)
    assert code == 1
    assert (
        f"elicit: error: wiped: the anchor at {anchor_file}:4 says 4 events, the database has none"
        in errors(err)
    ), err


# ---------------------------------------------------------------------------------------------------- rewrite
@pytest.mark.parametrize("hasher", [sha256, wrong_key_mac], ids=["unkeyed-sha256", "wrong-key"])
def test_an_edited_event_with_every_later_hash_recomputed_is_caught(chain_app: Flask, hasher: Any) -> None:
    record_events(chain_app, 6)
    rehash_from(chain_app, 3, hasher)
    code, _, err = verify(chain_app)
    assert code == 1
    third = events(chain_app)[2]
    assert any(
        line.startswith(f"elicit: error: event {third.id} (test.event) was edited after it was recorded")
        for line in errors(err)
    ), err


def test_a_rewrite_that_marks_the_rest_of_the_chain_unkeyed_is_caught(chain_app: Flask) -> None:
    record_events(chain_app, 6)
    rehash_from(chain_app, 3, sha256, keyed=False)
    code, _, err = verify(chain_app)
    third = events(chain_app)[2]
    assert code == 1
    assert any(
        f"event {third.id} (test.event) is unkeyed but follows keyed events" in e for e in errors(err)
    ), err


def test_a_whole_log_rewritten_as_unkeyed_is_caught_by_the_anchors(
    chain_app: Flask, anchor_file: Path
) -> None:
    """From the first event on, nothing in the database tells a re-hashed log from an old unkeyed one: the
    anchors outside it do."""
    record_events(chain_app, 6)
    rehash_from(chain_app, 1, sha256, keyed=False)
    code, _, err = verify(chain_app)
    assert code == 1
    assert any(
        e.startswith(f"elicit: error: rewritten: the anchor at {anchor_file}:1 says event 1 has hash ")
        for e in errors(err)
    ), err


# ------------------------------------------------------------------------------------------------ forged append
@pytest.mark.parametrize(
    ("hasher", "keyed", "says"),
    [
        (sha256, False, "is unkeyed but follows keyed events"),
        (wrong_key_mac, True, "was edited after it was recorded"),
    ],
    ids=["unkeyed", "wrong-key"],
)
def test_a_forged_event_appended_with_sql_is_caught(
    chain_app: Flask, hasher: Any, keyed: bool, says: str
) -> None:
    record_events(chain_app, 3)
    forge_append(chain_app, hasher, keyed=keyed)
    code, _, err = verify(chain_app)
    forged = events(chain_app)[-1]
    assert code == 1
    assert any(f"event {forged.id} (test.event) {says}" in e for e in errors(err)), err


# ------------------------------------------------------------------------------------------------ the anchors
def test_a_forged_anchor_line_is_reported(chain_app: Flask, anchor_file: Path) -> None:
    record_events(chain_app, 2)
    real = anchor_lines(anchor_file)[-1]
    claimed = real.replace("events=2 ", "events=9 ")  # a real MAC on a changed claim
    with anchor_file.open("a", encoding="ascii") as fh:
        fh.write(claimed + "\n")
        fh.write(f"2026-01-01T00:00:00.000000Z {MARK} events=3 hash={'ab' * 32} mac={'cd' * 32}\n")
    code, _, err = verify(chain_app)
    assert code == 1
    assert (
        f"elicit: error: forged anchor: the anchor at {anchor_file}:3 does not carry a valid MAC under this audit key"
        in errors(err)
    ), err
    assert any(f"{anchor_file}:4" in e for e in errors(err)), err
    assert not any("truncated" in e for e in errors(err)), "a forged line is not believed"


def test_no_anchor_is_written_for_a_rolled_back_event(chain_app: Flask, anchor_file: Path) -> None:
    with chain_app.app_context():
        audit.record(db.session, "test.event", "tester", target="kept")
        db.session.commit()
        assert len(anchor_lines(anchor_file)) == 1
        audit.record(db.session, "test.event", "tester", target="rolled back")
        db.session.flush()
        db.session.rollback()
        # an event in a savepoint that is rolled back, inside a transaction that commits
        audit.record(db.session, "test.event", "tester", target="kept too")
        savepoint = db.session.begin_nested()
        audit.record(db.session, "test.event", "tester", target="in the savepoint")
        savepoint.rollback()
        db.session.commit()
    lines = anchor_lines(anchor_file)
    assert len(lines) == 2 and " events=2 " in lines[-1], lines
    assert [e.target for e in events(chain_app)] == ["kept", "kept too"]
    code, out, err = verify(chain_app)
    assert (code, out.strip()) == (0, "audit log intact: 2 event(s), checked against 2 anchor(s)"), err


def test_a_failed_request_writes_no_anchor(chain_app: Flask, anchor_file: Path) -> None:
    """The web app commits after a successful response and rolls back otherwise: only the first is anchored."""

    @chain_app.post("/test-audit/<int:status>")
    def _audited(status: int) -> tuple[str, int]:
        audit.record(db.session, "test.event", "web", target=f"status {status}")
        return "done", status

    client = chain_app.test_client()
    chain_app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/test-audit/500").status_code == 500
    assert not anchor_file.exists()
    assert client.post("/test-audit/200").status_code == 200
    assert len(anchor_lines(anchor_file)) == 1
    assert [e.target for e in events(chain_app)] == ["status 200"]


def _append_events(database_url: str, anchor: str, name: str, count: int, barrier: Any) -> None:
    from elicit import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET,
            "AUDIT_KEY": KEY,
            "AUDIT_ANCHOR": anchor,
        }
    )
    barrier.wait(timeout=60)
    with app.app_context():
        for number in range(count):
            audit.record(db.session, "test.event", name, target=f"{name} {number}")
            db.session.commit()
    app.extensions["elicit.db"][0].dispose()


def test_two_processes_appending_at_once_leave_one_chain_and_an_anchor_per_commit(
    chain_app: Flask, database_url: str, anchor_file: Path
) -> None:
    record_events(chain_app, 1)  # the schema and anchor folder are there before the workers start
    chain_app.extensions["elicit.db"][0].dispose()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_append_events, args=(database_url, str(anchor_file), name, 15, barrier))
        for name in ("worker-a", "worker-b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    chain = events(chain_app)
    assert len(chain) == 31
    lines = anchor_lines(anchor_file)
    assert len(lines) == 31
    claims = sorted(int(line.split("events=")[1].split()[0]) for line in lines)
    assert claims == list(range(1, 32)), (
        "each commit claims its own event number, whatever the order of lines"
    )
    code, out, err = verify(chain_app)
    assert (code, out.strip()) == (0, "audit log intact: 31 event(s), checked against 31 anchor(s)"), err


def test_anchors_go_to_syslog_and_verify_reads_a_syslog_file(
    database_url: str, tmp_path: Path, anchor_file: Path
) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(20)
    app = make_test_app(
        database_url,
        tmp_path,
        AUDIT_KEY=KEY,
        AUDIT_ANCHOR=str(anchor_file),
        AUDIT_SYSLOG=True,
        AUDIT_SYSLOG_ADDRESS=f"127.0.0.1:{receiver.getsockname()[1]}",
    )
    try:
        record_events(app, 2)
        received = [receiver.recv(4096).decode("utf-8") for _ in range(2)]
        assert all(MARK in message for message in received), received
        copy = tmp_path / "auth.log"  # as a syslog daemon writes it: its own prefix before the message
        copy.write_text(
            "".join(f"Dec  2 10:00:0{i} host {m.rstrip(chr(0))}\n" for i, m in enumerate(received))
        )
        code, out, err = verify(app, "--anchor", str(copy))
        assert (code, out.strip()) == (0, "audit log intact: 2 event(s), checked against 4 anchor(s)"), err
        anchor_file.unlink()  # the attacker removes the local file, but not the syslog server's copy
        sql(app, "DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)")
        code, _, err = verify(app, "--anchor", str(copy))
        assert code == 1
        assert (
            f"elicit: error: truncated: the anchor at {copy}:2 says 2 events, the database has 1"
            in errors(err)
        )
    finally:
        receiver.close()
        app.extensions["elicit.db"][0].dispose()


# ---------------------------------------------------------------------------------------------- export manifests
def test_every_export_manifest_carries_the_head_and_verify_compares_with_it(
    app: Flask, study: StudyHandle, tmp_path: Path, anchor_file: Path
) -> None:
    app.config.update(AUDIT_KEY=KEY, AUDIT_ANCHOR=str(anchor_file))
    record_events(app, 4)
    folder = tmp_path / "export"
    result = app.test_cli_runner().invoke(
        args=["export", study.slug, "--format", "csv", "--out", str(folder)]
    )
    assert result.exit_code == 0, result.output
    head = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["audit"]
    assert head["events"] == 4 and head["hash"] == events(app)[3].hash and len(head["mac"]) == 64
    code, out, err = verify(app, "--manifest", str(folder))
    assert (code, out.strip()) == (0, "audit log intact: 5 event(s), checked against 6 anchor(s)"), err

    anchor_file.unlink()  # the attacker removes the anchor file and the last two events
    sql(app, "DELETE FROM audit_events WHERE id > (SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 2)")
    code, _, err = verify(app, "--manifest", str(folder / "manifest.json"))
    assert code == 1
    assert (
        f"elicit: error: truncated: the anchor at {folder / 'manifest.json'} says 4 events, the database has 3"
        in errors(err)
    ), err

    forged = tmp_path / "forged-manifest.json"
    forged.write_text(json.dumps({"audit": {**head, "events": 2}}), encoding="utf-8")
    code, _, err = verify(app, "--manifest", str(forged))
    assert code == 1 and any(
        e.startswith(f"elicit: error: forged anchor: the anchor at {forged}") for e in errors(err)
    )


# ------------------------------------------------------------------------------------------- backups, restores
def _backup(app: Flask, path: Path) -> None:
    result = app.test_cli_runner().invoke(args=["backup", "--out", str(path)])
    assert result.exit_code == 0, result.output


def _restore(app: Flask, path: Path) -> tuple[int, str, str]:
    app.extensions["elicit.db"][0].dispose()
    result = app.test_cli_runner().invoke(args=["restore", str(path), "--force"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_every_backup_carries_the_head_beside_it(chain_app: Flask, tmp_path: Path) -> None:
    record_events(chain_app, 3)
    _backup(chain_app, tmp_path / "elicit.backup")
    beside = tmp_path / "elicit.backup.anchor"
    assert stat.S_IMODE(beside.stat().st_mode) == 0o600
    (line,) = anchor_lines(beside)
    assert f" events=3 hash={events(chain_app)[-1].hash} " in line
    code, out, err = verify(chain_app, "--anchor", str(beside))
    assert (code, out.strip()) == (0, "audit log intact: 3 event(s), checked against 4 anchor(s)"), err


def test_restoring_a_trimmed_backup_reports_it(chain_app: Flask, tmp_path: Path) -> None:
    record_events(chain_app, 6)
    backup = tmp_path / "elicit.backup"
    _backup(chain_app, backup)
    # The adversary trims the backup file itself: the same data without its last two events.
    sql(
        chain_app,
        "DELETE FROM audit_events WHERE id > (SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 3)",
    )
    _backup(chain_app, tmp_path / "trimmed.backup")
    os.replace(tmp_path / "trimmed.backup", backup)  # the head beside it stays the one Elicit wrote
    code, out, err = _restore(chain_app, backup)
    assert code == 1, out
    assert (
        f"elicit: error: truncated: the anchor at {backup}.anchor:1 says 6 events, the database has 4"
        in errors(err)
    ), err
    assert "audit log intact" not in out


def test_restoring_a_rewritten_backup_reports_it(chain_app: Flask, tmp_path: Path) -> None:
    record_events(chain_app, 4)
    backup = tmp_path / "elicit.backup"
    _backup(chain_app, backup)
    rehash_from(chain_app, 2, sha256, keyed=False)
    _backup(chain_app, tmp_path / "rewritten.backup")
    os.replace(tmp_path / "rewritten.backup", backup)
    code, _, err = _restore(chain_app, backup)
    assert code == 1 and any("is unkeyed but follows keyed events" in e for e in errors(err)), err


def test_restoring_an_older_backup_warns_of_the_events_after_it_and_the_log_goes_on(
    chain_app: Flask, tmp_path: Path, anchor_file: Path
) -> None:
    record_events(chain_app, 3)
    backup = tmp_path / "elicit.backup"
    _backup(chain_app, backup)
    record_events(chain_app, 3, start=3)  # recorded after the backup: lost by restoring it
    code, out, err = _restore(chain_app, backup)
    assert code == 0, err
    assert "audit log intact: 3 event(s), checked against" in out
    assert (
        "elicit: warning: the backup holds events up to 3; events 4..6 recorded after the backup are not in it"
        in err.splitlines()
    ), err
    assert " restored events=3 " in anchor_lines(anchor_file)[-1]
    # The chain goes on from the restored head; the anchors of the lost events no longer count against it.
    record_events(chain_app, 2, start=10)
    code, out, err = verify(chain_app)
    assert (code, out.strip()) == (0, "audit log intact: 5 event(s), checked against 6 anchor(s)"), err
    assert (  # never silent: every check says the restore gave events up
        f"elicit: warning: a backup was restored at {anchor_file}:7: 3 anchor(s) above it about the events that "
        "restore gave up were not compared" in err.splitlines()
    ), err


def test_a_backup_without_its_head_restores_with_a_warning(chain_app: Flask, tmp_path: Path) -> None:
    record_events(chain_app, 2)
    backup = tmp_path / "elicit.backup"
    _backup(chain_app, backup)
    Path(f"{backup}.anchor").unlink()
    code, out, err = _restore(chain_app, backup)
    assert code == 0, err
    assert any("no audit head beside the backup" in line for line in err.splitlines()), err


# ----------------------------------------------------------------------------------------- the legacy prefix
def test_events_from_before_the_key_may_only_precede_the_keyed_ones(blank_url: str, tmp_path: Path) -> None:
    """A database upgraded through 0011: its plain SHA-256 events stay, and the first keyed event covers them."""
    upgrade(blank_url, "0010")
    _insert_unkeyed(blank_url, 3)
    upgrade(blank_url)
    app = make_test_app(blank_url, tmp_path, AUDIT_KEY=KEY, AUDIT_ANCHOR=str(tmp_path / "anchor.log"))
    try:
        record_events(app, 2)
        assert [e.keyed for e in events(app)] == [False, False, False, True, True]
        code, out, err = verify(app)
        assert (code, out.strip()) == (0, "audit log intact: 5 event(s), checked against 2 anchor(s)"), err
        # Re-hashing the unkeyed prefix breaks the first keyed event, whose MAC covers it.
        rehash_from(app, 2, sha256)
        code, _, err = verify(app)
        assert code == 1 and any("was edited after it was recorded" in e for e in errors(err)), err
    finally:
        app.extensions["elicit.db"][0].dispose()


def _insert_unkeyed(url: str, count: int) -> None:
    """Events as Elicit recorded them before 0011: plain SHA-256, no ``keyed`` column."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    old = sa.table(
        "audit_events",
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("study_id", sa.Integer),
        sa.column("target", sa.String),
        sa.column("details_json", sa.Text),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    prev = "0" * 64
    with engine.begin() as conn:
        for number in range(count):
            at = datetime(2025, 5, 1, 10, number, tzinfo=UTC)
            digest = audit.event_hash(prev, at, "cli", "old.event", None, f"old {number}", "{}")
            conn.execute(
                sa.insert(old).values(
                    at=at,
                    actor="cli",
                    action="old.event",
                    study_id=None,
                    target=f"old {number}",
                    details_json="{}",
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest
    engine.dispose()


def test_a_backup_from_before_the_keyed_chain_restores_and_checks(blank_url: str, tmp_path: Path) -> None:
    from elicit.backup import backup, restore

    upgrade(blank_url, "0010")
    _insert_unkeyed(blank_url, 3)
    path = tmp_path / "old.backup"
    assert backup(blank_url, path, audit_key=KEY).audit_head is not None
    report = restore(blank_url, path, force=True, audit_key=KEY, anchor_file=str(tmp_path / "none.log"))
    assert (report.revision, report.audit_events, report.audit_anchors, report.audit_ok) == (
        "0010",
        3,
        1,
        True,
    )
    assert report.problems == [
        f"schema revision 0010 is older than this Elicit's {report.head}: run `elicit init` to upgrade it"
    ]


# ------------------------------------------------------------------------------------- where the key comes from
@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "server"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in ("ELICIT_SECRET_KEY", "ELICIT_AUDIT_KEY", "ELICIT_AUDIT_ANCHOR", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return folder


def elicit(*args: str, **env: str | None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"ELICIT_SECRET_KEY": None, "DATABASE_URL": None, **env}
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_init_and_demo_create_the_audit_key_and_the_anchor_file(workdir: Path) -> None:
    code, out, err = elicit("init")
    assert code == 0, err
    key_file = workdir / "instance" / "audit_key"
    key = key_file.read_text(encoding="ascii")
    assert len(key) == 64 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key != (workdir / "instance" / "secret_key").read_text(encoding="ascii")
    assert f"created the audit key {key_file}" in out
    code, out, err = elicit("demo", "--responses", "1", "--links", "0")
    assert code == 0, err
    assert key_file.read_text(encoding="ascii") == key and "audit key" not in out
    anchors = workdir / "instance" / "audit-anchor.log"
    assert stat.S_IMODE(anchors.stat().st_mode) == 0o600 and anchor_lines(anchors)
    code, out, err = elicit("audit", "verify")
    assert code == 0, err
    assert (
        out.startswith("audit log intact: ")
        and f"checked against {len(anchor_lines(anchors))} anchor(s)" in out
    )


def test_an_app_made_from_a_config_without_a_key_gets_one_in_its_instance_folder(
    database_url: str, workdir: Path
) -> None:
    """As the test app is (tests/conftest.py make_test_app): a config without AUDIT_KEY, nothing to set up."""
    from elicit import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": SECRET})
    try:
        record_events(app, 1)
        key_file = workdir / "instance" / "audit_key"
        assert (
            stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_text(encoding="ascii")) == 64
        )
        code, out, err = verify(app)
        assert code == 0 and out.startswith("audit log intact: 1 event(s)"), err
    finally:
        app.extensions["elicit.db"][0].dispose()


def test_verify_without_the_key_says_it_cannot_check_and_creates_none(
    chain_app: Flask, workdir: Path
) -> None:
    record_events(chain_app, 2)
    url = chain_app.config["DATABASE_URL"]
    code, _, err = elicit(
        "audit", "verify", ELICIT_SECRET_KEY=SECRET, DATABASE_URL=url, ELICIT_AUDIT_KEY=None
    )
    assert code == 1
    assert err.startswith("elicit: error: cannot check the audit log's MACs: no audit key"), err
    assert "--no-key" in err and not (workdir / "instance").exists()
    code, out, err = elicit("audit", "verify", "--no-key", ELICIT_SECRET_KEY=SECRET, DATABASE_URL=url)
    assert code == 0, err
    assert out.startswith("audit log structurally intact: 2 event(s)") and "MACs not checked" in out
    code, out, err = elicit(
        "audit", "verify", ELICIT_SECRET_KEY=SECRET, DATABASE_URL=url, ELICIT_AUDIT_KEY=KEY
    )
    assert code == 0 and out.startswith("audit log intact: 2 event(s)"), err
    code, _, err = elicit(
        "audit", "verify", ELICIT_SECRET_KEY=SECRET, DATABASE_URL=url, ELICIT_AUDIT_KEY=OTHER_KEY
    )
    assert code == 1 and "was edited after it was recorded" in err


@pytest.mark.parametrize(
    ("value", "says"),
    [("short", "at least 32 characters"), (SECRET + "-" * 40, "must not be the secret key")],
)
def test_an_unusable_audit_key_stops_with_one_line(workdir: Path, value: str, says: str) -> None:
    secret = SECRET + "-" * 40
    code, _, err = elicit("audit", "verify", ELICIT_SECRET_KEY=secret, ELICIT_AUDIT_KEY=value)
    assert code == 1 and err.count("\n") == 1 and says in err, err
    assert value not in err
