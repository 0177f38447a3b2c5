"""`hearth models info|list|import|rm`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from desktop_app.core.gguf_info import inspect_gguf
from desktop_app.core.library import Library, LibraryModel
from desktop_app.core.units import human_size


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="inspect and manage local models")
    models_sub = models.add_subparsers(title="models commands", metavar="ACTION", required=True)
    info = models_sub.add_parser("info", help="validate a GGUF file and show its metadata")
    info.add_argument("path", help="path to a .gguf file")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=_info)

    listing = models_sub.add_parser("list", help="the models in your library")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=_list)

    importing = models_sub.add_parser("import", help="add a .gguf file to your library")
    importing.add_argument("path", help="path to a .gguf file (the first part of a split model)")
    importing.add_argument(
        "--link", action="store_true", help="use the file where it is instead of copying it"
    )
    importing.set_defaults(handler=_import)

    remove = models_sub.add_parser("rm", help="delete a model (its file too, unless it was linked)")
    remove.add_argument("id", help="the model's id, from `hearth models list`")
    remove.set_defaults(handler=_remove)


def open_library() -> Library:
    """The library of the user's data (or HEARTH_HOME's), with the models folder scanned."""
    from desktop_app.core.services import AppServices

    library = AppServices.open().library
    library.scan()
    return library


def _list(args: argparse.Namespace) -> int:
    """Registered models, then any file in the models folder that cannot be used, with the reason."""
    models = open_library().list(include_unusable=True)
    if args.json:
        print(json.dumps([m.to_dict() for m in models], ensure_ascii=False))
        return 0
    if not models:
        print("No models yet. Add one with `hearth models import PATH` or `hearth pull REPO`.")
        return 0
    rows = [
        (m.id, m.architecture, m.quant, human_size(m.size_bytes), f"{m.context_length or 0:,}",
         _status(m))
        for m in models
    ]  # fmt: skip
    header = ("ID", "ARCH", "QUANT", "SIZE", "CONTEXT", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _status(model: LibraryModel) -> str:
    if model.error is not None:
        return f"unusable: {model.error}"
    if model.missing:
        return "missing"
    return "linked" if model.is_link else ""


def _import(args: argparse.Namespace) -> int:
    library = open_library()
    last = [-1]

    def progress(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent != last[0] and sys.stderr.isatty():
            last[0] = percent
            print(f"\rCopying… {percent}%", end="", file=sys.stderr, flush=True)

    model = library.import_file(Path(args.path), link=args.link, progress=progress)
    if last[0] >= 0:
        print(file=sys.stderr)
    how = "Linked" if model.is_link else "Imported"
    print(f"{how} {model.display_name} as '{model.id}' ({model.architecture}, {model.quant}).")
    return 0


def _remove(args: argparse.Namespace) -> int:
    """Links are removed as links: the files they point at, like linked files, are kept."""
    model = open_library().delete(args.id)
    print(
        f"Removed {model.display_name}"
        + (" (the linked file was kept)." if model.is_link else " and its file.")
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    summary = inspect_gguf(args.path)
    data = summary.to_dict()
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    rows = [
        ("Name", summary.name),
        ("Architecture", summary.architecture),
        (
            "Size",
            summary.size_label
            or (f"{summary.parameter_count / 1e9:.2f}B params" if summary.parameter_count else "?"),
        ),
        ("Quantization", summary.file_type),
        ("Context length", f"{summary.context_length:,}" if summary.context_length else "?"),
        ("Layers", summary.block_count),
        ("Embedding size", summary.embedding_length),
        ("Heads / KV heads", f"{summary.head_count} / {summary.head_count_kv}"),
        ("File size", human_size(summary.size_bytes)),
        ("Chat template", "yes" if summary.has_chat_template else "none (Hearth uses a built-in one)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
