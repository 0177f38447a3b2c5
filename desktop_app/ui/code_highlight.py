"""Syntax highlighting for code blocks: a fence's language, its Pygments lexer, and the tokens as
`<span class>` runs that QTextDocument styles from one shared rule per class.

Pure Python (no Qt). Pygments is slow on big input, so the lexer is never guessed, and the renderer
decides how much code a message may highlight.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape

# Pygments ships no type hints (and types-Pygments is not a dependency).
from pygments.lexer import Lexer  # type: ignore[import-untyped]
from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
from pygments.styles import get_style_by_name  # type: ignore[import-untyped]
from pygments.token import STANDARD_TYPES, _TokenType  # type: ignore[import-untyped]
from pygments.util import ClassNotFound  # type: ignore[import-untyped]


@lru_cache(maxsize=512)
def _token_class(style_name: str, ttype: _TokenType) -> tuple[str, str]:
    """(CSS class, its rule) for a token type: pygments' short name for the nearest standard type."""
    while ttype not in STANDARD_TYPES and ttype.parent is not None:
        ttype = ttype.parent
    short = STANDARD_TYPES.get(ttype, "")
    spec = get_style_by_name(style_name).style_for_token(ttype)
    parts = [f"color:#{spec['color']}"] if spec["color"] else []
    if spec["bold"]:
        parts.append("font-weight:600")
    if spec["italic"]:
        parts.append("font-style:italic")
    if not short or not parts:
        return "", ""
    return f"t{short}", f"span.t{short} {{ {'; '.join(parts)} }}"


_LANG_JUNK = re.compile(r"[^\w+#.-]")
_PLAIN_LANGS = frozenset({"", "text", "txt", "plain", "plaintext", "output", "none", "code", "nohighlight"})


@lru_cache(maxsize=64)
def lexer_for(lang: str) -> Lexer | None:
    """The lexer for a fence's language, None for plain text. Never guess_lexer: it is slow on big input."""
    if lang in _PLAIN_LANGS:
        return None
    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def fence_language(info: str) -> str:
    """`python title="x.py"` → `python`; `{.rust}` → `rust`; `C++` → `c++`."""
    words = info.split(maxsplit=1)
    return _LANG_JUNK.sub("", words[0]).strip(".{}").lower()[:32] if words else ""


def highlight(code: str, lexer: Lexer, style_name: str, css: dict[str, str]) -> str:
    """Pygments tokens as `<span class>` runs (one span per run of a class); adds the rules used to css."""
    out: list[str] = []
    run: list[str] = []
    run_class = ""
    for ttype, value in lexer.get_tokens(code):
        cls = run_class
        if not value.isspace():
            cls, rule = _token_class(style_name, ttype)
            if cls:
                css[cls] = rule
        if cls != run_class and run:
            text = escape("".join(run), quote=False)
            out.append(f'<span class="{run_class}">{text}</span>' if run_class else text)
            run.clear()
        run_class = cls
        run.append(value)
    if run:
        text = escape("".join(run), quote=False)
        out.append(f'<span class="{run_class}">{text}</span>' if run_class else text)
    return "".join(out)
