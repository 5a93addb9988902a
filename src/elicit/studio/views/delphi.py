"""Rounds, consensus and seed realizations of a study (Delphi and structured expert judgement)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import FloatField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired

from elicit import audit
from elicit.db import db
from elicit.instruments.versions import definition_of
from elicit.models import Anonymity, DiscussionPost, InstrumentVersion, Realization, RoundStatus, Study
from elicit.rounds import (
    close_discussion,
    close_round,
    open_discussion,
    open_discussion_of,
    open_round,
    set_realization,
)
from elicit.studies import StudyError
from elicit.studio import access, confirming, delphi
from elicit.studio.blueprint import bp
from elicit.studio.forms import ConsensusRuleForm, options

View = str | tuple[str, int] | WerkzeugResponse


class RoundOpenForm(FlaskForm):
    version = SelectField(_("Instrument version"), validators=[InputRequired()])
    feedback = SelectMultipleField(_("Items whose round results the experts see"))


class DiscussionForm(FlaskForm):
    items = SelectMultipleField(_("Items to discuss (none chosen: every item that can be)"))


class EmptyForm(FlaskForm):
    """Only the CSRF token (closing a round)."""


class RealizationForm(FlaskForm):
    item = StringField(_("Seed question"), validators=[InputRequired()])
    value = FloatField(_("True value"), validators=[InputRequired()])


def _versions(study: Study) -> list[InstrumentVersion]:
    first = study.rounds[0].instrument_version
    return list(
        db.session.scalars(
            select(InstrumentVersion)
            .where(InstrumentVersion.instrument_id == first.instrument_id)
            .order_by(InstrumentVersion.published_at)
        )
    )


def _open_form(study: Study) -> RoundOpenForm:
    form = RoundOpenForm()
    versions = _versions(study)
    form.version.choices = options((str(v.id), v.ref) for v in versions)
    latest = study.rounds[-1].instrument_version
    items = [i for i in definition_of(latest).items() if i.kind.feedback]
    form.feedback.choices = options((i.id, i.id) for i in items)
    if form.version.data is None:
        form.version.data = str(latest.id)
    return form


def _discussion_form(study: Study) -> DiscussionForm:
    form = DiscussionForm()
    items = [i for i in definition_of(study.rounds[-1].instrument_version).items() if i.kind.feedback]
    form.items.choices = options((i.id, i.id) for i in items)
    return form


def _discussion(study: Study) -> dict[str, object]:
    """The discussion step as the rounds page shows it: the open one (if any) and how many reasons it has."""
    current = open_discussion_of(db.session, study)
    posts = 0
    if current is not None:
        posts = (
            db.session.scalar(
                select(func.count())
                .select_from(DiscussionPost)
                .where(DiscussionPost.round_id == current.round_id)
            )
            or 0
        )
    last = study.rounds[-1] if study.rounds else None
    can_open = (
        current is None
        and last is not None
        and last.status == RoundStatus.CLOSED
        and study.anonymity == Anonymity.PSEUDONYMOUS
    )
    return {"current": current, "posts": posts, "can_open": can_open}


def _tables(study: Study) -> dict[str, object]:
    """The Delphi tables, or no tables and the sentence saying why when the study's rule is not valid."""
    try:
        return delphi.tables(db.session, study)
    except StudyError as exc:
        return {"rule": str(exc), "consensus": [], "stability": [], "suppressed": 0}


def _page(
    study: Study,
    open_form: RoundOpenForm | None = None,
    status: int = 200,
    rule_form: ConsensusRuleForm | None = None,
    discussion_form: DiscussionForm | None = None,
) -> tuple[str, int]:
    seeds = sorted(
        {
            item.id
            for rnd in study.rounds
            for item in definition_of(rnd.instrument_version).items()
            if item.seed
        }
    )
    realizations = {
        r.item_id: r for r in db.session.scalars(select(Realization).where(Realization.study_id == study.id))
    }
    if rule_form is None:
        rule_form = ConsensusRuleForm(
            formdata=None, max_iqr=study.consensus_max_iqr, min_agreement=study.consensus_min_agreement
        )
    return render_template(
        "studio/rounds.html",
        study=study,
        open_form=open_form or _open_form(study),
        close_form=EmptyForm(),
        realization_form=RealizationForm(),
        rule_form=rule_form,
        tables=_tables(study),
        seeds=seeds,
        realizations=realizations,
        can_open=study.anonymity == Anonymity.PSEUDONYMOUS,
        discussion=_discussion(study),
        discussion_form=discussion_form or _discussion_form(study),
    ), status


@bp.get("/studies/<slug>/rounds")
@access.study_access(access.READ)
def rounds(study: Study) -> View:
    return _page(study)


@bp.post("/studies/<slug>/rounds/open")
@access.study_access(access.MANAGE)
def round_open(study: Study) -> View:
    form = _open_form(study)
    if not form.validate_on_submit():
        return _page(study, form, 422)
    version = db.session.get(InstrumentVersion, int(form.version.data or 0))
    try:
        opened = open_round(db.session, study, version, form.feedback.data or [])
    except StudyError as exc:
        flash(str(exc), "error")
        return _page(study, form, 422)
    user = access.current_user()
    audit.record(
        db.session,
        "round.open",
        user.email,
        study_id=study.id,
        target=study.slug,
        details={
            "round": opened.number,
            "version": opened.instrument_version.ref,
            "feedback": form.feedback.data,
        },
    )
    flash(_("Round %(n)s is open. Every expert keeps their link.", n=opened.number), "success")
    return redirect(url_for("studio.rounds", slug=study.slug))


def _close_round_confirmation(study: Study) -> confirming.Confirmation:
    number = study.rounds[-1].number if study.rounds else 0
    return confirming.Confirmation(
        title=_("Close round %(n)s?", n=number),
        consequences=(
            _("Experts can no longer answer or change their answers of round %(n)s.", n=number),
            _(
                "A round cannot be opened again once closed; a pseudonymous study can go on with a next round."
            ),
        ),
        button=_("Close round %(n)s", n=number),
        action=url_for("studio.round_close", slug=study.slug),
        cancel=url_for("studio.rounds", slug=study.slug),
    )


@bp.get("/studies/<slug>/rounds/close")
@access.study_access(access.MANAGE)
def round_close_confirm(study: Study) -> View:
    if not study.rounds or study.rounds[-1].status != RoundStatus.OPEN:
        abort(409, _("No round of this study is open."))
    return confirming.page(_close_round_confirmation(study))


@bp.post("/studies/<slug>/rounds/close")
@access.study_access(access.MANAGE)
def round_close(study: Study) -> View:
    if not EmptyForm().validate_on_submit():
        return _page(study, status=422)
    if not confirming.confirmed():
        return confirming.unconfirmed(_close_round_confirmation(study))
    try:
        closed = close_round(db.session, study)
    except StudyError as exc:
        flash(str(exc), "error")
        return _page(study, status=422)
    user = access.current_user()
    audit.record(
        db.session,
        "round.close",
        user.email,
        study_id=study.id,
        target=study.slug,
        details={"round": closed.number},
    )
    flash(_("Round %(n)s is closed.", n=closed.number), "success")
    return redirect(url_for("studio.rounds", slug=study.slug))


@bp.post("/studies/<slug>/discussion/open")
@access.study_access(access.MANAGE)
def discussion_open(study: Study) -> View:
    form = _discussion_form(study)
    if not form.validate_on_submit():
        return _page(study, status=422, discussion_form=form)
    try:
        opened = open_discussion(db.session, study, form.items.data or [])
    except StudyError as exc:
        flash(str(exc), "error")
        return _page(study, status=422, discussion_form=form)
    audit.record(
        db.session,
        "discussion.open",
        access.current_user().email,
        study_id=study.id,
        target=study.slug,
        details={"round": opened.round.number, "items": opened.items.split()},
    )
    flash(
        _(
            "The discussion of round %(n)s is open: experts who submitted it find it on their links.",
            n=opened.round.number,
        ),
        "success",
    )
    return redirect(url_for("studio.rounds", slug=study.slug))


def _close_discussion_confirmation(study: Study) -> confirming.Confirmation:
    return confirming.Confirmation(
        title=_("Close the discussion?"),
        consequences=(
            _("Experts can no longer read the group's results or post reasons on their links."),
            _("Every reason posted so far is kept."),
        ),
        button=_("Close the discussion"),
        action=url_for("studio.discussion_close", slug=study.slug),
        cancel=url_for("studio.rounds", slug=study.slug),
    )


@bp.get("/studies/<slug>/discussion/close")
@access.study_access(access.MANAGE)
def discussion_close_confirm(study: Study) -> View:
    if open_discussion_of(db.session, study) is None:
        abort(409, _("No discussion of this study is open."))
    return confirming.page(_close_discussion_confirmation(study))


@bp.post("/studies/<slug>/discussion/close")
@access.study_access(access.MANAGE)
def discussion_close(study: Study) -> View:
    if not EmptyForm().validate_on_submit():
        return _page(study, status=422)
    if not confirming.confirmed():
        return confirming.unconfirmed(_close_discussion_confirmation(study))
    try:
        closed = close_discussion(db.session, study)
    except StudyError as exc:
        flash(str(exc), "error")
        return _page(study, status=422)
    audit.record(
        db.session,
        "discussion.close",
        access.current_user().email,
        study_id=study.id,
        target=study.slug,
        details={"round": closed.round.number},
    )
    flash(_("The discussion of round %(n)s is closed.", n=closed.round.number), "success")
    return redirect(url_for("studio.rounds", slug=study.slug))


@bp.post("/studies/<slug>/realizations")
@access.study_access(access.MANAGE)
def realization_set(study: Study) -> View:
    form = RealizationForm()
    if not form.validate_on_submit():
        return _page(study, status=422)
    user = access.current_user()
    try:
        set_realization(db.session, study, form.item.data or "", float(form.value.data or 0), user.email)
    except StudyError as exc:
        flash(str(exc), "error")
        return _page(study, status=422)
    audit.record(
        db.session,
        "realization.set",
        user.email,
        study_id=study.id,
        target=form.item.data or "",
        details={"value": form.value.data},
    )
    flash(_("The true value of %(item)s is saved.", item=form.item.data), "success")
    return redirect(url_for("studio.rounds", slug=study.slug))


@bp.post("/studies/<slug>/consensus-rule")
@access.study_access(access.MANAGE)
def consensus_rule(study: Study) -> View:
    form = ConsensusRuleForm()
    if not form.validate_on_submit():
        return _page(study, status=422, rule_form=form)
    try:
        delphi.set_rule(study, float(form.max_iqr.data or 0), float(form.min_agreement.data or 0))
    except StudyError as exc:
        flash(str(exc), "error")
        return _page(study, status=422, rule_form=form)
    user = access.current_user()
    audit.record(
        db.session,
        "study.consensus_rule",
        user.email,
        study_id=study.id,
        target=study.slug,
        details={"max_iqr": study.consensus_max_iqr, "min_agreement": study.consensus_min_agreement},
    )
    flash(_("The consensus rule is saved."), "success")
    return redirect(url_for("studio.rounds", slug=study.slug))
