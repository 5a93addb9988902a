"""IDEA's discussion step between two rounds, through the CLI, the studio and the expert's link, on both databases.

Round 1 private estimates; the researcher closes it and opens the discussion; the experts who submitted see the
group's results and every expert's range without names (never a group smaller than k, nor whatever gives one
back), read each other's reasons scrubbed and post more; round 2 opens (ending the discussion) and its feedback
carries the posted reasons. The attacks: a panel below k, a post with a telephone number, a post of a
field the page does not have, the order of the rows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from elicit.db import db
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.models import Discussion, DiscussionPost
from elicit.rounds import close_round, open_discussion
from elicit.studies import StudyError, create_study, find_study
from tests.conftest import StudyHandle, axe_violations
from tests.studio.conftest import csrf_from, make_user, sign_in_directly
from tests.survey.test_expert_flow import begin, csrf_of, follow

SLUG = "idea"
PAGE = "estimates"
INSTRUMENT = f"""
id: idea
version: 1.0.0
languages: [en, ur]
anonymity: pseudonymous
title: {{en: "Staff visits", ur: "عملے کے دورے"}}
pages:
  - id: {PAGE}
    title: {{en: "Your estimates", ur: "آپ کے اندازے"}}
    items:
      - id: visits
        type: four_point
        min: 0
        max: 500
        text:
          en: "How many staff visits will take place next year?"
          ur: "اگلے سال عملے کے کتنے دورے ہوں گے؟"
      - id: budget
        type: decimal
        min: 0
        max: 100
        text:
          en: "What share of the budget goes to defence diplomacy?"
          ur: "بجٹ کا کتنا حصہ دفاعی سفارت کاری پر خرچ ہوتا ہے؟"
      - id: remarks
        type: text
        required: false
        text: {{en: "Anything else?", ur: "کچھ اور؟"}}
"""
#: Round-1 four-point answers (low, best, high, confidence) of the UK experts, then the PK ones.
ESTIMATES = [
    (10, 20, 40, 80),
    (5, 30, 60, 70),
    (15, 25, 35, 90),
    (20, 50, 90, 60),
    (0, 10, 30, 80),
    (8, 12, 20, 75),
]


@pytest.fixture
def idea(app: Flask) -> StudyHandle:
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "idea.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def answer(client: FlaskClient, token: str, estimate: tuple[int, int, int, int], budget: str = "2") -> None:
    """Answer the one page and submit."""
    page = begin(client, token)  # the landing page is the one page
    assert f'action="/s/{token}/p/{PAGE}"' in page.text, page.text[:300]
    low, best, high, confidence = estimate
    data = {
        "csrf_token": csrf_of(page.text),
        "nav": "next",
        "visits.low": str(low),
        "visits.best": str(best),
        "visits.high": str(high),
        "visits.confidence": str(confidence),
        "budget": budget,
        "remarks": "",
    }
    review = follow(client, client.post(f"/s/{token}/p/{PAGE}", data=data))
    assert "/review" in review.request.path, review.text[:600]
    done = follow(
        client, client.post(f"/s/{token}/review", data={"csrf_token": csrf_of(review.text), "nav": "submit"})
    )
    assert done.status_code == 200 and "submitted" in done.text


def round_one(app: Flask, idea: StudyHandle, uk: int = 4, pk: int = 2) -> tuple[list[str], list[str]]:
    """``uk`` + ``pk`` experts submit round 1; one more UK expert is invited and never answers (the last token)."""
    uk_tokens, pk_tokens = idea.invite("UK", uk + 1), idea.invite("PK", pk) if pk else []
    for token, estimate in zip([*uk_tokens[:uk], *pk_tokens], ESTIMATES, strict=False):
        answer(app.test_client(), token, estimate)
    return uk_tokens, pk_tokens


def discuss(app: Flask, *items: str) -> None:
    with app.app_context():
        study = find_study(db.session, SLUG)
        close_round(db.session, study)
        open_discussion(db.session, study, items)
        db.session.commit()


def discussion_page(client: FlaskClient, token: str) -> Any:
    page = follow(client, client.get(f"/s/{token}"))
    assert page.status_code == 200 and page.request.path == f"/s/{token}/discussion", page.text[:300]
    return page


def rows_of(html: str) -> list[tuple[float, float]]:
    """The drawn ranges (x of either end), top to bottom, and which one is marked as the expert's own."""
    return [
        (float(a), float(b))
        for a, b in re.findall(r'class="estimate-range[^"]*" x1="([\d.]+)"[^>]*x2="([\d.]+)"', html)
    ]


def test_the_experts_see_the_group_and_everyone_s_estimates_without_names(
    app: Flask, idea: StudyHandle
) -> None:
    uk, pk = round_one(app, idea)
    discuss(app)
    client = app.test_client()
    page = discussion_page(client, uk[0])
    html = page.text
    assert "Discussion of round 1" in html
    assert "How many staff visits will take place next year?" in html
    assert "Your answer:" in html
    # 4 UK + 2 PK with k = 5: PK is hidden, so UK is hidden with it (else all minus UK gives PK); all 6 are shown.
    assert html.count("not shown: fewer than 5 answers") == 2  # "your group" on both items
    assert "All experts (n = 6)" in html
    ranges = rows_of(html)
    assert len(ranges) == 6
    assert html.count('class="estimate-range own"') == 1
    # In order of the best estimate (12, 20, 25, 30, 50 ... the four-points' medians), never in answering order.
    dots = [float(x) for x in re.findall(r'class="estimate-best[^"]*" cx="([\d.]+)"', html)]
    assert dots == sorted(dots)
    assert "discussion-item" in html and html.count('name="visits.reason"') == 1
    assert 'name="budget.reason"' in html and "remarks.reason" not in html  # text items are not discussed
    # Nothing on the page names or numbers an expert.
    with app.app_context():
        from elicit.models import Response

        ids = db.session.scalars(select(Response.id)).all()
    assert ids and not any(rid in html for rid in ids)


def test_below_k_nothing_of_the_group_is_shown(app: Flask, idea: StudyHandle) -> None:
    """The attack: a panel of four (k = 5) must not learn each other's estimates from the discussion page."""
    uk, _ = round_one(app, idea, uk=3, pk=1)
    discuss(app)
    client = app.test_client()
    first = discussion_page(client, uk[0])
    csrf = csrf_of(first.text)
    posted = client.post(
        f"/s/{uk[0]}/discussion", data={"csrf_token": csrf, "visits.reason": "Budgets are flat."}
    )
    assert posted.status_code == 303
    html = discussion_page(app.test_client(), uk[1]).text
    assert "All experts (n =" not in html and "Your group (n =" not in html
    assert rows_of(html) == [] and "Budgets are flat." not in html
    assert "Your answer:" in html  # their own answer is theirs to see


def test_posted_reasons_are_scrubbed_for_others_and_kept_as_written_for_the_author(
    app: Flask, idea: StudyHandle
) -> None:
    uk, pk = round_one(app, idea, uk=4, pk=1)
    discuss(app)
    author = app.test_client()
    page = discussion_page(author, uk[0])
    reason = "As Colonel Khan told me (call +44 20 7946 0958), visits double when budgets grow."
    sent = author.post(
        f"/s/{uk[0]}/discussion",
        data={"csrf_token": csrf_of(page.text), "visits.reason": reason, "budget.reason": ""},
    )
    assert sent.status_code == 303 and "posted=1" in sent.headers["Location"]
    mine = follow(author, sent).text
    assert "Your reason is posted." in mine
    assert "What you posted:" in mine and "+44 20 7946 0958" in mine
    assert "Reasons other experts gave" not in mine  # one's own post is not among the others'
    other = discussion_page(app.test_client(), pk[0]).text
    assert "Reasons other experts gave (1)" in other
    assert "visits double when budgets grow" in other
    assert "+44 20 7946 0958" not in other and "(call [phone])" in other  # scrubbed as Delphi reasons are
    # Reloading the page after the redirect never posts twice.
    follow(author, author.get(f"/s/{uk[0]}/discussion?posted=1"))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DiscussionPost)) == 1


def test_posts_that_cannot_be_taken_are_refused_and_nothing_is_stored(app: Flask, idea: StudyHandle) -> None:
    uk, _ = round_one(app, idea, uk=5, pk=0)
    discuss(app)
    client = app.test_client()
    csrf = csrf_of(discussion_page(client, uk[0]).text)
    empty = client.post(f"/s/{uk[0]}/discussion", data={"csrf_token": csrf, "visits.reason": "  "})
    assert empty.status_code == 422 and "Write a reason in at least one box before posting." in empty.text
    long = client.post(f"/s/{uk[0]}/discussion", data={"csrf_token": csrf, "visits.reason": "x" * 2001})
    assert long.status_code == 422 and "Keep this answer to 2000 characters (it has 2001)." in long.text
    assert "x" * 2001 in long.text  # what was typed stays in its box
    foreign = client.post(f"/s/{uk[0]}/discussion", data={"csrf_token": csrf, "remarks.reason": "hello"})
    assert foreign.status_code == 400
    twice = client.post(f"/s/{uk[0]}/discussion", data={"csrf_token": csrf, "visits.reason": ["a", "b"]})
    assert twice.status_code == 400
    expired = app.test_client()  # another browser: no session, so the CSRF token is refused
    refused = expired.post(
        f"/s/{uk[0]}/discussion", data={"csrf_token": "stale", "visits.reason": "Keep me."}
    )
    assert refused.status_code == 400 and "Keep me." in refused.text and "Post my reasons" in refused.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DiscussionPost)) == 0


def test_only_experts_who_submitted_take_part(app: Flask, idea: StudyHandle) -> None:
    uk, _ = round_one(app, idea, uk=5, pk=0)
    discuss(app)
    client = app.test_client()
    absent = uk[-1]  # invited, never answered
    assert client.get(f"/s/{absent}").status_code == 410
    assert client.get(f"/s/{absent}/discussion").status_code == 410
    assert client.post(f"/s/{absent}/discussion", data={"visits.reason": "x"}).status_code in (400, 410)
    with app.app_context():
        study = find_study(db.session, SLUG)
        discussion = db.session.get(Discussion, study.rounds[0].id)
        assert discussion is not None
        discussion.closed_at = discussion.opened_at
        db.session.commit()
    # Closed: the link is the thank-you page again.
    done = follow(client, client.get(f"/s/{uk[0]}"))
    assert "/discussion" not in done.request.path and "submitted" in done.text


def test_round_two_ends_the_discussion_and_its_feedback_carries_the_posts(
    app: Flask, idea: StudyHandle, runner: FlaskCliRunner
) -> None:
    uk, pk = round_one(app, idea, uk=4, pk=1)
    with app.app_context():
        close_round(db.session, find_study(db.session, SLUG))
        db.session.commit()
    opened = runner.invoke(args=["round", "discuss", SLUG, "--item", "visits"])
    assert opened.exit_code == 0, opened.output
    assert "the discussion of round 1 of idea is open on visits" in opened.output
    client = app.test_client()
    page = discussion_page(client, uk[1])
    assert 'name="visits.reason"' in page.text and 'name="budget.reason"' not in page.text
    client.post(
        f"/s/{uk[1]}/discussion",
        data={"csrf_token": csrf_of(page.text), "visits.reason": "Exercises resume."},
    )
    result = runner.invoke(args=["round", "open", SLUG, "--feedback", "visits"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Discussion, find_study(db.session, SLUG).rounds[0].id).closed_at is not None
    revising = app.test_client()
    round2 = begin(revising, uk[2])
    assert f'action="/s/{uk[2]}/p/{PAGE}"' in round2.text
    assert "Results of round 1" in round2.text and "Exercises resume." in round2.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--item", "nope"], "discussion item 'nope' is not in idea@1.0.0"),
        (["--item", "remarks"], "discussion item 'remarks' is a text item"),
    ],
)
def test_the_cli_refuses_a_discussion_it_cannot_hold(
    app: Flask, idea: StudyHandle, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    still_open = runner.invoke(args=["round", "discuss", SLUG])
    assert still_open.exit_code != 0 and "round 1 of idea is still open" in still_open.output
    with app.app_context():
        close_round(db.session, find_study(db.session, SLUG))
        db.session.commit()
    refused = runner.invoke(args=["round", "discuss", SLUG, *args])
    assert refused.exit_code != 0 and message in refused.output
    assert "Traceback" not in refused.output
    nothing = runner.invoke(args=["round", "discuss", SLUG, "--close"])
    assert nothing.exit_code != 0 and "idea has no open discussion" in nothing.output


def test_an_anonymous_study_cannot_discuss(app: Flask) -> None:
    with app.app_context():
        text = INSTRUMENT.replace("anonymity: pseudonymous", "anonymity: anonymous").replace(
            "id: idea", "id: anon"
        )
        version, _ = publish_version(db.session, load_text(text, "anon.yaml"), "test")
        study = create_study(db.session, "anon", version, [("UK", "United Kingdom")])
        close_round(db.session, study)
        with pytest.raises(StudyError, match="anonymous: a discussion between rounds needs a pseudonymous"):
            open_discussion(db.session, study)


def test_the_researcher_opens_and_closes_the_discussion_in_the_studio(app: Flask, idea: StudyHandle) -> None:
    round_one(app, idea, uk=5, pk=0)
    researcher = app.test_client()
    sign_in_directly(app, researcher, make_user(app, "lead@example.org", "admin"))
    page = researcher.get(f"/studio/studies/{SLUG}/rounds")
    researcher.post(
        f"/studio/studies/{SLUG}/rounds/close", data={"csrf_token": csrf_from(page.text), "confirm": "yes"}
    )
    page = researcher.get(f"/studio/studies/{SLUG}/rounds")
    assert "Open the discussion" in page.text
    opened = researcher.post(
        f"/studio/studies/{SLUG}/discussion/open",
        data={"csrf_token": csrf_from(page.text), "items": ["visits"]},
    )
    assert opened.status_code == 302
    page = researcher.get(f"/studio/studies/{SLUG}/rounds")
    assert "Discussion of round 1" in page.text and "on visits; 0 reason(s) posted" in page.text
    closed = researcher.post(
        f"/studio/studies/{SLUG}/discussion/close",
        data={"csrf_token": csrf_from(page.text), "confirm": "yes"},
    )
    assert closed.status_code == 302
    with app.app_context():
        from elicit.models import AuditEvent

        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "discussion.open" in actions and "discussion.close" in actions


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_a_person_discusses_in_english_and_urdu_on_a_phone_and_a_desktop(
    app: Flask,
    idea: StudyHandle,
    browser: Any,
    live_server: str,
    axe_source: str,
    language: str,
    javascript: bool,
) -> None:
    from tests.conftest import ARTIFACTS
    from tests.survey.test_new_item_types import assert_fits

    uk, pk = round_one(app, idea, uk=4, pk=2)
    discuss(app)
    other = app.test_client()
    page = discussion_page(other, pk[0])
    other.post(
        f"/s/{pk[0]}/discussion",
        data={"csrf_token": csrf_of(page.text), "visits.reason": "Two exercises were cancelled last year."},
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{uk[0]}/discussion?lang={language}")
        assert tab.locator("html").get_attribute("dir") == ("rtl" if language == "ur" else "ltr")
        assert tab.locator("svg.estimates line.estimate-range").count() == 6
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        tab.screenshot(path=str(ARTIFACTS / f"discussion-{language}-{width}-{js}.png"), full_page=True)
        if width == 360:
            tab.locator("details summary").first.click()
            tab.locator('[name="visits.reason"]').fill("Budgets stay flat, so visits will too.")
            tab.locator("button.forward").click()
            tab.wait_for_load_state()
            assert "posted=1" in tab.url
            assert tab.locator(".own-posts li").count() == 1
        context.close()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DiscussionPost)) == 2


def test_the_export_carries_the_posts_without_their_authors(
    app: Flask, idea: StudyHandle, runner: FlaskCliRunner, tmp_path: Any
) -> None:
    import csv

    uk, pk = round_one(app, idea, uk=4, pk=1)
    discuss(app)
    for token, reason in (
        (uk[0], "Zeta: exercises resume (ring 0300 1234567)."),
        (pk[0], "=Alpha budgets grow"),
    ):
        client = app.test_client()
        page = discussion_page(client, token)
        client.post(
            f"/s/{token}/discussion", data={"csrf_token": csrf_of(page.text), "visits.reason": reason}
        )
    result = runner.invoke(args=["export", SLUG, "--format", "csv", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "discussion.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["round", "item", "reason"]
    # Sorted by text, so the order says nothing of who posted first; scrubbed; safe for spreadsheets.
    assert rows[1:] == [
        ["1", "visits", "'=Alpha budgets grow"],
        ["1", "visits", "Zeta: exercises resume (ring [phone])."],
    ]
    manifest = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert '"discussion.csv"' in manifest


def test_a_discussion_below_k_is_not_exported(
    app: Flask, idea: StudyHandle, runner: FlaskCliRunner, tmp_path: Any
) -> None:
    uk, _ = round_one(app, idea, uk=3, pk=0)
    discuss(app)
    client = app.test_client()
    page = discussion_page(client, uk[0])
    client.post(
        f"/s/{uk[0]}/discussion", data={"csrf_token": csrf_of(page.text), "visits.reason": "Flat budgets."}
    )
    result = runner.invoke(args=["export", SLUG, "--format", "csv", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / "discussion.csv").exists()
    assert not any(
        "Flat budgets" in p.read_text(encoding="utf-8", errors="replace")
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    )
