"""PostgreSQL restarted under a running Elicit: a clear 503 meanwhile, reconnection by itself afterwards.

The database is a private PostgreSQL cluster started for this test on a free port (the shared server at
127.0.0.1:5432 serves other tests at the same time and is never stopped).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from elicit.db import db
from elicit.instruments.schema import Definition
from tests.conftest import StudyHandle
from tests.load.checks import assert_each_submitted_once, assert_no_tracebacks
from tests.load.harness import PrivatePostgres, gunicorn, prepare_flagship, wait_until
from tests.load.respondent import Crowd, Respondent

DATABASE_DOWN = "The service cannot reach its database at the moment"


@pytest.mark.slow
@pytest.mark.xdist_group("load")
def test_postgres_restart_gives_a_clear_503_and_the_app_reconnects_by_itself(
    tmp_path: Path, definition: Definition
) -> None:
    pg = PrivatePostgres()
    try:
        pg.start()
        url = pg.create_database("elicit")
        study = prepare_flagship(url, per_cohort=9)
        pairs = study.pairs()
        probes = [token for _, token in pairs[16:]]
        with gunicorn(url, tmp_path, workers=4) as server:
            experts = [
                Respondent(server.url, token, cohort, definition, seed=500 + i, retry=True, deadline=180)
                for i, (cohort, token) in enumerate(pairs[:16])
            ]
            total_saves = len(experts) * len(definition.pages)
            with Crowd(experts, threads=len(experts)) as crowd:
                wait_until(
                    lambda: crowd.saved_pages() >= total_saves // 4, 120, what="a quarter of the pages"
                )
                pg.stop("fast")  # terminates every open connection of every worker
                during = [httpx.get(f"{server.url}/s/{probes[0]}", timeout=30) for _ in range(4)]
                time.sleep(1.5)  # the experts keep trying meanwhile
                pg.start()
                outcomes = crowd.results(240)
            # Every worker serves again without a restart of the app (pool_pre_ping replaced dead connections).
            after = [httpx.get(f"{server.url}/s/{probes[1]}", timeout=30) for _ in range(8)]
        assert_each_submitted_once(url, outcomes, definition)
    finally:
        pg.destroy()
    for response in during:
        assert response.status_code == 503, (response.status_code, response.text[:500])
        assert DATABASE_DOWN in response.text
        assert "Traceback" not in response.text
    assert [r.status_code for r in after] == [200] * len(after)
    seen = {status for o in outcomes for _, _, status, _ in o.server_errors}
    assert seen <= {503}, f"server errors other than 503 during the outage: {seen}"
    for outcome in outcomes:
        for _, _, _, body in outcome.server_errors:
            assert DATABASE_DOWN in body
    assert_no_tracebacks(outcomes)
    print(f"503s seen by the experts during the outage: {sum(len(o.server_errors) for o in outcomes)}")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_losing_the_database_at_the_commit_gives_the_503_page_too(
    app: Flask, client: FlaskClient, study: StudyHandle, database_url: str
) -> None:
    """The narrowest window of an outage, made certain: the connection dies between the view and the commit."""
    (token,) = study.invite("UK")
    target = f"/s/{token}"
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not re-raise as TESTING would

    @app.after_request  # registered after the database's own hook, so it runs just before the commit
    def _terminate_backend(response: Response) -> Response:
        if request.path == target and request.args.get("cut"):
            pid = db.session.connection().connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
        return response

    cut = client.get(f"{target}?cut=1")
    assert cut.status_code == 503, (cut.status_code, cut.text[:300])
    assert DATABASE_DOWN in cut.text and "Traceback" not in cut.text
    assert client.get(target).status_code == 200  # the pool replaced the dead connection by itself
