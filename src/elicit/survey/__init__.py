"""The expert's pages at ``/s/<token>``: thin views over ``elicit.responding``.

Contract (docs and DESIGN.md, "Expert pages"): each questionnaire page is one ``<form method="post">``; field
names are item ids, composite parts ``item.code``; the forward button is ``name="nav" value="next"`` (``submit``
on the review page), back is ``value="back"``. Everything works without JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from elicit.db import db
from elicit.i18n import N_
from elicit.instruments.schema import text_in
from elicit.responding import flow
from elicit.responding.feedback import feedback_for
from elicit.responding.values import Message
from elicit.survey.rendering import PageView, format_answer, stored_values, translate

bp = Blueprint("survey", __name__, url_prefix="/s")

ALLOWED_CONTROL_FIELDS = {"csrf_token", "nav", "switch_language", "language"}
MAX_FIELDS = 400

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
    link = flow.open_by_token(db.session, token, lock=lock)
    language = (
        link.response.language if link.response else session.get("language") or request.args.get("lang")
    )
    g.language = language if language in link.definition.languages else link.definition.languages[0]
    if link.response is not None:
        # Remembered in this browser so the thank-you page keeps the language after an anonymous submit.
        session["language"] = g.language
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
        flow.start(db.session, link, language)
    except flow.AlreadySubmitted:
        return redirect(url_for("survey.landing", token=token), code=303)
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
) -> Any:
    language = g.language
    ids = [p.id for p in flow.progress_pages(link.definition, link.answers)]
    page = next(p for p in link.definition.pages if p.id == page_id)
    view = PageView(
        definition=link.definition,
        page=page,
        language=language,
        values=values,
        errors={name: translate(message, language) for name, message in errors.items()},
        answers=link.answers,
        number=(ids.index(page_id) + 1) if page_id in ids else 1,
        total=len(ids),
        feedback=feedback_for(db.session, link, page.answerable_items()),
        rationale_items=flow.rationale_items(link),
        k=link.study.k_threshold,
    )
    html = render_template("survey/page.html", view=view, token=token, link=link)
    return html, status


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
    page_def = next((p for p in link.definition.pages if p.id == page_id), None)
    if page_def is None:
        abort(404)
    allowed = set(ALLOWED_CONTROL_FIELDS)
    asks_rationale = flow.rationale_items(link)
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
        abort(400, description=gettext("The form contained fields this page does not have."))
    for control in ("nav", "switch_language", "csrf_token"):
        if len(form.getlist(control)) > 1:
            abort(400, description=gettext("The form was sent twice in one request."))


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
        result = flow.save_page(db.session, link, page_def, fields)
    except flow.AlreadySubmitted:
        return redirect(url_for("survey.landing", token=token), code=303)
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


def _render_review(link: flow.ExpertLink, token: str, missing: bool = False, status: int = 200) -> Any:
    language = g.language
    sections = []
    for page_def in flow.visible_pages(link.definition, link.answers):
        rows = []
        for group in page_def.items:
            members = group.rows if group.type == "likert_matrix" else (group,)
            for item in members:
                if not item.answerable or item.type == "consent":
                    continue
                matrix = group if group.type == "likert_matrix" else None
                if not flow.item_visible(item, link.answers, matrix):
                    continue
                rows.append((item, format_answer(item, link.answers.get(item.id), language)))
        if rows:
            sections.append((page_def, rows))
    missing_items = flow.missing_required(link) if missing else []
    html = render_template(
        "survey/review.html",
        link=link,
        token=token,
        sections=sections,
        missing=missing_items,
        t=lambda text: _text(text, language),
    )
    return html, status


def _text(text: Any, language: str) -> str:
    return text_in(text, language)


@bp.post("/<token>/review")
def submit(token: str) -> Any:
    """Submit once; a double click, a replay or a second tab lands on the same thank-you page."""
    link = _open(token, lock=True)
    if link.submitted or link.declined:
        return redirect(url_for("survey.landing", token=token), code=303)
    form = request.form
    if any(key not in ALLOWED_CONTROL_FIELDS for key in form) or len(form.getlist("nav")) > 1:
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
        flow.submit(db.session, link)
    except flow.IncompleteResponse:
        return _render_review(link, token, missing=True, status=422)
    return redirect(url_for("survey.landing", token=token), code=303)
