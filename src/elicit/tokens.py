"""Random secrets shown once and stored only as SHA-256 hashes (invitation links, API tokens)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 24  # 192 bits: far beyond guessing, short enough for a link typed from paper


def new_token() -> str:
    """A URL-safe random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The stored form of a token. Tokens are high-entropy, so a plain SHA-256 needs no salt or stretching."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def pseudonym(study_key: str, subject: str, length: int = 10) -> str:
    """A stable pseudonym: keyed HMAC with the study's secret, so it is not derivable from tokens or the roster."""
    digest = hmac.new(bytes.fromhex(study_key), subject.encode("utf-8"), hashlib.sha256).hexdigest()
    return "P" + digest[:length].upper()
