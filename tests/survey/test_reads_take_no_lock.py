"""An expert's GET only reads: it writes nothing, and on SQLite it reads from its snapshot without taking the
write lock, so opening a page never queues behind another expert's save (issue 20: GET p95 on ``elicit serve``)."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import httpx
import pytest
from flask import Flask, has_request_context, request
from sqlalchemy import event

from elicit.db import db, sqlite_file
from elicit.instruments.loading import load_file
from tests.conftest import FLAGSHIP, StudyHandle
from tests.load.respondent import Respondent

DEFINITION = load_file(FLAGSHIP)
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _statements(app: Flask) -> list[tuple[str, str, str]]:
    """Every statement the app runs from now on, as (method, path, statement)."""
    seen: list[tuple[str, str, str]] = []
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if has_request_context():
            seen.append((request.method, request.path, statement.strip()))

    return seen


def _expert(app: Flask, token: str, language: str = "en") -> Respondent:
    expert = Respondent("http://elicit.test", token, "UK", DEFINITION, seed=4, language=language)
    expert.client = httpx.Client(
        transport=httpx.WSGITransport(app=app), headers={"Accept-Language": language}
    )
    return expert


def test_no_expert_page_get_writes(app: Flask, study: StudyHandle, database_url: str) -> None:
    """The whole flagship, then the pages an expert reopens (review, the link after submitting, another
    link's landing in either language, an unknown link): no GET writes a row, and on SQLite every GET begins a plain (deferred) transaction
    while every POST takes the write lock at BEGIN, as before."""
    seen = _statements(app)
    first, second = study.invite("UK", 2)
    outcome = _expert(app, first).run()
    assert outcome.failure is None and outcome.submitted
    browser = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://elicit.test")
    for path in (f"/s/{first}", f"/s/{first}/review", f"/s/{second}", "/s/" + "x" * 32):
        assert browser.get(path).status_code in (200, 302, 303, 404)
    assert browser.get(f"/s/{second}", headers={"Accept-Language": "ur"}).status_code == 200
    gets = [(path, sql) for method, path, sql in seen if method == "GET"]
    assert gets and not [g for g in gets if g[1].split(None, 1)[0].upper() in WRITES]
    if database_url.startswith("sqlite"):
        begins = {(method, sql.upper()) for method, _, sql in seen if sql.upper().startswith("BEGIN")}
        assert begins == {("GET", "BEGIN"), ("POST", "BEGIN IMMEDIATE")}, begins


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_page_opens_while_another_expert_holds_the_write_lock(app: Flask, study: StudyHandle) -> None:
    """Another connection holds SQLite's write lock (a save in progress): the expert's page is answered from the
    snapshot at once, not after the busy timeout (10 s, then "try again")."""
    (token,) = study.invite("UK")
    client = app.test_client()
    assert client.get(f"/s/{token}").status_code == 200  # warm: templates compiled, definition parsed
    path = sqlite_file(app.config["DATABASE_URL"])
    assert path is not None
    writer = sqlite3.connect(path, isolation_level=None, timeout=10)
    answered: list[int] = []
    try:
        writer.execute("BEGIN IMMEDIATE")
        thread = threading.Thread(target=lambda: answered.append(client.get(f"/s/{token}").status_code))
        thread.start()
        thread.join(timeout=5)  # generous: the read takes milliseconds; blocked, it would wait the full 10 s
        blocked = thread.is_alive()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    thread.join()
    assert not blocked, "the page waited for the write lock"
    assert answered == [200]
