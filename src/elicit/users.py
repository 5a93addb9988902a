"""Accounts: argon2 password hashes, roles, and adding users."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from elicit.errors import ElicitError
from elicit.models import Role, User

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


class UserError(ElicitError, ValueError):
    """A user cannot be added or changed as asked."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    """Verify against the stored argon2 hash (constant time inside argon2)."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalize_email(email: str) -> str:
    return email.strip().lower()


def add_user(session: Session, email: str, role: str, password: str) -> User:
    """Create an account; refuse a malformed or taken e-mail, an unknown role or a short password."""
    email = normalize_email(email)
    if not EMAIL_RE.match(email):
        raise UserError(f"{email!r} is not an e-mail address")
    if role not in {r.value for r in Role}:
        raise UserError(f"role must be one of admin, researcher, viewer (not {role!r})")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise UserError(f"a user with e-mail {email} exists already")
    user = User(email=email, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user
