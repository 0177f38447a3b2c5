"""Thin helpers over llama.cpp's C API, shared by the engine and the raw benchmark loop.

Everything here is imported lazily (`import llama_cpp` costs 0.26 s at start-up). Only the engine's
owner thread calls these with a live context.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from desktop_app.core.generation import SamplingSettings

log = logging.getLogger("hearth.llama")

DECODE_OK = 0
DECODE_NO_KV_SLOT = 1  # the context is full
DECODE_ABORTED = 2  # our abort callback said stop; processed ubatches stay in memory


def lib() -> Any:
    import llama_cpp

    return llama_cpp


class AbortFlag:
    """A cancel flag llama.cpp polls between graph nodes, without ever taking the GIL.

    llama.cpp calls the abort callback after every node of the compute graph (hundreds per token) from
    its own thread. A Python callback would take the GIL each time: a measurable tax on every token, and
    a stall whenever the GUI thread holds the GIL. Instead the callback is libc's `strlen` and its data a
    two-byte buffer: "\\0" -> 0 (go on), "\\1" -> 1 (abort). Same C ABI shape (pointer in, integer out),
    no Python involved. If libc cannot be found we fall back to a Python callback.
    """

    def __init__(self) -> None:
        llama_cpp = lib()
        self._buffer = ctypes.create_string_buffer(2)
        self.native = False
        strlen = _libc_strlen()
        if strlen is not None:
            self.callback = llama_cpp.ggml_abort_callback(ctypes.cast(strlen, ctypes.c_void_p).value)
            self.native = True
        else:  # pragma: no cover - platforms without a loadable libc

            def _py_callback(_data: ctypes.c_void_p) -> bool:
                return self._buffer.raw[0] != 0

            self.callback = llama_cpp.ggml_abort_callback(_py_callback)
        self.data = ctypes.cast(self._buffer, ctypes.c_void_p)

    def set(self) -> None:
        self._buffer[0] = b"\x01"

    def clear(self) -> None:
        self._buffer[0] = b"\x00"

    def is_set(self) -> bool:
        return self._buffer.raw[0] != 0

    def install(self, ctx: Any) -> None:
        lib().llama_set_abort_callback(ctx, self.callback, self.data)


def _libc_strlen() -> Any | None:
    try:
        if sys.platform == "win32":
            return ctypes.cdll.msvcrt.strlen
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else ctypes.CDLL(None)
        return libc.strlen
    except (OSError, AttributeError):
        return None


def build_sampler(vocab: Any, settings: SamplingSettings, seed: int) -> Any:
    """llama.cpp's own sampler chain, as llama.cpp's `common` builds it. Caller frees it."""
    llama_cpp = lib()
    params = llama_cpp.llama_sampler_chain_default_params()
    params.no_perf = True
    chain = llama_cpp.llama_sampler_chain_init(params)
    add = llama_cpp.llama_sampler_chain_add
    if settings.repeat_penalty != 1.0 or settings.frequency_penalty or settings.presence_penalty:
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        penalties = llama_cpp.llama_sampler_init_penalties(
            n_vocab,
            settings.repeat_last_n,
            settings.repeat_penalty,
            settings.frequency_penalty,
            settings.presence_penalty,
        )
        add(chain, penalties)
    if settings.temperature <= 0.0:
        add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    if settings.top_k > 0:
        add(chain, llama_cpp.llama_sampler_init_top_k(settings.top_k))
    if settings.top_p < 1.0:
        add(chain, llama_cpp.llama_sampler_init_top_p(settings.top_p, 1))
    if settings.min_p > 0.0:
        add(chain, llama_cpp.llama_sampler_init_min_p(settings.min_p, 1))
    add(chain, llama_cpp.llama_sampler_init_temp(settings.temperature))
    add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain


class TokenBuffer:
    """Reusable ctypes token arrays for llama_batch_get_one (no per-token allocation)."""

    def __init__(self, capacity: int) -> None:
        llama_cpp = lib()
        self.capacity = capacity
        self.array = (llama_cpp.llama_token * capacity)()
        self.one = (llama_cpp.llama_token * 1)()

    def batch(self, tokens: Sequence[int]) -> Any:
        n = len(tokens)
        self.array[:n] = tokens
        return lib().llama_batch_get_one(self.array, n)

    def single(self, token: int) -> Any:
        self.one[0] = token
        return lib().llama_batch_get_one(self.one, 1)


class PieceDecoder:
    """Token id -> bytes with one reusable buffer; the bytes feed an incremental UTF-8 decoder."""

    def __init__(self, vocab: Any) -> None:
        self._vocab = vocab
        self._size = 256
        self._buffer = ctypes.create_string_buffer(self._size)
        self._fn = lib().llama_token_to_piece

    def piece(self, token: int) -> bytes:
        n = self._fn(self._vocab, token, self._buffer, self._size, 0, True)
        if n < 0:  # buffer too small: grow and retry once
            self._size = -n + 16
            self._buffer = ctypes.create_string_buffer(self._size)
            n = self._fn(self._vocab, token, self._buffer, self._size, 0, True)
        return self._buffer.raw[: max(n, 0)]


_log_callback: Any = None
# What llama.cpp logs (at error level) when our abort callback stops a decode:
# GGML_STATUS_ABORTED is 1, and llama_decode returns 2.
_ABORT_MARKERS = ("compute status: 1", "failed with error 1", "failed to decode, ret = 2")
#: the last lines llama.cpp logged: a load error's "details" show them, since llama.cpp's own
#: exceptions only say "Failed to load model from file"
recent_log_lines: collections.deque[str] = collections.deque(maxlen=40)


def route_llama_logs() -> None:
    """Send llama.cpp's own log lines to our log file instead of the terminal (once per process)."""
    global _log_callback  # noqa: PLW0603 - one process-wide callback that must stay referenced
    if _log_callback is not None:
        return
    llama_cpp = lib()
    # ggml.h of the pinned build: 1 debug, 2 info, 3 warn, 4 error, 5 continuation
    levels = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.ERROR}

    def _on_log(level: int, text: bytes, _data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            recent_log_lines.append(message)
            severity = levels.get(level, logging.DEBUG)
            if any(marker in message for marker in _ABORT_MARKERS):
                severity = logging.DEBUG  # our own cancel, not a failure
            log.log(severity, "%s", message)

    _log_callback = llama_cpp.llama_log_callback(_on_log)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


LoadProgress = Callable[[float], bool | None]  # returning False stops the load


@contextmanager
def load_progress(callback: LoadProgress | None) -> Iterator[None]:
    """Report llama.cpp's model-loading progress (0.0 to 1.0) to `callback` during a `Llama(...)`.

    llama-cpp-python 0.3.36 builds its model parameters from `llama_model_default_params()` and
    offers no way to pass llama.cpp's progress callback, so for the length of the load that function
    returns parameters with our callback set. Loads happen on the one inference thread, one at a time.
    The callback runs on the loading thread; returning False makes llama.cpp abort the load; an
    exception in it is logged, never raised into C.
    """
    if callback is None:
        yield
        return
    import llama_cpp.llama_cpp as raw  # the module llama_cpp.Llama reads the function from

    original = raw.llama_model_default_params

    failed = False

    def on_progress(value: float, _user_data: Any) -> bool:
        nonlocal failed
        if not failed:
            try:
                return callback(min(1.0, max(0.0, float(value)))) is not False
            except Exception:
                failed = True  # said once, then the load goes on without progress
                log.warning("load progress callback failed", exc_info=True)
        return True  # keep loading

    c_callback = raw.llama_progress_callback(on_progress)

    def with_progress() -> Any:
        params = original()
        params.progress_callback = c_callback
        return params

    raw.llama_model_default_params = with_progress
    try:
        yield
    finally:
        raw.llama_model_default_params = original
