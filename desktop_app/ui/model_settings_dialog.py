"""Per-model load settings, sampling and chat-template override, saved in the library.

Saving replaces the model's stored settings with what this dialog shows: settings it has no control
for (stop strings, seed, threads, flash attention…) go back to their defaults, as they always did."""

from __future__ import annotations

from typing import Any, cast

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import limits
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import KV_TYPES, KvCacheType, LoadSettings, SamplingSettings
from desktop_app.core.library import LibraryModel
from desktop_app.core.model_settings import ModelSettings, template_override_of
from desktop_app.core.templates import list_builtin_families, validate_template
from desktop_app.ui.widgets import label


class ModelSettingsDialog(QDialog):
    def __init__(self, model: LibraryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Settings: {model.display_name}")
        self.setMinimumWidth(520)
        problem = ""
        try:
            saved = ModelSettings.from_stored(model.settings)
        except HearthError as exc:  # damaged settings: show the defaults, say why; Save replaces them
            saved = ModelSettings(template_override=template_override_of(model.settings))
            problem = str(exc)
        load = saved.load
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(256, model.context_length or limits.UNKNOWN_CONTEXT_MAX)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setValue(load.context_for(model.context_length or 0))
        self.n_ctx.setToolTip("How many tokens of conversation the model sees. More uses more memory.")
        form.addRow("Context length", self.n_ctx)
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(limits.N_GPU_LAYERS.lo, limits.GPU_LAYERS_WIDGET_MAX)
        self.gpu_layers.setValue(load.n_gpu_layers)
        self.gpu_layers.setToolTip("Layers to run on the GPU (-1: all). Needs a CUDA or Metal build.")
        form.addRow("GPU layers", self.gpu_layers)
        self.kv_type = QComboBox()
        self.kv_type.addItems(list(KV_TYPES))
        self.kv_type.setCurrentText(load.kv_cache_type)
        self.kv_type.setToolTip("q8_0 halves the KV cache's memory with little quality loss.")
        form.addRow("KV cache type", self.kv_type)
        self.template = QComboBox()
        self.template.addItem("From the model file (or automatic)", None)
        for key, name in list_builtin_families():
            self.template.addItem(f"Built-in: {name}", key)
        self.template.addItem("Custom Jinja template…", "custom")
        override = saved.template_override
        self.custom = QPlainTextEdit()
        self.custom.setPlaceholderText("{% for message in messages %}…{% endfor %}")
        index = self.template.findData(override) if override else 0
        if override and index < 0:
            self.template.setCurrentIndex(self.template.count() - 1)
            self.custom.setPlainText(override)
        else:
            self.template.setCurrentIndex(max(index, 0))
        self.template.currentIndexChanged.connect(self._toggle_custom)
        form.addRow("Chat template", self.template)
        sampling = saved.sampling
        self.temperature = _double(
            sampling.temperature, limits.TEMPERATURE, 0.05,
            "Randomness. 0 always picks the likeliest token; 0.7 is a good default.",
        )  # fmt: skip
        self.top_p = _double(
            sampling.top_p, limits.TOP_P, 0.05,
            "Keep the smallest set of tokens whose probabilities add up to this.",
        )  # fmt: skip
        self.min_p = _double(
            sampling.min_p, limits.MIN_P, 0.01,
            "Drop tokens less likely than this fraction of the likeliest one.",
        )  # fmt: skip
        self.repeat_penalty = _double(
            sampling.repeat_penalty, limits.REPEAT_PENALTY, 0.05,
            "Above 1 discourages repeating recent tokens.",
        )  # fmt: skip
        self.top_k = QSpinBox()
        self.top_k.setRange(limits.TOP_K.lo, limits.TOP_K_WIDGET_MAX)
        self.top_k.setValue(sampling.top_k)
        self.top_k.setToolTip("Consider only the k likeliest tokens (0: all).")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(limits.MAX_TOKENS.lo, limits.MAX_TOKENS.hi)
        self.max_tokens.setValue(sampling.max_tokens)
        self.max_tokens.setToolTip("The longest reply, in tokens.")
        for name, widget in (
            ("Temperature", self.temperature),
            ("Top-p", self.top_p),
            ("Top-k", self.top_k),
            ("Min-p", self.min_p),
            ("Repeat penalty", self.repeat_penalty),
            ("Max reply tokens", self.max_tokens),
        ):
            form.addRow(name, widget)
        layout.addLayout(form)
        layout.addWidget(self.custom)
        self.error = label(problem, "error", wrap=True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._toggle_custom()

    def _toggle_custom(self) -> None:
        self.custom.setVisible(self.template.currentData() == "custom")

    def _override(self) -> str | None:
        data = self.template.currentData()
        if data == "custom":
            return self.custom.toPlainText().strip() or None
        return str(data) if data else None

    def _save(self) -> None:
        override = self._override()
        if override and self.template.currentData() == "custom":
            try:
                validate_template(override)
            except HearthError as exc:
                self.error.setText(str(exc))
                return
        self.accept()

    def chosen_settings(self) -> ModelSettings:
        """The settings shown, checked by LoadSettings and SamplingSettings."""
        return ModelSettings(
            load=LoadSettings(
                n_ctx=self.n_ctx.value(),
                n_gpu_layers=self.gpu_layers.value(),
                kv_cache_type=cast(KvCacheType, self.kv_type.currentText()),  # LoadSettings checks it
            ),
            sampling=SamplingSettings(
                temperature=round(self.temperature.value(), 3),
                top_p=round(self.top_p.value(), 3),
                top_k=self.top_k.value(),
                min_p=round(self.min_p.value(), 3),
                repeat_penalty=round(self.repeat_penalty.value(), 3),
                max_tokens=self.max_tokens.value(),
            ),
            template_override=self._override(),
        )

    def result_settings(self) -> dict[str, Any]:
        """`chosen_settings()` as the library stores it."""
        return self.chosen_settings().to_stored()


def _double(value: float, bounds: limits.FloatRange, step: float, tooltip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(bounds.lo, bounds.hi)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(float(value))
    box.setToolTip(tooltip)
    return box
