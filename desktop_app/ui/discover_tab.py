"""Discover: search the Hugging Face Hub for GGUF models, see a repo's quantizations with a fit badge
for this machine, and download one. Every network call runs off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import fit, hub, network
from desktop_app.core.downloads import DownloadManager
from desktop_app.core.errors import HearthError
from desktop_app.core.hub import ModelOption, RepoSummary
from desktop_app.core.units import human_size
from desktop_app.ui.error_dialog import describe
from desktop_app.ui.my_models_tab import configure_table
from desktop_app.ui.table_models import OptionTableModel, SearchTableModel
from desktop_app.ui.widgets import SPACING, Card, button, label
from desktop_app.workers.tasks import run_in_background

PAGE_SIZE = 20
SORTS = (("Most downloaded", "downloads"), ("Most liked", "likes"), ("Recently updated", "recent"))


class DiscoverTab(QWidget):
    download_started = Signal(str)

    def __init__(
        self,
        downloads: DownloadManager,
        token: Callable[[], str | None],
        save_token: Callable[[str | None], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.downloads = downloads
        self._token = token
        self._save_token = save_token
        self._page = 0
        self._query = ""
        self._repo: RepoSummary | None = None
        self._generation = 0  # answers to superseded requests are dropped
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, SPACING, 0, 0)
        layout.setSpacing(SPACING)

        bar = QHBoxLayout()
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models on Hugging Face, e.g. “qwen 7b instruct”")
        self.query.setAccessibleName("Search models")
        self.query.returnPressed.connect(self.search)
        self.sort = QComboBox()
        for text, key in SORTS:
            self.sort.addItem(text, key)
        self.sort.currentIndexChanged.connect(lambda _i: self.search())
        self.search_button = button("Search", "primary")
        self.search_button.clicked.connect(self.search)
        bar.addWidget(self.query, 1)
        bar.addWidget(self.sort)
        bar.addWidget(self.search_button)
        self.token_button = button(
            "Token…", "ghost", tooltip="A Hugging Face access token, for gated or private models"
        )
        self.token_button.clicked.connect(self._edit_token)
        bar.addWidget(self.token_button)
        layout.addLayout(bar)
        self.message = label(
            "Search the Hub to find a model. Hearth contacts the network only when you search or download.",
            "muted",
            wrap=True,
        )
        layout.addWidget(self.message)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.results = SearchTableModel()
        self.results_view = QTableView()
        self.results_view.setModel(self.results)
        configure_table(self.results_view)
        self.results_view.selectionModel().selectionChanged.connect(lambda *_: self._open_selected())
        left_layout.addWidget(self.results_view, 1)
        self.more = button("Load more", "ghost")
        self.more.clicked.connect(self._next_page)
        self.more.hide()
        left_layout.addWidget(self.more)
        split.addWidget(left)

        self.repo_card = Card()
        self.repo_title = label("", "heading", wrap=True)
        self.repo_info = label("", "muted", wrap=True)
        self.options = OptionTableModel()
        self.options_view = QTableView()
        self.options_view.setModel(self.options)
        configure_table(self.options_view)
        options_header = self.options_view.horizontalHeader()
        options_header.setSectionResizeMode(0, options_header.ResizeMode.ResizeToContents)
        options_header.setSectionResizeMode(1, options_header.ResizeMode.Stretch)  # the file name
        self.options_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.download_button = button(
            "Download", "primary", tooltip="Download the selected file, verified against the Hub's checksum"
        )
        self.download_button.clicked.connect(self._download)
        self.repo_card.body.addWidget(self.repo_title)
        self.repo_card.body.addWidget(self.repo_info)
        self.repo_card.body.addWidget(self.options_view, 1)
        self.repo_card.body.addWidget(self.download_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.repo_card.hide()
        split.addWidget(self.repo_card)
        split.setSizes([520, 480])
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        self.results_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the model name's end
        layout.addWidget(split, 1)
        self.set_offline(network.is_offline())

    # -- state ---------------------------------------------------------------------------------------

    def set_offline(self, offline: bool) -> None:
        for widget in (self.query, self.sort, self.search_button, self.download_button):
            widget.setEnabled(not offline)
        if offline:
            self.message.setText(
                "Offline mode is on: search and downloads are disabled, and Hearth opens no network "
                "connection. Turn it off in the sidebar."
            )
        elif not self.results.rowCount():
            self.message.setText(
                "Search the Hub to find a model. "
                "Hearth contacts the network only when you search or download."
            )

    def _run(self, fn: Callable[[], Any], ok: Callable[[Any], None], busy: str) -> None:
        self._generation += 1
        generation = self._generation
        self.message.setText(busy)

        def success(result: object) -> None:
            if generation == self._generation:
                ok(result)

        def failure(exc: BaseException) -> None:
            if generation == self._generation:
                _, message, hint = describe(exc)
                self.message.setText(f"{message} {hint}")

        run_in_background(fn, parent=self, on_success=success, on_failure=failure)

    def _edit_token(self) -> None:
        text, ok = QInputDialog.getText(
            self,
            "Hugging Face token",
            "Paste an access token (huggingface.co → Settings → Access Tokens) to download gated or "
            "private models.\nIt is stored only on this computer, readable by you alone. "
            "Leave empty to remove it.",
            QLineEdit.EchoMode.Password,
            "",
        )
        if ok and self._save_token is not None:
            self._save_token(text.strip() or None)
            self.message.setText("Token saved." if text.strip() else "Token removed.")

    # -- search --------------------------------------------------------------------------------------

    def search(self) -> None:
        query = self.query.text().strip()
        self._query, self._page = query, 0
        sort = self.sort.currentData()
        token = self._token()
        self._run(
            lambda: hub.search_models(query, sort=sort, page=0, page_size=PAGE_SIZE, token=token),
            self._show_results,
            f"Searching for “{query}”…" if query else "Loading popular GGUF models…",
        )

    def _next_page(self) -> None:
        self._page += 1
        page, query, sort, token = self._page, self._query, self.sort.currentData(), self._token()
        self._run(
            lambda: hub.search_models(query, sort=sort, page=page, page_size=PAGE_SIZE, token=token),
            lambda found: self._show_results(found, append=True),
            "Loading more…",
        )

    def _show_results(self, found: object, *, append: bool = False) -> None:
        assert isinstance(found, list)
        items = (self.results.items() if append else []) + found
        self.results.set_items(items)
        self.more.setVisible(len(found) == PAGE_SIZE)
        self.message.setText(
            f"{len(items)} repositories" if items else "No GGUF models match. Try fewer words."
        )

    # -- a repository ----------------------------------------------------------------------------------

    def _open_selected(self) -> None:
        rows = self.results_view.selectionModel().selectedRows()
        repo = self.results.item(rows[0].row()) if rows else None
        if repo is None:
            return
        self._repo = repo
        self.repo_card.show()
        self.repo_title.setText(repo.id)
        self.repo_info.setText("Loading the list of files…")
        self.options.set_items([])
        token = self._token()

        def fetch() -> tuple[list[ModelOption], hub.CardSummary | None]:
            options = hub.list_model_options(repo.id, token=token)
            try:
                card = hub.card_summary(repo.id, token=token)
            except HearthError:
                card = None
            return options, card

        self._run(fetch, self._show_repo, f"Opening {repo.id}…")

    def _show_repo(self, result: object) -> None:
        assert isinstance(result, tuple)
        options: list[ModelOption] = result[0]
        card: hub.CardSummary | None = result[1]
        self.options.set_items(options)
        parts = [card.description] if card and card.description else []
        if card and card.license:
            parts.append(f"License: {card.license}")
        self.repo_info.setText("\n".join(parts) or "No description.")
        self.message.setText(f"{len(options)} quantizations. Pick one that fits and press Download.")
        if options:
            self.options_view.selectRow(next((i for i, o in enumerate(options) if o.quant == "Q4_K_M"), 0))
            self._estimate_fit(options)

    def _estimate_fit(self, options: list[ModelOption]) -> None:
        """One ranged read of one file's header gives the shape; every quant shares it, only size varies."""
        assert self._repo is not None
        repo, first, token = self._repo.id, options[0], self._token()

        def shape() -> dict[str, tuple[str, str]]:
            header = hub.read_remote_header(repo, first.files[0].path, token=token)
            base = fit.ModelShape.from_summary(header)
            vram = fit.free_vram_bytes()
            verdicts: dict[str, tuple[str, str]] = {}
            for option in options:
                sized = fit.ModelShape(**{**base.__dict__, "size_bytes": option.size})
                ctx = min(header.context_length or 4096, 4096)
                result = fit.estimate(sized, ctx, free_vram=vram)
                verdicts[option.name] = (result.verdict, result.reason + f" (at a {ctx:,}-token context)")
            return verdicts

        def ok(verdicts: object) -> None:
            assert isinstance(verdicts, dict)
            self.options.set_fit(verdicts)
            self.message.setText(
                "Fit is estimated for this computer's free memory; hover a badge for details."
            )

        self._run(shape, ok, "Reading the model's header to estimate memory…")

    def _download(self) -> None:
        rows = self.options_view.selectionModel().selectedRows()
        option = self.options.item(rows[0].row()) if rows else None
        if option is None or self._repo is None:
            return
        repo = self._repo.id
        files = [f.path for f in option.files]

        def enqueue() -> list[int]:
            return [self.downloads.enqueue(repo, name) for name in files]

        def ok(_ids: object) -> None:
            self.message.setText(
                f"Downloading {option.name} ({human_size(option.size)}). See the Downloads tab."
            )
            self.download_started.emit(option.name)

        self._run(enqueue, ok, f"Checking {option.name} and the free disk space…")
