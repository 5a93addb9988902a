"""Rosters and invitations: upload a roster, generate links, revoke, reissue, e-mail, remind; the outbox."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import audit
from elicit.db import db
from elicit.models import Invitation, LinkSubmission, MailItemState, MailJob, MailJobStatus, MailKind, Study
from elicit.studies import (
    IssuedLink,
    RosterError,
    StudyError,
    find_cohort,
    import_roster,
    issue_links,
    parse_roster,
)
from elicit.studio import access, confirming, held, mail, mailjobs
from elicit.studio import invitations as service
from elicit.studio.blueprint import bp
from elicit.studio.forms import ActionForm, GenerateForm, ReissueForm, RemindForm, RosterForm, options
from elicit.studio.views.lifecycle import roster_closed

View = str | tuple[str, int] | WerkzeugResponse
PER_PAGE = 200


def _cohort_choices(study: Study, blank: str | None = None) -> list[Any]:
    choices = [(c.code, f"{c.code} — {c.label}") for c in study.cohorts]
    return options(([("", blank)] if blank is not None else []) + choices)


def _roster_form(study: Study) -> RosterForm:
    form = RosterForm()
    form.default_cohort.choices = _cohort_choices(study, _("(the file names each row's cohort)"))
    return form


ALREADY_MADE = (
    "These links were already generated when this form was first sent (the page was reloaded or the form sent "
    "twice), so nothing new was made."
)
SENT_AS_JOB = "Its messages are below."
SHOWN_ONCE = (
    "These links were shown once already (or were not fetched within 15 minutes, or this is another browser)."
)
GONE = (
    "Elicit keeps no link in clear (only a hash of each), so they cannot be shown again; if they were lost, "
    "reissue them from the invitations."
)


def _deliver(
    study: Study,
    claim: LinkSubmission,
    links: Sequence[IssuedLink],
    delivery: str,
    what: str,
) -> WerkzeugResponse:
    """Show the links to hand over (this response is their only copy), or e-mail them as a job."""
    if delivery == "email":
        invitations = [link.invitation for link in links]
        job = mailjobs.create_job(
            db.session, study, MailKind.INVITE, what, access.current_user().email, invitations
        )
        service.summarise(claim, what, links, job=job.id)
        return _start_job(study, job)
    service.summarise(claim, what, links)
    return _hold(study, claim, service.page_links(current_app.config["BASE_URL"], study, links))


def _start_job(study: Study, job: MailJob) -> WerkzeugResponse:
    """Commit the job, send a first slice of it within this request, then show its page (post/redirect/get)."""
    db.session.commit()
    _run_slice(study, job)
    return redirect(url_for("studio.mail_job", slug=study.slug, job_id=job.id), 303)


def _run_slice(study: Study, job: MailJob) -> mailjobs.RunResult:
    return mailjobs.run(
        db.session,
        study,
        job,
        current_app.config,
        current_app.instance_path,
        budget=float(current_app.config.get("MAIL_SLICE_SECONDS", 8)),
    )


def _already_made(study: Study, nonce: str) -> WerkzeugResponse:
    """The answer to a form posted again: nothing is made; the first submission's links are shown once more
    (to whoever made them, within 15 minutes), else a sentence saying what to do."""
    row = service.find_submission(db.session, study, nonce)
    job_id = service.pending_summary(row).get("job") if row is not None else None
    if job_id is not None:
        flash(f"{ALREADY_MADE} {SENT_AS_JOB}", "info")
        return redirect(url_for("studio.mail_job", slug=study.slug, job_id=job_id), 303)
    if row is None or row.user_id != access.current_user().id:
        flash(f"{ALREADY_MADE} {GONE}", "info")
        return redirect(url_for("studio.invitations", slug=study.slug), 303)
    flash(ALREADY_MADE, "info")
    return redirect(url_for("studio.links_made", slug=study.slug, submission_id=row.id), 303)


def _claim(study: Study, purpose: str, nonce: str | None) -> tuple[str, LinkSubmission | None]:
    """Claim one submission of a form that makes links (None: it made them already)."""
    key = f"{purpose}:{nonce or secrets.token_urlsafe(16)}"
    return key, service.claim_submission(db.session, study, access.current_user().id, key)


def _hold(study: Study, row: LinkSubmission, links: list[dict[str, Any]]) -> WerkzeugResponse:
    """Keep the new links sealed for this browser and redirect to the page that shows them once (PRG)."""
    db.session.flush()
    held.hold(study, row, links)
    return redirect(url_for("studio.links_made", slug=study.slug, submission_id=row.id), 303)


@bp.get("/studies/<slug>/links/<int:submission_id>")
@access.study_access(access.MANAGE)
def links_made(study: Study, submission_id: int) -> View:
    """The links a submission made, shown once to the browser that made them; afterwards what was made."""
    service.purge_pending(db.session)  # links not fetched in time are wiped before anything is shown
    row = db.session.get(LinkSubmission, submission_id)
    if row is None or row.study_id != study.id or row.user_id != access.current_user().id:
        abort(404, _("These links are not yours to see, or they were made more than 12 hours ago."))
    links = held.take(study, row)
    return _links_page(study, row, links or [], already=None if links else f"{SHOWN_ONCE} {GONE}")


def _links_page(
    study: Study, row: LinkSubmission, links: list[dict[str, Any]], *, already: str | None = None
) -> WerkzeugResponse:
    """The one and only place a link is shown in clear (besides the e-mail that carried it)."""
    summary = service.pending_summary(row)
    page = render_template(
        "studio/links.html",
        study=study,
        links=links,
        count=summary.get("count", 0),
        by_cohort=summary.get("by_cohort", []),
        what=summary.get("what", ""),
        already=already,
        data_url=service.csv_data_url(service.pending_csv(links)) if links else None,
        file_name=f"{study.slug}-links.csv",
    )
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/studies/<slug>/roster")
@access.study_access(access.READ)
def roster(study: Study) -> View:
    return _roster_page(study, _roster_form(study))


def _roster_page(study: Study, form: Any, problems: list[tuple[int, str]] | None = None) -> str:
    """The roster with its upload form (and the problems of a refused upload, line by line)."""
    return render_template(
        "studio/roster.html",
        study=study,
        entries=list(db.session.scalars(service.roster_query(study))),
        current=service.current_invitation,
        labels=service.status_labels(study),
        form=form,
        problems=problems,
    )


@bp.post("/studies/<slug>/roster")
@access.study_access(access.MANAGE)
def roster_upload(study: Study) -> View:
    form = _roster_form(study)
    problems = None
    purged = roster_closed(study)
    if purged is not None:
        return _roster_page(study, form, [(1, purged)]), 422
    if form.validate_on_submit():
        nonce = f"roster:{form.nonce.data}" if form.nonce.data else None
        if nonce and service.find_submission(db.session, study, nonce) is not None:
            return _already_made(study, nonce)
        raw = form.file.data.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems = [
                (1, _("The file is not UTF-8 text; save the roster as “CSV UTF-8” and upload it again."))
            ]
        else:
            try:
                rows = parse_roster(text, study, form.default_cohort.data or None)
            except RosterError as exc:
                problems = [(p.line, p.message) for p in exc.problems]
            else:
                key, claim = _claim(study, "roster", form.nonce.data)
                if claim is None:
                    return _already_made(study, key)
                links = import_roster(db.session, study, rows)
                user = access.current_user()
                audit.record(
                    db.session,
                    "roster.upload",
                    user.email,
                    study_id=study.id,
                    target=study.slug,
                    details={"rows": len(rows), "delivery": form.delivery.data},
                )
                return _deliver(study, claim, links, form.delivery.data or "links", _("roster invitations"))
    return _roster_page(study, form, problems), 422


def _generate_form(study: Study) -> GenerateForm:
    form = GenerateForm()
    form.cohort.choices = _cohort_choices(study)
    return form


def _remind_form(study: Study) -> RemindForm:
    form = RemindForm()
    form.cohort.choices = _cohort_choices(study, _("All cohorts"))
    return form


def _invitations_page(
    study: Study, generate: GenerateForm, remind: RemindForm, status: int = 200
) -> tuple[str, int]:
    service.purge_pending(db.session)
    cohort_code = request.args.get("cohort") or None
    wanted = request.args.get("status") or None
    cohort = next((c for c in study.cohorts if c.code == cohort_code), None)
    if wanted not in service.status_labels(study):
        wanted = None
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = service.invitation_query(study, cohort.id if cohort else None, wanted)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    invitations = list(db.session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    return render_template(
        "studio/invitations.html",
        study=study,
        invitations=invitations,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        cohort_code=cohort.code if cohort else "",
        wanted=wanted or "",
        labels=service.status_labels(study),
        generate=generate,
        remind=remind,
        smtp=bool(current_app.config.get("SMTP_URL")),
        finished=set(service.FINISHED),
        jobs=mailjobs.recent_jobs(db.session, study),
        job_labels=mailjobs.JOB_LABELS,
    ), status


@bp.get("/studies/<slug>/invitations")
@access.study_access(access.READ)
def invitations(study: Study) -> View:
    return _invitations_page(study, _generate_form(study), _remind_form(study))


@bp.post("/studies/<slug>/invitations")
@access.study_access(access.MANAGE)
def invitations_generate(study: Study) -> View:
    form = _generate_form(study)
    if not form.validate_on_submit():
        return _invitations_page(study, form, _remind_form(study), 422)
    key, claim = _claim(study, "generate", form.nonce.data)
    if claim is None:
        return _already_made(study, key)
    cohort = find_cohort(study, form.cohort.data or "")
    links = issue_links(db.session, study, cohort, form.count.data or 0)
    user = access.current_user()
    audit.record(
        db.session,
        "invitations.issue",
        user.email,
        study_id=study.id,
        target=study.slug,
        details={"cohort": cohort.code, "count": len(links), "roster": False},
    )
    return _deliver(study, claim, links, "links", _("anonymous links for cohort %(code)s", code=cohort.code))


@bp.post("/studies/<slug>/invitations/remind")
@access.study_access(access.MANAGE)
def invitations_remind(study: Study) -> View:
    """Reissue and e-mail a fresh link to every roster expert who has not submitted (tokens are never stored)."""
    form = _remind_form(study)
    if not form.validate_on_submit():
        return _invitations_page(study, _generate_form(study), form, 422)
    nonce = f"remind:{form.nonce.data}" if form.nonce.data else None
    if nonce and service.find_submission(db.session, study, nonce) is not None:
        return _already_made(study, nonce)
    cohort = next((c for c in study.cohorts if c.code == form.cohort.data), None)
    targets = service.reminder_targets(db.session, study, cohort, bool(form.in_progress.data))
    if not targets:
        flash(_("Nobody to remind: every roster expert in this selection has answered or declined."), "info")
        return redirect(url_for("studio.invitations", slug=study.slug))
    key, claim = _claim(study, "remind", form.nonce.data)
    if claim is None:
        return _already_made(study, key)
    user = access.current_user()
    job = mailjobs.create_job(db.session, study, MailKind.REMIND, _("reminders"), user.email, targets)
    service.summarise(claim, job.what, [], job=job.id, count=len(targets))
    audit.record(
        db.session,
        "invitations.remind",
        user.email,
        study_id=study.id,
        target=study.slug,
        details={"cohort": cohort.code if cohort else "all", "count": len(targets), "job": job.id},
    )
    return _start_job(study, job)


def _invitation_or_404(study: Study, invitation_id: int) -> Invitation:
    invitation = service.find_invitation(db.session, study, invitation_id)
    if invitation is None:
        abort(404, _("This study has no invitation %(id)s.", id=invitation_id))
    return invitation


def _who(invitation: Invitation) -> str:
    entry = invitation.roster_entry
    if entry is None:
        return str(
            _(
                "invitation %(id)s (an anonymous link of cohort %(code)s)",
                id=invitation.id,
                code=invitation.cohort.code,
            )
        )
    return str(
        _("invitation %(id)s (%(name)s, %(email)s)", id=invitation.id, name=entry.name, email=entry.email)
    )


def _revoke_confirmation(study: Study, invitation: Invitation) -> confirming.Confirmation:
    return confirming.Confirmation(
        title=_("Revoke %(who)s?", who=_who(invitation)),
        consequences=(
            _("Its link stops working at once; an expert who opens it is told the link is no longer valid."),
            _("Answers already saved are kept. A roster expert can be sent a new link later (Reissue)."),
        ),
        button=_("Revoke invitation %(id)s", id=invitation.id),
        action=url_for("studio.invitation_revoke", slug=study.slug, invitation_id=invitation.id),
        cancel=url_for("studio.invitations", slug=study.slug),
    )


@bp.get("/studies/<slug>/invitations/<int:invitation_id>/revoke")
@access.study_access(access.MANAGE)
def invitation_revoke_confirm(study: Study, invitation_id: int) -> View:
    return confirming.page(_revoke_confirmation(study, _invitation_or_404(study, invitation_id)))


@bp.post("/studies/<slug>/invitations/<int:invitation_id>/revoke")
@access.study_access(access.MANAGE)
def invitation_revoke(study: Study, invitation_id: int) -> View:
    invitation = _invitation_or_404(study, invitation_id)
    if not confirming.confirmed():
        return confirming.unconfirmed(_revoke_confirmation(study, invitation))
    try:
        service.revoke(invitation)
    except StudyError as exc:
        abort(409, str(exc))
    user = access.current_user()
    audit.record(
        db.session, "invitation.revoke", user.email, study_id=study.id, target=f"invitation {invitation.id}"
    )
    flash(_("Invitation %(id)s is revoked; its link no longer opens.", id=invitation.id), "success")
    return redirect(url_for("studio.invitations", slug=study.slug))


def _reissue_confirmation(study: Study, invitation: Invitation, delivery: str) -> confirming.Confirmation:
    e_mail = delivery == "email" and invitation.roster_entry is not None
    consequences = [
        _("The current link stops working at once and a new link is made for the same expert."),
        _("Answers already saved follow the expert to the new link."),
        _("The new link is e-mailed to %(email)s.", email=invitation.roster_entry.email)
        if e_mail and invitation.roster_entry is not None
        else _("The new link is shown once, to hand over yourself."),
    ]
    return confirming.Confirmation(
        title=_("Reissue %(who)s?", who=_who(invitation)),
        consequences=tuple(consequences),
        button=_("Reissue and e-mail invitation %(id)s", id=invitation.id)
        if e_mail
        else _("Reissue invitation %(id)s", id=invitation.id),
        action=url_for("studio.invitation_reissue", slug=study.slug, invitation_id=invitation.id),
        cancel=url_for("studio.invitations", slug=study.slug),
        fields={"delivery": "email" if e_mail else "links"},
    )


@bp.get("/studies/<slug>/invitations/<int:invitation_id>/reissue")
@access.study_access(access.MANAGE)
def invitation_reissue_confirm(study: Study, invitation_id: int) -> View:
    invitation = _invitation_or_404(study, invitation_id)
    delivery = "email" if request.args.get("delivery") == "email" else "links"
    return confirming.page(_reissue_confirmation(study, invitation, delivery))


@bp.post("/studies/<slug>/invitations/<int:invitation_id>/reissue")
@access.study_access(access.MANAGE)
def invitation_reissue(study: Study, invitation_id: int) -> View:
    invitation = _invitation_or_404(study, invitation_id)
    form = ReissueForm()
    if not form.validate_on_submit():
        abort(400, _("Choose how to deliver the new link."))
    if not confirming.confirmed():
        return confirming.unconfirmed(_reissue_confirmation(study, invitation, form.delivery.data or "links"))
    try:
        link = service.reissue(db.session, study, invitation)
    except StudyError as exc:
        abort(409, str(exc))
    # One new link per reissue: the domain refuses to reissue the same invitation twice (a reload gets a 409),
    # so the link is not held for a reload.
    _key, claim = _claim(study, f"reissue-{invitation.id}", None)
    assert claim is not None  # nosec B101  # a fresh random nonce is never claimed; not a security check
    user = access.current_user()
    delivery = form.delivery.data if link.roster_entry is not None else "links"
    audit.record(
        db.session,
        "invitation.reissue",
        user.email,
        study_id=study.id,
        target=f"invitation {invitation.id}",
        details={"new": link.invitation.id, "delivery": delivery},
    )
    return _deliver(
        study,
        claim,
        [link],
        delivery or "links",
        _("a reissued link (it replaces invitation %(id)s)", id=invitation.id),
    )


# ------------------------------------------------------------------------------------------------ e-mail jobs
def _job_or_404(study: Study, job_id: int) -> MailJob:
    job = mailjobs.find_job(db.session, study, job_id)
    if job is None:
        abort(404, _("This study has no e-mail batch %(id)s.", id=job_id))
    return job


@bp.get("/studies/<slug>/mail/<int:job_id>")
@access.study_access(access.READ)
def mail_job(study: Study, job_id: int) -> View:
    """A batch of e-mailed links: how far it got, who was and was not sent a link, and what to do next."""
    job = _job_or_404(study, job_id)
    tally = mailjobs.counts(db.session, job)
    unsent = mailjobs.items(db.session, job, (*mailjobs.TO_SEND, MailItemState.SKIPPED), PER_PAGE)
    running = mailjobs.is_running(job)
    return render_template(
        "studio/mail_job.html",
        study=study,
        job=job,
        tally=tally,
        done=tally["sent"] + tally["failed"] + tally["skipped"],
        unsent=unsent,
        labels=mailjobs.STATE_LABELS,
        running=running,
        resumable=mailjobs.can_resume(tally),
        action_form=ActionForm(),
        outbox=not current_app.config.get("SMTP_URL"),
        auto=job.status == MailJobStatus.SENDING,
    )


@bp.get("/studies/<slug>/mail/<int:job_id>.csv")
@access.study_access(access.READ)
def mail_job_record(study: Study, job_id: int) -> View:
    job = _job_or_404(study, job_id)
    response = make_response("\ufeff" + mailjobs.record_csv(db.session, job))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{study.slug}-mail-{job.id}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/studies/<slug>/mail/<int:job_id>/send")
@access.study_access(access.MANAGE)
def mail_job_send(study: Study, job_id: int) -> View:
    """Send the next slice of a batch (the page posts this again until it is done), or resume a stopped one."""
    job = _job_or_404(study, job_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    result = _run_slice(study, job)
    if result.busy:
        flash(
            _(
                "These messages are being sent by another window or by the server just now; this page shows how far it got."
            ),
            "info",
        )
    return redirect(url_for("studio.mail_job", slug=study.slug, job_id=job.id), 303)


@bp.post("/studies/<slug>/mail/<int:job_id>/links")
@access.study_access(access.MANAGE)
def mail_job_links(study: Study, job_id: int) -> View:
    """Make links for every message not sent, to hand over another way (shown once), instead of e-mailing."""
    job = _job_or_404(study, job_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    key, claim = _claim(study, "handover", str(job.id))  # once per batch: a reload makes nothing new
    if claim is None:
        return _already_made(study, key)
    links = mailjobs.hand_over(db.session, study, job)
    if links is None:
        flash(
            _("These messages are being sent just now; wait until the batch stops, then try again."), "info"
        )
        return redirect(url_for("studio.mail_job", slug=study.slug, job_id=job.id), 303)
    audit.record(
        db.session,
        "invitations.handover",
        access.current_user().email,
        study_id=study.id,
        target=study.slug,
        details={"job": job.id, "count": len(links)},
    )
    service.summarise(claim, _("links not e-mailed by batch %(id)s", id=job.id), links)
    return _hold(study, claim, service.page_links(current_app.config["BASE_URL"], study, links))


@bp.get("/studies/<slug>/outbox")
@access.study_access(access.MANAGE)
def outbox(study: Study) -> View:
    folder = mail.outbox_folder(current_app.config, current_app.instance_path, study.slug)
    return render_template(
        "studio/outbox.html",
        study=study,
        entries=mail.outbox_entries(folder),
        folder=folder,
        smtp=bool(current_app.config.get("SMTP_URL")),
    )


@bp.get("/studies/<slug>/outbox/<name>")
@access.study_access(access.MANAGE)
def outbox_message(study: Study, name: str) -> View:
    folder = mail.outbox_folder(current_app.config, current_app.instance_path, study.slug)
    message = mail.outbox_message(folder, name)
    if message is None:
        abort(404, _("No such message in this study's outbox."))
    body = message.get_body(preferencelist=("plain",))
    return render_template(
        "studio/outbox_message.html",
        study=study,
        name=name,
        message=message,
        body=body.get_content() if body is not None else "",
    )
