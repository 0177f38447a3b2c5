"""Hearth: private, offline LLM chat on your own machine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hearth-desktop")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
