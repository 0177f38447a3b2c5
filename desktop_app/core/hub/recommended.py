"""The curated "Recommended for this computer" list: well-known chat models, and for each the
quantization that fits this machine's memory; and the embedding models a document collection can
use, with the query and document prefixes each was trained with (`"kind": "embedding"`).

The list ships with the app as one data file (resources/recommended_models.json), so it is shown
offline and kept current by editing that file alone. It is data, read defensively: the file's size is
capped, every field is checked (repo ids and file names as strictly as a Hub answer, sizes bounded,
text trimmed), and an entry that fails is skipped with the reason, never the whole list. Which quant
is offered comes from core/fit.py's estimate against this computer's memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from desktop_app.core import fit
from desktop_app.core.errors import HearthError
from desktop_app.core.hub.names import UnsafeNameError, check_local_name

FILE_NAME: Final = "recommended_models.json"
MAX_FILE_BYTES: Final = 256 * 1024
MAX_MODELS: Final = 100
MAX_QUANTS: Final = 12
MAX_FILES: Final = 16  # a split model's parts
MAX_SIZE_BYTES: Final = 2 * 1024**4
DEFAULT_CONTEXT: Final = 4096  # the context the fit is judged at (the app's default)
_TEXT_LIMITS: Final = {"name": 80, "family": 40, "params": 16, "license": 80, "description": 300}
_REPO: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_QUANT: Final = re.compile(r"[A-Za-z0-9_.-]{1,24}")
_SHAPE_KEYS: Final = ("layers", "heads", "kv_heads", "head_dim", "embedding", "vocab")
KINDS: Final = ("chat", "embedding")
MAX_PREFIX_CHARS: Final = 100
MAX_DIMENSIONS: Final = 16_384
MAX_CONTEXT: Final = 1_048_576


class RecommendedListError(HearthError):
    title = "The list of recommended models cannot be read"


@dataclass(frozen=True)
class RecommendedQuant:
    quant: str
    files: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class EmbeddingFacts:
    """What an embedding model needs besides its files: the text put before a search query and
    before each passage (exact, trailing space included), its vector size and its context."""

    query_prefix: str
    document_prefix: str
    dimensions: int
    context: int


@dataclass(frozen=True)
class RecommendedModel:
    name: str
    family: str
    params: str
    repo: str
    license: str
    description: str
    quants: tuple[RecommendedQuant, ...]  # in order of preference
    shape: Mapping[str, int] | None = None
    kind: str = "chat"  # one of KINDS
    embedding: EmbeddingFacts | None = None  # set exactly when kind == "embedding"

    def model_shape(self, size_bytes: int) -> fit.ModelShape:
        """What core/fit.py needs; without a shape in the list, one scaled from the file's size."""
        s = self.shape or {}
        small = size_bytes < 2 * 1024**3  # without a shape: a typical 1B-3B or 7B-8B model's
        layers = s.get("layers") or (16 if small else 32)
        heads = s.get("heads") or (16 if small else 32)
        head_dim = s.get("head_dim") or (64 if small else 128)
        return fit.ModelShape(
            size_bytes=size_bytes,
            block_count=layers,
            head_count=heads,
            head_count_kv=s.get("kv_heads") or 8,
            key_length=head_dim,
            value_length=head_dim,
            vocab_size=s.get("vocab") or 32_000,
            embedding_length=s.get("embedding") or heads * head_dim,
        )


@dataclass(frozen=True)
class Catalog:
    models: tuple[RecommendedModel, ...]
    updated: str = ""
    problems: tuple[str, ...] = ()  # entries skipped, and why (for the log)

    def of_kind(self, kind: str) -> tuple[RecommendedModel, ...]:
        return tuple(m for m in self.models if m.kind == kind)


@dataclass(frozen=True)
class Choice:
    """The quant offered for this computer: the first in the list's order that fits with room to
    spare, else the first that fits tightly; None when none fits (then `verdict` is "red")."""

    model: RecommendedModel
    quant: RecommendedQuant | None
    verdict: fit.Verdict
    reason: str


def default_path() -> Path:
    from desktop_app.resources import resources_dir

    return resources_dir() / FILE_NAME


def load_catalog(path: Path | None = None) -> Catalog:
    """The list from `path` (default: the one the app ships). RecommendedListError when the file is
    missing, too large or not a JSON object with a list of models; bad entries are skipped."""
    path = default_path() if path is None else path
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RecommendedListError(
            "The list of recommended models is missing from this installation.",
            hint="Search the Hub instead, or reinstall Hearth.",
            details=repr(exc),
        ) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise RecommendedListError(
            f"The list of recommended models is larger than {MAX_FILE_BYTES // 1024} KiB.",
            hint="Search the Hub instead, or reinstall Hearth.",
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecommendedListError(
            "The list of recommended models is damaged.",
            hint="Search the Hub instead, or reinstall Hearth.",
            details=str(exc)[:500],
        ) from exc
    return parse_catalog(data)


def parse_catalog(data: object) -> Catalog:
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
        raise RecommendedListError(
            "The list of recommended models has no list of models.",
            hint="Search the Hub instead, or reinstall Hearth.",
        )
    entries: list[Any] = data["models"]
    models: list[RecommendedModel] = []
    problems: list[str] = []
    if len(entries) > MAX_MODELS:
        problems.append(f"only the first {MAX_MODELS} of {len(entries)} entries are read")
    seen: set[tuple[str, str]] = set()
    for number, entry in enumerate(entries[:MAX_MODELS], start=1):
        try:
            model = _model(entry)
        except ValueError as exc:
            problems.append(f"entry {number}: {exc}")
            continue
        key = (model.repo.lower(), model.quants[0].files[0].lower())
        if key in seen:
            problems.append(f"entry {number}: {model.repo} is listed twice")
            continue
        seen.add(key)
        models.append(model)
    updated = data.get("updated")
    return Catalog(tuple(models), _text(updated, 20) if isinstance(updated, str) else "", tuple(problems))


def choose(
    model: RecommendedModel,
    *,
    n_ctx: int = DEFAULT_CONTEXT,
    free_ram: int | None = None,
    total_ram: int | None = None,
) -> Choice:
    """The quant to offer on this computer (see Choice); free and total RAM default to this machine's."""
    tight: tuple[RecommendedQuant, fit.Estimate] | None = None
    smallest: tuple[RecommendedQuant, fit.Estimate] | None = None
    for quant in model.quants:
        estimate = fit.estimate(model.model_shape(quant.size), n_ctx, free_ram=free_ram, total_ram=total_ram)
        if estimate.verdict == "green":
            return Choice(model, quant, "green", estimate.reason)
        if estimate.verdict == "yellow" and tight is None:
            tight = (quant, estimate)
        if smallest is None or quant.size < smallest[0].size:
            smallest = (quant, estimate)
    if tight is not None:
        return Choice(model, tight[0], "yellow", tight[1].reason)
    assert smallest is not None  # a model has at least one quant
    return Choice(model, None, "red", smallest[1].reason)


def choose_all(
    catalog: Catalog,
    *,
    kind: str = "chat",
    free_ram: int | None = None,
    total_ram: int | None = None,
) -> list[Choice]:
    """The choice for every model of `kind`, those that fit first (then by the list's order). An
    embedding model is judged at its own context, not the chat default."""
    from desktop_app.core.system import available_memory_bytes, total_memory_bytes

    free = available_memory_bytes() if free_ram is None else free_ram
    total = total_memory_bytes() if total_ram is None else total_ram
    choices = [
        choose(
            m,
            n_ctx=m.embedding.context if m.embedding is not None else DEFAULT_CONTEXT,
            free_ram=free,
            total_ram=total,
        )
        for m in catalog.of_kind(kind)
    ]
    order = {"green": 0, "yellow": 1, "red": 2}
    return sorted(choices, key=lambda c: order[c.verdict])  # stable: the list's order within a verdict


# -- checking one entry ---------------------------------------------------------------------------


def _model(entry: object) -> RecommendedModel:
    if not isinstance(entry, Mapping):
        raise ValueError("not an object")
    repo = entry.get("repo")
    if not isinstance(repo, str) or not _REPO.fullmatch(repo) or ".." in repo:
        raise ValueError("'repo' is not a Hub repository id (owner/name)")
    texts = {key: _required_text(entry, key, limit) for key, limit in _TEXT_LIMITS.items()}
    quants_data = entry.get("quants")
    if not isinstance(quants_data, list) or not quants_data:
        raise ValueError("'quants' must be a non-empty list")
    quants = tuple(_quant(q) for q in quants_data[:MAX_QUANTS])
    kind = entry.get("kind", "chat")
    if kind not in KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(KINDS)}")
    return RecommendedModel(
        name=texts["name"],
        family=texts["family"],
        params=texts["params"],
        repo=repo,
        license=texts["license"],
        description=texts["description"],
        quants=quants,
        shape=_shape(entry.get("shape")),
        kind=kind,
        embedding=_embedding(entry) if kind == "embedding" else None,
    )


def _embedding(entry: Mapping[str, Any]) -> EmbeddingFacts:
    prefixes = entry.get("prefixes")
    if not isinstance(prefixes, Mapping):
        raise ValueError('an embedding model needs \'prefixes\': {"query": ..., "document": ...}')
    return EmbeddingFacts(
        query_prefix=_prefix(prefixes, "query"),
        document_prefix=_prefix(prefixes, "document"),
        dimensions=_count(entry, "dimensions", MAX_DIMENSIONS),
        context=_count(entry, "context", MAX_CONTEXT),
    )


def _prefix(prefixes: Mapping[str, Any], key: str) -> str:
    """Kept exactly (the trailing space matters to the model), so refused rather than cleaned."""
    value = prefixes.get(key)
    if not isinstance(value, str):
        raise ValueError(f"prefixes: '{key}' must be text (\"\" for none)")
    if len(value) > MAX_PREFIX_CHARS or not all(ch.isprintable() for ch in value):
        raise ValueError(
            f"prefixes: '{key}' must be one printable line of at most {MAX_PREFIX_CHARS} characters"
        )
    return value


def _count(entry: Mapping[str, Any], key: str, limit: int) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= limit:
        raise ValueError(f"'{key}' must be a whole number from 1 to {limit}")
    return value


def _quant(data: object) -> RecommendedQuant:
    if not isinstance(data, Mapping):
        raise ValueError("a quant is not an object")
    label = data.get("quant")
    if not isinstance(label, str) or not _QUANT.fullmatch(label):
        raise ValueError("a quant has no valid 'quant' label")
    files = data.get("files")
    if not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
        raise ValueError(f"quant {label}: 'files' must list 1 to {MAX_FILES} file names")
    names: list[str] = []
    for name in files:
        if not isinstance(name, str) or not name.lower().endswith(".gguf") or len(name) > 200:
            raise ValueError(f"quant {label}: a file name is not a .gguf file name")
        try:
            check_local_name(name)
        except UnsafeNameError as exc:
            raise ValueError(f"quant {label}: {exc.message}") from exc
        names.append(name)
    size = data.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_SIZE_BYTES:
        raise ValueError(f"quant {label}: 'size' must be a number of bytes")
    return RecommendedQuant(label.upper(), tuple(names), size)


def _shape(data: object) -> Mapping[str, int] | None:
    if not isinstance(data, Mapping):
        return None
    shape = {
        key: value
        for key in _SHAPE_KEYS
        if isinstance(value := data.get(key), int) and not isinstance(value, bool) and 0 < value <= 10_000_000
    }
    return shape or None


def _required_text(entry: Mapping[str, Any], key: str, limit: int) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"'{key}' must be text")
    return _text(value, limit)


def _text(value: str, limit: int) -> str:
    """One line of printable text, at most `limit` characters."""
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
