"""Guessing invitation links is rate limited per source: only "link not known" answers count.

The tests build their own app and apply ``elicit.ratelimit.init_app`` to it when ``create_app`` does not do so
yet, so they prove the limiter whether or not the survey blueprint is wired to it.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from flask import Flask

from elicit import ratelimit
from tests.conftest import StudyHandle, make_test_app
from tests.survey.test_expert_flow import begin, csrf_of, follow

LIMIT = 30


def limited_app(database_url: str, tmp_path: Path, **extra: Any) -> Flask:
    """A test app with the invitation-token limiter on (memory storage unless REDIS_URL is given)."""
    app = make_test_app(database_url, tmp_path, **extra)
    if ratelimit.EXTENSION not in app.extensions:  # create_app does not wire the limiter (yet)
        ratelimit.init_app(app)
    return app


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = limited_app(database_url, tmp_path)
    yield application
    application.extensions["elicit.db"][0].dispose()


def unknown() -> str:
    return secrets.token_urlsafe(24)


def test_unknown_links_from_one_source_are_refused_with_429_after_the_limit(
    app: Flask, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    client = app.test_client()
    statuses = [client.get(f"/s/{unknown()}").status_code for _ in range(LIMIT)]
    assert statuses == [404] * LIMIT
    refused = client.get(f"/s/{unknown()}")
    assert refused.status_code == 429
    assert "Too many unknown links" in refused.text and "open the link from your invitation" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Content-Security-Policy" in refused.headers  # the usual headers on the 429 page too
    # The source is blocked on every expert page meanwhile, real links included ...
    assert client.get(f"/s/{token}").status_code == 429
    assert client.post(f"/s/{unknown()}/p/welcome", data={"nav": "next"}).status_code in {400, 429}
    # ... while another source is not affected.
    other = app.test_client()
    assert other.get(f"/s/{token}", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_an_expert_working_normally_never_reaches_the_limit(app: Flask, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    client = app.test_client()
    page = begin(client, token)  # the landing page: the first page, before the response exists
    replay = {"csrf_token": csrf_of(page.text), "consent": "yes", "nav": "next"}
    for _ in range(LIMIT):  # a replayed post ...
        assert client.post(f"/s/{token}/p/welcome", data=replay).status_code == 303
    for _ in range(3 * LIMIT):  # ... reloads, back and forth: none of it is an unknown link
        assert client.get(f"/s/{token}/p/welcome").status_code == 200
    assert follow(client, client.get(f"/s/{token}")).status_code == 200


def test_other_4xx_answers_do_not_count(app: Flask, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    client = app.test_client()
    begin(client, token)
    for _ in range(LIMIT + 5):  # 400: a post without its CSRF token
        assert client.post(f"/s/{token}/p/welcome", data={"nav": "next"}).status_code == 400
    assert client.get(f"/s/{token}").status_code in {200, 302}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_limit_can_be_changed_and_switched_off(database_url: str, tmp_path: Path) -> None:
    strict = limited_app(database_url, tmp_path, UNKNOWN_LINK_LIMIT="3 per minute").test_client()
    assert [strict.get(f"/s/{unknown()}").status_code for _ in range(4)] == [404, 404, 404, 429]
    off = limited_app(database_url, tmp_path, RATELIMIT_ENABLED=False).test_client()
    assert Counter(off.get(f"/s/{unknown()}").status_code for _ in range(LIMIT + 5)) == {404: LIMIT + 5}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_redis_down_falls_back_to_memory_instead_of_failing_experts(
    database_url: str, tmp_path: Path
) -> None:
    from tests.load.harness import free_port

    app = limited_app(database_url, tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    statuses = [client.get(f"/s/{unknown()}").status_code for _ in range(LIMIT + 1)]
    assert 500 not in statuses
    assert statuses[:LIMIT] == [404] * LIMIT and statuses[-1] == 429


# ------------------------------------------------------------------------------------- several gunicorn workers
REDIS_DB = 13  # a database of the local Redis kept for this test; flushed before and after


@pytest.mark.slow
@pytest.mark.xdist_group("load")
def test_the_limit_holds_across_gunicorn_workers_through_redis(tmp_path: Path) -> None:
    from tests.load.harness import gunicorn, prepare_flagship

    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    store = redis.Redis.from_url(redis_url)
    try:
        store.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is unreachable at {redis_url}: {exc}", pytrace=False)
    store.flushdb()
    url = f"sqlite:///{tmp_path / 'elicit.db'}"
    study = prepare_flagship(url, per_cohort=1)
    env = {"ELICIT_REDIS_URL": redis_url}
    try:
        with gunicorn(
            url, tmp_path, workers=2, app="tests.fuzz.limited_app:create_limited_app()", env=env
        ) as server:

            def guess(_: int) -> httpx.Response:
                with httpx.Client(base_url=server.url) as client:  # a new connection: any worker may answer
                    return client.get(f"/s/{unknown()}")

            # Pairs at once keep both sync workers busy, so both answer; one source (127.0.0.1) throughout.
            with ThreadPoolExecutor(max_workers=2) as pool:
                answers = [r for _ in range(20) for r in pool.map(guess, range(2))]
            real = httpx.get(f"{server.url}/s/{study.tokens['UK'][0]}")
        statuses = Counter(r.status_code for r in answers)
        workers = {r.headers.get("X-Worker") for r in answers}
        assert len(workers) == 2, f"all requests went to one worker: {workers}"
        # Shared counts: 30 unknown links in all (one more at most, from a pair racing at the edge), not 30 per
        # worker; the rest refused, and then the real link too.
        assert LIMIT <= statuses[404] <= LIMIT + 1 and statuses[429] == 40 - statuses[404], statuses
        assert real.status_code == 429
        assert any(b"elicit" in key for key in store.scan_iter()), "the counts were not in Redis"
    finally:
        store.flushdb()
        store.close()
