"""The expert's pages at ``/s/<token>``: thin views over ``elicit.responding``.

Contract (docs and DESIGN.md, "Expert pages"): each questionnaire page is one ``<form method="post">``; field
names are item ids, composite parts ``item.code``; the forward button is ``name="nav" value="next"`` (``submit``
on the last page and on the review page), back is ``value="back"``. The link's own address shows the first page
in the negotiated language until the response exists; posting that page starts it. Everything works without
JavaScript.

Each view opens the link, parses the request, makes one call into ``elicit.responding.pages`` (which decides what
to show or where to go: navigation, accepted fields, the language switch) and renders or redirects its answer;
what stays here is HTTP: status codes, redirects, templates, the browser's session, CSRF and refusals.

Every form also carries ``answers-version``, the version of the stored answers it was made from, so a POST from a
page that another window has changed since is shown back instead of applied (``flow.StaleAnswers``); a POST
without it (an outside client) is applied as before. A refused POST (an expired session, a database outage, the
rate limit) shows the same page again with what was typed: see ``elicit.survey.recovery``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    get_template_attribute,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, refresh
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import InternalServerError, NotFound

from elicit import ratelimit
from elicit.app import DATABASE_DOWN, ERROR_TITLES
from elicit.db import db
from elicit.i18n import N_
from elicit.instruments.schema import text_in
from elicit.models import Invitation, Study
from elicit.responding import flow
from elicit.responding import pages as answering
from elicit.survey import recovery
from elicit.survey.recovery import Notice, notice
from elicit.survey.rendering import PageView, distribution_view, format_answer, translate
from elicit.tokens import token_hash

log = logging.getLogger("elicit.survey")

bp = Blueprint("survey", __name__, url_prefix="/s")

READ_ONLY_SQLSTATE = "25006"  # PostgreSQL: read_only_sql_transaction (a standby, or a read-only database)
# "Show my distribution" with JavaScript asks for the drawing alone with this header (answered with it too).
FRAGMENT_HEADER = "Elicit-Fragment"
DISTRIBUTION_FRAGMENT = "distribution"

WELCOME_BACK = N_("Welcome back. You can continue where you left off: your earlier answers are saved.")
#: When this browser first saw the landing page (kept until the response starts: an anonymous one's duration).
OPENED_KEY = "opened"
OPENED_WITHIN = 24 * 3600  # an older landing visit is not the start of this response

LINK_MESSAGES = {
    "unknown": (
        404,
        N_("This link is not known"),
        N_("Please check that you opened the whole link from your invitation."),
    ),
    "revoked": (
        410,
        N_("This link is no longer valid"),
        N_(
            "The research team has withdrawn this link. If you received a newer invitation, please use its link;"
            " otherwise the research team can tell you more."
        ),
    ),
    "closed": (
        410,
        N_("This study is closed"),
        N_("Thank you for your interest; the study no longer accepts answers."),
    ),
    "not_open": (410, N_("This study has not opened yet"), N_("Please come back when the study opens.")),
    "not_started": (
        409,
        N_("Please start from your invitation link"),
        N_("Open your invitation link again to continue."),
    ),
}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _open(token: str, *, lock: bool = False) -> flow.ExpertLink:
    """The expert's link, with the page language set (a LinkError is rendered by ``_link_error``)."""
    link = flow.open_by_token(db.session, token, secret=current_app.config["SECRET_KEY"], lock=lock)
    g.language = link.negotiated = link.page_language(
        request.args.get("lang") or session.get("language"),
        session=db.session,
        accepted=lambda languages: request.accept_languages.best_match(languages),
    )
    if link.response is not None:
        # Remembered in this browser so the thank-you page keeps the language after an anonymous submit.
        _remember_language(g.language)
    recovery.remember(link, g.language)
    g.team = team_contact(link.study)  # kept as plain values: an error page shows it without the database
    return link


def team_contact(study: Study) -> dict[str, Any] | None:
    """The study's research team as its error pages show it (name, e-mail, contact lines); None if it has none."""
    lines = [line.strip() for line in (study.team_contact or "").splitlines() if line.strip()]
    if not (study.team_name or study.team_email or lines):
        return None
    return {"name": study.team_name, "email": study.team_email, "lines": lines}


def _team_of_link(reason: str) -> dict[str, Any] | None:
    """The team of the study whose link this request opened, for its error page. An unknown link has no study,
    and nothing about studies is looked up for it: its page is the same for every unknown token."""
    if reason == "unknown":
        return None
    if "team" in g:  # the link was opened (the error came after): its study's team is known
        return g.team  # type: ignore[no-any-return]
    token = str((request.view_args or {}).get("token", ""))
    if not flow.TOKEN_RE.match(token):
        return None
    study = db.session.scalar(
        select(Study)
        .join(Invitation, Invitation.study_id == Study.id)
        .where(Invitation.token_hash == token_hash(token))
    )
    return team_contact(study) if study is not None else None


@bp.errorhandler(flow.LinkError)
def _link_error(exc: flow.LinkError) -> tuple[str, int]:
    status, title, message = LINK_MESSAGES.get(exc.reason, (exc.status, "This link cannot be used", ""))
    return render_template(
        "error.html",
        status=status,
        title=gettext(title),
        message=gettext(message),
        show_status=False,
        team=_team_of_link(exc.reason),
    ), status


@bp.errorhandler(answering.RefusedPost)
def _refused_post(exc: answering.RefusedPost) -> Any:
    """A post no page of the link could have sent: 400, nothing saved."""
    language = g.get("language") or "en"
    return _error_page(400, gettext(ERROR_TITLES[400]), translate(exc.message, language))


@bp.errorhandler(answering.UnknownPage)
def _unknown_page(exc: answering.UnknownPage) -> Any:
    """A post to a page the instrument does not have: 404."""
    return _error_page(404, gettext(ERROR_TITLES[404]), NotFound.description or "")


@bp.get("/<token>")
def landing(token: str) -> Any:
    """Open (or resume) a response: the first page in the negotiated language (with the language switch; posting
    it starts the response), or straight back to where the expert was, or the thank-you page."""
    link = _open(token)
    shown = answering.show_landing(link, db.session)
    if isinstance(shown, answering.Redirect):
        if link.response is not None and not (link.submitted or link.declined):
            flash(gettext(WELCOME_BACK), "info")  # opening the link again resumes where the expert was
        return _go(token, shown)
    if isinstance(shown, answering.PageShown):
        if OPENED_KEY not in session:
            session[OPENED_KEY] = _now()
        return _answer(token, shown)
    if shown.state == "discussion":  # IDEA: the step between two rounds
        return redirect(url_for("survey.discussion", token=token))
    return render_template("survey/done.html", link=link, state=shown.state)


@bp.post("/<token>")
def start(token: str) -> Any:
    """A language chosen on an earlier landing page (a page left open, an outside client) starts the response."""
    link = _open(token, lock=True)
    return _go(token, answering.begin(db.session, link, request.form.get("language", "")), code=303)


@bp.get("/<token>/p/<page_id>")
def page(token: str, page_id: str) -> Any:
    link = _open(token)
    return _answer(token, answering.show_page(db.session, link, page_id))


@bp.post("/<token>/p/<page_id>")
def save(token: str, page_id: str) -> Any:
    """Validate and save a page; move forward, back, or switch language, keeping everything typed.

    "Show my distribution" saves nothing: the page comes back with the drawing, or only the drawing when the
    page's script asked for it (``Elicit-Fragment: distribution``; with errors, the whole page still comes back).
    """
    link = _open(token, lock=True)
    form = recovery.posted_fields()
    outcome = answering.post_page(db.session, link, page_id, form, started=_started_here(link))
    if (
        request.headers.get(FRAGMENT_HEADER) == DISTRIBUTION_FRAGMENT
        and isinstance(outcome, answering.PageShown)
        and outcome.distribution is not None
        and not outcome.stale
    ):
        return _distribution_html(outcome, token)
    return _answer(token, outcome, code=303)


@bp.get("/<token>/review")
def review(token: str) -> Any:
    link = _open(token)
    return _answer(token, answering.show_review(db.session, link))


@bp.post("/<token>/review")
def submit(token: str) -> Any:
    """Submit once; a double click, a replay or a second tab lands on the same thank-you page."""
    link = _open(token, lock=True)
    form = recovery.posted_fields()
    return _answer(token, answering.post_review(db.session, link, form, _started_here(link)), code=303)


def _started_here(link: flow.ExpertLink) -> datetime | None:
    """When this browser started the link's response (None if it started elsewhere)."""
    started = session.get("started") or {}
    if link.response is None or started.get("response") != link.response.id:
        return None
    try:
        return datetime.fromtimestamp(int(started["at"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def _remember_language(language: str) -> None:
    """Keep the page language in this browser's session (written only when it changes: no cookie to re-sign)."""
    if g.get("language") != language:
        g.language = language
        refresh()  # the interface strings follow (Flask-Babel keeps the first locale of a request)
    if session.get("language") != language:
        session["language"] = language


def _answer(
    token: str, outcome: answering.PageShown | answering.ReviewShown | answering.Redirect, code: int = 302
) -> Any:
    """Show what ``responding`` decided (in the language it chose), or go where it said (``code`` after a POST)."""
    if isinstance(outcome, answering.Redirect):
        return _go(token, outcome, code)
    _remember_language(outcome.language)
    if isinstance(outcome, answering.PageShown):
        refusal = None
        if outcome.stale:
            changes = [
                (text_in(item.text, outcome.language), format_answer(item, value, outcome.language))
                for item, value in outcome.changed
            ]
            refusal = notice(recovery.STALE_PAGE_TITLE, recovery.STALE_PAGE, changes)
        status = 409 if outcome.stale else 422 if outcome.errors else 200
        return _page_html(outcome, token, refusal), status
    refusal = notice(recovery.STALE_REVIEW_TITLE, recovery.STALE_REVIEW) if outcome.stale else None
    status = 409 if outcome.stale else 422 if outcome.incomplete else 200
    return _review_html(outcome, token, refusal), status


def _go(token: str, outcome: answering.Redirect, code: int = 302) -> Any:
    if outcome.language is not None:
        _remember_language(outcome.language)
    if outcome.response_id is not None and session.get("started", {}).get("response") != outcome.response_id:
        # Anonymous responses store no exact time; this browser remembers when it started (when it first saw the
        # landing page), for the duration.
        now = _now()
        opened = session.pop(OPENED_KEY, None)
        at = opened if isinstance(opened, int) and 0 <= now - opened <= OPENED_WITHIN else now
        session["started"] = {"response": outcome.response_id, "at": at}
    return redirect(_url(token, outcome.target), code=code)


def _url(token: str, target: str) -> str:
    """The address of a Redirect's target: the link's own page, the review, the practice page or a page."""
    if target == answering.LANDING:
        return url_for("survey.landing", token=token)
    if target == answering.REVIEW:
        return url_for("survey.review", token=token)
    if target == answering.PRACTICE:
        return url_for("survey.practice", token=token)
    return url_for("survey.page", token=token, page_id=target)


def _page_html(shown: answering.PageShown, token: str, refusal: Notice | None) -> str:
    view = _page_view(shown, token)
    return render_template(
        "survey/page.html",
        view=view,
        token=token,
        notice=refusal,
        version=shown.version,
        description=_link_description(shown) if shown.landing else None,
    )


def _link_description(shown: answering.PageShown) -> str:
    """The instrument's description, which the landing page shows above its first page."""
    return text_in(shown.definition.description, shown.language) if shown.definition.description else ""


def _distribution_html(shown: answering.PageShown, token: str) -> Any:
    """Only the drawn judgement of a page (what the page's script puts in place), in the page language."""
    assert shown.distribution is not None  # nosec B101  # narrows the type: the caller checked it
    _remember_language(shown.language)
    result = get_template_attribute("survey/items/_parts.html", "distribution_result")
    html = result(_page_view(shown, token), shown.distribution.item)
    return html, 200, {FRAGMENT_HEADER: DISTRIBUTION_FRAGMENT, "Vary": FRAGMENT_HEADER}


def _page_view(shown: answering.PageShown, token: str) -> PageView:
    """What the page template needs to show a page the request API decided on."""
    return PageView(
        action=url_for("survey.save", token=token, page_id=shown.page.id),
        definition=shown.definition,
        page=shown.page,
        language=shown.language,
        values=shown.values,
        errors={name: translate(message, shown.language) for name, message in shown.errors.items()},
        answers=shown.answers,
        number=shown.number,
        total=shown.total,
        feedback=shown.feedback,
        rationale_items=shown.rationale_items,
        k=shown.k,
        always_shown=shown.always_shown,
        distribution=(
            distribution_view(shown.distribution, shown.language) if shown.distribution is not None else None
        ),
        confirm_decline=shown.confirm_decline,
        landing=shown.landing,
        last=shown.last,
    )


def _review_html(shown: answering.ReviewShown, token: str, refusal: Notice | None) -> str:
    language = shown.language
    sections = [
        (page_def, [(item, format_answer(item, value, language)) for item, value in rows])
        for page_def, rows in shown.sections
    ]
    return render_template(
        "survey/review.html",
        definition=shown.definition,
        token=token,
        sections=sections,
        missing=shown.missing,
        notice=refusal,
        version=shown.version,
        t=lambda text: text_in(text, language),
    )


# ----------------------------------------------------------------------------------- refused posts (recovery)


def _posting_answers() -> bool:
    """Whether this request sends what an expert typed: a questionnaire page, the review, or discussion posts."""
    return request.method == "POST" and request.endpoint in {
        "survey.save",
        "survey.submit",
        "survey.discussion_post",
        "survey.score_practice",
    }


def _error_page(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Any:
    """An error page of an expert's link; it offers the research team's contact once the link was opened."""
    html = render_template("error.html", status=status, title=title, message=message, team=g.get("team"))
    return html, status, headers or {}


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> Any:
    """No valid CSRF token (a new browser, a cleared cookie): the same page again, nothing saved."""
    try:
        # The unknown-link limit is checked after the CSRF check, which refused this request: check it here,
        # since showing the page back looks the link up, and a lookup must never escape the guessing limit.
        limiter = current_app.extensions.get(ratelimit.EXTENSION)
        if limiter is not None:
            limiter._check_request_limit()
    except RateLimitExceeded as limited:
        return _rate_limited(limited)
    token = str((request.view_args or {}).get("token", ""))
    try:
        link = _open(token)
    except flow.LinkError as error:
        return _link_error(error)
    except (OperationalError, PoolTimeout) as down:
        return _refused_by_database(down)
    status = 400
    if request.endpoint == "survey.discussion_post":
        discussed = discussion_views.discussion_again(
            token, link, notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_DISCUSSION)
        )
        if discussed is not None:
            return discussed, status
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token), code=303)
    if (
        request.endpoint == "survey.score_practice"
    ):  # what was typed, listed, with a button that sends it again
        return recovery.unsaved_page(notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_PAGE), status)
    if request.endpoint == "survey.start":
        # an earlier landing page's language choice: the landing page again
        first = answering.show_landing(link, db.session)
        if isinstance(first, answering.PageShown):
            _remember_language(first.language)
            return _page_html(first, token, notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_PAGE)), status
        return _error_page(status, gettext(recovery.EXPIRED_TITLE), gettext(recovery.EXPIRED_LINK))
    form = recovery.posted_fields()
    if request.endpoint == "survey.save":
        page_id = str((request.view_args or {}).get("page_id", ""))
        again = answering.show_page_again(db.session, link, page_id, form)
        if again is not None:
            _remember_language(again.language)
            refusal = notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_PAGE)
            return _page_html(again, token, refusal), status
    if request.endpoint == "survey.submit":
        shown = answering.show_review_again(db.session, link, form)
        if shown is not None:
            refusal = notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_REVIEW)
            return _review_html(shown, token, refusal), status
    return _error_page(status, gettext(recovery.EXPIRED_TITLE), gettext(recovery.EXPIRED_LINK))


def _is_database_refusal(exc: BaseException | None) -> bool:
    if isinstance(exc, OperationalError | PoolTimeout):
        return True
    return isinstance(exc, InternalError) and getattr(exc.orig, "sqlstate", None) == READ_ONLY_SQLSTATE


@bp.errorhandler(OperationalError)
@bp.errorhandler(PoolTimeout)
def _database_error(exc: Exception) -> Any:
    return _refused_by_database(exc)


@bp.errorhandler(InternalError)
def _database_internal_error(exc: InternalError) -> Any:
    """A read-only PostgreSQL is an outage like the others; any other internal error is a 500."""
    if _is_database_refusal(exc):
        return _refused_by_database(exc)
    log.exception("unexpected database error [request %s]", g.get("request_id", "-"))
    message = gettext("The error has been logged (reference %(ref)s). Your saved answers are safe.")
    return _error_page(500, gettext(ERROR_TITLES[500]), message % {"ref": g.get("request_id", "-")})


@bp.errorhandler(InternalServerError)
def _server_error(exc: InternalServerError) -> Any:
    """An error after the view (the commit failed): a database outage keeps the page, anything else is a 500."""
    original = exc.original_exception
    if _is_database_refusal(original):
        assert isinstance(original, Exception)  # nosec B101  # narrows the type; not a security check
        return _refused_by_database(original)
    return _error_page(500, gettext(ERROR_TITLES[500]), exc.description or "")


def _refused_by_database(exc: Exception) -> Any:
    """The 503 page; for a questionnaire or review post, that page again with what was sent (nothing saved)."""
    # The DBAPI's own message, not SQLAlchemy's text, which would carry the statement's parameters (answers).
    log.error(
        "database unavailable [request %s]: %s: %s",
        g.get("request_id", "-"),
        type(exc).__name__,
        getattr(exc, "orig", None) or exc.__class__.__name__,
    )
    title = gettext(ERROR_TITLES[503])
    if not _posting_answers():
        return _error_page(503, title, gettext(DATABASE_DOWN))
    return _shown_again(503, title, recovery.DOWN_PAGE, recovery.DOWN_REVIEW)


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded) -> Any:
    """Over the unknown-link limit: the 429 page; for a questionnaire post, that page again with what was sent."""
    body, status, headers = ratelimit._too_many(exc)
    if not _posting_answers():
        return body, status, headers
    minutes = max(1, -(-int(headers.get("Retry-After", "60")) // 60))
    title = gettext(ratelimit.TOO_MANY_TITLE)
    return _shown_again(
        status, title, recovery.LIMITED_PAGE, recovery.LIMITED_REVIEW, headers, minutes=minutes
    )


def _shown_again(
    status: int,
    title: str,
    page_message: str,
    review_message: str,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Any:
    """The posted page or review again, from what is known without the database (see ``recovery``)."""
    shown = recovery.shown_without_database()
    token = str((request.view_args or {}).get("token", ""))
    form = recovery.posted_fields()
    if request.endpoint in {
        "survey.discussion_post",
        "survey.score_practice",
    }:  # listed, with a resend button
        return recovery.unsaved_page(Notice(title, gettext(page_message, **params)), status, headers)
    if request.endpoint == "survey.save":
        refusal = Notice(title, gettext(page_message, **params))
        page_id = str((request.view_args or {}).get("page_id", ""))
        again = None
        if shown is not None:
            again = answering.page_from_memory(
                shown.definition,
                page_id,
                form,
                language=shown.language,
                answers=shown.answers,
                rationale_items=shown.rationale_items,
                k=shown.k,
            )
        if again is not None:
            g.language = again.language
            return _page_html(again, token, refusal), status, headers or {}
        return recovery.unsaved_page(refusal, status, headers)
    refusal = Notice(title, gettext(review_message, **params))
    if shown is not None and shown.opened:
        g.language = shown.language
        review_again = answering.review_from_memory(shown.definition, shown.answers, shown.language, form)
        return _review_html(review_again, token, refusal), status, headers or {}
    return recovery.unsaved_page(refusal, status, headers)


from elicit.survey import discussion as discussion_views  # noqa: E402  # its views use this module's
from elicit.survey import practice as practice  # noqa: E402  # its views use this module's
