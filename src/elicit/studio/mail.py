"""E-mailing invitation links: by SMTP when ``SMTP_URL`` is set, else into an outbox folder of ``.eml`` files.

The outbox (``OUTBOX_PATH``, default ``<instance>/outbox``) has one folder per study; each message is a complete
RFC 5322 file any mail program opens, and the studio lists them for the study's researchers. It is the delivery
channel of a server without SMTP (development, or links handed over by hand), and it holds links in clear, so:
folders are mode 0700 and files 0600 (only the account the server runs as, and root, can read them); opening a
message in the studio shows its link once and removes it from the file, like the one-time links page; and
:func:`purge_outbox` deletes a study's messages altogether, once the links went out.

The sender: every message is From the server's address (``ELICIT_MAIL_FROM``, else ``no-reply@`` the host of
``ELICIT_BASE_URL``, see :func:`sender`), shown with the study's team name when it has one, and Reply-To the
team's contact e-mail, so replies reach the team while the message comes from a domain the server may send for.
The wording is the study's own for the expert's language, else the built-in one (see :mod:`.letters`).
"""

from __future__ import annotations

import os
import re
import secrets
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from elicit.errors import ElicitError
from elicit.i18n import direction
from elicit.models import MailKind, Study, utcnow
from elicit.studio import letters
from elicit.studio.letters import Team, Wording

# Characters that must never reach a header (or a greeting line): C0 and C1 controls, DEL, and the Unicode
# line and paragraph separators.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
OUTBOX_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.eml$")
FOLDER_MODE = 0o700
FILE_MODE = 0o600
# An expert's link in a message body: the path /s/<token> (tokens as the expert URL admits them).
LINK_RE = re.compile(r"\S*/s/[A-Za-z0-9_-]{16,128}\S*")
LINK_REMOVED = "[link removed from the outbox after it was shown once; reissue the invitation if it was lost]"
SMTP_TIMEOUT = 20
# Bidirectional embeddings, overrides and isolates: a name holding one could reorder the rest of its line.
BIDI_CONTROL_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")
# The link of a previewed message: shaped like an expert's address, but no token (it opens no invitation).
SAMPLE_LINK = "sample-link-not-a-real-invitation"
SAMPLE_NAMES = {"en": "Ayesha Khan", "ur": "عائشہ خان"}


class MailError(ElicitError):
    """Mail could not be sent; the message says why in a sentence. It stops a batch (the server is down)."""


class Refused(MailError):
    """This one message could not be sent (its address is refused); the rest of a batch can still go."""


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
    # Anonymous studies cannot know who has answered (see elicit.responding.unlinking), so reminders say so.
    anonymous: bool = False
    language: str = "en"
    team: Team = Team()
    wording: Wording | None = None  # None: the built-in wording of its kind and language


def one_line(text: str) -> str:
    """``text`` with every control character (CR, LF, tab, NUL, ...) made a space: safe for a header."""
    return " ".join(CONTROL_RE.sub(" ", text).split())


def _in_text(text: str) -> str:
    """One line for a message's text: :func:`one_line`, without the bidi controls that could reorder a line."""
    return one_line(BIDI_CONTROL_RE.sub("", text))


def address(display_name: str, addr_spec: str) -> Address:
    """A mailbox built by the e-mail library, never by string formatting: a display name such as
    ``Victim <attacker@evil.example>, Real`` stays a name (quoted), and ``addr_spec`` must be exactly one address."""
    try:
        mailbox = Address(display_name=one_line(display_name), addr_spec=addr_spec.strip())
    except (HeaderParseError, ValueError, IndexError):
        raise MailError(f"{one_line(addr_spec)!r} is not an e-mail address") from None
    if CONTROL_RE.search(addr_spec) or not mailbox.username or not mailbox.domain:
        raise MailError(f"{one_line(addr_spec)!r} is not an e-mail address")
    return mailbox


def compose(letter: Letter, sender: str) -> EmailMessage:
    """A plain-text invitation or reminder carrying one personal link, in the letter's wording and language.

    To, From and Reply-To are :class:`~email.headerregistry.Address` objects, and every other header value goes
    through :func:`one_line`, so nothing a researcher typed can add a recipient or a header. From is ``sender``'s
    address under the team's name (when the study has one); Reply-To is the team's contact e-mail.
    """
    sender_name, sender_address = parseaddr(one_line(sender))
    team = letter.team
    message = EmailMessage()
    message["From"] = address(team.name or sender_name, sender_address)
    try:
        message["To"] = address(letter.to_name, letter.to_address)
    except MailError as exc:
        raise Refused(str(exc)) from None
    if team.email:
        try:
            message["Reply-To"] = address(team.name, team.email)
        except MailError:
            raise MailError(
                f"the team's contact e-mail {one_line(team.email)!r} is not an e-mail address; correct it in "
                "the study's settings"
            ) from None
    subject, body = render(letter)
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message.set_content(body + "\n")
    message["Content-Language"] = one_line(letter.language)  # after set_content, which clears Content-*
    return message


def render(letter: Letter) -> tuple[str, str]:
    """The subject and text of ``letter``: its wording with each placeholder filled by a value made safe for it
    (one line, no control characters; the contact details keep their lines). In a right-to-left language, a
    value without right-to-left letters keeps its own order (see :func:`.letters.keep_order`)."""
    kind = MailKind.REMIND if letter.reminder else MailKind.INVITE
    wording = letter.wording or letters.built_in(kind, letter.language, anonymous=letter.anonymous)
    team = letter.team
    keep = letters.keep_order if direction(letter.language) == "rtl" else str
    contact_lines = (_in_text(line) for line in team.contact.replace("\r", "\n").split("\n"))
    values = {
        "name": keep(_in_text(letter.to_name)),
        "link": one_line(letter.url),
        "study": keep(_in_text(letter.study_title)),
        "team": keep(_in_text(letters.team_name(team, letter.language))),
        "contact": one_line(team.email),
        "contact_text": "\n".join(keep(line) for line in contact_lines if line),
        "closes_on": letters.closing_date(letter.closes_on, letter.language),
    }
    return one_line(letters.fill(wording.subject, values, subject=True)), letters.fill(wording.body, values)


def sample(study: Study, kind: MailKind, language: str, wording: Wording | None, base_url: str) -> Letter:
    """The letter ``study`` would send as ``kind`` in ``language`` to a made-up expert, for the studio's preview:
    its link has the shape of an expert's link but no token."""
    return Letter(
        SAMPLE_NAMES.get(language.split("-")[0], SAMPLE_NAMES["en"]),
        "expert@example.org",
        study.title,
        f"{(base_url or 'http://localhost').rstrip('/')}/s/{SAMPLE_LINK}",
        study.closes_on,
        kind == MailKind.REMIND,
        anonymous=study.anonymity == "anonymous",
        language=language,
        team=Team.of(study),
        wording=wording,
    )


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.partition("@")[2] or "localhost"


def outbox_folder(config: Mapping[str, Any], instance_path: str, study_slug: str) -> Path:
    base = config.get("OUTBOX_PATH") or str(Path(instance_path) / "outbox")
    return Path(base) / study_slug


def _private_folder(folder: Path) -> None:
    """Make the study's outbox folder (and the outbox above it) readable by the server's account only."""
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for path in (folder.parent, folder):
        if path.stat().st_mode & 0o777 != FOLDER_MODE:
            path.chmod(FOLDER_MODE)


def _write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to a new file of mode 0600 (created so, never widened by the umask); ``replace`` swaps
    it in atomically for an existing file."""
    target = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp") if replace else path
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(descriptor, "wb") as fh:
        fh.write(data)
    if replace:
        os.replace(target, path)


class Outbox:
    """Writes each message to a private file named by time and a random suffix (never overwritten)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._checked = False

    def send(self, message: EmailMessage) -> None:
        try:
            if not self._checked:  # once per batch: also tighten files an older version wrote 0644
                _private_folder(self.folder)
                for path in self.folder.glob("*.eml"):
                    if path.stat().st_mode & 0o777 != FILE_MODE:
                        path.chmod(FILE_MODE)
                self._checked = True
            name = f"{utcnow():%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
            _write_private(self.folder / name, bytes(message))
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
        except smtplib.SMTPRecipientsRefused as exc:
            raise Refused(f"the mail server refused the address {message['To']} ({exc})") from None
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
    """The server's sender: ``ELICIT_MAIL_FROM``, else "Elicit <no-reply@host>" with the host of the base URL
    (``localhost.localdomain`` for an IP address or a name without a dot)."""
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
    """One message of the outbox by file name (names are checked, so no path can leave the folder).

    The message is returned as sent, link included, and the file keeps it without the link: a link in the
    outbox is shown once, like the one-time links page, so nobody can open an expert's link there later.
    """
    if not OUTBOX_NAME_RE.match(name):
        return None
    path = folder / name
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        message = BytesParser(policy=default_policy).parse(fh)
    assert isinstance(message, EmailMessage)  # nosec B101  # narrows the type: the default policy always yields EmailMessage; not a security check
    _remove_links(path, message)
    return message


def _remove_links(path: Path, message: EmailMessage) -> None:
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return
    text = body.get_content()
    redacted = LINK_RE.sub(LINK_REMOVED, text)
    if redacted == text:
        return
    kept = EmailMessage()
    for header, value in message.items():
        if header.lower() not in {"content-type", "content-transfer-encoding", "mime-version"}:
            kept[header] = value
    kept["X-Elicit-Link-Removed"] = format_datetime(utcnow())
    kept.set_content(redacted)
    _write_private(path, bytes(kept), replace=True)


def purge_outbox(folder: Path) -> int:
    """Delete every message of a study's outbox (once the links went out by hand); the number deleted."""
    if not folder.is_dir():
        return 0
    deleted = 0
    for path in folder.iterdir():
        if path.is_file() and (path.suffix == ".eml" or path.name.endswith(".tmp")):
            path.unlink()
            deleted += path.suffix == ".eml"
    return deleted
