"""One set of limits: the engine's settings, the settings drawer, the model dialog and the OpenAI API
accept and refuse at the same numbers, because they all read core/limits.py."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core import limits
from desktop_app.core.db import Database
from desktop_app.core.engine import LoadedModel
from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.library import LibraryModel
from desktop_app.core.presets import PresetStore
from desktop_app.server.openai_schema import ApiError, GenerationRequest, parse_chat
from desktop_app.ui.model_settings_dialog import ModelSettingsDialog
from desktop_app.ui.settings_fields import parse_stop_strings
from desktop_app.ui.settings_panel import SettingsPanel

MODEL = cast(LoadedModel, SimpleNamespace(n_ctx=4096))  # parse_chat reads only the context length


def _api(**fields: object) -> GenerationRequest:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **fields}
    return parse_chat(body, MODEL, SamplingSettings())


@pytest.fixture
def panel(qtbot: Any, tmp_path: Path) -> Iterator[SettingsPanel]:
    host = QWidget()
    widget = SettingsPanel(PresetStore(Database(tmp_path / "presets.db")), host)
    widget.set_model("gemma", trained_context=8192, loaded=LoadSettings(n_threads=1, n_threads_batch=1))
    qtbot.addWidget(host)
    yield widget


# -------------------------------------------------------------------------------- the engine's checks

SAMPLING_RANGES: list[tuple[str, limits.IntRange | limits.FloatRange]] = [
    ("temperature", limits.TEMPERATURE), ("top_k", limits.TOP_K), ("top_p", limits.TOP_P),
    ("min_p", limits.MIN_P), ("repeat_penalty", limits.REPEAT_PENALTY),
    ("repeat_last_n", limits.REPEAT_LAST_N), ("frequency_penalty", limits.PENALTY),
    ("presence_penalty", limits.PENALTY), ("seed", limits.SEED), ("max_tokens", limits.MAX_TOKENS),
]  # fmt: skip
LOAD_RANGES: list[tuple[str, limits.IntRange]] = [
    ("n_ctx", limits.N_CTX), ("n_threads", limits.THREADS), ("n_threads_batch", limits.THREADS),
    ("n_batch", limits.N_BATCH), ("n_gpu_layers", limits.N_GPU_LAYERS),
]  # fmt: skip


def _outside(bounds: limits.IntRange | limits.FloatRange) -> tuple[float, float]:
    step = 1 if isinstance(bounds, limits.IntRange) else 0.01
    return bounds.lo - step, bounds.hi + step


@pytest.mark.parametrize(("name", "bounds"), SAMPLING_RANGES)
def test_sampling_settings_take_exactly_the_limits(
    name: str, bounds: limits.IntRange | limits.FloatRange
) -> None:
    for edge in (bounds.lo, bounds.hi):
        at_edge: dict[str, Any] = {name: edge}
        assert getattr(SamplingSettings(**at_edge), name) == edge
    for beyond in _outside(bounds):
        outside: dict[str, Any] = {name: type(bounds.lo)(beyond)}
        with pytest.raises(SettingsError, match=f"from {bounds.lo} to {bounds.hi}"):
            SamplingSettings(**outside)


@pytest.mark.parametrize(("name", "bounds"), LOAD_RANGES)
def test_load_settings_take_exactly_the_limits(name: str, bounds: limits.IntRange) -> None:
    for edge in (bounds.lo, bounds.hi):
        at_edge: dict[str, Any] = {name: edge}
        assert getattr(LoadSettings(**at_edge), name) == edge
    for beyond in _outside(bounds):
        outside: dict[str, Any] = {name: int(beyond)}
        if bounds is limits.THREADS and beyond == limits.THREADS_AUTOMATIC:
            assert getattr(LoadSettings(**outside), name) is None  # 0: automatic, not refused
            outside[name] = limits.THREADS_AUTOMATIC - 1
        with pytest.raises(SettingsError, match=f"from {bounds.lo} to {bounds.hi}"):
            LoadSettings(**outside)


def test_ranges_refuse_what_is_not_a_number() -> None:
    assert True not in limits.TOP_K and 1.5 not in limits.TOP_K and 3 in limits.TOP_K
    not_finite: list[object] = [math.nan, math.inf, -math.inf]
    assert not any(value in limits.TEMPERATURE for value in not_finite)
    assert False not in limits.TEMPERATURE and 1 in limits.TEMPERATURE


# ------------------------------------------------------------------------------------ the seed bound


def test_the_seed_bound_is_the_same_in_the_drawer_the_engine_and_the_api(panel: SettingsPanel) -> None:
    panel.fixed_seed.setChecked(True)
    panel.seed_edit.setText(str(limits.SEED_MAX))
    panel.seed_edit.textEdited.emit(panel.seed_edit.text())
    assert panel.sampling().seed == limits.SEED_MAX and panel.fields["seed"].error == ""
    panel.seed_edit.setText(str(limits.SEED_MAX + 1))
    panel.seed_edit.textEdited.emit(panel.seed_edit.text())
    assert f"{limits.SEED_MAX:,}" in panel.fields["seed"].error
    assert panel.sampling().seed == limits.SEED_MAX  # refused: the last valid value is kept

    with pytest.raises(SettingsError, match="'seed'"):
        SamplingSettings(seed=limits.SEED_MAX + 1)

    # the API takes any 64-bit seed (OpenAI does) and folds it into the same range
    assert _api(seed=limits.SEED_MAX).sampling.seed == limits.SEED_MAX
    assert _api(seed=limits.SEED_MAX + 1).sampling.seed == 0
    assert _api(seed=-1).sampling.seed == limits.SEED_MAX
    assert all(0 <= limits.random_seed() <= limits.SEED_MAX for _ in range(100))


# ----------------------------------------------------------------------------------- stop strings


def test_the_drawer_and_the_api_take_the_same_stop_strings(panel: SettingsPanel) -> None:
    longest = "x" * limits.STOP_LENGTH_MAX
    assert parse_stop_strings(longest) == (longest,)
    assert _api(stop=[longest]).sampling.stop == (longest,)
    panel.stop_edit.setPlainText(longest)
    assert panel.sampling().stop == (longest,) and panel.fields["stop"].error == ""

    too_long = longest + "x"
    with pytest.raises(SettingsError, match=f"longer than {limits.STOP_LENGTH_MAX} characters"):
        parse_stop_strings(too_long)
    with pytest.raises(ApiError, match=f"up to {limits.STOP_LENGTH_MAX} characters") as refused:
        _api(stop=[too_long])
    assert refused.value.status == 400 and refused.value.param == "stop"
    panel.stop_edit.setPlainText(too_long)
    assert str(limits.STOP_LENGTH_MAX) in panel.fields["stop"].error
    assert panel.sampling().stop == (longest,)

    most = [f"stop {i}" for i in range(limits.STOP_STRINGS_MAX)]
    assert parse_stop_strings("\n".join(most)) == tuple(most)
    assert _api(stop=most).sampling.stop == tuple(most)
    with pytest.raises(SettingsError, match=f"At most {limits.STOP_STRINGS_MAX} stop strings"):
        parse_stop_strings("\n".join([*most, "one more"]))
    with pytest.raises(ApiError, match=f"at most {limits.STOP_STRINGS_MAX} strings"):
        _api(stop=[*most, "one more"])


# ------------------------------------------------------------------------------------- the widgets


def test_the_drawer_and_the_dialog_offer_the_engines_ranges(panel: SettingsPanel, qtbot: Any) -> None:
    model = LibraryModel(
        id="m", display_name="M", path=Path("m.gguf"), parts=1, is_link=False, size_bytes=0, sha256=None,
        summary={}, added_at=0.0, last_used_at=None,
    )  # fmt: skip
    dialog = ModelSettingsDialog(model)
    qtbot.addWidget(dialog)
    for name, bounds in (
        ("temperature", limits.TEMPERATURE), ("top_p", limits.TOP_P), ("min_p", limits.MIN_P),
        ("repeat_penalty", limits.REPEAT_PENALTY),
    ):  # fmt: skip
        for spin in (panel.spins[name], getattr(dialog, name)):
            assert (spin.minimum(), spin.maximum()) == (bounds.lo, bounds.hi), name
    for spin in (panel.max_tokens, dialog.max_tokens):
        assert (spin.minimum(), spin.maximum()) == (limits.MAX_TOKENS.lo, limits.MAX_TOKENS.hi)
    for spin in (panel.top_k, dialog.top_k):
        assert (spin.minimum(), spin.maximum()) == (limits.TOP_K.lo, limits.TOP_K_WIDGET_MAX)
    for spin in (panel.n_gpu_layers, dialog.gpu_layers):
        assert (spin.minimum(), spin.maximum()) == (limits.N_GPU_LAYERS.lo, limits.GPU_LAYERS_WIDGET_MAX)
    assert (panel.repeat_last_n.minimum(), panel.repeat_last_n.maximum()) == (
        limits.REPEAT_LAST_N.lo, limits.REPEAT_LAST_N.hi,
    )  # fmt: skip
    assert dialog.n_ctx.maximum() == limits.UNKNOWN_CONTEXT_MAX  # the file does not say
    panel.set_model("other", trained_context=0)
    assert (panel.n_ctx.minimum(), panel.n_ctx.maximum()) == (limits.N_CTX.lo, limits.UNKNOWN_CONTEXT_MAX)
