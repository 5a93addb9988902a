"""The codebook carries every language's wording of the instrument (issue 17): question texts, choice labels, part
labels, scale anchors, units and scale labels in English and Urdu, while the keys the analysis and the SPSS/Stata
labels read stay in the instrument's first language.

Expected wording is read from the flagship's YAML itself, not from the exporter's code.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from flask.testing import FlaskCliRunner

from tests.exporting.helpers import SLUG, run

LATEST = Path(__file__).resolve().parents[2] / "instruments" / "defence-diplomacy" / "1.1.0.yaml"


def _source() -> dict[str, Any]:
    """The flagship 1.1.0 as written: items by id (likert matrix rows too), choice sets, scales."""
    document = yaml.safe_load(LATEST.read_text(encoding="utf-8"))
    items: dict[str, Any] = {}
    for page in document["pages"]:
        for item in page["items"]:
            items[item["id"]] = item
            for row in item.get("rows") or []:
                items[row["id"]] = {**row, "choices": item["choices"]}
    return {"items": items, "sets": document["choice_sets"], "scales": document["scales"]}


def _choices(source: dict[str, Any], item_id: str, language: str) -> list[dict[str, Any]]:
    choices = source["items"][item_id]["choices"]
    if isinstance(choices, str):
        choices = source["sets"][choices]
    return [{"code": code, "label": label[language]} for code, label in choices.items()]


def test_the_codebook_has_every_languages_wording(runner: FlaskCliRunner, tmp_path: Path) -> None:
    code, _, err = run(runner, "demo", "--responses", "1", "--links", "0", "--instrument", str(LATEST))
    assert code == 0, err
    code, _, err = run(runner, "export", SLUG, "--format", "xlsx", "--out", str(tmp_path / "x"))
    assert code == 0, err
    source = _source()
    codebook = json.loads((tmp_path / "x" / "codebook.json").read_text(encoding="utf-8"))
    assert codebook["language"] == "en" and codebook["languages"] == ["en", "ur"]
    items = {i["id"]: i for i in codebook["items"]}
    variables = {v["name"]: v for v in codebook["variables"]}

    for language in ("en", "ur"):
        # Question text, help and choice labels (a choice set's too).
        state = items["state"]["wording"][language]
        assert state["text"] == source["items"]["state"]["text"][language]
        assert state["help"] == source["items"]["state"]["help"][language]
        assert state["choices"] == _choices(source, "state", language)
        assert items["tac_1"]["wording"][language]["choices"] == _choices(source, "tac_1", language)
        # Units and a slider's anchors.
        assert items["years"]["wording"][language]["unit"] == source["items"]["years"]["unit"][language]
        slider = source["items"]["afford_scale"]
        words = items["afford_scale"]["wording"][language]
        assert (words["min_label"], words["max_label"]) == (
            slider["min_label"][language],
            slider["max_label"][language],
        )
        # Part labels: each column of a composite item, by the label its part has.
        leverage = {c["code"]: c["label"] for c in _choices(source, "alloc", language)}
        assert items["alloc"]["wording"][language]["parts"] == leverage
        alloc_text = source["items"]["alloc"]["text"][language]
        assert (
            variables["alloc.tactical"]["wording"][language]["label"]
            == f"{alloc_text}: {leverage['tactical']}"
        )
        # Value labels of a column, and a scale's label.
        assert variables["state"]["wording"][language]["value_labels"] == {
            c["code"]: c["label"] for c in _choices(source, "state", language)
        }
        assert (
            codebook["scales"]["tactical"]["wording"][language]["label"]
            == (source["scales"]["tactical"]["label"][language])
        )
    # A binned number's categories are the bins in every language.
    assert [c["code"] for c in items["years"]["wording"]["ur"]["choices"]] == [
        "0-4",
        "5-9",
        "10-19",
        "20-29",
        "30-60",
    ]

    # The keys the analysis and the SPSS/Stata labels read stay in the instrument's first language.
    assert items["state"]["text"] == source["items"]["state"]["text"]["en"]
    assert items["tac_1"]["choices"] == _choices(source, "tac_1", "en")
    assert items["afford_scale"]["min_label"] == source["items"]["afford_scale"]["min_label"]["en"]
    assert variables["alloc.tactical"]["label"] == variables["alloc.tactical"]["wording"]["en"]["label"]
    assert codebook["scales"]["tactical"]["label"] == "Tactical leverage"

    # The page for people shows the Urdu wording, marked right-to-left so it renders in order.
    page = (tmp_path / "x" / "codebook.html").read_text(encoding="utf-8")
    urdu = html.escape(source["items"]["state"]["text"]["ur"], quote=False)
    assert re.search(r'<[a-z]+[^>]* lang="ur" dir="rtl"[^>]*>' + re.escape(urdu), page), (
        "Urdu text not marked rtl"
    )
    assert html.escape(source["items"]["afford_scale"]["max_label"]["ur"], quote=False) in page

    # The workbook's codebook sheet has the other language's labels beside the first language's.
    book = pd.read_excel(tmp_path / "x" / "data.xlsx", sheet_name="codebook").set_index("variable")
    assert book.loc["alloc.tactical", "label (ur)"] == variables["alloc.tactical"]["wording"]["ur"]["label"]
    assert book.loc["state", "value labels (ur)"] == "UK = برطانیہ; PK = پاکستان"
    assert book.loc["state", "label"] == source["items"]["state"]["text"]["en"]
