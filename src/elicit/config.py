"""Settings from environment variables, so one build runs anywhere (12-factor); tests pass a dict instead.

The secret key is ELICIT_SECRET_KEY or the file ``instance/secret_key`` (the instance folder is ``instance`` in
the working directory). Only ``elicit init`` and ``elicit demo`` create that file, inside
:func:`creating_secret_key`; any other process that finds no key stops with :class:`NoSecretKey`, because a new
key would make every anonymous answer in progress unreachable.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

import click
from flask.cli import NoAppException

DEFAULT_DATABASE_URL = "sqlite:///instance/elicit.db"
KEY_FILE_NAME = "secret_key"  # in the instance folder
AUDIT_KEY_FILE_NAME = "audit_key"  # in the instance folder: the key of the audit chain (elicit.audit)
AUDIT_ANCHOR_FILE_NAME = "audit-anchor.log"  # in the instance folder: the heads of the audit chain
MIN_AUDIT_KEY_LENGTH = 32  # ELICIT_AUDIT_KEY: shorter is a password someone typed, not a key
MAX_PROXY_HOPS = 5  # ELICIT_PROXY_FIX: more chained proxies than this is a mistake, not a deployment

# Set only while `elicit init` or `elicit demo` makes its app: no other process may create the key file.
_may_create_key: ContextVar[bool] = ContextVar("elicit_may_create_secret_key", default=False)


class BadSetting(NoAppException):
    """An environment variable that cannot be used: one error line and exit code 1, never a traceback."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"elicit: error: {self.format_message()}", file=file, err=file is None)


def _number(name: str, default: str, kind: type[int] | type[float], low: float, high: float) -> Any:
    """The environment variable ``name`` as a number within [low, high], or :class:`BadSetting`."""
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise BadSetting(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise BadSetting(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


def _proxy_hops() -> int:
    """ELICIT_PROXY_FIX: how many reverse proxies in front of the app to trust for X-Forwarded-*; 0 (unset) trusts
    none, so a client cannot choose the address the rate limit counts it under."""
    raw = os.environ.get("ELICIT_PROXY_FIX", "")
    text = raw.strip() or "0"
    if text not in {str(n) for n in range(MAX_PROXY_HOPS + 1)}:
        raise BadSetting(
            f"ELICIT_PROXY_FIX={raw!r} must be the number of reverse proxies in front of Elicit that set "
            f"X-Forwarded-For, from 1 to {MAX_PROXY_HOPS} (0 or unset: none, the headers are ignored)"
        )
    return int(text)


def _yes_no(name: str) -> bool:
    """The environment variable ``name`` as a yes/no switch (unset or empty: no), or :class:`BadSetting`."""
    raw = os.environ.get(name, "")
    text = raw.strip().lower()
    if text in {"", "0", "false", "no"}:
        return False
    if text in {"1", "true", "yes"}:
        return True
    raise BadSetting(f"{name}={raw!r} must be 1 or 0 (also true/false, yes/no)")


class NoSecretKey(NoAppException):
    """Neither ELICIT_SECRET_KEY nor a readable key file: the app is not made, rather than made with a new key.

    Anonymous responses are found by an HMAC keyed from the secret key (``responding/unlinking.py``), so a key
    made anew would silently cut every anonymous answer in progress off from its expert. A ``NoAppException``,
    so that the ``elicit`` command shows it as its one error line with exit code 1 (and ``elicit --help`` still
    lists the commands); a web server stops at start-up with it.
    """

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"elicit: error: {self.format_message()}", file=file, err=file is None)


@contextlib.contextmanager
def creating_secret_key() -> Iterator[None]:
    """Allow the app made inside (from the environment) to create the key file: for ``elicit init`` and
    ``elicit demo`` only. Usable as a decorator."""
    token = _may_create_key.set(True)
    try:
        yield
    finally:
        _may_create_key.reset(token)


def _secret_key(instance_path: Path) -> tuple[str, Path | None]:
    """ELICIT_SECRET_KEY, or the key kept in the instance folder so restarts and workers share it; and the key
    file's path if this call created it (only inside :func:`creating_secret_key`)."""
    key = os.environ.get("ELICIT_SECRET_KEY")
    if key:
        return key, None
    path = instance_path / KEY_FILE_NAME
    try:
        text = _read_key_file(path)
    except OSError as exc:
        raise NoSecretKey(
            f"cannot read the secret key file {path}: {exc.strerror}; fix it, or set ELICIT_SECRET_KEY"
        ) from None
    if text is None:
        if not _may_create_key.get():
            raise NoSecretKey(
                f"no secret key: ELICIT_SECRET_KEY is not set and there is no {path}; set ELICIT_SECRET_KEY, or "
                f"run elicit init in {instance_path.parent} to create the key (if this server had a key, "
                "restore it instead: anonymous answers are found with it)"
            )
        key, created = _create_key_file(path)
        return key, path if created else None
    if not text:
        raise NoSecretKey(
            f"the secret key file {path} is empty; restore the key this server had, or set ELICIT_SECRET_KEY "
            "(a new key makes the anonymous answers in progress unreachable)"
        )
    return text, None


def _read_key_file(path: Path) -> str | None:
    """The key kept in ``path`` (stripped; empty if the file is), None when there is no such file; an unreadable
    file raises OSError with a ``strerror`` that says why."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise OSError(0, "not an ASCII text file") from None
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or "unreadable") from None


def _create_key_file(path: Path) -> tuple[str, bool]:
    """Write a new random key to ``path`` (mode 0600), unless another process has just written one: the key
    in the file is returned either way, with whether this call wrote it; an existing file is never replaced."""
    # The instance folder is private too: it lists the studies' outbox folders by name.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd, staged = tempfile.mkstemp(prefix=".secret_key.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(staged, 0o600)
        try:
            os.link(staged, path)  # unlike a rename, fails if the file exists
        except FileExistsError:
            return path.read_text(encoding="ascii").strip(), False
    finally:
        os.unlink(staged)
    return key, True


def audit_key(instance_path: Path, *, create: bool = False) -> tuple[str | None, Path | None]:
    """The audit chain's key: ELICIT_AUDIT_KEY, or the file ``audit_key`` in the instance folder (made if missing
    and ``create``, mode 0600 like the secret key's, never replaced); with the file's path if this call made it.
    (None, None) when there is neither and ``create`` is false.

    A key of its own rather than SECRET_KEY: rotating the secret key (it signs sessions) must not break the chain,
    and a security officer can keep a copy of this key to check the log without holding the server's other secrets.
    """
    key = os.environ.get("ELICIT_AUDIT_KEY")
    if key:
        return key, None
    path = instance_path / AUDIT_KEY_FILE_NAME
    try:
        text = _read_key_file(path)
    except OSError as exc:
        raise BadSetting(
            f"cannot read the audit key file {path}: {exc.strerror}; fix it, or set ELICIT_AUDIT_KEY"
        ) from None
    if text is None:
        if not create:
            return None, None
        key, created = _create_key_file(path)
        return key, path if created else None
    if not text:
        raise BadSetting(
            f"the audit key file {path} is empty; put back the audit key this server had (your security officer "
            "may hold a copy), or set ELICIT_AUDIT_KEY: the audit log's events are checked with it"
        )
    return text, None


def _audit_settings(instance_path: Path, secret: str) -> dict[str, Any]:
    """ELICIT_AUDIT_*: the audit key (made here only by ``elicit init`` and ``elicit demo``; any other process
    that finds none makes it at its first audited change), the anchor file and syslog; see ``elicit.audit``."""
    given = os.environ.get("ELICIT_AUDIT_KEY", "")
    if given and len(given) < MIN_AUDIT_KEY_LENGTH:
        raise BadSetting(
            f"ELICIT_AUDIT_KEY must be at least {MIN_AUDIT_KEY_LENGTH} characters of a random value "
            "(python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    key, created = audit_key(instance_path, create=_may_create_key.get())
    if key is not None and key == secret:
        raise BadSetting(
            "ELICIT_AUDIT_KEY must not be the secret key: give the audit log a key of its own, so that changing "
            "the secret key does not break the chain and the audit key can be kept apart from it"
        )
    anchor = os.environ.get("ELICIT_AUDIT_ANCHOR", "").strip()
    address = os.environ.get("ELICIT_AUDIT_SYSLOG_ADDRESS", "").strip()
    if address and not address.startswith("/"):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadSetting(
                f"ELICIT_AUDIT_SYSLOG_ADDRESS={address!r} must be host:port (UDP) or the path of a syslog socket"
            )
    return {
        "AUDIT_KEY": key,
        "AUDIT_KEY_CREATED": str(created) if created is not None else None,
        "AUDIT_ANCHOR": str(Path(anchor).absolute() if anchor else instance_path / AUDIT_ANCHOR_FILE_NAME),
        "AUDIT_SYSLOG": _yes_no("ELICIT_AUDIT_SYSLOG"),
        "AUDIT_SYSLOG_ADDRESS": address or None,
    }


def _single_sign_on() -> Any:
    """ELICIT_OIDC_*: the single sign-on settings (``elicit.studio.oidc.OidcSettings``), or None when unset; a
    half-configured sign-on stops the app with one line naming the missing variable."""
    from elicit.studio.oidc import OidcSettingError, settings_from_environment

    try:
        return settings_from_environment(os.environ)
    except OidcSettingError as exc:
        raise BadSetting(str(exc)) from None


def from_environment(instance_path: Path) -> dict[str, Any]:
    """Build the Flask config mapping from the process environment; :class:`NoSecretKey` without a key."""
    env = os.environ
    key, created = _secret_key(instance_path)
    return {
        "DATABASE_URL": env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        "SECRET_KEY": key,
        "SECRET_KEY_CREATED": str(created) if created is not None else None,
        **_audit_settings(instance_path, key),  # the audit chain's key and anchors
        "BASE_URL": env.get("ELICIT_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "SMTP_URL": env.get("ELICIT_SMTP_URL"),
        "REDIS_URL": env.get("ELICIT_REDIS_URL"),
        "SESSION_COOKIE_SECURE": env.get("ELICIT_SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
        "PROXY_FIX": _proxy_hops(),  # trusted reverse proxies (X-Forwarded-*); 0: none
        # every studio account must sign in with a second factor (administrators always must)
        "REQUIRE_2FA": _yes_no("ELICIT_REQUIRE_2FA"),
        "K_ANONYMITY": _number("ELICIT_K", "5", int, 1, 1000),
        "MAIL_FROM": env.get("ELICIT_MAIL_FROM"),
        "OUTBOX_PATH": env.get("ELICIT_OUTBOX_PATH"),
        # seconds a studio request spends sending an e-mail batch before it shows the progress page
        "MAIL_SLICE_SECONDS": _number("ELICIT_MAIL_SLICE_SECONDS", "8", float, 0.5, 20),
        "OIDC": _single_sign_on(),  # single sign-on with OpenID Connect, or None
    }
