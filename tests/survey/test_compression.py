"""gzip on the expert pages: applied when accepted, identical once decompressed, never on downloads or streams."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from elicit.compression import MIN_SIZE, Compressed, accepts_gzip
from tests.conftest import StudyHandle

GZIP = {"Accept-Encoding": "gzip, deflate"}


def _without_csrf(html: str) -> str:
    """The page with its CSRF token blanked (the token is signed with the time, so two renders may differ)."""
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', html)


def test_a_page_is_compressed_for_a_client_that_accepts_gzip_and_decompresses_to_the_same_page(
    client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    plain = client.get(f"/s/{token}")
    packed = client.get(f"/s/{token}", headers=GZIP)
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    for response in (plain, packed):  # a cache keeps the two forms apart
        assert "Accept-Encoding" in response.headers["Vary"]
    body = gzip.decompress(packed.data)
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(body) / 2
    assert _without_csrf(body.decode()) == _without_csrf(plain.text)
    # The security headers are those of the page, compressed or not.
    assert packed.headers["Content-Security-Policy"] == plain.headers["Content-Security-Policy"]


def test_gzip_refused_with_q_0_head_requests_and_ranges_are_sent_as_they_are(
    client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    for headers in (
        {"Accept-Encoding": "gzip;q=0, identity"},
        {"Accept-Encoding": "br"},
        {**GZIP, "Range": "bytes=0-9"},
    ):
        response = client.get(f"/s/{token}", headers=headers)
        assert "Content-Encoding" not in response.headers, headers
        assert b"<!doctype html>" in response.data
    head = client.head(f"/s/{token}", headers=GZIP)
    assert "Content-Encoding" not in head.headers


def test_a_static_file_keeps_working_conditional_requests(client: FlaskClient) -> None:
    packed = client.get("/static/elicit.css", headers=GZIP)
    plain = client.get("/static/elicit.css")
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    etag = packed.headers["ETag"]
    assert (
        etag.startswith('W/"') and etag[2:] == plain.headers["ETag"]
    )  # weak: the same content, another coding
    again = client.get("/static/elicit.css", headers={**GZIP, "If-None-Match": etag})
    assert again.status_code == 304 and not again.data


def test_the_api_s_json_is_left_alone(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json", headers=GZIP)
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    assert response.is_json


# -------------------------------------------------------------------------- the middleware alone (a WSGI app)


def _call(
    app: Any, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[str, dict[str, str], bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()},
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, dict(response_headers)
        return lambda data: None

    body = Compressed(app)(environ, start_response)
    data = b"".join(body)
    closer = getattr(body, "close", None)
    if closer is not None:
        closer()
    return seen["status"], seen["headers"], data


def test_a_streamed_body_and_a_download_pass_through_untouched_and_are_closed() -> None:
    closed: list[str] = []

    class Stream:
        def __iter__(self) -> Iterator[bytes]:
            yield b"id,value\n" * 100
            yield b"1,2\n" * 100

        def close(self) -> None:
            closed.append("stream")

    def streamed(environ: dict[str, Any], start_response: Any) -> Any:  # no Content-Length: a stream
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return Stream()

    status, headers, data = _call(streamed, GZIP)
    assert status == "200 OK" and "Content-Encoding" not in headers
    assert data == b"id,value\n" * 100 + b"1,2\n" * 100 and closed == ["stream"]

    body = b"x" * 4096

    def download(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(body))),
                ("Content-Disposition", 'attachment; filename="audit.csv"'),
            ],
        )
        return [body]

    status, headers, data = _call(download, GZIP)
    assert "Content-Encoding" not in headers and data == body

    def archive(environ: dict[str, Any], start_response: Any) -> Any:  # an export's zip: compressed already
        start_response("200 OK", [("Content-Type", "application/zip"), ("Content-Length", str(len(body)))])
        return [body]

    status, headers, data = _call(archive, GZIP)
    assert "Content-Encoding" not in headers and "Vary" not in headers and data == body


def test_small_bodies_and_redirects_are_not_compressed() -> None:
    def small(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(MIN_SIZE - 1))])
        return [b"a" * (MIN_SIZE - 1)]

    assert "Content-Encoding" not in _call(small, GZIP)[1]

    def redirect(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(
            "303 See Other", [("Content-Type", "text/html"), ("Content-Length", "2000"), ("Location", "/x")]
        )
        return [b"r" * 2000]

    status, headers, data = _call(redirect, GZIP)
    assert status.startswith("303") and "Content-Encoding" not in headers and data == b"r" * 2000


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*;q=0", False),
        ("identity", False),
        ("", False),
        ("br;q=1, gzip;q=bogus", False),
    ],
)
def test_accept_encoding_is_read_with_its_q_values(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_compression_is_installed_on_the_app(app: Flask) -> None:
    assert any(isinstance(layer, Compressed) for layer in _layers(app.wsgi_app))


def _layers(wsgi: Any) -> Iterator[Any]:
    while wsgi is not None:
        yield wsgi
        wsgi = getattr(wsgi, "app", None)
