"""How Hearth talks to the Hub: which endpoint and token, the library's API object, ranged reads.

- The library reads `HF_ENDPOINT` once, at import; `hub_endpoint()` reads it at each call and every
  call passes it, so a test server (or a mirror set in the environment later) is honoured.
- A missing token is sent as `token=False`: otherwise the library falls back to the user's
  `hf auth login` token and may even refresh an OAuth token over the network. Hearth uses only the
  token the user gave Hearth.
"""

from __future__ import annotations

import os
import re
from typing import Final, Literal

import httpx2
from huggingface_hub import HfApi, get_session, hf_raise_for_status
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # documented, lazily exported

from desktop_app import __version__
from desktop_app.core.paths import app_paths
from desktop_app.core.settings import read_token

__all__ = ["DEFAULT_ENDPOINT", "TIMEOUT", "Token", "api", "auth_for", "hub_endpoint", "read_range"]

DEFAULT_ENDPOINT: Final = "https://huggingface.co"
#: seconds to wait for the Hub on calls that accept a timeout (HfApi's list calls do not)
TIMEOUT: Final = 30.0

Token = str | Literal[False]


def hub_endpoint() -> str:
    """The Hub to talk to, read at call time (the library freezes HF_ENDPOINT at import)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def api() -> HfApi:
    return HfApi(endpoint=hub_endpoint(), library_name="hearth", library_version=__version__)


def auth_for(token: str | None) -> Token:
    """The token the user gave Hearth, or False: never the library's own login or OAuth refresh."""
    if token is None:
        token = read_token(app_paths())
    return token or False


def _headers(auth: Token) -> dict[str, str]:
    return build_hf_headers(token=auth, library_name="hearth", library_version=__version__)


def read_range(url: str, start: int, end: int, auth: Token) -> tuple[bytes, int | None]:
    """Bytes [start, end) and the file's total size; stops reading if the server ignores Range."""
    headers = _headers(auth) | {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
    with get_session().stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
        if response.status_code == 416:  # nothing at `start`: the file is shorter (or empty)
            return b"", _total_size(response)
        hf_raise_for_status(response)
        total = _total_size(response)
        skip = start if response.status_code == 200 else 0  # whole-file answer: drop what we have
        out = bytearray()
        for block in response.iter_bytes():
            out += block
            if len(out) >= skip + (end - start):
                break
    return bytes(out[skip : skip + end - start]), total


# Header text from the network: ASCII digits only ("²".isdigit() is True), at most 19 of them.
_CONTENT_RANGE_TOTAL: Final = re.compile(r"bytes (?:\d{1,19}-\d{1,19}|\*)/(\d{1,19})", re.ASCII)
_DIGITS: Final = re.compile(r"\d{1,19}", re.ASCII)


def _total_size(response: httpx2.Response) -> int | None:
    """The file's size from Content-Range (or Content-Length of a whole-file answer); None if unsaid."""
    content_range = _CONTENT_RANGE_TOTAL.fullmatch(response.headers.get("Content-Range", "").strip())
    if content_range is not None:
        return int(content_range[1])
    length = response.headers.get("Content-Length", "").strip()
    if response.status_code == 200 and _DIGITS.fullmatch(length):
        return int(length)
    return None
