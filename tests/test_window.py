from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.paths import app_paths
from desktop_app.ui.library_page import ModelCard


def _texts(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QLabel))


def test_window_title_icon_and_empty_state(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    window = build_window(app_paths().ensure())
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == "Hearth"
    assert not window.windowIcon().isNull()
    assert "No models yet" in _texts(window.library)
    assert window.library.findChildren(ModelCard) == []


def test_models_in_the_folder_are_listed_and_split_parts_count_once(qtbot, monkeypatch, tiny_gguf) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    paths = app_paths().ensure()
    shutil.copy(tiny_gguf(), paths.models / "alpha.gguf")
    for part in (1, 2):
        (paths.models / f"big-0000{part}-of-00002.gguf").write_bytes(b"GGUF")
    window = build_window(paths)
    qtbot.addWidget(window)
    cards = window.library.findChildren(ModelCard)
    assert sorted(card.model.display_name for card in cards) == ["alpha", "big"]
    assert "2 parts" in _texts(window.library)


@pytest.mark.slow
def test_first_run_installs_the_starter_model_once(qtbot) -> None:
    paths = app_paths().ensure()
    window = build_window(paths)
    qtbot.addWidget(window)
    assert window.library.notice.isVisibleTo(window.library)
    qtbot.waitUntil(
        lambda: (
            starter.installed_path(paths).exists() and not window.library.notice.isVisibleTo(window.library)
        ),
        timeout=60_000,
    )
    assert starter.installed_path(paths).stat().st_size == starter.SIZE_BYTES
    text = _texts(window.library)
    assert starter.DISPLAY_NAME in text and "not tuned to be an assistant" in text
    # The user deletes it: it must not come back on the next start.
    starter.installed_path(paths).unlink()
    assert not starter.needs_install(paths)
    second = build_window(paths)
    qtbot.addWidget(second)
    assert not second.library.notice.isVisibleTo(second.library)
    assert not list(Path(paths.models).glob("*.part"))
