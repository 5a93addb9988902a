"""A two-round Delphi on the flagship, driven through the web client on both databases."""

from __future__ import annotations

import random
import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from elicit.db import db
from elicit.models import Answer, AnswerNote, Response, ResponseStatus, Round
from tests.conftest import FLAGSHIP
from tests.studio.conftest import csrf_from, make_user, sign_in_directly
from tests.survey.contract import answers_for_page, current_values, questionnaire_form
from tests.survey.test_expert_flow import begin, csrf_of, follow


def delphi_instrument(tmp_path: Path) -> Path:
    """The flagship as a pseudonymous Delphi instrument with a confidence rating on the affordability item."""
    text = FLAGSHIP.read_text(encoding="utf-8")
    text = text.replace("anonymity: anonymous", "anonymity: pseudonymous", 1)
    text = text.replace("id: defence-diplomacy\n", "id: defence-diplomacy-delphi\n", 1)
    text = text.replace(
        "      - id: afford\n        type: likert\n",
        "      - id: afford\n        type: likert\n        confidence: true\n",
        1,
    )
    path = tmp_path / "delphi.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def invoke(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def answer_all(
    client: FlaskClient, token: str, cohort: str, afford: str, seed: int, rationale: str | None = None
) -> None:
    """Complete the current round; the affordability answer is set explicitly, everything else from the contract."""
    rng = random.Random(seed)
    page = follow(client, client.get(f"/s/{token}"))  # the landing page, or where the round resumes
    while not page.request.path.endswith("/review"):
        form = questionnaire_form(page.text)
        data = answers_for_page(DEFINITION_CACHE["d"], form, rng, cohort)
        names = {f["name"] for f in form["fields"]}
        if "afford" in names:
            data["afford"] = [afford]
            data["afford.confidence"] = ["4"]
            if rationale is not None and "afford.rationale" in names:
                data["afford.rationale"] = [rationale]
        data.update(csrf_token=[csrf_of(page.text)], nav=["next"])
        page = follow(client, client.post(form["action"], data=data))
        assert page.status_code == 200, page.text[:400]
    review = client.get(f"/s/{token}/review")
    done = follow(
        client, client.post(f"/s/{token}/review", data={"csrf_token": csrf_of(review.text), "nav": "submit"})
    )
    assert "submitted" in done.text


DEFINITION_CACHE: dict[str, object] = {}
#: The group's result on a labelled scale names the answers (numbers isolated for right-to-left pages).
FEEDBACK_LINE = (
    'All experts (n = 9): median Neither agree nor disagree (<bdi dir="ltr">3</bdi>), middle half Disagree'
    ' (<bdi dir="ltr">2</bdi>) to Agree (<bdi dir="ltr">4</bdi>)'
)


def test_two_round_delphi_with_feedback_revisions_and_k_suppression(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    from elicit.instruments.loading import load_file

    path = delphi_instrument(tmp_path)
    DEFINITION_CACHE["d"] = load_file(path)
    invoke(runner, "instrument", "publish", str(path))
    invoke(
        runner,
        "study",
        "create",
        "delphi-uk-pk",
        "--instrument",
        "defence-diplomacy-delphi@1.0.0",
        "--cohort",
        "UK",
        "--cohort",
        "PK",
    )
    links = tmp_path / "links.csv"
    invoke(runner, "invite", "delphi-uk-pk", "--cohort", "UK", "--count", "6", "--out", str(links))
    uk = [line.rsplit("/", 1)[1] for line in links.read_text().splitlines()[1:]]
    links = tmp_path / "links-pk.csv"
    invoke(runner, "invite", "delphi-uk-pk", "--cohort", "PK", "--count", "3", "--out", str(links))
    pk = [line.rsplit("/", 1)[1] for line in links.read_text().splitlines()[1:]]

    round1 = {token: str(v) for token, v in zip(uk, [2, 3, 3, 4, 4, 5], strict=True)}
    round1.update({token: str(v) for token, v in zip(pk, [1, 2, 2], strict=True)})
    for index, (token, value) in enumerate(round1.items()):
        answer_all(app.test_client(), token, "UK" if token in uk else "PK", value, index, None)

    closed = runner.invoke(args=["round", "open", "delphi-uk-pk", "--feedback", "afford"])
    assert closed.exit_code == 1 and "still open; close it first" in closed.output

    # The researcher closes round 1 and opens round 2 in the studio, with feedback on two items.
    researcher = app.test_client()
    admin_id = make_user(app, "lead@example.org", "admin")
    sign_in_directly(app, researcher, admin_id)
    page = researcher.get("/studio/studies/delphi-uk-pk/rounds")
    assert page.status_code == 200
    assert (
        researcher.post(
            "/studio/studies/delphi-uk-pk/rounds/close",
            data={"csrf_token": csrf_from(page.text), "confirm": "yes"},
        ).status_code
        == 302
    )
    page = researcher.get("/studio/studies/delphi-uk-pk/rounds")
    with app.app_context():
        version_id = db.session.scalar(select(Round.instrument_version_id))
    opened = researcher.post(
        "/studio/studies/delphi-uk-pk/rounds/open",
        data={
            "csrf_token": csrf_from(page.text),
            "version": str(version_id),
            "feedback": ["afford", "tac_1"],
        },
    )
    assert opened.status_code == 302, opened.text[:500]

    # A UK expert sees their own round-1 answer, the UK group's and everyone's result, and may revise.
    client = app.test_client()
    token = uk[0]
    page = begin(client, token)
    while "/p/affordability" not in page.request.path:
        form = questionnaire_form(page.text)
        data = {"csrf_token": [csrf_of(page.text)], "nav": ["next"]}
        data.update(
            {k: v for k, v in current_values(form).items() if k != "csrf_token"}
        )  # accept the prefill
        page = follow(client, client.post(form["action"], data=data))
        assert page.status_code == 200, page.text[:300]
    html = page.text
    # By hand: all nine = 1 2 2 2 3 3 4 4 5 -> median 3, quartiles (type 7) 2 and 4. UK's six are not shown:
    # with PK's three hidden, all nine minus UK's six would be PK's answers (complementary suppression).
    assert "Results of round 1" in html
    assert "Your answer: <strong><bdi>Disagree</bdi></strong>" in html
    assert "Your group: not shown: fewer than 5 answers, or hidden with such a group" in html
    assert "(n = 6)" not in html and 'aria-label="Your group' not in html
    assert FEEDBACK_LINE in html
    assert 'name="afford.rationale"' in html and 'name="afford.confidence"' in html
    assert 'value="2" checked' in html  # round-1 answer offered for revision

    # A PK expert's cohort has 3 < k answers: their group's result is not shown, everyone's is.
    pk_client = app.test_client()
    pk_page = begin(pk_client, pk[0])
    while "/p/affordability" not in pk_page.request.path:
        form = questionnaire_form(pk_page.text)
        data = {k: v for k, v in current_values(form).items() if k != "csrf_token"}
        data.update(csrf_token=[csrf_of(pk_page.text)], nav=["next"])
        pk_page = follow(pk_client, pk_client.post(form["action"], data=data))
    assert "Your group: not shown: fewer than 5 answers, or hidden with such a group" in pk_page.text
    assert FEEDBACK_LINE in pk_page.text
    assert "(n = 3)" not in pk_page.text

    # Everyone answers round 2; the first UK expert revises with a rationale.
    answer_all(client, token, "UK", "4", 100, rationale="Budgets are tight, but the returns are real.")
    answer_all(pk_client, pk[0], "PK", round1[pk[0]], 300)
    for index, other in enumerate(uk[1:] + pk[1:]):
        answer_all(app.test_client(), other, "UK" if other in uk else "PK", round1[other], 200 + index)

    with app.app_context():
        rounds = {r.number: r.id for r in db.session.scalars(select(Round))}
        rows = db.session.execute(
            select(Response.round_id, Response.pseudonym, Answer.value_num)
            .join(Answer, Answer.response_id == Response.id)
            .where(Answer.item_id == "afford", Response.status == ResponseStatus.SUBMITTED.value)
        ).all()
        per_round = {n: sorted(v for r, _, v in rows if r == rid) for n, rid in rounds.items()}
        assert per_round[1] == sorted(float(v) for v in round1.values())
        assert len(per_round[2]) == 9 and 4.0 in per_round[2]
        pseudonyms = {n: {p for r, p, _ in rows if r == rid} for n, rid in rounds.items()}
        assert pseudonyms[1] == pseudonyms[2] and len(pseudonyms[1]) == 9 and None not in pseudonyms[1]
        note = db.session.scalar(select(AnswerNote).where(AnswerNote.rationale.is_not(None)))
        assert note is not None and note.confidence == 4 and note.rationale.startswith("Budgets are tight")

    # The consensus table in the studio, checked by hand for 'afford' over all nine experts:
    # round 1 = 1 2 2 2 3 3 4 4 5 -> median 3, IQR 4 - 2 = 2, top two 3/9 = 33%, bottom two 4/9 = 44%: no consensus.
    # round 2: one UK expert moved 2 -> 4: 1 2 2 3 3 4 4 4 5 -> median 3, IQR 2, top two 44%, bottom two 33%.
    table = researcher.get("/studio/studies/delphi-uk-pk/rounds").text
    assert '<td>1</td><td>all</td><td>afford</td><td class="numeric">9</td>' in table
    row1 = table.split("<td>1</td><td>all</td><td>afford</td>")[1].split("</tr>")[0]
    assert (
        ">3.0<" in row1 and ">2.00<" in row1 and ">33%<" in row1 and ">44%<" in row1 and "<td>no</td>" in row1
    )
    row2 = table.split("<td>2</td><td>all</td><td>afford</td>")[1].split("</tr>")[0]
    assert ">3.0<" in row2 and ">2.00<" in row2 and ">44%<" in row2 and ">33%<" in row2
    assert "<td>1</td><td>PK</td><td>afford</td>" not in table  # 3 < k experts: suppressed
    stability = table.split("<td>1→2</td><td>all</td><td>afford</td>")[1].split("</tr>")[0]
    assert '<td class="numeric">9</td>' in stability and ">11%<" in stability  # 1 of 9 changed


def _groups_seen(html: str) -> dict[str, tuple[int, dict[str, int]]]:
    """The group results on an expert's page: scope -> (n, answers per choice), for the groups that are shown."""
    found = {}
    for scope, n in re.findall(r"(Your group|All experts) \(n = (\d+)\)", html):
        label = re.search(rf'aria-label="{scope}: ([^"]*)"', html)
        assert label, scope
        counts = {part.rsplit(" ", 1)[0]: int(part.rsplit(" ", 1)[1]) for part in label.group(1).split("; ")}
        found[scope] = (int(n), counts)
    return found


def test_everyone_minus_a_shown_cohort_does_not_give_back_a_small_one(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """Issue 12, item 5: "UK (n=5)" and "All (n=7)" were shown while PK (n=2) was "too few to show"."""
    from elicit.instruments.loading import load_file

    path = delphi_instrument(tmp_path)
    DEFINITION_CACHE["d"] = load_file(path)
    invoke(runner, "instrument", "publish", str(path))
    invoke(
        runner,
        "study",
        "create",
        "delphi-k",
        "--instrument",
        "defence-diplomacy-delphi@1.0.0",
        "--cohort",
        "UK",
        "--cohort",
        "PK",
    )
    tokens = {}
    for cohort, count in (("UK", 5), ("PK", 2)):
        links = tmp_path / f"links-{cohort}.csv"
        invoke(runner, "invite", "delphi-k", "--cohort", cohort, "--count", str(count), "--out", str(links))
        tokens[cohort] = [line.rsplit("/", 1)[1] for line in links.read_text().splitlines()[1:]]
    values = {"UK": ["2", "3", "3", "4", "5"], "PK": ["1", "1"]}
    for cohort in ("UK", "PK"):
        for i, (token, value) in enumerate(zip(tokens[cohort], values[cohort], strict=True)):
            answer_all(app.test_client(), token, cohort, value, 50 + i)
    invoke(runner, "round", "close", "delphi-k")
    invoke(runner, "round", "open", "delphi-k", "--feedback", "afford")

    seen: dict[str, dict[str, tuple[int, dict[str, int]]]] = {}
    for cohort in ("UK", "PK"):
        client = app.test_client()
        page = begin(client, tokens[cohort][0])
        while "/p/affordability" not in page.request.path:
            form = questionnaire_form(page.text)
            data = {k: v for k, v in current_values(form).items() if k != "csrf_token"}
            data.update(csrf_token=[csrf_of(page.text)], nav=["next"])
            page = follow(client, client.post(form["action"], data=data))
        seen[cohort] = _groups_seen(page.text)
    # The attacker pools what every expert saw and subtracts the shown cohorts from everyone.
    everyone = next((groups["All experts"] for groups in seen.values() if "All experts" in groups), None)
    cohorts = {cohort: groups["Your group"] for cohort, groups in seen.items() if "Your group" in groups}
    if everyone is not None and len(cohorts) == 1:
        ((shown_n, shown_counts),) = cohorts.values()
        recovered = (everyone[0] - shown_n, {c: everyone[1][c] - shown_counts[c] for c in everyone[1]})
        raise AssertionError(f"the hidden cohort's answers, by subtraction: {recovered}")
    assert cohorts == {}  # both cohorts hidden: PK is small, UK is its complement
    assert everyone is not None and everyone[0] == 7  # everyone's result is still fed back
