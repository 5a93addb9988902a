"""Response headers every page carries: a strict CSP, no sniffing, no referrer (tokens live in URLs), no framing."""

from __future__ import annotations

from flask import Flask, Response, abort, request

FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Headers on every response; malformed form bodies refused before anything (CSRF included) reads them.

    Call before ``CSRFProtect(app)``: before-request hooks run in the order they were registered.
    """

    @app.before_request
    def _refuse_malformed_forms() -> None:
        # A multipart part without a name reaches request.form with the key None, which Flask-WTF's CSRF
        # check cannot handle (a 500): refuse such a body as what it is, a bad request.
        form_body = request.method in {"POST", "PUT", "PATCH", "DELETE"} and request.mimetype in FORM_TYPES
        if form_body and not all(isinstance(key, str) for key in (*request.form, *request.files)):
            abort(400, description="The form could not be read.")

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        headers.setdefault("Cache-Control", "no-store")
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers["Strict-Transport-Security"] = "max-age=31536000"
        return response
