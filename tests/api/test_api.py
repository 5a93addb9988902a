"""The JSON API: tokens (none, bad, revoked, valid), permissions, status with small counts suppressed (and their
complements), the export zip with the study's k as a floor, JSON errors, and every real response checked against
the OpenAPI document."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from elicit.db import db
from elicit.models import ApiToken, AuditEvent, Study, StudyMember, User
from tests.api.schema_check import problems, response_schema
from tests.exporting.helpers import SLUG, demo, run
from tests.studio.conftest import SLUG as STUDIO_SLUG
from tests.studio.conftest import (  # the fixtures are used by name
    answer,
    flagship_study,  # noqa: F401
    issue,
    login,
    people,  # noqa: F401
)


def _token(runner: FlaskCliRunner, email: str, name: str = "tests") -> str:
    code, out, err = run(runner, "token", "create", email, "--name", name)
    assert code == 0, err
    assert "it is not shown again" in err
    token = out.strip()
    assert token.startswith("elicit_") and len(token) > 32
    return token


def _users(app: Flask, **roles: str) -> None:
    """Accounts by e-mail and role (no password: API tests need none); viewers and ``member@`` are members."""
    with app.app_context(), db.transaction() as session:
        study = session.scalar(select(Study).where(Study.slug == SLUG))
        assert study is not None
        for email, role in roles.items():
            user = User(email=email, role=role, password_hash="-")
            session.add(user)
            session.flush()
            if role == "viewer" or email.startswith("member@"):
                session.add(StudyMember(study_id=study.id, user_id=user.id))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _conforms(client: FlaskClient, path: str, template: str, status: int, **kwargs: Any) -> Any:
    """GET ``path``; check the status, the JSON body against the OpenAPI schema of ``template``; return the body."""
    response = client.get(path, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    document = client.get("/api/v1/openapi.json").get_json()
    body = response.get_json()
    assert problems(document, response_schema(document, template, status), body) == []
    return body


@pytest.fixture
def setup(app: Flask, runner: FlaskCliRunner) -> dict[str, str]:
    """The demo (2 experts per cohort), a viewer and a researcher who are members, an outsider, an admin; tokens."""
    demo(runner, 2)
    _users(
        app,
        **{
            "viewer@example.org": "viewer",
            "member@example.org": "researcher",
            "outsider@example.org": "researcher",
        },
    )
    return {
        "viewer": _token(runner, "viewer@example.org"),
        "member": _token(runner, "member@example.org"),
        "outsider": _token(runner, "outsider@example.org"),
        "admin": _token(runner, "admin@example.org"),  # the demo's administrator login
    }


def test_openapi_document_is_public_and_3_1(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/openapi.json",
        "/studies",
        "/studies/{slug}",
        "/studies/{slug}/export",
    }


def test_without_a_valid_token_every_endpoint_says_401_in_json(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, setup: dict[str, str]
) -> None:
    for path, template in (("/api/v1/studies", "/studies"), (f"/api/v1/studies/{SLUG}", "/studies/{slug}")):
        body = _conforms(client, path, template, 401)
        assert "Authorization: Bearer" in body["error"]
        assert client.get(path).headers["WWW-Authenticate"].startswith("Bearer")
        for header in ("Bearer not-a-token", "Basic dXNlcjpwdw==", "Bearer "):
            body = _conforms(client, path, template, 401, headers={"Authorization": header})
    response = client.get(f"/api/v1/studies/{SLUG}/export")
    assert response.status_code == 401 and response.get_json()["error"]

    # Revoked: refused at once.
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).join(User).where(User.email == "viewer@example.org"))
    code, out, _ = run(runner, "token", "revoke", str(token_id))
    assert code == 0 and f"token {token_id} revoked" in out
    body = _conforms(client, "/api/v1/studies", "/studies", 401, headers=_auth(setup["viewer"]))
    assert "revoked" in body["error"]
    code, out, _ = run(runner, "token", "list", "viewer@example.org")
    assert code == 0 and "\ttests\t" in out and "revoked" in out and setup["viewer"] not in out
    code, _, err = run(runner, "token", "revoke", "9999")
    assert code == 1 and "no API token with id 9999" in err
    code, _, err = run(runner, "token", "create", "nobody@example.org", "--name", "x")
    assert code == 1 and "no user with e-mail nobody@example.org" in err


def test_studies_and_status_by_membership(app: Flask, client: FlaskClient, setup: dict[str, str]) -> None:
    body = _conforms(client, "/api/v1/studies", "/studies", 200, headers=_auth(setup["viewer"]))
    assert [s["slug"] for s in body["studies"]] == [SLUG]
    body = _conforms(client, "/api/v1/studies", "/studies", 200, headers=_auth(setup["outsider"]))
    assert body["studies"] == []
    body = _conforms(client, "/api/v1/studies", "/studies", 200, headers=_auth(setup["admin"]))
    assert [s["slug"] for s in body["studies"]] == [SLUG]

    status = _conforms(
        client, f"/api/v1/studies/{SLUG}", "/studies/{slug}", 200, headers=_auth(setup["viewer"])
    )
    assert status["anonymity"] == "anonymous" and status["k"] == 5
    assert status["rounds"] == [{"number": 1, "version": "defence-diplomacy@1.0.0", "status": "open"}]
    assert status["round"] == 1
    uk = status["cohorts"][0]
    # 2 submitted of each cohort in an anonymous study with k = 5: hidden, the total (4) too, and flagged.
    assert uk["code"] == "UK" and uk["responses"]["submitted"] is None
    assert status["total"]["responses"]["submitted"] is None
    assert uk["suppressed"] is True and status["small_counts_suppressed"] is True
    assert uk["invitations"]["invited"] == 2 and "opened" not in uk["invitations"]

    body = _conforms(
        client, f"/api/v1/studies/{SLUG}", "/studies/{slug}", 404, headers=_auth(setup["outsider"])
    )
    assert body == {"error": f"no study named '{SLUG}'"}  # issue 19: not 403, which told them it exists
    body = _conforms(client, "/api/v1/studies/nope", "/studies/{slug}", 404, headers=_auth(setup["viewer"]))
    assert body == {"error": "no study named 'nope'"}
    with app.app_context():
        used = db.session.scalar(
            select(ApiToken.last_used_at).join(User).where(User.email == "viewer@example.org")
        )
        assert used is not None


def _manifest_and_rows(response: Any, folder: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        manifest = json.loads(archive.read(f"{folder}/manifest.json"))
        rows = list(csv.DictReader(io.StringIO(archive.read(f"{folder}/data.csv").decode("utf-8-sig"))))
    return manifest, rows


def test_k_is_a_floor_and_viewers_export_nothing(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, setup: dict[str, str], tmp_path: Any
) -> None:
    """Issue 12, item 8: a viewer's token with k=1 got every quasi-identifier unblanked; the studio gives viewers
    no export at all (403). The CLI refuses a k below the study's too."""
    code, _, err = run(runner, "export", SLUG, "--k", "1", "--suppress", "--out", str(tmp_path / "low"))
    assert code == 1 and err.strip() == (
        "elicit: error: k must be at least the study's k of 5 (not 1): groups smaller than the study's k are "
        "never treated as safe; leave k out to use the study's"
    )
    assert not (tmp_path / "low").exists()
    attack = f"/api/v1/studies/{SLUG}/export?format=csv&suppress=1&k=1"
    body = _conforms(client, attack, "/studies/{slug}/export", 403, headers=_auth(setup["viewer"]))
    assert "viewers cannot export" in body["error"]
    for who in ("member", "admin"):
        body = _conforms(client, attack, "/studies/{slug}/export", 409, headers=_auth(setup[who]))
        assert "at least the study's k of 5 (not 1)" in body["error"]
    # at the floor, every quasi-identifier of the four demo rows (classes of fewer than 5) is blanked
    response = client.get(
        f"/api/v1/studies/{SLUG}/export?format=csv&suppress=1", headers=_auth(setup["member"])
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    manifest, rows = _manifest_and_rows(response, f"{SLUG}-csv")
    report = manifest["anonymization"]["k_anonymity"]
    assert report["k"] == 5 and report["rows_suppressed"] == 4 and len(rows) == 4
    assert all(row[name] == "" for row in rows for name in report["suppressed_columns"])


def test_export_zip_for_members_identified_for_admins_only(
    app: Flask, client: FlaskClient, setup: dict[str, str]
) -> None:
    member = _auth(setup["member"])
    response = client.get(f"/api/v1/studies/{SLUG}/export?format=parquet&k=6", headers=member)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == f"attachment; filename={SLUG}-parquet.zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(
            f"{SLUG}-parquet/{n}"
            for n in (
                "codebook.html",
                "codebook.json",
                "data.csv",
                "data.R",
                "data.parquet",
                "long.csv",
                "manifest.json",
                # the flagship has a quantile item: its judgements for EXCALIBUR, anduryl and SHELF (issue 15)
                "anduryl.json",
                "shelf_judgements.csv",
                f"excalibur/{SLUG}.dtt",
                f"excalibur/{SLUG}.rls",
            )
        )
        manifest = json.loads(archive.read(f"{SLUG}-parquet/manifest.json"))
    assert manifest["identified"] is False and manifest["counts"]["rows"] == 4
    assert manifest["anonymization"]["k_anonymity"]["k"] == 6

    for query, status, message in (
        ("format=sas", 400, "unknown export format 'sas'"),
        ("k=zero", 400, "k must be a whole number"),
        ("k=0", 400, "k must be a whole number from 1 to 1000"),
        ("k=4", 409, "k must be at least the study's k of 5 (not 4)"),
        ("suppress=perhaps", 400, "suppress must be true or false"),
        ("identified=true", 403, "identified exports are for administrators only"),
    ):
        body = _conforms(
            client, f"/api/v1/studies/{SLUG}/export?{query}", "/studies/{slug}/export", status, headers=member
        )
        assert message in body["error"], body
    _conforms(
        client,
        f"/api/v1/studies/{SLUG}/export",
        "/studies/{slug}/export",
        404,
        headers=_auth(setup["outsider"]),
    )
    _conforms(client, "/api/v1/studies/nope/export", "/studies/{slug}/export", 404, headers=member)

    response = client.get(
        f"/api/v1/studies/{SLUG}/export?format=csv&identified=true", headers=_auth(setup["admin"])
    )
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith("-csv-identified.zip")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        manifest = json.loads(archive.read(f"{SLUG}-csv/manifest.json"))
    assert manifest["identified"] is True and manifest["identified_by"] == "admin@example.org"

    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
        assert [(e.actor, json.loads(e.details_json)["identified"]) for e in events] == [
            ("member@example.org", False),
            ("admin@example.org", True),
        ]


def test_unknown_paths_and_methods_are_json(client: FlaskClient, setup: dict[str, str]) -> None:
    response = client.get("/api/v1/nothing/here", headers=_auth(setup["viewer"]))
    assert response.status_code == 404 and "no API endpoint" in response.get_json()["error"]
    response = client.post("/api/v1/studies", headers=_auth(setup["viewer"]))
    assert response.status_code == 405 and response.get_json() == {
        "error": "POST is not allowed here; use GET"
    }
    response = client.delete(f"/api/v1/studies/{SLUG}", headers=_auth(setup["viewer"]))
    assert response.status_code == 405 and response.mimetype == "application/json"


@pytest.mark.usefixtures("people", "flagship_study")
def test_status_and_dashboard_together_do_not_give_a_hidden_cohort_back(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    """Issue 12, item 5: the API showed UK's 6 submissions and hid PK's 2; the dashboard showed all 8."""
    uk = issue(app, STUDIO_SLUG, "UK", 9)
    pk = issue(app, STUDIO_SLUG, "PK", 2)
    for i, token in enumerate(uk[:6] + pk):
        answer(app, token, seed=i)
    token = _token(runner, "viewer@example.org")
    status = _conforms(client, f"/api/v1/studies/{STUDIO_SLUG}", "/studies/{slug}", 200, headers=_auth(token))
    login(client, "viewer@example.org")
    page = client.get(f"/studio/studies/{STUDIO_SLUG}").get_data(as_text=True)
    row = re.search(r'<tr data-cohort="all">(.*?)</tr>', page, re.S)
    assert row
    page_total = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]
    for name, column in (("in_progress", 2), ("submitted", 3), ("declined", 4)):
        shown = [c["responses"][name] for c in status["cohorts"]]
        totals = {
            status["total"]["responses"][name],
            int(page_total[column]) if page_total[column].isdigit() else None,
        }
        assert len(totals) == 1, "the page and the API disagree"
        (total,) = totals
        assert total is None or shown.count(None) != 1, (
            f"{name}: {total} minus the shown cohorts gives one back"
        )
    assert status["total"]["responses"]["submitted"] == 8
    assert [c["responses"]["submitted"] for c in status["cohorts"]] == [None, None]
    assert status["cohorts"][0]["invitations"] == {"invited": 9, "revoked": 0, "finished": 6}


def test_a_non_member_learns_nothing_of_a_study_it_cannot_see(
    client: FlaskClient, setup: dict[str, str]
) -> None:
    """Issue 19: the API answered a non-member 403 ("you are not a member") where the studio answers 404, which
    told them the study exists. Now the answer is byte for byte the one for a study that does not exist."""
    outsider = _auth(setup["outsider"])
    for suffix, template in (("", "/studies/{slug}"), ("/export?format=csv", "/studies/{slug}/export")):
        hidden = client.get(f"/api/v1/studies/{SLUG}{suffix}", headers=outsider)
        missing = client.get(f"/api/v1/studies/nope{suffix}", headers=outsider)
        assert hidden.status_code == missing.status_code == 404, hidden.get_data(as_text=True)
        assert hidden.data == missing.data.replace(b"'nope'", f"'{SLUG}'".encode())
        assert hidden.get_json() == {"error": f"no study named '{SLUG}'"}
        assert dict(hidden.headers) == {**dict(missing.headers), "Content-Length": str(len(hidden.data))}
        _conforms(client, f"/api/v1/studies/{SLUG}{suffix}", template, 404, headers=outsider)
    # A member whose role is not enough is still told so (403), as in the studio.
    body = _conforms(
        client,
        f"/api/v1/studies/{SLUG}/export",
        "/studies/{slug}/export",
        403,
        headers=_auth(setup["viewer"]),
    )
    assert "viewers cannot export" in body["error"]
