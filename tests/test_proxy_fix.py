"""ELICIT_PROXY_FIX (issue 19): behind N trusted reverse proxies the app takes the client's address, scheme and host
from their X-Forwarded-* headers, so the invitation-link rate limit counts per expert, not per proxy; without the
setting those headers are ignored, so a client cannot choose the address it is counted under."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, jsonify, request
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from elicit import ratelimit
from elicit.config import BadSetting, from_environment
from tests.conftest import make_test_app

PROXY = "10.0.0.1"  # the address the app sees the request coming from: the proxy's


def _app(database_url: str, tmp_path: Path, hops: int | None) -> Flask:
    extra = {} if hops is None else {"PROXY_FIX": hops}
    app = make_test_app(database_url, tmp_path, UNKNOWN_LINK_LIMIT="2 per minute", **extra)
    assert ratelimit.EXTENSION in app.extensions

    @app.get("/_seen")
    def seen() -> Response:
        """What the rate limiter keys requests by (its key function), and the scheme and host of the request."""
        return jsonify(address=get_remote_address(), scheme=request.scheme, host=request.host)

    return app


@pytest.fixture
def apps(database_url: str, tmp_path: Path) -> Iterator[dict[str, Flask]]:
    made = {
        "off": _app(database_url, tmp_path, None),
        "one": _app(database_url, tmp_path, 1),
        "two": _app(database_url, tmp_path, 2),
    }
    yield made
    for app in made.values():
        app.extensions["elicit.db"][0].dispose()


def _seen(app: Flask, **headers: str) -> dict[str, str]:
    response = app.test_client().get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": PROXY})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, str] = response.get_json()
    return body


def _guesses(app: Flask, forwarded_for: str, count: int) -> list[int]:
    client = app.test_client()
    return [
        client.get(
            f"/s/{secrets.token_urlsafe(24)}",
            headers={"X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": PROXY},
        ).status_code
        for _ in range(count)
    ]


def test_with_the_setting_the_forwarded_client_is_who_the_limiter_counts(apps: dict[str, Flask]) -> None:
    one = apps["one"]
    forwarded = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "survey.test",
    }
    assert _seen(one, **forwarded) == {"address": "203.0.113.7", "scheme": "https", "host": "survey.test"}
    # Only the last hop is trusted: what a client put in front of the proxy's entry is not its address.
    assert _seen(one, **{"X-Forwarded-For": "198.51.100.66, 203.0.113.7"})["address"] == "203.0.113.7"
    assert _seen(one)["address"] == PROXY  # no header: the proxy's own address
    # Two hops: the address the outer proxy saw, whatever the client prepended.
    assert _seen(apps["two"], **{"X-Forwarded-For": "198.51.100.66, 203.0.113.7, 10.0.0.2"})["address"] == (
        "203.0.113.7"
    )

    # Each expert behind the proxy has a budget of their own.
    assert _guesses(one, "203.0.113.7", 3) == [404, 404, 429]
    assert _guesses(one, "203.0.113.8", 1) == [404]


def test_without_the_setting_forwarded_headers_are_ignored(apps: dict[str, Flask]) -> None:
    off = apps["off"]
    forwarded = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "survey.test",
    }
    assert _seen(off, **forwarded) == {"address": PROXY, "scheme": "http", "host": "localhost"}
    # A guesser cannot get a new budget by sending a new X-Forwarded-For with every request.
    assert _guesses(off, "203.0.113.7", 2) == [404, 404]
    assert _guesses(off, "203.0.113.8", 1) == [429]


@pytest.mark.parametrize(("value", "hops"), [(None, 0), ("", 0), ("0", 0), ("1", 1), (" 3 ", 3), ("5", 5)])
def test_the_setting_counts_trusted_proxies(
    value: str | None, hops: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELICIT_SECRET_KEY", "from-the-environment")
    if value is None:
        monkeypatch.delenv("ELICIT_PROXY_FIX", raising=False)
    else:
        monkeypatch.setenv("ELICIT_PROXY_FIX", value)
    assert from_environment(tmp_path)["PROXY_FIX"] == hops


@pytest.mark.parametrize("value", ["6", "-1", "yes", "1.5", "true"])
def test_a_bad_setting_is_one_clear_error(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELICIT_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("ELICIT_PROXY_FIX", value)
    with pytest.raises(BadSetting) as caught:
        from_environment(tmp_path)
    assert caught.value.format_message() == (
        f"ELICIT_PROXY_FIX={value!r} must be the number of reverse proxies in front of Elicit that set "
        "X-Forwarded-For, from 1 to 5 (0 or unset: none, the headers are ignored)"
    )
