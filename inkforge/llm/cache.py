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
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a power cut may lose the last answers, never corrupt the file; they are re-asked.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, agent TEXT, created REAL,"
            " output TEXT NOT NULL, raw TEXT, usage TEXT)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry (``output``, ``raw``, ``usage``) or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT output, raw, usage FROM responses WHERE key=?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return {"output": json.loads(row[0]), "raw": row[1], "usage": json.loads(row[2] or "{}")}

    def put(self, key: str, output: Any, *, raw: str | None, agent: str,
            usage: dict[str, Any] | None = None) -> None:
        """Store a validated answer."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?)",
                (key, agent, time.time(), json.dumps(output, ensure_ascii=False), raw,
                 json.dumps(usage or {})))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
