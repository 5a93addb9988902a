"""The expert's pages at ``/s/<token>``: thin views over ``elicit.responding``.

Contract (docs and DESIGN.md, "Expert pages"): each questionnaire page is one ``<form method="post">``; field
names are item ids, composite parts ``item.code``; the forward button is ``name="nav" value="next"`` (``submit``
on the review page), back is ``value="back"``. Everything works without JavaScript.

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
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import InternalServerError

from elicit import ratelimit
from elicit.app import DATABASE_DOWN, ERROR_TITLES
from elicit.db import db
from elicit.i18n import N_
from elicit.instruments.schema import Definition, text_in
from elicit.responding import flow
from elicit.responding.feedback import feedback_for
from elicit.responding.values import Message
from elicit.survey import recovery
from elicit.survey.recovery import VERSION_FIELD, Notice, notice
from elicit.survey.rendering import PageView, format_answer, stored_values, translate

log = logging.getLogger("elicit.survey")

bp = Blueprint("survey", __name__, url_prefix="/s")

ALLOWED_CONTROL_FIELDS = {"csrf_token", "nav", "switch_language", "language", VERSION_FIELD}
SINGLE_CONTROL_FIELDS = ("nav", "switch_language", "csrf_token", VERSION_FIELD)
MAX_FIELDS = 400
READ_ONLY_SQLSTATE = "25006"  # PostgreSQL: read_only_sql_transaction (a standby, or a read-only database)

LINK_MESSAGES = {
    "unknown": (
        404,
        N_("This link is not known"),
        N_("Please check that you opened the whole link from your invitation."),
    ),
    "revoked": (
        410,
        N_("This link is no longer valid"),
        N_("The research team has replaced this link. Please use the newest invitation you received."),
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
    language = (
        link.response.language if link.response else session.get("language") or request.args.get("lang")
    )
    g.language = language if language in link.definition.languages else link.definition.languages[0]
    if link.response is not None:
        # Remembered in this browser so the thank-you page keeps the language after an anonymous submit.
        session["language"] = g.language
    recovery.remember(link, g.language)
    return link


@bp.errorhandler(flow.LinkError)
def _link_error(exc: flow.LinkError) -> tuple[str, int]:
    status, title, message = LINK_MESSAGES.get(exc.reason, (exc.status, "This link cannot be used", ""))
    return render_template(
        "error.html", status=status, title=gettext(title), message=gettext(message)
    ), status


def _after_submit_page(link: flow.ExpertLink) -> str:
    if link.declined:
        return render_template("survey/done.html", link=link, state="declined")
    return render_template("survey/done.html", link=link, state="submitted")


@bp.get("/<token>")
def landing(token: str) -> Any:
    """Open (or resume) a response: landing with language choice, or straight back to where the expert was."""
    link = _open(token)
    if link.submitted or link.declined:
        return _after_submit_page(link)
    if link.response is not None:
        return redirect(_page_url(token, flow.resume_page(link)))
    return render_template("survey/landing.html", link=link, token=token, definition=link.definition)


@bp.post("/<token>")
def start(token: str) -> Any:
    """The language chosen on the landing page starts the response."""
    link = _open(token, lock=True)
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token), code=303)
    language = request.form.get("language", "")
    if language in link.definition.languages:
        session["language"] = language
    try:
        response = flow.start(db.session, link, language)
    except flow.AlreadySubmitted:
        return redirect(url_for("survey.landing", token=token), code=303)
    if session.get("started", {}).get("response") != response.id:
        # Anonymous responses store no exact time; this browser remembers when it started, for the duration.
        session["started"] = {"response": response.id, "at": int(datetime.now(UTC).timestamp())}
    return redirect(_page_url(token, flow.resume_page(link)), code=303)


def _page_url(token: str, page_id: str) -> str:
    if page_id == flow.REVIEW:
        return url_for("survey.review", token=token)
    return url_for("survey.page", token=token, page_id=page_id)


def _reachable(link: flow.ExpertLink, page_id: str) -> bool:
    """A page can be opened when it is visible and not beyond the first page still to answer."""
    visible = [p.id for p in flow.visible_pages(link.definition, link.answers)]
    if page_id not in visible:
        return False
    resume = flow.resume_page(link)
    limit = len(visible) if resume == flow.REVIEW else visible.index(resume)
    return visible.index(page_id) <= limit


def _render_page(
    link: flow.ExpertLink,
    token: str,
    page_id: str,
    values: Any,
    errors: dict[str, Message],
    status: int = 200,
    *,
    refusal: Notice | None = None,
    version: str | None = None,
) -> Any:
    """A questionnaire page; ``version`` defaults to that of the stored answers it shows."""
    page = next(p for p in link.definition.pages if p.id == page_id)
    if version is None:
        version = flow.answers_version(db.session, link, page.answerable_items())
    view = _page_view(
        link.definition,
        page_id,
        g.language,
        values,
        errors,
        link.answers,
        feedback=feedback_for(db.session, link, page.answerable_items()),
        rationale_items=flow.rationale_items(link),
        k=link.study.k_threshold,
    )
    html = render_template("survey/page.html", view=view, token=token, notice=refusal, version=version)
    return html, status


def _page_view(
    definition: Definition,
    page_id: str,
    language: str,
    values: Any,
    errors: dict[str, Message],
    answers: Any,
    **extra: Any,
) -> PageView:
    ids = [p.id for p in flow.progress_pages(definition, answers)]
    page = next(p for p in definition.pages if p.id == page_id)
    return PageView(
        definition=definition,
        page=page,
        language=language,
        values=values,
        errors={name: translate(message, language) for name, message in errors.items()},
        answers=answers,
        number=(ids.index(page_id) + 1) if page_id in ids else 1,
        total=len(ids),
        **extra,
    )


@bp.get("/<token>/p/<page_id>")
def page(token: str, page_id: str) -> Any:
    link = _open(token)
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token))
    if link.response is None:
        return redirect(url_for("survey.landing", token=token))
    if not _reachable(link, page_id):
        return redirect(_page_url(token, flow.resume_page(link)))
    return _render_page(link, token, page_id, _shown_values(link), {})


def _shown_values(link: flow.ExpertLink) -> dict[str, list[str]]:
    """Stored answers; in a later Delphi round, the expert's previous-round answers fill what is still empty."""
    assert link.response is not None  # nosec B101  # narrows the type: callers return early when there is no response; not a security check
    asks_notes = flow.rationale_items(link) or any(item.confidence for item in link.definition.items())
    notes = flow.load_notes(db.session, link.response) if asks_notes else None  # no query on plain surveys
    values = stored_values(link.definition, link.answers, notes)
    if link.round.number > 1:
        earlier = flow.previous_response(db.session, link)
        if earlier is not None:
            done = link.pages_done
            before = flow.load_answers(db.session, earlier, link.definition)
            unsaved = {k: v for k, v in before.items() if link.definition.page_of(k).id not in done}
            values = {**stored_values(link.definition, unsaved), **values}
    return values


def _check_fields(form: MultiDict[str, str], link: flow.ExpertLink, page_id: str) -> None:
    """Refuse posts that carry fields this page does not have (400), before anything is parsed."""
    if not any(p.id == page_id for p in link.definition.pages):
        abort(404)
    problem = _field_problem(form, link.definition, page_id, flow.rationale_items(link))
    if problem:
        abort(400, description=gettext(problem))


def _field_problem(
    form: MultiDict[str, str], definition: Definition, page_id: str, asks_rationale: frozenset[str]
) -> str | None:
    """Why a post does not fit a page (a catalog id), or None when every field belongs to it."""
    page_def = next((p for p in definition.pages if p.id == page_id), None)
    if page_def is None:
        return N_("The form contained fields this page does not have.")
    allowed = set(ALLOWED_CONTROL_FIELDS)
    for item in page_def.answerable_items():
        allowed.update(item.variables)
        allowed.add(item.id)
        if item.dont_know:
            allowed.add(item.id + ".dont_know")
        if item.confidence:
            allowed.add(item.id + ".confidence")
        if item.id in asks_rationale:
            allowed.add(item.id + ".rationale")
    keys = list(form.keys())
    if len(keys) > MAX_FIELDS or any(key not in allowed for key in keys):
        return N_("The form contained fields this page does not have.")
    if any(len(form.getlist(control)) > 1 for control in SINGLE_CONTROL_FIELDS):
        return N_("The form was sent twice in one request.")
    return None


@bp.post("/<token>/p/<page_id>")
def save(token: str, page_id: str) -> Any:
    """Validate and save a page; move forward, back, or switch language, keeping everything typed."""
    link = _open(token, lock=True)
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token), code=303)
    if link.response is None:
        return redirect(url_for("survey.landing", token=token), code=303)
    form = request.form
    _check_fields(form, link, page_id)
    if not _reachable(link, page_id):
        return redirect(_page_url(token, flow.resume_page(link)), code=303)
    nav = form.get("nav", "next")
    switch = form.get("switch_language")
    if switch is not None and switch not in link.definition.languages:
        abort(400, description=gettext("Unknown language."))
    if nav not in {"next", "back"} and not switch:
        abort(400, description=gettext("Unknown navigation."))
    page_def = next(p for p in link.definition.pages if p.id == page_id)
    fields = {key: form.getlist(key) for key in form}
    try:
        result = flow.save_page(db.session, link, page_def, fields, form.get(VERSION_FIELD) or None)
    except flow.AlreadySubmitted:
        return redirect(url_for("survey.landing", token=token), code=303)
    except flow.StaleAnswers as stale:
        changes = [
            (text_in(item.text, g.language), format_answer(item, link.answers.get(item.id), g.language))
            for item in stale.changed
        ]
        refusal = notice(recovery.STALE_PAGE_TITLE, recovery.STALE_PAGE, changes)
        return _render_page(link, token, page_id, fields, {}, 409, refusal=refusal, version=stale.current)
    if result.declined:
        return redirect(url_for("survey.landing", token=token), code=303)
    if switch:
        if switch in link.definition.languages and link.response is not None:
            link.response.language = switch
            g.language = session["language"] = switch
        if not result.ok:
            # Keep what was typed, in the new language, without scolding: the expert only switched language.
            return _render_page(link, token, page_id, fields, {})
        return redirect(_page_url(token, page_id), code=303)
    if not result.ok:
        if nav == "back":
            return redirect(_page_url(token, _neighbour(link, page_id, -1)), code=303)
        return _render_page(link, token, page_id, fields, result.errors, status=422)
    target = _neighbour(link, page_id, -1 if nav == "back" else 1)
    return redirect(_page_url(token, target), code=303)


def _started_here(link: flow.ExpertLink) -> datetime | None:
    """When this browser started the link's response (None if it started elsewhere)."""
    started = session.get("started") or {}
    if link.response is None or started.get("response") != link.response.id:
        return None
    try:
        return datetime.fromtimestamp(int(started["at"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _neighbour(link: flow.ExpertLink, page_id: str, step: int) -> str:
    visible = [p.id for p in flow.visible_pages(link.definition, link.answers)]
    if page_id not in visible:
        return flow.resume_page(link)
    index = visible.index(page_id) + step
    if index < 0:
        return visible[0]
    if index >= len(visible):
        return flow.REVIEW
    return visible[index]


@bp.get("/<token>/review")
def review(token: str) -> Any:
    link = _open(token)
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token))
    if link.response is None:
        return redirect(url_for("survey.landing", token=token))
    resume = flow.resume_page(link)
    if resume != flow.REVIEW:
        return redirect(_page_url(token, resume))
    return _render_review(link, token)


def _render_review(
    link: flow.ExpertLink,
    token: str,
    missing: bool = False,
    status: int = 200,
    *,
    refusal: Notice | None = None,
    version: str | None = None,
) -> Any:
    """The review page; ``version`` defaults to that of the stored answers it shows."""
    if version is None:
        version = flow.answers_version(db.session, link)
    missing_items = flow.missing_required(link) if missing else []
    return _review_html(link.definition, link.answers, token, missing_items, refusal, version), status


def _review_html(
    definition: Definition,
    answers: Any,
    token: str,
    missing: Any,
    refusal: Notice | None,
    version: str,
) -> str:
    language = g.language
    sections = []
    for page_def in flow.visible_pages(definition, answers):
        rows = []
        for group in page_def.items:
            members = group.rows if group.type == "likert_matrix" else (group,)
            for item in members:
                if not item.answerable or item.type == "consent":
                    continue
                matrix = group if group.type == "likert_matrix" else None
                if not flow.item_visible(item, answers, matrix):
                    continue
                rows.append((item, format_answer(item, answers.get(item.id), language)))
        if rows:
            sections.append((page_def, rows))
    return render_template(
        "survey/review.html",
        definition=definition,
        token=token,
        sections=sections,
        missing=missing,
        notice=refusal,
        version=version,
        t=lambda text: _text(text, language),
    )


def _text(text: Any, language: str) -> str:
    return text_in(text, language)


@bp.post("/<token>/review")
def submit(token: str) -> Any:
    """Submit once; a double click, a replay or a second tab lands on the same thank-you page."""
    link = _open(token, lock=True)
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token), code=303)
    form = request.form
    if any(key not in ALLOWED_CONTROL_FIELDS for key in form) or any(
        len(form.getlist(control)) > 1 for control in SINGLE_CONTROL_FIELDS
    ):
        abort(400, description=gettext("The form contained fields this page does not have."))
    nav = form.get("nav")
    if link.response is None:
        return redirect(url_for("survey.landing", token=token), code=303)
    if nav == "back":
        visible = flow.visible_pages(link.definition, link.answers)
        return redirect(_page_url(token, visible[-1].id), code=303)
    if nav != "submit":
        abort(400, description=gettext("Unknown navigation."))
    try:
        flow.submit(
            db.session, link, started=_started_here(link), expected_version=form.get(VERSION_FIELD) or None
        )
    except flow.StaleAnswers as stale:
        refusal = notice(recovery.STALE_REVIEW_TITLE, recovery.STALE_REVIEW)
        missing = bool(flow.missing_required(link))
        return _render_review(link, token, missing, 409, refusal=refusal, version=stale.current)
    except flow.IncompleteResponse:
        return _render_review(link, token, missing=True, status=422)
    return redirect(url_for("survey.landing", token=token), code=303)


# ----------------------------------------------------------------------------------- refused posts (recovery)


def _posting_answers() -> bool:
    """Whether this request is a questionnaire page or the review page being sent."""
    return request.method == "POST" and request.endpoint in {"survey.save", "survey.submit"}


def _error_page(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Any:
    html = render_template("error.html", status=status, title=title, message=message)
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
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token), code=303)
    if request.endpoint == "survey.start":
        refusal = notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_LANDING)
        page = render_template(
            "survey/landing.html", link=link, token=token, definition=link.definition, notice=refusal
        )
        return page, status
    form: MultiDict[str, str] = request.form
    posted = form.get(VERSION_FIELD) or None
    page_id = str((request.view_args or {}).get("page_id", ""))
    if (
        request.endpoint == "survey.save"
        and link.response is not None
        and _reachable(link, page_id)
        and not _field_problem(form, link.definition, page_id, flow.rationale_items(link))
    ):
        refusal = notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_PAGE)
        fields = recovery.posted_fields()
        return _render_page(link, token, page_id, fields, {}, status, refusal=refusal, version=posted)
    if (
        request.endpoint == "survey.submit"
        and link.response is not None
        and flow.resume_page(link) == flow.REVIEW
        and all(key in ALLOWED_CONTROL_FIELDS for key in form)
    ):
        # The review shows what is stored now, so its version is the current one.
        return _render_review(
            link, token, status=status, refusal=notice(recovery.EXPIRED_TITLE, recovery.EXPIRED_REVIEW)
        )
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
    form: MultiDict[str, str] = request.form
    posted = form.get(VERSION_FIELD) or ""
    if request.endpoint == "survey.save":
        refusal = Notice(title, gettext(page_message, **params))
        page_id = str((request.view_args or {}).get("page_id", ""))
        fields = recovery.posted_fields()
        rationale = recovery.posted_rationales(fields)
        if shown is not None and not _field_problem(
            form, shown.definition, page_id, shown.rationale_items | rationale
        ):
            g.language = shown.language
            page = next(p for p in shown.definition.pages if p.id == page_id)
            typed = {
                item.id for item in page.answerable_items() if any(n.split(".")[0] == item.id for n in fields)
            }
            typed |= {group.id for group in page.items if any(row.id in typed for row in group.rows)}
            view = _page_view(
                shown.definition,
                page_id,
                shown.language,
                fields,
                {},
                shown.answers,
                rationale_items=shown.rationale_items | rationale,
                k=shown.k,
                always_shown=frozenset(typed),
            )
            html = render_template("survey/page.html", view=view, token=token, notice=refusal, version=posted)
            return html, status, headers or {}
        return recovery.unsaved_page(refusal, status, headers)
    refusal = Notice(title, gettext(review_message, **params))
    if shown is not None and shown.opened:
        g.language = shown.language
        html = _review_html(shown.definition, shown.answers, token, [], refusal, posted)
        return html, status, headers or {}
    return recovery.unsaved_page(refusal, status, headers)
