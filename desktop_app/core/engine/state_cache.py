"""Saved KV state: each conversation's keys and values, kept so that reopening a long chat is instant.

Why: a reopened 8k-token chat otherwise re-reads its whole history (47 s to the first token with Gemma 3
270M on 2 cores; minutes on a 7B model), while the state itself is a few tens of MB to copy back.

Two tiers, both keyed by what makes a state valid (`StateKey`: the model file, every load setting that
changes the KV cache, the chat format, and llama.cpp's version) and by the exact tokens it holds:
- memory: the last few snapshots as host copies, so switching between two chats in one session is instant;
- disk: one file per snapshot under the cache folder, an LRU bounded by a byte cap.

Never wrong output: a file is used only if its header, its size and a sha256 over its tokens and payload
all check out, and only for the key it was saved under; anything else is deleted. Files are written to a
temporary name, fsynced and renamed, so a kill -9 during a save leaves only a temporary file, which is
never read (and swept later). Writing runs on a background thread: a reply never waits for the disk.

This module only moves bytes; the engine (session.py) takes and restores snapshots through llama.cpp.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from desktop_app.core.private_files import ensure_private_dir

log = logging.getLogger(__name__)

MAGIC: Final = b"HEARTHKV"
VERSION: Final = 1
SUFFIX: Final = ".kvstate"
TMP_SUFFIX: Final = ".partial"
PREAMBLE: Final = struct.Struct("<8sII")  # magic, version, header length
MAX_HEADER: Final = 64 * 1024
MAX_TOKENS: Final = 1 << 22  # far above any context llama.cpp runs
DEFAULT_CAP_BYTES: Final = 2 * 1024**3
MEMORY_CAP_BYTES: Final = 768 * 1024**2  # host copies of recent snapshots
STALE_TMP_S: Final = 3600.0  # a temporary file this old was left by a killed process
MAX_CHECKPOINTS: Final = 4  # untagged host copies (prefill checkpoints), newest kept


def _tag_ok(tag: str) -> bool:
    return 0 < len(tag) <= 64 and all(c.isalnum() or c in "-_" for c in tag)


@dataclass(frozen=True)
class StateKey:
    """What a state depends on besides its tokens. `digest` names it on disk and in memory."""

    model_path: str
    model_size: int
    model_mtime_ns: int
    load: tuple[tuple[str, Any], ...]  # the load settings that shape the KV cache
    chat_format: str  # family and a hash of the template text
    runtime: str  # llama.cpp build: a state from another version is not read

    @property
    def digest(self) -> str:
        parts = (self.model_path, self.model_size, self.model_mtime_ns, self.load, self.chat_format)
        data = json.dumps([*parts, self.runtime], sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()


@dataclass
class Snapshot:
    """One sequence's KV state: `tokens` are exactly the tokens whose keys and values `payload` holds."""

    key: str  # StateKey.digest
    tokens: tuple[int, ...]
    payload: bytearray  # writable: llama.cpp reads it in place
    tag: str | None = None  # the conversation it belongs to (deleting the chat deletes its states)

    @property
    def nbytes(self) -> int:
        return len(self.payload) + 4 * len(self.tokens)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class _DiskEntry:
    path: Path
    key: str
    tag: str | None
    tokens: tuple[int, ...]
    payload_offset: int
    payload_len: int
    checksum: str
    stamp: tuple[int, int] = field(default=(0, 0))  # (size, mtime_ns) when read


class StateCache:
    """The two tiers. Called from the engine's thread; the writer thread only writes and evicts files."""

    def __init__(
        self,
        folder: Path | None,
        *,
        cap_bytes: int = DEFAULT_CAP_BYTES,
        memory_cap_bytes: int = MEMORY_CAP_BYTES,
    ) -> None:
        """`folder` None keeps states in memory only (nothing on disk)."""
        self.folder = folder
        self.cap_bytes = max(0, cap_bytes)
        self.memory_cap_bytes = max(0, memory_cap_bytes)
        self._memory: OrderedDict[tuple[str, tuple[int, ...]], Snapshot] = OrderedDict()
        self._entries: dict[str, _DiskEntry] = {}  # file name -> parsed header
        # The engine's thread, the writer thread and the GUI thread ("Clear saved state", a deleted chat)
        # share the tiers: every access to them holds this.
        self._lock = threading.RLock()
        self._queue: queue.Queue[tuple[int, Snapshot]] = queue.Queue()
        self._seq = 0  # counts saves queued, so that a forget or clear voids the ones queued before it
        self._void_before: dict[str | None, int] = {}  # tag (None: every tag) -> first save still valid
        self._writer: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    # -- memory tier -------------------------------------------------------------------------------

    def remember(self, snapshot: Snapshot) -> None:
        """Keep a host copy (newest last), dropping the oldest over the memory cap; and save it to disk
        in the background when it belongs to a conversation."""
        with self._lock:
            if snapshot.tag is not None:
                # A conversation's older snapshots are prefixes of its newest: drop them from memory.
                for ident in [k for k, s in self._memory.items() if s.tag == snapshot.tag]:
                    del self._memory[ident]
            self._keep_in_memory(snapshot)
            untagged = [k for k, s in self._memory.items() if s.tag is None]
            for ident in untagged[: max(0, len(untagged) - MAX_CHECKPOINTS)]:
                del self._memory[ident]
        if self.folder is not None and snapshot.tag is not None and snapshot.nbytes <= self.cap_bytes:
            self._enqueue(snapshot)

    def _keep_in_memory(self, snapshot: Snapshot) -> None:
        if snapshot.nbytes > self.memory_cap_bytes:
            return
        ident = (snapshot.key, snapshot.tokens)
        self._memory.pop(ident, None)
        self._memory[ident] = snapshot
        while sum(s.nbytes for s in self._memory.values()) > self.memory_cap_bytes:
            self._memory.popitem(last=False)

    # -- lookup ------------------------------------------------------------------------------------

    def best(
        self, key: str, tokens: Sequence[int], *, beat: int = 0
    ) -> tuple[int, Snapshot | _DiskEntry] | None:
        """The snapshot sharing the longest prefix with `tokens` (more than `beat` tokens), memory first
        on a tie. Returns (shared tokens, where it is)."""
        found: tuple[int, Snapshot | _DiskEntry] | None = None
        with self._lock:
            in_memory = list(self._memory.items())
        for (entry_key, _), snapshot in in_memory:
            if entry_key == key:
                shared = common_prefix(snapshot.tokens, tokens)
                if shared > beat and (found is None or shared > found[0]):
                    found = (shared, snapshot)
        for entry in self._disk_entries(key):
            shared = common_prefix(entry.tokens, tokens)
            if shared > beat and (found is None or shared > found[0]):
                found = (shared, entry)
        return found

    def load(self, where: Snapshot | _DiskEntry) -> Snapshot | None:
        """The snapshot's bytes, checked; None (and the file deleted) when it does not check out."""
        if isinstance(where, Snapshot):
            ident = (where.key, where.tokens)
            with self._lock:
                if ident not in self._memory:
                    return None  # forgotten or cleared since it was found
                self._memory.move_to_end(ident)
            return where
        entry = where
        try:
            with open(entry.path, "rb") as f:
                st = os.fstat(f.fileno())
                if (st.st_size, st.st_mtime_ns) != entry.stamp:
                    raise ValueError("changed since it was read")
                f.seek(entry.payload_offset)
                payload = bytearray(entry.payload_len)
                got = f.readinto(payload)
            if got != entry.payload_len:
                raise ValueError("truncated")
            if _checksum(entry.tokens, payload) != entry.checksum:
                raise ValueError("checksum mismatch")
        except (OSError, ValueError) as exc:
            log.warning("discarding saved state %s: %s", entry.path.name, exc)
            self._discard(entry.path)
            return None
        with contextlib.suppress(OSError):
            os.utime(entry.path)  # the LRU's clock: last use
            with self._lock:
                entry.stamp = _stamp(entry.path)
        snapshot = Snapshot(entry.key, entry.tokens, payload, entry.tag)
        with self._lock:
            self._keep_in_memory(snapshot)
        return snapshot

    def discard(self, where: Snapshot | _DiskEntry) -> None:
        """A state llama.cpp refused: never offer it again."""
        if isinstance(where, Snapshot):
            with self._lock:
                self._memory.pop((where.key, where.tokens), None)
        else:
            self._discard(where.path)

    # -- housekeeping ------------------------------------------------------------------------------

    def forget(self, tag: str) -> None:
        """Delete a conversation's states (the chat was deleted), saves still queued for it included.
        Returns at once: any thread may call it."""
        with self._lock:
            self._void_before[tag] = self._seq + 1
            for ident in [k for k, s in self._memory.items() if s.tag == tag]:
                del self._memory[ident]
            if self.folder is None or not _tag_ok(tag):
                return
            for path in self.folder.glob(f"{tag}-*{SUFFIX}"):
                self._discard(path)

    def clear(self) -> int:
        """Delete every saved state ("Clear saved state"). Returns the bytes freed on disk."""
        freed = 0
        with self._lock:
            self._void_before[None] = self._seq + 1
            self._memory.clear()
            if self.folder is None:
                return 0
            for path in [*self.folder.glob(f"*{SUFFIX}"), *self.folder.glob(f"*{TMP_SUFFIX}")]:
                try:
                    freed += path.stat().st_size
                except OSError:
                    continue
                self._discard(path)
        return freed

    def prune(self, live_tags: Iterable[str]) -> None:
        """Delete the states of conversations that no longer exist (deleted by another process)."""
        if self.folder is None or not self.folder.is_dir():
            return
        live = set(live_tags)
        with self._lock:
            for path in self.folder.glob(f"*{SUFFIX}"):
                if path.name.split("-", 1)[0] not in live:
                    self._discard(path)

    def has_memory(self) -> bool:
        with self._lock:
            return bool(self._memory)

    def disk_usage(self) -> int:
        if self.folder is None or not self.folder.is_dir():
            return 0
        total = 0
        for path in self.folder.glob(f"*{SUFFIX}"):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued save is on disk (tests, "Clear", quitting). False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # -- disk tier ---------------------------------------------------------------------------------

    def _disk_entries(self, key: str) -> Iterable[_DiskEntry]:
        if self.folder is None or not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob(f"*-{key[:16]}-*{SUFFIX}"):
            with self._lock:
                entry = self._entries.get(path.name)
            try:
                stamp = _stamp(path)
            except OSError:
                continue
            if entry is None or entry.stamp != stamp:
                entry = _read_header(path)
                if entry is None:
                    self._discard(path)
                    continue
                with self._lock:
                    self._entries[path.name] = entry
            if entry.key == key:
                found.append(entry)
        return found

    def _enqueue(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._seq += 1
            self._pending += 1
            self._queue.put((self._seq, snapshot))
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="hearth-kv-save", daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        """Runs while saves are queued, then ends (no idle thread outlives the work)."""
        while True:
            with self._lock:
                if self._pending == 0:
                    self._writer = None
                    return
            seq, snapshot = self._queue.get()  # pending > 0: it is there
            try:
                self._write(seq, snapshot)
                self._evict()
            except OSError as exc:  # a full disk loses a speed-up, never a chat
                log.warning("could not save the chat's KV state: %s", exc)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _voided(self, seq: int, tag: str | None) -> bool:
        return seq < max(self._void_before.get(tag, 0), self._void_before.get(None, 0))

    def _write(self, seq: int, snapshot: Snapshot) -> None:
        assert self.folder is not None and snapshot.tag is not None
        if not _tag_ok(snapshot.tag):
            return
        ensure_private_dir(self.folder)
        tokens_hash = hashlib.sha256(_token_bytes(snapshot.tokens)).hexdigest()
        name = f"{snapshot.tag}-{snapshot.key[:16]}-{tokens_hash[:16]}{SUFFIX}"
        final = self.folder / name
        header = json.dumps(
            {
                "key": snapshot.key,
                "tag": snapshot.tag,
                "n_tokens": len(snapshot.tokens),
                "payload_len": len(snapshot.payload),
                "checksum": _checksum(snapshot.tokens, snapshot.payload),
                "saved": time.time(),
            }
        ).encode()
        tmp = self.folder / f"{name}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(PREAMBLE.pack(MAGIC, VERSION, len(header)))
                f.write(header)
                f.write(_token_bytes(snapshot.tokens))
                f.write(snapshot.payload)
                f.flush()
                os.fsync(f.fileno())
            with self._lock:  # a forget or clear either comes before (and voids this) or after
                if self._voided(seq, snapshot.tag):
                    tmp.unlink(missing_ok=True)
                    return
                os.replace(tmp, final)
                # The conversation's older states are prefixes of this one: no longer worth their space.
                for path in self.folder.glob(f"{snapshot.tag}-{snapshot.key[:16]}-*{SUFFIX}"):
                    if path != final:
                        self._discard(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _evict(self) -> None:
        """Oldest use first, until the folder is under the cap; and temporary files a kill left."""
        assert self.folder is not None
        now = time.time()
        files = []
        for path in self.folder.iterdir():
            try:
                st = path.stat()
            except OSError:
                continue
            if path.name.endswith(TMP_SUFFIX):
                if now - st.st_mtime > STALE_TMP_S:
                    path.unlink(missing_ok=True)
            elif path.name.endswith(SUFFIX):
                files.append((st.st_mtime_ns, st.st_size, path))
        files.sort()
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= self.cap_bytes:
                break
            self._discard(path)
            total -= size

    def _discard(self, path: Path) -> None:
        with self._lock:
            self._entries.pop(path.name, None)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not delete saved state %s: %s", path.name, exc)


def _token_bytes(tokens: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(tokens)}i", *tokens)


def _checksum(tokens: Sequence[int], payload: bytes | bytearray) -> str:
    digest = hashlib.sha256(_token_bytes(tokens))
    digest.update(payload)
    return digest.hexdigest()


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _read_header(path: Path) -> _DiskEntry | None:
    """The header and tokens of a state file, or None when they are not ours or not whole. The payload is
    checked when it is used (it is most of the file)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            preamble = f.read(PREAMBLE.size)
            if len(preamble) != PREAMBLE.size:
                return None
            magic, version, header_len = PREAMBLE.unpack(preamble)
            if magic != MAGIC or version != VERSION or header_len > MAX_HEADER:
                return None
            header = json.loads(f.read(header_len))
            if not isinstance(header, dict):
                return None
            key, tag, n_tokens = header.get("key"), header.get("tag"), header.get("n_tokens")
            payload_len, checksum = header.get("payload_len"), header.get("checksum")
            if not (
                isinstance(key, str)
                and isinstance(checksum, str)
                and (tag is None or (isinstance(tag, str) and _tag_ok(tag)))
                and isinstance(n_tokens, int)
                and 0 < n_tokens <= MAX_TOKENS
                and isinstance(payload_len, int)
                and payload_len > 0
            ):
                return None
            offset = PREAMBLE.size + header_len + 4 * n_tokens
            if st.st_size != offset + payload_len:
                return None  # truncated, or something appended
            raw = f.read(4 * n_tokens)
            if len(raw) != 4 * n_tokens:
                return None
            tokens = struct.unpack(f"<{n_tokens}i", raw)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return _DiskEntry(path, key, tag, tokens, offset, payload_len, checksum, (st.st_size, st.st_mtime_ns))
