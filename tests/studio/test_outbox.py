"""The outbox as an attacker reads it: its files on disk, and its messages in the studio after they were shown.

Without SMTP, invitations go to ``<outbox>/<study>/*.eml`` with the expert's link in clear. The attack of issue 12
item 9: a researcher (or anyone with an account on the server) opens the files later and uses a named expert's
link to read their answers in progress. The files must be private (0600 in a 0700 folder), a link shown once in
the studio must be gone from its file, and a purge must leave no token anywhere in the folder.
"""

from __future__ import annotations

import io
import re
import stat
from email.message import EmailMessage
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from elicit.studio.mail import Outbox, purge_outbox
from tests.studio.conftest import SLUG, People, csrf, login

ROSTER = (
    "name,email,organisation,cohort\n"
    "Ayesha Khan,ayesha@example.org,NDU,PK\n"
    "Tom Hardy,tom@example.org,MoD,UK\n"
    "Sam Lee,sam@example.org,,UK\n"
)
LINK = re.compile(rb"http://elicit\.test/s/([A-Za-z0-9_-]+)")


def _email_the_roster(client: FlaskClient) -> None:
    login(client, "researcher@example.org")
    response = client.post(
        f"/studio/studies/{SLUG}/roster",
        data={
            "file": (io.BytesIO(ROSTER.encode()), "roster.csv"),
            "delivery": "email",
            "csrf_token": csrf(client, f"/studio/studies/{SLUG}/roster"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert response.status_code == 200 and "3 messages sent." in response.get_data(as_text=True)


def _tokens_in(folder: Path) -> set[bytes]:
    """Every link token in any file of the folder (what ``grep -r /s/`` would find)."""
    return {
        token for path in folder.rglob("*") if path.is_file() for token in LINK.findall(path.read_bytes())
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outbox_files_are_private_and_a_link_is_shown_once(
    app: Flask, client: FlaskClient, people: People, flagship_study: str, outbox: Path
) -> None:
    _email_the_roster(client)
    folder = outbox / SLUG
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 3
    assert _mode(outbox) == 0o700 and _mode(folder) == 0o700
    assert {_mode(path) for path in files} == {0o600}
    tokens = _tokens_in(folder)
    assert len(tokens) == 3  # the scan works: each file holds its expert's link until it is shown

    first = files[0]
    [token] = LINK.findall(first.read_bytes())
    shown = client.get(f"/studio/studies/{SLUG}/outbox/{first.name}").get_data(as_text=True)
    assert token.decode() in shown  # shown once, to hand over
    assert token not in first.read_bytes() and _mode(first) == 0o600
    assert _tokens_in(folder) == tokens - {token}
    again = client.get(f"/studio/studies/{SLUG}/outbox/{first.name}").get_data(as_text=True)
    assert token.decode() not in again and "link removed from the outbox" in again
    listing = client.get(f"/studio/studies/{SLUG}/outbox").get_data(as_text=True)
    assert listing.count("Invitation: ") == 3  # what was sent, and to whom, is still listed

    result = app.test_cli_runner().invoke(args=["outbox", "purge", SLUG])
    assert result.exit_code == 0 and "3 message(s) deleted" in result.output, result.output
    assert purge_outbox(folder) == 0
    assert _tokens_in(outbox) == set()
    assert not any(folder.iterdir())


def test_an_outbox_written_before_is_made_private(app: Flask, outbox: Path, tmp_path: Path) -> None:
    folder = outbox / "older-study"
    folder.mkdir(parents=True)
    outbox.chmod(0o755)
    folder.chmod(0o755)
    old = folder / "20240101T000000000000-abcd1234.eml"
    old.write_bytes(b"To: someone@example.org\r\nSubject: Invitation\r\n\r\nhttp://elicit.test/s/abc\r\n")
    old.chmod(0o644)
    message = EmailMessage()
    message["To"] = "someone@example.org"
    message["Subject"] = "Invitation"
    message.set_content("hello")
    Outbox(folder).send(message)
    assert _mode(outbox) == 0o700 and _mode(folder) == 0o700
    assert {_mode(path) for path in folder.glob("*.eml")} == {0o600}
