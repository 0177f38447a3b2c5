from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.paths import app_paths
from desktop_app.ui.main_window import MainWindow
from tests.test_library import write_split


def _texts(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QLabel))


@pytest.fixture
def no_starter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: False)


def _window(qtbot) -> Iterator[MainWindow]:
    window = build_window(app_paths().ensure())
    qtbot.addWidget(window)
    yield window
    window.close()  # stops the inference thread and the download worker


@pytest.fixture
def window(qtbot, no_starter):
    yield from _window(qtbot)


def test_window_title_icon_and_empty_state(qtbot, window) -> None:
    window.show()
    qtbot.waitUntil(lambda: not window.models.my_models._refreshing, timeout=10_000)
    assert window.windowTitle() == "Hearth"
    assert not window.windowIcon().isNull()
    my_models = window.models.my_models
    assert my_models.model.rowCount() == 0
    assert my_models.stack.currentIndex() == 1
    assert "No models yet" in _texts(my_models)


def test_models_in_the_folder_are_listed_and_split_parts_count_once(qtbot, no_starter, tiny_gguf) -> None:
    paths = app_paths().ensure()
    shutil.copy(tiny_gguf(name="alpha"), paths.models / "alpha.gguf")
    write_split(tiny_gguf, paths.models)
    gen = _window(qtbot)
    window = next(gen)
    qtbot.waitUntil(lambda: window.models.my_models.model.rowCount() == 2, timeout=10_000)
    rows = window.models.my_models.model.items()
    assert sorted(m.path.name for m in rows) == ["alpha.gguf", "big-00001-of-00002.gguf"]
    assert [m.parts for m in rows if m.path.name.startswith("big")] == [2]
    next(gen, None)


@pytest.mark.slow
def test_first_run_installs_the_starter_model_once(qtbot) -> None:
    paths = app_paths().ensure()
    gen = _window(qtbot)
    window = next(gen)
    notice = window.models.notice
    assert not notice.isVisibleTo(window.models)  # first-run work waits for the first paint
    window.show()
    qtbot.waitUntil(lambda: notice.isVisibleTo(window.models), timeout=10_000)
    qtbot.waitUntil(
        lambda: starter.installed_path(paths).exists() and not notice.isVisibleTo(window.models),
        timeout=60_000,
    )
    assert starter.installed_path(paths).stat().st_size == starter.SIZE_BYTES
    qtbot.waitUntil(lambda: window.models.my_models.model.rowCount() == 1, timeout=10_000)
    assert [m.path.name for m in window.models.my_models.model.items()] == [starter.FILE_NAME]
    # the UI says what it is: a tiny base model, not an assistant
    assert window.models.my_models.note.isVisibleTo(window.models.my_models)
    assert "not tuned to be an assistant" in _texts(window.models.my_models.note)
    next(gen, None)
    # The user deletes it: it must not come back on the next start.
    starter.installed_path(paths).unlink()
    assert not starter.needs_install(paths)
    gen2 = _window(qtbot)
    second = next(gen2)
    with qtbot.waitSignal(second.first_painted, timeout=10_000):  # the starter check runs then
        second.show()
    assert not second.models.notice.isVisibleTo(second.models)
    qtbot.waitUntil(lambda: not second.models.my_models._refreshing, timeout=10_000)
    assert second.models.my_models.model.rowCount() == 0
    assert not list(Path(paths.models).glob("*.part"))
    next(gen2, None)


def test_text_size_buttons_change_the_ui_and_chat_font_and_are_remembered(qtbot, window) -> None:
    from PySide6.QtWidgets import QApplication

    from desktop_app.core.settings import load_settings
    from desktop_app.ui.theme import apply_theme

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = app.font().pointSizeF()
    try:
        window.sidebar.larger.click()
        window.sidebar.larger.click()
        assert app.font().pointSizeF() == pytest.approx(original + 2)
        assert window.chat.view.font().pointSizeF() == pytest.approx(original + 2)
        saved, problem = load_settings(window.paths)
        assert problem is None and saved.font_size == pytest.approx(original + 2)
        window.sidebar.smaller.click()
        assert app.font().pointSizeF() == pytest.approx(original + 1)
        again = build_window(window.paths)  # a restart starts with the remembered size
        qtbot.addWidget(again)
        assert app.font().pointSizeF() == pytest.approx(original + 1)
        again.close()
    finally:
        apply_theme(app, original)


@pytest.mark.timeout(180, method="thread")
def test_a_refused_template_loads_with_the_builtin_format_and_a_visible_warning(
    qtbot, window, tiny_gguf
) -> None:
    """The file's template compares two deep shared lists (hours of C-level work): the worker is killed,
    the model loads in its built-in format, and the chat page says why instead of hiding it."""
    shared = (
        "{% set ns = namespace(a=[[]], b=[[]]) %}{% for i in range(40) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}"
    )
    window.show()
    window.load_model(tiny_gguf(name="<b>Sly</b> model", chat_template=shared))
    qtbot.waitUntil(window.chat.composer.input.isEnabled, timeout=120_000)
    assert window.chat.banner.isVisible()
    text = window.chat.banner_text.text()
    assert "template in this model file was refused" in text
    assert window.chat.banner_text.textFormat() == Qt.TextFormat.PlainText
