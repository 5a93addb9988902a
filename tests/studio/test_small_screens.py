"""Every studio page fits a 360 px phone and a 1280 px screen, passes axe, and its destructive actions ask first.

The pages are not listed by hand: every GET route of the studio blueprint in the app's URL map is visited (with a
seeded study, a roster, a draft, an e-mail batch and an outbox message behind it), so a new page is checked too.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, FLAGSHIP, axe_violations
from tests.studio.conftest import PASSWORD, SLUG, People, admin_code, answer, issue
from tests.studio.test_authorization import studio_routes

pytestmark = pytest.mark.browser

WIDTHS = (360, 1280)
# GET routes that answer with a file to download, not a page.
DOWNLOADS = {
    "studio.audit_csv",
    "studio.mail_job_record",
    "studio.instrument_draft_source",
    "studio.roster_subject_access",
}
ROSTER = (
    "name,email,organisation,cohort\n"
    "Ayesha Khan,ayesha.khan.long.address@example.org,National Defence University,PK\n"
    "Tom Hardy,tom.hardy@example.org,Ministry of Defence,UK\n"
)

# Every element's box against the viewport; an element may reach beyond it only inside an explicit scroll
# container (overflow-x auto or scroll), which the reader can scroll.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => {
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  const bad = [];
  for (const el of document.body.querySelectorAll('*:not(.skip-link)')) {  // shown only when focused
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > width + 0.5 || r.left < -0.5) && !scrolls(el)) {
      bad.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')}`
        + ` [${Math.round(r.left)}..${Math.round(r.right)}] ${(el.textContent || '').trim().slice(0, 40)}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: width, bad: bad.slice(0, 8)};
}"""


def _seed(app: Flask, people: People) -> dict[str, object]:
    """A study with a roster, answered links, a draft, an e-mail batch and an outbox message; URL values."""
    from elicit import audit
    from elicit.db import db
    from elicit.instruments.loading import load_file
    from elicit.models import MailKind, Passkey
    from elicit.studies import find_study, import_roster, parse_roster
    from elicit.studio.instruments import save_draft
    from elicit.studio.invitations import claim_submission
    from elicit.studio.mail import Outbox
    from elicit.studio.mailjobs import create_job

    answer(app, issue(app, SLUG, "UK", 2)[0])
    folder = Path(app.config["OUTBOX_PATH"]) / SLUG
    message = EmailMessage()
    message["To"] = "tom.hardy@example.org"
    message["Subject"] = "Invitation to the defence diplomacy survey"
    message.set_content("Dear Tom Hardy,\n\nplease answer: http://elicit.test/s/" + "x" * 60 + "\n")
    Outbox(folder).send(message)
    draft_file = FLAGSHIP.parent / "1.1.0.yaml"
    with app.app_context():
        study = find_study(db.session, SLUG)
        links = import_roster(db.session, study, parse_roster(ROSTER, study))
        job = create_job(db.session, study, MailKind.INVITE, "roster invitations", "admin@example.org", [])
        submission = claim_submission(db.session, study, people.admin, "small-screens")
        assert submission is not None
        save_draft(
            db.session, load_file(draft_file), draft_file.read_text(), "1.1.0.yaml", "admin@example.org"
        )
        audit.record(
            db.session,
            "study.settings",
            "admin@example.org",
            study_id=study.id,
            target=SLUG,
            details={"title": "Defence diplomacy: a survey of UK and Pakistani practitioners " * 3},
        )
        passkey = Passkey(user_id=people.admin, credential_id=b"small", public_key=b"key", name="Work laptop")
        db.session.add(passkey)
        db.session.flush()
        invitation_id = links[0].invitation.id
        db.session.commit()
        values = {
            "slug": SLUG,
            "key": "defence-diplomacy",
            "version": "1.0.0",
            "language": "ur",
            "invitation_id": invitation_id,
            "user_id": people.researcher,
            "name": next(folder.glob("*.eml")).name,
            "job_id": job.id,
            "submission_id": submission.id,
            "entry_id": links[0].roster_entry.id if links[0].roster_entry else 0,
            "passkey_id": passkey.id,
        }
    return values


def _pages(app: Flask, values: dict[str, object]) -> list[tuple[str, str]]:
    """(endpoint, path) for every GET page of the studio blueprint, from the URL map."""
    pages = []
    with app.test_request_context():
        for endpoint, method, rule in studio_routes(app):
            if method != "GET" or endpoint in DOWNLOADS:
                continue
            wanted = {k: v for k, v in values.items() if f"<{k}>" in rule or f":{k}>" in rule}
            pages.append((endpoint, url_for(endpoint, **wanted)))
    return pages


def _sign_in(tab: Any, live_server: str, email: str, app: Flask) -> None:
    tab.goto(f"{live_server}/studio/login")
    tab.get_by_label("E-mail address").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    if email == "admin@example.org":  # administrators sign in with a second factor
        tab.get_by_label("Code").fill(admin_code(app, email))
        tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Studies")).to_be_visible()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_studio_page_fits_360_and_1280_px_and_passes_axe(
    app: Flask,
    live_server: str,
    browser: Any,
    axe_source: str,
    database_url: str,
    flagship_study: str,
    people: People,
) -> None:
    values = _seed(app, people)
    pages = _pages(app, values)
    assert len(pages) >= 25, pages  # the URL map, not a hand-made list
    ref = "defence-diplomacy@1.0.0"
    pages.append(("studio.instrument_diff", f"/studio/instruments/diff?old={ref}&new={ref}"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    problems: dict[str, object] = {}
    anonymous = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    visits = [(anonymous, "home", "/"), (anonymous, "studio.login", "/studio/login")]
    _sign_in(tab, live_server, "admin@example.org", app)
    visits += [(tab, endpoint, path) for endpoint, path in pages if endpoint != "studio.login"]
    for width in WIDTHS:
        for which, endpoint, path in visits:
            which.set_viewport_size({"width": width, "height": 800})
            response = which.goto(live_server + path)
            assert response is not None
            status = response.status
            if status >= 500 or status in (401, 403, 404) and endpoint != "studio.discussion_close_confirm":
                problems[f"{path} status"] = status
                continue
            fit = which.evaluate(OVERFLOW_JS)
            if fit["scrollWidth"] > fit["clientWidth"] or fit["bad"]:
                problems[f"{path} @{width}"] = fit
            found = axe_violations(which, axe_source)
            if found:
                problems[f"{path} @{width} axe"] = [(v["id"], v["help"], len(v["nodes"])) for v in found]
            name = endpoint.removeprefix("studio.").replace("_", "-")
            which.screenshot(path=str(ARTIFACTS / f"studio-{name}-{width}.png"), full_page=True)
    # the invitations' actions are on screen at 360 px, not in a part of a table one must scroll to
    tab.set_viewport_size({"width": 360, "height": 800})
    tab.goto(f"{live_server}/studio/studies/{SLUG}/invitations")
    actions = tab.get_by_role("link", name="Reissue and e-mail invitation")
    assert actions.count() == 2
    for index in range(actions.count()):
        box = actions.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    context.close()
    anonymous.context.close()
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_revoking_a_link_asks_first_without_javascript(
    app: Flask, live_server: str, browser: Any, database_url: str, flagship_study: str, people: People
) -> None:
    """Revoke is a link to a confirmation page; only its button revokes, and Cancel leaves the link working."""
    token = issue(app, SLUG, "UK", 1)[0]
    context = browser.new_context(viewport={"width": 360, "height": 800}, java_script_enabled=False)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    _sign_in(tab, live_server, "researcher@example.org", app)
    tab.goto(f"{live_server}/studio/studies/{SLUG}/invitations")
    tab.get_by_role("link", name="Revoke invitation").first.click()
    expect(tab.get_by_role("heading", name="Revoke invitation")).to_be_visible()
    expect(tab.get_by_text("Its link stops working at once")).to_be_visible()
    tab.screenshot(path=str(ARTIFACTS / "studio-confirm-revoke-nojs-360.png"), full_page=True)
    tab.get_by_role("link", name="Cancel").click()
    assert tab.url.endswith(f"/studio/studies/{SLUG}/invitations")
    assert app.test_client().get(f"/s/{token}").status_code != 410
    tab.get_by_role("link", name="Revoke invitation").first.click()
    tab.get_by_role("button", name="Revoke invitation").click()
    expect(tab.get_by_text("is revoked; its link no longer opens.")).to_be_visible()
    expect(tab.locator('tr[data-status="revoked"]')).to_have_count(1)
    assert app.test_client().get(f"/s/{token}").status_code == 410
    context.close()
