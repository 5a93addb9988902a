"""The floor for ``bench_respondents``: the least a paged questionnaire server can do per request.

A bare Flask app, served exactly as Elicit is in the same run (same server, workers and database): GET renders a
Jinja page with one form of the same size as Elicit's average questionnaire page; POST inserts one row and
commits it, then redirects (303) to the next page. No sessions, no CSRF, no validation, no skip logic: whatever
Elicit spends beyond this is the price of those.

Settings from the environment: ``DATABASE_URL`` (the engine is made by ``elicit.db.make_engine``, so the SQLite
pragmas and the PostgreSQL pool are Elicit's), ``FLOOR_PAGE_BYTES`` (page size to match), ``FLOOR_PAGES``.
"""

from __future__ import annotations

import os

from flask import Flask, Response, redirect
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

from elicit.db import make_engine

metadata = MetaData()
floor_answers = Table(
    "bench_floor_answers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(64), nullable=False),
    Column("page", Integer, nullable=False),
    Column("body", Text, nullable=False),
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Page {{ n }}</title></head>
<body><main><h1>Page {{ n }} of {{ pages }}</h1>
<form method="post" action="/f/{{ token }}/p/{{ n }}">
{% for item in items %}<fieldset><legend>{{ item.text }}</legend>
{% for code, label in item.choices %}<label><input type="radio" name="{{ item.id }}" value="{{ code }}"> {{ label }}</label>
{% endfor %}</fieldset>
{% endfor %}<button type="submit" name="nav" value="next">Next</button>
</form></main></body></html>
"""
DONE = '<!doctype html><title>Done</title><p role="status">Thank you.</p>'
ITEM_BYTES = 560  # roughly what one rendered item of PAGE takes


def create_app() -> Flask:
    """The floor app; tables are created by the benchmark before the server starts (not per worker)."""
    app = Flask(__name__)
    engine = make_engine(os.environ["DATABASE_URL"])
    pages = int(os.environ.get("FLOOR_PAGES", "11"))
    page_bytes = int(os.environ.get("FLOOR_PAGE_BYTES", "20000"))
    choices = [(str(i), f"Choice number {i} of this statement") for i in range(1, 6)]
    items = [
        {
            "id": f"q{i}",
            "text": f"Statement {i}: how much leverage does this activity give a state?",
            "choices": choices,
        }
        for i in range(max(1, page_bytes // ITEM_BYTES))
    ]
    template = app.jinja_env.from_string(PAGE)

    @app.get("/f/<token>/p/<int:n>")
    def page(token: str, n: int) -> str:
        return template.render(token=token, n=n, pages=pages, items=items)

    @app.post("/f/<token>/p/<int:n>")
    def save(token: str, n: int) -> Response:
        from flask import request

        with engine.begin() as conn:
            conn.execute(
                insert(floor_answers).values(token=token, page=n, body=request.get_data(as_text=True))
            )
        target = f"/f/{token}/p/{n + 1}" if n + 1 < pages else f"/f/{token}/done"
        return redirect(target, code=303)

    @app.get("/f/<token>/done")
    def done(token: str) -> str:
        return DONE

    return app
