"""Elicit under gunicorn on PostgreSQL (and the embedded SQLite default) with many experts at once, and faults.

Every test starts real servers as subprocesses on 127.0.0.1, drives them with scripted experts over HTTP (one
httpx client and cookie jar each) and then reads the database directly. They share one xdist group, so the
heavy server tests run one after the other on one worker instead of fighting for the same two cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from elicit.instruments.schema import Definition
from tests.load.checks import assert_each_submitted_once, assert_no_tracebacks, assert_whole
from tests.load.harness import Gunicorn, gunicorn, prepare_flagship, scratch_database, wait_until
from tests.load.respondent import Crowd, Respondent, expected_variables, run_all
from tests.survey.contract import answers_for_page, current_values, questionnaire_form

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("load")]


def test_64_experts_at_once_on_4_workers_each_submit_once_with_their_answers(
    tmp_path: Path, definition: Definition
) -> None:
    with scratch_database() as url:
        study = prepare_flagship(url, per_cohort=32)
        with gunicorn(url, tmp_path, workers=4) as server:
            experts = [
                Respondent(server.url, token, cohort, definition, seed=i, language=("en", "ur")[i % 2])
                for i, (cohort, token) in enumerate(study.pairs())
            ]
            assert len(experts) == 64
            outcomes = run_all(experts, threads=64, timeout=240)
            log = server.log_text()
        for outcome in outcomes:
            assert not outcome.server_errors, outcome.server_errors[:1]
            assert outcome.retries == 0 and outcome.transport_errors == 0
        assert_each_submitted_once(url, outcomes, definition)
        assert "Traceback" not in log, log[-3000:]


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing_for_retrying_experts(
    tmp_path: Path, definition: Definition
) -> None:
    with scratch_database() as url:
        study = prepare_flagship(url, per_cohort=16)
        with gunicorn(url, tmp_path, workers=4) as server:
            experts = [
                Respondent(server.url, token, cohort, definition, seed=100 + i, retry=True, deadline=180)
                for i, (cohort, token) in enumerate(study.pairs())
            ]
            total_saves = len(experts) * len(definition.pages)
            killed = []
            with Crowd(experts, threads=len(experts)) as crowd:
                for fraction in (0.2, 0.5, 0.8):
                    wait_until(
                        lambda f=fraction: crowd.saved_pages() >= f * total_saves, 180, what="progress"
                    )
                    killed.append(server.kill_worker())
                    # the master replaces it; the next kill needs the replacement up
                    wait_until(lambda: len(server.worker_pids()) == 4, 60, what="worker replaced")
                outcomes = crowd.results(240)
        assert len(set(killed)) == 3
        print(  # shown with -s: how hard the kills hit
            f"killed workers {killed}; retries {sum(o.retries for o in outcomes)}, "
            f"connection errors {sum(o.transport_errors for o in outcomes)}"
        )
        assert_no_tracebacks(outcomes)
        for outcome in outcomes:
            assert all(status in {502, 503, 504} for _, _, status, _ in outcome.server_errors)
        assert_each_submitted_once(url, outcomes, definition)


def test_whole_server_killed_during_submits_leaves_every_response_whole(
    tmp_path: Path, definition: Definition
) -> None:
    with scratch_database() as url:
        study = prepare_flagship(url, per_cohort=12)
        server = Gunicorn(url, tmp_path, workers=4)
        try:
            server.start()
            experts = [
                Respondent(server.url, token, cohort, definition, seed=200 + i, retry=True, deadline=240)
                for i, (cohort, token) in enumerate(study.pairs())
            ]
            findings = []
            with Crowd(experts, threads=len(experts)) as crowd:
                for submits in (2, len(experts) // 2):
                    wait_until(lambda n=submits: crowd.submitted() >= n, 180, what=f"{submits} submits")
                    server.kill()  # master and workers at once, mid-transaction for some
                    findings.append(assert_whole(url, experts, definition))
                    time.sleep(0.3)
                    server.start()
                outcomes = crowd.results(240)
        finally:
            server.stop()
        assert len(findings) == 2
        print(
            f"at the kills: {findings}; retries {sum(o.retries for o in outcomes)}, "
            f"connection errors {sum(o.transport_errors for o in outcomes)}"
        )
        assert_no_tracebacks(outcomes)
        assert_each_submitted_once(url, outcomes, definition)


def test_an_expert_switching_instances_mid_questionnaire_continues_where_they_stopped(
    tmp_path: Path, definition: Definition
) -> None:
    with scratch_database() as url:
        study = prepare_flagship(url, per_cohort=5)
        with (
            gunicorn(url, tmp_path, workers=2, name="a") as a,
            gunicorn(url, tmp_path, workers=2, name="b") as b,
        ):
            pairs = study.pairs()
            item_ids = {item.id for item in definition.items()}
            # One expert answers three pages on A, then opens the link on B: in the same browser (cookies)
            # and in a new browser (none): both land on the fourth page with the three pages' answers kept.
            cohort, token = pairs[0]
            first = Respondent(a.url, token, cohort, definition, seed=7)
            stop_after = 3
            _answer_pages(first, stop_after)
            background = definition.pages[1].id
            for client in (first.client, httpx.Client()):
                resumed = client.get(f"{b.url}/s/{token}", follow_redirects=True)
                assert resumed.status_code == 200
                assert resumed.url.path == f"/s/{token}/p/{definition.pages[stop_after].id}"
                shown = client.get(f"{b.url}/s/{token}/p/{background}")
                assert shown.status_code == 200
                values = current_values(questionnaire_form(shown.text))
                answers = {k: v for k, v in values.items() if k.split(".")[0] in item_ids}
                sent = first.outcome.sent_by_page[background]
                assert expected_variables(definition, answers) == expected_variables(definition, sent)
                client.close()
            # The others alternate instance on every request, as a balancer without sticky sessions would.
            others = [
                Respondent([a.url, b.url], token, cohort, definition, seed=300 + i, switch_every=1)
                for i, (cohort, token) in enumerate(pairs[1:])
            ]
            outcomes = run_all(others, threads=len(others), timeout=180)
            finish = Respondent(b.url, token, cohort, definition, seed=8)
            finish.outcome.sent = dict(first.outcome.sent)
            finish_outcome = finish.run()
        for outcome in outcomes:
            assert not outcome.server_errors
        assert not finish_outcome.failure, finish_outcome.failure
        # The finishing expert only answered the pages after the third; with the first three it is one expert.
        assert_each_submitted_once(url, [*outcomes, finish_outcome], definition)


def _answer_pages(respondent: Respondent, pages: int) -> None:
    """Save the first ``pages`` pages through the contract (the landing page, the first, starts the response),
    then stop (like closing the browser)."""
    client = respondent.client
    base = respondent.base_urls[0]
    token = respondent.token
    page = client.get(f"{base}/s/{token}")
    for _ in range(pages):
        form = questionnaire_form(page.text)
        data = answers_for_page(respondent.definition, form, respondent.rng, respondent.outcome.cohort)
        page_id = form["action"].rsplit("/", 1)[-1]
        respondent.outcome.sent.update(data)
        respondent.outcome.sent_by_page[page_id] = data
        csrf = [f["value"] for f in form["fields"] if f["name"] == "csrf_token"]
        page = client.post(f"{base}{form['action']}", data={**data, "csrf_token": csrf, "nav": ["next"]})
        assert page.status_code == 303, page.text[:300]
        page = client.get(f"{base}{page.headers['Location']}", follow_redirects=True)


def test_embedded_sqlite_with_16_experts_at_once_never_says_database_is_locked(
    tmp_path: Path, definition: Definition
) -> None:
    url = f"sqlite:///{tmp_path / 'elicit.db'}"
    study = prepare_flagship(url, per_cohort=8)
    # Two processes of eight threads each: writers queue on SQLite's lock across threads and processes.
    with gunicorn(url, tmp_path, workers=2, threads=8) as server:
        experts = [
            Respondent(server.url, token, cohort, definition, seed=400 + i)
            for i, (cohort, token) in enumerate(study.pairs())
        ]
        outcomes = run_all(experts, threads=16, timeout=240)
    for outcome in outcomes:
        for _, _, _, body in outcome.server_errors:
            assert "locked" not in body.lower()
        assert not outcome.server_errors, outcome.server_errors[:1]
    assert_each_submitted_once(url, outcomes, definition)
