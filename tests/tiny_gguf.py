"""Tiny GGUF files for tests: a loadable random-weight model, and raw bytes for malformed ones.

`write_tiny_model` uses the `gguf` package's own writer, so what llama.cpp loads in the tests is an
ordinary GGUF: 2 llama layers, 64-wide, 4 heads (2 for K/V), and a SentencePiece-style vocabulary
(`<unk>`, `<s>`, `</s>`, the 256 byte tokens and a few hundred pieces) that llama.cpp accepts.

The `pack_*` helpers and `build_gguf` write the format by hand, because crafted corruption (a string
length of 2**62, a tensor past the end of the file) is exactly what a correct writer refuses to emit.
"""

from __future__ import annotations

import string
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, TokenType

N_LAYERS = 2
N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
HEAD_DIM = N_EMBD // N_HEAD

_WORD_TEXT = (
    "the of and to in is was for on that with as it by at from his her he she they we you are "
    "be this have not but had were or one all their there been has which when who will more no if "
    "out so said what up its about into than them can only other new some could time these two may "
    "then do first any my now such like our over man me even most made after also did many before "
    "must through back years where much your way well down should because each just those people "
    "how too little state good very make world still own see men work long get here between both "
    "life being under never day same another know while last might us great old year off come since "
    "against go came right used take three hello model test tiny token story once upon"
)
_WORDS = _WORD_TEXT.split()


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of a small SentencePiece ("llama") vocabulary."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces = ["▁", *string.ascii_lowercase, *string.ascii_uppercase, *string.digits, *".,!?'\"-:;()"]
    pieces += [f"▁{c}" for c in string.ascii_letters]
    pieces += [f"▁{w}" for w in _WORDS] + list(_WORDS)
    seen = set(tokens)
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(TokenType.NORMAL)
    scores = [0.0] * 259 + [-float(i) for i in range(len(tokens) - 259)]
    return tokens, scores, [int(t) for t in types]


VOCAB_SIZE = len(vocabulary()[0])


def _value_type(value: Any) -> tuple[GGUFValueType, GGUFValueType | None]:
    """The GGUF type `extra_kv` values are written with; pass (value, type) to choose another."""
    if isinstance(value, bool):
        return GGUFValueType.BOOL, None
    if isinstance(value, int):
        return (GGUFValueType.UINT32 if 0 <= value < 2**32 else GGUFValueType.INT64), None
    if isinstance(value, float):
        return GGUFValueType.FLOAT32, None
    if isinstance(value, str):
        return GGUFValueType.STRING, None
    if isinstance(value, list | tuple) and value:
        return GGUFValueType.ARRAY, _value_type(value[0])[0]
    raise TypeError(f"cannot infer a GGUF type for {value!r}")


def _tensors(rng: np.random.Generator) -> dict[str, np.ndarray[Any, Any]]:
    """Random F32 weights in numpy order (GGUF stores the dims reversed)."""

    def w(*shape: int) -> np.ndarray[Any, Any]:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def ones(n: int) -> np.ndarray[Any, Any]:
        return np.ones(n, dtype=np.float32)

    out = {"token_embd.weight": w(VOCAB_SIZE, N_EMBD)}
    for i in range(N_LAYERS):
        out |= {
            f"blk.{i}.attn_norm.weight": ones(N_EMBD),
            f"blk.{i}.attn_q.weight": w(N_HEAD * HEAD_DIM, N_EMBD),
            f"blk.{i}.attn_k.weight": w(N_HEAD_KV * HEAD_DIM, N_EMBD),
            f"blk.{i}.attn_v.weight": w(N_HEAD_KV * HEAD_DIM, N_EMBD),
            f"blk.{i}.attn_output.weight": w(N_EMBD, N_HEAD * HEAD_DIM),
            f"blk.{i}.ffn_norm.weight": ones(N_EMBD),
            f"blk.{i}.ffn_gate.weight": w(N_FF, N_EMBD),
            f"blk.{i}.ffn_up.weight": w(N_FF, N_EMBD),
            f"blk.{i}.ffn_down.weight": w(N_EMBD, N_FF),
        }
    out["output_norm.weight"] = ones(N_EMBD)
    out["output.weight"] = w(VOCAB_SIZE, N_EMBD)
    return out


PARAMETER_COUNT = sum(t.size for t in _tensors(np.random.default_rng(0)).values())


def tiny_model_kv(
    architecture: str, name: str, chat_template: str | None, context_length: int
) -> dict[str, Any]:
    """The metadata `write_tiny_model` writes, before `extra_kv` is applied."""
    tokens, scores, types = vocabulary()
    a = architecture
    kv: dict[str, Any] = {
        "general.type": "model",
        "general.name": name,
        "general.size_label": "160K",
        "general.file_type": (int(gguf.LlamaFileType.ALL_F32), GGUFValueType.UINT32),
        f"{a}.context_length": context_length,
        f"{a}.embedding_length": N_EMBD,
        f"{a}.block_count": N_LAYERS,
        f"{a}.feed_forward_length": N_FF,
        f"{a}.rope.dimension_count": HEAD_DIM,
        f"{a}.attention.head_count": N_HEAD,
        f"{a}.attention.head_count_kv": N_HEAD_KV,
        f"{a}.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": (types, GGUFValueType.ARRAY, GGUFValueType.INT32),
        "tokenizer.ggml.unknown_token_id": 0,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_eos_token": False,
    }
    if chat_template is not None:
        kv["tokenizer.chat_template"] = chat_template
    return kv


def write_tiny_model(
    path: Path,
    *,
    architecture: str = "llama",
    name: str = "tiny-test",
    chat_template: str | None = None,
    context_length: int = 256,
    extra_kv: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """Write a ~0.3 MB llama-architecture model with random weights that llama.cpp can run.

    `extra_kv` adds or overrides metadata: a plain value gets an inferred type (int -> UINT32),
    `(value, GGUFValueType)` or `(list, ARRAY, item_type)` picks one, and None removes the key.
    """
    kv = tiny_model_kv(architecture, name, chat_template, context_length)
    for key, value in (extra_kv or {}).items():
        if value is None:
            kv.pop(key, None)
        else:
            kv[key] = value
    writer = gguf.GGUFWriter(path, architecture)
    for key, value in kv.items():
        if isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[1], GGUFValueType):
            writer.add_key_value(key, value[0], value[1], value[2] if len(value) == 3 else None)
        else:
            writer.add_key_value(key, value, *_value_type(value))
    for tensor_name, data in _tensors(np.random.default_rng(seed)).items():
        writer.add_tensor(tensor_name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# ------------------------------------------------------------------------------------- raw bytes


def pack_string(text: str | bytes, *, length: int | None = None) -> bytes:
    """A GGUF string; `length` overrides the declared length (to lie about it)."""
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw) if length is None else length) + raw


_SCALAR_FORMATS = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}


def pack_value(vtype: GGUFValueType | int, value: Any) -> bytes:
    """A value without its type tag; arrays are (item_type, items) and may nest."""
    if vtype == GGUFValueType.STRING:
        return pack_string(value)
    if vtype == GGUFValueType.ARRAY:
        item_type, items = value
        body = b"".join(pack_value(item_type, item) for item in items)
        return struct.pack("<IQ", int(item_type), len(items)) + body
    return struct.pack(_SCALAR_FORMATS[GGUFValueType(vtype)], value)


def pack_kv(
    key: str | bytes, vtype: GGUFValueType | int, value: Any = None, *, raw: bytes | None = None
) -> bytes:
    """One metadata entry; `raw` replaces the encoded value (for impossible types or lengths)."""
    body = raw if raw is not None else pack_value(vtype, value)
    return pack_string(key) + struct.pack("<I", int(vtype)) + body


def pack_tensor_info(name: str | bytes, dims: Sequence[int], ggml_type: int, offset: int) -> bytes:
    """One tensor-info record; `dims` in GGUF order (ne0 first), `ggml_type` any integer."""
    return (
        pack_string(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def build_gguf(
    kvs: Sequence[bytes],
    tensor_infos: Sequence[bytes] = (),
    data: bytes = b"",
    *,
    magic: bytes = b"GGUF",
    version: int = 3,
    n_tensors: int | None = None,
    n_kv: int | None = None,
    alignment: int = 32,
) -> bytes:
    """Header, metadata, tensor infos, padding to `alignment`, then `data`; counts may lie."""
    head = magic + struct.pack(
        "<IQQ",
        version,
        len(tensor_infos) if n_tensors is None else n_tensors,
        len(kvs) if n_kv is None else n_kv,
    )
    body = head + b"".join(kvs) + b"".join(tensor_infos)
    return body + b"\0" * (-len(body) % alignment) + data


def arch_kv(architecture: str = "llama") -> bytes:
    return pack_kv("general.architecture", GGUFValueType.STRING, architecture)


def minimal_gguf(
    *, extra_kvs: Sequence[bytes] = (), tensors: Sequence[tuple[str, Sequence[int], int, int]] | None = None
) -> bytes:
    """A small well-formed file (no tokenizer, so only for the validator): two F32 tensors by default.

    `tensors` are (name, dims, ggml_type, offset); the data section is sized to hold them all.
    """
    if tensors is None:
        tensors = [("a.weight", [8, 4], 0, 0), ("b.weight", [16], 0, 128)]
    infos = [pack_tensor_info(*t) for t in tensors]
    end = 0
    for _, dims, ggml_type, offset in tensors:
        known = ggml_type in GGMLQuantizationType._value2member_map_
        block, size = gguf.GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)] if known else (1, 1)
        n = int(np.prod(dims)) if dims else 1
        end = max(end, offset + n // block * size)
    return build_gguf([arch_kv(), *extra_kvs], infos, b"\x01" * end)


# ------------------------------------------------------------------------------------- fuzzing


def gguf_fields(data: bytes) -> list[tuple[int, int, str]]:
    """(offset, size, kind) of every count, length, type, scalar, dimension and offset in the header,
    metadata and tensor list of a *valid* GGUF: the places a fuzzer should lie about.

    Kinds: tensor_count, kv_count, key_length, value_type, string_length, array_type, array_count,
    scalar, tensor_name_length, n_dims, dim, ggml_type, tensor_offset.
    """
    fields: list[tuple[int, int, str]] = [(8, 8, "tensor_count"), (16, 8, "kv_count")]
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    pos = 24

    def string(kind: str) -> None:
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        fields.append((pos, 8, kind))
        pos += 8 + n

    def value(vtype: int) -> None:
        nonlocal pos
        if vtype == GGUFValueType.STRING:
            string("string_length")
        elif vtype == GGUFValueType.ARRAY:
            item_type, count = struct.unpack_from("<IQ", data, pos)
            fields.extend([(pos, 4, "array_type"), (pos + 4, 8, "array_count")])
            pos += 12
            for _ in range(count):
                value(item_type)
        else:
            size = struct.calcsize(_SCALAR_FORMATS[GGUFValueType(vtype)])
            fields.append((pos, size, "scalar"))
            pos += size

    for _ in range(n_kv):
        string("key_length")
        (vtype,) = struct.unpack_from("<I", data, pos)
        fields.append((pos, 4, "value_type"))
        pos += 4
        value(vtype)
    for _ in range(n_tensors):
        string("tensor_name_length")
        (n_dims,) = struct.unpack_from("<I", data, pos)
        fields.append((pos, 4, "n_dims"))
        pos += 4
        for _ in range(n_dims):
            fields.append((pos, 8, "dim"))
            pos += 8
        fields.extend([(pos, 4, "ggml_type"), (pos + 4, 8, "tensor_offset")])
        pos += 12
    return fields


def write_sparse_gguf(
    path: Path,
    parts: Sequence[bytes | int],
    *,
    n_kv: int,
    n_tensors: int = 0,
    data_bytes: int = 0,
) -> Path:
    """Write a GGUF whose header is `parts`: bytes are written, an int is that many zero bytes left
    as a hole (a sparse file), so a test can build hundreds of MB of metadata without the RAM or
    the disk. The tensor data (`data_bytes` of zeros, after 32-byte alignment) is a hole too."""
    with path.open("wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv))
        for part in parts:
            if isinstance(part, int):
                f.seek(part, 1)
            else:
                f.write(part)
        end = f.tell()
        f.truncate(end + (-end % 32) + data_bytes)
    return path
