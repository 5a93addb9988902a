"""Real servers for load and fault tests: gunicorn subprocesses, a private PostgreSQL, scratch databases.

Everything listens on 127.0.0.1 only, every wait is bounded in time, and every process started here runs in
its own process group so that it (and its workers) can be stopped, or SIGKILLed, as a whole.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from tests.conftest import FLAGSHIP, POSTGRES_ADMIN_URL

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET_KEY = "load-test-secret-key-shared-by-every-worker-and-instance"
READY_PATH = "/static/elicit.css"  # served without the database and outside the rate-limited /s/ pages


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s")


# ----------------------------------------------------------------------------------------------- gunicorn
class Gunicorn:
    """``gunicorn -w N -b 127.0.0.1:PORT 'elicit:create_app()'`` with the app's settings in its environment."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        workers: int = 4,
        threads: int = 1,
        port: int | None = None,
        app: str = "elicit:create_app()",
        env: Mapping[str, str] | None = None,
        name: str = "gunicorn",
        ready_path: str = READY_PATH,
    ) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.workers = workers
        self.threads = threads
        self.port = port or free_port()
        self.app = app
        self.extra_env = dict(env or {})
        self.ready_path = ready_path
        self.log = workdir / f"{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ELICIT_", "PYTEST_", "DATABASE_URL"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            ELICIT_SECRET_KEY=SECRET_KEY,
            ELICIT_BASE_URL=self.url,
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        )
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}"]
        if self.threads > 1:
            cmd += ["-k", "gthread", "--threads", str(self.threads)]
        cmd += ["--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning", self.app]
        return cmd

    def start(self, timeout: float = 30.0) -> Gunicorn:
        """Start and wait until a request is answered (and every worker is up)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._answers() and len(self.worker_pids()) >= self.workers:
                return self
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"gunicorn did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + self.ready_path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_pids(self) -> list[int]:
        """The master's live child processes (the workers)."""
        if self.process is None or self.process.poll() is not None:
            return []
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [int(c) for c in children]

    def kill_worker(self) -> int:
        """SIGKILL one worker (the master starts a new one); return its pid."""
        pids = self.worker_pids()
        if not pids:
            raise RuntimeError("no worker to kill")
        victim = secrets.choice(pids)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        return victim

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as a power cut or the OOM killer would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            self.kill()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def gunicorn(database_url: str, workdir: Path, **kwargs: Any) -> Iterator[Gunicorn]:
    """A started server, always stopped (and its process group killed) at the end."""
    server = Gunicorn(database_url, workdir, **kwargs)
    try:
        yield server.start()
    finally:
        server.stop()


# --------------------------------------------------------------------------------------- private PostgreSQL
def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` OS user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, which a test may stop and start at will.

    The shared server at 127.0.0.1:5432 is never touched: other tests use it at the same time.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="elicit-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
            "-c fsync=off -c max_connections=100"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.dir / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"]
            ),
            check=False,
            capture_output=True,
            timeout=90,
        )

    def create_database(self, name: str) -> str:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------- shared-server databases
@contextlib.contextmanager
def scratch_database(prefix: str = "elicit_load") -> Iterator[str]:
    """A new, empty database on the shared PostgreSQL server, dropped (WITH FORCE) at the end."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# ------------------------------------------------------------------------------------------------- the study
@dataclass
class FlagshipStudy:
    """A migrated database holding the published flagship study ``dd-load`` and fresh invitation tokens."""

    database_url: str
    tokens: dict[str, list[str]]  # by cohort code

    def pairs(self) -> list[tuple[str, str]]:
        """(cohort, token) pairs, cohorts interleaved."""
        result = []
        longest = max(len(t) for t in self.tokens.values())
        for i in range(longest):
            for cohort, tokens in self.tokens.items():
                if i < len(tokens):
                    result.append((cohort, tokens[i]))
        return result


def prepare_flagship(database_url: str, per_cohort: int, *, slug: str = "dd-load") -> FlagshipStudy:
    """Migrate the database (``elicit init``), publish the flagship, create the study and invite experts."""
    from elicit import create_app
    from elicit.db import db
    from elicit.instruments.loading import load_file
    from elicit.instruments.versions import publish_version
    from elicit.migrate import upgrade
    from elicit.studies import create_study, find_cohort, issue_links

    upgrade(database_url)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "TESTING": True})
    tokens: dict[str, list[str]] = {}
    try:
        with app.app_context():
            version, _ = publish_version(db.session, load_file(FLAGSHIP), "load-test")
            study = create_study(db.session, slug, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
            for code in ("UK", "PK"):
                links = issue_links(db.session, study, find_cohort(study, code), per_cohort)
                tokens[code] = [link.token for link in links]
            db.session.commit()
    finally:
        app.extensions["elicit.db"][0].dispose()
    return FlagshipStudy(database_url, tokens)


# ------------------------------------------------------------------------------------------ database state
@dataclass
class StoredResponse:
    id: str
    status: str
    invitation_id: int | None
    pages_done: list[str]
    variables: dict[str, str]
    # Whose it is, found as only the holder of the server's secret can (the tests hold it): the token hash of
    # the invitation whose keyed hash is the response's lookup key (or whose id it carries, if pseudonymous).
    token_hash: str | None


def database_state(database_url: str) -> tuple[list[StoredResponse], dict[str, str]]:
    """Every response with its stored variables and its expert's token hash, and invitation status by hash."""
    from elicit.models import Answer, Invitation, Response
    from elicit.responding.unlinking import response_key
    from tests.load.respondent import stored_variables

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            responses = conn.execute(
                select(
                    Response.id,
                    Response.status,
                    Response.invitation_id,
                    Response.lookup_key,
                    Response.round_id,
                    Response.pages_done,
                )
            ).all()
            rows: dict[str, list[Any]] = {r.id: [] for r in responses}
            for answer in conn.execute(
                select(Answer.response_id, Answer.item_id, Answer.part, Answer.value_num, Answer.value_text)
            ):
                rows.setdefault(answer.response_id, []).append(answer[1:])
            invitations = conn.execute(
                select(Invitation.id, Invitation.token_hash, Invitation.status, Invitation.response_seed)
            ).all()
    finally:
        engine.dispose()
    by_id = {i.id: i.token_hash for i in invitations}
    rounds = {r.round_id for r in responses}
    by_key = {
        response_key(SECRET_KEY, round_id, i.response_seed): i.token_hash
        for i in invitations
        for round_id in rounds
    }
    stored = [
        StoredResponse(
            r.id,
            r.status,
            r.invitation_id,
            (r.pages_done or "").split(),
            stored_variables(rows[r.id]),
            by_id.get(r.invitation_id) if r.invitation_id is not None else by_key.get(r.lookup_key or ""),
        )
        for r in responses
    ]
    return stored, {i.token_hash: i.status for i in invitations}


# ------------------------------------------------------------------------------------------ one at a time
LOCK_PATH = Path(tempfile.gettempdir()) / "elicit-load-tests.lock"


@contextlib.contextmanager
def exclusive(timeout: float = 900.0) -> Iterator[None]:
    """Hold a machine-wide lock while a heavy server test runs, so two never fight over the same cores.

    ``--dist loadgroup`` is meant to put the ``xdist_group("load")`` tests on one worker, but pytest-xdist 3.8
    marks the group through ``item._nodeid``, which pytest 9.2 no longer reads: the groups are silently
    ignored. ``make test`` uses ``--dist loadfile`` (a file's tests on one worker, so test_gunicorn.py's never
    wait for each other and module fixtures are built once); this lock serializes the heavy tests of different
    files whatever the distribution (and across concurrent runs).
    """
    import fcntl

    with open(LOCK_PATH, "a+") as handle:
        end = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise TimeoutError(f"another heavy test held {LOCK_PATH} for {timeout:.0f}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
