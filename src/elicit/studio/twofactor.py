"""Two-factor sign-in for studio accounts: TOTP secrets, recovery codes and checking a second factor (no Flask).

The second factor is a time-based one-time password (RFC 6238 via ``pyotp``): 30-second steps, 6 digits and
HMAC-SHA-1, which is what every authenticator app reads from a QR code; a code is accepted in the step before,
the step of and the step after the server's clock (a phone a little off), and only once (``users.totp_last_step``:
a step at or before the last accepted one is refused, so an overheard code cannot be replayed).

The secret is stored sealed (:func:`seal_secret`), so that whoever reads the database alone (a dump, a backup, a
replica) cannot make codes. Ten recovery codes stand in for a lost phone; each is 80 random bits, so its plain
SHA-256 is enough to store (nothing short enough to guess hides behind it), and each is used once.

A wrong code counts exactly like a wrong password (:mod:`elicit.studio.accounts`): it raises the account's failure
count (locking it at every ``max_failures``-th), is counted against the source address, and is audited as
``login.failed`` with the reason ``wrong second factor``, never with the code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from elicit import audit
from elicit.errors import ElicitError
from elicit.models import Passkey, RecoveryCode, Role, User, utcnow
from elicit.studio.accounts import (
    Decided,
    LoginPolicy,
    Outcome,
    aware,
    refused_while_locked,
    throttled_until,
    wrong_secret,
)

PERIOD = 30  # seconds a code lasts (RFC 6238's default; what authenticator apps assume)
DIGITS = 6
WINDOW = 1  # steps either side of the server's that are accepted
RECOVERY_CODES = 10
RECOVERY_GROUPS = 4  # of 4 base32 letters each: 16 letters, 80 bits
SEAL_INFO = b"elicit.studio.totp-secret.v1"  # the HKDF label: this key is for TOTP secrets and nothing else
SEAL_PREFIX = "v1:"
ISSUER = "Elicit"

TOTP_RE = re.compile(r"[0-9]{6}")  # ASCII digits only: other scripts' digits are not what an app shows
RECOVERY_RE = re.compile(r"[a-z2-7]{16}")
MAX_CODE_INPUT = 64


def clock() -> float:
    """Now, in seconds since the epoch (the one clock this module reads; tests set it)."""
    return time.time()


class TwoFactorError(ElicitError, ValueError):
    """A second factor cannot be set up, checked or read as asked."""


class Factor(StrEnum):
    TOTP = "totp"
    RECOVERY = "recovery"
    PASSKEY = "passkey"  # beside the app, in a browser with JavaScript (elicit.studio.passkeys)


@dataclass(frozen=True)
class Code:
    """A typed code, normalised: six digits from the app, or a recovery code's 16 letters."""

    kind: Factor
    value: str


def parse_code(text: str, *, recovery: bool = True) -> Code:
    """What the person typed as a code; :class:`TwoFactorError` with a sentence saying what a code looks like.

    Spaces and hyphens are ignored (codes are read off a phone or paper), and case in recovery codes."""
    if len(text) > MAX_CODE_INPUT:
        raise TwoFactorError(_shape(recovery))
    compact = re.sub(r"[\s-]+", "", text)
    if not compact:
        raise TwoFactorError("Enter the 6-digit code from your authenticator app.")
    if TOTP_RE.fullmatch(compact):
        return Code(Factor.TOTP, compact)
    if recovery and RECOVERY_RE.fullmatch(compact.lower()):
        return Code(Factor.RECOVERY, compact.lower())
    raise TwoFactorError(_shape(recovery))


def _shape(recovery: bool) -> str:
    if recovery:
        return (
            "A code is the 6 digits your authenticator app shows (such as 123456), or one of your recovery "
            "codes (such as abcd-efgh-ijkl-mnop)."
        )
    return "A code is the 6 digits your authenticator app shows, such as 123456."


# ------------------------------------------------------------------------------------------------------- secrets
def new_secret() -> str:
    """A new shared secret: 160 random bits (RFC 4226's recommendation) in base32, as apps take it."""
    return pyotp.random_base32(32)


def _seal_key(secret_key: str) -> bytes:
    """The AES-256 key for TOTP secrets, derived from the app's secret key (HKDF-SHA-256, a fixed label)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(secret_key.encode())


def seal_secret(secret_key: str, user_id: int, secret: str) -> str:
    """The TOTP secret as stored: AES-GCM under a key derived from the app's secret key, bound to the account.

    Why not the plain secret: anyone who can read the database (a dump, a backup, a replica, an SQL injection)
    could otherwise make valid codes for every account, and the second factor would add nothing against them.
    The app's secret key is kept outside the database (ELICIT_SECRET_KEY or the instance folder), so the stored
    value alone gives nothing away. The account id is authenticated data: a sealed secret copied into another
    account's row does not open there. Whoever holds the secret key as well can open it (the README says so).
    """
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_seal_key(secret_key)).encrypt(nonce, secret.encode("ascii"), _bound_to(user_id))
    return SEAL_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_secret(secret_key: str, user_id: int, stored: str) -> str:
    """The base32 secret of a sealed value; :class:`TwoFactorError` if the key or the account is not its own."""
    try:
        if not stored.startswith(SEAL_PREFIX):
            raise ValueError(stored[:3])
        blob = base64.urlsafe_b64decode(stored[len(SEAL_PREFIX) :].encode("ascii"))
        plain = AESGCM(_seal_key(secret_key)).decrypt(blob[:12], blob[12:], _bound_to(user_id))
    except (InvalidTag, ValueError) as exc:
        raise TwoFactorError(
            "the stored second factor cannot be opened with this server's secret key (was the key changed?)"
        ) from exc
    return plain.decode("ascii")


def _bound_to(user_id: int) -> bytes:
    return f"elicit user {user_id}".encode("ascii")


def provisioning_uri(secret: str, email: str, site: str) -> str:
    """The ``otpauth://`` address the QR code holds; the issuer names this site, to tell servers apart in the app."""
    issuer = f"{ISSUER} ({site})" if site else ISSUER
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as inline SVG markup, drawn here (no script, no image service, no inline style)."""
    title = "QR code for your authenticator app"
    markup: str = segno.make(uri, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff", title=title, svgclass="qr", lineclass="qr-line"
    )
    return markup.replace("<svg ", '<svg role="img" aria-label="' + title + '" ', 1)


def grouped(secret: str) -> str:
    """The secret in groups of four letters, easier to type by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def is_on(user: User) -> bool:
    return user.totp_enabled_at is not None


def required(user: User, config: Mapping[str, Any]) -> bool:
    """Whether this account must have a second factor: every administrator, and everyone under REQUIRE_2FA."""
    return user.role == Role.ADMIN or bool(config.get("REQUIRE_2FA", False))


# ----------------------------------------------------------------------------------------------------- enrolment
def pending_secret(user: User, secret_key: str) -> str | None:
    """The secret being set up (shown, not yet confirmed with a code), or None."""
    if is_on(user) or user.totp_secret is None:
        return None
    try:
        return open_secret(secret_key, user.id, user.totp_secret)
    except TwoFactorError:
        return None  # sealed under an older key: a new one is made


def begin_enrolment(user: User, secret_key: str, *, anew: bool = False) -> str:
    """The secret to set up: the one already shown (a reload keeps what was scanned valid) or, with ``anew`` or
    none yet, a new one. It takes effect only once confirmed with a code (:func:`confirm_enrolment`)."""
    if is_on(user):
        raise TwoFactorError("Two-factor sign-in is on already; turn it off first to set up another phone.")
    secret = None if anew else pending_secret(user, secret_key)
    if secret is None:
        secret = new_secret()
        user.totp_secret = seal_secret(secret_key, user.id, secret)
        user.totp_last_step = None
    return secret


def _matching_step(secret: str, code: str, last_step: int | None, now: float) -> tuple[int | None, bool]:
    """The time step ``code`` belongs to within the window, and whether it was used already (at or before
    ``last_step``). Every step of the window is compared, in constant time, whatever matches first."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = int(now // PERIOD)
    found: int | None = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    if found is None:
        return None, False
    if last_step is not None and found <= last_step:
        return None, True
    return found, False


def _claim_step(session: Session, user: User, step: int) -> bool:
    """Record ``step`` as the last accepted one, atomically: of two requests with one code only one wins."""
    claimed = session.execute(
        update(User)
        .where(User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user, ["totp_last_step"])
    return bool(getattr(claimed, "rowcount", 0))


def confirm_enrolment(session: Session, user: User, secret_key: str, code: Code, now: float) -> list[str]:
    """Turn two-factor sign-in on once the first code from the app is right; the new recovery codes (to show once).

    :class:`TwoFactorError` when nothing is being set up or the code is not right (nothing is counted: the
    person is signed in already and has nothing to gain from guessing their own new secret)."""
    secret = pending_secret(user, secret_key)
    if secret is None:
        raise TwoFactorError("Two-factor sign-in is not being set up; start again from your account page.")
    if code.kind is not Factor.TOTP:
        raise TwoFactorError(_shape(False))
    step, _used = _matching_step(secret, code.value, None, now)
    if step is None:
        raise TwoFactorError(
            "This code is not right. Check that the app shows the account for this server, that the phone's "
            "clock is right, and enter the code it shows now."
        )
    user.totp_last_step = step
    user.totp_enabled_at = utcnow()
    codes = new_recovery_codes(session, user)
    audit.record(session, "user.2fa_enable", user.email, target=user.email)
    return codes


def recovery_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Ten new recovery codes, shown once (``abcd-efgh-ijkl-mnop``); every earlier code of the account stops
    working. Only their SHA-256 is stored."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    codes = []
    for _ in range(RECOVERY_CODES):
        letters = "".join(secrets.choice(alphabet) for _ in range(4 * RECOVERY_GROUPS))
        codes.append("-".join(letters[i : i + 4] for i in range(0, len(letters), 4)))
        session.add(RecoveryCode(user_id=user.id, code_hash=recovery_hash(letters)))
    session.flush()
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def turn_off(session: Session, user: User) -> None:
    """Remove the second factor, every recovery code and every passkey (the password alone signs in again)."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.passkey_challenge = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(Passkey).where(Passkey.user_id == user.id))


def reset(session: Session, user: User, actor: str) -> bool:
    """An administrator removes an account's second factor (a lost phone), audited; False (and nothing done) if
    it had none, not even one being set up. The account's sessions end too: it signs in afresh."""
    if user.totp_secret is None and user.totp_enabled_at is None:
        return False
    was_on = is_on(user)
    turn_off(session, user)
    user.session_version = (user.session_version or 0) + 1
    audit.record(session, "user.2fa_reset", actor, target=user.email, details={"was_on": was_on})
    return True


# --------------------------------------------------------------------------------------------------- checking
class Problem(StrEnum):
    WRONG = "wrong"
    USED = "used"  # the right code of a step that was used already
    UNREADABLE = "unreadable"  # the stored secret does not open with this key
    STALE = "stale"  # a passkey's answer to a challenge that was answered already, replaced or too old


@dataclass(frozen=True)
class Checked(Decided):
    """The answer to a second factor: how it went, the factor used, and until when a lock or throttle lasts."""

    outcome: Outcome
    factor: Factor | None = None
    problem: Problem | None = None
    until: datetime | None = None


def _matches(session: Session, user: User, secret_key: str, code: Code, now: float) -> Problem | None:
    """Check ``code`` for ``user`` and use it up if right (the step claimed, the recovery code marked used)."""
    if code.kind is Factor.RECOVERY:
        used = session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == recovery_hash(code.value),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return None if getattr(used, "rowcount", 0) == 1 else Problem.WRONG
    if user.totp_secret is None:
        return Problem.WRONG
    try:
        secret = open_secret(secret_key, user.id, user.totp_secret)
    except TwoFactorError:
        return Problem.UNREADABLE
    step, replayed = _matching_step(secret, code.value, user.totp_last_step, now)
    if step is None:
        return Problem.USED if replayed else Problem.WRONG
    return None if _claim_step(session, user, step) else Problem.USED


def check(
    session: Session,
    user: User,
    code: Code,
    source: str,
    policy: LoginPolicy,
    secret_key: str,
    now: float | None = None,
    *,
    recovery: bool = True,
) -> Checked:
    """Check a typed code with the sign-in rules of :func:`decide`. A right code is used up; nothing else is
    changed (:func:`finish_sign_in` completes a sign-in)."""
    moment = clock() if now is None else now

    def match() -> Problem | None:
        if code.kind is Factor.RECOVERY and not recovery:
            return Problem.WRONG
        return _matches(session, user, secret_key, code, moment)

    return decide(session, user, source, policy, code.kind, match)


def decide(
    session: Session,
    user: User,
    source: str,
    policy: LoginPolicy,
    factor: Factor,
    match: Callable[[], Problem | None],
) -> Checked:
    """The sign-in rules around checking one second factor (``match``: None when right, else what was wrong),
    for codes and passkeys alike: throttled per source, refused while the account is locked, a wrong answer
    counted and audited like a wrong password."""
    moment = utcnow()
    source = (source or "unknown")[:64]
    until = throttled_until(session, source, policy, moment)
    if until is not None:
        return Checked(Outcome.THROTTLED, until=until)
    session.refresh(user, with_for_update=True)  # concurrent attempts on one account are counted one by one
    if user.locked_until is not None and aware(user.locked_until) > moment:
        return Checked(Outcome.LOCKED, until=refused_while_locked(session, user, source, moment).until)
    if not is_on(user):
        return Checked(Outcome.WRONG, problem=Problem.WRONG)
    problem = match()
    if problem in (Problem.UNREADABLE, Problem.STALE):
        # Not a guess, so not counted: an unreadable secret cannot be right until an administrator resets it,
        # and a stale challenge cannot be right at all (the page offers a new one).
        return Checked(Outcome.WRONG, problem=problem)
    if problem is not None:
        result = wrong_secret(session, user, source, policy, moment, "wrong second factor")
        return Checked(result.outcome, problem=problem, until=result.until)
    return Checked(Outcome.OK, factor=factor)


def finish_sign_in(session: Session, user: User, factor: Factor, source: str) -> None:
    """The second factor was right: the account's failure count starts again, and the sign-in is audited."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    details = {"source": (source or "unknown")[:64], "factor": factor.value}
    audit.record(session, "login", user.email, target=user.email, details=details)
