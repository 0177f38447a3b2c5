"""`hearth remote add|list|rm`: OpenAI-compatible servers on other computers (vLLM, llama-server,
Ollama, LM Studio, another Hearth) to chat with through `hearth chat --remote NAME --model MODEL`.

The key is never printed: `list` says only whether there is one and where it comes from.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.network import apply_offline
from desktop_app.core.paths import app_paths
from desktop_app.core.providers import Provider, ProviderStore, plain_http_warning
from desktop_app.core.settings import load_settings

__all__ = ["apply_saved_offline", "register", "warn_plain_http"]

SHOWN_MODELS = 8


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = sub.add_parser(
        "remote",
        help="OpenAI-compatible servers on other computers to chat through",
        description="Providers: OpenAI-compatible servers (vLLM, llama-server, Ollama, LM Studio, another "
        "Hearth) to chat with by `hearth chat --remote NAME --model MODEL`. Your conversations stay on "
        "this computer; the messages of each turn are sent to the server.",
    )
    actions = remote.add_subparsers(title="actions", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="add a provider (checked by listing its models)",
        description="Add a provider. Hearth checks it by listing its models (GET /v1/models), so a wrong "
        "URL or key is said now, not at the first chat.",
    )
    add.add_argument("name", metavar="NAME", help="a short name, such as gpu-box")
    add.add_argument(
        "--url",
        required=True,
        metavar="URL",
        help="the server's API base, such as http://gpu-box:8000/v1 (vLLM), http://HOST:11434/v1 (Ollama)",
    )
    key = add.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key",
        metavar="KEY",
        help="the server's API key, stored in a file only you can read (it also stays in your shell "
        "history: --api-key-env avoids both)",
    )
    key.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="read the key from this environment variable each time (only the name is stored)",
    )
    add.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="a PEM file of the CA that signed the server's certificate (default: the system's)",
    )
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="the providers and their models (never the key)")
    listing.add_argument(
        "--json", action="store_true", help='print [{"name", "url", "models": [...]}, ...] as one line'
    )
    listing.set_defaults(handler=_list)

    rm = actions.add_parser("rm", help="remove a provider (and its stored key)")
    rm.add_argument("name", metavar="NAME", help="the provider to remove (from `hearth remote list`)")
    rm.set_defaults(handler=_rm)


def apply_saved_offline() -> None:
    """The app's offline switch holds for the CLI too (as `hearth search` does)."""
    settings, _problem = load_settings(app_paths())
    if settings.offline:
        apply_offline(True)


def warn_plain_http(provider: Provider) -> None:
    warning = plain_http_warning(provider)
    if warning:
        print(f"hearth: warning: {warning}", file=sys.stderr)


def _add(args: argparse.Namespace) -> int:
    from desktop_app.core.providers.catalog import list_models

    apply_saved_offline()
    provider = Provider(args.name, args.url, args.api_key, args.api_key_env, args.ca_bundle)
    store = ProviderStore()
    store.ensure_new(provider.name)  # before the network
    warn_plain_http(provider)
    models = list_models(provider)
    store.add(provider)
    shown = ", ".join(models[:SHOWN_MODELS]) + (
        f", … ({len(models)} in all)" if len(models) > SHOWN_MODELS else ""
    )
    print(
        f"Added {provider.name} ({provider.url}): {len(models)} model{'s' if len(models) != 1 else ''}"
        + (f": {shown}" if models else "")
        + "."
    )
    if models:
        print(f"Chat: hearth chat --remote {provider.name} --model {models[0]}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    from desktop_app.core.providers.catalog import list_models

    apply_saved_offline()
    rows: list[dict[str, Any]] = []
    for provider in ProviderStore().providers():
        row: dict[str, Any] = {"name": provider.name, "url": provider.url, "models": []}
        try:
            row["models"] = list_models(provider)
        except HearthError as exc:
            row["error"] = str(exc)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not rows:
        print("No providers. Add one: hearth remote add NAME --url http://HOST:8000/v1")
        return 0
    for row in rows:
        print(f"{row['name']}  {row['url']}")
        if "error" in row:
            print(f"  error: {row['error']}")
        elif not row["models"]:
            print("  (no models)")
        for model in row["models"]:
            print(f"  {model}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    gone = ProviderStore().remove(args.name)
    print(f"Removed {gone.name} ({gone.url}).")
    return 0
