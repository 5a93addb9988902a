"""After a correct sign-in, a ``next`` that is not a safe studio path falls back to the studio home (issue 13).

A CR/LF in ``next`` used to reach the ``Location`` header and end in a 500; an open redirect is the other way
such a value hurts. Every value here must give a 302 to ``/studio/`` and never a 500.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.studio.conftest import PASSWORD, People, csrf

UNSAFE = [
    "/studio/\r\nSet-Cookie: planted=1",
    "/studio/instruments\n",
    "/studio/\rx",
    "\r\n/studio/",
    "/studio/\x00",
    "/studio/\tx",
    "/studio/a b",
    "/studio\\..\\s\\token",
    "/studio/..\\..\\s",
    "//evil.example/studio/",
    "///evil.example/studio/",
    "/\\evil.example/studio/",
    "https://evil.example/studio/",
    "javascript:alert(1)//studio/",
    "data:text/html,<script>alert(1)</script>",
    "/studio/../s/token",
    "/studio/%2e%2e/s/token",
    "/studio/.%2E/s/token",
    "/studio/./../s/token",
    "/studio/%5c..%5cs%5ctoken",
    "/studio/%0d%0aSet-Cookie:%20planted=1",
    "/studio/\u2028",
    "/studio/\u00e9tudes",
    "\uff0f\uff0fevil.example/studio/",  # fullwidth solidus, which some parsers fold to '/'
    "/studio/\u202e/evil",
    "/s/token",
    "studio/",
    "/studiox",
    "",
]
SAFE = ["/studio/instruments", "/studio/studies/dd-2026?tab=cohorts", "/studio/account#password"]


def _sign_in(client: FlaskClient, target: str) -> tuple[int, str]:
    client.delete_cookie("session")
    response = client.post(
        "/studio/login",
        data={
            "email": "researcher@example.org",
            "password": PASSWORD,
            "csrf_token": csrf(client),
            "next": target,
        },
    )
    return response.status_code, response.headers.get("Location", "")


@pytest.mark.parametrize("target", UNSAFE, ids=[repr(t) for t in UNSAFE])
def test_unsafe_next_falls_back_to_the_studio_home(client: FlaskClient, people: People, target: str) -> None:
    assert _sign_in(client, target) == (302, "/studio/")


def test_safe_next_is_kept(client: FlaskClient, people: People) -> None:
    for target in SAFE:
        assert _sign_in(client, target) == (302, target)
