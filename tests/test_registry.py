"""Registries fill themselves: the built-in modules they name are imported on the first lookup."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emoscope.errors import UserError
from emoscope.registry import Registry


def _plugin(tmp_path, name: str, body: str) -> str:
    (tmp_path / f"{name}.py").write_text(body)
    return name


def test_modules_are_imported_on_the_first_lookup_only(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry = Registry("widget", [
        _plugin(tmp_path, "widget_plugin_a",
                "import test_registry_table as t\n"
                "t.IMPORTS.append('a')\n"
                "@t.WIDGETS.register('alpha')\n"
                "def alpha():\n    return 'A'\n"),
    ])
    table = type(sys)("test_registry_table")
    table.WIDGETS, table.IMPORTS = registry, []
    monkeypatch.setitem(sys.modules, "test_registry_table", table)
    assert table.IMPORTS == []  # building the registry imports nothing
    assert registry.build("alpha") == "A"
    assert "ALPHA" in registry and registry.names() == ["alpha"]
    assert table.IMPORTS == ["a"]  # once
    with pytest.raises(UserError, match="unknown widget 'beta'; known widgets: alpha"):
        registry.get("beta")


def test_a_module_needing_the_training_stack_is_skipped_where_it_is_missing(tmp_path,
                                                                             monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "lightning", None)  # as in the analysis install
    registry: Registry = Registry("widget", [
        _plugin(tmp_path, "widget_needs_lightning", "import lightning\n")])
    assert registry.names() == []
    assert registry.skipped == ["widget_needs_lightning"]
    broken: Registry = Registry("widget", [
        _plugin(tmp_path, "widget_broken", "import no_such_package_anywhere\n")])
    with pytest.raises(ModuleNotFoundError, match="no_such_package_anywhere"):
        broken.names()  # a missing package outside the training stack is a bug, not skipped


def test_every_builtin_registry_fills_itself_in_a_fresh_interpreter():
    code = ("from emoscope.registry import ALL_REGISTRIES\n"
            "print({kind: len(r.names()) for kind, r in ALL_REGISTRIES.items()})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    counts = eval(out)  # noqa: S307  (a dict literal printed by the child)
    assert set(counts) == {"detectors", "backbones", "fusions", "heads", "losses", "datasets",
                           "models"}
    assert counts["detectors"] >= 3 and counts["datasets"] >= 9 and counts["models"] >= 13
    assert all(counts.values()), counts
