"""The Server page: the switch starts and stops a real server, the key is shown, activity is listed."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core import starter
from desktop_app.core.api_key import key_file
from desktop_app.core.generation import LoadSettings
from desktop_app.core.paths import app_paths
from desktop_app.core.server_config import load_prefs
from desktop_app.ui.server_page import ServerPage
from desktop_app.workers.inference import InferenceController
from tests.server_http import request


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def controller(qtbot) -> Iterator[InferenceController]:
    ctl = InferenceController()
    yield ctl
    assert ctl.shutdown()
    qtbot.wait(10)


@pytest.fixture
def page(qtbot, controller: InferenceController) -> Iterator[ServerPage]:
    # Hosted in a plain window without a layout, as the main window's page stack hosts it: a top-level
    # window whose layout sets a minimum size makes the offscreen platform warn ("propagateSizeHints").
    host = QWidget()
    host.resize(960, 700)
    widget = ServerPage(controller, app_paths().ensure(), host)
    widget.setGeometry(0, 0, 960, 700)
    qtbot.addWidget(host)
    widget.port.setValue(_free_port())
    host.show()
    qtbot.waitExposed(host)
    yield widget
    widget.shutdown()
    assert not widget.server.is_running()


def _turn_on(qtbot, page: ServerPage) -> int:
    with qtbot.waitSignal(page.server.started, timeout=10_000):
        page.switch.click()
    assert page.server.is_running()
    return page.port.value()


def test_the_server_is_off_at_start_and_the_key_is_shown(page: ServerPage) -> None:
    assert not page.switch.isChecked()
    assert not page.server.is_running()
    assert page.state_title.text() == "Server is off"
    stored = key_file(app_paths()).read_text().strip()
    assert page.key_field.text() == stored == page.api_key
    assert len(stored) >= 40
    assert page.url_field.text() == f"http://127.0.0.1:{page.port.value()}/v1"
    assert "No model loaded" in page.model_line.text()
    with pytest.raises(OSError):
        request(page.port.value(), "GET", "/v1/models", timeout=2)


def test_the_switch_starts_and_stops_a_real_server(qtbot, page: ServerPage) -> None:
    port = _turn_on(qtbot, page)
    assert page.state_title.text() == "Server is on"
    assert not page.port.isEnabled()
    assert request(port, "GET", "/v1/models", key=page.api_key).status == 200
    with qtbot.waitSignal(page.server.stopped, timeout=10_000):
        page.switch.click()
    assert not page.switch.isChecked()
    assert page.state_title.text() == "Server is off"
    assert page.port.isEnabled()
    with pytest.raises(OSError):
        request(port, "GET", "/v1/models", timeout=2)


def test_requests_show_up_in_the_activity_list(
    qtbot, page: ServerPage, controller: InferenceController, tiny_gguf: Callable[..., Path]
) -> None:
    with qtbot.waitSignal(controller.loaded, timeout=60_000):
        controller.load(tiny_gguf("tiny-page.gguf"), LoadSettings(n_threads=1, n_threads_batch=1))
    # off, the line says what would answer; on, that it answers (never "Serving" under "Server is off")
    assert page.model_line.text().startswith("When on, it answers with tiny-test")
    port = _turn_on(qtbot, page)
    assert page.model_line.text().startswith("Serving tiny-test")
    assert page.empty.isVisible() and not page.activity.isVisible()

    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}
    assert request(port, "POST", "/v1/chat/completions", body, key=page.api_key).status == 200
    assert request(port, "POST", "/v1/chat/completions", body, key="wrong-key-123").status == 401
    qtbot.waitUntil(lambda: len(page.activity_rows()) == 2, timeout=10_000)
    qtbot.waitUntil(lambda: "out" in page.activity_rows()[-1][2], timeout=10_000)
    refused, served = page.activity_rows()
    assert refused[1] == "POST /v1/chat/completions" and refused[4].startswith("401 ")
    assert served[1] == "POST /v1/chat/completions"
    assert served[2].endswith("5 out") or " out" in served[2]
    assert served[3].endswith("tok/s")
    assert served[4].startswith("done")
    assert page.activity.isVisible() and not page.empty.isVisible()
    page._clear_activity()
    assert page.activity_rows() == []
    with qtbot.waitSignal(page.server.stopped, timeout=10_000):
        page.switch.click()
    assert page.model_line.text().startswith("When on, it answers with tiny-test")


def test_regenerating_the_key_applies_to_the_running_server(qtbot, page: ServerPage) -> None:
    old = page.api_key
    port = _turn_on(qtbot, page)
    page.regenerate_key(confirm=False)
    assert page.api_key != old
    assert page.key_field.text() == page.api_key == key_file(app_paths()).read_text().strip()
    assert request(port, "GET", "/v1/models", key=old).status == 401
    assert request(port, "GET", "/v1/models", key=page.api_key).status == 200


def test_the_cors_allowlist_is_validated_applied_and_remembered(qtbot, page: ServerPage) -> None:
    page.cors.origin_input.setText("*")
    page.cors.add_origin()
    assert page.cors.cors_error.isVisible() and page.origins() == ()
    page.cors.origin_input.setText("http://LOCALHOST:3000/")
    page.cors.add_origin()
    assert page.origins() == ("http://localhost:3000",)
    assert not page.cors.cors_error.isVisible()
    port = _turn_on(qtbot, page)
    allowed = request(
        port, "GET", "/v1/models", key=page.api_key, headers={"Origin": "http://localhost:3000"}
    )
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    page.cors.cors_list.setCurrentRow(0)
    page.cors.remove_origin()
    denied = request(port, "GET", "/v1/models", key=page.api_key, headers={"Origin": "http://localhost:3000"})
    assert denied.status == 403 and denied.cors_headers() == {}
    assert load_prefs(app_paths()).port == page.port.value()


def test_a_busy_port_is_reported_inline(qtbot, page: ServerPage) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        page.port.setValue(squatter.getsockname()[1])
        with qtbot.waitSignal(page.server.failed, timeout=5_000):
            page.switch.click()
    assert not page.switch.isChecked()
    assert page.error.isVisible()
    assert "already in use" in page.error.text()


def test_the_main_window_has_the_server_page_and_stops_it_on_quit(qtbot, monkeypatch) -> None:
    from desktop_app.app import build_window

    monkeypatch.setattr(starter, "is_available", lambda: False)
    window = build_window(app_paths().ensure())
    qtbot.addWidget(window)
    window.show()
    try:
        assert isinstance(window.server, ServerPage)
        window.show_page(window.server_index)
        assert window.pages.currentWidget() is window.server
        window.server.port.setValue(_free_port())
        _turn_on(qtbot, window.server)
    finally:
        window.close()  # shutdown(): the server first, then the inference thread
    assert not window.server.server.is_running()
