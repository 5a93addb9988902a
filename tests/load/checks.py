"""Assertions over what the scripted experts saw and what the database holds, shared by the load tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from elicit.instruments.schema import Definition
from elicit.tokens import token_hash
from tests.load.harness import StoredResponse, database_state
from tests.load.respondent import Outcome, Respondent, expected_variables

TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc", "psycopg.")


def _key(variables: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(variables.items())


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
    """Every expert's response is in the database exactly once, submitted, with exactly the answers sent."""
    assert_no_failures(outcomes)
    responses, invitations, _ = database_state(database_url)
    assert Counter(r.status for r in responses) == Counter({"submitted": len(outcomes)}), Counter(
        r.status for r in responses
    )
    for outcome in outcomes:
        assert outcome.submitted
        assert invitations[token_hash(outcome.token)] == "submitted", outcome.token
    # Anonymous study: the invitation→response link is cut at submission, so responses are matched to experts
    # by their content, as a multiset (each expert's answers are drawn from its own seed).
    expected = Counter(_key(expected_variables(definition, o.sent)) for o in outcomes)
    stored = Counter(_key(r.variables) for r in responses)
    missing, extra = expected - stored, stored - expected
    assert not missing and not extra, (
        f"{sum(missing.values())} expected response(s) not stored, {sum(extra.values())} unexpected; "
        f"e.g. missing {sorted(next(iter(missing)))[:6] if missing else None}, "
        f"extra {sorted(next(iter(extra)))[:6] if extra else None}"
    )


def assert_whole(database_url: str, respondents: Sequence[Respondent], definition: Definition) -> list[str]:
    """With no server running: each response is fully submitted, or in progress with whole saved pages.

    - a submitted response has every page saved and exactly the answers of one expert whose invitation says
      submitted (and every expert whose submit was acknowledged is among them);
    - an in-progress response holds exactly the answers of the pages it lists as saved (no page half-stored),
      every page whose save was acknowledged to the expert is among them, and no page is listed that the
      expert never sent.

    Returns a few words on what was found, for the test's log.
    """
    responses, invitations, hash_of = database_state(database_url)
    by_hash = {token_hash(r.token): r for r in respondents}
    all_pages = [p.id for p in definition.pages]
    submitted: list[StoredResponse] = []
    in_progress = 0
    for response in responses:
        if response.status == "submitted":
            assert response.invitation_id is None, "anonymous: the link must be cut at submission"
            assert sorted(response.pages_done) == sorted(all_pages), response.pages_done
            submitted.append(response)
            continue
        assert response.status == "in_progress", response.status
        in_progress += 1
        assert response.invitation_id is not None
        respondent = by_hash[hash_of[response.invitation_id]]
        outcome = respondent.outcome
        assert invitations[hash_of[response.invitation_id]] == "in_progress"
        saved = set(response.pages_done)
        assert set(outcome.acknowledged_pages) <= saved, (
            f"acknowledged pages lost: {set(outcome.acknowledged_pages) - saved}"
        )
        assert saved <= set(outcome.sent_by_page), f"pages never sent: {saved - set(outcome.sent_by_page)}"
        merged: dict[str, list[str]] = {}
        for page_id in all_pages:
            if page_id in saved:
                merged.update(outcome.sent_by_page[page_id])
        assert response.variables == expected_variables(definition, merged), (
            "an in-progress response holds answers that are not exactly those of its saved pages"
        )
    experts_submitted = [r for r in respondents if invitations[token_hash(r.token)] == "submitted"]
    for respondent in respondents:
        if respondent.outcome.submit_acknowledged_at is not None:
            assert respondent in experts_submitted, "an acknowledged submit was lost"
    expected = Counter(_key(expected_variables(definition, r.outcome.sent)) for r in experts_submitted)
    stored = Counter(_key(r.variables) for r in submitted)
    assert expected == stored, "submitted responses do not match the experts whose invitations say submitted"
    return [f"{len(submitted)} submitted", f"{in_progress} in progress"]
