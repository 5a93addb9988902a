"""A scripted expert over real HTTP (httpx, its own cookies, keep-alive), for load, fault and benchmark runs.

It knows only the page contract (DESIGN.md, "Expert pages") and the instrument file, through
``tests.survey.contract``: it opens its link (its language comes from its ``Accept-Language``; the landing is the
first questionnaire page), fills each page's single POST form and presses ``nav=next``, and on the last page
``nav=submit`` (a review page, when one is shown, is submitted with ``nav=submit`` too). With ``retry`` it behaves like a browser whose user
presses reload: on a connection error or a 502/503/504 it sends the *same* request again (the same POST body,
the same CSRF token), which the server must absorb without losing or duplicating anything.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from elicit.instruments.schema import Definition
from tests.survey.contract import answers_for_page, parse_forms

RETRY_STATUSES = frozenset({502, 503, 504})
#: Hidden fields a browser sends back with the form: the CSRF token, and the language the landing page was shown in.
SENT_HIDDEN = frozenset({"csrf_token", "language"})
DONE_MARKER = 'role="status"'  # the thank-you page (survey/done.html): no form, a status panel


class RespondentFailed(Exception):
    """The scripted expert could not go on (an unexpected page, a 4xx, an exhausted retry budget)."""


@dataclass
class Outcome:
    """What one scripted expert did and saw."""

    token: str
    cohort: str
    sent: dict[str, list[str]] = field(default_factory=dict)  # every answer field sent, by name
    sent_by_page: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # the same, by page id
    acknowledged_pages: list[str] = field(default_factory=list)  # pages whose POST got its 303
    submitted: bool = False  # the submit POST got its 303 and the thank-you page showed
    submit_acknowledged_at: float | None = None  # time.monotonic() of the submit's 303
    statuses: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    transport_errors: int = 0
    server_errors: list[tuple[str, str, int, str]] = field(default_factory=list)  # method, path, status, body
    timings: list[tuple[str, str, float]] = field(default_factory=list)  # method, kind, seconds
    page_bytes: list[int] = field(default_factory=list)  # sizes of the pages received (GET 200), decoded
    wire_bytes: int = 0  # every response's status line, headers and body as received (compressed if it was)
    failure: str | None = None


class Respondent:
    """One expert working through the flagship questionnaire.

    ``base_urls``: one server, or several that the expert alternates between page by page (``switch_every``),
    like a load balancer without sticky sessions would do.
    """

    def __init__(
        self,
        base_urls: str | Sequence[str],
        token: str,
        cohort: str,
        definition: Definition,
        *,
        seed: int = 0,
        language: str = "en",
        retry: bool = False,
        deadline: float = 120.0,
        switch_every: int = 0,
        before_submit: Callable[[Respondent], None] | None = None,
        timeout: float = 30.0,
        abort: threading.Event | None = None,
    ) -> None:
        self.base_urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self.token = token
        self.definition = definition
        self.rng = random.Random(seed)
        self.language = language
        self.retry = retry
        self.deadline = time.monotonic() + deadline
        self.switch_every = switch_every
        self.before_submit = before_submit
        self.outcome = Outcome(token, cohort)
        self.abort = abort or threading.Event()
        self._server = 0
        self._requests = 0
        self.client = httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"Accept-Language": language}
        )

    # ---------------------------------------------------------------------------------------------- transport
    def _base(self) -> str:
        if self.switch_every and self._requests and self._requests % self.switch_every == 0:
            self._server = (self._server + 1) % len(self.base_urls)
        return self.base_urls[self._server]

    def _send(
        self, method: str, path: str, kind: str, data: dict[str, list[str]] | None = None
    ) -> httpx.Response:
        """One request, retried as a browser's reload would be (same method, same body) when allowed."""
        delay = 0.05
        while True:
            if time.monotonic() > self.deadline:
                raise RespondentFailed(f"deadline passed during {method} {path}")
            if self.abort.is_set():
                raise RespondentFailed("aborted")
            url = self._base() + path
            self._requests += 1
            started = time.perf_counter()
            try:
                response = self.client.request(method, url, data=data)
            except httpx.TransportError as exc:
                self.outcome.transport_errors += 1
                if not self.retry:
                    raise RespondentFailed(f"{method} {path}: {exc.__class__.__name__}: {exc}") from None
                self.outcome.retries += 1
                self.abort.wait(delay * (1 + self.rng.random()))
                delay = min(delay * 2, 0.5)
                continue
            self.outcome.timings.append((method, kind, time.perf_counter() - started))
            self.outcome.statuses[response.status_code] += 1
            self.outcome.wire_bytes += wire_size(response)
            if method == "GET" and response.status_code == 200:
                self.outcome.page_bytes.append(len(response.content))
            if response.status_code >= 500:
                self.outcome.server_errors.append((method, path, response.status_code, response.text[:2000]))
                if self.retry and response.status_code in RETRY_STATUSES:
                    self.outcome.retries += 1
                    self.abort.wait(delay * (1 + self.rng.random()))
                    delay = min(delay * 2, 0.5)
                    continue
                raise RespondentFailed(f"{method} {path}: {response.status_code}")
            return response

    def _get(self, path: str, kind: str = "page") -> httpx.Response:
        """GET and follow redirects (each hop is its own GET)."""
        response = self._send("GET", path, kind)
        for _ in range(5):
            if response.status_code not in (301, 302, 303):
                return response
            response = self._send("GET", _path_of(response.headers["Location"]), kind)
        raise RespondentFailed(f"redirect loop from {path}")

    # --------------------------------------------------------------------------------------------------- flow
    def run(self) -> Outcome:
        """Answer and submit; never raises (a failure is recorded in ``outcome.failure``)."""
        try:
            self._run()
        except (RespondentFailed, AssertionError, KeyError, ValueError) as exc:
            self.outcome.failure = f"{exc.__class__.__name__}: {exc}"
        finally:
            self.client.close()
        return self.outcome

    def _run(self) -> None:
        landing_path = f"/s/{self.token}"
        page = self._get(landing_path, "landing")
        for _ in range(40):
            if page.status_code != 200:
                raise RespondentFailed(f"GET {page.request.url.path}: {page.status_code}")
            forms = [f for f in parse_forms(page.text) if f["method"].lower() == "post"]
            if not forms:
                if DONE_MARKER in page.text and page.request.url.path == landing_path:
                    self.outcome.submitted = True
                    return
                raise RespondentFailed(f"no form on {page.request.url.path}")
            if len(forms) != 1:
                raise RespondentFailed(f"{len(forms)} post forms on {page.request.url.path}")
            form = forms[0]
            action = _path_of(form["action"]) or page.request.url.path
            hidden = {
                f["name"]: [f["value"]]
                for f in form["fields"]
                if f["type"] == "hidden" and f["name"] in SENT_HIDDEN
            }
            buttons = {f["value"] for f in form["fields"] if f["name"] == "nav" and f["type"] == "submit"}
            if action == landing_path:  # an older landing page: choose the language to start
                data = {**hidden, "language": [self.language]}
                kind = "start"
            elif action.endswith("/review"):
                if self.before_submit is not None:
                    self.before_submit(self)
                data = {**hidden, "nav": ["submit"]}
                kind = "submit"
            else:
                data = answers_for_page(self.definition, form, self.rng, self.outcome.cohort)
                self.outcome.sent.update(data)
                self.outcome.sent_by_page[action.rsplit("/", 1)[-1]] = data
                last = "submit" in buttons  # the last page submits the response as it saves
                if last and self.before_submit is not None:
                    self.before_submit(self)
                data = {**data, **hidden, "nav": ["submit" if last else "next"]}
                kind = "save+submit" if last else "save"
            response = self._send("POST", action, kind, data)
            if response.status_code != 303:
                raise RespondentFailed(f"POST {action}: {response.status_code} {response.text[:300]!r}")
            if kind.startswith("save"):
                self.outcome.acknowledged_pages.append(action.rsplit("/", 1)[-1])
            if kind.endswith("submit"):
                self.outcome.submit_acknowledged_at = time.monotonic()
            page = self._get(_path_of(response.headers["Location"]))
        raise RespondentFailed("more than 40 pages")


def wire_size(response: httpx.Response) -> int:
    """Bytes of a response as they came over the connection: status line, headers, body (before decoding)."""
    head = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n") + 2
    head += sum(len(name) + len(value) + 4 for name, value in response.headers.raw)
    return head + response.num_bytes_downloaded


def _path_of(url: str) -> str:
    """The path (and query) of an absolute or relative URL, so any server of a group can be asked."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# ------------------------------------------------------------------------------------------ checking answers
def _canonical_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def expected_variables(
    definition: Definition, sent: dict[str, list[str]], *, held: bool = False
) -> dict[str, str]:
    """The stored variables (``item`` or ``item.part`` → canonical text) that the fields ``sent`` must give.

    Written from the instrument and the export's shape (one variable per item or part; a multiple choice is
    one 1/0 variable per choice), independently of the server's parser. Items whose relevance is false given
    what was sent are no answers: a submitted response holds none of them; an in-progress one (``held``) keeps
    what was typed in them until submit.
    """
    first = {name: values[0] for name, values in sent.items() if values}
    expected: dict[str, str] = {}
    for name, values in sent.items():
        item = definition.item(name.split(".")[0])
        if not held and item.relevant is not None and not item.relevant.truthy(first):
            continue
        if item.type == "multiple_choice":
            for choice in item.choices:
                expected[f"{item.id}.{choice.key}"] = "1" if choice.key in values else "0"
            continue
        value = values[0]
        try:
            expected[name] = _canonical_number(float(value)) if value.strip() == value else value
        except ValueError:
            expected[name] = value
    return expected


def stored_variables(rows: Sequence[Any]) -> dict[str, str]:
    """Answer rows (item_id, part, value_num, value_text) as ``item`` or ``item.part`` → canonical text."""
    result: dict[str, str] = {}
    for item_id, part, value_num, value_text in rows:
        name = f"{item_id}.{part}" if part else item_id
        result[name] = value_text if value_text is not None else _canonical_number(value_num)
    return result


def run_all(respondents: Sequence[Respondent], *, threads: int, timeout: float = 300.0) -> list[Outcome]:
    """Run every respondent on a thread pool of ``threads`` and return their outcomes in order."""
    with Crowd(respondents, threads=threads) as crowd:
        return crowd.results(timeout)


class Crowd:
    """Respondents running in the background on a thread pool, so a test can act (kill, restart) meanwhile.

    Leaving the ``with`` block aborts every respondent still running at its next request or retry pause, so a
    failing test never waits for their deadlines.
    """

    def __init__(self, respondents: Sequence[Respondent], *, threads: int) -> None:
        self.respondents = list(respondents)
        self.abort = threading.Event()
        for respondent in self.respondents:
            respondent.abort = self.abort
        self.pool = ThreadPoolExecutor(max_workers=threads)
        self.futures: list[Future[Outcome]] = []

    def __enter__(self) -> Crowd:
        self.futures = [self.pool.submit(r.run) for r in self.respondents]
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort.set()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def saved_pages(self) -> int:
        """Page saves acknowledged so far, over all respondents."""
        return sum(len(r.outcome.acknowledged_pages) for r in self.respondents)

    def submitted(self) -> int:
        """Submits acknowledged so far."""
        return sum(r.outcome.submit_acknowledged_at is not None for r in self.respondents)

    def results(self, timeout: float = 300.0) -> list[Outcome]:
        """Wait for every respondent (bounded) and return the outcomes in order."""
        end = time.monotonic() + timeout
        return [f.result(timeout=max(0.1, end - time.monotonic())) for f in self.futures]
