"""Markdown rendering for finished chat messages: safety, code blocks and copy anchors, and what a real
QTextDocument / QTextBrowser makes of the HTML."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QImage, QPainter, QTextBlock, QTextCursor, QTextDocument
from PySide6.QtWidgets import QTextBrowser

from desktop_app.ui import markdown_html, markdown_theme
from desktop_app.ui.markdown_html import (
    COPY_SCHEME,
    HIGHLIGHT_BUDGET,
    MAX_BOXES,
    RenderedMarkdown,
    plain_text_html,
    render_markdown,
)
from desktop_app.ui.markdown_theme import code_theme
from desktop_app.ui.theme import DARK, LIGHT

BOTH = pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])


@pytest.fixture(autouse=True)
def _gui_app(qapp):
    """QTextDocument lays out text with fonts, which need a QGuiApplication (without one it crashes)."""
    return qapp


def html_of(text: str, dark: bool = False) -> str:
    return render_markdown(text, dark=dark).html


def body_of(text: str, dark: bool = False) -> str:
    """The <body> only: the <style> element legitimately contains words like `a {`."""
    html = html_of(text, dark)
    return html[html.index("<body>") :]


def copy_hrefs(html: str) -> list[str]:
    return re.findall(r'href="(hearth-copy:[^"]*)"', html)


def document(rendered: RenderedMarkdown, width: float = 640) -> QTextDocument:
    doc = QTextDocument()
    doc.setTextWidth(width)
    doc.setHtml(rendered.html)
    return doc


def blocks(doc: QTextDocument) -> list[QTextBlock]:
    """Every block, including those inside tables (QTextDocument iterates all frames in order)."""
    found = []
    block = doc.begin()
    while block.isValid():
        found.append(block)
        block = block.next()
    return found


def anchors(doc: QTextDocument) -> list[tuple[str, str, int]]:
    """(text, href, position) of each anchor fragment, in document order."""
    found = []
    for block in blocks(doc):
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().isAnchor():
                found.append((fragment.text(), fragment.charFormat().anchorHref(), fragment.position()))
            it += 1
    return found


def _x(result: object) -> float:
    """PySide6 returns (x, cursor position) from QTextLine.cursorToX; its stub says `object`."""
    assert isinstance(result, tuple)
    return float(result[0])


def point_on(doc: QTextDocument, position: int) -> QPointF:
    """The middle of the character at `position`, in document coordinates."""
    block = doc.findBlock(position)
    rect = doc.documentLayout().blockBoundingRect(block)
    offset = position - block.position()
    line = block.layout().lineForTextPosition(offset)
    left = _x(line.cursorToX(offset))
    right = _x(line.cursorToX(offset + 1))
    return QPointF(rect.x() + (left + right) / 2, rect.y() + line.y() + line.height() / 2)


# --- packaging rules ---------------------------------------------------------------------------------------


def test_importing_the_module_loads_no_qt() -> None:
    code = (
        "import sys, desktop_app.ui.markdown_html\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_theme_colours_mirror_theme_module() -> None:
    """markdown_theme keeps its own copy of the palette (theme.py imports Qt): the two must agree."""
    for dark, colors in ((False, LIGHT), (True, DARK)):
        for name, value in markdown_theme._BASE[dark].items():
            assert getattr(colors, name) == value, (dark, name)
        theme = code_theme(dark)
        assert theme.text == colors.text and theme.link == colors.accent and theme.border == colors.border
        # Code must stand out from the bubble surface and from the window (assistant rows sit on it).
        for tint in (theme.code_bg, theme.code_header_bg, theme.inline_code_bg):
            for backdrop in (colors.surface, colors.window):
                assert _distance(tint, backdrop) >= 12, (dark, tint, backdrop)
        assert _distance(theme.code_bg, theme.code_header_bg) >= 12


def _distance(a: str, b: str) -> int:
    """Sum of the RGB channel differences: 12 is about the least a reader notices."""
    ca, cb = QColor(a), QColor(b)
    return abs(ca.red() - cb.red()) + abs(ca.green() - cb.green()) + abs(ca.blue() - cb.blue())


# --- untrusted input ---------------------------------------------------------------------------------------


@BOTH
def test_raw_html_and_scripts_are_escaped(dark: bool) -> None:
    text = (
        "<script>alert(1)</script>\n\n"
        'Inline <img src="http://evil/x.png" onerror="alert(2)"> and <b>bold</b>\n'
        '<a href="javascript:x">a</a>\n\n'
        "<div style='x'>\nblock html\n</div>\n\n"
        "# <i>heading</i>\n\n"
        "| <u>cell</u> |\n|---|\n| <script>t</script> |\n\n"
        "`<code>` and [<em>x</em>](https://ok.example/)\n\n"
        "```<script>\n<script>in code</script>\n```\n"
    )
    body = body_of(text, dark)
    for tag in ("<script", "<img", "<b>", "<div", "<i>", "<u>", "<em>x", 'href="javascript'):
        assert tag not in body.lower(), tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;script&gt;in code&lt;/script&gt;" in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body
    # What the reader sees is the literal text the model wrote.
    plain = document(render_markdown(text, dark=dark)).toPlainText()
    assert "<script>alert(1)</script>" in plain
    assert "<b>bold</b>" in plain


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "data:text/html;base64,PHNjcmlwdD4=",
        "relative/path.html",
        "/absolute/path",
        "#fragment",
        "ftp://example.com/x",
        "hearth-copy:0",
    ],
)
def test_unsafe_links_become_plain_text(href: str) -> None:
    rendered = render_markdown(f"see [the docs]({href}) here, and <{href}>", dark=False)
    body = rendered.html[rendered.html.index("<body>") :]
    assert "<a " not in body
    assert "the docs" in body
    assert anchors(document(rendered)) == []


@pytest.mark.parametrize(
    "href", ["https://example.com/a?b=1&c=2", "http://localhost:8080/", "mailto:someone@example.com"]
)
def test_safe_links_are_kept(href: str) -> None:
    rendered = render_markdown(f"see [the docs]({href})", dark=False)
    found = anchors(document(rendered))
    assert [(text, QUrl(url).toString()) for text, url, _ in found] == [("the docs", QUrl(href).toString())]


def test_link_attributes_cannot_break_out_of_the_href() -> None:
    body = body_of('[x](https://example.com/"onmouseover="alert(1)) and [y](<https://e.com/a" b="c>)')
    assert 'onmouseover="' not in body
    assert ' b="' not in body


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("![a cat](https://example.com/cat.png)", "https://example.com/cat.png"),
        ('![a cat](http://example.com/cat.png "title")', "http://example.com/cat.png"),
        ("![a cat](data:image/png;base64,iVBORw0KGgo=)", None),
        ("![a cat](cat.png)", None),
        ("![a cat](file:///home/me/cat.png)", None),
        ("[![a cat](https://example.com/cat.png)](https://example.com/page)", "https://example.com/page"),
    ],
)
def test_images_are_never_loaded(text: str, href: str | None) -> None:
    rendered = render_markdown(text, dark=False)
    assert "<img" not in rendered.html.lower()
    doc = document(rendered)
    assert "a cat" in doc.toPlainText()
    assert [url for _, url, _ in anchors(doc)] == ([href] if href else [])
    # Nothing for QTextDocument to resolve: it asks loadResource only for images and stylesheets.
    assert "src=" not in rendered.html


# --- code blocks -------------------------------------------------------------------------------------------

CODE_SAMPLES = [
    ("```python\ndef f():\n    return '<x>' & \"y\"\n```", "def f():\n    return '<x>' & \"y\""),
    ("````md\n```js\nconsole.log(`tpl ${x}`)\n```\n````", "```js\nconsole.log(`tpl ${x}`)\n```"),
    ("~~~\n~~~not a fence end\n  indented\n~~~", "~~~not a fence end\n  indented"),
    ("    indented block\n      deeper\n\n    after blank", "indented block\n  deeper\n\nafter blank"),
    ("```\nunicode: héllo — 日本語 😀 ∑\n```", "unicode: héllo — 日本語 😀 ∑"),
    ("```go\nfunc f() {\n\treturn\t// tab\n}\n```", "func f() {\n\treturn\t// tab\n}"),
    ("```\n\n  leading blank and trailing spaces  \n\n```", "\n  leading blank and trailing spaces  \n"),
    ("```\n```", ""),
    ("- item\n\n  ```sh\n  ls -la\n  ```", "ls -la"),
    ("> quoted\n> ```\n> in a quote\n> ```", "in a quote"),
    ("```\nunclosed fence runs to the end\n", "unclosed fence runs to the end"),
]


@pytest.mark.parametrize(("markdown", "expected"), CODE_SAMPLES)
def test_code_blocks_are_listed_exactly(markdown: str, expected: str) -> None:
    rendered = render_markdown(markdown, dark=False)
    assert rendered.code_blocks == (expected,)
    assert copy_hrefs(rendered.html) == [f"{COPY_SCHEME}:0"]


@BOTH
def test_copy_anchors_are_numbered_in_order(dark: bool) -> None:
    text = "\n\n".join(
        [
            "Intro with `inline code` (not a block).",
            "```python\nfirst = 1\n```",
            "    second = 2",
            "- a list\n\n  ```js\n  third = 3\n  ```",
            "> ```\n> fourth = 4\n> ```",
            "```unknownlang\nfifth = 5\n```",
        ]
    )
    rendered = render_markdown(text, dark=dark)
    assert rendered.code_blocks == ("first = 1", "second = 2", "third = 3", "fourth = 4", "fifth = 5")
    expected = [f"{COPY_SCHEME}:{n}" for n in range(5)]
    assert copy_hrefs(rendered.html) == expected
    copies = [(text, href) for text, href, _ in anchors(document(rendered))]
    assert copies == [("Copy", href) for href in expected]
    for n, href in enumerate(expected):
        url = QUrl(href)
        assert (url.scheme(), url.path()) == (COPY_SCHEME, str(n))


def test_code_block_header_shows_the_language_or_code() -> None:
    doc = document(render_markdown("```Python title=x.py\nx = 1\n```\n\n```\nplain\n```", dark=False))
    lines = [line for line in doc.toPlainText().split("\n") if line]
    assert lines[:3] == ["python", "Copy", "x = 1"]
    assert "code" in lines and lines[lines.index("code") + 1 : lines.index("code") + 3] == ["Copy", "plain"]


@BOTH
def test_known_languages_are_highlighted_and_unknown_fall_back(dark: bool) -> None:
    known = render_markdown("```python\ndef f():\n    return 1  # c\n```", dark=dark).html
    assert re.search(r'<span class="t\w+">def\s*</span>', known)
    assert re.search(r"span\.t\w+ \{ color:#[0-9a-fA-F]{6}", known)  # the rule for it is in <style>
    for info in ("notalanguage", "", "text", "{weird}"):
        fence = "`" * 3
        rendered = render_markdown(f"{fence}{info}\ndef f():\n    return 1  # c\n{fence}", dark=dark)
        assert '<span class="t' not in rendered.html, info
        assert "def f():\n    return 1  # c" in rendered.html
        assert rendered.code_blocks == ("def f():\n    return 1  # c",)


def test_highlighting_stops_at_the_budget_but_code_is_complete() -> None:
    line = "value = compute(1, 2)  # comment\n"
    big = line * (HIGHLIGHT_BUDGET // len(line) + 10)
    rendered = render_markdown(f"```python\n{big}```\n\n```python\nsmall = 1\n```", dark=False)
    assert rendered.code_blocks == (big[:-1], "small = 1")
    first, second = rendered.html.split("<pre>")[1:3]
    assert '<span class="t' not in first  # too big: plain
    assert '<span class="t' in second  # still fits the budget
    assert document(rendered).toPlainText().count("value = compute(1, 2)  # comment") == big.count("\n")


def test_tabs_are_expanded_for_display_only() -> None:
    rendered = render_markdown("```\n\tx\n```", dark=False)
    assert rendered.code_blocks == ("\tx",)
    assert "<pre>    x</pre>" in rendered.html


def test_inline_code_is_escaped_monospace() -> None:
    rendered = render_markdown("Use `a < b && c` or ``x ` y``.", dark=False)
    assert "<code>&nbsp;a &lt; b &amp;&amp; c&nbsp;</code>" in rendered.html
    assert rendered.code_blocks == ()
    doc = document(rendered)
    assert "a < b && c" in doc.toPlainText() and "x ` y" in doc.toPlainText()
    block = blocks(doc)[0]
    fixed = [f for f in _fragments(block) if "a < b" in f[0]]
    assert fixed and fixed[0][1]


def _fragments(block: QTextBlock) -> list[tuple[str, bool]]:
    out = []
    it = block.begin()
    while not it.atEnd():
        fmt = it.fragment().charFormat()
        mono = fmt.fontFixedPitch() or any("Mono" in f for f in (fmt.fontFamilies() or []))
        out.append((it.fragment().text(), bool(mono)))
        it += 1
    return out


# --- other Markdown ----------------------------------------------------------------------------------------


@BOTH
def test_tables_render_as_qt_tables(dark: bool) -> None:
    text = "| Model | Size |\n|:--|--:|\n| Gemma **3** | 253 MB |\n| Llama | `0.8` GB |\n"
    rendered = render_markdown(text, dark=dark)
    assert '<th align="left">' in rendered.html and '<td align="right">' in rendered.html
    doc = document(rendered)
    model = next(b for b in blocks(doc) if b.text() == "Model")
    table = QTextCursor(model).currentTable()
    assert table is not None
    assert (table.rows(), table.columns()) == (3, 2)
    cells = [[table.cellAt(r, c).firstCursorPosition().block().text() for c in range(2)] for r in range(3)]
    assert cells == [["Model", "Size"], ["Gemma 3", "253 MB"], ["Llama", "\xa00.8\xa0 GB"]]


def test_huge_tables_fall_back_to_text_rows() -> None:
    columns = markdown_html.MAX_TABLE_COLUMNS + 1
    text = "|" + "h|" * columns + "\n|" + "-|" * columns + "\n|" + "c|" * columns + "\n"
    rendered = render_markdown(text, dark=False)
    assert "<table" not in rendered.html
    assert " │ ".join(["h"] * columns) in rendered.html


@BOTH
def test_structure_elements(dark: bool) -> None:
    text = (
        "# Title\n\n## Sub\n\n###### Small\n\nPara with **bold**, *em*, ~~gone~~.\n"
        "Line two after one newline.\n\n- a\n- b\n  1. nested\n\n3. three\n4. four\n\n> quoted\n\n---\n\nend"
    )
    rendered = render_markdown(text, dark=dark)
    html = rendered.html
    assert 'style="font-size:x-large; font-weight:600;' in html  # h1: modest, not Qt's 2x default
    assert "<s>gone</s>" in html and "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert "<hr " in html and '<ol start="3"' in html
    doc = document(rendered)
    plain = doc.toPlainText()
    # breaks=True: a single newline stays a line break, as it looked while streaming.
    assert "Line two" in plain and "Para with bold, em, gone.\u2028Line two" in doc.toRawText()
    items = {b.text(): b.textList() for b in blocks(doc) if b.textList() is not None}
    assert set(items) == {"a", "b", "nested", "three", "four"}
    assert items["nested"].format().indent() > items["a"].format().indent()
    numbered = [b for b in blocks(doc) if b.text() in ("three", "four")]
    assert [b.textList().itemText(b) for b in numbered] == ["3.", "4."]
    quote = next(b for b in blocks(doc) if b.text() == "quoted")
    assert quote.charFormat().foreground().color().name() == code_theme(dark).muted


def test_nested_quotes_stay_cheap_for_qt() -> None:
    """Qt's table layout doubles in cost per nesting level: boxes never nest more than 3 tables deep."""
    text = "> " * 60 + "deep\n\n" + "> > ```\n> > code\n> > ```\n\n" + "- " * 30 + "deep list"
    html = html_of(text)
    depth = deepest = 0
    for tag in re.findall(r"</?table", html):
        depth += 1 if tag == "<table" else -1
        deepest = max(deepest, depth)
    assert deepest <= 3
    plain = document(render_markdown(text, dark=False)).toPlainText()
    # markdown-it silently drops text nested past its limit; ours is high enough for any real reply.
    assert "deep" in plain and "deep list" in plain


def test_boxes_per_message_are_capped() -> None:
    text = "\n\n".join(f"```\nblock {n}\n```" for n in range(MAX_BOXES + 5))
    rendered = render_markdown(text, dark=False)
    assert len(rendered.code_blocks) == MAX_BOXES + 5
    assert copy_hrefs(rendered.html) == [f"{COPY_SCHEME}:{n}" for n in range(MAX_BOXES)]
    assert f'<pre style="margin-top:0px; margin-bottom:0px">block {MAX_BOXES + 4}</pre>' in rendered.html


def test_pathological_inline_markup_is_flattened() -> None:
    rendered = render_markdown("`a" * 10_000, dark=False)
    assert "<code>" not in rendered.html
    assert rendered.html.count("a") >= 10_000
    deep = render_markdown("*" * 200 + "x" + "*" * 200, dark=False).html
    assert deep.count("<em>") + deep.count("<strong>") <= markdown_html.MAX_INLINE_DEPTH


def test_empty_and_whitespace_messages() -> None:
    for text in ("", "   ", "\n\n"):
        rendered = render_markdown(text, dark=False)
        assert rendered.code_blocks == ()
        assert document(rendered).toPlainText().strip() == ""


def test_plain_text_html_escapes_and_keeps_newlines() -> None:
    doc = QTextDocument()
    doc.setHtml(plain_text_html("<b>not bold</b>\n  indented & more"))
    assert doc.toPlainText() == "<b>not bold</b>\n  indented & more"


# --- in a real view ----------------------------------------------------------------------------------------


@BOTH
def test_clicking_copy_in_a_text_browser_names_the_block(qtbot, dark: bool) -> None:
    rendered = render_markdown(
        "Some text first.\n\n```python\nprint('one')\n```\n\nMiddle.\n\n```\ntwo\n```", dark=dark
    )
    browser = QTextBrowser()
    browser.setOpenLinks(False)
    browser.setOpenExternalLinks(False)
    qtbot.addWidget(browser)
    browser.resize(640, 480)
    browser.setHtml(rendered.html)
    browser.show()
    qtbot.waitExposed(browser)
    doc = browser.document()
    assert "print('one')" in doc.toPlainText() and "Middle." in doc.toPlainText()
    copies = [(href, pos) for text, href, pos in anchors(doc) if text == "Copy"]
    assert [href for href, _ in copies] == ["hearth-copy:0", "hearth-copy:1"]
    for n, (href, position) in enumerate(copies):
        point = point_on(doc, position)
        assert doc.documentLayout().anchorAt(point) == href
        with qtbot.waitSignal(browser.anchorClicked, timeout=2000) as clicked:
            qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=point.toPoint())
        url = clicked.args[0]
        assert (url.scheme(), url.path()) == (COPY_SCHEME, str(n))
        assert rendered.code_blocks[int(url.path())] == ("print('one')", "two")[n]


@BOTH
def test_code_block_background_is_painted(dark: bool) -> None:
    """The tint reaches the screen: paint the document and sample the code block's body."""
    theme = code_theme(dark)
    surface = (DARK if dark else LIGHT).surface
    doc = document(render_markdown("Text.\n\n```\nshort\n```", dark=dark), width=500)
    image = QImage(500, int(doc.size().height()) + 1, QImage.Format.Format_RGB32)
    image.fill(QColor(surface))
    painter = QPainter(image)
    doc.drawContents(painter)
    painter.end()
    code = next(b for b in blocks(doc) if b.text() == "short")
    rect = doc.documentLayout().blockBoundingRect(code)
    inside = QPoint(int(rect.x() + rect.width() - 10), int(rect.center().y()))
    assert image.pixelColor(inside).name() == theme.code_bg
    head = next(b for b in blocks(doc) if b.text() == "code")
    rect = doc.documentLayout().blockBoundingRect(head)
    beside_label = QPoint(int(rect.right()) + 40, int(rect.center().y()))
    assert image.pixelColor(beside_label).name() == theme.code_header_bg


def test_theme_is_frozen_and_per_mode() -> None:
    light, dark = code_theme(False), code_theme(True)
    assert light.dark is False and dark.dark is True
    assert light.code_bg != dark.code_bg
    with pytest.raises(dataclasses.FrozenInstanceError):
        light.code_bg = "#000000"  # type: ignore[misc]


def test_bracket_floods_lose_links_not_text() -> None:
    """Inline parsing is slow per `[`, so a paragraph full of them is parsed without links."""
    flood = "![" * (markdown_html.MAX_BRACKETS + 1)
    rendered = render_markdown(f"{flood}\n\nthen [a link](https://example.com/)", dark=False)
    body = rendered.html[rendered.html.index("<body>") :]
    assert body.count("<a ") == 1
    plain = document(rendered).toPlainText()
    assert flood in plain and "then a link" in plain
