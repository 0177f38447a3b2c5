"""Inspect and validate a GGUF model file before llama.cpp ever opens it.

Why a parser of our own: llama.cpp's GGUF loader has had memory bugs that crafted files trigger
(DESIGN.md §4), so every count, length and offset here is checked against the bytes actually left in
the file *before* it is used, and no declared size is ever allocated. A file that passes is one the
pinned llama.cpp's `gguf_init_from_file` and model loader accept structurally; the user gets a
sentence naming the problem instead of a crash or "failed to load model".

Why not `gguf.GGUFReader` for the values: it memory-maps the file and builds a numpy view for every
array element; on the real Gemma 3 270M file (262,144-token vocabulary) it took 9 s here, against
about 0.1 s for this parser, which skips string arrays by their lengths, keeps no token list and
never reads tensor data. We still take the format's tables from the `gguf` package (value types,
ggml block sizes, file-type names, key names), so they move with llama.cpp; the tests cross-check
this parser against `GGUFReader` on small files.

Reads are buffered `read()` calls rather than `mmap`, because a file that shrinks under an mmap (a
download being rewritten) kills the process with SIGBUS; here it is only a short read.

Files are untrusted (anything dropped in the models folder is parsed on every listing), so what a
parse keeps or walks is bounded by fixed caps, not only by the file's size: only the keys the summary
uses are always kept; other metadata is kept within a small budget (short keys, strings up to 64 KiB,
numeric arrays up to 4,096 items), and everything else is skipped by seeking past it. Any failure is
a ModelFileError; an unexpected exception from the parser is logged and reported as one too.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Final, TypeAlias

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, Keys, LlamaFileType

from desktop_app.core.architectures import PROJECTOR_ARCHITECTURES, SUPPORTED_ARCHITECTURES
from desktop_app.core.errors import ModelFileError, UnsupportedModelError

__all__ = ["IncompleteHeaderError", "ModelSummary", "inspect_gguf", "inspect_gguf_header"]

_MAGIC: Final = b"GGUF"
_SUPPORTED_VERSIONS: Final = (2, 3)
_HEADER_SIZE: Final = 24  # magic, u32 version, u64 tensor count, u64 kv count
_DEFAULT_ALIGNMENT: Final = 32

# Caps far above any real model; they only stop absurd values before they cost time or memory.
# (Real models: about 1,000 tensors, 50 metadata entries, 300k strings in their tokenizer arrays.)
_MAX_TENSORS: Final = 1 << 16  # each costs ~250 bytes of Python objects while we check the layout
_MAX_KV: Final = 1 << 16
_MAX_KEY_BYTES: Final = 1 << 16
_MAX_STRING_BYTES: Final = 1 << 30  # llama.cpp's GGUF_MAX_STRING_LENGTH
_MAX_ARRAY_ITEMS: Final = 1 << 30  # llama.cpp's GGUF_MAX_ARRAY_ELEMENTS
_MAX_ARRAY_STRINGS: Final = 1 << 22  # in all arrays together: each is walked, ~0.4 µs apiece
_MAX_TEMPLATE_BYTES: Final = 1 << 20  # a longer chat template is skipped, never loaded
_MAX_KEPT_ARRAY_ITEMS: Final = 4096  # per-layer numeric arrays; bigger ones are skipped
_MAX_KEPT_KEY_BYTES: Final = 256  # entries with longer names are checked, then skipped
_KEPT_METADATA_BYTES: Final = 1 << 20  # budget for entries the summary does not use
_KEPT_ENTRY_COST: Final = 64  # rough Python overhead of one kept entry, counted against the budget
_MAX_DIMS: Final = 4  # GGML_MAX_DIMS
_MAX_TENSOR_NAME_BYTES: Final = 63  # GGML_MAX_NAME - 1
_INT64_MAX: Final = (1 << 63) - 1
_GUESSED_FILE_TYPE_FLAG: Final = 1024  # LLAMA_FTYPE_GUESSED

# Smallest encodings, used to reject counts the rest of the file cannot possibly hold.
_MIN_KV_BYTES: Final = 8 + 1 + 4 + 1  # key length, 1-byte key, value type, 1-byte value
_MIN_TENSOR_INFO_BYTES: Final = 8 + 4 + 4 + 8  # name length, n_dims, type, offset

_MAX_METADATA_STRING_BYTES: Final = 64 * 1024  # longer strings (an embedded tokenizer.json) stay out
_SPLIT_STEM: Final = re.compile(r"(.+)-\d{5}-of-\d{5}")

# Always kept (they are small by type or capped above): what the summary reads.
_ESSENTIAL_KEYS: Final = frozenset(
    {
        Keys.General.ARCHITECTURE,
        Keys.General.NAME,
        Keys.General.TYPE,
        Keys.General.SIZE_LABEL,
        Keys.General.FILE_TYPE,
        Keys.General.ALIGNMENT,
        Keys.Split.LLM_KV_SPLIT_COUNT,
        Keys.Split.LLM_KV_SPLIT_NO,
        Keys.Tokenizer.LIST,
        Keys.Tokenizer.BOS_ID,
        Keys.Tokenizer.EOS_ID,
        Keys.Tokenizer.CHAT_TEMPLATE,
    }
)
_ARCH_KEY_TEMPLATES: Final = (
    Keys.LLM.CONTEXT_LENGTH,
    Keys.LLM.EMBEDDING_LENGTH,
    Keys.LLM.BLOCK_COUNT,
    Keys.LLM.VOCAB_SIZE,
    Keys.Attention.HEAD_COUNT,
    Keys.Attention.HEAD_COUNT_KV,
    Keys.Attention.KEY_LENGTH,
    Keys.Attention.VALUE_LENGTH,
)
_ESSENTIAL_ARCH_KEYS: Final = frozenset(
    t.format(arch=a) for t in _ARCH_KEY_TEMPLATES for a in SUPPORTED_ARCHITECTURES
)

_READ_CHUNK: Final = 256 * 1024
_TOKEN_INDEX_STRIDE: Final = 256  # remember every 256th token's offset to find bos/eos later

_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_SCALARS: Final[dict[GGUFValueType, struct.Struct]] = {
    GGUFValueType.UINT8: struct.Struct("<B"),
    GGUFValueType.INT8: struct.Struct("<b"),
    GGUFValueType.UINT16: struct.Struct("<H"),
    GGUFValueType.INT16: struct.Struct("<h"),
    GGUFValueType.UINT32: struct.Struct("<I"),
    GGUFValueType.INT32: struct.Struct("<i"),
    GGUFValueType.FLOAT32: struct.Struct("<f"),
    GGUFValueType.BOOL: struct.Struct("<?"),
    GGUFValueType.UINT64: struct.Struct("<Q"),
    GGUFValueType.INT64: struct.Struct("<q"),
    GGUFValueType.FLOAT64: struct.Struct("<d"),
}
_INT_TYPES: Final = frozenset(
    t for t in _SCALARS if t not in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64, GGUFValueType.BOOL)
)

_HINT_TRUNCATED: Final = "Download it again; the copy on disk is incomplete."
_HINT_CORRUPT: Final = (
    "The file is damaged or is not a GGUF model. Download it again from a source you trust."
)

Scalar: TypeAlias = int | float | bool | str


# --------------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class ModelSummary:
    """What the library, the memory estimate and the chat templates need to know about a model file.

    `parameter_count` sums the tensors in *this* file; for a split model that is the first part.
    `metadata` holds the scalar keys (strings up to 64 KiB) and small numeric arrays as tuples, within
    a 1 MiB budget (a real model's fit several times over). A chat template over 1 MiB is treated as
    absent rather than loaded.
    """

    path: Path
    architecture: str
    name: str
    size_label: str | None
    parameter_count: int
    file_type: str
    file_type_id: int | None
    context_length: int | None
    block_count: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None
    value_length: int | None
    vocab_size: int | None
    size_bytes: int
    chat_template: str | None = field(repr=False)
    bos_token: str | None
    eos_token: str | None
    bos_token_id: int | None
    eos_token_id: int | None
    tensor_count: int
    gguf_version: int
    split_count: int = 1
    metadata: Mapping[str, Scalar | tuple[Scalar, ...]] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template and self.chat_template.strip())

    def to_dict(self, *, include_template: bool = False) -> dict[str, object]:
        """JSON-safe view for the CLI and the library; the template is opt-in because it can be huge."""
        out: dict[str, object] = {
            "path": str(self.path),
            "architecture": self.architecture,
            "name": self.name,
            "size_label": self.size_label,
            "parameter_count": self.parameter_count,
            "file_type": self.file_type,
            "file_type_id": self.file_type_id,
            "context_length": self.context_length,
            "block_count": self.block_count,
            "embedding_length": self.embedding_length,
            "head_count": self.head_count,
            "head_count_kv": self.head_count_kv,
            "key_length": self.key_length,
            "value_length": self.value_length,
            "vocab_size": self.vocab_size,
            "size_bytes": self.size_bytes,
            "has_chat_template": self.has_chat_template,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "tensor_count": self.tensor_count,
            "gguf_version": self.gguf_version,
            "split_count": self.split_count,
        }
        if include_template:
            out["chat_template"] = self.chat_template
        return out


# --------------------------------------------------------------------------------------------- errors


def _show(text: str, limit: int = 60) -> str:
    """Quote a name taken from the file so the message stays one short line whatever it contains."""
    clean = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return f"'{clean}…'" if len(text) > limit else f"'{clean}'"


def _nth(what: str, i: int) -> str:
    return f"{what} {i:,}"


def _corrupt(message: str) -> ModelFileError:
    return ModelFileError(message, hint=_HINT_CORRUPT)


def _truncated(message: str) -> ModelFileError:
    return ModelFileError(message, hint=_HINT_TRUNCATED)


class IncompleteHeaderError(ModelFileError):
    """`inspect_gguf_header` needs more of the file than the prefix it was given.

    Not a fault in the file: the caller reads at least `needed` bytes and tries again.
    """

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"The first {available:,} bytes of the file do not hold its whole header"
            f" (at least {needed:,} are needed).",
            hint="Read more of the file and try again.",
        )
        self.needed = needed
        self.available = available


# --------------------------------------------------------------------------------------------- reading


class _Source:
    """Buffered reads over the file where every read is first checked against the bytes left.

    `section` names the part being parsed, so running out of bytes reads as "ends inside its …".
    """

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self.size = size
        self.pos = 0
        self.section = "header"
        self._buf = b""
        self._buf_start = 0

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int) -> None:
        if n > self.size - self.pos:
            raise _truncated(
                f"The file is truncated: it ends inside its {self.section}, at byte {self.size:,}."
            )

    def _window(self, n: int) -> int:
        """Make `n` bytes from `pos` available in the buffer; return their index in it."""
        self.need(n)
        start = self.pos - self._buf_start
        if start >= 0 and start + n <= len(self._buf):
            return start
        want = min(max(n, _READ_CHUNK), self.size - self.pos)
        self._file.seek(self.pos)
        data = self._file.read(want)
        if len(data) < n:  # the file shrank while we read it
            raise _truncated(
                f"The file is truncated: it ends inside its {self.section}, at byte {self.pos + len(data):,}."
            )
        self._buf, self._buf_start = data, self.pos
        return 0

    def read(self, n: int) -> bytes:
        i = self._window(n)
        self.pos += n
        return self._buf[i : i + n]

    def scalar(self, fmt: struct.Struct) -> int | float | bool:
        i = self._window(fmt.size)
        self.pos += fmt.size
        value: int | float | bool = fmt.unpack_from(self._buf, i)[0]
        return value

    def u32(self) -> int:
        i = self._window(4)
        self.pos += 4
        value: int = _U32.unpack_from(self._buf, i)[0]
        return value

    def u64(self) -> int:
        i = self._window(8)
        self.pos += 8
        value: int = _U64.unpack_from(self._buf, i)[0]
        return value

    def skip(self, n: int) -> None:
        self.need(n)
        self.pos += n

    def string_length(self, what: str | Callable[[], str], limit: int = _MAX_STRING_BYTES) -> int:
        """Read a string's u64 length and prove the file holds that many bytes.

        `what` names the string for the error; a callable is only called then (this runs for every
        metadata entry, and quoting a key costs more than reading it)."""
        n = self.u64()
        if n > limit:
            name = what() if callable(what) else what
            raise _corrupt(f"The file is damaged: {name} claims to be {n:,} bytes long.")
        self.need(n)
        return n

    def text(self, n: int) -> str:
        return self.read(n).decode("utf-8", errors="replace")

    def skip_strings(self, count: int, what: str, index: list[int] | None = None) -> None:
        """Skip `count` strings by their lengths alone; optionally note every 256th one's offset.

        The hot loop of the whole parse (262k tokens for Gemma), so it works on the buffer directly.
        """
        unpack = _U64.unpack_from
        i = 0
        while i < count:
            self._window(8)
            buf, base = self._buf, self._buf_start
            p, end = self.pos - base, len(buf)
            # Fast path: walk whole strings that lie inside the current buffer.
            while i < count and p + 8 <= end:
                if (
                    index is not None
                    and i % _TOKEN_INDEX_STRIDE == 0
                    and len(index) == i // _TOKEN_INDEX_STRIDE
                ):
                    index.append(base + p)
                (n,) = unpack(buf, p)
                if n > _MAX_STRING_BYTES:
                    raise _corrupt(
                        f"The file is damaged: item {i:,} of {what} claims to be {n:,} bytes long."
                    )
                if p + 8 + n > end:
                    break
                p += 8 + n
                i += 1
            self.pos = base + p
            if i < count and p + 8 <= end:
                # The next string runs past the buffer: check it against the file and step over it.
                self.skip(self.string_length(f"item {i:,} of {what}"))
                i += 1


class _PrefixSource(_Source):
    """The first bytes of a file whose full size is known: counts and lengths are still checked
    against the whole file, but a read past the prefix asks for more bytes instead of failing."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__(io.BytesIO(data), size)
        self.available = len(data)

    def _window(self, n: int) -> int:
        self.need(n)
        if self.pos + n > self.available:
            raise IncompleteHeaderError(self.pos + n, self.available)
        return super()._window(n)


# --------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class _Array:
    item_type: GGUFValueType
    count: int
    values: tuple[Scalar, ...] | None  # only small numeric arrays are kept
    index: tuple[int, ...] = ()  # offsets of every 256th string, for tokenizer.ggml.tokens


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    ggml_type: int
    n_elements: int
    offset: int
    n_bytes: int


Value: TypeAlias = Scalar | _Array | None  # None: a string too long to keep


def _read_header(src: _Source) -> tuple[int, int, int]:
    if src.size < len(_MAGIC) or src.read(len(_MAGIC)) != _MAGIC:
        raise ModelFileError(
            "This is not a GGUF model file (it does not start with 'GGUF').",
            hint="Hearth runs GGUF models. Pick a .gguf file, or download a GGUF quantization of the model.",
        )
    version = src.u32()
    if version not in _SUPPORTED_VERSIONS:
        if version and version & 0xFFFF == 0:
            problem = f"GGUF version {version:#x} looks byte-swapped: the file is big-endian"
        elif version == 1:
            problem = "The file uses GGUF version 1, which llama.cpp no longer reads"
        else:
            problem = f"The file declares GGUF version {version:,}; only versions 2 and 3 exist"
        raise ModelFileError(f"{problem}.", hint="Download a current GGUF build of this model.")
    n_tensors, n_kv = src.u64(), src.u64()
    if n_tensors > _MAX_TENSORS or n_kv > _MAX_KV:
        raise _corrupt(
            f"The file is damaged: it declares {n_tensors:,} tensors and {n_kv:,} metadata entries."
        )
    room = src.remaining
    if n_tensors * _MIN_TENSOR_INFO_BYTES + n_kv * _MIN_KV_BYTES > room:
        raise _truncated(
            f"The file is truncated or damaged: it declares {n_tensors:,} tensors and {n_kv:,} metadata"
            f" entries, which cannot fit in the {room:,} bytes after its header."
        )
    return version, n_tensors, n_kv


def _read_value_type(src: _Source, key: str) -> GGUFValueType:
    raw = src.u32()
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise _corrupt(
            f"The file is damaged: metadata key {_show(key)} has unknown value type {raw:,}."
        ) from None


class _Budget:
    """What one parse may still keep or walk, so its cost is bounded whatever the file declares."""

    __slots__ = ("kept_bytes", "strings")

    def __init__(self) -> None:
        self.kept_bytes = _KEPT_METADATA_BYTES
        self.strings = _MAX_ARRAY_STRINGS


def _read_scalar(src: _Source, key: str, vtype: GGUFValueType, *, keep: bool) -> Scalar | None:
    if vtype is GGUFValueType.STRING:
        n = src.string_length(lambda: f"the value of {_show(key)}")
        limit = _MAX_TEMPLATE_BYTES if key == Keys.Tokenizer.CHAT_TEMPLATE else _MAX_METADATA_STRING_BYTES
        if not keep or n > limit:
            src.skip(n)
            return None
        return src.text(n)
    return src.scalar(_SCALARS[vtype])


def _read_array(src: _Source, key: str, budget: _Budget, *, want_index: bool, keep: bool) -> _Array:
    item_type = _read_value_type(src, key)
    count = src.u64()
    if item_type is GGUFValueType.ARRAY:
        raise _corrupt(f"Metadata key {_show(key)} holds nested arrays, which llama.cpp cannot read.")
    item_size = 8 if item_type is GGUFValueType.STRING else _SCALARS[item_type].size
    if count > _MAX_ARRAY_ITEMS:
        raise _corrupt(f"The file is damaged: the array {_show(key)} claims {count:,} items.")
    src.need(count * item_size)  # the smallest the items can be
    if item_type is GGUFValueType.STRING:
        if count > budget.strings:
            raise _corrupt(
                f"The file is damaged: its metadata arrays hold over {_MAX_ARRAY_STRINGS:,} strings"
                f" (the array {_show(key)} alone claims {count:,}), far more than any model has."
            )
        budget.strings -= count
        index: list[int] | None = [] if want_index else None
        src.skip_strings(count, f"the array {_show(key)}", index)
        return _Array(item_type, count, None, tuple(index or ()))
    if not keep or count > _MAX_KEPT_ARRAY_ITEMS:
        src.skip(count * item_size)
        return _Array(item_type, count, None)
    fmt = struct.Struct(f"<{count}{_SCALARS[item_type].format[1:]}")
    raw = src.read(fmt.size)
    return _Array(item_type, count, tuple(fmt.unpack(raw)))


def _cost(key: str, value: Value) -> int:
    """Roughly what keeping an entry costs in memory, for the budget."""
    if isinstance(value, str):
        size = len(value)
    elif isinstance(value, _Array):
        size = 16 * len(value.values or ())
    else:
        size = 8
    return len(key) + size + _KEPT_ENTRY_COST


def _read_kvs(src: _Source, n_kv: int) -> tuple[dict[str, Value], dict[str, GGUFValueType]]:
    """Values by key, and each key's stored type (llama.cpp insists on exact types for some).

    Every entry is checked (lengths, types, duplicate names), but only the keys the summary uses are
    always kept; the rest only while the budget lasts, and never long names or long strings.
    """
    src.section = "metadata"
    kvs: dict[str, Value] = {}
    types: dict[str, GGUFValueType] = {}
    seen: set[int] = set()  # 64-bit hashes of every name: duplicates are caught without keeping names
    budget = _Budget()
    for i in range(n_kv):
        n = src.string_length(partial(_nth, "the name of metadata entry", i), _MAX_KEY_BYTES)
        if n == 0:
            raise _corrupt(f"The file is damaged: metadata entry {i:,} has an empty name.")
        raw = src.read(n)
        key = raw[:_MAX_KEPT_KEY_BYTES].decode("utf-8", errors="replace")
        digest = int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")
        if digest in seen:
            raise _corrupt(f"The file is damaged: metadata key {_show(key)} appears twice.")
        seen.add(digest)
        vtype = _read_value_type(src, key)
        short = n <= _MAX_KEPT_KEY_BYTES
        essential = short and (key in _ESSENTIAL_KEYS or key in _ESSENTIAL_ARCH_KEYS)
        keep = essential or (short and budget.kept_bytes > 0)
        value: Value
        if vtype is GGUFValueType.ARRAY:
            value = _read_array(src, key, budget, want_index=key == Keys.Tokenizer.LIST, keep=keep)
        else:
            value = _read_scalar(src, key, vtype, keep=keep)
        if keep:
            kvs[key], types[key] = value, vtype
            if not essential:
                budget.kept_bytes -= _cost(key, value)
    return kvs, types


def _alignment(kvs: Mapping[str, Value], raw_types: Mapping[str, GGUFValueType]) -> int:
    if Keys.General.ALIGNMENT not in kvs:
        return _DEFAULT_ALIGNMENT
    value = kvs[Keys.General.ALIGNMENT]
    if raw_types.get(Keys.General.ALIGNMENT) is not GGUFValueType.UINT32 or not isinstance(value, int):
        raise _corrupt("The file is damaged: general.alignment must be a 32-bit unsigned number.")
    if value == 0 or value & (value - 1):
        raise _corrupt(f"The file is damaged: its alignment {value:,} is not a power of two.")
    return value


def _read_tensor(src: _Source, i: int) -> _Tensor:
    n = src.string_length(partial(_nth, "the name of tensor", i), _MAX_KEY_BYTES)
    name = src.text(n)
    if n > _MAX_TENSOR_NAME_BYTES:
        raise _corrupt(f"The file is damaged: tensor {_show(name)} has a name longer than 63 bytes.")
    n_dims = src.u32()
    if n_dims > _MAX_DIMS:
        raise _corrupt(f"The file is damaged: tensor {_show(name)} claims {n_dims:,} dimensions (at most 4).")
    dims = [src.u64() for _ in range(n_dims)]
    n_elements = 1
    for d in dims:
        n_elements *= d
        if d > _INT64_MAX or n_elements > _INT64_MAX:
            raise _corrupt(f"The file is damaged: tensor {_show(name)} has an impossible shape {dims}.")
    raw_type = src.u32()
    try:
        ggml_type = GGMLQuantizationType(raw_type)
        block, type_size = GGML_QUANT_SIZES[ggml_type]
    except (ValueError, KeyError):
        raise ModelFileError(
            f"Tensor {_show(name)} has unknown data type {raw_type:,}.",
            hint="The file is damaged, or uses a quantization newer than this version of Hearth supports.",
        ) from None
    row = dims[0] if dims else 1
    if row % block:
        raise _corrupt(
            f"The file is damaged: tensor {_show(name)} has rows of {row:,} values,"
            f" not a multiple of the {ggml_type.name} block size {block}."
        )
    offset = src.u64()
    return _Tensor(name, int(ggml_type), n_elements, offset, n_elements // block * type_size)


def _read_tensors(src: _Source, n_tensors: int) -> list[_Tensor]:
    src.section = "tensor list"
    tensors: list[_Tensor] = []
    seen: set[str] = set()
    for i in range(n_tensors):
        tensor = _read_tensor(src, i)
        if tensor.name in seen:
            raise _corrupt(f"The file is damaged: tensor {_show(tensor.name)} appears twice.")
        seen.add(tensor.name)
        tensors.append(tensor)
    return tensors


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def _check_layout(tensors: list[_Tensor], data_start: int, file_size: int, alignment: int) -> None:
    """Offsets aligned, inside the file, not overlapping, and back to back as llama.cpp requires."""
    for t in tensors:
        if t.offset % alignment:
            raise _corrupt(
                f"The file is damaged: tensor {_show(t.name)} starts at offset {t.offset:,},"
                f" which is not a multiple of the alignment {alignment}."
            )
    expected = 0
    packed = True
    for t in tensors:
        packed = packed and t.offset == expected
        expected = _align(t.offset + t.n_bytes, alignment)
    declared = max((t.offset + t.n_bytes for t in tensors), default=0)
    available = file_size - data_start
    if tensors and available < 0 and declared == 0:
        raise _truncated("The file is truncated: it ends before its tensor data begins.")
    if declared > available:
        beyond = next(t for t in tensors if t.offset + t.n_bytes > available)
        if not packed:
            raise _corrupt(
                f"The file is damaged: tensor {_show(beyond.name)} points at data beyond the end of the file."
            )
        percent = max(available, 0) * 100 // declared
        raise _truncated(f"The file is truncated at {percent}% of the declared tensor data.")
    by_offset = sorted((t for t in tensors if t.n_bytes), key=lambda t: t.offset)
    for before, after in pairwise(by_offset):
        if after.offset < before.offset + before.n_bytes:
            raise _corrupt(
                f"The file is damaged: tensors {_show(before.name, 40)} and {_show(after.name, 40)} overlap."
            )
    if not packed:
        raise _corrupt(
            "The file is damaged: its tensors are not stored back to back, which llama.cpp requires."
        )


# --------------------------------------------------------------------------------------------- values


def _kind(value: Value) -> str:
    if isinstance(value, _Array):
        return f"an array of {value.item_type.name.lower()}"
    if value is None:
        return "an over-long string"
    return {bool: "a boolean", str: "a string", float: "a decimal number"}.get(type(value), "a number")


def _get_str(kvs: Mapping[str, Value], key: str) -> str | None:
    value = kvs.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _corrupt(f"The file is damaged: metadata key {_show(key)} should be text but is {_kind(value)}.")


def _get_int(kvs: Mapping[str, Value], key: str, *, per_layer: bool = False) -> int | None:
    """A whole number; `per_layer` keys may be an array with one value per layer (we take the max)."""
    value = kvs.get(key)
    if value is None and key not in kvs:
        return None
    if per_layer and isinstance(value, _Array) and value.item_type in _INT_TYPES and value.values:
        value = max(int(v) for v in value.values)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _corrupt(
            f"The file is damaged: metadata key {_show(key)} should be a number but is {_kind(value)}."
        )
    if value < 0:
        raise _corrupt(f"The file is damaged: metadata key {_show(key)} is negative ({value:,}).")
    return value


def _token_text(src: _Source, tokens: _Array | None, token_id: int | None) -> str | None:
    """Walk from the nearest remembered offset to one token; the vocabulary itself is never kept."""
    if tokens is None or token_id is None or not 0 <= token_id < tokens.count or not tokens.index:
        return None
    src.pos = tokens.index[token_id // _TOKEN_INDEX_STRIDE]
    src.skip_strings(token_id % _TOKEN_INDEX_STRIDE, "the token list")
    return src.text(src.string_length(f"token {token_id:,}", _MAX_KEY_BYTES))


def _file_type(file_type_id: int | None, tensors: list[_Tensor]) -> str:
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
                f"Part {n} of {count} of this split model is missing ({_show(part.name, 80)}).",
                hint="Download every part into the same folder.",
            )
    return count


def _check_kind(kvs: Mapping[str, Value]) -> str:
    architecture = _get_str(kvs, Keys.General.ARCHITECTURE)
    if not architecture:
        raise ModelFileError(
            "The file has no general.architecture entry, so it is not a model llama.cpp can run.",
            hint=_HINT_CORRUPT,
        )
    if architecture in PROJECTOR_ARCHITECTURES:
        raise UnsupportedModelError(
            "This is a vision projector (mmproj) file, not a model.",
            hint="Open the language model it belongs to instead.",
        )
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModelError(
            f"The model architecture {_show(architecture, 40)} is not supported by this version of Hearth.",
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
        if isinstance(value, _Array):
            if value.values is not None:
                out[key] = value.values
        elif value is not None and not (isinstance(value, str) and len(value) > _MAX_METADATA_STRING_BYTES):
            out[key] = value
    return MappingProxyType(out)


def _summarize(
    path: Path,
    src: _Source,
    version: int,
    kvs: dict[str, Value],
    tensors: list[_Tensor],
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
        token_list
        if isinstance(token_list, _Array) and token_list.item_type is GGUFValueType.STRING
        else None
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


def _parse(path: Path, file: BinaryIO, size: int) -> ModelSummary:
    return _parse_source(path, _Source(file, size))


def _parse_source(path: Path, src: _Source, *, local: bool = True) -> ModelSummary:
    version, n_tensors, n_kv = _read_header(src)
    kvs, types = _read_kvs(src, n_kv)
    alignment = _alignment(kvs, types)
    tensors = _read_tensors(src, n_tensors)
    data_start = _align(src.pos, alignment)
    _check_layout(tensors, data_start, src.size, alignment)
    return _summarize(path, src, version, kvs, tensors, local=local)


# --------------------------------------------------------------------------------------------- entry

_log = logging.getLogger(__name__)

# What a bug in this parser could raise; never HearthError, OSError or a signal (KeyboardInterrupt).
_PARSER_FAILURES: Final = (ArithmeticError, LookupError, ValueError, TypeError, struct.error, MemoryError)


def _parser_failure(name: str, exc: Exception) -> ModelFileError:
    """A file this parser could not make sense of: the user still gets a ModelFileError (so one bad
    file never breaks a listing), and the log gets the traceback (it is a bug to fix)."""
    _log.error("Unexpected failure parsing the GGUF file %s", name, exc_info=exc)
    return ModelFileError(
        f"The file is damaged: Hearth could not make sense of its header ({exc.__class__.__name__}).",
        hint=_HINT_CORRUPT,
        details=f"{exc.__class__.__name__}: {exc}",
    )


def inspect_gguf(path: str | os.PathLike[str]) -> ModelSummary:
    """Validate a GGUF file against its own size and summarize it, without reading tensor data.

    Raises ModelFileError when the file is missing, unreadable, truncated or malformed, and
    UnsupportedModelError when it is well formed but the pinned llama.cpp cannot run it.
    """
    p = Path(path)
    if "\0" in str(p):  # os.stat would raise ValueError
        raise ModelFileError("The model path contains a NUL character.", hint="Pick the file again.")
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):  # opening a FIFO would block forever
            raise ModelFileError(
                f"{_show(p.name, 80)} is not a regular file.", hint="Pick a .gguf model file."
            )
        with p.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                raise _truncated("The file is empty.")
            return _parse(p, file, size)
    except FileNotFoundError:
        raise ModelFileError(
            f"The model file {_show(p.name, 80)} does not exist.",
            hint="It may have been moved or deleted; import it again.",
        ) from None
    except OSError as exc:
        raise ModelFileError(
            f"The model file cannot be read: {exc.strerror or exc.__class__.__name__}.",
            hint="Check that the file is readable and the disk is connected.",
            details=str(exc),
        ) from exc
    except _PARSER_FAILURES as exc:
        raise _parser_failure(p.name, exc) from exc


def inspect_gguf_header(data: bytes, *, name: str, total_size: int | None = None) -> ModelSummary:
    """Summarize a GGUF from its first bytes (a ranged read of a remote file), with the same checks.

    Why: to show a model's architecture, context length and layer shapes before a multi-gigabyte
    download. `total_size` is the whole file's size; counts, lengths and tensor offsets are checked
    against it. Without it they can only be checked for sanity, and `size_bytes` is the prefix length.
    Raises IncompleteHeaderError (with `.needed`) when the metadata or tensor list runs past `data`;
    other ModelFileErrors mean the file itself is bad. Split parts on disk are not looked for.
    """
    if total_size is not None and total_size < len(data):
        raise ValueError(f"total_size {total_size} is smaller than the {len(data)} bytes given")
    src = _PrefixSource(data, _INT64_MAX if total_size is None else total_size)
    if total_size == 0:
        raise _truncated("The file is empty.")
    try:
        summary = _parse_source(Path(name), src, local=False)
    except _PARSER_FAILURES as exc:
        raise _parser_failure(name, exc) from exc
    if total_size is None:
        summary = replace(summary, size_bytes=len(data))
    return summary
