"""The Server page's activity list: one row per API request, newest first, finished in place.

A request's row appears when the inference thread starts its job (or when the server refuses it) and
is filled in when the job ends, found again by its request id. The list keeps MAX_ACTIVITY_ROWS rows.
A job the API answered with an error status (a conversation too long for the context) ends as
"400 refused: …", as a request refused without a job shows.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from desktop_app.core.engine import GenerationStats
from desktop_app.core.errors import HearthError
from desktop_app.ui.plain_text import tooltip
from desktop_app.ui.theme import current_colors

MAX_ACTIVITY_ROWS = 500
COLUMNS = ("Time", "Request", "Tokens", "Speed", "Status")
#: why a request was refused, by the API's error code
REJECTIONS = {
    "invalid_api_key": "refused: missing or wrong key",
    "host_not_allowed": "refused: foreign Host header",
    "origin_not_allowed": "refused: web page not allowlisted",
    "request_too_large": "refused: body too large",
    "bad_content_length": "refused: bad request",
    "too_many_requests": "refused: too many requests waiting",
    "model_not_loaded": "refused: no model loaded",
    "model_not_found": "refused: model not loaded",
    "context_length_exceeded": "refused: conversation too long for the context",
    "template_error": "failed: chat template",
    "cancelled_before_start": "cancelled before it started",
}
#: when the code says nothing more, by the HTTP status
STATUS_REASONS = {
    400: "refused: invalid request",
    401: "refused: missing or wrong key",
    403: "refused: not allowed",
    404: "refused: no such endpoint",
    405: "refused: method not allowed",
    413: "refused: body too large",
    422: "refused: invalid request",
    429: "refused: too many requests",
    500: "failed: server error",
    503: "refused: not available now",
}
STOP_REASONS = {
    "eos": "done",
    "stop_string": "done",
    "max_tokens": "done (length)",
    "context_full": "done (context full)",
    "cancelled": "cancelled",
}


class ActivityTable(QTableWidget):
    """The requests the API server saw: time, request, tokens, speed and how each ended."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setAccessibleName("Server activity")
        self.verticalHeader().hide()
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.verticalHeader().setDefaultSectionSize(30)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)

    def sizeHint(self) -> QSize:
        """As tall as its minimum: in the page's scroll area it grows with the window (its stretch),
        and never makes the page scroll just to show empty rows."""
        return QSize(super().sizeHint().width(), self.minimumHeight() or super().sizeHint().height())

    def rows(self) -> list[tuple[str, ...]]:
        """The list as text, newest first (what a user reads; tests use it too)."""
        return [tuple(self._cell(r, c).text() for c in range(len(COLUMNS))) for r in range(self.rowCount())]

    def add_job(self, request_id: int, description: str) -> None:
        """A request the inference thread started on; `finish_job` fills its row in."""
        self._add_row(description, "running…", current_colors().accent, request_id)

    def add_rejection(self, method: str, path: str, status: int, code: str) -> None:
        """A request the server refused before it reached the model (any 4xx, or a 5xx it answered
        without running the model): the status and why, so a client's failures are explained here."""
        reason = _reason(status, code)
        colors = current_colors()
        self._add_row(
            f"{method} {path}", f"{status} {reason}", colors.danger if status >= 500 else colors.warning
        )

    def finish_job(self, request_id: int, result: object) -> None:
        """Fill in a job's row: its stats, its error, or None for a job that never ran."""
        row = self._row_of(request_id)
        if row is None:  # cleared, or pushed out of the list
            return
        colors = current_colors()
        status = self._cell(row, 4)
        if isinstance(result, GenerationStats):
            self._cell(row, 2).setText(f"{result.prompt_tokens} in · {result.completion_tokens} out")
            if result.completion_tokens:
                self._cell(row, 3).setText(f"{result.generation_tps:.1f} tok/s")
            status.setText(STOP_REASONS.get(result.stop_reason, result.stop_reason))
            status.setForeground(
                QColor(colors.muted if result.stop_reason == "cancelled" else colors.success)
            )
        elif isinstance(result, BaseException):
            message = result.message if isinstance(result, HearthError) else str(result)
            http_status = getattr(result, "status", None)  # the API's errors carry their answer's status
            if isinstance(http_status, int) and 400 <= http_status < 600:
                code = getattr(result, "code", None)
                status.setText(f"{http_status} {_reason(http_status, code if isinstance(code, str) else '')}")
            else:
                status.setText(f"error: {message}")
            status.setToolTip(tooltip(message))  # it may quote the request: shown literally
            refused = isinstance(http_status, int) and 400 <= http_status < 500  # the request's fault
            status.setForeground(QColor(colors.warning if refused else colors.danger))
        else:
            status.setText("cancelled")
            status.setForeground(QColor(colors.muted))

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.item(row, column)
        if item is None:
            item = QTableWidgetItem("")
            self.setItem(row, column, item)
        return item

    def _add_row(self, request: str, status: str, color: str, request_id: int = 0) -> None:
        """A new row at the top; `request_id` (0: none) lets the job's end find it again."""
        self.insertRow(0)
        for column, text in enumerate((time.strftime("%H:%M:%S"), request, "", "", status)):
            self.setItem(0, column, QTableWidgetItem(text))
        self._cell(0, 0).setData(Qt.ItemDataRole.UserRole, request_id)
        self._cell(0, 4).setForeground(QColor(color))
        while self.rowCount() > MAX_ACTIVITY_ROWS:
            self.removeRow(self.rowCount() - 1)

    def _row_of(self, request_id: int) -> int | None:
        for row in range(self.rowCount()):
            if self._cell(row, 0).data(Qt.ItemDataRole.UserRole) == request_id:
                return row
        return None


def _reason(status: int, code: str) -> str:
    """Why a request got `status`: its error code's reason, else the status's."""
    return REJECTIONS.get(code) or STATUS_REASONS.get(status) or ("failed" if status >= 500 else "refused")
