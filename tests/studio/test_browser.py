"""A researcher, as a new user would, goes from the flagship YAML file to a running study in Chromium."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.conftest import FLAGSHIP, axe_violations
from tests.studio.conftest import PASSWORD, admin_code, answer, make_user

pytestmark = pytest.mark.browser

ROSTER = "name,email,organisation,cohort\nAyesha Khan,ayesha@example.org,NDU,PK\nTom Hardy,tom@example.org,MoD,UK\n"


def test_researcher_from_yaml_to_a_submission(
    app: Flask, live_server: str, page: Any, axe_source: str, tmp_path: Path
) -> None:
    make_user(app, "rita@example.org", "researcher")
    page.set_default_timeout(10_000)

    page.goto(f"{live_server}/studio/")
    assert "/studio/login" in page.url
    page.get_by_label("E-mail address").fill("rita@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Studies")).to_be_visible()
    assert axe_violations(page, axe_source) == []

    # upload a file with a typo: it is checked and kept as a draft, nothing is published
    page.get_by_role("navigation", name="Studio").get_by_role("link", name="Instruments").click()
    page.get_by_role("link", name="Upload an instrument").click()
    typo = tmp_path / "1.0.0.yaml"
    typo.write_text(FLAGSHIP.read_text(encoding="utf-8").replace("About this survey", "Abuot this survey", 1))
    page.get_by_label("Instrument file (YAML)").set_input_files(str(typo))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_role("heading", name="Draft defence-diplomacy@1.0.0")).to_be_visible()
    expect(
        page.get_by_text("1.0.0.yaml is checked and kept as the draft of defence-diplomacy.")
    ).to_be_visible()
    assert axe_violations(page, axe_source) == []
    # preview the draft's first page in English and Urdu: the typo shows before anything is published
    draft_url = page.url
    page.get_by_role("link", name="English").first.click()
    expect(page.locator(".preview-banner")).to_be_visible()
    expect(page.get_by_text("Abuot this survey").first).to_be_visible()
    page.goto(draft_url)
    page.get_by_role("link", name="اردو").first.click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.goto(draft_url)
    # fix the file and upload it again from the draft's page: it replaces the draft
    page.get_by_label("Instrument file (YAML)").set_input_files(str(FLAGSHIP))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_text("replaces the draft defence-diplomacy@1.0.0")).to_be_visible()
    page.get_by_role("link", name="English").first.click()
    expect(page.get_by_text("About this survey").first).to_be_visible()
    page.goto(draft_url)
    page.get_by_role("button", name="Publish defence-diplomacy@1.0.0").click()
    expect(page.get_by_text("defence-diplomacy@1.0.0 is published.")).to_be_visible()
    page.get_by_role("navigation", name="Studio").get_by_role("link", name="Instruments").click()
    expect(page.locator("#drafts")).to_have_count(0)  # the published draft is gone
    page.get_by_role("link", name="defence-diplomacy@1.0.0").click()

    # preview the first page in Urdu, then the next page
    version_url = page.url
    page.get_by_role("link", name="اردو").first.click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_text("اس سروے کے بارے میں").first).to_be_visible()
    expect(page.locator(".preview-banner")).to_be_visible()
    page.goto(version_url)

    # create a study on it
    page.get_by_role("link", name="Create a study on defence-diplomacy@1.0.0").click()
    page.get_by_label("Short name").fill("dd-browser")
    page.get_by_role("button", name="Create the study").click()
    expect(page.get_by_role("heading", name="Anonymity: anonymous")).to_be_visible()

    # upload a roster and download the links (shown only this once)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    page.get_by_role("navigation", name="Study").get_by_role("link", name="Roster").click()
    page.get_by_label("Roster (CSV)").set_input_files(str(roster))
    page.get_by_role("button", name="Check and import").click()
    expect(page.get_by_text("They are shown only this once.")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the links (CSV)").click()
    saved = tmp_path / "links.csv"
    download_info.value.save_as(saved)
    rows = list(csv.DictReader(saved.open(encoding="utf-8-sig")))
    assert [r["email"] for r in rows] == ["ayesha@example.org", "tom@example.org"]
    assert all(r["url"].startswith(f"{live_server}/s/") for r in rows)

    # the dashboard before and after an expert submits
    page.get_by_role("navigation", name="Study").get_by_role("link", name="Overview").click()
    pk = page.locator('tr[data-cohort="PK"] td.submitted')
    expect(pk).to_have_text("0")
    answer(app, rows[0]["url"].rsplit("/", 1)[1])
    page.get_by_role("link", name="Refresh").click()
    expect(pk).to_have_text("hidden")  # anonymous study: one submission, hidden under the k rule
    expect(page.locator("svg.chart-svg rect.bar")).to_have_count(1)
    assert axe_violations(page, axe_source) == []
    page.get_by_role("navigation", name="Study").get_by_role("link", name="Invitations").click()
    # anonymous: one finish among two links is not confirmed (that would name the expert) until k have finished
    expect(page.locator('tr[data-status="finished"]')).to_have_count(0)
    expect(page.locator('tr[data-status="not_opened"]')).to_have_count(2)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_studio_pages_pass_axe(
    app: Flask,
    live_server: str,
    page: Any,
    axe_source: str,
    database_url: str,
    flagship_study: str,
    people: Any,
) -> None:
    """Serious or critical accessibility problems on any studio page (one database is enough: it is markup)."""
    from tests.studio.conftest import issue

    answer(app, issue(app, flagship_study, "UK", 2)[0])
    page.goto(f"{live_server}/studio/login")
    page.get_by_label("E-mail address").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # Administrators have a second factor.
    page.get_by_label("Code").fill(admin_code(app, "admin@example.org"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Studies")).to_be_visible()
    study = f"/studio/studies/{flagship_study}"
    paths = [
        "/studio/",
        "/studio/instruments",
        "/studio/instruments/upload",
        "/studio/instruments/defence-diplomacy/1.0.0",
        "/studio/instruments/diff?old=defence-diplomacy@1.0.0&new=defence-diplomacy@1.0.0",
        "/studio/studies/new",
        study,
        f"{study}/roster",
        f"{study}/invitations",
        f"{study}/settings",
        f"{study}/outbox",
        "/studio/users",
        f"/studio/users/{people.viewer}",
        "/studio/audit",
        "/studio/account",
    ]
    problems = {}
    for path in paths:
        page.goto(live_server + path)
        found = axe_violations(page, axe_source)
        if found:
            problems[path] = [(v["id"], v["help"], len(v["nodes"])) for v in found]
    # a form with errors, too
    page.goto(f"{live_server}/studio/studies/new")
    page.get_by_role("button", name="Create the study").click()
    found = axe_violations(page, axe_source)
    if found:
        problems["new study with errors"] = [(v["id"], v["help"]) for v in found]
    assert not problems, problems


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_an_email_batch_is_sent_to_the_end_with_or_without_javascript(
    app: Flask,
    live_server: str,
    browser: Any,
    axe_source: str,
    database_url: str,
    flagship_study: str,
    people: Any,
    monkeypatch: pytest.MonkeyPatch,
    javascript: bool,
) -> None:
    """A batch larger than one slice: with JavaScript the page carries on by itself; without, one click a slice."""
    import time

    from elicit.studio import mail
    from tests.conftest import ARTIFACTS

    original = mail.Outbox.send

    def slow(self: mail.Outbox, message: Any) -> None:
        time.sleep(0.05)  # a slow mail server: a slice of 0.1 s sends two or three
        original(self, message)

    monkeypatch.setattr(mail.Outbox, "send", slow)
    app.config["MAIL_SLICE_SECONDS"] = 0.1
    rows = "".join(f"Expert {n},expert{n}@example.org,,{'UK' if n % 2 else 'PK'}\n" for n in range(12))
    roster = Path(app.config["OUTBOX_PATH"]).parent / "roster.csv"
    roster.write_text("name,email,organisation,cohort\n" + rows, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=javascript, bypass_csp=True
    )
    tab = context.new_page()
    tab.goto(f"{live_server}/studio/login")
    tab.get_by_label("E-mail address").fill("researcher@example.org")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.goto(f"{live_server}/studio/studies/{flagship_study}/roster")
    tab.set_input_files("input[type=file]", str(roster))
    tab.get_by_label("E-mail each expert their link").check()
    tab.get_by_role("button", name="Check and import").click()
    expect(tab.get_by_role("heading", name="E-mail batch 1")).to_be_visible()
    shots = "js" if javascript else "nojs"
    tab.screenshot(path=str(ARTIFACTS / f"mail-batch-{shots}-1280.png"), full_page=True)
    tab.set_viewport_size({"width": 360, "height": 800})
    tab.screenshot(path=str(ARTIFACTS / f"mail-batch-{shots}-360.png"), full_page=True)
    if not javascript:
        clicks = 0
        while tab.get_by_role("button", name="Continue sending").count():
            tab.get_by_role("button", name="Continue sending").click()
            clicks += 1
            assert clicks < 30
        assert clicks >= 2
    expect(tab.get_by_text("Finished: every message of this batch was tried.")).to_be_visible(timeout=30000)
    expect(tab.get_by_text("12 messages sent.")).to_be_visible()
    if javascript:  # axe runs as a script
        assert not axe_violations(tab, axe_source)
    tab.screenshot(path=str(ARTIFACTS / f"mail-batch-{shots}-done-360.png"), full_page=True)
    assert len(list((Path(app.config["OUTBOX_PATH"]) / flagship_study).glob("*.eml"))) == 12
    context.close()
