"""Dataset I/O for graph runs: streaming query readers, append-only JSONL writers and exporters.

Readers never hold a whole dataset in memory: a 20,000-line file is read one line at a time, twice
(a validation pass that fails *before* any output is written, then the real pass).

Input formats:

* ``.txt``: one query a line; blank lines are skipped.
* ``.jsonl``: one JSON object a line with ``query`` (or ``prompt``) as a non-empty string, an optional
  ``id``, and, to judge given responses, ``responses`` (list of strings) or ``response`` (string). Other
  fields are carried along as ``meta`` (a human ``label``, say).

Every problem (missing file, bad JSON, missing or empty field, bytes that are not UTF-8) raises
:class:`~inkforge.errors.InputError` naming the file, the line and the field.

Exporters turn a run's ``pairs.jsonl`` into what trainers read: a Hugging Face
:class:`datasets.Dataset` (TRL preference format), verl parquet files and OpenRLHF JSONL.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.txt"
    >>> _ = p.write_text("给外婆的生日祝福\\n\\n祝贺朋友升职\\n", encoding="utf-8")
    >>> [item.query for item in read_queries(p)]
    ['给外婆的生日祝福', '祝贺朋友升职']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from inkforge.errors import InputError
from inkforge.jsonl import iter_lines, parse_json_object

Mode = Literal["write", "judge_given"]

#: File extensions :func:`read_queries` accepts.
QUERY_SUFFIXES = (".txt", ".jsonl")


@dataclass(frozen=True)
class QueryItem:
    """One input row, validated.

    Attributes:
        key: Content hash (16 hex chars) of ``id``, ``query`` and ``responses``: the LangGraph thread id
            and the key of the finished-items index, so a resumed run recognises the item even if lines
            moved.
        id: The row's ``id`` field, or ``key`` when the row has none.
        query: The request.
        responses: Given responses (``judge_given`` mode), else empty.
        meta: Other fields of a JSONL row, carried into the judgements.
        line: 1-based line number in the source.
        source: File name (or ``<queries>`` for in-memory input), for messages.
    """

    key: str
    id: str
    query: str
    responses: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0
    source: str = "<queries>"


def item_key(query: str, responses: Iterable[str] = (), item_id: str | None = None) -> str:
    """Content hash of an item: the same row always maps to the same key (and thread id)."""
    blob = json.dumps({"id": item_id, "query": query, "responses": list(responses)}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _make_item(row: Mapping[str, Any], *, mode: Mode, source: str, line: int) -> QueryItem:
    def err(msg: str, fld: str | None) -> InputError:
        return InputError(msg, file=source, line=line, field=fld)

    qfield = "query" if "query" in row else "prompt" if "prompt" in row else None
    if qfield is None:
        raise err("missing (each row needs 'query' or 'prompt')", "query")
    query = row[qfield]
    if not isinstance(query, str):
        raise err(f"must be a string, got {type(query).__name__}", qfield)
    query = query.strip()
    if not query:
        raise err("is empty", qfield)
    responses: tuple[str, ...] = ()
    if "responses" in row or "response" in row:
        rfield = "responses" if "responses" in row else "response"
        value = row[rfield]
        values = [value] if rfield == "response" else value
        if not isinstance(values, list) or not values:
            raise err("must be a non-empty list of strings", rfield)
        for i, v in enumerate(values):
            if not isinstance(v, str) or not v.strip():
                raise err(f"item {i} must be a non-empty string", rfield)
        responses = tuple(v.strip() for v in values)
    elif mode == "judge_given":
        raise err("missing (judge_given mode needs 'responses' or 'response')", "responses")
    raw_id = row.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        raise err(f"must be a string or an integer, got {type(raw_id).__name__}", "id")
    item_id = str(raw_id) if raw_id is not None else None
    key = item_key(query, responses, item_id)
    meta = {k: v for k, v in row.items() if k not in ("query", "prompt", "responses", "response", "id")}
    return QueryItem(key=key, id=item_id or key, query=query, responses=responses, meta=meta, line=line,
                     source=source)


def _iter_file(path: Path, *, mode: Mode) -> Iterator[QueryItem]:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in QUERY_SUFFIXES:
        raise InputError(f"unsupported file type {suffix or '(none)'!r}; use .txt (one query a line) or "
                         ".jsonl (objects with 'query' or 'prompt')", file=source)
    for lineno, text in iter_lines(path):
        if suffix == ".txt":
            if mode == "judge_given":
                raise InputError("judge_given mode needs .jsonl rows with 'responses'", file=source)
            yield _make_item({"query": text}, mode=mode, source=source, line=lineno)
            continue
        row = parse_json_object(text, file=source, line=lineno)
        yield _make_item(row, mode=mode, source=source, line=lineno)


def _iter_memory(rows: Iterable[str | Mapping[str, Any]], *, mode: Mode) -> Iterator[QueryItem]:
    for i, row in enumerate(rows, 1):
        if isinstance(row, str):
            row = {"query": row}
        if not isinstance(row, Mapping):
            raise InputError(f"expected a string or a mapping, got {type(row).__name__}", file="<queries>",
                             line=i)
        yield _make_item(row, mode=mode, source="<queries>", line=i)


def read_queries(source: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], *, mode: Mode = "write",
                 limit: int | None = None) -> Iterator[QueryItem]:
    """Stream validated items from a ``.txt``/``.jsonl`` file or from in-memory rows.

    Args:
        source: A path, or an iterable of query strings / row mappings (``{"query": ..., "id": ...}``).
        mode: ``judge_given`` requires responses in every row.
        limit: Stop after this many items.

    Yields:
        :class:`QueryItem` in input order.

    Raises:
        InputError: The first bad line (file, line, field).

    Example:
        >>> [i.query for i in read_queries(["给老师的教师节祝福", {"query": "新婚祝福", "id": 7}])]
        ['给老师的教师节祝福', '新婚祝福']
    """
    if isinstance(source, (str, os.PathLike)):
        it = _iter_file(Path(source), mode=mode)
    else:
        it = _iter_memory(source, mode=mode)
    for n, item in enumerate(it):
        if limit is not None and n >= limit:
            return
        yield item


def validate_queries(source: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], *,
                     mode: Mode = "write", limit: int | None = None) -> int:
    """Read the whole input once (streaming) and return the item count; raise on the first bad line.

    Run this before creating any output so that a typo on line 19,000 fails in seconds, not hours.

    Raises:
        InputError: Bad input, or no items at all.
    """
    n = sum(1 for _ in read_queries(source, mode=mode, limit=limit))
    if n == 0:
        where = str(source) if isinstance(source, (str, os.PathLike)) else "<queries>"
        raise InputError("no queries found", file=where)
    return n


# ------------------------------------------------------------------------------------------ outputs


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
    """Stream the records of a JSONL file (blank lines skipped).

    Raises:
        InputError: A line is not valid JSON (file and line named).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", file=str(p))
    with p.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg})", file=str(p), line=lineno) from None


# ---------------------------------------------------------------------------------------- exporters


def _pairs_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p / "pairs.jsonl" if p.is_dir() else p


def to_hf_dataset(pairs: str | os.PathLike[str], *, provenance: bool = False) -> Any:
    """A :class:`datasets.Dataset` in TRL's preference format (``prompt``, ``chosen``, ``rejected``).

    Args:
        pairs: A run's output folder or its ``pairs.jsonl``.
        provenance: Add ``item_id`` and a ``provenance`` column (the rest of each record, as a JSON
            string: nested critiques vary in shape from row to row, which Arrow columns cannot hold).

    Example:
        >>> # ds = to_hf_dataset("runs/curate"); RewardTrainer(..., train_dataset=ds)
    """
    from datasets import Dataset, Features, Value

    path = _pairs_path(pairs)
    cols = {"prompt": Value("string"), "chosen": Value("string"), "rejected": Value("string")}
    if provenance:
        cols |= {"item_id": Value("string"), "provenance": Value("string")}

    rows: dict[str, list[Any]] = {k: [] for k in cols}
    for rec in read_jsonl(path):
        for k in ("prompt", "chosen", "rejected"):
            rows[k].append(rec[k])
        if provenance:
            rows["item_id"].append(str(rec.get("item_id", "")))
            rest = {k: v for k, v in rec.items() if k not in ("prompt", "chosen", "rejected", "item_id")}
            rows["provenance"].append(dumps(rest))
    return Dataset.from_dict(rows, features=Features(cols))


def _write_parquet(rows: list[dict[str, Any]], dest: Path, kind: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # An explicit schema: an empty export still has the columns a trainer looks for.
    msg = pa.struct([("role", pa.string()), ("content", pa.string())])
    schemas = {
        "rl": pa.schema([("data_source", pa.string()), ("prompt", pa.list_(msg)), ("ability", pa.string()),
                         ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
                         ("extra_info", pa.struct([("index", pa.int64()), ("item_id", pa.string()),
                                                            ("query", pa.string())]))]),
        "preference": pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())]),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas[kind]), dest)
    return dest


def to_verl_parquet(pairs: str | os.PathLike[str], dest_dir: str | os.PathLike[str], *,
                    data_source: str = "inkforge/greeting", ability: str = "creative_writing") -> dict[str, Path]:
    """Write verl's parquet files from a run's pairs.

    Two files come out of ``dest_dir``:

    * ``rl.parquet``: one row per distinct prompt in verl's RL schema (``data_source``, ``prompt`` as
      chat messages, ``ability``, ``reward_model`` ``{"style": "model", "ground_truth": ""}``,
      ``extra_info`` ``{"index", "item_id", "query"}``), the prompts for GRPO with a model reward.
    * ``preference.parquet``: ``prompt``/``chosen``/``rejected`` strings, for reward-model recipes.

    Returns:
        ``{"rl": path, "preference": path}``.
    """
    path = _pairs_path(pairs)
    out = Path(dest_dir)
    rl: list[dict[str, Any]] = []
    pref: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rec in read_jsonl(path):
        pref.append({"prompt": rec["prompt"], "chosen": rec["chosen"], "rejected": rec["rejected"]})
        if rec["prompt"] in seen:
            continue
        seen.add(rec["prompt"])
        rl.append({"data_source": data_source, "prompt": [{"role": "user", "content": rec["prompt"]}],
                   "ability": ability, "reward_model": {"style": "model", "ground_truth": ""},
                   # verl passes no prompt to reward functions: the request travels in extra_info.
                   "extra_info": {"index": len(rl), "item_id": str(rec.get("item_id", "")),
                                  "query": rec["prompt"]}})
    return {"rl": _write_parquet(rl, out / "rl.parquet", "rl"),
            "preference": _write_parquet(pref, out / "preference.parquet", "preference")}


def to_openrlhf_jsonl(pairs: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Write OpenRLHF reward-model data: chat-message lists under ``prompt``/``chosen``/``rejected``.

    Train with ``--prompt_key prompt --chosen_key chosen --rejected_key rejected --apply_chat_template``
    (the same file works as a PPO prompt set with ``--input_key prompt --apply_chat_template``).
    """
    path = _pairs_path(pairs)
    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for rec in read_jsonl(path):
            f.write(dumps({
                "prompt": [{"role": "user", "content": rec["prompt"]}],
                "chosen": [{"role": "assistant", "content": rec["chosen"]}],
                "rejected": [{"role": "assistant", "content": rec["rejected"]}],
                "item_id": str(rec.get("item_id", "")),
            }) + "\n")
    return out


EXPORTERS = ("hf", "verl", "openrlhf")


def export_pairs(out_dir: str | os.PathLike[str], formats: Iterable[str]) -> dict[str, Any]:
    """Run the named exporters on ``out_dir/pairs.jsonl``; files go to ``out_dir/export/<format>/``.

    Raises:
        InputError: Unknown format name.
    """
    out = Path(out_dir)
    done: dict[str, Any] = {}
    for fmt in formats:
        if fmt == "hf":
            dest = out / "export" / "hf"
            to_hf_dataset(out, provenance=True).save_to_disk(str(dest))
            done["hf"] = dest
        elif fmt == "verl":
            done["verl"] = to_verl_parquet(out, out / "export" / "verl")
        elif fmt == "openrlhf":
            done["openrlhf"] = to_openrlhf_jsonl(out, out / "export" / "openrlhf" / "pairs.jsonl")
        else:
            raise InputError(f"unknown export format {fmt!r}; known: {', '.join(EXPORTERS)}", field="export")
    return done
