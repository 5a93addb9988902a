"""Instruments: the published versions, uploading (check, keep as a draft, publish), drafts, preview and diff."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import audit
from elicit.db import db
from elicit.i18n import LANGUAGE_NAMES
from elicit.instruments.formats import MAX_IMPORT_BYTES
from elicit.instruments.schema import Definition, InstrumentError, text_in
from elicit.instruments.versions import VersionError, definition_of, publish_version
from elicit.instruments.yamlsource import MAX_BYTES
from elicit.models import InstrumentDraft, InstrumentVersion, Role
from elicit.studio import access, confirming
from elicit.studio import instruments as catalogue
from elicit.studio.blueprint import bp
from elicit.studio.forms import DraftPublishForm, InstrumentUploadForm

View = str | tuple[str, int] | WerkzeugResponse
WRITERS = (Role.ADMIN, Role.RESEARCHER)


@bp.get("/instruments")
@access.login_required
def instruments() -> View:
    writer = access.current_user().role in WRITERS
    return render_template(
        "studio/instruments.html",
        versions=catalogue.published(db.session),
        drafts=catalogue.drafts(db.session) if writer else [],
    )


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


def _problems_page(
    form: InstrumentUploadForm, name: str, exc: InstrumentError, converted: str | None = None
) -> tuple[str, int]:
    return render_template(
        "studio/instrument_upload.html",
        form=form,
        max_bytes=MAX_BYTES,
        problems=exc.problems,
        name=name,
        converted=converted,
    ), 422


def _convert(form: InstrumentUploadForm, name: str) -> View:
    """An XLSForm, REDCap dictionary or LimeSurvey upload: converted, checked and kept as the draft, with a page
    saying what was mapped and what was not carried over (never published at once: that page comes first)."""
    upload = form.file.data
    try:
        conversion = catalogue.convert_upload(
            upload.read(MAX_IMPORT_BYTES + 1), upload.filename, form.instrument_id.data, form.version.data
        )
    except catalogue.ConversionFailed as exc:
        return _problems_page(form, name, exc, exc.text)
    definition = conversion.definition
    state = catalogue.upload_state(db.session, definition)
    page: dict[str, Any] = {
        "definition": definition,
        "name": name,
        "text_in": text_in,
        "conversion": conversion,
    }
    if state.state != "new":
        return render_template("studio/instrument_checked.html", state=state, **page), (
            409 if state.state == "conflict" else 200
        )
    user = access.current_user()
    draft, replaced = catalogue.save_draft(
        db.session, definition, conversion.text, conversion.filename, user.email
    )
    audit.record(
        db.session,
        "instrument.draft",
        user.email,
        target=draft.ref,
        details={
            "sha256": draft.sha256,
            "replaced": replaced,
            "converted_from": name,
            "format": conversion.kind,
        },
    )
    return render_template(
        "studio/instrument_checked.html",
        state=state,
        draft=draft,
        replaced=replaced,
        publish_asked=bool(form.publish.data),
        **page,
    )


@bp.post("/instruments/upload")
@access.role_required(*WRITERS)
def instrument_check() -> View:
    """Check an upload; keep it as its instrument's draft (to preview) or, with "Check and publish", publish it.

    Another tool's questionnaire (XLSForm, REDCap data dictionary, LimeSurvey .lss) is converted first (``_convert``).
    """
    form = InstrumentUploadForm()
    if not form.validate_on_submit():
        return render_template("studio/instrument_upload.html", form=form, max_bytes=MAX_BYTES), 422
    upload = form.file.data
    name = catalogue.upload_name(upload.filename)
    if catalogue.is_import(upload.filename):
        return _convert(form, name)
    data = upload.read(MAX_BYTES + 1)
    try:
        definition = catalogue.check(data, upload.filename)
    except InstrumentError as exc:
        return _problems_page(form, name, exc)
    state = catalogue.upload_state(db.session, definition)
    if state.state != "new":
        # Published already, with this content or with other content: nothing to draft or publish.
        return render_template(
            "studio/instrument_checked.html", definition=definition, state=state, name=name, text_in=text_in
        ), (409 if state.state == "conflict" else 200)
    if form.publish.data:
        response = _publish(definition)
        draft = catalogue.find_draft(db.session, definition.id)
        if draft is not None and draft.sha256 == definition.sha256:
            db.session.delete(draft)  # the very draft was published by uploading it again
        return response
    user = access.current_user()
    source = data.decode("utf-8-sig")  # the check above read it as UTF-8
    draft, replaced = catalogue.save_draft(db.session, definition, source, name, user.email)
    audit.record(
        db.session,
        "instrument.draft",
        user.email,
        target=draft.ref,
        details={"sha256": draft.sha256, "replaced": replaced},
    )
    if replaced is None:
        flash(_("%(name)s is checked and kept as the draft of %(key)s.", name=name, key=draft.key), "success")
    else:
        flash(
            _(
                "%(name)s is checked and replaces the draft %(old)s of %(key)s.",
                name=name,
                old=replaced,
                key=draft.key,
            ),
            "success",
        )
    return redirect(url_for("studio.instrument_draft", key=draft.key), 303)


# ------------------------------------------------------------------------------------------------------ drafts
def _draft_or_404(key: str) -> InstrumentDraft:
    draft = catalogue.find_draft(db.session, key)
    if draft is None:
        abort(404, _("%(key)s has no draft (it may have been published or discarded).", key=key))
    return draft


@bp.get("/instruments/drafts/<key>")
@access.role_required(*WRITERS)
def instrument_draft(key: str) -> View:
    """A draft: what it is, how it differs from what is published, every page to preview in every language."""
    draft = _draft_or_404(key)
    try:
        definition = catalogue.draft_definition(draft)
    except InstrumentError as exc:
        return render_template(
            "studio/instrument_draft.html", draft=draft, problems=exc.problems, definition=None
        ), 422
    return render_template(
        "studio/instrument_draft.html",
        draft=draft,
        definition=definition,
        problems=None,
        state=catalogue.upload_state(db.session, definition),
        form=DraftPublishForm(formdata=None, sha256=draft.sha256),
        upload=InstrumentUploadForm(formdata=None, instrument_id=draft.key, version=draft.version),
        language_names=LANGUAGE_NAMES,
        text_in=text_in,
        max_bytes=MAX_BYTES,
    )


@bp.get("/instruments/drafts/<key>/source")
@access.role_required(*WRITERS)
def instrument_draft_source(key: str) -> View:
    """The draft's file exactly as it was uploaded, to edit and upload again."""
    draft = _draft_or_404(key)
    response = make_response(draft.source)
    response.headers["Content-Type"] = "text/yaml; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{draft.filename}"'
    return response


@bp.get("/instruments/drafts/<key>/preview/<language>")
@access.role_required(*WRITERS)
def instrument_draft_preview(key: str, language: str) -> View:
    """A draft's page exactly as experts would see it once published; nothing is stored."""
    draft = _draft_or_404(key)
    try:
        definition = catalogue.draft_definition(draft)
    except InstrumentError:
        return redirect(url_for("studio.instrument_draft", key=key))
    return _preview(definition, language, "studio.instrument_draft_preview", {"key": key})


@bp.post("/instruments/drafts/<key>/publish")
@access.role_required(*WRITERS)
def instrument_draft_publish(key: str) -> View:
    """Publish the draft that was previewed (refused if it was replaced since the page was loaded)."""
    draft = _draft_or_404(key)
    form = DraftPublishForm()
    if not form.validate_on_submit():
        abort(400, _("The form did not come back whole; reload the draft's page and try again."))
    if form.sha256.data != draft.sha256:
        abort(
            409,
            _(
                "The draft of %(key)s was replaced after you loaded its page (by %(who)s); "
                "preview the new draft before publishing it.",
                key=key,
                who=draft.uploaded_by,
            ),
        )
    try:
        definition = catalogue.draft_definition(draft)
    except InstrumentError as exc:
        return _problems_page(InstrumentUploadForm(formdata=None), draft.filename, exc)
    response = _publish(definition)
    db.session.delete(draft)
    return response


def _discard(draft: InstrumentDraft) -> confirming.Confirmation:
    return confirming.Confirmation(
        title=_("Discard the draft %(ref)s?", ref=draft.ref),
        consequences=(
            _("The draft uploaded by %(who)s is deleted; nothing published changes.", who=draft.uploaded_by),
            _("To preview it again, upload the file again."),
        ),
        button=_("Discard the draft"),
        action=url_for("studio.instrument_draft_discard", key=draft.key),
        cancel=url_for("studio.instrument_draft", key=draft.key),
    )


@bp.get("/instruments/drafts/<key>/discard")
@access.role_required(*WRITERS)
def instrument_draft_discard_confirm(key: str) -> View:
    return confirming.page(_discard(_draft_or_404(key)))


@bp.post("/instruments/drafts/<key>/discard")
@access.role_required(*WRITERS)
def instrument_draft_discard(key: str) -> View:
    draft = _draft_or_404(key)
    if not confirming.confirmed():
        return confirming.unconfirmed(_discard(draft))
    audit.record(
        db.session,
        "instrument.draft_discard",
        access.current_user().email,
        target=draft.ref,
        details={"sha256": draft.sha256},
    )
    db.session.delete(draft)
    flash(_("The draft %(ref)s is discarded.", ref=draft.ref), "success")
    return redirect(url_for("studio.instruments"), 303)


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
    return _preview(definition, language, "studio.instrument_preview", {"key": key, "version": version})


def _preview(definition: Definition, language: str, endpoint: str, values: dict[str, Any]) -> View:
    """One page of a definition (published or draft) as experts see it, in ``language`` (``?page=`` names it)."""
    switched = request.args.get("lang")
    if switched and switched != language:
        # The preview's own language switch and page links carry ?page=...&lang=...; keep one address per page.
        target: dict[str, Any] = {"page": request.args["page"]} if request.args.get("page") else {}
        return redirect(url_for(endpoint, language=switched, **values, **target))
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
