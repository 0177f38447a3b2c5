"""My models → Settings…: a model's load settings, main sampling settings and chat-template override.

The stored model settings (the library) are the one source of truth; this dialog and the chat's
settings drawer are two views of them. The dialog is built from the settings as stored when it opens,
and saving writes back only the fields the user changed here (`result_settings`) onto the settings as
stored at that moment: what the drawer saved meanwhile, and every setting this dialog does not show
(stop strings, seed, threads, flash attention, JSON output…), stays as it was."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import limits
from desktop_app.core.errors import HearthError, SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.library import LibraryModel
from desktop_app.core.model_settings import (
    KEEP,
    LOAD,
    SAMPLING,
    ModelSettings,
    parse_section,
    stored_with_changes,
    template_override_of,
)
from desktop_app.core.templates import list_builtin_families, validate_template
from desktop_app.ui.settings_fields import (
    KV_CHOICES,
    QUANTIZED_KV,
    TIPS,
    DoubleSpin,
    Field,
    FieldCombo,
    GpuLayersControl,
    Section,
    double_spin,
    int_spin,
    panel_stylesheet,
)
from desktop_app.ui.theme import Colors, ThemedStyleSheet
from desktop_app.ui.widgets import SPACING, button, label

S = TypeVar("S", LoadSettings, SamplingSettings)

LOAD_FIELDS = ("n_ctx", "n_gpu_layers", "kv_cache_type")
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens")
TEMPLATE_TIP = (
    "How the conversation is written out for the model. The model file's own template is best when it "
    "has one; a built-in format or your own Jinja template helps when it has none or a broken one."
)


class ModelSettingsDialog(ThemedStyleSheet, QDialog):
    def __init__(self, model: LibraryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModelSettingsDialog")
        self.setWindowTitle(f"Settings: {model.display_name}")
        self.setMinimumSize(460, 380)  # the sections scroll below that
        self.resize(540, 640)
        self._stored: dict[str, Any] = dict(model.settings)
        problem = ""
        self._damaged: set[str] = set()
        try:
            saved = ModelSettings.from_stored(model.settings)
        except HearthError as exc:  # damaged settings: show the defaults, say why; Save mends them
            saved = ModelSettings(
                load=_section_or_default(LoadSettings, model.settings, LOAD, self._damaged),
                sampling=_section_or_default(SamplingSettings, model.settings, SAMPLING, self._damaged),
                template_override=template_override_of(model.settings),
            )
            problem = f"{exc} Saving replaces the damaged part with what is shown."
        self.fields: dict[str, Field] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(16, 16, 16, 8)
        column.setSpacing(SPACING)
        scroll.setWidget(content)
        outer.addWidget(scroll, 1)

        heading = label(model.display_name, "heading", elide=True)  # from the model file
        column.addWidget(heading)
        column.addWidget(
            label(
                "The chat's settings drawer shows the same settings: a change here is what it shows "
                "the next time this model loads.",
                "muted",
                wrap=True,
            )
        )
        column.addWidget(self._load_section(saved.load, model.context_length or 0))
        column.addWidget(self._sampling_section(saved.sampling))
        column.addWidget(self._template_section(saved.template_override))
        column.addStretch(1)

        footer = QHBoxLayout()
        footer.setContentsMargins(16, 8, 16, 16)
        footer.setSpacing(8)
        self.error = label(problem, "error", wrap=True)
        self.error.setVisible(bool(problem))
        footer.addWidget(self.error, 1)
        footer.addStretch(1)
        self.cancel_button = button("Cancel", "ghost")
        self.cancel_button.clicked.connect(self.reject)
        self.save_button = button("Save", "primary", tooltip="Save these settings for this model")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self._save)
        footer.addWidget(self.cancel_button)
        footer.addWidget(self.save_button)
        outer.addLayout(footer)

        self._toggle_custom()
        self._shown = self._values()  # what "changed" is measured against
        self._restyle()

    # -- sections ----------------------------------------------------------------------------------

    def _add(self, section: Section, name: str, title: str, control: QWidget, **kwargs: Any) -> Field:
        field = Field(title, control, TIPS.get(name, ""), **kwargs)
        self.fields[name] = field
        section.body.addWidget(field)
        return field

    def _load_section(self, load: LoadSettings, trained: int) -> Section:
        section = Section("Load")
        section.body.addWidget(label("These apply the next time the model loads.", "muted", wrap=True))
        self.n_ctx = int_spin(256, trained or limits.UNKNOWN_CONTEXT_MAX, 1024, width=110)
        self.n_ctx.setValue(load.context_for(trained))
        note = (
            f"Trained on up to {trained:,} tokens."
            if trained
            else "The model file does not say how long a context it was trained on."
        )
        self._add(section, "n_ctx", "Context length", self.n_ctx, note=note)
        self.gpu_layers = GpuLayersControl()
        self.gpu_layers.setValue(load.n_gpu_layers)
        self._add(section, "n_gpu_layers", "GPU layers", self.gpu_layers, note=_gpu_note())
        self.kv_type = FieldCombo(fit_items=True)
        for key, text in KV_CHOICES:
            self.kv_type.addItem(text, key)
        self.kv_type.setCurrentIndex(max(0, self.kv_type.findData(load.kv_cache_type)))
        self._add(section, "kv_cache_type", "KV cache", self.kv_type)
        return section

    def _sampling_section(self, sampling: SamplingSettings) -> Section:
        section = Section("Sampling")
        self.temperature = _double(sampling.temperature, limits.TEMPERATURE, 0.05)
        self.top_p = _double(sampling.top_p, limits.TOP_P, 0.01)
        self.top_k = int_spin(limits.TOP_K.lo, limits.TOP_K_WIDGET_MAX, width=80)
        self.top_k.setMaximum(max(limits.TOP_K_WIDGET_MAX, sampling.top_k))
        self.top_k.setValue(sampling.top_k)
        self.min_p = _double(sampling.min_p, limits.MIN_P, 0.01)
        self.repeat_penalty = _double(sampling.repeat_penalty, limits.REPEAT_PENALTY, 0.01)
        self.max_tokens = int_spin(limits.MAX_TOKENS.lo, limits.MAX_TOKENS.hi, 256)
        self.max_tokens.setValue(sampling.max_tokens)
        for name, title, widget in (
            ("temperature", "Temperature", self.temperature),
            ("top_p", "Top-p", self.top_p),
            ("top_k", "Top-k", self.top_k),
            ("min_p", "Min-p", self.min_p),
            ("repeat_penalty", "Repeat penalty", self.repeat_penalty),
            ("max_tokens", "Max reply tokens", self.max_tokens),
        ):
            self._add(section, name, title, widget)
        section.body.addWidget(
            label(
                "Stop strings, the seed and JSON output are in the chat's settings drawer.",
                "muted",
                wrap=True,
            )
        )
        return section

    def _template_section(self, override: str | None) -> Section:
        section = Section("Chat template")
        self.template = FieldCombo(min_chars=12)
        self.template.addItem("From the model file (or automatic)", None)
        for key, name in list_builtin_families():
            self.template.addItem(f"Built-in: {name}", key)
        self.template.addItem("Custom Jinja template…", "custom")
        self.custom = QPlainTextEdit()
        self.custom.setPlaceholderText("{% for message in messages %}…{% endfor %}")
        self.custom.setAccessibleName("Custom Jinja template")
        self.custom.setMinimumHeight(120)
        index = self.template.findData(override) if override else 0
        if override and index < 0:
            self.template.setCurrentIndex(self.template.count() - 1)
            self.custom.setPlainText(override)
        else:
            self.template.setCurrentIndex(max(index, 0))
        self.template.currentIndexChanged.connect(self._toggle_custom)
        field = Field("Template", self.template, TEMPLATE_TIP, stacked=True)
        field.title.hide()  # the section header says it
        self.fields["template_override"] = field
        section.body.addWidget(field)
        section.body.addWidget(self.custom)
        return section

    # -- values ------------------------------------------------------------------------------------

    def _toggle_custom(self) -> None:
        self.custom.setVisible(self.template.currentData() == "custom")

    def _override(self) -> str | None:
        data = self.template.currentData()
        if data == "custom":
            return self.custom.toPlainText().strip() or None
        return str(data) if data else None

    def _values(self) -> dict[str, object]:
        return {
            "n_ctx": self.n_ctx.value(),
            "n_gpu_layers": self.gpu_layers.value(),
            "kv_cache_type": str(self.kv_type.currentData()),
            "temperature": round(self.temperature.value(), 3),
            "top_p": round(self.top_p.value(), 3),
            "top_k": self.top_k.value(),
            "min_p": round(self.min_p.value(), 3),
            "repeat_penalty": round(self.repeat_penalty.value(), 3),
            "max_tokens": self.max_tokens.value(),
            "template_override": self._override(),
        }

    def changes(self) -> tuple[dict[str, Any], dict[str, Any], object]:
        """(load changes, sampling changes, template override or KEEP): the fields the user changed
        here; every field of a section that was damaged when the dialog opened, so saving mends it."""
        values = self._values()

        def changed(name: str, section: str) -> bool:
            return section in self._damaged or values[name] != self._shown[name]

        load = {name: values[name] for name in LOAD_FIELDS if changed(name, LOAD)}
        if load.get("kv_cache_type") in QUANTIZED_KV:
            load["flash_attention"] = True  # llama.cpp refuses a quantized V cache without it
        sampling = {name: values[name] for name in SAMPLING_FIELDS if changed(name, SAMPLING)}
        override = values["template_override"]
        return load, sampling, (override if override != self._shown["template_override"] else KEEP)

    def result_settings(self, stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """`stored` (by default, the settings as they were when the dialog opened; pass the settings as
        stored now) with this dialog's changes applied, as the library stores them."""
        load, sampling, override = self.changes()
        base = self._stored if stored is None else stored
        return stored_with_changes(base, load=load, sampling=sampling, template_override=override)

    def chosen_settings(self, stored: Mapping[str, Any] | None = None) -> ModelSettings:
        """`result_settings` read back, typed."""
        return ModelSettings.from_stored(self.result_settings(stored))

    def _save(self) -> None:
        override = self._override()
        if override and self.template.currentData() == "custom":
            try:
                validate_template(override)
            except HearthError as exc:
                self._show_error(str(exc))
                return
        try:
            self.chosen_settings()
        except SettingsError as exc:  # the widgets' ranges make this rare; say it, keep the dialog open
            self._show_error(f"{exc.message} {exc.hint}".strip())
            return
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    # -- look --------------------------------------------------------------------------------------

    def themed_stylesheet(self, c: Colors) -> str:
        return panel_stylesheet(c)


def _double(value: float, bounds: limits.FloatRange, step: float) -> DoubleSpin:
    box = double_spin(bounds.lo, bounds.hi, step)
    box.setValue(float(value))
    return box


def _section_or_default(settings_type: type[S], stored: Mapping[str, Any], key: str, damaged: set[str]) -> S:
    try:
        return parse_section(settings_type, stored.get(key), section=key)
    except SettingsError:
        damaged.add(key)
        return settings_type()


def _gpu_note() -> str:
    """Which GPU backend this llama.cpp build has (importing llama_cpp, which the dialog can afford)."""
    from desktop_app.core.system import gpu_support

    return gpu_support().describe()
