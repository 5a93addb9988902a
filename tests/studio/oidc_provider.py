"""A small OpenID provider for the tests, served on 127.0.0.1 in a thread (werkzeug ``make_server`` on port 0).

Built from Authlib's server classes: ``authlib.integrations.flask_oauth2.AuthorizationServer`` with the
authorization code grant, OpenID Connect's ``OpenIDCode`` extension (the ID token, signed RS256 with joserfc, the
JOSE library Authlib itself uses) and ``CodeChallenge`` (PKCE, required). It serves discovery
(``/.well-known/openid-configuration``), ``/authorize`` (approves ``provider.user`` at once: there is no page to
sign in on), ``/token`` (client_secret_basic or client_secret_post) and ``/jwks``.

A test asks for a bad ID token by naming defects in ``provider.defects`` before the flow: ``audience``,
``issuer``, ``nonce``, ``unverified``, ``domain``, ``expired``, ``signature`` (signed by a key that is not in
the JWKS, under the published key's id), ``audiences`` (a second audience and no ``azp``) and
``discovery-issuer`` (discovery names another issuer). ``exchanges`` records each code exchanged and how PKCE was
verified; ``extra_claims`` are added to the ID token; ``id_tokens`` every ID token minted (to prove none reaches a log or the audit chain).
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify
from joserfc.jwk import RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

KID = "test-key-1"
DEFECTS = frozenset(
    {
        "audience",
        "issuer",
        "nonce",
        "unverified",
        "domain",
        "expired",
        "signature",
        "audiences",
        "discovery-issuer",
    }
)


class _Quiet(WSGIRequestHandler):
    """No request lines on the test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class Person:
    """Who the provider signs in: the claims of the next ID token."""

    subject: str = "alice-0001"
    email: str = "alice@example.org"
    email_verified: bool = True
    groups: list[str] = field(default_factory=lambda: ["elicit-research"])
    name: str = "Alice Example"


class Client(ClientMixin):  # type: ignore[misc]
    """The one registered relying party: Elicit, a confidential client with a secret."""

    def __init__(self, client_id: str, secret: str, redirect_uris: list[str]) -> None:
        self.client_id = client_id
        self.secret = secret
        self.redirect_uris = redirect_uris

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in {"openid", "email", "profile"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Provider:
    """The provider and its HTTP server; ``start()`` serves it, ``stop()`` ends it."""

    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.client = Client(client_id, client_secret, redirect_uris)
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
        self.user = Person()
        self.defects: set[str] = set()
        self.extra_claims: dict[str, Any] = {}  # merged into the next ID tokens
        self.codes: dict[str, Code] = {}
        self.exchanges: list[dict[str, Any]] = []
        self.id_tokens: list[str] = []
        self.requests: list[str] = []  # paths asked for, in order
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.issuer = ""
        self.app = self._make_app()

    def reset(self, person: Person | None = None) -> None:
        """A fresh test: the default person (or ``person``), no defects, nothing recorded."""
        self.user = person or Person()
        self.defects = set()
        self.extra_claims = {}
        self.codes.clear()
        self.exchanges.clear()
        self.id_tokens.clear()
        self.requests.clear()

    def start(self) -> Provider:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_Quiet)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _defect(self, name: str) -> bool:
        assert name in DEFECTS, name
        return name in self.defects

    def _make_app(self) -> Flask:
        provider = self
        app = Flask("oidc_provider")
        app.config["OAUTH2_SCOPES_SUPPORTED"] = ["openid", "email", "profile"]

        class Grant(AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                provider.codes[code] = Code(
                    code=code,
                    client_id=request.client.get_client_id(),
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.payload.scope,
                    person=request.user,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    auth_time=int(time.time()),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                return found if found is not None and found.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Person:
                return authorization_code.person

        class IdToken(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return any(code.nonce == nonce for code in provider.codes.values())

            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return provider.rogue_key if provider._defect("signature") else provider.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": KID}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                now = int(time.time())
                audience = [client.get_client_id()]
                if provider._defect("audience"):
                    audience = ["another-application"]
                if provider._defect("audiences"):
                    audience = [client.get_client_id(), "another-application"]
                claims = {
                    "iss": "http://issuer.invalid" if provider._defect("issuer") else provider.issuer,
                    "aud": audience,
                    "iat": now,
                    "exp": now + 300,
                }
                if provider._defect("expired"):
                    claims.update(iat=now - 7200, exp=now - 3600)
                claims.update(provider.extra_claims)
                return claims

            def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
                claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
                if provider._defect("nonce"):
                    claims["nonce"] = "a-nonce-from-another-sign-in"
                return claims

            def generate_user_info(self, user: Person, scope: str) -> UserInfo:
                email = user.email
                if provider._defect("domain"):
                    email = email.split("@", 1)[0] + "@elsewhere.example"
                return UserInfo(
                    sub=user.subject,
                    name=user.name,
                    email=email,
                    email_verified=False if provider._defect("unverified") else user.email_verified,
                    groups=list(user.groups),
                )

            def process_token(self, grant: Any, response: Any) -> Any:
                token = super().process_token(grant, response)
                provider.id_tokens.append(token["id_token"])
                return token

        class RecordingChallenge(CodeChallenge):  # type: ignore[misc]
            def validate_code_verifier(self, grant: Any, result: Any) -> None:
                code = grant.request.authorization_code
                verifier = grant.request.form.get("code_verifier")
                super().validate_code_verifier(grant, result)  # raises when the verifier does not match
                provider.exchanges.append(
                    {"code": code.code, "pkce": code.code_challenge_method, "verifier_sent": bool(verifier)}
                )

        server = AuthorizationServer(
            app, query_client=self._query_client, save_token=lambda token, request: None
        )
        server.register_grant(Grant, [IdToken(require_nonce=True), RecordingChallenge(required=True)])

        @app.before_request
        def _record() -> None:
            from flask import request

            provider.requests.append(request.path)

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            base = provider.issuer
            return jsonify(
                issuer="http://issuer.invalid" if provider._defect("discovery-issuer") else base,
                authorization_endpoint=f"{base}/authorize",
                token_endpoint=f"{base}/token",
                jwks_uri=f"{base}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                scopes_supported=["openid", "email", "profile"],
                claims_supported=[
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "email",
                    "email_verified",
                    "groups",
                ],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(keys=[provider.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize() -> Any:
            try:
                grant = server.get_consent_grant(end_user=provider.user)
            except OAuth2Error as error:
                return server.handle_error_response(None, error)
            return server.create_authorization_response(grant=grant, grant_user=provider.user)

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        return app

    def _query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None
