"""Passkeys (WebAuthn, through Duo's ``py_webauthn``) as a further second factor, beside the authenticator app.

Why only beside the app: a passkey is used through the browser's ``navigator.credentials``, so it needs
JavaScript, and the studio must work without it. An account adds passkeys once its app is set up and keeps the
app's codes and its recovery codes, which need none; turning two-factor sign-in off or an administrator's reset
removes its passkeys too. What a passkey adds: the browser signs only for the address it was made on, so a
look-alike site gets nothing that works here (a typed code can be relayed within its 30 seconds).

Every ceremony answers one challenge, issued by the server and stored on the account as its purpose, the time
it was issued and its SHA-256 (``users.passkey_challenge``). Answering claims it (an UPDATE that only one request
can win), so an answer is never accepted twice, even from an authenticator that counts no signatures (synced
passkeys report 0); a new challenge replaces an older one, and one older than :data:`CHALLENGE_SECONDS` is stale.
The relying party is the address the studio is reached at (:func:`relying_party`); browsers refuse an IP
address there, so passkeys are offered only on a name (``localhost`` counts).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from elicit import audit
from elicit.errors import ElicitError
from elicit.models import Passkey, User, utcnow
from elicit.studio import twofactor
from elicit.studio.accounts import LoginPolicy

CHALLENGE_SECONDS = 5 * 60  # as long as the half-signed-in state: one page's worth
CEREMONY_MS = CHALLENGE_SECONDS * 1000  # how long the browser's own dialog may stay open
MAX_CREDENTIAL = 64 * 1024  # an answer is a few hundred bytes to a few KB; more is not an answer
MAX_NAME = 80
RP_NAME = "Elicit"
# What reading a browser's answer raises when it is not a well-formed credential for this site (py_webauthn's own
# errors, and what bad base64, JSON or CBOR underneath raise).
MALFORMED = (WebAuthnException, ValueError, KeyError, TypeError, AttributeError)


class PasskeyError(ElicitError, ValueError):
    """A passkey cannot be added as asked; the message says why in a sentence for the person adding it."""


class Purpose(StrEnum):
    ADD = "add"
    SIGN_IN = "sign-in"


@dataclass(frozen=True)
class RelyingParty:
    """Where passkeys are made and used: the host name (the WebAuthn RP ID) and the origin the browser reports."""

    id: str
    origin: str


def relying_party(host_url: str) -> RelyingParty | None:
    """The relying party of the studio reached at ``host_url`` (scheme, host and port); None for an IP address,
    which browsers refuse as a relying party (passkeys are then not offered)."""
    parts = urlsplit(host_url)
    host = (parts.hostname or "").rstrip(".")
    if not host or parts.scheme not in ("http", "https"):
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return RelyingParty(id=host, origin=f"{parts.scheme}://{parts.netloc}")
    return None


def of(session: Session, user: User) -> list[Passkey]:
    """The account's passkeys, oldest first."""
    return list(session.scalars(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)))


def _descriptors(session: Session, user: User) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=key.credential_id) for key in of(session, user)]


# ------------------------------------------------------------------------------------------------ challenges
def _issue(user: User, purpose: Purpose) -> bytes:
    """A new challenge for ``user`` (32 random bytes); it replaces any earlier one."""
    challenge = secrets.token_bytes(32)
    issued = int(twofactor.clock())
    user.passkey_challenge = f"{purpose.value}:{issued}:{hashlib.sha256(challenge).hexdigest()}"
    return challenge


def _claim(session: Session, user: User, purpose: Purpose, client_data: bytes) -> bytes | None:
    """The challenge the browser answered, if it is this account's current one for ``purpose`` and not too old,
    used up atomically (of two requests with one answer only one gets it); else None."""
    try:
        challenge = parse_client_data_json(client_data).challenge
    except MALFORMED:
        return None
    stored = user.passkey_challenge or ""
    kind, _, rest = stored.partition(":")
    issued, _, digest = rest.partition(":")
    if kind != purpose.value or not issued.isdigit():
        return None
    if not 0 <= twofactor.clock() - int(issued) <= CHALLENGE_SECONDS:
        return None
    if not hmac.compare_digest(digest, hashlib.sha256(challenge).hexdigest()):
        return None
    claimed = session.execute(
        update(User)
        .where(User.id == user.id, User.passkey_challenge == stored)
        .values(passkey_challenge=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user, ["passkey_challenge"])
    return challenge if getattr(claimed, "rowcount", 0) == 1 else None


def _client_data(credential: Any) -> bytes:
    return bytes(credential.response.client_data_json)


# ---------------------------------------------------------------------------------------------------- adding
def add_options(session: Session, user: User, rp: RelyingParty) -> str:
    """The options (JSON, for ``navigator.credentials.create``) of adding a passkey to ``user``; the challenge is
    stored on the account. Keys the account has already are excluded, so one authenticator is not added twice."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_name=user.email,
        user_display_name=user.email,
        challenge=_issue(user, Purpose.ADD),
        timeout=CEREMONY_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(session, user),
    )
    return str(options_to_json(options))


def clean_name(text: str) -> str:
    """The name a person gives a passkey ("Work laptop"), trimmed; :class:`PasskeyError` when empty, too long or
    holding control characters."""
    name = " ".join(text.split())
    if not name:
        raise PasskeyError("Give the passkey a name, such as the device it is on.")
    if len(name) > MAX_NAME:
        raise PasskeyError(f"A passkey's name is at most {MAX_NAME} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise PasskeyError("A passkey's name cannot hold control characters.")
    return name


def add(session: Session, user: User, rp: RelyingParty, answer: str, name: str) -> Passkey:
    """Check the browser's answer to :func:`add_options` and keep the new passkey (its public key only), audited.

    :class:`PasskeyError` when there is no answer (no JavaScript, or the dialog was closed), when it answers
    another or an old challenge, another site, or is not a well-formed credential, or when the key is known."""
    if not twofactor.is_on(user):
        raise PasskeyError("Set up your authenticator app first: a passkey is added beside it.")
    label = clean_name(name)
    if not answer.strip():
        raise PasskeyError(
            "This browser did not make a passkey. Adding one needs JavaScript; if the browser's window was "
            "closed, try again."
        )
    try:
        if len(answer) > MAX_CREDENTIAL:
            raise ValueError("too long")
        credential = parse_registration_credential_json(answer)
        challenge = _claim(session, user, Purpose.ADD, _client_data(credential))
        if challenge is None:
            raise PasskeyError("This page has expired; add the passkey again from your account page.")
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=False,
        )
    except MALFORMED as exc:
        if isinstance(exc, PasskeyError):
            raise
        raise PasskeyError("The browser's answer is not a passkey made for this site; try again.") from exc
    known = session.scalar(select(Passkey.id).where(Passkey.credential_id == verified.credential_id))
    if known is not None:
        raise PasskeyError("This passkey has been added already.")
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=label,
    )
    session.add(passkey)
    session.flush()
    audit.record(session, "user.passkey_add", user.email, target=user.email, details={"passkey": passkey.id})
    return passkey


def remove(session: Session, user: User, passkey_id: int) -> Passkey | None:
    """Delete one of the account's passkeys, audited; None when the account has no such passkey."""
    passkey = session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user.id:
        return None
    session.delete(passkey)
    session.flush()
    audit.record(
        session, "user.passkey_remove", user.email, target=user.email, details={"passkey": passkey_id}
    )
    return passkey


# ---------------------------------------------------------------------------------------------- signing in
def sign_in_options(session: Session, user: User, rp: RelyingParty) -> str | None:
    """The options (JSON, for ``navigator.credentials.get``) of signing ``user`` in with one of their passkeys;
    None when the account has none. The challenge is stored on the account."""
    allowed = _descriptors(session, user)
    if not allowed or not twofactor.is_on(user):
        return None
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=_issue(user, Purpose.SIGN_IN),
        timeout=CEREMONY_MS,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return str(options_to_json(options))


def check(
    session: Session, user: User, rp: RelyingParty, answer: str, source: str, policy: LoginPolicy
) -> twofactor.Checked:
    """Check the browser's answer to :func:`sign_in_options` with the sign-in rules of :func:`twofactor.decide`:
    a wrong answer counts like a wrong code; an answer to a stale challenge is not counted (it cannot be right).
    A right one moves the passkey's signature counter on; :func:`twofactor.finish_sign_in` completes the sign-in.
    """
    return twofactor.decide(
        session, user, source, policy, twofactor.Factor.PASSKEY, _matcher(session, user, rp, answer)
    )


def _matcher(
    session: Session, user: User, rp: RelyingParty, answer: str
) -> Callable[[], twofactor.Problem | None]:
    def match() -> twofactor.Problem | None:
        try:
            if len(answer) > MAX_CREDENTIAL:
                raise ValueError("too long")
            credential = parse_authentication_credential_json(answer)
        except MALFORMED:
            return twofactor.Problem.WRONG
        challenge = _claim(session, user, Purpose.SIGN_IN, _client_data(credential))
        if challenge is None:
            return twofactor.Problem.STALE
        passkey = session.scalar(
            select(Passkey).where(
                Passkey.user_id == user.id, Passkey.credential_id == bytes(credential.raw_id)
            )
        )
        if passkey is None:
            return twofactor.Problem.WRONG
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=False,
            )
        except MALFORMED:
            # A wrong signature, another site, or a counter that did not grow (a copied key): all refused alike.
            return twofactor.Problem.WRONG
        passkey.sign_count = verified.new_sign_count
        passkey.last_used_at = utcnow()
        return None

    return match
