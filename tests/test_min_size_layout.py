"""Every page works at the window's minimum size (820x540) and at a large one, at the default and a
larger text size: nothing cut, nothing overlapping (tests/layout_check.py says what that means).

The real window is laid out offscreen with a scripted engine and a loaded model, so the header shows
its badges and the status bar all its fields; the Models and Server pages are shown in the states a
user meets (the recommended list, search results with a repo open, a server with activity).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.engine import GenerationStats
from desktop_app.core.hub import ModelOption, RepoFile, RepoSummary
from desktop_app.core.paths import app_paths
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.model_settings_dialog import ModelSettingsDialog
from desktop_app.ui.theme import apply_theme
from desktop_app.ui.widgets import BadgeRow
from tests.fake_engine import ScriptedEngine
from tests.layout_check import layout_problems

MINIMUM = (820, 540)
LARGE = (1400, 900)
LARGER_TEXT = 14.0


@pytest.fixture
def text_size(request: pytest.FixtureRequest) -> Iterator[float | None]:
    """The app's text size for the test (None: the default), restored afterwards."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.font().pointSizeF()
    size: float | None = request.param
    if size is not None:
        apply_theme(app, size)
    yield size
    apply_theme(app, before)


@pytest.fixture
def window(qtbot, monkeypatch, tiny_gguf: Callable[..., Path]) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure(), engine=ScriptedEngine())
    qtbot.addWidget(win)
    win.show()
    model = win.library_store.import_file(
        tiny_gguf("a-tiny-model-with-a-rather-long-name-Q4_K_M.gguf", name="A tiny model with a long name"),
        link=True,
    )
    win.models.my_models.refresh()
    qtbot.waitUntil(lambda: win.models.my_models.model.rowCount() == 1, timeout=10_000)
    with qtbot.waitSignal(win.inference.loaded, timeout=30_000):
        win.load_model(win.library_store.get(model.id))
    qtbot.waitUntil(lambda: bool(win.chat.header.badge_texts()), timeout=5_000)
    win.status.show_stats(
        GenerationStats(
            prompt_tokens=12, cached_tokens=0, evaluated_tokens=12, completion_tokens=30, ttft_s=0.2,
            prefill_tps=190.0, generation_tps=31.5, stop_reason="eos", n_ctx=4096, context_used=42,
        )
    )  # fmt: skip
    yield win
    win.close()


def _check(qtbot, window: MainWindow, page: QWidget, what: str) -> list[str]:
    for _ in range(3):  # let the layout settle: a tab just shown lays out over a few event-loop turns
        QApplication.sendPostedEvents()
        qtbot.wait(20)
    return [f"{what}: {problem}" for problem in layout_problems(page)]


def _fill_discover(window: MainWindow) -> None:
    """Search results and an open repo, as after a search (set directly: no network in this test)."""
    discover = window.models.discover
    discover.pages.setCurrentIndex(1)
    discover.back_button.show()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    repos = [
        RepoSummary(f"someone/Model-{n}-Instruct-GGUF", "someone", 1000 * n, n, when, False, False, ("gguf",))
        for n in range(1, 6)
    ]
    discover._show_results(repos)
    discover._repo = discover.results.items()[0]
    discover.repo_card.show()
    discover.repo_title.setText("someone/Model-1-Instruct-GGUF")
    file = RepoFile("model-1-instruct-Q4_K_M.gguf", 4_000_000_000, "ab" * 32, "Q4_K_M")
    discover._show_repo(([ModelOption(file.path, "Q4_K_M", (file,), file.size)], None))
    discover._generation += 1  # the fit estimate's answer (no Hub here) is dropped
    discover.message.setText("A long message, as an error from the Hub can be, " * 4)  # it wraps


@pytest.mark.parametrize("size", [MINIMUM, LARGE], ids=["minimum", "large"])
@pytest.mark.parametrize("text_size", [None, LARGER_TEXT], ids=["default-text", "larger-text"], indirect=True)
def test_every_page_fits_without_cutting_anything(
    qtbot, window: MainWindow, size: tuple[int, int], text_size: float | None
) -> None:
    window.resize(*size)
    assert (window.width(), window.height()) == size  # the minimum is one the window accepts
    problems: list[str] = []
    window.show_page(window.chat_index)
    problems += _check(qtbot, window, window.chat.header, "chat header")
    problems += _check(qtbot, window, window.status, "status bar")
    window.chat.toggle_settings()
    problems += _check(qtbot, window, window.chat.settings_panel, "settings drawer")
    window.chat.toggle_settings()

    window.show_page(window.models_index)
    models = window.models
    qtbot.waitUntil(lambda: bool(models.discover.recommended.rows), timeout=10_000)
    for index, name in enumerate(("My models", "Discover (recommended)", "Downloads")):
        models.tabs.setCurrentIndex(index)
        problems += _check(qtbot, window, models, name)
    models.tabs.setCurrentIndex(1)
    _fill_discover(window)
    problems += _check(qtbot, window, models, "Discover, search results")

    window.show_page(window.server_index)
    server = window.server
    problems += _check(qtbot, window, server, "Server")
    server.activity.add_rejection("POST", "/v1/chat/completions", 429, "too_many_requests")
    server.activity.add_job(7, "POST /v1/chat/completions (stream)")
    server._show_activity()
    problems += _check(qtbot, window, server, "Server with activity")
    assert problems == [], "\n".join(problems)


def test_the_pages_do_not_scroll_at_the_minimum_size_with_the_default_text(qtbot, window: MainWindow) -> None:
    """At the default text size the Models page fits the minimum window whole (its actions stay in
    view); the Server page, which has more to show, scrolls rather than squeezes."""
    window.resize(*MINIMUM)
    window.show_page(window.models_index)
    for index in range(3):
        window.models.tabs.setCurrentIndex(index)
        qtbot.wait(30)
        area = window.models.scroll_area
        content = area.widget()
        assert content is not None and content.height() <= area.viewport().height(), index
    window.show_page(window.server_index)
    qtbot.wait(30)
    assert not window.server.cards.side_by_side  # narrow: the CORS card goes under the status card
    window.resize(*LARGE)
    qtbot.wait(30)
    assert window.server.cards.side_by_side


def test_the_header_hides_badges_that_do_not_fit_instead_of_cutting_them(qtbot, window: MainWindow) -> None:
    header = window.chat.header
    window.resize(*LARGE)
    qtbot.wait(30)
    wide = header.badges.shown_texts()
    assert wide == header.badge_texts()  # all of them, in a large window
    window.resize(*MINIMUM)
    qtbot.wait(30)
    narrow = header.badges.shown_texts()
    assert len(narrow) < len(wide) and set(narrow) <= set(wide)
    assert layout_problems(header) == []  # every badge shown is whole
    assert all(text in header.badges.toolTip() for text in wide)  # the hidden ones are a hover away
    picker = header.picker
    assert picker.shown_text() != picker.currentText() and picker.shown_text().endswith("…")  # elided


@pytest.mark.qt_log_ignore(r"^This plugin does not support ")  # showing a dialog offscreen
@pytest.mark.parametrize("text_size", [None, LARGER_TEXT], ids=["default-text", "larger-text"], indirect=True)
def test_the_model_settings_dialog_fits_its_minimum_size(
    qtbot, window: MainWindow, text_size: float | None
) -> None:
    dialog = ModelSettingsDialog(window.library_store.list()[0], window)
    qtbot.addWidget(dialog)
    dialog.resize(dialog.minimumSizeHint().expandedTo(dialog.minimumSize()))
    dialog.show()
    qtbot.wait(30)
    assert layout_problems(dialog) == []
    dialog.reject()


def test_a_badge_row_keeps_the_most_important_badges_that_fit(qtbot) -> None:
    host = QWidget()  # the row is placed by its parent's layout: here, by hand
    qtbot.addWidget(host)
    row = BadgeRow(host)
    row.set_badges([("first shown", "badge", 2), ("most important", "badge", 0), ("second", "badge", 1)])
    host.show()
    qtbot.wait(10)  # polished: the badge style's padding counts
    labels = {label.text(): label.sizeHint().width() for label in row.findChildren(QLabel)}
    row.resize(labels["most important"] + 6 + labels["second"] + 2, 30)
    qtbot.wait(10)
    assert row.shown_texts() == ["most important", "second"]  # in display order, without "first shown"
    row.resize(labels["most important"] - 1, 30)
    qtbot.wait(10)
    assert row.shown_texts() == ["second"] or row.shown_texts() == []  # never a cut badge
    assert row.texts() == ["first shown", "most important", "second"]


def test_the_chat_and_its_open_drawer_both_fit_the_minimum_window(qtbot, window: MainWindow) -> None:
    window.resize(*MINIMUM)
    window.show_page(window.chat_index)
    window.chat.toggle_settings()
    problems = _check(qtbot, window, window.chat, "chat page with the drawer open")
    assert problems == [], "\n".join(problems)
    drawer = window.chat.settings_panel
    assert drawer.geometry().right() <= window.chat.width()  # the drawer does not run past the edge
    window.resize(*LARGE)
    _check(qtbot, window, window.chat, "large")
    assert drawer.width() == 350  # full width when there is room


@pytest.mark.parametrize("text_size", [None, LARGER_TEXT], ids=["default-text", "larger-text"], indirect=True)
def test_the_starters_card_scrolls_instead_of_cutting_its_text_beside_the_open_drawer(
    qtbot, monkeypatch: pytest.MonkeyPatch, text_size: float | None
) -> None:
    """First run at the minimum window with the settings drawer open: the welcome card gets about
    300x280, less than its wrapped text needs, so it scrolls (at a 14 pt text size the drawer lies over
    the chat instead, and the card has the chat's width)."""
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure(), engine=ScriptedEngine())
    qtbot.addWidget(win)
    win.resize(*MINIMUM)
    win.show()
    win.chat.show_starter(starter.DISPLAY_NAME, 0.42)
    win.chat.toggle_settings()
    problems = _check(qtbot, win, win.chat.empty, "the starter's card")
    assert win.chat.empty.isVisible()
    assert problems == [], "\n".join(problems)
    win.close()


@pytest.mark.parametrize("text_size", [LARGER_TEXT], ids=["larger-text"], indirect=True)
def test_with_no_room_beside_the_chat_the_drawer_lies_over_it(
    qtbot, window: MainWindow, text_size: float | None
) -> None:
    """A large text size in the minimum window: beside the drawer the chat would be squeezed below its
    minimum (the composer's buttons cut), so the drawer lies over the chat's right edge instead, as wide
    as its rows need, and goes back beside the chat when there is room again."""
    window.resize(*MINIMUM)
    window.show_page(window.chat_index)
    window.chat.toggle_settings()
    problems = _check(qtbot, window, window.chat, "chat page with the drawer open")
    drawer = window.chat.settings_panel
    assert _overlaps(window)
    assert problems == [], "\n".join(problems)
    assert drawer.geometry().right() == window.chat.width() - 1 and drawer.autoFillBackground()
    bar = drawer.scroll_area.horizontalScrollBar()
    assert bar.maximum() == 0  # lying over the chat it takes the width its rows need
    window.resize(*LARGE)
    _check(qtbot, window, window.chat, "large")
    assert not _overlaps(window) and not drawer.autoFillBackground()
    assert window.chat.drawer_host.indexOf(drawer) >= 0 and drawer.width() == 350


def _overlaps(window: MainWindow) -> bool:
    return window.chat.drawer_overlaps
