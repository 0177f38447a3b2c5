"""The Models page on real widgets against the local fake Hub, and its Qt models under qtmodeltester."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desktop_app.app import build_window
from desktop_app.core import network, starter
from desktop_app.core.db import Database
from desktop_app.core.downloads import DownloadInfo
from desktop_app.core.hub import ModelOption, RepoFile, RepoSummary
from desktop_app.core.library import Library
from desktop_app.core.paths import app_paths
from desktop_app.ui.table_models import (
    DownloadTableModel,
    LibraryTableModel,
    OptionTableModel,
    SearchTableModel,
)
from tests.tiny_gguf import write_tiny_model


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure())
    qtbot.addWidget(win)
    yield win
    win.close()
    network.apply_offline(False)


def test_table_models_pass_qtmodeltester(qtmodeltester, tiny_gguf) -> None:
    paths = app_paths().ensure()
    library = Library(Database(paths.database), paths)
    library.import_file(tiny_gguf(filename="a.gguf"))
    library.import_file(tiny_gguf(filename="b.gguf"), link=True)
    models = LibraryTableModel()
    models.set_items(library.list())
    qtmodeltester.check(models)

    search = SearchTableModel()
    search.set_items(
        [RepoSummary("org/x-GGUF", "org", 10, 2, datetime(2026, 1, 1, tzinfo=UTC), False, False, ("gguf",))]
    )
    qtmodeltester.check(search)

    options = OptionTableModel()
    file = RepoFile("x-Q4_K_M.gguf", 1000, "ab" * 32, "Q4_K_M")
    options.set_items([ModelOption("x-Q4_K_M.gguf", "Q4_K_M", (file,), 1000)])
    options.set_fit({"x-Q4_K_M.gguf": ("green", "fits")})
    qtmodeltester.check(options)

    downloads = DownloadTableModel()
    now = time.time()
    downloads.set_items(
        [DownloadInfo(1, "org/x", "x.gguf", "main", "downloading", 500, 1000, None, None,
                      Path("/tmp/x.gguf"), Path("/tmp/x.part"), None, now, now, 1e6, 3.0)]
    )  # fmt: skip
    qtmodeltester.check(downloads)


def test_search_open_repo_download_and_find_it_in_my_models(qtbot, window, fake_hub, tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", name="Tiny Chat")
    fake_hub.add_repo("org/Tiny-Chat-GGUF", {"tiny-chat-Q4_K_M.gguf": model.read_bytes()}, downloads=5)
    page = window.models
    discover = page.discover
    discover.query.setText("tiny")
    discover.search()
    qtbot.waitUntil(lambda: discover.results.rowCount() == 1, timeout=20_000)
    discover.results_view.selectRow(0)
    qtbot.waitUntil(lambda: discover.options.rowCount() == 1, timeout=20_000)
    qtbot.waitUntil(lambda: "tiny-chat-Q4_K_M.gguf" in discover.options.fit, timeout=20_000)
    assert discover.options.fit["tiny-chat-Q4_K_M.gguf"][0] == "green"
    discover._download()
    qtbot.waitUntil(lambda: page.my_models.model.rowCount() == 1, timeout=30_000)
    entry = page.my_models.model.items()[0]
    assert entry.origin_repo == "org/Tiny-Chat-GGUF"
    assert entry.sha256 == fake_hub.sha256("org/Tiny-Chat-GGUF", "tiny-chat-Q4_K_M.gguf")


def test_offline_switch_disables_search_and_opens_no_socket(qtbot, window, fake_hub, monkeypatch) -> None:
    import socket

    connects: list[object] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: object) -> None:
        connects.append(address)
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", spy)
    window.sidebar.offline.setChecked(True)
    discover = window.models.discover
    assert not discover.search_button.isEnabled()
    assert "Offline mode is on" in discover.message.text()
    discover.search()  # even if called, the guard refuses before any socket
    qtbot.waitUntil(lambda: "Offline mode is on" in discover.message.text(), timeout=5_000)
    qtbot.wait(200)
    assert connects == []
    # the choice survives a restart
    again = build_window(app_paths())
    qtbot.addWidget(again)
    assert again.sidebar.offline.isChecked()
    again.close()


def test_dropped_file_is_imported(qtbot, window, tiny_gguf) -> None:
    my_models = window.models.my_models
    my_models.import_paths([tiny_gguf(filename="dropped.gguf")])
    qtbot.waitUntil(lambda: my_models.model.rowCount() == 1, timeout=10_000)
    assert my_models.model.items()[0].path.name == "dropped.gguf"


def test_a_broken_file_in_the_models_folder_is_listed_as_unusable_with_its_reason(
    qtbot, window, tiny_gguf
) -> None:
    """One bad file must be visible (with why) and must not hide the good models or offer Load."""
    from PySide6.QtCore import Qt

    models_dir = app_paths().models
    good = tiny_gguf(filename="good.gguf")
    (models_dir / "good.gguf").write_bytes(good.read_bytes())
    (models_dir / "broken.gguf").write_bytes(good.read_bytes()[:100])  # cut short: a truncated download
    my_models = window.models.my_models
    my_models.refresh()
    qtbot.waitUntil(lambda: my_models.model.rowCount() == 2, timeout=10_000)
    rows = {item.path.name: row for row, item in enumerate(my_models.model.items())}
    broken = my_models.model.index(rows["broken.gguf"], 0)
    assert my_models.model.data(broken).endswith("(unusable)")
    tip = my_models.model.data(broken, Qt.ItemDataRole.ToolTipRole)
    assert "Unusable:" in tip
    my_models.table.selectRow(rows["broken.gguf"])
    assert not my_models.load_button.isEnabled()
    assert not my_models.settings_button.isEnabled()
    assert my_models.delete_button.isEnabled()
    my_models.table.selectRow(rows["good.gguf"])
    assert my_models.load_button.isEnabled()
    assert not my_models.model.data(my_models.model.index(rows["good.gguf"], 0)).endswith(")")


def test_model_settings_dialog_round_trips_and_feeds_the_chat(qtbot, window, tiny_gguf) -> None:
    from desktop_app.ui.model_settings_dialog import ModelSettingsDialog

    library = window.library_store
    model = library.import_file(tiny_gguf(filename="s.gguf"))
    dialog = ModelSettingsDialog(model)
    qtbot.addWidget(dialog)
    assert dialog.n_ctx.maximum() == 256  # capped at what the model was trained for
    dialog.gpu_layers.setValue(-1)  # "All layers": a CPU-only build ignores it
    dialog.temperature.setValue(0.2)
    dialog.max_tokens.setValue(64)
    dialog.template.setCurrentIndex(dialog.template.findData("chatml"))
    settings = dialog.result_settings()
    library.update_settings(model.id, settings)
    saved = library.get(model.id)
    assert saved.settings["load"]["n_gpu_layers"] == -1
    assert saved.settings["template_override"] == "chatml"
    with qtbot.waitSignal(window.inference.loaded, timeout=30_000) as loaded:
        window.load_model(saved)
    assert loaded.args[0].chat_format.source == "override"
    assert window.chat.sampling.temperature == 0.2 and window.chat.sampling.max_tokens == 64
