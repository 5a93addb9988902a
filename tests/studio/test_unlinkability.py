"""Attacks on anonymous studies, performed the way an administrator, a DBA or a backup operator would.

Each test answers through the expert pages (a real client per expert) and the studio (a real researcher), then
reads the database as an adversary: plain SQL with PostgreSQL's system columns, every historical state the
SQLite WAL holds, dumps taken mid-response, and the studio before and after one submission. A response may hide
among at least k invitations (the study's k); it must never be tied to fewer.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
import struct
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from elicit.db import db
from tests.studio.conftest import SLUG, People, issue, login, post
from tests.survey.test_expert_flow import complete, consented, follow, submit

K = 5  # the flagship study's k


def _expert(app: Flask) -> FlaskClient:
    return app.test_client()


def _finish(app: Flask, token: str, seed: int) -> None:
    """One expert, in a browser of their own, answers everything and submits."""
    client = _expert(app)
    complete(client, token, "en", "UK", seed=seed)
    assert follow(client, submit(client, token)).status_code == 200


def _studio_look(researcher: FlaskClient) -> dict[str, str]:
    """What the studio shows per invitation: its id and status (viewing it also confirms finished groups)."""
    import re

    html = researcher.get(f"/studio/studies/{SLUG}/invitations").get_data(as_text=True)
    return dict(re.findall(r'<tr id="invitation-(\d+)" data-status="([a-z_]+)"', html))


def _rows(app: Flask, table: str) -> list[dict[str, Any]]:
    with app.app_context():
        result = db.session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - test reads fixed tables
        return [dict(row._mapping) for row in result]


def _dump(app: Flask) -> dict[str, list[dict[str, Any]]]:
    """A dump of every table holding responses or invitations, as a backup operator would keep it."""
    tables = ("responses", "answers", "answer_notes", "invitations", "roster_entries", "audit_events")
    return {table: _rows(app, table) for table in tables}


SHARED = {"study_id", "cohort_id", "round_id", "instrument_version_id", "language", "status"}


def _linking_values(dump: dict[str, list[dict[str, Any]]]) -> set[Any]:
    """Every text or time in an invitation or roster row (ids are compared on their own: small integers repeat)."""
    values: set[Any] = set()
    for table in ("invitations", "roster_entries"):
        for row in dump[table]:
            values.update(str(v) for k, v in row.items() if k not in SHARED and isinstance(v, str | datetime))
    return values


@pytest.fixture
def researcher(app: Flask, people: People, flagship_study: str) -> FlaskClient:
    return login(app.test_client(), "researcher@example.org")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # xmin/xmax are PostgreSQL's
def test_no_transaction_id_ties_a_response_to_fewer_than_k_invitations(
    app: Flask, researcher: FlaskClient, database_url: str
) -> None:
    """Issue 12, attack 1: ``r.xmin = i.xmin`` (and xmax, and the neighbouring transaction) on PostgreSQL."""
    tokens = issue(app, SLUG, "UK", K + 2)
    for number, token in enumerate(tokens[: K + 1]):
        _finish(app, token, seed=number)
        _studio_look(researcher)  # the researcher watches after every submission
    with app.app_context():
        conn = db.session.connection()
        joined = conn.execute(
            text(
                "SELECT r.id, i.id FROM responses r, invitations i "
                "WHERE (r.xmin = i.xmin OR r.xmin::text = i.xmax::text) AND r.status = 'submitted'"
            )
        ).all()
        assert joined == []
    ties = _transaction_ties(app)
    assert len(ties) == K + 1
    for response_id, near in ties.items():
        assert not near or len(near) >= K, f"response {response_id} ties to invitations {sorted(near)}"


def _transaction_ties(app: Flask) -> dict[str, set[int]]:
    """Per response, the invitations whose row carries a transaction id at, or next to, one of the response's
    (its row's ``xmin``/``xmax``, its answers' ``xmin``): what a DBA would pair them by."""
    with app.app_context():
        conn = db.session.connection()
        responses = conn.execute(
            text("SELECT id, xmin::text::bigint, xmax::text::bigint FROM responses")
        ).all()
        answers = conn.execute(text("SELECT response_id, xmin::text::bigint FROM answers")).all()
        invitations = conn.execute(
            text("SELECT id, xmin::text::bigint, xmax::text::bigint FROM invitations")
        ).all()
    by_xid: dict[int, set[int]] = {}
    for invitation_id, xmin, xmax in invitations:
        for xid in (xmin, xmax):
            if xid:
                by_xid.setdefault(xid, set()).add(invitation_id)
    ties = {}
    for response_id, xmin, xmax in responses:
        xids = {xmin, xmax} | {x for rid, x in answers if rid == response_id}
        near: set[int] = set()
        for xid in xids - {0}:
            for neighbour in (xid - 1, xid, xid + 1):
                near |= by_xid.get(neighbour, set())
        ties[response_id] = near
    return ties


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_expert_who_answers_the_moment_they_are_invited_is_not_tied_to_their_invitation(
    app: Flask, researcher: FlaskClient
) -> None:
    """A researcher invites one person alone and the DBA watches nothing: the expert opens the link at once, so
    their first save is the cluster's next transaction after the one that wrote their invitation. Read later,
    in progress or submitted, the response must still hide among the cohort's unconfirmed invitations."""
    issue(app, SLUG, "UK", K + 1)
    [alone] = issue(app, SLUG, "UK", 1)
    client = _expert(app)
    consented(client, alone)  # the first page is saved by the transaction that starts the response
    for moment in ("in progress", "submitted"):
        [(response_id, near)] = _transaction_ties(app).items()
        assert not near or len(near) >= K, (
            f"{moment}: response {response_id} ties to invitations {sorted(near)}"
        )
        if moment == "in progress":
            complete(client, alone, "en", "UK")
            follow(client, submit(client, alone))


def test_a_dump_taken_mid_response_joins_nothing_after_submission(
    app: Flask, researcher: FlaskClient
) -> None:
    """Issue 12, attack 2: a backup taken while experts answer, joined with the live database after they submit."""
    tokens = issue(app, SLUG, "UK", 3)
    clients = [_expert(app) for _ in tokens]
    for client, token in zip(clients, tokens, strict=True):
        consented(client, token)  # in progress: consent given, one page saved
    during = _dump(app)
    assert len(during["responses"]) == 3
    for client, token in zip(clients, tokens, strict=True):
        complete(client, token, "en", "UK")
        follow(client, submit(client, token))
    after = _dump(app)
    linking = _linking_values(during) | _linking_values(after)
    for dump in (during, after):
        for response in dump["responses"]:
            assert response["invitation_id"] is None
            for moment in (response["started_at"], response["updated_at"]):
                assert str(moment)[11:19] == "00:00:00", moment  # dates only, from the start
            clues = {str(v) for k, v in response.items() if k not in SHARED and isinstance(v, str | datetime)}
            clues &= linking
            assert not clues, f"a response row shares {clues} with an invitation or roster row"
    assert {r["id"] for r in during["responses"]} == {r["id"] for r in after["responses"]}


def _wal_states(db_file: Path, wal: Path, into: Path) -> list[Path]:
    """Every committed state the WAL file still holds, each as a database file of its own."""
    data = wal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    states = []
    offset = 32
    while offset + 24 + page_size <= len(data):
        commit_size = struct.unpack(">I", data[offset + 4 : offset + 8])[0]
        offset += 24 + page_size
        if commit_size:
            state = into / f"state{len(states)}.db"
            shutil.copyfile(db_file, state)
            Path(f"{state}-wal").write_bytes(data[:offset])
            states.append(state)
    return states


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the WAL is SQLite's
def test_the_sqlite_file_and_every_wal_state_hold_no_link_or_order(
    app: Flask, researcher: FlaskClient, database_url: str, tmp_path: Path
) -> None:
    """Issue 12, attack 3: decode each committed state of the SQLite file and its WAL; read rowid order."""
    tokens = issue(app, SLUG, "UK", 4)
    clients = [_expert(app) for _ in tokens]
    for client, token in zip(clients, tokens, strict=True):
        consented(client, token)
    for number, (client, token) in enumerate(zip(clients, tokens, strict=True)):
        complete(client, token, "en", "UK", seed=number)
        follow(client, submit(client, token))
    path = Path(database_url.removeprefix("sqlite:///"))
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copyfile(path, copy / "main.db")
    shutil.copyfile(
        f"{path}-wal", copy / "main.db-wal"
    )  # copied while the app holds it open: nothing folded in
    states = _wal_states(copy / "main.db", copy / "main.db-wal", copy)
    assert len(states) >= 8, "the WAL should hold the history of this test's writes"
    seen = 0
    for state in states:
        conn = sqlite3.connect(state)
        try:
            for invitation_id, started, updated in conn.execute(
                "SELECT invitation_id, started_at, updated_at FROM responses"
            ):
                seen += 1
                assert invitation_id is None
                assert started.endswith("00:00:00.000000") and updated.endswith("00:00:00.000000"), started
            for table in ("responses", "answers", "answer_notes"):
                with pytest.raises(sqlite3.OperationalError):
                    conn.execute(f"SELECT rowid FROM {table}")  # noqa: S608 - stored in key order, not insertion
        finally:
            conn.close()
    assert seen, "no state held a response: the attack read nothing"


def test_two_exports_around_one_submission_name_nobody(app: Flask, researcher: FlaskClient) -> None:
    """Issue 12, attack 4: export, let one expert submit, export again and look for the invitation that changed."""
    tokens = issue(app, SLUG, "UK", K + 3)
    for number, token in enumerate(tokens[:2]):
        _finish(app, token, seed=number)

    def export() -> set[str]:
        archive = post(researcher, f"/studio/studies/{SLUG}/export", {"format": "csv"}).get_data()
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            name = next(n for n in zf.namelist() if n.endswith("data.csv"))
            # without the respondent number, which is given afresh in each export
            return {line.split(",", 1)[1] for line in zf.read(name).decode("utf-8").splitlines()[1:]}

    before_rows, before_status = export(), _studio_look(researcher)
    _finish(app, tokens[2], seed=7)
    after_rows, after_status = export(), _studio_look(researcher)
    assert len(after_rows - before_rows) == 1  # the new row exists, as it must ...
    changed = {i for i in after_status if after_status[i] != before_status.get(i)}
    assert changed == set(), f"... but the studio must not say whose it is: {changed} changed"
    # Once k have finished they are confirmed together: the change names a group of at least k.
    _finish(app, tokens[3], seed=8)
    _finish(app, tokens[4], seed=9)
    final = _studio_look(researcher)
    changed = {i for i in final if final[i] != after_status.get(i)}
    assert len(changed) >= K and all(final[i] == "finished" for i in changed)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_studio_transactions_on_one_cohort_neither_wait_nor_deadlock(
    app: Flask, flagship_study: str, database_url: str
) -> None:
    """The rewrite at commit skips rows another transaction holds: two transactions that each changed one
    invitation of the cohort commit one after the other without either waiting (waiting on each other's row would
    be a deadlock, one of them refused)."""
    from sqlalchemy import create_engine

    issue(app, SLUG, "UK", 4)
    engine = create_engine(database_url)
    try:
        with engine.connect() as first, engine.connect() as second:
            first.execute(text("SET lock_timeout = '2s'"))
            second.execute(text("SET lock_timeout = '2s'"))
            ids = [row[0] for row in first.execute(text("SELECT id FROM invitations ORDER BY id"))]
            first.rollback()
            first.execute(text("UPDATE invitations SET reminded_at = now() WHERE id = :id"), {"id": ids[0]})
            second.execute(text("UPDATE invitations SET reminded_at = now() WHERE id = :id"), {"id": ids[1]})
            second.commit()  # its rewrite skips the row the first holds (a wait would end in lock_timeout)
            first.commit()
            stamps = dict(first.execute(text("SELECT id, xmin::text FROM invitations")).all())
    finally:
        engine.dispose()
    assert len(set(stamps.values())) == 1  # the later commit reached every row
