"""Widgets with their own style sheet (ThemedStyleSheet) follow a theme switch, on real widgets offscreen.

apply_theme sets a new app palette; each widget must rebuild its style sheet in the new colours, or a
light panel would stay light inside a dark window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from desktop_app.core.db import Database
from desktop_app.core.library import LibraryModel
from desktop_app.core.presets import PresetStore
from desktop_app.ui.attach_menu import AttachButton
from desktop_app.ui.model_settings_dialog import ModelSettingsDialog
from desktop_app.ui.settings_panel import SettingsPanel
from desktop_app.ui.sources_panel import SourcesPanel
from desktop_app.ui.theme import DARK, LIGHT, Colors, ThemedStyleSheet, apply_theme


def _model() -> LibraryModel:
    return LibraryModel(
        id="m", display_name="M", path=Path("m.gguf"), parts=1, is_link=False, size_bytes=0, sha256=None,
        summary={"context_length": 8192}, added_at=0.0, last_used_at=None, settings={},
    )  # fmt: skip


# Each widget as the app builds it, with a colour its own style sheet uses.
WIDGETS: dict[str, tuple[Callable[[Path, QWidget], ThemedStyleSheet], Callable[[Colors], str]]] = {
    "attach": (lambda _tmp, host: AttachButton(lambda: [], host), lambda c: c.muted),
    "sources": (lambda _tmp, host: SourcesPanel(host), lambda c: c.surface),
    "settings": (
        lambda tmp, host: SettingsPanel(PresetStore(Database(tmp / "presets.db")), host),
        lambda c: c.sidebar,
    ),
    "model dialog": (lambda _tmp, _host: ModelSettingsDialog(_model()), lambda c: c.sidebar),
}


@pytest.fixture
def theme(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Switch the app's theme as the OS would (HEARTH_THEME), and put the usual one back afterwards."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)

    def switch(name: str) -> None:
        monkeypatch.setenv("HEARTH_THEME", name)
        apply_theme(app)
        app.processEvents()  # a hidden top-level window (the dialog) gets its palette change posted

    yield switch
    monkeypatch.delenv("HEARTH_THEME", raising=False)
    apply_theme(app)


@pytest.mark.parametrize("name", list(WIDGETS))
def test_a_theme_switch_restyles_the_widget(qtbot: Any, tmp_path: Path, theme: Any, name: str) -> None:
    build, color = WIDGETS[name]
    assert color(LIGHT) != color(DARK)
    theme("light")
    host = QWidget()
    host.resize(400, 700)
    qtbot.addWidget(host)
    widget = build(tmp_path, host)
    if widget.parentWidget() is None:
        qtbot.addWidget(widget)
    host.show()
    qtbot.waitExposed(host)
    assert widget.styleSheet() == widget.themed_stylesheet(LIGHT)
    assert color(LIGHT) in widget.styleSheet()

    theme("dark")
    assert widget.styleSheet() == widget.themed_stylesheet(DARK)
    assert color(DARK) in widget.styleSheet() and color(LIGHT) not in widget.styleSheet()

    theme("light")  # and back
    assert widget.styleSheet() == widget.themed_stylesheet(LIGHT)
