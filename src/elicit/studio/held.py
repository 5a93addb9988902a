"""New links held sealed from the POST that made them to the page that shows them once (post/redirect/get).

Links are never stored in clear. The POST that makes them seals them with AES-GCM under a fresh random key, keeps
the sealed bytes on its :class:`~elicit.models.LinkSubmission` and the key in the maker's session cookie only,
then redirects. The page after the redirect opens them with the key from the cookie, shows them, and forgets both,
so a reload of that page, another browser, or a copy of the database shows nothing. Whatever is not fetched within
``HELD_FOR`` is wiped (:func:`elicit.studio.invitations.purge_pending`).
"""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import session

from elicit.models import LinkSubmission, Study

HELD_FOR = timedelta(minutes=15)
SESSION_KEY = "studio_held_links"
MAX_HELD = 4  # keys kept in one session (a cookie is small); an older batch not yet shown is then reissued
NONCE_BYTES = 12


def _context(study: Study, row: LinkSubmission) -> bytes:
    """What the sealed bytes are bound to: they open for this study's submission only."""
    return f"elicit-held-links:{study.id}:{row.id}".encode()


def hold(study: Study, row: LinkSubmission, links: list[dict[str, Any]]) -> None:
    """Seal ``links`` on ``row`` (which must have an id) and give this session the only key."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    row.held = nonce + AESGCM(key).encrypt(nonce, json.dumps(links).encode(), _context(study, row))
    keys = {k: v for k, v in dict(session.get(SESSION_KEY) or {}).items() if k != str(row.id)}
    keys[str(row.id)] = base64.urlsafe_b64encode(key).decode("ascii")
    session[SESSION_KEY] = dict(list(keys.items())[-MAX_HELD:])


def take(study: Study, row: LinkSubmission) -> list[dict[str, Any]] | None:
    """The held links, once, to the session holding their key; None when they were shown already, wiped, or
    this session has no key (another browser cannot open them, nor use them up)."""
    keys = dict(session.get(SESSION_KEY) or {})
    key = keys.pop(str(row.id), None)
    if key is None:  # another browser (or the page shown already): nothing to open, and nothing is used up
        return None
    session[SESSION_KEY] = keys
    sealed, row.held = row.held, None
    if sealed is None or len(sealed) <= NONCE_BYTES:
        return None
    try:
        plain = AESGCM(base64.urlsafe_b64decode(key)).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _context(study, row)
        )
    except (InvalidTag, ValueError):
        return None
    links: list[dict[str, Any]] = json.loads(plain)
    return links
