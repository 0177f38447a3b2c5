"""`hearth serve [--model PATH|ID] [--port 8765] [--host 127.0.0.1] [--api-key KEY]`: the local API.

stdout carries exactly two lines, flushed at once, so scripts can read them: `Listening on URL` and
`API key: KEY`. Everything else (the model, warnings, one line per request) goes to stderr. Ctrl+C or
SIGTERM stops it cleanly: requests in flight are cancelled, the model is freed, the exit code is 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.engine import GenerationStats
from desktop_app.core.errors import HearthError, ModelFileError, SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.jobs import JobResult
from desktop_app.core.model_settings import ModelSettings
from desktop_app.core.server_config import DEFAULT_HOST, DEFAULT_PORT, ServerOptions, is_loopback

if TYPE_CHECKING:
    from desktop_app.server.runner import ServerRunner


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible API on this computer",
        description="Serve a model over an OpenAI-compatible API (/v1/models, /v1/chat/completions, "
        "/v1/completions). Listens on 127.0.0.1 only and requires the API key it prints.",
    )
    serve.add_argument(
        "--model",
        metavar="PATH|ID",
        help="a .gguf file, or a model id from `hearth models list` (default: the last one used)",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks one")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than this computer (other machines can then reach the server)",
    )
    serve.add_argument(
        "--api-key", help="use this key instead of the one stored in the settings folder (visible in ps)"
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from this origin call the API, e.g. http://localhost:3000 (repeatable)",
    )
    serve.add_argument("--ctx", type=int, default=None, help="context length (default: up to 4096)")
    serve.add_argument("--threads", type=int, default=None)
    serve.add_argument("--quiet", action="store_true", help="do not log each request on stderr")
    serve.set_defaults(handler=_serve)


class _RequestLog:
    """One stderr line per request: the terminal's view of what the GUI's activity list shows."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._started: dict[int, float] = {}

    def _print(self, text: str) -> None:
        if self.enabled:
            print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)

    def job_started(self, request_id: int, description: str) -> None:
        self._started[request_id] = time.monotonic()

    def job_finished(self, request_id: int, description: str, result: JobResult) -> None:
        elapsed = time.monotonic() - self._started.pop(request_id, time.monotonic())
        if isinstance(result, GenerationStats):
            self._print(
                f"{description} · {result.prompt_tokens} in, {result.completion_tokens} out · "
                f"{result.generation_tps:.1f} tok/s · {result.stop_reason} · {elapsed:.2f} s"
            )
        elif isinstance(result, BaseException):
            self._print(f"{description} · error: {result}")
        else:
            self._print(f"{description} · cancelled")

    def rejected(self, method: str, path: str, status: int, code: str) -> None:
        self._print(f"{method} {path} · refused {status} ({code})")


def _resolve_model(spec: str | None) -> tuple[Path, LoadSettings | None, str | None, SamplingSettings | None]:
    """(path, saved load settings, template override, saved sampling) for a path or a library id."""
    if spec is not None and (Path(spec).suffix.lower() == ".gguf" or Path(spec).is_file()):
        return Path(spec), None, None, None
    from desktop_app.core.services import AppServices

    library = AppServices.open().library
    library.scan()
    if spec is None:
        candidates = [m for m in library.list() if not m.missing]
        if not candidates:
            raise SettingsError(
                "There is no model to serve.",
                hint="Pass --model PATH, or add a model with `hearth models import PATH` or `hearth pull`.",
            )
        model = max(candidates, key=lambda m: (m.last_used_at or 0.0, m.added_at))
    else:
        model = library.get(spec)
        if model.error is not None:  # a bad file in the models folder: say why now, not after a load
            raise ModelFileError(
                f"The model '{model.id}' cannot be used: {model.error}",
                hint="Run `hearth models info PATH` on the file for details, or pick another model.",
            )
    saved = ModelSettings.from_stored(model.settings)  # SettingsError when malformed, before the touch
    library.touch(model.id)
    return model.path, saved.load, saved.template_override, saved.sampling


def _load_settings(saved: LoadSettings | None, ctx: int | None, threads: int | None) -> LoadSettings:
    data = saved.to_dict() if saved is not None else {}
    if ctx is not None:
        data["n_ctx"] = ctx
    if threads is not None:
        data["n_threads"] = threads
    return LoadSettings.from_dict(data)


def _serve(args: argparse.Namespace) -> int:
    from desktop_app.core.api_key import check_key, load_or_create_key
    from desktop_app.core.jobs import ThreadBackend
    from desktop_app.core.paths import app_paths
    from desktop_app.server.app import ServerApp
    from desktop_app.server.runner import ServerRunner
    from desktop_app.server.security import SecurityPolicy

    paths = app_paths().ensure()
    key = check_key(args.api_key) if args.api_key is not None else load_or_create_key(paths)
    path, saved_load, template, saved_sampling = _resolve_model(args.model)
    options = ServerOptions(
        api_key=key,
        host=args.host,
        port=args.port,
        cors_origins=tuple(args.cors_origin),
        allow_remote=args.allow_remote,
        default_sampling=saved_sampling or SamplingSettings(),
    )  # validates host, port and origins before the model is loaded
    if not is_loopback(options.host):
        print(
            f"hearth: warning: listening on {options.host}: other computers that can reach this address "
            "can use the server; anyone with the API key can use your model.",
            file=sys.stderr,
        )
    requests = _RequestLog(enabled=not args.quiet)
    backend = ThreadBackend(listener=requests, name="hearth-serve-engine")
    policy = SecurityPolicy(key, options.cors_origins, allow_remote=options.allow_remote)
    app = ServerApp(backend, policy, default_sampling=options.default_sampling, on_rejected=requests.rejected)
    runner = ServerRunner(app, options.host, options.port)
    runner.bind()  # a busy port fails now, not after the model has loaded
    backend.start()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:  # from here on Ctrl+C or SIGTERM, whenever it comes, is a clean stop (exit 0)
        print(f"Loading {path.name}…", file=sys.stderr, flush=True)
        model = backend.load(path, _load_settings(saved_load, args.ctx, args.threads), template)
        if model.template_warning:  # the file's template was refused: clients get the built-in format
            print(f"hearth: warning: {model.template_warning}", file=sys.stderr, flush=True)
        url = runner.start(wait=True)
        try:
            print(f"Listening on {url}", flush=True)
            print(f"API key: {key}", flush=True)
            print(
                f"Serving {model.summary.name} ({model.n_ctx}-token context). OpenAI base URL: {url}/v1 · "
                "Ctrl+C stops.",
                file=sys.stderr,
                flush=True,
            )
            _wait_for_stop(runner, stop)
        except KeyboardInterrupt:
            pass
        finally:
            runner.stop()
            print("Server stopped.", file=sys.stderr, flush=True)
        return 0
    finally:
        backend.close()
        signal.signal(signal.SIGTERM, previous)


def _wait_for_stop(runner: ServerRunner, stop: threading.Event) -> None:
    """Block until `stop` is set (SIGTERM) or Ctrl+C; raise if the server dies on its own."""
    while not stop.wait(0.25):
        if not runner.is_running():
            raise HearthError(
                f"The server stopped unexpectedly: {runner.error}", hint="See the log for details."
            )
