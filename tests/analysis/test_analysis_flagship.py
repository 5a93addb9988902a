"""The flagship pipeline in the top-level analysis/ folder: one command from an export folder to the report."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

RUN = Path(__file__).resolve().parents[2] / "analysis" / "run.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flagship_run", RUN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flagship_run_writes_report_results_and_summary(
    make_export: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _load()
    folder = make_export({"UK": 12, "PK": 12})
    out = tmp_path / "out"
    assert run.main([str(folder), "--out", str(out), "--strict"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Perceived leverages of defence diplomacy" in html
    summary = (out / "leverage_summary.csv").read_text(encoding="utf-8").splitlines()
    assert summary[0].startswith("comparison,what,test")
    assert sum(line.startswith("between states") for line in summary) == 3
    assert (out / "results.json").is_file()


def test_flagship_run_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _load()
    assert run.main([str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 1
    assert "analysis: error:" in capsys.readouterr().err
