"""Exceptions with enough context to fix the input: file, line and field."""

from __future__ import annotations


class InkforgeError(Exception):
    """Base class of inkforge's own errors."""


class InputError(InkforgeError, ValueError):
    """Bad user input (config, dataset, CLI value), located by file, line and field.

    Example:
        >>> print(InputError("missing field", file="q.jsonl", line=3, field="query"))
        q.jsonl:3: field 'query': missing field
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}{what}{message}")


class ConfigError(InputError):
    """Invalid configuration file or override."""


class FailFastError(InkforgeError, RuntimeError):
    """Too many model failures in a batch: stop rather than train or report on garbage."""
