"""The scrubber as an adversary would test it: every way an expert writes a name, an address or a link.

Each case is text an expert could type into a free-text answer or a Delphi reason; the scrubbed text must hold
none of the identifying strings. Tokens are fixed strings (never drawn at random), so every run judges the same
ones: a legacy token with no digit in it was what made the export leak scan fail about one run in twenty.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from elicit.db import db
from elicit.scrubbing import Scrubber, scrubber_for_study
from elicit.studies import RosterRow, create_study, import_roster
from elicit.tokens import checksum, looks_like_token, new_token, token_hash
from tests.exporting.helpers import FLAGSHIP, publish_text

ROSTER = [
    ("Zebulon Quartermaine", "zebulon.q@quillfeather.example", "Quillfeather Defence Analytics"),
    (
        "Dr Aurelia Thistlewood-Brackenbury",
        "a.thistlewood@obscure.example.gov.uk",
        "Ministry of Obscure Affairs",
    ),
    ("José Müller-Ibáñez", "jmi@iberia.example", ""),
    ("Will Grant", "wgrant@example.org", ""),
    ("Li Wu", "li.wu@example.cn", ""),
    ("علی حیدر", "ali.haider@mod.example.pk", ""),
    ("شکیلہ فاطمہ", "shakeela@mofa.example.pk", ""),
    ("احمد", "ahmad@example.pk", ""),
    ("Syed Malik", "syed.malik@example.pk", ""),
]
# Made before tokens had a prefix (secrets.token_urlsafe(24): 32 characters) with no digit in it, like 0.4 % of
# those, and no capital inside either: nothing in its shape tells it from a word, only the study's token hashes.
LEGACY = "quietletters_onlynodigits-atallx"
# The current format with no digit anywhere in it (prefix, 32 random characters, CRC32 checksum).
NEW = "eli_QuietLettersOnlyNoDigitsHereAbcd" + checksum("eli_QuietLettersOnlyNoDigitsHereAbcd")


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber.from_roster(ROSTER, token_hashes=[token_hash(LEGACY)])


def test_fixed_tokens_are_what_they_claim() -> None:
    assert len(LEGACY) == 32 and not any(ch.isdigit() for ch in LEGACY)
    assert looks_like_token(NEW) and len(NEW) == 42
    assert not looks_like_token(NEW[:-1] + ("a" if NEW[-1] != "a" else "b"))  # one character off: no token


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"My code is {LEGACY}.", id="legacy-no-digit"),
        pytest.param(f"My code is {LEGACY[:13]} {LEGACY[13:]}.", id="legacy-split-by-space"),
        pytest.param(f"My code is {LEGACY[:20]}\n{LEGACY[20:]} thanks", id="legacy-split-by-newline"),
        pytest.param(f"My code is {LEGACY[:8]} {LEGACY[8:17]}\r\n{LEGACY[17:]}", id="legacy-split-twice"),
        pytest.param(f"ref-{LEGACY}, ok", id="legacy-glued"),
        pytest.param(f"http://elicit.test/s/{LEGACY[:16]} {LEGACY[16:]}", id="legacy-link-split"),
        pytest.param(f"code {NEW} here", id="new-format"),
        pytest.param(f"code {NEW[:10]} {NEW[10:]} here", id="new-split-by-space"),
        pytest.param(f"code {NEW[:25]}\n{NEW[25:]} here", id="new-split-by-newline"),
        pytest.param(f"code {NEW[:3]}\n{NEW[3:30]}  {NEW[30:]}", id="new-split-in-prefix"),
    ],
)
def test_tokens_are_removed(scrubber: Scrubber, text: str) -> None:
    scrubbed = scrubber.scrub(text)
    compact = re.sub(r"\s+", "", scrubbed)
    for token in (LEGACY, NEW):
        assert token not in compact
        assert token[:12] not in scrubbed and token[-12:] not in scrubbed
    assert "[token]" in scrubbed or "[url]" in scrubbed


def test_new_format_tokens_are_found_without_knowing_the_study() -> None:
    """Any token in the current format, of any study, by its shape and checksum alone."""
    tokens = [new_token() for _ in range(50)]
    plain = Scrubber.from_roster([])
    for token in tokens:
        assert plain.scrub(f"it is {token}.") == "it is [token]."
        assert plain.scrub(f"it is {token[:20]}\n{token[20:]}.") == "it is [token]."


@pytest.mark.parametrize(
    "text",
    [
        "Readers of eli_ tools and other prefix words that follow it here in this sentence agree.",
        "The deli_counter menu was discussed at length by the participants before the coffee break.",
        NEW[:-2] + "zz is almost a token",  # a wrong checksum is not a token (it may still look random)
    ],
)
def test_a_wrong_checksum_is_not_a_new_format_token(text: str) -> None:
    scrubbed = Scrubber.from_roster([]).scrub(text)
    if text.startswith(NEW[:10]):
        assert "[token]" in scrubbed  # still caught by the generic rule for long random strings
        assert "almost a token" in scrubbed
    else:
        assert scrubbed == text


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("ZEBULON QUARTERMAINE wrote it", "[name] wrote it"),
        ("zebulon quartermaine wrote it", "[name] wrote it"),
        ("ask quartermaine", "ask [name]"),
        ("Jose Muller-Ibanez agrees", "[name] agrees"),
        ("JOSE MULLER IBANEZ agrees", "[name] agrees"),
        ("Mu\u0308ller said", "[name] said"),  # decomposed diacritic
        ("Ｚｅｂｕｌｏｎ said", "[name] said"),  # full-width letters
        ("ZebulonQuartermaine said", "[name] said"),
        ("zebulon.quartermaine said", "[name] said"),
        ("zebulon_quartermaine said", "[name] said"),
        ("quartermaine.zebulon said", "[name] said"),
        ("zquartermaine said", "[name] said"),
        ("Z. Quartermaine said", "[name] said"),
        ("Z Quartermaine said", "[name] said"),
        ("Z.Quartermaine said", "[name] said"),
        ("A. Thistlewood-Brackenbury said", "[name] said"),
        ("A. T. Brackenbury said", "[name] said"),
        ("Dr Thistlewood said", "Dr [name] said"),
        ("K. Muller said", "K. [name] said"),  # a wrong initial stays; the surname goes
        ("L. Wu and Wu said", "[name] and [name] said"),
        ("Will Grant said they will grant it", "[name] said they will grant it"),
        ("W. Grant said", "[name] said"),
        ("A hill and a grant", "A hill and a grant"),
        ("Malik said and Syed agreed", "[name] said and [name] agreed"),
        ("علي حيدر نے کہا", "[name] نے کہا"),  # Arabic yeh for the roster's Farsi yeh
        ("علی نے کہا", "[name] نے کہا"),
        ("شكيله فاطمة", "[name]"),  # Arabic kaf, yeh, heh and teh marbuta
        ("شکیلـــہ نے", "[name] نے"),  # tatweel
        ("أَحْمَد نے", "[name] نے"),  # alef with hamza and harakat
        ("\u200fعلی\u200f حیدر", "\u200f[name]"),  # right-to-left marks
    ],
)
def test_roster_names_in_every_form(scrubber: Scrubber, text: str, scrubbed: str) -> None:
    assert scrubber.scrub(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "write to ali.haider at mod dot gov dot pk please",
        "write to someone at mod dot gov dot pk please",
        "write to someone [at] mod [dot] gov please",
        "write to someone (at) mod (dot) gov (dot) pk please",
        "write to someone(at)mod.gov.pk please",
        "write to someone @ mod.gov.pk please",
        "write to someone AT mod DOT gov DOT pk please",
        "write to someone＠mod.gov.pk please",
        "write to someone {at} mod {dot} gov {dot} pk please",
        "write to someone -at- mod.gov.pk please",
    ],
)
def test_obfuscated_email_addresses(scrubber: Scrubber, text: str) -> None:
    scrubbed = scrubber.scrub(text)
    assert scrubbed == "write to [email] please", scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "see mod.gov.pk please",
        "see mofa dot gov dot pk please",
        "see mofa [dot] gov [dot] pk please",
        "see mofa(dot)gov(dot)pk please",
        "see MOFA DOT GOV DOT PK please",
        "see mofa dot gov please",
    ],
)
def test_bare_and_obfuscated_domains(scrubber: Scrubber, text: str) -> None:
    assert scrubber.scrub(text) == "see [url] please"


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Call ۰۳۰۰-۱۲۳۴۵۶۷ now", "Call [phone] now"),  # Urdu digits
        ("Call +92 300 1234567 now", "Call [phone] now"),
        ("Write to zebulon.q@quillfeather.example now", "Write to [email] now"),
        ("Write to ZEBULON.Q@QUILLFEATHER.EXAMPLE now", "Write to [email] now"),
        ("See https://intranet.example.pk/x?id=7.", "See [url]."),
    ],
)
def test_phones_emails_urls(scrubber: Scrubber, text: str, scrubbed: str) -> None:
    assert scrubber.scrub(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "We met at noon. Then we left at dot of ten.",
        "Look at the data; the dot com era ended.",
        "Defence diplomacy will grant little; hope is not a plan.",
        "A ministry of defence and a national university, e.g. staff talks, etc.",
        "Between 2010-2020 exports rose 12.5% in 5 years; 1990 and 2000.",
        "Interoperability and counter-terrorism cooperation in 2024-25.",
        "ملک کی دفاعی پالیسی پر بات ہوئی۔",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    scrubber = Scrubber.from_roster(ROSTER, token_hashes=[token_hash(LEGACY)])
    assert scrubber.scrub(text) == text
    assert not scrubber.counts


def test_the_old_import_path_still_works() -> None:
    from elicit.exporting.anonymize import Scrubber as Exported

    assert Exported is Scrubber


def test_scrubber_for_study_knows_the_roster_and_every_invitation(app: Flask) -> None:
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, FLAGSHIP.read_text(encoding="utf-8"))
        study = create_study(session, "scrub-study", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        rows = [RosterRow(2, "Farrukh Qizilbashzada", "f.q@example.pk", "Karakoram Institute", "PK")]
        [link] = import_roster(session, study, rows)
        link.invitation.token_hash = token_hash(LEGACY)  # a legacy link, as older databases hold
        study_id = study.id
    with app.app_context():
        scrubber = scrubber_for_study(db.session, study_id)
        text = f"Qizilbashzada of the karakoram institute; code {LEGACY[:10]} {LEGACY[10:]}"
        assert scrubber.scrub(text) == "[name] of the [organisation]; code [token]"
        assert scrubber_for_study(db.session, study_id + 1000).scrub(LEGACY) == LEGACY  # another study's
