"""From parsed metadata to a ModelSummary: is this a model Hearth can run, and what are its shapes?"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

from gguf import GGMLQuantizationType, GGUFValueType, Keys, LlamaFileType

from desktop_app.core.architectures import PROJECTOR_ARCHITECTURES, SUPPORTED_ARCHITECTURES
from desktop_app.core.errors import ModelFileError, UnsupportedModelError
from desktop_app.core.gguf_info.errors import HINT_CORRUPT, corrupt, show
from desktop_app.core.gguf_info.limits import MAX_KEY_BYTES, MAX_METADATA_STRING_BYTES, TOKEN_INDEX_STRIDE
from desktop_app.core.gguf_info.parser import INT_TYPES, Array, Tensor, Value
from desktop_app.core.gguf_info.reader import Source
from desktop_app.core.gguf_info.summary import ModelSummary, Scalar

_GUESSED_FILE_TYPE_FLAG: Final = 1024  # LLAMA_FTYPE_GUESSED
_SPLIT_STEM: Final = re.compile(r"(.+)-\d{5}-of-\d{5}")


def _kind(value: Value) -> str:
    if isinstance(value, Array):
        return f"an array of {value.item_type.name.lower()}"
    if value is None:
        return "an over-long string"
    return {bool: "a boolean", str: "a string", float: "a decimal number"}.get(type(value), "a number")


def _get_str(kvs: Mapping[str, Value], key: str) -> str | None:
    value = kvs.get(key)
    if value is None or isinstance(value, str):
        return value
    raise corrupt(f"The file is damaged: metadata key {show(key)} should be text but is {_kind(value)}.")


def _get_int(kvs: Mapping[str, Value], key: str, *, per_layer: bool = False) -> int | None:
    """A whole number; `per_layer` keys may be an array with one value per layer (we take the max)."""
    value = kvs.get(key)
    if value is None and key not in kvs:
        return None
    if per_layer and isinstance(value, Array) and value.item_type in INT_TYPES and value.values:
        value = max(int(v) for v in value.values)
    if not isinstance(value, int) or isinstance(value, bool):
        raise corrupt(
            f"The file is damaged: metadata key {show(key)} should be a number but is {_kind(value)}."
        )
    if value < 0:
        raise corrupt(f"The file is damaged: metadata key {show(key)} is negative ({value:,}).")
    return value


def _token_text(src: Source, tokens: Array | None, token_id: int | None) -> str | None:
    """Walk from the nearest remembered offset to one token; the vocabulary itself is never kept."""
    if tokens is None or token_id is None or not 0 <= token_id < tokens.count or not tokens.index:
        return None
    src.pos = tokens.index[token_id // TOKEN_INDEX_STRIDE]
    src.skip_strings(token_id % TOKEN_INDEX_STRIDE, "the token list")
    return src.text(src.string_length(f"token {token_id:,}", MAX_KEY_BYTES))


def _file_type(file_type_id: int | None, tensors: list[Tensor]) -> str:
    """`general.file_type` as llama.cpp names it (Q4_K_M); else the type holding the most weights."""
    if file_type_id is not None:
        try:
            name = LlamaFileType(file_type_id & ~_GUESSED_FILE_TYPE_FLAG).name
        except ValueError:
            name = None
        if name:
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    weights: Counter[int] = Counter()
    for t in tensors:
        weights[t.ggml_type] += t.n_elements
    if not weights:
        return "unknown"
    return GGMLQuantizationType(weights.most_common(1)[0][0]).name


def _check_split(path: Path, kvs: Mapping[str, Value]) -> int:
    """A split model must be opened at its first part, and llama.cpp finds the rest by file name."""
    count = _get_int(kvs, Keys.Split.LLM_KV_SPLIT_COUNT) or 1
    if count <= 1:
        return 1
    number = _get_int(kvs, Keys.Split.LLM_KV_SPLIT_NO) or 0
    if number != 0:
        raise ModelFileError(
            f"This file is part {number + 1} of a model split into {count} files.",
            hint="Open the first part, the file whose name ends in -00001-of-"
            f"{count:05d}.gguf; the other parts must sit next to it.",
        )
    suffix = f"-00001-of-{count:05d}.gguf"
    if not path.name.endswith(suffix) or len(path.name) == len(suffix):
        raise ModelFileError(
            f"This is the first of {count} parts of a split model, but its name does not end in {suffix}.",
            hint="Restore the original file names; llama.cpp finds the other parts by name.",
        )
    prefix = path.name[: -len(suffix)]
    for n in range(2, count + 1):
        part = path.with_name(f"{prefix}-{n:05d}-of-{count:05d}.gguf")
        if not part.is_file():
            raise ModelFileError(
                f"Part {n} of {count} of this split model is missing ({show(part.name, 80)}).",
                hint="Download every part into the same folder.",
            )
    return count


def _check_kind(kvs: Mapping[str, Value]) -> str:
    architecture = _get_str(kvs, Keys.General.ARCHITECTURE)
    if not architecture:
        raise ModelFileError(
            "The file has no general.architecture entry, so it is not a model llama.cpp can run.",
            hint=HINT_CORRUPT,
        )
    if architecture in PROJECTOR_ARCHITECTURES:
        raise UnsupportedModelError(
            "This is a vision projector (mmproj) file, not a model.",
            hint="Open the language model it belongs to instead.",
        )
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModelError(
            f"The model architecture {show(architecture, 40)} is not supported by this version of Hearth.",
            hint="Update Hearth, or pick a model built on a supported architecture (Llama, Qwen, Gemma…).",
        )
    if _get_str(kvs, Keys.General.TYPE) == "adapter":
        raise UnsupportedModelError(
            "This is a LoRA adapter, not a complete model.",
            hint="Open the base model this adapter was made for.",
        )
    return architecture


def _display_name(path: Path, kvs: Mapping[str, Value]) -> str:
    name = (_get_str(kvs, Keys.General.NAME) or "").strip()
    if name:
        return name
    split = _SPLIT_STEM.fullmatch(path.stem)  # "name-00001-of-00003" -> "name"
    return split.group(1) if split else path.stem


def _public_metadata(kvs: Mapping[str, Value]) -> Mapping[str, Scalar | tuple[Scalar, ...]]:
    out: dict[str, Scalar | tuple[Scalar, ...]] = {}
    for key, value in kvs.items():
        if isinstance(value, Array):
            if value.values is not None:
                out[key] = value.values
        elif value is not None and not (isinstance(value, str) and len(value) > MAX_METADATA_STRING_BYTES):
            out[key] = value
    return MappingProxyType(out)


def summarize(
    path: Path,
    src: Source,
    version: int,
    kvs: dict[str, Value],
    tensors: list[Tensor],
    *,
    local: bool = True,
) -> ModelSummary:
    architecture = _check_kind(kvs)
    if not tensors:
        raise UnsupportedModelError(
            "The file holds no weights (it is a vocabulary-only or metadata-only GGUF).",
            hint="Pick the model file itself.",
        )
    # A remote file has no neighbours on disk to check; report the declared part count.
    split_count = _check_split(path, kvs) if local else _get_int(kvs, Keys.Split.LLM_KV_SPLIT_COUNT) or 1

    def arch_int(template: str, *, per_layer: bool = False) -> int | None:
        return _get_int(kvs, template.format(arch=architecture), per_layer=per_layer)

    embedding = arch_int(Keys.LLM.EMBEDDING_LENGTH)
    heads = arch_int(Keys.Attention.HEAD_COUNT, per_layer=True)
    kv_heads = arch_int(Keys.Attention.HEAD_COUNT_KV, per_layer=True)
    head_dim = embedding // heads if embedding is not None and heads else None
    key_length = arch_int(Keys.Attention.KEY_LENGTH)
    value_length = arch_int(Keys.Attention.VALUE_LENGTH)

    token_list = kvs.get(Keys.Tokenizer.LIST)
    tokens = (
        token_list if isinstance(token_list, Array) and token_list.item_type is GGUFValueType.STRING else None
    )
    vocab_size = tokens.count if tokens is not None else arch_int(Keys.LLM.VOCAB_SIZE)
    bos_id = _get_int(kvs, Keys.Tokenizer.BOS_ID)
    eos_id = _get_int(kvs, Keys.Tokenizer.EOS_ID)
    src.section = "token list"
    bos_token = _token_text(src, tokens, bos_id)
    eos_token = _token_text(src, tokens, eos_id)
    if tokens is not None:  # llama.cpp ignores special-token ids outside the vocabulary
        bos_id = bos_id if bos_token is not None else None
        eos_id = eos_id if eos_token is not None else None

    file_type_id = _get_int(kvs, Keys.General.FILE_TYPE)
    return ModelSummary(
        path=path,
        architecture=architecture,
        name=_display_name(path, kvs),
        size_label=_get_str(kvs, Keys.General.SIZE_LABEL) or None,
        parameter_count=sum(t.n_elements for t in tensors),
        file_type=_file_type(file_type_id, tensors),
        file_type_id=file_type_id,
        context_length=arch_int(Keys.LLM.CONTEXT_LENGTH),
        block_count=arch_int(Keys.LLM.BLOCK_COUNT),
        embedding_length=embedding,
        head_count=heads,
        head_count_kv=kv_heads if kv_heads is not None else heads,
        key_length=key_length if key_length is not None else head_dim,
        value_length=value_length if value_length is not None else head_dim,
        vocab_size=vocab_size,
        size_bytes=src.size,
        chat_template=_get_str(kvs, Keys.Tokenizer.CHAT_TEMPLATE),
        bos_token=bos_token,
        eos_token=eos_token,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        tensor_count=len(tensors),
        gguf_version=version,
        split_count=split_count,
        metadata=_public_metadata(kvs),
    )
