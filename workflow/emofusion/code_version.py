"""Code versions of the workflow's rules, derived from the code itself.

Each rule carries ``code=<hash>`` in its params, so editing the library re-runs exactly the jobs
whose code changed (Snakemake's params rerun trigger). The hash of a rule is taken over its script
(``workflow/scripts/<name>.py``) and every library module that script can reach through
``emofusion`` imports, followed transitively in the source (``ast``, nothing is imported):
``import emofusion.x``, ``from emofusion.x import y``, ``from . import x``, ``from .x import y``,
relative imports from a sub-package (``from .. import TARGETS``, ``from ..results.metrics import
ccc``), imports inside functions, and the ``__init__`` of every package on the way.

Imports are followed by name, not only by module: ``fusion.inputs`` imports ``data.cache`` inside
``labels_from_cache``, the one function that needs it, so a script that calls
``fusion.inputs.ordered_runs`` alone does not reach ``data.cache``. A module is entered with its
import-time code (every top-level statement but function and class bodies); a function or class of
it is followed only where a reached piece of code imports it by name or, inside the module, names
it. Importing a submodule, ``import emofusion.x`` or ``from x import *`` takes the whole module.
Reached modules are hashed whole: an edit anywhere in one re-runs every rule that reaches it, so
the scripts call their stage's module directly (no forwarding module that every script reaches);
the one module they all share is the log routing, ``joblog``.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: Where a reference points: (dotted module name, None for its import-time code or a top-level name).
Target = tuple[str, str | None]

WHOLE = "*"  # the unit name that stands for every unit of a module


@dataclass
class _Refs:
    """What a piece of code refers to: library imports and names of its own module."""

    imports: set[Target] = field(default_factory=set)
    names: set[str] = field(default_factory=set)


@dataclass
class _Module:
    name: str
    path: Path
    base: _Refs  # import-time code
    units: dict[str, _Refs]  # top-level functions and classes


class _Library:
    """The package's modules, parsed on demand (``package_dir`` is the folder of ``__init__.py``)."""

    def __init__(self, package_dir: Path):
        self.dir = Path(package_dir)
        self.package = self.dir.name
        self._modules: dict[str, _Module | None] = {}

    def path_of(self, module: str) -> Path | None:
        parts = module.split(".")
        if parts[0] != self.package:
            return None
        stem = self.dir.joinpath(*parts[1:])
        for candidate in (stem / "__init__.py", stem.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        return None

    def get(self, module: str) -> _Module | None:
        if module not in self._modules:
            path = self.path_of(module)
            self._modules[module] = None if path is None else _parse_module(module, path, self)
        return self._modules[module]


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _import_targets(node: ast.Import | ast.ImportFrom, module: str | None, is_package: bool,
                    lib: _Library) -> set[Target]:
    """The library targets of one import statement made in ``module`` (None: a script)."""
    out: set[Target] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == lib.package:
                # every package on the way runs; the bound name gives access to all of them
                out.update((".".join(parts[:i]), WHOLE) for i in range(1, len(parts) + 1))
        return out
    if node.level:
        if module is None:
            return out  # a relative import outside the package cannot resolve
        package = module.split(".") if is_package else module.split(".")[:-1]
        if node.level - 1 > len(package) - 1:
            return out
        base = package[: len(package) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != lib.package:
        return out
    out.add((source, None))
    for alias in node.names:
        if alias.name == "*":
            out.add((source, WHOLE))
        elif lib.path_of(f"{source}.{alias.name}") is not None:
            out.add((f"{source}.{alias.name}", WHOLE))
        else:
            out.add((source, alias.name))
    return out


def _refs(nodes: Iterable[ast.AST], module: str | None, is_package: bool, lib: _Library) -> _Refs:
    refs = _Refs()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Import | ast.ImportFrom):
                refs.imports |= _import_targets(node, module, is_package, lib)
            elif isinstance(node, ast.Name):
                refs.names.add(node.id)
    return refs


def _import_time_parts(node: ast.AST) -> list[ast.AST]:
    """What of a top-level def or class runs when the module is imported."""
    parts: list[ast.AST] = list(node.decorator_list)
    if isinstance(node, ast.ClassDef):
        parts += node.bases + [k.value for k in node.keywords]
        parts += [s for s in node.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
    else:
        parts += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    return parts


def _parse_module(module: str, path: Path, lib: _Library) -> _Module:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    pkg = _is_package(path)
    base_nodes: list[ast.AST] = []
    units: dict[str, _Refs] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            units[stmt.name] = _refs([stmt], module, pkg, lib)
            base_nodes += _import_time_parts(stmt)
        else:
            base_nodes.append(stmt)
    return _Module(module, path, _refs(base_nodes, module, pkg, lib), units)


def modules_reached(script: str | Path, package_dir: str | Path) -> list[Path]:
    """The library modules (files, sorted) that ``script`` can reach through its imports."""
    return _reach(Path(script), _Library(Path(package_dir)))


def _reach(script: Path, lib: _Library) -> list[Path]:
    start = _refs([ast.parse(script.read_bytes(), filename=str(script))], None, False, lib)
    todo: list[Target] = sorted(start.imports, key=str)
    seen: set[Target] = set()
    entered: dict[str, Path] = {}
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        name, unit = target
        mod = lib.get(name)
        if mod is None:
            continue
        if unit is None:
            entered[name] = mod.path
            parts = name.split(".")
            todo += [(".".join(parts[:i]), None) for i in range(1, len(parts))]  # parent packages run first
            refs = [mod.base]
        elif unit == WHOLE:
            todo.append((name, None))
            refs = list(mod.units.values())
        else:
            todo.append((name, None))
            refs = [mod.units[unit]] if unit in mod.units else []
        for r in refs:
            todo += list(r.imports)
            todo += [(name, n) for n in r.names if n in mod.units]
    return sorted(entered.values())


def script_code_version(script: str | Path, package_dir: str | Path, *, _lib: _Library | None = None) -> str:
    """Hash (16 hex digits) of ``script`` and of every library module it reaches."""
    lib = _lib or _Library(Path(package_dir))
    script = Path(script)
    h = hashlib.sha256(script.read_bytes())
    for path in _reach(script, lib):
        h.update(b"\0" + path.relative_to(lib.dir).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def code_versions(scripts_dir: str | Path, package_dir: str | Path) -> dict[str, str]:
    """``{script stem: code version}`` for every ``*.py`` in ``scripts_dir`` (a rule's ``code`` param)."""
    lib = _Library(Path(package_dir))
    return {p.stem: script_code_version(p, package_dir, _lib=lib) for p in sorted(Path(scripts_dir).glob("*.py"))}
