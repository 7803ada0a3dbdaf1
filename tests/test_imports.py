"""The package's import graph has no cycle: every import counts, the ones inside functions too (a
lazy import only hides a cycle from the interpreter, not from a reader or a refactor). And no module
of the package or the workflow's scripts uses another module's private (leading-underscore) name: a
name used across modules is public, named without the underscore."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "workflow" / "emofusion"
SCRIPTS = PKG.parent / "scripts"


def _modules(pkg: Path = PKG) -> dict[str, Path]:
    out = {}
    for f in pkg.rglob("*.py"):
        parts = f.relative_to(pkg.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _from_target(module: str, f: Path, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` statement of ``module`` (file ``f``) imports from."""
    if not node.level:
        return node.module or ""
    pkg = module if f.name == "__init__.py" else module.rsplit(".", 1)[0]
    base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from .x import y`` counts ``x`` and, where ``y``
    is a module, ``x.y``)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.ImportFrom):
                target = _from_target(m, f, node)
                names = [target, *(f"{target}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[m].update(n for n in names if n in mods and n != m)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_planted_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "emofusion.fusion.design" in graph and "emofusion.fusion.solver" in graph["emofusion.fusion.design"]
    assert cycles(graph) == []


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(pkg: Path = PKG, scripts: Path = SCRIPTS) -> list[str]:
    """Every use, in the package or a script, of a private name of another package module:
    ``from m import _x`` (relative or absolute) and ``m._x`` where ``m`` (or a dotted ``a.b.m``) is a
    package module bound by an import (the scripts import only the package). ``__future__`` and dunder names (``__version__``) are not private.
    One line each: ``module:line: what``."""
    mods = _modules(pkg)
    files = {**mods, **{f"scripts.{f.stem}": f for f in sorted(scripts.glob("*.py"))}}
    out = []
    for m, f in sorted(files.items()):
        tree = ast.parse(f.read_text(), str(f))
        bound: dict[str, str] = {}  # a name (or dotted path) in this file -> the package module it is
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname is None:  # ``import a.b.c`` binds ``a``, and ``a.b`` reads as the module
                        parts = a.name.split(".")
                        bound.update({p: p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
                                      if p in mods})
                    elif a.name in mods:
                        bound[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                target = _from_target(m, f, node)
                for a in node.names:
                    if target in mods and target != m and _private(a.name):
                        out.append(f"{m}:{node.lineno}: from {target} import {a.name}")
                    if f"{target}.{a.name}" in mods:
                        bound[a.asname or a.name] = f"{target}.{a.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                text = ast.unparse(node.value)
                target = bound.get(text)
                if target is None and text in mods and text.split(".")[0] in bound:
                    target = text  # ``import pkg`` then ``pkg.a._x``
                if target is not None and target != m:
                    out.append(f"{m}:{node.lineno}: {target}.{node.attr}")
    return out


def test_private_use_finder_finds_planted_uses(tmp_path):
    pkg, scripts = tmp_path / "workflow" / "pkg", tmp_path / "workflow" / "scripts"
    files = {
        pkg / "__init__.py": "__version__ = '1'\n",
        pkg / "a.py": "_X = 1\nY = _X\n",
        pkg / "sub" / "__init__.py": "",
        pkg / "sub" / "b.py": "from __future__ import annotations\n\nfrom .. import __version__\n"
                              "from ..a import Y, _X\n",
        pkg / "c.py": "import os\n\nimport pkg.a\nfrom . import a\nfrom . import a as alias\n\n"
                      "def f():\n    return a._X, pkg.a._X, alias._X, a.__doc__, a.Y, os._exit\n",
        pkg / "d.py": "import pkg.a as m\n\nZ = m._X\n_own = 1\n",
        pkg / "e.py": "import pkg\n\nV = pkg.a._X + pkg.a.Y\n",
        scripts / "job.py": "from pkg.a import _X\nfrom pkg.d import Z\nfrom pkg import d\n\nprint(d._own, Z, _X)\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert private_uses(pkg, scripts) == [
        "pkg.c:8: pkg.a._X", "pkg.c:8: pkg.a._X", "pkg.c:8: pkg.a._X",
        "pkg.d:3: pkg.a._X", "pkg.e:3: pkg.a._X",
        "pkg.sub.b:4: from pkg.a import _X",
        "scripts.job:1: from pkg.a import _X", "scripts.job:5: pkg.d._own",
    ]


def test_no_module_uses_another_modules_private_name():
    assert (SCRIPTS / "train.py").is_file() and "emofusion.data.layout" in _modules()  # both are read
    assert private_uses() == []
