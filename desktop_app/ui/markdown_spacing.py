"""The vertical space between the blocks of a rendered message, worked out from markdown-it's tokens.

QTextDocument handles block margins in its own way (none on lists, none above a table, none wanted at
the end of a container), so the gaps are computed per block before rendering rather than left to CSS.
Pure Python (no Qt).
"""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it.token import Token

BLOCK_GAP = 8  # px below paragraphs, lists, tables and code blocks (none below the last one in a container)
ITEM_GAP = 3  # px between the items of a list
HEADING_GAP = 6  # px below a heading
HEADING_TOP = 8  # px above a heading that is not the first block

_LISTS = ("bullet_list_open", "ordered_list_open", "list_item_open")
_BOXES = ("fence", "code_block", "blockquote_open", "table_open")  # rendered as <table> (usually)


def block_margins(tokens: Sequence[Token]) -> tuple[dict[int, int], dict[int, int]]:
    """(top, bottom) margins in px of each block, keyed by its opening token's index.

    Blocks that end their container get no bottom margin (no stray space at the bottom of a message,
    quote or cell), except inside lists: QTextDocument ignores margins on <ul>/<ol>, and a paragraph inside
    an <li> takes over the item's margins, so the gap below a list comes from its last item's last block.
    QTextDocument also drops the bottom margin of a block followed by a table, so tables (code blocks,
    quotes, tables) carry the gap above themselves.
    """
    parent: dict[int, int] = {}
    previous: dict[int, int] = {}  # block → its previous sibling
    last_child: dict[int, int] = {}  # container (-1: the document) → its latest child so far
    last: set[int] = set()
    blocks: list[int] = []
    opened: list[int] = []
    for i, token in enumerate(tokens):
        if token.type == "inline":
            continue
        start = i
        if token.nesting != -1:
            blocks.append(i)
            container = opened[-1] if opened else -1
            if container >= 0:
                parent[i] = container
            if container in last_child:
                previous[i] = last_child[container]
            last_child[container] = i
            if token.nesting == 1:
                opened.append(i)
                continue
        elif opened:
            start = opened.pop()
        if i + 1 == len(tokens) or tokens[i + 1].nesting == -1:
            last.add(start)
    bottoms: dict[int, int] = {}
    tops: dict[int, int] = {}
    for i in blocks:
        kind = tokens[i].type
        if i not in last:
            gaps = {"list_item_open": ITEM_GAP, "heading_open": HEADING_GAP}
            bottoms[i] = gaps.get(kind, BLOCK_GAP)
        elif i in parent and tokens[parent[i]].type in _LISTS:
            bottoms[i] = bottoms.get(parent[i], BLOCK_GAP)
        else:
            bottoms[i] = 0
        before = previous.get(i)
        if before is None:
            tops[i] = 0
        elif kind in _BOXES:
            tops[i] = 0 if tokens[before].type in _BOXES else bottoms[before]
        elif kind == "heading_open":
            tops[i] = HEADING_TOP
    return tops, bottoms


def closing_index(tokens: Sequence[Token], idx: int) -> int:
    """Index of the token closing the block opened at idx."""
    depth = 0
    for j in range(idx, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1
