"""The package's layout holds, read from the code's own imports: no module over 400 lines, no import circle (imports
inside functions count), no folder importing one its package docstring lists after it, the same folders in the
docs' map, every module opening with a docstring, reporting reaching the data only through the data package's
public face (``rtriever_eval.data``), never a loader."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rtriever_eval"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every rtriever_eval module ``path`` imports, anywhere in the file (``from a.b import c`` is a.b.c when c is a
    module, else a.b)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, set(modules)) for name, path in modules.items()}


def test_no_module_is_over_400_lines() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in long.items() if k > MAX_LINES} == {}


def test_every_module_opens_with_what_it_does() -> None:
    texts = {n: p.read_text() for n, p in _modules().items()}
    missing = [n for n, t in texts.items() if t.strip() and ast.get_docstring(ast.parse(t)) is None]
    assert missing == []


def test_there_is_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert circles == []


def test_reporting_reads_results_never_a_loader() -> None:
    graph = _graph()
    reaches = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("rtriever_eval.reporting")
        for target in targets
        if target.startswith("rtriever_eval.data.")
    }
    assert reaches == set()


def _folders_in_order(text: str, mark: str) -> list[str]:
    return [line.split(mark)[1].rstrip("/") for line in text.splitlines() if line.startswith(f"- {mark}")
            or line.startswith(f"| {mark}")]  # fmt: skip


def test_no_folder_imports_one_listed_after_it_and_the_map_lists_them_all() -> None:
    order = _folders_in_order((PACKAGE / "__init__.py").read_text(), "``")
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert sorted(order) == folders
    assert _folders_in_order((PACKAGE.parent / "docs" / "map.md").read_text(), "`") == order
    rank = {f: i for i, f in enumerate(order)}
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in _graph().items()
        for b in targets
        if a.count(".") > 0 and b.count(".") > 0
        and a.split(".")[1] in rank and b.split(".")[1] in rank and rank[b.split(".")[1]] > rank[a.split(".")[1]]
    )
    assert upward == []
