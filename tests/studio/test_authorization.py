"""The authorization matrix: every studio route (from the app's URL map) for every kind of user.

A new studio route or method without a row in EXPECTED fails ``test_every_studio_route_is_in_the_matrix``, so
nothing can be added without deciding who may use it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import FLAGSHIP
from tests.studio.conftest import SLUG, People, issue, sign_in_directly

ROLES = ("anonymous", "viewer", "outsider", "member", "admin")  # outsider: a researcher who is not a member
L = "login"  # 302 to the sign-in page
OK = "ok"  # allowed: 200 for a GET; for a POST anything but the refusals (it may still be a form error)
OUT = "signed out"  # 302 to the sign-in page, and the session is over
F, N = 403, 404

EVERYONE_SIGNED_IN = (L, OK, OK, OK, OK)
ADMIN_ONLY = (L, F, F, F, OK)
WRITERS = (L, F, OK, OK, OK)  # researchers and admins, member or not (instruments, new studies)
STUDY_READ = (L, OK, N, OK, OK)
STUDY_MANAGE = (L, F, N, OK, OK)

EXPECTED: dict[tuple[str, str], tuple[object, ...]] = {
    ("studio.login", "GET"): (200, 302, 302, 302, 302),
    ("studio.login_post", "POST"): (422, 422, 422, 422, 422),
    ("studio.logout", "POST"): (L, OUT, OUT, OUT, OUT),
    ("studio.account", "GET"): EVERYONE_SIGNED_IN,
    ("studio.account_password", "POST"): EVERYONE_SIGNED_IN,
    # Two-factor sign-in. The second step of signing in needs a right password in this browser first (401 here);
    # the matrix's admin has a second factor already (setting up again leads to the account page, and an admin
    # may not turn it off); the others have none (confirming or turning off: 409, nothing to do).
    ("studio.login_code", "POST"): (401, 401, 401, 401, 401),
    ("studio.twofactor_setup", "GET"): (L, OK, OK, OK, 302),
    ("studio.twofactor_start", "POST"): EVERYONE_SIGNED_IN,
    ("studio.twofactor_confirm", "POST"): EVERYONE_SIGNED_IN,
    ("studio.twofactor_continue", "POST"): EVERYONE_SIGNED_IN,
    ("studio.twofactor_recovery_codes", "POST"): EVERYONE_SIGNED_IN,
    ("studio.twofactor_disable", "POST"): (L, OK, OK, OK, F),
    ("studio.user_twofactor_reset_confirm", "GET"): ADMIN_ONLY,
    ("studio.user_twofactor_reset", "POST"): ADMIN_ONLY,
    # Passkeys. Adding one is the account's own business (an account without the app is sent back to its
    # account page); the matrix's passkey is the member's, so only the member may remove it (404 for the rest).
    ("studio.login_passkey", "POST"): (401, 401, 401, 401, 401),
    ("studio.passkey_new_again", "GET"): (L, 302, 302, 302, 302),
    ("studio.passkey_new", "POST"): EVERYONE_SIGNED_IN,
    ("studio.passkey_add", "POST"): EVERYONE_SIGNED_IN,
    ("studio.passkey_remove_confirm", "GET"): (L, N, N, OK, N),
    ("studio.passkey_remove", "POST"): (L, N, N, OK, N),
    ("studio.index", "GET"): EVERYONE_SIGNED_IN,
    ("studio.instruments", "GET"): EVERYONE_SIGNED_IN,
    ("studio.instrument_version", "GET"): EVERYONE_SIGNED_IN,
    ("studio.instrument_preview", "GET"): EVERYONE_SIGNED_IN,
    ("studio.instrument_diff", "GET"): EVERYONE_SIGNED_IN,
    ("studio.instrument_upload", "GET"): WRITERS,
    ("studio.instrument_check", "POST"): WRITERS,
    ("studio.instrument_draft", "GET"): WRITERS,
    ("studio.instrument_draft_source", "GET"): WRITERS,
    ("studio.instrument_draft_preview", "GET"): WRITERS,
    ("studio.instrument_draft_publish", "POST"): WRITERS,
    ("studio.instrument_draft_discard_confirm", "GET"): WRITERS,
    ("studio.instrument_draft_discard", "POST"): WRITERS,
    ("studio.study_new", "GET"): WRITERS,
    ("studio.study_create", "POST"): WRITERS,
    ("studio.study", "GET"): STUDY_READ,
    ("studio.roster", "GET"): STUDY_READ,
    ("studio.invitations", "GET"): STUDY_READ,
    ("studio.rounds", "GET"): STUDY_READ,
    ("studio.round_open", "POST"): STUDY_MANAGE,
    ("studio.round_close_confirm", "GET"): STUDY_MANAGE,
    ("studio.round_close", "POST"): STUDY_MANAGE,
    # No discussion is open in the matrix's study: those who may close one are told so (409).
    ("studio.discussion_close_confirm", "GET"): (L, F, N, 409, 409),
    ("studio.discussion_open", "POST"): STUDY_MANAGE,
    ("studio.discussion_close", "POST"): STUDY_MANAGE,
    ("studio.realization_set", "POST"): STUDY_MANAGE,
    ("studio.consensus_rule", "POST"): STUDY_MANAGE,
    ("studio.study_settings", "GET"): STUDY_MANAGE,
    ("studio.study_settings_post", "POST"): STUDY_MANAGE,
    ("studio.cohort_add", "POST"): STUDY_MANAGE,
    ("studio.export", "POST"): STUDY_MANAGE,
    ("studio.roster_upload", "POST"): STUDY_MANAGE,
    ("studio.invitations_generate", "POST"): STUDY_MANAGE,
    ("studio.invitations_remind", "POST"): STUDY_MANAGE,
    ("studio.invitation_revoke_confirm", "GET"): STUDY_MANAGE,
    ("studio.invitation_revoke", "POST"): STUDY_MANAGE,
    ("studio.invitation_reissue_confirm", "GET"): STUDY_MANAGE,
    ("studio.invitation_reissue", "POST"): STUDY_MANAGE,
    # The submission of links is the member's (matrix_setup makes it): only its maker may open it, so the admin
    # gets 404 too.
    ("studio.links_made", "GET"): (L, F, N, OK, N),
    ("studio.mail_job", "GET"): STUDY_READ,
    ("studio.mail_job_record", "GET"): STUDY_READ,
    ("studio.mail_job_send", "POST"): STUDY_MANAGE,
    ("studio.mail_job_links", "POST"): STUDY_MANAGE,
    # Retention, erasure and subject access (elicit.lifecycle). The matrix's study is open: purging it is refused
    # (409) to those who may purge, who are told to close it first.
    ("studio.study_purge_confirm", "GET"): (L, F, N, 409, 409),
    ("studio.study_purge", "POST"): STUDY_MANAGE,
    ("studio.roster_erase_confirm", "GET"): STUDY_MANAGE,
    ("studio.roster_erase", "POST"): STUDY_MANAGE,
    ("studio.roster_subject_access", "GET"): STUDY_MANAGE,
    ("studio.outbox", "GET"): STUDY_MANAGE,
    ("studio.outbox_message", "GET"): STUDY_MANAGE,
    ("studio.users", "GET"): ADMIN_ONLY,
    ("studio.user_add", "POST"): ADMIN_ONLY,
    ("studio.user", "GET"): ADMIN_ONLY,
    ("studio.user_update", "POST"): ADMIN_ONLY,
    ("studio.user_unlock", "POST"): ADMIN_ONLY,
    ("studio.user_password", "POST"): ADMIN_ONLY,
    ("studio.membership_add", "POST"): ADMIN_ONLY,
    ("studio.membership_remove_confirm", "GET"): ADMIN_ONLY,
    ("studio.membership_remove", "POST"): ADMIN_ONLY,
    ("studio.audit_events", "GET"): ADMIN_ONLY,
    ("studio.audit_csv", "GET"): ADMIN_ONLY,
}


PREVIEWS = {"studio.instrument_preview", "studio.instrument_draft_preview"}
FLAGSHIP_DRAFT = FLAGSHIP.parent / "1.1.0.yaml"  # a draft of the next version of the published flagship


def studio_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every studio route and method, from the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("studio."):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((rule.endpoint, method, rule.rule))
    return sorted(routes)


def _preview_available() -> bool:
    try:
        from elicit.survey.rendering import render_preview  # noqa: F401
    except ImportError:
        return False
    return True


def _url_values(
    app: Flask, people: People, outbox_name: str, invitation_id: int, job_id: int, submission_id: int
) -> dict[str, object]:
    return {
        "job_id": job_id,
        "submission_id": submission_id,
        "slug": SLUG,
        "key": "defence-diplomacy",
        "version": "1.0.0",
        "language": "ur",
        "invitation_id": invitation_id,
        "user_id": people.viewer,
        "name": outbox_name,
    }


@pytest.fixture
def matrix_setup(app: Flask, people: People, flagship_study: str) -> dict[str, object]:
    from email.message import EmailMessage

    from elicit.studio.mail import Outbox

    folder = Path(app.config["OUTBOX_PATH"]) / SLUG
    message = EmailMessage()
    message["To"] = "someone@example.org"
    message["Subject"] = "Invitation"
    message.set_content("hello")
    Outbox(folder).send(message)
    name = next(folder.glob("*.eml")).name
    issue(app, SLUG, "UK", 1)
    from sqlalchemy import select

    from elicit.db import db
    from elicit.instruments.loading import load_file
    from elicit.models import Invitation, MailKind, Study
    from elicit.studio.instruments import save_draft
    from elicit.studio.invitations import claim_submission
    from elicit.studio.mailjobs import create_job

    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id).order_by(Invitation.id))
        study = db.session.scalar(select(Study).where(Study.slug == SLUG))
        job_id = create_job(db.session, study, MailKind.INVITE, "nothing", "admin@example.org", []).id
        submission = claim_submission(db.session, study, people.researcher, "matrix")
        assert submission is not None
        submission_id = submission.id
        save_draft(db.session, load_file(FLAGSHIP_DRAFT), FLAGSHIP_DRAFT.read_text(), "draft.yaml", "test")
        from elicit.studies import import_roster, parse_roster

        roster = "name,email,organisation,cohort\nMatrix Person,matrix.person@example.org,,UK\n"
        entry_id = import_roster(db.session, study, parse_roster(roster, study))[0].roster_entry.id
        from elicit.models import Passkey

        passkey = Passkey(
            user_id=people.researcher, credential_id=b"matrix", public_key=b"key", name="Matrix"
        )
        db.session.add(passkey)
        db.session.commit()
        passkey_id = passkey.id
    assert invitation_id is not None
    values = _url_values(app, people, name, invitation_id, job_id, submission_id)
    return {**values, "entry_id": entry_id, "passkey_id": passkey_id}


def test_every_studio_route_is_in_the_matrix(app: Flask) -> None:
    found = {(endpoint, method) for endpoint, method, _rule in studio_routes(app)}
    missing = sorted(found - set(EXPECTED))
    stale = sorted(set(EXPECTED) - found)
    assert not missing, f"studio routes without an authorization expectation: {missing}"
    assert not stale, f"expectations for routes that no longer exist: {stale}"


def test_authorization_matrix(app: Flask, people: People, matrix_setup: dict[str, object]) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    users = {
        "viewer": people.viewer,
        "outsider": people.outsider,
        "member": people.researcher,
        "admin": people.admin,
    }
    preview_ok = 200 if _preview_available() else 503
    failures = []
    with app.test_request_context():
        from flask import url_for

        urls = {
            (endpoint, method): url_for(
                endpoint, **{k: v for k, v in matrix_setup.items() if f"<{k}>" in rule or f":{k}>" in rule}
            )
            for endpoint, method, rule in studio_routes(app)
        }
    for position, role in enumerate(ROLES):
        client = app.test_client()
        for (endpoint, method), url in sorted(urls.items()):
            expected = EXPECTED[(endpoint, method)][position]
            if role != "anonymous":
                sign_in_directly(app, client, users[role])
            else:
                client.delete_cookie("session")
            response = client.open(url, method=method, data={})
            status, location = response.status_code, response.headers.get("Location", "")
            if expected == OUT:
                good = status == 302 and "You are signed out." in client.get(location).get_data(as_text=True)
                good = good and client.get("/studio/account").status_code == 302
            elif expected == L:
                good = status == 302 and location.startswith("/studio/login")
            elif expected == OK and method == "GET":
                good = status == (preview_ok if endpoint in PREVIEWS else 200)
            elif expected == OK:
                refused = status in (401, 403, 404) or (
                    status == 302 and location.startswith("/studio/login")
                )
                good = not refused and status < 500
            else:
                good = status == expected
            if not good:
                failures.append(f"{role:9} {method:4} {url}: expected {expected}, got {status} {location}")
    assert not failures, "\n".join(failures)


def test_every_post_without_csrf_token_is_refused(
    app: Flask, people: People, matrix_setup: dict[str, object]
) -> None:
    client = app.test_client()
    failures = []
    with app.test_request_context():
        from flask import url_for

        posts = [
            url_for(
                endpoint, **{k: v for k, v in matrix_setup.items() if f"<{k}>" in rule or f":{k}>" in rule}
            )
            for endpoint, method, rule in studio_routes(app)
            if method == "POST"
        ]
    assert len(posts) >= 20
    for url in posts:
        sign_in_directly(app, client, people.admin)
        response = client.post(url, data={"email": "admin@example.org", "format": "csv"})
        if response.status_code != 400:
            failures.append(f"POST {url}: {response.status_code}")
    assert not failures, "accepted without a CSRF token:\n" + "\n".join(failures)
