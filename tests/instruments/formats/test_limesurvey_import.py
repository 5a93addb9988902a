"""Importing LimeSurvey ``.lss`` files end to end: ``import_file`` and ``elicit instrument import``.

The import writes the instrument YAML only after the normal instrument check passed on it; a file that cannot be
converted prints every ``file:line: message`` on stderr, exits 1 and writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from elicit.cli import main
from elicit.instruments.formats import ImportFailed, import_file
from elicit.instruments.loading import load_file

FIXTURES = Path(__file__).parent / "fixtures" / "limesurvey"


def test_import_file_writes_an_instrument_that_passes_the_check(tmp_path: Path) -> None:
    out = tmp_path / "instruments" / "views" / "1.0.0.yaml"
    kind, imported, definition = import_file(FIXTURES / "defence_views_ls6.lss", out)
    assert kind == "LimeSurvey"
    assert out.read_text(encoding="utf-8").startswith(
        "# Imported by `elicit instrument import` from defence_views_ls6.lss.\n"
    )
    loaded = load_file(out)
    assert loaded.ref == definition.ref == "views@1.0.0"
    assert loaded.languages == ("en", "ur")
    assert [page.id for page in loaded.pages] == ["about_you", "your_views"]
    by_id = {item.id: item for item in loaded.items()}
    assert by_id["agree_sq001"].matrix == "agree"
    assert by_id["budget"].type == "constant_sum"
    assert by_id["aims"].type == "ranking"


def test_the_translated_conditions_behave_as_in_limesurvey(tmp_path: Path) -> None:
    out = tmp_path / "instruments" / "views" / "1.0.0.yaml"
    _, _, definition = import_file(FIXTURES / "defence_views_ls6.lss", out)
    by_id = {item.id: item for item in definition.items()}
    exercise = by_id["exercise"].relevant  # topics_SQ001 == "Y" or years > 10
    assert exercise is not None
    assert exercise.truthy({"topics": ["SQ001"]})
    assert exercise.truthy({"topics": ["SQ002"], "years": 11})
    assert not exercise.truthy({"topics": ["SQ002"], "years": 10})
    assert not exercise.truthy({})
    comment = by_id["comment"].relevant  # role.NAOK != "A3" && !is_empty(role)
    assert comment is not None
    assert comment.truthy({"role": "A1"}) and not comment.truthy({"role": "A3"}) and not comment.truthy({})
    aims = by_id["aims"].relevant  # role == "A1" or role == "-oth-"
    assert aims is not None and aims.truthy({"role": "other"}) and not aims.truthy({"role": "A2"})


def test_import_file_reads_a_limesurvey_3_file(tmp_path: Path) -> None:
    out = tmp_path / "instruments" / "travel" / "2.0.0.yaml"
    _, _, definition = import_file(FIXTURES / "travel_ls3.lss", out)
    assert definition.languages == ("en", "de")
    assert [item.id for item in definition.items()] == [
        "mode",
        "distance",
        "often_sq001",
        "often_sq002",
        "extras",
        "extras_other",
        "stops_first",
        "stops_last",
    ]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_import_prints_what_it_mapped_and_lost(tmp_path: Path) -> None:
    out = tmp_path / "instruments" / "views" / "1.0.0.yaml"
    source = FIXTURES / "defence_views_ls6.lss"
    code, stdout, stderr = run("instrument", "import", str(source), "--out", str(out))
    assert code == 0, stderr
    assert f"{source}: read as LimeSurvey" in stdout
    assert "  mapped: 13 questions as 15 items to answer on 2 pages, languages en, ur" in stdout
    assert '  mapped: relevance of question aims translated: role == "A1" or role == "-oth-" -> ' in stdout
    assert "  not carried over: " in stdout and "random_order = 1" in stdout
    assert f"{out}: wrote views@1.0.0 (2 pages, 15 items, languages en, ur)" in stdout
    code, _, _ = run("instrument", "check", str(out))
    assert code == 0


@pytest.mark.parametrize(
    ("fixture", "line", "message"),
    [
        ("bad_not_xml.lss", 1, "the file is not XML"),
        ("bad_bomb.lss", 3, "the file declares XML entities, which are refused"),
        ("bad_not_survey.lss", 2, "this is a LimeSurvey .lsg (a question group) export, not a survey"),
        ("bad_unknown_type.lss", 33, "question mystery has the unknown question type 'Z'"),
        ("bad_relevance.lss", 37, "the relevance of question more cannot be translated"),
    ],
)
def test_cli_import_of_a_bad_file_exits_1_and_writes_nothing(
    tmp_path: Path, fixture: str, line: int, message: str
) -> None:
    out = tmp_path / "instruments" / "bad" / "1.0.0.yaml"
    source = FIXTURES / fixture
    code, stdout, stderr = run("instrument", "import", str(source), "--out", str(out))
    assert code == 1
    lines = stderr.splitlines()
    assert lines[0].startswith(f"{source}:{line}: {message}")
    assert lines[-1] == "1 problem(s); nothing was written"
    assert "Traceback" not in stderr + stdout
    assert not out.exists() and not out.parent.exists()


def test_import_file_refuses_a_bad_file_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "instruments" / "bad" / "1.0.0.yaml"
    with pytest.raises(ImportFailed) as failed:
        import_file(FIXTURES / "bad_relevance.lss", out)
    assert [p.row for p in failed.value.problems] == [37]
    assert not out.exists()
