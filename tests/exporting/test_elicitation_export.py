"""Delphi and structured-expert-judgement data in the export: rounds, stable pseudonyms, confidence, reasons,
seed realizations, consensus tables; and `elicit analyze` on that folder reports them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner

import tests.survey.test_delphi as delphi_test
from tests.survey.test_delphi import answer_all, delphi_instrument, invoke


def seeded_delphi_round_two(app: Flask, runner: FlaskCliRunner, tmp_path: Path, experts: int) -> list[str]:
    """A UK study on the Delphi instrument with ``exports_change`` as a seed: round 1 answered by ``experts``
    experts, round 2 opened with feedback on ``afford``; returns their link tokens."""
    from elicit.instruments.loading import load_file

    text = delphi_instrument(tmp_path).read_text(encoding="utf-8")
    text = text.replace(
        "      - id: exports_change\n        type: quantiles\n",
        "      - id: exports_change\n        type: quantiles\n        seed: true\n",
        1,
    )
    path = tmp_path / "sej.yaml"
    path.write_text(text, encoding="utf-8")
    delphi_test.DEFINITION_CACHE["d"] = load_file(path)
    invoke(runner, "instrument", "publish", str(path))
    invoke(
        runner, "study", "create", "sej", "--instrument", "defence-diplomacy-delphi@1.0.0", "--cohort", "UK"
    )
    links = tmp_path / "links.csv"
    invoke(runner, "invite", "sej", "--cohort", "UK", "--count", str(experts), "--out", str(links))
    tokens = [line.rsplit("/", 1)[1] for line in links.read_text().splitlines()[1:]]
    for index, token in enumerate(tokens):
        answer_all(app.test_client(), token, "UK", str(2 + index % 3), index)
    invoke(runner, "round", "close", "sej")
    invoke(runner, "round", "open", "sej", "--feedback", "afford")
    return tokens


def test_two_round_delphi_exports_rounds_notes_seeds_and_consensus(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    tokens = seeded_delphi_round_two(app, runner, tmp_path, 6)
    for index, token in enumerate(tokens):
        reason = "Budgets are tight; john.smith@example.org agrees" if index == 0 else None
        answer_all(app.test_client(), token, "UK", str(3 + index % 2), 50 + index, rationale=reason)
    invoke(runner, "round", "close", "sej")
    invoke(runner, "realization", "sej", "exports_change", "12.5")
    bad = runner.invoke(args=["realization", "sej", "afford", "3"])
    assert bad.exit_code == 1 and "not a seed question" in bad.output

    out = tmp_path / "export"
    invoke(runner, "export", "sej", "--format", "csv", "--out", str(out))
    rows = list(csv.DictReader((out / "data.csv").open(encoding="utf-8")))
    assert sorted({r["round"] for r in rows}) == ["1", "2"] and len(rows) == 12
    by_round = {n: {r["respondent"] for r in rows if r["round"] == n} for n in ("1", "2")}
    assert by_round["1"] == by_round["2"] and len(by_round["1"]) == 6  # pseudonyms stable across rounds
    assert all(r["afford.confidence"] == "4" for r in rows)
    reasons = [r["afford.rationale"] for r in rows if r["afford.rationale"]]
    assert reasons == ["Budgets are tight; [email] agrees"]
    codebook = json.loads((out / "codebook.json").read_text(encoding="utf-8"))
    assert codebook["realizations"] == {"exports_change": 12.5}
    assert codebook["cooke_settings"]["overshoot"] == 0.1
    item = next(i for i in codebook["items"] if i["id"] == "exports_change")
    assert item["seed"] is True and item["background"] == "uniform"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {"consensus.csv", "stability.csv"} <= set(manifest["files"])
    consensus = list(csv.DictReader((out / "consensus.csv").open(encoding="utf-8")))
    afford = [r for r in consensus if r["item"] == "afford" and r["cohort"] == "all"]
    assert [r["round"] for r in afford] == ["1", "2"] and all(r["n"] == "6" for r in afford)

    report = tmp_path / "report.html"
    result = runner.invoke(
        args=["analyze", str(out), "--out", str(report), "--json", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["delphi"]["rounds"] == [1, 2]
    assert results["cooke"]["n_seeds"] == 1 and len(results["cooke"]["experts"]) == 6
    confidence = {(r["item"], r["cohort"]): r for r in results["confidence"]}
    assert (
        confidence[("afford", "all")]["n_rated"] == 6
        and confidence[("afford", "all")]["mean_confidence"] == 4
    )
    html = report.read_text(encoding="utf-8")
    assert 'id="delphi"' in html and 'id="cooke"' in html and 'id="confidence"' in html
