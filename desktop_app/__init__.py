"""Hearth: private, offline LLM chat on your own machine."""

#: the one place the version is written; pyproject.toml reads it from here (hatch's version source)
__version__ = "0.1.0"
