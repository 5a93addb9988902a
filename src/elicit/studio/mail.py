"""E-mailing invitation links: by SMTP when ``SMTP_URL`` is set, else into an outbox folder of ``.eml`` files.

The outbox (``OUTBOX_PATH``, default ``<instance>/outbox``) has one folder per study; each message is a complete
RFC 5322 file any mail program opens, and the studio lists them for the study's researchers.
"""

from __future__ import annotations

import re
import secrets
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from elicit.models import utcnow

OUTBOX_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.eml$")
SMTP_TIMEOUT = 20


class MailError(Exception):
    """Mail could not be sent; the message says why in a sentence."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class Letter:
    """What an expert receives with a link."""

    to_name: str
    to_address: str
    study_title: str
    url: str
    closes_on: date | None
    reminder: bool


def compose(letter: Letter, sender: str) -> EmailMessage:
    """A plain-text invitation or reminder carrying one personal link."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"{letter.to_name} <{letter.to_address}>" if letter.to_name else letter.to_address
    kind = "Reminder" if letter.reminder else "Invitation"
    message["Subject"] = f"{kind}: {letter.study_title}"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    greeting = f"Dear {letter.to_name}," if letter.to_name else "Hello,"
    lines = [greeting, ""]
    if letter.reminder:
        lines += [
            f'This is a friendly reminder about the study "{letter.study_title}".',
            "Here is a new personal link; it replaces the one we sent before, and any answers you saved are kept:",
        ]
    else:
        lines += [
            f'You are invited to take part in the study "{letter.study_title}".',
            "Your personal link (please do not forward it; it is yours alone):",
        ]
    lines += ["", letter.url, ""]
    if letter.closes_on is not None:
        lines.append(f"The study closes on {letter.closes_on:%d %B %Y}.")
    lines += [
        "You can stop at any time and come back to the same link later. If you do not wish to take part,",
        "open the link and decline; you will not be contacted about this study again.",
        "",
        "Sent by Elicit on behalf of the study team.",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.partition("@")[2] or "localhost"


def outbox_folder(config: Mapping[str, Any], instance_path: str, study_slug: str) -> Path:
    base = config.get("OUTBOX_PATH") or str(Path(instance_path) / "outbox")
    return Path(base) / study_slug


class Outbox:
    """Writes each message to a file named by time and a random suffix (never overwritten)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{utcnow():%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
            path = self.folder / name
            with path.open("xb") as fh:
                fh.write(bytes(message))
        except OSError as exc:
            raise MailError(f"cannot write to the outbox {self.folder}: {exc.strerror}") from None


class Smtp:
    """One SMTP connection for a batch of messages: smtp:// (STARTTLS when offered) or smtps://."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise MailError("ELICIT_SMTP_URL must look like smtp://user:password@host:587 or smtps://...")
        self.secure = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.secure else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.connection: smtplib.SMTP | None = None

    def open(self) -> None:
        context = ssl.create_default_context()
        try:
            if self.secure:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=SMTP_TIMEOUT, context=context
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
                connection.ehlo()
                if connection.has_extn("starttls"):
                    connection.starttls(context=context)
                    connection.ehlo()
            if self.username:
                connection.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to the mail server {self.host}:{self.port} ({exc})") from None
        self.connection = connection

    def send(self, message: EmailMessage) -> None:
        assert self.connection is not None  # nosec B101  # narrows the type: send runs inside the connected context; not a security check
        try:
            self.connection.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"the mail server refused a message to {message['To']} ({exc})") from None

    def close(self) -> None:
        if self.connection is not None:
            with suppress(OSError, smtplib.SMTPException):
                self.connection.quit()
            self.connection = None


@contextmanager
def transport(config: Mapping[str, Any], instance_path: str, study_slug: str) -> Iterator[Transport]:
    """SMTP when configured, else the study's outbox folder."""
    url = config.get("SMTP_URL")
    if not url:
        yield Outbox(outbox_folder(config, instance_path, study_slug))
        return
    smtp = Smtp(url)
    smtp.open()
    try:
        yield smtp
    finally:
        smtp.close()


def sender(config: Mapping[str, Any]) -> str:
    if config.get("MAIL_FROM"):
        return str(config["MAIL_FROM"])
    host = urlsplit(str(config.get("BASE_URL") or "")).hostname or "localhost"
    if host.replace(".", "").isdigit() or "." not in host:
        host = "localhost.localdomain"
    return f"Elicit <no-reply@{host}>"


@dataclass(frozen=True)
class OutboxEntry:
    name: str
    to: str
    subject: str
    at: datetime | None


def outbox_entries(folder: Path, limit: int = 500) -> list[OutboxEntry]:
    """The newest messages first (headers only)."""
    if not folder.is_dir():
        return []
    entries = []
    parser = BytesHeaderParser(policy=default_policy)
    for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]:
        with path.open("rb") as fh:
            headers = parser.parse(fh)
        at = headers["Date"].datetime if headers["Date"] else None
        to, subject = str(headers["To"] or "").strip(), str(headers["Subject"] or "").strip()
        entries.append(OutboxEntry(path.name, to, subject, at))
    return entries


def outbox_message(folder: Path, name: str) -> EmailMessage | None:
    """One message of the outbox by file name (names are checked, so no path can leave the folder)."""
    if not OUTBOX_NAME_RE.match(name):
        return None
    path = folder / name
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        message = BytesParser(policy=default_policy).parse(fh)
    assert isinstance(message, EmailMessage)  # nosec B101  # narrows the type: the default policy always yields EmailMessage; not a security check
    return message
