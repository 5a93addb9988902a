"""Retention, erasure and subject access in the studio: the settings page's retention block, "Purge now", and
per roster entry "Erase…" and its subject access download. The work is :mod:`elicit.lifecycle`'s.

Studies whose retention date has passed are purged on studio requests too (:func:`_purge_due`, one query when
nothing is due), so no study waits for cron. A purge or erasure commits in the request that asks for it, before
the page is answered, because the database files are compacted after the commit (deleted rows must leave no
trace in them: :func:`elicit.lifecycle.compact`). URLs name roster entries by id, never by address, so no server
log line holds an e-mail address.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import lifecycle
from elicit.db import db
from elicit.models import RosterEntry, Study, StudyStatus
from elicit.studio import access, confirming, mail
from elicit.studio.blueprint import bp
from elicit.studio.forms import RetentionForm

View = str | tuple[str, int] | WerkzeugResponse
RETENTION_FORM = "retention"  # the settings page's retention form posts this as ``form``
log = logging.getLogger("elicit")


def _outbox_for(slug: str) -> Path:
    return mail.outbox_folder(current_app.config, current_app.instance_path, slug)


def _ledger() -> Path:
    return lifecycle.ledger_path(current_app.instance_path)


def _compact(tables: set[str]) -> str | None:
    problem = lifecycle.compact(db.engine, tables)
    if problem is not None:
        log.warning("after a purge or erasure: %s", problem)
    return problem


# ------------------------------------------------------------------------------------------ due on requests
@bp.before_request
def _purge_due() -> None:
    """Purge the studies whose retention date has passed, before a signed-in studio request is answered."""
    if g.get("studio_user") is None:
        return
    due = lifecycle.due_study_ids(db.session)
    if not due:
        return
    db.session.commit()  # this request has only read so far: the purge writes in transactions of its own
    for study_id in due:
        try:
            with db.transaction() as session:
                study = session.get(Study, study_id)
                if study is None:
                    continue
                report = lifecycle.purge_study(
                    session,
                    study,
                    secret=current_app.config["SECRET_KEY"],
                    outbox=_outbox_for(study.slug),
                    actor=lifecycle.ACTOR_RETENTION,
                )
                lifecycle.record_purge(_ledger(), report)
        except Exception:  # a failed purge must not take the studio down: cron's elicit purge tries again
            log.exception(
                "the purge of study %s (retention date passed) failed; elicit purge tries again", study_id
            )
            continue
        _compact(report.tables)


# -------------------------------------------------------------------------------------- the settings block
def retention_context(study: Study, form: RetentionForm | None = None) -> dict[str, Any]:
    """What the settings page's retention block shows (``form``: as posted, with its errors)."""
    if form is None:
        form = RetentionForm(formdata=None, obj=study)
    warning = None
    if (
        study.retain_until
        and study.closes_on
        and study.closes_on > study.retain_until
        and not study.purged_at
    ):
        warning = _(
            "The study now closes (%(closes)s) after its retention date (%(retain)s): its links stop working on "
            "%(retain)s, when the roster and links are purged.",
            closes=study.closes_on.isoformat(),
            retain=study.retain_until.isoformat(),
        )
    return {
        "retention": form,
        "retention_form": RETENTION_FORM,
        "retention_warning": warning,
        "purged_what": _(lifecycle.PURGED_WHAT),
        "kept_what": _(lifecycle.KEPT_WHAT),
    }


def save_retention(study: Study) -> WerkzeugResponse | RetentionForm:
    """Save or remove the retention date as posted; the form with its errors when it cannot be (nothing saved)."""
    form = RetentionForm()
    if not form.validate_on_submit():
        return form
    day = None if form.clear.data else form.retain_until.data
    problem = lifecycle.retention_problem(study, day)
    if problem is not None:
        form.retain_until.errors = [*form.retain_until.errors, problem]
        return form
    if lifecycle.set_retention(db.session, study, day, access.current_user().email):
        if day is None:
            flash(
                _("The retention date is removed: the personal data is kept until a date is set."), "success"
            )
        else:
            flash(
                _(
                    "Personal data is kept until %(day)s; it is purged the day after.",
                    day=day.isoformat(),
                ),
                "success",
            )
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("studio.study_settings", slug=study.slug) + "#retention", 303)


# ---------------------------------------------------------------------------------------------- purge now
def _purge_confirmation(study: Study) -> confirming.Confirmation:
    plan = lifecycle.purge_study(
        db.session,
        study,
        secret=current_app.config["SECRET_KEY"],
        outbox=_outbox_for(study.slug),
        actor="",
        dry_run=True,
        early=True,
    )
    yesterday = (lifecycle.today() - timedelta(days=1)).isoformat()
    return confirming.Confirmation(
        title=_("Purge the personal data of %(slug)s now?", slug=study.slug),
        consequences=(
            _("Deleted: %(what)s.", what=_(lifecycle.PURGED_WHAT)),
            _("Now that is: %(counts)s.", counts=lifecycle.describe(plan.deleted)),
            _("Kept: %(what)s.", what=_(lifecycle.KEPT_WHAT)),
            _(
                "The retention date becomes %(day)s, so a roster added later is purged too. Links of this study "
                "stop working for good.",
                day=yesterday,
            ),
            _(
                "This cannot be undone. Exports and backups made before keep what they hold; restoring such a "
                "backup with elicit restore purges the study again."
            ),
        ),
        button=_("Purge the personal data now"),
        action=url_for("studio.study_purge", slug=study.slug),
        cancel=url_for("studio.study_settings", slug=study.slug) + "#retention",
    )


def _refuse_open(study: Study) -> None:
    if study.purged_at is not None:
        abort(409, _("The study's personal data was purged already, on %(day)s.", day=study.purged_at.date()))
    if study.status == StudyStatus.OPEN:
        abort(
            409,
            _(
                "The study is open. Close it first (Settings, Status: Closed): purging deletes every link, so "
                "nobody could answer any more."
            ),
        )


@bp.get("/studies/<slug>/purge")
@access.study_access(access.MANAGE)
def study_purge_confirm(study: Study) -> View:
    _refuse_open(study)
    return confirming.page(_purge_confirmation(study))


@bp.post("/studies/<slug>/purge")
@access.study_access(access.MANAGE)
def study_purge(study: Study) -> View:
    _refuse_open(study)
    if not confirming.confirmed():
        return confirming.unconfirmed(_purge_confirmation(study))
    try:
        report = lifecycle.purge_study(
            db.session,
            study,
            secret=current_app.config["SECRET_KEY"],
            outbox=_outbox_for(study.slug),
            actor=access.current_user().email,
            early=True,
        )
        lifecycle.record_purge(_ledger(), report)
    except lifecycle.LifecycleError as exc:
        abort(409, str(exc))
    db.session.commit()  # before the compaction, which must see the rows gone
    problem = _compact(report.tables)
    flash(_("The personal data is purged: %(counts)s.", counts=lifecycle.describe(report.deleted)), "success")
    if problem is not None:
        flash(_("The database files still hold deleted rows: %(problem)s.", problem=problem), "error")
    return redirect(url_for("studio.study_settings", slug=study.slug) + "#retention", 303)


# ------------------------------------------------------------------------------------ erasure, subject access
def _entry_or_404(study: Study, entry_id: int) -> RosterEntry:
    entry = db.session.get(RosterEntry, entry_id)
    if entry is None or entry.study_id != study.id:
        abort(404, _("This study's roster has no such entry (it may have been erased)."))
    return entry


def _erase_confirmation(study: Study, entry: RosterEntry) -> confirming.Confirmation:
    plan = lifecycle.erase_entry(db.session, entry, outbox=_outbox_for(study.slug), actor="", dry_run=True)
    counts = plan.deleted
    who = f"{entry.name} <{entry.email}>" + (f", {entry.organisation}" if entry.organisation else "")
    lines = [
        _(
            "Deleted: the roster entry of %(who)s, with its invitations (their links stop working), e-mail "
            "records and outbox messages. Invitations: %(invitations)s; e-mail records: %(mails)s; outbox "
            "messages: %(outbox)s.",
            who=who,
            invitations=counts["invitations"],
            mails=counts["mail_items"],
            outbox=counts["outbox_messages"],
        )
    ]
    if study.anonymity == "pseudonymous":
        lines.append(
            _(
                "Their answers are deleted too, since this study is pseudonymous and they can be found. "
                "Responses: %(responses)s; answers: %(answers)s; notes: %(notes)s; discussion posts: %(posts)s.",
                responses=counts["responses"],
                answers=counts["answers"],
                notes=counts["answer_notes"],
                posts=counts["discussion_posts"],
            )
        )
    else:
        lines.append(_(lifecycle.ANONYMOUS_ERASURE))
    if counts["free_texts"]:
        lines.append(
            _("Free texts of the study that mention them are scrubbed: %(n)s.", n=counts["free_texts"])
        )
    if counts["held_links"]:
        lines.append(
            _(
                "Links made in the last 15 minutes that were not shown yet are wiped too, since they may hold "
                "this person's link: reissue them if they were not handed over."
            )
        )
    lines.append(
        _(
            "This cannot be undone. Exports and backups made before keep what they hold; restoring such a backup "
            "with elicit restore erases the entry again. The audit log records roster entry #%(id)s and counts, "
            "never the name or address.",
            id=entry.id,
        )
    )
    return confirming.Confirmation(
        title=_("Erase %(name)s from %(slug)s?", name=entry.name, slug=study.slug),
        consequences=tuple(lines),
        button=_("Erase this person"),
        action=url_for("studio.roster_erase", slug=study.slug, entry_id=entry.id),
        cancel=url_for("studio.roster", slug=study.slug),
    )


@bp.get("/studies/<slug>/roster/<int:entry_id>/erase")
@access.study_access(access.MANAGE)
def roster_erase_confirm(study: Study, entry_id: int) -> View:
    return confirming.page(_erase_confirmation(study, _entry_or_404(study, entry_id)))


@bp.post("/studies/<slug>/roster/<int:entry_id>/erase")
@access.study_access(access.MANAGE)
def roster_erase(study: Study, entry_id: int) -> View:
    entry = _entry_or_404(study, entry_id)
    if not confirming.confirmed():
        return confirming.unconfirmed(_erase_confirmation(study, entry))
    try:
        report = lifecycle.erase_entry(
            db.session,
            entry,
            outbox=_outbox_for(study.slug),
            actor=access.current_user().email,
            ledger=_ledger(),
            secret=current_app.config["SECRET_KEY"],
        )
    except lifecycle.LifecycleError as exc:
        abort(409, str(exc))
    db.session.commit()  # before the compaction, which must see the rows gone
    problem = _compact(report.tables)
    flash(
        _(
            "Roster entry #%(id)s is erased: %(counts)s.",
            id=entry_id,
            counts=lifecycle.describe(report.deleted),
        ),
        "success",
    )
    if report.statement:
        flash(_(report.statement), "info")
    if problem is not None:
        flash(_("The database files still hold deleted rows: %(problem)s.", problem=problem), "error")
    return redirect(url_for("studio.roster", slug=study.slug), 303)


@bp.get("/studies/<slug>/roster/<int:entry_id>/subject-access.json")
@access.study_access(access.MANAGE)
def roster_subject_access(study: Study, entry_id: int) -> View:
    """Everything held about one roster entry, as a JSON download (audited, never cached)."""
    entry = _entry_or_404(study, entry_id)
    document = lifecycle.subject_access(db.session, [entry], _outbox_for, access.current_user().email)
    response = FlaskResponse(
        json.dumps(document, ensure_ascii=False, indent=2) + "\n", mimetype="application/json"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="subject-access-{study.slug}-{entry_id}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def roster_closed(study: Study) -> str | None:
    """Why a roster cannot be uploaded to ``study`` (its personal data was purged), or None."""
    if study.purged_at is None:
        return None
    return str(
        _(
            "This study's personal data was purged on %(day)s: it takes no new roster.",
            day=study.purged_at.date().isoformat(),
        )
    )


def is_retention_post() -> bool:
    """Whether this POST to the settings page is its retention form's."""
    return request.form.get("form") == RETENTION_FORM
