"""Every expert-facing string is translated, and the committed .mo files match their .po sources."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from update_translations import extract  # noqa: E402 - the script is the one place the keywords live

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = sorted((ROOT / "src" / "elicit" / "translations").glob("*/LC_MESSAGES/messages.po"))


def test_there_is_an_urdu_catalog() -> None:
    assert [p.parts[-3] for p in CATALOGS] == ["ur"]


def test_every_extracted_string_is_translated(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    extract(pot)
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    for path in CATALOGS:
        with path.open("rb") as fh:
            catalog = read_po(fh)
        translated = {m.id for m in catalog if m.id and m.string}
        missing = sorted(wanted - translated)
        assert not missing, (
            f"{path}: untranslated (run scripts/update_translations.py and translate): {missing}"
        )


def test_compiled_catalogs_match_their_sources() -> None:
    for path in CATALOGS:
        with path.open("rb") as fh:
            catalog = read_po(fh)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        with path.with_suffix(".mo").open("rb") as fh:
            committed = read_mo(fh)
        assert {m.id: m.string for m in read_mo(io.BytesIO(compiled.getvalue())) if m.id} == {
            m.id: m.string for m in committed if m.id
        }, f"{path.with_suffix('.mo')} is stale: run scripts/update_translations.py"
