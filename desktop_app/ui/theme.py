"""Light and dark themes that follow the OS, applied as one palette plus one stylesheet.

Widgets opt into styles with dynamic properties (`role`, `kind`) instead of per-widget stylesheets, so
spacing and colours stay consistent and a theme switch is a single `setStyleSheet` call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget


@dataclass(frozen=True)
class Colors:
    window: str
    sidebar: str
    surface: str
    surface_alt: str
    border: str
    text: str
    muted: str
    accent: str
    accent_hover: str
    accent_text: str
    danger: str
    success: str
    warning: str
    selection: str
    disabled: str  # text of a control that cannot be used now: clearly fainter than muted text


LIGHT = Colors(
    window="#f7f7f8",
    sidebar="#eeeef0",
    surface="#ffffff",
    surface_alt="#f2f2f4",
    border="#e0e0e6",
    text="#1d1d1f",
    muted="#6e6e76",
    accent="#e8590c",
    accent_hover="#d9480f",
    accent_text="#ffffff",
    danger="#c92a2a",
    success="#2b8a3e",
    warning="#e67700",
    selection="#ffe8cc",
    disabled="#b0b0b8",
)
DARK = Colors(
    window="#1c1c1f",
    sidebar="#151517",
    surface="#242428",
    surface_alt="#2c2c31",
    border="#35353c",
    text="#ececf1",
    muted="#9d9da7",
    accent="#f76707",
    accent_hover="#fd7e14",
    accent_text="#ffffff",
    danger="#ff6b6b",
    success="#69db7c",
    warning="#ffa94d",
    selection="#5c3a1e",
    disabled="#5e5e68",
)


def system_prefers_dark() -> bool:
    """The OS's choice, unless HEARTH_THEME=dark|light forces one (for desktops that report none)."""
    forced = os.environ.get("HEARTH_THEME", "").strip().lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def current_colors() -> Colors:
    return DARK if system_prefers_dark() else LIGHT


def stylesheet(c: Colors, font_pt: float) -> str:
    return f"""
* {{ outline: none; }}
QMainWindow, QWidget#Page {{ background: {c.window}; color: {c.text}; }}
QWidget#Sidebar {{ background: {c.sidebar}; border-right: 1px solid {c.border}; }}
QLabel {{ color: {c.text}; }}
QLabel[role="brand"] {{ font-size: {font_pt + 5}pt; font-weight: 700; }}
QLabel[role="title"] {{ font-size: {font_pt + 8}pt; font-weight: 700; }}
QLabel[role="heading"] {{ font-size: {font_pt + 2}pt; font-weight: 600; }}
QLabel[role="muted"], QLabel[role="section"] {{ color: {c.muted}; }}
QLabel[role="section"] {{ font-size: {font_pt - 1}pt; font-weight: 600; letter-spacing: 0.5px; }}
QLabel[role="badge"] {{
    background: {c.surface_alt}; color: {c.muted}; border: 1px solid {c.border};
    border-radius: 8px; padding: 2px 8px; font-size: {font_pt - 1.5}pt;
}}
QLabel[role="badge-accent"] {{
    background: {c.selection}; color: {c.accent}; border-radius: 8px; padding: 2px 8px;
    font-size: {font_pt - 1.5}pt; font-weight: 600;
}}
QLabel[role="error"] {{ color: {c.danger}; }}
QLabel[role="fit-green"] {{ color: {c.success}; font-weight: 600; }}
QLabel[role="fit-yellow"] {{ color: {c.warning}; font-weight: 600; }}
QLabel[role="fit-red"] {{ color: {c.danger}; font-weight: 600; }}
QFrame#Card {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 12px; }}
QFrame#Card:hover {{ border-color: {c.accent}; }}
QFrame#Notice {{ background: {c.selection}; border-radius: 10px; }}
QPushButton {{
    background: {c.surface}; color: {c.text}; border: 1px solid {c.border}; border-radius: 8px;
    padding: 7px 14px;
}}
QPushButton:hover {{ background: {c.surface_alt}; }}
QPushButton[kind="primary"] {{ background: {c.accent}; color: {c.accent_text}; border: none; font-weight: 600; }}
QPushButton[kind="primary"]:hover {{ background: {c.accent_hover}; }}
QPushButton[kind="danger"] {{ color: {c.danger}; }}
QPushButton[kind="ghost"] {{ background: transparent; border: none; color: {c.muted}; padding: 6px 10px; }}
QPushButton[kind="ghost"]:hover {{ color: {c.text}; background: {c.surface_alt}; }}
QPushButton:disabled, QPushButton[kind="danger"]:disabled {{
    color: {c.disabled}; background: {c.window}; border: 1px dashed {c.border};
}}
QPushButton[kind="primary"]:disabled {{ color: {c.disabled}; background: {c.surface_alt}; border: none; }}
QPushButton[kind="ghost"]:disabled {{ color: {c.disabled}; background: transparent; border: none; }}
QPushButton[kind="nav"] {{
    background: transparent; border: none; text-align: left; padding: 6px 12px; border-radius: 8px;
}}
QPushButton[kind="nav"]:hover {{ background: {c.surface_alt}; }}
QPushButton[kind="nav"]:checked {{ background: {c.selection}; color: {c.accent}; font-weight: 600; }}
QPlainTextEdit, QTextEdit, QTextBrowser, QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {c.surface}; color: {c.text}; border: 1px solid {c.border}; border-radius: 8px;
    padding: 6px 8px; selection-background-color: {c.selection}; selection-color: {c.text};
}}
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{ width: 0px; border: none; }}
QComboBox {{ padding-right: 28px; }}
QComboBox::drop-down {{ border: none; width: 24px; }}
QComboBox::down-arrow {{ image: none; width: 0px; }}
QLineEdit:disabled, QSpinBox:disabled, QDoubleSpinBox:disabled, QComboBox:disabled,
QPlainTextEdit:disabled {{ color: {c.disabled}; background: {c.surface_alt}; }}
QCheckBox:disabled, QRadioButton:disabled, QLabel:disabled {{ color: {c.disabled}; }}
QPlainTextEdit:focus, QTextEdit:focus, QLineEdit:focus, QComboBox:focus {{ border-color: {c.accent}; }}
QComboBox QAbstractItemView {{ background: {c.surface}; color: {c.text}; selection-background-color: {c.selection}; }}
QProgressBar {{ background: {c.surface_alt}; border: none; border-radius: 3px; max-height: 6px; }}
QProgressBar::chunk {{ background: {c.accent}; border-radius: 3px; }}
QStatusBar {{ background: {c.sidebar}; color: {c.muted}; border-top: 1px solid {c.border}; }}
QStatusBar QLabel {{ color: {c.muted}; padding: 0 6px; }}
QScrollArea {{ background: transparent; border: none; }}
QScrollArea > QWidget > QWidget {{ background: transparent; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar::handle:vertical {{ background: {c.border}; border-radius: 4px; min-height: 30px; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
QScrollBar::handle:horizontal {{ background: {c.border}; border-radius: 4px; min-width: 30px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ height: 0; width: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
QTableView {{
    background: {c.surface}; alternate-background-color: {c.surface_alt}; border: 1px solid {c.border};
    border-radius: 10px; selection-background-color: {c.selection}; selection-color: {c.text};
    gridline-color: transparent;
}}
QTableView::item {{ padding: 0 8px; border: none; }}
QHeaderView {{ background: transparent; }}
QHeaderView::section {{
    background: {c.surface}; color: {c.muted}; border: none; border-bottom: 1px solid {c.border};
    padding: 8px 8px; font-weight: 600;
}}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{
    background: transparent; color: {c.muted}; border: none; border-bottom: 2px solid transparent;
    padding: 8px 14px; margin-right: 6px; font-weight: 600;
}}
QTabBar::tab:selected {{ color: {c.accent}; border-bottom: 2px solid {c.accent}; }}
QTabBar::tab:hover {{ color: {c.text}; }}
QSplitter::handle {{ background: transparent; width: 12px; }}
QCheckBox, QRadioButton {{ color: {c.text}; spacing: 8px; }}
QDialog {{ background: {c.window}; color: {c.text}; }}
QMenu {{ background: {c.surface}; color: {c.text}; border: 1px solid {c.border}; padding: 4px; }}
QMenu::item {{ padding: 6px 18px; border-radius: 6px; }}
QMenu::item:selected {{ background: {c.selection}; }}
QMenu::separator {{ height: 1px; background: {c.border}; margin: 4px 8px; }}
QToolTip {{ background: {c.surface}; color: {c.text}; border: 1px solid {c.border}; padding: 4px; }}
"""


def apply_theme(app: QApplication, font_pt: float | None = None) -> Colors:
    colors = current_colors()
    base = QFont(app.font())
    if font_pt is not None:
        base.setPointSizeF(font_pt)
        app.setFont(base)
    size = base.pointSizeF() if base.pointSizeF() > 0 else 10.0
    palette = QPalette()
    for role, value in (
        (QPalette.ColorRole.Window, colors.window),
        (QPalette.ColorRole.WindowText, colors.text),
        (QPalette.ColorRole.Base, colors.surface),
        (QPalette.ColorRole.AlternateBase, colors.surface_alt),
        (QPalette.ColorRole.Text, colors.text),
        (QPalette.ColorRole.Button, colors.surface),
        (QPalette.ColorRole.ButtonText, colors.text),
        (QPalette.ColorRole.Highlight, colors.accent),
        (QPalette.ColorRole.HighlightedText, colors.accent_text),
        (QPalette.ColorRole.PlaceholderText, colors.muted),
        (QPalette.ColorRole.Link, colors.accent),
    ):
        palette.setColor(role, QColor(value))
    app.setPalette(palette)
    app.setStyleSheet(stylesheet(colors, size) + chat_stylesheet(colors))
    return colors


def set_role(widget: QWidget, role: str, prop: str = "role") -> None:
    """Set a styling property and re-polish, since Qt only re-reads QSS selectors on polish."""
    widget.setProperty(prop, role)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


if TYPE_CHECKING:
    _WidgetBase = QWidget
else:
    _WidgetBase = object  # a plain mixin at run time: the Qt class comes after it in the bases


class ThemedStyleSheet(_WidgetBase):
    """Mixin for a widget with its own style sheet in the theme's colours: it restyles on a theme switch.

    List it before the Qt class (`class Panel(ThemedStyleSheet, QFrame)`), define `themed_stylesheet`
    and call `_restyle()` once the widget is built. apply_theme sets a new app palette, which reaches
    every widget as a PaletteChange; the colours are cached because setting a style sheet sends a
    palette change itself.
    """

    _colors: Colors | None = None

    def themed_stylesheet(self, c: Colors) -> str:
        raise NotImplementedError

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed
            self._restyle()

    def _restyle(self) -> None:
        colors = current_colors()
        if colors != self._colors:
            self._colors = colors
            self.setStyleSheet(self.themed_stylesheet(colors))


def chat_stylesheet(c: Colors) -> str:
    return f"""
QFrame#Bubble {{ border-radius: 12px; }}
QFrame#Bubble[role="user"] {{ background: {c.selection}; }}
QFrame#Bubble[role="assistant"] {{ background: {c.surface}; border: 1px solid {c.border}; }}
QFrame#Composer {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 12px; }}
QFrame#Composer QPlainTextEdit {{ border: none; background: transparent; padding: 4px; }}
QFrame#ChatHeader {{ background: {c.window}; border-bottom: 1px solid {c.border}; }}
QListView#ChatView {{ background: {c.window}; border: none; }}
QComboBox#ModelPicker {{ font-weight: 600; padding: 6px 28px 6px 10px; }}
QPushButton:checked {{ background: {c.selection}; color: {c.accent}; border-color: {c.selection}; }}
"""
