"""The study dashboard: counts by cohort for the current round, completion, submissions per day (SVG), median
time, drop-off; small groups hidden in anonymous studies so that no published total gives them back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from elicit.models import Response
from elicit.studio.dashboard import Day, hidden, median_of, nice_ceiling, shown, window
from tests.conftest import FLAGSHIP
from tests.studio.conftest import SLUG, People, answer, issue, login

COLUMNS = ("invited", "finished_or_opened", "in_progress", "submitted", "declined")


def cells(html: str, cohort: str) -> list[str]:
    row = re.search(rf'<tr data-cohort="{cohort}">(.*?)</tr>', html, re.S)
    assert row, f"no row for cohort {cohort}"
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def subtract(total: int | None, parts: list[int | None]) -> int | None:
    """What a reader gets from a shown total and all but one shown part: the hidden part."""
    if total is None or sum(p is None for p in parts) != 1:
        return None
    return total - sum(p for p in parts if p is not None)


def recovered(html: str, cohorts: list[str]) -> dict[str, int]:
    """Every hidden count the page gives back by subtraction: each column against "all cohorts", the drop-off
    table against "in progress", the daily table against "submitted"."""
    rows = {c: [number(v) for v in cells(html, c)[:5]] for c in cohorts}
    total = [number(v) for v in cells(html, "all")[:5]]
    found = {}
    for i, name in enumerate(COLUMNS):
        value = subtract(total[i], [rows[c][i] for c in cohorts])
        if value is not None:
            found[name] = value
    drop_off = re.search(r"Where unfinished responses stopped.*?<tbody>(.*?)</tbody>", html, re.S)
    assert drop_off
    stops = [number(v) for v in re.findall(r'<td class="numeric">([^<]*)</td>', drop_off.group(1))]
    if (value := subtract(total[2], stops)) is not None:
        found["a drop-off row"] = value
    days = re.search(r"The same as a table.*?<tbody>(.*?)</tbody>", html, re.S)
    per_day = (
        [number(v) for v in re.findall(r'<td class="numeric">([^<]*)</td>', days.group(1))] if days else []
    )
    if (value := subtract(total[3], per_day)) is not None:
        found["a day"] = value
    return found


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


def test_a_hidden_cohort_cannot_be_computed_from_the_totals(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    """Issue 12, item 5: "< 5" for PK next to UK's count and the total gave PK back by subtraction."""
    uk = issue(app, SLUG, "UK", 9)
    pk = issue(app, SLUG, "PK", 2)
    for i, token in enumerate(uk[:6] + pk):
        answer(app, token, seed=i)
    answer(app, uk[6], pages=2)  # stopped after two pages
    login(client, "viewer@example.org")
    with no_response_rows_loaded():
        html = client.get(f"/studio/studies/{SLUG}").get_data(as_text=True)
    assert recovered(html, ["UK", "PK"]) == {}
    # invited, confirmed finished (UK's six in one group; PK's two wait for k), in progress, submitted, declined
    assert cells(html, "UK") == ["9", "6", "hidden", "hidden", "0", "—"]
    assert cells(html, "PK") == ["2", "0", "0", "hidden", "0", "—"]
    assert cells(html, "all") == ["11", "6", "hidden", "8", "0", "73%"]
    assert "Confirmed finished: 6" in html and "groups of at least 5" in html
    assert "over the 8 response(s) submitted in this round" in html
    # the studies list shows the same figures as the study page
    home = client.get("/studio/").get_data(as_text=True)
    assert re.search(r'<td class="numeric">11</td>\s*<td class="numeric">8</td>', home)


def test_small_counts_everywhere_hide_their_totals_too(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    uk = issue(app, SLUG, "UK", 9)
    issue(app, SLUG, "PK", 2)
    answer(app, uk[0])  # submitted
    answer(app, uk[1], pages=2)  # stopped after two pages
    answer(app, uk[2], pages=0)  # opened, nothing saved
    login(client, "viewer@example.org")
    html = client.get(f"/studio/studies/{SLUG}").get_data(as_text=True)
    assert recovered(html, ["UK", "PK"]) == {}
    assert cells(html, "UK") == ["9", "0", "hidden", "hidden", "0", "—"]
    assert cells(html, "PK") == ["2", "0", "0", "0", "0", "0%"]
    assert cells(html, "all") == ["11", "0", "hidden", "hidden", "0", "—"]
    assert "Completion time" in html and '<p class="big-number">—</p>' in html
    assert re.search(r"\(none saved yet\)</th><td class=\"numeric\">hidden</td>", html)
    assert re.search(r"\(background\)</span></th><td class=\"numeric\">hidden</td>", html)
    assert 'numeric">&lt; 5' not in html  # every hidden count looks the same
    # the chart is an SVG with a text alternative, and the hidden day is an outlined box
    assert '<svg viewBox="0 0' in html and 'role="img"' in html and '<title id="chart-title">' in html
    assert 'class="bar suppressed"' in html and "style=" not in html.split("<svg")[1].split("</svg>")[0]
    assert "The same as a table" in html and "count hidden" in html
    home = client.get("/studio/").get_data(as_text=True)
    assert re.search(r'<td class="numeric">11</td>\s*<td class="numeric">hidden</td>', home)


def test_exact_counts_once_k_is_reached(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    tokens = issue(app, SLUG, "PK", 6)
    for i, token in enumerate(tokens[:5]):
        answer(app, token, seed=i)
    login(client, "researcher@example.org")
    html = client.get(f"/studio/studies/{SLUG}").get_data(as_text=True)
    assert cells(html, "PK") == ["6", "5", "0", "5", "0", "83%"]
    assert 'class="bar"' in html


def _pseudonymous_study(app: Flask, people: People, slug: str = "delphi") -> None:
    from elicit.db import db
    from elicit.instruments.loading import load_text
    from elicit.instruments.versions import publish_version
    from elicit.models import StudyMember
    from elicit.studies import create_study

    text = FLAGSHIP.read_text(encoding="utf-8").replace("anonymity: anonymous", "anonymity: pseudonymous", 1)
    with app.app_context():
        version, _ = publish_version(db.session, load_text(text, "p.yaml"), "test")
        study = create_study(db.session, slug, version, [("UK", "United Kingdom")])
        db.session.add(StudyMember(study_id=study.id, user_id=people.viewer))
        db.session.commit()


def test_pseudonymous_studies_show_exact_counts(app: Flask, client: FlaskClient, people: People) -> None:
    _pseudonymous_study(app, people)
    tokens = issue(app, "delphi", "UK", 3)
    answer(app, tokens[0])
    login(client, "viewer@example.org")
    html = client.get("/studio/studies/delphi").get_data(as_text=True)
    assert "Anonymity: pseudonymous" in html
    assert cells(html, "UK") == ["3", "1", "0", "1", "0", "33%"]
    invitations = client.get("/studio/studies/delphi/invitations").get_data(as_text=True)
    assert re.search(r"<code>P[0-9A-F]{10}</code>", invitations)  # pseudonyms, never roster ids


def test_every_count_is_for_the_current_round_and_they_agree(
    app: Flask, client: FlaskClient, people: People
) -> None:
    """Issue 13: after two Delphi rounds the home said "Submitted 0", the completion time counted every round's
    submissions next to a table of one round, and "In progress 0" stood beside unfinished responses."""
    from elicit.db import db
    from elicit.rounds import close_round, open_round
    from elicit.studies import find_study

    _pseudonymous_study(app, people)
    tokens = issue(app, "delphi", "UK", 6)
    for i, token in enumerate(tokens[:4]):
        answer(app, token, seed=i)
    answer(app, tokens[4], pages=1)  # never finished round 1
    with app.app_context():
        study = find_study(db.session, "delphi")
        close_round(db.session, study)
        open_round(db.session, study)
        db.session.commit()
    answer(app, tokens[0], seed=10)
    answer(app, tokens[1], pages=2)
    login(client, "viewer@example.org")
    html = client.get("/studio/studies/delphi").get_data(as_text=True)
    assert "round 2 of 2 (open)" in html
    invited, opened, in_progress, submitted, declined, rate = cells(html, "UK")
    assert (invited, opened, in_progress, submitted, declined, rate) == ("6", "2", "1", "1", "0", "17%")
    assert cells(html, "all")[:5] == [invited, opened, in_progress, submitted, declined]
    drop_off = re.search(r"Where unfinished responses stopped.*?<tbody>(.*?)</tbody>", html, re.S)
    assert drop_off
    assert sum(int(v) for v in re.findall(r'<td class="numeric">(\d+)</td>', drop_off.group(1))) == 1
    assert "over the 1 response(s) submitted in this round" in html
    assert "This round's 1 response(s) in progress" in html
    days = re.search(r"The same as a table.*?<tbody>(.*?)</tbody>", html, re.S)
    assert days and sum(int(v) for v in re.findall(r'<td class="numeric">(\d+)</td>', days.group(1))) == 1
    home = client.get("/studio/").get_data(as_text=True)
    assert "Submitted (current round)" in home
    assert re.search(
        r'<td class="numeric">6</td>\s*<td class="numeric">1 <span class="muted">round 2</span>', home
    )


def test_median_and_axis_helpers() -> None:
    assert median_of([]) is None
    assert median_of([(10, 1)]) == 10
    assert median_of([(10, 1), (20, 1)]) == 15
    assert median_of([(5, 3), (50, 1), (None, 4)]) == 5
    assert median_of([(1, 2), (3, 2)]) == 2
    assert [nice_ceiling(v) for v in (1, 3, 7, 12, 45, 101)] == [1, 5, 10, 20, 50, 200]
    assert shown(0).text == "0" and hidden(3).text == "hidden" and hidden(3).public is None
    days = [Day(date(2026, 1, d), shown(d)) for d in range(1, 31)] + [Day(date(2026, 3, 1), hidden(2))]
    chart_days = window(days, open_until_today=False)
    assert len(chart_days) == 31 and chart_days[-1].count.text == "hidden"
    assert len(window(days * 3, open_until_today=False)) == 60
