"""What picks the next token: llama.cpp's sampler chain, or, for plain greedy decoding, numpy on the
logits row.

`llama_sampler_sample` copies the whole logits row into a candidate array and runs the chain over it.
With Gemma 3's 262k-token vocabulary that is ~4 ms per token (the repeat penalty looks every candidate
up in its map), a fifth of a generation step on a small model and more in a batched step, where each
sequence pays it. Temperature 0 with at most a repeat penalty (what a batch job or a deterministic API
request asks for) needs none of it: the penalty touches only the last `repeat_last_n` tokens, and the
pick is an argmax. GreedyPicker does exactly what llama.cpp's penalties + greedy samplers do (float32
arithmetic, the first maximum on a tie), on the row in place; tests compare the two token by token.
"""

from __future__ import annotations

import ctypes
from collections import Counter, deque
from typing import TYPE_CHECKING, Any, Protocol

from desktop_app.core.engine import native
from desktop_app.core.generation import SamplingSettings

if TYPE_CHECKING:
    import numpy as np


class Picker(Protocol):
    def sample(self, ctx: Any, index: int) -> int:
        """The next token from the logits of output `index` (-1: the last), accepted into any history."""
        ...

    def free(self) -> None: ...


class ChainPicker:
    """llama.cpp's sampler chain (native.build_sampler): everything that is not plain greedy."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain
        self._sample = native.lib().llama_sampler_sample

    def sample(self, ctx: Any, index: int) -> int:
        return int(self._sample(self._chain, ctx, index))

    def free(self) -> None:
        if self._chain is not None:
            native.lib().llama_sampler_free(self._chain)
            self._chain = None


class GreedyPicker:
    """Penalties (repeat only) then greedy, as llama.cpp computes them, on the logits row in place."""

    def __init__(self, n_vocab: int, settings: SamplingSettings) -> None:
        import numpy

        self._np = numpy
        self._n_vocab = n_vocab
        last_n = max(settings.repeat_last_n, 0)  # llama_sampler_init_penalties clamps it the same way
        self._penalty = numpy.float32(settings.repeat_penalty)
        self._last_n = 0 if settings.repeat_penalty == 1.0 else last_n
        self._recent: deque[int] = deque()
        self._counts: Counter[int] = Counter()

    @staticmethod
    def applies(settings: SamplingSettings) -> bool:
        """Greedy, with nothing that needs the chain: no grammar, no logit bias, no frequency or presence
        penalty (llama.cpp may fuse their multiply-add, which numpy would not reproduce to the bit)."""
        return (
            settings.temperature <= 0.0
            and not settings.constrained_grammar
            and not settings.logit_bias
            and settings.frequency_penalty == 0.0
            and settings.presence_penalty == 0.0
        )

    def _row(self, ctx: Any, index: int) -> np.ndarray:
        pointer = native.lib().llama_get_logits_ith(ctx, index)
        floats = ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float))
        return self._np.ctypeslib.as_array(floats, shape=(self._n_vocab,))

    def sample(self, ctx: Any, index: int) -> int:
        np = self._np
        row = self._row(ctx, index)
        if not self._counts:
            token = int(row.argmax())  # the first maximum, as llama.cpp's greedy sampler takes
        else:  # the penalized logits go in for the argmax and back out: the row is llama.cpp's
            ids = np.fromiter(self._counts, dtype=np.intp, count=len(self._counts))
            saved = row[ids]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                row[ids] = np.where(saved <= 0, saved * self._penalty, saved / self._penalty)
            token = int(row.argmax())
            row[ids] = saved
        self._accept(token)
        return token

    def _accept(self, token: int) -> None:
        if self._last_n == 0:
            return
        self._counts[token] += 1
        if len(self._recent) >= self._last_n:
            old = self._recent.popleft()
            self._counts[old] -= 1
            if self._counts[old] == 0:
                del self._counts[old]
        self._recent.append(token)

    def free(self) -> None:
        pass


def build_picker(vocab: Any, settings: SamplingSettings, seed: int) -> Picker:
    """GreedyPicker where it does exactly what the chain would, else the chain. Caller frees it."""
    if GreedyPicker.applies(settings):
        return GreedyPicker(native.lib().llama_vocab_n_tokens(vocab), settings)
    return ChainPicker(native.build_sampler(vocab, settings, seed))
