"""Studies: the list, creating one, its page (overview and dashboard), settings, cohorts and the export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import audit
from elicit.db import db
from elicit.i18n import N_, direction
from elicit.instruments.schema import text_in
from elicit.instruments.versions import VersionError, definition_of, find_version
from elicit.models import Cohort, MailKind, Role, Study, StudyMember, User, utcnow
from elicit.studies import KNOWN_COHORTS, StudyError, create_study, current_round, parse_cohort_spec
from elicit.studio import access, dashboard, letters, mail, mailjobs
from elicit.studio import instruments as catalogue
from elicit.studio.blueprint import bp
from elicit.studio.forms import (
    CohortForm,
    ExportForm,
    RetentionForm,
    StudyForm,
    StudySettingsForm,
    WordingForm,
    options,
    wording_form,
)
from elicit.studio.views import lifecycle as lifecycle_views

View = str | tuple[str, int] | WerkzeugResponse
WORDING_FORM = "wording"  # the settings page's e-mail wording form posts this as ``form``
CREATORS = (Role.ADMIN, Role.RESEARCHER)

ANONYMITY_TEXT = {
    "anonymous": N_(
        "Anonymous study. No answer is ever stored with its invitation, not even while the expert is answering, "
        "and the times are reduced to the date, so nobody — not even an administrator reading the database, its "
        "backups or the logs — can tell which response is whose. You see an invitation as finished only once at "
        "least %(k)s experts of its cohort have finished, confirmed together. Counts below %(k)s are hidden, "
        "with whatever would let them be worked out."
    ),
    "pseudonymous": N_(
        "Pseudonymous study. Each expert's answers carry a random pseudonym (the same across rounds), never "
        "their name or e-mail; the roster stays apart from the answers. Responses are linked to invitations by "
        "design, so an expert's rounds can be followed and the studio sees each invitation's status. Counts are "
        "shown exactly."
    ),
}


@bp.get("/")
@access.login_required
def index() -> View:
    user = access.current_user()
    studies = list(db.session.scalars(access.visible_studies(user)))
    return render_template(
        "studio/index.html", studies=studies, totals=dashboard.study_totals(db.session, studies)
    )


def _study_form() -> StudyForm:
    form = StudyForm()
    rows = catalogue.published(db.session)
    form.version.choices = options(
        (row.ref, f"{row.ref} — {row.title} ({row.anonymity})") for row in reversed(rows)
    )
    return form


@bp.get("/studies/new")
@access.role_required(*CREATORS)
def study_new() -> View:
    form = _study_form()
    form.cohorts.data = ["UK", "PK"]
    wanted = request.args.get("version")
    if wanted in {row.ref for row in catalogue.published(db.session)}:
        form.version.data = wanted
    return render_template("studio/study_new.html", form=form)


@bp.post("/studies/new")
@access.role_required(*CREATORS)
def study_create() -> View:
    user = access.current_user()
    form = _study_form()
    if form.validate_on_submit():
        try:
            cohorts = [(code, KNOWN_COHORTS.get(code, code)) for code in form.cohorts.data or []]
            cohorts += [
                parse_cohort_spec(line)
                for line in (form.other_cohorts.data or "").splitlines()
                if line.strip()
            ]
            version = find_version(db.session, form.version.data or "")
            study = create_study(
                db.session,
                (form.slug.data or "").strip(),
                version,
                cohorts,
                (form.title.data or "").strip() or None,
                k_threshold=int(current_app.config.get("K_ANONYMITY", 5)),
            )
        except (StudyError, VersionError) as exc:
            form.form_errors.append(str(exc))
        else:
            study.status = form.status.data or study.status
            study.opens_on, study.closes_on = form.opens_on.data, form.closes_on.data
            db.session.add(StudyMember(study_id=study.id, user_id=user.id))
            audit.record(
                db.session,
                "study.create",
                user.email,
                study_id=study.id,
                target=study.slug,
                details={
                    "instrument": version.ref,
                    "cohorts": [c for c, _label in cohorts],
                    "status": study.status,
                },
            )
            flash(_("Study %(slug)s is created.", slug=study.slug), "success")
            return redirect(url_for("studio.study", slug=study.slug))
    return render_template("studio/study_new.html", form=form), 422


@bp.get("/studies/<slug>")
@access.study_access(access.READ)
def study(study: Study) -> View:
    rnd = current_round(study) or (study.rounds[-1] if study.rounds else None)
    definition = definition_of(rnd.instrument_version) if rnd else None
    members = db.session.execute(
        select(User)
        .join(StudyMember, StudyMember.user_id == User.id)
        .where(StudyMember.study_id == study.id)
        .order_by(User.email)
    ).scalars()
    return render_template(
        "studio/study.html",
        study=study,
        round=rnd,
        definition=definition,
        board=dashboard.build(db.session, study),
        members=list(members),
        anonymity_text=_(ANONYMITY_TEXT[study.anonymity], k=study.k_threshold)
        if study.anonymity in ANONYMITY_TEXT
        else study.anonymity,
        export_form=ExportForm(),
        text_in=text_in,
    )


def _settings_page(
    study: Study,
    form: StudySettingsForm,
    cohort_form: CohortForm,
    status: int = 200,
    wording: WordingForm | None = None,
    previewing: bool = False,
    retention: RetentionForm | None = None,
) -> tuple[str, int]:
    """The settings page; ``wording`` is the e-mail wording form as posted (else the study's own, filled in), and
    the previews show what it would send (``previewing``: the posted wording, not saved yet)."""
    languages = mailjobs.study_languages(study)
    if wording is None:
        wording = _wording_form(study, languages)
    typed = wording.wordings() if previewing else {}
    previews = [
        (
            kind,
            language,
            {"error": "Correct the problems above to see this e-mail."}
            if _has_errors(wording, kind, language)
            else _preview(study, kind, language, typed.get((kind.value, language))),
        )
        for language in languages
        for kind in letters.KINDS
    ]
    return render_template(
        "studio/study_settings.html",
        study=study,
        form=form,
        cohort_form=cohort_form,
        wording=wording,
        previews=previews,
        previewing=previewing,
        languages=languages,
        kinds=letters.KINDS,
        kind_labels=letters.KIND_LABELS,
        language_label=letters.language_label,
        has_built_in=letters.has_built_in,
        placeholders=letters.PLACEHOLDERS,
        sender=mail.sender(current_app.config),
        direction=direction,
        **lifecycle_views.retention_context(study, retention),
    ), status


def _has_errors(wording: WordingForm, kind: MailKind, language: str) -> bool:
    return any(wording.field_for(kind, language, part).errors for part in ("subject", "body"))


def _wording_form(study: Study, languages: tuple[str, ...], formdata: Any = None) -> WordingForm:
    """The wording form; shown afresh it holds what the study sends now (its own wording, else the built-in)."""
    form_class = wording_form(languages)
    if formdata is not None:
        return form_class(formdata=formdata)
    form = form_class(formdata=None)
    for kind in letters.KINDS:
        for language in languages:
            current = letters.wording_for(study, kind, language)
            form.field_for(kind, language, "subject").data = current.subject
            form.field_for(kind, language, "body").data = letters.normalise(current.body)
    return form


def _preview(study: Study, kind: MailKind, language: str, typed: letters.Wording | None) -> dict[str, Any]:
    """What ``study`` would send as ``kind`` in ``language`` to a made-up expert: headers and text (or why not)."""
    wording = typed if typed is not None and (typed.subject or typed.body) else None
    if wording is None:
        wording = letters.wording_for(study, kind, language)
    letter = mail.sample(study, kind, language, wording, str(current_app.config.get("BASE_URL") or ""))
    try:
        message = mail.compose(letter, mail.sender(current_app.config))
    except mail.MailError as exc:
        return {"error": str(exc)}
    body = message.get_body(preferencelist=("plain",))
    return {
        "from": str(message["From"]),
        "reply_to": str(message["Reply-To"] or ""),
        "to": str(message["To"]),
        "subject": str(message["Subject"]),
        "body": body.get_content() if body is not None else "",
    }


@bp.get("/studies/<slug>/settings")
@access.study_access(access.MANAGE)
def study_settings(study: Study) -> View:
    form = StudySettingsForm(obj=study)
    return _settings_page(study, form, CohortForm())


def _wording_post(study: Study) -> View:
    """Preview or save the study's e-mail wording; any problem refuses the whole form (422, nothing saved)."""
    languages = mailjobs.study_languages(study)
    wording = _wording_form(study, languages, request.form)
    settings_form = StudySettingsForm(formdata=None, obj=study)
    if not wording.validate_on_submit():
        return _settings_page(study, settings_form, CohortForm(), 422, wording, previewing=True)
    if not wording.save.data:
        return _settings_page(study, settings_form, CohortForm(), 200, wording, previewing=True)
    user = access.current_user()
    changed = [
        f"{kind}/{language}"
        for (kind, language), typed in wording.wordings().items()
        if letters.save(db.session, study, MailKind(kind), language, typed, user.email)
    ]
    if changed:
        audit.record(
            db.session,
            "study.wording",
            user.email,
            study_id=study.id,
            target=study.slug,
            details={"changed": changed},
        )
        flash(_("The e-mail wording is saved."), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("studio.study_settings", slug=study.slug) + "#wording")


@bp.post("/studies/<slug>/settings")
@access.study_access(access.MANAGE)
def study_settings_post(study: Study) -> View:
    """Save the settings, or (the page's e-mail form, ``form=wording``) preview or save the e-mail wording."""
    if request.form.get("form") == WORDING_FORM:
        return _wording_post(study)
    if lifecycle_views.is_retention_post():
        saved = lifecycle_views.save_retention(study)
        if isinstance(saved, RetentionForm):
            settings = StudySettingsForm(formdata=None, obj=study)
            return _settings_page(study, settings, CohortForm(), 422, retention=saved)
        return saved
    form = StudySettingsForm()
    if not form.validate_on_submit():
        return _settings_page(study, form, CohortForm(), 422)
    changes: dict[str, Any] = {}
    for name in ("title", "status", "opens_on", "closes_on", "team_name", "team_email", "team_contact"):
        new = getattr(form, name).data
        if name == "team_contact":
            new = letters.normalise(new or "")
        elif isinstance(new, str) or (new is None and name.startswith("team_")):
            new = (new or "").strip()
        if getattr(study, name) != new:
            changes[name] = [_plain(getattr(study, name)), _plain(new)]
            setattr(study, name, new)
    if changes:
        user = access.current_user()
        audit.record(
            db.session, "study.update", user.email, study_id=study.id, target=study.slug, details=changes
        )
        flash(_("The study's settings are saved."), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("studio.study", slug=study.slug))


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@bp.post("/studies/<slug>/cohorts")
@access.study_access(access.MANAGE)
def cohort_add(study: Study) -> View:
    form = CohortForm()
    if form.validate_on_submit():
        try:
            code, label = parse_cohort_spec(f"{form.code.data}={form.label.data or ''}")
            if any(c.code == code for c in study.cohorts):
                raise StudyError(f"the study has a cohort {code} already")
        except StudyError as exc:
            form.code.errors = [str(exc)]
        else:
            study.cohorts.append(Cohort(code=code, label=label))
            db.session.flush()
            user = access.current_user()
            audit.record(
                db.session,
                "study.cohort_add",
                user.email,
                study_id=study.id,
                target=study.slug,
                details={"cohort": code},
            )
            flash(_("Cohort %(code)s is added.", code=code), "success")
            return redirect(url_for("studio.study_settings", slug=study.slug))
    return _settings_page(study, StudySettingsForm(obj=study), form, 422)


@bp.post("/studies/<slug>/export")
@access.study_access(access.MANAGE)
def export(study: Study) -> View:
    """Download the anonymized export (a zip of the export folder) in the chosen format."""
    form = ExportForm()
    if not form.validate_on_submit():
        abort(422, _("Choose one of the offered formats."))
    try:
        from elicit.exporting import ExportError, export_zip
    except ImportError:
        abort(503, _("The export is not available yet in this installation."))
    user = access.current_user()
    try:
        archive: Path = export_zip(db.session, study, form.format.data or "csv", actor=user.email)
    except ExportError as exc:
        abort(422, str(exc))
    # export_zip records the export in the audit log through this request's session (committed with it).
    response = send_file(
        archive,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{study.slug}-export-{form.format.data}-{utcnow():%Y%m%d}.zip",
        max_age=0,
    )
    response.call_on_close(lambda: archive.unlink(missing_ok=True))
    return response
