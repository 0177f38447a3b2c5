"""Which model a command means: a .gguf path, or an id from `hearth models list` (with its saved
settings). `hearth serve`, `hearth chat` and `hearth bench` all take either, the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.errors import ModelFileError, SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.library import Library, LibraryModel, UnknownModelError
from desktop_app.core.model_settings import ModelSettings


@dataclass(frozen=True)
class ChosenModel:
    """A model to load: its file, and for a library model its entry and saved settings."""

    path: Path
    entry: LibraryModel | None = None  # None: a path that is not in the library
    load: LoadSettings | None = None  # saved load settings (None: the defaults)
    sampling: SamplingSettings | None = None  # saved sampling settings (None: the defaults)
    template_override: str | None = None

    @property
    def library_id(self) -> str | None:
        return self.entry.id if self.entry is not None else None


def is_path(spec: str) -> bool:
    """A spec ending in .gguf, or naming an existing file, is a path; anything else is a library id."""
    return Path(spec).suffix.lower() == ".gguf" or Path(spec).is_file()


def choose_model(spec: str | None, library: Library | None = None, *, touch: bool = True) -> ChosenModel:
    """The model `spec` names: a path as is (with its library entry when it has one, but not its
    settings: a path means that file, as given), or a library id with its saved settings. None picks the
    library's most recently used model. `touch` marks a library model as used now (the default `serve`
    picks). Raises UnknownModelError (an id not in the library), ModelFileError (an unusable file in
    the models folder), SettingsError (no model at all, or malformed saved settings)."""
    if spec is not None and is_path(spec):
        path = Path(spec).expanduser()
        known = library.find_by_path(path) if library is not None and path.exists() else None
        if library is not None and known is not None and touch:
            library.touch(known.id)
        return ChosenModel(path, known)
    if library is None:
        from desktop_app.core.services import AppServices

        library = AppServices.open().library
    library.scan()
    if spec is None:
        candidates = [m for m in library.list() if not m.missing]
        if not candidates:
            raise SettingsError(
                "There is no model to use.",
                hint="Pass --model PATH, or add a model with `hearth models import PATH` or `hearth pull`.",
            )
        model = max(candidates, key=lambda m: (m.last_used_at or 0.0, m.added_at))
    else:
        try:
            model = library.get(spec)
        except UnknownModelError as exc:
            raise UnknownModelError(
                f"There is no model '{spec}' in the library, and no such .gguf file.",
                hint="`hearth models list` shows the ids of your models; or give the path of a .gguf file.",
            ) from exc
        if model.error is not None:  # a bad file in the models folder: say why now, not after a load
            raise ModelFileError(
                f"The model '{model.id}' cannot be used: {model.error}",
                hint="Run `hearth models info PATH` on the file for details, or pick another model.",
            )
    saved = ModelSettings.from_stored(model.settings)  # SettingsError when malformed, before the touch
    if touch:
        library.touch(model.id)
    return ChosenModel(model.path, model, saved.load, saved.sampling, saved.template_override)


def load_settings_with(saved: LoadSettings | None, ctx: int | None, threads: int | None) -> LoadSettings:
    """Saved load settings (or the defaults) with the command line's --ctx and --threads over them."""
    data = saved.to_dict() if saved is not None else {}
    if ctx is not None:
        data["n_ctx"] = ctx
    if threads is not None:
        data["n_threads"] = threads
    return LoadSettings.from_dict(data)
