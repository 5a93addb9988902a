"""`elicit demo`: answers come from each item type's own ``demo``, unchanged for the flagship 1.0.0, and a demo on
the flagship 1.1.0 answers its slider, dropdown and date through the real flow."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import random
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from elicit.db import db
from elicit.demo import COHORT_TENDENCY, DEMO_SLUG, FLAGSHIP, LATEST, ensure_demo, simulated_value
from elicit.instruments.loading import load_file
from elicit.models import Answer, Instrument, InstrumentVersion, Response, ResponseStatus, Study

# The answers 40 simulated experts give to the flagship 1.0.0 from seed 20261127, as the demo drew them before the
# item types owned their demo answers (the if-chain in elicit/demo.py before issue 14): every draw from the
# generator must stay in the same order, so the demo data, and every test built on them, do not change.
FLAGSHIP_DEMO_SHA256 = "ad7b7de6cd2fe7a999466eca0055e233f74fb23cf6a0600484b5d7f480045728"


def flagship_answers(path: Path, experts: int) -> list[tuple[str, object]]:
    definition = load_file(path)
    rng = random.Random(20261127)  # noqa: S311
    answers: list[tuple[str, object]] = []
    for expert in range(experts):
        cohort = "UK" if expert % 2 else "PK"
        latent = {name: rng.gauss(COHORT_TENDENCY[cohort][name], 0.6) for name in definition.scales}
        for item in definition.items():
            answers.append((item.id, simulated_value(item, definition, latent, cohort, rng)))
    return answers


def test_the_flagship_demo_answers_are_the_same_as_before() -> None:
    answers = flagship_answers(FLAGSHIP, 40)
    digest = hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()
    assert digest == FLAGSHIP_DEMO_SHA256


def test_a_demo_on_the_latest_flagship_answers_every_new_type(app: Flask, tmp_path: Path) -> None:
    with app.app_context(), db.transaction() as session:
        lines = ensure_demo(
            session, app.config, tmp_path / "instance", responses=3, links=1, instrument=LATEST
        )
    assert lines[0].startswith(f"Demo study '{DEMO_SLUG}' on defence-diplomacy@1.1.0 with cohorts UK, PK")
    assert sum("/s/" in line for line in lines) == 2
    with app.app_context():
        session = db.session
        versions = session.scalars(
            select(InstrumentVersion.version)
            .join(Instrument)
            .where(Instrument.key == "defence-diplomacy")
            .order_by(InstrumentVersion.version)
        ).all()
        assert versions == ["1.0.0", "1.1.0"]  # the studio can diff them
        study = session.scalar(select(Study).where(Study.slug == DEMO_SLUG))
        assert study is not None and study.rounds[0].instrument_version.version == "1.1.0"
        rows = session.execute(
            select(Answer.item_id, Answer.value_num, Answer.value_text)
            .join(Response, Response.id == Answer.response_id)
            .where(
                Response.study_id == study.id,
                Response.status == ResponseStatus.SUBMITTED.value,
                Answer.item_id.in_(["afford_scale", "third_country", "next_dialogue"]),
            )
        ).all()
    by_item: dict[str, list[tuple[float | None, str | None]]] = {}
    for item_id, num, text in rows:
        by_item.setdefault(item_id, []).append((num, text))
    assert {item: len(values) for item, values in by_item.items()} == {
        "afford_scale": 6,
        "third_country": 6,
        "next_dialogue": 6,
    }
    definition = load_file(LATEST)
    assert all(
        num is not None and 0 <= num <= 10 and num.is_integer() and text is None
        for num, text in by_item["afford_scale"]
    )
    codes = {str(c.code) for c in definition.item("third_country").choices}
    assert all(num is None and text in codes for num, text in by_item["third_country"])
    for num, text in by_item["next_dialogue"]:
        assert num is None and text is not None
        assert dt.date(2026, 1, 1) <= dt.date.fromisoformat(text) <= dt.date(2035, 12, 31)

    # The export carries them, one column each.
    result = app.test_cli_runner().invoke(args=["export", DEMO_SLUG, "--out", str(tmp_path / "export")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "export" / "data.csv").open(encoding="utf-8", newline="") as fh:
        data = list(csv.DictReader(fh))
    assert len(data) == 6 and all(row["instrument_version"] == "1.1.0" for row in data)
    assert sorted(row["afford_scale"] for row in data) == sorted(
        str(int(n or 0)) for n, _ in by_item["afford_scale"]
    )
    assert sorted(row["third_country"] for row in data) == sorted(str(t) for _, t in by_item["third_country"])
    assert sorted(row["next_dialogue"] for row in data) == sorted(str(t) for _, t in by_item["next_dialogue"])


def test_a_demo_study_keeps_its_version_when_asked_for_a_later_one(app: Flask, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    with app.app_context(), db.transaction() as session:
        ensure_demo(session, app.config, instance, responses=1, links=0)
    with app.app_context(), db.transaction() as session:
        lines = ensure_demo(session, app.config, instance, responses=2, links=0, instrument=LATEST)
    assert "on defence-diplomacy@1.0.0" in lines[0]
    assert any("exists already on defence-diplomacy@1.0.0" in line for line in lines)
    with app.app_context():
        refs = db.session.scalars(
            select(InstrumentVersion.version)
            .join(Response, Response.instrument_version_id == InstrumentVersion.id)
            .where(Response.status == ResponseStatus.SUBMITTED.value)
        ).all()
    assert sorted(refs) == ["1.0.0"] * 4
