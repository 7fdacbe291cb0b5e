"""A graph run's bookkeeping on disk: fingerprint, finished and pending items, output spans, spend.

One SQLite file, ``OUT/.inkforge/run.sqlite``, next to the LangGraph checkpoints. It says which items
are finished (``done``: ``ok``, ``failed`` with permanent failures, or ``error`` when their graph
raised), which ones are *pending* (their last try failed on a transient error: they run again on
``resume``), where each finished item's lines lie in every output file (so ``--retry-failed`` can cut
them out exactly), and what the run spent (``spend``: the per-agent usage since the previous save,
written with each finished or pending item, so a killed run keeps its accounting; with items in
parallel a row's spend is the run's since the last save, not that item's alone: the sums are exact).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from inkforge.graphs.items import QueryItem
    >>> state = RunState(Path(tempfile.mkdtemp()) / "run.sqlite")
    >>> run = state.start_run()
    >>> state.commit(QueryItem(key="k1", id="q1", query="q"), "ok", run, {"results": 12}, {"results": (0, 12)})
    >>> state.done_run("k1"), state.file_sizes(), state.counts()
    (1, {'results': 12}, {'ok': 1})
    >>> state.close()
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from inkforge.core.errors import InputError
from inkforge.core.io import atomic_write_json
from inkforge.core.types import DATA_STATUSES, failure_kind, is_transient
from inkforge.graphs.items import QueryItem
from inkforge.llm.usage import add_usage, usage_totals

STATE_DIR = ".inkforge"

#: What became of an item: finished (``ok``), finished with permanent failures (``failed``), or not
#: finished because a failure may pass on its own (``pending``: run again on resume).
Outcome = Literal["ok", "failed", "pending"]

#: Done statuses that ``--retry-failed`` runs again.
RETRYABLE_STATUSES = ("failed", "error")


class RunState:
    """The run's bookkeeping database (see the module docstring).

    Plain :mod:`sqlite3` in WAL mode with ``synchronous=NORMAL``, used from the event loop thread
    only: a commit is one small transaction per item, cheap enough not to need a thread.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a power cut can lose the last commits (those items are redone), never corrupt.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
            "CREATE TABLE IF NOT EXISTS done (key TEXT PRIMARY KEY, item_id TEXT, status TEXT, run INTEGER,"
            " finished REAL);"
            "CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, size INTEGER);"
            "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started REAL, wall_s REAL,"
            " processed INTEGER, interrupted INTEGER, usage TEXT);"
            "CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, item_id TEXT, reason TEXT, run INTEGER);"
            "CREATE TABLE IF NOT EXISTS spend (id INTEGER PRIMARY KEY, run INTEGER, key TEXT, agents TEXT);")
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(done)")}
        if "spans" not in cols:  # runs saved before spans were recorded
            self.db.execute("ALTER TABLE done ADD COLUMN spans TEXT")

    # ----------------------------------------------------------------------------------------- meta
    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    # ----------------------------------------------------------------------------------------- runs
    def start_run(self) -> int:
        cur = self.db.execute("INSERT INTO runs (started, wall_s, processed, interrupted, usage) "
                              "VALUES (?, 0, 0, 0, '{}')", (time.time(),))
        return int(cur.lastrowid or 0)

    def end_run(self, run: int, *, wall_s: float, processed: int, interrupted: bool, usage: dict[str, Any]) -> None:
        self.db.execute("UPDATE runs SET wall_s=?, processed=?, interrupted=?, usage=? WHERE id=?",
                        (wall_s, processed, int(interrupted), json.dumps(usage), run))

    def runs(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, wall_s, processed, interrupted, usage FROM runs ORDER BY id").fetchall()
        return [{"run": r[0], "wall_s": r[1], "processed": r[2], "interrupted": bool(r[3]),
                 "usage": json.loads(r[4] or "{}")} for r in rows]

    # ---------------------------------------------------------------------------------------- items
    def done_run(self, key: str) -> int | None:
        """The run that finished ``key``, or ``None``."""
        row = self.db.execute("SELECT run FROM done WHERE key=?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def file_sizes(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT name, size FROM files").fetchall())

    def commit(self, item: QueryItem, status: str, run: int, sizes: Mapping[str, int],
               spans: Mapping[str, tuple[int, int]] | None = None, spend: Mapping[str, Any] | None = None) -> None:
        """Mark an item finished, with the output sizes it left, its lines' spans and its spend (one transaction)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT OR REPLACE INTO done (key, item_id, status, run, finished, spans) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (item.key, item.id, status, run, time.time(), json.dumps(dict(spans or {}))))
            self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?)", list(sizes.items()))
            self.db.execute("DELETE FROM pending WHERE key=?", (item.key,))
            if spend:
                self.db.execute("INSERT INTO spend (run, key, agents) VALUES (?, ?, ?)",
                                (run, item.key, json.dumps(spend)))

    def mark_pending(self, item: QueryItem, reason: str, run: int, spend: Mapping[str, Any] | None = None) -> None:
        """Record that ``item`` ended on transient failures: not finished, run again on resume."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)", (item.key, item.id, reason, run))
            if spend:
                self.db.execute("INSERT INTO spend (run, key, agents) VALUES (?, ?, ?)",
                                (run, item.key, json.dumps(spend)))

    def add_spend(self, run: int, spend: Mapping[str, Any]) -> None:
        """Spend not tied to a committed item (calls of items still in flight when the run ended)."""
        if spend:
            self.db.execute("INSERT INTO spend (run, key, agents) VALUES (?, NULL, ?)", (run, json.dumps(spend)))

    def spend_by_agent(self) -> dict[str, dict[str, Any]]:
        """Persisted usage summed per agent over every run (see :meth:`UsageTracker.delta`)."""
        total: dict[str, dict[str, Any]] = {}
        for (agents,) in self.db.execute("SELECT agents FROM spend ORDER BY id"):
            add_usage(total, json.loads(agents))
        return total

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM done GROUP BY status").fetchall())

    def pending(self) -> dict[str, int]:
        """Pending items by reason (their last failure's kind)."""
        return dict(self.db.execute("SELECT reason, COUNT(*) FROM pending GROUP BY reason").fetchall())

    def retry(self, statuses: Iterable[str], out_dir: Path, outputs: Iterable[str]) -> int:
        """Forget the finished items of ``statuses`` and cut their lines out of the output files.

        The files are rewritten through a temporary file and renamed, then every remaining item's span
        and the committed sizes are updated in one transaction: a crash in between leaves files longer
        than committed only where the rename happened, which resume then reports instead of guessing.

        Returns:
            How many items will run again.

        Raises:
            InputError: An item to retry was committed without spans (a run saved by an older version).
        """
        statuses = tuple(statuses)
        marks = ",".join("?" * len(statuses))
        rows = self.db.execute(f"SELECT key, spans FROM done WHERE status IN ({marks})", statuses).fetchall()
        if not rows:
            return 0
        drop: dict[str, list[tuple[int, int]]] = {}
        for key, spans in rows:
            if spans is None:
                raise InputError(f"item {key} was saved without its line positions (an older run); cannot cut "
                                 "it out, use a new --out", field="--retry-failed")
            for name, (a, b) in json.loads(spans).items():
                if b > a:
                    drop.setdefault(name, []).append((a, b))
        for name in outputs:
            cuts = sorted(drop.get(name, []))
            if cuts:
                _cut(out_dir / f"{name}.jsonl", cuts)
        keep = self.db.execute(f"SELECT key, spans FROM done WHERE status NOT IN ({marks})", statuses).fetchall()
        with self.db:
            self.db.execute("BEGIN")
            for key, spans in keep:
                moved = {n: (_shift(a, drop.get(n, [])), _shift(b, drop.get(n, [])))
                         for n, (a, b) in json.loads(spans or "{}").items()}
                self.db.execute("UPDATE done SET spans=? WHERE key=?", (json.dumps(moved), key))
            for name, size in self.file_sizes().items():
                self.db.execute("UPDATE files SET size=? WHERE name=?", (_shift(size, drop.get(name, [])), name))
            self.db.execute(f"DELETE FROM done WHERE status IN ({marks})", statuses)
        return len(rows)

    def close(self) -> None:
        self.db.close()


def _shift(pos: int, cuts: list[tuple[int, int]]) -> int:
    """Where byte ``pos`` lands once the spans ``cuts`` are removed."""
    return pos - sum(min(b, pos) - a for a, b in cuts if a < pos)


def _cut(path: Path, cuts: list[tuple[int, int]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with path.open("rb") as src, tmp.open("wb") as dst:
        pos = 0
        for a, b in cuts:
            dst.write(src.read(a - pos))
            src.seek(b)
            pos = b
        dst.write(src.read())
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)


def prepare_out_dir(out_dir: Path, *, resume: bool) -> bool:
    """Check the output folder; returns whether it holds a run to resume.

    Raises:
        InputError: Non-empty folder without ``resume``, or ``resume`` on a folder that is not a run.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("exists and is not a directory", file=str(out_dir), field="--out")
    has_state = (out_dir / STATE_DIR / "run.sqlite").is_file()
    non_empty = out_dir.is_dir() and any(out_dir.iterdir())
    if non_empty and not resume:
        raise InputError("is not empty; pass --resume to continue the run saved there, or choose another "
                         "--out", file=str(out_dir), field="--out")
    if resume and non_empty and not has_state:
        raise InputError(f"has no saved run ({STATE_DIR}/run.sqlite missing); it was not written by "
                         "inkforge, refusing to resume into it", file=str(out_dir), field="--out")
    out_dir.mkdir(parents=True, exist_ok=True)
    return has_state


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def fingerprint_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The dotted fields where two fingerprints differ, e.g. ``models.writer.temperature``.

    Example:
        >>> fingerprint_diff({"models": {"writer": {"temperature": 0.7}}}, {"models": {"writer": {"temperature": 0}}})
        ['models.writer.temperature']
    """
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def check_fingerprint(state: RunState, fingerprint: Mapping[str, Any], out_dir: Path) -> None:
    """Save the run's fingerprint, or check a resume against the saved one.

    Raises:
        InputError: A field differs; the message names each one with its saved and new value.
    """
    fp = json.loads(json.dumps(dict(fingerprint), sort_keys=True, default=str))
    old = state.meta("fingerprint")
    if old is None:
        state.set_meta("fingerprint", fp)
        return
    diff = fingerprint_diff(old, fp)
    if diff:
        a, b = _flatten(old), _flatten(fp)
        details = "; ".join(f"{k}: saved {a.get(k)!r}, now {b.get(k)!r}" for k in diff[:6])
        more = f" (+{len(diff) - 6} more)" if len(diff) > 6 else ""
        raise InputError(f"cannot resume with different options ({details}{more}); use the original options or a "
                         "new --out", file=str(out_dir), field="--resume")


def classify_records(records: Mapping[str, list[dict[str, Any]]]) -> tuple[Outcome, str | None]:
    """An item's outcome from its ``failures`` lines, and the error kind that decided it.

    Lines about the data (``no_pair``, ``identical``) are no failure. A transient failure (timeout,
    rate limit, connection, 5xx, spend cap: :func:`~inkforge.core.types.is_transient`) makes the item
    pending whatever else happened; otherwise a permanent one (parse error after the re-asks, refusal,
    4xx) makes it failed.

    Example:
        >>> classify_records({"failures": [{"status": "no_pair"}, {"status": "parse_error"}]})
        ('failed', 'parse')
        >>> classify_records({"failures": [{"status": "error", "reason": "Error code: 503"}]})
        ('pending', 'server')
    """
    permanent: str | None = None
    for r in records.get("failures", []):
        status = str(r.get("status"))
        if status in DATA_STATUSES:
            continue
        kind = failure_kind(status, r.get("reason"), r.get("kind")) or "other"
        if is_transient(status, kind):
            return "pending", kind
        permanent = permanent or kind
    return ("failed", permanent) if permanent else ("ok", None)


def write_summary(job: Any, out: Path, state: RunState, report: Any) -> dict[str, Any]:
    """Write ``summary.json``: items done / failed / pending, this call, usage per agent (the job adds its own)."""
    runs = state.runs()
    counts, pending = state.counts(), state.pending()
    agents = state.spend_by_agent()
    base: dict[str, Any] = {
        "job": job.name,
        "complete": report.complete,
        "items": {"input": report.total, "finished": sum(counts.values()), "done": counts.get("ok", 0),
                  "failed": counts.get("failed", 0) + counts.get("error", 0),
                  "pending": max(0, report.total - sum(counts.values())) if report.total else sum(pending.values()),
                  "by_status": counts, "pending_by_kind": pending, "duplicates_skipped": report.duplicates},
        "this_run": {"processed": report.processed, "skipped_done": report.skipped,
                     "resumed_from_checkpoint": report.resumed, "errors": report.errors, "failed": report.failed,
                     "pending": report.pending, "retried_failed": report.retried,
                     "interrupted": report.interrupted, "wall_s": round(report.wall_s, 3),
                     "peak_items_in_flight": report.peak_in_flight},
        "runs": len(runs),
        "wall_s": round(sum(r["wall_s"] for r in runs), 3),
        # Summed from the spend saved with each item, so a killed run's calls are counted too.
        "usage": usage_totals(agents),
        "usage_by_agent": {a: {"calls": c.get("calls", 0), "cached": c.get("cached", 0),
                               "tokens": c.get("input_tokens", 0) + c.get("output_tokens", 0),
                               "input_tokens": c.get("input_tokens", 0), "output_tokens": c.get("output_tokens", 0),
                               "cost": round(c.get("cost", 0.0), 6), "failed": c.get("failed", {})}
                           for a, c in sorted(agents.items())},
        "fingerprint": state.meta("fingerprint"),
    }
    summary = job.summarize(out, base) if job.summarize else base
    atomic_write_json(out / "summary.json", summary)
    return summary
