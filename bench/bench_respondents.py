"""Experts per second: scripted respondents complete the flagship questionnaire against real servers.

N concurrent clients (threads, one httpx client with keep-alive and its own cookies per expert) each complete
several responses through the page contract only (``tests.survey.contract``, via ``tests.load.respondent``):
open the link, pick a language, answer 9 pages, review, submit. Served three ways:

- gunicorn, 2 sync workers, PostgreSQL;
- gunicorn, 4 sync workers, PostgreSQL;
- the embedded default: ``elicit serve`` (werkzeug, threaded) on SQLite.

The floor, measured in the same run and served the same way on the same database: ``bench/floor_app.py``, a
bare Flask app whose GET renders a Jinja page the size of Elicit's average page and whose POST commits one row,
walked by the same number of clients through as many GETs and POSTs per "response" (12 and 11).

Reported per server: completed responses/s, p50/p95/p99 latency of page GETs and POSTs, errors (must be 0),
and the cost ratio = floor requests/s ÷ Elicit requests/s at the same concurrency (target ≤ 2.5). The issue's
comparison: LimeSurvey 6 + MariaDB completes ~1.6 forty-item responses/s with 8 clients on 2 cores; Elicit's
target is ≥ 25× that, 40 responses/s (see bench/README.md for rerunning LimeSurvey).

``python -m bench respondents [--quick]`` or ``python -m bench.bench_respondents [--quick]``.
Sizes: 8 clients × 6 responses (``--quick``: 4 × 2). PostgreSQL at 127.0.0.1:5432 (``ELICIT_TEST_POSTGRES_URL``);
each server gets a scratch database, dropped afterwards. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the tests package holds the scripted expert
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.load.harness import Gunicorn, prepare_flagship, scratch_database  # noqa: E402
from tests.load.respondent import Respondent  # noqa: E402
from tests.survey.contract import parse_forms  # noqa: E402

COST_TARGET = 2.5
LIMESURVEY_RESPONSES_PER_S = 1.6  # LimeSurvey 6 + MariaDB, 40 items, 8 clients, 2 cores (the issue)
LIMESURVEY_FACTOR = 25
FLOOR_PAGES = 11  # GET + POST each, then the thank-you GET: 12 GETs and 11 POSTs, like one Elicit response


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


@dataclass
class Run:
    """What one app under one server did: wall time, completed responses, latencies by method, errors."""

    wall: float = 0.0
    completed: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"GET": [], "POST": []})
    page_bytes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, timings: list[tuple[str, str, float]], ok: bool, error: str | None = None) -> None:
        with self.lock:
            for method, _, seconds in timings:
                self.latencies[method].append(seconds)
            self.requests += len(timings)
            if ok:
                self.completed += 1
            if error:
                self.errors.append(error)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile in milliseconds (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run_clients(clients: int, jobs: list[Callable[[Run], None]]) -> Run:
    """Run the jobs on ``clients`` threads (each client does its share one after another); time the whole."""
    run = Run()
    shares = [jobs[i::clients] for i in range(clients)]

    def client(share: list[Callable[[Run], None]]) -> None:
        for job in share:
            job(run)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, shares))
    run.wall = time.perf_counter() - started
    return run


# ------------------------------------------------------------------------------------------------ the clients
def elicit_job(url: str, token: str, cohort: str, definition: Any, seed: int) -> Callable[[Run], None]:
    def job(run: Run) -> None:
        outcome = Respondent(url, token, cohort, definition, seed=seed, deadline=300).run()
        errors = [f"{m} {p}: {s}" for m, p, s, _ in outcome.server_errors]
        error = outcome.failure or (errors[0] if errors else None)
        run.add(outcome.timings, ok=outcome.submitted and not error, error=error)
        with run.lock:
            run.page_bytes += outcome.page_bytes

    return job


def floor_job(url: str, token: str) -> Callable[[Run], None]:
    def job(run: Run) -> None:
        timings: list[tuple[str, str, float]] = []
        error = None
        with httpx.Client(base_url=url, timeout=60) as client:
            try:
                path = f"/f/{token}/p/0"
                for _ in range(FLOOR_PAGES + 1):
                    started = time.perf_counter()
                    page = client.get(path)
                    timings.append(("GET", "page", time.perf_counter() - started))
                    if page.status_code != 200:
                        raise RuntimeError(f"GET {path}: {page.status_code}")
                    forms = parse_forms(page.text)  # the same client-side work as Elicit's experts do
                    if not forms:
                        break
                    data = {f["name"]: f["value"] for f in forms[0]["fields"] if f["type"] == "radio"}
                    started = time.perf_counter()
                    posted = client.post(forms[0]["action"], data={**data, "nav": "next"})
                    timings.append(("POST", "save", time.perf_counter() - started))
                    if posted.status_code != 303:
                        raise RuntimeError(f"POST {path}: {posted.status_code}")
                    path = posted.headers["Location"]
            except (httpx.HTTPError, RuntimeError) as exc:
                error = f"{exc.__class__.__name__}: {exc}"
        run.add(timings, ok=error is None, error=error)

    return job


# ------------------------------------------------------------------------------------------------ the servers
@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'elicit.db'}"
    else:
        with scratch_database("elicit_bench_respondents") as url:
            yield url


def serve(kind: str, app: str, url: str, workdir: Path, workers: int, **env: str) -> Gunicorn:
    ready = "/f/ready/done" if app.startswith("bench.") else "/static/elicit.css"
    if kind == "werkzeug":
        server: Gunicorn = Werkzeug(
            url, workdir, workers=0, app=app, env=env, name="werkzeug", ready_path=ready
        )
    else:
        server = Gunicorn(url, workdir, workers=workers, app=app, env=env, ready_path=ready)
    return server.start(timeout=60)


def measure(
    label: str, server_kind: str, db_kind: str, workers: int, clients: int, per_client: int
) -> list[dict[str, Any]]:
    """Elicit, then the floor, under the same server on the same database; two table rows."""
    from tests.conftest import FLAGSHIP

    from elicit.instruments.loading import load_file

    definition = load_file(FLAGSHIP)
    responses = clients * per_client
    with tempfile.TemporaryDirectory(prefix="elicit-bench-") as tmp, database(db_kind, Path(tmp)) as url:
        workdir = Path(tmp)
        study = prepare_flagship(url, per_cohort=(responses + 1) // 2 + 1)
        pairs = study.pairs()
        warm, pairs = pairs[:1], pairs[1:]
        server = serve(server_kind, "elicit:create_app()", url, workdir, workers)
        try:
            run_clients(
                1, [elicit_job(server.url, warm[0][1], warm[0][0], definition, 0)]
            )  # compile templates
            jobs = [elicit_job(server.url, t, c, definition, i) for i, (c, t) in enumerate(pairs[:responses])]
            elicit = run_clients(clients, jobs)
        finally:
            server.stop()
        page_bytes = int(statistics.mean(elicit.page_bytes)) if elicit.page_bytes else 20000
        _create_floor_table(url)
        env = {"FLOOR_PAGE_BYTES": str(page_bytes), "FLOOR_PAGES": str(FLOOR_PAGES)}
        server = serve(server_kind, "bench.floor_app:create_app()", url, workdir, workers, **env)
        try:
            run_clients(1, [floor_job(server.url, "warm")])
            floor = run_clients(clients, [floor_job(server.url, f"t{i}") for i in range(responses)])
        finally:
            server.stop()
    rows = []
    elicit_rps = elicit.requests / elicit.wall
    floor_rps = floor.requests / floor.wall
    cost = floor_rps / elicit_rps
    for app, run in (("elicit", elicit), ("floor", floor)):
        rows.append(
            {
                "server": label,
                "app": app,
                "clients": clients,
                "responses": run.completed,
                "resp/s": round(run.completed / run.wall, 2),
                "req/s": round(run.requests / run.wall, 1),
                "GET p50/p95/p99 ms": "/".join(
                    f"{percentile(run.latencies['GET'], q):.0f}" for q in (50, 95, 99)
                ),
                "POST p50/p95/p99 ms": "/".join(
                    f"{percentile(run.latencies['POST'], q):.0f}" for q in (50, 95, 99)
                ),
                "errors": len(run.errors),
                "cost x floor": round(cost, 2) if app == "elicit" else 1.0,
                "page bytes": page_bytes,
                "ok": (
                    not run.errors and run.completed == responses and (app == "floor" or cost <= COST_TARGET)
                ),
                "first error": run.errors[0][:80] if run.errors else "",
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


def run(quick: bool) -> list[dict[str, Any]]:
    """The benchmark rows (see the module docstring)."""
    clients, per_client = (4, 2) if quick else (8, 6)
    configs = [
        ("gunicorn -w 2, PostgreSQL", "gunicorn", "postgresql", 2),
        ("gunicorn -w 4, PostgreSQL", "gunicorn", "postgresql", 4),
        ("elicit serve (werkzeug), SQLite", "werkzeug", "sqlite", 0),
    ]
    rows: list[dict[str, Any]] = []
    for label, server_kind, db_kind, workers in configs:
        rows += measure(label, server_kind, db_kind, workers, clients, per_client)
    best = max(r["resp/s"] for r in rows if r["app"] == "elicit")
    target = LIMESURVEY_RESPONSES_PER_S * LIMESURVEY_FACTOR
    rows.append(
        {
            "server": f"LimeSurvey target: >= {LIMESURVEY_FACTOR} x {LIMESURVEY_RESPONSES_PER_S} resp/s",
            "app": "elicit (best)",
            "clients": clients,
            "resp/s": best,
            "cost x floor": None,
            "ok": None if quick else best >= target,  # a quick run is too small to judge
            "first error": f"{best / LIMESURVEY_RESPONSES_PER_S:.1f} x LimeSurvey ({os.cpu_count()} CPUs, "
            f"{platform.machine()})",
        }
    )
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.bench_respondents", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not a measurement)")
    arguments = parser.parse_args()
    try:
        from bench.__main__ import table
    except ImportError:  # the runner is not there: print the rows plainly
        results = run(arguments.quick)
        for row in results:
            print(row)
    else:
        results = run(arguments.quick)
        print(table(results))
    sys.exit(1 if any(row.get("ok") is False for row in results) else 0)
