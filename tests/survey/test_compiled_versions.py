"""The per-process cache of compiled instrument versions is keyed by version id *and* sha256, and bounded.

The attack: two databases served by one process (or a database restored over another) can both hold a version
with id 1; a new version gets a new id and content. Whatever the cache holds, an expert's page must come from
their own version, and a page's accepted fields from that page alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask

from elicit.db import db
from elicit.instruments.loading import load_file, load_text
from elicit.instruments.versions import publish_version
from elicit.responding import flow
from elicit.responding.compiled import VERSIONS, CompiledVersion, VersionCache
from elicit.responding.pages import CONTROL_FIELDS
from elicit.studies import create_study
from tests.conftest import FLAGSHIP, ROOT, StudyHandle, make_test_app

TINY = """
id: tiny
version: 1.0.0
languages: [en]
title: {en: "Tiny"}
pages:
  - id: only
    items:
      - {id: remark, type: text, text: {en: "Anything to say?"}}
"""


def _app_with(tmp_path: Path, sqlite_template: Path, name: str, instrument: str | None) -> tuple[Flask, str]:
    """An app on a database of its own whose first published version (id 1) is ``instrument`` (or the flagship)."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copyfile(sqlite_template, folder / "elicit.db")
    app = make_test_app(f"sqlite:///{folder / 'elicit.db'}", folder)
    with app.app_context():
        definition = load_text(instrument, "tiny.yaml") if instrument else load_file(FLAGSHIP)
        version, _ = publish_version(db.session, definition, "test")
        assert version.id == 1
        create_study(db.session, name, version, [("UK", "United Kingdom")])
        db.session.commit()
    (token,) = StudyHandle(app, name).invite("UK")
    return app, token


def test_two_databases_whose_version_1_differ_never_share_a_compiled_version(
    tmp_path: Path, sqlite_template: Path
) -> None:
    VERSIONS.clear()
    flagship_app, flagship_token = _app_with(tmp_path, sqlite_template, "flagship", None)
    tiny_app, tiny_token = _app_with(tmp_path, sqlite_template, "tiny", TINY)
    for _ in range(2):  # and again, from the cache
        flagship = flagship_app.test_client().get(f"/s/{flagship_token}")
        tiny = tiny_app.test_client().get(f"/s/{tiny_token}")
        assert 'name="consent"' in flagship.text and 'name="remark"' not in flagship.text
        assert 'name="remark"' in tiny.text and 'name="consent"' not in tiny.text
    shas = set()
    for app, token in ((flagship_app, flagship_token), (tiny_app, tiny_token)):
        with app.app_context():
            link = flow.open_by_token(db.session, token, secret=app.config["SECRET_KEY"])
            assert link.compiled is not None and link.compiled.definition is link.definition
            shas.add(link.compiled.sha256)
    assert len(shas) == 2 and len(VERSIONS) == 2  # one entry per (id 1, sha256)
    for app in (flagship_app, tiny_app):
        app.extensions["elicit.db"][0].dispose()


def test_a_new_version_gets_its_own_entry(app: Flask) -> None:
    with app.app_context():
        first, _ = publish_version(db.session, load_file(FLAGSHIP), "test")
        newer, _ = publish_version(
            db.session, load_file(ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml"), "test"
        )
        db.session.commit()
        one = flow.compiled_version(db.session, first.id)
        other = flow.compiled_version(db.session, newer.id)
        assert one is not other and one.sha256 == first.sha256 and other.sha256 == newer.sha256
        assert (
            one.definition.ref == "defence-diplomacy@1.0.0"
            and other.definition.ref == "defence-diplomacy@1.1.0"
        )
        assert flow.compiled_version(db.session, first.id) is one  # held, not parsed again


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    made: list[str] = []
    definition = load_text(TINY, "tiny.yaml")

    def make(name: str):  # type: ignore[no-untyped-def]
        def parse():  # type: ignore[no-untyped-def]
            made.append(name)
            return definition

        return parse

    cache = VersionCache(capacity=2)
    cache.get(1, "a" * 64, make("a"))
    cache.get(2, "b" * 64, make("b"))
    cache.get(1, "a" * 64, make("a again"))  # a hit: used most recently now
    cache.get(3, "c" * 64, make("c"))  # evicts b
    assert len(cache) == 2
    cache.get(2, "b" * 64, make("b again"))
    cache.get(1, "d" * 64, make("same id, other content"))
    assert made == ["a", "b", "c", "b again", "same id, other content"]


def test_a_page_accepts_its_own_fields_only() -> None:
    definition = load_file(FLAGSHIP)
    compiled = CompiledVersion(definition, "0" * 64)
    welcome, background = definition.pages[0], definition.pages[1]
    fields = compiled.fields(background, frozenset(), CONTROL_FIELDS)
    assert "state" in fields and "consent" not in fields and fields >= CONTROL_FIELDS
    assert "consent" in compiled.fields(welcome, frozenset(), CONTROL_FIELDS)
    asked = compiled.fields(background, frozenset({"years", "tac_1"}), CONTROL_FIELDS)
    assert "years.rationale" in asked and "tac_1.rationale" not in asked and "years.rationale" not in fields
