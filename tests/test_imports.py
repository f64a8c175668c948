"""The package's import graph: every module imports on its own, and no two import each other.

The graph counts every ``import`` statement, including those inside functions (a lazy
import still ties two modules together, as ``recneg.spark`` and ``recneg.sampling_io``
once were).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "recneg"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, source: str, *, is_package: bool = False, known=MODULES) -> set[str]:
    """The ``known`` modules that the module ``name`` (with ``source``) imports anywhere."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_walker_finds_the_old_lazy_cycle():
    """The cycle issue #11 measured: a top-level import one way, a lazy one back."""
    sources = {
        "recneg.spark": "from . import sampling_io as _core\n",
        "recneg.sampling_io": "def _spark_sample():\n    from . import spark as _spark\n",
        "recneg._errors": "",
    }
    graph = {name: imported_modules(name, text, known=set(sources)) for name, text in sources.items()}
    assert graph == {"recneg.spark": {"recneg.sampling_io"}, "recneg.sampling_io": {"recneg.spark"},
                     "recneg._errors": set()}
    assert find_cycle(graph) == ["recneg.sampling_io", "recneg.spark", "recneg.sampling_io"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_recneg_has_no_import_cycle():
    graph = {name: imported_modules(name, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
             for name, path in MODULES.items()}
    assert "recneg.data" in graph["recneg.cli"]  # imported inside a function: still an edge
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# Each module is imported in a child forked from an interpreter that has imported no part
# of recneg, only the heavy third-party libraries (so that 60 fresh imports take seconds).
_FRESH_IMPORTS = """
import importlib, os, sys
for heavy in ("numpy", "pandas", "scipy.stats", "torch", "matplotlib.figure"):
    try:
        importlib.import_module(heavy)
    except ImportError:
        pass
assert not any(m == "recneg" or m.startswith("recneg.") for m in sys.modules)
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException as error:
            print(f"{name}: {type(error).__name__}: {error}", flush=True)
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(name)
print("FAILED", " ".join(failed))
"""


def test_each_module_imports_in_a_fresh_interpreter():
    """No module relies on another having been imported first (a symptom of a cycle)."""
    result = subprocess.run([sys.executable, "-c", _FRESH_IMPORTS, *sorted(MODULES)], capture_output=True,
                            text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("FAILED"), result.stdout
