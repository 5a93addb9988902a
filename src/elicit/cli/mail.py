"""``elicit mail``: e-mail invitations and reminders as resumable batches, and read what each batch did.

A batch sends message by message and records each one (see :mod:`elicit.studio.mailjobs`), so a large roster is
sent here, on the server, rather than within a web request; Ctrl-C, a crash or a mail server failure leaves a
batch that ``elicit mail resume`` carries on. The studio shows the same batches. Messages are worded as the
studio sends them: the study's own wording for each expert's language, else the built-in one
(:mod:`elicit.studio.letters`); ``elicit mail preview`` prints one.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from elicit.cli.base import (
    ACTOR_CLI,
    check_new_file,
    fail,
    put_in_place,
    read_roster,
    stage_file,
    with_database,
)

PROGRESS_EVERY = 2.0  # seconds between progress lines

commands = AppGroup()


@commands.group("mail")
def mail_group() -> None:
    """E-mail links as resumable batches: send, remind, list, show, resume."""


def _run(slug: str, job_id: int) -> None:
    """Run a batch to the end, printing progress to stderr; exit 1 if it stopped on a failure."""
    from elicit.db import db
    from elicit.studies import find_study
    from elicit.studio import mailjobs

    session = db.session
    study = find_study(session, slug)
    job = mailjobs.find_job(session, study, job_id)
    if job is None:
        fail(f"study {slug} has no e-mail batch {job_id}; elicit mail list {slug} shows them")
    last = [time.monotonic()]

    def progress(result: mailjobs.RunResult) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY:
            last[0] = time.monotonic()
            click.echo(f"batch {job_id}: {result.sent} sent, {result.failed} failed so far", err=True)

    try:
        result = mailjobs.run(
            session, study, job, current_app.config, current_app.instance_path, progress=progress
        )
    except KeyboardInterrupt:
        fail(f"interrupted; every message so far is recorded: elicit mail resume {slug} {job_id} carries on")
    if result.busy:
        fail(f"batch {job_id} is being sent by another process just now (the studio, or another elicit mail)")
    tally = mailjobs.counts(session, job)
    click.echo(
        f"batch {job_id}: {tally['sent']} of {job.total} sent"
        + (f", {tally['failed']} failed" if tally["failed"] else "")
        + (f", {tally['skipped']} not needed any more" if tally["skipped"] else "")
        + (
            f" (to the outbox: {current_app.config.get('OUTBOX_PATH') or 'instance/outbox'})"
            if not current_app.config.get("SMTP_URL")
            else ""
        )
    )
    if result.stopped:
        fail(
            f"batch {job_id} stopped: {result.stopped}; fix that, then elicit mail resume {slug} {job_id} "
            f"(elicit mail show {slug} {job_id} lists who was not sent a link)"
        )
    if tally["failed"]:
        fail(
            f"{tally['failed']} message(s) failed; elicit mail show {slug} {job_id} says why, and elicit mail "
            f"resume {slug} {job_id} tries them again"
        )


@mail_group.command("send")
@click.argument("slug")
@click.option(
    "--roster", required=True, type=click.Path(dir_okay=False), help="CSV: name,email,organisation,cohort"
)
@click.option("--cohort", "cohort_code", default=None, help="cohort of roster rows without one")
@with_database()
def mail_send(slug: str, roster: str, cohort_code: str | None) -> None:
    """Add a roster and e-mail each expert their link, as one batch (printed as it goes; resumable)."""
    from elicit import audit
    from elicit.db import db
    from elicit.models import MailKind
    from elicit.studies import RosterError, StudyError, find_study, import_roster, parse_roster
    from elicit.studio import mailjobs

    text = read_roster(roster)
    session = db.session
    try:
        study = find_study(session, slug)
        rows = parse_roster(text, study, cohort_code)
        links = import_roster(session, study, rows)
        job = mailjobs.create_job(
            session,
            study,
            MailKind.INVITE,
            "roster invitations",
            ACTOR_CLI,
            [link.invitation for link in links],
        )
    except RosterError as exc:
        session.rollback()
        for problem in exc.problems:
            click.echo(f"{roster}:{problem.line}: {problem.message}", err=True)
        raise SystemExit(1) from None
    except StudyError as exc:
        session.rollback()
        fail(str(exc))
    audit.record(
        session,
        "roster.upload",
        ACTOR_CLI,
        study_id=study.id,
        target=slug,
        details={"rows": len(rows), "delivery": "email", "job": job.id},
    )
    session.commit()  # the invitations and the batch exist before the first message goes
    click.echo(f"batch {job.id}: {job.total} message(s) to send", err=True)
    _run(slug, job.id)


@mail_group.command("remind")
@click.argument("slug")
@click.option("--cohort", "cohort_code", default=None, help="only this cohort")
@click.option("--in-progress", is_flag=True, help="also experts who started (pseudonymous studies)")
@with_database()
def mail_remind(slug: str, cohort_code: str | None, in_progress: bool) -> None:
    """E-mail a new link to every roster expert who has not answered, as one batch."""
    from elicit import audit
    from elicit.db import db
    from elicit.models import MailKind
    from elicit.studies import StudyError, find_cohort, find_study
    from elicit.studio import invitations, mailjobs

    session = db.session
    try:
        study = find_study(session, slug)
        cohort = find_cohort(study, cohort_code) if cohort_code else None
    except StudyError as exc:
        fail(str(exc))
    targets = invitations.reminder_targets(session, study, cohort, in_progress)
    if not targets:
        click.echo("nobody to remind: every roster expert in this selection has answered or declined")
        return
    job = mailjobs.create_job(session, study, MailKind.REMIND, "reminders", ACTOR_CLI, targets)
    audit.record(
        session,
        "invitations.remind",
        ACTOR_CLI,
        study_id=study.id,
        target=slug,
        details={"cohort": cohort.code if cohort else "all", "count": len(targets), "job": job.id},
    )
    session.commit()
    click.echo(f"batch {job.id}: {job.total} reminder(s) to send", err=True)
    _run(slug, job.id)


@mail_group.command("resume")
@click.argument("slug")
@click.argument("job_id", type=int)
@with_database()
def mail_resume(slug: str, job_id: int) -> None:
    """Send what a batch has left (and try its failed messages again)."""
    _run(slug, job_id)


@mail_group.command("list")
@click.argument("slug")
@with_database()
def mail_list(slug: str) -> None:
    """The study's e-mail batches, newest first, with how far each got."""
    from elicit.db import db
    from elicit.studies import StudyError, find_study
    from elicit.studio import mailjobs

    try:
        study = find_study(db.session, slug)
    except StudyError as exc:
        fail(str(exc))
    jobs = mailjobs.recent_jobs(db.session, study, limit=100)
    if not jobs:
        click.echo(f"study {slug} has no e-mail batches")
    for job in jobs:
        tally = mailjobs.counts(db.session, job)
        click.echo(
            f"{job.id}\t{job.created_at:%Y-%m-%d %H:%M}\t{job.what}\t{mailjobs.JOB_LABELS[job.status]}\t"
            f"{tally['sent']}/{job.total} sent, {tally['failed']} failed, "
            f"{tally['pending'] + tally['sending']} left"
        )


@mail_group.command("show")
@click.argument("slug")
@click.argument("job_id", type=int)
@click.option(
    "--csv", "csv_out", default=None, type=click.Path(dir_okay=False), help="write the whole record"
)
@click.option("--force", is_flag=True, help="replace --csv if it exists")
@with_database()
def mail_show(slug: str, job_id: int, csv_out: str | None, force: bool) -> None:
    """Who a batch sent a link to and who not (and why); --csv writes one row per message."""
    from elicit.db import db
    from elicit.models import MailItemState
    from elicit.studies import StudyError, find_study
    from elicit.studio import mailjobs

    try:
        study = find_study(db.session, slug)
    except StudyError as exc:
        fail(str(exc))
    job = mailjobs.find_job(db.session, study, job_id)
    if job is None:
        fail(f"study {slug} has no e-mail batch {job_id}; elicit mail list {slug} shows them")
    if csv_out is not None:
        path = check_new_file(Path(csv_out), force)
        put_in_place(stage_file(path, mailjobs.record_csv(db.session, job)), path, force)
        click.echo(f"record of batch {job_id} written to {csv_out}")
        return
    tally = mailjobs.counts(db.session, job)
    click.echo(f"batch {job.id}: {job.what}, {mailjobs.JOB_LABELS[job.status]}")
    click.echo(
        ", ".join(f"{mailjobs.STATE_LABELS[MailItemState(state)]}: {n}" for state, n in tally.items() if n)
    )
    if job.error:
        click.echo(f"stopped because: {job.error}")
    for item in mailjobs.items(db.session, job, (*mailjobs.TO_SEND, "skipped")):
        entry = item.roster_entry
        who = f"{entry.name} <{entry.email}>" if entry else "(roster entry deleted)"
        reason = f": {item.error}" if item.error else ""
        click.echo(f"  {item.position}\t{who}\t{mailjobs.STATE_LABELS[item.state]}{reason}")


@mail_group.command("preview")
@click.argument("slug")
@click.option("--language", default=None, help="one of the instrument's languages (default: its first)")
@click.option("--reminder", is_flag=True, help="the reminder rather than the invitation")
@with_database()
def mail_preview(slug: str, language: str | None, reminder: bool) -> None:
    """Print the e-mail the study sends (to a made-up expert, with a sample link that opens nothing)."""
    from elicit.db import db
    from elicit.models import MailKind
    from elicit.studies import StudyError, find_study
    from elicit.studio import letters, mail, mailjobs

    try:
        study = find_study(db.session, slug)
    except StudyError as exc:
        fail(str(exc))
    languages = mailjobs.study_languages(study)
    if language is not None and language not in languages:
        fail(f"study {slug} is in {', '.join(languages)}; --language {language} is not one of them")
    chosen = language or languages[0]
    kind = MailKind.REMIND if reminder else MailKind.INVITE
    letter = mail.sample(
        study,
        kind,
        chosen,
        letters.wording_for(study, kind, chosen),
        str(current_app.config.get("BASE_URL", "")),
    )
    try:
        message = mail.compose(letter, mail.sender(current_app.config))
    except mail.MailError as exc:
        fail(str(exc))
    for header in ("From", "Reply-To", "To", "Subject"):
        if message[header] is not None:
            click.echo(f"{header}: {message[header]}")
    body = message.get_body(preferencelist=("plain",))
    click.echo("")
    click.echo(body.get_content() if body is not None else "", nl=False)
