"""The settings drawer at a larger text size (issue #18): at 14 pt its rows fit the drawer's full width
without a sideways scroll bar and nothing is cut, whatever the GPU layers choice shows; GPU layers
offer All, Off or a number, as My models → Settings… does.

The real drawer is laid out offscreen at the chat page's drawer width (chat_page.DRAWER_MAX).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from desktop_app.core.db import Database
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.presets import PresetStore
from desktop_app.ui.chat_page import DRAWER_MAX
from desktop_app.ui.settings_fields import GpuLayersControl
from desktop_app.ui.settings_panel import SettingsPanel
from desktop_app.ui.theme import apply_theme
from tests.layout_check import layout_problems

LARGER_TEXT = 14.0


@pytest.fixture(params=[None, LARGER_TEXT], ids=["default-text", "larger-text"])
def panel(request: pytest.FixtureRequest, qtbot: Any, tmp_path: Path) -> Iterator[SettingsPanel]:
    """The drawer at its full width, at the default text size and at 14 pt (restored afterwards)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.font().pointSizeF()
    if request.param is not None:
        apply_theme(app, request.param)
    host = QWidget()  # no layout: a top-level layout's minimum size makes offscreen Qt warn
    host.resize(DRAWER_MAX, 900)
    drawer = SettingsPanel(PresetStore(Database(tmp_path / "presets.db")), host)
    drawer.setGeometry(0, 0, DRAWER_MAX, 900)
    drawer.set_model("gemma", trained_context=32768, loaded=LoadSettings(), sampling=SamplingSettings())
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    yield drawer
    apply_theme(app, before)


def _settle(qtbot: Any) -> None:
    for _ in range(3):
        QApplication.sendPostedEvents()
        qtbot.wait(10)


@pytest.mark.parametrize("gpu_layers", [-1, 0, 40], ids=["all", "off", "some"])
def test_the_drawer_needs_no_sideways_scroll_and_cuts_nothing(
    qtbot: Any, panel: SettingsPanel, gpu_layers: int
) -> None:
    panel.n_gpu_layers.setValue(gpu_layers)
    _settle(qtbot)
    content = panel.scroll_area.widget()
    assert content is not None
    viewport = panel.scroll_area.viewport()
    assert panel.scroll_area.horizontalScrollBar().maximum() == 0, (
        f"the drawer's rows need {content.minimumSizeHint().width()} px; it shows {viewport.width()}"
    )
    assert layout_problems(panel) == []
    threads = panel.n_threads
    threads.setValue(0)  # "Automatic": the spin box is as wide as that text, at any text size
    _settle(qtbot)
    shown = threads.fontMetrics().horizontalAdvance(threads.specialValueText())
    assert threads.lineEdit().width() >= shown
    assert content.width() <= viewport.width()


def test_gpu_layers_offer_all_off_and_a_number_and_reload_with_the_choice(
    qtbot: Any, panel: SettingsPanel
) -> None:
    control = panel.n_gpu_layers
    assert isinstance(control, GpuLayersControl)
    field = panel.fields["n_gpu_layers"]
    assert field.title.text() == "GPU layers"
    texts = [control.choice.itemText(i) for i in range(control.choice.count())]
    assert texts == ["All layers", "Off (CPU only)", "Some layers\u2026"]
    reloads: list[object] = []
    panel.reload_requested.connect(reloads.append)
    control.choice.setCurrentIndex(2)  # "Some layers…": the number appears, and is what loads
    assert control.count.isVisibleTo(panel)
    control.count.setValue(12)
    assert panel.load_settings().n_gpu_layers == 12
    control.choice.setCurrentIndex(0)
    assert panel.load_settings().n_gpu_layers == -1 and not control.count.isVisibleTo(panel)
    panel.reload_button.click()
    assert [r.n_gpu_layers for r in reloads if isinstance(r, LoadSettings)] == [-1]
    assert panel.mmap.text() == "Memory-map (mmap)"
