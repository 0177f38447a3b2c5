"""OpenAI's wire format: request validation (clamp what is harmless, refuse what is wrong) and the
response, chunk and error shapes that OpenAI's own clients parse.

Validation runs on the event loop before anything is queued, so a bad request never waits behind a
generation to learn it was bad. Unknown fields are ignored (clients send many, such as `user`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from desktop_app.core import limits
from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LOGIT_BIAS_MAX_ENTRIES, SamplingSettings
from desktop_app.core.json_grammar import SchemaError, schema_to_gbnf
from desktop_app.core.limits import FloatRange, IntRange

MAX_MESSAGES = 10_000
COMPLETION_DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
CHAT_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def no_model_error() -> ApiError:
    return ApiError(
        503,
        "No model is loaded in Hearth. Load one (in the app's Chat page, or with `hearth serve --model`) "
        "and try again.",
        param="model",
        code="model_not_loaded",
    )


# -- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationRequest:
    kind: Literal["chat", "completion"]
    sampling: SamplingSettings
    stream: bool = False
    include_usage: bool = False
    messages: tuple[dict[str, str], ...] = ()
    prompt: str = ""
    ignore_eos: bool = False
    requested_model: str | None = None


def parse_chat(body: object, model: LoadedModel, defaults: SamplingSettings) -> GenerationRequest:
    data = _object(body)
    _reject_unsupported(data, chat=True)
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list of messages.", param="messages")
    if len(raw) > MAX_MESSAGES:
        raise ApiError(400, f"At most {MAX_MESSAGES} messages are accepted.", param="messages")
    messages = tuple(_message(m, i) for i, m in enumerate(raw))
    if not any(m["role"] != "system" for m in messages):
        raise ApiError(400, "'messages' needs at least one user message.", param="messages")
    max_tokens = _max_tokens(data, model, default=model.n_ctx)
    stream, include_usage = _stream(data)
    return GenerationRequest(
        kind="chat",
        sampling=_sampling(data, defaults, max_tokens, model),
        stream=stream,
        include_usage=include_usage,
        messages=messages,
        requested_model=_model_name(data),
    )


def parse_completion(body: object, model: LoadedModel, defaults: SamplingSettings) -> GenerationRequest:
    data = _object(body)
    _reject_unsupported(data, chat=False)
    prompt = data.get("prompt", "")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise ApiError(
                400, "'prompt' must be a string (or a list of one string); token arrays and batches "
                "are not supported.", param="prompt",
            )  # fmt: skip
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(400, "'prompt' must be a string.", param="prompt")
    max_tokens = _max_tokens(data, model, default=COMPLETION_DEFAULT_MAX_TOKENS)
    ignore_eos = _bool(data, "ignore_eos", False)
    stream, include_usage = _stream(data)
    return GenerationRequest(
        kind="completion",
        sampling=_sampling(data, defaults, max_tokens, model),
        stream=stream,
        include_usage=include_usage,
        prompt=prompt,
        ignore_eos=ignore_eos,
        requested_model=_model_name(data),
    )


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _model_name(data: Mapping[str, Any]) -> str | None:
    value = data.get("model")
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "'model' must be a string.", param="model")
    return value


def _message(raw: object, index: int) -> dict[str, str]:
    param = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise ApiError(400, f"{param} must be an object with 'role' and 'content'.", param=param)
    role = raw.get("role")
    if role not in CHAT_ROLES:
        raise ApiError(
            400,
            f"{param}.role must be one of system, developer, user or assistant, not {role!r} "
            "(tool calls are not supported).",
            param=f"{param}.role",
        )
    content = raw.get("content")
    if content is None and role == "assistant":
        content = ""
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise ApiError(
                    400,
                    f"{param}.content[{j}] must be a text part; images and audio are not supported.",
                    param=f"{param}.content",
                )
            texts.append(part["text"])
        content = "".join(texts)
    if not isinstance(content, str):
        raise ApiError(400, f"{param}.content must be a string.", param=f"{param}.content")
    return {"role": CHAT_ROLES[str(role)], "content": content}


def _reject_unsupported(data: Mapping[str, Any], *, chat: bool) -> None:
    """Fields that would change the answer's meaning: refuse them rather than silently ignore them."""
    n = data.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise ApiError(400, "'n' must be 1: one choice per request.", param="n")
    if data.get("tools") or data.get("functions"):
        raise ApiError(400, "Tool and function calling are not supported.", param="tools")
    if data.get("tool_choice") not in (None, "none", "auto"):
        raise ApiError(400, "Tool calling is not supported.", param="tool_choice")
    if chat:
        if data.get("logprobs") not in (None, False):
            raise ApiError(400, "'logprobs' is not supported.", param="logprobs")
        if data.get("top_logprobs") not in (None, 0):
            raise ApiError(400, "'top_logprobs' is not supported.", param="top_logprobs")
    else:
        if data.get("logprobs") not in (None, 0):
            raise ApiError(400, "'logprobs' is not supported.", param="logprobs")
        if data.get("echo") not in (None, False):
            raise ApiError(400, "'echo' is not supported.", param="echo")
        if data.get("suffix") not in (None, ""):
            raise ApiError(400, "'suffix' (fill-in-the-middle) is not supported.", param="suffix")
        best_of = data.get("best_of")
        if best_of is not None and (isinstance(best_of, bool) or best_of != 1):
            raise ApiError(400, "'best_of' must be 1.", param="best_of")


def _stream(data: Mapping[str, Any]) -> tuple[bool, bool]:
    stream = _bool(data, "stream", False)
    options = data.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise ApiError(400, "'stream_options' must be an object.", param="stream_options")
        include_usage = _bool(options, "include_usage", False, param="stream_options.include_usage")
    return stream, include_usage


def _bool(data: Mapping[str, Any], name: str, default: bool, *, param: str | None = None) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"'{param or name}' must be true or false.", param=param or name)
    return value


def _max_tokens(data: Mapping[str, Any], model: LoadedModel, *, default: int) -> int:
    """Refused, not clamped: a client asking for -1 or 10**9 tokens has a bug worth hearing about."""
    name = "max_completion_tokens" if data.get("max_completion_tokens") is not None else "max_tokens"
    value = data.get(name)
    if value is None:
        return max(1, min(default, model.n_ctx))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be a whole number.", param=name)
    if value < 1:
        raise ApiError(400, f"'{name}' must be at least 1, not {value}.", param=name)
    if value > model.n_ctx:
        raise ApiError(
            400,
            f"'{name}' is too large: {value}. The loaded model's context holds {model.n_ctx} tokens, "
            "prompt included.",
            param=name,
        )
    return value


def _number(data: Mapping[str, Any], name: str, bounds: FloatRange, *, clamp: bool = False) -> float | None:
    """A finite number in `bounds`. Above them: 400, or clamped to the top where that is harmless."""
    lo, hi = bounds.lo, bounds.hi
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"'{name}' must be a finite number, not {value!r}.", param=name)
    if value < lo:
        raise ApiError(400, f"'{name}' must be at least {lo}, not {value}.", param=name)
    if value > hi:
        if not clamp:
            raise ApiError(400, f"'{name}' must be at most {hi}, not {value}.", param=name)
        return hi
    return float(value)


def _int(data: Mapping[str, Any], name: str, bounds: IntRange) -> int | None:
    """A whole number >= the bottom of `bounds`, clamped to its top."""
    lo = bounds.lo
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be a whole number.", param=name)
    if value < lo:
        raise ApiError(400, f"'{name}' must be at least {lo}, not {value}.", param=name)
    return min(value, bounds.hi)


def _stop(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    value = data.get("stop")
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) and s for s in items):
        raise ApiError(400, "'stop' must be a non-empty string or a list of them.", param="stop")
    if len(items) > limits.STOP_STRINGS_MAX or any(len(s) > limits.STOP_LENGTH_MAX for s in items):
        raise ApiError(
            400,
            f"'stop' takes at most {limits.STOP_STRINGS_MAX} strings of up to {limits.STOP_LENGTH_MAX} "
            "characters.",
            param="stop",
        )
    return tuple(items)


def _logit_bias(data: Mapping[str, Any], model: LoadedModel) -> tuple[tuple[int, float], ...] | None:
    """OpenAI's `{"token id": bias}` map, bias from -100 to 100; ids checked against the vocabulary."""
    value = data.get("logit_bias")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(
            400, "'logit_bias' must be an object mapping token ids to a bias, e.g. {\"1234\": -100}.",
            param="logit_bias",
        )  # fmt: skip
    if len(value) > LOGIT_BIAS_MAX_ENTRIES:
        raise ApiError(
            400, f"'logit_bias' takes at most {LOGIT_BIAS_MAX_ENTRIES} tokens, not {len(value)}.",
            param="logit_bias",
        )  # fmt: skip
    n_vocab = model.summary.vocab_size
    pairs: list[tuple[int, float]] = []
    for key, bias in value.items():
        token_text = key.strip()
        if not token_text.isascii() or not token_text.isdigit() or len(token_text) > 10:
            raise ApiError(
                400, f"'logit_bias' keys are token ids (whole numbers from 0), not {key!r}.",
                param="logit_bias",
            )  # fmt: skip
        token = int(token_text)
        if n_vocab and token >= n_vocab:
            raise ApiError(
                400, f"'logit_bias' names token {token}, but the loaded model's vocabulary has "
                f"{n_vocab:,} tokens (ids 0 to {n_vocab - 1:,}).", param="logit_bias",
            )  # fmt: skip
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not math.isfinite(bias):
            raise ApiError(
                400, f"The bias of token {token} in 'logit_bias' must be a number, not {bias!r}.",
                param="logit_bias",
            )  # fmt: skip
        if not -100 <= bias <= 100:
            raise ApiError(
                400, f"The bias of token {token} in 'logit_bias' must be from -100 to 100, not {bias}.",
                param="logit_bias",
            )  # fmt: skip
        pairs.append((token, float(bias)))
    return tuple(pairs)


def _response_format(data: Mapping[str, Any]) -> dict[str, Any]:
    """`text`, `json_object` (any JSON object) or `json_schema` (the GBNF grammar of the schema)."""
    fmt = data.get("response_format")
    text = {"json_output": False, "grammar": ""}  # whatever the app's saved settings say: OpenAI's default
    if fmt is None:
        return text
    param = "response_format"
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return text
    if kind == "json_object":
        return {"json_output": True, "grammar": ""}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise ApiError(
                400, "'response_format.json_schema' must be an object with a 'schema'.",
                param="response_format.json_schema",
            )  # fmt: skip
        schema = spec.get("schema", {})  # llama.cpp's reading: no schema is any JSON value
        try:
            grammar = schema_to_gbnf(schema)
        except SchemaError as exc:
            raise ApiError(
                400, f"{exc.message} {exc.hint}".strip(), param="response_format.json_schema.schema"
            ) from exc
        return {"json_output": True, "grammar": grammar}
    raise ApiError(
        400,
        f"'response_format.type' must be 'text', 'json_object' or 'json_schema', not {kind!r}.",
        param=param,
    )


def _sampling(
    data: Mapping[str, Any], defaults: SamplingSettings, max_tokens: int, model: LoadedModel
) -> SamplingSettings:
    changes: dict[str, Any] = {"max_tokens": max_tokens, **_response_format(data)}
    changes["logit_bias"] = _logit_bias(data, model) or ()
    # OpenAI's ranges. Clamped above where the clamp changes nothing a user could want: a temperature
    # above 2 is noise already, top_p above 1 means "all tokens".
    for name, bounds in (
        ("temperature", limits.OPENAI_TEMPERATURE),
        ("top_p", limits.TOP_P),
        ("min_p", limits.MIN_P),  # llama.cpp extension
        ("repeat_penalty", limits.REPEAT_PENALTY),  # llama.cpp extension
    ):
        value = _number(data, name, bounds, clamp=True)
        if value is not None:
            changes[name] = value
    for name in ("frequency_penalty", "presence_penalty"):  # OpenAI's range, applied by llama.cpp
        penalty = _number(data, name, limits.PENALTY)
        if penalty is not None:
            changes[name] = penalty
    top_k = _int(data, "top_k", limits.TOP_K)  # llama.cpp extension
    if top_k is not None:
        changes["top_k"] = top_k
    seed = data.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ApiError(400, "'seed' must be a whole number.", param="seed")
        changes["seed"] = limits.wrap_seed(seed)  # OpenAI takes any 64-bit int; llama.cpp a 32-bit one
    stop = _stop(data)
    if stop is not None:
        changes["stop"] = stop
    try:
        return replace(defaults, **changes)
    except SettingsError as exc:  # the engine's own checks are the last word
        raise ApiError(400, exc.message) from exc


# -- responses ------------------------------------------------------------------------------------

_SPLIT_SUFFIX = re.compile(r"-\d{5}-of-\d{5}$")


def model_id(model: LoadedModel) -> str:
    """The file name without `.gguf` (and without a split suffix): stable and unique enough."""
    return _SPLIT_SUFFIX.sub("", model.summary.path.stem)


def model_card(model: LoadedModel) -> dict[str, Any]:
    try:
        created = int(model.summary.path.stat().st_mtime)
    except OSError:
        created = 0
    return {"id": model_id(model), "object": "model", "created": created, "owned_by": "hearth"}


def finish_reason(stats: GenerationStats) -> str:
    return "length" if stats.stop_reason in ("max_tokens", "context_full") else "stop"


def usage(stats: GenerationStats) -> dict[str, Any]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "total_tokens": stats.prompt_tokens + stats.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": stats.cached_tokens},
    }


@dataclass
class ResponseIds:
    id: str
    model: str
    created: int


def new_ids(kind: Literal["chat", "completion"], request_id: int, token: str, model: str) -> ResponseIds:
    prefix = "chatcmpl" if kind == "chat" else "cmpl"
    return ResponseIds(f"{prefix}-{token}{request_id}", model, int(time.time()))


def chat_response(ids: ResponseIds, text: str, reasoning: str, stats: GenerationStats) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": ids.id,
        "object": "chat.completion",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(stats)}
        ],
        "usage": usage(stats),
    }


def completion_response(ids: ResponseIds, text: str, stats: GenerationStats) -> dict[str, Any]:
    return {
        "id": ids.id,
        "object": "text_completion",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason(stats)}],
        "usage": usage(stats),
    }


def chat_chunk(
    ids: ResponseIds,
    delta: dict[str, Any],
    finish: str | None = None,
    *,
    usage_of: GenerationStats | None = None,
    usage_field: bool = False,
) -> dict[str, Any]:
    """One chunk of a streamed chat reply; `usage_of` makes it the usage chunk (no choices).
    `usage_field`: the client asked for usage, so every other chunk says `"usage": null` (OpenAI)."""
    chunk: dict[str, Any] = {
        "id": ids.id,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return _with_usage(chunk, usage_of, usage_field)


def completion_chunk(
    ids: ResponseIds,
    text: str,
    finish: str | None = None,
    *,
    usage_of: GenerationStats | None = None,
    usage_field: bool = False,
) -> dict[str, Any]:
    """One chunk of a streamed completion; `usage_of` and `usage_field` as for chat_chunk."""
    chunk: dict[str, Any] = {
        "id": ids.id,
        "object": "text_completion",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
    }
    return _with_usage(chunk, usage_of, usage_field)


def _with_usage(chunk: dict[str, Any], usage_of: GenerationStats | None, usage_field: bool) -> dict[str, Any]:
    if usage_of is not None:
        chunk["choices"] = []
        chunk["usage"] = usage(usage_of)
    elif usage_field:
        chunk["usage"] = None
    return chunk
