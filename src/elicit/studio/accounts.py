"""Signing in to the studio: password checks, account lockout and per-source throttling (no Flask here).

Every failed attempt is counted twice: on the account (``users.failed_logins``; each ``max_failures``-th failure
locks the account for a period that doubles with every lock) and on the source address (``login_failures``; a
source with ``source_failures`` failures inside the window is refused until the window slides on). Refusals are
audited with the reason, never with the attempted password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from elicit import audit
from elicit.models import LoginFailure, User, utcnow
from elicit.users import EMAIL_RE, check_password, hash_password, normalize_email

ANONYMOUS = "anonymous"
KEEP_FAILURES = timedelta(days=1)


class Outcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # unknown e-mail or wrong password (the user is not told which)
    INACTIVE = "inactive"  # right password, but an administrator deactivated the account
    LOCKED = "locked"  # the account is locked after repeated failures
    THROTTLED = "throttled"  # the source address has failed too often
    SECOND_FACTOR = "second factor"  # right password; the second factor is asked next (twofactor.py)


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures lock what, and for how long (from the app config, with safe defaults)."""

    max_failures: int = 5
    lock_minutes: int = 15
    max_lock_minutes: int = 24 * 60
    source_failures: int = 20
    source_window_minutes: int = 15

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoginPolicy:
        return cls(
            max_failures=int(config.get("STUDIO_MAX_FAILURES", cls.max_failures)),
            lock_minutes=int(config.get("STUDIO_LOCK_MINUTES", cls.lock_minutes)),
            max_lock_minutes=int(config.get("STUDIO_MAX_LOCK_MINUTES", cls.max_lock_minutes)),
            source_failures=int(config.get("STUDIO_SOURCE_FAILURES", cls.source_failures)),
            source_window_minutes=int(config.get("STUDIO_SOURCE_WINDOW_MINUTES", cls.source_window_minutes)),
        )

    def lock_period(self, failures: int) -> timedelta:
        """The lock after ``failures`` consecutive failures: 15 min, then 30, 60, ... up to the cap."""
        locks = max(1, failures // self.max_failures)
        minutes = min(self.max_lock_minutes, self.lock_minutes * 2 ** min(locks - 1, 16))
        return timedelta(minutes=minutes)


class Decided:
    """What a sign-in step answers, read from its ``outcome`` (a password here, a second factor in twofactor)."""

    outcome: Outcome

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def refused(self) -> bool:
        """Locked or throttled: the answer is 429."""
        return self.outcome in {Outcome.LOCKED, Outcome.THROTTLED}


@dataclass(frozen=True)
class LoginResult(Decided):
    outcome: Outcome
    user: User | None = None
    until: datetime | None = None  # when a lock or throttle ends


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so an unknown account takes as long to refuse as a known one."""
    return hash_password("not a real password, only for timing")


def find_user(session: Session, email: str, *, lock: bool = False) -> User | None:
    """The account with this e-mail; ``lock`` serializes concurrent sign-ins to it (PostgreSQL row lock)."""
    query = select(User).where(User.email == normalize_email(email))
    return session.scalar(query.with_for_update() if lock else query)


def sign_in(
    session: Session,
    email: str,
    password: str,
    source: str,
    policy: LoginPolicy,
    now: datetime | None = None,
) -> LoginResult:
    """Check a sign-in attempt, update the counters and the audit log, and say what happened."""
    now = now or utcnow()
    source = (source or "unknown")[:64]
    target = normalize_email(email)[:254] if EMAIL_RE.match(normalize_email(email)) else "(not an e-mail)"

    until = throttled_until(session, source, policy, now)
    if until is not None:
        return LoginResult(Outcome.THROTTLED, until=until)

    user = find_user(session, email, lock=True)
    if user is not None and user.locked_until is not None and aware(user.locked_until) > now:
        return refused_while_locked(session, user, source, now)

    if user is None:
        check_password(User(password_hash=_dummy_hash()), password)
        _failed(session, source, now, target, None, "unknown account")
        return LoginResult(Outcome.WRONG)

    if not check_password(user, password):
        return wrong_secret(session, user, source, policy, now, "wrong password")

    if not user.is_active:
        _failed(session, source, now, target, user, "account deactivated")
        return LoginResult(Outcome.INACTIVE, user)

    if user.totp_enabled_at is not None:
        # Not signed in yet, and nothing reset: the failure count stays until the second factor is right too, so
        # that knowing the password does not buy fresh guesses at the code.
        return LoginResult(Outcome.SECOND_FACTOR, user)

    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, "login", user.email, target=user.email, details={"source": source})
    return LoginResult(Outcome.OK, user)


def throttled_until(session: Session, source: str, policy: LoginPolicy, now: datetime) -> datetime | None:
    """When ``source`` may try again, if it has failed ``source_failures`` times within the window; else None."""
    window_start = now - timedelta(minutes=policy.source_window_minutes)
    recent = session.execute(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.source == source, LoginFailure.at >= window_start
        )
    ).one()
    if recent[0] < policy.source_failures:
        return None
    # Not audited and not counted again: a flood from one source must not flood the audit chain.
    return aware(recent[1]) + timedelta(minutes=policy.source_window_minutes)


def refused_while_locked(session: Session, user: User, source: str, now: datetime) -> LoginResult:
    """An attempt on a locked account: refused whatever it sent, counted against the source and audited."""
    _failed(session, source, now, user.email, user, "locked")
    return LoginResult(Outcome.LOCKED, user, aware(user.locked_until) if user.locked_until else None)


def wrong_secret(
    session: Session, user: User, source: str, policy: LoginPolicy, now: datetime, reason: str
) -> LoginResult:
    """A wrong password or second factor (``reason`` says which) for a known account: counted on the account
    (every ``max_failures``-th failure locks it) and against the source, and audited, never with the secret."""
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins % policy.max_failures == 0:
        user.locked_until = now + policy.lock_period(user.failed_logins)
        _failed(session, source, now, user.email, user, f"{reason}; account locked")
        return LoginResult(Outcome.LOCKED, user, user.locked_until)
    _failed(session, source, now, user.email, user, reason)
    return LoginResult(Outcome.WRONG, user)


def _failed(
    session: Session, source: str, now: datetime, target: str, user: User | None, reason: str
) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP_FAILURES))
    session.add(LoginFailure(source=source, at=now))
    details: dict[str, Any] = {"source": source, "reason": reason}
    if user is not None:
        details["failures"] = user.failed_logins
    audit.record(session, "login.failed", ANONYMOUS, target=target, details=details)
    session.flush()


def unlock(user: User) -> None:
    """An administrator lifts a lock and resets the failure count."""
    user.failed_logins = 0
    user.locked_until = None


def is_locked(user: User, now: datetime | None = None) -> bool:
    return user.locked_until is not None and aware(user.locked_until) > (now or utcnow())
