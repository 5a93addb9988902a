"""The application factory: settings, extensions, blueprints, the secret-key check and the error pages.

``elicit.create_app`` calls :func:`create_app` here; ``elicit`` itself stays light, so ``elicit.analysis`` can
be imported without Flask or SQLAlchemy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, request
from flask_babel import gettext
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from elicit import config as config_module
from elicit.db import db
from elicit.i18n import N_

log = logging.getLogger("elicit")

MAX_CONTENT_LENGTH = 2 * 1024 * 1024  # uploads (instrument files, rosters) and forms alike

ERROR_TITLES = {
    400: N_("The request could not be understood"),
    403: N_("You are not allowed to do that"),
    404: N_("Not found"),
    405: N_("That action is not allowed here"),
    409: N_("That cannot be done now"),
    410: N_("This link is no longer valid"),
    413: N_("What you sent is too large"),
    422: N_("Please check what you entered"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
    503: N_("Temporarily unavailable"),
}
DATABASE_DOWN = N_(
    "The service cannot reach its database at the moment. Nothing you saved is lost; please try again in a minute."
)


MISCONFIGURED = N_(
    "The service is not set up correctly at the moment; its administrators have been told. Nothing you saved is "
    "lost; please try again later."
)


HOME_TEXT = {  # the page at "/": what this server is and where to go, and nothing about any study
    "title": N_("Elicit: an expert survey platform"),
    "about": N_("This server runs Elicit, a platform for surveys of experts."),
    "experts": N_(
        "Invited to answer a survey? Open the personal link in your invitation; it takes you straight to your "
        "questionnaire. There is nothing to choose here."
    ),
    "researchers": N_("Researchers running a study sign in to the studio."),
    "studio": N_("Go to the studio"),
}


class _CompiledTemplates(BytecodeCache):
    """Compiled templates shared by every app this process makes (Jinja's bytecode cache, kept in memory).

    An app compiles each template on first use, about 25 ms a page; the test suite makes an app per test, so
    without this it compiled the same templates thousands of times. Jinja checks each entry against a checksum
    of the template's source, so an edited template is compiled afresh."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _CompiledTemplates()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. With no ``config`` the settings come from environment variables (see config.py)."""
    # Named "elicit", not after this module: the name is the logger's (``app.logger``) and the root path's.
    app = Flask("elicit", instance_path=str(Path.cwd() / "instance"))
    app.jinja_options = {**app.jinja_options, "bytecode_cache": _TEMPLATES}
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        MAX_FORM_PARTS=2000,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        WTF_CSRF_TIME_LIMIT=None,
        # Pages send no Referer (Referrer-Policy: no-referrer keeps link tokens from leaking), so Flask-WTF's
        # HTTPS-only Referer check would refuse every form over HTTPS; the session-bound CSRF token, the
        # SameSite=Lax cookie and frame-ancestors 'none' are the defence.
        WTF_CSRF_SSL_STRICT=False,
        K_ANONYMITY=5,
        BASE_URL="http://127.0.0.1:5000",
    )
    if config is None:
        # Without a key this raises NoSecretKey: the app is not made, rather than made with a new key.
        app.config.update(config_module.from_environment(Path(app.instance_path)))
    else:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        raise config_module.NoSecretKey(
            "no secret key: the configuration given to create_app has no SECRET_KEY"
        )
    _trust_proxies(app, int(app.config.get("PROXY_FIX") or 0))
    db.init_app(app)
    _register(app)
    _error_handlers(app)

    from elicit import ratelimit, weblog

    ratelimit.init_app(app)
    weblog.install(app)  # no invitation token reaches a log, whichever server runs the app

    from elicit import compression

    compression.install(app)  # gzip for clients that accept it (a proxy that compresses finds it done)

    from elicit.cli import register_commands

    register_commands(app)
    return app


def _trust_proxies(app: Flask, hops: int) -> None:
    """Behind ``hops`` reverse proxies (ELICIT_PROXY_FIX), take the client's address from the X-Forwarded-For
    values they appended, and the scheme and host from the X-Forwarded-Proto/-Host of the proxy nearest the app;
    with 0 the headers are ignored, so a client cannot spoof its address (the rate limit counts by it)."""
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=1, x_host=1)  # type: ignore[method-assign]


def _register(app: Flask) -> None:
    from flask_wtf.csrf import CSRFProtect

    from elicit import i18n, security

    security.init_app(app)
    i18n.init_app(app)
    CSRFProtect(app)

    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex[:16]

    key_checked: list[bool] = []  # a cache of a check, not state: every process makes the same check

    @app.before_request
    def _same_secret_key() -> tuple[str, int] | None:
        """Refuse to serve a database made with another secret key (anonymous answers could not be found)."""
        if key_checked:
            return None
        from elicit.keycheck import mismatch

        try:
            with db.engine.connect() as connection:
                problem = mismatch(connection, app.config["SECRET_KEY"])
        except DBAPIError:
            return None  # the database is down or missing: the 503 handlers say so
        if problem is not None:
            log.error("refusing requests: %s", problem)
            return render_template(
                "error.html", status=503, title=gettext(ERROR_TITLES[503]), message=gettext(MISCONFIGURED)
            ), 503
        key_checked.append(True)
        return None

    @app.get("/")
    def home() -> str:
        """Say what this server is; anonymous visitors learn nothing about studies (``?lang=`` picks a language)."""
        from elicit.i18n import SUPPORTED

        if request.args.get("lang") in SUPPORTED:
            g.language = request.args["lang"]
        return render_template("home.html", text={k: gettext(v) for k, v in HOME_TEXT.items()})

    for module_name in ("elicit.survey", "elicit.studio", "elicit.api"):
        try:
            module = __import__(module_name, fromlist=["init_app"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        if hasattr(module, "init_app"):
            module.init_app(app)


def _error_handlers(app: Flask) -> None:
    """Users see a sentence on a page of our layout; developers see a log line with the request id."""

    def render(status: int, title: str, message: str) -> tuple[str, int]:
        try:
            return render_template("error.html", status=status, title=title, message=message), status
        except Exception:  # the error page itself must never fail
            log.exception("error page failed")
            return f"<!doctype html><title>{status}</title><p>{title}</p>", status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[str, int]:
        original = getattr(exc, "original_exception", None)
        if isinstance(original, OperationalError | PoolTimeout):
            # The database went away at the commit, after the view: still the 503 page, not a 500.
            return _database_down(original)
        status = exc.code or 500
        title = ERROR_TITLES.get(status)
        return render(status, gettext(title) if title else exc.name, exc.description or "")

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_down(exc: Exception) -> tuple[str, int]:
        log.error("database unavailable [request %s]: %s", g.get("request_id", "-"), exc)
        return render(503, gettext(ERROR_TITLES[503]), gettext(DATABASE_DOWN))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unexpected error [request %s]", g.get("request_id", "-"))
        message = gettext("The error has been logged (reference %(ref)s). Your saved answers are safe.")
        return render(500, gettext(ERROR_TITLES[500]), message % {"ref": g.get("request_id", "-")})
