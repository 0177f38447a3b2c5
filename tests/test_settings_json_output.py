"""The drawer's "JSON output" option shows the sampling setting that constrains replies to JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core.db import Database
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.presets import PresetStore
from desktop_app.ui.settings_panel import SettingsPanel


@pytest.fixture
def panel(qtbot: Any, tmp_path: Path) -> Iterator[SettingsPanel]:
    host = QWidget()
    host.resize(320, 1200)
    widget = SettingsPanel(PresetStore(Database(tmp_path / "presets.db")), host)
    widget.setGeometry(0, 0, 320, 1200)
    widget.set_model("gemma", trained_context=32768, loaded=LoadSettings(), sampling=SamplingSettings())
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    yield widget


def test_the_json_output_box_shows_the_conversations_setting(panel: SettingsPanel) -> None:
    box = panel.sampling_section.json_output
    assert box.isVisible() and box.text() == "JSON output"
    assert not box.isChecked()
    panel.set_sampling(SamplingSettings(json_output=True))
    assert box.isChecked()
    panel.set_sampling(SamplingSettings())
    assert not box.isChecked()
    field = panel.fields["json_output"]
    assert "JSON object" in field.control.toolTip()
    assert box.accessibleName() == "JSON output"


def test_ticking_json_output_changes_the_sampling(panel: SettingsPanel, qtbot: Any) -> None:
    with qtbot.waitSignal(panel.sampling_changed) as signal:
        panel.sampling_section.json_output.setChecked(True)
    (sampling,) = signal.args
    assert isinstance(sampling, SamplingSettings) and sampling.json_output
