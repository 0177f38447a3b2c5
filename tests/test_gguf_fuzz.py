"""Seeded fuzzing of the GGUF parser, and files built to cost memory or time.

Anything dropped in the models folder is parsed on every listing, so for every mutated file the only
acceptable outcomes are a summary or a HearthError, with bounded memory. A ModelFileError produced by
the parser's last-resort net (an unexpected exception, chained as its cause) counts as a failure here:
it means a check is missing. Mutations are drawn from a fixed seed, so a failure reproduces.
"""

from __future__ import annotations

import random
import struct
import tracemalloc
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from gguf import GGUFValueType

from desktop_app.core.errors import HearthError, ModelFileError
from desktop_app.core.gguf_info import inspect_gguf, inspect_gguf_header
from tests.tiny_gguf import (
    arch_kv,
    gguf_fields,
    minimal_gguf,
    pack_kv,
    pack_string,
    pack_tensor_info,
    write_sparse_gguf,
    write_tiny_model,
)

SEED = 20_240_611
MiB = 1 << 20
PEAK_LIMIT = 4 * MiB  # per parse, whatever the file declares

# Values that break parsers: zero, one, sign bits, "all ones", just past 32 bits, absurd sizes.
_INTERESTING = (0, 1, 2, 3, 4, 7, 8, 13, 31, 32, 255, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32,
                (1 << 32) + 1, 1 << 40, 1 << 62, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)  # fmt: skip


def _mutant_value(rng: random.Random, size: int, original: int, file_size: int) -> int:
    limit = 1 << (8 * size)
    choice = rng.random()
    if choice < 0.5:
        value = rng.choice(_INTERESTING)
    elif choice < 0.7:
        value = original + rng.choice((-2, -1, 1, 2, 64, 4096))
    elif choice < 0.85:
        value = file_size + rng.choice((-8, -1, 0, 1, 8, 1 << 20))
    else:
        value = rng.randrange(limit)
    return value % limit


def _set(data: bytearray, offset: int, size: int, value: int) -> None:
    data[offset : offset + size] = value.to_bytes(size, "little")


def _bases(folder: Path) -> dict[str, bytes]:
    """A real tiny model (tokenizer, template, arrays), a hand-built file with every value type, and
    one with 5 MB of ordinary metadata strings (what a parse keeps of it must stay within budget)."""
    tiny = write_tiny_model(
        folder / "tiny.gguf",
        chat_template="{% for m in messages %}{{ m.content }}{% endfor %}",
        extra_kv={
            "general.sampling.temp": 0.7,
            "x.flag": True,
            "x.negative": (-7, GGUFValueType.INT64),
            "x.words": ["alpha", "beta", "gamma"],
            "llama.attention.head_count_kv": ([2, 2], GGUFValueType.ARRAY, GGUFValueType.UINT32),
        },
    ).read_bytes()
    scalars = [
        pack_kv(f"x.{t.name.lower()}", t, 1.5 if t in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64) else 1)
        for t in (
            GGUFValueType.UINT8, GGUFValueType.INT8, GGUFValueType.UINT16, GGUFValueType.INT16,
            GGUFValueType.UINT32, GGUFValueType.INT32, GGUFValueType.FLOAT32, GGUFValueType.BOOL,
            GGUFValueType.UINT64, GGUFValueType.INT64, GGUFValueType.FLOAT64,
        )
    ]  # fmt: skip
    arrays = [
        pack_kv("x.strings", GGUFValueType.ARRAY, (GGUFValueType.STRING, ["a", "bb", "ccc"])),
        pack_kv("x.bools", GGUFValueType.ARRAY, (GGUFValueType.BOOL, [True, False])),
        pack_kv("tokenizer.ggml.tokens", GGUFValueType.ARRAY, (GGUFValueType.STRING, ["<s>", "</s>", "x"])),
        pack_kv("tokenizer.ggml.bos_token_id", GGUFValueType.UINT32, 0),
        pack_kv("tokenizer.ggml.eos_token_id", GGUFValueType.UINT32, 1),
        pack_kv("llama.block_count", GGUFValueType.UINT32, 1),
        pack_kv("llama.attention.head_count", GGUFValueType.ARRAY, (GGUFValueType.UINT32, [4])),
    ]
    tensors = [("a.weight", [32, 2], 0, 0), ("b.weight", [32], 8, 256), ("c.weight", [4], 1, 320)]
    handmade = minimal_gguf(extra_kvs=[*scalars, *arrays], tensors=tensors)
    notes = [pack_kv(f"x.note.{i:03d}", GGUFValueType.STRING, f"{i:03d}" * 2730) for i in range(600)]
    heavy = minimal_gguf(extra_kvs=[*notes, *arrays[:1]], tensors=tensors[:1])
    return {"tiny": tiny, "handmade": handmade, "heavy": heavy}


def _variants(bases: dict[str, bytes]) -> Iterator[tuple[str, bytes]]:
    """About 1,000 mutants: truncations, lying fields of every kind, random byte flips, splices."""
    rng = random.Random(SEED)
    for base_name, base in bases.items():
        scale = 0.2 if base_name == "heavy" else 1.0  # 5 MB to write per mutant: fewer of them

        def n(rounds: int) -> int:
            return max(1, int(rounds * scale))  # noqa: B023

        fields = gguf_fields(base)
        header_end = max(offset + size for offset, size, _ in fields)
        by_kind: dict[str, list[tuple[int, int]]] = {}
        for offset, size, kind in fields:
            by_kind.setdefault(kind, []).append((offset, size))
        # Truncations: at every field boundary near the start, then anywhere.
        cuts = sorted({o for o, _, _ in fields[: n(60)]} | {o + s for o, s, _ in fields[: n(60)]})
        cuts += [rng.randrange(1, len(base)) for _ in range(n(60))]
        cuts += [rng.randrange(1, header_end + 1) for _ in range(n(40))]
        for cut in cuts:
            yield f"{base_name}: truncated at {cut}", base[:cut]
        # One lying field of each kind, many times.
        for _ in range(n(150)):
            kind = rng.choice(sorted(by_kind))
            offset, size = rng.choice(by_kind[kind])
            original = int.from_bytes(base[offset : offset + size], "little")
            value = _mutant_value(rng, size, original, len(base))
            data = bytearray(base)
            _set(data, offset, size, value)
            yield f"{base_name}: {kind} at {offset} = {value}", bytes(data)
        # Several lying fields at once.
        for _ in range(n(40)):
            data = bytearray(base)
            changes = []
            for _ in range(rng.randint(2, 5)):
                offset, size, kind = rng.choice(fields)
                value = _mutant_value(rng, size, 0, len(base))
                _set(data, offset, size, value)
                changes.append(f"{kind}@{offset}={value}")
            yield f"{base_name}: {', '.join(changes)}", bytes(data)
        # Random bytes flipped in the header, metadata and tensor list.
        for _ in range(n(60)):
            data = bytearray(base)
            spots = [rng.randrange(header_end) for _ in range(rng.randint(1, 8))]
            for at in spots:
                data[at] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
            yield f"{base_name}: bytes flipped at {spots}", bytes(data)
        # Bytes inserted or removed inside the metadata: every later field is misaligned.
        for _ in range(n(20)):
            at = rng.randrange(24, header_end)
            if rng.random() < 0.5:
                yield f"{base_name}: {at} removed", base[:at] + base[at + rng.randint(1, 9) :]
            else:
                junk = rng.randbytes(rng.randint(1, 9))
                yield f"{base_name}: {junk.hex()} inserted at {at}", base[:at] + junk + base[at:]


def _check(what: str, parse: Callable[[], object], problems: list[str], *, measure: bool = False) -> None:
    """Run one parse; note anything but a summary or a clean HearthError, and with `measure`, a peak
    of traced memory over PEAK_LIMIT (tracemalloc makes a parse ten times slower, so only then)."""
    if measure:
        tracemalloc.start()
    try:
        parse()
    except ModelFileError as err:
        cause = err.__cause__
        if cause is not None and not isinstance(cause, OSError):
            problems.append(f"{what}: parser failure {cause!r}")
        elif "\n" in err.message or not err.hint:
            problems.append(f"{what}: unclear message {err.message!r}")
    except HearthError:
        pass
    except Exception as exc:  # the point of the test: nothing else may escape
        problems.append(f"{what}: {exc!r}")
    finally:
        if measure:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            if peak > PEAK_LIMIT:
                problems.append(f"{what}: peak memory {peak / MiB:.1f} MiB")


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _write_head(path: Path, data: bytes, head: int) -> None:
    """The file as the parser sees it: the first `head` bytes, then a hole up to the full size (the
    parser never reads tensor data, and writing 600 KB of weights per mutant is most of the time)."""
    with path.open("wb") as f:
        f.write(data[:head])
        f.truncate(len(data))


@pytest.mark.slow  # about 10 s on two busy cores: tracemalloc slows each parse tenfold
def test_mutated_files_give_a_summary_or_a_hearth_error(tmp_path: Path) -> None:
    bases = _bases(tmp_path)
    heads = {name: max(o + s for o, s, _ in gguf_fields(data)) + 4096 for name, data in bases.items()}
    path = tmp_path / "fuzz.gguf"
    problems: list[str] = []
    count = 0
    for what, data in _variants(bases):
        count += 1
        _write_head(path, data, heads[what.split(":")[0]])
        _check(what, partial(inspect_gguf, path), problems, measure=True)
        # The same bytes as a remote header (the Discover page's ranged read), whole and cut short.
        remote = partial(inspect_gguf_header, name="fuzz.gguf", total_size=len(data))
        _check(f"{what} (header)", partial(remote, data), problems)
        if count % 4 == 0:
            _check(f"{what} (prefix)", partial(remote, data[: len(data) // 3]), problems)
    assert count >= 500
    assert not problems, f"{len(problems)} of {count} mutants misbehaved:\n" + "\n".join(problems[:25])


def test_metadata_heavy_files_keep_memory_small(tmp_path: Path, traced: None) -> None:
    """Hundreds of MB of metadata strings, declared or real, cost a few MB at most: long strings are
    skipped by seeking past them, and what is kept has a fixed budget."""
    tensor = pack_tensor_info("a.weight", [8], 0, 0)
    cases: dict[str, Path] = {}
    # One string declared 300 MB long, the file cut off inside it.
    cases["declared"] = write_sparse_gguf(
        tmp_path / "declared.gguf", [arch_kv(), pack_string("x.huge"), struct.pack("<I", 8),
                                     struct.pack("<Q", 300 * MiB), 4096], n_kv=2,
    )  # fmt: skip
    # One real 50 MB string, then a tensor.
    cases["one-50MB"] = write_sparse_gguf(
        tmp_path / "one.gguf",
        [arch_kv(), pack_string("x.huge"), struct.pack("<IQ", 8, 50 * MiB), 50 * MiB, tensor],
        n_kv=2, n_tensors=1, data_bytes=32,
    )  # fmt: skip
    # 75 strings of 4 MiB each (300 MB), each short enough that an unbounded parser keeps it.
    many: list[bytes | int] = [arch_kv()]
    for i in range(75):
        many += [pack_string(f"x.s{i:03d}"), struct.pack("<IQ", 8, 4 * MiB - 1), 4 * MiB - 1]
    cases["75x4MiB"] = write_sparse_gguf(
        tmp_path / "many.gguf", [*many, tensor], n_kv=76, n_tensors=1, data_bytes=32
    )
    # 20,000 entries of 16 KiB strings (320 MB): under any per-string cap, so only a budget helps.
    small: list[bytes | int] = [arch_kv()]
    for i in range(20_000):
        small += [pack_string(f"x.s{i:05d}"), struct.pack("<IQ", 8, 16 << 10), 16 << 10]
    cases["20000x16KiB"] = write_sparse_gguf(
        tmp_path / "small.gguf", [*small, tensor], n_kv=20_001, n_tensors=1, data_bytes=32
    )
    peaks: dict[str, float] = {}
    for name, path in cases.items():
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        try:
            summary = inspect_gguf(path)
            assert summary.architecture == "llama"
        except ModelFileError as err:
            assert name == "declared", err  # only the cut-off file is bad
        peaks[name] = (tracemalloc.get_traced_memory()[1] - start) / MiB
    assert all(peak < 8 for peak in peaks.values()), peaks


def test_huge_arrays_and_counts_are_bounded(tmp_path: Path, traced: None) -> None:
    """A 200M-item number array is skipped in one seek; 30 million (empty) strings in an array are
    refused rather than walked one by one; a header claiming millions of entries is refused."""
    tensor = pack_tensor_info("a.weight", [8], 0, 0)
    numbers = write_sparse_gguf(
        tmp_path / "numbers.gguf",
        [arch_kv(), pack_string("x.big"), struct.pack("<IIQ", 9, 0, 200_000_000), 200_000_000, tensor],
        n_kv=2, n_tensors=1, data_bytes=32,
    )  # fmt: skip
    strings = write_sparse_gguf(
        tmp_path / "strings.gguf",
        [arch_kv(), pack_string("x.big"), struct.pack("<IIQ", 9, 8, 30_000_000), 8 * 30_000_000, tensor],
        n_kv=2, n_tensors=1, data_bytes=32,
    )  # fmt: skip
    entries = write_sparse_gguf(tmp_path / "entries.gguf", [arch_kv(), 64 << 20], n_kv=5_000_000)
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    assert inspect_gguf(numbers).metadata.get("x.big") is None
    with pytest.raises(ModelFileError, match="strings"):
        inspect_gguf(strings)
    with pytest.raises(ModelFileError, match="metadata entries"):
        inspect_gguf(entries)
    assert tracemalloc.get_traced_memory()[1] - start < PEAK_LIMIT
