"""Random secrets shown once and stored only as SHA-256 hashes (invitation links, API tokens).

A token is a fixed prefix, 32 base62 characters of randomness (190 bits) and a 6-character base62 CRC32
checksum of the prefix and the randomness, like the secret formats of large code hosts: ``eli_`` for
invitation links, ``elicit_`` for API tokens. The prefix lets a secret scanner (and our own scrubber) find a
token in text; the checksum lets it tell a real token from a look-alike without asking the database. Links made
before this format (``secrets.token_urlsafe(24)``, 32 characters of ``[A-Za-z0-9_-]``) keep working: only the
hash is stored, and the hash of any string is the same function.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
INVITATION_PREFIX = "eli_"
API_PREFIX = "elicit_"
PREFIXES = (API_PREFIX, INVITATION_PREFIX)  # longest first, so a regex alternation tries elicit_ before eli_
RANDOM_LENGTH = (
    32  # 32 * log2(62) = 190.5 bits: far beyond guessing, short enough for a link typed from paper
)
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, so every CRC32 fits
LEGACY_TOKEN_LENGTH = 32  # secrets.token_urlsafe(24), the format of links made before the prefix
# Every length an invitation token of ours has had: the scrubber hashes candidate strings of these lengths.
INVITATION_TOKEN_LENGTHS = frozenset(
    {LEGACY_TOKEN_LENGTH, len(INVITATION_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH}
)
TOKEN_FORMAT_RE = re.compile(
    "(?:" + "|".join(re.escape(p) for p in PREFIXES) + f")[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}"
)


def checksum(text: str) -> str:
    """The base62 CRC32 of ``text`` (prefix and random part), left-padded to 6 characters."""
    value = zlib.crc32(text.encode("utf-8"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, remainder = divmod(value, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits))


def new_token(prefix: str = INVITATION_PREFIX) -> str:
    """A new random token: ``prefix`` + 32 random base62 characters + their checksum (URL-safe as it is)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown token prefix {prefix!r}; use one of {', '.join(PREFIXES)}")
    body = prefix + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


def looks_like_token(text: str) -> bool:
    """True when ``text`` is a token of the current format: a known prefix, the right length, a valid checksum."""
    if not TOKEN_FORMAT_RE.fullmatch(text):
        return False
    return checksum(text[:-CHECKSUM_LENGTH]) == text[-CHECKSUM_LENGTH:]


def token_hash(token: str) -> str:
    """The stored form of a token. Tokens are high-entropy, so a plain SHA-256 needs no salt or stretching."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def pseudonym(study_key: str, subject: str, length: int = 10) -> str:
    """A stable pseudonym: keyed HMAC with the study's secret, so it is not derivable from tokens or the roster."""
    digest = hmac.new(bytes.fromhex(study_key), subject.encode("utf-8"), hashlib.sha256).hexdigest()
    return "P" + digest[:length].upper()
