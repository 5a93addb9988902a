"""The study dashboard: counts by cohort, completion, submissions per day (SVG), median time, drop-off, k rule."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from elicit.models import Response
from elicit.studio.dashboard import Suppressor, day_series, median_of, nice_ceiling
from tests.conftest import FLAGSHIP
from tests.studio.conftest import SLUG, People, answer, issue, login


def cells(html: str, cohort: str) -> list[str]:
    row = re.search(rf'<tr data-cohort="{cohort}">(.*?)</tr>', html, re.S)
    assert row, f"no row for cohort {cohort}"
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


@contextmanager
def no_response_rows_loaded() -> Iterator[None]:
    loaded: list[object] = []

    def on_load(target: object, _context: object) -> None:
        loaded.append(target)

    event.listen(Response, "load", on_load)
    try:
        yield
    finally:
        event.remove(Response, "load", on_load)
    assert not loaded, f"the dashboard loaded {len(loaded)} response rows into Python"


def test_anonymous_study_hides_small_counts(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    uk = issue(app, SLUG, "UK", 9)
    issue(app, SLUG, "PK", 2)
    answer(app, uk[0])  # submitted
    answer(app, uk[1], pages=2)  # stopped after two pages
    answer(app, uk[2], pages=0)  # opened, nothing saved
    login(client, "viewer@example.org")
    with no_response_rows_loaded():
        html = client.get(f"/studio/studies/{SLUG}").get_data(as_text=True)
    # invited, opened, in progress, submitted, declined, completion
    assert cells(html, "UK") == ["9", "&lt; 5", "&lt; 5", "&lt; 5", "0", "—"]
    assert cells(html, "PK") == ["&lt; 5", "0", "0", "0", "0", "—"]
    assert cells(html, "all")[0] == "11"
    assert "Completion time" in html and '<p class="big-number">—</p>' in html
    # drop-off: by the last page saved
    assert re.search(r"\(none saved yet\)</th><td class=\"numeric\">&lt; 5</td>", html)
    assert re.search(r"\(background\)</span></th><td class=\"numeric\">&lt; 5</td>", html)
    # the chart is an SVG with a text alternative, and the small day is an outlined box
    assert '<svg viewBox="0 0' in html and 'role="img"' in html and '<title id="chart-title">' in html
    assert 'class="bar suppressed"' in html and "style=" not in html.split("<svg")[1].split("</svg>")[0]
    assert "The same as a table" in html


def test_exact_counts_once_k_is_reached(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    tokens = issue(app, SLUG, "PK", 6)
    for i, token in enumerate(tokens[:5]):
        answer(app, token, seed=i)
    login(client, "researcher@example.org")
    html = client.get(f"/studio/studies/{SLUG}").get_data(as_text=True)
    assert cells(html, "PK") == ["6", "5", "0", "5", "0", "83%"]
    assert re.search(r'<p class="big-number">\d+ min</p>', html)
    assert 'class="bar"' in html


def test_pseudonymous_studies_show_exact_counts(app: Flask, client: FlaskClient, people: People) -> None:
    from elicit.db import db
    from elicit.instruments.loading import load_text
    from elicit.instruments.versions import publish_version
    from elicit.models import StudyMember
    from elicit.studies import create_study

    text = FLAGSHIP.read_text(encoding="utf-8").replace("anonymity: anonymous", "anonymity: pseudonymous", 1)
    with app.app_context():
        version, _ = publish_version(db.session, load_text(text, "p.yaml"), "test")
        study = create_study(db.session, "delphi", version, [("UK", "United Kingdom")])
        db.session.add(StudyMember(study_id=study.id, user_id=people.viewer))
        db.session.commit()
    tokens = issue(app, "delphi", "UK", 3)
    answer(app, tokens[0])
    login(client, "viewer@example.org")
    html = client.get("/studio/studies/delphi").get_data(as_text=True)
    assert "Anonymity: pseudonymous" in html
    assert cells(html, "UK") == ["3", "1", "0", "1", "0", "33%"]
    invitations = client.get("/studio/studies/delphi/invitations").get_data(as_text=True)
    assert re.search(r"<code>P[0-9A-F]{10}</code>", invitations)  # pseudonyms, never roster ids


def test_median_and_axis_helpers() -> None:
    assert median_of([]) is None
    assert median_of([(10, 1)]) == 10
    assert median_of([(10, 1), (20, 1)]) == 15
    assert median_of([(5, 3), (50, 1), (None, 4)]) == 5
    assert median_of([(1, 2), (3, 2)]) == 2
    assert [nice_ceiling(v) for v in (1, 3, 7, 12, 45, 101)] == [1, 5, 10, 20, 50, 200]
    rule = Suppressor(anonymous=True, k=5)
    assert [rule.count(n).text for n in (0, 1, 4, 5)] == ["0", "< 5", "< 5", "5"]
    assert Suppressor(anonymous=False, k=5).count(1).text == "1"
    from datetime import date

    days = day_series({date(2026, 1, 1): 2, date(2026, 1, 4): 7}, rule, open_until_today=False)
    assert [d.count.text for d in days] == ["< 5", "0", "0", "7"]
