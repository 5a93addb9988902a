"""The landing page is the first questionnaire page in the negotiated language, with a visible switch.

A person in Chromium, with JavaScript on and off, on a phone and a desktop: a browser asking for Urdu (``ur-PK``)
gets the consent page in Urdu, one asking for English gets it in English; the switch shows the other language
without starting anything, and saving the page starts the response in the language it was shown in. Screenshots
(``tests/artifacts/landing-*.png``) are for looking at.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from elicit.db import db
from elicit.models import Response
from tests.conftest import ARTIFACTS, StudyHandle
from tests.survey.test_new_item_types import assert_fits

OTHER = {"en": "ur", "ur": "en"}
CONSENT_TITLE = {"en": "About this survey", "ur": "اس سروے کے بارے میں"}


def _languages(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Response.language)))


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("asked", ["en", "ur"])
def test_the_landing_speaks_the_browser_s_language_and_switches_without_starting(
    browser: Any, live_server: str, app: Flask, study: StudyHandle, asked: str, javascript: bool
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    started: list[str] = []
    for width in (360, 1280):
        (token,) = study.invite("PK")
        context = browser.new_context(
            java_script_enabled=javascript,
            viewport={"width": width, "height": 900},
            locale="ur-PK" if asked == "ur" else "en-GB",  # what Chromium sends as Accept-Language
        )
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{token}")
        assert tab.url.endswith(f"/s/{token}")  # no language page, no redirect: the consent page itself
        assert tab.locator("html").get_attribute("lang") == asked
        assert tab.locator("html").get_attribute("dir") == ("rtl" if asked == "ur" else "ltr")
        assert tab.locator("h1").first.inner_text() == CONSENT_TITLE[asked]
        offer = tab.locator(f'.language-offer button[name="switch_language"][value="{OTHER[asked]}"]')
        assert offer.is_visible()
        assert_fits(tab)
        tab.screenshot(path=str(ARTIFACTS / f"landing-{asked}-{width}-{js}.png"), full_page=True)

        tab.locator('input[name="consent"][value="yes"]').check()  # typed before switching: kept
        offer.click()
        tab.wait_for_load_state()
        switched = OTHER[asked]
        assert tab.locator("html").get_attribute("lang") == switched
        assert tab.locator("h1").first.inner_text() == CONSENT_TITLE[switched]
        assert tab.locator('input[name="consent"][value="yes"]').is_checked()
        assert _languages(app) == started  # switching started nothing
        assert_fits(tab)
        tab.screenshot(path=str(ARTIFACTS / f"landing-{asked}-{width}-{js}-switched.png"), full_page=True)

        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        assert tab.url.endswith("/p/background")
        assert tab.locator("html").get_attribute("lang") == switched
        started.append(switched)
        assert _languages(app) == started  # the response started in the language the page was shown in
        context.close()
