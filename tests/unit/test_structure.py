"""The layout's rules, checked on every run of the test command: the layering
contracts of pyproject.toml (import-linter), no import cycle among minipod's
modules, and no module over 400 lines (docs/architecture.md)."""

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def test_the_layering_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout, proc.stdout[-4000:]


def _cycles(graph) -> list:
    """The strongly connected components of more than one module (Tarjan's)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle():
    # Every import counts, those inside functions too: a lazy import that
    # closes a circle is a circle all the same.
    assert _cycles(grimp.build_graph("minipod", include_external_packages=False)) == []


def test_the_cycle_finder_finds_one():
    class Graph:  # a -> b -> c -> a, d alone: the check above is not vacuous
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges[m]
    assert _cycles(Graph()) == [["a", "b", "c"]]


def test_no_module_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in sorted((REPO / "minipod").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these into modules of one job each: {long}"


def test_every_preloaded_module_exists():
    # The node process preloads modules by name and only logs one that fails
    # to import: a name left behind by a move would cost every command its
    # import time again, silently.
    import importlib
    from minipod.node import serve
    missing = []
    for name in serve.PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError as e:
            missing.append(f"{name}: {e}")
    assert missing == []
