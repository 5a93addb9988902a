"""The analysis report and the codebook pass axe-core with no violations and fit a phone (issue 17).

Three pages, opened as files the way a researcher opens them: the report and the codebook of a real export of the
bilingual flagship 1.1.0 (``elicit demo``, ``elicit export``, ``elicit analyze``), and the synthetic report that
turns every optional section on (Delphi rounds, Cooke, pools, confidence). Each is checked at 360 and 1280 px:
every axe-core rule, of every impact, passes; no element reaches beyond the viewport except inside a container
that scrolls sideways; screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.test_report import report  # noqa: F401  # the synthetic report with every section
from tests.conftest import ARTIFACTS, make_test_app
from tests.exporting.helpers import SLUG, run
from tests.studio.test_small_screens import OVERFLOW_JS

pytestmark = [pytest.mark.browser, pytest.mark.rendering]

LATEST = Path(__file__).resolve().parents[2] / "instruments" / "defence-diplomacy" / "1.1.0.yaml"
WIDTHS = (360, 1280)
PAGES = ("flagship-report", "flagship-codebook", "full-report")
# What each page is scrolled to for its second screenshot: a wide table, and the codebook's Urdu wording.
DETAIL = {"flagship-report": "#between", "flagship-codebook": "#items", "full-report": "#cooke"}


@pytest.fixture(scope="module")
def pages(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    report: str,  # noqa: F811  # the fixture imported above
) -> dict[str, Path]:
    """The three pages as files: a demo study on the flagship 1.1.0, exported and analysed, and the full report."""
    folder = tmp_path_factory.mktemp("axe")
    database = folder / "elicit.db"
    shutil.copyfile(sqlite_template, database)
    app = make_test_app(f"sqlite:///{database}", folder)
    runner = app.test_cli_runner()
    code, _, err = run(runner, "demo", "--responses", "8", "--links", "0", "--instrument", str(LATEST))
    assert code == 0, err
    code, _, err = run(runner, "export", SLUG, "--out", str(folder / "export"))
    assert code == 0, err
    code, _, err = run(runner, "analyze", str(folder / "export"), "--out", str(folder / "report.html"))
    assert code == 0, err
    app.extensions["elicit.db"][0].dispose()
    full = folder / "full-report.html"
    full.write_text(report, encoding="utf-8")
    return {
        "flagship-report": folder / "report.html",
        "flagship-codebook": folder / "export" / "codebook.html",
        "full-report": full,
    }


@pytest.fixture(scope="module", params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def tab(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    """One page per width for the whole module (axe is injected, so the file's CSP-free page is fine as is)."""
    context = browser.new_context(viewport={"width": request.param, "height": 900})
    yield context.new_page()
    context.close()


def _violations(tab: Any, axe: str) -> list[str]:
    """Every axe-core violation on the page, of any impact, as 'rule (impact): targets'."""
    tab.add_script_tag(content=axe)
    result = tab.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes'][:5]]}"
        for v in result["violations"]
    ]


@pytest.mark.parametrize("name", PAGES)
def test_the_report_and_codebook_pass_axe_and_fit_the_screen(
    tab: Any, pages: dict[str, Path], axe_source: str, name: str
) -> None:
    width = tab.viewport_size["width"]
    tab.goto(pages[name].as_uri())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"))
    tab.locator(DETAIL[name]).scroll_into_view_if_needed()
    tab.evaluate("(selector) => document.querySelector(selector).scrollIntoView()", DETAIL[name])
    tab.screenshot(path=str(ARTIFACTS / f"{name}-{width}-{DETAIL[name][1:]}.png"))
    fit = tab.evaluate(OVERFLOW_JS)
    assert fit["scrollWidth"] <= fit["clientWidth"] and fit["bad"] == [], fit
    assert _violations(tab, axe_source) == []
