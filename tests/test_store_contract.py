"""One home each: SQL in nbtrack/store/ only, the store implements the whole contract, one status list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbtrack
from nbtrack.store import Store, StoreBase

PACKAGE = Path(nbtrack.__file__).parent
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+(OR\s+REPLACE\s+)?(TEMP\s+)?(TABLE|VIEW)|ALTER\s+TABLE|DROP\s+TABLE)\b",
                 re.IGNORECASE | re.DOTALL)


#: Strings that show SQL to a person, not run it: (file, how the string starts).
ALLOWED = {("cli.py", "DuckDB SQL over the views")}  # `nbtrack sql --help`: the escape hatch


def _skipped(tree: ast.AST) -> set[int]:
    """Docstrings, and the pieces of f-strings (checked whole)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            ids.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def sql_outside_the_store() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "store":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _skipped(tree)
        for node in ast.walk(tree):
            texts = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
                texts = [node.value]
            elif isinstance(node, ast.JoinedStr):
                texts = ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
            for text in texts:
                if SQL.search(text) and not any(relative.as_posix() == f and text.startswith(start)
                                                for f, start in ALLOWED):
                    found.append(f"nbtrack/{relative}:{node.lineno}: {text[:60]!r}")
    return found


def test_no_sql_outside_the_store():
    assert sql_outside_the_store() == []


def test_the_check_finds_sql_where_it_hides(tmp_path, monkeypatch):
    # The scan itself must see SQL in plain strings and f-strings, and skip docstrings.
    fake = tmp_path / "nbtrack"
    (fake / "store").mkdir(parents=True)
    (fake / "store" / "ok.py").write_text('Q = "SELECT id FROM runs"\n')
    (fake / "bad.py").write_text('"""SELECT id FROM runs in a docstring is fine."""\n'
                                 'A = "select name from runs where x"\n'
                                 'B = f"UPDATE run_records SET {field} = ?"\n')
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    assert [line.split(":")[0:2] for line in sql_outside_the_store()] == [
        ["nbtrack/bad.py", "2"], ["nbtrack/bad.py", "3"]]


def test_the_duckdb_store_implements_the_whole_contract():
    assert issubclass(Store, StoreBase)
    assert not Store.__abstractmethods__
    contract = {n for n in StoreBase.__abstractmethods__}
    assert {"save", "fold", "select_runs", "history", "query", "trash_runs",
            "register_artifact_version", "create_sweep"} <= contract


def test_the_sidebar_knows_every_run_status():
    from nbtrack.run import STATUSES

    source = (PACKAGE.parent / "labextension" / "src" / "format.ts").read_text()
    listed = re.search(r"export const STATUSES = \[(.*?)\] as const", source).group(1)
    assert [s.strip(" '") for s in listed.split(",")] == list(STATUSES)


def test_one_sidebar_chart_request_opens_the_store_once(store_dir, monkeypatch):
    from nbtrack.server.reads import charts
    from nbtrack.store import get_store

    with nbtrack.init(name="a") as run:
        for step in range(10):
            run.log({"loss": float(step)})
    nbtrack.runs()  # folded: what follows only reads
    opens = []
    connect = Store._connect

    def counting(self, read_only):
        opens.append(read_only)
        return connect(self, read_only)

    monkeypatch.setattr(Store, "_connect", counting)
    answer = charts(get_store().dir, [run.id], None, max_points=100, width=300, height=200)
    assert answer["shown"] == ["loss"] and answer["points"] == 10
    assert opens == [True]
