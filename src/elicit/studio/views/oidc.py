"""Single sign-on pages: "Sign in with …", the identity provider's answer, and approving waiting accounts.

The blueprint (``studio.sso``, under ``/studio``) is registered only when single sign-on is configured (``OIDC``
in the config, from the ELICIT_OIDC_* variables): a server without it has none of these addresses. It is nested
in the studio blueprint, so its pages are studio pages: every studio request hook (who is signed in, a second
factor to set up first), the template context and the CSRF handler apply.

The authorization code flow with PKCE (S256) is Authlib's Flask client. The state, the nonce and the PKCE
code_verifier live only in the signed session cookie (Authlib's ``_state_oidc_<state>`` key, removed when the
answer comes back), so any worker of any process can take the answer; what a process keeps in memory is a cache
of the provider's discovery document and keys (fetched again for a key id it does not know). The ID token is
checked by Authlib and joserfc against the provider's JWKS, the configured issuer, this client as an audience
(``azp`` too when there are several), ``exp``/``iat`` and the session's nonce; the e-mail address and the account
are ``elicit.studio.oidc``'s. An OpenID Connect sign-in does not ask for the studio's second factor: the identity
provider is responsible for multi-factor authentication.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from joserfc.errors import JoseError
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit.db import db
from elicit.errors import ElicitError
from elicit.i18n import N_
from elicit.models import Role, User, utcnow
from elicit.studio import access, confirming, oidc
from elicit.studio.accounts import LoginPolicy, Outcome, throttled_until
from elicit.studio.forms import LoginForm, UserUpdateForm
from elicit.studio.oidc import OidcSettings, Reason
from elicit.studio.views.accounts import _wait_message

log = logging.getLogger("elicit.oidc")

View = str | tuple[str, int] | WerkzeugResponse
EXTENSION = "elicit.oidc"  # app.extensions: Authlib's client for the configured provider
NEXT = "sso_next"  # session: where to go once signed in (already made safe)
METHOD = "studio_sign_in_method"  # session: "oidc" for a session begun by single sign-on
SCOPE = "openid email profile"
LEEWAY = 60  # seconds of clock difference allowed on exp and iat
TIMEOUT = 10  # seconds for each request to the provider

sso = Blueprint("sso", __name__, url_prefix="/studio")


def init_app(app: Flask) -> None:
    """With single sign-on configured: Authlib's client for the provider, and the sign-on pages."""
    settings = app.config.get("OIDC")
    if settings is None:
        return
    if not isinstance(settings, OidcSettings):
        raise TypeError("the OIDC setting must be an elicit.studio.oidc.OidcSettings or None")
    registry = OAuth(app)
    app.extensions[EXTENSION] = registry.register(
        "oidc",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.metadata_url,
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "default_timeout": TIMEOUT},
    )
    # Registered inside the studio blueprint, as Flask nests blueprints (endpoints ``studio.sso.*``), so these
    # pages run every studio hook (who is signed in, a second factor to set up first, ...), context and error
    # handler; but only on an app that has single sign-on, which ``bp.register_blueprint`` could not make so.
    app.register_blueprint(sso, name_prefix="studio")


def _settings() -> OidcSettings:
    settings: OidcSettings = current_app.config["OIDC"]
    return settings


def _client() -> Any:
    return current_app.extensions[EXTENSION]


def _callback_url() -> str:
    """The redirect URI registered at the provider: ELICIT_BASE_URL and the callback's path."""
    return str(current_app.config["BASE_URL"]).rstrip("/") + url_for("studio.sso.callback")


class ProviderUnavailable(ElicitError):
    """The provider's discovery document cannot be had, or names another issuer than the one configured."""

    def __init__(self, misconfigured: bool) -> None:
        super().__init__()
        self.misconfigured = misconfigured


def _metadata() -> dict[str, Any]:
    """The provider's discovery document (fetched once per process), checked: its issuer must be the configured
    one (OpenID Connect Discovery 1.0, section 4.3) and it must name the endpoints the flow needs."""
    client, settings = _client(), _settings()
    try:
        metadata: dict[str, Any] = client.load_server_metadata()
    except (requests.RequestException, ValueError) as exc:
        log.warning("single sign-on: %s cannot be read: %s", settings.metadata_url, exc)
        raise ProviderUnavailable(misconfigured=False) from None
    missing = [
        key for key in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not metadata.get(key)
    ]
    if metadata.get("issuer") != settings.issuer or missing:
        log.error(
            "single sign-on misconfigured: %s names issuer %r (ELICIT_OIDC_ISSUER is %r)%s",
            settings.metadata_url,
            metadata.get("issuer"),
            settings.issuer,
            f", and lacks {', '.join(missing)}" if missing else "",
        )
        client.server_metadata.clear()  # read it again next time: it may be fixed meanwhile
        raise ProviderUnavailable(misconfigured=True)
    return metadata


def _unavailable(problem: ProviderUnavailable) -> tuple[str, int]:
    if problem.misconfigured:
        message = _(
            "Single sign-on is not set up correctly on this server, so it cannot sign you in; its administrators "
            "can see why in the server log."
        )
    else:
        message = _(
            "The identity provider cannot be reached at the moment, so single sign-on cannot sign you in. Please "
            "try again in a few minutes."
        )
    return _login_page(503, login_error=message)


def _login_page(status: int, **context: str) -> tuple[str, int]:
    return render_template("studio/login.html", form=LoginForm(), **context), status


@sso.get("/login/oidc")
def login() -> View:
    """Send the browser to the identity provider (state, nonce and PKCE verifier go into the session cookie)."""
    if g.get("studio_user") is not None:
        return redirect(url_for("studio.index"))
    try:
        _metadata()
    except ProviderUnavailable as problem:
        return _unavailable(problem)
    session[NEXT] = access.safe_next(request.args.get("next"))
    response: WerkzeugResponse = _client().authorize_redirect(_callback_url())
    return response


def _claims_options(settings: OidcSettings) -> dict[str, Any]:
    """What the ID token must say beyond Authlib's own checks (nonce, azp, at_hash): this issuer, this client
    among its audiences, and the times."""
    return {
        "iss": {"essential": True, "value": settings.issuer},
        "aud": {"essential": True, "value": settings.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }


MESSAGES = {
    Reason.STATE: N_(
        "This sign-in could not be matched to this browser: it was started in another browser, or it is too "
        "old. Please start again with the button below."
    ),
    Reason.TOKEN: N_(
        "The identity provider's answer could not be verified, so you are not signed in. Please try again; if "
        "it happens again, ask an administrator to check the single sign-on settings."
    ),
    Reason.NO_EMAIL: N_(
        "The identity provider did not give an e-mail address for you, which a studio account needs. Ask an "
        "administrator."
    ),
    Reason.UNVERIFIED: N_(
        "Your e-mail address is not verified at the identity provider, so it cannot sign you in here. Verify "
        "it there, then try again."
    ),
    Reason.DEACTIVATED: N_("This account has been deactivated. Ask an administrator."),
    Reason.LINKED_ELSEWHERE: N_(
        "The studio account with this e-mail address signs in with another identity. Ask an administrator."
    ),
    Reason.EMAIL_TAKEN: N_(
        "Your e-mail address at the identity provider is another studio account's. Ask an administrator."
    ),
}


def _message(reason: Reason, email: str = "", error: str = "") -> str:
    if reason is Reason.DOMAIN:
        domain = email.rsplit("@", 1)[-1]
        return str(
            _("Accounts with e-mail addresses at %(domain)s may not sign in to this studio.", domain=domain)
        )
    if reason is Reason.PROVIDER:
        return str(
            _(
                "The identity provider did not sign you in (it answered %(error)s). Please try again, or ask an "
                "administrator.",
                error=error[:60] or "an error",
            )
        )
    return str(_(MESSAGES[reason]))


def _refused(
    reason: Reason, status: int, email: str = "", detail: str = "", error: str = ""
) -> tuple[str, int]:
    """Audit (and count) a sign-on that did not sign in, and show the sign-in page with why."""
    source = request.remote_addr or "unknown"
    oidc.record_failure(db.session, reason, source, email, detail)
    db.session.commit()  # an error answer rolls back; the audit event and the failure count must stay
    return _login_page(status, login_error=_message(reason, email, error))


@sso.get("/login/oidc/callback")
def callback() -> View:
    """The provider's answer: exchange the code (with the PKCE verifier), check the ID token and the account."""
    settings = _settings()
    source = request.remote_addr or "unknown"
    until = throttled_until(db.session, source[:64], LoginPolicy.from_config(current_app.config), utcnow())
    if until is not None:
        return _login_page(429, refusal=_wait_message(until, Outcome.THROTTLED))
    target = session.pop(NEXT, None)
    try:
        _metadata()
        token = _client().authorize_access_token(claims_options=_claims_options(settings), leeway=LEEWAY)
    except ProviderUnavailable as problem:
        return _unavailable(problem)
    except MismatchingStateError:
        return _refused(Reason.STATE, 400)
    except OAuthError as exc:
        error = str(exc.error or "")
        return _refused(Reason.PROVIDER, 400, detail=f"{error}: {exc.description or ''}", error=error)
    except JoseError as exc:
        return _refused(Reason.TOKEN, 400, detail=str(exc))
    except (AuthlibBaseError, ValueError, requests.RequestException) as exc:
        log.warning("single sign-on: the token request failed: %s", exc.__class__.__name__)
        return _refused(Reason.TOKEN, 400, detail=exc.__class__.__name__)
    claims = token.get("userinfo")
    if not claims:
        return _refused(Reason.TOKEN, 400, detail="no ID token in the token response")
    result = oidc.sign_in_with_claims(db.session, settings, claims, source)
    if result.outcome is oidc.Outcome.PENDING:
        db.session.commit()  # the waiting account (and the audit) stay, although the answer is 403
        return render_template("studio/sso_waiting.html", email=result.email, name=settings.name), 403
    if result.user is None or result.reason is not None:
        db.session.commit()
        reason = result.reason or Reason.TOKEN
        return _login_page(403, login_error=_message(reason, result.email))
    access.begin_session(result.user)
    session[METHOD] = "oidc"
    flash(_("Signed in as %(email)s.", email=result.user.email), "success")
    return redirect(access.safe_next(target))


# -- administrators: accounts waiting for approval -----------------------------------------------------------


def _waiting_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.approval_pending:
        abort(404, _("No account with this number is waiting for approval."))
    return user


def _approve_page(user: User, form: UserUpdateForm, status: int = 200) -> tuple[str, int]:
    return render_template(
        "studio/sso_approve.html", user=user, form=form, link=oidc.is_link_request(user)
    ), status


@sso.get("/users/<int:user_id>/approve")
@access.role_required(Role.ADMIN)
def approve_page(user_id: int) -> View:
    user = _waiting_or_404(user_id)
    form = UserUpdateForm(role=user.role if oidc.is_link_request(user) else None)
    return _approve_page(user, form)


@sso.post("/users/<int:user_id>/approve")
@access.role_required(Role.ADMIN)
def approve(user_id: int) -> View:
    user = _waiting_or_404(user_id)
    form = UserUpdateForm()
    if not form.validate_on_submit():
        form.role.errors = [_("Choose the role this account gets.")]
        return _approve_page(user, form, 422)
    oidc.approve(db.session, user, Role(form.role.data), access.current_user().email)
    flash(
        _("%(email)s is approved as %(role)s and can sign in.", email=user.email, role=user.role), "success"
    )
    return redirect(url_for("studio.users"))


def _refusal(user: User) -> confirming.Confirmation:
    if oidc.is_link_request(user):
        consequences: tuple[str, ...] = (
            _("The account is not linked to the identity provider; it keeps signing in with its password."),
            _("A later single sign-on with this e-mail address asks for approval again."),
        )
    else:
        consequences = (
            _("The account cannot sign in: it stays, deactivated, so that later sign-ins are refused too."),
            _("An administrator can still activate it on its page."),
        )
    return confirming.Confirmation(
        title=_("Refuse %(email)s?", email=user.email),
        consequences=consequences,
        button=_("Refuse %(email)s", email=user.email),
        action=url_for("studio.sso.refuse", user_id=user.id),
        cancel=url_for("studio.users"),
    )


@sso.get("/users/<int:user_id>/refuse")
@access.role_required(Role.ADMIN)
def refuse_confirm(user_id: int) -> View:
    return confirming.page(_refusal(_waiting_or_404(user_id)))


@sso.post("/users/<int:user_id>/refuse")
@access.role_required(Role.ADMIN)
def refuse(user_id: int) -> View:
    user = _waiting_or_404(user_id)
    if not confirming.confirmed():
        return confirming.unconfirmed(_refusal(user))
    oidc.refuse(db.session, user, access.current_user().email)
    flash(_("%(email)s is refused.", email=user.email), "success")
    return redirect(url_for("studio.users"))
