"""The curated "Recommended for this computer" list: the shipped data file, hostile data, and the
quant chosen for a computer's memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.hub import recommended
from desktop_app.core.hub.recommended import RecommendedListError, choose, load_catalog, parse_catalog

GB = 1024**3


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "Tiny Chat 1B",
        "family": "Tiny",
        "params": "1B",
        "repo": "org/Tiny-Chat-GGUF",
        "license": "Apache-2.0",
        "description": "A small chat model.",
        "shape": {
            "layers": 16,
            "heads": 32,
            "kv_heads": 8,
            "head_dim": 64,
            "embedding": 2048,
            "vocab": 128256,
        },
        "quants": [
            {"quant": "Q8_0", "files": ["tiny-chat-Q8_0.gguf"], "size": 1 * GB},
            {"quant": "Q4_K_M", "files": ["tiny-chat-Q4_K_M.gguf"], "size": GB // 2},
        ],
    }
    entry.update(changes)
    return entry


def test_the_shipped_list_is_valid_and_varied() -> None:
    catalog = load_catalog()
    assert catalog.problems == ()
    assert len(catalog.models) >= 10
    families = {m.family for m in catalog.models}
    assert {"Qwen", "Llama", "Gemma", "Phi", "Mistral"} <= families
    for model in catalog.models:
        assert model.shape is not None, model.name  # the memory estimate has the real shape
        assert model.quants and all(q.files and q.size > 0 for q in model.quants)
        assert all(q.size < 9 * GB for q in model.quants), model.name  # small to 8B models
        assert model.description and model.license


def test_hostile_entries_are_skipped_with_the_reason_and_the_rest_kept() -> None:
    entries: list[Any] = [
        _entry(),
        "not an object",
        _entry(name="Bad repo", repo="../../etc"),
        _entry(name="Path in a name", quants=[{"quant": "Q4_K_M", "files": ["../evil.gguf"], "size": 1}]),
        _entry(name="Device name", quants=[{"quant": "Q4_K_M", "files": ["CON.gguf"], "size": 1}]),
        _entry(name="Not a gguf", quants=[{"quant": "Q4_K_M", "files": ["x.exe"], "size": 1}]),
        _entry(name="Bool size", quants=[{"quant": "Q4_K_M", "files": ["x.gguf"], "size": True}]),
        _entry(name="Huge size", quants=[{"quant": "Q4_K_M", "files": ["x.gguf"], "size": 10**15}]),
        _entry(name="No quants", quants=[]),
        _entry(name=""),
        _entry(),  # the same model twice
    ]
    catalog = parse_catalog({"models": entries, "updated": "2026-11"})
    assert [m.name for m in catalog.models] == ["Tiny Chat 1B"]
    assert catalog.updated == "2026-11"
    assert len(catalog.problems) == len(entries) - 1
    assert any("listed twice" in p for p in catalog.problems)
    assert any("'repo'" in p for p in catalog.problems)


def test_text_is_one_bounded_line_and_shapes_are_checked() -> None:
    entry = _entry(
        description="Line one\nline\x00two " + "x" * 1000,
        shape={"layers": 16, "heads": -4, "kv_heads": True, "head_dim": "64", "vocab": 32000},
    )
    model = parse_catalog({"models": [entry]}).models[0]
    assert "\n" not in model.description and "\x00" not in model.description
    assert len(model.description) <= 300 and model.description.endswith("…")
    assert model.shape == {"layers": 16, "vocab": 32000}  # only positive whole numbers are kept


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "damaged"),
        (b"[]", "no list of models"),
        (b'{"models": {}}', "no list of models"),
        (b" " * (recommended.MAX_FILE_BYTES + 1), "larger than"),
    ],
)
def test_a_broken_file_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "list.json"
    path.write_bytes(content)
    with pytest.raises(RecommendedListError, match=message):
        load_catalog(path)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RecommendedListError, match="missing"):
        load_catalog(tmp_path / "nowhere.json")


def test_the_preferred_quant_that_fits_is_offered() -> None:
    model = parse_catalog({"models": [_entry()]}).models[0]
    roomy = choose(model, free_ram=32 * GB, total_ram=64 * GB)
    assert roomy.quant is not None and roomy.quant.quant == "Q8_0" and roomy.verdict == "green"
    tight = choose(model, free_ram=int(1.4 * GB), total_ram=8 * GB)
    assert tight.quant is not None and tight.quant.quant == "Q4_K_M"  # the preferred one does not fit
    none = choose(model, free_ram=GB // 4, total_ram=GB // 2)
    assert none.quant is None and none.verdict == "red" and "memory" in none.reason


def test_models_that_fit_come_first(tmp_path: Path) -> None:
    big = _entry(
        name="Big 8B",
        repo="org/Big-GGUF",
        quants=[{"quant": "Q4_K_M", "files": ["big.gguf"], "size": 5 * GB}],
    )
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"models": [big, _entry()]}), encoding="utf-8")
    choices = recommended.choose_all(load_catalog(path), free_ram=2 * GB, total_ram=4 * GB)
    assert [c.model.name for c in choices] == ["Tiny Chat 1B", "Big 8B"]
    assert choices[1].quant is None
