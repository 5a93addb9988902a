"""A person in Chromium: the flagship in English and in Urdu (without JavaScript too), resume, submit, axe audit."""

from __future__ import annotations

import random
from typing import Any

import pytest

from elicit.instruments.loading import load_file
from tests.conftest import ARTIFACTS, FLAGSHIP, StudyHandle, axe_violations
from tests.survey.contract import answer_for, choose_language

DEFINITION = load_file(FLAGSHIP)
pytestmark = pytest.mark.browser


def fill_page(tab: Any, rng: random.Random, cohort: str) -> None:
    """Fill every field of the current page the way a person would: click radios, tick boxes, type numbers."""
    for item in DEFINITION.items():
        fields = answer_for(item, rng, cohort)
        for name, values in fields.items():
            locator = tab.locator(f'[name="{name}"]')
            if locator.count() == 0 or not locator.first.is_visible():  # a follow-up hidden by survey.js
                continue
            kind = locator.first.get_attribute("type") or locator.first.evaluate(
                "e => e.tagName.toLowerCase()"
            )
            if kind in {"radio", "checkbox"}:
                for value in values:
                    tab.locator(f'[name="{name}"][value="{value}"]').check()
            elif kind == "select":
                locator.select_option(values[0])
            else:
                locator.fill(values[0])


def next_page(tab: Any) -> None:
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()


def answer_until_review(
    tab: Any, cohort: str, shots: str | None = None, stop_after: int | None = None, *, review: bool = True
) -> int:
    """Fill and save pages: to the review page ("Check your answers" on the last page), or with ``review``
    False up to the last page, filled but not sent (its forward button submits)."""
    rng = random.Random(11)
    pages = 0
    while not tab.url.endswith("/review"):
        last = tab.locator('button[name="nav"][value="submit"]').count() > 0
        fill_page(tab, rng, cohort)
        if shots:
            tab.screenshot(path=str(ARTIFACTS / f"{shots}-page{pages + 1}.png"), full_page=True)
        if last and not review:
            return pages + 1
        next_page(tab)
        pages += 1
        assert tab.locator(".error-summary").count() == 0, tab.inner_text(".error-summary")
        if stop_after is not None and pages >= stop_after:
            break
        assert pages < 20
    return pages


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.no_js_on_sqlite_only
def test_person_completes_the_flagship_in_english_and_urdu(
    browser: Any, live_server: str, study: StudyHandle, javascript: bool
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    en_token, ur_token = study.invite("UK")[0], study.invite("PK")[0]
    for token, language, cohort in ((en_token, "en", "UK"), (ur_token, "ur", "PK")):
        context = browser.new_context(java_script_enabled=javascript, viewport={"width": 390, "height": 844})
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{token}")
        choose_language(tab, language)
        tab.wait_for_load_state()
        assert tab.locator("html").get_attribute("lang") == language
        if language == "ur":
            assert tab.locator("html").get_attribute("dir") == "rtl"
            assert tab.evaluate("getComputedStyle(document.body).direction") == "rtl"
        answer_until_review(tab, cohort, stop_after=3)
        context.close()  # the expert closes the browser ...
        context = browser.new_context(java_script_enabled=javascript, viewport={"width": 390, "height": 844})
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{token}")  # ... and comes back later in a new one
        assert "/p/lev_strategic" in tab.url
        shots = f"survey-{language}-{'js' if javascript else 'nojs'}"
        # In English the expert checks the answers on the review page; in Urdu submits from the last page.
        answer_until_review(tab, cohort, shots=shots, review=language == "en")
        if language == "en":
            tab.screenshot(path=str(ARTIFACTS / f"{shots}-review.png"), full_page=True)
        tab.locator('button[name="nav"][value="submit"]').click()
        tab.wait_for_load_state()
        heading = tab.locator("h1").inner_text()
        assert heading == (
            "آپ کے جوابات جمع ہو گئے ہیں" if language == "ur" else "Your answers have been submitted"
        )
        tab.screenshot(path=str(ARTIFACTS / f"{shots}-done.png"), full_page=True)
        context.close()


@pytest.mark.rendering
def test_every_expert_page_type_passes_axe(
    page: Any, live_server: str, study: StudyHandle, axe_source: str
) -> None:
    (token,) = study.invite("UK")
    found: dict[str, list[str]] = {}

    def audit(name: str) -> None:
        violations = axe_violations(page, axe_source)
        if violations:
            found[name] = [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in violations]

    page.goto(f"{live_server}/s/{token}")
    audit("landing")
    choose_language(page, "ur")
    page.wait_for_load_state()
    audit("consent page (ur)")
    page.locator('[name="consent"][value="yes"]').check()
    next_page(page)
    next_page(page)  # background page with nothing filled: the error summary
    assert page.locator(".error-summary").count() == 1
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    audit("error summary (ur)")
    page.locator('button[name="switch_language"][value="en"]').click()
    page.wait_for_load_state()
    rng = random.Random(2)
    for index in range(10):
        if page.url.endswith("/review"):
            break
        audit(f"questionnaire page {index + 2}")
        fill_page(page, rng, "UK")
        next_page(page)
    audit("review")
    page.locator('button[name="nav"][value="submit"]').click()
    page.wait_for_load_state()
    audit("thank-you")
    page.goto(f"{live_server}/s/unknown-token-0123456789")
    audit("error page")
    assert not found, found


def test_keyboard_only_expert_reaches_and_answers_the_consent(
    page: Any, live_server: str, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    page.goto(f"{live_server}/s/{token}")  # the landing page: the consent page in the browser's language
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # the language switch, first after it
    assert page.evaluate("[document.activeElement.name, document.activeElement.value]") == [
        "switch_language",
        "ur",
    ]
    for _ in range(20):  # on through the page to the consent, by keyboard alone
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "consent-yes":
            break
    page.keyboard.press("Space")
    assert page.locator("#consent-yes").is_checked()
    for _ in range(10):  # on to "Save and continue", and press it
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.value") == "next":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/p/background")
