"""A finished reply's Markdown, rendered and laid out off the GUI thread.

For a 150k-character reply, `render_markdown` takes ~300 ms, `QTextDocument.setHtml` ~100 ms and the
first layout ~120 ms (measured on the 2-core VM): all three run on a one-shot background operation
(`workers/tasks.py`), and the GUI thread only swaps the finished documents into the row. QTextDocument
is not a widget: it may be built on another thread provided only one thread uses it at a time, so the
worker builds it, lays it out at the column width it was asked for, and moves it (with its layout, a
child) to the GUI thread before handing it back. Until it arrives the row shows the plain text.

PySide keeps the GIL for the length of a Qt call, so a worker inside one 200 ms `setHtml` stalls every
Python slot on the GUI thread for as long. The HTML therefore comes in chunks cut between top-level
blocks (`RenderedMarkdown.chunks`), one document each, which the row stacks: no call is long, and the
worker lets go of the GIL between them.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QThread
from PySide6.QtGui import QFont, QTextDocument, QTextOption

from desktop_app.ui.plain_text import SafeTextDocument

if TYPE_CHECKING:
    from desktop_app.ui.markdown_html import RenderedMarkdown


def render_markdown(text: str, *, dark: bool) -> RenderedMarkdown:
    """markdown_html's renderer, imported on the first render: markdown-it and pygments then load on
    the worker after the window has painted, not before it."""
    from desktop_app.ui.markdown_html import render_markdown as render

    return render(text, dark=dark)


@dataclass(frozen=True)
class MarkdownJob:
    """What to render: a message's text as it was when the render started (a result whose text no
    longer matches the row's is stale and dropped)."""

    message_id: int
    text: str
    dark: bool
    width: int  # the column the document is laid out for
    font: QFont


@dataclass
class RenderedDocument:
    job: MarkdownJob
    documents: tuple[QTextDocument, ...]  # stacked top to bottom; at least one
    code_blocks: tuple[str, ...]


def new_document(font: QFont) -> QTextDocument:
    """A chat row's document: model output, so it loads no resource (`SafeTextDocument`)."""
    doc = SafeTextDocument()
    doc.setDefaultFont(font)
    doc.setDocumentMargin(0)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    doc.setDefaultTextOption(option)
    return doc


# While a render runs on a worker:
# - the GIL changes hands every SWITCH_S instead of Python's 5 ms: the GUI thread enters Python for every
#   delegate call (sizeHint, paint) and would otherwise wait up to 5 ms for each one, which a relayout of
#   500 rows turns into a stall of hundreds of milliseconds;
# - the cyclic garbage collector waits: the render's burst of allocations set off a full collection of
#   the app's heap on the worker (113 ms, GIL held, measured in chat_stall). What the render allocates
#   dies by reference counting; a young-generation pass on the worker collects any cycles after it.
SWITCH_S = 0.0005


class _RenderTurns:
    """Counts the renders running, so that the first changes the settings and the last restores them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = sys.getswitchinterval()
        self._gc_was_on = True

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(SWITCH_S, self._saved))
                self._gc_was_on = gc.isenabled()
                gc.disable()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                last = self._users == 0
                if last:
                    sys.setswitchinterval(self._saved)
                    if self._gc_was_on:
                        gc.enable()
            if last:
                gc.collect(1)


_render_turns = _RenderTurns()


def build_document(job: MarkdownJob, home: QThread | None = None) -> RenderedDocument:
    """Render, build and lay out the document for `job`; with `home`, hand it over to that thread
    (the GUI thread) as the last step. Runs on a worker (or, for a short message, in place)."""
    if home is None:
        return _build(job, None)
    with _render_turns.held():
        return _build(job, home)


def _build(job: MarkdownJob, home: QThread | None) -> RenderedDocument:
    rendered = render_markdown(job.text.strip() or "(no text)", dark=job.dark)
    move_to = home if home is not None and home is not QThread.currentThread() else None
    documents: list[QTextDocument] = []
    for chunk in rendered.chunks or (rendered.html,):
        doc = new_document(job.font)
        doc.setHtml(chunk)
        doc.setTextWidth(job.width)
        doc.size()  # the full layout, here rather than at the first paint
        if move_to is not None:
            doc.moveToThread(move_to)
            time.sleep(0)  # let the GUI thread take the GIL between Qt calls
        documents.append(doc)
    return RenderedDocument(job, tuple(documents), rendered.code_blocks)
