"""GGUF inspection and validation: real files, the real Gemma model, and a corpus of broken ones.

Every broken file must end in a ModelFileError with a one-line message; anything else (MemoryError,
struct.error, IndexError…) escaping `inspect_gguf` is a bug, and pytest.raises lets it fail the test.
"""

from __future__ import annotations

import json
import random
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import pytest
from gguf import GGUFValueType

from desktop_app.core.architectures import SUPPORTED_ARCHITECTURES
from desktop_app.core.errors import ModelFileError, UnsupportedModelError
from desktop_app.core.gguf_info import ModelSummary, inspect_gguf
from tests.tiny_gguf import (
    N_EMBD,
    N_HEAD,
    N_HEAD_KV,
    N_LAYERS,
    PARAMETER_COUNT,
    VOCAB_SIZE,
    arch_kv,
    build_gguf,
    minimal_gguf,
    pack_kv,
    pack_string,
    pack_tensor_info,
    vocabulary,
    write_tiny_model,
)

GEMMA_SIZE = 253_113_024
GEMMA_DATA_OFFSET = 6_525_120  # where its tensor data starts (read once with gguf.GGUFReader)


@pytest.fixture(scope="module")
def tiny_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    return write_tiny_model(path).read_bytes()


@pytest.fixture(scope="module")
def tiny_layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Section boundaries of the tiny model, found with the gguf package's own reader."""
    path = write_tiny_model(tmp_path_factory.mktemp("layout") / "tiny.gguf")
    reader = gguf.GGUFReader(path)
    return {
        "kv_start": 24,
        "tensor_info_start": int(reader.tensors[0].field.offset),
        "data_start": int(reader.data_offset),
        "data_end": max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors),
    }


def write(tmp_path: Path, data: bytes, name: str = "broken.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_one_line(err: ModelFileError) -> None:
    assert err.message and err.hint
    assert "\n" not in err.message and "\r" not in err.message
    assert "\n" not in str(err)
    assert len(err.message) < 200


def rejected(path: Path, kind: type[ModelFileError] = ModelFileError) -> ModelFileError:
    with pytest.raises(kind) as info:
        inspect_gguf(path)
    assert_one_line(info.value)
    return info.value


# ----------------------------------------------------------------------------------- good files


def test_tiny_model_summary(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf("tiny.gguf")
    summary = inspect_gguf(path)
    assert summary == ModelSummary(
        path=path,
        architecture="llama",
        name="tiny-test",
        size_label="160K",
        parameter_count=PARAMETER_COUNT,
        file_type="F32",
        file_type_id=0,
        context_length=256,
        block_count=N_LAYERS,
        embedding_length=N_EMBD,
        head_count=N_HEAD,
        head_count_kv=N_HEAD_KV,
        key_length=N_EMBD // N_HEAD,
        value_length=N_EMBD // N_HEAD,
        vocab_size=VOCAB_SIZE,
        size_bytes=path.stat().st_size,
        chat_template=None,
        bos_token="<s>",
        eos_token="</s>",
        bos_token_id=1,
        eos_token_id=2,
        tensor_count=2 + 9 * N_LAYERS + 1,
        gguf_version=3,
        split_count=1,
    )
    assert not summary.has_chat_template
    assert summary.metadata["tokenizer.ggml.add_bos_token"] is True


def test_chat_template_is_reported_but_kept_out_of_to_dict(tiny_gguf: Callable[..., Path]) -> None:
    template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>"
    summary = inspect_gguf(tiny_gguf(chat_template=template, name="Chatty", context_length=4096))
    assert summary.has_chat_template
    assert summary.chat_template == template
    assert (summary.name, summary.context_length) == ("Chatty", 4096)
    plain = summary.to_dict()
    assert "chat_template" not in plain and template not in json.dumps(plain)
    assert summary.to_dict(include_template=True)["chat_template"] == template


def test_to_dict_is_json_safe(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf()
    data = json.loads(json.dumps(inspect_gguf(path).to_dict()))
    required = {
        "architecture", "name", "size_label", "parameter_count", "file_type", "context_length",
        "block_count", "embedding_length", "head_count", "head_count_kv", "size_bytes",
        "has_chat_template", "path",
    }  # fmt: skip
    assert required <= data.keys()
    assert data["path"] == str(path)
    assert data["has_chat_template"] is False


def test_blank_template_does_not_count(tiny_gguf: Callable[..., Path]) -> None:
    assert not inspect_gguf(tiny_gguf(chat_template="  \n")).has_chat_template


def test_fallbacks_when_optional_keys_are_missing(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf(
        "my-model-Q8.gguf",
        extra_kv={"general.name": None, "general.file_type": None, "general.size_label": None},
    )
    summary = inspect_gguf(path)
    assert summary.name == "my-model-Q8"
    assert summary.file_type == "F32"  # the type that holds the most weights
    assert summary.file_type_id is None
    assert summary.size_label is None


def test_per_layer_kv_heads_take_the_largest(tiny_gguf: Callable[..., Path]) -> None:
    heads = ([2, 0], GGUFValueType.ARRAY, GGUFValueType.INT32)
    summary = inspect_gguf(tiny_gguf(extra_kv={"llama.attention.head_count_kv": heads}))
    assert summary.head_count_kv == 2


def test_kv_heads_default_to_heads_and_explicit_head_dims_win(tiny_gguf: Callable[..., Path]) -> None:
    summary = inspect_gguf(
        tiny_gguf(
            extra_kv={
                "llama.attention.head_count_kv": None,
                "llama.attention.key_length": 24,
                "llama.attention.value_length": 8,
            }
        )
    )
    assert summary.head_count_kv == N_HEAD
    assert (summary.key_length, summary.value_length) == (24, 8)


def test_file_type_label_comes_from_llama_file_type(tiny_gguf: Callable[..., Path]) -> None:
    ftype = (int(gguf.LlamaFileType.MOSTLY_Q4_K_M), GGUFValueType.UINT32)
    summary = inspect_gguf(tiny_gguf(extra_kv={"general.file_type": ftype}))
    assert (summary.file_type, summary.file_type_id) == ("Q4_K_M", 15)


def test_special_token_ids_outside_the_vocabulary_are_dropped(tiny_gguf: Callable[..., Path]) -> None:
    summary = inspect_gguf(tiny_gguf(extra_kv={"tokenizer.ggml.eos_token_id": VOCAB_SIZE + 5}))
    assert (summary.eos_token_id, summary.eos_token) == (None, None)
    assert summary.bos_token == "<s>"


def test_special_tokens_past_the_first_index_stride(tiny_gguf: Callable[..., Path]) -> None:
    tokens = vocabulary()[0]
    summary = inspect_gguf(tiny_gguf(extra_kv={"tokenizer.ggml.eos_token_id": 600}))
    assert (summary.eos_token_id, summary.eos_token) == (600, tokens[600])


def test_strings_longer_than_the_read_buffer(tiny_gguf: Callable[..., Path]) -> None:
    template = "{{ messages }}" + " " * 300_000
    big = ["x" * 600_000, "y", "z" * 300_000]
    summary = inspect_gguf(tiny_gguf(chat_template=template, extra_kv={"x.big": big, "x.after": 7}))
    assert summary.chat_template == template
    assert summary.metadata["x.after"] == 7
    assert "x.big" not in summary.metadata and "tokenizer.chat_template" not in summary.metadata


def test_agrees_with_the_gguf_package_reader(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf(chat_template="{{ messages }}")
    ours, reader = inspect_gguf(path), gguf.GGUFReader(path)

    def field(key: str) -> Any:
        return reader.fields[key].contents()

    assert ours.tensor_count == len(reader.tensors)
    assert ours.parameter_count == sum(int(t.n_elements) for t in reader.tensors)
    assert ours.architecture == field("general.architecture")
    assert ours.context_length == field("llama.context_length")
    assert ours.vocab_size == len(field("tokenizer.ggml.tokens"))
    tokens = field("tokenizer.ggml.tokens")
    assert (ours.bos_token, ours.eos_token) == (tokens[ours.bos_token_id], tokens[ours.eos_token_id])
    assert ours.chat_template == field("tokenizer.chat_template")


def test_architecture_list_comes_from_llama_cpp() -> None:
    assert {"llama", "gemma3", "qwen2", "qwen3", "phi3", "mistral3", "gpt-oss"} <= SUPPORTED_ARCHITECTURES
    assert not any(name.startswith("(") for name in SUPPORTED_ARCHITECTURES)
    assert "clip" not in SUPPORTED_ARCHITECTURES


# ----------------------------------------------------------------------------------- split models


def _split_kv(number: int, count: int) -> dict[str, Any]:
    return {"split.no": (number, GGUFValueType.UINT16), "split.count": (count, GGUFValueType.UINT16)}


def test_split_model_is_inspected_through_its_first_part(tiny_gguf: Callable[..., Path]) -> None:
    first = tiny_gguf("big-00001-of-00002.gguf", extra_kv=_split_kv(0, 2) | {"general.name": None})
    rejected(first)  # part 2 is not there yet
    tiny_gguf("big-00002-of-00002.gguf", extra_kv=_split_kv(1, 2))
    summary = inspect_gguf(first)
    assert summary.split_count == 2
    assert summary.name == "big"


def test_opening_a_later_part_names_the_first(tiny_gguf: Callable[..., Path]) -> None:
    second = tiny_gguf("big-00002-of-00003.gguf", extra_kv=_split_kv(1, 3))
    err = rejected(second)
    assert "part 2 of" in err.message and "-00001-of-00003.gguf" in err.hint


def test_first_part_with_a_renamed_file_is_rejected(tiny_gguf: Callable[..., Path]) -> None:
    err = rejected(tiny_gguf("renamed.gguf", extra_kv=_split_kv(0, 2)))
    assert "-00001-of-00002.gguf" in err.message


# ----------------------------------------------------------------------------------- real Gemma


def test_real_gemma_model(gemma_path: Path) -> None:
    summary = inspect_gguf(gemma_path)
    assert summary.architecture == "gemma3"
    assert summary.file_type == "Q4_K_M"
    assert not summary.has_chat_template and summary.chat_template is None
    assert summary.context_length == 32768
    assert summary.size_bytes == GEMMA_SIZE
    assert summary.vocab_size == 262_144
    assert (summary.block_count, summary.embedding_length) == (18, 640)
    assert (summary.head_count, summary.head_count_kv, summary.key_length) == (4, 1, 256)
    assert (summary.bos_token, summary.eos_token) == ("<bos>", "<eos>")
    assert summary.parameter_count == 268_098_176
    assert summary.size_label == "270M"


def test_real_gemma_is_fast_and_never_reads_tensor_data(
    gemma_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inspect_gguf(gemma_path)  # warm the page cache: we time parsing, not the disk
    bytes_read = 0
    real_open = Path.open

    class Counting:
        def __init__(self, raw: Any) -> None:
            self._raw = raw

        def read(self, n: int = -1) -> bytes:
            nonlocal bytes_read
            data: bytes = self._raw.read(n)
            bytes_read += len(data)
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self._raw, name)

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self._raw.close()

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        return Counting(real_open(self, *args, **kwargs))

    monkeypatch.setattr(Path, "open", counting_open)
    start = time.perf_counter()
    inspect_gguf(gemma_path)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"inspecting Gemma took {elapsed:.2f} s"
    assert 0 < bytes_read <= GEMMA_DATA_OFFSET + 512 * 1024  # metadata plus one read chunk at most


# ----------------------------------------------------------------------------------- truncation


def _spread(start: int, end: int, n: int) -> list[int]:
    return sorted({start + (end - start) * i // n for i in range(n)})


def test_truncated_everywhere(tmp_path: Path, tiny_bytes: bytes, tiny_layout: dict[str, int]) -> None:
    lay = tiny_layout
    offsets = [
        *[0, 1, 3, 4, 7, 8, 15, 16, 23],  # inside the fixed header
        *_spread(lay["kv_start"], lay["tensor_info_start"], 10),
        *_spread(lay["tensor_info_start"], lay["data_start"], 10),
        *_spread(lay["data_start"], lay["data_end"], 11),
    ]
    assert len(offsets) == 40
    for cut in offsets:
        err = rejected(write(tmp_path, tiny_bytes[:cut]))
        if cut >= lay["data_start"]:
            assert "% of the declared tensor data" in err.message, (cut, err.message)
        elif cut >= 4:
            assert "truncated" in err.message, (cut, err.message)


def test_truncation_is_reported_as_a_percentage(
    tmp_path: Path, tiny_bytes: bytes, tiny_layout: dict[str, int]
) -> None:
    start, end = tiny_layout["data_start"], tiny_layout["data_end"]
    cut = start + (end - start) * 41 // 100 + 1
    err = rejected(write(tmp_path, tiny_bytes[:cut]))
    assert err.message == "The file is truncated at 41% of the declared tensor data."
    assert err.hint == "Download it again; the copy on disk is incomplete."


# ----------------------------------------------------------------------------------- malformed corpus


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    packed = struct.pack(fmt, value)
    return data[:offset] + packed + data[offset + len(packed) :]


def _with_kvs(*kvs: bytes) -> bytes:
    return minimal_gguf(extra_kvs=kvs)


def _with_tensors(*tensors: tuple[str, list[int], int, int]) -> bytes:
    return minimal_gguf(tensors=list(tensors))


def _u8_array(count: int) -> bytes:
    return struct.pack("<IQ", GGUFValueType.UINT8, count)


_STRING_2_62 = pack_string("x", length=2**62)
_ARCH_KEY_2_62 = (
    pack_string("general.architecture", length=2**62) + struct.pack("<I", 8) + pack_string("llama")
)

# name -> (bytes builder from the tiny model's bytes, words the message must contain)
CORPUS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "bad magic": (lambda t: b"GGML" + t[4:], "not a GGUF"),
    "zip file": (lambda t: b"PK\x03\x04" + bytes(60), "not a GGUF"),
    "version 1": (lambda t: _patch(t, 4, "<I", 1), "version 1"),
    "version 99": (lambda t: _patch(t, 4, "<I", 99), "version 99"),
    "version 0": (lambda t: _patch(t, 4, "<I", 0), "version 0"),
    "big-endian": (lambda t: _patch(t, 4, "<I", 3 << 24), "big-endian"),
    "tensor count 2**40": (lambda t: _patch(t, 8, "<Q", 2**40), "1,099,511,627,776 tensors"),
    "kv count 2**40": (lambda t: _patch(t, 16, "<Q", 2**40), "1,099,511,627,776 metadata"),
    "tensor count 2**64-1": (lambda t: _patch(t, 8, "<Q", 2**64 - 1), "tensors"),
    "counts larger than the file": (lambda t: _patch(t, 16, "<Q", 60_000), "cannot fit"),
    "key length 2**62": (lambda t: build_gguf([_ARCH_KEY_2_62]), "4,611,686,018,427,387,904 bytes"),
    "string length 2**62": (
        lambda t: _with_kvs(pack_kv("general.name", GGUFValueType.STRING, raw=_STRING_2_62)),
        "4,611,686,018,427,387,904 bytes",
    ),
    "string length past the end": (
        lambda t: _with_kvs(
            pack_kv("general.name", GGUFValueType.STRING, raw=pack_string("x", length=10**6))
        ),
        "truncated",
    ),
    "array length 2**62": (
        lambda t: _with_kvs(pack_kv("x.arr", GGUFValueType.ARRAY, raw=_u8_array(2**62))),
        "4,611,686,018,427,387,904 items",
    ),
    "string array length 2**62": (
        lambda t: _with_kvs(
            pack_kv("x.arr", GGUFValueType.ARRAY, raw=struct.pack("<IQ", GGUFValueType.STRING, 2**62))
        ),
        "items",
    ),
    "string length 2**62 inside an array": (
        lambda t: _with_kvs(
            pack_kv(
                "x.arr",
                GGUFValueType.ARRAY,
                raw=struct.pack("<IQ", GGUFValueType.STRING, 2) + pack_string("ok") + _STRING_2_62,
            )
        ),
        "item 1 of",
    ),
    "array length past the end": (
        lambda t: _with_kvs(pack_kv("x.arr", GGUFValueType.ARRAY, raw=_u8_array(10**6))),
        "truncated",
    ),
    "unknown value type": (lambda t: _with_kvs(pack_kv("x.v", 13, raw=bytes(8))), "unknown value type 13"),
    "value type 2**32-1": (
        lambda t: _with_kvs(pack_kv("x.v", 2**32 - 1, raw=bytes(8))),
        "unknown value type",
    ),
    "unknown array item type": (
        lambda t: _with_kvs(pack_kv("x.arr", GGUFValueType.ARRAY, raw=struct.pack("<IQ", 99, 1) + bytes(8))),
        "unknown value type 99",
    ),
    "nested array": (
        lambda t: _with_kvs(
            pack_kv("x.arr", GGUFValueType.ARRAY, value=(GGUFValueType.ARRAY, [(GGUFValueType.UINT8, [1])]))
        ),
        "nested arrays",
    ),
    "empty key": (lambda t: _with_kvs(pack_kv("", GGUFValueType.UINT8, 1)), "empty name"),
    "duplicate key": (lambda t: _with_kvs(arch_kv()), "appears twice"),
    "newline in key": (lambda t: _with_kvs(pack_kv("a\nb", 13, raw=bytes(8))), "unknown value type"),
    "alignment not a power of two": (
        lambda t: _with_kvs(pack_kv("general.alignment", GGUFValueType.UINT32, 48)),
        "power of two",
    ),
    "alignment zero": (
        lambda t: _with_kvs(pack_kv("general.alignment", GGUFValueType.UINT32, 0)),
        "power of two",
    ),
    "alignment of the wrong type": (
        lambda t: _with_kvs(pack_kv("general.alignment", GGUFValueType.UINT64, 32)),
        "32-bit",
    ),
    "unknown ggml type": (lambda t: _with_tensors(("a.weight", [32], 9999, 0)), "unknown data type 9,999"),
    "removed ggml type Q4_2": (lambda t: _with_tensors(("a.weight", [32], 4, 0)), "unknown data type 4"),
    "n_dims 9": (
        lambda t: build_gguf([arch_kv()], [pack_tensor_info("a.weight", [2] * 9, 0, 0)], bytes(2048)),
        "9 dimensions",
    ),
    "dimension 2**63": (
        lambda t: build_gguf([arch_kv()], [pack_tensor_info("a.weight", [2**63], 0, 0)], bytes(64)),
        "impossible shape",
    ),
    "element count overflow": (
        lambda t: build_gguf([arch_kv()], [pack_tensor_info("a.weight", [2**32, 2**32], 0, 0)], bytes(64)),
        "impossible shape",
    ),
    "row not a multiple of the block": (
        lambda t: _with_tensors(("a.weight", [33, 2], int(gguf.GGMLQuantizationType.Q8_0), 0)),
        "block size",
    ),
    "tensor name too long": (lambda t: _with_tensors(("n" * 64, [8], 0, 0)), "longer than 63 bytes"),
    "duplicate tensor name": (lambda t: _with_tensors(("a", [8], 0, 0), ("a", [8], 0, 32)), "appears twice"),
    "tensor offset beyond EOF": (
        lambda t: build_gguf(
            [arch_kv()],
            [pack_tensor_info("a.weight", [8], 0, 0), pack_tensor_info("b.weight", [8], 0, 2**40)],
            bytes(64),
        ),
        "beyond the end of the file",
    ),
    "tensor offset 2**64-32": (
        lambda t: build_gguf([arch_kv()], [pack_tensor_info("a.weight", [8], 0, 2**64 - 32)], bytes(64)),
        "beyond the end of the file",
    ),
    "overlapping tensors": (lambda t: _with_tensors(("a", [8, 4], 0, 0), ("b", [16], 0, 64)), "overlap"),
    "misaligned tensor": (lambda t: _with_tensors(("a", [8, 4], 0, 0), ("b", [16], 0, 130)), "alignment"),
    "gap between tensors": (
        lambda t: _with_tensors(("a", [8, 4], 0, 0), ("b", [16], 0, 192)),
        "back to back",
    ),
    "no architecture": (
        lambda t: build_gguf([pack_kv("general.name", GGUFValueType.STRING, "x")]),
        "general.architecture",
    ),
    "architecture is a number": (
        lambda t: build_gguf([pack_kv("general.architecture", GGUFValueType.UINT32, 7)]),
        "should be text",
    ),
    "context length is text": (
        lambda t: _with_kvs(pack_kv("llama.context_length", GGUFValueType.STRING, "long")),
        "should be a number",
    ),
    "negative head count": (
        lambda t: _with_kvs(pack_kv("llama.attention.head_count", GGUFValueType.INT32, -4)),
        "negative",
    ),
}

UNSUPPORTED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "architecture foo": (
        lambda t: build_gguf([arch_kv("foo")], [pack_tensor_info("a", [8], 0, 0)], bytes(32)),
        "architecture 'foo' is not supported by this version of Hearth",
    ),
    "vision projector": (
        lambda t: build_gguf([arch_kv("clip")], [pack_tensor_info("a", [8], 0, 0)], bytes(32)),
        "vision projector",
    ),
    "lora adapter": (
        lambda t: _with_kvs(pack_kv("general.type", GGUFValueType.STRING, "adapter")),
        "LoRA adapter",
    ),
    "no tensors": (lambda t: build_gguf([arch_kv()]), "no weights"),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_file_is_rejected(case: str, tmp_path: Path, tiny_bytes: bytes) -> None:
    build, words = CORPUS[case]
    err = rejected(write(tmp_path, build(tiny_bytes)))
    assert not isinstance(err, UnsupportedModelError) or "data type" in err.message
    assert words in err.message, err.message


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_file_is_rejected(case: str, tmp_path: Path, tiny_bytes: bytes) -> None:
    build, words = UNSUPPORTED[case]
    err = rejected(write(tmp_path, build(tiny_bytes)), UnsupportedModelError)
    assert words in err.message, err.message


def test_the_corpus_baseline_is_valid(tmp_path: Path) -> None:
    """The minimal file the corpus mutates passes, so each case fails for its own reason."""
    summary = inspect_gguf(write(tmp_path, minimal_gguf()))
    assert (summary.architecture, summary.tensor_count, summary.parameter_count) == ("llama", 2, 48)


def test_unsupported_architecture_in_a_real_model(tiny_gguf: Callable[..., Path]) -> None:
    err = rejected(tiny_gguf(architecture="foo"), UnsupportedModelError)
    assert "architecture 'foo' is not supported by this version of Hearth" in err.message


def test_missing_empty_and_odd_paths(tmp_path: Path) -> None:
    assert "does not exist" in rejected(tmp_path / "nope.gguf").message
    assert "empty" in rejected(write(tmp_path, b"")).message
    assert "not a regular file" in rejected(tmp_path).message
    assert "NUL" in rejected(Path("bad\0name.gguf")).message


def test_zero_size_tensors_cut_before_the_data_section(tmp_path: Path) -> None:
    data = build_gguf([arch_kv()], [pack_tensor_info("empty", [0, 8], 0, 0)])
    assert inspect_gguf(write(tmp_path, data)).parameter_count == 0
    assert "before its tensor data" in rejected(write(tmp_path, data[:-1])).message


def test_random_corruption_never_escapes_as_another_error(
    tmp_path: Path, tiny_bytes: bytes, tiny_layout: dict[str, int]
) -> None:
    """Flip bytes in the header, metadata and tensor list: the result is a summary or a ModelFileError."""
    rng = random.Random(1234)
    head = tiny_layout["data_start"]
    path = tmp_path / "fuzz.gguf"
    for _ in range(300):
        data = bytearray(tiny_bytes)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(head)
            data[at] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        path.write_bytes(bytes(data))
        try:
            inspect_gguf(path)
        except ModelFileError as err:
            assert_one_line(err)


# ----------------------------------------------------------------------------------- llama.cpp


def test_tiny_model_loads_and_generates_in_llama_cpp(tiny_gguf: Callable[..., Path]) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    path = tiny_gguf()
    inspect_gguf(path)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, verbose=False, seed=1)
    try:
        assert llm.n_vocab() == VOCAB_SIZE
        prompt = llm.tokenize(b"once upon a time", add_bos=True)
        out: list[int] = []
        for token in llm.generate(prompt, temp=0.0, top_k=1):
            out.append(token)
            if len(out) == 6:
                break
        assert len(out) == 6
        assert all(0 <= t < VOCAB_SIZE for t in out)
    finally:
        llm.close()
