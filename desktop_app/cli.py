"""`hearth`: with no arguments, opens the window; subcommands give the same core a command line.

Heavy imports (Qt, llama_cpp) happen inside the command that needs them, so `hearth --version` and
`hearth models info` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from desktop_app import __version__, gc_pause
from desktop_app.commands.errors import report_error
from desktop_app.core.errors import HearthError

Command = Callable[[argparse.Namespace], int]


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    """The `hearth` parser; without `commands`, only the options that open the window or run the
    self-test (the command modules import the engine and the Hub client: issue #12)."""
    parser = argparse.ArgumentParser(
        prog="hearth",
        description="Chat with large language models entirely on your own machine. "
        "Run without arguments to open the app.",
        add_help=commands,
    )
    parser.add_argument("--version", action="version", version=f"hearth {__version__}")
    parser.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check that this installation works (Qt, llama.cpp, data folders) and exit; "
        "works without a display",
    )
    parser.add_argument(
        "--model",
        dest="self_test_model",
        type=Path,
        metavar="PATH",
        help="with --self-test: also load this .gguf model and generate a few tokens",
    )
    parser.set_defaults(handler=_run_gui)
    if not commands:
        return parser
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    from desktop_app.commands import batch, bench, chat, chats, docs, models, pull, remote, search
    from desktop_app.server import command as serve

    for module in (models, search, pull, chat, chats, remote, docs, batch, bench, serve):
        module.register(sub)
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    from desktop_app.app import main as gui_main

    return gui_main(screenshot=args.screenshot)


def _window_args(argv: Sequence[str] | None) -> argparse.Namespace | None:
    """The arguments when they only open the window or run the self-test, else None (a command,
    --help, or a mistake: the full parser answers those)."""
    args, rest = build_parser(commands=False).parse_known_args(argv)
    return None if rest else args


def main(argv: Sequence[str] | None = None) -> int:
    if getattr(sys, "frozen", False):  # a template worker process of the frozen app starts here
        import multiprocessing  # not otherwise: it costs the first paint 7 ms, and does nothing

        multiprocessing.freeze_support()
    args = _window_args(argv)
    if args is None:
        args = build_parser().parse_args(argv)
    elif args.self_test_model is None:  # the window opens (the self-test's too): see gc_pause.py
        gc_pause.pause()
    if args.self_test:
        from desktop_app import self_test

        return self_test.main(args.self_test_model)
    if args.self_test_model is not None:
        build_parser().error(
            "--model PATH goes with --self-test (or after a command: hearth chat --model PATH)"
        )
    handler: Command = args.handler
    try:
        if handler is not _run_gui:  # the GUI sets up its own logging
            from desktop_app.core.logs import setup_logging
            from desktop_app.core.paths import app_paths

            setup_logging(app_paths())  # library warnings go to the log file, not the terminal
        return handler(args)
    except HearthError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hearth models list --json | head`: not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
