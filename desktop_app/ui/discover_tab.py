"""Discover: first a curated list of chat models recommended for this computer (shown offline too), then
search on the Hugging Face Hub for GGUF models, a repo's quantizations with a fit badge for this
machine, and download one. Every network call runs off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import fit, hub, network
from desktop_app.core.downloads import DownloadManager
from desktop_app.core.errors import HearthError
from desktop_app.core.hub import ModelOption, RepoSummary, recommended
from desktop_app.core.library import Library
from desktop_app.core.system import available_memory_bytes
from desktop_app.core.units import human_size
from desktop_app.ui.error_dialog import describe
from desktop_app.ui.my_models_tab import configure_table
from desktop_app.ui.plain_text import set_tooltip
from desktop_app.ui.recommended_view import RecommendedView
from desktop_app.ui.table_models import OptionTableModel, SearchTableModel
from desktop_app.ui.widgets import SPACING, Card, ChevronCombo, CompactStack, CompactTable, button, label
from desktop_app.workers.tasks import run_in_background

PAGE_SIZE = 20
SORTS = (("Most downloaded", "downloads"), ("Most liked", "likes"), ("Recently updated", "recent"))
QUERY_MIN_CHARS = 12
SPLIT_MIN_LINES = 15
INFO_MAX_CHARS = 240
NARROW = 720  # below this width the tables drop their least useful columns
INTRO = "Hearth contacts the network only when you search or download."


class DiscoverTab(QWidget):
    download_started = Signal(str)

    def __init__(
        self,
        downloads: DownloadManager,
        token: Callable[[], str | None],
        save_token: Callable[[str | None], None] | None = None,
        parent: QWidget | None = None,
        *,
        library: Library | None = None,
    ) -> None:
        super().__init__(parent)
        self.downloads = downloads
        self.library = library
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
        bar.setSpacing(8)
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models on Hugging Face, e.g. “qwen 7b instruct”")
        self.query.setAccessibleName("Search models")
        self.query.returnPressed.connect(self.search)
        # the sort box gives way first, down to this many characters of the query
        self.query.setMinimumWidth(QUERY_MIN_CHARS * self.query.fontMetrics().averageCharWidth())
        self.sort = ChevronCombo(min_chars=6, fit_items=True)
        self.sort.setAccessibleName("Sort by")
        for text, key in SORTS:
            self.sort.addItem(text, key)
        self.sort.currentIndexChanged.connect(lambda _i: self.search())
        self.search_button = button("Search", "primary")
        self.search_button.clicked.connect(self.search)
        self.back_button = button(
            "\u2190 Recommended", "ghost", tooltip="Back to the models recommended for this computer"
        )
        self.back_button.clicked.connect(self.show_recommended)
        self.back_button.hide()
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
            f"Pick a recommended model below, or search the Hub. {INTRO}", "muted", wrap=True
        )
        layout.addWidget(self.message)

        self.pages = CompactStack()
        self.recommended = RecommendedView()
        self.recommended.download.connect(self._download_recommended)
        self.pages.addWidget(self.recommended)
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.results = SearchTableModel()
        self.results_view = CompactTable()
        self.results_view.setModel(self.results)
        configure_table(self.results_view)
        self.results_view.selectionModel().selectionChanged.connect(lambda *_: self._open_selected())
        left_layout.addWidget(self.results_view, 1)
        self.more = button("Load more", "ghost")
        self.more.clicked.connect(self._next_page)
        self.more.hide()
        below = QHBoxLayout()
        below.addWidget(self.back_button)
        below.addStretch(1)
        below.addWidget(self.more)
        left_layout.addLayout(below)
        split.addWidget(left)

        self.repo_card = Card()
        self.repo_title = label("", "heading", elide=True)  # a repo id: one line, its middle elided
        self.repo_info = label("", "muted", wrap=True)
        self.options = OptionTableModel()
        self.options_view = CompactTable()
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
        # the repo card's title, a few lines of its description, a few quants and Download
        split.setMinimumHeight(SPLIT_MIN_LINES * self.fontMetrics().lineSpacing())
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        self.results_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the model name's end
        self.pages.addWidget(split)
        layout.addWidget(self.pages, 1)
        self._catalog_generation = 0
        self.set_offline(network.is_offline())
        self.load_recommended()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """In a narrow window the tables keep the names and drop likes, dates and file names."""
        super().resizeEvent(event)
        narrow = event.size().width() < NARROW
        for column in (2, 3):  # likes, updated
            self.results_view.setColumnHidden(column, narrow)
        self.options_view.setColumnHidden(1, narrow)  # the file name: the quant says it

    # -- state ---------------------------------------------------------------------------------------

    def set_offline(self, offline: bool) -> None:
        for widget in (self.query, self.sort, self.search_button, self.download_button):
            widget.setEnabled(not offline)
        self.recommended.set_offline(offline)
        if offline:
            self.message.setText(
                "Offline mode is on: search and downloads are disabled, and Hearth opens no network "
                "connection. The recommended list still shows; turn Offline mode off in the sidebar to "
                "download."
            )
        elif not self.results.rowCount():
            self.message.setText(f"Pick a recommended model below, or search the Hub. {INTRO}")

    # -- recommended ---------------------------------------------------------------------------------

    def load_recommended(self) -> None:
        """Read the shipped list and work out each model's quant for this computer (off the GUI thread:
        it reads files and the memory figures)."""
        self._catalog_generation += 1
        generation = self._catalog_generation

        def work() -> tuple[list[recommended.Choice], list[recommended.Choice], int | None]:
            catalog = recommended.load_catalog()
            return (
                recommended.choose_all(catalog),
                recommended.choose_all(catalog, kind="embedding"),
                available_memory_bytes(),
            )

        def ok(result: object) -> None:
            if generation != self._catalog_generation:
                return
            assert isinstance(result, tuple)
            choices, embedding_choices, free = result
            note = f"the {human_size(free)} of memory free now" if free else "this computer's memory"
            self.recommended.set_choices(choices, note, embedding_choices)
            self.refresh_marks()

        def failed(exc: BaseException) -> None:
            if generation == self._catalog_generation:
                _, message, hint = describe(exc)
                self.recommended.show_problem(f"{message} {hint}")

        run_in_background(work, parent=self, on_success=ok, on_failure=failed)

    def show_recommended(self) -> None:
        self.pages.setCurrentIndex(0)
        self.back_button.hide()
        self._generation += 1  # a search still running no longer updates the message
        self.set_offline(network.is_offline())
        self.refresh_marks()

    def refresh_marks(self) -> None:
        """Mark the recommended models that are in the library or in the download queue."""
        owned: set[tuple[str, str]] = set()
        if self.library is not None:
            try:
                owned = {
                    (m.origin_repo, m.origin_file)
                    for m in self.library.list()
                    if m.origin_repo and m.origin_file
                }
            except HearthError:
                owned = set()
        try:
            queue = self.downloads.list()
        except HearthError:
            queue = []
        queued = {(d.repo, d.filename) for d in queue if d.state not in ("cancelled", "failed")}
        owned |= {(d.repo, d.filename) for d in queue if d.state == "done"}
        self.recommended.mark(owned, queued)

    def _download_recommended(self, choice: object) -> None:
        assert isinstance(choice, recommended.Choice)
        quant = choice.quant
        if quant is None:
            return
        if network.is_offline():
            self.message.setText(recommended_offline_text(choice.model.name))
            return
        repo, files = choice.model.repo, quant.files

        def enqueue() -> list[int]:
            return [self.downloads.enqueue(repo, name) for name in files]

        def ok(_ids: object) -> None:
            self.message.setText(
                f"Downloading {choice.model.name} {quant.quant} ({human_size(quant.size)}). "
                "See the Downloads tab."
            )
            self.refresh_marks()
            self.download_started.emit(files[0])

        self._run(enqueue, ok, f"Checking {choice.model.name} on the Hub and the free disk space…")

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
        self.pages.setCurrentIndex(1)
        self.back_button.show()
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
        info = "\n".join(parts) or "No description."
        shown = info if len(info) <= INFO_MAX_CHARS else info[: INFO_MAX_CHARS - 1].rstrip() + "…"
        self.repo_info.setText(shown)  # the card's first paragraph can be long: the rest is a hover away
        set_tooltip(self.repo_info, info if shown != info else "")
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


def recommended_offline_text(name: str) -> str:
    return f"{name} needs the network to download, and Offline mode is on. Turn it off in the sidebar."
