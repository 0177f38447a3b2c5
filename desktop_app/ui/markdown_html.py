"""Markdown → HTML for finished chat messages, in the subset of HTML that QTextDocument lays out well.

Pure Python (no Qt), so it is cheap to import and to test. Model output is untrusted: raw HTML is escaped,
only http/https/mailto links survive, and images are never loaded (QTextDocument would resolve them).

QTextDocument (https://doc.qt.io/qt-6/richtext-html-subset.html) draws no borders, padding or backgrounds
around ordinary blocks, so boxes (code blocks, the blockquote bar) are tables. Its table layout costs
about twice as much per level of nesting, so boxes nest at most three tables deep and a message gets at
most MAX_BOXES of them. Shared styles go in one <style> element (QTextDocument supports type and class
selectors), which keeps the HTML, and Qt's parse of it, small.

This module holds the renderer and the limits that keep untrusted input cheap; the colours and style
sheet are in markdown_theme, the gaps between blocks in markdown_spacing, highlighting in code_highlight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from desktop_app.ui.code_highlight import fence_language, highlight, lexer_for
from desktop_app.ui.markdown_spacing import BLOCK_GAP, ITEM_GAP, block_margins, closing_index
from desktop_app.ui.markdown_theme import CodeTheme, base_css, code_theme

COPY_SCHEME = "hearth-copy"
"""Anchors `hearth-copy:N` ask the view to copy `RenderedMarkdown.code_blocks[N]` to the clipboard."""

SAFE_SCHEMES = ("http:", "https:", "mailto:")
# Pygments costs 1-2.5 µs a character of code (pure-Python regexes). Code blocks are highlighted while they
# fit in this many characters per message; the rest are shown plain, so a huge paste still renders fast.
HIGHLIGHT_BUDGET = 16_000
MAX_BOXES = 150  # tables (code blocks, quote bars, Markdown tables) per message; past it, plain blocks
MAX_TABLE_CELLS = 2_000  # a Markdown table bigger than this is shown as lines of text
MAX_TABLE_COLUMNS = 24
# QTextDocument's cost grows with the square of the format runs in one paragraph and worse with their
# nesting: past these, a paragraph drops its inline formatting (no real reply comes near them).
MAX_INLINE_TOKENS = 4_000
MAX_INLINE_DEPTH = 12
# markdown-it drops whatever lies deeper than its nesting limit (commonmark's 20 loses the text of a list
# nested 10 deep), so the limit is generous; indentation stops growing past MAX_INDENT levels instead.
MAX_NESTING = 100
MAX_INDENT = 6
# Font-size keywords scale the document's default font (small 0.8x, large 1.2x, x-large 1.5x), so the
# view's font choice carries through. Chat headings stay modest: no 2x h1.
HEADING_SIZES = {"h1": "x-large", "h2": "large", "h3": "medium"}  # h4-h6: medium


@dataclass(frozen=True)
class RenderedMarkdown:
    html: str
    code_blocks: tuple[str, ...]  # raw text of each fenced/indented code block, in order, no final newline
    # the same HTML cut between top-level blocks into documents of about CHUNK_CHARS each: a long reply
    # is built piece by piece (see markdown_worker.py); one piece for a short one
    chunks: tuple[str, ...] = ()


def _safe_href(href: str) -> bool:
    return href.strip().lower().startswith(SAFE_SCHEMES)


# --- the renderer ------------------------------------------------------------------------------------------


class _State:
    """Per-render state, kept in markdown-it's `env` so one shared parser serves every call."""

    def __init__(self, theme: CodeTheme) -> None:
        self.theme = theme
        self.code_blocks: list[str] = []
        self.css: dict[str, str] = {}  # token class → its rule, for the classes this message uses
        self.highlight_left = HIGHLIGHT_BUDGET
        self.boxes_left = MAX_BOXES
        self.box_depth = 0  # tables currently open
        self.quote_boxed: list[bool] = []  # per open blockquote: drawn as a table with a bar?
        self.links: list[bool] = []  # per open link: was its href kept?
        self.list_depth = 0
        self.tops: dict[int, int] = {}
        self.bottoms: dict[int, int] = {}


def _state(env: EnvType) -> _State:
    state = env["hearth"]
    assert isinstance(state, _State)
    return state


class _QtHtmlRenderer(RendererHTML):
    """markdown-it tokens → the HTML subset QTextDocument lays out well."""

    def render(self, tokens: Sequence[Token], options: OptionsDict, env: EnvType) -> str:
        state = _state(env)
        state.tops, state.bottoms = block_margins(tokens)
        out: list[str] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.type == "table_open" and self._too_big(tokens, i, state):
                end = closing_index(tokens, i)
                out.append(self._table_as_text(tokens, i, end, options, env))
                i = end + 1
                continue
            if token.type == "inline":
                out.append(self.renderInline(token.children or [], options, env))
            elif token.type in self.rules:
                out.append(self.rules[token.type](tokens, i, options, env))
            else:
                out.append(self.renderToken(tokens, i, options, env))
            i += 1
        return "".join(out)

    def renderInline(self, tokens: Sequence[Token], options: OptionsDict, env: EnvType) -> str:
        if len(tokens) > MAX_INLINE_TOKENS:
            return escape(self.renderInlineAsText(tokens, options, env), quote=False).replace("\n", "<br>\n")
        out: list[str] = []
        depth = 0
        for i, token in enumerate(tokens):
            if token.nesting:
                depth += token.nesting if token.nesting == 1 else 0
                deep = depth > MAX_INLINE_DEPTH
                depth += token.nesting if token.nesting == -1 else 0
                if deep:
                    continue  # opener and closer sit at the same depth, so both are dropped
            rule = self.rules.get(token.type)
            out.append(rule(tokens, i, options, env) if rule else self.renderToken(tokens, i, options, env))
        return "".join(out)

    @staticmethod
    def _gap(env: EnvType, idx: int) -> str:
        state = _state(env)
        return f"margin-top:{state.tops.get(idx, 0)}px; margin-bottom:{state.bottoms.get(idx, BLOCK_GAP)}px"

    @staticmethod
    def _take_box(state: _State, depth: int) -> bool:
        """Whether a box that nests `depth` tables may be drawn here (and if so, count it)."""
        if state.boxes_left <= 0 or state.box_depth + depth > 3:
            return False
        state.boxes_left -= 1
        return True

    # Blocks ---------------------------------------------------------------------------------------------

    def paragraph_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "" if tokens[idx].hidden else f'<p style="{self._gap(env, idx)}">'

    def paragraph_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "" if tokens[idx].hidden else "</p>\n"

    def heading_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        tag = tokens[idx].tag
        muted = f" color:{_state(env).theme.muted};" if tag in ("h5", "h6") else ""
        size = HEADING_SIZES.get(tag, "medium")
        return f'<{tag} style="font-size:{size}; font-weight:600;{muted} {self._gap(env, idx)}">'

    def heading_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return f"</{tokens[idx].tag}>\n"

    @staticmethod
    def _list_open(tag: str, attrs: str, env: EnvType) -> str:
        state = _state(env)
        state.list_depth += 1
        indent = f" -qt-list-indent:{MAX_INDENT};" if state.list_depth > MAX_INDENT else ""
        return f'<{tag}{attrs} style="margin-top:0px; margin-bottom:0px;{indent}">\n'

    @staticmethod
    def _list_close(tag: str, env: EnvType) -> str:
        _state(env).list_depth -= 1
        return f"</{tag}>\n"

    def bullet_list_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._list_open("ul", "", env)

    def bullet_list_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._list_close("ul", env)

    def ordered_list_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        start = tokens[idx].attrGet("start")
        return self._list_open("ol", f' start="{int(start)}"' if start is not None else "", env)

    def ordered_list_close(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return self._list_close("ol", env)

    def list_item_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return f'<li style="margin-bottom:{_state(env).bottoms.get(idx, ITEM_GAP)}px">'

    def list_item_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "</li>\n"

    def blockquote_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        state = _state(env)
        theme = state.theme
        # Only the outermost quote gets a bar: a two-cell table whose narrow first cell is the bar (there
        # are no block borders). Quotes inside it are indented, since nested tables cost 2x per level.
        boxed = not state.quote_boxed and self._take_box(state, 1)
        state.quote_boxed.append(boxed)
        if not boxed:
            indent = 14 if len(state.quote_boxed) <= MAX_INDENT else 0
            return f'<div style="margin-left:{indent}px; color:{theme.muted}; {self._gap(env, idx)}">\n'
        state.box_depth += 1
        return (
            f'<table width="100%" cellspacing="0" cellpadding="0" style="{self._gap(env, idx)}"><tr>'
            f'<td width="3" bgcolor="{theme.quote_bar}"></td>'
            f'<td style="padding-left:12px; color:{theme.muted}">\n'
        )

    def blockquote_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        state = _state(env)
        if state.quote_boxed and state.quote_boxed.pop():
            state.box_depth -= 1
            return "</td></tr></table>\n"
        return "</div>\n"

    def hr(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        border = _state(env).theme.border
        return f'<hr style="background-color:{border}; color:{border}">\n'

    # Tables ---------------------------------------------------------------------------------------------

    @staticmethod
    def _too_big(tokens: Sequence[Token], idx: int, state: _State) -> bool:
        if state.boxes_left <= 0 or state.box_depth + 1 > 3:
            return True
        cells = row = 0
        for token in tokens[idx:]:
            if token.type in ("th_open", "td_open"):
                cells += 1
                row += 1
                if cells > MAX_TABLE_CELLS or row > MAX_TABLE_COLUMNS:
                    return True
            elif token.type == "tr_close":
                row = 0
            elif token.type == "table_close":
                break
        return False

    def _table_as_text(
        self, tokens: Sequence[Token], start: int, end: int, options: OptionsDict, env: EnvType
    ) -> str:
        """A table too big for QTextDocument's table layout: one line per row, cells separated by bars."""
        rows: list[str] = []
        cells: list[str] = []
        for token in tokens[start:end]:
            if token.type == "inline":
                cells.append(self.renderInline(token.children or [], options, env))
            elif token.type == "tr_close":
                rows.append(" │ ".join(cells))
                cells = []
        return f'<p style="{self._gap(env, start)}">' + "<br>\n".join(rows) + "</p>\n"

    def table_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        state = _state(env)
        state.boxes_left -= 1
        state.box_depth += 1
        return (
            f'<table cellspacing="0" cellpadding="6" border="1" style="border-collapse:collapse;'
            f' border-color:{state.theme.border}; border-style:solid; {self._gap(env, idx)}">\n'
        )

    def table_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        _state(env).box_depth -= 1
        return "</table>\n"

    @staticmethod
    def _cell(token: Token) -> str:
        style = str(token.attrGet("style") or "")
        align = next((a for a in ("center", "right") if f"text-align:{a}" in style), "left")
        return f'<{token.tag} align="{align}">'

    def th_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._cell(tokens[idx])

    def td_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._cell(tokens[idx])

    # Code -----------------------------------------------------------------------------------------------

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._code_block(tokens[idx].content, fence_language(tokens[idx].info), idx, env)

    def code_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._code_block(tokens[idx].content, "", idx, env)

    def _code_block(self, content: str, lang: str, idx: int, env: EnvType) -> str:
        state = _state(env)
        code = content[:-1] if content.endswith("\n") else content
        number = len(state.code_blocks)
        state.code_blocks.append(code)
        shown = code.expandtabs(4) if "\t" in code else code  # Qt's tab stops are 80 px wide
        lexer = lexer_for(lang) if len(shown) <= state.highlight_left else None
        if lexer is None:
            body = escape(shown, quote=False)
        else:
            state.highlight_left -= len(shown)
            body = highlight(shown, lexer, state.theme.pygments_style, state.css)
        gap = self._gap(env, idx)
        if not self._take_box(state, 2):
            return f'<pre style="{gap}">{body}</pre>\n'
        # The outer one-cell table, padded by 1px and filled with the border colour, draws the frame:
        # a bordered table would also draw a line between the two header cells, and no CSS removes it.
        return (
            f'<table width="100%" cellspacing="0" cellpadding="1" style="{gap}">'
            f'<tr><td bgcolor="{state.theme.border}"><table width="100%" cellspacing="0" cellpadding="0">'
            f'<tr><td class="head"><span class="lang">{escape(lang or "code")}</span></td>'
            f'<td class="head" align="right"><a class="copy" href="{COPY_SCHEME}:{number}">Copy</a></td></tr>'
            f'<tr><td class="body" colspan="2"><pre>{body}</pre></td></tr></table></td></tr></table>\n'
        )

    def code_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        # The no-break spaces pad the tinted background (spans take no padding); copies turn them to spaces.
        return f"<code>&nbsp;{escape(tokens[idx].content, quote=False)}&nbsp;</code>"

    # Inline ---------------------------------------------------------------------------------------------

    def link_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        href = str(tokens[idx].attrGet("href") or "")
        keep = _safe_href(href)
        _state(env).links.append(keep)
        return f'<a href="{escape(href)}">' if keep else ""  # relative, file:, data:… links become text

    def link_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        links = _state(env).links
        return "</a>" if links and links.pop() else ""

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        """Never an <img> (QTextDocument would resolve it): a link to the image labelled with its alt text."""
        token = tokens[idx]
        alt = self.renderInlineAsText(token.children, options, env).strip() or "image"
        label = escape(f"[{alt}]", quote=False)
        src = str(token.attrGet("src") or "")
        if not _safe_href(src) or any(_state(env).links):  # a link inside a link is not a thing
            return label
        return f'<a href="{escape(src)}">{label}</a>'

    def s_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "<s>"

    def s_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "</s>"

    def html_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return escape(tokens[idx].content, quote=False)  # not produced with html=False; a backstop

    def html_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return escape(tokens[idx].content, quote=False)


def _markdown_it(max_nesting: int, *, links: bool = True) -> MarkdownIt:
    # breaks=True: models write single newlines meaning line breaks (poems, addresses, step lists), and the
    # streamed plain text already showed them as breaks, so the finished message must not reflow them.
    options = {"html": False, "breaks": True, "maxNesting": max_nesting}
    md = MarkdownIt("commonmark", options, renderer_cls=_QtHtmlRenderer)
    md.enable(["table", "strikethrough"])
    if not links:
        md.disable(["link", "image"])
    return md


# Inline parsing costs time in proportion to the nesting limit for every `[` (link labels are scanned
# recursively), so inline keeps commonmark's limit of 20, and a paragraph with more than MAX_BRACKETS
# brackets is parsed without links at all: 100k characters of `![` would otherwise take seconds.
MAX_BRACKETS = 400
_INLINE = _markdown_it(20)
_INLINE_NO_LINKS = _markdown_it(20, links=False)


def _parse_inlines(state: StateCore) -> None:
    """markdown-it's core `inline` rule, with the inline parser chosen per paragraph (see above)."""
    for token in state.tokens:
        if token.type == "inline":
            md = _INLINE_NO_LINKS if token.content.count("[") > MAX_BRACKETS else _INLINE
            token.children = md.inline.parse(token.content, md, state.env, token.children or [])


def _parser() -> MarkdownIt:
    md = _markdown_it(MAX_NESTING)
    md.core.ruler.at("inline", _parse_inlines)
    return md


_MD = _parser()


CHUNK_CHARS = 4_000  # of Markdown source per chunk: ~10-15 ms to build and lay out on the 2-core VM


def render_markdown(text: str, *, dark: bool) -> RenderedMarkdown:
    """HTML for `QTextDocument.setHtml`, plus the code blocks its `hearth-copy:N` anchors refer to."""
    state = _State(code_theme(dark))
    env = {"hearth": state}
    tokens = _MD.parse(text, env)
    pieces: list[str] = []
    start = size = 0
    for n, token in enumerate(tokens):  # cut after a top-level block once the piece is big enough
        size += len(token.content)
        if token.level == 0 and token.nesting <= 0 and size >= CHUNK_CHARS and n + 1 < len(tokens):
            pieces.append(_MD.renderer.render(tokens[start : n + 1], _MD.options, env))
            start, size = n + 1, 0
    pieces.append(_MD.renderer.render(tokens[start:], _MD.options, env))
    css = base_css(state.theme) + "\n".join(state.css.values())

    def page(body: str) -> str:
        return f"<html><head><style>\n{css}\n</style></head><body>\n{body}</body></html>"

    return RenderedMarkdown(
        html=page("".join(pieces)), code_blocks=tuple(state.code_blocks), chunks=tuple(map(page, pieces))
    )


def plain_text_html(text: str) -> str:
    """A streaming message as HTML (escaped, newlines kept), for a view that shows only rich text."""
    return f'<p style="margin:0px; white-space:pre-wrap">{escape(text, quote=False)}</p>'
