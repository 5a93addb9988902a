"""Only `elicit init` and `elicit demo` create the secret key file; everything else refuses to run without a key.

Anonymous responses are found by an HMAC keyed from the secret key (src/elicit/responding/unlinking.py), so a
key silently made anew by any command, in any folder, would make every anonymous answer in progress
unreachable. Commands run through `main` (the real FlaskGroup, the app made from the environment) in an empty
working folder with neither ELICIT_SECRET_KEY nor DATABASE_URL set, as `make run` does on a fresh clone; one
runs as a real process.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from elicit import config, create_app
from elicit.cli import main
from tests.test_cli_database import DATABASE_COMMANDS, everything_under

NO_KEY_ENV: dict[str, str | None] = {"ELICIT_SECRET_KEY": None, "DATABASE_URL": None}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, made the current directory, with no key and no database in the environment."""
    folder = tmp_path / "fresh-clone"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("ELICIT_SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return folder


def elicit(*args: str, input: str | None = None, **env: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={**NO_KEY_ENV, **env}, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def no_key_line(folder: Path) -> str:
    instance = folder / "instance"
    return (
        f"elicit: error: no secret key: ELICIT_SECRET_KEY is not set and there is no {instance / 'secret_key'}; "
        f"set ELICIT_SECRET_KEY, or run elicit init in {folder} to create the key (if this server had a key, "
        "restore it instead: anonymous answers are found with it)"
    )


def refused_for_the_key(result: Result, folder: Path) -> None:
    outcome = (result.exit_code, result.stderr)
    assert outcome == (1, no_key_line(folder) + "\n"), result.stdout


def key_file(folder: Path) -> Path:
    return folder / "instance" / "secret_key"


@pytest.mark.parametrize("command", list(DATABASE_COMMANDS))
def test_a_command_other_than_init_refuses_to_run_without_a_key_and_creates_none(
    workdir: Path, command: str
) -> None:
    result = elicit(*DATABASE_COMMANDS[command], input="a-long-password\n")
    refused_for_the_key(result, workdir)
    assert everything_under(workdir) == []


def test_a_lost_key_is_not_made_anew_by_the_next_command(workdir: Path) -> None:
    """The case that matters: a database made under a key, then the key file gone (not backed up, deleted)."""
    assert elicit("init").exit_code == 0
    key_file(workdir).unlink()
    for command in ("audit verify", "serve", "export"):
        refused_for_the_key(elicit(*DATABASE_COMMANDS[command]), workdir)
    assert not key_file(workdir).exists()


def test_an_empty_key_file_is_refused_not_replaced(workdir: Path) -> None:
    key_file(workdir).parent.mkdir()
    key_file(workdir).write_text("\n", encoding="ascii")
    result = elicit("audit", "verify")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"elicit: error: the secret key file {key_file(workdir)} is empty; ")
    assert elicit("init").exit_code == 1
    assert key_file(workdir).read_text(encoding="ascii") == "\n"


def test_the_installed_command_refuses_with_one_line(workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"ELICIT_SECRET_KEY", "DATABASE_URL"}}
    command = [str(Path(sys.executable).with_name("elicit")), "audit", "verify"]
    done = subprocess.run(  # noqa: S603  # the installed command with fixed arguments, no shell
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stderr) == (1, no_key_line(workdir) + "\n")
    assert everything_under(workdir) == []


def test_help_still_lists_the_commands_without_a_key(workdir: Path) -> None:
    result = elicit("--help")
    assert result.exit_code == 0 and "init" in result.stdout and "demo" in result.stdout
    assert everything_under(workdir) == []


def test_checking_an_instrument_file_or_analysing_a_folder_needs_no_key(workdir: Path) -> None:
    """Writing an instrument, or reading an export, happens before (or far from) any server: no key, no database."""
    flagship = Path(__file__).resolve().parents[1] / "instruments" / "defence-diplomacy" / "1.1.0.yaml"
    checked = elicit("instrument", "check", str(flagship))
    assert checked.exit_code == 0, checked.stderr
    assert "defence-diplomacy@1.1.0: ok" in checked.stdout
    analysed = elicit("analyze", str(workdir / "missing"), "--out", str(workdir / "report.html"))
    assert (
        analysed.exit_code == 1 and "not a folder" in analysed.stderr and "secret key" not in analysed.stderr
    )
    assert everything_under(workdir) == []


def test_init_creates_the_key_readable_by_its_owner_only_and_a_second_init_keeps_it(workdir: Path) -> None:
    first = elicit("init")
    assert first.exit_code == 0, first.stderr
    path = key_file(workdir)
    key = path.read_text(encoding="ascii")
    assert len(key) == 64 and int(key, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"created the secret key {path}" in first.stdout
    assert first.stdout.splitlines()[-1].startswith("database ready at revision ")

    again = elicit("init")
    assert again.exit_code == 0, again.stderr
    assert path.read_text(encoding="ascii") == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "secret key" not in again.stdout
    assert elicit("audit", "verify").exit_code == 0  # every other command now finds the key


def test_make_run_on_a_fresh_clone_init_then_demo_then_serve(workdir: Path) -> None:
    """`make run` is `elicit init; elicit demo; elicit serve`: demo may also create the key, serve finds it."""
    result = elicit("demo", "--responses", "1", "--links", "1")
    assert result.exit_code == 0, result.stderr
    key = key_file(workdir).read_text(encoding="ascii")
    assert elicit("init").exit_code == 0 and elicit("demo", "--responses", "0", "--links", "0").exit_code == 0
    assert key_file(workdir).read_text(encoding="ascii") == key
    app = create_app()
    try:
        assert app.config["SECRET_KEY"] == key
    finally:
        app.extensions["elicit.db"][0].dispose()


def test_init_with_the_key_in_the_environment_writes_no_key_file(workdir: Path) -> None:
    assert elicit("init", ELICIT_SECRET_KEY="from-the-environment").exit_code == 0
    assert not key_file(workdir).exists()


def test_the_web_app_refuses_to_start_without_a_key(workdir: Path) -> None:
    """`gunicorn 'elicit:create_app()'` stops at start-up with the reason, instead of making a key of its own."""
    with pytest.raises(config.NoSecretKey) as refused:
        create_app()
    assert str(refused.value) == no_key_line(workdir).removeprefix("elicit: error: ")
    assert everything_under(workdir) == []


@pytest.mark.parametrize("name", [config.KEY_FILE_NAME, config.AUDIT_KEY_FILE_NAME])
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: path.mkdir(), "Is a directory"),
        (lambda path: path.write_bytes(b"\xff\xfe not ascii"), "not an ASCII text file"),
    ],
    ids=["a-folder", "not-ascii"],
)
def test_an_unreadable_key_file_is_refused_with_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, make: Any, reason: str
) -> None:
    """The secret key's and the audit key's files are read alike: one line that names the file and says why."""
    monkeypatch.delenv("ELICIT_SECRET_KEY", raising=False)
    monkeypatch.delenv("ELICIT_AUDIT_KEY", raising=False)
    instance = tmp_path / "instance"
    instance.mkdir()
    if name != config.KEY_FILE_NAME:
        (instance / config.KEY_FILE_NAME).write_text("k" * 64, encoding="ascii")
    make(instance / name)
    with pytest.raises((config.NoSecretKey, config.BadSetting)) as refused:
        config.from_environment(instance)
    assert f"cannot read the {'secret' if name == config.KEY_FILE_NAME else 'audit'} key file" in str(
        refused.value
    )
    assert reason in str(refused.value) and str(instance / name) in str(refused.value)
