"""Untrusted chat templates rendered in a warm child process that can be killed.

The in-process sandbox (templates/sandbox.py) checks its deadline between Python lines, so one C-level
operation on crafted data (comparing two deep lists built from shared parts, `sorted` on them) runs
on for hours, and memory can grow across a loop of individually small steps. Here such a template runs
in a separate process with hard limits, and the in-process guards still run inside it:

- wall clock: the parent waits at most `time_limit_s + GRACE_S` for a reply, then kills the worker (the
  next render starts a new one). This is the only limit on Windows, which has no `resource` module.
- CPU (POSIX): RLIMIT_CPU, re-armed before each render to the CPU time used so far plus the budget
  (the limit counts the process's whole life), so a spin the parent missed still ends in SIGXCPU.
- memory (POSIX): RLIMIT_AS (and RLIMIT_DATA) of MEMORY_LIMIT_BYTES: an allocation past it is a
  MemoryError, which the sandbox reports as a TemplateError. macOS does not enforce these limits
  strictly; the wall-clock kill still ends a render that thrashes.
- output: the reply is read with a byte cap, so a child cannot make the parent allocate without bound.

Replies are JSON, not pickles: the parent never unpickles anything a template could influence.

The worker starts lazily (the first untrusted render pays ~0.3 s), is reused across renders (a chat
renders on every turn), and is shared by threads: each render takes an idle worker from a small pool
or starts another, so the GUI validating an override never waits behind the inference thread. Workers
are daemonic processes, not threads, and `shutdown()` (also run at exit) stops them. They use the spawn
start method, so in the frozen app they run the Hearth binary itself: `multiprocessing.freeze_support()`
at the top of the entry points turns that into a worker instead of a second app.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import multiprocessing
import signal
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

from desktop_app.core.errors import TemplateError

__all__ = ["GRACE_S", "MEMORY_LIMIT_BYTES", "render_isolated", "shutdown", "worker_pids"]

#: address-space cap of a worker: it starts at ~30 MB, and a long chat (messages, a 1M-character
#: prompt, their JSON copies) needs tens of MB more
MEMORY_LIMIT_BYTES = 512 << 20
#: the parent's wall-clock allowance beyond the render's own time limit (IPC, a busy machine)
GRACE_S = 1.5
#: a fresh worker must be ready (Python started, Jinja imported) within this; a loaded laptop is slow
START_TIMEOUT_S = 60.0
#: idle workers kept warm; a second one only exists while two threads render at once
MAX_IDLE = 2

_HINT = "Set a template override for this model in its settings (a built-in format usually works)."


def render_isolated(
    template: str,
    messages: Sequence[Mapping[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    time_limit_s: float = 2.0,
    max_chars: int = 1_000_000,
) -> str:
    """`templates.render_template` in a worker process; every failure is a TemplateError."""
    request = {
        "template": template,
        "messages": [{str(k): str(v) for k, v in m.items()} for m in messages],
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
        "time_limit_s": time_limit_s,
        "max_chars": max_chars,
    }
    return _POOL.render(request, time_limit_s, max_chars)


def shutdown() -> None:
    """Stop every worker (idle ones at once; one rendering now is killed). Rendering again restarts."""
    _POOL.shutdown()


def worker_pids() -> list[int]:
    """Process ids of the live workers, for tests and the self-test."""
    return _POOL.pids()


# ---------------------------------------------------------------------------------------------------
# Parent side


class _Worker:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_serve, args=(child_end, MEMORY_LIMIT_BYTES), name="hearth-template-worker", daemon=True
        )
        self.process.start()
        child_end.close()
        self.conn: Connection = parent_end
        if not self.conn.poll(START_TIMEOUT_S) or self._read(64) != {"ready": True}:
            self.kill()
            raise TemplateError(
                "The template worker process did not start.", hint="Try again; see the log for details."
            )

    def _read(self, max_bytes: int) -> Any:
        try:
            return json.loads(self.conn.recv_bytes(max_bytes))
        except (EOFError, OSError, ValueError):
            return None

    def render(self, request: dict[str, Any], deadline_s: float, max_bytes: int) -> str:
        """Send one request; raise TemplateError on any failure. The caller discards a dead worker."""
        try:
            self.conn.send_bytes(json.dumps(request, ensure_ascii=False).encode("utf-8"))
        except (OSError, ValueError) as exc:
            self.kill()
            raise TemplateError("The template worker process stopped unexpectedly.", hint=_HINT) from exc
        if not self.conn.poll(deadline_s):
            self.kill()
            raise TemplateError(
                f"The chat template took longer than {request['time_limit_s']:g} s to render and was "
                "stopped (its process was ended).",
                hint=_HINT,
            )
        reply = self._read(max_bytes)
        if isinstance(reply, dict) and isinstance(reply.get("text"), str):
            return str(reply["text"])
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            error = reply["error"]
            if error.get("restart"):
                self.kill()  # a MemoryError may have left the heap fragmented: start clean
            raise _error_from(error)
        self.kill()
        raise TemplateError(self._death_message(max_bytes), hint=_HINT)

    def _death_message(self, max_bytes: int) -> str:
        code = self.process.exitcode
        if code == -getattr(signal, "SIGXCPU", -1000):
            return "The chat template used too much processor time and was stopped."
        if code == -getattr(signal, "SIGKILL", -1000):
            return "The chat template ran out of memory and was stopped."
        if code is None:  # alive, but the reply was oversized or malformed
            return f"The chat template's output went over {max_bytes:,} bytes and was stopped."
        return f"The chat template crashed its worker process (exit code {code}) and was stopped."

    @property
    def alive(self) -> bool:
        return self.process.is_alive() and not self.conn.closed

    def kill(self) -> None:
        """End the process now; waits for it so that no zombie is left."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)
        self.conn.close()

    def close(self) -> None:
        """Ask the worker to exit, then make sure it did."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send_bytes(b"null")
        self.process.join(2.0)
        self.kill()


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._atexit = False

    def render(self, request: dict[str, Any], time_limit_s: float, max_chars: int) -> str:
        worker = self._take()
        # JSON writes a character in at most 6 bytes (\uXXXX); the rest is the envelope and messages
        max_bytes = 6 * max_chars + 65_536
        try:
            return worker.render(request, time_limit_s + GRACE_S, max_bytes)
        finally:
            self._give_back(worker)

    def _take(self) -> _Worker:
        with self._lock:
            if not self._atexit:
                atexit.register(self.shutdown)
                self._atexit = True
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    self._busy.add(worker)
                    return worker
                worker.kill()
        worker = _Worker()  # outside the lock: another thread may render meanwhile
        with self._lock:
            self._busy.add(worker)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            owned = worker in self._busy
            self._busy.discard(worker)
            if owned and worker.alive and len(self._idle) < MAX_IDLE:
                self._idle.append(worker)
                return
        if worker.alive:
            worker.close()
        else:
            worker.kill()

    def shutdown(self) -> None:
        with self._lock:
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in busy:  # its render sees the pipe close, fails, and that thread cleans up
            if worker.process.is_alive():
                worker.process.kill()
        for worker in idle:
            worker.close()

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in (*self._idle, *self._busy) if w.process.pid is not None]


_POOL = _Pool()


def _error_from(error: Mapping[str, Any]) -> TemplateError:
    """Rebuild the child's TemplateError (the `raised` kind keeps validate_template's retry working)."""
    from desktop_app.core.templates.errors import TemplateRaisedError

    kind = TemplateRaisedError if error.get("kind") == "raised" else TemplateError
    return kind(
        str(error.get("message", "The chat template failed.")),
        hint=str(error.get("hint", "")),
        details=str(error.get("details", "")),
    )


# ---------------------------------------------------------------------------------------------------
# Child side


def _serve(conn: Connection, memory_limit: int) -> None:
    """The worker's loop: one JSON request in, one JSON reply out, until `null` or the pipe closes."""
    from desktop_app.core.templates.errors import TemplateRaisedError
    from desktop_app.core.templates.sandbox import render_template

    _limit_memory(memory_limit)
    conn.send_bytes(b'{"ready": true}')
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if not isinstance(request, dict):
            return
        _arm_cpu_limit(float(request["time_limit_s"]))
        reply: dict[str, Any]
        try:
            reply = {"text": render_template(**request)}
        except TemplateError as exc:
            kind = "raised" if isinstance(exc, TemplateRaisedError) else "error"
            restart = "out of memory" in exc.message
            error = {"kind": kind, "message": exc.message, "hint": exc.hint, "details": exc.details}
            reply = {"error": {**error, "details": error["details"][-20_000:], "restart": restart}}
        except MemoryError:
            reply = {
                "error": {"message": "The chat template ran out of memory.", "hint": _HINT, "restart": True}
            }
        try:
            conn.send_bytes(json.dumps(reply, ensure_ascii=False).encode("utf-8"))
        except MemoryError:
            return  # the parent sees the pipe close and reports the failure


def _limit_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: the parent's wall-clock kill is all there is
        return
    with contextlib.suppress(ValueError, OSError):  # SIGXCPU would otherwise leave a core file
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        which = getattr(resource, name, None)
        if which is None:
            continue
        _soft, hard = resource.getrlimit(which)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (cap, hard))


def _arm_cpu_limit(time_limit_s: float) -> None:
    """RLIMIT_CPU counts the whole life of the process: allow what was used so far plus this render."""
    try:
        import resource
    except ImportError:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + time_limit_s) + 1
    _old, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
