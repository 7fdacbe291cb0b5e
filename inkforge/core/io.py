"""File I/O with located errors and crash-safe writes: the one home of reading and writing files.

* **Readers** (:func:`iter_lines`, :func:`iter_json_objects`, :func:`read_jsonl`): every command that
  reads a ``.txt`` or ``.jsonl`` file goes through these, so a BOM is dropped and a non-UTF-8 byte, a
  line of bad JSON or a line that is not an object is always reported the same way, before any output.
* **Writers**: :func:`atomic_write` (temp file in the same folder, then rename: a crash never leaves
  half a file) for files rewritten whole, :class:`JsonlWriter` (append-only, flushed per write) for
  outputs that grow item by item.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> _ = p.write_text('{"query": "生日"}\\n\\n{"query": "新年"}\\n', encoding="utf-8")
    >>> [(n, row["query"]) for n, row in iter_json_objects(p)]
    [(1, '生日'), (3, '新年')]
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError


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
                raise error(f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at byte {e.start + 1} of the line); re-save the "
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


def dumps(record: Mapping[str, Any]) -> str:
    """One JSONL line (no trailing newline); non-ASCII kept readable."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


class JsonlWriter:
    """Append-only JSONL file: every :meth:`write` is flushed, and its byte size is known.

    Byte offsets are what make a resumed run exact: the runner records each file's size when an item is
    committed and, on resume, truncates anything written after the last commit (lines of items that
    did not finish), so no line is ever duplicated or half-written.

    Example:
        >>> import tempfile, pathlib
        >>> w = JsonlWriter(pathlib.Path(tempfile.mkdtemp()) / "x.jsonl")
        >>> w.write([{"a": 1}, {"b": "二"}])
        >>> w.size > 0
        True
        >>> w.close()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("ab")
        self.size = self._f.tell()
        self.lines = 0

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records, one line each, and flush."""
        blob = "".join(dumps(r) + "\n" for r in records).encode("utf-8")
        if not blob:
            return
        self._f.write(blob)
        self._f.flush()
        self.size += len(blob)
        self.lines += blob.count(b"\n")

    def truncate(self, size: int) -> None:
        """Cut the file back to ``size`` bytes (what the last committed item left)."""
        self._f.flush()
        self._f.truncate(size)
        self._f.seek(size)
        self.size = size

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream the objects of a JSONL file (blank lines skipped): :func:`iter_json_objects` without line numbers.

    Raises:
        InputError: Missing file, a line that is not UTF-8, not JSON or not an object (file and line named).
    """
    for _, row in iter_json_objects(path):
        yield row


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``data`` atomically: readers see the old file or the new one, never half.

    The temporary file lives in the same folder (a rename across file systems is not atomic) and has a
    unique name, so concurrent writers never clobber each other's temporary file. Missing parent
    folders are created.

    Raises:
        InputError: The folder cannot be created or written (read-only, or a file is in the way).

    Example:
        >>> import tempfile, pathlib
        >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a" / "summary.json", "{}")
        >>> p.read_text()
        '{}'
    """
    import tempfile

    p = Path(path)
    blob = data.encode(encoding) if isinstance(data, str) else data
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as e:
        raise InputError(f"cannot write here ({e.strerror or e})", file=str(p)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> Path:
    """:func:`atomic_write` of a JSON document (non-ASCII kept readable)."""
    return atomic_write(path, json.dumps(value, ensure_ascii=False, indent=indent, default=str) + "\n")
