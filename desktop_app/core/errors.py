"""Typed errors that carry a message a user can act on.

Every failure the user can cause or fix (a bad file, a full disk, a malformed setting) is raised as a
`HearthError` subclass. The UI shows `message` and `hint`; `details` (a traceback, an OS error) goes
into a collapsed "details" box and the log. Anything that is *not* a HearthError is a bug.
"""

from __future__ import annotations


class HearthError(Exception):
    """Base class. `message` says what happened; `hint` says what to do next."""

    title = "Something went wrong"
    #: process exit code the CLI uses for this kind of error
    exit_code = 1

    def __init__(self, message: str, *, hint: str = "", details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ModelFileError(HearthError):
    """The file is not a usable GGUF model (corrupt, truncated, wrong format)."""

    title = "This model file cannot be used"
    exit_code = 3


class UnsupportedModelError(ModelFileError):
    """A well-formed GGUF whose architecture this build of llama.cpp cannot run."""

    title = "This model is not supported"


class ModelLoadError(HearthError):
    """llama.cpp refused to load a file that passed validation."""

    title = "The model could not be loaded"
    exit_code = 4


class LoadCancelledError(HearthError):
    """The user stopped a model load midway (nothing is loaded afterwards)."""

    title = "Loading cancelled"
    exit_code = 4


class InsufficientMemoryError(ModelLoadError):
    """The model, its context or its KV cache does not fit in the memory available."""

    title = "Not enough memory for this model"


class TemplateError(HearthError):
    """A chat template is broken, unsafe or too slow to render."""

    title = "The chat template failed"
    exit_code = 5


class GenerationError(HearthError):
    """Generation failed after the model loaded."""

    title = "Generation failed"
    exit_code = 6


class SettingsError(HearthError):
    """A setting or config file is malformed; the app keeps running on defaults."""

    title = "A setting is invalid"
    exit_code = 2


class StorageError(HearthError):
    """Reading or writing the user's data failed (permissions, full disk, corrupt database)."""

    title = "Your data could not be saved"
    exit_code = 7


class DiskFullError(StorageError):
    title = "The disk is full"


class NetworkError(HearthError):
    """The network was needed (search, download) and failed or is switched off."""

    title = "Network problem"
    exit_code = 8


class OfflineError(NetworkError):
    """Offline mode is on, or the network cannot be reached."""

    title = "You are offline"


class AuthRequiredError(NetworkError):
    """401/403: a gated or private repository needs a token (and accepted terms)."""

    title = "Access to this model is restricted"


class RemoteNotFoundError(NetworkError):
    """404: the repository, revision or file does not exist."""

    title = "Not found on the Hugging Face Hub"


class IntegrityError(HearthError):
    """A downloaded file's sha256 does not match what the Hub published."""

    title = "The download is corrupted"
    exit_code = 9
