"""What a tracked cell's Python code binds, reads and counts as config: pure functions.

Everything here works on *Python* text: the ``%%track`` front-end first turns the cell into
Python once, with IPython's own transformer, and hands the result to these functions, so
``%time``, ``!cmd``, ``obj?`` and top-level ``await`` never reach a hand-written parser.
Nothing here imports IPython.

The config policy (also in the README): a name is config when a person would have put it in a
config dict, that is when its value is written as a literal, or as simple arithmetic of literals
and other config names (``batch = base * 2``, ``name = f"resnet{depth}"``), or read from an
earlier cell where it was defined that way, or given with ``--config``. A value that comes from a
call, data or the clock (``t0 = time.time()``, ``n = len(data)``, ``steps = n // batch``) is
*derived*: recorded apart, never mixed into the config. Structured configs read from earlier cells
(a dataclass instance, an ``argparse.Namespace``, a dict) are config whatever built them.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import symtable
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OverrideError", "ParsedCell", "apply_overrides", "is_config_expr", "parse_cell",
           "History"]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_NAMED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs,
          ast.MatchStar)
#: Line magics whose argument is Python run in the user's namespace (``%time x = f()``).
CODE_MAGICS = frozenset({"time"})
#: Calls that only build a container or a path from their arguments: ``dict(lr=0.1)``.
_BUILDERS = frozenset({"dict", "list", "tuple", "Path", "PurePath", "PosixPath"})
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


class OverrideError(ValueError):
    """A ``--config`` key the cell binds where an override cannot reach (loop, magic, import)."""


@dataclass
class ParsedCell:
    """One cell's Python, parsed once: its tree, its module-level bindings and reads.

    ``magic_code`` holds the code of ``%time`` lines, parsed, by their call node: it runs in the
    user's namespace, so what it binds and reads counts like the cell's own lines.
    """

    text: str
    tree: ast.Module | None
    binds: Counter[str] = field(default_factory=Counter)
    reads: set[str] = field(default_factory=set)
    magic_code: dict[int, tuple[ast.Call, str, ast.Module]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.tree is not None


def _light_parse(text: str) -> ParsedCell:
    """The tree and ``%time`` code only (no binding counts, no reads): what History needs."""
    try:
        tree = ast.parse(text)
    except _PARSE_ERRORS:
        return ParsedCell(text, None)
    cell = ParsedCell(text, tree)
    for stmt in tree.body:
        found = _magic_code(stmt)
        if found is not None:
            with contextlib.suppress(*_PARSE_ERRORS):
                cell.magic_code[id(stmt)] = (found[0], found[1], ast.parse(found[1]))
    return cell


def parse_cell(text: str) -> ParsedCell:
    """Parse a cell's Python once; an unparsable cell gives ``ok == False``, never an error.

    Example
    -------
    >>> cell = parse_cell("lr = 0.1\\nfit(lr, epochs)\\n")
    >>> sorted(cell.binds), sorted(cell.reads)
    (['lr'], ['epochs', 'fit'])
    """
    try:
        tree = ast.parse(text)
        table = symtable.symtable(text, "<cell>", "exec")
    except _PARSE_ERRORS:
        return ParsedCell(text, None)
    cell = ParsedCell(text, tree)
    trees = [(tree, table)]
    for stmt in tree.body:
        found = _magic_code(stmt)
        if found is not None:
            call, code = found
            try:
                inner = ast.parse(code)
                trees.append((inner, symtable.symtable(code, "<magic>", "exec")))
            except _PARSE_ERRORS:
                continue
            cell.magic_code[id(stmt)] = (call, code, inner)
    reads: set[str] = set()
    for module, top in trees:
        binds, module_reads = _scan(module, top)
        cell.binds.update(binds)
        reads |= module_reads
    cell.reads = reads - set(cell.binds)
    return cell


def _magic_code(stmt: ast.stmt) -> tuple[ast.Call, str] | None:
    """``get_ipython().run_line_magic('time', CODE)`` as IPython writes ``%time CODE``."""
    value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and value.func.attr == "run_line_magic" and len(value.args) == 2
            and isinstance(value.func.value, ast.Call)
            and isinstance(value.func.value.func, ast.Name)
            and value.func.value.func.id == "get_ipython"):
        return None
    name, code = value.args
    if (isinstance(name, ast.Constant) and name.value in CODE_MAGICS
            and isinstance(code, ast.Constant) and isinstance(code.value, str)):
        return value, code.value
    return None


def scope_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Yield the nodes evaluated in the current scope, without entering nested scopes."""
    stack = list(nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue  # its name binds here; its body is another scope
        if isinstance(node, ast.comprehension):
            children: list[ast.AST] = [node.iter, *node.ifs]  # the target is comprehension-local
        elif isinstance(node, ast.AnnAssign) and node.value is None:
            children = [node.annotation]  # a bare `x: int` binds nothing
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))


def bound_names(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        yield node.id  # assignments, augmented assignments, for/with targets, walrus, del
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name != "*":
                yield alias.asname or alias.name.partition(".")[0]
    elif isinstance(node, _NAMED) and node.name:
        yield node.name
    elif isinstance(node, ast.MatchMapping) and node.rest:
        yield node.rest


def _tables(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    yield table
    for child in table.get_children():
        yield from _tables(child)


def _scan(tree: ast.Module, top: symtable.SymbolTable) -> tuple[Counter[str], set[str]]:
    """Count module-scope bindings per name, and find the module-level names read anywhere."""
    binds = Counter(name for node in scope_nodes(tree.body) for name in bound_names(node))
    reads: set[str] = set()
    for table in _tables(top):  # symtable resolves scopes: function locals are not reads
        for sym in table.get_symbols():
            if sym.is_referenced() and sym.is_global():
                reads.add(sym.get_name())
            if table is not top and sym.is_declared_global() and sym.is_assigned():
                binds[sym.get_name()] += 1  # `global x; x = ...` in a function rebinds x
    for comp in ast.walk(tree):  # belt and braces: comprehension variables are never config
        if isinstance(comp, ast.comprehension):
            reads -= {n.id for n in ast.walk(comp.target) if isinstance(n, ast.Name)}
    return binds, reads - set(binds)


Pair = tuple[ast.Name, "ast.expr | None"]


def assignment_pairs(stmt: ast.stmt) -> list[Pair]:
    """``(name node, value node)`` of a simple statement ``a = ...``, ``a, b = 1, 2``, ``a: T = v``.

    The value is None where it is only known at run time (``a, b = f()``, ``*rest``).
    """
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        return list(_targets(stmt.targets[0], stmt.value))
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return list(_targets(stmt.target, stmt.value))
    return []


def _targets(target: ast.expr, value: ast.expr | None) -> Iterator[Pair]:
    if isinstance(target, ast.Name):
        yield target, value
    elif isinstance(target, ast.Starred):
        yield from _targets(target.value, None)
    elif isinstance(target, (ast.Tuple, ast.List)):
        rhs: list[ast.expr | None] = [None] * len(target.elts)
        elts = value.elts if isinstance(value, (ast.Tuple, ast.List)) else []
        if len(elts) == len(rhs) and not any(isinstance(v, ast.Starred) for v in elts):
            rhs = list(elts)  # `a, b = 1, 2`: each name gets its own element
        for elt, elt_value in zip(target.elts, rhs):
            yield from _targets(elt, elt_value)


def is_config_expr(node: ast.AST | None, is_config: Callable[[str], bool]) -> bool:
    """Whether ``node`` is a literal or simple arithmetic of literals and config names.

    ``is_config(name)`` tells whether a name used in it is config. Calls are not, except the
    builders ``dict``, ``list``, ``tuple`` and ``Path`` of config arguments.

    Example
    -------
    >>> is_config_expr(ast.parse("base * 2", mode="eval").body, {"base"}.__contains__)
    True
    >>> is_config_expr(ast.parse("len(data) // 2", mode="eval").body, {"data"}.__contains__)
    False
    """
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return is_config(node.id)
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(
            func, ast.Attribute) else None
        return name in _BUILDERS and all(
            is_config_expr(a.value if isinstance(a, ast.Starred) else a, is_config)
            for a in node.args) and all(is_config_expr(k.value, is_config) for k in node.keywords)
    if isinstance(node, ast.Attribute):
        return is_config_expr(node.value, is_config)
    if isinstance(node, ast.Dict):
        return all(is_config_expr(k, is_config) for k in node.keys if k is not None) and all(
            is_config_expr(v, is_config) for v in node.values)
    if isinstance(node, (ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.List,
                         ast.Tuple, ast.Set, ast.JoinedStr, ast.FormattedValue, ast.Subscript,
                         ast.Slice, ast.Starred)):
        return all(is_config_expr(child, is_config) for child in ast.iter_child_nodes(node)
                   if not isinstance(child, (ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
                                             ast.expr_context)))
    return False


# -- overrides -------------------------------------------------------------------------
def apply_overrides(cell: ParsedCell, overrides: dict[str, Any]) -> str:
    """The cell's Python with the value of each top-level ``KEY = ...`` replaced by ``--config``.

    Line numbers are kept: a multi-line value becomes one line plus blank lines. An assignment
    inside ``%time`` is rewritten in the magic's code. A key the cell binds in a way an override
    cannot reach (a loop target, an import, tuple unpacking of a call, a magic other than
    ``%time``) raises :class:`OverrideError`, naming the line: the cell would not run with it.

    Example
    -------
    >>> apply_overrides(parse_cell("lr = 0.1\\nfit(lr)\\n"), {"lr": 0.5})
    'lr = 0.5\\nfit(lr)\\n'
    """
    if not overrides or cell.tree is None:
        return cell.text
    _check_reachable(cell, overrides)
    edits: list[tuple[ast.AST, str]] = []
    for stmt in cell.tree.body:
        for target, value in assignment_pairs(stmt):
            if target.id in overrides and value is not None:
                edits.append((value, repr(overrides[target.id])))
        magic = cell.magic_code.get(id(stmt))
        if magic is not None:
            call, code, inner = magic
            new_code = apply_overrides(ParsedCell(code, inner, cell.binds), overrides)
            if new_code != code:
                edits.append((call.args[1], repr(new_code)))
    return _edit(cell.text, edits)


def _check_reachable(cell: ParsedCell, overrides: dict[str, Any]) -> None:
    assert cell.tree is not None
    modules = [(cell.tree, "")] + [(inner, " (inside %time)") for _, _, inner in
                                   cell.magic_code.values()]
    for module, where in modules:
        reachable = {id(target) for stmt in module.body for target, value in
                     assignment_pairs(stmt) if value is not None}
        # `lr *= 0.9` starts from the override: the cell used it.
        reachable |= {id(node.target) for node in scope_nodes(module.body)
                      if isinstance(node, ast.AugAssign)}
        for node in scope_nodes(module.body):
            for name in bound_names(node):
                if name in overrides and id(node) not in reachable:
                    line = getattr(node, "lineno", "?")
                    raise OverrideError(
                        f"--config {name}: the cell binds {name!r} on line {line}{where} in a way an "
                        f"override cannot replace (only a plain top-level `{name} = ...` can be); "
                        f"drop --config {name} or write that line as `{name} = <value>`")
    for stmt in cell.tree.body:
        text = _line_magic_text(stmt)
        if text is not None and id(stmt) not in cell.magic_code:
            for name in overrides:
                if _mentions_assignment(text, name):
                    raise OverrideError(
                        f"--config {name}: line {stmt.lineno} assigns {name!r} inside a magic "
                        f"({text!r}) that an override cannot reach; move the assignment to its own "
                        f"line or drop --config {name}")


def _line_magic_text(stmt: ast.stmt) -> str | None:
    value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and value.func.attr in ("run_line_magic", "run_cell_magic")):
        texts = [a.value for a in value.args[1:] if isinstance(a, ast.Constant)
                 and isinstance(a.value, str)]
        return " ".join(texts)
    return None


def _mentions_assignment(text: str, name: str) -> bool:
    try:
        tree = ast.parse(text)
    except _PARSE_ERRORS:
        return False
    return any(name in bound_names(node) for node in scope_nodes(tree.body))


def _edit(text: str, edits: Sequence[tuple[ast.AST, str]]) -> str:
    lines = text.splitlines(keepends=True)
    ordered = sorted(edits, key=lambda e: (e[0].lineno, e[0].col_offset))  # type: ignore[attr-defined]
    for node, new in reversed(ordered):
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1  # type: ignore[attr-defined]
        start, end = node.col_offset, node.end_col_offset or 0  # type: ignore[attr-defined]
        head = _utf8_slice(lines[first], 0, start)
        tail = _utf8_slice(lines[last], end, None)
        lines[first:last + 1] = [head + new + tail] + ["\n"] * (last - first)
    return "".join(lines)


def _utf8_slice(line: str, start: int, end: int | None) -> str:
    # ast column offsets count UTF-8 bytes.
    return line.encode("utf-8")[start:end].decode("utf-8")


# -- earlier cells ----------------------------------------------------------------------
@dataclass
class _Binding:
    cell: int  # index into History.cells
    stmt: int  # top-level statement index in that cell
    value: ast.expr | None  # the value of a simple assignment; None for any other binding
    simple: bool


class History:
    """The kernel's earlier cells (their Python), for where a name was last defined.

    ``cells`` are ``(execution count, python text)`` in execution order. Used to tell whether a
    value read from an earlier cell is config (its definition was) and which cells a run depended on.

    Example
    -------
    >>> h = History([(1, "import time\\nseed = 7\\nt0 = time.time()\\n")])
    >>> h.config_state("seed"), h.config_state("t0"), h.config_state("nope")
    (True, False, None)
    """

    def __init__(self, cells: Sequence[tuple[int, str]]) -> None:
        self.cells = list(cells)
        self._parsed: dict[int, tuple[ParsedCell, dict[str, list[_Binding]]]] = {}

    def _cell(self, index: int) -> tuple[ParsedCell, dict[str, list[_Binding]]]:
        if index not in self._parsed:
            parsed, found = _cell_bindings(self.cells[index][1])
            bindings = {name: [_Binding(index, *b) for b in items] for name, items in found.items()}
            self._parsed[index] = (parsed, bindings)
        return self._parsed[index]

    def lookup(self, name: str, before: tuple[int, int] | None = None) -> _Binding | None:
        """The last binding of ``name`` before ``(cell index, statement)`` (default: the end)."""
        cell, stmt = before if before is not None else (len(self.cells), 0)
        for index in range(min(cell, len(self.cells) - 1), -1, -1):
            if name not in self.cells[index][1]:
                continue  # cannot bind it: no need to parse
            found = [b for b in self._cell(index)[1].get(name, ()) if index < cell or b.stmt < stmt]
            if found:
                return found[-1]
        return None

    def config_state(self, name: str, before: tuple[int, int] | None = None,
                     _depth: int = 0) -> bool | None:
        """True: defined as config; False: derived (a call, data, a loop); None: unknown."""
        binding = self.lookup(name, before)
        if binding is None:
            return None
        if not binding.simple or _depth > 32:
            return False
        where = (binding.cell, binding.stmt)
        return is_config_expr(
            binding.value, lambda n: self.config_state(n, where, _depth + 1) is not False)

    def dependencies(self, names: Iterable[str], limit: int = 64) -> tuple[list[int], list[str]]:
        """Indexes of the cells that defined ``names`` and, in turn, what those cells read.

        Returns (cell indexes in execution order, names no earlier cell defines).
        """
        needed: set[int] = set()
        missing: list[str] = []
        todo: list[tuple[str, tuple[int, int] | None]] = [(name, None) for name in sorted(names)]
        seen: set[tuple[str, Any]] = set()
        while todo and len(needed) < limit:
            name, before = todo.pop()
            if (name, before) in seen:
                continue
            seen.add((name, before))
            binding = self.lookup(name, before)
            if binding is None:
                if before is None and name not in missing:
                    missing.append(name)
                continue
            if binding.cell in needed:
                continue
            needed.add(binding.cell)
            parsed, _ = self._cell(binding.cell)
            for read in sorted(_all_reads(parsed)):
                todo.append((read, (binding.cell, 0)))
        return sorted(needed), missing


@functools.lru_cache(maxsize=2048)
def _cell_bindings(text: str) -> tuple[ParsedCell, dict[str, list[tuple[int, ast.expr | None, bool]]]]:
    """A cell's parse and, per name, its top-level bindings ``(statement, value, simple)``.

    Cached by text: every tracked cell looks through the same earlier cells again.
    """
    parsed = _light_parse(text)
    bindings: dict[str, list[tuple[int, ast.expr | None, bool]]] = {}
    if parsed.tree is not None:
        for pos, stmt in enumerate(parsed.tree.body):
            simple = {target.id: value for target, value in assignment_pairs(stmt)}
            names = {n for node in scope_nodes([stmt]) for n in bound_names(node)}
            magic = parsed.magic_code.get(id(stmt))
            if magic is not None:
                names |= {n for node in scope_nodes(magic[2].body) for n in bound_names(node)}
            for name in names:
                value = simple.get(name)
                bindings.setdefault(name, []).append((pos, value, name in simple and value is not None))
    return parsed, bindings


def _all_reads(parsed: ParsedCell) -> set[str]:
    """Module-level names a cell reads from before it ran (``x = x + 1`` reads ``x``)."""
    if parsed.tree is None:
        return set()
    names: set[str] = set()
    for text in [parsed.text, *(code for _, code, _ in parsed.magic_code.values())]:
        try:
            table = symtable.symtable(text, "<cell>", "exec")
        except _PARSE_ERRORS:
            continue
        names |= {sym.get_name() for t in _tables(table) for sym in t.get_symbols()
                  if sym.is_referenced() and (sym.is_global() or t is table)}
    first_read: dict[str, int] = {}
    first_bind: dict[str, int] = {}
    for pos, stmt in enumerate(parsed.tree.body):
        inner = parsed.magic_code.get(id(stmt))
        nodes = [stmt] if inner is None else inner[2].body
        for node in (n for top in nodes for n in ast.walk(top)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                first_read.setdefault(node.id, pos)
        for node in scope_nodes(nodes):
            for name in bound_names(node):
                first_bind.setdefault(name, pos)
    return {n for n in names
            if n not in first_bind or first_read.get(n, len(parsed.tree.body)) <= first_bind[n]}
