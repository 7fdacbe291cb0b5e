"""SQLite response cache: a re-run of the same prompts costs nothing.

Keys are hashes of (model identity, prompt version, rendered messages, sampling parameters, sample
index). Values are the validated output and the raw text. Only successful, schema-valid answers are
stored, so a failure is always retried on the next run. Secrets never enter a key or a value: the
model identity holds the endpoint and model name, not the API key.

Example:
    >>> c = ResponseCache(":memory:")
    >>> c.put("k", {"label": 1}, raw='{"label": 1}', agent="judge")
    >>> c.get("k")["output"]
    {'label': 1}
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


def cache_key(payload: Any) -> str:
    """Stable hash of a JSON-serialisable payload."""
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A thread-safe key/value store of model answers in one SQLite file (WAL mode).

    Args:
        path: File path, or ``":memory:"``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        # Opened on the first lookup, not here: a command that fails before its first model call
        # (bad input, a taken port) must leave no ``.cache/`` folder behind in the working directory.
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self.hits = 0
        self.misses = 0

    @property
    def opened(self) -> bool:
        """Whether the database file has been opened (created) yet.

        Example:
            >>> ResponseCache(":memory:").opened
            False
        """
        return self._db is not None

    def _conn(self) -> sqlite3.Connection:
        """The connection, opening (and creating) the file on first use; call with the lock held."""
        if self._db is None:
            if self._closed:
                raise RuntimeError(f"response cache {self.path} is closed")
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a power cut may lose the last answers, never corrupt the file; they are re-asked.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, agent TEXT, created REAL,"
                " output TEXT NOT NULL, raw TEXT, usage TEXT)")
            self._db = db
        return self._db

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry (``output``, ``raw``, ``usage``) or ``None``."""
        with self._lock:
            row = self._conn().execute("SELECT output, raw, usage FROM responses WHERE key=?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return {"output": json.loads(row[0]), "raw": row[1], "usage": json.loads(row[2] or "{}")}

    def put(self, key: str, output: Any, *, raw: str | None, agent: str,
            usage: dict[str, Any] | None = None) -> None:
        """Store a validated answer."""
        with self._lock:
            self._conn().execute(
                "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?)",
                (key, agent, time.time(), json.dumps(output, ensure_ascii=False), raw,
                 json.dumps(usage or {})))

    def __len__(self) -> int:
        with self._lock:
            if self._db is None and (self.path == ":memory:" or not Path(self.path).exists()):
                return 0  # nothing stored yet: counting must not create the file
            return int(self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database (idempotent; a cache never opened creates no file)."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None
