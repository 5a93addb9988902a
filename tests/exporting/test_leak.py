"""The leak scan: a study whose roster holds distinctive names, e-mails and organisations, whose experts write
them (and URLs, phone numbers and their own link) into free text and a direct-identifier item. Every byte of every
exported file, inside zip, xlsx and Parquet containers and SPSS/Stata values and labels too, is scanned for any of
them, for every invitation token and for exact timestamps.

Nothing here depends on what random tokens happen to look like: the invitation links are of the current format
(prefix and checksum), and the first expert holds a fixed legacy link (made before the prefix existed) with no
digit and no capital in it, which only the study's token hashes can find. Each expert also writes their code
split across a line break."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from elicit.db import db
from elicit.exporting import export_zip
from elicit.models import Invitation, Response, RosterEntry
from elicit.studies import create_study, find_study
from elicit.tokens import token_hash
from tests.exporting.helpers import BASE_ANSWERS, answer, flagship_variant, new_invitation, publish_text, run

ROSTER = [
    (
        "Zebulon Quartermaine",
        "zebulon.quartermaine@quillfeather-analytics.example",
        "Quillfeather Defence Analytics",
        "UK",
    ),
    (
        "Aurelia Thistlewood-Brackenbury",
        "aurelia.tb@obscure-affairs.example.gov.uk",
        "Ministry of Obscure Affairs",
        "UK",
    ),
    (
        "Farrukh Qizilbashzada",
        "f.qizilbashzada@karakoram-institute.example.pk",
        "Karakoram Strategic Institute",
        "PK",
    ),
    (
        "Xanthippe O'Dowd-Nakamura",
        "xanthippe.odn@implausible.example.org",
        "Institute for Implausible Studies",
        "PK",
    ),
]
NAME_PARTS = [
    "Zebulon",
    "Quartermaine",
    "Aurelia",
    "Thistlewood",
    "Brackenbury",
    "Farrukh",
    "Qizilbashzada",
    "Xanthippe",
    "Nakamura",
]
# A link of the format made before tokens had a prefix (secrets.token_urlsafe(24)), drawn without a digit: the
# old scrubber needed a digit to see a token, so about one run in twenty leaked the token it drew.
LEGACY_TOKEN = "quietletters_onlynodigits-atallx"
PHONES = ["+44 20 7946 0958", "+92 300 1234567", "0300-1234567", "+44 (0)7700 900123"]
URLS = ["https://intranet.karakoram-institute.example.pk/reports?id=7", "www.quillfeather.example.com/team"]
# Exact times set on rows an export must never reveal (distinct from the time the test runs).
EXACT = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
DIRECT_IDENTIFIER = (
    "      - id: thanks\n",
    "      - id: contact\n        type: text\n        max_length: 200\n        privacy: direct_identifier\n"
    '        text: "Your e-mail address, if you would like the results"\n      - id: thanks\n',
)


def _leak_instrument(anonymity: str) -> str:
    return flagship_variant(
        **{
            "id: defence-diplomacy": "id: leak-check",
            "anonymity: anonymous": f"anonymity: {anonymity}",
            DIRECT_IDENTIFIER[0]: DIRECT_IDENTIFIER[1],
        }
    )


def _haystacks(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    """Every text an exported file holds: its raw bytes, and the contents of zips, Parquet, SPSS and Stata."""
    yield name, data.decode("utf-8", "replace").casefold()
    yield name + " (latin-1)", data.decode("latin-1").casefold()
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from _haystacks(f"{name}!{member}", archive.read(member))
    if data[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(data))
        yield (
            name + " (parquet values)",
            "\n".join(str(v) for column in table.columns for v in column.to_pylist()).casefold(),
        )
        yield name + " (parquet schema)", str(table.schema.metadata).casefold() + str(table.schema).casefold()
    if name.endswith((".sav", ".dta")):
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / f"scan{Path(name).suffix}"
            path.write_bytes(data)
            reader = pyreadstat.read_sav if name.endswith(".sav") else pyreadstat.read_dta
            frame, meta = reader(str(path))
        yield name + " (values)", frame.astype(str).to_csv().casefold()
        yield (
            name + " (labels)",
            json.dumps(
                [
                    meta.column_names_to_labels,
                    {k: list(v.values()) for k, v in meta.variable_value_labels.items()},
                ],
                ensure_ascii=False,
            ).casefold(),
        )


@pytest.mark.parametrize("anonymity", ["anonymous", "pseudonymous"])
def test_no_identifier_token_or_timestamp_leaves_in_any_format(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, anonymity: str
) -> None:
    slug = f"leak-{anonymity}"
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, _leak_instrument(anonymity))
        create_study(session, slug, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
    roster = tmp_path / "roster.csv"
    with roster.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email", "organisation", "cohort"])
        writer.writerows(ROSTER)
    code, _, err = run(runner, "invite", slug, "--roster", str(roster), "--out", str(tmp_path / "links.csv"))
    assert code == 0, err
    links = list(csv.DictReader((tmp_path / "links.csv").open(encoding="utf-8")))
    tokens = [row["url"].rsplit("/", 1)[1] for row in links]

    with app.app_context(), db.transaction() as session:
        study = find_study(session, slug)
        legacy = session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(tokens[0])))
        assert legacy is not None
        legacy.token_hash = token_hash(LEGACY_TOKEN)  # as a database from before the prefix holds it
        links[0]["url"] = links[0]["url"].rsplit("/", 1)[0] + "/" + LEGACY_TOKEN
        tokens[0] = LEGACY_TOKEN
        for index, (row, token) in enumerate(zip(links, tokens, strict=True)):
            name, email, organisation, cohort = ROSTER[index]
            other = ROSTER[(index + 1) % len(ROSTER)]
            rationale = (
                f"I am {name} of {organisation} ({email}); call me on {PHONES[index]} or {PHONES[index - 1]}. "
                f"Ask {other[0].split()[-1].lower()} ({other[1]}) at {other[2].upper()}, see {URLS[index % 2]}. "
                f"My link is {row['url']} and my code {token} (again: {token[:12]}\n{token[12:]}). "
                f"{other[0].split()[0]}'s view differs; write to {email.replace('@', ' at ').replace('.', ' dot ')}."
            )
            values = {
                **BASE_ANSWERS,
                "state": cohort,
                "sector": "other",
                "sector_other": f"=SUM(A1:A9)+{name.split()[-1]} at {organisation}",
                "rationale": rationale,
                "contact": email,
            }
            answer(session, token, values, language="ur" if cohort == "PK" else "en")
        # An expert who never submitted: nothing of theirs may appear.
        unfinished = answer(
            session,
            new_invitation(session, study, "UK"),
            {**BASE_ANSWERS, "rationale": "Zebulon Quartermaine UNSUBMITTED-MARKER"},
            submit=False,
        )
        unfinished.started_at = unfinished.updated_at = EXACT
        for entry in session.scalars(select(RosterEntry)):
            entry.created_at = EXACT
        for invitation in session.scalars(select(Invitation)):
            invitation.created_at = invitation.reminded_at = EXACT
        if anonymity == "pseudonymous":  # exact times are kept on pseudonymous responses
            for response in session.scalars(select(Response).where(Response.study_id == study.id)):
                response.started_at = response.updated_at = EXACT

    exports = tmp_path / "exports"
    exports.mkdir()
    for fmt in ("csv", "parquet", "xlsx", "sav", "dta"):
        code, out, err = run(runner, "export", slug, "--format", fmt, "--out", str(exports / fmt))
        assert code == 0, err
        assert "exported 4 response(s)" in out
    with app.app_context(), db.transaction() as session:
        study = find_study(session, slug)
        for fmt in ("xlsx", "parquet"):
            archive = export_zip(session, study, fmt, actor="cli")
            (exports / f"{fmt}.zip").write_bytes(archive.read_bytes())
            archive.unlink()

    needles = {text.casefold() for entry in ROSTER for text in entry[:3]}
    needles |= {part.casefold() for part in NAME_PARTS}
    needles |= {entry[1].split("@")[0].casefold() for entry in ROSTER}
    needles |= {entry[1].split("@")[1].split(".")[0].casefold() for entry in ROSTER}  # the domain
    needles |= {piece.casefold() for token in tokens for piece in (token, token[:12], token[12:])}
    needles |= {p.casefold() for p in PHONES} | {"7946 0958", "1234567", "900123"}
    needles |= {u.casefold() for u in URLS} | {"karakoram-institute", "quillfeather.example"}
    needles |= {"unsubmitted-marker"}
    needles |= {
        EXACT.isoformat().casefold(),
        EXACT.strftime("%Y-%m-%d %H:%M:%S"),
        EXACT.strftime("%Y-%m-%dT%H:%M:%S"),
        EXACT.strftime("%H:%M:%S"),
        EXACT.strftime("%H:%M"),
        "2025-03-14",
    }
    files = sorted(p for p in exports.rglob("*") if p.is_file())
    # five folders of 11 files (csv has no second data file; 4 are the EXCALIBUR/anduryl/SHELF files) and two zips
    assert len(files) == 5 * 11 - 1 + 2
    found = []
    for path in files:
        for where, text in _haystacks(str(path.relative_to(exports)), path.read_bytes()):
            found += [f"{needle!r} in {where}" for needle in needles if needle in text]
    assert found == []

    # The free text is exported, scrubbed; the direct identifier is not exported at all.
    data = pd.read_csv(exports / "csv" / "data.csv", dtype=str, keep_default_na=False)
    assert "contact" not in data.columns
    rationale = " ".join(data["rationale"])
    for placeholder in ("[name]", "[email]", "[phone]", "[url]", "[organisation]"):
        assert placeholder in rationale
    assert "[token]" in rationale or rationale.count("[url]") >= 8  # the link itself is a URL
    assert all(cell.startswith("'=SUM(A1:A9)+[name] at [organisation]") for cell in data["sector_other"])
    assert set(pd.read_parquet(exports / "parquet" / "data.parquet")["sector_other"]) == {
        "=SUM(A1:A9)+[name] at [organisation]"
    }
    sheet = load_workbook(exports / "xlsx" / "data.xlsx", read_only=True)["data"]
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    cell = next(sheet.iter_rows(min_row=2, max_row=2))[header.index("sector_other")]
    assert cell.data_type == "s" and str(cell.value).startswith("'=")
    manifest = json.loads((exports / "csv" / "manifest.json").read_text(encoding="utf-8"))
    anonymization = manifest["anonymization"]
    assert anonymization["direct_identifiers_dropped"] == ["contact"]
    assert anonymization["free_text"]["items"] == ["sector_other", "rationale"]
    assert all(anonymization["free_text"]["replacements"][k] > 0 for k in ("email", "phone", "url", "name"))
    codebook = json.loads((exports / "csv" / "codebook.json").read_text(encoding="utf-8"))
    contact = next(i for i in codebook["items"] if i["id"] == "contact")
    assert contact["columns"] == [] and contact["treatment"].startswith("dropped")
    assert "contact" not in {v["name"] for v in codebook["variables"]}

    # The scan itself works: an identified export (admins only) of the same study is full of what it looks for.
    code, _, err = run(
        runner,
        "user",
        "add",
        "admin@example.org",
        "--role",
        "admin",
        "--password-stdin",
        input="a long admin password\n",
    )
    assert code == 0, err
    code, _, err = run(
        runner,
        "export",
        slug,
        "--format",
        "parquet",
        "--identified",
        "--admin",
        "admin@example.org",
        "--out",
        str(tmp_path / "identified"),
    )
    assert code == 0, err
    found = set()
    for path in (p for p in (tmp_path / "identified").rglob("*") if p.is_file()):
        for _where, text in _haystacks(path.name, path.read_bytes()):
            found |= {needle for needle in needles if needle in text}
    assert {"zebulon quartermaine", "quillfeather defence analytics", ROSTER[2][1]} <= found
    if anonymity == "anonymous":  # the link was cut at submission: no roster columns even for an admin
        assert "roster_name" not in pd.read_parquet(tmp_path / "identified" / "data.parquet").columns
