"""The colours and fonts of rendered Markdown: the palette of what Markdown adds to a message (code
blocks, quotes, tables, links) in the light and dark themes, and the shared style sheet.

Pure Python (no Qt): the palette mirrors desktop_app/ui/theme.py, which imports Qt, and
tests/test_markdown_html.py checks that the two stay equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# A family list: QTextDocument takes the first one installed. DejaVu Sans Mono is on most Linux desktops.
MONO_FONTS = (
    "'JetBrains Mono','Cascadia Mono','SF Mono',Menlo,Consolas,'DejaVu Sans Mono','Liberation Mono',monospace"
)

# Mirrors of desktop_app/ui/theme.py LIGHT/DARK (that module imports Qt; this one must not).
# tests/test_markdown_html.py checks that they stay equal.
_BASE: dict[bool, dict[str, str]] = {
    False: dict(surface_alt="#f2f2f4", border="#e0e0e6", text="#1d1d1f", muted="#6e6e76", accent="#e8590c"),
    True: dict(surface_alt="#2c2c31", border="#35353c", text="#ececf1", muted="#9d9da7", accent="#f76707"),
}


@dataclass(frozen=True)
class CodeTheme:
    """Colours for what Markdown adds on top of the message text (which keeps the view's own colour)."""

    dark: bool
    text: str
    muted: str  # blockquotes, h5/h6, the code header's language and Copy
    link: str
    border: str  # code block frame, table grid, horizontal rules
    code_bg: str  # code block body: distinct from the message surface and the window in both themes
    code_header_bg: str  # the language / Copy row
    code_text: str
    inline_code_bg: str
    quote_bar: str
    table_header_bg: str
    pygments_style: str


def _make_theme(dark: bool) -> CodeTheme:
    c = _BASE[dark]
    return CodeTheme(
        dark=dark,
        text=c["text"],
        muted=c["muted"],
        link=c["accent"],
        border=c["border"],
        code_bg="#131316" if dark else "#f0f0f3",
        code_header_bg=c["surface_alt"] if dark else "#e6e6eb",
        code_text="#e6e6ea" if dark else "#24292f",
        inline_code_bg="#36363d" if dark else "#e8e8ec",
        quote_bar="#4a4a52" if dark else "#d0d0d8",
        table_header_bg=c["surface_alt"],
        pygments_style="one-dark" if dark else "xcode",
    )


_THEMES = {False: _make_theme(False), True: _make_theme(True)}


def code_theme(dark: bool) -> CodeTheme:
    return _THEMES[dark]


@lru_cache(maxsize=4)
def base_css(theme: CodeTheme) -> str:
    small = f"font-size:small; color:{theme.muted}; text-decoration:none"
    return (
        f"code {{ font-family:{MONO_FONTS}; background-color:{theme.inline_code_bg} }}\n"
        f"pre {{ margin:0px; white-space:pre-wrap; font-family:{MONO_FONTS}; color:{theme.code_text} }}\n"
        f"a {{ color:{theme.link}; text-decoration:underline }}\n"
        f"a.copy {{ {small} }}\nspan.lang {{ {small} }}\n"
        f"td.head {{ background-color:{theme.code_header_bg}; padding:5px 12px 5px 12px }}\n"
        f"td.body {{ background-color:{theme.code_bg}; padding:10px 12px 10px 12px }}\n"
        f"th {{ background-color:{theme.table_header_bg}; font-weight:600 }}\n"
    )
