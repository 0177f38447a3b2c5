"""The fixed caps that bound what parsing an untrusted GGUF file may cost, and the keys always kept.

Files are untrusted (anything dropped in the models folder is parsed on every listing), so what a
parse keeps or walks is bounded by fixed caps, not only by the file's size: only the keys the summary
uses are always kept; other metadata is kept within a small budget (short keys, strings up to 64 KiB,
numeric arrays up to 4,096 items), and everything else is skipped by seeking past it.
"""

from __future__ import annotations

from typing import Final

from gguf import Keys

from desktop_app.core.architectures import SUPPORTED_ARCHITECTURES

MAGIC: Final = b"GGUF"
SUPPORTED_VERSIONS: Final = (2, 3)
HEADER_SIZE: Final = 24  # magic, u32 version, u64 tensor count, u64 kv count
DEFAULT_ALIGNMENT: Final = 32

# Caps far above any real model; they only stop absurd values before they cost time or memory.
# (Real models: about 1,000 tensors, 50 metadata entries, 300k strings in their tokenizer arrays.)
MAX_TENSORS: Final = 1 << 16  # each costs ~250 bytes of Python objects while we check the layout
MAX_KV: Final = 1 << 16
MAX_KEY_BYTES: Final = 1 << 16
MAX_STRING_BYTES: Final = 1 << 30  # llama.cpp's GGUF_MAX_STRING_LENGTH
MAX_ARRAY_ITEMS: Final = 1 << 30  # llama.cpp's GGUF_MAX_ARRAY_ELEMENTS
MAX_ARRAY_STRINGS: Final = 1 << 22  # in all arrays together: each is walked, ~0.4 µs apiece
MAX_TEMPLATE_BYTES: Final = 1 << 20  # a longer chat template is skipped, never loaded
MAX_KEPT_ARRAY_ITEMS: Final = 4096  # per-layer numeric arrays; bigger ones are skipped
MAX_KEPT_KEY_BYTES: Final = 256  # entries with longer names are checked, then skipped
KEPT_METADATA_BYTES: Final = 1 << 20  # budget for entries the summary does not use
KEPT_ENTRY_COST: Final = 64  # rough Python overhead of one kept entry, counted against the budget
MAX_DIMS: Final = 4  # GGML_MAX_DIMS
MAX_TENSOR_NAME_BYTES: Final = 63  # GGML_MAX_NAME - 1
INT64_MAX: Final = (1 << 63) - 1

# Smallest encodings, used to reject counts the rest of the file cannot possibly hold.
MIN_KV_BYTES: Final = 8 + 1 + 4 + 1  # key length, 1-byte key, value type, 1-byte value
MIN_TENSOR_INFO_BYTES: Final = 8 + 4 + 4 + 8  # name length, n_dims, type, offset

MAX_METADATA_STRING_BYTES: Final = 64 * 1024  # longer strings (an embedded tokenizer.json) stay out

# Always kept (they are small by type or capped above): what the summary reads.
ESSENTIAL_KEYS: Final = frozenset(
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
ARCH_KEY_TEMPLATES: Final = (
    Keys.LLM.CONTEXT_LENGTH,
    Keys.LLM.EMBEDDING_LENGTH,
    Keys.LLM.BLOCK_COUNT,
    Keys.LLM.VOCAB_SIZE,
    Keys.Attention.HEAD_COUNT,
    Keys.Attention.HEAD_COUNT_KV,
    Keys.Attention.KEY_LENGTH,
    Keys.Attention.VALUE_LENGTH,
)
ESSENTIAL_ARCH_KEYS: Final = frozenset(
    t.format(arch=a) for t in ARCH_KEY_TEMPLATES for a in SUPPORTED_ARCHITECTURES
)

READ_CHUNK: Final = 256 * 1024
TOKEN_INDEX_STRIDE: Final = 256  # remember every 256th token's offset to find bos/eos later
