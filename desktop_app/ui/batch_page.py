"""The Batch page: one prompt per row of a JSONL or CSV file, answered by the model loaded in Chat.

Pick a file, write a template (`{column}` fields; a live preview fills it from the first row), set the
parallelism, then run, pause or cancel. Rows are answered on the inference thread as a Job
(workers/batch_job.py), several at a time in one context. The output file is the truth: each row is
on disk before the table shows it, and picking the same input and output again offers to resume.
Every text from the file or the model is shown as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QEvent, QModelIndex, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QSpinBox,
    QWidget,
)

from desktop_app.core.batch.export import export_results
from desktop_app.core.batch.inputs import InputFile, RowId, first_preview, read_input, row_id
from desktop_app.core.batch.plan import BatchPlan, plan_batch
from desktop_app.core.batch.results import ExistingResults, RowResult, read_results
from desktop_app.core.batch.template import parse_template
from desktop_app.core.engine import LoadedModel
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import SamplingSettings
from desktop_app.ui.batch_layout import FitRow, SettingsGrid
from desktop_app.ui.table_models import ListTableModel
from desktop_app.ui.theme import set_role
from desktop_app.ui.widgets import SPACING, Card, CompactTable, button, label, page_layout
from desktop_app.workers.batch_job import BatchController, ProgressInfo
from desktop_app.workers.tasks import run_in_background

if TYPE_CHECKING:
    from desktop_app.core.services import AppServices
    from desktop_app.workers.inference import InferenceController

State = Literal["empty", "ready", "planning", "running", "pausing", "paused", "stopping"]
CELL_CHARS = 300  # a table cell shows this much of a text, on one line
TOOLTIP_CHARS = 2000
PREVIEW_CHARS = 2000
DEFAULT_PARALLEL = 4
DEFAULT_MAX_TOKENS = 512
TABLE_MIN_HEIGHT = 180
TEMPLATE_LINES = 3
TEMPLATE_PADDING = 14  # the theme's padding and border, above and below
EMPTY_NO_FILE = (
    "No results yet. Choose a file: JSONL rows with “id” and “prompt”, or any JSONL or CSV columns "
    "filled into a template such as “Summarize: {text}”."
)
EMPTY_WITH_FILE = "No results yet. Run the batch: each answer appears here as it finishes."
ENDINGS = {"eos": "done", "stop_string": "done", "max_tokens": "length", "context_full": "context full"}
FILE_FILTER = "Rows (*.jsonl *.csv *.tsv);;All files (*)"


def one_line(text: str | None, limit: int = CELL_CHARS) -> str:
    """A cell's text: the start of `text` on one line."""
    if not text:
        return ""
    flat = " ".join(text[: limit * 2].split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ResultsModel(ListTableModel[RowResult]):
    """The results, in the order they were written (a thin adapter: no I/O in data())."""

    columns = (
        ("Id", lambda r: str(r.id)),
        ("Prompt", lambda r: one_line(r.prompt)),
        ("Answer", lambda r: one_line(r.error) if r.error else one_line(r.text)),
        ("Tokens", lambda r: r.completion_tokens),
        ("Ended", lambda r: ENDINGS.get(r.stop_reason, r.stop_reason)),
    )

    def append(self, result: RowResult) -> None:
        row = self.rowCount()
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(result)
        self.endInsertRows()

    def tooltip(self, item: RowResult) -> str | None:
        text = item.error or item.text
        return text[:TOOLTIP_CHARS] if text else None  # escaped by the base class


@dataclass(frozen=True)
class _Opened:
    """What reading the input and the output found (on a pool thread)."""

    source: InputFile
    existing: ExistingResults
    ids: list[RowId]

    @property
    def done(self) -> int:
        done = self.existing.done_ids
        return sum(1 for rid in self.ids if rid in done)


def _open_files(input_path: Path, output_path: Path) -> _Opened:
    source = read_input(input_path)
    existing = read_results(output_path)
    return _Opened(source, existing, [row_id(record)[0] for record in source.records])


class BatchPage(QWidget):
    def __init__(
        self, services: AppServices, worker: InferenceController, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.inference = worker
        self.input_path: Path | None = None
        self.output_path: Path | None = None
        self.opened: _Opened | None = None
        self.controller: BatchController | None = None
        self.state: State = "empty"
        self.results = ResultsModel()
        self._keep_status = False

        self.scroll_area, layout = page_layout(self)
        layout.addWidget(label("Batch", "title"))
        layout.addWidget(
            label(
                "Answer one prompt per row of a JSONL or CSV file with the model loaded in Chat. Each "
                "answer is saved as it finishes, so a stopped run carries on where it left off.",
                "muted",
                wrap=True,
            )
        )
        layout.addWidget(self._build_setup())
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_results_header())
        self.table = CompactTable()
        self.table.setModel(self.results)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # prompt and answer share the
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # room the short columns leave
        self.table.setMinimumHeight(TABLE_MIN_HEIGHT)
        layout.addWidget(self.table, 1)
        self._fit_to_text_size()
        self.empty = label(EMPTY_NO_FILE, "muted", wrap=True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMinimumHeight(TABLE_MIN_HEIGHT // 2)
        layout.addWidget(self.empty, 1)

        worker.loaded.connect(lambda _m: self._show_model())
        worker.unloaded.connect(self._show_model)
        self._show_model()
        self._show_state()
        self._update_preview()

    # -- layout ------------------------------------------------------------------------------------

    def _build_setup(self) -> Card:
        card = Card()
        grid = QGridLayout()
        grid.setHorizontalSpacing(SPACING)
        grid.setVerticalSpacing(8)
        grid.setColumnStretch(1, 1)
        grid.addWidget(label("Input", "section"), 0, 0)
        self.input_label = label("No file chosen", "muted", elide=True)
        grid.addWidget(self.input_label, 0, 1)
        self.choose_input = button("Choose file…", "primary")
        self.choose_input.clicked.connect(self._pick_input)
        grid.addWidget(self.choose_input, 0, 2)
        grid.addWidget(label("Output", "section"), 1, 0)
        self.output_label = label("—", "muted", elide=True)
        grid.addWidget(self.output_label, 1, 1)
        self.choose_output = button("Change…", tooltip="Where the results are written (JSONL)")
        self.choose_output.clicked.connect(self._pick_output)
        grid.addWidget(self.choose_output, 1, 2)
        card.body.addLayout(grid)

        card.body.addSpacing(6)
        card.body.addWidget(label("Template", "section"))
        self.template = QPlainTextEdit()
        self.template.setPlaceholderText(
            "Empty: each row's “prompt”. Or write a prompt with {column} fields, e.g. "
            "Translate into French: {text}   ({{ and }} are literal braces)"
        )
        self.template.setAccessibleName("Template")
        self.template.setTabChangesFocus(True)
        self._fit_to_text_size()
        self.template.textChanged.connect(self._update_preview)
        card.body.addWidget(self.template)
        self.columns_label = label("", "muted", wrap=True)
        self.columns_label.hide()  # until a file is read
        card.body.addWidget(self.columns_label)
        card.body.addSpacing(6)
        card.body.addWidget(label("Preview of the first row", "section"))
        self.preview = label("", wrap=True)
        self.preview.setObjectName("Notice")
        self.preview.setFrameShape(QFrame.Shape.NoFrame)
        self.preview.setContentsMargins(10, 8, 10, 8)
        self.preview.setStyleSheet("QLabel#Notice { border-radius: 10px; }")
        card.body.addWidget(self.preview)

        card.body.addSpacing(6)
        card.body.addWidget(label("System prompt", "section"))
        self.system = QLineEdit()
        self.system.setPlaceholderText("Optional, the same for every row")
        self.system.setAccessibleName("System prompt")
        card.body.addWidget(self.system)

        self.model_label = label("", elide=True)
        self.parallel = QSpinBox()
        self.parallel.setRange(1, 16)
        self.parallel.setValue(DEFAULT_PARALLEL)
        self.parallel.setAccessibleName("Rows answered together")
        self.parallel.setToolTip(
            "Rows answered together in one context (fewer if memory is short). At temperature 0 a row's "
            "text can differ slightly from a one-at-a-time run here; `hearth batch` on the command line "
            "gives the same text at any number."
        )
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setValue(DEFAULT_MAX_TOKENS)
        self.max_tokens.setAccessibleName("Longest answer per row, in tokens")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(SamplingSettings.temperature)
        self.temperature.setAccessibleName("Temperature")
        self.settings = SettingsGrid(
            label("Model", "section"),
            self.model_label,
            [
                (label("Parallel", "section"), self.parallel),
                (label("Max tokens", "section"), self.max_tokens),
                (label("Temperature", "section"), self.temperature),
            ],
        )
        card.body.addSpacing(6)
        card.body.addWidget(self.settings)
        self.setup_card = card
        return card

    def _build_controls(self) -> FitRow:
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(SPACING)
        self.run_button = button("Run", "primary")
        self.run_button.clicked.connect(self._run_clicked)
        row.addWidget(self.run_button)
        self.pause_button = button("Pause")
        self.pause_button.clicked.connect(self._pause_clicked)
        row.addWidget(self.pause_button)
        self.cancel_button = button("Cancel", "danger")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        progress = QWidget()
        row = QHBoxLayout(progress)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(SPACING)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Batch progress")
        row.addWidget(self.progress, 1)
        self.status = label("", "muted", elide=True)
        self.status.setMinimumWidth(120)
        row.addWidget(self.status, 3)
        self.controls = FitRow([(buttons, 0), (progress, 1)])
        return self.controls

    def _build_results_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(label("Results", "heading"))
        row.addStretch(1)
        self.export_csv = button("Export CSV…", "ghost")
        self.export_csv.clicked.connect(lambda: self._export(".csv"))
        row.addWidget(self.export_csv)
        self.export_jsonl = button("Export JSONL…", "ghost")
        self.export_jsonl.clicked.connect(lambda: self._export(".jsonl"))
        row.addWidget(self.export_jsonl)
        return row

    def _fit_to_text_size(self) -> None:
        """Three lines of the template, and table columns wide enough for their headings, at the
        current text size (fixed pixel sizes cut them at a large text size)."""
        lines = self.fontMetrics().lineSpacing() * TEMPLATE_LINES  # the page's font is the template's
        margin = 2 * int(self.template.document().documentMargin())
        self.template.setFixedHeight(lines + margin + TEMPLATE_PADDING)
        if hasattr(self, "table"):  # the short columns fit their headings at this text size
            header = self.table.horizontalHeader()
            for column, heading in ((0, "r-000"), (3, "Tokens"), (4, "Ended")):
                header.resizeSection(column, self.fontMetrics().horizontalAdvance(heading) + 28)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # the text size changed
            self._fit_to_text_size()

    # -- choosing files ------------------------------------------------------------------------------

    def _pick_input(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Choose the rows to answer", "", FILE_FILTER)
        if chosen:
            self.set_input(Path(chosen))

    def _pick_output(self) -> None:
        start = str(self.output_path) if self.output_path else ""
        chosen, _ = QFileDialog.getSaveFileName(
            self,
            "Write the results to",
            start,
            "JSON Lines (*.jsonl)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if chosen:
            self.set_output(Path(chosen))

    def set_input(self, path: Path, output: Path | None = None) -> None:
        """Use the rows in `path`; results go to `output` (default: beside it, NAME.results.jsonl)."""
        self.input_path = path
        self.input_label.setText(str(path))
        self.set_output(output or path.with_name(path.stem + ".results.jsonl"))

    def set_output(self, path: Path) -> None:
        self.output_path = path
        self.output_label.setText(str(path))
        self.reload()

    def reload(self) -> None:
        """Read the input and the output again (on a pool thread): the preview, and how much is done."""
        if self.input_path is None or self.output_path is None or self.busy:
            return
        paths = (self.input_path, self.output_path)
        self._set_state("planning")
        run_in_background(
            lambda: _open_files(*paths),
            parent=self,
            on_success=lambda opened: self._opened(paths, opened),
            on_failure=self._open_failed,
        )

    def _opened(self, paths: tuple[Path, Path], opened: _Opened) -> None:
        if paths != (self.input_path, self.output_path):
            return  # another file was chosen meanwhile
        self.opened = opened
        self.results.set_items(opened.existing.results)
        columns = ", ".join(opened.source.columns[:30])
        self.columns_label.setText(
            f"{len(opened.ids):,} rows" + (f" · columns: {columns}" if columns else "")
        )
        self.columns_label.show()
        self._set_state("ready")
        if self._keep_status:
            self._keep_status = False  # how the run ended stays on show
        else:
            self._say(self._ready_text())
        self._update_preview()

    def _open_failed(self, exc: BaseException) -> None:
        self.opened = None
        self.results.set_items([])
        self.columns_label.setText("")
        self.columns_label.hide()
        self._set_state("empty")
        self._say(str(exc), error=True)

    # -- preview -------------------------------------------------------------------------------------

    @Slot()
    def _update_preview(self) -> None:
        if self.opened is None:
            self._show_preview("Choose a file to see its first row's prompt here.", role="muted")
            return
        text = self.template.toPlainText()
        try:
            template = parse_template(text) if text.strip() else None
        except HearthError as exc:
            self._show_preview(str(exc), role="error")
            return
        rows = first_preview(self.opened.source, template)
        if not rows:
            self._show_preview("The file has no rows.", role="error")
        elif rows[0].prompt is None:
            self._show_preview(rows[0].error or "", role="error")
        else:
            prompt = rows[0].prompt
            shown = prompt if len(prompt) <= PREVIEW_CHARS else prompt[:PREVIEW_CHARS] + "…"
            self._show_preview(shown, role="")

    def _show_preview(self, text: str, *, role: str) -> None:
        self.preview.setText(text)
        set_role(self.preview, role)

    # -- running -------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.state in {"planning", "running", "pausing", "paused", "stopping"}

    def _sampling(self) -> SamplingSettings:
        return SamplingSettings(
            temperature=round(self.temperature.value(), 2), max_tokens=self.max_tokens.value()
        )

    @Slot()
    def _run_clicked(self) -> None:
        if self.input_path is None or self.output_path is None or self.inference.loaded_model is None:
            return
        paths = (self.input_path, self.output_path)
        template = self.template.toPlainText()
        self._set_state("planning")
        run_in_background(
            lambda: plan_batch(paths[0], paths[1], template if template.strip() else None),
            parent=self,
            on_success=lambda plan: self._start(paths[1], plan),
            on_failure=self._plan_failed,
        )

    def _plan_failed(self, exc: BaseException) -> None:
        self._set_state("ready" if self.opened is not None else "empty")
        self._say(str(exc), error=True)

    def _start(self, output: Path, plan: BatchPlan) -> None:
        if not plan.todo:
            self._set_state("ready")
            self._say(f"All {len(plan.rows):,} rows are done.")
            return
        self.results.set_items(plan.existing.results)
        controller = BatchController(
            self.inference, plan, output, self._sampling(),
            system=self.system.text().strip() or None, n_parallel=self.parallel.value(), parent=self,
        )  # fmt: skip
        controller.signals.row_done.connect(self._row_done)
        controller.signals.progress.connect(self._progress)
        controller.signals.ended.connect(self._ended)
        self.controller = controller
        self.progress.setRange(0, len(plan.rows))
        self.progress.setValue(plan.done)
        self._set_state("running")
        self._say(f"Answering {len(plan.todo):,} rows, {self.parallel.value()} at a time…")
        controller.start()

    @Slot()
    def _pause_clicked(self) -> None:
        if self.controller is None:
            return
        if self.state == "running":
            self._set_state("pausing")
            self.controller.pause()
        elif self.state == "paused":
            self._set_state("running")
            self.controller.resume()

    @Slot()
    def _cancel_clicked(self) -> None:
        if self.controller is None or self.state not in {"running", "pausing", "paused"}:
            return
        was_paused = self.state == "paused"
        self._set_state("stopping")
        self.controller.cancel(paused=was_paused)

    @Slot(object, object)
    def _row_done(self, _row: object, result: object) -> None:
        if isinstance(result, RowResult):
            self.results.append(result)

    @Slot(object)
    def _progress(self, info: object) -> None:
        if not isinstance(info, ProgressInfo):
            return
        self.progress.setRange(0, max(1, info.total))
        self.progress.setValue(info.finished)
        if self.state == "running":
            self._say(info.line)

    @Slot(str, object)
    def _ended(self, ending: str, error: object) -> None:
        if ending == "paused":
            self._set_state("paused")
            self._say(f"Paused: {self.progress.value():,} of {self.progress.maximum():,} rows done.")
            return
        self.controller = None
        self._set_state("ready")
        if ending == "failed":
            self._say(str(error) if isinstance(error, BaseException) else "The batch failed.", error=True)
        elif ending == "cancelled":
            self._say(f"Cancelled: {self.progress.value():,} of {self.progress.maximum():,} rows are saved.")
        else:
            self._say(f"Done: {self.progress.value():,} rows.")
        self._keep_status = True
        self.reload()  # the output is the truth: offer to resume from what is on disk

    # -- export ----------------------------------------------------------------------------------------

    def _export(self, suffix: str) -> None:
        base = self.output_path.with_suffix(suffix) if self.output_path else Path("results" + suffix)
        if suffix == ".jsonl":
            base = base.with_name(base.stem + ".export.jsonl")
        kind = "CSV (*.csv)" if suffix == ".csv" else "JSON Lines (*.jsonl)"
        chosen, _ = QFileDialog.getSaveFileName(self, "Export the results", str(base), kind)
        if chosen:
            self.export_to(Path(chosen))

    def export_to(self, path: Path) -> None:
        """Write the results shown (on a pool thread); .csv or JSONL by the name."""
        items = self.results.items()
        run_in_background(
            lambda: export_results(items, path),
            parent=self,
            on_success=lambda count: self._say(f"Exported {count:,} rows to {path.name}."),
            on_failure=lambda exc: self._say(str(exc), error=True),
        )

    # -- showing state --------------------------------------------------------------------------------

    def _show_model(self) -> None:
        model: LoadedModel | None = self.inference.loaded_model
        if model is None:
            self.model_label.setText("No model loaded: load one in Chat")
            set_role(self.model_label, "muted")
        else:
            self.model_label.setText(model.summary.name or "the loaded model")
            set_role(self.model_label, "")
        self._show_state()

    def _set_state(self, state: State) -> None:
        self.state = state
        self._show_state()

    def _show_state(self) -> None:
        state = self.state
        loaded = self.inference.loaded_model is not None
        idle = state in {"empty", "ready"}
        self.setup_card.setEnabled(idle)
        self.run_button.setEnabled(state == "ready" and loaded and self._todo() > 0)
        self.run_button.setText(self._run_text())
        self.pause_button.setEnabled(state in {"running", "paused"})
        self.pause_button.setText("Continue" if state == "paused" else "Pause")
        self.cancel_button.setEnabled(state in {"running", "pausing", "paused"})
        has_results = self.results.rowCount() > 0
        self.export_csv.setEnabled(has_results and not self.busy)
        self.export_jsonl.setEnabled(has_results and not self.busy)
        self.table.setVisible(has_results or state in {"running", "pausing", "paused", "stopping"})
        self.empty.setVisible(not self.table.isVisibleTo(self))
        self.empty.setText(EMPTY_WITH_FILE if self.opened is not None else EMPTY_NO_FILE)

    def _todo(self) -> int:
        return len(self.opened.ids) - self.opened.done if self.opened is not None else 0

    def _run_text(self) -> str:
        opened = self.opened
        if self.state in {"running", "pausing", "paused", "stopping"} or opened is None:
            return "Run"
        if 0 < opened.done < len(opened.ids):
            return f"Resume ({opened.done:,} of {len(opened.ids):,} done)"
        return "Run"

    def _ready_text(self) -> str:
        opened = self.opened
        assert opened is not None
        if opened.done and opened.done == len(opened.ids):
            return f"All {len(opened.ids):,} rows are done."
        if self.inference.loaded_model is None:
            return "Load a model in Chat to run this batch."
        return f"{self._todo():,} rows to answer."

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        set_role(self.status, "error" if error else "muted")
