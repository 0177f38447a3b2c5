"""Find GGUF models on the Hugging Face Hub: search, the quantizations a repo offers, its card, and
a model's header read with Range requests before anything is downloaded.

Only huggingface_hub's own calls and session are used, so proxies, user agent and its error types
behave as the library intends. Every function calls `ensure_online` first (offline mode means no
socket, not a failed request), and every library error becomes a HearthError (`errors`).
This module only re-exports the public names of the modules beside it.
"""

from desktop_app.core.hub.card_text import first_paragraph
from desktop_app.core.hub.cards import CardSummary, card_summary
from desktop_app.core.hub.client import hub_endpoint
from desktop_app.core.hub.errors import HubUnreachableError, ResponseTooLargeError, gated_error
from desktop_app.core.hub.names import UnsafeNameError, check_local_name, parse_quant
from desktop_app.core.hub.remote_header import read_remote_header
from desktop_app.core.hub.repo_files import ModelOption, RepoFile, list_model_options
from desktop_app.core.hub.search import RepoSummary, SortKey, search_models
from desktop_app.core.hub.transport import use_fail_fast_client

__all__ = [
    "CardSummary",
    "HubUnreachableError",
    "ModelOption",
    "RepoFile",
    "RepoSummary",
    "ResponseTooLargeError",
    "SortKey",
    "UnsafeNameError",
    "card_summary",
    "check_local_name",
    "first_paragraph",
    "gated_error",
    "hub_endpoint",
    "list_model_options",
    "parse_quant",
    "read_remote_header",
    "search_models",
    "use_fail_fast_client",
]
