"""Rooms that stand alone (issue 14): what each package loads, seen in a fresh interpreter's ``sys.modules``.

* ``elicit.analysis`` runs on an analyst's machine from an export folder: importing it loads no web framework,
  no ORM, and nothing of Elicit but itself and ``elicit.stats`` (the statistics it shares with the app).
* ``elicit.exporting`` writes the export, its Delphi tables included, without the analysis package or the
  studio's ``elicit.studies`` (SQLAlchemy it may use: it reads the database).
* The analysis modules import one another without a cycle, so any of them can be imported first.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "elicit"
WEB_AND_DATABASE = ("flask", "flask_babel", "flask_wtf", "werkzeug", "sqlalchemy")


def _modules_after(code: str, *args: str) -> list[str]:
    """The names in ``sys.modules`` after running ``code`` (with ``sys.argv[1:]`` = ``args``) in a new interpreter."""
    script = f"{textwrap.dedent(code)}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(  # noqa: S603  # this interpreter with a fixed script, no shell
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


def _under(modules: list[str], *packages: str) -> list[str]:
    """The modules that are one of ``packages`` or inside one."""
    return [m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages)]


def test_importing_the_analysis_package_loads_no_web_framework_nor_database() -> None:
    modules = _modules_after("import elicit.analysis")
    assert "elicit.analysis.pipeline" in modules  # the import did happen
    loaded = _under(modules, *WEB_AND_DATABASE)
    assert not loaded, (
        f"import elicit.analysis loads {sorted({m.split('.')[0] for m in loaded})}: {loaded[:8]}"
    )
    app = (
        set(_under(modules, "elicit")) - {"elicit"} - set(_under(modules, "elicit.analysis", "elicit.stats"))
    )
    assert not app, f"import elicit.analysis loads modules of the app: {sorted(app)}"


# What `elicit export` does for consensus.csv, without the app: the study's rule read from the database, then
# the Delphi tables of an export folder, computed by the one consensus computation the studio uses too.
DELPHI_TABLES = """
    import sys
    from pathlib import Path

    from sqlalchemy import create_engine, insert

    import elicit.exporting
    from elicit.exporting.builder import study_consensus_rule, write_delphi_tables
    from elicit.models import Study

    engine = create_engine("sqlite://")
    Study.__table__.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(Study).values(id=1, slug="s", title="S", anonymity="anonymous", pseudonym_key="x"))
        rule = study_consensus_rule(conn, 1)
    folder = Path(sys.argv[1])
    answers = "".join(f"r{i},{n},UK,{1 + (i + n) % 5}\\n" for n in (1, 2) for i in range(6))
    (folder / "data.csv").write_text("respondent,round,cohort,q1\\n" + answers)
    choices = [{"code": code} for code in range(1, 6)]
    codebook = {
        "items": [{"id": "q1", "type": "likert", "analysis": "ordinal", "columns": ["q1"], "choices": choices}]
    }
    assert write_delphi_tables(folder, codebook, 5, rule) == ["consensus.csv", "stability.csv"]
    assert len((folder / "consensus.csv").read_text().splitlines()) == 1 + 2 * 2  # 2 rounds x UK and all
"""
NOT_FOR_THE_EXPORT = ("elicit.analysis", "elicit.studies")


def test_the_export_and_its_delphi_tables_load_neither_the_analysis_package_nor_the_studies(
    tmp_path: Path,
) -> None:
    modules = _modules_after("import elicit.exporting")
    assert "elicit.exporting.builder" in modules
    loaded = _under(modules, *NOT_FOR_THE_EXPORT)
    assert not loaded, f"import elicit.exporting loads {loaded}"
    modules = _modules_after(DELPHI_TABLES, str(tmp_path))
    loaded = _under(modules, *NOT_FOR_THE_EXPORT)
    assert not loaded, f"writing consensus.csv loads {loaded}"


def _run_on_import(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` that run when the module is imported: not those inside a function or class,
    nor those under ``if TYPE_CHECKING:`` (they never run, so they cannot close a cycle)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _run_on_import(node.orelse)
            continue
        yield node
        for block in ("body", "orelse", "finalbody"):
            yield from _run_on_import(getattr(node, block, []))
        for handler in getattr(node, "handlers", []):
            yield from _run_on_import(handler.body)


def _module_level_imports(path: Path, package: str, modules: set[str]) -> set[str]:
    """The modules of ``package`` that the module at ``path`` imports at module level."""
    found: set[str] = set()
    for node in _run_on_import(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = (f"{package}.{node.module}" if node.module else package) if node.level else node.module
            if base == package:  # `from . import figures`: the submodules it names, else the package itself
                found.update({f"{package}.{a.name}" for a in node.names} & modules or {package})
            elif base in modules:
                found.add(base)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := walk(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := walk(start)):
            return found
    return None


def test_the_analysis_modules_import_one_another_without_a_cycle() -> None:
    package = "elicit.analysis"
    files = {
        (package if p.name == "__init__.py" else f"{package}.{p.stem}"): p
        for p in sorted((SOURCE / "analysis").glob("*.py"))
    }
    graph = {name: _module_level_imports(path, package, set(files)) - {name} for name, path in files.items()}
    assert graph["elicit.analysis.pipeline"]  # the graph has edges: the parsing works
    cycle = _cycle(graph)
    assert cycle is None, "import cycle among the analysis modules: " + " → ".join(
        name.removeprefix(f"{package}.") for name in cycle or []
    )
