"""Paints chat messages for the list view: lazily, and only the rows that changed.

Each row's text lives in a QTextDocument cached by (message id, version, width). A finished message is
rendered to Markdown HTML once; a streaming one is plain text that grows by appending at the end, so a
40 ms batch costs a layout of the new text, not of the whole reply. Geometry (bubble, Thinking toggle,
action buttons) is computed with the layout and reused for painting and for hit-testing clicks.

When a reply ends, or a long message is first shown, its Markdown is rendered and laid out on a worker
(`markdown_worker.py`): the row keeps showing the plain text (the live document itself, for a reply that
just ended) until the finished document is swapped in. A short message is rendered in place, so opening
a chat does not flash plain text. A document is laid out again only when its width changes: a
QTextDocument relayouts all of its text on every `setTextWidth`, even to the same width.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPalette,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QAbstractItemView, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from desktop_app.core.documents.context import cited_sources, source_label
from desktop_app.ui.chat_model import ChatItem, ChatModel, ItemRole
from desktop_app.ui.markdown_worker import MarkdownJob, RenderedDocument, build_document, new_document
from desktop_app.ui.plain_text import SafeTextDocument
from desktop_app.ui.theme import DARK, Colors, current_colors
from desktop_app.workers.tasks import run_in_background

log = logging.getLogger(__name__)

SIDE = 28  # space left and right of the column
MAX_COLUMN = 860  # reading width: long lines are tiring
GAP = 10  # above each message
USER_PAD_X, USER_PAD_Y = 16, 10
ACTION_H = 26
ACTION_GAP = 2
LIVE_STEP = 120  # px: a streaming row's height is rounded up to this
FOOTER_FLAGS = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap)
SYNC_MARKDOWN_CHARS = 8_000  # a stored message up to this long is rendered in place (a few ms)

_STOP_NOTES = {
    "max_tokens": "stopped at the token limit",
    "cancelled": "stopped",
    "context_full": "context full",
    "stop_string": "stop string",
}
_STATE_NOTES = {
    "cancelled": "Stopped",
    "interrupted": "Cut off: Hearth was closed while writing this reply",
    "streaming": "Cut off: Hearth was closed while writing this reply",
}


#: a citation chip's key is CITE + the source's number; SOURCES opens the Sources panel
CITE, SOURCES = "cite:", "sources"
CHIP_NAME_CHARS = 32  # a long file name is cut in a chip (the Sources panel shows it whole)


def citation_chips(item: ChatItem) -> list[tuple[str, str]]:
    """The chips under a reply with documents: one per source it cites ([n] markers, or the best
    match when it cites none), then "Sources (N)". While it streams only the latter: what it cites
    is known at its end."""
    if item.role != "assistant" or not item.sources:
        return []
    chips: list[tuple[str, str]] = []
    if not item.live:
        for n in cited_sources(item.content, item.sources):
            label = source_label(item.sources[n - 1])
            if len(label) > CHIP_NAME_CHARS:
                label = label[: CHIP_NAME_CHARS - 1] + "\u2026"
            chips.append((f"{CITE}{n}", f"[{n}] {label}"))
    chips.append((SOURCES, f"Sources ({len(item.sources)})"))
    return chips


def footer_text(item: ChatItem) -> str:
    """The line under an assistant reply: speed and how it ended (or why it failed)."""
    message = item.message
    if item.live:
        return f"Generating… {item.live_tps:.1f} tok/s" if item.live_tps > 0 else "Generating…"
    if message.state == "failed":
        return ""  # the reason is part of the body, where it can wrap
    stats = message.stats or {}
    parts: list[str] = []
    if stats.get("completion_tokens"):
        parts.append(f"{stats['completion_tokens']} tokens")
        if stats.get("generation_tps"):
            parts.append(f"{float(stats['generation_tps']):.1f} tok/s")
        if stats.get("ttft_s") is not None:
            parts.append(f"TTFT {float(stats['ttft_s']):.2f} s")
    restored = stats.get("restored_tokens")
    if isinstance(restored, int) and not isinstance(restored, bool) and restored > 0:
        seconds = stats.get("restore_s")
        took = f" in {float(seconds):.1f} s" if isinstance(seconds, int | float) else ""
        parts.append(f"Restored {restored:,} tokens{took}")
    reason = stats.get("stop_reason")
    if isinstance(reason, str) and reason in _STOP_NOTES:
        parts.append(_STOP_NOTES[reason])
    elif message.state in _STATE_NOTES:
        parts.append(_STATE_NOTES[message.state])
    if stats.get("dropped_messages"):
        parts.append(f"{stats['dropped_messages']} old messages left out to fit the context")
    return " · ".join(parts)


#: actions that need a model to answer: drawn dimmed, and explained instead of run, without one
GENERATING_ACTIONS = frozenset({"regenerate", "continue", "reply"})


def actions_for(item: ChatItem) -> list[tuple[str, str]]:
    if item.live:
        return []
    keys: list[tuple[str, str]] = []
    if item.awaiting_reply:  # the chat ends with the user's message (imported, or a reply deleted)
        keys.append(("reply", "Reply"))
    keys.append(("copy", "Copy"))
    if item.role == "user":
        keys.append(("edit", "Edit"))
    else:
        keys += [("regenerate", "Regenerate"), ("continue", "Continue")]
    keys.append(("delete", "Delete"))
    return keys


@dataclass
class Layout:
    """A rendered row; rectangles are relative to the row's top-left corner."""

    version: int
    width: int
    body: QTextDocument
    markdown: bool
    text_len: int
    code_blocks: tuple[str, ...] = ()
    source: str = ""  # the text a Markdown body shows (or will show, while pending)
    pending: bool = False  # a Markdown row still showing its plain text: the render runs on a worker
    more: list[QTextDocument] = field(default_factory=list)  # a long reply's Markdown: the body's sequel

    def documents(self) -> list[QTextDocument]:
        """The body, top to bottom: a long reply is built in pieces (markdown_worker.py)."""
        return [self.body, *self.more]

    thinking: QTextDocument | None = None
    height: int = 0
    bubble: QRect | None = None
    header: QRect | None = None
    body_pos: QPoint = field(default_factory=QPoint)
    thinking_toggle: QRect | None = None
    thinking_pos: QPoint | None = None
    footer: QRect | None = None
    footer_text: str = ""
    citations: list[tuple[str, str, QRect]] = field(default_factory=list)  # chips: key, label, rect
    actions: list[tuple[str, str, QRect]] = field(default_factory=list)


class MessageDelegate(QStyledItemDelegate):
    markdown_ready = Signal(int)  # message id: its rendered Markdown was swapped in

    def __init__(self, view: QAbstractItemView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._cache: dict[int, Layout] = {}
        self.colors: Colors = current_colors()
        self.hover: tuple[int, str | None] = (-1, None)  # row, action key under the mouse
        self.highlight_id: int | None = None  # a search hit, tinted for a moment
        self.default_model_name = "Assistant"
        #: why Regenerate, Continue and Reply cannot run now (no model loaded), or None when they can
        self.blocked: str | None = None
        self.hinted: dict[int, int] = {}  # message id -> the height sizeHint last reported
        self._estimates: dict[int, tuple[tuple[int, int], int]] = {}  # id -> ((version, width), height)
        self.corrected: set[QPersistentModelIndex] = set()  # rows painted taller or shorter than hinted
        self._renders: dict[int, MarkdownJob] = {}  # message id -> its latest Markdown render in flight
        self._running = 0  # renders in flight, stale ones included

    # -- theme and fonts ---------------------------------------------------------------------------

    def set_colors(self, colors: Colors) -> None:
        self.colors = colors
        self._cache.clear()

    def clear_cache(self) -> None:
        self._cache.clear()
        self.hinted.clear()

    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        base = QFont(self._view.font())
        small = QFont(base)
        small.setPointSizeF(max(6.0, base.pointSizeF() - 1.5))
        bold = QFont(small)
        bold.setWeight(QFont.Weight.DemiBold)
        return base, small, bold

    # -- layout ------------------------------------------------------------------------------------

    def layout_for(self, item: ChatItem, width: int) -> Layout:
        cached = self._cache.get(item.id)
        if cached is not None and cached.version == item.version and cached.width == width:
            return cached
        base, small, bold = self._fonts()
        column = max(200, min(width - 2 * SIDE, MAX_COLUMN))
        left = max(SIDE, (width - column) // 2)
        layout = self._body(item, cached, base, column)
        layout.version, layout.width = item.version, width
        small_h = QFontMetrics(small).height()
        y = GAP
        if item.role == "user":
            limit = int(column * 0.82) - 2 * USER_PAD_X
            layout.body.setTextWidth(limit)
            text_w = min(limit, int(layout.body.idealWidth()) + 2)
            layout.body.setTextWidth(text_w)
            height = int(layout.body.size().height())
            bubble_w = text_w + 2 * USER_PAD_X
            layout.bubble = QRect(left + column - bubble_w, y, bubble_w, height + 2 * USER_PAD_Y)
            layout.body_pos = QPoint(layout.bubble.x() + USER_PAD_X, y + USER_PAD_Y)
            y = layout.bubble.bottom() + 1 + ACTION_GAP
            layout.header = None
        else:
            layout.header = QRect(left, y, column, small_h + 4)
            y += small_h + 8
            reasoning = item.reasoning.strip()
            layout.thinking_toggle = None
            layout.thinking_pos = None
            if reasoning:
                layout.thinking_toggle = QRect(left, y, column, small_h + 8)
                y += small_h + 12
                if item.thinking_open:
                    doc = layout.thinking or SafeTextDocument()
                    doc.setDefaultFont(small)
                    doc.setDocumentMargin(0)
                    if doc.toPlainText() != reasoning:
                        doc.setPlainText(reasoning)
                    _set_width(doc, column - 16)
                    layout.thinking = doc
                    layout.thinking_pos = QPoint(left + 14, y)
                    y += int(doc.size().height()) + 12
            layout.body_pos = QPoint(left, y)
            for doc in layout.documents():
                _set_width(doc, column)
                y += int(doc.size().height())
            layout.bubble = None
            layout.footer_text = footer_text(item)
            if layout.footer_text:  # wraps in a narrow column at a large text size
                y += 6
                wrapped = QFontMetrics(small).boundingRect(
                    QRect(0, 0, column, 10_000), FOOTER_FLAGS, layout.footer_text
                )
                layout.footer = QRect(left, y, column, max(small_h, wrapped.height()) + 2)
                y = layout.footer.bottom() + 1
            else:
                layout.footer = None
            layout.citations = self._place_chips(citation_chips(item), y + 6, left, column, small)
            if layout.citations:
                y = max(rect.bottom() + 1 for _, _, rect in layout.citations)
            y += ACTION_GAP
        layout.actions = self._place_actions(item, y, left, column, bold)
        y = max((rect.bottom() + 1 for _, _, rect in layout.actions), default=y + ACTION_H)
        layout.height = y + 4
        self._cache[item.id] = layout
        return layout

    def _body(self, item: ChatItem, cached: Layout | None, base: QFont, column: int) -> Layout:
        """The row's text document: reuse it when its text is unchanged, append when streaming, and
        for long Markdown show the plain text while a worker renders it."""
        content = item.content
        markdown = item.role == "assistant" and not item.live and item.message.state != "failed"
        if markdown:
            if cached is not None and cached.markdown and cached.source == content:
                if cached.pending:
                    self._request(item.id, content, column, base)  # in flight already, or again
                return cached  # rendered (or being rendered): a width change only relayouts it
            job = MarkdownJob(item.id, content, self.colors is DARK, column, QFont(base))
            if cached is not None and not cached.markdown and cached.text_len == len(content) and content:
                doc = cached.body  # the reply just ended: its live document already shows this text
            elif len(content) <= SYNC_MARKDOWN_CHARS:
                done = build_document(job)
                return Layout(
                    version=-1, width=-1, body=done.documents[0], markdown=True, text_len=len(content),
                    code_blocks=done.code_blocks, source=content, more=list(done.documents[1:]),
                )  # fmt: skip
            else:
                doc = new_document(base)
                doc.setPlainText(content)
            self._request(item.id, content, column, base)
            return Layout(
                version=-1, width=-1, body=doc, markdown=True, text_len=len(content), source=content,
                pending=True,
            )  # fmt: skip
        # (text_len 0: the doc holds the "…" placeholder, which the first text replaces)
        if cached is not None and not cached.markdown and item.live and len(content) >= cached.text_len > 0:
            new = content[cached.text_len :]
            if new:
                cursor = QTextCursor(cached.body)
                cursor.movePosition(QTextCursor.MoveOperation.End)
                cursor.insertText(new)
                cached.text_len = len(content)
            return cached
        doc = new_document(base)  # model output and imported text: it loads no image, whatever the HTML
        if item.message.state == "failed" and not item.live:  # what was written, then why it stopped
            text = html.escape(content).replace("\n", "<br>")
            reason = html.escape(item.message.error or "Generation failed.")
            doc.setHtml(f'{text}<p style="color:{self.colors.danger}">{reason}</p>')
        else:
            doc.setPlainText(content if (content or item.role == "user" or not item.live) else "…")
        return Layout(version=-1, width=-1, body=doc, markdown=False, text_len=len(content))

    # -- Markdown off the GUI thread -----------------------------------------------------------------

    def _request(self, message_id: int, text: str, column: int, font: QFont) -> None:
        """Render `text` for the row on a worker, unless that very render is already in flight."""
        dark = self.colors is DARK
        running = self._renders.get(message_id)
        if running is not None and running.text == text and running.dark == dark:
            return
        job = MarkdownJob(message_id, text, dark, column, QFont(font))
        self._renders[message_id] = job
        self._running += 1
        home = self.thread()
        run_in_background(
            lambda: build_document(job, home),
            parent=self,
            on_success=self._rendered,
            on_failure=lambda exc: self._render_failed(job, exc),
        )

    def _rendered(self, result: RenderedDocument) -> None:
        """On the GUI thread: swap the document into the row, unless the row has moved on meanwhile
        (regenerated, edited, continued, deleted, another theme): then the result is stale and dropped."""
        job = result.job
        self._running -= 1
        if self._renders.get(job.message_id) is job:
            del self._renders[job.message_id]
        model = self._view.model()
        item = model.item_by_id(job.message_id) if isinstance(model, ChatModel) else None
        cached = self._cache.get(job.message_id)
        if (
            item is None
            or item.live
            or item.content != job.text
            or (self.colors is DARK) != job.dark
            or cached is None
            or not (cached.markdown and cached.pending and cached.source == job.text)
        ):
            log.debug("dropped a stale Markdown render for message %s", job.message_id)
            return
        cached.body, cached.more = result.documents[0], list(result.documents[1:])
        cached.code_blocks = result.code_blocks
        cached.pending = False
        cached.version = -1  # exactly this row's entry: its geometry is computed again from the new body
        row = model.row_of(job.message_id) if isinstance(model, ChatModel) else None
        if row is not None:
            index = model.index(row, 0)
            if self.height_changed(item, self._view.viewport().width()):
                self.sizeHintChanged.emit(index)
            self._view.viewport().update(self._view.visualRect(index))
        self.markdown_ready.emit(job.message_id)

    def _render_failed(self, job: MarkdownJob, exc: BaseException) -> None:
        self._running -= 1
        if self._renders.get(job.message_id) is job:
            del self._renders[job.message_id]
        log.warning("Markdown render of message %s failed: it stays plain text", job.message_id, exc_info=exc)

    def renders_in_flight(self) -> int:
        """How many Markdown renders are running (tests wait for none before closing the window)."""
        return self._running

    def _place_actions(
        self, item: ChatItem, y: int, left: int, column: int, font: QFont
    ) -> list[tuple[str, str, QRect]]:
        metrics = QFontMetrics(font)
        placed: list[tuple[str, str, QRect]] = []
        entries = list(actions_for(item))
        count = item.position[1]
        if count > 1 and not item.live:  # first, so it stays put while the actions fade in on hover
            place = f"{item.position[0]}/{count}"
            entries[:0] = [("prev", "\u2039"), ("position", place), ("next", "\u203a")]
        height = max(ACTION_H, metrics.height() + 8)  # taller at a large text size
        widths = [metrics.horizontalAdvance(label) + 16 for _, label in entries]
        total = sum(widths) + 2 * max(0, len(entries) - 1)
        start = max(left - 8, left + column - total) if item.role == "user" else left - 8
        x = start
        for (key, label), w in zip(entries, widths, strict=True):
            if x > start and x + w > left + column + 8:  # a narrow column: the rest on the next line
                x, y = start, y + height
            placed.append((key, label, QRect(x, y, w, height)))
            x += w + 2
        return placed

    def _place_chips(
        self, chips: list[tuple[str, str]], y: int, left: int, column: int, font: QFont
    ) -> list[tuple[str, str, QRect]]:
        """Citation chips from the column's left edge, wrapping to more lines in a narrow column."""
        metrics = QFontMetrics(font)
        height = metrics.height() + 8
        placed: list[tuple[str, str, QRect]] = []
        x = left
        for key, label in chips:
            w = min(column, metrics.horizontalAdvance(label) + 18)
            if x > left and x + w > left + column:
                x, y = left, y + height + 4
            placed.append((key, label, QRect(x, y, w, height)))
            x += w + 6
        return placed

    # -- QStyledItemDelegate -------------------------------------------------------------------------

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        """The exact height once a row has been painted; before that an estimate from the text's
        length, so opening a 500-message chat renders only the rows on screen."""
        # called for every row at each relayout of the list: straight to the Python model, not
        # through QModelIndex.data
        model = index.model()
        row = index.row()
        if isinstance(model, ChatModel) and 0 <= row < (rows := model.rowCount()):
            item = model.item(row)
        else:
            found = index.data(ItemRole)
            if not isinstance(found, ChatItem):
                return QSize(0, 0)
            item, rows = found, index.model().rowCount()
        width = self._view.viewport().width()
        cached = self._cache.get(item.id)
        if cached is not None and cached.version == item.version and cached.width == width:
            height = cached.height
        elif item.live or row >= rows - 2:
            height = self.layout_for(item, width).height  # the end of the chat is what is shown first
        else:
            key = (item.version, width)
            guess = self._estimates.get(item.id)
            if guess is None or guess[0] != key:
                guess = (key, self.estimate_height(item, width))
                self._estimates[item.id] = guess
            height = guess[1]
        height = self._held(item, cached, _stepped(item, height))
        self.hinted[item.id] = height
        return QSize(width, height)

    def height_changed(self, item: ChatItem, width: int) -> bool:
        """Record the row's exact height; True when it differs from what the view was last told
        (the view must then lay out again)."""
        layout = self.layout_for(item, width)
        height = self._held(item, layout, _stepped(item, layout.height))
        if self.hinted.get(item.id) == height:
            return False
        self.hinted[item.id] = height
        return True

    def _held(self, item: ChatItem, layout: Layout | None, height: int) -> int:
        """A row waiting for its Markdown keeps the height the view has (a reply that just ended: its
        last 120 px step) unless its text needs more: the view lays out all rows once, when the
        rendered document arrives, and not while the worker competes with the GUI thread for the GIL
        (each of the 500 sizeHint calls of a relayout would wait for it)."""
        if layout is None or not layout.pending or layout.version != item.version:
            return height
        return max(height, self.hinted.get(item.id, 0))

    def estimate_height(self, item: ChatItem, width: int) -> int:
        base, small, _ = self._fonts()
        metrics, small_h = QFontMetrics(base), QFontMetrics(small).height()
        column = max(200, min(width - 2 * SIDE, MAX_COLUMN))
        text_w = int(column * 0.82) - 2 * USER_PAD_X if item.role == "user" else column
        per_line = max(8, text_w // max(1, metrics.averageCharWidth()))
        content = item.content
        lines = sum(max(1, -(-len(line) // per_line)) for line in content.split("\n"))
        body = lines * metrics.lineSpacing()
        if item.role == "user":
            return GAP + body + 2 * USER_PAD_Y + ACTION_GAP + ACTION_H + 4
        body += content.count("```") // 2 * 48 + content.count("\n\n") * 6  # code frames, paragraph gaps
        chrome = GAP + small_h + 8 + ACTION_GAP + ACTION_H + 4 + (small_h + 8 if footer_text(item) else 0)
        if item.reasoning.strip():
            chrome += small_h + 12
        if item.sources:
            chrome += small_h + 14  # a line of citation chips
        return chrome + body

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        item = index.data(ItemRole)
        if not isinstance(item, ChatItem):
            return
        rect: QRect = option.rect
        width = self._view.viewport().width()
        if not item.live and self.height_changed(item, width):  # the estimate was off: relayout
            self.corrected.add(QPersistentModelIndex(index))
        layout = self.layout_for(item, width)
        c = self.colors
        _, small, bold = self._fonts()
        # what of the row is on screen, in row coordinates: a document draws only the lines in it
        visible = rect.intersected(self._view.viewport().rect()).translated(-rect.topLeft())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(rect.topLeft())
        if self.highlight_id == item.id:
            painter.fillRect(QRect(0, 0, rect.width(), layout.height), QColor(c.selection))
        if layout.bubble is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(c.selection if self.highlight_id != item.id else c.surface))
            painter.drawRoundedRect(QRectF(layout.bubble), 14, 14)
        if layout.header is not None:
            painter.setFont(bold)
            painter.setPen(QColor(c.text))
            name = item.message.model or self.default_model_name
            painter.drawText(
                layout.header, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), name
            )
        if layout.thinking_toggle is not None:
            painter.setFont(small)
            painter.setPen(QColor(c.muted))
            words = len(item.reasoning.split())
            arrow = "▾" if item.thinking_open else "▸"
            text = (
                f"{arrow}  Thinking…"
                if item.live and not item.content
                else f"{arrow}  Thought · {words} words"
            )
            hovered = self.hover == (index.row(), "thinking")
            if hovered:
                painter.setPen(QColor(c.text))
            painter.drawText(
                layout.thinking_toggle, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text
            )
            if layout.thinking is not None and layout.thinking_pos is not None:
                painter.setPen(QColor(c.border))
                top = layout.thinking_pos.y()
                painter.drawLine(
                    layout.thinking_pos.x() - 10,
                    top,
                    layout.thinking_pos.x() - 10,
                    top + int(layout.thinking.size().height()),
                )
                self._draw_doc(painter, layout.thinking, layout.thinking_pos, c.muted, visible)
        at = QPoint(layout.body_pos)
        for doc in layout.documents():
            height = int(doc.size().height())
            if at.y() < visible.bottom() and at.y() + height > visible.top():
                self._draw_doc(painter, doc, at, c.text, visible)
            at.setY(at.y() + height)
        if layout.footer is not None:
            painter.setFont(small)
            failed = item.message.state == "failed" and not item.live
            painter.setPen(QColor(c.danger if failed else c.muted))
            painter.drawText(layout.footer, FOOTER_FLAGS, layout.footer_text)
        self._draw_chips(painter, index.row(), layout, small)
        self._draw_actions(painter, index.row(), layout, bold)
        painter.restore()

    def _draw_doc(
        self, painter: QPainter, doc: QTextDocument, pos: QPoint, color: str, visible: QRect
    ) -> None:
        painter.save()
        painter.translate(pos)
        context = QAbstractTextDocumentLayout.PaintContext()
        # without a clip the layout draws every line of the document, on screen or not: a long reply
        # would cost a full draw per streamed batch
        context.clip = QRectF(visible.translated(-pos))
        palette = QPalette(self._view.palette())
        palette.setColor(QPalette.ColorRole.Text, QColor(color))
        context.palette = palette
        doc.documentLayout().draw(painter, context)
        painter.restore()

    def _draw_chips(self, painter: QPainter, row: int, layout: Layout, font: QFont) -> None:
        """Citation chips: always visible (unlike the actions), outlined, the hovered one filled."""
        if not layout.citations:
            return
        c = self.colors
        painter.setFont(font)
        metrics = QFontMetrics(font)
        for key, label, rect in layout.citations:
            hovered = self.hover == (row, key)
            painter.setPen(QColor(c.border))
            painter.setBrush(QColor(c.surface_alt if hovered else c.surface))
            painter.drawRoundedRect(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5), 8, 8)
            painter.setPen(QColor(c.accent if key.startswith(CITE) else c.text))
            text = metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, rect.width() - 14)
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)

    def _draw_actions(self, painter: QPainter, row: int, layout: Layout, font: QFont) -> None:
        if not layout.actions:
            return
        c = self.colors
        row_hovered = self.hover[0] == row
        painter.setFont(font)
        for key, label, rect in layout.actions:
            blocked = self.blocked is not None and key in GENERATING_ACTIONS
            hovered = row_hovered and self.hover[1] == key and key != "position" and not blocked
            if hovered:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(c.surface_alt))
                painter.drawRoundedRect(QRectF(rect), 6, 6)
            color = QColor(c.accent if key == "reply" and not blocked else (c.text if hovered else c.muted))
            if blocked:
                color.setAlphaF(0.35)  # disabled: the tooltip and a click say why
            if not row_hovered and key not in ("prev", "next", "position", "reply"):
                color.setAlphaF(0.0 if row != self._last_row() else (0.25 if blocked else 0.55))
            painter.setPen(color)
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), label)

    def _last_row(self) -> int:
        model = self._view.model()
        return model.rowCount() - 1 if model is not None else -1

    # -- hit-testing ---------------------------------------------------------------------------------

    def hit(self, item: ChatItem, pos: QPoint) -> tuple[str, Any] | None:
        """What is under `pos` (relative to the row): ("action", key), ("thinking", None),
        ("copy-code", n) or ("link", href)."""
        layout = self._cache.get(item.id)
        if layout is None:
            return None
        for key, _, rect in [*layout.citations, *layout.actions]:
            if rect.contains(pos) and key != "position":
                return ("action", key)
        if layout.thinking_toggle is not None and layout.thinking_toggle.contains(pos):
            return ("thinking", None)
        anchor = ""
        top = QPoint(layout.body_pos)
        for doc in layout.documents():
            height = int(doc.size().height())
            if top.y() <= pos.y() < top.y() + height:
                anchor = doc.documentLayout().anchorAt(QPointF(pos - top))
                break
            top.setY(top.y() + height)
        if anchor:
            prefix = "hearth-copy:"
            if anchor.startswith(prefix) and anchor[len(prefix) :].isdigit():
                return ("copy-code", int(anchor[len(prefix) :]))
            return ("link", anchor)
        return None

    def code_block(self, item: ChatItem, number: int) -> str | None:
        layout = self._cache.get(item.id)
        if layout is None or not 0 <= number < len(layout.code_blocks):
            return None
        return layout.code_blocks[number]


def _set_width(doc: QTextDocument, width: int) -> None:
    """setTextWidth relayouts the whole document even at the same width: for a long reply, that is
    tens of milliseconds on every streamed batch."""
    if doc.textWidth() != width:
        doc.setTextWidth(width)


def _stepped(item: ChatItem, height: int) -> int:
    """A streaming row grows in LIVE_STEP steps: a relayout of every row per step, not per line."""
    return -(-height // LIVE_STEP) * LIVE_STEP if item.live else height
