"""Keep invitation tokens out of every log: the request line, the Referer, the app's own messages.

An expert's link is ``/s/<token>`` and the invitation stores the token's SHA-256, so a log line holding either, with
its timestamp, says which roster entry answered when. ``create_app`` calls :func:`install`, so the safeguard needs no
configuration and holds for the documented servers as they are started:

- ``elicit serve`` / ``flask run`` (werkzeug) log the request line through the ``werkzeug`` logger;
- gunicorn logs through ``gunicorn.access`` (atoms from the WSGI environ and the request's headers) and
  ``gunicorn.error`` (``req.uri`` when a request fails, the raw request line when it cannot be parsed, the path at
  debug level); the app is loaded in each worker, so the filters are in place before the first request;
- the app logs through ``elicit`` (Flask's ``app.logger``), its children and ``flask-limiter``; a child logger made
  after the app still reaches Flask's default handler, which carries the filter too.

A filter on each of these loggers rewrites the finished message and traceback with :func:`redact`. For loggers we do
not know of (a custom gunicorn ``logger_class``, statsd, another WSGI server), the environ is redacted as soon as the
app has answered, so anything that logs from it afterwards sees ``/s/[redacted]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, has_request_context, request
from flask.logging import default_handler

from elicit.tokens import PREFIXES, token_hash

REDACTED = "[redacted]"
SERVER_LOGGERS = ("werkzeug", "gunicorn.error", "gunicorn.access", "flask-limiter")
ENVIRON_KEYS = ("PATH_INFO", "RAW_URI", "REQUEST_URI", "QUERY_STRING", "HTTP_REFERER")
MIN_LITERAL = 16  # the shortest run taken for (part of) a token: a request's own, or one after a known prefix

_SLASH = r"(?:/|%2f)"
# The segment after /s/ (also %2F-encoded, with doubled slashes, in any case, under a mount prefix): up to the next
# slash, query, fragment, whitespace, quote or angle bracket. Whatever the token's format, the segment goes.
_EXPERT_SEGMENT = re.compile(rf"({_SLASH}s{_SLASH}+)[^/?#\s'\"<>]+", re.IGNORECASE)
# ``token=...``-style query values (token, access_token, link_token, ...), in a URL or a bare QUERY_STRING.
# Query parameters that carry a secret: any name with "token" in it, and OpenID Connect's authorization code,
# state and PKCE verifier (bearer secrets while the sign-in lasts).
_TOKEN_PARAMETER = re.compile(
    r"(?<![^?&;\s])([\w.-]*token[\w.-]*=|(?:code|state|session_state|code_verifier)=)[^&;#\s'\"<>]*",
    re.IGNORECASE,
)
# Tokens of the prefixed formats (invitation links, API tokens) anywhere, also cut short; a shorter run after the
# prefix is left alone, so names such as a database called elicit_test stay readable.
_PREFIXED_TOKEN = re.compile(
    "(?<![0-9A-Za-z])(?:" + "|".join(map(re.escape, PREFIXES)) + f")[0-9A-Za-z]{{{MIN_LITERAL},}}"
)
# A SHA-256 in hex is how a token is stored: the join key an attacker would look for.
_HEX_DIGEST = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
# SQLAlchemy puts a statement's bound values in its errors; for the expert pages they are token hashes.
_SQL_PARAMETERS = re.compile(r"^\[parameters: .*$", re.MULTILINE)


def redact(text: str) -> str:
    """``text`` with every invitation token (and token hash) replaced by ``[redacted]``.

    Covers the expert paths (``/s/<token>``, ``/s/<token>/p/<page>``, ``/s/<token>/review``, ...) in request
    lines, URIs and Referer URLs, ``token=`` query values, tokens of the prefixed formats anywhere, hex SHA-256
    digests and SQL parameter lists. Idempotent; text without any of these comes back unchanged.
    """
    text = _EXPERT_SEGMENT.sub(rf"\g<1>{REDACTED}", text)
    text = _TOKEN_PARAMETER.sub(rf"\g<1>{REDACTED}", text)
    text = _PREFIXED_TOKEN.sub(REDACTED, text)
    text = _HEX_DIGEST.sub(REDACTED, text)
    return _SQL_PARAMETERS.sub(f"[parameters: {REDACTED}]", text)


def _request_secrets() -> list[str]:
    """The current request's token and its hash, so they are redacted even where no URL surrounds them."""
    if not has_request_context():
        return []
    token = (request.view_args or {}).get("token")
    if not isinstance(token, str) or len(token) < MIN_LITERAL:
        return []
    return [token, token_hash(token)]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return redact(text)


class RedactingFilter(logging.Filter):
    """Rewrite a record's message, traceback and stack with :func:`redact` before any handler formats it.

    The message is formatted here (``args`` emptied) and the traceback rendered to ``exc_text`` with ``exc_info``
    dropped, so no formatter downstream can render the unredacted originals again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _request_secrets()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not let its arguments through unredacted
            message = f"{record.msg!s} (arguments could not be formatted)"
        record.msg, record.args = _scrub(message, secrets), ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = _scrub(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = _scrub(record.stack_info, secrets)
        return True


FILTER = RedactingFilter()  # one instance, so installing twice (many apps in one process) adds it once


class RedactedEnviron:
    """WSGI middleware: once the app has answered, the environ's URI fields and Referer hold no token.

    gunicorn writes its access line after the app has returned, from ``environ`` (``%(r)s``, ``%(U)s``, ``%(q)s``,
    ``%(f)s``); Flask has built the whole response and closed the request context by then, so nothing needs the
    original values any more.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        finally:
            for key in ENVIRON_KEYS:
                value = environ.get(key)
                if isinstance(value, str):
                    environ[key] = redact(value)


def install(app: Flask) -> None:
    """Put the redacting filter on the servers' and the app's loggers and the middleware around ``app``."""
    names = [*SERVER_LOGGERS, app.logger.name]
    names += [
        name for name in list(logging.root.manager.loggerDict) if name.startswith(app.logger.name + ".")
    ]
    for name in names:
        logging.getLogger(name).addFilter(FILTER)
    default_handler.addFilter(FILTER)  # Flask's stderr handler, which the app's child loggers propagate to
    app.wsgi_app = RedactedEnviron(app.wsgi_app)  # type: ignore[method-assign]
