"""Delphi feedback asks the item type: a slider is fed back as a median and quartiles, a dropdown as counts per
choice, quantiles as pooled estimates, a date not at all; the studio offers exactly the items with feedback."""

from __future__ import annotations

import pytest
from flask import Flask, current_app

from elicit.db import db
from elicit.responding import flow
from elicit.responding.feedback import GroupResult, feedback_for
from elicit.rounds import open_round
from elicit.studies import StudyError, create_study, find_study
from elicit.studio.delphi import ordinal_choices
from tests.exporting.helpers import answer, new_invitation, publish_text
from tests.studio.conftest import csrf_from, make_user, sign_in_directly

SLUG = "delphi-types"
INSTRUMENT = """\
id: delphi-types
version: 1.0.0
languages: [en]
anonymity: pseudonymous
title: Delphi on the new item types
pages:
  - id: p1
    items:
      - id: afford_scale
        type: slider
        min: 0
        max: 10
        min_label: Not affordable at all
        max_label: Easily affordable
        text: How affordable is sustained defence diplomacy for a developing economy?
      - id: partner
        type: dropdown
        choices: {CHN: China, TUR: Türkiye, USA: United States, other: Another country}
        text: Apart from the UK and Pakistan, which country matters most to the relationship?
      - id: level
        type: dropdown
        choices: {1: Low, 2: Middle, 3: High}
        text: How close is the relationship today?
      - id: exports_change
        type: quantiles
        text: By how much will defence exports change over five years (percent)?
      - id: expected_on
        type: date
        min: 2026-01-01
        max: 2035-12-31
        text: By what date do you expect the next defence dialogue?
"""

# Round 1, typed by hand: six UK experts and five PK experts (k = 5, so no group is hidden).
ROUND_1 = {
    "UK": [
        (2, "CHN", 1),
        (4, "CHN", 2),
        (5, "USA", 2),
        (6, "TUR", 3),
        (7, "CHN", 3),
        (9, "other", 3),
    ],
    "PK": [(1, "CHN", 1), (3, "TUR", 1), (3, "TUR", 2), (8, "USA", 2), (10, "CHN", 3)],
}


def test_round_two_feeds_back_a_slider_and_dropdowns(app: Flask) -> None:
    tokens: dict[str, list[str]] = {"UK": [], "PK": []}
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, INSTRUMENT)
        study = create_study(session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        for cohort, answers in ROUND_1.items():
            for scale, partner, level in answers:
                token = new_invitation(session, study, cohort)
                tokens[cohort].append(token)
                values = {
                    "afford_scale": scale,
                    "partner": partner,
                    "level": level,
                    "exports_change": {"q05": scale - 1.0, "q50": float(scale), "q95": scale + 2.0},
                    "expected_on": "2027-06-30",
                }
                answer(session, token, values)

    researcher = app.test_client()
    sign_in_directly(app, researcher, make_user(app, "lead@example.org", "admin"))
    page = researcher.get(f"/studio/studies/{SLUG}/rounds")
    closed = researcher.post(
        f"/studio/studies/{SLUG}/rounds/close", data={"csrf_token": csrf_from(page.text), "confirm": "yes"}
    )
    assert closed.status_code == 302
    page = researcher.get(f"/studio/studies/{SLUG}/rounds")
    # The studio offers the items whose type has feedback, and nothing else.
    for item_id in ("afford_scale", "partner", "level", "exports_change"):
        assert f'value="{item_id}"' in page.text, item_id
    assert 'value="expected_on"' not in page.text
    # A dropdown with numbered codes is ordered choices like a likert item: it has a consensus row.
    assert "<td>1</td><td>all</td><td>level</td>" in page.text
    assert "<td>1</td><td>all</td><td>partner</td>" not in page.text
    assert "<td>1</td><td>all</td><td>afford_scale</td>" not in page.text

    with app.app_context(), db.transaction() as session:
        study = find_study(session, SLUG)
        assert ordinal_choices(study) == {"level": [1, 2, 3]}
        with pytest.raises(StudyError) as refused:
            open_round(session, study, None, ["expected_on"])
        assert str(refused.value) == (
            "feedback item 'expected_on' is a date item; feedback is given for "
            "decimal, dropdown, four_point, integer, likert, probabilities, quantiles, roulette, single_choice, slider items"
        )
        version_id = study.rounds[0].instrument_version_id

    opened = researcher.post(
        f"/studio/studies/{SLUG}/rounds/open",
        data={
            "csrf_token": csrf_from(page.text),
            "version": str(version_id),
            "feedback": ["afford_scale", "partner", "level", "exports_change"],
        },
    )
    assert opened.status_code == 302, opened.text[:500]

    with app.app_context():
        link = flow.open_by_token(db.session, tokens["UK"][0], secret=current_app.config["SECRET_KEY"])
        assert link.round.number == 2
        feedback = feedback_for(db.session, link, link.definition.items())
    assert set(feedback) == {"afford_scale", "partner", "level", "exports_change"}
    assert {item: fb.own for item, fb in feedback.items()} == {
        "afford_scale": 2,
        "partner": "CHN",
        "level": 1,
        "exports_change": {"q05": 1, "q50": 2, "q95": 4},
    }
    assert all(fb.round_number == 1 and fb.rationales == () for fb in feedback.values())

    # By hand, quartiles by linear interpolation (type 7, h = (n - 1) p):
    # slider, all 1 2 3 3 4 5 6 7 8 9 10 -> median 5, Q1 3 (h = 2.5), Q3 7.5 (h = 7.5);
    #         UK  2 4 5 6 7 9 -> median 5.5, Q1 4.25 (h = 1.25), Q3 6.75 (h = 3.75).
    cohort, everyone = feedback["afford_scale"].groups
    assert cohort == GroupResult("cohort", 6, False, 5.5, 4.25, 6.75)
    assert everyone == GroupResult("all", 11, False, 5.0, 3.0, 7.5)
    # dropdown of countries: counts per choice in choice order, no median of codes.
    cohort, everyone = feedback["partner"].groups
    assert cohort == GroupResult(
        "cohort", 6, False, counts=(("CHN", 3), ("TUR", 1), ("USA", 1), ("other", 1))
    )
    assert everyone == GroupResult(
        "all", 11, False, counts=(("CHN", 5), ("TUR", 3), ("USA", 2), ("other", 1))
    )
    # dropdown of numbered codes: counts and the median of the codes.
    # all 1 1 1 2 2 2 2 3 3 3 3 -> median 2, Q1 1.5, Q3 3; UK 1 2 2 3 3 3 -> median 2.5, Q1 2, Q3 3.
    cohort, everyone = feedback["level"].groups
    assert cohort == GroupResult("cohort", 6, False, 2.5, 2.0, 3.0, (("1", 1), ("2", 2), ("3", 3)))
    assert everyone == GroupResult("all", 11, False, 2.0, 1.5, 3.0, (("1", 3), ("2", 4), ("3", 4)))
    # quantiles (each expert gave slider - 1, slider, slider + 2): the median of each level, and the best
    # estimates summarised as the slider's answers are.
    cohort, everyone = feedback["exports_change"].groups
    assert cohort == GroupResult(
        "cohort", 6, False, 5.5, 4.25, 6.75, pooled=(("q05", 4.5), ("q50", 5.5), ("q95", 7.5))
    )
    assert everyone == GroupResult(
        "all", 11, False, 5.0, 3.0, 7.5, pooled=(("q05", 4.0), ("q50", 5.0), ("q95", 7.0))
    )
