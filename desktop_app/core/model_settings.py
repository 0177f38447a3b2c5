"""A library model's saved settings, typed: read once here instead of by every caller.

The library stores them as one JSON object per model (`LibraryModel.settings`):

    {"load": {...LoadSettings fields}, "sampling": {...SamplingSettings fields},
     "template_override": "chatml" | "<custom Jinja>" | null, ...}

Every key is optional, and a section may name only some fields (the rest are the defaults). Keys this
version does not know at the top level are kept untouched, so a newer Hearth's settings survive a
round trip through an older one; unknown keys *inside* a section are refused, as they always were.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar

from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings

S = TypeVar("S", LoadSettings, SamplingSettings)

LOAD: Final = "load"
SAMPLING: Final = "sampling"
TEMPLATE_OVERRIDE: Final = "template_override"


@dataclass(frozen=True)
class ModelSettings:
    """What a model loads and samples with, and its chat-template override (a built-in family key or
    a custom Jinja template; None: the file's own template or the automatic choice).

    `stored` is the dict this was read from. `to_stored()` starts from it, so what was not changed
    is written back exactly as it was read (partial sections and unknown keys included)."""

    load: LoadSettings = field(default_factory=LoadSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    template_override: str | None = None
    stored: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_stored(cls, stored: object) -> ModelSettings:
        """Parse a stored settings dict. SettingsError (with the messages LoadSettings and
        SamplingSettings give) when a section is malformed; a missing or null section is the defaults."""
        if not isinstance(stored, Mapping):
            raise SettingsError(
                f"Invalid settings: expected an object, not {type(stored).__name__}.",
                hint="Reset the settings to defaults.",
            )
        return cls(
            load=parse_section(LoadSettings, stored.get(LOAD), section=LOAD),
            sampling=parse_section(SamplingSettings, stored.get(SAMPLING), section=SAMPLING),
            template_override=template_override_of(stored),
            stored=copy.deepcopy(dict(stored)),
        )

    def to_stored(self) -> dict[str, Any]:
        """The dict to save: `stored`, with each changed part written in full (as the app always did)."""
        out = copy.deepcopy(dict(self.stored))
        before = ModelSettings.from_stored(self.stored)
        if self.load != before.load:
            out[LOAD] = self.load.to_dict()
        if self.sampling != before.sampling:
            out[SAMPLING] = self.sampling.to_dict()
        if self.template_override != before.template_override:
            out[TEMPLATE_OVERRIDE] = self.template_override
        return out


def parse_section(settings_type: type[S], data: object, *, section: str) -> S:
    """One section (`load` or `sampling`) of stored settings; None means "all defaults"."""
    if data is None:
        return settings_type()
    if not isinstance(data, Mapping):
        raise SettingsError(
            f"Invalid settings: '{section}' must be an object, not {type(data).__name__}.",
            hint="Reset the settings to defaults.",
        )
    return settings_type.from_dict(dict(data))


def template_override_of(stored: Mapping[str, Any]) -> str | None:
    """The stored template override; anything but text means none, as the loader always treated it."""
    value = stored.get(TEMPLATE_OVERRIDE)
    return value if isinstance(value, str) else None


def stored_with(
    stored: Mapping[str, Any], *, load: LoadSettings | None = None, sampling: SamplingSettings | None = None
) -> dict[str, Any]:
    """`stored` with one section replaced, without reading the others: saving good sampling settings
    must work even when the stored load settings are damaged (and it mends a damaged section)."""
    out = copy.deepcopy(dict(stored))
    if load is not None:
        out[LOAD] = load.to_dict()
    if sampling is not None:
        out[SAMPLING] = sampling.to_dict()
    return out


#: `stored_with_changes`'s default for the template override: leave it as stored
KEEP: Final = object()


def stored_with_changes(
    stored: Mapping[str, Any],
    *,
    load: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
    template_override: object = KEEP,
) -> dict[str, Any]:
    """`stored` with only the named fields changed: what an editor that shows some of the settings
    saves, so the settings it does not show (and every other editor's changes) survive. A section
    left unchanged is written back exactly as it was; a damaged section that gets a change is mended
    (its other fields become the defaults). SettingsError when a change is invalid."""
    out = copy.deepcopy(dict(stored))
    if load:
        out[LOAD] = _changed(LoadSettings, out.get(LOAD), LOAD, load)
    if sampling:
        out[SAMPLING] = _changed(SamplingSettings, out.get(SAMPLING), SAMPLING, sampling)
    if template_override is not KEEP:
        if template_override is not None and not isinstance(template_override, str):
            raise SettingsError("A template override must be text.", hint="Pick a template from the list.")
        out[TEMPLATE_OVERRIDE] = template_override
    return out


def _changed(
    settings_type: type[S], data: object, section: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        current = parse_section(settings_type, data, section=section)
    except SettingsError:  # damaged: mended from the defaults
        current = settings_type()
    return replace(current, **dict(changes)).to_dict()
