"""The core must stay free of Qt, so the CLI, the tests and a future server can use it headless."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import desktop_app

PACKAGE = Path(desktop_app.__file__).parent
QT_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_sources_never_import_qt() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in _imported_modules(path) if m.startswith(QT_MODULES))
        for layer in ("core", "server")  # the API server runs headless too (`hearth serve`)
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_core_module_loads_no_qt() -> None:
    modules = [  # every module, those inside core's subpackages too
        ".".join(("desktop_app", *p.relative_to(PACKAGE).with_suffix("").parts))
        for layer in ("core", "server")
        for p in sorted((PACKAGE / layer).rglob("*.py"))
        if p.stem != "__init__"
    ]
    assert len(modules) >= 5
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workers_never_import_widgets() -> None:
    """Workers talk to the UI through signals only; touching a widget off the GUI thread crashes Qt."""
    for path in (PACKAGE / "workers").rglob("*.py"):
        imported = _imported_modules(path)
        assert "PySide6.QtWidgets" not in imported, path
        assert not any(m.startswith("desktop_app.ui") for m in imported), path
