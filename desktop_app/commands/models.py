"""`hearth models info PATH [--json]`."""

from __future__ import annotations

import argparse
import json

from desktop_app.core.gguf_info import inspect_gguf


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="inspect and manage local models")
    models_sub = models.add_subparsers(title="models commands", metavar="ACTION", required=True)
    info = models_sub.add_parser("info", help="validate a GGUF file and show its metadata")
    info.add_argument("path", help="path to a .gguf file")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=_info)


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
        ("File size", f"{summary.size_bytes / 1e6:,.1f} MB"),
        ("Chat template", "yes" if summary.has_chat_template else "none (Hearth uses a built-in one)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
