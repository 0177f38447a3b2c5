"""Screenshots of every page of the real window, for looking at the UI (and for the README).

    QT_QPA_PLATFORM=offscreen python -m tests.ui_screenshots OUT [--size 820x540 --size 1400x900]
        [--theme light --theme dark] [--text-size 14] [--model PATH]

The window runs on the scripted engine (tests/fake_engine.py) over its own HEARTH_HOME, with the
model at --model (default: the Gemma test model) linked into its library and loaded, so the header,
the drawer and the status bar show what they show with a model. One PNG per page and state:
chat, chat with the settings drawer, My models, Discover (recommended, and search results), Downloads,
Server (off, and with activity), and the model settings dialog.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_MODEL = Path.home() / ".cache" / "hearth-test" / "gemma-3-270m-q4_k_m.gguf"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", action="append", help="WIDTHxHEIGHT (repeatable)")
    parser.add_argument("--theme", action="append", choices=["light", "dark"])
    parser.add_argument("--text-size", type=float, default=0.0, help="points (default: the app's)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    sizes = [tuple(int(n) for n in s.split("x")) for s in (args.size or ["820x540", "1400x900"])]
    for theme in args.theme or ["light", "dark"]:
        _shoot(args.out, theme, [(w, h) for w, h in sizes], args.text_size, args.model)
    return 0


def _shoot(out: Path, theme: str, sizes: list[tuple[int, int]], text_size: float, model_path: Path) -> None:
    os.environ["HEARTH_THEME"] = theme
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-shots-")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtGui import QPixmap

    from desktop_app.app import build_window, create_application
    from desktop_app.core import starter
    from desktop_app.core.chat_transfer import read_chat_file
    from desktop_app.core.hub import ModelOption, RepoFile, RepoSummary
    from desktop_app.core.paths import app_paths
    from desktop_app.ui.model_settings_dialog import ModelSettingsDialog
    from desktop_app.ui.theme import apply_theme
    from tests.fake_engine import ScriptedEngine

    starter.is_available = lambda: False  # no first-run install here
    app = create_application(sys.argv[:1])
    apply_theme(app, text_size or None)
    out.mkdir(parents=True, exist_ok=True)

    def pump(ms: int = 200) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    window = build_window(app_paths().ensure(), engine=ScriptedEngine())
    model = window.library_store.import_file(model_path, link=True)
    window.show()
    pump(300)
    window.load_model(window.library_store.get(model.id))
    for _ in range(100):
        pump(50)
        if window.inference.loaded_model is not None:
            break
    example_file = Path(__file__).resolve().parents[1] / "docs" / "example-chat.json"
    example = (
        window.conversations.import_json(read_chat_file(example_file)) if example_file.is_file() else None
    )
    window.chat_list.refresh()
    for width, height in sizes:
        window.resize(width, height)
        tag = f"{width}x{height}-{theme}-{f'{text_size:g}pt' if text_size else 'default'}"

        def save(name: str, grab: Callable[[], QPixmap] = window.grab, tag: str = tag) -> None:
            pump(250)
            grab().save(str(out / f"{name}-{tag}.png"))

        window.show_page(window.chat_index)
        save("chat")
        if example is not None:  # the README's chat: Markdown, code, a table, a Thought section
            window.open_conversation(example)
            save("chat-example")
            window.new_chat()
        window.chat.toggle_settings()
        save("chat-settings")
        window.chat.toggle_settings()
        window.show_page(window.models_index)
        tabs = window.models.tabs
        for index, name in enumerate(("my-models", "discover", "downloads")):
            tabs.setCurrentIndex(index)
            save(name)
        tabs.setCurrentIndex(1)
        discover = window.models.discover
        when = datetime(2026, 1, 1, tzinfo=UTC)
        repos = [
            RepoSummary(
                f"someone/Model-{n}B-Instruct-GGUF", "someone", 9000 // n, 9 - n, when, False, False, ()
            )
            for n in range(1, 6)
        ]
        discover.pages.setCurrentIndex(1)
        discover.back_button.show()
        discover._show_results(repos)
        discover._repo = repos[0]
        discover.repo_card.show()
        discover.repo_title.setText(repos[0].id)
        file = RepoFile("model-1b-instruct-Q4_K_M.gguf", 800_000_000, "ab" * 32, "Q4_K_M")
        discover.options.set_items([ModelOption(file.path, "Q4_K_M", (file,), file.size)])
        discover.options.set_fit({file.path: ("green", "Fits")})
        discover.repo_info.setText("The first paragraph of the model's card.\nLicense: apache-2.0")
        save("discover-search")
        discover.show_recommended()
        window.show_page(window.server_index)
        server = window.server
        save("server")
        server.activity.add_rejection("POST", "/v1/chat/completions", 429, "too_many_requests")
        server.activity.add_rejection("GET", "/v1/models", 401, "invalid_api_key")
        server.activity.add_job(1, "POST /v1/chat/completions (stream)")
        server._show_activity()
        save("server-activity")
        server._clear_activity()
        dialog = ModelSettingsDialog(window.library_store.get(model.id), window)
        dialog.show()
        save("model-settings", dialog.grab)
        dialog.reject()
        dialog.deleteLater()
    window.close()
    pump(200)


if __name__ == "__main__":
    raise SystemExit(main())
