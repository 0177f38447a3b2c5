"""Subcommands of `hearth`. Each module has `register(subparsers)`; none imports Qt."""
