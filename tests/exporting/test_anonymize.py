"""Anonymization rules on their own (no database): bins, free-text scrubbing, names for SPSS and Stata."""

from __future__ import annotations

import pytest

from elicit.exporting.anonymize import KAnonymity, Scrubber, bin_labels
from elicit.exporting.writers import fit_label, format_names

ROSTER = [
    ("Dr Aurelia Thistlewood-Brackenbury", "a.thistlewood@mod.example.gov.uk", "Ministry of Obscure Affairs"),
    ("Sean O'Brien", "sob@example.org", "King's College London"),
    ("Will Grant", "wgrant@example.org", ""),
    ("Ayesha Khan", "ayesha.khan@example.pk", "National Defence University"),
]


def test_bins_read_as_the_instrument_language_says() -> None:
    assert [label for *_, label in bin_labels([0, 5, 10, 20, 30, 60], integer=True)] == [
        "0-4",
        "5-9",
        "10-19",
        "20-29",
        "30-60",
    ]
    assert [label for *_, label in bin_labels([0, 2.5, 5], integer=False)] == ["0-<2.5", "2.5-5"]
    # A leading minus would be neutralised as a formula in spreadsheets, so negatives are bracketed.
    assert [label for *_, label in bin_labels([-100, 0, 100], integer=True)] == ["(-100)-(-1)", "0-100"]


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Write to a.thistlewood@mod.example.gov.uk today", "Write to [email] today"),
        ("Call +92 300 1234567 or +92-300-1234567.", "Call [phone] or [phone]."),
        ("Call 0300-1234567, +44 20 7946 0958 or +44 (0)20 7946 0958", "Call [phone], [phone] or [phone]"),
        ("Mobile 07700 900123.", "Mobile [phone]."),
        (
            "See https://example.org/a?b=1. And www.mod.gov.pk/x, or mod.gov.uk!",
            "See [url]. And [url], or [url]!",
        ),
        ("My code is Xk3_9fj2LmQpR7sT0uVwYz12.", "My code is [token]."),
        ("AURELIA THISTLEWOOD-BRACKENBURY agrees; Dr Thistlewood not.", "[name] agrees; Dr [name] not."),
        ("O'Brien and o'brien's team at King’s College London", "[name] and [name]'s team at [organisation]"),
        ("the ministry of obscure   affairs said", "the [organisation] said"),
        ("Will said it will work", "[name] said it will work"),
        ("Khan and ayesha", "[name] and [name]"),
    ],
)
def test_scrubbing_replaces_identifying_strings(text: str, scrubbed: str) -> None:
    assert Scrubber.from_roster(ROSTER).scrub(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "Between 2010-2020 exports rose 12.5% in 5 years; 1990 and 2000.",
        "The U.K. and Pakistan, e.g. staff talks, etc.",
        "A ministry of defence and a national university.",
        "Interoperability and counter-terrorism cooperation in 2024-25.",
        "Defence diplomacy will grant little; hope is not a plan.",
    ],
)
def test_scrubbing_leaves_ordinary_text_alone(text: str) -> None:
    scrubber = Scrubber.from_roster(ROSTER)
    assert scrubber.scrub(text) == text
    assert not scrubber.counts


def test_k_anonymity_counts_distinct_respondents() -> None:
    k = KAnonymity(3, ["cohort", "sector"])
    for respondent, key in [("a", ("UK", "x")), ("b", ("UK", "x")), ("c", ("UK", "x")), ("d", ("PK", "y"))]:
        k.add(key, respondent)
    k.add(("PK", "y"), "d")  # the same expert in a second round is one respondent, two rows
    report = k.report()
    assert report["classes"] == 2 and report["class_sizes_below_k"] == [1] and report["rows_below_k"] == 2


def test_names_valid_in_spss_and_stata() -> None:
    names = ["respondent", "alloc.tactical", "in", "x" * 70, "x" * 71, "activities.hadr"]
    assert format_names(names, "sav") == [
        "respondent",
        "alloc.tactical",
        "in",
        "x" * 64,
        "x" * 62 + "_2",
        "activities.hadr",
    ]
    assert format_names(names, "dta") == [
        "respondent",
        "alloc_tactical",
        "in_v",
        "x" * 32,
        "x" * 30 + "_2",
        "activities_hadr",
    ]


def test_long_labels_keep_the_part_they_name() -> None:
    label = "By how much will your state's defence exports change over the next five years: 5th percentile"
    short = fit_label(label, ": 5th percentile", len, 80, "q05")
    assert len(short) <= 80 and short.endswith("…: 5th percentile") and label.startswith(short.split("…")[0])
    long_part = "Share: " + "Tactical leverage (military-to-military ties and more)" * 2
    short = fit_label(long_part, ": " + long_part.split(": ", 1)[1], len, 80, "tactical")
    assert short.endswith("…: tactical")
    assert fit_label("Short label ", "", len, 80) == "Short label"
