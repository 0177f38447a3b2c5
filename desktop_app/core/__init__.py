"""Hearth's core: plain Python, no Qt. The GUI, the CLI and the tests all drive it directly."""
