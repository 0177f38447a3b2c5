"""Every user-facing bound on load and sampling settings, in one place.

The engine's checks (`core/generation.py`), the settings drawer and the model dialog (`ui/`) and the
OpenAI-compatible API (`server/openai_schema.py`) all read these names, so a value that one of them
accepts is never refused by another for a different number. Widget ranges that are narrower on
purpose (a slider over the useful part of a range) say so next to their name.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class IntRange:
    """An inclusive range of whole numbers."""

    lo: int
    hi: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi


@dataclass(frozen=True)
class FloatRange:
    """An inclusive range of numbers (ints count too: JSON and spin boxes hand either)."""

    lo: float
    hi: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and self.lo <= value <= self.hi


# -- load ------------------------------------------------------------------------------------------

N_CTX: Final = IntRange(64, 1 << 21)
UNKNOWN_CONTEXT_MAX: Final = 131072  # the context widgets' bound when the model file does not say
THREADS: Final = IntRange(1, 1024)  # n_threads and n_threads_batch, when fixed
THREADS_AUTOMATIC: Final = 0  # also taken for them: "Automatic" (the governor picks; stored as None)
N_BATCH: Final = IntRange(1, 1 << 16)
N_GPU_LAYERS: Final = IntRange(-1, 100_000)  # -1: all layers
GPU_LAYERS_WIDGET_MAX: Final = 999  # the spin boxes stop here: more layers than any model has

# -- sampling --------------------------------------------------------------------------------------

TEMPERATURE: Final = FloatRange(0.0, 5.0)
TOP_K: Final = IntRange(0, 1_000_000)
TOP_K_WIDGET_MAX: Final = 1000  # the spin boxes stop here (it grows to show a larger stored value)
TOP_P: Final = FloatRange(0.0, 1.0)
MIN_P: Final = FloatRange(0.0, 1.0)
REPEAT_PENALTY: Final = FloatRange(0.0, 5.0)
REPEAT_LAST_N: Final = IntRange(-1, 1 << 20)  # -1: the whole context
PENALTY: Final = FloatRange(-2.0, 2.0)  # frequency_penalty and presence_penalty (OpenAI's range)
MAX_TOKENS: Final = IntRange(1, 1 << 21)

SEED: Final = IntRange(0, 2**32 - 1)  # llama.cpp takes a 32-bit seed
SEED_MAX: Final = SEED.hi

# Stop strings, as the drawer and the API take them. 16 covers any chat format's turn markers; OpenAI's
# own clients send at most 4. 500 characters is the API's historical bound (the drawer's was 200): the
# larger one, so no request that worked before is refused now, and still short enough that matching
# every candidate against each new token stays cheap.
STOP_STRINGS_MAX: Final = 16
STOP_LENGTH_MAX: Final = 500

# -- the OpenAI API's narrower ranges ----------------------------------------------------------------

# OpenAI's temperature range is 0..2; the API clamps a larger value to 2 (above 2 is noise already).
OPENAI_TEMPERATURE: Final = FloatRange(0.0, 2.0)


def random_seed() -> int:
    """A seed drawn from the whole range llama.cpp takes."""
    return random.randrange(SEED_MAX + 1)


def wrap_seed(value: int) -> int:
    """Any whole number folded into the seed range (OpenAI clients send 64-bit seeds, even negative)."""
    return value % (SEED_MAX + 1)
