"""Where a page request's time goes: pyinstrument over the flagship's page GETs and POSTs, in process.

The app runs as in production (``create_app`` with a database URL and a secret key, CSRF and sessions on) on a
scratch database holding the published flagship; a scripted expert (``tests.load.respondent``) drives it through
httpx's WSGI transport, so no server or network is timed, only the app. One expert is walked to a Likert page;
then that page is fetched ``--repeat`` times (GET) and saved ``--repeat`` times with the same answers (POST, the
idempotent re-save an expert's reload makes), each under the profiler. Printed: the frames with the most time of
their own (``flat``), then, with ``--tree``, the call tree.

``python -m bench.profile_requests [--database sqlite|postgresql] [--page lev_tactical] [--repeat 200] [--tree]``;
``--cpu`` prints CPU milliseconds per GET and POST instead (best of three rounds), for comparing two versions.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pyinstrument import Profiler  # noqa: E402
from tests.load.harness import SECRET_KEY, prepare_flagship, scratch_database  # noqa: E402
from tests.survey.contract import answers_for_page, questionnaire_form  # noqa: E402


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="elicit-profile-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'elicit.db'}"
    else:
        with scratch_database("elicit_bench_profile") as url:
            yield url


def walk_to(client: httpx.Client, token: str, cohort: str, definition: Any, page_id: str) -> dict[str, Any]:
    """Open the link and save pages until ``page_id`` is shown; its form, filled, to post again and again."""
    rng = random.Random(1)
    response = client.get(f"/s/{token}", follow_redirects=True)
    for _ in range(len(definition.pages) + 2):
        form = questionnaire_form(response.text)
        action = httpx.URL(form["action"]).path
        hidden = {f["name"]: [f["value"]] for f in form["fields"] if f["type"] == "hidden"}
        if action.endswith("/start") or action == f"/s/{token}":  # an older landing: choose the language
            response = client.post(action, data={**hidden, "language": ["en"]}, follow_redirects=True)
            continue
        answers = answers_for_page(definition, form, rng, cohort)
        if action.endswith(f"/p/{page_id}"):
            return {"action": action, "data": {**answers, **hidden, "nav": ["next"]}}
        response = client.post(action, data={**answers, **hidden, "nav": ["next"]}, follow_redirects=True)
    raise SystemExit(f"page {page_id} was never shown")


def cpu_time(label: str, call: Any, repeat: int) -> None:
    """CPU milliseconds per request, without the profiler: the best of three rounds (this process's CPU time,
    which a busy machine disturbs less than the wall clock). The client's own share (httpx) is included."""
    call()
    rounds = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(repeat):
            call()
        rounds.append((time.process_time() - started) / repeat)
    print(f"{label}: {1000 * min(rounds):.2f} ms CPU per request (best of 3 x {repeat})")


def profile(label: str, call: Any, repeat: int, tree: bool) -> None:
    call()  # once outside the profiler: caches and templates as a warm server has them
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(repeat):
        call()
    profiler.stop()
    session = profiler.last_session
    assert session is not None  # nosec B101  # the profiler ran
    print(
        f"\n== {label}: {repeat} requests, {1000 * session.duration / repeat:.2f} ms each (wall, in process)"
    )
    flat = profiler.output_text(flat=True, time="percent_of_total", show_all=False)
    print("\n".join(flat.splitlines()[:40]))
    if tree:
        print(profiler.output_text(time="percent_of_total"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_requests", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--page", default="lev_tactical", help="the flagship page to profile")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--tree", action="store_true", help="print the call trees too")
    parser.add_argument("--cpu", action="store_true", help="print CPU ms per request instead of profiles")
    args = parser.parse_args(argv)

    from tests.conftest import FLAGSHIP

    from elicit import create_app
    from elicit.db import db
    from elicit.instruments.loading import load_file

    definition = load_file(FLAGSHIP)
    with database(args.database) as url:
        study = prepare_flagship(url, per_cohort=2)
        cohort, token = study.pairs()[0]
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY})
        transport = httpx.WSGITransport(app=app)
        with httpx.Client(transport=transport, base_url="http://127.0.0.1") as client:
            posted = walk_to(client, token, cohort, definition, args.page)
            page_path = posted["action"]

            def get() -> None:
                response = client.get(page_path)
                assert response.status_code == 200, response.status_code  # nosec B101  # a profile of errors is useless

            def post() -> None:
                response = client.post(page_path, data=posted["data"])
                assert response.status_code == 303, response.text[:300]  # nosec B101  # as above

            if args.cpu:
                cpu_time(f"GET {args.page}", get, args.repeat)
                cpu_time(f"POST {args.page}", post, args.repeat)
            else:
                profile(f"GET {args.page}", get, args.repeat, args.tree)
                profile(f"POST {args.page}", post, args.repeat, args.tree)
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
