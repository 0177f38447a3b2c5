"""Thin helpers over llama.cpp's C API, shared by the engine and the raw benchmark loop.

Everything here is imported lazily (`import llama_cpp` costs 0.26 s at start-up). Only the engine's
owner thread calls these with a live context.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import math
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from desktop_app.core.errors import SettingsError
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
    """llama.cpp's own sampler chain, as llama.cpp's `common` builds it. Caller frees it.

    Logit bias comes first (as in `common`), then the penalties, then the grammar (JSON output) as a
    `GrammarGate`, then the samplers that pick. SettingsError for a token id outside the vocabulary or
    a grammar llama.cpp cannot parse (nothing is leaked then)."""
    llama_cpp = lib()
    params = llama_cpp.llama_sampler_chain_default_params()
    params.no_perf = True
    chain = llama_cpp.llama_sampler_chain_init(params)
    try:
        _add_bias_and_penalties(chain, vocab, settings)
        grammar = settings.constrained_grammar
        if grammar:
            trial = llama_cpp.llama_sampler_chain_init(params)
            _add_pickers(trial, settings, seed)
            llama_cpp.llama_sampler_chain_add(chain, GrammarGate.create(vocab, grammar, trial))
    except BaseException:
        llama_cpp.llama_sampler_free(chain)
        raise
    _add_pickers(chain, settings, seed)
    return chain


def _add_pickers(chain: Any, settings: SamplingSettings, seed: int) -> None:
    """The samplers that pick one token: greedy, or top-k, top-p, min-p, temperature and a draw."""
    llama_cpp = lib()
    add = llama_cpp.llama_sampler_chain_add
    if settings.temperature <= 0.0:
        add(chain, llama_cpp.llama_sampler_init_greedy())
        return
    if settings.top_k > 0:
        add(chain, llama_cpp.llama_sampler_init_top_k(settings.top_k))
    if settings.top_p < 1.0:
        add(chain, llama_cpp.llama_sampler_init_top_p(settings.top_p, 1))
    if settings.min_p > 0.0:
        add(chain, llama_cpp.llama_sampler_init_min_p(settings.min_p, 1))
    add(chain, llama_cpp.llama_sampler_init_temp(settings.temperature))
    add(chain, llama_cpp.llama_sampler_init_dist(seed))


def _add_bias_and_penalties(chain: Any, vocab: Any, settings: SamplingSettings) -> None:
    llama_cpp = lib()
    add = llama_cpp.llama_sampler_chain_add
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    if settings.logit_bias:
        outside = sorted(token for token, _ in settings.logit_bias if token >= n_vocab)
        if outside:
            raise SettingsError(
                f"'logit_bias' names token {outside[0]}, but this model's vocabulary has {n_vocab:,} "
                f"tokens (ids 0 to {n_vocab - 1:,}).",
                hint="Use token ids of the loaded model.",
            )
        biases = (llama_cpp.llama_logit_bias * len(settings.logit_bias))()
        for i, (token, bias) in enumerate(settings.logit_bias):
            biases[i].token = token
            biases[i].bias = bias
        add(chain, llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(settings.logit_bias), biases))
    if settings.repeat_penalty != 1.0 or settings.frequency_penalty or settings.presence_penalty:
        penalties = llama_cpp.llama_sampler_init_penalties(
            n_vocab,
            settings.repeat_last_n,
            settings.repeat_penalty,
            settings.frequency_penalty,
            settings.presence_penalty,
        )
        add(chain, penalties)


#: GrammarGates by the address of their llama_sampler, until llama.cpp frees it; then (with the thread
#: that freed it) until that thread creates the next one: a ctypes callback must outlive its own call
_live_gates: dict[int, GrammarGate] = {}
_freed_gates: list[tuple[int, GrammarGate]] = []
_gates_lock = threading.Lock()
_GATE_NAME = ctypes.create_string_buffer(b"hearth-grammar-gate")


class GrammarGate:
    """llama.cpp's grammar sampler, applied the way llama.cpp's `common` applies it: pick a token
    without the grammar, keep it when the grammar allows it, and only otherwise mask the whole
    vocabulary with the grammar and pick again.

    Why: the grammar sampler checks every candidate against the grammar. Over Gemma's 262k-token
    vocabulary that took about 0.15 s per token here, several times the decode itself; the check of
    one token is nearly free, and the full mask is needed only when the first pick breaks the grammar.
    The result is what `common_sampler_sample` gives (greedy: exactly the grammar-first pick).

    It is a custom llama.cpp sampler inside the chain, after logit bias and penalties and before the
    samplers that pick: `apply` runs the `trial` chain (those same pickers, with their own seed) on a
    copy of the candidates, checks its pick with the grammar, and then either narrows the candidates
    to that token (the chain's pickers can only take it) or masks them all with the grammar. `accept`
    advances the grammar. The chain owns the sampler; `free` releases the grammar and the trial chain.
    """

    def __init__(self, grammar: Any, trial: Any) -> None:
        llama_cpp = lib()
        self.grammar = grammar
        self.trial = trial
        self._scratch: Any = None
        self._scratch_size = 0
        self._one = llama_cpp.llama_token_data()
        self._one_array = llama_cpp.llama_token_data_array(ctypes.pointer(self._one), 1, -1, False)
        self._trial_array = llama_cpp.llama_token_data_array()
        iface = llama_cpp.llama_sampler_i()
        # the callbacks are kept as attributes: llama.cpp holds only their C addresses
        self._name = ctypes.cast(
            ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(lambda _s: ctypes.addressof(_GATE_NAME)),
            llama_cpp.llama_sampler_i_name,
        )
        self._callbacks = (
            llama_cpp.llama_sampler_i_accept(self._accept),
            llama_cpp.llama_sampler_i_apply(self._apply),
            llama_cpp.llama_sampler_i_reset(self._reset),
            llama_cpp.llama_sampler_i_free(self._free),
        )
        iface.name = self._name
        iface.accept, iface.apply, iface.reset, iface.free = self._callbacks
        self.iface = iface
        self.sampler: Any = None

    @classmethod
    def create(cls, vocab: Any, grammar_text: str, trial: Any) -> Any:
        """A llama_sampler* for `grammar_text` (GBNF, root rule `root`); takes ownership of `trial`.
        SettingsError when llama.cpp cannot parse the grammar."""
        llama_cpp = lib()
        me = threading.get_ident()
        with _gates_lock:
            _freed_gates[:] = [(t, g) for t, g in _freed_gates if t != me]
        grammar = llama_cpp.llama_sampler_init_grammar(vocab, grammar_text.encode("utf-8"), b"root")
        if not grammar:  # llama.cpp's parser refused it (and said why in its log)
            llama_cpp.llama_sampler_free(trial)
            raise SettingsError(
                "llama.cpp could not parse the grammar for this reply.",
                hint="Simplify the JSON schema, or ask for a plain JSON object.",
            )
        gate = cls(grammar, trial)
        gate.sampler = llama_cpp.llama_sampler_init(ctypes.pointer(gate.iface), None)
        with _gates_lock:
            _live_gates[ctypes.cast(gate.sampler, ctypes.c_void_p).value or 0] = gate
        return gate.sampler

    def _apply(self, _sampler: Any, cur_p: Any) -> None:
        llama_cpp = lib()
        cur = cur_p.contents
        n = int(cur.size)
        if n == 0:
            return
        if n > self._scratch_size:
            self._scratch = (llama_cpp.llama_token_data * n)()
            self._scratch_size = n
        ctypes.memmove(self._scratch, cur.data, n * ctypes.sizeof(llama_cpp.llama_token_data))
        trial = self._trial_array
        trial.data = ctypes.cast(self._scratch, llama_cpp.llama_token_data_p)
        trial.size, trial.selected, trial.sorted = n, -1, cur.sorted
        llama_cpp.llama_sampler_apply(self.trial, ctypes.byref(trial))
        if 0 <= trial.selected < trial.size:
            token = trial.data[trial.selected].id
            self._one.id, self._one.logit, self._one.p = token, 1.0, 0.0
            self._one_array.size, self._one_array.selected = 1, -1
            llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(self._one_array))
            if self._one.logit != -math.inf:  # allowed: the pickers after this can only take it
                cur.data[0] = llama_cpp.llama_token_data(token, 0.0, 0.0)
                cur.size, cur.selected, cur.sorted = 1, -1, False
                return
        llama_cpp.llama_sampler_apply(self.grammar, cur_p)  # mask everything the grammar forbids

    def _accept(self, _sampler: Any, token: int) -> None:
        lib().llama_sampler_accept(self.grammar, token)

    def _reset(self, _sampler: Any) -> None:
        lib().llama_sampler_reset(self.grammar)
        lib().llama_sampler_reset(self.trial)

    def _free(self, sampler: Any) -> None:
        llama_cpp = lib()
        llama_cpp.llama_sampler_free(self.grammar)
        llama_cpp.llama_sampler_free(self.trial)
        self.grammar = self.trial = None
        with _gates_lock:
            gate = _live_gates.pop(ctypes.cast(sampler, ctypes.c_void_p).value or 0, None)
            if gate is not None:
                _freed_gates.append((threading.get_ident(), gate))  # this callback is still running


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
def load_progress(callback: LoadProgress | None, *, repack: bool = True) -> Iterator[None]:
    """Report llama.cpp's model-loading progress (0.0 to 1.0) to `callback` during a `Llama(...)`, and
    with `repack=False` keep the weights as the file stores them.

    llama-cpp-python 0.3.36 builds its model parameters from `llama_model_default_params()` and
    offers no way to pass llama.cpp's progress callback or `use_extra_bufts`, so for the length of the
    load that function returns parameters with ours set. Loads happen on the one inference thread, one
    at a time. The callback runs on the loading thread; returning False makes llama.cpp abort the load;
    an exception in it is logged, never raised into C.

    Repacking (llama.cpp's default) interleaves quantized weights for a matrix-matrix kernel that
    steps through the batch four columns at a time and a matrix-vector kernel for the rest, which sum in
    different orders: a sequence's logits then depend on how many others share its step, and a near-tie
    flips. Without it every output is the same dot product whatever the batch holds, so a batch job's
    row gives the same text beside three others as alone (generation speed was the same here).
    """
    if callback is None and repack:
        yield
        return
    import llama_cpp.llama_cpp as raw  # the module llama_cpp.Llama reads the function from

    original = raw.llama_model_default_params

    failed = False

    def on_progress(value: float, _user_data: Any) -> bool:
        nonlocal failed
        if not failed and callback is not None:
            try:
                return callback(min(1.0, max(0.0, float(value)))) is not False
            except Exception:
                failed = True  # said once, then the load goes on without progress
                log.warning("load progress callback failed", exc_info=True)
        return True  # keep loading

    c_callback = raw.llama_progress_callback(on_progress)

    def with_ours() -> Any:
        params = original()
        if callback is not None:
            params.progress_callback = c_callback
        params.use_extra_bufts = repack
        return params

    raw.llama_model_default_params = with_ours
    try:
        yield
    finally:
        raw.llama_model_default_params = original
