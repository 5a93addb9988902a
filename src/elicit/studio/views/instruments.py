"""Instruments: the published versions, uploading (check, publish), preview and diff."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import audit
from elicit.db import db
from elicit.i18n import LANGUAGE_NAMES
from elicit.instruments.schema import Definition, InstrumentError, text_in
from elicit.instruments.versions import VersionError, definition_of, publish_version
from elicit.instruments.yamlsource import MAX_BYTES
from elicit.models import InstrumentVersion, Role
from elicit.studio import access
from elicit.studio import instruments as catalogue
from elicit.studio.blueprint import bp
from elicit.studio.forms import InstrumentUploadForm, PublishForm

View = str | tuple[str, int] | WerkzeugResponse
WRITERS = (Role.ADMIN, Role.RESEARCHER)
HIDDEN_LIMIT = 400 * 1024  # a checked file is carried to "Publish" in the form up to this size


@bp.get("/instruments")
@access.login_required
def instruments() -> View:
    return render_template("studio/instruments.html", versions=catalogue.published(db.session))


@bp.get("/instruments/upload")
@access.role_required(*WRITERS)
def instrument_upload() -> View:
    return render_template("studio/instrument_upload.html", form=InstrumentUploadForm(), max_bytes=MAX_BYTES)


def _publish(definition: Definition) -> WerkzeugResponse:
    user = access.current_user()
    try:
        version, created = publish_version(db.session, definition, user.email)
    except VersionError as exc:
        abort(409, str(exc))
    if created:
        audit.record(
            db.session,
            "instrument.publish",
            user.email,
            target=definition.ref,
            details={"sha256": version.sha256},
        )
        flash(_("%(ref)s is published.", ref=definition.ref), "success")
    else:
        flash(_("%(ref)s was published already with exactly this content.", ref=definition.ref), "info")
    return redirect(url_for("studio.instrument_version", key=definition.id, version=definition.version))


@bp.post("/instruments/upload")
@access.role_required(*WRITERS)
def instrument_check() -> View:
    form = InstrumentUploadForm()
    if not form.validate_on_submit():
        return render_template("studio/instrument_upload.html", form=form, max_bytes=MAX_BYTES), 422
    upload = form.file.data
    data = upload.read(MAX_BYTES + 1)
    name = catalogue.upload_name(upload.filename)
    try:
        definition = catalogue.check(data, upload.filename)
    except InstrumentError as exc:
        return render_template(
            "studio/instrument_upload.html", form=form, max_bytes=MAX_BYTES, problems=exc.problems, name=name
        ), 422
    state = catalogue.upload_state(db.session, definition)
    if form.publish.data and state.state != "conflict":
        return _publish(definition)
    text = data.decode("utf-8-sig", errors="replace")
    publish_form = PublishForm(content=text, filename=name) if len(data) <= HIDDEN_LIMIT else None
    return render_template(
        "studio/instrument_checked.html",
        definition=definition,
        state=state,
        name=name,
        publish_form=publish_form,
        text_in=text_in,
    ), (409 if state.state == "conflict" else 200)


@bp.post("/instruments/publish")
@access.role_required(*WRITERS)
def instrument_publish() -> View:
    form = PublishForm()
    if not form.validate_on_submit():
        abort(400, _("The checked file did not come back with the form; upload it again."))
    try:
        definition = catalogue.check(form.content.data or "", form.filename.data)
    except InstrumentError as exc:
        return render_template(
            "studio/instrument_upload.html",
            form=InstrumentUploadForm(),
            max_bytes=MAX_BYTES,
            problems=exc.problems,
            name=catalogue.upload_name(form.filename.data),
        ), 422
    return _publish(definition)


def _version_or_404(key: str, version: str) -> tuple[InstrumentVersion, Definition]:
    found = catalogue.find(db.session, key, version)
    if found is None:
        abort(404, _("No published version %(key)s@%(version)s.", key=key, version=version))
    return found, definition_of(found)


@bp.get("/instruments/<key>/<version>")
@access.login_required
def instrument_version(key: str, version: str) -> View:
    found, definition = _version_or_404(key, version)
    others = [row for row in catalogue.published(db.session) if row.key == key and row.version != version]
    return render_template(
        "studio/instrument_version.html",
        row=catalogue.row_of(found),
        definition=definition,
        others=others,
        language_names=LANGUAGE_NAMES,
        text_in=text_in,
    )


@bp.get("/instruments/<key>/<version>/preview/<language>")
@access.login_required
def instrument_preview(key: str, version: str, language: str) -> View:
    """The page exactly as experts see it, with a preview banner; nothing is stored."""
    _found, definition = _version_or_404(key, version)
    switched = request.args.get("lang")
    if switched and switched != language:
        # The preview's own language switch and page links carry ?page=...&lang=...; keep one address per page.
        target: dict[str, Any] = {"page": request.args["page"]} if request.args.get("page") else {}
        return redirect(
            url_for("studio.instrument_preview", key=key, version=version, language=switched, **target)
        )
    if language not in definition.languages:
        abort(404, _("This version has no language %(language)s.", language=language))
    page_id = request.args.get("page") or None
    if page_id is not None and page_id not in {p.id for p in definition.pages}:
        abort(404, _("This version has no page %(page)s.", page=page_id))
    try:
        from elicit.survey.rendering import render_preview
    except ImportError:
        abort(503, _("The preview is not available yet in this installation."))
    html: str = render_preview(definition, page_id, language)
    return html


@bp.get("/instruments/diff")
@access.login_required
def instrument_diff() -> View:
    """Two versions side by side (``?old=id@version&new=id@version&language=en``)."""
    refs = [row.ref for row in catalogue.published(db.session)]
    old_ref, new_ref = request.args.get("old", ""), request.args.get("new", "")
    language = request.args.get("language", "en")
    context: dict[str, object] = {"refs": refs, "old_ref": old_ref, "new_ref": new_ref, "language": language}
    if old_ref and new_ref:
        old, new = _by_ref(old_ref), _by_ref(new_ref)
        diff, rows = catalogue.side_by_side(old, new, language)
        context.update(diff=diff, rows=rows, languages=sorted(set(old.languages) | set(new.languages)))
    return render_template("studio/instrument_diff.html", **context)


def _by_ref(ref: str) -> Definition:
    key, _sep, version = ref.partition("@")
    return _version_or_404(key, version)[1]
