"""A model's GGUF header read from the Hub with Range requests, so the Discover page can say what a
file is and whether it fits before anything is downloaded."""

from __future__ import annotations

from typing import Final

from huggingface_hub import hf_hub_url

from desktop_app.core.errors import ModelFileError, UnsupportedModelError
from desktop_app.core.gguf_info import IncompleteHeaderError, ModelSummary, inspect_gguf_header
from desktop_app.core.hub.client import auth_for, hub_endpoint, read_range
from desktop_app.core.hub.errors import hub_errors
from desktop_app.core.network import ensure_online
from desktop_app.core.units import human_size

__all__ = ["INITIAL_READ", "read_remote_header"]

#: first ranged read of a remote header; doubled until the metadata and tensor list parse
INITIAL_READ: Final = 2 << 20


def read_remote_header(
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    token: str | None = None,
    max_bytes: int = 32 << 20,
) -> ModelSummary:
    """Summarize a remote GGUF from its first bytes, fetched with Range requests.

    Starts with 2 MiB and reads further (at least doubling) until the metadata and tensor list
    parse with our bounded parser, up to `max_bytes`. Raises ModelFileError when the file on the Hub
    is damaged or its header is bigger than `max_bytes`, UnsupportedModelError when it will not run.
    """
    ensure_online(f"read the header of {filename} from the Hub")
    auth = auth_for(token)
    with hub_errors(repo_id, auth=auth, filename=filename, revision=revision):
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=hub_endpoint())
    data = b""
    total: int | None = None
    want = min(INITIAL_READ, max_bytes)
    while True:
        with hub_errors(repo_id, auth=auth, filename=filename, revision=revision):
            chunk, total = read_range(url, len(data), want, auth)
        data += chunk
        try:
            return inspect_gguf_header(data, name=filename, total_size=total)
        except IncompleteHeaderError as exc:
            if exc.needed > max_bytes or len(data) >= max_bytes or not chunk:
                raise ModelFileError(
                    f"The header of {filename} is larger than the {human_size(max_bytes, binary=True)} "
                    "Hearth reads ahead of a download.",
                    hint="Download the file to see its details.",
                ) from exc
            want = min(max(want * 2, exc.needed + (64 << 10)), max_bytes)
        except UnsupportedModelError:
            raise
        except ModelFileError as exc:
            raise type(exc)(
                f"{filename} on the Hub is not a usable model: {exc.message}",
                hint="Pick another file or another repository.",
                details=exc.details,
            ) from exc
