"""The practice page at ``/s/<token>/practice``: calibration training before the questions (thin views).

GET shows the practice questions (each through its type's own template, like a questionnaire page) or, once
scored, the score; POST scores them (``nav=score``, also what Enter does), skips them (``nav=skip``), shows one
judgement's distribution (``show``) or switches the language. Everything works without JavaScript; the form
carries the CSRF token and the practice answers' version, like a questionnaire page. What to show and where to go
is decided by ``elicit.responding.pages.show_practice`` / ``post_practice``; practice answers are stored apart
(``elicit.responding.practice``) and nothing here writes.
"""

from __future__ import annotations

from typing import Any

from flask import g, get_template_attribute, render_template, request, session
from flask_babel import gettext
from markupsafe import Markup

from elicit.db import db
from elicit.i18n import N_
from elicit.instruments.schema import Page, text_in
from elicit.responding import pages as answering
from elicit.responding.practice import PracticeScore
from elicit.survey import DISTRIBUTION_FRAGMENT, FRAGMENT_HEADER, _go, _open, _url, bp
from elicit.survey.recovery import STALE_PAGE_TITLE, Notice
from elicit.survey.rendering import PageView, distribution_view, quantity, say, translate

STALE_PRACTICE = N_("These practice questions were scored in another window; this is that score.")


@bp.get("/<token>/practice")
def practice(token: str) -> Any:
    """The practice questions, or their score once scored."""
    link = _open(token)
    return _answer(token, answering.show_practice(db.session, link))


@bp.post("/<token>/practice")
def score_practice(token: str) -> Any:
    """Score or skip the practice, draw one judgement, or switch the language (see the module docstring)."""
    link = _open(token, lock=True)
    form = {key: request.form.getlist(key) for key in request.form}
    outcome = answering.post_practice(db.session, link, form)
    if (
        request.headers.get(FRAGMENT_HEADER) == DISTRIBUTION_FRAGMENT
        and isinstance(outcome, answering.PracticeShown)
        and outcome.distribution is not None
    ):
        g.language = session["language"] = outcome.language
        result = get_template_attribute("survey/items/_parts.html", "distribution_result")
        html = result(_view(outcome), outcome.distribution.item)
        return html, 200, {FRAGMENT_HEADER: DISTRIBUTION_FRAGMENT, "Vary": FRAGMENT_HEADER}
    return _answer(token, outcome, code=303)


def _answer(token: str, outcome: answering.PracticeShown | answering.Redirect, code: int = 302) -> Any:
    if isinstance(outcome, answering.Redirect):
        return _go(token, outcome, code)
    g.language = session["language"] = outcome.language
    status = 409 if outcome.stale else 422 if outcome.errors else 200
    refusal = Notice(gettext(STALE_PAGE_TITLE), gettext(STALE_PRACTICE)) if outcome.stale else None
    view = _view(outcome)
    html = render_template(
        "survey/practice.html",
        view=view,
        shown=outcome,
        token=token,
        notice=refusal,
        version=outcome.version,
        score=_score_rows(outcome, outcome.score) if outcome.score is not None else None,
        summary=_summary(outcome.score) if outcome.score is not None else None,
        onward=_url(token, outcome.onward),
    )
    return html, status


def _view(shown: answering.PracticeShown) -> PageView:
    """The practice questions as a page, so each renders through its type's own macro."""
    practice = shown.definition.practice
    assert practice is not None  # nosec B101  # narrows the type: a PracticeShown has practice
    page = Page(answering.PRACTICE, None, practice.intro, None, practice.items)
    return PageView(
        definition=shown.definition,
        page=page,
        language=shown.language,
        values=shown.values,
        errors={name: translate(message, shown.language) for name, message in shown.errors.items()},
        distribution=(
            distribution_view(shown.distribution, shown.language) if shown.distribution is not None else None
        ),
    )


def _score_rows(shown: answering.PracticeShown, score: PracticeScore) -> list[dict[str, Any]]:
    """Each scored question in words: its text, the range given, the true value, caught or not, the source."""
    language = shown.language
    sources = shown.definition.practice.sources if shown.definition.practice is not None else {}
    practice_rows = []
    for question in score.questions:
        item = question.item
        unit = text_in(item.unit, language) if item.unit else ""
        practice_rows.append(
            {
                "id": item.id,
                "text": text_in(item.text, language),
                "levels": say(
                    N_("Your range (%(low)s %%–%(high)s %%)"),
                    low=str(item.levels[0]),
                    high=str(item.levels[-1]),
                ),
                "range": Markup("{} – {}").format(
                    quantity(question.low, unit), quantity(question.high, unit)
                ),
                "answer": quantity(question.answer, unit),
                "inside": question.inside,
                "source": text_in(sources.get(item.id), language),
            }
        )
    return practice_rows


def _summary(score: PracticeScore) -> list[Markup]:
    """How many true values the ranges caught, and how many a calibrated expert would (9 in 10 for 90 %)."""
    percent = score.coverage
    tenths = percent % 10 == 0
    return [
        say(
            N_("%(caught)s of %(total)s true values fell inside your %(percent)s %% ranges."),
            caught=str(score.caught),
            total=str(score.total),
            percent=str(percent),
        ),
        say(
            N_(
                "A well-calibrated expert catches about %(n)s in %(m)s; if you caught fewer, your ranges may be too"
                " narrow."
            ),
            n=str(percent // 10 if tenths else percent),
            m="10" if tenths else "100",
        ),
    ]
