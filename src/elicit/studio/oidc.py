"""Single sign-on with OpenID Connect: its settings, roles from a claim, and which studio account a sign-in is.

No Flask here: ``elicit.studio.views.oidc`` runs the authorization code flow (PKCE, through Authlib) and hands
the ID token's claims, already checked for signature, issuer, audience, expiry and nonce, to
:func:`sign_in_with_claims`, which checks the e-mail address (verified, of an allowed domain) and finds, links
or creates the account:

- an account is the pair (``oidc_issuer``, ``oidc_subject``); the e-mail address follows the provider's;
- a first sign-in whose e-mail address is an existing account's links to it when the role claim maps to a role,
  else waits for an administrator (``approval_pending``; the account keeps working with its password meanwhile);
- a first sign-in with no account creates one: active with the mapped role, or inactive and waiting for an
  administrator to approve it (with a role they choose) or refuse it;
- a mapped role claim sets the role at every sign-in (the highest mapped role wins); a claim that maps nothing
  leaves the role an administrator gave;
- a sign-on account has no usable password (:data:`UNUSABLE_PASSWORD`), and a deactivated account stays refused.

Every outcome is audited: ``login`` with ``{"method": "oidc"}``, ``login.failed`` with the reason (never a
token), ``user.add``, ``user.link``, ``user.update`` when the provider changes the e-mail or the role, and
``user.approve`` / ``user.refuse`` by an administrator.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicit import audit
from elicit.errors import ElicitError
from elicit.models import LoginFailure, Role, User, utcnow
from elicit.studio.accounts import ANONYMOUS, KEEP_FAILURES
from elicit.users import EMAIL_RE, normalize_email

# Not an argon2 hash, so ``users.check_password`` is False for every password: the provider signs this account in.
UNUSABLE_PASSWORD = "!oidc: signs in with single sign-on only"  # noqa: S105  # nosec B105  # a marker, no password
DEFAULT_NAME = "single sign-on"
MAX_ISSUER = 500  # users.oidc_issuer
RANK = {Role.VIEWER: 1, Role.RESEARCHER: 2, Role.ADMIN: 3}
YES, NO = frozenset({"1", "yes", "true", "on"}), frozenset({"0", "no", "false", "off"})
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_LOOPBACK_NAMES = frozenset({"localhost"})


class OidcSettingError(ElicitError):
    """An ELICIT_OIDC_* variable is missing or cannot be used; the message names it, on one line."""


@dataclass(frozen=True)
class OidcSettings:
    """Where the identity provider is, who Elicit is to it, and what it may decide."""

    issuer: str
    client_id: str
    client_secret: str
    name: str = DEFAULT_NAME  # on the button: "Sign in with <name>"
    domains: frozenset[str] = frozenset()  # allowed e-mail domains; empty: any
    role_claim: str | None = None  # a claim (or dotted path into nested claims) naming groups or roles
    roles: tuple[tuple[str, Role], ...] = ()  # claim value -> role
    allow_password: bool = True  # whether the e-mail and password form stays

    @property
    def metadata_url(self) -> str:
        """OpenID Connect Discovery 1.0, section 4: the issuer's configuration document."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _issuer(raw: str) -> str:
    issuer = raw.strip()
    try:
        parts = urlsplit(issuer)
        host = parts.hostname or ""
        _ = parts.port  # a port that is not a number raises ValueError
    except ValueError:
        parts, host = urlsplit(""), ""
    loopback = parts.scheme == "http" and _is_loopback(host)
    bad = parts.scheme != "https" and not loopback or not host or parts.query or parts.fragment
    if bad or len(issuer) > MAX_ISSUER:
        raise OidcSettingError(
            f"ELICIT_OIDC_ISSUER={raw!r} must be the identity provider's https:// issuer address, without a query, "
            f"at most {MAX_ISSUER} characters (http:// only for 127.0.0.1 or localhost)"
        )
    return issuer


def _domains(raw: str) -> frozenset[str]:
    domains = set()
    for part in raw.split(","):
        domain = part.strip().lower().removeprefix("@")
        if not domain:
            continue
        if not _DOMAIN_RE.match(domain):
            raise OidcSettingError(
                f"ELICIT_OIDC_DOMAINS: {part.strip()!r} is not an e-mail domain; give domains separated by commas, "
                "e.g. example.org,ministry.gov.pk"
            )
        domains.add(domain)
    return frozenset(domains)


def _roles(raw: str) -> tuple[tuple[str, Role], ...]:
    pairs = []
    for part in raw.split(","):
        if not part.strip():
            continue
        value, sep, role = part.partition("=")
        if not sep or not value.strip() or role.strip() not in {r.value for r in Role}:
            raise OidcSettingError(
                f"ELICIT_OIDC_ROLES: {part.strip()!r} must be CLAIM_VALUE=ROLE with ROLE admin, researcher or "
                "viewer, e.g. elicit-admins=admin,elicit-research=researcher"
            )
        pairs.append((value.strip(), Role(role.strip())))
    return tuple(pairs)


def _flag(name: str, raw: str | None) -> bool:
    if raw is None or raw.strip() == "":
        return True
    text = raw.strip().lower()
    if text not in YES | NO:
        raise OidcSettingError(f"{name}={raw!r} must be yes or no (1 or 0)")
    return text in YES


def settings_from_environment(env: Mapping[str, str]) -> OidcSettings | None:
    """The ELICIT_OIDC_* variables as settings; None when none is set; :class:`OidcSettingError` when some are
    set but the three that make a client (issuer, client id, client secret) are not all there, or one is bad."""
    names = sorted(name for name, value in env.items() if name.startswith("ELICIT_OIDC_") and value.strip())
    if not names:
        return None
    required = ("ELICIT_OIDC_ISSUER", "ELICIT_OIDC_CLIENT_ID", "ELICIT_OIDC_CLIENT_SECRET")
    missing = [name for name in required if not env.get(name, "").strip()]
    if missing:
        given = ", ".join(name for name in names if name not in missing)
        raise OidcSettingError(
            f"single sign-on is half configured: {missing[0]} is not set (set are {given}); set "
            + ", ".join(required)
            + " together, or none of the ELICIT_OIDC_* variables"
        )
    role_claim = env.get("ELICIT_OIDC_ROLE_CLAIM", "").strip() or None
    roles = _roles(env.get("ELICIT_OIDC_ROLES", ""))
    if role_claim and not roles:
        raise OidcSettingError(
            "ELICIT_OIDC_ROLES is not set: with ELICIT_OIDC_ROLE_CLAIM, name the claim values that give a role, "
            "e.g. elicit-admins=admin,elicit-research=researcher,elicit-view=viewer"
        )
    if roles and not role_claim:
        raise OidcSettingError(
            "ELICIT_OIDC_ROLE_CLAIM is not set: with ELICIT_OIDC_ROLES, name the ID token claim that holds the "
            "values, e.g. groups"
        )
    return OidcSettings(
        issuer=_issuer(env["ELICIT_OIDC_ISSUER"]),
        client_id=env["ELICIT_OIDC_CLIENT_ID"].strip(),
        client_secret=env["ELICIT_OIDC_CLIENT_SECRET"].strip(),
        name=env.get("ELICIT_OIDC_NAME", "").strip() or DEFAULT_NAME,
        domains=_domains(env.get("ELICIT_OIDC_DOMAINS", "")),
        role_claim=role_claim,
        roles=roles,
        allow_password=_flag("ELICIT_OIDC_ALLOW_PASSWORD", env.get("ELICIT_OIDC_ALLOW_PASSWORD")),
    )


def password_allowed(config: Mapping[str, Any]) -> bool:
    """Whether the e-mail and password form signs in (always, unless single sign-on turned it off)."""
    settings = config.get("OIDC")
    return not isinstance(settings, OidcSettings) or settings.allow_password


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """The claim ``name``; a name that is not a claim itself is a path into nested claims (``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def mapped_role(settings: OidcSettings, claims: Mapping[str, Any]) -> Role | None:
    """The highest role that the role claim's values map to, or None (no claim configured, absent, no match)."""
    if not settings.role_claim:
        return None
    value = _claim(claims, settings.role_claim)
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    table = dict(settings.roles)
    found = [table[v] for v in values if isinstance(v, str) and v in table]
    return max(found, key=RANK.__getitem__) if found else None


class Outcome(StrEnum):
    SIGNED_IN = "signed in"
    PENDING = "waiting for an administrator"
    REFUSED = "refused"


class Reason(StrEnum):
    """Why a sign-on did not sign in; the value is what the audit log says."""

    THROTTLED = "throttled"
    STATE = "state mismatch"
    PROVIDER = "refused by the identity provider"
    TOKEN = "invalid ID token"  # noqa: S105  # nosec B105  # an audit reason, no secret
    UNREACHABLE = "identity provider unreachable"
    NO_EMAIL = "no e-mail address"
    UNVERIFIED = "e-mail not verified"
    DOMAIN = "domain not allowed"
    DEACTIVATED = "account deactivated"
    LINKED_ELSEWHERE = "account linked to another identity"
    EMAIL_TAKEN = "e-mail address of another account"
    PENDING = "waiting for approval"


@dataclass(frozen=True)
class SignOnResult:
    outcome: Outcome
    user: User | None = None
    reason: Reason | None = None
    email: str = ""


def _verified(claims: Mapping[str, Any]) -> bool:
    """``email_verified`` true (some providers send the string "true")."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def record_failure(
    session: Session,
    reason: Reason,
    source: str,
    target: str = "",
    detail: str = "",
    now: datetime | None = None,
) -> None:
    """Audit a sign-on that did not sign in (``login.failed``) and count it against its source."""
    now = now or utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP_FAILURES))
    session.add(LoginFailure(source=source[:64], at=now))
    details = {"method": "oidc", "reason": reason.value, "source": source[:64]}
    if detail:
        details["detail"] = detail[:200]
    audit.record(session, "login.failed", ANONYMOUS, target=target or "(unknown)", details=details)
    session.flush()


def sign_in_with_claims(
    session: Session,
    settings: OidcSettings,
    claims: Mapping[str, Any],
    source: str,
    now: datetime | None = None,
) -> SignOnResult:
    """Find, link or create the account of verified ID token claims; audit what happened, as the module says."""
    now = now or utcnow()
    source = (source or "unknown")[:64]
    email = normalize_email(str(claims.get("email") or ""))
    subject = str(claims.get("sub") or "")
    if not EMAIL_RE.match(email) or len(email) > 254 or not subject or len(subject) > 255:
        return _refuse(session, Reason.NO_EMAIL, source, email if EMAIL_RE.match(email) else "")
    if not _verified(claims):
        return _refuse(session, Reason.UNVERIFIED, source, email)
    if settings.domains and email.rsplit("@", 1)[1] not in settings.domains:
        return _refuse(session, Reason.DOMAIN, source, email)
    role = mapped_role(settings, claims)
    for _attempt in range(2):  # a concurrent first sign-in of the same person may win the insert: look again
        try:
            with session.begin_nested():
                return _account(session, settings, subject, email, role, source, now)
        except IntegrityError:
            continue
    return _refuse(session, Reason.EMAIL_TAKEN, source, email)


def _refuse(session: Session, reason: Reason, source: str, email: str) -> SignOnResult:
    record_failure(session, reason, source, email)
    outcome = Outcome.PENDING if reason is Reason.PENDING else Outcome.REFUSED
    return SignOnResult(outcome, reason=reason, email=email)


def _account(
    session: Session,
    settings: OidcSettings,
    subject: str,
    email: str,
    role: Role | None,
    source: str,
    now: datetime,
) -> SignOnResult:
    user = session.scalar(
        select(User)
        .where(User.oidc_issuer == settings.issuer, User.oidc_subject == subject)
        .with_for_update()
    )
    if user is not None:
        return _known(session, user, email, role, source, now)
    existing = session.scalar(select(User).where(User.email == email).with_for_update())
    if existing is not None:
        return _link(session, settings, existing, subject, role, source, now)
    return _create(session, settings, subject, email, role, source, now)


def _set_role(session: Session, user: User, role: Role | None) -> None:
    if role is not None and role != user.role:
        audit.record(
            session,
            "user.update",
            user.email,
            target=user.email,
            details={"role": [user.role, role], "by": "identity provider"},
        )
        user.role = role


def _signed_in(session: Session, user: User, source: str, now: datetime) -> SignOnResult:
    user.last_login_at = now
    audit.record(
        session, "login", user.email, target=user.email, details={"method": "oidc", "source": source}
    )
    return SignOnResult(Outcome.SIGNED_IN, user=user, email=user.email)


def _known(
    session: Session, user: User, email: str, role: Role | None, source: str, now: datetime
) -> SignOnResult:
    if user.approval_pending:
        if role is None:
            return _refuse(session, Reason.PENDING, source, user.email)
        # The provider now gives a role: that is the approval this account was waiting for.
        _finish_approval(user)
        user.is_active = True
        audit.record(
            session, "user.approve", user.email, target=user.email, details={"by": "identity provider"}
        )
    if not user.is_active:
        return _refuse(session, Reason.DEACTIVATED, source, user.email)
    if email != user.email:
        if session.scalar(select(User.id).where(User.email == email, User.id != user.id)) is not None:
            return _refuse(session, Reason.EMAIL_TAKEN, source, email)
        audit.record(
            session,
            "user.update",
            email,
            target=email,
            details={"email": [user.email, email], "by": "identity provider"},
        )
        user.email = email
    _set_role(session, user, role)
    return _signed_in(session, user, source, now)


def _link(
    session: Session,
    settings: OidcSettings,
    user: User,
    subject: str,
    role: Role | None,
    source: str,
    now: datetime,
) -> SignOnResult:
    if user.oidc_subject is not None:
        return _refuse(session, Reason.LINKED_ELSEWHERE, source, user.email)
    if not user.is_active:
        return _refuse(session, Reason.DEACTIVATED, source, user.email)
    user.oidc_issuer, user.oidc_subject = settings.issuer, subject
    if role is None:
        # Anyone the provider vouches for with this address could otherwise take the account over: ask first.
        user.approval_pending = True
        audit.record(
            session, "user.link_request", user.email, target=user.email, details={"issuer": settings.issuer}
        )
        session.flush()
        return _refuse(session, Reason.PENDING, source, user.email)
    user.password_hash = UNUSABLE_PASSWORD
    audit.record(session, "user.link", user.email, target=user.email, details={"issuer": settings.issuer})
    _set_role(session, user, role)
    session.flush()
    return _signed_in(session, user, source, now)


def _create(
    session: Session,
    settings: OidcSettings,
    subject: str,
    email: str,
    role: Role | None,
    source: str,
    now: datetime,
) -> SignOnResult:
    user = User(
        email=email,
        role=role or Role.VIEWER,  # a waiting account's role is chosen by the administrator who approves it
        password_hash=UNUSABLE_PASSWORD,
        is_active=role is not None,
        approval_pending=role is None,
        oidc_issuer=settings.issuer,
        oidc_subject=subject,
    )
    session.add(user)
    session.flush()
    details: dict[str, Any] = {"method": "oidc", "issuer": settings.issuer}
    details.update({"role": role} if role is not None else {"pending": True})
    audit.record(session, "user.add", email, target=email, details=details)
    if role is None:
        return _refuse(session, Reason.PENDING, source, email)
    return _signed_in(session, user, source, now)


def is_link_request(user: User) -> bool:
    """A waiting existing account (it has a password), rather than a new one the provider's sign-in made."""
    return user.approval_pending and user.password_hash != UNUSABLE_PASSWORD


def _finish_approval(user: User) -> None:
    user.approval_pending = False
    user.password_hash = UNUSABLE_PASSWORD  # a linked account signs in through the provider only


def pending_accounts(session: Session) -> list[User]:
    """Accounts waiting for an administrator, oldest first."""
    return list(
        session.scalars(
            select(User).where(User.approval_pending.is_(True)).order_by(User.created_at, User.id)
        )
    )


def approve(session: Session, user: User, role: Role, admin: str) -> None:
    """An administrator lets a waiting account in with ``role`` (a link request: the account is linked)."""
    link = is_link_request(user)
    _finish_approval(user)
    user.is_active = True
    user.role = role
    audit.record(session, "user.approve", admin, target=user.email, details={"role": role, "link": link})


def refuse(session: Session, user: User, admin: str) -> None:
    """An administrator refuses a waiting account: a new one stays deactivated (so it stays refused), a link
    request is forgotten (the account keeps its password and is not linked)."""
    link = is_link_request(user)
    user.approval_pending = False
    if link:
        user.oidc_issuer = user.oidc_subject = None
    else:
        user.is_active = False
    audit.record(session, "user.refuse", admin, target=user.email, details={"link": link})
