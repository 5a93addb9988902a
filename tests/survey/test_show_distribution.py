"""'Show my distribution' (issue 15): the expert sees the fitted density of a judgement before saving it.

Without JavaScript the button posts the page (``show`` = the item id) and the page comes back with the posted
values, a server-drawn SVG of the best fit with the expert's points marked and checks in words; nothing is stored.
Values that cannot be read come back as field errors, with no drawing. With JavaScript only the drawing is
fetched (``Elicit-Fragment: distribution``) and put in place. In Urdu the page is right to left, the scale runs
right to left and every number sits in ``<bdi>`` (in the SVG: ``direction="ltr"``).
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.models import Answer, Response
from elicit.responding import flow, pages
from elicit.stats.judgements import quantile_points
from elicit.studies import create_study
from elicit.survey.plots import density_svg, nice_ticks, number_text
from elicit.survey.rendering import quantity
from tests.conftest import ARTIFACTS, StudyHandle, axe_violations
from tests.survey.contract import choose_language
from tests.survey.test_expert_flow import csrf_of
from tests.survey.test_one_call import calls as recorded_calls

calls = recorded_calls  # the fixture that records the calls into responding (tests/survey/test_one_call.py)

SLUG = "show-distribution"
INSTRUMENT = """
id: show-distribution
version: 1.0.0
languages: [en, ur]
title: {en: "Outlook", ur: "مستقبل"}
pages:
  - id: welcome
    items:
      - id: consent
        type: consent
        required: true
        text: {en: "I agree to take part.", ur: "میں حصہ لینے پر رضامند ہوں۔"}
  - id: outlook
    title: {en: "Outlook for defence exports", ur: "دفاعی برآمدات کا مستقبل"}
    items:
      - id: exports_change
        type: quantiles
        levels: [5, 50, 95]
        min: -100
        max: 500
        unit: "%"
        text:
          en: "By how much will your state's defence exports change over the next five years (percent)?"
          ur: "آئندہ پانچ برسوں میں آپ کے ملک کی دفاعی برآمدات میں کتنے فیصد تبدیلی آئے گی؟"
      - id: remarks
        type: text
        text: {en: "Why?", ur: "کیوں؟"}
  - id: last
    items:
      - id: done
        type: text
        text: {en: "Anything else?", ur: "کچھ اور؟"}
"""
ITEM = "exports_change"
FRAGMENT = {"Elicit-Fragment": "distribution"}


@pytest.fixture
def outlook(app: Flask) -> StudyHandle:
    """A study on a three-page instrument: consent; a quantiles item (-100 to 500 %) and a text; a text."""
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "show-distribution.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def _at_outlook(client: FlaskClient, study: StudyHandle, language: str = "en") -> tuple[str, str]:
    """An expert who consented, on the outlook page: their token and the page's CSRF token."""
    (token,) = study.invite("PK" if language == "ur" else "UK")
    landing = client.get(f"/s/{token}")
    client.post(f"/s/{token}", data={"csrf_token": csrf_of(landing.text), "language": language})
    welcome = client.get(f"/s/{token}/p/welcome")
    csrf = csrf_of(welcome.text)
    saved = client.post(f"/s/{token}/p/welcome", data={"csrf_token": csrf, "consent": "yes", "nav": "next"})
    assert saved.headers["Location"].endswith("/p/outlook")
    return token, csrf


def _values(low: str, best: str, high: str) -> dict[str, str]:
    return {f"{ITEM}.q05": low, f"{ITEM}.q50": best, f"{ITEM}.q95": high}


def _stored(app: Flask, token: str) -> dict[str, Any]:
    """What is stored for the expert: their answers (as ``flow`` reads them) and the pages saved."""
    with app.app_context():
        link = flow.open_by_token(db.session, token, secret=app.config["SECRET_KEY"])
        assert link.response is not None
        response = db.session.get(Response, link.response.id)
        assert response is not None
        return {
            "answers": flow.load_answers(db.session, response, link.definition),
            "rows": db.session.scalars(select(Answer.item_id).where(Answer.response_id == response.id)).all(),
            "pages": response.pages_done,
        }


def _text(html: str) -> str:
    """The visible text of a page, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", html)))


def test_showing_the_distribution_draws_it_and_saves_nothing(
    app: Flask, client: FlaskClient, outlook: StudyHandle
) -> None:
    token, csrf = _at_outlook(client, outlook)
    before = _stored(app, token)
    form = {"csrf_token": csrf, "show": ITEM, "remarks": "Orders are growing.", **_values("10", "12", "13")}
    shown = client.post(f"/s/{token}/p/outlook", data=form)
    assert shown.status_code == 200, shown.text[:400]
    html = shown.text
    assert '<svg class="density" role="img"' in html
    assert re.search(r'<path class="density-curve" d="M[\d.]+,[\d.]+ L?', html)
    assert html.count('class="density-point"') == 3
    for value in ("10", "12", "13"):  # the points are labelled, left to right whatever the page direction
        assert f'direction="ltr">{value}</text>' in html
        assert f'value="{value}"' in html  # and kept in the form
    assert "Orders are growing." in html
    text = _text(html)
    assert "Your low and high values, 10 % and 13 %, are 3 % apart" in text
    assert "you are 90 % sure that the true value lies between them" in text
    assert "is closer to your high value than to your low value" in text
    assert "fits your values best" in text
    assert '<bdi dir="ltr">3 %</bdi>' in html and '<bdi dir="ltr">90</bdi>' in html
    # No JavaScript: the page posts to itself and opens at the drawing (the page's own address: on the landing
    # page the browser's address is the link's, not the page's).
    assert f'formaction="/s/{token}/p/outlook#exports_change-distribution"' in html
    assert 'id="exports_change-distribution-result" aria-live="polite"' in html
    assert _stored(app, token) == before  # nothing saved: no answers, the page not marked done
    assert ITEM not in before["answers"] and "outlook" not in (before["pages"] or "")


def test_showing_keeps_the_stored_answer_as_it_was(
    app: Flask, client: FlaskClient, outlook: StudyHandle
) -> None:
    token, csrf = _at_outlook(client, outlook)
    saved = client.post(
        f"/s/{token}/p/outlook", data={"csrf_token": csrf, "nav": "next", **_values("-5", "10", "40")}
    )
    assert saved.status_code == 303
    page = client.get(f"/s/{token}/p/outlook")
    version = re.search(r'name="answers-version" value="([^"]+)"', page.text)
    assert version is not None
    stored = _stored(app, token)
    assert stored["answers"][ITEM] == {"q05": -5.0, "q50": 10.0, "q95": 40.0}
    form = {"csrf_token": csrf, "show": ITEM, "answers-version": version.group(1), **_values("0", "20", "30")}
    shown = client.post(f"/s/{token}/p/outlook", data=form)
    assert shown.status_code == 200 and 'class="density-curve"' in shown.text
    assert 'value="20"' in shown.text and 'value="40"' not in shown.text  # what was typed, not what is stored
    assert version.group(1) in shown.text  # the page still carries the version of what is stored
    assert _stored(app, token) == stored


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("10", "9", "13"), "Each value must be larger than the one before it."),
        (("10", "", "13"), "Give all three values: low, best estimate and high."),
        (("10", "12", "600"), "Enter a value of at most 500."),
        (("", "", ""), "Give your values first, then your distribution can be shown."),
    ],
)
def test_values_that_cannot_be_read_show_field_errors_and_no_drawing(
    app: Flask, client: FlaskClient, outlook: StudyHandle, values: tuple[str, str, str], message: str
) -> None:
    token, csrf = _at_outlook(client, outlook)
    shown = client.post(f"/s/{token}/p/outlook", data={"csrf_token": csrf, "show": ITEM, **_values(*values)})
    assert shown.status_code == 422
    assert 'class="field-error"' in shown.text and message in shown.text
    assert "<svg" not in shown.text
    assert all(f'value="{v}"' in shown.text for v in values if v)
    fragment = client.post(
        f"/s/{token}/p/outlook", data={"csrf_token": csrf, "show": ITEM, **_values(*values)}, headers=FRAGMENT
    )
    assert fragment.status_code == 422 and "<form" in fragment.text  # the script falls back to the page
    assert "Elicit-Fragment" not in fragment.headers
    assert _stored(app, token)["rows"] == ["consent"]


def test_only_a_distribution_item_of_the_page_can_be_shown(client: FlaskClient, outlook: StudyHandle) -> None:
    token, csrf = _at_outlook(client, outlook)
    for item in ("remarks", "consent", "nowhere"):
        refused = client.post(f"/s/{token}/p/outlook", data={"csrf_token": csrf, "show": item})
        assert refused.status_code == 400
    twice = client.post(f"/s/{token}/p/outlook", data={"csrf_token": csrf, "show": [ITEM, ITEM]})
    assert twice.status_code == 400


def test_the_fragment_request_returns_only_the_drawing(
    app: Flask, client: FlaskClient, outlook: StudyHandle
) -> None:
    token, csrf = _at_outlook(client, outlook)
    form = {"csrf_token": csrf, "show": ITEM, **_values("-5", "10", "40")}
    fragment = client.post(f"/s/{token}/p/outlook", data=form, headers=FRAGMENT)
    assert fragment.status_code == 200
    assert fragment.headers["Elicit-Fragment"] == "distribution"
    html = fragment.text.strip()
    assert html.startswith('<div class="distribution-result" id="exports_change-distribution-result"')
    assert html.endswith("</div>")
    assert (
        "<svg" in html and "<form" not in html and "<html" not in html and "Show my distribution" not in html
    )
    assert _stored(app, token)["rows"] == ["consent"]


def test_showing_makes_one_call_into_responding(
    client: FlaskClient, outlook: StudyHandle, calls: list[str]
) -> None:
    token, csrf = _at_outlook(client, outlook)
    calls.clear()
    form = {"csrf_token": csrf, "show": ITEM, **_values("1", "2", "4")}
    for headers in ({}, FRAGMENT):
        assert client.post(f"/s/{token}/p/outlook", data=form, headers=headers).status_code == 200
        assert calls == ["flow.open_by_token", "pages.post_page"]
        calls.clear()


def test_in_urdu_the_drawing_is_mirrored_and_numbers_are_isolated(
    app: Flask, client: FlaskClient, outlook: StudyHandle
) -> None:
    token, csrf = _at_outlook(client, outlook, "ur")
    form = {"csrf_token": csrf, "show": ITEM, **_values("-20", "10", "40")}
    shown = client.post(f"/s/{token}/p/outlook", data=form)
    assert shown.status_code == 200
    html = shown.text
    assert '<html lang="ur" dir="rtl">' in html
    assert 'direction="ltr">-20</text>' in html  # a negative number is never laid out as "20-"
    xs = {
        label: float(x)
        for x, label in re.findall(
            r'<text class="density-point-label" x="([\d.]+)"[^>]*>([^<]+)</text>', html
        )
    }
    assert xs["-20"] > xs["10"] > xs["40"]  # low values at the inline start: on the right
    assert '<bdi dir="ltr">-20 %</bdi>' in html and '<bdi dir="ltr">60 %</bdi>' in html
    with app.test_request_context(), force_locale("ur"):
        words = {
            str(gettext("Show my distribution")),
            str(gettext("Your distribution, as your values describe it")),
            str(
                gettext(
                    "Nothing is saved yet: change your values and show your distribution again, or go on with “Save and continue”."
                )
            ),
        }
    text = _text(html)
    assert all(word in text for word in words)  # in the catalog's Urdu
    assert "Show my distribution" not in text and "Your low and high values" not in text
    assert "fits your values best" not in text


def test_the_request_api_draws_without_saving(app: Flask, outlook: StudyHandle) -> None:
    (token,) = outlook.invite("UK")
    with app.app_context():
        link = flow.open_by_token(db.session, token, secret=app.config["SECRET_KEY"], lock=True)
        pages.begin(db.session, link, "en")
        pages.post_page(db.session, link, "welcome", {"consent": ["yes"]})
        form = {"show": [ITEM], **{name: [v] for name, v in _values("10", "12", "13").items()}}
        shown = pages.post_page(db.session, link, "outlook", form)
        assert isinstance(shown, pages.PageShown)
        assert shown.values == form and not shown.errors
        drawn = shown.distribution
        assert drawn is not None and drawn.item.id == ITEM
        assert drawn.points == quantile_points([5, 50, 95], [10, 12, 13])
        assert (drawn.lower, drawn.upper) == (-100.0, 500.0)  # the item's min and max bound the fit
        assert drawn.fits is not None and drawn.fits.best.dist.cdf(12) == pytest.approx(0.5, abs=0.05)
        assert ITEM not in link.answers


def test_the_drawing_scales_ticks_and_numbers() -> None:
    from elicit.stats.distributions import fit_judgement

    points = quantile_points([5, 50, 95], [-5, 10, 40])
    fit = fit_judgement(points).best
    svg = density_svg(points, fit, lower=None, upper=None, ident="x", title="A & B <c>", unit="%")
    assert svg.startswith('<svg class="density" role="img"') and svg.endswith("</svg>")
    assert '<title id="x-title">A &amp; B &lt;c&gt;</title>' in svg
    ticks = [float(t) for t in re.findall(r'class="density-tick-label"[^>]*>([^<]+)<', svg)]
    assert len(ticks) >= 3 and ticks == sorted(ticks)
    marks = re.findall(r'<circle class="density-point" cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert [float(x) for x, _ in marks] == sorted(float(x) for x, _ in marks)
    assert float(marks[1][1]) < float(
        marks[0][1]
    )  # the median sits higher on the curve than the 5th percentile
    without_fit = density_svg(points, None, lower=None, upper=None, ident="y", title="t")
    assert "density-curve" not in without_fit and without_fit.count('class="density-point"') == 3
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(-27.5, 62.5) == [-20, 0, 20, 40, 60]
    assert quantity(-20, "%") == '<bdi dir="ltr">-20 %</bdi>'
    # a right-to-left unit follows in its direction, and never wraps away from its number
    assert quantity(10, "دن") == '<span class="quantity"><bdi dir="ltr">10</bdi> دن</span>'
    assert [number_text(v) for v in (3.0, 2.9000000000000004, -0.5, 1250000.0, 0.00031)] == [
        "3",
        "2.9",
        "-0.5",
        "1250000",
        "0.00031",
    ]


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_person_shows_their_distribution_in_english_and_urdu(
    browser: Any, live_server: str, outlook: StudyHandle, javascript: bool, axe_source: str
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for language, width in (("en", 360), ("en", 1280), ("ur", 360), ("ur", 1280)):
        (token,) = outlook.invite("PK" if language == "ur" else "UK")
        context = browser.new_context(  # the CSP is bypassed with JavaScript only, to inject axe
            java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=javascript
        )
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{token}")
        choose_language(tab, language)
        tab.locator('input[name="consent"][value="yes"]').check()
        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        for name, value in _values("-20", "10", "60").items():
            tab.locator(f'[name="{name}"]').fill(value)
        tab.locator('[name="remarks"]').fill("typed before showing")
        address = tab.url
        tab.locator(f'button[name="show"][value="{ITEM}"]').click()
        tab.locator("svg.density").wait_for()
        tab.wait_for_load_state("load")  # the stylesheet too, before the layout is measured
        if javascript:
            assert tab.url == address  # updated in place, no navigation
        else:
            assert tab.url.endswith("#exports_change-distribution")
        assert tab.locator('[name="remarks"]').input_value() == "typed before showing"
        assert tab.locator(f'[name="{ITEM}.q50"]').input_value() == "10"
        assert tab.locator(".distribution-checks li").count() >= 3
        assert tab.locator("html").get_attribute("dir") == ("rtl" if language == "ur" else "ltr")
        overflow = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
        box = tab.locator("svg.density").bounding_box()
        main = tab.locator("main").bounding_box()
        assert box is not None and main is not None
        assert main["x"] <= box["x"] and box["x"] + box["width"] <= main["x"] + main["width"] + 1
        mode = "js" if javascript else "nojs"
        tab.locator(f"#{ITEM}-distribution").scroll_into_view_if_needed()
        tab.screenshot(
            path=str(ARTIFACTS / f"show-distribution-{language}-{width}-{mode}.png"), full_page=True
        )
        if javascript:
            assert axe_violations(tab, axe_source) == []
            # A second look with other values replaces the drawing in place.
            tab.locator(f'[name="{ITEM}.q95"]').fill("30")
            tab.locator(f'button[name="show"][value="{ITEM}"]').click()
            tab.locator(".density-point-label", has_text=re.compile(r"^30$")).wait_for()
            assert tab.url == address and tab.locator("svg.density").count() == 1
        context.close()


JUDGEMENTS = """
id: judgements
version: 1.0.0
languages: [en, ur]
title: {en: "Judgements", ur: "اندازے"}
pages:
  - id: one
    items:
      - {id: chips, type: roulette, bins: [0, 1, 2, 3, 4, 5], chips: 10, text: {en: Chips, ur: چپس}}
      - {id: idea, type: four_point, min: 0, max: 100, unit: {en: "days", ur: "دن"}, text: {en: Idea, ur: اندازہ}}
"""


def test_roulette_and_four_point_judgements_are_put_in_words(app: Flask) -> None:
    from elicit.stats.distributions import fit_judgement
    from elicit.survey.rendering import distribution_checks, distribution_view

    definition = load_text(JUDGEMENTS, "judgements.yaml")
    chips, idea = definition.item("chips"), definition.item("idea")
    roulette = chips.kind.cumulative(chips, {"b1": 0, "b2": 2, "b3": 5, "b4": 3, "b5": 0})
    four = idea.kind.cumulative(idea, {"low": 10, "best": 20, "high": 40, "confidence": 80})
    assert roulette is not None and four is not None
    with app.test_request_context():
        shown = pages.DistributionShown(
            chips, roulette, fit_judgement(roulette), roulette.lower, roulette.upper
        )
        text = _text(" ".join(distribution_checks(shown, "en")))
        assert "You placed all your chips between 1 and 4" in text
        assert "you are 50 % sure that the true value lies between 2 and 3" in text
        assert "The curve's median is" in text  # no point at 0.5: the fitted median is said instead
        view = distribution_view(shown, "ur")
        assert view.fitted and view.svg.count('class="density-point"') == 2
        shown = pages.DistributionShown(idea, four, fit_judgement(four, lower=0, upper=100), 0.0, 100.0)
        text = _text(" ".join(distribution_checks(shown, "en")))
        assert "Your low and high values, 10 days and 40 days, are 30 days apart" in text
        assert "you are 80 % sure" in text and "closer to your low value than to your high value" in text
        assert '<bdi dir="ltr">10 days</bdi>' in " ".join(distribution_checks(shown, "en"))


def test_the_drawing_fits_only_the_families_the_instrument_allows() -> None:
    from elicit.responding.pages import _fitted
    from elicit.stats.judgements import quantile_points

    points = quantile_points([5, 50, 95], [2.0, 10.0, 40.0])  # skewed: a normal is not the best fit
    free = _fitted(points, 0.0, None)
    fixed = _fitted(points, 0.0, None, ("normal",))
    assert free is not None and fixed is not None
    assert free.best.family != "normal"
    assert [fit.family for fit in fixed.fits] == ["normal"]


def test_enter_in_a_text_box_saves_and_continues(
    client: FlaskClient, app: Flask, outlook: StudyHandle
) -> None:
    """The page's first submit button is its hidden default: what a browser sends for Enter saves and goes on."""
    token, csrf = _at_outlook(client, outlook)
    page = client.get(f"/s/{token}/p/outlook").text
    first = re.search(r"<button[^>]*>", page)
    assert first is not None and 'name="nav"' in first.group(0) and 'value="enter"' in first.group(0)
    assert 'tabindex="-1"' in first.group(0) and 'aria-hidden="true"' in first.group(0)
    form = {"csrf_token": csrf, "nav": "enter", **_values("-20", "10", "60"), "remarks": "pressed Enter"}
    saved = client.post(f"/s/{token}/p/outlook", data=form)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/p/last")
    assert _stored(app, token)["answers"]["remarks"] == "pressed Enter"


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_person_pressing_enter_saves_rather_than_showing_or_switching_language(
    browser: Any, live_server: str, app: Flask, outlook: StudyHandle, javascript: bool
) -> None:
    (token,) = outlook.invite("UK")
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 360, "height": 900})
    tab = context.new_page()
    tab.goto(f"{live_server}/s/{token}")
    choose_language(tab, "en")
    tab.locator('input[name="consent"][value="yes"]').check()
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()
    for name, value in _values("-20", "10", "60").items():
        tab.locator(f'[name="{name}"]').fill(value)
    tab.locator('[name="remarks"]').fill("pressed Enter")
    tab.locator('[name="remarks"]').press("Enter")
    tab.wait_for_url("**/p/last")
    assert tab.locator("svg.density").count() == 0
    context.close()
    assert _stored(app, token)["answers"]["remarks"] == "pressed Enter"
