"""Widgets and Qt models. Only the GUI thread touches these."""
