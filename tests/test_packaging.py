"""The migrations live in the checkout's top-level migrations/ and install as ``elicit.migrations`` (issue 14).

A wheel is built from a copy of the sources (so nothing left in the checkout's build/ can slip into it), opened,
and installed by unpacking it into a folder that a fresh Python process runs ``elicit init`` from. The editable
install the Makefile makes must resolve the same package to the checkout's migrations/ folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

import elicit.migrate
import elicit.migrations

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"
SECRET = "test-secret-key"

# One build per worker at most, and one in all under `make test`'s --dist loadfile (one worker runs this file).
pytestmark = pytest.mark.xdist_group("wheel")


def _sources(folder: Path) -> list[Path]:
    """The files a wheel must carry from ``folder``: everything but bytecode."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=skip)
    shutil.copytree(MIGRATIONS, source / "migrations", ignore=skip)
    dist = tmp_path_factory.mktemp("dist")
    # Build isolation as a user's `pip wheel .` has it: pip brings the setuptools that [build-system] asks for.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = dist.glob("elicit-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_the_migrations_as_elicit_migrations(wheel_names: set[str]) -> None:
    versions = sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py") if p.name != "__init__.py")
    assert len(versions) >= 6  # 0001_initial_schema.py .. 0006_mail_jobs.py at the time of writing
    expected = {"elicit/migrations/env.py", "elicit/migrations/script.py.mako"}
    expected |= {f"elicit/migrations/versions/{name}" for name in versions}
    assert expected - wheel_names == set()
    # Nothing outside the package: no top-level migrations/ (or src/) beside elicit/ in site-packages.
    top = {name.split("/", 1)[0] for name in wheel_names}
    assert top == {"elicit", "elicit-0.1.0.dist-info"}, top


def test_the_wheel_carries_every_module_and_data_file(wheel_names: set[str]) -> None:
    """pyproject.toml lists the packages by hand (a package-dir mapping cannot be discovered): none is left out."""
    package = ROOT / "src" / "elicit"
    expected = {f"elicit/{p.relative_to(package).as_posix()}" for p in _sources(package)}
    expected |= {f"elicit/migrations/{p.relative_to(MIGRATIONS).as_posix()}" for p in _sources(MIGRATIONS)}
    assert sorted(expected - wheel_names) == []


def test_elicit_init_works_from_the_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    database = elsewhere / "elicit.db"
    script = (
        "import json, sys\n"
        "import elicit.migrate\n"
        "from elicit.cli import main\n"
        "print(json.dumps({'elicit': elicit.__file__, 'migrations': str(elicit.migrate.MIGRATIONS)}))\n"
        "sys.argv = ['elicit', 'init']\n"
        "main()\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(site),  # ahead of the checkout's editable install, which the wheel stands in for
        "DATABASE_URL": f"sqlite:///{database}",
        "ELICIT_SECRET_KEY": SECRET,
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, *rest = result.stdout.splitlines()
    where = json.loads(first)
    assert Path(where["elicit"]).is_relative_to(site)
    assert Path(where["migrations"]) == site / "elicit" / "migrations"
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert any(line.startswith(f"database ready at revision {head}:") for line in rest), result.stdout
    assert database.is_file()


def test_the_editable_install_resolves_elicit_migrations_to_the_checkout_folder(tmp_path: Path) -> None:
    direct_url = json.loads(metadata.distribution("elicit").read_text("direct_url.json") or "{}")
    assert direct_url.get("dir_info", {}).get("editable"), "run the tests in the Makefile's editable install"
    assert Path(elicit.migrations.__file__) == MIGRATIONS / "__init__.py"
    assert elicit.migrate.MIGRATIONS == MIGRATIONS
    # And in a process started outside the checkout, where nothing puts the checkout itself on sys.path.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import elicit.migrations, elicit.migrations.versions as v; print(v.__file__)",
        ],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(result.stdout.strip()) == MIGRATIONS / "versions" / "__init__.py"
