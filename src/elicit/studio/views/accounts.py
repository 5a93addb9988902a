"""Signing in and out, and changing one's own password."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import audit
from elicit.db import db
from elicit.models import utcnow
from elicit.studio import access
from elicit.studio.accounts import LoginPolicy, Outcome, aware, sign_in
from elicit.studio.blueprint import bp
from elicit.studio.forms import ActionForm, LoginForm, PasswordChangeForm
from elicit.studio.oidc import password_allowed
from elicit.users import check_password, hash_password

View = str | tuple[str, int] | WerkzeugResponse


@bp.get("/login")
def login() -> View:
    if g.get("studio_user") is not None:
        return redirect(url_for("studio.index"))
    form = LoginForm(next=request.args.get("next", ""))
    return render_template("studio/login.html", form=form)


def _wait_message(until: datetime | None, kind: Outcome) -> str:
    minutes = 1
    if until is not None:
        minutes = max(1, int((aware(until) - utcnow()).total_seconds() // 60) + 1)
    when = f"{aware(until):%H:%M} UTC" if until is not None else ""
    if kind is Outcome.THROTTLED:
        message = _(
            "Too many failed sign-ins have come from your network. Please wait %(minutes)s minute(s) "
            "(until %(when)s) and try again.",
            minutes=minutes,
            when=when,
        )
    else:
        message = _(
            "This account is locked after repeated failed sign-ins. Try again in %(minutes)s minute(s) "
            "(after %(when)s), or ask an administrator to unlock it.",
            minutes=minutes,
            when=when,
        )
    return str(message)


def _login_page(form: LoginForm, status: int, **context: str) -> tuple[str, int]:
    """The sign-in page again; a form kept from an ended session (``pending``) stays on it."""
    pending = request.form.get("pending", "")
    if pending:
        context["signed_out"] = _(
            "Your session ended, so what you sent is not saved yet. Sign in again to save it."
        )
    return render_template("studio/login.html", form=form, pending=pending, **context), status


@bp.post("/login")
def login_post() -> View:
    form = LoginForm()
    if not password_allowed(current_app.config):  # single sign-on only (ELICIT_OIDC_ALLOW_PASSWORD=0)
        message = _("Signing in with a password is turned off on this server; use the single sign-on button.")
        return _login_page(form, 403, login_error=message)
    if not form.validate_on_submit():
        return _login_page(form, 422)
    result = sign_in(
        db.session,
        form.email.data or "",
        form.password.data or "",
        request.remote_addr or "unknown",
        LoginPolicy.from_config(current_app.config),
    )
    if result.refused:
        # A refusal is an error answer, and error answers roll back; the failure counters and the audit event
        # it recorded must stay, so this one view commits them itself.
        db.session.commit()
        return _login_page(form, 429, refusal=_wait_message(result.until, result.outcome))
    if result.outcome is Outcome.SECOND_FACTOR and result.user is not None:
        from elicit.studio.views import twofactor  # (that module builds on this one)

        return twofactor.second_step(result.user, form.next.data or "", request.form.get("pending", ""))
    if not result.ok or result.user is None:
        if result.outcome is Outcome.INACTIVE:
            error = _("This account has been deactivated. Ask an administrator.")
        else:
            error = _("The e-mail address or the password is not right.")
        return _login_page(form, 200, login_error=error)
    access.begin_session(result.user)
    flash(_("Signed in as %(email)s.", email=result.user.email), "success")
    if access.second_factor_due(result.user):
        from elicit.studio.views import twofactor

        return twofactor.enrolment_required(form.next.data or "", request.form.get("pending", ""))
    kept = access.read_pending(request.form.get("pending", ""), result.user.id)
    if kept is not None:
        # Posted after the session ended: shown back, to be saved (with a fresh CSRF token) or discarded.
        return render_template("studio/pending_form.html", kept=kept)
    return redirect(access.safe_next(form.next.data))


@bp.post("/logout")
@access.login_required
def logout() -> View:
    user = access.current_user()
    audit.record(db.session, "logout", user.email, target=user.email)
    access.end_session(user)
    flash(_("You are signed out."), "success")
    return redirect(url_for("studio.login"))


@bp.get("/account")
@access.login_required
def account() -> View:
    return render_template(
        "studio/account.html", user=access.current_user(), form=PasswordChangeForm(), logout_form=ActionForm()
    )


@bp.post("/account/password")
@access.login_required
def account_password() -> View:
    user = access.current_user()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if check_password(user, form.current.data or ""):
            user.password_hash = hash_password(form.password.data or "")
            audit.record(db.session, "user.password", user.email, target=user.email)
            access.end_session(user)  # every other session of this user ends here
            access.begin_session(user)
            flash(_("Your password is changed; your other sessions are signed out."), "success")
            return redirect(url_for("studio.account"))
        form.current.errors = [_("This is not your current password.")]
    return render_template("studio/account.html", user=user, form=form, logout_form=ActionForm()), 422
