"""How the sidebar's two lists paint their rows: the chat list (date sections, titles, ages, and the
inline title editor) and the search hits (title, author, a snippet with the matched words bold).

Painting is kept apart from the panel, which decides what the lists show and what a gesture does.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QTextDocument
from PySide6.QtWidgets import (
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from desktop_app.ui.conversation_models import Roles
from desktop_app.ui.plain_text import SafeTextDocument
from desktop_app.ui.theme import Colors, current_colors

Index = QModelIndex | QPersistentModelIndex

_PAD_X = 10  # a row's text inset, matching the nav buttons' padding in the Sidebar
_ROLE_LABELS = {"user": "You", "assistant": "Reply", "system": "System"}


def _scaled(font: QFont, delta_pt: float, weight: QFont.Weight | None = None) -> QFont:
    scaled = QFont(font)
    size = font.pointSizeF()
    if size > 0:
        scaled.setPointSizeF(max(6.0, size + delta_pt))
    if weight is not None:
        scaled.setWeight(weight)
    return scaled


def _row_background(painter: QPainter, option: QStyleOptionViewItem, colors: Colors) -> bool:
    """The rounded hover/selected fill shared by both lists; True when the row is selected."""
    state = option.state
    selected = bool(state & QStyle.StateFlag.State_Selected)
    hovered = bool(state & QStyle.StateFlag.State_MouseOver)
    focused = bool(state & QStyle.StateFlag.State_HasFocus)  # the keyboard's place, before Up/Down
    path = QPainterPath()
    path.addRoundedRect(QRectF(QRect(option.rect)).adjusted(0.5, 1.5, -0.5, -1.5), 8, 8)
    if selected or hovered:
        painter.fillPath(path, QColor(colors.selection if selected else colors.surface_alt))
    if focused and not selected:
        painter.setPen(QPen(QColor(colors.accent), 1))
        painter.drawPath(path)
    return selected


class ConversationDelegate(QStyledItemDelegate):
    """Paints date sections and conversation rows (title elided, muted age on the right) and edits a
    title in place; a committed edit is reported with rename_committed, never written by the model."""

    rename_committed = Signal(int, str)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        font: QFont = option.font
        if index.data(Roles.KIND) == "section":
            top = 6 if index.row() == 0 else 16
            return QSize(0, QFontMetrics(_scaled(font, -1)).height() + top + 6)
        return QSize(0, QFontMetrics(font).height() + 16)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        colors = current_colors()
        rect = QRect(option.rect)
        font: QFont = option.font
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if index.data(Roles.KIND) == "section":
            section_font = _scaled(font, -1, QFont.Weight.DemiBold)
            painter.setFont(section_font)
            painter.setPen(QColor(colors.muted))
            text_rect = rect.adjusted(_PAD_X, 0, -_PAD_X, -4)
            text = QFontMetrics(section_font).elidedText(
                str(index.data(Roles.TITLE)), Qt.TextElideMode.ElideRight, text_rect.width()
            )
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, text)
            painter.restore()
            return
        selected = _row_background(painter, option, colors)
        age = str(index.data(Roles.TIME) or "")
        age_font = _scaled(font, -1.5)
        age_width = QFontMetrics(age_font).horizontalAdvance(age) if age else 0
        inner = rect.adjusted(_PAD_X, 0, -_PAD_X, 0)
        if age:
            painter.setFont(age_font)
            painter.setPen(QColor(colors.accent if selected else colors.muted))
            painter.drawText(inner, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, age)
        title_font = _scaled(font, 0, QFont.Weight.DemiBold) if selected else QFont(font)
        painter.setFont(title_font)
        painter.setPen(QColor(colors.text))
        title_rect = inner.adjusted(0, 0, -(age_width + 8 if age else 0), 0)
        title = QFontMetrics(title_font).elidedText(
            str(index.data(Roles.TITLE)), Qt.TextElideMode.ElideRight, title_rect.width()
        )
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        painter.restore()

    # -- inline rename ----------------------------------------------------------------------------

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        editor = QLineEdit(parent)
        editor.setObjectName("RenameEditor")
        editor.setAccessibleName("Chat title")
        editor.setMaxLength(200)
        return editor

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        if isinstance(editor, QLineEdit):
            editor.setText(str(index.data(Roles.TITLE) or ""))
            editor.selectAll()

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: Index) -> None:
        conversation_id = index.data(Roles.CONVERSATION_ID)
        if isinstance(editor, QLineEdit) and isinstance(conversation_id, int):
            text = editor.text()
            if text.strip() and text.strip() != index.data(Roles.TITLE):
                self.rename_committed.emit(conversation_id, text)

    def updateEditorGeometry(self, editor: QWidget, option: QStyleOptionViewItem, index: Index) -> None:
        editor.setGeometry(QRect(option.rect).adjusted(2, 1, -2, -1))


class HitDelegate(QStyledItemDelegate):
    """A search hit: the chat's title and who wrote the message, then up to three lines of the
    snippet with the matched words bold."""

    MAX_LINES = 3

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view

    def _document(self, index: Index, font: QFont, width: int, colors: Colors) -> QTextDocument:
        doc = SafeTextDocument()  # the snippet is escaped; this one could not load an image anyway
        doc.setDocumentMargin(0)
        doc.setDefaultFont(_scaled(font, -0.5))
        doc.setTextWidth(max(40, width))
        snippet = str(index.data(Roles.SNIPPET_HTML) or "")
        first = snippet.find("<b>")
        before = snippet[:first].split(" ") if first > 0 else []
        for dropped in range(max(1, len(before) - 2)):
            # Too long for the lines shown: drop words before the first match, so it is never cut off.
            text = snippet if not dropped else "… " + " ".join(before[dropped:]) + snippet[first:]
            styled = text.replace("<b>", f'<b style="color:{colors.text}">')
            doc.setHtml(f'<span style="color:{colors.muted}">{styled}</span>')
            if self._line_count(doc) <= self.MAX_LINES:
                break
        return doc

    @staticmethod
    def _line_count(doc: QTextDocument) -> int:
        doc.size()  # lays the document out
        count, block = 0, doc.firstBlock()
        while block.isValid():
            count += block.layout().lineCount()
            block = block.next()
        return count

    def _snippet_height(self, doc: QTextDocument) -> int:
        """The height of the first MAX_LINES lines (the rest is clipped)."""
        layout = doc.firstBlock().layout()
        if self._line_count(doc) <= self.MAX_LINES or layout.lineCount() < self.MAX_LINES:
            return int(doc.size().height() + 0.5)
        return int(layout.lineAt(self.MAX_LINES - 1).rect().bottom() + 0.5)

    def _text_width(self, rect_width: int) -> int:
        return (rect_width or self._view.viewport().width()) - 2 * _PAD_X

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        font: QFont = option.font
        doc = self._document(index, font, self._text_width(0), current_colors())
        return QSize(0, 8 + QFontMetrics(font).height() + 2 + self._snippet_height(doc) + 10)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        colors = current_colors()
        rect = QRect(option.rect)
        font: QFont = option.font
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        _row_background(painter, option, colors)
        inner = rect.adjusted(_PAD_X, 8, -_PAD_X, -8)
        who = _ROLE_LABELS.get(str(index.data(Roles.MESSAGE_ROLE)), "")
        who_font = _scaled(font, -1.5)
        who_width = QFontMetrics(who_font).horizontalAdvance(who)
        title_height = QFontMetrics(font).height()
        line = QRect(inner.left(), inner.top(), inner.width(), title_height)
        painter.setFont(who_font)
        painter.setPen(QColor(colors.muted))
        painter.drawText(line, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, who)
        title_font = _scaled(font, 0, QFont.Weight.DemiBold)
        painter.setFont(title_font)
        painter.setPen(QColor(colors.text))
        title = QFontMetrics(title_font).elidedText(
            str(index.data(Roles.TITLE)), Qt.TextElideMode.ElideRight, inner.width() - who_width - 8
        )
        painter.drawText(line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        doc = self._document(index, font, inner.width(), colors)
        height = self._snippet_height(doc)
        painter.translate(inner.left(), inner.top() + title_height + 2)
        painter.setClipRect(QRect(0, 0, inner.width(), height))
        doc.drawContents(painter)
        painter.restore()
