"""`hearth batch --model M --input FILE --output OUT.jsonl …`: one prompt per input row, answered
`--parallel N` at a time in one context, one JSON result line per row.

The output file is the resume point: each row is appended and fsynced as it ends, so a rerun skips
the rows already there, and a kill -9 loses only the rows in flight. Ctrl+C stops at the next step,
writing nothing for the rows in flight (a rerun answers them). Progress and ETA go to stderr; with
--json, stdout's last line is the summary.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import replace
from types import FrameType
from typing import Any

from desktop_app.commands.chat import load_engine
from desktop_app.core.batch.inputs import BatchRow
from desktop_app.core.batch.plan import BatchPlan, plan_batch
from desktop_app.core.batch.progress import BatchProgress
from desktop_app.core.batch.results import ResultWriter, RowResult
from desktop_app.core.batch.runner import BatchRun
from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.model_choice import choose_model

#: without --max-tokens, a row's answer stops here (a base model would otherwise ramble for pages)
DEFAULT_MAX_TOKENS = 512
DEFAULT_PARALLEL = 4
PROGRESS_EVERY_S = 1.0  # when stderr is not a terminal: a progress line at most this often


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "batch",
        help="answer one prompt per row of a JSONL or CSV file",
        description='Answer one prompt per row of FILE: JSONL rows with "id" and "prompt", or CSV/JSONL '
        "columns filled into --template ({column}; {{ and }} for literal braces). Each result is "
        "appended to OUT.jsonl as it ends; running again resumes, skipping the rows already there.",
    )
    parser.add_argument(
        "--model",
        required=True,
        metavar="PATH|ID",
        help="a .gguf file, or a model id from `hearth models list`",
    )
    parser.add_argument(
        "--input", required=True, metavar="FILE", help="the rows: .jsonl, or .csv with a header"
    )
    parser.add_argument(
        "--output", required=True, metavar="OUT.jsonl", help="where the results go (appended; resumed)"
    )
    parser.add_argument("--template", metavar="TEXT", help="the prompt, with {column} filled from each row")
    parser.add_argument("--system", metavar="TEXT", help="a system prompt for every row")
    parser.add_argument(
        "--parallel", type=int, default=DEFAULT_PARALLEL, metavar="N",
        help=f"rows answered together (default: {DEFAULT_PARALLEL}; fewer if memory is short)",
    )  # fmt: skip
    parser.add_argument(
        "--max-tokens", type=int, default=None, metavar="N",
        help=f"longest answer per row (default: {DEFAULT_MAX_TOKENS}, or the model's saved setting if lower)",
    )  # fmt: skip
    parser.add_argument(
        "--temperature", type=float, default=None, metavar="T", help="0 for the most likely answers"
    )
    parser.add_argument(
        "--seed", type=int, default=None, metavar="S", help="random seed, for answers you can reproduce"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="end with one JSON line: rows, done, skipped, failed, aggregate_tps",
    )
    parser.set_defaults(handler=_batch)


def _sampling(args: argparse.Namespace, saved: SamplingSettings | None) -> SamplingSettings:
    base = saved or SamplingSettings()
    changes: dict[str, Any] = {"max_tokens": args.max_tokens or min(base.max_tokens, DEFAULT_MAX_TOKENS)}
    if args.temperature is not None:
        changes["temperature"] = args.temperature
    if args.seed is not None:
        changes["seed"] = args.seed
    return replace(base, **changes)


def _batch(args: argparse.Namespace) -> int:
    if not 1 <= args.parallel <= 64:
        raise SettingsError("--parallel must be between 1 and 64.", hint="Try --parallel 4.")
    plan = plan_batch(args.input, args.output, args.template)  # a bad file fails before the model loads
    _warn_about_resume(plan)
    if not plan.todo:
        print(f"All {len(plan.rows)} rows are already in {args.output}.", file=sys.stderr)
        return _summary(args, BatchProgress(total=len(plan.rows), skipped=len(plan.rows)))
    chosen = choose_model(args.model)
    sampling = _sampling(args, chosen.sampling)
    # a row's text must not depend on which rows share its step, nor on --parallel (native.load_progress)
    engine = load_engine(chosen, None, None, batch_invariant=True)
    if engine.model is not None and engine.model.template_warning:
        print(f"hearth: warning: {engine.model.template_warning}", file=sys.stderr)
    try:
        with ResultWriter(args.output, plan.existing) as writer:
            reporter = _Reporter()
            run = BatchRun(
                plan.todo, writer, sampling, system=args.system, skipped=plan.done,
                on_row=lambda row, result: reporter.row(run.progress, row, result),
            )  # fmt: skip
            print(
                f"{len(plan.rows)} rows: {plan.done} already done, {len(plan.todo)} to answer, "
                f"{args.parallel} at a time.",
                file=sys.stderr,
            )
            interrupted = _run_until_done(run, engine, args.parallel)
            reporter.finish(run.progress)
    finally:
        engine.unload()
    if interrupted:
        print(
            f"hearth: stopped; {run.progress.finished} of {len(plan.rows)} rows are in {args.output}. "
            "Run the same command again to carry on.",
            file=sys.stderr,
        )
        _summary(args, run.progress)
        return 130
    return _summary(args, run.progress)


def _run_until_done(run: BatchRun, engine: Any, parallel: int) -> bool:
    """Run on this thread; the first Ctrl+C cancels at the next step (the second one kills). True
    when interrupted."""
    interrupted = False

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        run.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        run.run(engine, parallel)
    finally:
        signal.signal(signal.SIGINT, previous)
    return interrupted


def _warn_about_resume(plan: BatchPlan) -> None:
    if plan.existing.torn:
        print(
            "hearth: the output's last line was cut short (a crash?); it is answered again.", file=sys.stderr
        )
    if plan.changed:
        print(
            f"hearth: warning: {plan.changed} rows in the output were made from other prompts "
            "(another template?); they are kept and skipped.",
            file=sys.stderr,
        )
    if plan.foreign:
        print(
            f"hearth: warning: the output holds {plan.foreign} ids that are not in the input "
            "(another input's results?).",
            file=sys.stderr,
        )


class _Reporter:
    """Progress on stderr: one updating line on a terminal, else a line at most once a second."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def row(self, progress: BatchProgress, row: BatchRow, result: RowResult) -> None:
        if result.error is not None:
            self._clear()
            print(
                f"hearth: row {row.number} (id {json.dumps(row.id)}) failed: {result.error}", file=sys.stderr
            )
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r\x1b[K" + progress.line())
            sys.stderr.flush()
        elif now - self.last >= PROGRESS_EVERY_S or progress.remaining == 0:
            print(progress.line(), file=sys.stderr, flush=True)
            self.last = now

    def _clear(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")

    def finish(self, progress: BatchProgress) -> None:
        if self.tty:
            sys.stderr.write("\n")
        print(
            f"Done {progress.done} rows ({progress.failed} failed) in {progress.elapsed_s:.1f} s, "
            f"{progress.tokens_per_s:.1f} tok/s in all.",
            file=sys.stderr,
        )


def _summary(args: argparse.Namespace, progress: BatchProgress) -> int:
    if args.json:
        print(
            json.dumps(
                {
                    "rows": progress.total,
                    "done": progress.done,
                    "skipped": progress.skipped,
                    "failed": progress.failed,
                    "aggregate_tps": round(progress.tokens_per_s, 2),
                }
            ),
            flush=True,
        )
    return 0
