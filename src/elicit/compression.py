"""gzip for the pages the app answers, when the client accepts it and no proxy in front has compressed them.

A questionnaire page is 5-25 kB of markup that compresses to a fifth; an expert on a slow mobile line waits for
every byte, while deflating costs the server about a tenth of a millisecond per page. A small WSGI middleware
rather than a library (Flask-Compress would be one more dependency for twenty lines of ``zlib``), and at the WSGI
level rather than in ``after_request``, so that what it may touch is decided from the finished response alone:

- only a response whose whole body is known (it has a ``Content-Length``): a streamed response (an export's
  download, a chunked body) passes through untouched, as do downloads (``Content-Disposition: attachment``),
  partial content (206), bodies of 304/204/1xx and 3xx, HEAD requests and ranged requests;
- only what browsers fetch for the pages (HTML, CSS, JavaScript, SVG, plain text), never what is compressed
  already (images, zip, Parquet, xlsx), nor the API's JSON (small, for scripts; a proxy may compress it), and not
  bodies under ``MIN_SIZE`` bytes, which gzip's header would make larger;
- only when ``Accept-Encoding`` accepts gzip (``gzip;q=0`` refuses it), and never over a ``Content-Encoding``;
- every compressible response says ``Vary: Accept-Encoding`` (also when it is sent as it is), so a cache keeps
  the two forms apart; a compressed one's strong ETag becomes weak (``W/"..."``), as the same content in another
  encoding must not claim byte equality, and conditional requests (which compare weakly) still get their 304.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import Any

COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/plain",
        "text/javascript",
        "application/javascript",
        "image/svg+xml",
    }
)
MIN_SIZE = 512
LEVEL = 6  # zlib's default: most of level 9's gain at a third of its time

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value accepts gzip (``gzip``, ``x-gzip`` or ``*``, with a q above 0)."""
    wildcard: bool | None = None
    for entry in header.split(","):
        coding, _, params = entry.strip().partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding in {"gzip", "x-gzip"}:
            return quality > 0
        if coding == "*":
            wildcard = quality > 0
    return bool(wildcard)


def gzip_bytes(body: bytes) -> bytes:
    """``body`` as a gzip stream (RFC 1952)."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)  # 16 + 15: the gzip wrapper, a 32 kB window
    return compressor.compress(body) + compressor.flush()


class Compressed:
    """WSGI middleware: gzip a finished text response for a client that accepts it (see the module)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") == "HEAD"
            or "HTTP_RANGE" in environ
            or not accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        ):
            return self.app(environ, self._varying(start_response))
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and captured.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            captured["status"], captured["headers"], captured["exc_info"] = status, headers, exc_info
            return written.append

        body = self.app(environ, capture)
        status, headers = captured.get("status", ""), captured.get("headers", [])
        if not _compressible(status, headers):
            write = start_response(status, _with_vary(headers), captured.get("exc_info"))
            for chunk in written:
                write(chunk)
            return body
        try:
            data = b"".join([*written, *body])
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        if len(data) < MIN_SIZE:  # shorter than it said, or tiny: as it is
            start_response(status, _with_vary(headers), captured.get("exc_info"))
            return [data]
        packed = gzip_bytes(data)
        changed = [(k, v) for k, v in headers if k.lower() not in {"content-length", "etag"}]
        changed += [("Content-Encoding", "gzip"), ("Content-Length", str(len(packed)))]
        etag = _header(headers, "etag")
        if etag is not None:
            changed.append(("ETag", etag if etag.startswith("W/") else f"W/{etag}"))
        captured["sent"] = True
        start_response(status, _with_vary(changed), captured.get("exc_info"))
        return [packed]

    @staticmethod
    def _varying(start_response: StartResponse) -> StartResponse:
        """``start_response`` that adds ``Vary: Accept-Encoding`` to compressible responses sent as they are."""

        def varied(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, _with_vary(headers), exc_info)

        return varied


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _media_type(headers: list[tuple[str, str]]) -> str:
    return (_header(headers, "content-type") or "").split(";")[0].strip().lower()


def _compressible(status: str, headers: list[tuple[str, str]]) -> bool:
    """Whether a response may be compressed: a whole text body of some size, not a download or a part."""
    code = int(status.split(" ", 1)[0] or 0)
    if code != 200 and code < 400:
        return False
    length = _header(headers, "content-length")
    if length is None or not length.isdigit() or int(length) < MIN_SIZE:
        return False
    disposition = (_header(headers, "content-disposition") or "").lower()
    return (
        _media_type(headers) in COMPRESSIBLE
        and _header(headers, "content-encoding") is None
        and not disposition.startswith("attachment")
    )


def _with_vary(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with ``Accept-Encoding`` in ``Vary`` when the body is of a compressible type."""
    if _media_type(headers) not in COMPRESSIBLE:
        return headers
    vary = _header(headers, "vary")
    if vary is None:
        return [*headers, ("Vary", "Accept-Encoding")]
    if "accept-encoding" in vary.lower() or vary.strip() == "*":
        return headers
    return [(k, f"{v}, Accept-Encoding" if k.lower() == "vary" else v) for k, v in headers]


def install(app: Any) -> None:
    """Wrap ``app.wsgi_app`` (a Flask app) in the middleware."""
    app.wsgi_app = Compressed(app.wsgi_app)
