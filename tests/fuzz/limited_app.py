"""A gunicorn entry point for the multi-worker rate-limit test: the app with the limiter bound, and a header
naming the worker that answered (so the test can show that requests reached more than one worker)."""

from __future__ import annotations

import os

from flask import Flask, Response

from elicit import create_app, ratelimit


def create_limited_app() -> Flask:
    app = create_app()
    if ratelimit.EXTENSION not in app.extensions:  # create_app does not wire the limiter (yet)
        ratelimit.init_app(app)

    @app.after_request
    def _worker(response: Response) -> Response:
        response.headers["X-Worker"] = str(os.getpid())
        return response

    return app
