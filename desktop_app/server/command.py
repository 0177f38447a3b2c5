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
from typing import TYPE_CHECKING

from desktop_app.core.engine import GenerationStats
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.jobs import JobResult
from desktop_app.core.model_choice import choose_model, load_settings_with
from desktop_app.core.server_config import (
    DEFAULT_HOST,
    DEFAULT_PARALLEL,
    DEFAULT_PORT,
    ServerOptions,
    check_parallel,
    is_loopback,
)

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
    serve.add_argument(
        "--threads", type=int, default=None, metavar="N", help="CPU threads (default: automatic)"
    )
    serve.add_argument(
        "--parallel",
        type=int,
        default=DEFAULT_PARALLEL,
        metavar="N",
        help=f"answer up to N requests at once, decoded together (default {DEFAULT_PARALLEL}, fewer when "
        "memory is short; 1: one at a time)",
    )
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


def _serve(args: argparse.Namespace) -> int:
    from desktop_app.core.api_key import check_key, load_or_create_key
    from desktop_app.core.jobs import ThreadBackend
    from desktop_app.core.paths import app_paths
    from desktop_app.server.app import ServerApp
    from desktop_app.server.runner import ServerRunner
    from desktop_app.server.security import SecurityPolicy

    paths = app_paths().ensure()
    key = check_key(args.api_key) if args.api_key is not None else load_or_create_key(paths)
    chosen = choose_model(args.model)
    path = chosen.path
    options = ServerOptions(
        api_key=key,
        host=args.host,
        port=args.port,
        cors_origins=tuple(args.cors_origin),
        allow_remote=args.allow_remote,
        default_sampling=chosen.sampling or SamplingSettings(),
    )  # validates host, port and origins before the model is loaded
    if not is_loopback(options.host):
        print(
            f"hearth: warning: listening on {options.host}: other computers that can reach this address "
            "can use the server; anyone with the API key can use your model.",
            file=sys.stderr,
        )
    requests = _RequestLog(enabled=not args.quiet)
    check_parallel(args.parallel)
    backend = ThreadBackend(listener=requests, name="hearth-serve-engine", parallel=args.parallel)
    policy = SecurityPolicy(key, options.cors_origins, allow_remote=options.allow_remote)
    app = ServerApp(backend, policy, default_sampling=options.default_sampling, on_rejected=requests.rejected)
    runner = ServerRunner(app, options.host, options.port)
    runner.bind()  # a busy port fails now, not after the model has loaded
    backend.start()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:  # from here on Ctrl+C or SIGTERM, whenever it comes, is a clean stop (exit 0)
        print(f"Loading {path.name}…", file=sys.stderr, flush=True)
        settings = load_settings_with(chosen.load, args.ctx, args.threads)
        model = backend.load(path, settings, chosen.template_override)
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
