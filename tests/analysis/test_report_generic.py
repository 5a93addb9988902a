"""The report speaks the instrument's own words (issue 16): a study about water never reads like the flagship's.

A small "water management" instrument (two scales of 4-point items, two cohorts of utilities and regulators, a
constant-sum and a ranking item, two Delphi rounds) is analysed end to end, and no word of the flagship study
(defence diplomacy, its leverages, its cohorts) may appear in the HTML report or in ``results.json``; the
instrument's own titles do.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from elicit.analysis import run_analysis
from tests.analysis.conftest import write_export

AGREE4 = [
    {"code": 1, "label": "Not at all"},
    {"code": 2, "label": "A little"},
    {"code": 3, "label": "Quite"},
    {"code": 4, "label": "Very much"},
]
SCALES = {"supply": "Reliability of supply", "demand": "Demand management"}
COHORTS = {"UT": "Water utilities", "RG": "Regulators"}
MEASURES = [{"code": c, "label": c.title()} for c in ("metering", "tariffs", "leak repair")]
FLAGSHIP = re.compile(
    r"leverage|defen[cs]e|diplomac|pakistan|united kingdom|tactical|strategic|economic|\bUK\b|\bPK\b",
    re.IGNORECASE,
)


def water_codebook() -> dict[str, Any]:
    """Two 3-item scales (item 3 of each reverse-keyed), a constant-sum and a ranking item."""
    items: list[dict[str, Any]] = []
    scales = {}
    for scale, label in SCALES.items():
        ids = [f"{scale}_{i}" for i in range(1, 4)]
        scales[scale] = {"label": label, "items": ids, "reverse": [ids[2]]}
        items += [
            {
                "id": item_id,
                "type": "likert",
                "analysis": "ordinal",
                "text": f"{label}: statement {item_id}",
                "choices": AGREE4,
                "scale": scale,
                "reverse": item_id == ids[2],
                "columns": [item_id],
                "privacy": "none",
            }
            for item_id in ids
        ]
    items += [
        {
            "id": "budget",
            "type": "constant_sum",
            "analysis": "composition",
            "text": "Share 100 points between the measures",
            "total": 100,
            "choices": MEASURES,
            "columns": [f"budget.{m['code']}" for m in MEASURES],
            "privacy": "none",
        },
        {
            "id": "priority",
            "type": "ranking",
            "analysis": "ranking",
            "text": "Rank the measures",
            "choices": MEASURES,
            "columns": [f"priority.{m['code']}" for m in MEASURES],
            "privacy": "none",
        },
    ]
    return {
        "format": "elicit-codebook/1",
        "study": {"slug": "water", "title": "Water management panel", "anonymity": "pseudonymous"},
        "instrument": {"id": "water-management", "versions": [{"version": "1.0.0", "sha256": "cd" * 32}]},
        "language": "en",
        "consensus_rule": {"max_iqr": 1, "min_agreement": 0.7},
        "cohorts": [{"code": c, "label": label} for c, label in COHORTS.items()],
        "scales": scales,
        "items": items,
        "variables": [
            {"name": column, "item": item["id"], "part": None, "type": item["type"], "label": item["text"]}
            for item in items
            for column in item["columns"]
        ],
    }


def water_data(seed: int = 11, n: int = 8) -> pd.DataFrame:
    """Two rounds of seeded answers from ``n`` experts per cohort (the same pseudonyms in both rounds)."""
    rng = np.random.default_rng(seed)
    rows = []
    for number in (1, 2):
        for index, cohort in enumerate(c for c in COHORTS for _ in range(n)):
            row: dict[str, Any] = {
                "respondent": f"P{index:03d}",
                "cohort": cohort,
                "round": number,
                "instrument_version": "1.0.0",
                "language": "en",
                "submitted_on": f"2025-0{number}-1{index % 9}",
            }
            for scale in SCALES:
                for i in range(1, 4):
                    row[f"{scale}_{i}"] = int(rng.integers(1, 5))
            points = rng.multinomial(100, [0.5, 0.3, 0.2])
            for measure, p in zip(MEASURES, points, strict=True):
                row[f"budget.{measure['code']}"] = int(p)
            for rank, position in enumerate(rng.permutation(3), start=1):
                row[f"priority.{MEASURES[position]['code']}"] = rank
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def water(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = write_export(tmp_path_factory.mktemp("water") / "export", water_data(), water_codebook())
    html, out_json = folder.parent / "report.html", folder.parent / "results.json"
    run_analysis(folder, html, out_json)
    return html.read_text(encoding="utf-8"), out_json.read_text(encoding="utf-8")


def test_no_flagship_word_in_the_report_or_the_results(water: tuple[str, str]) -> None:
    html, results = water
    # figures are PNG data URIs: their text is drawn, so the words are checked where they are made (below)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert FLAGSHIP.findall(text) == []
    assert FLAGSHIP.findall(results) == []


def test_the_report_uses_the_instruments_own_titles(water: tuple[str, str]) -> None:
    html, _ = water
    assert "Water management panel" in html
    for label in (*SCALES.values(), *COHORTS.values()):
        assert label in html
    assert "1–4" in html  # the scale's range is the codebook's, not a 5-point scale


def test_the_comparison_figure_is_titled_from_the_instrument(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.axes import Axes

    from elicit.analysis import figures

    titles: list[str] = []

    real = Axes.set_title

    def record(self: Axes, label: str, *args: Any, **kwargs: Any) -> Any:
        titles.append(label)
        return real(self, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "set_title", record)
    scores = pd.DataFrame({"cohort": ["UT", "UT", "RG", "RG"], "supply": [1.0, 2.0, 3.0, 4.0]})
    figures.scale_comparison(
        scores, ["supply"], ["UT", "RG"], SCALES, (1, 4), subject="Water management panel"
    )
    assert titles and all(not FLAGSHIP.search(t) for t in titles)
    assert "Water management panel" in titles[0]


def test_json_is_valid_and_lists_the_instruments_cohorts(water: tuple[str, str]) -> None:
    _, results = water
    document = json.loads(results)
    assert [c["label"] for c in document["meta"]["cohorts"]] == list(COHORTS.values())
