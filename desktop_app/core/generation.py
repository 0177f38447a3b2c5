"""Load and sampling settings, validated once so the engine can trust them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Final, Literal, TypeVar

from desktop_app.core import limits
from desktop_app.core.errors import SettingsError
from desktop_app.core.limits import FloatRange, IntRange
from desktop_app.core.system import default_threads

KvCacheType = Literal["f16", "q8_0", "q4_0", "f32"]
KV_TYPES: dict[str, int] = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8}  # ggml_type ids
KV_BYTES_PER_ELEMENT: dict[str, float] = {"f32": 4.0, "f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}

StopReason = Literal["eos", "stop_string", "max_tokens", "cancelled", "context_full"]

T = TypeVar("T")

DEFAULT_CONTEXT = 4096  # llama-cpp-python's 512 is too small for a chat; 4k fits any laptop

#: OpenAI's logit_bias range; -100 bans a token in practice, 100 all but forces it
LOGIT_BIAS: Final = FloatRange(-100.0, 100.0)
LOGIT_BIAS_MAX_ENTRIES: Final = 1024  # OpenAI takes 300; more is a mistake or an attack
TOKEN_ID: Final = IntRange(0, 2**31 - 1)  # the loaded vocabulary bounds it further (the sampler checks)
#: a GBNF grammar (the API's json_schema builds one): llama.cpp parses it per request; json_grammar.py
#: keeps a converted schema well below this
GRAMMAR_MAX_CHARS: Final = 256 * 1024


@dataclass(frozen=True)
class LoadSettings:
    n_ctx: int | None = None  # None: min(model's trained context, DEFAULT_CONTEXT)
    # None (or 0, as the drawer's spin box says "Automatic"): the thread governor picks, starting from
    # the physical cores and stepping down while other programs keep the CPU busy. A number: fixed,
    # and the governor stays off.
    n_threads: int | None = None
    # None: the same as n_threads. With n_threads automatic the governor sets both (a stored number here,
    # from before the governor, is then not used).
    n_threads_batch: int | None = None
    n_batch: int = 512
    n_gpu_layers: int = 0  # -1: all
    flash_attention: bool = False
    kv_cache_type: KvCacheType = "f16"
    use_mmap: bool = True
    use_mlock: bool = False

    def __post_init__(self) -> None:
        for name in ("n_threads", "n_threads_batch"):
            value = getattr(self, name)
            if value == limits.THREADS_AUTOMATIC and not isinstance(value, bool):
                object.__setattr__(self, name, None)  # how a spin box says "Automatic"
        _check_int("n_ctx", self.n_ctx, limits.N_CTX, allow_none=True)
        _check_int("n_threads", self.n_threads, limits.THREADS, allow_none=True)
        _check_int("n_threads_batch", self.n_threads_batch, limits.THREADS, allow_none=True)
        _check_int("n_batch", self.n_batch, limits.N_BATCH)
        _check_int("n_gpu_layers", self.n_gpu_layers, limits.N_GPU_LAYERS)
        if self.kv_cache_type not in KV_TYPES:
            raise SettingsError(
                f"KV cache type '{self.kv_cache_type}' is not one of {', '.join(KV_TYPES)}.",
                hint="Pick f16 (default), q8_0 or q4_0.",
            )

    @property
    def automatic_threads(self) -> bool:
        """The governor runs only when the user left the thread count automatic."""
        return self.n_threads is None

    def thread_counts(self) -> tuple[int, int]:
        """(n_threads, n_threads_batch) to load with: automatic starts both at the physical cores."""
        if self.n_threads is None:
            n = default_threads()
            return n, n
        return self.n_threads, self.n_threads_batch if self.n_threads_batch is not None else self.n_threads

    def context_for(self, trained_context: int) -> int:
        if self.n_ctx is not None:
            return self.n_ctx
        return max(64, min(trained_context or DEFAULT_CONTEXT, DEFAULT_CONTEXT))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSettings:
        return _from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    # OpenAI's: subtract frequency x (count so far) and presence x (seen at all) from a token's logit,
    # over the same window as repeat_penalty. 0 is off.
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None  # None: a random seed per request
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    #: (token id, bias) pairs added to the logits before sampling (OpenAI's logit_bias)
    logit_bias: tuple[tuple[int, float], ...] = ()
    #: the reply is one JSON object (OpenAI's response_format json_object; the drawer's "JSON output")
    json_output: bool = False
    #: a GBNF grammar the reply must match (the API's json_schema); when set, it wins over json_output
    grammar: str = ""

    def __post_init__(self) -> None:
        _check_float("temperature", self.temperature, limits.TEMPERATURE)
        _check_int("top_k", self.top_k, limits.TOP_K)
        _check_float("top_p", self.top_p, limits.TOP_P)
        _check_float("min_p", self.min_p, limits.MIN_P)
        _check_float("repeat_penalty", self.repeat_penalty, limits.REPEAT_PENALTY)
        _check_int("repeat_last_n", self.repeat_last_n, limits.REPEAT_LAST_N)
        _check_float("frequency_penalty", self.frequency_penalty, limits.PENALTY)
        _check_float("presence_penalty", self.presence_penalty, limits.PENALTY)
        _check_int("seed", self.seed, limits.SEED, allow_none=True)
        _check_int("max_tokens", self.max_tokens, limits.MAX_TOKENS)
        if not all(isinstance(s, str) and s for s in self.stop):
            raise SettingsError("Stop strings must be non-empty text.", hint="Remove the empty stop string.")
        bias: object = self.logit_bias
        if isinstance(bias, list):  # to_dict()'s JSON shape, [[token, bias], ...]
            object.__setattr__(
                self, "logit_bias", tuple(tuple(p) if isinstance(p, list) else p for p in bias)
            )
        _check_logit_bias(self.logit_bias)
        if not isinstance(self.json_output, bool):
            raise SettingsError("'json_output' must be true or false.", hint="Turn JSON output on or off.")
        if not isinstance(self.grammar, str) or len(self.grammar) > GRAMMAR_MAX_CHARS:
            raise SettingsError(
                f"The grammar must be text of at most {GRAMMAR_MAX_CHARS:,} characters.",
                hint="Use a smaller JSON schema.",
            )

    @property
    def constrained_grammar(self) -> str:
        """The GBNF the reply must match ("" when unconstrained)."""
        if self.grammar:
            return self.grammar
        return JSON_OBJECT_GBNF if self.json_output else ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingSettings:
        if "stop" in data and isinstance(data["stop"], list):
            data = {**data, "stop": tuple(data["stop"])}
        return _from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "stop": list(self.stop),
            "logit_bias": [[token, bias] for token, bias in self.logit_bias],
        }


def _check_logit_bias(pairs: object) -> None:
    hint = "Give token ids (whole numbers from 0) with a bias from -100 to 100."
    if not isinstance(pairs, tuple):
        raise SettingsError("'logit_bias' must be a list of (token id, bias) pairs.", hint=hint)
    if len(pairs) > LOGIT_BIAS_MAX_ENTRIES:
        raise SettingsError(f"'logit_bias' takes at most {LOGIT_BIAS_MAX_ENTRIES} tokens.", hint=hint)
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise SettingsError(f"'logit_bias' entries are (token id, bias) pairs, not {pair!r}.", hint=hint)
        token, bias = pair
        if token not in TOKEN_ID:
            raise SettingsError(f"'logit_bias' token ids are whole numbers from 0, not {token!r}.", hint=hint)
        if bias not in LOGIT_BIAS:
            raise SettingsError(
                f"The bias of token {token} must be a number from -100 to 100, not {bias!r}.", hint=hint
            )


def _check_int(name: str, value: object, bounds: IntRange, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value not in bounds:
        raise SettingsError(
            f"'{name}' must be a whole number from {bounds.lo} to {bounds.hi}, not {value!r}.",
            hint=f"Change '{name}' in the model's settings.",
        )


def _check_float(name: str, value: object, bounds: FloatRange) -> None:
    if value not in bounds:  # NaN compares false and the bounds are finite: both refused here
        raise SettingsError(
            f"'{name}' must be a number from {bounds.lo} to {bounds.hi}, not {value!r}.",
            hint=f"Change '{name}' in the model's settings.",
        )


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(
            f"Unknown setting(s): {', '.join(unknown)}.", hint="Remove them from the settings file."
        )
    try:
        return cls(**data)
    except TypeError as exc:
        raise SettingsError(f"Invalid settings: {exc}.", hint="Reset the settings to defaults.") from exc


#: llama.cpp's grammars/json.gbnf: one JSON object, with bounded whitespace so a model cannot run away
#: in blanks between values
JSON_OBJECT_GBNF: Final = r"""
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

ws ::= | " " | "\n" [ \t]{0,20}
"""
