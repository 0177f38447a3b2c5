"""Taking and restoring one sequence's KV state through llama.cpp, for the saved-state cache.

`llama_state_seq_get_data` / `set_data` copy only the sequence's keys and values (not the logits buffer,
which `Llama.save_state()` also copies: hundreds of MB with a large vocabulary). The engine's thread
calls these with its own context, between requests.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from pathlib import Path
from typing import Any

from desktop_app.core.engine import native
from desktop_app.core.engine.state_cache import StateKey
from desktop_app.core.generation import LoadSettings
from desktop_app.core.templates import ChatFormat

SEQ = 0  # the engine's one sequence


def state_key(path: Path, settings: LoadSettings, n_ctx: int, chat_format: ChatFormat) -> StateKey:
    """Everything a saved state depends on besides its tokens. The thread counts are left out: they
    change how fast the KV is computed, not what it holds. The batch size is in: kernels differ with
    it, and a restored state must give what the same process would have given."""
    resolved = path.resolve()
    st = os.stat(resolved)
    load = (
        ("n_ctx", n_ctx),
        ("n_batch", settings.n_batch),
        ("n_gpu_layers", settings.n_gpu_layers),
        ("flash_attention", settings.flash_attention),
        ("kv_cache_type", settings.kv_cache_type),
        ("swa_full", False),  # loading.py: sliding-window layers keep their window only
    )
    template = hashlib.sha256(chat_format.template.encode("utf-8", errors="replace")).hexdigest()
    return StateKey(
        model_path=str(resolved),
        model_size=st.st_size,
        model_mtime_ns=st.st_mtime_ns,
        load=load,
        chat_format=f"{chat_format.family}:{chat_format.source}:{template}",
        runtime=str(getattr(native.lib(), "__version__", "")),
    )


def snapshot(ctx: Any) -> bytearray:
    """The sequence's state, copied once into a buffer Python owns."""
    llama_cpp = native.lib()
    size = int(llama_cpp.llama_state_seq_get_size(ctx, SEQ))
    buffer = bytearray(size)
    if size == 0:
        return buffer
    written = int(llama_cpp.llama_state_seq_get_data(ctx, _pointer(buffer), size, SEQ))
    del buffer[written:]
    return buffer


def restore(ctx: Any, payload: bytearray) -> bool:
    """Replace the sequence's KV with `payload`. False (and the sequence empty) when llama.cpp refuses
    it; the caller then computes the prompt as usual."""
    llama_cpp = native.lib()
    memory = llama_cpp.llama_get_memory(ctx)
    llama_cpp.llama_memory_clear(memory, True)
    if not payload:
        return False
    read = int(llama_cpp.llama_state_seq_set_data(ctx, _pointer(payload), len(payload), SEQ))
    if read != len(payload):
        llama_cpp.llama_memory_clear(memory, True)
        return False
    return True


def _pointer(buffer: bytearray) -> Any:
    return (ctypes.c_uint8 * len(buffer)).from_buffer(buffer)
