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
    from nbtrack._run import STATUSES

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


def contract_only(inner: Store) -> StoreBase:
    """A store that offers the storage contract and nothing else (no folder, no file, no
    connection): what a second engine offers. Every call goes to ``inner``."""
    import inspect

    def forward(name):
        if isinstance(inspect.getattr_static(StoreBase, name), property):
            return property(lambda self: getattr(self._inner, name))
        return lambda self, *args, **kwargs: getattr(self._inner, name)(*args, **kwargs)

    namespace = {name: forward(name) for name in StoreBase.__abstractmethods__}
    namespace["__init__"] = lambda self, store: object.__setattr__(self, "_inner", store)
    namespace["__repr__"] = lambda self: f"ContractOnly({self._inner.location!r})"
    return type("ContractOnly", (StoreBase,), namespace)(inner)


def test_every_feature_works_through_the_contract_alone(store_dir, tmp_path, monkeypatch):
    """What a user does (log scalars, media and artifacts; read runs, history and media back;
    the sidebar's media API; a report; a sweep with pruning signals) works against a store
    that is only the contract: nothing above it reaches for a folder or a file of its own."""
    from nbtrack import _settings
    from nbtrack import store as store_module

    real = Store(_settings.store_dir())
    proxy = contract_only(real)
    monkeypatch.setitem(store_module._stores, _settings.store_dir(), proxy)
    assert store_module.get_store() is proxy
    assert not hasattr(proxy, "dir") and not hasattr(proxy, "db_path")
    exercise_every_feature(proxy, store_dir, tmp_path)


def exercise_every_feature(store: StoreBase, location, tmp_path: Path) -> None:
    """Log scalars, media and artifacts; read them back through every view; a report and a
    sweep with pruning: against ``store``, the store in force at ``location``."""
    import numpy as np

    from nbtrack import store as store_module
    from nbtrack.server import media as server_media
    from nbtrack.server.paths import Root

    assert store_module.get_store() is store
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights" * 100)
    with nbtrack.init(name="through-the-contract", config={"lr": 0.1}) as run:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1),
                     "sample": nbtrack.Image(np.full((4, 6, 3), 40 * step, dtype=np.uint8)),
                     "preds": nbtrack.Table(columns=["y", "p"], data=[[1, 0.5 + step]]),
                     "essay": nbtrack.Text("word " * 5000)})
        art = run.log_artifact(weights, type="model")
    assert art is not None and art.file().read_bytes() == weights.read_bytes()
    restored = art.download(tmp_path / "restored")
    assert (restored / "model.pt").read_bytes() == weights.read_bytes()
    assert nbtrack.use_artifact("model.pt:latest").ref == "model.pt:v0"

    runs = nbtrack.runs()
    assert list(runs["name"]) == ["through-the-contract"] and runs["summary.loss"].iloc[0] == 1 / 3
    assert list(nbtrack.history(run.id, keys=["loss"])["value"]) == [1.0, 0.5, 1 / 3]
    media = nbtrack.media(run.id)
    assert sorted(set(media["kind"])) == ["image", "table", "text"] and len(media) == 9
    images = media[media["kind"] == "image"]
    assert [nbtrack.load_media(row).size for _, row in images.iterrows()] == [(6, 4)] * 3
    table = nbtrack.load_media(media[media["kind"] == "table"].iloc[-1])
    assert table.to_dict("records") == [{"y": 1, "p": 2.5}]
    assert nbtrack.load_media(media[media["kind"] == "text"].iloc[0]) == "word " * 5000

    shown = server_media.run_media(location, run.id)
    assert [(k["key"], k["kind"]) for k in shown["keys"]] == [("sample", "image"), ("preds", "table"),
                                                              ("essay", "text")]
    path, mime = server_media.media_file(location, Root(tmp_path), run.id, "sample", 2, 0)
    assert mime == "image/png" and path == Path(images["path"].iloc[-1])
    assert [a["ref"] for a in server_media.artifacts(location, run.id)["artifacts"]] == ["model.pt:v0"]

    report = nbtrack.export_report(tmp_path / "report.html", progress=False)
    assert "through-the-contract" in report.read_text(encoding="utf-8")

    def pruned_after_two(config):
        for step in range(50):
            nbtrack.log({"loss": config["x"] * 10 + 1.0 / (step + 1)})

    sweep = nbtrack.sweep({"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
                           "parameters": {"x": {"values": [0.0, 1.0, 2.0, 3.0]}},
                           "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2}},
                          pruned_after_two)
    statuses = sweep.runs()["status"].tolist()
    assert len(statuses) == 4 and "finished" in statuses
