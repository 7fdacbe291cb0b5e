"""Line-by-line readers of user files whose errors name the file and the line.

Every command that reads a ``.txt`` or ``.jsonl`` file goes through these, so a non-UTF-8 byte, a line
of bad JSON or a line that is not an object is always reported the same way, before any output.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> _ = p.write_text('{"query": "生日"}\\n\\n{"query": "新年"}\\n', encoding="utf-8")
    >>> [(n, row["query"]) for n, row in iter_json_objects(p)]
    [(1, '生日'), (3, '新年')]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inkforge.errors import InputError


def iter_lines(path: str | os.PathLike[str], *, error: type[InputError] = InputError,
               what: str = "file") -> Iterator[tuple[int, str]]:
    """Yield ``(line number, stripped text)`` of the non-blank lines, streaming.

    Lines are decoded one at a time, so a non-UTF-8 byte is reported with its line and column.

    Raises:
        InputError: (or ``error``) missing file, not a file, or a line that is not UTF-8.
    """
    p = Path(path)
    if not p.exists():
        raise error(f"{what} not found", file=str(p))
    if not p.is_file():
        raise error("not a file", file=str(p))
    with p.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); re-save the "
                            "file as UTF-8", file=str(p), line=n) from None
            text = (text.lstrip("\ufeff") if n == 1 else text).strip()
            if text:
                yield n, text


def parse_json_object(text: str, *, file: str, line: int, error: type[InputError] = InputError) -> dict[str, Any]:
    """One JSONL line as a dict.

    Raises:
        InputError: (or ``error``) invalid JSON or not an object, with file and line.
    """
    try:
        row = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"invalid JSON ({e.msg} at column {e.colno})", file=file, line=line) from None
    if not isinstance(row, dict):
        raise error(f"expected a JSON object, got {type(row).__name__}", file=file, line=line)
    return row


def iter_json_objects(path: str | os.PathLike[str], *, error: type[InputError] = InputError,
                      what: str = "file") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSONL file, streaming."""
    for n, text in iter_lines(path, error=error, what=what):
        yield n, parse_json_object(text, file=str(path), line=n, error=error)
