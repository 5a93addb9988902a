"""Which secret key a database was made with: a fingerprint kept in the database, checked before use.

Anonymous responses are found by an HMAC keyed from the secret key (``responding/unlinking.py``), so a server
started with another key (a lost ``instance/secret_key``, a mistyped ``ELICIT_SECRET_KEY``, a second machine set
up differently) would answer every anonymous expert as if they had never started, and the studio could never
confirm who finished. ``elicit init`` records ``HMAC(key, label)`` (a fingerprint that does not reveal the key) and
the command line and the web app refuse to run on the database with any other key.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import DBAPIError

from elicit.models import Setting, utcnow

NAME = "secret_key_fingerprint"
LABEL = b"elicit.secret-key-fingerprint"


def fingerprint(secret: str) -> str:
    """16 hex characters that identify the key without revealing it."""
    return hmac.new(secret.encode("utf-8"), LABEL, hashlib.sha256).hexdigest()[:16]


def record(connection: Connection, secret: str) -> bool:
    """Record the key's fingerprint unless one is recorded already; True when it was recorded now."""
    if connection.scalar(select(Setting.value).where(Setting.name == NAME)) is not None:
        return False
    connection.execute(insert(Setting).values(name=NAME, value=fingerprint(secret), updated_at=utcnow()))
    return True


def mismatch(connection: Connection, secret: str) -> str | None:
    """Why ``secret`` must not be used with this database (one sentence), or None when it may."""
    try:
        recorded = connection.scalar(select(Setting.value).where(Setting.name == NAME))
    except DBAPIError:
        return None  # no settings table yet: the schema check says what to do
    if recorded is None or hmac.compare_digest(recorded, fingerprint(secret)):
        return None
    return (
        f"the secret key is not the one this database was made with (its fingerprint is {fingerprint(secret)}, "
        f"the database's is {recorded}): with another key no anonymous answer in progress can be found; "
        "set ELICIT_SECRET_KEY (or instance/secret_key) back to the original key"
    )
