"""Verified, resumable model downloads from the Hugging Face Hub, queued in SQLite.

Our users' most common complaints are downloads that restart from zero and corrupt files nobody
noticed. So the bytes go to a partial file that survives restarts (`partial`), a resume re-hashes the
bytes already on disk and asks only for the rest (`transfer`), and a file enters the models folder
only after its size and sha256 match what the Hub published. `manager` runs the queue (`queue`).
This module only re-exports the public names of the modules beside it.
"""

from desktop_app.core.downloads.errors import (
    AlreadyDownloadedError,
    DownloadBusyError,
    DownloadExistsError,
    DownloadInterruptedError,
    UnknownDownloadError,
)
from desktop_app.core.downloads.manager import DownloadManager
from desktop_app.core.downloads.partial import safe_repo_dir
from desktop_app.core.downloads.records import CompletedDownload, DownloadInfo, Progress
from desktop_app.core.downloads.retry import RetryPolicy

__all__ = [
    "AlreadyDownloadedError",
    "CompletedDownload",
    "DownloadBusyError",
    "DownloadExistsError",
    "DownloadInfo",
    "DownloadInterruptedError",
    "DownloadManager",
    "Progress",
    "RetryPolicy",
    "UnknownDownloadError",
    "safe_repo_dir",
]
