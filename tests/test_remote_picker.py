"""The chat header's model picker with remote providers' models: listed after the library's, saying
where each runs; choosing one emits it, and its badge says that messages leave this computer. Real
widgets, offscreen; server text is shown literally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.library import LibraryModel
from desktop_app.core.providers.records import RemoteModel
from desktop_app.ui.chat_header import ChatHeader

REMOTES = [
    RemoteModel("gpu", "gpu-box.lan", "Qwen2.5-72B-Instruct"),
    RemoteModel("gpu", "gpu-box.lan", "<b>bold</b>"),  # a server's id, shown as the characters it is
]


def local(name: str, folder: Path) -> LibraryModel:
    path = folder / f"{name}.gguf"
    path.write_bytes(b"GGUF")  # present: the picker leaves out models whose file is missing
    return LibraryModel(
        id=name, display_name=name, path=path, parts=1, is_link=False,
        size_bytes=1 << 30, sha256=None, summary={"file_type": "Q4_K_M"}, added_at=0.0, last_used_at=None,
    )  # fmt: skip


@pytest.mark.qt_log_ignore(r"^This plugin does not support ")  # a shown top-level widget, offscreen
def test_remote_models_follow_the_local_ones_and_choosing_one_shows_the_badge(
    qtbot: Any, tmp_path: Path
) -> None:
    header = ChatHeader()
    qtbot.addWidget(header)
    header.resize(900, 60)
    header.show()
    gemma = local("gemma", tmp_path)
    header.set_models([gemma, local("qwen", tmp_path)])
    header.set_remote_models(REMOTES)
    items = [header.picker.itemText(i) for i in range(header.picker.count())]
    assert items[:3] == [
        "Select a model to load",
        "gemma  ·  Q4_K_M  ·  1.1 GB",
        "qwen  ·  Q4_K_M  ·  1.1 GB",
    ]
    assert items[4:] == ["Qwen2.5-72B-Instruct  ·  on gpu-box.lan", "<b>bold</b>  ·  on gpu-box.lan"]
    tip = header.picker.itemData(4, Qt.ItemDataRole.ToolTipRole)
    assert "your messages leave this computer" in tip and "gpu-box.lan" in tip

    chosen: list[object] = []
    header.remote_chosen.connect(chosen.append)
    header.model_chosen.connect(chosen.append)
    header.picker.activated.emit(5)
    assert chosen == [REMOTES[1]]
    header.show_remote(REMOTES[1])
    assert header.picker.currentIndex() == 5
    assert header.badge_texts() == ["runs on gpu-box.lan", "your messages leave this computer"]
    qtbot.waitUntil(lambda: header.badges.shown_texts() == header.badge_texts())  # room at 900 px
    header.resize(640, 60)  # narrow: the privacy notice is the badge kept
    qtbot.waitUntil(lambda: header.badges.shown_texts() == ["your messages leave this computer"])
    assert "&lt;b&gt;" in header.picker.toolTip()  # escaped: the tooltip shows the tags as text
    header.grab().save(str(tmp_path / "remote-header.png"))

    header.picker.activated.emit(1)  # back to a local model
    assert chosen[-1] == gemma


def test_no_local_models_but_a_provider_still_offers_its_models(qtbot: Any) -> None:
    header = ChatHeader()
    qtbot.addWidget(header)
    header.set_models([])
    header.set_remote_models(REMOTES[:1])
    assert header.picker.itemText(0) == "Select a model to load"  # not "No models yet"
    assert header.picker.itemText(2) == "Qwen2.5-72B-Instruct  ·  on gpu-box.lan"
    header.set_remote_models([])
    assert header.picker.count() == 1 and header.picker.itemText(0).startswith("No models yet")
