"""My models → Settings… and the chat's settings drawer are two views of one stored setting (issue #18):
saving in the dialog changes what the chat samples with and what the drawer shows, without a reload.

The real window with a scripted engine; the dialog is driven as a user would (change a value, Save).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.library import LibraryModel
from desktop_app.core.paths import app_paths
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.model_settings_dialog import ModelSettingsDialog
from tests.fake_engine import ScriptedEngine


@pytest.fixture
def window(qtbot, monkeypatch, tiny_gguf: Callable[..., Path]) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure(), engine=ScriptedEngine())
    qtbot.addWidget(win)
    win.show()
    for name in ("first", "second"):
        model = tiny_gguf(f"{name}.gguf", name=name, context_length=4096)
        win.library_store.import_file(model, link=True)
    win.models.my_models.refresh()
    qtbot.waitUntil(lambda: win.models.my_models.model.rowCount() == 2, timeout=10_000)
    yield win
    win.close()


def _model(window: MainWindow, name: str) -> LibraryModel:
    return next(m for m in window.library_store.list() if m.path.name == f"{name}.gguf")


def _save_in_dialog(
    qtbot, window: MainWindow, model: LibraryModel, edit: Callable[[ModelSettingsDialog], None]
) -> None:
    """Select `model` in My models, open Settings…, apply `edit`, press Save."""
    my_models = window.models.my_models
    row = next(i for i, m in enumerate(my_models.model.items()) if m.id == model.id)
    my_models.table.selectRow(row)
    seen: list[ModelSettingsDialog] = []

    def drive() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ModelSettingsDialog):
            QTimer.singleShot(20, drive)
            return
        seen.append(dialog)
        edit(dialog)
        dialog.save_button.click()

    QTimer.singleShot(0, drive)
    with qtbot.waitSignal(my_models.settings_saved, timeout=10_000) as saved:
        my_models.settings_button.click()
    assert seen and saved.args == [model.id]


def test_saving_in_the_dialog_updates_the_drawer_and_the_chat_without_a_reload(qtbot, window) -> None:
    model = _model(window, "first")
    with qtbot.waitSignal(window.inference.loaded, timeout=30_000):
        window.load_model(model)
    panel = window.chat.settings_panel
    window.chat.toggle_settings()
    temperature = panel.sampling_section.spins["temperature"]
    assert temperature.value() != pytest.approx(1.35)
    loads: list[object] = []
    window.inference.load_started.connect(loads.append)

    def edit(dialog: ModelSettingsDialog) -> None:
        dialog.temperature.setValue(1.35)
        dialog.n_ctx.setValue(1024)

    _save_in_dialog(qtbot, window, model, edit)
    assert temperature.value() == pytest.approx(1.35)  # the drawer shows what was saved
    assert panel.sampling().temperature == pytest.approx(1.35)
    assert window.chat.sampling.temperature == pytest.approx(1.35)  # the next turn samples with it
    assert panel.load_section.n_ctx.value() == 1024
    assert panel.load_section.reload_button.isEnabled()  # a load setting changed: Reload is offered
    qtbot.wait(50)
    assert loads == []  # nothing was reloaded


def test_saving_another_models_settings_leaves_the_chat_alone(qtbot, window) -> None:
    first, second = _model(window, "first"), _model(window, "second")
    with qtbot.waitSignal(window.inference.loaded, timeout=30_000):
        window.load_model(first)
    panel = window.chat.settings_panel
    before = panel.sampling()
    _save_in_dialog(qtbot, window, second, lambda dialog: dialog.temperature.setValue(1.35))
    assert panel.sampling() == before and window.chat.sampling == before
    assert panel.sampling_section.spins["temperature"].value() == pytest.approx(before.temperature)
