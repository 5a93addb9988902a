"""A study's e-mails in its team's words and its experts' languages (issue 17: "The invitation e-mail is fixed
English text from no-reply@localhost.localdomain").

The wording is a subject and a text per kind (invitation, reminder) and language, with placeholders filled by
plain substitution; a wording with an unknown placeholder, no ``{link}`` or a ``{link}`` not on its own line is
refused with a sentence (422, nothing saved). Messages come From the server's address under the team's name,
with Reply-To the team; every value a researcher typed still stays out of the headers it does not belong in.
"""

from __future__ import annotations

import io
import re
from datetime import date
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.models import AuditEvent, Invitation, InvitationTemplate, MailKind, RosterEntry, Study
from elicit.studio import letters
from elicit.studio.mail import SAMPLE_LINK, Letter, compose
from elicit.tokens import looks_like_token
from tests.studio.conftest import SLUG, People, count_rows, csrf, login, post

TEAM = "UK–Pakistan Defence Diplomacy team"
EMAIL = "dd-team@example.ac.uk"
CONTACT = "Dr Ayesha Khan, NDU Islamabad\n+92 51 000 0000"
URL = "http://elicit.test/s/" + "a" * 32
SETTINGS = f"/studio/studies/{SLUG}/settings"
LRM = "\u200e"
UR_SUBJECT = "دعوت: {study}"
UR_BODY = "محترم {name}،\n\nیہ آپ کا لنک ہے:\n\n{link}\n\n{team}\n{contact}"


def parsed(message: EmailMessage) -> EmailMessage:
    result = BytesParser(policy=policy.default).parsebytes(bytes(message))
    assert isinstance(result, EmailMessage)
    return result


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def letter(**changes: object) -> Letter:
    fields: dict[str, object] = {
        "to_name": "Tom Hardy",
        "to_address": "tom@example.org",
        "study_title": "Drones",
        "url": URL,
        "closes_on": date(2026, 12, 31),
        "reminder": False,
        "team": letters.Team(TEAM, EMAIL, CONTACT),
    }
    fields.update(changes)
    return Letter(**fields)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- the wording
@pytest.mark.parametrize("language", ["en", "ur"])
@pytest.mark.parametrize("kind", list(MailKind))
@pytest.mark.parametrize("anonymous", [False, True])
def test_the_built_in_wording_passes_its_own_checks(kind: MailKind, language: str, anonymous: bool) -> None:
    wording = letters.built_in(kind, language, anonymous=anonymous)
    assert letters.is_valid(wording)


@pytest.mark.parametrize(
    ("subject", "body", "problem"),
    [
        ("Invitation: {studdy}", "{link}", "Unknown placeholder {studdy} in the subject"),
        ("Hello", "Dear {name.__class__},\n{link}", "Unknown placeholder {name.__class__} in the text"),
        ("Hello", "Dear {0},\n{link}", "Unknown placeholder {0}"),
        ("Hello", "Dear {name!r},\n{link}", "Write the placeholder as {name}"),
        ("Hello", "Dear {name:>40},\n{link}", "Write the placeholder as {name}"),
        ("Hello", "Dear {name},\nno link here", "The text must contain {link}"),
        ("Hello", "Open {link} now", "Put {link} on a line of its own"),
        ("Your link {link}", "{link}", "The subject cannot hold {link}"),
        ("Hello {", "{link}", "does not belong to a placeholder"),
        ("Hello", "Dear {name,\n{link}", "does not belong to a placeholder"),
        ("Hello\r\nBcc: x@evil.example", "{link}", "The subject must be one line"),
        ("Hello", "{link}\n\x00", "control character other than a line break"),
        ("", "{link}", "The subject is empty."),
    ],
)
def test_a_wrong_wording_is_named_in_a_sentence(subject: str, body: str, problem: str) -> None:
    problems = letters.check(subject, subject=True) + letters.check(letters.normalise(body), subject=False)
    assert any(problem in p for p in problems), problems


def test_placeholders_are_text_only_and_empty_ones_take_their_line() -> None:
    values = {"name": "{link}", "link": URL, "study": "S", "team": "T", "contact": "", "closes_on": ""}
    filled = letters.fill(
        "Dear {name}, {{braces}}\n\n\n\n{link}\nCloses on {closes_on}.\n{contact}\nBye", values
    )
    assert filled == f"Dear {{link}}, {{braces}}\n\n{URL}\nBye"  # a value is never read as a placeholder


def test_the_urdu_message_keeps_the_link_title_and_contact_on_lines_of_their_own() -> None:
    """...and a Latin or numeric value between left-to-right marks, so "+92 51 000 0000" does not come out as
    "0000 000 51 92+" in right-to-left text; the link and the address are left bare (a mark could enter them)."""
    message = parsed(compose(letter(language="ur", study_title="Drones?"), "Elicit <no-reply@elicit.test>"))
    lines = text_of(message).splitlines()
    for bare in (URL, EMAIL):
        assert bare in lines, f"{bare!r} is not on a line of its own"
    for latin in ("Drones?", TEAM, "+92 51 000 0000"):
        assert f"{LRM}{latin}{LRM}" in lines, f"{latin!r} is not on a line of its own, in its order"
    assert lines[0] == f"محترم/محترمہ {LRM}Tom Hardy{LRM}،"
    assert "یہ مطالعہ 31 دسمبر 2026 کو بند ہو جائے گا۔" in lines
    assert str(message["Subject"]) == f"دعوت نامہ: {LRM}Drones?{LRM}"
    assert message["Content-Language"] == "ur"
    english = text_of(parsed(compose(letter(), "x@y.test")))
    assert LRM not in english and "+92 51 000 0000" in english.splitlines()


# ------------------------------------------------------------------------------------------------ the sender
def test_the_team_is_the_sender_s_name_and_the_reply_to_address() -> None:
    message = parsed(compose(letter(), "Elicit <no-reply@elicit.test>"))
    assert message["From"].addresses == (Address(TEAM, addr_spec="no-reply@elicit.test"),)
    assert message["Reply-To"].addresses == (Address(TEAM, addr_spec=EMAIL),)
    body = text_of(message)
    assert f"With thanks,\n{TEAM}\n{EMAIL}\nDr Ayesha Khan, NDU Islamabad\n+92 51 000 0000" in body
    bare = parsed(compose(letter(team=letters.Team()), "Elicit <no-reply@elicit.test>"))
    assert bare["From"].addresses == (Address("Elicit", addr_spec="no-reply@elicit.test"),)
    assert bare["Reply-To"] is None and "With thanks,\nThe study team\n" in text_of(bare) + "\n"


@pytest.mark.parametrize("bad", ["Team\r\nBcc: attacker@evil.example", "Team <attacker@evil.example>, Real"])
def test_a_team_name_cannot_add_a_header_or_a_recipient(bad: str) -> None:
    message = parsed(
        compose(letter(team=letters.Team(bad, EMAIL, "line\r\nBcc: x@evil.example")), "x@y.test")
    )
    assert message["Bcc"] is None
    assert [a.addr_spec for a in message["From"].addresses] == ["x@y.test"]
    assert [a.addr_spec for a in message["Reply-To"].addresses] == [EMAIL]
    assert [a.addr_spec for a in message["To"].addresses] == ["tom@example.org"]


def test_a_bad_team_address_stops_with_a_sentence() -> None:
    from elicit.studio.mail import MailError

    with pytest.raises(MailError, match="correct it in the study's settings"):
        compose(letter(team=letters.Team(TEAM, "team@example.org, attacker@evil.example")), "x@y.test")


# ------------------------------------------------------------------------------------------------ the studio
def _team(client: FlaskClient, **changes: str):
    data = {
        "title": "Drones",
        "status": "open",
        "team_name": TEAM,
        "team_email": EMAIL,
        "team_contact": CONTACT,
    }
    data.update(changes)
    return client.post(SETTINGS, data={**data, "csrf_token": csrf(client, SETTINGS)})


def _wording(client: FlaskClient, button: str = "save", **fields: str):
    data = {**fields, "form": "wording", button: "y", "csrf_token": csrf(client, SETTINGS)}
    return client.post(SETTINGS, data=data)


def test_the_settings_keep_the_team_and_refuse_a_bad_address(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    refused = _team(client, team_email="team@example.org, attacker@evil.example")
    assert refused.status_code == 422 and "is not one e-mail address" in refused.text
    refused = _team(client, team_name="Team\r\nBcc: x@evil.example")
    assert refused.status_code == 422 and "line break" in refused.text
    with app.app_context():
        assert db.session.scalar(select(Study.team_email)) == ""
    assert _team(client).status_code == 302
    with app.app_context():
        study = db.session.scalar(select(Study))
        assert study is not None
        assert (study.team_name, study.team_email, study.team_contact) == (TEAM, EMAIL, CONTACT)
        changed = db.session.scalars(
            select(AuditEvent.details_json).where(AuditEvent.action == "study.update")
        )
        assert "team_email" in next(iter(changed))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"invite_ur_subject": "دعوت {stuff}", "invite_ur_body": UR_BODY}, "Unknown placeholder {stuff}"),
        ({"invite_ur_subject": UR_SUBJECT, "invite_ur_body": "محترم {name}"}, "The text must contain {link}"),
        ({"invite_en_subject": "Hi {link}", "invite_en_body": "{link}"}, "The subject cannot hold {link}"),
        ({"remind_en_subject": "Reminder", "remind_en_body": "Go to {link} now"}, "on a line of its own"),
    ],
)
def test_a_wrong_wording_is_refused_and_nothing_is_saved(
    app: Flask, client: FlaskClient, people: People, flagship_study: str, fields: dict[str, str], problem: str
) -> None:
    login(client, "researcher@example.org")
    good = {"invite_en_subject": "Please answer: {study}", "invite_en_body": "Dear {name},\n\n{link}\n"}
    response = _wording(client, **{**good, **fields})
    assert response.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', response.text, re.S)
    assert summary is not None and problem in summary.group(0)
    assert count_rows(app, InvitationTemplate) == 0


def test_the_preview_shows_each_language_with_a_sample_link_and_saves_nothing(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    _team(client)
    page = client.get(SETTINGS)
    assert page.status_code == 200
    previews = re.findall(
        r'<pre class="message-body" lang="(\w+)" dir="(\w+)"[^>]*>(.*?)</pre>', page.text, re.S
    )
    assert [(lang, direction) for lang, direction, _ in previews] == [
        ("en", "ltr"),
        ("en", "ltr"),
        ("ur", "rtl"),
        ("ur", "rtl"),
    ]
    assert all(f"http://elicit.test/s/{SAMPLE_LINK}\n" in body for _, _, body in previews)
    assert not looks_like_token(SAMPLE_LINK) and count_rows(app, Invitation) == 0
    assert "Invitation: Drones" in page.text and f"دعوت نامہ: {LRM}Drones{LRM}" in page.text
    assert f"{TEAM} &lt;dd-team@example.ac.uk&gt;" in page.text  # Reply-To
    body_field = re.search(r'<textarea[^>]*id="invite_ur_body"[^>]*>', page.text)
    assert (
        body_field is not None and 'dir="rtl"' in body_field.group(0) and 'lang="ur"' in body_field.group(0)
    )

    shown = _wording(client, "preview", invite_ur_subject=UR_SUBJECT, invite_ur_body=UR_BODY)
    assert shown.status_code == 200 and "not saved yet" in shown.text
    assert f"دعوت: {LRM}Drones{LRM}" in shown.text and "محترم عائشہ خان،" in shown.text
    assert count_rows(app, InvitationTemplate) == 0


def test_saved_wording_goes_to_each_expert_in_their_language(
    app: Flask, client: FlaskClient, people: People, flagship_study: str, outbox: Path
) -> None:
    """Two roster experts, one in Urdu: the reminder is the study's Urdu wording for one, the English for the
    other, From the team and Reply-To its address."""
    login(client, "researcher@example.org")
    _team(client)
    saved = _wording(
        client,
        invite_en_subject="Invitation: {study}",
        invite_en_body=letters.normalise(letters.built_in(MailKind.INVITE, "en").body),
        remind_ur_subject="یاد دہانی: {study}",
        remind_ur_body=UR_BODY,
        remind_en_subject="Please answer {study} by {closes_on}",
        remind_en_body="Dear {name},\r\n\r\n{link}\r\n\r\nThe {team}",
    )
    assert saved.status_code == 302
    with app.app_context():
        rows = {(r.kind, r.language) for r in db.session.scalars(select(InvitationTemplate))}
        assert rows == {(MailKind.REMIND, "ur"), (MailKind.REMIND, "en")}  # the built-in one is not stored
        action = db.session.scalar(
            select(AuditEvent.details_json).where(AuditEvent.action == "study.wording")
        )
        assert action is not None and "remind/ur" in action
    roster = (
        "name,email,organisation,cohort\nTom Hardy,tom@example.org,,UK\nAyesha Khan,ayesha@example.org,,PK\n"
    )
    upload = client.post(
        f"/studio/studies/{SLUG}/roster",
        data={
            "file": (io.BytesIO(roster.encode()), "roster.csv"),
            "delivery": "links",
            "csrf_token": csrf(client, f"/studio/studies/{SLUG}/roster"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code in (200, 302, 303)
    with app.app_context():
        entry = db.session.scalar(select(RosterEntry).where(RosterEntry.email == "ayesha@example.org"))
        assert entry is not None
        entry.language = "ur"  # what a roster's language column stores
        db.session.commit()
    response = post(
        client, f"/studio/studies/{SLUG}/invitations/remind", {"cohort": ""}, follow_redirects=True
    )
    assert response.status_code == 200
    messages = {}
    for path in (outbox / SLUG).glob("*.eml"):
        message = BytesParser(policy=policy.default).parse(path.open("rb"))
        messages[message["To"].addresses[0].addr_spec] = message
    urdu, english = messages["ayesha@example.org"], messages["tom@example.org"]
    assert str(urdu["Subject"]).strip() == f"یاد دہانی: {LRM}{_title(app)}{LRM}"
    assert text_of(urdu).startswith(
        f"محترم {LRM}Ayesha Khan{LRM}،\n\nیہ آپ کا لنک ہے:\n\nhttp://elicit.test/s/"
    )
    assert str(english["Subject"]).strip() == f"Please answer {_title(app)} by"  # no closing date: left empty
    assert text_of(english).rstrip().endswith(f"The {TEAM}")
    for message in (urdu, english):
        assert message["From"].addresses == (Address(TEAM, addr_spec="no-reply@elicit.test"),)
        assert message["Reply-To"].addresses[0].addr_spec == EMAIL

    # emptying a wording goes back to the built-in one
    assert _wording(client, remind_ur_subject="", remind_ur_body="").status_code == 302
    with app.app_context():
        assert {r.language for r in db.session.scalars(select(InvitationTemplate))} == {"en"}


def test_a_pseudonymous_reminder_is_in_the_language_the_expert_answered_in(
    app: Flask, people: People, flagship_study: str, outbox: Path
) -> None:
    """No roster language: the expert who started in Urdu is reminded in Urdu, the other in the instrument's
    first language (an anonymous study could not tell, and never looks)."""
    from elicit.models import Anonymity
    from elicit.responding import flow
    from elicit.studies import find_study, import_roster, parse_roster
    from elicit.studio import mailjobs

    roster = (
        "name,email,organisation,cohort\nTom Hardy,tom@example.org,,UK\nAyesha Khan,ayesha@example.org,,PK\n"
    )
    with app.app_context():
        study = find_study(db.session, SLUG)
        study.anonymity = Anonymity.PSEUDONYMOUS
        links = import_roster(db.session, study, parse_roster(roster, study))
        db.session.commit()
        urdu = next(link for link in links if link.roster_entry and link.roster_entry.name == "Ayesha Khan")
        flow.start(
            db.session, flow.open_by_token(db.session, urdu.token, secret=app.config["SECRET_KEY"]), "ur"
        )
        db.session.commit()
        job = mailjobs.create_job(
            db.session, study, MailKind.REMIND, "reminders", "test", [link.invitation for link in links]
        )
        db.session.commit()
        result = mailjobs.run(db.session, study, job, app.config, app.instance_path)
        assert result.sent == 2, result
    subjects = {}
    for path in (outbox / SLUG).glob("*.eml"):
        message = BytesParser(policy=policy.default).parse(path.open("rb"))
        subjects[message["To"].addresses[0].addr_spec] = str(message["Subject"]).strip()
    assert subjects["ayesha@example.org"].startswith("یاد دہانی: ")
    assert subjects["tom@example.org"].startswith("Reminder: ")


def _title(app: Flask) -> str:
    with app.app_context():
        return str(db.session.scalar(select(Study.title)))


def test_the_command_line_previews_and_sends_the_same_wording(
    app: Flask, people: People, flagship_study: str, outbox: Path, tmp_path: Path
) -> None:
    with app.app_context():
        study = db.session.scalar(select(Study))
        assert study is not None
        study.team_name, study.team_email = TEAM, EMAIL
        letters.save(
            db.session,
            study,
            MailKind.INVITE,
            "en",
            letters.Wording("From the team: {study}", "Hello {name},\n\n{link}\n\n{team}"),
            "test",
        )
        db.session.commit()
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["mail", "preview", SLUG, "--language", "ur", "--reminder"])
    assert shown.exit_code == 0, shown.output
    assert "Subject: یاد دہانی:" in shown.output and f"Reply-To: {TEAM} <{EMAIL}>" in shown.output
    assert SAMPLE_LINK in shown.output
    wrong = runner.invoke(args=["mail", "preview", SLUG, "--language", "fr"])
    assert wrong.exit_code == 1 and "elicit: error: study dd-studio is in en, ur" in wrong.output
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email,organisation,cohort\nTom Hardy,tom@example.org,,UK\n", encoding="utf-8")
    sent = runner.invoke(args=["mail", "send", SLUG, "--roster", str(roster)])
    assert sent.exit_code == 0, sent.output
    (path,) = (outbox / SLUG).glob("*.eml")
    message = BytesParser(policy=policy.default).parse(path.open("rb"))
    assert str(message["Subject"]).strip() == f"From the team: {_title(app)}"
    assert text_of(message).startswith("Hello Tom Hardy,\n\nhttp://elicit.test/s/eli_")


def test_the_demo_study_has_a_team(app: Flask, tmp_path: Path) -> None:
    from elicit.demo import DEMO_SLUG, DEMO_TEAM, ensure_demo

    with app.app_context():
        ensure_demo(db.session, app.config, tmp_path, responses=0, links=0)
        study = db.session.scalar(select(Study).where(Study.slug == DEMO_SLUG))
        assert study is not None and (study.team_name, study.team_email, study.team_contact) == DEMO_TEAM


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_wording_and_its_previews_fit_a_phone_and_a_desktop(
    app: Flask,
    people: People,
    flagship_study: str,
    browser: object,
    live_server: str,
    axe_source: str,
    database_url: str,
) -> None:
    from tests.conftest import ARTIFACTS, axe_violations
    from tests.studio.conftest import PASSWORD
    from tests.survey.test_new_item_types import assert_fits

    with app.app_context():
        study = db.session.scalar(select(Study))
        assert study is not None
        study.team_name, study.team_email, study.team_contact = TEAM, EMAIL, CONTACT
        study.closes_on = date(2026, 12, 31)
        db.session.commit()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, javascript in ((360, True), (360, False), (1280, True)):
        context = browser.new_context(  # type: ignore[attr-defined]
            java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        tab = context.new_page()
        tab.goto(f"{live_server}/studio/login")
        tab.get_by_label("E-mail address").fill("researcher@example.org")
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_load_state()
        tab.goto(f"{live_server}{SETTINGS}")
        urdu = tab.locator('pre.message-body[lang="ur"]').first
        assert urdu.get_attribute("dir") == "rtl" and "عائشہ خان" in urdu.inner_text()
        assert tab.locator("#invite_ur_body").evaluate("el => getComputedStyle(el).direction") == "rtl"
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        js = "js" if javascript else "nojs"
        tab.screenshot(path=str(ARTIFACTS / f"studio-wording-{width}-{js}.png"), full_page=True)
        urdu.screenshot(path=str(ARTIFACTS / f"studio-wording-preview-ur-{width}-{js}.png"))
        context.close()
