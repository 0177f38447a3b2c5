"""The Batch page offscreen, with the real inference thread and the real Gemma model: preview, run,
pause, continue, cancel, resume after a restart, and export."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths
from desktop_app.core.services import AppServices
from desktop_app.ui.batch_page import BatchPage
from desktop_app.ui.theme import apply_theme
from desktop_app.workers.inference import InferenceController
from tests.fake_engine import ScriptedEngine
from tests.layout_check import layout_problems

# a shown top-level window with a minimum size makes the offscreen platform warn ("propagateSizeHints")
pytestmark = pytest.mark.qt_log_ignore(r"^This plugin does not support ")

PROMPTS = ["The capital of France is", "One, two, three,", "Water boils at", "The sky is"]


@pytest.fixture
def services() -> Iterator[AppServices]:
    opened = AppServices.open()
    yield opened
    opened.close()


@pytest.fixture
def controller(qtbot: Any) -> Iterator[InferenceController]:
    ctl = InferenceController()
    yield ctl
    assert ctl.shutdown(), "the inference thread did not stop"
    qtbot.wait(10)


@pytest.fixture
def loaded(qtbot: Any, controller: InferenceController, gemma_path: Path) -> InferenceController:
    with qtbot.waitSignal(controller.loaded, timeout=120_000) as blocker:
        controller.load(gemma_path)
    assert isinstance(blocker.args[0], LoadedModel)
    return controller


def make_page(qtbot: Any, services: AppServices, controller: InferenceController) -> BatchPage:
    page = BatchPage(services, controller)
    qtbot.addWidget(page)
    page.resize(900, 760)
    page.show()
    return page


def rows_file(path: Path, n: int) -> Path:
    path.write_text(
        "".join(json.dumps({"id": f"r{i}", "prompt": PROMPTS[i % len(PROMPTS)]}) + "\n" for i in range(n)),
        encoding="utf-8",
    )
    return path


def open_files(qtbot: Any, page: BatchPage, source: Path, output: Path | None = None) -> None:
    page.set_input(source, output)
    qtbot.waitUntil(lambda: page.state == "ready", timeout=10_000)


def output_ids(path: Path) -> Counter[object]:
    return Counter(json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines())


def test_preview_fills_the_template_from_the_first_row_as_plain_text(
    qtbot: Any, services: AppServices, controller: InferenceController, tmp_path: Path
) -> None:
    source = tmp_path / "cities.csv"
    source.write_text('city,country\n<b>Paris</b>,"France"\nOslo,Norway\n', encoding="utf-8")
    page = make_page(qtbot, services, controller)
    assert page.empty.isVisible() and not page.table.isVisible()
    open_files(qtbot, page, source)
    assert page.output_path == tmp_path / "cities.results.jsonl"
    assert "2 rows" in page.columns_label.text() and "city, country" in page.columns_label.text()
    assert "no 'prompt' column" in page.preview.text() or "prompt" in page.preview.text()

    page.template.setPlainText("{city} is in {country}.")
    assert page.preview.text() == "<b>Paris</b> is in France."
    assert page.preview.textFormat() == Qt.TextFormat.PlainText  # the file's markup is shown, not rendered
    page.template.setPlainText("{city} is in {continent}.")
    assert page.preview.text() == "row 1 has no column 'continent'"
    assert page.preview.property("role") == "error"
    page.template.setPlainText("{city")
    assert "without its" in page.preview.text()
    assert not page.run_button.isEnabled()  # no model loaded
    assert "Load a model" in page.status.text()
    page.grab().save(str(tmp_path / "batch_page_preview.png"))


@pytest.mark.gemma
@pytest.mark.slow
def test_run_then_resume_after_a_restart(
    qtbot: Any, services: AppServices, loaded: InferenceController, tmp_path: Path
) -> None:
    source = rows_file(tmp_path / "rows.jsonl", 4)
    output = tmp_path / "out.jsonl"
    page = make_page(qtbot, services, loaded)
    open_files(qtbot, page, source, output)
    assert page.run_button.isEnabled() and page.run_button.text() == "Run"
    page.max_tokens.setValue(6)
    page.temperature.setValue(0.0)
    page.parallel.setValue(2)
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.state == "ready" and page.results.rowCount() == 4, timeout=300_000)
    assert page.status.text().startswith("Done")
    assert output_ids(output) == Counter({"r0": 1, "r1": 1, "r2": 1, "r3": 1})
    assert not page.run_button.isEnabled()  # all done
    assert page.export_csv.isEnabled()
    page.grab().save(str(tmp_path / "batch_page_done.png"))

    # a restart after a crash that kept two rows: the output is the truth
    lines = output.read_text(encoding="utf-8").splitlines(keepends=True)
    output.write_text("".join(lines[:2]) + lines[2][:10], encoding="utf-8")  # and a torn third line
    again = make_page(qtbot, services, loaded)
    open_files(qtbot, again, source, output)
    assert again.run_button.text() == "Resume (2 of 4 done)"
    assert again.results.rowCount() == 2
    again.max_tokens.setValue(6)
    qtbot.mouseClick(again.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: again.state == "ready" and again.results.rowCount() == 4, timeout=300_000)
    assert output_ids(output) == Counter({"r0": 1, "r1": 1, "r2": 1, "r3": 1})


@pytest.mark.gemma
@pytest.mark.slow
def test_pause_continue_and_cancel(
    qtbot: Any, services: AppServices, loaded: InferenceController, tmp_path: Path
) -> None:
    source = rows_file(tmp_path / "rows.jsonl", 12)
    output = tmp_path / "out.jsonl"
    page = make_page(qtbot, services, loaded)
    open_files(qtbot, page, source, output)
    page.max_tokens.setValue(24)
    page.parallel.setValue(2)
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.results.rowCount() >= 1, timeout=300_000)
    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.state == "paused", timeout=60_000)
    assert page.pause_button.text() == "Continue" and page.cancel_button.isEnabled()
    written = sum(output_ids(output).values())
    qtbot.wait(500)
    assert sum(output_ids(output).values()) == written  # nothing runs while paused
    page.grab().save(str(tmp_path / "batch_page_paused.png"))

    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.results.rowCount() > written, timeout=300_000)
    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.state == "ready", timeout=60_000)
    assert page.status.text().startswith("Cancelled")
    ids = output_ids(output)
    assert max(ids.values()) == 1 and 0 < sum(ids.values()) < 12
    assert page.run_button.text() == f"Resume ({sum(ids.values())} of 12 done)"


@pytest.mark.gemma
@pytest.mark.slow
def test_export_csv_and_jsonl(
    qtbot: Any, services: AppServices, loaded: InferenceController, tmp_path: Path
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text(json.dumps({"id": "=cmd", "prompt": "The sky is"}) + "\n", encoding="utf-8")
    page = make_page(qtbot, services, loaded)
    open_files(qtbot, page, source, tmp_path / "out.jsonl")
    page.max_tokens.setValue(4)
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.state == "ready" and page.results.rowCount() == 1, timeout=300_000)
    page.export_to(tmp_path / "export.csv")
    qtbot.waitUntil(lambda: "Exported 1 rows" in page.status.text(), timeout=10_000)
    with (tmp_path / "export.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["id", "prompt", "text", "completion_tokens", "stop_reason", "error"]
    assert table[1][0] == "'=cmd"  # a spreadsheet must not run model or file text as a formula
    page.export_to(tmp_path / "export.jsonl")
    qtbot.waitUntil(lambda: "Exported 1 rows to export.jsonl" in page.status.text(), timeout=10_000)
    assert json.loads((tmp_path / "export.jsonl").read_text(encoding="utf-8"))["id"] == "=cmd"


@pytest.mark.gemma
@pytest.mark.slow
def test_a_chat_turn_goes_before_the_rest_of_the_batch(
    qtbot: Any, services: AppServices, loaded: InferenceController, tmp_path: Path
) -> None:
    source = rows_file(tmp_path / "rows.jsonl", 8)
    output = tmp_path / "out.jsonl"
    page = make_page(qtbot, services, loaded)
    open_files(qtbot, page, source, output)
    page.max_tokens.setValue(16)
    page.parallel.setValue(2)
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.results.rowCount() >= 1, timeout=300_000)
    batch = page.controller
    assert batch is not None
    with qtbot.waitSignal(loaded.finished, timeout=120_000) as chat:
        loaded.generate([{"role": "user", "content": "Hello"}], SamplingSettings(max_tokens=4))
    assert isinstance(chat.args[1], GenerationStats)
    assert page.busy and page.results.rowCount() < 8  # the chat did not wait for the batch to end
    qtbot.waitUntil(lambda: page.state == "ready", timeout=300_000)
    assert batch.yields >= 1
    assert output_ids(output) == Counter({f"r{i}": 1 for i in range(8)})


def settle(qtbot: Any) -> None:
    """Let the layout settle: a page just shown or resized lays out over a few event-loop turns."""
    for _ in range(3):
        QApplication.sendPostedEvents()
        qtbot.wait(20)


def arrangement(page: BatchPage) -> str:
    """How the run settings are laid out now (a call, so a check after a resize reads it afresh)."""
    return page.settings.arrangement or ""


@pytest.mark.parametrize("text_size", [None, 14.0], ids=["default-text", "larger-text"])
def test_the_page_fits_the_minimum_window_without_cutting_anything(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, text_size: float | None
) -> None:
    """In the real window at its minimum size (820x540) the rows wrap instead of running off the
    right edge; at a large size the run settings share one row."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.font().pointSizeF()
    if text_size is not None:
        apply_theme(app, text_size)
    monkeypatch.setattr(starter, "is_available", lambda: False)
    window = build_window(app_paths().ensure(), engine=ScriptedEngine())
    qtbot.addWidget(window)
    try:
        window.show()
        window.resize(820, 540)
        assert (window.width(), window.height()) == (820, 540)
        window.show_page(window.batch_index)
        page = window.batch
        settle(qtbot)
        problems = layout_problems(page)
        assert problems == [], "\n".join(problems)
        assert arrangement(page) != "row"  # too narrow for one long row
        window.resize(1400, 900)
        settle(qtbot)
        assert arrangement(page) == "row" and page.controls.side_by_side
        assert layout_problems(page) == []
    finally:
        window.close()
        apply_theme(app, before)
