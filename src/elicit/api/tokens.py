"""Per-user API tokens: made once and shown once, stored only as SHA-256 hashes, revocable. No Flask here.

A token looks like ``elicit_<32 random base62 characters><6-character checksum>`` (190 bits, see
``elicit.tokens``); the prefix and checksum let secret scanners recognise a leaked one. Tokens made before the
checksum (``elicit_`` + 32 URL-safe characters) keep working: only hashes are compared. Who may see what is
decided here too, so the CLI, the API and the studio agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicit.errors import ElicitError
from elicit.models import ApiToken, Role, Study, StudyMember, User, utcnow
from elicit.tokens import API_PREFIX, new_token, token_hash
from elicit.users import normalize_email

TOKEN_PREFIX = API_PREFIX  # a public prefix of every API token, not a secret
MAX_NAME = 100


class ApiTokenError(ElicitError, ValueError):
    """A token cannot be made or revoked as asked; the message is a sentence for the user."""


class AuthError(Exception):
    """A request that is not allowed: ``status`` 401 (who are you?) or 403 (not for you), with a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the stored row and the secret, which exists only here."""

    token: ApiToken
    secret: str


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise ApiTokenError(f"no user with e-mail {normalize_email(email)} (add one with `elicit user add`)")
    return user


def create_token(session: Session, email: str, name: str) -> IssuedToken:
    """A new token for an active user; ``name`` says what it is for (e.g. the analysis server)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ApiTokenError(f"the token name must be 1 to {MAX_NAME} characters")
    user = find_user(session, email)
    if not user.is_active:
        raise ApiTokenError(f"the account {user.email} is disabled; no token can be made for it")
    secret = new_token(TOKEN_PREFIX)
    token = ApiToken(user=user, name=name, token_hash=token_hash(secret))
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke a token (at once; revoking twice keeps the first time)."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise ApiTokenError(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def list_tokens(session: Session, email: str) -> list[ApiToken]:
    user = find_user(session, email)
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def authenticate(session: Session, header: str | None) -> User:
    """The user behind ``Authorization: Bearer <token>``; AuthError(401) when missing, unknown or revoked."""
    if not header:
        raise AuthError(
            401,
            "this API needs a token: send the header 'Authorization: Bearer <token>' (see `elicit token create`)",
        )
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthError(401, "the Authorization header must be 'Bearer <token>'")
    if len(secret) > 200:
        raise AuthError(401, "the token is not valid")
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(secret)))
    if token is None:
        raise AuthError(401, "the token is not valid")
    if token.revoked_at is not None:
        raise AuthError(401, "the token was revoked; ask for a new one")
    user = token.user
    if not user.is_active:
        raise AuthError(401, "the account this token belongs to is disabled")
    token.last_used_at = utcnow()
    return user


def can_see(session: Session, user: User, study: Study) -> bool:
    """Admins see every study; researchers and viewers the studies they are members of."""
    if user.role == Role.ADMIN:
        return True
    return session.get(StudyMember, (study.id, user.id)) is not None


def visible_studies(session: Session, user: User) -> list[Study]:
    query = select(Study).order_by(Study.slug)
    if user.role != Role.ADMIN:
        query = query.join(StudyMember, StudyMember.study_id == Study.id).where(
            StudyMember.user_id == user.id
        )
    return list(session.scalars(query))
