"""Headers an attacker writes into a roster or a study title (issue 13, "Links that vanish").

A roster name like ``Victim <attacker@evil.example>, Real`` once went into ``To`` by string formatting, so the
attacker received the victim's link; a CR/LF in a name or a title made the e-mail library refuse the header (a 500
on upload and on remind). Names, organisations and e-mails with control characters are refused line by line;
titles with them are refused in the studio and on the CLI; and ``compose`` never lets one into a header anyway.
"""

from __future__ import annotations

import io
from datetime import date
from email.headerregistry import Address
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from elicit.studio.mail import Letter, compose
from tests.studio.conftest import SLUG, People, count_rows, csrf, login

SENDER = "Elicit <no-reply@elicit.test>"


def _letter(name: str, address: str = "victim@example.org", title: str = "Drones") -> Letter:
    return Letter(name, address, title, "http://elicit.test/s/" + "a" * 32, date(2026, 12, 31), False)


def _parsed(name: str, address: str = "victim@example.org", title: str = "Drones"):
    message = compose(_letter(name, address, title), SENDER)
    return BytesParser(policy=default_policy).parsebytes(bytes(message))


def test_a_display_name_cannot_add_a_recipient() -> None:
    parsed = _parsed("Victim <attacker@evil.example>, Real")
    addresses = parsed["To"].addresses
    assert len(addresses) == 1
    assert addresses[0].addr_spec == "victim@example.org"
    assert addresses[0].display_name == "Victim <attacker@evil.example>, Real"
    assert "attacker@evil.example" not in [a.addr_spec for a in parsed["From"].addresses]
    assert parsed["From"].addresses == (Address("Elicit", addr_spec="no-reply@elicit.test"),)


@pytest.mark.parametrize("bad", ["Eve\r\nBcc: attacker@evil.example", "Eve\nX: y", "Eve\x00\x0b\x85"])
def test_compose_never_puts_a_line_break_in_a_header(bad: str) -> None:
    parsed = _parsed(bad, title=f"Study {bad}")
    assert parsed["Bcc"] is None and parsed["X"] is None
    assert len(parsed["To"].addresses) == 1 and parsed["To"].addresses[0].addr_spec == "victim@example.org"
    for header in ("To", "Subject"):
        assert not any(ch in str(parsed[header]) for ch in "\r\n\x00\x0b\x85")


def test_compose_refuses_an_address_that_is_not_one() -> None:
    from elicit.studio.mail import MailError

    with pytest.raises(MailError):
        compose(_letter("Eve", "victim@example.org, attacker@evil.example"), SENDER)


def _upload(client: FlaskClient, roster: str, delivery: str = "links"):
    return client.post(
        f"/studio/studies/{SLUG}/roster",
        data={
            "file": (io.BytesIO(roster.encode()), "roster.csv"),
            "delivery": delivery,
            "csrf_token": csrf(client, f"/studio/studies/{SLUG}/roster"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_roster_rows_with_control_characters_are_refused_line_by_line(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    from elicit.models import RosterEntry

    login(client, "researcher@example.org")
    roster = (
        "name,email,organisation,cohort\n"
        "Fine Person,fine@example.org,NDU,PK\n"
        '"Eve\r\nBcc: attacker@evil.example",eve@example.org,MoD,UK\n'
        "Tab\tName,tab@example.org,MoD,UK\n"
        'Org Person,org@example.org,"Org\rX",UK\n'
        "Mail Person,mail\x00@example.org,,UK\n"
        '"Victim <attacker@evil.example>, Real","victim@example.org, attacker@evil.example",,UK\n'
    )
    response = _upload(client, roster, "email")
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:3000]
    assert "the name contains a control character" in html
    assert "the organisation contains a control character" in html
    assert html.count("contains a control character") >= 4
    assert "is not an e-mail address" in html
    assert count_rows(app, RosterEntry) == 0


def test_parse_roster_names_each_bad_line(app: Flask, flagship_study: str) -> None:
    from elicit.db import db
    from elicit.studies import RosterError, find_study, parse_roster

    roster = (
        "name,email,organisation,cohort\n"
        "Fine Person,fine@example.org,NDU,PK\n"
        "Tab\tName,tab@example.org,MoD,UK\n"
        'Org Person,org@example.org,"Org\rX",UK\n'
        "Mail Person,mail\x00@example.org,,UK\n"
        'List Person,"a@example.org,b@example.org",,UK\n'
        "Jörg Person,jörg@example.de,,UK\n"
        "Quoted Person,o'brien@example.org,,UK\n"
    )
    with app.app_context(), pytest.raises(RosterError) as caught:
        parse_roster(roster, find_study(db.session, SLUG))
    problems = {(p.line, p.message) for p in caught.value.problems}
    # A record is numbered by the file line it ends on (the CR inside the quoted organisation ends a line).
    assert {line for line, _ in problems} == {3, 5, 6, 7, 8}, problems
    assert "line 3: the name contains a control character" in str(caught.value)
    assert "line 5: the organisation contains a control character" in str(caught.value)
    assert "line 6: the e-mail contains a control character" in str(caught.value)
    assert "line 7: 'a@example.org,b@example.org' is not an e-mail address" in str(caught.value)
    assert "line 8: jörg@example.de: letters outside ASCII before the @ cannot be e-mailed" in str(
        caught.value
    )


def test_a_roster_language_column_is_kept_and_checked_against_the_instrument(
    app: Flask, flagship_study: str
) -> None:
    """The optional ``language`` column names the language of the expert's e-mails: one of the instrument's."""
    from elicit.db import db
    from elicit.studies import RosterError, find_study, parse_roster

    good = "name,email,organisation,cohort,language\nA Person,a@example.org,NDU,PK,ur\nB Person,b@example.org,MoD,UK,\n"
    with app.app_context():
        study = find_study(db.session, SLUG)
        rows = parse_roster(good, study)
        assert [row.language for row in rows] == ["ur", None]
        with pytest.raises(RosterError) as caught:
            parse_roster("name,email,organisation,cohort,language\nC Person,c@example.org,NDU,PK,fr\n", study)
    assert "line 2: unknown language 'fr' (the instrument has: en, ur)" in str(caught.value)


def test_a_study_title_with_a_line_break_is_refused_in_the_settings(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    from elicit.db import db
    from elicit.studies import find_study

    login(client, "researcher@example.org")
    page = f"/studio/studies/{SLUG}/settings"
    response = client.post(
        page,
        data={
            "title": "Drones\r\nBcc: attacker@evil.example",
            "status": "open",
            "csrf_token": csrf(client, page),
        },
    )
    assert response.status_code == 422
    assert "line break or another control character" in response.get_data(as_text=True)
    with app.app_context():
        assert "\n" not in find_study(db.session, SLUG).title


def test_a_study_title_with_a_line_break_is_refused_when_created(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    from elicit.models import Study

    login(client, "researcher@example.org")
    page = "/studio/studies/new"
    html = client.get(page).get_data(as_text=True)
    import re

    version = re.search(r'<option[^>]*value="([^"]+@[^"]+)"', html)
    assert version, html[:2000]
    response = client.post(
        page,
        data={
            "slug": "dd-title",
            "title": "Drones\nBcc: x@evil.example",
            "version": version.group(1),
            "cohorts": ["UK"],
            "status": "open",
            "csrf_token": csrf(client, page),
        },
    )
    assert response.status_code == 422
    assert "line break or another control character" in response.get_data(as_text=True)
    assert count_rows(app, Study) == 1


def test_cli_refuses_a_title_with_a_line_break(app: Flask, flagship_study: str) -> None:
    from elicit.models import Study

    result = app.test_cli_runner().invoke(
        args=["study", "create", "dd-cli", "--instrument", _ref(app), "--cohort", "UK", "--title", "A\nB"]
    )
    assert result.exit_code == 1, result.output
    assert "elicit: error:" in result.output and "control character" in result.output
    assert count_rows(app, Study) == 1


def _ref(app: Flask) -> str:
    from elicit.db import db
    from elicit.studio.instruments import published

    with app.app_context():
        return published(db.session)[0].ref


def test_reminding_a_study_whose_title_has_a_line_break_is_no_500(
    app: Flask, client: FlaskClient, people: People, flagship_study: str, outbox: Path
) -> None:
    """A title stored before titles were checked must still e-mail (compose keeps the header on one line)."""
    from elicit.db import db
    from elicit.studies import find_study

    login(client, "researcher@example.org")
    assert _upload(client, "name,email,organisation,cohort\nTom,tom@example.org,,UK\n").status_code == 200
    with app.app_context():
        find_study(db.session, SLUG).title = "Old\r\ntitle"
        db.session.commit()
    page = f"/studio/studies/{SLUG}/invitations"
    response = client.post(
        f"{page}/remind", data={"cohort": "", "in_progress": "y", "csrf_token": csrf(client, page)}
    )
    assert response.status_code in (200, 302, 303), response.get_data(as_text=True)[:2000]
    files = list((outbox / SLUG).glob("*.eml"))
    assert files
    parsed = BytesParser(policy=default_policy).parsebytes(files[0].read_bytes())
    assert str(parsed["Subject"]) == "Reminder: Old title"
