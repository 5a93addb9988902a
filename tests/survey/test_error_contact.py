"""The error pages of an expert's link offer the research team's contact (issue 17: "no error page offers the
research team's contact").

A link the server recognises (revoked, its study closed or not open yet, a page it does not have, an expired
form) belongs to a study, and its page names that study's team, e-mail and other contact details. An unknown
link belongs to no study: its page is the generic one, the same for every unknown token, so it never tells
whether a study exists.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.models import Invitation, InvitationStatus, Study, StudyStatus
from elicit.tokens import new_token, token_hash
from tests.conftest import StudyHandle
from tests.survey.test_expert_flow import begin, csrf_of

TEAM = "UK–Pakistan Defence Diplomacy team"
EMAIL = "dd-team@example.ac.uk"
CONTACT = "Dr Ayesha Khan, NDU Islamabad\n+92 51 000 0000"


def _set_team(app: Flask, slug: str, name: str = TEAM, email: str = EMAIL, contact: str = CONTACT) -> None:
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == slug))
        assert study is not None
        study.team_name, study.team_email, study.team_contact = name, email, contact
        db.session.commit()


def _revoke(app: Flask, token: str) -> None:
    with app.app_context():
        invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))
        assert invitation is not None
        invitation.status = InvitationStatus.REVOKED
        db.session.commit()


def _contact_block(html: str) -> str:
    match = re.search(r'<section class="team-contact".*?</section>', html, re.S)
    assert match, "the page offers no contact"
    return match.group(0)


def test_a_revoked_link_names_the_team_and_how_to_reach_it(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    _set_team(app, study.slug)
    (token,) = study.invite()
    _revoke(app, token)
    page = client.get(f"/s/{token}")
    assert page.status_code == 410 and "no longer valid" in page.text
    block = _contact_block(page.text)
    assert TEAM in block
    assert f'href="mailto:{EMAIL}"' in block and f"<bdi>{EMAIL}</bdi>" in block
    assert "Dr Ayesha Khan, NDU Islamabad" in block and "+92 51 000 0000" in block


@pytest.mark.parametrize("state", ["closed", "not_open", "past"])
def test_a_closed_or_unopened_study_offers_its_contact(
    app: Flask, client: FlaskClient, study: StudyHandle, state: str
) -> None:
    _set_team(app, study.slug)
    (token,) = study.invite()
    with app.app_context():
        row = db.session.scalar(select(Study).where(Study.slug == study.slug))
        assert row is not None
        if state == "closed":
            row.status = StudyStatus.CLOSED
        elif state == "not_open":
            row.opens_on = date.today() + timedelta(days=7)
        else:
            row.closes_on = date.today() - timedelta(days=1)
        db.session.commit()
    page = client.get(f"/s/{token}")
    assert page.status_code == 410
    assert TEAM in _contact_block(page.text)


def test_an_unknown_link_shows_only_the_generic_page(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    """Whatever the token, an unknown link's page is the same bytes, with no team: it says nothing of studies."""
    _set_team(app, study.slug)
    pages = [client.get(f"/s/{token}") for token in (new_token(), new_token(), "A" * 32, "x")]
    assert {page.status_code for page in pages} == {404}
    assert len({page.data for page in pages}) == 1
    assert "team-contact" not in pages[0].text and TEAM not in pages[0].text and EMAIL not in pages[0].text


def test_a_study_without_a_team_shows_no_empty_contact(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite()
    _revoke(app, token)
    page = client.get(f"/s/{token}")
    assert page.status_code == 410 and "team-contact" not in page.text


def test_an_e_mail_alone_is_offered_and_the_team_name_is_escaped(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    _set_team(app, study.slug, name="<script>alert(1)</script>", contact="")
    (token,) = study.invite()
    _revoke(app, token)
    block = _contact_block(client.get(f"/s/{token}").text)
    assert "<script>" not in block and "&lt;script&gt;" in block and EMAIL in block


def test_error_pages_of_an_open_link_offer_the_contact_in_the_expert_s_language(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    """A page the instrument does not have, and an expired form, on a link being answered in Urdu."""
    _set_team(app, study.slug)
    (token,) = study.invite()
    page = begin(client, token, "ur")
    missing = client.post(f"/s/{token}/p/no-such-page", data={"csrf_token": csrf_of(page.text)})
    assert missing.status_code == 404
    block = _contact_block(missing.text)
    assert TEAM in block and "تحقیقی ٹیم" in block  # the heading, in Urdu
    assert '<html lang="ur" dir="rtl">' in missing.text
    with client.session_transaction() as browser:
        browser.clear()  # the session (and its CSRF token) has expired
    expired = client.post(f"/s/{token}/p/no-such-page", data={"csrf_token": "stale"})
    assert expired.status_code == 400 and TEAM in _contact_block(expired.text)


def test_a_revoked_link_in_an_urdu_browser_offers_the_contact_in_urdu(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    _set_team(app, study.slug)
    (token,) = study.invite()
    _revoke(app, token)
    page = client.get(f"/s/{token}", headers={"Accept-Language": "ur-PK,ur;q=0.9"})
    assert page.status_code == 410 and 'dir="rtl"' in page.text
    block = _contact_block(page.text)
    assert (
        "تحقیقی ٹیم" in block and f"<bdi>{EMAIL}</bdi>" in block and f'<bdi dir="auto">{TEAM}</bdi>' in block
    )


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_contact_fits_a_phone_and_a_desktop_in_both_languages(
    app: Flask, study: StudyHandle, browser: object, live_server: str, axe_source: str, javascript: bool
) -> None:
    from tests.conftest import ARTIFACTS, axe_violations
    from tests.survey.test_new_item_types import assert_fits

    _set_team(app, study.slug)
    (token,) = study.invite()
    _revoke(app, token)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for language, locale in (("en", "en-GB"), ("ur", "ur-PK")):
        for width in (360, 1280):
            context = browser.new_context(  # type: ignore[attr-defined]
                java_script_enabled=javascript,
                viewport={"width": width, "height": 800},
                locale=locale,
                bypass_csp=True,
            )
            tab = context.new_page()
            response = tab.goto(f"{live_server}/s/{token}")
            assert response is not None and response.status == 410
            assert tab.locator("html").get_attribute("lang") == language
            contact = tab.locator(".team-contact")
            assert contact.get_by_role("link", name=EMAIL).get_attribute("href") == f"mailto:{EMAIL}"
            box = contact.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert_fits(tab)
            if javascript:
                assert not axe_violations(tab, axe_source)
            tab.screenshot(
                path=str(ARTIFACTS / f"link-error-contact-{language}-{width}-{js}.png"), full_page=True
            )
            context.close()
