"""Untrusted templates render in a killable worker process (template_worker.py), and a model whose
template is refused still loads, in its family's built-in format, with a warning that says why.

The hostile templates here escape the in-process watchdog (one C-level operation never reaches the
next Python line), so on code without the worker they hang: the `thread` timeout method ends the whole
run then, since a signal handler cannot run inside that C call either.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app.core import template_worker
from desktop_app.core.engine import Engine
from desktop_app.core.errors import TemplateError
from desktop_app.core.generation import LoadSettings
from desktop_app.core.template_worker import render_isolated
from desktop_app.core.templates import render_chat, resolve_chat_format, validate_template

ROOT = Path(__file__).resolve().parents[1]
HI = [{"role": "user", "content": "hi"}]
ECHO = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"

# Two deep lists built from shared parts: 2**40 leaves each, a few hundred bytes of memory. Comparing
# or sorting them is one C call that would run for hours.
_SHARED = (
    "{% set ns = namespace(a=[[]], b=[[]]) %}{% for i in range(40) %}"
    "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}"
)
#: (template, time limit, what the error says)
HOSTILE = {
    "compare": (_SHARED + "{{ ns.a == ns.b }}", 2.0, "longer than"),
    "sort": (_SHARED + "{{ [ns.a, ns.b] | sort | length }}", 2.0, "longer than"),
    # every step is small enough for the size guards; together they pass the worker's memory limit
    # (1.8 GB if nothing stops them). A long time limit, so that memory is what stops it.
    "memory": (
        "{% set ns = namespace(keep=[]) %}{% for i in range(1000) %}"
        "{% set ns.keep = [ns.keep, ('x' * 900000) ~ i, ('y' * 900000) ~ i] %}{% endfor %}done",
        60.0,
        "memory",
    ),
    "recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", 2.0, "recursed too deeply"),
}


@pytest.fixture(autouse=True)
def fresh_workers() -> Iterator[None]:
    template_worker.shutdown()
    yield
    template_worker.shutdown()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_template_is_stopped_and_the_worker_serves_again(name: str) -> None:
    source, time_limit_s, message = HOSTILE[name]
    assert render_chat(ECHO, HI) == "[user] hi\n"
    (first,) = template_worker.worker_pids()
    with pytest.raises(TemplateError, match=message):
        render_isolated(source, HI, time_limit_s=time_limit_s)
    assert render_chat(ECHO, HI) == "[user] hi\n"
    if message == "longer than":  # the worker was killed and a new one took its place
        assert first not in template_worker.worker_pids()
        assert not alive(first)
    assert os.getpid() not in template_worker.worker_pids()


def test_the_worker_starts_lazily_is_reused_and_shuts_down() -> None:
    assert template_worker.worker_pids() == []
    render_chat(ECHO, HI)
    (pid,) = template_worker.worker_pids()
    for _ in range(20):  # a chat renders on every turn: one warm worker serves them all
        assert render_chat(ECHO, [{"role": "user", "content": "again"}]) == "[user] again\n"
    assert template_worker.worker_pids() == [pid]
    assert pid != os.getpid()
    template_worker.shutdown()
    assert template_worker.worker_pids() == []
    assert not alive(pid)
    assert render_chat(ECHO, HI) == "[user] hi\n"  # and it starts again when needed


def test_built_in_templates_render_in_this_process() -> None:
    builtin = resolve_chat_format(architecture="qwen2", name="", file_template=None).template
    assert "<|im_start|>user\nhi<|im_end|>" in render_chat(builtin, HI)
    assert template_worker.worker_pids() == []


@pytest.mark.timeout(120, method="thread")
def test_another_thread_renders_while_a_hostile_render_runs() -> None:
    """The GUI's validation must not wait behind the inference thread's render: a second worker."""
    outcome: list[BaseException | str] = []

    def hostile() -> None:
        try:
            outcome.append(render_isolated(HOSTILE["compare"][0], HI, time_limit_s=60))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=hostile)
    thread.start()
    try:
        deadline = time.monotonic() + 60  # the hostile render holds the only worker before we render
        while not template_worker.worker_pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        validate_template(ECHO + "{{ 'ok' }}")
        assert render_chat(ECHO, HI) == "[user] hi\n"
        assert thread.is_alive() and not outcome  # the hostile render is still going
        assert len(template_worker.worker_pids()) == 2
    finally:
        template_worker.shutdown()  # kills the busy worker: the hostile render ends at once
        thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], TemplateError)


def test_template_errors_keep_their_kind_and_hint_across_the_process_boundary() -> None:
    with pytest.raises(TemplateError, match=r"refused this conversation: no system") as info:
        render_chat("{{ raise_exception('no system') }}", HI)
    assert info.value.hint
    # validate_template relies on the kind: a template that refuses system prompts is still valid
    no_system = (
        "{% if messages[0].role == 'system' %}{{ raise_exception('no system') }}{% endif %}"
        "{% for m in messages %}{{ m.content }}{% endfor %}"
    )
    validate_template(no_system)
    with pytest.raises(TemplateError, match="line 2"):
        render_chat("fine\n{{ messages[0]['content'].nope() }}", HI)


@pytest.mark.timeout(120, method="thread")
def test_a_refused_file_template_falls_back_to_the_builtin_format_with_a_warning() -> None:
    chat_format = resolve_chat_format(
        architecture="gemma3", name="Gemma 3", file_template=HOSTILE["compare"][0]
    )
    assert (chat_format.source, chat_format.family) == ("builtin", "gemma")
    assert chat_format.warning is not None
    assert "template in this model file was refused" in chat_format.warning
    assert "longer than" in chat_format.warning
    assert "Gemma 1-3" in chat_format.warning
    # an override that fails falls back to the file's own template, and says so
    chat_format = resolve_chat_format(
        architecture="qwen2", name="", file_template=ECHO, override="{{ raise_exception('x') }}"
    )
    assert (chat_format.source, chat_format.template) == ("file", ECHO)
    assert chat_format.warning is not None and "override" in chat_format.warning
    # a template that works carries no warning
    assert resolve_chat_format(architecture="qwen2", name="", file_template=ECHO).warning is None


@pytest.mark.timeout(180, method="thread")
def test_a_model_with_a_hostile_template_loads_and_chats_with_a_warning(
    tiny_gguf: Callable[..., Path],
) -> None:
    path = tiny_gguf(chat_template=HOSTILE["compare"][0])
    engine = Engine()
    try:
        model = engine.load(path, LoadSettings(n_threads=1, n_threads_batch=1))
        assert model.chat_format.source == "builtin"
        assert model.template_warning is not None and "longer than" in model.template_warning
        assert model.template_warning in model.warnings
        tokens, _ = engine.build_chat_prompt(HI, 16)
        assert "<|im_start|>user\nhi" in engine.detokenize(tokens)
    finally:
        engine.unload()

    result = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "chat", "--model", str(path), "--prompt", "hi",
         "--max-tokens", "2", "--threads", "1", "--seed", "1"],
        capture_output=True, text=True, timeout=150, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    warning = [line for line in result.stderr.splitlines() if line.startswith("hearth: warning:")]
    assert len(warning) == 1, result.stderr[-2000:]
    assert "template in this model file was refused" in warning[0] and "longer than" in warning[0]
