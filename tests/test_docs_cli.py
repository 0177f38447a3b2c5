"""`hearth docs add|search|list|rm|refresh`, run as separate processes, and an indexing run killed
with SIGKILL then rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_app.core.documents.store import DocumentStore
from desktop_app.core.paths import app_paths
from tests.doc_fixtures import write_binary, write_pdf
from tests.test_cli_engine import ROOT, assert_one_line_error, hearth
from tests.tiny_embedding import write_tiny_embedding_model


def _store() -> DocumentStore:
    return DocumentStore.open(app_paths().ensure())


def _library(folder: Path) -> Path:
    folder.mkdir()
    write_pdf(
        folder / "guide.pdf", ["Welcome to the guide.", "The espresso machine needs descaling monthly."]
    )
    (folder / "notes.md").write_text("# Notes\n\nThe heron nests by the river.\n")
    write_binary(folder / "broken.txt")
    return folder


def test_add_search_list_rm_json_shapes(hearth_home: Path, tmp_path: Path) -> None:
    folder = _library(tmp_path / "lib")
    added = hearth(["docs", "add", folder, "--json"], hearth_home)
    assert added.returncode == 0, added.stderr
    result = json.loads(added.stdout.splitlines()[-1])
    assert list(result) == ["indexed", "skipped", "failed"]
    assert (result["indexed"], result["skipped"]) == (2, 0)
    assert [f["file"] for f in result["failed"]] == [str(folder / "broken.txt")]
    assert result["failed"][0]["error"]

    again = json.loads(hearth(["docs", "add", folder, "--json"], hearth_home).stdout)
    assert (again["indexed"], again["skipped"]) == (0, 3)

    found = hearth(["docs", "search", "descaling espresso", "--json", "--top", "3"], hearth_home)
    assert found.returncode == 0, found.stderr
    rows = json.loads(found.stdout)
    assert set(rows[0]) == {"file", "page", "text", "score"}
    assert (rows[0]["file"], rows[0]["page"]) == (str(folder / "guide.pdf"), 2)
    heron = json.loads(hearth(["docs", "search", "heron", "--json"], hearth_home).stdout)
    assert [(r["file"], r["page"]) for r in heron] == [(str(folder / "notes.md"), None)]
    plain = hearth(["docs", "search", "heron"], hearth_home)
    assert "notes.md" in plain.stdout and plain.returncode == 0
    hostile = hearth(["docs", "search", 'NEAR( "*', "--json"], hearth_home)
    assert hostile.returncode == 0 and json.loads(hostile.stdout) == []

    listed = json.loads(hearth(["docs", "list", "--json"], hearth_home).stdout)
    assert [(c["name"], c["paths"], c["files"], c["failed"]) for c in listed] == [
        ("default", [str(folder)], 2, 1)
    ]
    assert "default" in hearth(["docs", "list"], hearth_home).stdout

    other = hearth(["docs", "add", folder / "notes.md", "--collection", "birds"], hearth_home)
    assert other.returncode == 0 and "Indexed 1 file" in other.stdout
    only = json.loads(
        hearth(["docs", "search", "heron", "--collection", "birds", "--json"], hearth_home).stdout
    )
    assert len(only) == 1

    removed = hearth(["docs", "rm", folder / "notes.md"], hearth_home)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(hearth(["docs", "search", "heron", "--json"], hearth_home).stdout) == []
    assert hearth(["docs", "rm", "--collection", "birds"], hearth_home).returncode == 0
    assert [c["name"] for c in json.loads(hearth(["docs", "list", "--json"], hearth_home).stdout)] == [
        "default"
    ]

    assert_one_line_error(hearth(["docs", "search", "x", "--collection", "nope"], hearth_home), 2)
    assert_one_line_error(hearth(["docs", "rm"], hearth_home), 1)
    assert_one_line_error(hearth(["docs", "rm", tmp_path / "never-added"], hearth_home), 1)


def test_refresh_picks_up_changes(hearth_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "a.txt").write_text("apricot\n")
    assert hearth(["docs", "add", folder], hearth_home).returncode == 0
    (folder / "b.txt").write_text("blueberry\n")
    (folder / "a.txt").unlink()
    refreshed = hearth(["docs", "refresh", "--json"], hearth_home)
    assert refreshed.returncode == 0, refreshed.stderr
    assert json.loads(refreshed.stdout)["indexed"] == 1
    assert json.loads(hearth(["docs", "search", "apricot", "--json"], hearth_home).stdout) == []
    assert len(json.loads(hearth(["docs", "search", "blueberry", "--json"], hearth_home).stdout)) == 1


def test_hybrid_search_on_the_command_line(hearth_home: Path, tmp_path: Path) -> None:
    model = write_tiny_embedding_model(tmp_path / "tiny-embed.gguf")
    folder = _library(tmp_path / "lib")
    added = hearth(
        ["docs", "add", folder, "--collection", "e", "--embedding-model", model, "--json"], hearth_home
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["indexed"] == 2
    rows = json.loads(
        hearth(["docs", "search", "heron river", "--collection", "e", "--json"], hearth_home).stdout
    )
    assert len(rows) == 3  # both rankings fused: every chunk is a vector candidate
    assert rows[0]["file"] == str(folder / "notes.md")
    listed = json.loads(hearth(["docs", "list", "--json"], hearth_home).stdout)
    assert listed[0]["embedding_model"] == str(model)
    bad = hearth(["docs", "add", folder, "--embedding-model", folder / "notes.md"], hearth_home)
    assert_one_line_error(bad, 3)


@pytest.mark.slow
def test_kill_9_mid_index_then_rerun_is_complete_without_duplicates(
    hearth_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    total = 400
    for i in range(total):
        words = " ".join(f"word{i}x{j} about topic{j % 17}." for j in range(2500))
        (folder / f"doc{i:04}.txt").write_text(words)
    env = {**os.environ, "HEARTH_HOME": str(hearth_home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "docs", "add", str(folder), "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = _store()
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done = int(store.db.read("SELECT count(*) FROM files").fetchone()[0])
            except Exception:  # the schema is not there yet
                done = 0
            if done >= 20:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        at_kill = int(store.db.read("SELECT count(*) FROM files").fetchone()[0])
        assert 0 < at_kill < total, at_kill  # killed mid-run

        rerun = hearth(["docs", "add", folder, "--json"], hearth_home, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        result = json.loads(rerun.stdout)
        assert result["failed"] == []
        assert result["indexed"] + result["skipped"] == total
        assert result["skipped"] >= at_kill

        files = store.files()
        assert len(files) == total and all(f.status == "indexed" for f in files)
        counts = dict(store.db.read("SELECT file_id, count(*) FROM chunks GROUP BY file_id").fetchall())
        assert all(counts[f.id] == f.chunk_count > 0 for f in files)
        duplicates = store.db.read(
            "SELECT count(*) FROM "
            "(SELECT file_id, page, start FROM chunks GROUP BY 1, 2, 3 HAVING count(*) > 1)"
        ).fetchone()[0]
        assert duplicates == 0
        store.db.connection().execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        hits = store.search("word399x7", top_k=3)
        assert [Path(p.file).name for p in hits] == ["doc0399.txt"]
    finally:
        store.close()
