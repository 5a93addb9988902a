"""The `elicit` command on both databases: publish, diff, study, invite, users, demo, audit."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, inspect, select, text

from elicit.db import db
from elicit.models import (
    AuditEvent,
    InstrumentVersion,
    Invitation,
    Response,
    ResponseStatus,
    RosterEntry,
    User,
)


def run(runner: FlaskCliRunner, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(args=list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def publish_flagship(runner: FlaskCliRunner, flagship_path: Path) -> None:
    code, out, err = run(runner, "instrument", "publish", str(flagship_path))
    assert code == 0, err


def test_check_passes_the_flagship(runner: FlaskCliRunner, flagship_path: Path) -> None:
    code, out, _ = run(runner, "instrument", "check", str(flagship_path))
    assert code == 0
    assert out.startswith("defence-diplomacy@1.0.0: ok")


def test_check_reports_every_problem_of_every_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x\nversion: 1\nlanguages: [en]\ntitle: X\npages:\n  - id: p\n    items:\n      - {id: a, type: nope}\n"
    )
    code, _, err = run(runner, "instrument", "check", str(bad), str(tmp_path / "missing.yaml"))
    assert code == 1
    assert f"{bad}:2: version 1 must look like 1.0.0" in err
    assert f"{bad}:8: item 'a' has unknown type 'nope'" in err
    assert f"{tmp_path / 'missing.yaml'}:1: no such file" in err


def test_publish_is_idempotent_and_refuses_changed_content(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path
) -> None:
    code, first, _ = run(runner, "instrument", "publish", str(flagship_path))
    assert code == 0 and "(published)" in first
    code, again, _ = run(runner, "instrument", "publish", str(flagship_path))
    assert code == 0 and "already published, unchanged" in again
    assert first.split()[1] == again.split()[1]  # the same sha256

    changed = tmp_path / "changed.yaml"
    changed.write_text(
        flagship_path.read_text(encoding="utf-8").replace("max: 60", "max: 70", 1), encoding="utf-8"
    )
    code, _, err = run(runner, "instrument", "publish", str(changed))
    assert code == 1
    assert "already published with different content" in err and "years" in err
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InstrumentVersion)) == 1
        stored = db.session.scalar(select(InstrumentVersion))
        assert stored is not None and stored.sha256 == first.split("sha256:")[1].split()[0]


def test_diff_lists_changes_and_flags_scale_breaks(
    runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path
) -> None:
    publish_flagship(runner, flagship_path)
    text_ = flagship_path.read_text(encoding="utf-8").replace("version: 1.0.0", "version: 1.1.0", 1)
    text_ = text_.replace("reverse: [tac_5]", "reverse: []", 1)
    newer = tmp_path / "1.1.0.yaml"
    newer.write_text(text_, encoding="utf-8")
    code, out, err = run(runner, "instrument", "diff", "defence-diplomacy@1.0.0", str(newer))
    assert code == 0, err
    assert out.splitlines()[0] == "defence-diplomacy@1.0.0 -> defence-diplomacy@1.1.0"
    assert "! scale tactical: reverse keying differs" in out
    code, _, err = run(runner, "instrument", "diff", "defence-diplomacy@9.9.9", str(newer))
    assert code == 1 and "defence-diplomacy@9.9.9 is not published" in err


def test_study_create_and_invite_count_gives_distinct_links_and_stores_no_token(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path
) -> None:
    publish_flagship(runner, flagship_path)
    code, out, err = run(
        runner,
        "study",
        "create",
        "dd-2026",
        "--instrument",
        "defence-diplomacy@1.0.0",
        "--cohort",
        "UK",
        "--cohort",
        "PK",
    )
    assert code == 0, err
    assert "UK (United Kingdom), PK (Pakistan)" in out
    links = tmp_path / "links.csv"
    code, out, err = run(runner, "invite", "dd-2026", "--cohort", "UK", "--count", "5", "--out", str(links))
    assert code == 0, err
    rows = list(csv.DictReader(links.open(encoding="utf-8")))
    urls = [row["url"] for row in rows]
    assert len(urls) == 5 == len(set(urls))
    assert all(url.startswith("http://elicit.test/s/") for url in urls)
    tokens = [url.rsplit("/", 1)[1] for url in urls]
    assert all(len(token) >= 32 for token in tokens)
    with app.app_context():
        dump = _dump_database(app)
    for token in tokens:
        assert token not in dump


def _dump_database(app: Flask) -> str:
    """Every value of every table as one string (to prove a secret is stored nowhere)."""
    parts = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def test_invite_errors_are_one_line_and_write_nothing(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path
) -> None:
    publish_flagship(runner, flagship_path)
    run(
        runner,
        "study",
        "create",
        "dd-2026",
        "--instrument",
        "defence-diplomacy@1.0.0",
        "--cohort",
        "UK",
        "--cohort",
        "PK",
    )
    out = tmp_path / "links.csv"
    code, _, err = run(runner, "invite", "nope", "--cohort", "UK", "--count", "2", "--out", str(out))
    assert (code, err.strip()) == (1, "elicit: error: no study named 'nope'")
    code, _, err = run(runner, "invite", "dd-2026", "--cohort", "FR", "--count", "2", "--out", str(out))
    assert code == 1 and "has no cohort 'FR' (it has: UK, PK)" in err
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "name,email,organisation,cohort\n"
        "Ayesha Khan,ayesha@example.pk,Ministry of Defence,PK\n"
        "John Smith,not-an-email,MOD,UK\n"
        "Sara Ali,AYESHA@example.pk,Foreign Office,PK\n"
        "Tom Brown,tom@example.uk,MOD,FR\n",
        encoding="utf-8",
    )
    code, _, err = run(runner, "invite", "dd-2026", "--roster", str(roster), "--out", str(out))
    assert code == 1
    assert f"{roster}:3: 'not-an-email' is not an e-mail address" in err
    assert f"{roster}:4: duplicate e-mail ayesha@example.pk (also on line 2)" in err
    assert f"{roster}:5: unknown cohort 'FR'" in err
    assert not out.exists()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RosterEntry)) == 0
        assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_invite_from_a_roster(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path
) -> None:
    publish_flagship(runner, flagship_path)
    run(
        runner,
        "study",
        "create",
        "dd-2026",
        "--instrument",
        "defence-diplomacy@1.0.0",
        "--cohort",
        "UK",
        "--cohort",
        "PK",
    )
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "\ufeffname,email,organisation,cohort\nAyesha Khan,ayesha@example.pk,=HYPERLINK(1),PK\nJohn Smith,john@example.uk,MOD,UK\n",
        encoding="utf-8",
    )
    out = tmp_path / "links.csv"
    code, stdout, err = run(runner, "invite", "dd-2026", "--roster", str(roster), "--out", str(out))
    assert code == 0, err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["name"], r["cohort"]) for r in rows] == [("Ayesha Khan", "PK"), ("John Smith", "UK")]
    assert rows[0]["organisation"] == "'=HYPERLINK(1)"  # formula injection neutralised
    code, _, err = run(runner, "invite", "dd-2026", "--roster", str(roster), "--out", str(out), "--force")
    assert code == 1 and "is on this study's roster already" in err
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == 2  # the refused run left the file alone


def test_user_add(app: Flask, runner: FlaskCliRunner) -> None:
    code, out, err = run(
        runner,
        "user",
        "add",
        "Ana@Example.org",
        "--role",
        "researcher",
        "--password-stdin",
        input="a-long-password\n",
    )
    assert code == 0, err
    code, _, err = run(
        runner,
        "user",
        "add",
        "ana@example.org",
        "--role",
        "viewer",
        "--password-stdin",
        input="another-password\n",
    )
    assert code == 1 and "exists already" in err
    code, _, err = run(
        runner, "user", "add", "b@example.org", "--role", "viewer", "--password-stdin", input="short\n"
    )
    assert code == 1 and "at least 10 characters" in err
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user is not None and user.email == "ana@example.org"
        assert user.password_hash.startswith("$argon2") and "a-long-password" not in user.password_hash


def test_demo_makes_a_ready_study_and_is_rerunnable(app: Flask, runner: FlaskCliRunner) -> None:
    code, out, err = run(runner, "demo", "--responses", "6", "--links", "2")
    assert code == 0, err
    assert "password:" in out and out.count("/s/") == 4
    code, out2, err = run(runner, "demo", "--responses", "6", "--links", "1")
    assert code == 0, err
    with app.app_context():
        submitted = db.session.scalar(
            select(func.count())
            .select_from(Response)
            .where(Response.status == ResponseStatus.SUBMITTED.value)
        )
        assert submitted == 12
        assert (
            db.session.scalar(
                select(func.count()).select_from(Response).where(Response.invitation_id.is_not(None))
            )
            == 0
        )


def test_audit_verify_detects_an_edited_event(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path
) -> None:
    publish_flagship(runner, flagship_path)
    run(runner, "study", "create", "dd-2026", "--instrument", "defence-diplomacy@1.0.0", "--cohort", "UK")
    code, out, _ = run(runner, "audit", "verify")
    assert (code, out.strip()) == (0, "audit log intact: 2 event(s), checked against 0 anchor(s)")
    with app.app_context():
        first = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id))
        assert first is not None
        first.actor = "someone-else"
        db.session.commit()
    code, _, err = run(runner, "audit", "verify")
    assert code == 1 and "was edited after it was recorded" in err


# ------------------------------------------------------------------------------- links that must not vanish (13)
def _study_for_links(runner: FlaskCliRunner, flagship_path: Path) -> None:
    publish_flagship(runner, flagship_path)
    code, _, err = run(
        runner, "study", "create", "dd-2026", "--instrument", "defence-diplomacy@1.0.0", "--cohort", "PK"
    )
    assert code == 0, err


def _invitations(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Invitation)) or 0


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_invite_refuses_to_overwrite_a_links_file_unless_forced(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path
) -> None:
    _study_for_links(runner, flagship_path)
    links = tmp_path / "f.csv"
    code, _, err = run(runner, "invite", "dd-2026", "--cohort", "PK", "--count", "8", "--out", str(links))
    assert code == 0, err
    first = links.read_bytes()
    assert len(list(csv.DictReader(links.open(encoding="utf-8")))) == 8
    assert links.stat().st_mode & 0o777 == 0o600

    code, out, err = run(runner, "invite", "dd-2026", "--cohort", "PK", "--count", "2", "--out", str(links))
    assert code == 1, out
    assert err.count("\n") == 1 and err.startswith("elicit: error: ")
    assert str(links) in err and "--force" in err
    assert links.read_bytes() == first  # the 8 live links are still where they were
    assert _invitations(app) == 8  # and the 2 refused ones were never made

    code, out, err = run(
        runner, "invite", "dd-2026", "--cohort", "PK", "--count", "2", "--out", str(links), "--force"
    )
    assert code == 0, err
    assert len(list(csv.DictReader(links.open(encoding="utf-8")))) == 2
    assert links.stat().st_mode & 0o777 == 0o600
    assert _invitations(app) == 10
    assert _leftovers(tmp_path) == []


def test_a_failed_invite_leaves_neither_links_nor_invitations(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path, monkeypatch
) -> None:
    """The links file appears only once its invitations are committed; a failure on the way leaves nothing."""
    from elicit.studies import StudyError

    _study_for_links(runner, flagship_path)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise StudyError("the audit log refused the event")

    monkeypatch.setattr("elicit.audit.record", refuse)
    links = tmp_path / "f.csv"
    code, _, err = run(runner, "invite", "dd-2026", "--cohort", "PK", "--count", "3", "--out", str(links))
    assert (code, err.strip()) == (1, "elicit: error: the audit log refused the event")
    assert not links.exists() and _leftovers(tmp_path) == []
    assert _invitations(app) == 0


def test_invite_refuses_a_folder_or_a_missing_folder_before_making_links(
    app: Flask, runner: FlaskCliRunner, flagship_path: Path, tmp_path: Path
) -> None:
    _study_for_links(runner, flagship_path)
    code, _, err = run(runner, "invite", "dd-2026", "--cohort", "PK", "--count", "1", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err  # a usage error
    missing = tmp_path / "missing" / "f.csv"
    code, _, err = run(runner, "invite", "dd-2026", "--cohort", "PK", "--count", "1", "--out", str(missing))
    assert (code, err.strip()) == (1, f"elicit: error: folder {missing.parent} does not exist")
    assert _invitations(app) == 0 and not missing.parent.exists()


def test_every_link_demo_prints_is_live(app: Flask, runner: FlaskCliRunner) -> None:
    """demo writes no links file: it prints its links only after they are committed, so each one opens."""
    code, out, err = run(runner, "demo", "--responses", "0", "--links", "2")
    assert code == 0, err
    tokens = [line.rsplit("/s/", 1)[1] for line in out.splitlines() if "/s/" in line]
    assert len(tokens) == 4
    client = app.test_client()
    for token in tokens:
        assert client.get(f"/s/{token}").status_code in {200, 302, 303}
    assert client.get(f"/s/{tokens[0][:-2]}xx").status_code in {404, 410}


# `elicit --help` stays quick: the commands import the domain when they run, so asking for help loads neither the
# data stack nor the export and analysis packages (issue 14).
HEAVY = ("pandas", "pyarrow", "numpy", "scipy", "matplotlib", "pingouin", "pyreadstat", "openpyxl")
ASK_FOR_HELP = """
import json, sys
from elicit.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    assert exit.code == 0, exit.code
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["export", "--help"], ["analyze", "--help"], ["mail", "--help"]]
)
def test_help_loads_no_data_stack(tmp_path: Path, args: list[str]) -> None:
    env = {**os.environ, "ELICIT_SECRET_KEY": "k" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'elicit.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", ASK_FOR_HELP, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *help_text, last = done.stdout.splitlines()
    assert help_text[0].startswith("Usage: ")
    modules = json.loads(last)
    loaded = [
        m
        for m in modules
        if m.split(".")[0] in HEAVY or m.startswith(("elicit.analysis", "elicit.exporting"))
    ]
    assert loaded == [], f"elicit {' '.join(args)} loads {loaded[:8]}"
    assert not (tmp_path / "elicit.db").exists()  # nor touches the database
