"""Two-factor sign-in: the second step of signing in, setting it up, recovery codes, turning it off, resetting it.

The state between the right password and the right code lives only in the signed session cookie (``HALF``: the
account, its session version and when the password was right), for five minutes; the app keeps nothing in
memory. The work is done by :mod:`elicit.studio.twofactor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import audit
from elicit.db import db
from elicit.models import Passkey, Role, User, utcnow
from elicit.studio import access, confirming, passkeys, twofactor
from elicit.studio.accounts import LoginPolicy, wrong_secret
from elicit.studio.blueprint import bp
from elicit.studio.forms import (
    ActionForm,
    CarryForm,
    CurrentCodeForm,
    EnrolmentCodeForm,
    LoginForm,
    PasskeySignInForm,
    PasswordChangeForm,
    SecondFactorForm,
    StudioForm,
    TurnOffForm,
)
from elicit.studio.views.accounts import _wait_message
from elicit.users import check_password

View = str | tuple[str, int] | WerkzeugResponse
HALF = "studio_half_signed_in"  # [user id, session version, time of the right password]
HALF_SECONDS = 5 * 60

# Every studio request of an account that must set up a second factor first is held here (access.py decides).
bp.before_request(access.hold_for_enrolment)


# ---------------------------------------------------------------------------------------- what the pages show
@dataclass
class TwoFactorState:
    """What the account, user and users pages say about one account's second factor."""

    user: User
    required: bool
    single_sign_on: bool
    regenerate: StudioForm
    turn_off: StudioForm
    add_passkey: StudioForm

    @property
    def on(self) -> bool:
        return twofactor.is_on(self.user)

    @property
    def since(self) -> datetime | None:
        return self.user.totp_enabled_at

    @property
    def left(self) -> int:
        return twofactor.recovery_codes_left(db.session, self.user)

    @property
    def passkeys(self) -> list[Passkey]:
        return passkeys.of(db.session, self.user)

    @property
    def passkeys_possible(self) -> bool:
        """Whether passkeys can be added here (not when the studio is reached at an IP address)."""
        return relying_party() is not None

    @property
    def resettable(self) -> bool:
        return self.user.totp_secret is not None or self.on


def _state(user: User, regenerate: Any = None, turn_off: Any = None) -> TwoFactorState:
    return TwoFactorState(
        user=user,
        required=twofactor.required(user, current_app.config),
        single_sign_on=access.signs_on_elsewhere(user),
        regenerate=regenerate if isinstance(regenerate, StudioForm) else CurrentCodeForm(formdata=None),
        turn_off=turn_off if isinstance(turn_off, StudioForm) else TurnOffForm(formdata=None),
        add_passkey=ActionForm(formdata=None),
    )


@bp.context_processor
def _twofactor_context() -> dict[str, object]:
    return {"twofactor_state": _state}


def _account_page(status: int, **forms: Any) -> tuple[str, int]:
    """The account page again, with a two-factor form's errors (``regenerate_form`` or ``turn_off_form``)."""
    return render_template(
        "studio/account.html",
        user=access.current_user(),
        form=PasswordChangeForm(formdata=None),
        logout_form=ActionForm(),
        **forms,
    ), status


def client_source() -> str:
    """The address a sign-in attempt is counted against."""
    return request.remote_addr or "unknown"


def login_policy() -> LoginPolicy:
    return LoginPolicy.from_config(current_app.config)


def _key() -> str:
    return str(current_app.config["SECRET_KEY"])


def relying_party() -> passkeys.RelyingParty | None:
    """Where passkeys work: the address this request reached the studio at (None on an IP address)."""
    return passkeys.relying_party(request.host_url)


def _site() -> str:
    return urlsplit(str(current_app.config.get("BASE_URL") or request.host_url)).netloc or request.host


def _problem_message(checked: twofactor.Checked, *, recovery: bool = True) -> str:
    if checked.problem is twofactor.Problem.USED:
        return str(_("This code has been used already. Wait for the next code in your app, then enter it."))
    if checked.problem is twofactor.Problem.UNREADABLE:
        return str(
            _(
                "Your code cannot be checked on this server (its secret key was changed). Use a recovery code, "
                "or ask an administrator to reset your second factor."
            )
        )
    if recovery:
        return str(_("This code is not right. Enter the code your app shows now, or a recovery code."))
    return str(_("This code is not right. Enter the code your app shows now."))


# ---------------------------------------------------------------------------------- the second step of signing in
def second_step(user: User, next_path: str, pending: str) -> tuple[str, int]:
    """After the right password of an account with a second factor: the half-signed-in state and the code page."""
    session.clear()  # nothing from before (a planted session, an old CSRF token) is carried into the sign-in
    session[HALF] = [user.id, user.session_version, int(twofactor.clock())]
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    return code_page(user, SecondFactorForm(formdata=None, next=next_path), pending, 200)


def code_page(
    user: User, form: SecondFactorForm, pending: str, status: int, **context: str
) -> tuple[str, int]:
    """The second step's page: the code field and, when the account has passkeys, the passkey button (with a
    new challenge, kept whatever the status: an error answer would roll it back)."""
    rp = relying_party()
    options = passkeys.sign_in_options(db.session, user, rp) if rp is not None else None
    if options is not None:
        db.session.commit()
    passkey_form = PasskeySignInForm(formdata=None, next=form.next.data) if options is not None else None
    return render_template(
        "studio/twofactor_code.html",
        form=form,
        pending=pending,
        passkey_options=options,
        passkey_form=passkey_form,
        **context,
    ), status


def half_signed_in() -> User | None:
    """The account whose password was right less than five minutes ago, in this browser; else None."""
    state = session.get(HALF)
    if not (isinstance(state, list) and len(state) == 3 and all(isinstance(part, int) for part in state)):
        return None
    uid, version, when = state
    if not 0 <= twofactor.clock() - when <= HALF_SECONDS:
        return None
    user = db.session.get(User, uid)
    if user is None or not user.is_active or user.session_version != version or not twofactor.is_on(user):
        return None
    return user


def sign_in_again(next_path: str, pending: str) -> tuple[str, int]:
    """The sign-in page, when a second step comes without a right password in this browser before it."""
    session.pop(HALF, None)
    message = _(
        "Sign in again: more than five minutes passed since your password was entered, or this browser "
        "did not enter it."
    )
    login_form = LoginForm(formdata=None, next=next_path)
    return render_template("studio/login.html", form=login_form, pending=pending, login_error=message), 401


@bp.post("/login/code")
def login_code() -> View:
    form = SecondFactorForm()
    pending = request.form.get("pending", "")
    user = half_signed_in()
    if user is None:
        return sign_in_again(form.next.data or "", pending)
    if not form.validate_on_submit() or form.parsed is None:
        return code_page(user, form, pending, 422)
    checked = twofactor.check(db.session, user, form.parsed, client_source(), login_policy(), _key())
    if checked.refused:
        return refused_page(user, form, pending, checked)
    if not checked.ok or checked.factor is None:
        form.code.errors = [_problem_message(checked)]
        return code_page(user, form, pending, 200)
    return signed_in(user, checked.factor, pending, form.next.data)


def refused_page(
    user: User, form: SecondFactorForm, pending: str, checked: twofactor.Checked
) -> tuple[str, int]:
    """The second step's page when the account is locked or the source throttled (429)."""
    db.session.commit()  # an error answer rolls back; the counters and the audit event must stay
    return code_page(user, form, pending, 429, refusal=_wait_message(checked.until, checked.outcome))


def signed_in(user: User, factor: twofactor.Factor, pending: str, next_path: str | None) -> View:
    """The second factor was right: the session begins, and the browser goes on to where it was going."""
    twofactor.finish_sign_in(db.session, user, factor, client_source())
    access.begin_session(user)
    flash(_("Signed in as %(email)s.", email=user.email), "success")
    if factor is twofactor.Factor.RECOVERY:
        left = twofactor.recovery_codes_left(db.session, user)
        flash(
            _(
                "You signed in with a recovery code; %(left)s are left. Each works once: make new ones on your "
                "account page if you are running out.",
                left=left,
            ),
            "info",
        )
    kept = access.read_pending(pending, user.id)
    if kept is not None:
        return render_template("studio/pending_form.html", kept=kept)
    return redirect(access.safe_next(next_path))


# ------------------------------------------------------------------------------------------------------ setting up
def enrolment_required(next_path: str, pending: str) -> View:
    """Signed in, but the account must set up a second factor before anything else: straight to that page."""
    if pending:  # a kept form is too large for an address: it rides on the page's form instead
        return _setup_page(next_path, pending, None)
    return redirect(url_for("studio.twofactor_setup", next=next_path or None))


def _setup_page(
    next_path: str,
    pending: str,
    secret: str | None,
    code_form: EnrolmentCodeForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """Setting up: what is needed and a button to begin (``secret`` None), or the QR code, the secret as text
    and the field for the first code."""
    user = access.current_user()
    context: dict[str, Any] = {
        "pending": pending,
        "state": _state(user),
        "start_form": CarryForm(formdata=None, next=next_path),
        "form": code_form or EnrolmentCodeForm(formdata=None, next=next_path),
    }
    if secret is not None:
        uri = twofactor.provisioning_uri(secret, user.email, _site())
        context.update(qr=twofactor.qr_svg(uri), secret=twofactor.grouped(secret), uri=uri)
    return render_template("studio/twofactor_setup.html", **context), status


def _nothing_to_set_up(user: User) -> View | None:
    """Back to the account page when the user has a second factor already, or signs in through single sign-on
    (their identity provider asks for the second factor); None when setting one up may go on."""
    if twofactor.is_on(user):
        flash(_("Two-factor sign-in is on already."), "info")
    elif access.signs_on_elsewhere(user):
        flash(
            _("You sign in through single sign-on; your identity provider asks for the second factor."),
            "info",
        )
    else:
        return None
    return redirect(url_for("studio.account"))


@bp.get("/account/two-factor")
@access.login_required
def twofactor_setup() -> View:
    user = access.current_user()
    done = _nothing_to_set_up(user)
    if done is not None:
        return done
    return _setup_page(request.args.get("next", ""), "", twofactor.pending_secret(user, _key()))


@bp.post("/account/two-factor")
@access.login_required
def twofactor_start() -> View:
    user = access.current_user()
    form = CarryForm()
    pending = request.form.get("pending", "")
    if not form.validate_on_submit():
        return _setup_page(form.next.data or "", pending, None, status=422)
    done = _nothing_to_set_up(user)
    if done is not None:
        return done
    secret = twofactor.begin_enrolment(user, _key(), anew=request.form.get("anew") == "1")
    return _setup_page(form.next.data or "", pending, secret)


@bp.post("/account/two-factor/confirm")
@access.login_required
def twofactor_confirm() -> View:
    user = access.current_user()
    form = EnrolmentCodeForm()
    pending = request.form.get("pending", "")
    secret = twofactor.pending_secret(user, _key())
    if secret is None:
        message = _("Two-factor sign-in is not being set up now; start again from your account page.")
        return render_template("error.html", status=409, title=_("Nothing to confirm"), message=message), 409
    if not form.validate_on_submit() or form.parsed is None:
        return _setup_page(form.next.data or "", pending, secret, form, 422)
    refused = password_refused(user, form.current)
    if refused is not None:
        return _setup_page(form.next.data or "", pending, secret, form, refused)
    try:
        codes = twofactor.confirm_enrolment(db.session, user, _key(), form.parsed, twofactor.clock())
    except twofactor.TwoFactorError as exc:
        form.code.errors = [str(exc)]
        return _setup_page(form.next.data or "", pending, secret, form, 422)
    access.end_session(user)  # every other session of this account ends: they began without the second factor
    access.begin_session(user)
    return _recovery_codes_page(codes, CarryForm(formdata=None, next=form.next.data), pending, first=True)


def password_refused(user: User, field: Any) -> int | None:
    """Check the password typed into ``field`` by the signed-in ``user`` before a second factor is added; None
    when right, else the status to answer with (the field says why). A wrong one is counted like a wrong
    password at sign-in: such a form must not be a way to guess it without limit."""
    if check_password(user, field.data or ""):
        return None
    result = wrong_secret(db.session, user, client_source(), login_policy(), utcnow(), "wrong password")
    db.session.commit()  # an error answer rolls back; the count and the audit event must stay
    if result.refused:
        field.errors = [_wait_message(result.until, result.outcome)]
        return 429
    field.errors = [_("This is not your password.")]
    return 422


def _recovery_codes_page(codes: list[str], form: CarryForm, pending: str, *, first: bool) -> tuple[str, int]:
    return render_template(
        "studio/twofactor_recovery.html", codes=codes, form=form, pending=pending, first=first
    ), 200


@bp.post("/account/two-factor/continue")
@access.login_required
def twofactor_continue() -> View:
    """On from the recovery codes page: to where the sign-in was going, or the form kept from an ended session."""
    user = access.current_user()
    form = CarryForm()
    if not form.validate_on_submit():
        return redirect(url_for("studio.index"))
    kept = access.read_pending(request.form.get("pending", ""), user.id)
    if kept is not None:
        return render_template("studio/pending_form.html", kept=kept)
    return redirect(access.safe_next(form.next.data))


# ------------------------------------------------------------------------------------------- the user's controls
def _not_on() -> tuple[str, int]:
    message = _("Two-factor sign-in is not on for your account; set it up on your account page.")
    return render_template(
        "error.html", status=409, title=_("Two-factor sign-in is off"), message=message
    ), 409


def _checked_code(form: SecondFactorForm, *, recovery: bool, form_name: str) -> View | None:
    """Check a code posted by the signed-in user like a sign-in would; an error page, or None when right."""
    user = access.current_user()
    if not form.validate_on_submit() or form.parsed is None:
        return _account_page(422, **{form_name: form})
    checked = twofactor.check(
        db.session, user, form.parsed, client_source(), login_policy(), _key(), recovery=recovery
    )
    if checked.ok:
        return None
    db.session.commit()  # the failure is counted and audited like a wrong sign-in, though the answer is an error
    if checked.refused:
        form.code.errors = [_wait_message(checked.until, checked.outcome)]
        return _account_page(429, **{form_name: form})
    form.code.errors = [_problem_message(checked, recovery=recovery)]
    return _account_page(422, **{form_name: form})


@bp.post("/account/two-factor/recovery-codes")
@access.login_required
def twofactor_recovery_codes() -> View:
    user = access.current_user()
    if not twofactor.is_on(user):
        return _not_on()
    form = CurrentCodeForm()
    answer = _checked_code(form, recovery=False, form_name="regenerate_form")
    if answer is not None:
        return answer
    codes = twofactor.new_recovery_codes(db.session, user)
    audit.record(db.session, "user.2fa_recovery_codes", user.email, target=user.email)
    return _recovery_codes_page(
        codes, CarryForm(formdata=None, next=url_for("studio.account")), "", first=False
    )


@bp.post("/account/two-factor/off")
@access.login_required
def twofactor_disable() -> View:
    user = access.current_user()
    if not twofactor.is_on(user):
        return _not_on()
    if twofactor.required(user, current_app.config):
        if user.role == Role.ADMIN:
            message = _("Administrators must sign in with a second factor, so it cannot be turned off.")
        else:
            message = _("This server requires a second factor for every account, so it cannot be turned off.")
        title = _("Two-factor sign-in is required")
        return render_template("error.html", status=403, title=title, message=message), 403
    form = TurnOffForm()
    answer = _checked_code(form, recovery=True, form_name="turn_off_form")
    if answer is not None:
        return answer
    twofactor.turn_off(db.session, user)
    audit.record(db.session, "user.2fa_disable", user.email, target=user.email)
    flash(_("Two-factor sign-in is off: your password alone signs you in."), "success")
    return redirect(url_for("studio.account"))


# ------------------------------------------------------------------------------------------------- administration
def _reset_confirmation(user: User) -> confirming.Confirmation:
    return confirming.Confirmation(
        title=_("Reset the second factor of %(email)s?", email=user.email),
        consequences=(
            _(
                "Their authenticator app, every recovery code and every passkey stop working, and they are signed "
                "out."
            ),
            _(
                "They sign in with their password alone next time and set up a second factor again if it is required."
            ),
            _("Do this only when you know it is them asking (for example, a lost phone)."),
        ),
        button=_("Reset the second factor of %(email)s", email=user.email),
        action=url_for("studio.user_twofactor_reset", user_id=user.id),
        cancel=url_for("studio.user", user_id=user.id),
    )


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, _("No such user."))
    return user


@bp.get("/users/<int:user_id>/two-factor/reset")
@access.role_required(Role.ADMIN)
def user_twofactor_reset_confirm(user_id: int) -> View:
    return confirming.page(_reset_confirmation(_user_or_404(user_id)))


@bp.post("/users/<int:user_id>/two-factor/reset")
@access.role_required(Role.ADMIN)
def user_twofactor_reset(user_id: int) -> View:
    user = _user_or_404(user_id)
    if not confirming.confirmed():
        return confirming.unconfirmed(_reset_confirmation(user))
    admin = access.current_user()
    if not twofactor.reset(db.session, user, admin.email):
        flash(_("%(email)s has no second factor; nothing to reset.", email=user.email), "info")
        return redirect(url_for("studio.user", user_id=user.id))
    if user.id == admin.id:
        access.begin_session(user)
    flash(_("The second factor of %(email)s is reset; they are signed out.", email=user.email), "success")
    return redirect(url_for("studio.user", user_id=user.id))
