"""Retention, erasure and subject access (issue 19), attacked the way a records officer would check them.

A study runs as it does in the field: a roster of people with distinctive names, addresses and organisations is
e-mailed (the outbox), reminded, and answered, the experts writing their own and each other's names and
addresses into free text and a direct-identifier item. Then one person is erased and the study is purged after
its retention date, and everything Elicit keeps is searched for them: every text and blob of every row of every
table, every file in the instance folder and the outbox, the export made afterwards, and the raw bytes of the
database (the SQLite file, its WAL and shared memory; every PostgreSQL relation file of the schema, tables,
indexes and TOAST, read with ``pg_read_binary_file`` after a ``CHECKPOINT``). Each scan is first shown to find
what it looks for while the data is there. Files the researcher keeps (the roster they uploaded, the subject
access file they asked for) are outside Elicit and are not scanned.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from elicit.db import Base, db, sqlite_file
from elicit.models import (
    AnswerNote,
    AuditEvent,
    DiscussionPost,
    Invitation,
    LinkSubmission,
    PracticeRecord,
    Response,
    RosterEntry,
    Study,
    User,
)
from elicit.studies import create_study, find_study
from tests.conftest import make_test_app
from tests.exporting.helpers import BASE_ANSWERS, answer, publish_text, run
from tests.exporting.test_leak import _haystacks, _leak_instrument

LINK = re.compile(r"/s/([A-Za-z0-9_-]{16,128})")


# ------------------------------------------------------------------------------------------------- people
@dataclass(frozen=True)
class Person:
    """A roster entry whose every string is unique to this run (PostgreSQL keeps earlier tests' dead rows)."""

    name: str
    email: str
    organisation: str
    cohort: str

    @classmethod
    def make(cls, first: str, last: str, cohort: str) -> Person:
        tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
        return cls(
            f"{first}{tag.capitalize()} {last}{tag}",
            f"{first.lower()}.{tag}@{last.lower()}-{tag}.example",
            f"{last} Institute of {tag.capitalize()}wick",
            cohort,
        )

    @property
    def needles(self) -> set[str]:
        """Every string of this person a scan looks for (case folded)."""
        parts = set(self.name.split()) | {self.email, self.email.split("@")[0], self.organisation, self.name}
        return {part.casefold() for part in parts}


def people() -> tuple[Person, Person, Person]:
    return (
        Person.make("Zebulon", "Quartermaine", "UK"),
        Person.make("Aurelia", "Thistlewood", "UK"),
        Person.make("Farrukh", "Qizilbashzada", "PK"),
    )


# --------------------------------------------------------------------------------------------------- scanning
def table_texts(engine: Engine) -> Iterator[tuple[str, str]]:
    """Every text and blob of every row of every table, as ``(table.column, folded text)``."""
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for column, value in row._mapping.items():
                    if isinstance(value, bytes | memoryview):
                        data = bytes(value)
                        yield f"{table.name}.{column}", data.decode("latin-1").casefold()
                    elif isinstance(value, str):
                        yield f"{table.name}.{column}", value.casefold()


def file_texts(*folders: Path) -> Iterator[tuple[str, str]]:
    """Every file under ``folders`` (zip, Parquet, SPSS and Stata contents too)."""
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            yield from _haystacks(str(path), path.read_bytes())


def raw_database(app: Flask) -> Iterator[tuple[str, str]]:
    """The database's own files as an administrator copies them: SQLite's file, WAL and shared memory; every
    PostgreSQL relation file of the schema's tables, their indexes and TOAST (after a CHECKPOINT, so the files
    hold what the server holds)."""
    url = app.config["DATABASE_URL"]
    path = sqlite_file(url)
    if path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = Path(f"{path}{suffix}")
            if candidate.exists():
                yield candidate.name, candidate.read_bytes().decode("latin-1").casefold()
        return
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(text("CHECKPOINT"))
        relations = connection.execute(
            text(
                """
                WITH mine AS (
                    SELECT c.oid, c.reltoastrelid FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')
                ), toast AS (
                    SELECT reltoastrelid AS oid FROM mine WHERE reltoastrelid <> 0
                    UNION SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT reltoastrelid FROM mine)
                )
                SELECT oid::regclass::text, pg_relation_filepath(oid)
                FROM (SELECT oid FROM mine UNION SELECT oid FROM toast) AS r
                WHERE pg_relation_filepath(oid) IS NOT NULL
                """
            )
        ).all()
        assert len(relations) > 40, relations  # tables and indexes of the whole schema, and TOAST
        for name, filepath in relations:
            data = connection.execute(
                text("SELECT pg_read_binary_file(CAST(:p AS text))"), {"p": filepath}
            ).scalar()
            if data:
                yield f"{name} ({filepath})", bytes(data).decode("latin-1").casefold()


def found(needles: Iterable[str], haystacks: Iterable[tuple[str, str]]) -> list[str]:
    wanted = sorted(set(needles))
    return [f"{needle!r} in {where}" for where, text_ in haystacks for needle in wanted if needle in text_]


def everywhere(app: Flask, *folders: Path) -> list[tuple[str, str]]:
    """Tables, files and raw database bytes, scanned at one moment."""
    with app.app_context():
        tables = list(table_texts(db.engine))
    return [*tables, *file_texts(*folders), *raw_database(app)]


def dump(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (to show a dry run changed nothing)."""
    with app.app_context(), db.engine.connect() as connection:
        return {
            table.name: sorted((tuple(map(str, row)) for row in connection.execute(table.select())), key=str)
            for table in Base.metadata.sorted_tables
        }


# --------------------------------------------------------------------------------------------------- set-up
@pytest.fixture
def app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app with its instance folder (ledger, outbox) in this test's folder, as a server keeps it."""
    monkeypatch.chdir(tmp_path)
    application = make_test_app(database_url, tmp_path, OUTBOX_PATH=str(tmp_path / "instance" / "outbox"))
    yield application
    application.extensions["elicit.db"][0].dispose()


@pytest.fixture
def researcher_files(tmp_path: Path) -> Path:
    """The researcher's own folder (the roster they upload, files they ask for): not Elicit's to purge."""
    folder = tmp_path / "researcher"
    folder.mkdir()
    return folder


def outbox_links(outbox: Path) -> dict[str, list[str]]:
    """Each recipient's tokens, oldest message first."""
    links: dict[str, list[str]] = {}
    for path in sorted(outbox.glob("*.eml")):
        message = BytesParser(policy=policy.default).parse(path.open("rb"))
        body = message.get_body(preferencelist=("plain",)).get_content()
        match = LINK.search(body)
        assert match, body
        links.setdefault(message["To"].addresses[0].addr_spec, []).append(match.group(1))
    return links


def run_study(
    app: Flask, runner: FlaskCliRunner, folder: Path, slug: str, anonymity: str, cast: tuple[Person, ...]
) -> dict[str, list[str]]:
    """A study run from the command line: roster e-mailed, two experts answer, the third is reminded."""
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, _leak_instrument(anonymity))
        create_study(session, slug, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
    roster = folder / "roster.csv"
    with roster.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email", "organisation", "cohort"])
        writer.writerows((p.name, p.email, p.organisation, p.cohort) for p in cast)
    code, _, err = run(runner, "mail", "send", slug, "--roster", str(roster))
    assert code == 0, err
    outbox = Path(app.config["OUTBOX_PATH"]) / slug
    links = outbox_links(outbox)
    first, second, _third = cast
    with app.app_context(), db.transaction() as session:
        texts = {
            first: f"I am {first.name} of {first.organisation}; write to {first.email}.",
            second: f"As {first.name} ({first.email}) said. I am {second.name}, {second.organisation}.",
        }
        for person, rationale in texts.items():
            values = {
                **BASE_ANSWERS,
                "state": person.cohort,
                "sector": "other",
                "sector_other": person.organisation,
                "rationale": rationale,
                "contact": person.email,
            }
            answer(session, links[person.email][0], values)
        study = find_study(session, slug)

        def response_of(person: Person) -> Response:
            found_ = session.scalar(
                select(Response)
                .join(Invitation, Invitation.id == Response.invitation_id)
                .join(RosterEntry, RosterEntry.id == Invitation.roster_entry_id)
                .where(RosterEntry.email == person.email)
            )
            assert found_ is not None
            return found_

        if anonymity == "pseudonymous":  # a discussion post and a practice record of the first expert
            theirs = response_of(first)
            session.add(
                DiscussionPost(
                    round_id=theirs.round_id, item_id="tac_1", response_id=theirs.id, body=texts[first]
                )
            )
            session.add(PracticeRecord(response_id=theirs.id, status="scored"))
        # A Delphi reason and a discussion post that mention both: the second expert's own in a pseudonymous
        # study, any response in an anonymous one (where nobody can tell whose it is).
        some = (
            response_of(second)
            if anonymity == "pseudonymous"
            else session.scalars(select(Response).order_by(Response.id)).first()
        )
        assert some is not None
        session.add(
            AnswerNote(
                response_id=some.id,
                item_id="tac_1",
                confidence=3,
                rationale=f"Ask {first.name} or {second.email}.",
            )
        )
        session.add(
            DiscussionPost(
                round_id=some.round_id,
                item_id="tac_2",
                response_id=some.id,
                body=f"{second.name} of {second.organisation} agrees with {first.email}.",
            )
        )
        user = User(email="admin@example.org", role="admin", password_hash="x")
        session.add(user)
        session.flush()
        # Links made on the studio's links page and not yet shown: sealed there; held here in clear, to prove
        # that the rows themselves go.
        session.add(LinkSubmission(study_id=study.id, user_id=user.id, nonce="n", held=second.name.encode()))
    code, _, err = run(runner, "mail", "remind", slug)
    assert code == 0, err
    return links


def count(app: Flask, model: type, *where: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# ---------------------------------------------------------------------------------------------------- the run
@pytest.mark.parametrize("anonymity", ["anonymous", "pseudonymous"])
def test_erasure_then_purge_leave_nothing_of_the_people_anywhere(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, researcher_files: Path, anonymity: str
) -> None:
    slug = f"life-{anonymity[:4]}"
    cast = people()
    first, second, third = cast
    run_study(app, runner, researcher_files, slug, anonymity, cast)
    instance = tmp_path / "instance"
    scanned = (instance,)
    before = everywhere(app, *scanned)
    for person in cast:  # every scan finds each person while they are there: the scans work
        hits = found({person.email}, before)
        assert any(".db" in h or "-wal" in h or "(base/" in h for h in hits), hits
        assert any("roster_entries." in h for h in hits) and any("outbox" in h for h in hits), hits
    responses_before = count(app, Response)

    # --- erasure of the first person
    code, out, err = run(runner, "erase", "nobody@example.org", "--yes")
    assert code == 1 and out == "" and err.count("\n") == 1 and "nobody@example.org is not on" in err
    code, out, err = run(runner, "erase", first.email.upper(), "--yes")
    assert code == 0, err
    assert f"{slug}: roster entry" in out and "deleted roster entries 1" in out
    if anonymity == "anonymous":
        assert "cannot be found" in out and "stay in the study, anonymous" in out
        assert count(app, Response) == responses_before
    else:
        assert "cannot be found" not in out
        assert count(app, Response) == responses_before - 1
    assert found(first.needles, everywhere(app, *scanned)) == []
    left = everywhere(app, *scanned)
    assert found({second.email, third.email}, left), "the others are still there"

    # --- subject access of the second person
    code, out, err = run(runner, "subject-access", second.email, "--out", str(researcher_files / "sar.json"))
    assert code == 0, err
    sar = researcher_files / "sar.json"
    assert sar.stat().st_mode & 0o777 == 0o600
    document = json.loads(sar.read_text(encoding="utf-8"))
    (entry,) = document["entries"]
    assert entry["roster_entry"]["email"] == second.email
    assert entry["roster_entry"]["organisation"] == second.organisation
    assert [m["state"] for m in entry["mails"]][0] == "sent" and entry["outbox_messages"]
    assert entry["invitations"] and entry["invitations"][0]["sent_at"]
    if anonymity == "anonymous":
        assert entry["responses"] == [] and "cannot find" in entry["statement"]
    else:
        answers = {a["item"]: a for a in entry["responses"][0]["answers"]}
        assert answers["contact"]["value"] == second.email
        assert answers["rationale"]["label"] and second.name in answers["rationale"]["value"]
        assert answers["tac_1"]["choice"]  # a likert answer with its choice's label
    code, _, err = run(
        runner, "subject-access", "nobody@example.org", "--out", str(researcher_files / "x.json")
    )
    assert code == 1 and "nobody@example.org is not on" in err and not (researcher_files / "x.json").exists()

    # --- the retention date passes: a dry run changes nothing
    with app.app_context():
        study = find_study(db.session, slug)
        study.retain_until = date.today() - timedelta(days=2)
        db.session.commit()
    rows = dump(app)
    outbox_files = sorted((instance / "outbox" / slug).iterdir())
    code, out, err = run(runner, "purge", "--dry-run")
    assert code == 0, err
    assert f"{slug}: would delete roster entries 2" in out and f"{slug}: kept " in out
    assert dump(app) == rows and sorted((instance / "outbox" / slug).iterdir()) == outbox_files

    # --- the purge (as cron runs it)
    code, out, err = run(runner, "purge")
    assert code == 0, err
    assert f"{slug}: deleted roster entries 2" in out and "outbox messages" in out
    assert re.search(rf"{slug}: kept responses {count(app, Response)}", out)
    assert count(app, Response) == responses_before - (anonymity == "pseudonymous")
    code, out, err = run(runner, "purge")
    assert (code, out.strip()) == (0, "no study is due for purging")

    # --- an export made afterwards, anonymized and identified
    code, _, err = run(
        runner,
        "user",
        "add",
        "boss@example.org",
        "--role",
        "admin",
        "--password-stdin",
        input="a long admin password\n",
    )
    assert code == 0, err
    exports = instance / "exports"
    exports.mkdir()
    code, _, err = run(runner, "export", slug, "--format", "csv", "--out", str(exports / "csv"))
    assert code == 0, err
    code, _, err = run(
        runner,
        "export",
        slug,
        "--format",
        "parquet",
        "--identified",
        "--admin",
        "boss@example.org",
        "--out",
        str(exports / "identified"),
    )
    assert code == 0, err
    manifest = json.loads((exports / "csv" / "manifest.json").read_text(encoding="utf-8"))
    kinds = [(entry["kind"], entry["on"]) for entry in manifest["lifecycle"]]
    today = datetime.now(UTC).date().isoformat()
    assert kinds == [("erasure", today), ("purge", today)]
    assert manifest["lifecycle"][1]["deleted"]["roster_entries"] == 2
    assert manifest["lifecycle"][0]["deleted"]["roster_entries"] == 1

    # --- nothing of anyone, anywhere
    after = everywhere(app, *scanned)
    assert found(first.needles | second.needles | third.needles, after) == []
    with app.app_context():
        study = find_study(db.session, slug)
        assert study.purged_at is not None and study.status == "closed"
        events = list(db.session.scalars(select(AuditEvent)))
        assert {"study.purge", "participant.erase", "participant.subject_access"} <= {
            e.action for e in events
        }
    code, out, err = run(runner, "audit", "verify")  # purges and erasures extend the chain, never edit it
    assert code == 0, err + out
    # what is kept: the answers (free text scrubbed), counts, the instrument
    data = (exports / "csv" / "data.csv").read_text(encoding="utf-8")
    assert "[name]" in data and data.count("\n") == count(app, Response) + 1


# ---------------------------------------------------------------------------------------------------- details
def test_purge_of_one_study_refuses_what_is_not_due_and_open_studies(
    app: Flask, runner: FlaskCliRunner, researcher_files: Path
) -> None:
    slug = "life-due"
    run_study(app, runner, researcher_files, slug, "anonymous", people())
    code, out, err = run(runner, "purge", slug)
    assert (
        code == 1
        and err.strip()
        == f"elicit: error: study {slug} is kept (it has no retention date); give --now to purge it before that"
    )
    code, out, err = run(runner, "purge", slug, "--now")
    assert code == 1 and "is open: close it first" in err
    assert count(app, RosterEntry) == 3
    code, out, err = run(runner, "purge", "no-such-study")
    assert code == 1 and err.count("\n") == 1
    with app.app_context():
        study = find_study(db.session, slug)
        study.status = "closed"
        study.retain_until = date.today() + timedelta(days=30)
        db.session.commit()
    code, out, err = run(runner, "purge", slug)
    assert code == 1 and f"is kept until {(date.today() + timedelta(days=30)).isoformat()}" in err
    code, out, err = run(runner, "purge", slug, "--now")
    assert code == 0, err
    assert count(app, RosterEntry) == 0
    with app.app_context():
        study = find_study(db.session, slug)
        assert study.retain_until == datetime.now(UTC).date() - timedelta(days=1)  # retained until yesterday
    ledger = [json.loads(line) for line in (Path("instance") / "lifecycle.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["study"]) for e in ledger] == [("purge", slug)]


def test_a_purged_study_takes_no_new_roster_from_the_command_line(
    app: Flask, runner: FlaskCliRunner, researcher_files: Path
) -> None:
    """The studio refused a roster for a purged study, but `elicit invite --roster` and `elicit mail send` took
    one, which sat there until the next purge."""
    slug = "life-closed"
    run_study(app, runner, researcher_files, slug, "anonymous", people())
    with app.app_context():
        find_study(db.session, slug).status = "closed"
        db.session.commit()
    code, _, err = run(runner, "purge", slug, "--now")
    assert code == 0, err
    roster = researcher_files / "again.csv"
    roster.write_text(
        "name,email,organisation,cohort\nLate Comer,late.comer@example.org,,UK\n", encoding="utf-8"
    )
    links = researcher_files / "links.csv"
    for args in (
        ("invite", slug, "--cohort", "UK", "--roster", str(roster), "--out", str(links)),
        ("mail", "send", slug, "--roster", str(roster)),
    ):
        code, _, err = run(runner, *args)
        assert code == 1 and err.count("\n") == 1 and "was purged on" in err, (args, err)
        assert "takes no new roster" in err
    assert count(app, RosterEntry) == 0
    assert not links.exists()


def test_erase_without_yes_asks_and_says_what_it_would_delete(
    app: Flask, runner: FlaskCliRunner, researcher_files: Path
) -> None:
    cast = people()
    run_study(app, runner, researcher_files, "life-ask", "pseudonymous", cast)
    code, out, err = run(runner, "erase", cast[0].email, input="n\n")
    assert code == 1 and "would delete roster entries 1" in out and "responses 1" in out
    assert "nothing was erased" in err and count(app, RosterEntry) == 3
    code, out, err = run(runner, "erase", cast[0].email, "--study", "no-such-study", "--yes")
    assert code == 1 and err.count("\n") == 1 and count(app, RosterEntry) == 3
    code, out, err = run(runner, "erase", cast[0].email, input="y\n")
    assert code == 0, err
    assert count(app, RosterEntry) == 2
    ledger = [json.loads(line) for line in (Path("instance") / "lifecycle.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in ledger] == ["erasure"]
    assert cast[0].email not in json.dumps(ledger) and len(ledger[0]["subject"]) == 64  # a keyed hash


def test_audit_events_of_a_whole_run_hold_no_roster_data(
    app: Flask, runner: FlaskCliRunner, researcher_files: Path
) -> None:
    """The audit chain cannot be edited by an erasure, so no event may ever hold a roster name or address."""
    cast = people()
    slug = "life-audit"
    run_study(app, runner, researcher_files, slug, "pseudonymous", cast)
    code, _, err = run(runner, "erase", cast[0].email, "--yes")
    assert code == 0, err
    code, _, err = run(runner, "subject-access", cast[1].email, "--out", str(researcher_files / "s.json"))
    assert code == 0, err
    with app.app_context():
        study = find_study(db.session, slug)
        study.status = "closed"
        db.session.commit()
    code, _, err = run(runner, "purge", slug, "--now")
    assert code == 0, err
    with app.app_context(), db.engine.connect() as connection:
        rows = [tuple(map(str, row)) for row in connection.execute(AuditEvent.__table__.select())]
    assert {row[3] for row in rows} == {
        "roster.upload",
        "invitations.remind",
        "participant.erase",
        "participant.subject_access",
        "study.purge",
    }
    needles = set().union(*(p.needles for p in cast))
    assert found(needles, [(f"audit event {row[0]}", " ".join(row).casefold()) for row in rows]) == []


def test_restore_of_an_older_backup_repeats_the_erasure_and_the_purge(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, researcher_files: Path
) -> None:
    cast = people()
    slug = "life-back"
    run_study(app, runner, researcher_files, slug, "pseudonymous", cast)
    backups = tmp_path / "backups"
    backups.mkdir()
    code, _, err = run(runner, "backup", "--out", str(backups / "one.backup"))
    assert code == 0, err
    code, _, err = run(runner, "erase", cast[0].email, "--yes")
    assert code == 0, err
    code, out, err = run(runner, "restore", str(backups / "one.backup"), "--force")
    assert code == 0, err + out
    assert f"{slug}: roster entry" in out and "erased again" in out
    with app.app_context():
        emails = set(db.session.scalars(select(RosterEntry.email)))
    assert emails == {cast[1].email, cast[2].email}

    with app.app_context():
        study = find_study(db.session, slug)
        study.retain_until = date.today() - timedelta(days=3)
        db.session.commit()
    code, _, err = run(runner, "backup", "--out", str(backups / "two.backup"))
    assert code == 0, err
    code, _, err = run(runner, "purge")
    assert code == 0, err
    code, out, err = run(runner, "restore", str(backups / "two.backup"), "--force")
    assert code == 0, err + out
    assert f"{slug}: purged again" in out
    assert count(app, RosterEntry) == 0
    with app.app_context():
        assert db.session.scalar(select(Study.purged_at).where(Study.slug == slug)) is not None
    assert found(set().union(*(p.needles for p in cast)), everywhere(app, tmp_path / "instance")) == []
