"""A software passkey for the tests: what a browser and its authenticator send back, built byte by byte.

It makes an ES256 (P-256) credential with "none" attestation, as most passkeys do, and signs assertions with it,
following the WebAuthn Level 3 data layouts (authenticator data, attested credential data, the COSE key). Each
answer can be bent the way an attack would bend it: another origin or site, an old counter, another key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40  # authenticator data flags: user present, user verified, attested data


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftKey:
    """One passkey on one authenticator, for the site ``rp_id`` reached at ``origin``."""

    def __init__(self, rp_id: str = "localhost", origin: str = "http://localhost") -> None:
        self.rp_id = rp_id
        self.origin = origin
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.counter = 0

    def _cose_key(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def create(
        self, options: str | dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> str:
        """The browser's answer to ``navigator.credentials.create`` with these options (JSON, as the page has)."""
        asked = json.loads(options) if isinstance(options, str) else options
        client_data = self._client_data("webauthn.create", asked["challenge"], origin)
        attested = (
            bytes(16)  # AAGUID: none given, as with "none" attestation
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_key()
        )
        auth_data = self._auth_data(rp_id, UP | UV | AT) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        response = {"attestationObject": b64u(attestation), "transports": ["internal"]}
        return self._credential(client_data, response)

    def _credential(self, client_data: bytes, response: dict[str, Any]) -> str:
        """The credential as the browser's JSON (PublicKeyCredential.toJSON), with ``response``'s own fields."""
        return json.dumps(
            {
                "id": b64u(self.credential_id),
                "rawId": b64u(self.credential_id),
                "type": "public-key",
                "response": {"clientDataJSON": b64u(client_data), **response},
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
            }
        )

    def _auth_data(self, rp_id: str | None, flags: int, counter: int | None = None) -> bytes:
        count = self.counter if counter is None else counter
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + count.to_bytes(4, "big")

    def get(
        self,
        options: str | dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        counter: int | None = None,
        signer: ec.EllipticCurvePrivateKey | None = None,
    ) -> str:
        """The browser's answer to ``navigator.credentials.get``; the counter grows by one unless ``counter``
        is given (an authenticator copied from another shows an old one)."""
        asked = json.loads(options) if isinstance(options, str) else options
        if counter is None:
            self.counter += 1
        client_data = self._client_data("webauthn.get", asked["challenge"], origin)
        auth_data = self._auth_data(rp_id, UP | UV, counter)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = (signer or self.private).sign(signed, ec.ECDSA(hashes.SHA256()))
        response = {"authenticatorData": b64u(auth_data), "signature": b64u(signature), "userHandle": None}
        return self._credential(client_data, response)
