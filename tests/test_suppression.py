"""Complementary suppression attacked the way a reader would: subtract the published totals, and solve for the
hidden cells by linear programming over everything that is shown (the "audit" of Hundepool et al., Statistical
Disclosure Control, 2012)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from elicit.suppression import Relation, is_small, protected, suppress


def attacker_ranges(
    values: Mapping[str, int], relations: list[Relation[str]], hidden: frozenset[str]
) -> dict[str, tuple[float, float]]:
    """For each hidden cell, the least and greatest value consistent with what is shown.

    The reader knows every shown cell, every relation, and that a hidden cell is at least 1 (zeros are shown).
    """
    unknown = sorted(hidden)
    index = {cell: i for i, cell in enumerate(unknown)}
    a_eq, b_eq = [], []
    for rel in relations:
        row = [0.0] * len(unknown)
        constant = 0.0
        for cell, sign in [(rel.total, 1.0)] + [(p, -1.0) for p in rel.parts]:
            if cell in index:
                row[index[cell]] += sign
            else:
                constant -= sign * values[cell]
        if any(row):
            a_eq.append(row)
            b_eq.append(constant)
    ranges = {}
    for cell in unknown:
        objective = [0.0] * len(unknown)
        objective[index[cell]] = 1.0
        bounds = [(1, None)] * len(unknown)
        low = linprog(objective, A_eq=a_eq or None, b_eq=b_eq or None, bounds=bounds)
        high = linprog([-c for c in objective], A_eq=a_eq or None, b_eq=b_eq or None, bounds=bounds)
        assert low.status == 0, low.message  # the true values are feasible
        ranges[cell] = (low.fun, math.inf if high.status == 3 else -high.fun)
    return ranges


def assert_safe(values: Mapping[str, int], relations: list[Relation[str]], k: int) -> frozenset[str]:
    hidden = suppress(values, relations, k)
    assert {c for c, n in values.items() if is_small(n, k)} <= hidden
    assert all(values[c] > 0 for c in hidden), "a zero is never hidden"
    for cell, (low, high) in attacker_ranges(values, relations, hidden).items():
        assert low <= values[cell] <= high
        assert high >= k, f"{cell}={values[cell]} is shown to be below k (at most {high})"
        assert low < high, f"{cell}={values[cell]} is pinned down"
    return hidden


def test_delphi_feedback_all_minus_uk_no_longer_gives_pk() -> None:
    """Issue 12, item 5: "UK (n=5)" and "All (n=7)" shown while PK (n=2) is "too few to show"."""
    values = {"UK": 5, "PK": 2, "all": 7}
    relation = Relation("all", ("UK", "PK"))
    assert not protected(relation, values, frozenset({"PK"}), 5)
    assert attacker_ranges(values, [relation], frozenset({"PK"})) == {"PK": (2, 2)}  # the old rule: 7 - 5
    hidden = assert_safe(values, [relation], 5)
    assert hidden == {"PK", "UK"}  # the next-smallest cell goes with it; everyone's result stays


def test_the_total_goes_when_no_other_part_can() -> None:
    values = {"UK": 0, "PK": 3, "all": 3}
    assert suppress(values, [Relation("all", ("UK", "PK"))], 5) == {"PK", "all"}
    # a shown zero protects nothing: hiding it would leave PK = all
    values = {"UK": 0, "PK": 2, "FR": 9, "all": 11}
    assert suppress(values, [Relation("all", ("UK", "PK", "FR"))], 5) == {"PK", "FR"}


def test_small_hidden_cells_do_not_shelter_each_other() -> None:
    """Two hidden 2s under a shown total are a group of 4; five hidden 1s under a shown 5 are each 1."""
    values = {"a": 2, "b": 2, "c": 9, "all": 13}
    assert suppress(values, [Relation("all", ("a", "b", "c"))], 5) == {"a", "b", "c"}
    days = {f"d{i}": 1 for i in range(5)} | {"all": 5}
    assert suppress(days, [Relation("all", tuple(f"d{i}" for i in range(5)))], 5) == set(days)


def test_zero_is_published_and_k_of_one_hides_nothing() -> None:
    assert not is_small(0, 5) and is_small(1, 5) and is_small(4, 5) and not is_small(5, 5)
    values = {"UK": 0, "PK": 0, "all": 0}
    assert suppress(values, [Relation("all", ("UK", "PK"))], 5) == frozenset()
    assert suppress({"UK": 1, "PK": 2, "all": 3}, [Relation("all", ("UK", "PK"))], 1) == frozenset()


def test_a_total_shared_by_two_relations() -> None:
    """The dashboard's "all cohorts: submitted" is the sum of the cohorts and of the days."""
    values = {"UK": 7, "PK": 0, "all": 7, "day1": 1, "day2": 1, "day3": 5}
    relations = [Relation("all", ("UK", "PK")), Relation("all", ("day1", "day2", "day3"))]
    hidden = assert_safe(values, relations, 5)
    assert hidden == {"day1", "day2", "day3"}


def test_nested_or_two_way_tables_are_refused() -> None:
    values = {"a": 1, "b": 2, "ab": 3, "c": 4, "all": 7}
    with pytest.raises(ValueError, match="one-level"):
        suppress(values, [Relation("ab", ("a", "b")), Relation("all", ("ab", "c"))], 5)
    with pytest.raises(ValueError, match="one-level"):
        suppress(values, [Relation("ab", ("a", "b")), Relation("all", ("a", "c"))], 5)
    with pytest.raises(ValueError, match="no count"):
        suppress({"a": 1}, [Relation("all", ("a",))], 5)
    with pytest.raises(ValueError, match="negative"):
        suppress({"a": -1}, [], 5)


@st.composite
def one_level_tables(draw: st.DrawFn) -> tuple[dict[str, int], list[Relation[str]], int]:
    """Totals with their parts; some totals also split a second way (cohorts and days)."""
    k = draw(st.integers(2, 6))
    values: dict[str, int] = {}
    relations: list[Relation[str]] = []
    for t in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(st.integers(0, 12), min_size=1, max_size=5))
        total = f"t{t}"
        values[total] = sum(parts)
        names = tuple(f"t{t}.p{i}" for i in range(len(parts)))
        values.update(zip(names, parts, strict=True))
        relations.append(Relation(total, names))
        if draw(st.booleans()) and values[total]:
            cuts = sorted(draw(st.lists(st.integers(0, values[total]), max_size=4)))
            bounds = [0, *cuts, values[total]]
            split = tuple(f"t{t}.s{i}" for i in range(len(bounds) - 1))
            values.update({name: bounds[i + 1] - bounds[i] for i, name in enumerate(split)})
            relations.append(Relation(total, split))
    return values, relations, k


@given(one_level_tables())
@settings(max_examples=150, deadline=None)
def test_no_hidden_cell_can_be_solved_for(table: tuple[dict[str, int], list[Relation[str]], int]) -> None:
    values, relations, k = table
    assert_safe(values, relations, k)


@given(
    st.dictionaries(st.sampled_from(["UK", "PK", "FR", "DE", "US"]), st.integers(0, 12), min_size=1),
    st.integers(1, 7),
)
@settings(max_examples=300, deadline=None)
def test_the_analysis_copy_of_the_rule_agrees(sizes: dict[str, int], k: int) -> None:
    """``elicit.analysis.disclosure`` repeats the rule (the analysis imports nothing from the app)."""
    from elicit.analysis.disclosure import hidden_groups as analysis_rule
    from elicit.suppression import hidden_groups

    assert analysis_rule(sizes, k) == hidden_groups(sizes, k)


def test_report_tables_do_not_give_a_small_cohort_back(app: Any, runner: Any, tmp_path: Path) -> None:
    """Issue 12, item 5, in the analysis report: "Who answered" listed UK (6) and all (8) beside PK (2)."""
    import re

    from elicit.db import db
    from elicit.studies import create_study
    from tests.exporting.helpers import (
        BASE_ANSWERS,
        answer,
        flagship_variant,
        new_invitation,
        publish_text,
        run,
    )

    with app.app_context(), db.transaction() as session:
        version = publish_text(session, flagship_variant())
        study = create_study(session, "report-k", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        for cohort, n in (("UK", 6), ("PK", 2)):
            for _ in range(n):
                answer(session, new_invitation(session, study, cohort), {**BASE_ANSWERS, "state": cohort})
    code, _, err = run(runner, "export", "report-k", "--out", str(tmp_path / "export"))
    assert code == 0, err
    code, _, err = run(runner, "analyze", str(tmp_path / "export"), "--out", str(tmp_path / "report.html"))
    assert code == 0, err
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    who = re.search(r"<h3>Who answered</h3>.*?<tbody>(.*?)</tbody>", html, re.S)
    assert who
    rows = {
        cells[0]: cells[2]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", who.group(1), re.S)
        )
    }
    assert rows == {"all": "8", "UK": "hidden", "PK": "hidden"}
    assert "UK, PK hidden" in html or "PK, UK hidden" in html
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        # no table lists a cohort's own results (a cohort column, or a row with its n)
        assert not re.search(r"<td class=\"text\">(UK|PK)</td>\s*<td>\d+</td>", table), table[:300]
