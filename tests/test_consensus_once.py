"""Issue 13, "Numbers that disagree": the Delphi consensus verdict is computed once, with the study's rule.

With a study rule of max IQR 10 the studio said "consensus" while ``consensus.csv`` and ``results.json`` said not
(they used the default rule). Here a two-round study is answered so that the verdict depends on the rule; the
studio page, ``consensus.csv`` and ``elicit analyze``'s ``results.json`` must agree item by item, for two rules.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

import tests.survey.test_delphi as delphi_test
from elicit.db import db
from elicit.models import Study
from tests.studio.conftest import csrf_from, make_user, sign_in_directly
from tests.survey.test_delphi import answer_all, delphi_instrument, invoke

ROUNDS_PAGE = "/studio/studies/rule-study/rounds"
RULE_URL = "/studio/studies/rule-study/consensus-rule"
# The consensus table's rows: round, cohort, item, n, ..., yes/no.
ROW_RE = re.compile(
    r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td><td class=\"numeric\">(\d+)</td>.*?<td>(yes|no)</td></tr>",
    re.DOTALL,
)


def _studio_table(researcher: FlaskClient) -> dict[tuple[str, str, str], tuple[int, bool]]:
    """round, cohort, item -> (n, consensus) as the studio's consensus table shows them (only that table: the
    rounds table above it also has rows starting with a round number)."""
    page = researcher.get(ROUNDS_PAGE)
    assert page.status_code == 200, page.text[:400]
    table = page.text.split('<table class="consensus">', 1)[1].split("</table>", 1)[0]
    return {(r, c, i): (int(n), v == "yes") for r, c, i, n, v in ROW_RE.findall(table)}


def _studio_verdicts(researcher: FlaskClient) -> dict[tuple[str, str, str], bool]:
    return {key: verdict for key, (_, verdict) in _studio_table(researcher).items()}


def _set_rule(researcher: FlaskClient, max_iqr: str, min_agreement: str) -> None:
    page = researcher.get(ROUNDS_PAGE)
    saved = researcher.post(
        RULE_URL,
        data={"csrf_token": csrf_from(page.text), "max_iqr": max_iqr, "min_agreement": min_agreement},
    )
    assert saved.status_code == 302, saved.text[:400]


def _study(app: Flask, runner: FlaskCliRunner, tmp_path: Path, *, answered: bool = True) -> FlaskClient:
    """One cohort of six answers 'afford' twice: round 1 = 2 3 3 4 4 5, round 2 = 1 2 3 4 5 5.

    ``answered=False`` stops after the invitations: the rule's own checks need no answers, and twelve walks
    through the questionnaire are most of this module's time.

    By hand (quartiles type 7, positions 1 + 5p): round 1 q1 = 3, q3 = 4, IQR 1, top two 3/6 = 50 %;
    round 2 q1 = 2.25, q3 = 5, IQR 2.75, top two 50 %. So "IQR <= 10 and >= 50 %" finds consensus in both
    rounds, "IQR <= 2 and >= 50 %" only in round 1, and the default "IQR <= 1 and >= 70 %" in neither.
    """
    from elicit.instruments.loading import load_file

    path = delphi_instrument(tmp_path)
    delphi_test.DEFINITION_CACHE["d"] = load_file(path)
    invoke(runner, "instrument", "publish", str(path))
    invoke(
        runner,
        "study",
        "create",
        "rule-study",
        "--instrument",
        "defence-diplomacy-delphi@1.0.0",
        "--cohort",
        "UK",
    )
    links = tmp_path / "links.csv"
    invoke(runner, "invite", "rule-study", "--cohort", "UK", "--count", "6", "--out", str(links))
    tokens = [line.rsplit("/", 1)[1] for line in links.read_text().splitlines()[1:]]
    researcher = app.test_client()
    sign_in_directly(app, researcher, make_user(app, "lead@example.org", "admin"))
    if not answered:
        return researcher
    for index, (token, value) in enumerate(zip(tokens, "233445", strict=True)):
        answer_all(app.test_client(), token, "UK", value, index)
    invoke(runner, "round", "close", "rule-study")
    invoke(runner, "round", "open", "rule-study")
    for index, (token, value) in enumerate(zip(tokens, "123455", strict=True)):
        answer_all(app.test_client(), token, "UK", value, 50 + index)
    invoke(runner, "round", "close", "rule-study")
    return researcher


def _export_and_analyze(
    runner: FlaskCliRunner, tmp_path: Path, name: str
) -> tuple[dict[tuple[str, str, str], bool], dict[tuple[str, str, str], bool], dict[str, object]]:
    out = tmp_path / name
    invoke(runner, "export", "rule-study", "--format", "csv", "--out", str(out))
    exported = {
        (r["round"], r["cohort"], r["item"]): r["consensus"] == "True"
        for r in csv.DictReader((out / "consensus.csv").open(encoding="utf-8"))
    }
    results_path = tmp_path / f"{name}.json"
    invoke(runner, "analyze", str(out), "--out", str(tmp_path / f"{name}.html"), "--json", str(results_path))
    results = json.loads(results_path.read_text(encoding="utf-8"))
    analyzed = {
        (str(r["round"]), str(r["cohort"]), str(r["item"])): bool(r["consensus"])
        for r in results["delphi"]["consensus"]
    }
    codebook = json.loads((out / "codebook.json").read_text(encoding="utf-8"))
    return exported, analyzed, codebook


def test_studio_export_and_analysis_agree_item_by_item_under_the_studys_rule(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    researcher = _study(app, runner, tmp_path)
    for name, (max_iqr, min_agreement), expected in (
        ("wide", ("10", "0.5"), {"1": True, "2": True}),
        ("narrow", ("2", "0.5"), {"1": True, "2": False}),
    ):
        _set_rule(researcher, max_iqr, min_agreement)
        studio = _studio_verdicts(researcher)
        assert {r: studio[(r, "all", "afford")] for r in ("1", "2")} == expected, name
        exported, analyzed, codebook = _export_and_analyze(runner, tmp_path, name)
        shared = set(studio) & set(exported) & set(analyzed)
        assert ("1", "all", "afford") in shared and ("2", "all", "afford") in shared
        assert len(shared) > 2  # every ordinal item of both rounds, not only 'afford'
        disagree = {
            key: (studio[key], exported[key], analyzed[key])
            for key in sorted(shared)
            if not studio[key] == exported[key] == analyzed[key]
        }
        assert disagree == {}, f"rule {name}: studio, consensus.csv, results.json disagree on {disagree}"
        rule = codebook["consensus_rule"]  # the rule travels with the export
        assert (rule["max_iqr"], rule["min_agreement"]) == (float(max_iqr), float(min_agreement))


def _rows(records: list[dict[str, object]]) -> dict[tuple[str, str, str], tuple[int, bool]]:
    """round, cohort, item -> (n, consensus), from consensus.csv's text or results.json's values."""
    return {
        (str(r["round"]), str(r["cohort"]), str(r["item"])): (
            int(float(str(r["n"]))),
            r["consensus"] in (True, "True"),
        )
        for r in records
    }


def test_a_cohort_under_k_is_hidden_alike_in_the_studio_consensus_csv_and_results_json(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """results.json listed the consensus of a cohort of two that the studio and consensus.csv hide (k = 5).

    UK has six experts and PK two, over two rounds. PK is under the study's k of 5, and UK goes with it, else
    "all" minus UK gives PK back; only the pooled rows are shown, and the three must list the same rows.
    """
    from elicit.instruments.loading import load_file

    path = delphi_instrument(tmp_path)
    delphi_test.DEFINITION_CACHE["d"] = load_file(path)
    invoke(runner, "instrument", "publish", str(path))
    invoke(
        runner,
        "study",
        "create",
        "rule-study",
        "--instrument",
        "defence-diplomacy-delphi@1.0.0",
        "--cohort",
        "UK",
        "--cohort",
        "PK",
    )
    tokens = {}
    for cohort, count in (("UK", 6), ("PK", 2)):
        links = tmp_path / f"links-{cohort}.csv"
        invoke(runner, "invite", "rule-study", "--cohort", cohort, "--count", str(count), "--out", str(links))
        tokens[cohort] = [line.rsplit("/", 1)[1] for line in links.read_text().splitlines()[1:]]
    values = {"UK": ("233445", "123455"), "PK": ("11", "12")}
    for round_ in (0, 1):
        if round_:
            invoke(runner, "round", "open", "rule-study")
        for cohort in ("UK", "PK"):
            for index, (token, value) in enumerate(zip(tokens[cohort], values[cohort][round_], strict=True)):
                answer_all(app.test_client(), token, cohort, value, 50 * round_ + index + len(cohort))
        invoke(runner, "round", "close", "rule-study")
    researcher = app.test_client()
    sign_in_directly(app, researcher, make_user(app, "lead@example.org", "admin"))

    studio = _studio_table(researcher)
    out = tmp_path / "export"
    invoke(runner, "export", "rule-study", "--format", "csv", "--out", str(out))
    exported = _rows(list(csv.DictReader((out / "consensus.csv").open(encoding="utf-8"))))
    results_path = tmp_path / "results.json"
    invoke(runner, "analyze", str(out), "--out", str(tmp_path / "report.html"), "--json", str(results_path))
    results = json.loads(results_path.read_text(encoding="utf-8"))
    analyzed = _rows(results["delphi"]["consensus"])

    assert {cohort for _, cohort, _ in exported} == {"all"}  # PK is small, UK its complement
    assert ("1", "all", "afford") in exported and exported[("1", "all", "afford")][0] == 8
    assert analyzed == exported  # row for row: the same groups, sizes and verdicts
    assert studio == exported
    assert {r["cohort"] for r in results["delphi"]["stability"]} == {"all"}
    assert results["delphi"]["k"] == 5 and results["delphi"]["suppressed"] > 0


def test_the_rule_form_refuses_values_out_of_range_with_a_field_error(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """A minimum agreement of 0 was accepted and the Delphi page then failed with a 500."""
    researcher = _study(app, runner, tmp_path, answered=False)
    for max_iqr, min_agreement, message in (
        ("1", "0", "greater than 0 and at most 1"),
        ("1", "1.5", "greater than 0 and at most 1"),
        ("1", "nan", "greater than 0 and at most 1"),
        ("-1", "0.7", "0 or more"),
        ("nan", "0.7", "0 or more"),
        ("inf", "0.7", "0 or more"),
    ):
        page = researcher.get(ROUNDS_PAGE)
        refused = researcher.post(
            RULE_URL,
            data={"csrf_token": csrf_from(page.text), "max_iqr": max_iqr, "min_agreement": min_agreement},
        )
        assert refused.status_code == 422, (max_iqr, min_agreement, refused.status_code)
        assert message in refused.text, (max_iqr, min_agreement)
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "rule-study"))
        assert study is not None
        assert (study.consensus_max_iqr, study.consensus_min_agreement) == (1.0, 0.7)  # nothing was saved
    assert researcher.get(ROUNDS_PAGE).status_code == 200


def test_a_bad_rule_set_some_other_way_is_a_clear_study_error_not_a_500(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    from elicit.studies import StudyError
    from elicit.studio.delphi import study_rule

    researcher = _study(app, runner, tmp_path)  # answered: the export checks the rule only when it has rounds
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "rule-study"))
        assert study is not None
        study.consensus_min_agreement = 0.0
        db.session.commit()
        try:
            study_rule(study)
        except StudyError as exc:
            assert "minimum agreement" in str(exc)
        else:
            raise AssertionError("a minimum agreement of 0 made a rule")
    page = researcher.get(ROUNDS_PAGE)
    assert page.status_code == 200, page.text[:400]
    assert "minimum agreement" in page.text  # the sentence, and the form to correct it
    assert 'name="min_agreement"' in page.text
    refused = runner.invoke(args=["export", "rule-study", "--format", "csv", "--out", str(tmp_path / "bad")])
    assert refused.exit_code == 1 and "minimum agreement" in refused.output
