"""What Hub file names mean and which of them may become local paths: the quantization label in a
name, and `check_local_name`, the one gate every Hub name passes before it becomes a path on disk
(names from the Hub, or typed by the user, are untrusted).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Final

from desktop_app.core.errors import RemoteNotFoundError

__all__ = ["UnsafeNameError", "check_local_name", "parse_quant"]

_QUANT: Final = re.compile(
    r"""
    (?:^|(?<=[-._/\s]))
    (?P<ud>UD[-_])?
    (?P<q>
        [IT]?Q[1-8]_(?:K(?:_(?:XXS|XS|S|M|L|XL))?|[0-9](?:_[0-9]_[0-9])?|XXS|XS|S|M|L|NL)
      | MXFP4(?:_MOE)?
      | BF16 | FP16 | FP32 | F16 | F32
    )
    (?=$|[-._\s])
    """,
    re.IGNORECASE | re.VERBOSE,
)


def parse_quant(filename: str) -> str | None:
    """The quantization label in a GGUF file name ("Q4_K_M"), upper-cased; None if there is none.

    Unsloth's dynamic quants keep their "UD-" prefix ("UD-Q4_K_XL"): the same repo often ships both
    UD-IQ2_XXS and IQ2_XXS, and they are different files. The file name is tried before its folder
    (big splits live in folders named after the quant); the last match in a name wins, since the
    label comes after the model name.
    """
    path = PurePosixPath(filename)
    for part in (path.name, *reversed(path.parent.parts)):
        name = re.sub(r"(?i)(-\d{5}-of-\d{5})?\.gguf$", "", part)
        matches = list(_QUANT.finditer(name))
        if matches:
            last = matches[-1]
            label = last.group("q").upper().replace("FP16", "F16").replace("FP32", "F32")
            return f"UD-{label}" if last.group("ud") else label
    return None


class UnsafeNameError(RemoteNotFoundError):
    """A Hub file or repo name that cannot become a file name on every OS (see `check_local_name`)."""

    title = "This name cannot be used as a file name"


# Windows opens the device, not a file, for these names, with any extension ("nul.gguf") and with
# trailing dots or spaces ("CON ."); the superscript digits count too.
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"}
)
_WINDOWS_FORBIDDEN: Final = frozenset('<>:"|?*\\') | {chr(c) for c in range(32)}
_DRIVE: Final = re.compile(r"[A-Za-z]:")
_NAME_HINT: Final = (
    "Hearth refuses such names on every system, so that a models folder works on Windows, macOS and"
    " Linux alike. Pick another file, or download it another way and import it."
)


def check_local_name(name: str, *, what: str = "file") -> tuple[str, ...]:
    """The path parts a Hub file name (or one the user typed) takes under a repo's folder.

    Every path that turns a Hub name into a local path goes through here. The same models folder
    (and the same Hub names) travel between OSes, so what Windows would misread is refused
    everywhere: a drive ("D:/x", "C:x"), an absolute path, "..", a backslash, characters Windows
    forbids, a device name ("CON", "nul.gguf", "COM1 .") and a part ending in a dot or a space
    (Windows drops those, so the name would point at another file). Raises UnsafeNameError.
    """

    def refuse(why: str) -> UnsafeNameError:
        shown = name if len(name) <= 200 else name[:200] + "…"
        return UnsafeNameError(
            f"Hearth will not save the {what} {shown!r}: {why}.", hint=_NAME_HINT, details=repr(name)
        )

    if not name:
        raise refuse("the name is empty")
    if "\\" in name:
        raise refuse("it contains a backslash, which Windows reads as a folder separator")
    if name.startswith("/"):
        raise refuse("it is an absolute path, outside the models folder")
    if _DRIVE.match(name):
        raise refuse(f"it names a drive ({name[:2]}), outside the models folder")
    parts = tuple(name.split("/"))
    for part in parts:
        if part in ("", "."):
            raise refuse("it has an empty or '.' folder name")
        if part == "..":
            raise refuse("'..' would take it out of the models folder")
        bad = next((c for c in part if c in _WINDOWS_FORBIDDEN), None)
        if bad is not None:
            raise refuse(f"it contains {bad!r}, which Windows does not allow in file names")
        if part[-1] in ". ":
            raise refuse(f"{part!r} ends with a dot or a space, which Windows drops")
        device = part.split(".", 1)[0].rstrip(" ").upper()
        if device in _WINDOWS_DEVICES:
            raise refuse(f"{part!r} is {device}, a device name Windows reserves")
    return parts
