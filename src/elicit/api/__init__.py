"""The JSON API under ``/api/v1/``: study status and exports, for per-user bearer tokens.

Thin views over ``elicit.api.tokens`` (who may see what), ``elicit.api.status`` and ``elicit.exporting``. Every
error is JSON, ``{"error": "..."}``, never an HTML page; the document at ``/api/v1/openapi.json`` describes it all.
The blueprint is exempt from CSRF: it is not used from a browser session, and a bearer token is not sent by a
browser on its own.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_file
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from elicit.api.openapi import OPENAPI
from elicit.api.status import study_status, study_summary
from elicit.api.tokens import AuthError, authenticate, can_see, visible_studies
from elicit.db import db
from elicit.models import Role, Study, User
from elicit.responding.unlinking import confirm_finished
from elicit.studio.access import MANAGE, may

bp = Blueprint("api", __name__, url_prefix="/api/v1")

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


class ApiError(Exception):
    """A request the API refuses, with its status and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> tuple[Response, int]:
    response = jsonify({"error": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="elicit"'
    return response, status


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    return _error(exc.status, exc.message)


@bp.errorhandler(AuthError)
def _auth_error(exc: AuthError) -> tuple[Response, int]:
    return _error(exc.status, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    messages = {404: "not found", 405: "method not allowed"}
    return _error(status, messages.get(status, exc.description or exc.name))


@bp.errorhandler(OperationalError)
@bp.errorhandler(PoolTimeout)
def _database_down(exc: Exception) -> tuple[Response, int]:
    current_app.logger.error("API: database unavailable: %s", exc)
    return _error(503, "the database is unavailable at the moment; try again in a minute")


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[Response, int]:
    current_app.logger.exception("API error")
    return _error(500, "internal error; it has been logged")


def _user() -> User:
    return authenticate(db.session, request.headers.get("Authorization"))


def _study(slug: str, user: User) -> Study:
    """The study ``user`` may see; a study they are not a member of answers exactly as a missing one (404), as
    the studio does, so its existence is not revealed."""
    study = db.session.scalar(select(Study).where(Study.slug == slug))
    if study is None or not can_see(db.session, user, study):
        raise ApiError(404, f"no study named {slug!r}")
    confirm_finished(db.session, current_app.config["SECRET_KEY"], study)
    return study


def _flag(name: str) -> bool:
    value = request.args.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ApiError(400, f"{name} must be true or false (not {value!r})")


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(OPENAPI)


@bp.get("/studies")
def studies() -> Response:
    user = _user()
    return jsonify({"studies": [study_summary(s) for s in visible_studies(db.session, user)]})


@bp.get("/studies/<slug>")
def study(slug: str) -> Response:
    user = _user()
    return jsonify(study_status(db.session, _study(slug, user)))


@bp.get("/studies/<slug>/export")
def export(slug: str) -> Response:
    from elicit.exporting import FORMATS, ExportError, check_options, export_zip

    user = _user()
    target = _study(slug, user)
    if not may(user, target, MANAGE):
        # The studio's rule (its export view needs MANAGE): viewers read a study's progress, never its data.
        raise ApiError(403, "exports are for the study's researchers and admins; viewers cannot export")
    fmt = request.args.get("format", "csv").strip().lower()
    if fmt not in FORMATS:
        raise ApiError(400, f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    k_text = request.args.get("k", "").strip()
    k: int | None = None
    if k_text:
        if not k_text.isdigit():
            raise ApiError(400, f"k must be a whole number (not {k_text!r})")
        k = int(k_text)
    suppress = _flag("suppress")
    identified = _flag("identified")
    if identified and user.role != Role.ADMIN:
        raise ApiError(403, "identified exports are for administrators only")
    try:
        check_options(fmt, k=k, identified=identified, suppress=suppress)
    except ExportError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        check_options(fmt, k=k, floor=target.k_threshold)
    except ExportError as exc:
        # A well-formed k that this study's own k forbids conflicts with the study, not with the document.
        raise ApiError(409, str(exc)) from None
    # The export reads through its own snapshot; committing here (the token's last use) means a long export
    # does not keep SQLite's write lock, which the request's session took at its first query.
    db.session.commit()
    try:
        archive = export_zip(
            db.session, target, fmt, actor=user.email, identified=identified, k=k, suppress=suppress
        )
    except ExportError as exc:
        raise ApiError(400, str(exc)) from None
    handle = archive.open("rb")
    archive.unlink()  # the open handle keeps the data until the response is sent
    return send_file(
        handle,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{target.slug}-{fmt}{'-identified' if identified else ''}.zip",
        max_age=0,
    )


@bp.route("/", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str = "") -> Any:
    """Anything else under /api/v1/: a JSON 404, or 405 when the path exists for another method."""
    adapter = current_app.url_map.bind("")
    try:
        endpoint, _ = adapter.match(request.path, method="GET")
    except (NotFound, MethodNotAllowed):
        endpoint = None
    if endpoint and endpoint != "api.unknown" and request.method != "GET":
        raise ApiError(405, f"{request.method} is not allowed here; use GET")
    raise ApiError(404, f"no API endpoint at {request.path}; see /api/v1/openapi.json")


def init_app(app: Flask) -> None:
    """Register the blueprint (the app factory calls this) and exempt it from CSRF."""
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
