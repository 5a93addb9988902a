"""A database remembers which secret key it was made with, and nothing runs on it with another key.

The attack on "nothing is lost": the key file is lost (or a second machine is set up with another
ELICIT_SECRET_KEY) and a new key is put in place. Every anonymous expert's link then finds no saved answers
(responses are found by an HMAC keyed from the secret key) and the studio can never confirm who finished. Before
this check, every command and the web app ran happily on the new key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select

from elicit import create_app
from elicit.cli import main
from elicit.keycheck import NAME, fingerprint
from elicit.models import Setting

KEY_A = "a" * 64
KEY_B = "b" * 64


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "server"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return folder


def elicit(*args: str, key: str | None) -> Result:
    result = CliRunner().invoke(main, list(args), env={"ELICIT_SECRET_KEY": key, "DATABASE_URL": None})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def recorded(folder: Path) -> str | None:
    engine = create_engine(f"sqlite:///{folder / 'instance' / 'elicit.db'}")
    with engine.connect() as connection:
        value = connection.scalar(select(Setting.value).where(Setting.name == NAME))
    engine.dispose()
    return value


def test_init_records_the_key_and_other_keys_are_refused_everywhere(workdir: Path) -> None:
    assert elicit("init", key=KEY_A).exit_code == 0
    assert recorded(workdir) == fingerprint(KEY_A) and KEY_A not in (recorded(workdir) or "")
    assert elicit("audit", "verify", key=KEY_A).exit_code == 0

    refused = elicit("audit", "verify", key=KEY_B)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("elicit: error: the database at ") and refused.stderr.count("\n") == 1
    assert "not the one this database was made with" in refused.stderr and KEY_B not in refused.stderr
    again = elicit("init", key=KEY_B)  # nor may init "fix" it by recording the new key
    assert again.exit_code == 1 and "not the one this database was made with" in again.stderr
    assert recorded(workdir) == fingerprint(KEY_A)


def test_the_web_app_refuses_to_serve_with_another_key(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert elicit("init", key=KEY_A).exit_code == 0
    monkeypatch.setenv("ELICIT_SECRET_KEY", KEY_B)
    response = create_app().test_client().get("/studio/login")
    assert response.status_code == 503 and KEY_B not in response.get_data(as_text=True)
    assert "not set up correctly" in response.get_data(as_text=True)
    monkeypatch.setenv("ELICIT_SECRET_KEY", KEY_A)
    assert create_app().test_client().get("/studio/login").status_code == 200


def test_a_key_file_made_anew_for_a_database_with_a_key_is_taken_back(workdir: Path) -> None:
    assert elicit("init", key=None).exit_code == 0  # the key file is made, and recorded
    key_file = workdir / "instance" / "secret_key"
    original = key_file.read_text()
    key_file.unlink()  # lost (not backed up)
    result = elicit("init", key=None)
    assert (
        result.exit_code == 1 and "was not kept" in result.stderr and "made with another key" in result.stderr
    )
    assert not key_file.exists()  # the wrong key does not stay behind to be used
    key_file.write_text(original)  # restored from the backup: everything works again
    assert elicit("init", key=None).exit_code == 0 and elicit("audit", "verify", key=None).exit_code == 0
