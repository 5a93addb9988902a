"""Hostile roster files: any text gives checked rows or a RosterError with line numbers, never a crash.

A roster arrives as an upload in the studio or a file given to ``elicit invite --roster``; whatever a
spreadsheet (or an attacker) puts in it, the parser answers with rows that are all valid or with problems that
point at lines.
"""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicit.models import Cohort, Study
from elicit.studies import RosterError, RosterRow, parse_roster
from elicit.users import EMAIL_RE

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {"UK", "PK"}


def a_study() -> Study:
    """A study not in any session: the parser sees its cohorts and no roster entries yet."""
    study = Study(slug="dd-fuzz", title="Fuzz", anonymity="anonymous", pseudonym_key="00" * 32)
    study.cohorts = [Cohort(code="UK", label="United Kingdom"), Cohort(code="PK", label="Pakistan")]
    return study


def parse_or_refuse(text: str, default_cohort: str | None = None) -> list[RosterRow] | RosterError:
    lines = text.count("\n") + text.count("\r") + 2
    try:
        rows = parse_roster(text, a_study(), default_cohort)
    except RosterError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert 1 <= problem.line <= lines, (problem.line, lines)
            assert problem.message.strip()
        return exc
    assert rows, "an empty roster must be refused, not accepted as no rows"
    emails = [row.email for row in rows]
    assert len(set(emails)) == len(emails), "duplicate e-mails accepted"
    for row in rows:
        assert EMAIL_RE.match(row.email), row.email
        assert row.cohort in CODES, row.cohort
        assert row.name.strip() and len(row.name) <= 200
        assert len(row.organisation) <= 200
    return rows


# ------------------------------------------------------------------------------------------------ strategies
csv_soup = st.lists(
    st.sampled_from([*",;\"'\n\r\t \x00\ufeff@.abcdeUKPK1é😀\\", "name", "email", "cohort", "organisation"]),
    max_size=120,
).map("".join)
names = st.one_of(st.text(max_size=40), st.just(""), st.text(min_size=201, max_size=260))
emails = st.one_of(
    st.emails().map(str),
    st.text(max_size=40),
    st.sampled_from(["", "a@b", "a@b.c", " A@B.CO ", "x@@y.z", "a b@c.d", "@x.y"]),
)
cohorts = st.one_of(st.sampled_from(["UK", "PK", "uk", "FR", "", " UK "]), st.text(max_size=8))
good_row = st.tuples(
    st.text(st.characters(categories=["L", "Zs"]), min_size=1, max_size=40).filter(str.strip),
    st.emails().map(str),
    st.text(st.characters(categories=["L", "N", "Zs", "P"]), max_size=30),
    st.sampled_from(["UK", "PK"]),
)
any_row = st.tuples(names, emails, st.text(max_size=30), cohorts)
rows = st.lists(st.one_of(good_row, good_row, good_row, any_row), max_size=25)
headers = st.one_of(
    st.just(["name", "email", "organisation", "cohort"]),
    st.permutations(["name", "email", "organisation", "cohort"]).map(list),
    st.lists(
        st.sampled_from(["name", "email", "organisation", "cohort", "Name ", "EMAIL", "extra", ""]),
        max_size=6,
    ),
)


@st.composite
def roster_files(draw: st.DrawFn) -> str:
    """A CSV written by a real writer (quoting right) with random header, rows and ragged lines."""
    header = draw(headers)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    for name, email, organisation, cohort in draw(rows):
        record = {"name": name, "email": email, "organisation": organisation, "cohort": cohort}
        row = [record.get(column.strip().lower(), "x") for column in header]
        if draw(st.booleans()) and draw(st.booleans()):
            row = row[: draw(st.integers(0, max(0, len(row))))]  # a ragged line
        writer.writerow(row)
    text = out.getvalue()
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


# -------------------------------------------------------------------------------------------------- properties
@FUZZ
@given(st.text(max_size=2000))
def test_any_text_gives_rows_or_a_roster_error(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(csv_soup, st.sampled_from([None, "UK", "PK"]))
def test_csv_punctuation_soup_gives_rows_or_a_roster_error(text: str, default_cohort: str | None) -> None:
    parse_or_refuse(text, default_cohort)


@FUZZ
@given(roster_files(), st.sampled_from([None, "UK"]))
def test_generated_rosters_give_rows_or_a_roster_error(text: str, default_cohort: str | None) -> None:
    parse_or_refuse(text, default_cohort)


def test_a_field_beyond_the_csv_field_limit_is_a_problem_not_a_crash() -> None:
    text = 'name,email,organisation,cohort\n"' + "x" * 200_000 + '",a@b.co,,UK\n'
    result = parse_or_refuse(text)
    assert isinstance(result, RosterError)


def test_an_unterminated_quote_is_reported_on_its_line() -> None:
    text = 'name,email,organisation,cohort\nAda,ada@example.org,,UK\n"Bob,bob@example.org,,PK\n'
    result = parse_or_refuse(text)
    assert isinstance(result, RosterError)


def test_a_valid_roster_still_parses() -> None:
    text = "name,email,organisation,cohort\nAda Lovelace,ADA@example.org ,Analytical,UK\nBob,bob@example.pk,,PK\n"
    result = parse_or_refuse(text)
    assert isinstance(result, list) and [r.email for r in result] == ["ada@example.org", "bob@example.pk"]
