"""`hearth pull REPO [FILE] [--quant Q4_K_M] [--revision main]`: download a model, verified.

Run it again after an interruption (Ctrl-C, a crash, a lost connection) and it resumes: the queue row
and its partial file are found again by repo, file and revision. No Qt here, so it works over SSH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from desktop_app.commands.errors import report_error
from desktop_app.core.db import Database
from desktop_app.core.downloads import (
    AlreadyDownloadedError,
    CompletedDownload,
    DownloadManager,
    Progress,
)
from desktop_app.core.errors import HearthError, RemoteNotFoundError
from desktop_app.core.paths import AppPaths, app_paths
from desktop_app.core.units import human_size

DEFAULT_QUANT = "Q4_K_M"
_PLAIN_EVERY_S = 5.0  # progress lines when stderr is a log file rather than a terminal
_TTY_EVERY_S = 0.2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pull = sub.add_parser(
        "pull",
        help="download a GGUF model from the Hugging Face Hub (resumable)",
        description="Download a model into Hearth's models folder, verified against the Hub's sha256. "
        "Run it again after an interruption to resume. Gated models use HF_TOKEN, else the token "
        "saved in Hearth's settings.",
    )
    pull.add_argument("repo", help="repository id, for example bartowski/Qwen2.5-0.5B-Instruct-GGUF")
    pull.add_argument("file", nargs="?", help="file in the repository (default: pick by --quant)")
    pull.add_argument(
        "--quant",
        help=f"quantization to pick when FILE is not given (default: {DEFAULT_QUANT}, else smallest)",
    )
    pull.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    pull.set_defaults(handler=_pull)


def _pull(args: argparse.Namespace) -> int:
    try:
        paths = app_paths().ensure()
        db = Database(paths.database)
        try:
            return _download(args, db, paths)
        finally:
            db.close()
    except HearthError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        print("\nPaused. Run the same command again to resume.", file=sys.stderr)
        return 130


def _download(args: argparse.Namespace, db: Database, paths: AppPaths) -> int:
    token = os.environ.get("HF_TOKEN") or None  # else the token saved in Hearth's settings
    files = [args.file] if args.file else choose_files(args.repo, args.quant, args.revision, token)
    completed: list[CompletedDownload] = []
    manager = DownloadManager(db, paths, token=token, on_complete=completed.append)
    final: list[Path] = []
    for filename in files:
        existing = manager.find(args.repo, filename, args.revision)
        if existing is not None:
            download_id = existing.id
            if existing.downloaded_bytes:
                print(f"Resuming {filename}", file=sys.stderr)
        else:
            try:
                download_id = manager.enqueue(args.repo, filename, args.revision)
            except AlreadyDownloadedError as exc:
                print(exc.message, file=sys.stderr)
                final.append(exc.path)
                continue
        bar = ProgressLine(filename, sys.stderr)
        try:
            final.append(manager.run(download_id, progress=bar.update))
        finally:
            bar.close()
    for path in final:
        print(path)
    if files[0].lower().endswith(".gguf"):  # a split model is registered once, by its first part
        done = {c.path: c for c in completed}
        register_in_library(
            db, paths, done.get(final[0]) or PresentFile(args.repo, files[0], args.revision, final[0])
        )
    return 0


def choose_files(repo: str, quant: str | None, revision: str, token: str | None) -> list[str]:
    """The files of one quantization: `quant` if given, else Q4_K_M, else the smallest; every split part."""
    from desktop_app.core.hub import list_model_options

    options = list_model_options(repo, revision=revision, token=token)
    if not options:
        raise RemoteNotFoundError(
            f"{repo} has no GGUF model files.", hint="Pick a repository with .gguf files."
        )
    wanted = (quant or DEFAULT_QUANT).upper()
    matching = [o for o in options if (o.quant or "").upper() == wanted]
    if not matching and quant is not None:
        available = ", ".join(sorted({o.quant or o.name for o in options}))
        raise RemoteNotFoundError(
            f"{repo} has no {quant} file.", hint=f"Available: {available}. Pass one with --quant."
        )
    option = min(matching or options, key=lambda o: (o.size, o.name))
    return [f.path for f in sorted(option.files, key=lambda f: f.split_index)]


@dataclass(frozen=True)
class PresentFile:
    """A file that was already in the models folder: registered like a download, without a checksum."""

    repo: str
    filename: str
    revision: str
    path: Path
    sha256: str | None = None


def register_in_library(db: Database, paths: AppPaths, completed: CompletedDownload | PresentFile) -> None:
    """Add the downloaded model to the library, when this build has one (the GUI wires the same call)."""
    try:
        from desktop_app.core.library import Library
    except ImportError:
        return
    register = getattr(Library(db, paths), "register_download", None)
    if callable(register):
        register(completed)


@dataclass
class ProgressLine:
    """One updating line on a terminal; a plain line every few seconds in a log or a pipe."""

    name: str
    stream: TextIO
    _last: float = 0.0
    _width: int = 0
    _shown: bool = False

    def __post_init__(self) -> None:
        self._tty = self.stream.isatty()

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        final = progress.state in ("done", "verifying")
        if not final and now - self._last < (_TTY_EVERY_S if self._tty else _PLAIN_EVERY_S):
            return
        self._last = now
        text = format_progress(self.name, progress)
        if self._tty:
            text = text[: shutil.get_terminal_size().columns - 1]  # a wrapped line cannot be redrawn
            pad = max(self._width - len(text), 0)
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self._shown = True
        self.stream.flush()

    def close(self) -> None:
        if self._tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()


def format_progress(name: str, p: Progress) -> str:
    shown = name if len(name) <= 40 else "…" + name[-39:]
    if p.state == "resuming":
        return f"{shown}  checking the {human_size(p.downloaded)} already downloaded"
    if p.state == "verifying":
        return f"{shown}  {human_size(p.total)}  verifying"
    if p.state == "done":
        return f"{shown}  {human_size(p.total)}  done"
    pct = 100 * p.downloaded / p.total if p.total else 0.0
    speed = f"{human_size(p.speed_bps)}/s" if p.speed_bps else "-- MB/s"
    eta = _duration(p.eta_s) if p.eta_s is not None else "--:--"
    return f"{shown}  {pct:5.1f}%  {human_size(p.downloaded)} / {human_size(p.total)}  {speed}  ETA {eta}"


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run only this command, as `hearth pull` would (the tests call it)."""
    parser = argparse.ArgumentParser(prog="hearth")
    register(parser.add_subparsers())
    args = parser.parse_args(["pull", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.handler(args)
    return code
