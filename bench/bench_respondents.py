"""Server CPU per completed response: scripted experts complete the flagship against real servers and a floor.

N concurrent clients (threads, one httpx client with keep-alive, its own cookies and ``Accept-Encoding: gzip``
per expert) each complete responses through the page contract only (``tests.survey.contract``, via
``tests.load.respondent``): open the link, answer the 9 pages, submit. Served two ways (three in a full run):

- gunicorn, 2 sync workers, PostgreSQL (and, in a full run, 4 sync workers: the README's deployment);
- the embedded default: ``elicit serve`` (werkzeug, threaded) on SQLite.

The figure is **server CPU per completed response**: the CPU time (user + system) that the server's processes
and the database backends serving the benchmark's database spent during the timed window, divided by the
responses completed in it. Throughput swings with whatever else runs on the machine; CPU time per response does
not, so it is the figure compared with the floor (see ``CpuMeter`` for how it is read).

The floor, measured in the same run, served the same way on the same database: ``bench/floor_app.py``, a bare
Flask app whose GET renders a Jinja page the size of Elicit's average page and whose POST commits one row,
walked by the same clients with the least a paged questionnaire with post/redirect/get needs: one GET and one
POST per page of the instrument, then the thank-you GET (9 pages: 10 GETs and 9 POSTs).

Printed per server and app: completed responses/s, requests per response, GET and POST p50/p95/p99 latency,
bytes on the wire per response (status lines, headers and bodies as received, compressed where served so),
CPU ms per response (server, database, total), errors; then the ratios to the floor with the issue's targets and
pass/fail: CPU ≤ 1.5 x the floor's on gunicorn + PostgreSQL and ≤ 2 x on ``elicit serve`` + SQLite, requests
per response ≤ 20, GET p95 ≤ 2 x the floor's. A ``--quick`` run is a smoke run: its targets are printed, not
judged.

``python -m bench respondents [--quick]`` or ``python -m bench.bench_respondents [--quick]``. Sizes: warm-up of
8 responses then 80 timed, 8 clients (``--quick``: 4 clients, 4 warm-up, 8 timed). PostgreSQL at 127.0.0.1:5432
(``ELICIT_TEST_POSTGRES_URL``); each server gets a scratch database, dropped afterwards. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the tests package holds the scripted expert
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from tests.load.harness import Gunicorn, prepare_flagship, scratch_database  # noqa: E402
from tests.load.respondent import Respondent, wire_size  # noqa: E402
from tests.survey.contract import parse_forms  # noqa: E402

#: The issue's targets (printed with pass/fail, never timed tests).
CPU_TARGETS = {"postgresql": 1.5, "sqlite": 2.0}  # Elicit's CPU per response ÷ the floor's
REQUESTS_TARGET = 20  # requests per completed response, the flagship
GET_P95_TARGET = 2.0  # Elicit's GET p95 ÷ the floor's
LIMESURVEY_CPU_MS = (523, 584)  # LimeSurvey 6 + MariaDB, server CPU per completed response (the issue)
POLL_SECONDS = 0.5


class Werkzeug(Gunicorn):
    """The app under werkzeug's threaded server, as ``elicit serve`` runs it (same process handling)."""

    def command(self) -> list[str]:
        code = (
            "import sys; from importlib import import_module; from werkzeug.serving import run_simple; "
            "module, _, factory = sys.argv[1].partition(':'); "
            "app = getattr(import_module(module), factory.removesuffix('()'))(); "
            "run_simple('127.0.0.1', int(sys.argv[2]), app, threaded=True, use_reloader=False)"
        )
        return [sys.executable, "-c", code, self.app, str(self.port)]


# --------------------------------------------------------------------------------------------- CPU accounting
class CpuMeter:
    """CPU seconds (user + system) that a changing set of processes spends in a window.

    ``find`` names the processes that count (asked at the start, every ``POLL_SECONDS`` and at the end). Each
    process counts from its reading at the start, or from zero when it was born inside the window (its create
    time is after the start), to its last reading: at the end if it is still alive, else the last poll before it
    exited. What an exiting process spent after its last poll is lost (at most one poll interval of it), so the
    meter reports how many processes exited in the window; with the server's pools these are rare (0 in the
    runs recorded), and a process reused under the same pid is told apart by its create time.

    The server is the server's process and all its descendants (gunicorn's master and workers, or the one
    werkzeug process). The database is every PostgreSQL backend whose process title names the benchmark's
    scratch database (``postgres: USER DBNAME HOST(PORT) STATE``), autovacuum workers on it included: that
    database is made for one run, so no other client's work is counted, while the cluster's shared processes
    (checkpointer, WAL writer) are left out because they cannot be attributed. ``pg_stat_statements`` would
    not do: it times statements (wall clock, waits included), not a backend's CPU, and misses parse and protocol
    work; it is not installed on the shared server either.
    """

    def __init__(self, find: Callable[[], Iterable[psutil.Process]]) -> None:
        self.find = find
        self.start_value: dict[tuple[int, float], float] = {}
        self.last_value: dict[tuple[int, float], float] = {}
        self.processes: dict[tuple[int, float], psutil.Process] = {}
        self.started_at = 0.0
        self.born = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _cpu(process: psutil.Process) -> float | None:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        return float(times.user + times.system)

    def _poll(self, *, first: bool = False) -> None:
        for process in list(self.find()):
            try:
                key = (process.pid, process.create_time())
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if key not in self.processes:
                self.processes[key] = process
                if first:
                    value = self._cpu(process)
                    if value is None:
                        continue
                    self.start_value[key] = value
                else:  # born in the window (or, at worst, missed at the start: counted from first sight)
                    born_inside = key[1] >= self.started_at - 0.02
                    self.born += born_inside
                    value = self._cpu(process)
                    self.start_value[key] = 0.0 if born_inside or value is None else value
        for key, process in self.processes.items():
            value = self._cpu(process)
            if value is not None:
                self.last_value[key] = value

    def start(self) -> CpuMeter:
        self.started_at = time.time()
        self._poll(first=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._poll()

    def stop(self) -> tuple[float, int, int]:
        """(CPU seconds in the window, processes born in it, processes that exited in it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._poll()
        exited = sum(1 for process in self.processes.values() if not process.is_running())
        total = sum(self.last_value.get(key, start) - start for key, start in self.start_value.items())
        return total, self.born, exited


def server_processes(pid: int) -> Callable[[], list[psutil.Process]]:
    """The server's process and every descendant (gunicorn's workers)."""
    root = psutil.Process(pid)

    def find() -> list[psutil.Process]:
        try:
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    return find


def postgres_backends(database: str | None) -> Callable[[], list[psutil.Process]]:
    """PostgreSQL backends whose process title names ``database`` (none for SQLite)."""
    if database is None:
        return list

    def find() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info.get("cmdline") or ())
            if cmdline.startswith("postgres:") and f" {database} " in f"{cmdline} ":
                found.append(process)
        return found

    return find


# ------------------------------------------------------------------------------------------------ one run
@dataclass
class Run:
    """What one app under one server did in its timed window."""

    wall: float = 0.0
    completed: int = 0
    requests: int = 0
    gets: int = 0
    posts: int = 0
    wire_bytes: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"GET": [], "POST": []})
    page_bytes: list[int] = field(default_factory=list)
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    born: int = 0
    exited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self, timings: list[tuple[str, str, float]], wire: int, ok: bool, error: str | None = None
    ) -> None:
        with self.lock:
            for method, _, seconds in timings:
                self.latencies[method].append(seconds)
            self.requests += len(timings)
            self.gets += sum(1 for method, _, _ in timings if method == "GET")
            self.posts += sum(1 for method, _, _ in timings if method == "POST")
            self.wire_bytes += wire
            if ok:
                self.completed += 1
            if error:
                self.errors.append(error)

    def per_response(self, value: float) -> float:
        return value / self.completed if self.completed else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile in milliseconds (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run_clients(
    clients: int, jobs: list[Callable[[Run], None]], meters: tuple[CpuMeter, CpuMeter] | None = None
) -> Run:
    """Run the jobs on ``clients`` threads (each client does its share one after another); time the whole and,
    with ``meters`` (server, database), read their CPU over exactly that window."""
    run = Run()
    shares = [jobs[i::clients] for i in range(clients)]

    def client(share: list[Callable[[Run], None]]) -> None:
        for job in share:
            job(run)

    if meters is not None:
        for meter in meters:
            meter.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, shares))
    run.wall = time.perf_counter() - started
    if meters is not None:
        (run.server_cpu, born_s, exited_s), (run.database_cpu, born_d, exited_d) = (m.stop() for m in meters)
        run.born, run.exited = born_s + born_d, exited_s + exited_d
    return run


# ------------------------------------------------------------------------------------------------ the clients
def elicit_job(url: str, token: str, cohort: str, definition: Any, seed: int) -> Callable[[Run], None]:
    def job(run: Run) -> None:
        outcome = Respondent(url, token, cohort, definition, seed=seed, deadline=300).run()
        errors = [f"{m} {p}: {s}" for m, p, s, _ in outcome.server_errors]
        error = outcome.failure or (errors[0] if errors else None)
        run.add(outcome.timings, outcome.wire_bytes, ok=outcome.submitted and not error, error=error)
        with run.lock:
            run.page_bytes += outcome.page_bytes

    return job


def floor_job(url: str, token: str, pages: int) -> Callable[[Run], None]:
    def job(run: Run) -> None:
        timings: list[tuple[str, str, float]] = []
        wire = 0
        error = None
        with httpx.Client(base_url=url, timeout=60) as client:
            try:
                path = f"/f/{token}/p/0"
                for _ in range(pages + 1):
                    started = time.perf_counter()
                    page = client.get(path)
                    timings.append(("GET", "page", time.perf_counter() - started))
                    wire += wire_size(page)
                    if page.status_code != 200:
                        raise RuntimeError(f"GET {path}: {page.status_code}")
                    forms = parse_forms(page.text)  # the same client-side work as Elicit's experts do
                    if not forms:
                        break
                    data = {f["name"]: f["value"] for f in forms[0]["fields"] if f["type"] == "radio"}
                    started = time.perf_counter()
                    posted = client.post(forms[0]["action"], data={**data, "nav": "next"})
                    timings.append(("POST", "save", time.perf_counter() - started))
                    wire += wire_size(posted)
                    if posted.status_code != 303:
                        raise RuntimeError(f"POST {path}: {posted.status_code}")
                    path = posted.headers["Location"]
            except (httpx.HTTPError, RuntimeError) as exc:
                error = f"{exc.__class__.__name__}: {exc}"
        run.add(timings, wire, ok=error is None, error=error)

    return job


# ------------------------------------------------------------------------------------------------ the servers
@contextmanager
def database(kind: str, workdir: Path) -> Iterator[tuple[str, str | None]]:
    """The database URL and, for PostgreSQL, the scratch database's name (what its backends' titles show)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'elicit.db'}", None
    else:
        from sqlalchemy.engine import make_url

        with scratch_database("elicit_bench_respondents") as url:
            yield url, make_url(url).database


def serve(kind: str, app: str, url: str, workdir: Path, workers: int, **env: str) -> Gunicorn:
    ready = "/f/ready/done" if app.startswith("bench.") else "/static/elicit.css"
    if kind == "werkzeug":
        server: Gunicorn = Werkzeug(
            url, workdir, workers=0, app=app, env=env, name="werkzeug", ready_path=ready
        )
    else:  # "gunicorn" (sync workers) or "gthread" (4 threads a worker, keep-alive)
        threads = 4 if kind == "gthread" else 1
        server = Gunicorn(url, workdir, workers=workers, threads=threads, app=app, env=env, ready_path=ready)
    return server.start(timeout=60)


def timed(
    server: Gunicorn, db_name: str | None, clients: int, warm: list[Callable[[Run], None]], jobs: list[Any]
) -> Run:
    """Warm the server up (templates compiled, pools filled, caches made), then time the jobs with CPU meters."""
    assert server.process is not None  # nosec B101  # started by serve()
    run_clients(clients, warm)
    meters = (CpuMeter(server_processes(server.process.pid)), CpuMeter(postgres_backends(db_name)))
    return run_clients(clients, jobs, meters)


def measure(
    label: str, server_kind: str, db_kind: str, workers: int, clients: int, warm: int, responses: int
) -> tuple[Run, Run]:
    """Elicit, then the floor, under the same server on the same database."""
    from tests.conftest import FLAGSHIP

    from elicit.instruments.loading import load_file

    definition = load_file(FLAGSHIP)
    pages = len(definition.pages)
    with (
        tempfile.TemporaryDirectory(prefix="elicit-bench-") as tmp,
        database(db_kind, Path(tmp)) as (url, name),
    ):
        workdir = Path(tmp)
        study = prepare_flagship(url, per_cohort=(warm + responses) // 2 + 2)
        pairs = study.pairs()
        server = serve(server_kind, "elicit:create_app()", url, workdir, workers)
        try:
            jobs = [elicit_job(server.url, t, c, definition, i) for i, (c, t) in enumerate(pairs)]
            elicit = timed(server, name, clients, jobs[:warm], jobs[warm : warm + responses])
        finally:
            server.stop()
        page_bytes = int(statistics.mean(elicit.page_bytes)) if elicit.page_bytes else 20000
        _create_floor_table(url)
        env = {"FLOOR_PAGE_BYTES": str(page_bytes), "FLOOR_PAGES": str(pages)}
        server = serve(server_kind, "bench.floor_app:create_app()", url, workdir, workers, **env)
        try:
            warm_jobs = [floor_job(server.url, f"w{i}", pages) for i in range(warm)]
            jobs = [floor_job(server.url, f"t{i}", pages) for i in range(responses)]
            floor = timed(server, name, clients, warm_jobs, jobs)
        finally:
            server.stop()
    for run in (elicit, floor):
        run.page_bytes = run.page_bytes or [page_bytes]
    return elicit, floor


def rows_for(
    label: str, db_kind: str, elicit: Run, floor: Run, clients: int, responses: int, quick: bool
) -> list[dict[str, Any]]:
    """Two rows (Elicit, the floor) and the ratio row with the targets and pass/fail."""
    rows: list[dict[str, Any]] = []
    for app, run in (("elicit", elicit), ("floor", floor)):
        rows.append(
            {
                "server": label,
                "app": app,
                "responses": run.completed,
                "resp/s": round(run.completed / run.wall, 2) if run.wall else None,
                "req/resp": f"{run.per_response(run.requests):.1f} "
                f"({run.per_response(run.gets):.0f}+{run.per_response(run.posts):.0f})",
                "GET p50/p95/p99 ms": "/".join(
                    f"{percentile(run.latencies['GET'], q):.0f}" for q in (50, 95, 99)
                ),
                "POST p50/p95/p99 ms": "/".join(
                    f"{percentile(run.latencies['POST'], q):.0f}" for q in (50, 95, 99)
                ),
                "KB/resp wire": round(run.per_response(run.wire_bytes) / 1024, 1),
                "CPU ms/resp server+db": f"{1000 * run.per_response(run.server_cpu):.1f}"
                f"+{1000 * run.per_response(run.database_cpu):.1f}",
                "CPU ms/resp": round(1000 * run.per_response(run.server_cpu + run.database_cpu), 1),
                "errors": len(run.errors),
                "ok": not run.errors and run.completed == responses,
                "note": (run.errors[0][:80] if run.errors else "")
                + (f" {run.born} born/{run.exited} exited in window" if run.born or run.exited else ""),
            }
        )
    cpu_ratio = elicit.per_response(elicit.server_cpu + elicit.database_cpu) / floor.per_response(
        floor.server_cpu + floor.database_cpu
    )
    requests = elicit.per_response(elicit.requests)
    p95_ratio = percentile(elicit.latencies["GET"], 95) / percentile(floor.latencies["GET"], 95)
    cpu_target = CPU_TARGETS[db_kind]
    checks = [
        ("CPU", cpu_ratio, cpu_target, "x floor"),
        ("req/resp", requests, REQUESTS_TARGET, ""),
        ("GET p95", p95_ratio, GET_P95_TARGET, "x floor"),
    ]
    passed = [value <= target for _, value, target, _ in checks]
    rows.append(
        {
            "server": label,
            "app": "elicit ÷ floor",
            "CPU ms/resp": round(cpu_ratio, 2),
            "ok": None if quick else all(passed),
            "note": "; ".join(
                f"{name} {value:.2f}{' ' + unit if unit else ''} (target <= {target:g}: "
                f"{'pass' if ok else 'FAIL'})"
                for (name, value, target, unit), ok in zip(checks, passed, strict=True)
            )
            + (" [quick: not judged]" if quick else ""),
        }
    )
    return rows


def _create_floor_table(url: str) -> None:
    from bench.floor_app import metadata
    from elicit.db import make_engine

    engine = make_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def configurations(quick: bool) -> list[tuple[str, str, str, int]]:
    """(label, server, database, workers); ``ELICIT_BENCH_SERVERS`` (comma-separated: ``gunicorn2``,
    ``gunicorn4``, ``gthread``, ``serve``) chooses them (``gthread``, gunicorn's threaded worker with keep-alive,
    only when asked)."""
    every = {
        "gunicorn2": ("gunicorn -w 2, PostgreSQL", "gunicorn", "postgresql", 2),
        "gunicorn4": ("gunicorn -w 4, PostgreSQL", "gunicorn", "postgresql", 4),
        "gthread": ("gunicorn -w 2 -k gthread --threads 4, PostgreSQL", "gthread", "postgresql", 2),
        "serve": ("elicit serve (werkzeug), SQLite", "werkzeug", "sqlite", 0),
    }
    default = "gunicorn2,serve" if quick else "gunicorn2,gunicorn4,serve"
    chosen = os.environ.get("ELICIT_BENCH_SERVERS", default).split(",")
    return [every[name.strip()] for name in chosen if name.strip() in every]


def run(quick: bool) -> list[dict[str, Any]]:
    """The benchmark rows (see the module docstring)."""
    clients, warm, responses = (4, 4, 8) if quick else (8, 8, 80)
    rows: list[dict[str, Any]] = []
    load = os.getloadavg()
    for label, server_kind, db_kind, workers in configurations(quick):
        elicit, floor = measure(label, server_kind, db_kind, workers, clients, warm, responses)
        rows += rows_for(label, db_kind, elicit, floor, clients, responses, quick)
    best = min(
        (r["CPU ms/resp"] for r in rows if r["app"] == "elicit" and isinstance(r["CPU ms/resp"], float)),
        default=float("nan"),
    )
    low, high = LIMESURVEY_CPU_MS
    rows.append(
        {
            "server": f"LimeSurvey 6 + MariaDB: {low}-{high} ms CPU per response (the issue)",
            "app": "elicit (least)",
            "CPU ms/resp": best,
            "ok": None,
            "note": f"{low / best:.1f}-{high / best:.1f} x less CPU than LimeSurvey; {clients} clients, "
            f"{os.cpu_count()} CPUs {platform.machine()}, load average at start {load[0]:.1f}/{load[1]:.1f}",
        }
    )
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.bench_respondents", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not a measurement)")
    arguments = parser.parse_args()
    results = run(arguments.quick)
    try:
        from bench.__main__ import table
    except ImportError:  # the runner is not there: print the rows plainly
        for row in results:
            print(row)
    else:
        print(table(results))
    sys.exit(1 if any(row.get("ok") is False for row in results) else 0)
