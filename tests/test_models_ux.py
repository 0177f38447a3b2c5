"""What a user meets on the Models and Server pages and in the status bar (issue #18), on the real
window: the recommended list (offline, and one click to download from the local fake Hub), the starter
model on its way, importing a model twice, two settings editors over one stored truth, the GPU status,
refused API requests in the activity list, and buttons that look disabled when they are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QWidget

from desktop_app.app import build_window
from desktop_app.core import network, starter
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.hub import recommended
from desktop_app.core.model_settings import ModelSettings, stored_with
from desktop_app.core.paths import app_paths
from desktop_app.core.system import gpu_support, offloaded_layers
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.model_settings_dialog import ModelSettingsDialog
from desktop_app.ui.server_activity import ActivityTable
from desktop_app.ui.theme import apply_theme, current_colors
from desktop_app.ui.widgets import button
from tests.fake_engine import ScriptedEngine
from tests.tiny_gguf import write_tiny_model

OFFSCREEN_DIALOGS = pytest.mark.qt_log_ignore(r"^This plugin does not support ")


@pytest.fixture
def window(qtbot, monkeypatch) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure(), engine=ScriptedEngine())
    qtbot.addWidget(win)
    yield win
    win.close()
    network.apply_offline(False)


def _catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo: str, file: str, size: int) -> None:
    """A one-model list in place of the shipped one (whose repos the fake Hub does not have)."""
    entry = {
        "name": "Tiny Chat",
        "family": "Tiny",
        "params": "1M",
        "repo": repo,
        "license": "MIT",
        "description": "A tiny chat model for tests.",
        "shape": {"layers": 2, "heads": 2, "kv_heads": 2, "head_dim": 16, "embedding": 32, "vocab": 256},
        "quants": [{"quant": "Q4_K_M", "files": [file], "size": size}],
    }
    path = tmp_path / "recommended.json"
    path.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    monkeypatch.setattr(recommended, "default_path", lambda: path)


# -- the recommended list -------------------------------------------------------------------------


def test_the_recommended_list_shows_offline_and_says_downloads_need_the_network(qtbot, window) -> None:
    window.sidebar.offline.setChecked(True)
    discover = window.models.discover
    qtbot.waitUntil(lambda: bool(discover.recommended.rows), timeout=10_000)
    assert discover.pages.currentWidget() is discover.recommended  # before any search
    assert len(discover.recommended.rows) == len(recommended.load_catalog().models)
    assert "recommended list still shows" in discover.message.text()
    row = discover.recommended.rows[0]
    assert row.choice.quant is not None and row.fit.text() == "● Fits"
    assert not row.button.isEnabled() and "Offline mode is on" in row.button.toolTip()
    discover._download_recommended(row.choice)  # even if it were asked: no socket, a clear sentence
    assert "needs the network" in discover.message.text()
    window.sidebar.offline.setChecked(False)
    assert row.button.isEnabled() and row.button.text() == "Download"


def test_one_click_downloads_a_recommended_model(qtbot, window, fake_hub, tmp_path, monkeypatch) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", name="Tiny Chat")
    fake_hub.add_repo("org/Tiny-Chat-GGUF", {"tiny-chat-Q4_K_M.gguf": model.read_bytes()})
    _catalog(tmp_path, monkeypatch, "org/Tiny-Chat-GGUF", "tiny-chat-Q4_K_M.gguf", model.stat().st_size)
    page = window.models
    discover = page.discover
    discover.load_recommended()
    qtbot.waitUntil(lambda: len(discover.recommended.rows) == 1, timeout=10_000)
    row = discover.recommended.rows[0]
    row.button.click()
    qtbot.waitUntil(lambda: page.my_models.model.rowCount() == 1, timeout=30_000)
    entry = page.my_models.model.items()[0]
    assert (entry.origin_repo, entry.origin_file) == ("org/Tiny-Chat-GGUF", "tiny-chat-Q4_K_M.gguf")
    qtbot.waitUntil(lambda: row.state == "owned", timeout=10_000)
    assert row.button.text() == "In your library" and not row.button.isEnabled()


def test_a_damaged_list_says_so_and_search_still_works(qtbot, window, tmp_path, monkeypatch) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    monkeypatch.setattr(recommended, "default_path", lambda: path)
    discover = window.models.discover
    discover.load_recommended()
    qtbot.waitUntil(lambda: "damaged" in discover.recommended.subtitle.text(), timeout=10_000)
    assert discover.search_button.isEnabled()


# -- the starter model on its way ---------------------------------------------------------------


def test_my_models_says_the_starter_model_is_on_its_way_with_progress(qtbot, window, monkeypatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: True)
    paths = window.paths
    partial = starter.installed_path(paths).with_name(starter.FILE_NAME + ".part")
    page = window.models
    page.show_busy("Preparing the starter model…")
    my_models = page.my_models
    assert my_models.is_preparing and "on its way" in my_models.empty_title.text()
    assert "pip install" not in my_models.empty_text.text()
    assert "Starting" in page.notice_text.text()
    with partial.open("wb") as fh:  # half assembled (sparse: no disk used)
        fh.truncate(starter.SIZE_BYTES // 2)
    qtbot.waitUntil(lambda: "50%" in page.notice_text.text(), timeout=5_000)
    assert page.notice_progress.maximum() == 1000 and page.notice_progress.value() == 500
    assert starter.DISPLAY_NAME in page.notice_text.text()
    partial.unlink()
    page.show_message("")
    assert not page.notice.isVisibleTo(page) and not my_models.is_preparing
    assert my_models.empty_title.text() == "No models yet"
    assert "Recommended for this computer" in my_models.empty_text.text()


# -- importing a model that is already there ----------------------------------------------------


def test_importing_a_model_twice_says_it_is_already_there_and_selects_it(qtbot, window, tiny_gguf) -> None:
    my_models = window.models.my_models
    first, second = tiny_gguf("first.gguf", name="First"), tiny_gguf("second.gguf", name="Second")
    my_models.import_paths([first, second])
    qtbot.waitUntil(lambda: my_models.model.rowCount() == 2, timeout=10_000)
    my_models.table.selectRow(1)
    with qtbot.waitSignal(my_models.status, timeout=10_000) as said:
        my_models.import_paths([first])
    assert said.args == ["First is already in your library."]
    assert (
        my_models.notice.isVisibleTo(my_models) and "already in your library" in my_models.notice_text.text()
    )
    qtbot.waitUntil(
        lambda: (s := my_models.selected()) is not None and s.display_name == "First", timeout=5_000
    )
    assert my_models.model.rowCount() == 2


# -- one source of truth for a model's settings -------------------------------------------------


@OFFSCREEN_DIALOGS
def test_the_settings_dialog_opens_on_what_is_stored_and_keeps_the_drawers_changes(
    qtbot, window, tiny_gguf
) -> None:
    library = window.library_store
    model = library.import_file(tiny_gguf("s.gguf", context_length=4096), link=True)
    my_models = window.models.my_models
    my_models.refresh()
    qtbot.waitUntil(lambda: my_models.model.rowCount() == 1, timeout=10_000)
    my_models.table.selectRow(0)
    # The drawer saves sampling after the list was read: the table's copy is stale now.
    drawer = SamplingSettings(temperature=1.3, stop=("END",), seed=5)
    library.update_settings(model.id, stored_with(library.get(model.id).settings, sampling=drawer))
    seen: dict[str, Any] = {}

    def edit() -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ModelSettingsDialog))
        seen["temperature"] = dialog.temperature.value()
        dialog.max_tokens.setValue(77)
        dialog.save_button.click()

    QTimer.singleShot(50, edit)
    with qtbot.waitSignal(my_models.settings_saved, timeout=10_000):
        my_models.settings_button.click()
    assert seen["temperature"] == pytest.approx(1.3)  # reloaded on open, not the stale row
    saved = ModelSettings.from_stored(library.get(model.id).settings).sampling
    assert saved == SamplingSettings(temperature=1.3, stop=("END",), seed=5, max_tokens=77)


def test_the_drawer_shows_settings_another_editor_saved(qtbot, window, tiny_gguf) -> None:
    panel = window.chat.settings_panel
    panel.set_model("m", trained_context=4096, sampling=SamplingSettings())
    stored = ModelSettings.from_stored({"sampling": {"temperature": 0.3}, "load": {"n_gpu_layers": -1}})
    with qtbot.assertNotEmitted(panel.sampling_changed):
        panel.show_stored(stored.sampling, stored.load)
    assert panel.sampling().temperature == 0.3 and panel.spins["temperature"].value() == pytest.approx(0.3)
    assert panel.load_settings().n_gpu_layers == -1
    assert panel.reload_button.isEnabled()  # stored differs from loaded (not loaded here): offered


# -- GPU status --------------------------------------------------------------------------------


def test_the_status_bar_says_where_the_model_runs(qtbot, window, tiny_gguf) -> None:
    status = window.status
    assert not status.gpu.isVisibleTo(status)  # not known before a model loads
    with qtbot.waitSignal(window.inference.loaded, timeout=30_000):
        window.chat.load(tiny_gguf("g.gguf"))
    support = gpu_support()
    window.resize(1400, 900)
    qtbot.waitUntil(lambda: status.gpu.isVisibleTo(status), timeout=5_000)
    if support.offload:  # a CUDA, Metal or Vulkan build
        assert support.name in status.gpu.text()
    else:
        assert status.gpu.text() == "CPU only" and "CPU only" in status.gpu.toolTip()
    window.inference.unload()
    qtbot.waitUntil(lambda: not status.gpu.isVisibleTo(status), timeout=10_000)


def test_offloaded_layers_count_as_llama_cpp_does() -> None:
    assert offloaded_layers(-1, 28, True) == (29, 29)  # the blocks and the output layer
    assert offloaded_layers(10, 28, True) == (10, 29)
    assert offloaded_layers(999, 28, True) == (29, 29)
    assert offloaded_layers(0, 28, True) == (0, 29)
    assert offloaded_layers(-1, 28, False) == (0, 29)  # a CPU-only build offloads nothing
    backend = gpu_support()
    assert backend.name == ("CPU only" if not backend.offload else backend.name)
    assert backend.describe()


# -- the server's activity list -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "invalid_api_key", "401 refused: missing or wrong key"),
        (403, "origin_not_allowed", "403 refused: web page not allowlisted"),
        (413, "request_too_large", "413 refused: body too large"),
        (429, "too_many_requests", "429 refused: too many requests waiting"),
        (400, "context_length_exceeded", "400 refused: conversation too long for the context"),
        (404, "", "404 refused: no such endpoint"),
        (503, "model_not_loaded", "503 refused: no model loaded"),
        (418, "", "418 refused"),
        (500, "", "500 failed: server error"),
    ],
)
def test_every_refused_request_is_listed_with_why(qtbot, status: int, code: str, expected: str) -> None:
    table = ActivityTable()
    qtbot.addWidget(table)
    table.add_rejection("POST", "/v1/chat/completions", status, code)
    row = table.rows()[0]
    assert row[1] == "POST /v1/chat/completions" and row[4] == expected
    colors = current_colors()
    color = table.item(0, 4).foreground().color()  # type: ignore[union-attr]
    assert color == QColor(colors.danger if status >= 500 else colors.warning)


# -- disabled buttons look disabled ---------------------------------------------------------------


def _ink(widget: QWidget) -> float:
    """How far the button's text stands out from its background (0: not at all), from its pixels as
    painted over the page (a ghost button's own background is transparent)."""
    parent = widget.parentWidget()
    assert parent is not None
    image: QImage = parent.grab(widget.geometry()).toImage()
    center = image.pixelColor(3, image.height() // 2)  # the button's face, left of the text
    best = 0.0
    for x in range(image.width() // 4, 3 * image.width() // 4):
        for y in range(image.height() // 4, 3 * image.height() // 4):
            c = image.pixelColor(x, y)
            best = max(best, abs(c.lightnessF() - center.lightnessF()))
    return best


@pytest.mark.parametrize("kind", [None, "ghost", "danger", "primary"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_disabled_button_looks_disabled(qtbot, monkeypatch, kind: str | None, theme: str) -> None:
    monkeypatch.setenv("HEARTH_THEME", theme)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    apply_theme(app)
    try:
        host = QWidget()
        host.setObjectName("Page")  # the page background the buttons sit on
        host.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        qtbot.addWidget(host)
        enabled, disabled = button("Settings…", kind, parent=host), button("Settings…", kind, parent=host)
        for b in (enabled, disabled):
            b.resize(b.sizeHint())
        disabled.setEnabled(False)
        disabled.move(0, 60)
        host.show()
        qtbot.wait(10)
        assert _ink(disabled) < 0.6 * _ink(enabled), kind
    finally:
        monkeypatch.delenv("HEARTH_THEME")
        apply_theme(app)


def test_the_sort_box_has_the_apps_chevron_not_the_platform_arrow(window) -> None:
    from desktop_app.ui.widgets import ChevronCombo

    assert isinstance(window.models.discover.sort, ChevronCombo)
