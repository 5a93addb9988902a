"""Assertions over what the scripted experts saw and what the database holds, shared by the load tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from elicit.instruments.schema import Definition
from elicit.tokens import token_hash
from tests.load.harness import StoredResponse, database_state
from tests.load.respondent import Outcome, Respondent, expected_variables

TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc", "psycopg.")


def assert_no_failures(outcomes: Iterable[Outcome]) -> None:
    failures = [(o.token[:8], o.failure) for o in outcomes if o.failure]
    assert not failures, f"{len(failures)} expert(s) could not finish: {failures[:5]}"


def assert_no_tracebacks(outcomes: Iterable[Outcome]) -> None:
    """No body a user received carries a traceback or an exception name."""
    for outcome in outcomes:
        for method, path, status, body in outcome.server_errors:
            for marker in TRACEBACK_MARKERS:
                assert marker not in body, (method, path, status, body[:500])


def assert_each_submitted_once(
    database_url: str, outcomes: Sequence[Outcome], definition: Definition
) -> None:
    """Every expert's response is in the database exactly once, submitted, with exactly the answers sent.

    The study is anonymous: no response names its invitation, so each is matched to its expert as only the
    holder of the server's secret can (the tests hold it), and the invitations themselves stay unwritten.
    """
    assert_no_failures(outcomes)
    responses, invitations = database_state(database_url)
    assert Counter(r.status for r in responses) == Counter({"submitted": len(outcomes)}), Counter(
        r.status for r in responses
    )
    by_hash = {r.token_hash: r for r in responses}
    assert len(by_hash) == len(responses), "two responses belong to one expert"
    for outcome in outcomes:
        assert outcome.submitted
        response = by_hash.get(token_hash(outcome.token))
        assert response is not None and response.invitation_id is None, outcome.token[:8]
        assert invitations[token_hash(outcome.token)] in {"not_opened", "finished"}, (
            "an expert wrote an invitation"
        )
        assert response.variables == expected_variables(definition, outcome.sent), outcome.token[:8]


def assert_whole(database_url: str, respondents: Sequence[Respondent], definition: Definition) -> list[str]:
    """With no server running: each response is fully submitted, or in progress with whole saved pages.

    - a submitted response has every page saved and exactly the answers of its expert (and every expert whose
      submit was acknowledged has one);
    - an in-progress response holds exactly the answers of the pages it lists as saved (no page half-stored),
      every page whose save was acknowledged to the expert is among them, and no page is listed that the
      expert never sent.

    Returns a few words on what was found, for the test's log.
    """
    responses, _ = database_state(database_url)
    by_hash = {token_hash(r.token): r for r in respondents}
    all_pages = [p.id for p in definition.pages]
    submitted: list[StoredResponse] = []
    in_progress = 0
    for response in responses:
        assert response.invitation_id is None, "anonymous: a response must never name its invitation"
        assert response.token_hash in by_hash, "a response belongs to no expert"
        respondent = by_hash[response.token_hash]
        outcome = respondent.outcome
        if response.status == "submitted":
            assert sorted(response.pages_done) == sorted(all_pages), response.pages_done
            assert response.variables == expected_variables(definition, outcome.sent)
            submitted.append(response)
            continue
        assert response.status == "in_progress", response.status
        in_progress += 1
        saved = set(response.pages_done)
        assert set(outcome.acknowledged_pages) <= saved, (
            f"acknowledged pages lost: {set(outcome.acknowledged_pages) - saved}"
        )
        assert saved <= set(outcome.sent_by_page), f"pages never sent: {saved - set(outcome.sent_by_page)}"
        merged: dict[str, list[str]] = {}
        for page_id in all_pages:
            if page_id in saved:
                merged.update(outcome.sent_by_page[page_id])
        assert response.variables == expected_variables(definition, merged, held=True), (
            "an in-progress response holds answers that are not exactly those of its saved pages"
        )
    done = {r.token_hash for r in submitted}
    for respondent in respondents:
        if respondent.outcome.submit_acknowledged_at is not None:
            assert token_hash(respondent.token) in done, "an acknowledged submit was lost"
    return [f"{len(submitted)} submitted", f"{in_progress} in progress"]
