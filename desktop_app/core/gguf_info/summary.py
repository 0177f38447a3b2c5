"""What a GGUF file holds, as the library, the memory estimate and the chat templates read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

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
