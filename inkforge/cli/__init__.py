"""The ``inkforge`` command line: the typer app and all terminal display."""

from inkforge.cli.app import app

__all__ = ["app"]
