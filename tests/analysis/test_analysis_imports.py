"""The analysis package stands alone: no Flask, no SQLAlchemy, nothing else of Elicit (DESIGN.md, STYLE.md).

The one exception is ``elicit.stats``, the statistics it shares with the studio and the export, which stands
alone in the same way (tests/test_layering.py checks what the import loads).
"""

from __future__ import annotations

import ast
from pathlib import Path

import elicit.analysis

PACKAGE = Path(elicit.analysis.__file__).parent
FORBIDDEN = ("flask", "sqlalchemy", "alembic", "werkzeug", "wtforms", "flask_wtf", "flask_babel")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: must stay inside elicit.analysis
                depth = len(path.relative_to(PACKAGE).parts) - 1
                assert node.level <= depth + 1, f"{path.name}: relative import leaves elicit.analysis"
                continue
            names.append(node.module or "")
    return names


def test_analysis_imports_nothing_from_the_app() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        for name in _imports(path):
            root = name.split(".")[0]
            assert root not in FORBIDDEN, f"{path.name} imports {name}"
            if root == "elicit":
                package = ".".join(name.split(".")[:2])
                assert package in ("elicit.analysis", "elicit.stats"), f"{path.name} imports {name}"
