"""`hearth bench --model PATH|ID [--tokens N] [--json]`: engine vs raw llama.cpp loop, one process.

`hearth bench --model PATH|ID --contention [--tokens N] [--json]`: the automatic thread setting against
every fixed thread count, with 0, 1 and all-cores busy-loop processes (started and ended here)."""

from __future__ import annotations

import argparse
import json

from desktop_app.commands.chat import load_engine
from desktop_app.core.bench import run_bench, run_contention
from desktop_app.core.errors import SettingsError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="measure the engine against a raw llama.cpp loop")
    bench.add_argument(
        "--model",
        required=True,
        metavar="PATH|ID",
        help="a .gguf file, or a model id from `hearth models list`",
    )
    bench.add_argument("--tokens", type=int, default=128, metavar="N", help="tokens to generate per run")
    bench.add_argument(
        "--prompt-tokens", type=int, default=256, metavar="N", help="prompt length for prefill"
    )
    bench.add_argument(
        "--repeat", type=int, default=None, metavar="N", help="runs per path (default 2, 1 above 1000 tokens)"
    )
    bench.add_argument(
        "--threads", type=int, default=None, metavar="N", help="CPU threads (default: automatic)"
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument(
        "--contention",
        action="store_true",
        help="compare automatic threads with each fixed count under 0, 1 and all-cores busy processes",
    )
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    repeat = args.repeat if args.repeat is not None else (1 if args.tokens > 1000 else 2)
    ctx = max(512, args.prompt_tokens + args.tokens + 64)
    if args.contention:
        return _contention(args, ctx, repeat)
    engine = load_engine(args.model, ctx, args.threads, touch=False)
    try:
        result = run_bench(engine, n_gen=args.tokens, prompt_tokens=args.prompt_tokens, repeat=repeat)
    finally:
        engine.unload()
    if args.json:
        print(json.dumps(result))
        return 0
    eng, raw, ratio = result["engine"], result["raw"], result["ratio"]
    print(
        f"{result['model']}: {result['prompt_tokens']} prompt tokens, "
        f"{result['generated_tokens']} generated, "
        f"{result['n_threads']} threads, best of {repeat}"
    )
    print(f"{'':12}{'engine':>12}{'raw':>12}{'ratio':>9}")
    print(f"{'prefill':12}{eng['prefill_tps']:>10.1f}/s{raw['prefill_tps']:>10.1f}/s{ratio['prefill']:>9.3f}")
    print(
        f"{'generation':12}{eng['generation_tps']:>10.1f}/s{raw['generation_tps']:>10.1f}/s{ratio['generation']:>9.3f}"
    )
    if "late_to_early" in result:
        le = result["late_to_early"]
        print(f"{'early gen':12}{eng['early_tps']:>10.1f}/s{raw['early_tps']:>10.1f}/s")
        print(f"{'late gen':12}{eng['late_tps']:>10.1f}/s{raw['late_tps']:>10.1f}/s")
        print(f"late/early: engine {le['engine']:.3f}, raw {le['raw']:.3f}")
    return 0


def _contention(args: argparse.Namespace, ctx: int, repeat: int) -> int:
    if args.threads is not None:
        raise SettingsError(
            "--contention compares the automatic thread setting with every fixed count.",
            hint="Leave out --threads.",
        )
    engine = load_engine(args.model, ctx, None, touch=False)
    try:
        result = run_contention(engine, n_gen=args.tokens, prompt_tokens=args.prompt_tokens, repeat=repeat)
    finally:
        engine.unload()
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['model']}: {result['prompt_tokens']} prompt tokens, {result['generated_tokens']} "
        f"generated, best of {repeat}; automatic threads vs fixed 1..{result['physical_cores']} "
        f"({result['physical_cores']} physical cores, {result['cpu_count']} logical CPUs)"
    )
    print(f"{'busy':>4}  {'':10}{'automatic':>12}{'best fixed':>16}{'ratio':>8}")
    for load in result["loads"]:
        auto, fixed, best, ratio = load["automatic"], load["fixed"], load["best_fixed"], load["ratio"]
        for row, (what, key) in enumerate((("generation", "generation_tps"), ("prefill", "prefill_tps"))):
            busy = str(load["busy_processes"]) if row == 0 else ""
            n = best[what]
            print(
                f"{busy:>4}  {what:10}{auto[key]:>10.1f}/s{fixed[str(n)][key]:>10.1f}/s ({n}t)"
                f"{ratio[what]:>8.3f}"
            )
    return 0
