"""Tokens never reach a log: the attack is to read the server's logs and look for an expert's link.

An expert's link is ``/s/<token>``; the invitation stores the token's SHA-256. A log line holding the token (or its
hash) with a timestamp names the expert who answered at that time. These tests run the two documented servers
(``elicit serve`` and ``gunicorn 'elicit:create_app()'`` with its logs on), answer a questionnaire through them,
send the malformed requests that make a server print the raw request line, then grep everything the server wrote.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from elicit import tokens
from elicit.instruments.loading import load_file
from elicit.tokens import token_hash
from elicit.weblog import REDACTED, redact
from tests.conftest import FLAGSHIP, make_test_app
from tests.load.harness import Gunicorn, prepare_flagship
from tests.load.respondent import Respondent

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
URLSAFE = BASE62 + "-_"
OLD = "x3Jq-Vb_9kLmNoPq7RsTuVwXyZaBcDeF"  # the shape of secrets.token_urlsafe(24): 32 URL-safe characters
OLD_NO_DIGIT = "abcdefghijklmnopqrstuvwxyzABCDEF"  # about 0.4 % of old tokens have no digit
NEW = "eli_4fG7hJ2kL9mN0pQ3rS6tU8vW1xY5zA7b"  # the recognisable format: prefix, 32 base62, checksum
NEW += tokens.checksum(NEW)
HASH = token_hash(OLD)
SERVER_TIMEOUT = 30.0


# ------------------------------------------------------------------------------------------ redaction function
@pytest.mark.parametrize("token", [OLD, OLD_NO_DIGIT, NEW], ids=["old", "old-no-digit", "new"])
@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("/s/{t}", "/s/[redacted]"),
        ("/s/{t}/", "/s/[redacted]/"),
        ("/s/{t}/p/background", "/s/[redacted]/p/background"),
        ("/s/{t}/p/background/", "/s/[redacted]/p/background/"),
        ("/s/{t}/review", "/s/[redacted]/review"),
        ("/s/{t}?lang=ur", "/s/[redacted]?lang=ur"),
        ("/s/{t}/p/tactical?lang=ur&x=1", "/s/[redacted]/p/tactical?lang=ur&x=1"),
        ("/s/{t}#top", "/s/[redacted]#top"),
        ("/s/{t}/p/x?token={t}&lang=en", "/s/[redacted]/p/x?token=[redacted]&lang=en"),
        ("/studio/x?access_token={t}", "/studio/x?access_token=[redacted]"),
        ("token={t}&lang=en", "token=[redacted]&lang=en"),  # a bare QUERY_STRING
        # the single sign-on callback: the authorization code and state are bearer secrets for their few minutes
        (
            "/studio/login/oidc/callback?code={t}&state={t}",
            "/studio/login/oidc/callback?code=[redacted]&state=[redacted]",
        ),
        (
            "/cb?state=x1&session_state={t}&code=abc",
            "/cb?state=[redacted]&session_state=[redacted]&code=[redacted]",
        ),
        ("code_verifier={t}", "code_verifier=[redacted]"),
        ('"POST /s/{t}/review HTTP/1.1" 303 -', '"POST /s/[redacted]/review HTTP/1.1" 303 -'),
        ("https://survey.example.org/s/{t}/p/x", "https://survey.example.org/s/[redacted]/p/x"),
        ("/elicit/s/{t}/review", "/elicit/s/[redacted]/review"),  # mounted under a prefix
        (
            "Invalid HTTP request line: 'GET /s/{t} HTTP/1.1 x'",
            "Invalid HTTP request line: 'GET /s/[redacted] HTTP/1.1 x'",
        ),
        ("\x1b[32mGET /s/{t}/p/x HTTP/1.1\x1b[0m", "\x1b[32mGET /s/[redacted]/p/x HTTP/1.1\x1b[0m"),
    ],
)
def test_redact_replaces_the_token_in_every_url_shape(token: str, shape: str, expected: str) -> None:
    assert redact(shape.format(t=token)) == expected


@pytest.mark.parametrize("token", [OLD, NEW], ids=["old", "new"])
@pytest.mark.parametrize(
    "shape",
    [
        "//s//{t}/p/x",  # werkzeug merges the slashes and redirects: the request was still logged
        "/S/{t}",
        "/s%2F{t}/review",
        "/s/{t}%2Fp%2Fx",
        "/studio/login?next=%2Fs%2F{t}%2Freview",
        "GET /s/{t}\tHTTP/1.1",
    ],
)
def test_redact_leaves_no_token_in_odd_shapes(token: str, shape: str) -> None:
    result = redact(shape.format(t=token))
    assert token not in result and REDACTED in result


@pytest.mark.parametrize(
    "text",
    [
        "/studio/login?next=/studio/studies",
        "/static/elicit.css",
        '"GET /api/v1/studies/dd/export?format=csv HTTP/1.1" 200 512',
        "/studio/studies/dd-demo/invitations",
        "database unavailable [request 0f3a9c1b2d4e5f60]",
    ],
)
def test_redact_leaves_other_paths_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_removes_token_hashes_and_sql_parameters() -> None:
    line = f"(sqlite3.OperationalError) database is locked\n[SQL: SELECT 1 WHERE h = ?]\n[parameters: ('{HASH}',)]"
    assert HASH not in redact(line)
    assert HASH[:16] not in redact(f"invitation {HASH} opened")


@given(
    token=st.one_of(
        st.text(URLSAFE, min_size=32, max_size=32),
        st.text(BASE62, min_size=32, max_size=32).map(lambda s: "eli_" + s + tokens.checksum("eli_" + s)),
    ),
    shape=st.sampled_from(
        ["/s/{t}", "/s/{t}/", "/s/{t}/p/{p}", "/s/{t}/review", "/s/{t}?lang={p}", "/s/{t}/p/{p}?token={t}"]
    ),
    page=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
)
def test_redact_never_leaves_a_generated_token(token: str, shape: str, page: str) -> None:
    text = f'127.0.0.1 - - [01/Jan/2025 10:00:00] "POST {shape.format(t=token, p=page)} HTTP/1.1" 303 -'
    assert token not in redact(text)
    assert redact(redact(text)) == redact(text)


def test_every_token_format_of_elicit_tokens_is_redacted() -> None:
    assert tokens.looks_like_token(NEW)
    for token in (tokens.new_token(), secrets.token_urlsafe(24)):
        assert token not in redact(f"/s/{token}/review")
    for token in (tokens.new_token(), tokens.new_token(tokens.API_PREFIX)):
        assert redact(f"reminder for {token} sent") == "reminder for [redacted] sent"
        assert token[:24] not in redact(f"cut short: {token[:24]}")
    assert redact("database elicit_test_0f3a does not exist") == "database elicit_test_0f3a does not exist"


# ------------------------------------------------------------------------------------- loggers and environ
@pytest.fixture
def bare_app(tmp_path: Path) -> Flask:
    """An app whose database is never opened: the filters are installed by ``create_app`` alone."""
    return make_test_app(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path)


LOGGERS = ["werkzeug", "gunicorn.error", "gunicorn.access", "elicit", "elicit.ratelimit", "flask-limiter"]


@contextlib.contextmanager
def captured(name: str) -> Iterator[io.StringIO]:
    logger = logging.getLogger(name)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.mark.parametrize("name", LOGGERS)
def test_every_server_logger_redacts_tokens_once_the_app_exists(bare_app: Flask, name: str) -> None:
    logger = logging.getLogger(name)
    with captured(name) as stream:
        logger.info('"%s" %s %s', f"POST /s/{OLD}/review HTTP/1.1", 303, "-")
        logger.info(
            '%(h)s "%(r)s" %(s)s "%(f)s"',
            {"h": "127.0.0.1", "r": f"GET /s/{NEW}/p/x HTTP/1.1", "s": 200, "f": f"http://x/s/{OLD}/"},
        )
        try:
            raise RuntimeError(f"failed on /s/{OLD}/review with {HASH}")
        except RuntimeError:
            logger.exception("Error handling request %s", f"/s/{OLD}/review")
    written = stream.getvalue()
    assert OLD not in written and NEW not in written and HASH not in written, written
    assert written.count("/s/[redacted]") >= 4, written


def test_a_bare_token_of_the_current_request_is_redacted_from_app_logs(bare_app: Flask) -> None:
    with captured("elicit") as stream, bare_app.test_request_context(f"/s/{OLD}/review"):
        bare_app.logger.error("could not open %s (%s)", OLD, HASH)
    assert OLD not in stream.getvalue() and HASH not in stream.getvalue()
    assert "could not open [redacted]" in stream.getvalue()


def test_the_environ_holds_no_token_once_the_app_has_answered(app: Flask) -> None:
    """A server that logs from the WSGI environ after the response (gunicorn's atoms) sees no token."""
    path = f"/s/{OLD}/p/background"
    environ = EnvironBuilder(
        path=path,
        query_string=f"lang=en&token={OLD}",
        headers={"Referer": f"http://127.0.0.1/s/{OLD}/review"},
    ).get_environ()
    environ["RAW_URI"] = environ["REQUEST_URI"] = f"{path}?lang=en&token={OLD}"
    statuses: list[str] = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(body)
    assert statuses and statuses[0].startswith(("302", "404"))
    for key in ("PATH_INFO", "RAW_URI", "REQUEST_URI", "QUERY_STRING", "HTTP_REFERER"):
        assert OLD not in environ[key], key
    assert environ["PATH_INFO"] == "/s/[redacted]/p/background"


# --------------------------------------------------------------------------------------- real servers
ELICIT = Path(sys.executable).parent / "elicit"


class ElicitServe(Gunicorn):
    """``elicit serve --port PORT`` (werkzeug's threaded server), the documented embedded deployment."""

    def command(self) -> list[str]:
        return [str(ELICIT), "serve", "--host", "127.0.0.1", "--port", str(self.port)]


class DocumentedGunicorn(Gunicorn):
    """The README's gunicorn command, with the access and error logs switched on and written to stdout."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{self.port}", "--timeout", "30",
            "--access-logfile", "-", "--error-logfile", "-", "--log-level", "debug", "elicit:create_app()",
        ]  # fmt: skip


def send_raw(port: int, data: bytes) -> None:
    """Send bytes as they are (a malformed request line the server must refuse, and log)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        with contextlib.suppress(OSError):
            sock.recv(65536)


def attack(server: Gunicorn, study_tokens: list[str]) -> None:
    """What an expert's browser sends (a whole questionnaire), plus what makes servers print raw request lines."""
    token, other = study_tokens
    outcome = Respondent(server.url, token, "UK", load_file(FLAGSHIP), seed=1, deadline=90).run()
    assert outcome.submitted, outcome.failure
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get(f"/s/{other}?lang=ur&token={other}")
        client.get("/static/elicit.css", headers={"Referer": f"{server.url}/s/{other}/p/background"})
        client.get(f"/s/{other[:-1]}")  # a mistyped link: 404
    send_raw(server.port, f"GET //s//{other} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    send_raw(server.port, f"GET /s/{other}/review HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode())
    send_raw(server.port, f"GET /s/{other} HTTP/9\r\n\r\n".encode())


def assert_no_token(log: str, study_tokens: list[str]) -> None:
    for token in study_tokens:
        for secret in (token, token[:12], token_hash(token), token_hash(token)[:16]):
            leaks = [line for line in log.splitlines() if secret in line]
            assert not leaks, f"{len(leaks)} log lines hold a token or its hash, e.g. {leaks[:3]}"
    assert "/s/[redacted]" in log, "the requests were not logged at all:\n" + log[-3000:]


@contextlib.contextmanager
def running(server: Gunicorn) -> Iterator[Gunicorn]:
    try:
        yield server.start(timeout=SERVER_TIMEOUT)
    finally:
        server.stop()


@pytest.fixture
def sqlite_study(tmp_path: Path) -> Any:
    return prepare_flagship(f"sqlite:///{tmp_path / 'elicit.db'}", per_cohort=1, slug="dd-logs")


def test_elicit_serve_logs_no_token(tmp_path: Path, sqlite_study: Any) -> None:
    server = ElicitServe(sqlite_study.database_url, tmp_path, workers=0, name="serve")
    with running(server):
        attack(server, [t for _, t in sqlite_study.pairs()])
    assert_no_token(server.log_text(), [t for _, t in sqlite_study.pairs()])


def test_documented_gunicorn_command_logs_no_token(tmp_path: Path, sqlite_study: Any) -> None:
    server = DocumentedGunicorn(sqlite_study.database_url, tmp_path, workers=1, name="gunicorn")
    with running(server):
        attack(server, [t for _, t in sqlite_study.pairs()])
    log = server.log_text()
    assert_no_token(log, [t for _, t in sqlite_study.pairs()])
    # The last page's post submits the response (the scripted expert does not stop at the review page).
    assert '"POST /s/[redacted]/p/reasoning HTTP/1.1" 303' in log, "no access log:\n" + log[-3000:]
