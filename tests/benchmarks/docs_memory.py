"""Memory while a 500-page PDF is extracted, chunked and indexed (a benchmark, not a test).

Issue #15 asks that memory stay bounded on large PDFs (gpt4all #2029 and AnythingLLM #6001 hang on
them). Extraction streams one page at a time through PDFium, chunking is a generator, and the indexer
writes each file in one transaction, so resident memory should grow with the largest page, not with the
page count. This prints resident-set growth (VmRSS, sampled every 10 ms by a thread) over the process's
baseline:

- extract + chunk: the peak growth after page 50 and after page 500 (bounded: about the same);
- index (when the indexer is present): the peak growth while `add_paths` indexes a 50-page and a
  500-page PDF into a fresh store, keyword only.

    python -m tests.benchmarks.docs_memory [--pages 500]

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from desktop_app.core.documents.chunking import chunk_pages
from desktop_app.core.documents.extract import open_document
from tests.doc_fixtures import write_pdf

WORDS = (
    "harbour", "lantern", "copper", "meadow", "ferry", "quarry", "orchard", "ledger", "compass", "signal",
    "archive", "willow", "beacon", "granite", "thimble", "cascade", "bramble", "verdict", "saddle",
    "meridian", "lattice", "furnace", "tapestry", "nectar",
)  # fmt: skip


def page_texts(count: int, seed: int = 7) -> Iterator[str]:
    """Distinct prose for each page (about 2,500 characters, the text of a dense report page)."""
    rng = random.Random(seed)
    for number in range(1, count + 1):
        sentences = []
        for _ in range(30):
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 14))]
            sentences.append(" ".join(words).capitalize() + ".")
        yield f"Page {number} of the benchmark report.\n" + " ".join(sentences)


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakSampler:
    """Highest RSS seen since the last `reset`, sampled by a daemon thread."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss_bytes())

    def reset(self) -> int:
        now = rss_bytes()
        self.peak = now
        return now

    def read(self) -> int:
        self.peak = max(self.peak, rss_bytes())
        return self.peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def mb(value: float) -> str:
    return f"{value / 2**20:6.1f} MB"


def extract_and_chunk(pdf: Path, sampler: PeakSampler, marks: set[int]) -> dict[int, int]:
    """Peak RSS growth, from before the file is opened, up to each page in `marks` (cold: PDFium's
    one-time allocations, fonts and caches, are counted at the first page)."""
    base = sampler.reset()
    peaks: dict[int, int] = {}
    with open_document(pdf) as reader:
        for page in reader.pages():
            for _chunk in chunk_pages([page]):
                pass
            if page.number in marks:
                peaks[page.number] = sampler.read() - base
    return peaks


def index_peak(pdf: Path, sampler: PeakSampler) -> tuple[int, float, int] | None:
    """(peak RSS growth, seconds, chunks) while the indexer adds `pdf` to a fresh store; None
    when the indexer is not there."""
    try:
        from desktop_app.core.documents.indexer import add_paths
        from desktop_app.core.documents.store import DocumentStore
    except ImportError:
        return None
    with tempfile.TemporaryDirectory(prefix="hearth-docs-mem-") as tmp:
        store = DocumentStore(Path(tmp) / "documents.sqlite3")
        try:
            base = sampler.reset()
            started = time.perf_counter()
            report = add_paths(store, [pdf], collection="memory")
            elapsed = time.perf_counter() - started
            peak = sampler.read() - base
        finally:
            store.close()
    if report.failed:
        raise SystemExit(f"indexing failed: {report.failed}")
    return peak, elapsed, report.chunks


def timed(label: str, action: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.1f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    args = parser.parse_args()
    pages = max(args.pages, 50)
    sampler = PeakSampler()
    with tempfile.TemporaryDirectory(prefix="hearth-docs-mem-") as tmp:
        big = Path(tmp) / f"report-{pages}.pdf"
        small = Path(tmp) / "report-50.pdf"
        timed(f"wrote a {pages}-page PDF", lambda: write_pdf(big, page_texts(pages)))
        write_pdf(small, page_texts(50))
        print(
            f"file sizes: {big.stat().st_size / 2**20:.1f} MB ({pages} pages), "
            f"{small.stat().st_size / 2**20:.1f} MB (50 pages)"
        )
        print(f"baseline RSS {mb(rss_bytes())}")

        marks = {1, 50, pages // 2, pages}
        started = time.perf_counter()
        peaks = extract_and_chunk(big, sampler, marks)
        seconds = time.perf_counter() - started
        print(f"extract + chunk: {pages} pages in {seconds:.1f} s ({pages / seconds:.0f} pages/s)")
        for page in sorted(peaks):
            print(f"extract + chunk: peak RSS growth after page {page:4d}: {mb(peaks[page])}")

        for pdf, count in ((small, 50), (big, pages)):
            result = index_peak(pdf, sampler)
            if result is None:
                print("index: skipped (desktop_app.core.documents.indexer is not there yet)")
                break
            peak, seconds, chunks = result
            print(
                f"index {count:4d} pages: peak RSS growth {mb(peak)}, {chunks} chunks in {seconds:.1f} s "
                f"({count / seconds:.0f} pages/s, {chunks / seconds:.0f} chunks/s)"
            )
    sampler.stop()


if __name__ == "__main__":
    main()
