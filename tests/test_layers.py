"""Layers point one way: data < models < {training, evaluation} < inference < study < serve < cli.

A module may import its own layer and any lower one (root modules such as ``registry``,
``labels``, ``errors``, ``palette`` and ``utils`` are ground; ``faces`` is at the data level).
Every import counts, lazy ones inside functions too, except those only for type checkers. Upward
imports allowed as exceptions would be listed in ``KNOWN_UPWARD``: the list may shrink, never
grow (CONTRIBUTING.md); today it is empty. No two modules import each other, directly or
through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# faces/ (detectors, face mesh, alignment) sits beside data/: dataset preparation and analysis
# both use it.
RANK = {"data": 0, "faces": 0, "models": 1, "training": 2, "evaluation": 2, "inference": 3,
        "study": 4, "serve": 5, "cli": 6}
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            if base.count(".") >= 2:  # pkg.layer.module: the names come from that module
                found.add(base)
            else:  # from pkg.layer import module
                found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    return RANK.get(parts[1], -1) if len(parts) > 1 else -1


def upward_imports(root: Path, package: str) -> set[tuple[str, str]]:
    """(importer, imported module trimmed to the layer's sub-package) for every import of a
    higher layer."""
    found = set()
    for path in sorted((root / package).rglob("*.py")):
        module = _module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in _imports(tree, module, path.name == "__init__.py"):
            if not target.startswith(package + ".") or _layer(target) <= _layer(module):
                continue
            if _layer(module) < 0:
                continue
            found.add((module, ".".join(target.split(".")[:3])))
    return found


def _module_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules of ``package`` it imports."""
    paths = {_module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}
    graph = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for target in _imports(tree, module, path.name == "__init__.py"):
            while target and target not in paths:  # a name imported from a module
                target = target.rpartition(".")[0]
            if target and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def import_cycles(root: Path, package: str) -> list[list[str]]:
    """The sorted modules of each group that import each other (strongly connected, > 1)."""
    graph = _module_imports(root, package)
    reach = {}
    for start in graph:  # a few hundred modules: a search from each is fast enough
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        reach[start] = seen
    groups = {tuple(sorted(m for m in graph if m in reach[start] and start in reach[m]))
              for start in graph if start in reach[start]}
    return sorted(list(group) for group in groups)


def test_no_import_cycle():
    cycles = import_cycles(SRC, "emoscope")
    assert not cycles, "modules that import each other: " + "; ".join(
        " <-> ".join(group) for group in cycles)


def test_the_cycle_check_sees_cycles_through_lazy_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "cli").mkdir(parents=True)
    for name in ("__init__", "cli/__init__", "cli/train", "cli/console"):
        (pkg / f"{name}.py").write_text("")
    (pkg / "cli" / "speech.py").write_text("def run():\n    from pkg.cli.train import show\n")
    (pkg / "cli" / "train.py").write_text("from pkg.cli import speech\nfrom . import console\n")
    assert import_cycles(tmp_path, "pkg") == [["pkg.cli.speech", "pkg.cli.train"]]


def test_no_new_upward_import():
    new = upward_imports(SRC, "emoscope") - KNOWN_UPWARD
    assert not new, "imports into a higher layer (see CONTRIBUTING.md): " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(new))


def test_faces_is_checked_at_the_data_level(tmp_path):
    pkg = tmp_path / "pkg"
    for folder in ("faces", "data", "inference"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "faces" / "mesh.py").write_text("from pkg.data import images\n")
    (pkg / "data" / "images.py").write_text("from pkg.faces import mesh\n")
    (pkg / "faces" / "align.py").write_text("from pkg.inference import predictor\n")
    assert upward_imports(tmp_path, "pkg") == {("pkg.faces.align", "pkg.inference.predictor")}


def test_the_check_sees_lazy_and_relative_imports_but_not_type_checking_ones(tmp_path):
    pkg = tmp_path / "pkg"
    for folder in ("data", "models", "inference"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "reader.py").write_text(
        "def read():\n    from pkg.inference import tracker\n")
    (pkg / "models" / "net.py").write_text("from ..inference.predictor import run\n")
    (pkg / "inference" / "tracker.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.cli import main\n"
        "from pkg.data import reader\n")
    assert upward_imports(tmp_path, "pkg") == {
        ("pkg.data.reader", "pkg.inference.tracker"),
        ("pkg.models.net", "pkg.inference.predictor"),
    }
