"""Complementary suppression attacked the way a reader would: subtract the published totals, and solve for the
hidden cells by linear programming over everything that is shown (the "audit" of Hundepool et al., Statistical
Disclosure Control, 2012)."""

from __future__ import annotations

import json
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


def test_a_group_hidden_throughout_takes_its_complement_in_every_table() -> None:
    """PK is hidden from the whole report (2 respondents); in one item's table UK has 9 answers and PK 3: PK must
    go there too, and UK with it, or "all" (12) minus UK (9) gives PK's 3 back. Where PK answered nothing, hiding
    it needs no complement (a zero names nobody)."""
    from elicit.analysis.disclosure import Disclosure, hidden_groups

    assert hidden_groups({"all": 12, "UK": 9, "PK": 3}, 2, also={"PK"}) == {"UK", "PK"}
    assert hidden_groups({"all": 9, "UK": 9, "PK": 0}, 5, also={"PK"}) == frozenset()
    disclosure = Disclosure.for_sample({"all": 11, "UK": 9, "PK": 2}, 5)
    assert disclosure.hidden == {"UK", "PK"} and not disclosure.compares
    # where only UK answered, "all" would be UK's own result: it goes too (PK's zero is not counted on to protect)
    assert disclosure.hidden_in({"all": 9, "UK": 9, "PK": 0}) == {"UK", "PK", "all"}
    assert Disclosure(None).hidden_in({"all": 3, "UK": 1, "PK": 2}) == frozenset()


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


def _export_uk_6_pk_2(app: Any, runner: Any, folder: Path) -> Path:
    """The flagship answered by 6 UK and 2 PK experts in a study with k = 5, exported to ``folder``."""
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
    code, _, err = run(runner, "export", "report-k", "--out", str(folder))
    assert code == 0, err
    return folder


def test_report_tables_do_not_give_a_small_cohort_back(app: Any, runner: Any, tmp_path: Path) -> None:
    """Issue 12, item 5, in the analysis report: "Who answered" listed UK (6) and all (8) beside PK (2)."""
    import html as html_text
    import re

    from tests.exporting.helpers import run

    export = _export_uk_6_pk_2(app, runner, tmp_path / "export")
    code, _, err = run(runner, "analyze", str(export), "--out", str(tmp_path / "report.html"))
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
    # nor does a sentence: "Cohort PK has only 2 response(s)", "PK: agreement rests on 2 expert(s)"
    for sentence in re.findall(r"<li>(.*?)</li>|<p class=\"note\">(.*?)</p>", html, re.S):
        text = html_text.unescape(" ".join(sentence)).replace("fewer than 5", "")
        assert not (re.search(r"\b(UK|PK)\b", text) and re.search(r"\d", text)), text


# The report's sections and what each shows per group, read off the HTML as a reader sees it.
REPORT_SECTIONS: dict[str, tuple[str, str]] = {
    # name: (section id, pattern whose first group is a cohort code or "all" shown with figures)
    "reliability": ("reliability", r"<h3>[^<]* — ([^<]+)</h3>"),
    "scale scores": (
        "descriptives",
        r'<tr><td>[^<]*</td><td class="text">([^<]+)</td><td>\d+</td><td>\d+</td>'
        r"<td>[^<]*</td>\s*<td>[^<(]*</td>",
    ),
    "items": (
        "descriptives",
        r'<tr><td>[^<]*</td><td class="text">([^<]+)</td><td>\d+</td><td>\d+</td>'
        r"<td>[^<]*</td>\s*<td>[^<]*\(",
    ),
    "agreement": ("agreement", r"<h3>([^<]+)</h3>"),
    "within cohorts": ("within", r"<h3>(\S+) \(n = \d+"),
    "between cohorts": ("between", r"<th>Mean \(SD\) ([^<]+)</th>"),
    "allocations": ("allocations", r"<th>Mean % \(SD\) ([^<]+)</th>"),
    "rankings": ("allocations", r"<th>Mean rank ([^<]+)</th>"),
    "single items": ("other", r"<th>Median ([^<]+) \(n\)</th>"),
    "quantiles": ("other", r'<tr><td>[^<]*</td><td class="text">([^<]+)</td><td>\d+</td>'),
}


def _report_groups(html: str) -> dict[str, set[str]]:
    """Per section of the report, the groups (cohorts, "all") it shows figures for."""
    import re

    sections = dict(re.findall(r'<section[^>]*id="([^"]+)">(.*?)</section>', html, re.S))
    shown = {
        name: set(re.findall(pattern, sections.get(section, "")))
        for name, (section, pattern) in REPORT_SECTIONS.items()
    }
    who = re.search(r"<h3>Who answered</h3>.*?<tbody>(.*?)</tbody>", html, re.S)
    assert who
    shown["who answered"] = {
        cells[0]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", who.group(1), re.S)
        )
        if cells[2] != "hidden"
    }
    for figure in re.findall(r'alt="Diverging stacked bars of the Likert items, ([^"]+)"', html):
        shown["items"].add(figure)
    shown["mixed anova"] = {"yes"} if "<h3>Mixed ANOVA" in html else set()
    return shown


def _groups_in(node: Any, codes: frozenset[str]) -> set[str]:
    """Every group of ``codes`` whose own figures ``node`` holds: as a key (``reliability.tactical.PK``), as the
    value of a ``cohort`` or ``group`` field, in a ``groups`` list, or as a column's suffix (``n_PK``)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found |= {key} & codes
            found |= {c for c in codes if key.endswith(f"_{c}")}
            if key in ("cohort", "group") and value in codes:
                found.add(value)
            if key == "groups" and isinstance(value, list):
                found |= set(value) & codes
            found |= _groups_in(value, codes)
    elif isinstance(node, list):
        for value in node:
            found |= _groups_in(value, codes)
    return found


def _results_groups(results: dict[str, Any], codes: frozenset[str]) -> dict[str, set[str]]:
    """Per section of results.json (named as the report's), the groups it gives figures for."""
    comparisons = results["comparisons"]
    return {
        "who answered": _groups_in(results["sample"], codes),
        "reliability": _groups_in(results["reliability"], codes),
        "scale scores": _groups_in(results["descriptives"]["scales"], codes),
        "items": _groups_in(
            [results["descriptives"]["items"], results["descriptives"]["distribution"]], codes
        ),
        "agreement": _groups_in(results["agreement"], codes),
        "within cohorts": _groups_in(comparisons["within_cohort"], codes),
        "between cohorts": _groups_in(comparisons["between_cohorts"], codes),
        "allocations": _groups_in(comparisons["allocations"], codes),
        "rankings": _groups_in(comparisons["rankings"], codes),
        "single items": _groups_in(comparisons["single_items"], codes),
        "quantiles": _groups_in(comparisons["quantiles"], codes),
        "mixed anova": {"yes"} if comparisons["mixed_anova"]["table"] else set(),
    }


def _sizes(
    records: list[dict[str, Any]], by: tuple[str, ...], size: str = "n"
) -> dict[tuple[Any, ...], dict[str, int]]:
    blocks: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in records:
        blocks.setdefault(tuple(row[b] for b in by), {})[str(row["cohort"])] = int(row[size])
    return blocks


def assert_results_withhold_what_the_report_withholds(
    results: dict[str, Any], html: str, cohorts: dict[str, int], k: int
) -> None:
    """The adversary's reading of results.json beside the report (``cohorts``: each cohort's true size)."""
    import re

    codes = frozenset({*cohorts, "all"})
    hidden = {c for c in codes if c not in {r["cohort"] for r in results["sample"]}}
    assert {c for c, n in cohorts.items() if 0 < n < k} <= hidden, "a cohort below k is listed in the sample"
    assert results["k"] == k and set(results["suppressed_groups"]) == hidden

    # 1. Section by section, results.json shows figures for exactly the groups the report shows.
    report, published = _report_groups(html), _results_groups(results, codes)
    for section in ("allocations", "rankings"):  # the report's tables there have no "all" column
        published[section].discard("all")
    for section in published:
        assert published[section] == report[section], section

    # 2. No hidden cohort's figures anywhere in the file: not as a key, a row, a column, nor in the copy of the
    # export's manifest (whose counts per cohort and k-anonymity class sizes are the export's, not the report's).
    rest = {key: value for key, value in results.items() if key != "suppressed_groups"}
    rest["meta"] = {key: value for key, value in results["meta"].items() if key != "cohorts"}
    assert not _groups_in(rest, frozenset(hidden)), _groups_in(rest, frozenset(hidden))
    text = json.dumps(rest["meta"]["export"]["manifest"])
    for code in hidden:
        assert not re.search(rf'"{code}"\s*:', text), f"the manifest copy gives {code}'s counts"
    assert "class_sizes_below_k" not in text and "smallest_class" not in text
    # ... nor in a sentence ("Cohort PK has only 2 response(s)", "PK: agreement rests on 2 expert(s)").
    for sentence in [*results["warnings"], *results["meta"]["notes"]]:
        for code in hidden:
            if re.search(rf"\b{code}\b", sentence):
                assert not re.search(r"\d", sentence.replace(f"fewer than {k}", "")), sentence

    # 3. Subtract: wherever "all" is shown beside some cohorts, what is left over (D) must not pin a missing cohort
    # down, nor show it to be below k. A reader knows that a cohort missing from one table only is at least 1 there
    # (a zero would be shown), while a cohort hidden throughout may be 0; so each missing cohort could be as large
    # as D minus 1 for every other cohort missing from this table only, and that must reach k.
    tables = {
        "sample": _sizes(results["sample"], ()),
        "items": _sizes(results["descriptives"]["items"], ("variable",)),
        "scales": _sizes(results["descriptives"]["scales"], ("scale",)),
        "reliability": {
            (scale,): {g: entry["n"] for g, entry in groups.items()}
            for scale, groups in results["reliability"].items()
        },
        "within": {(): {g: entry["n"] for g, entry in results["comparisons"]["within_cohort"].items()}},
    }
    for item, block in results["comparisons"]["quantiles"].items():
        tables[item] = _sizes(block["summary"], ("level",))
    for name, blocks in tables.items():
        for block, sizes in blocks.items():
            missing = [c for c in cohorts if c not in sizes]
            if "all" not in sizes or not missing:
                continue
            left = sizes["all"] - sum(n for c, n in sizes.items() if c != "all")
            at_least_one = [c for c in missing if c not in hidden]
            assert len(missing) >= 2, (name, block, sizes)
            for cohort in missing:
                assert left - len([c for c in at_least_one if c != cohort]) >= k, (name, block, sizes, cohort)

    # 4. No figure shown for a group of 1 to k-1: every n given for a cohort or "all" is 0 or at least k.
    def small_ns(node: Any) -> list[Any]:
        found = []
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("n", "n_raters_complete") and isinstance(value, int) and 0 < value < k:
                    found.append(node)
                if key == "n" and isinstance(value, dict):
                    found += [value for v in value.values() if isinstance(v, int) and 0 < v < k]
                found += small_ns(value)
        elif isinstance(node, list):
            for value in node:
                found += small_ns(value)
        return found

    sections = {
        key: results[key] for key in ("sample", "descriptives", "reliability", "agreement", "comparisons")
    }
    assert not small_ns(sections), small_ns(sections)[:3]


def test_results_json_does_not_give_a_small_cohort_back(app: Any, runner: Any, tmp_path: Path) -> None:
    """The report hides UK (6) and PK (2) under k = 5; results.json, beside it, listed both in every section."""
    from tests.exporting.helpers import run

    export = _export_uk_6_pk_2(app, runner, tmp_path / "export")
    html_path, json_path = tmp_path / "report.html", tmp_path / "results.json"
    code, _, err = run(runner, "analyze", str(export), "--out", str(html_path), "--json", str(json_path))
    assert code == 0, err
    results = json.loads(json_path.read_text(encoding="utf-8"))
    html = html_path.read_text(encoding="utf-8")
    assert_results_withhold_what_the_report_withholds(results, html, {"UK": 6, "PK": 2}, k=5)
    assert [row["cohort"] for row in results["sample"]] == ["all"]
    assert results["reliability"] and {g for groups in results["reliability"].values() for g in groups} == {
        "all"
    }


@pytest.mark.parametrize(
    ("sizes", "missing_rate"),
    [
        ({"UK": 8, "PK": 2, "IN": 7}, 0.03),  # PK hidden, and IN with it; UK and all shown
        ({"UK": 9, "PK": 6}, 0.25),  # every cohort shown, but some items and scales have fewer than k answers
    ],
    ids=["three-cohorts", "small-blocks"],
)
def test_results_json_withholds_per_table_what_the_report_withholds(
    tmp_path: Path, sizes: dict[str, int], missing_rate: float
) -> None:
    from elicit.analysis import run_analysis
    from tests.analysis.conftest import build_codebook, build_data, write_export

    codebook = build_codebook(tuple(sizes))
    codebook["study"] = {**codebook["study"], "k_threshold": 5}
    folder = write_export(tmp_path / "export", build_data(sizes, missing_rate=missing_rate), codebook)
    returned = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert returned == results
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert_results_withhold_what_the_report_withholds(results, html, sizes, k=5)
