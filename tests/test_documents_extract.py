"""Extraction and chunking on real files: each format with its page numbers, each bad file with its
reason, normalisation (ligatures, hyphenation, whitespace), caps, and chunks that never cross a page."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from desktop_app.core.documents.chunking import Chunk, chunk_pages
from desktop_app.core.documents.extract import SUPPORTED_SUFFIXES, DocumentError, DocumentInfo, open_document
from desktop_app.core.documents.extract.html import html_to_text
from desktop_app.core.documents.extract.normalize import normalize_code, normalize_text
from desktop_app.core.documents.passages import PageText
from tests.doc_fixtures import (
    write_binary,
    write_corrupt_pdf,
    write_docx,
    write_docx_bomb,
    write_huge_text,
    write_pdf,
)


def read_all(path: Path, **limits: int) -> tuple[list[PageText], DocumentInfo]:
    with open_document(path, **limits) as reader:
        pages = list(reader.pages())
        return pages, reader.info


def reason(path: Path) -> str:
    with pytest.raises(DocumentError) as caught:
        read_all(path)
    message = caught.value.message
    assert "\n" not in message
    return message


# --- formats, with page numbers ---


def test_pdf_pages_are_numbered_and_streamed(tmp_path: Path) -> None:
    path = write_pdf(
        tmp_path / "report.pdf",
        ["The aurora budget for Oslo.", "Second page lists the harbour cranes.", "Third: tidal clocks."],
    )
    with open_document(path) as reader:
        assert reader.info.kind == "pdf"
        assert reader.info.pages == 3
        iterator = reader.pages()
        first = next(iterator)  # a generator: the first page comes before the rest is read
        assert first == PageText(1, "The aurora budget for Oslo.")
        rest = list(iterator)
    assert [p.number for p in rest] == [2, 3]
    assert "harbour cranes" in rest[0].text
    assert rest[1].text == "Third: tidal clocks."


def test_pdf_blank_page_keeps_the_numbering(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "gap.pdf", ["before", "", "after"])
    pages, _ = read_all(path)
    assert [(p.number, p.text) for p in pages] == [(1, "before"), (2, ""), (3, "after")]


def test_pdf_line_end_hyphenation_is_undone(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "h.pdf", ["The extrac-\ntion of honey.\nJean-\nPaul came too."])
    pages, _ = read_all(path)
    assert "extraction of honey" in pages[0].text
    assert "Jean-Paul" in pages[0].text


def test_docx_paragraphs_and_tables_in_order(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "memo.docx",
        ["Quarterly memo", "The lighthouse keeper retires in May.", "Budget follows."],
        table=[["Item", "Cost"], ["Lamp", "40"]],
    )
    pages, info = read_all(path)
    assert len(pages) == 1
    assert pages[0].number is None
    assert info.kind == "docx"
    assert pages[0].text == (
        "Quarterly memo\n\nThe lighthouse keeper retires in May.\n\nBudget follows.\n\nItem | Cost\nLamp | 40"
    )


def test_html_visible_text_only(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Bee notes</title><style>p{color:red}</style>"
        "<script>var hidden = 'do not index';</script></head>"
        "<body><h1>Hives</h1><p>Bees&nbsp;make <b>honey</b>.</p><p>Second&amp;last</p></body></html>",
        encoding="utf-8",
    )
    pages, info = read_all(path)
    assert info.kind == "html"
    assert pages[0].number is None
    assert pages[0].text == "Bee notes\n\nHives\n\nBees make honey.\n\nSecond&last"
    assert "hidden" not in pages[0].text
    assert "color" not in pages[0].text


def test_markdown_and_code(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("# Title\n\nSome   text\twith  gaps.\n\n\n\nNext paragraph.\n", encoding="utf-8")
    pages, info = read_all(md)
    assert info.kind == "markdown"
    assert pages == [PageText(None, "# Title\n\nSome text with gaps.\n\nNext paragraph.")]

    code = tmp_path / "tool.py"
    code.write_text("def f(x):  \n    return x * 2\n\n\n\n\n\nprint(f(2))\n", encoding="utf-8")
    pages, info = read_all(code)
    assert info.kind == "code"
    assert pages[0].text == "def f(x):\n    return x * 2\n\n\nprint(f(2))"  # indentation kept


def test_supported_suffixes() -> None:
    for suffix in (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".py", ".rs", ".go", ".json", ".yaml"):
        assert suffix in SUPPORTED_SUFFIXES


def test_uppercase_suffix_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "README.TXT"
    path.write_text("hello", encoding="utf-8")
    assert read_all(path)[0] == [PageText(None, "hello")]


# --- encodings and normalisation ---


def test_encodings(tmp_path: Path) -> None:
    cases = {
        "utf8.txt": "café naïve".encode(),
        "bom.txt": b"\xef\xbb\xbfcaf\xc3\xa9 na\xc3\xafve",
        "utf16.txt": "café naïve".encode("utf-16"),
        "cp1252.txt": "café naïve “quoted”".encode("cp1252"),
        "stray.txt": "café naïve, über straße ".encode() + b"\xff" + b"ok",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        text = read_all(tmp_path / name)[0][0].text
        assert text.startswith("café naïve"), (name, text)
    assert read_all(tmp_path / "cp1252.txt")[0][0].text.endswith("“quoted”")
    # mostly UTF-8 with one stray byte: still UTF-8, the byte shown as U+FFFD
    assert read_all(tmp_path / "stray.txt")[0][0].text.endswith("straße \ufffdok")


def test_ligatures_controls_and_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "lig.txt"
    path.write_text(
        "The \ufb01rst \ufb02ow\x07 of e\ufb00ort.\r\n\r\n\r\nNext\u00a0\u00a0line\u200b.", "utf-8"
    )
    assert read_all(path)[0][0].text == "The first flow of effort.\n\nNext line."


def test_normalize_functions() -> None:
    assert normalize_text("a  b\t\tc \n  d\n\n\n\ne") == "a b c\nd\n\ne"
    assert normalize_text("extrac-\ntion", dehyphenate=True) == "extraction"
    assert normalize_text("extrac-\ntion") == "extrac-\ntion"  # only PDFs are de-hyphenated
    assert normalize_text("1990-\n2000", dehyphenate=True) == "1990-\n2000"
    assert normalize_text("extrac\ufffetion Jean\ufffePaul", dehyphenate=True) == "extraction Jean-Paul"
    assert normalize_code("\tindent\x00ed  \n") == "\tindented"


# --- bad files: each with its reason ---


def test_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff")
    assert reason(path).startswith("unsupported format")


def test_binary_file(tmp_path: Path) -> None:
    assert reason(write_binary(tmp_path / "data.txt")) == "not a text file (binary)"


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_bytes(b"")
    assert reason(tmp_path / "empty.md").startswith("empty")
    (tmp_path / "blank.txt").write_text(" \n\n\t\n", encoding="utf-8")
    assert reason(tmp_path / "blank.txt").startswith("empty")
    (tmp_path / "script.html").write_text("<script>only()</script>", encoding="utf-8")
    assert reason(tmp_path / "script.html").startswith("empty")
    write_docx(tmp_path / "blank.docx", [])
    assert reason(tmp_path / "blank.docx").startswith("empty")


def test_pdf_without_text_is_empty_at_its_end(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "scan.pdf", ["", ""])
    with open_document(path) as reader, pytest.raises(DocumentError, match="empty: no text found"):
        list(reader.pages())


def test_corrupt_pdf(tmp_path: Path) -> None:
    assert reason(write_corrupt_pdf(tmp_path / "broken.pdf")).startswith("corrupt PDF")
    (tmp_path / "fake.pdf").write_text("this is not a pdf", encoding="utf-8")
    assert reason(tmp_path / "fake.pdf").startswith("corrupt PDF")


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "locked.pdf", ["secret"], encrypted=True)
    assert reason(path) == "encrypted PDF: remove the password and add it again"


def test_corrupt_and_old_docx(tmp_path: Path) -> None:
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 truncated")
    assert reason(tmp_path / "bad.docx").startswith("corrupt Word document")
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    assert reason(tmp_path / "old.docx").startswith("encrypted or old-format Word document")


def test_docx_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    path = write_docx_bomb(tmp_path / "bomb.docx", unpacked_mb=300)
    assert path.stat().st_size < 2 * 1024 * 1024
    message = reason(path)
    assert "zip bomb" in message
    assert "300 MB" in message


def test_docx_with_a_huge_text_part_is_refused(tmp_path: Path) -> None:
    path = write_docx_bomb(tmp_path / "big.docx", unpacked_mb=100)  # under the total cap
    assert reason(path) == "refused: the .docx text part would unpack to 100 MB"


def test_hostile_html_is_bounded() -> None:
    text, _ = html_to_text("&#" + "1" * 100_000 + "; ok &#65;&amp;", 1000)
    assert text == "\ufffd ok A&"
    text, capped = html_to_text("<p>start</p>" + "<b>x</b>" * 200_000, 10_000_000, deadline_s=0.0)
    assert capped  # the deadline stops it after the first feed
    assert text.startswith("\n\nstart")


def test_missing_file(tmp_path: Path) -> None:
    assert reason(tmp_path / "gone.txt").startswith("cannot read the file")


# --- caps ---


@pytest.mark.slow
def test_huge_text_is_capped_by_bytes(tmp_path: Path) -> None:
    path = write_huge_text(tmp_path / "huge.log", megabytes=40)
    pages, info = read_all(path, max_bytes=8 * 1024 * 1024, max_chars=50_000_000)
    assert info.capped
    assert info.note == "only the first 8 MB were indexed"
    assert len(pages[0].text) <= 8 * 1024 * 1024
    assert pages[0].text.startswith("Sentence number 000000000")


def test_text_is_capped_by_characters(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("word " * 100_000, encoding="utf-8")
    pages, info = read_all(path, max_chars=1000)
    assert info.capped
    assert info.note == "only the first 1,000 characters were indexed"
    assert len(pages[0].text) <= 1000
    _, small_info = read_all(path, max_chars=10_000_000)
    assert not small_info.capped
    assert small_info.note == ""


def test_pdf_is_capped_by_characters_and_says_where(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "long.pdf", [f"Page {i} " + "lorem ipsum " * 50 for i in range(1, 21)])
    with open_document(path, max_chars=2000) as reader:
        before = reader.info
        pages = list(reader.pages())
        after = reader.info
    assert not before.capped
    assert after.capped
    assert after.note.startswith("only the first 2,000 characters were indexed (up to page ")
    assert 1 < len(pages) < 20
    assert sum(len(p.text) for p in pages) <= 2000


def test_html_cap_and_unterminated_comment_stay_bounded() -> None:
    text, capped = html_to_text("<p>" + "x " * 10_000 + "</p>", 500)
    assert capped
    assert len(text) <= 500
    started = time.process_time()
    text, capped = html_to_text("<p>visible</p><!--" + "a" * 4_000_000, 10_000)
    assert "visible" in text
    print(f"unterminated 4 MB comment parsed in {time.process_time() - started:.2f} s of CPU")


# --- chunking ---


def test_chunks_stay_within_their_page_and_match_offsets() -> None:
    pages = [
        PageText(1, ("The first sentence is here. " * 60).strip()),
        PageText(2, "Short page."),
        PageText(3, ""),
        PageText(4, "\n\n".join(f"Paragraph {i} " + "word " * 40 for i in range(10))),
    ]
    chunks = list(chunk_pages(pages, size=300, overlap=50))
    by_number = {p.number: p.text for p in pages}
    for chunk in chunks:
        assert chunk.text == by_number[chunk.page][chunk.start : chunk.end]
        assert 0 < len(chunk.text) <= 300
        assert chunk.text == chunk.text.strip()
    assert {c.page for c in chunks} == {1, 2, 4}
    assert Chunk(2, 0, 11, "Short page.") in chunks
    # every character of a page is in some chunk (nothing lost between chunks)
    for number in (1, 4):
        covered = [c for c in chunks if c.page == number]
        for before, after in itertools.pairwise(covered):
            assert after.start <= before.end + 2
            assert after.start > before.start


def test_chunks_prefer_paragraph_then_sentence_then_word() -> None:
    paragraphs = "\n\n".join(["alpha " * 30, "beta " * 30, "gamma " * 30])
    chunks = list(chunk_pages([PageText(None, paragraphs)], size=250, overlap=0))
    assert chunks[0].text == ("alpha " * 30).strip()

    sentences = " ".join(f"Sentence {i} ends here." for i in range(40))
    for chunk in chunk_pages([PageText(None, sentences)], size=200, overlap=0):
        assert chunk.text.endswith(".")

    words = "lorem " * 200
    for chunk in chunk_pages([PageText(None, words)], size=100, overlap=20):
        assert chunk.text.startswith("lorem")
        assert chunk.text.endswith("lorem")

    long_word = "x" * 450
    cut = list(chunk_pages([PageText(None, long_word)], size=200, overlap=0))
    assert [len(c.text) for c in cut] == [200, 200, 50]


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    text = " ".join(f"w{i:04d}" for i in range(600))
    chunks = list(chunk_pages([PageText(None, text)], size=500, overlap=100))
    for before, after in itertools.pairwise(chunks):
        overlap = before.end - after.start
        assert 50 <= overlap <= 100
        assert text[after.start - 1] == " "  # the overlap starts at a word


def test_chunking_is_lazy() -> None:
    def endless() -> object:
        number = 1
        while True:
            yield PageText(number, "some words " * 50)
            number += 1

    iterator = chunk_pages(endless(), size=100, overlap=10)  # type: ignore[arg-type]
    first = [next(iterator) for _ in range(20)]
    assert first[0].page == 1


def test_bad_chunk_sizes() -> None:
    with pytest.raises(ValueError, match="overlap"):
        list(chunk_pages([PageText(None, "x")], size=100, overlap=100))


def test_long_pdf_reads_every_page_across_reopens(tmp_path: Path) -> None:
    # the reader reopens the document every REOPEN_EVERY pages to drop PDFium's object cache
    path = write_pdf(tmp_path / "long.pdf", [f"Marker {n} text." for n in range(1, 231)])
    pages, info = read_all(path)
    assert info.pages == 230
    assert [p.text for p in pages] == [f"Marker {n} text." for n in range(1, 231)]
    assert [p.number for p in pages] == list(range(1, 231))
