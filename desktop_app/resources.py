"""Locating bundled resources, whether run from a checkout, an installed wheel or a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    candidates = [Path(__file__).resolve().parent / "resources"]
    if bundle:
        candidates.insert(0, Path(bundle) / "desktop_app" / "resources")
    candidates.append(Path(__file__).resolve().parent.parent / "resources")  # editable / source tree
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


def icon_path(name: str = "hearth") -> Path:
    folder = resources_dir() / "icons"
    png = folder / f"{name}-256.png"
    return png if png.exists() else folder / f"{name}.svg"
