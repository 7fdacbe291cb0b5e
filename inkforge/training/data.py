"""Load training data from inkforge's graphs and from the paper's original formats into TRL datasets.

Three kinds of data, each from several file formats:

=============  ===========================================================  ==========================
Kind           Accepted files                                               TRL columns
=============  ===========================================================  ==========================
SFT            JSONL ``prompt|query`` + ``response|completion|output``;     ``prompt``, ``completion``
               alpaca JSON list (``instruction``, ``input``, ``output``);
               sharegpt JSON list (``conversations`` ending in a gpt turn)
Preference     ``pairs.jsonl`` (``prompt|query``, ``chosen``, ``rejected``;  ``prompt``, ``chosen``,
               extra provenance fields are dropped); LLaMA-Factory          ``rejected``
               sharegpt pairwise JSON (``conversations`` + ``chosen`` +
               ``rejected``)
Prompts        ``.txt`` (one query a line); JSONL with ``query|prompt``;      ``prompt``, ``query``
               verl parquet (``prompt`` as a chat list,                     (+ ``ground_truth``,
               ``reward_model.ground_truth``)                                ``data_source`` for verl)
=============  ===========================================================  ==========================

Every prompt goes through :func:`build_prompt`: the optional prefix (the paper prefixes every
query with ``请只生成一条祝福语：``) is added once, and with ``conversational=True`` (instruct models)
the prompt becomes a chat message list that TRL renders with the tokenizer's chat template.

A malformed row raises :class:`DataFormatError` naming the file, the line (JSONL) or row (JSON list,
parquet; 0-based) and the field, rather than training on a silently skipped or defaulted row.

Example:
    >>> from inkforge.training.data import load_preference_dataset
    >>> ds = load_preference_dataset("runs/curate/pairs.jsonl", prompt_prefix="请只生成一条祝福语：")  # doctest: +SKIP
    >>> ds.column_names  # doctest: +SKIP
    ['prompt', 'chosen', 'rejected']
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from inkforge.core.errors import InputError
from inkforge.core.io import iter_json_objects, iter_lines

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "DataFormat",
    "DataFormatError",
    "Record",
    "build_prompt",
    "detect_format",
    "load_preference_dataset",
    "load_prompt_dataset",
    "load_sft_dataset",
    "read_records",
]

DataFormat = Literal["auto", "jsonl", "json", "alpaca", "sharegpt", "verl", "txt"]
Message = dict[str, str]
Prompt = str | list[Message]

_PROMPT_FIELDS = ("prompt", "query")
_RESPONSE_FIELDS = ("response", "completion", "output")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "observation": "user", "function_call": "assistant"}


class DataFormatError(InputError):
    """A malformed data row, located by file, line (JSONL) or 0-based row (JSON list, parquet) and field.

    Example:
        >>> str(DataFormatError("missing", file="a.json", row=3, field="output"))
        "a.json: row 3: field 'output': missing"
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, field=field)
        self.row = row
        if row is not None and line is None:
            what = f"field {field!r}: " if field else ""
            self.args = (f"{file}: row {row}: {what}{message}",)


@dataclass(frozen=True)
class Record:
    """One raw row with where it came from.

    Attributes:
        file: Source path.
        data: The row.
        line: 1-based line number for line-oriented files (JSONL, txt).
        row: 0-based index for JSON lists and parquet.
    """

    file: str
    data: dict[str, Any]
    line: int | None = None
    row: int | None = None

    def error(self, message: str, field: str | None = None) -> DataFormatError:
        """A :class:`DataFormatError` located at this record."""
        return DataFormatError(message, file=self.file, line=self.line, row=self.row, field=field)

    def text(self, *fields: str) -> str:
        """The first present field among ``fields``, checked to be a non-empty string."""
        for name in fields:
            if name in self.data and self.data[name] is not None:
                value = self.data[name]
                if not isinstance(value, str):
                    raise self.error(f"expected a string, got {type(value).__name__}", name)
                if not value.strip():
                    raise self.error("empty string", name)
                return value
        raise self.error(f"missing (present fields: {sorted(self.data)})", "|".join(fields))


def detect_format(path: str | os.PathLike[str]) -> DataFormat:
    """Guess a file's format from its extension and, for JSON lists, its first row's keys.

    Args:
        path: Data file.

    Returns:
        ``"txt"``, ``"jsonl"``, ``"verl"`` (parquet), ``"alpaca"``, ``"sharegpt"`` or ``"json"``.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        return "txt"
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".parquet":
        return "verl"
    if suffix == ".json":
        first = next(iter(_read_json_list(str(path))), None)
        if first is not None and "conversations" in first.data:
            return "sharegpt"
        if first is not None and "instruction" in first.data:
            return "alpaca"
        return "json"
    raise DataFormatError(
        f"cannot tell the format from the extension {suffix!r}: use .txt, .jsonl, .json or .parquet, "
        "or pass data_format", file=str(path)
    )


def _read_jsonl(path: str) -> Iterator[Record]:
    for number, data in iter_json_objects(path, error=DataFormatError):
        yield Record(path, data, line=number)


def _read_json_list(path: str) -> Iterator[Record]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON: {exc.msg}", file=path, line=exc.lineno) from exc
    if not isinstance(data, list):
        raise DataFormatError(f"expected a JSON list of objects, got {type(data).__name__}", file=path)
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise DataFormatError(f"expected a JSON object, got {type(item).__name__}", file=path, row=index)
        yield Record(path, item, row=index)


def _read_txt(path: str) -> Iterator[Record]:
    # The shared reader: a BOM is dropped and a non-UTF-8 byte is reported with its line and column.
    for number, text in iter_lines(path, error=DataFormatError):
        yield Record(path, {"query": text}, line=number)


def _read_parquet(path: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    for index, item in enumerate(pq.read_table(path).to_pylist()):
        yield Record(path, item, row=index)


def read_records(path: str | os.PathLike[str], data_format: DataFormat = "auto") -> Iterator[Record]:
    """Stream the raw rows of a data file with their locations.

    Args:
        path: Data file.
        data_format: Format, or ``"auto"`` to detect it (see :func:`detect_format`).

    Yields:
        :class:`Record` rows.

    Raises:
        DataFormatError: Unreadable file or invalid JSON, with the line number.
    """
    path = str(path)
    if not Path(path).is_file():
        raise DataFormatError("no such file", file=path)
    fmt = detect_format(path) if data_format == "auto" else data_format
    if fmt == "txt":
        yield from _read_txt(path)
    elif fmt == "jsonl":
        yield from _read_jsonl(path)
    elif fmt in ("json", "alpaca", "sharegpt"):
        yield from _read_json_list(path)
    elif fmt == "verl":
        yield from _read_parquet(path)
    else:
        raise DataFormatError(f"unknown data_format {fmt!r}", file=path)


def build_prompt(
    query: str | Sequence[Message],
    *,
    prompt_prefix: str = "",
    system_prompt: str | None = None,
    conversational: bool = True,
) -> Prompt:
    """Turn a query (or an existing chat prompt) into a TRL prompt.

    The prefix is added to the (last) user turn unless it already starts with it, so data that
    was prefixed upstream (verl parquet files usually are) is not prefixed twice.

    Args:
        query: The user's request, or a chat message list.
        prompt_prefix: Text put before the request, e.g. ``请只生成一条祝福语：``.
        system_prompt: Optional system turn (conversational prompts only). ``None`` leaves the
            chat template's default system turn in charge (Qwen adds its own).
        conversational: Return a chat message list (instruct models) rather than a string.

    Returns:
        A string, or a list of ``{"role", "content"}`` messages.

    Example:
        >>> build_prompt("生日祝福", prompt_prefix="请只生成一条祝福语：")
        [{'role': 'user', 'content': '请只生成一条祝福语：生日祝福'}]
        >>> build_prompt("请只生成一条祝福语：生日祝福", prompt_prefix="请只生成一条祝福语：", conversational=False)
        '请只生成一条祝福语：生日祝福'
    """

    def prefixed(text: str) -> str:
        return text if not prompt_prefix or text.startswith(prompt_prefix) else prompt_prefix + text

    if isinstance(query, str):
        messages: list[Message] = [{"role": "user", "content": prefixed(query)}]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
    else:
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in query]
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if users:
            messages[users[-1]]["content"] = prefixed(messages[users[-1]]["content"])
        if system_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": system_prompt})
    if conversational:
        return messages
    return "\n".join(m["content"] for m in messages if m["role"] != "system")


def _assistant(text: str, conversational: bool) -> str | list[Message]:
    return [{"role": "assistant", "content": text}] if conversational else text


def _record_prompt(record: Record) -> str | list[Message]:
    """A row's prompt: chat messages when ``prompt`` is a list, else the text of a prompt field."""
    if isinstance(record.data.get("prompt"), list):
        return _chat_messages(record, "prompt")
    return record.text(*_PROMPT_FIELDS)


def _chat_messages(record: Record, field: str) -> list[Message]:
    """A chat list in either role/content (OpenAI, verl) or from/value (sharegpt) form, validated."""
    value = record.data.get(field)
    if not isinstance(value, list) or not value:
        raise record.error("expected a non-empty list of messages", field)
    messages: list[Message] = []
    for i, turn in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(turn, dict):
            raise record.error(f"expected a message object, got {type(turn).__name__}", where)
        if "role" in turn:
            role, content_key = turn["role"], "content"
        elif "from" in turn:
            role, content_key = _SHAREGPT_ROLES.get(str(turn["from"]), ""), "value"
            if not role:
                raise record.error(f"unknown speaker {turn['from']!r}", f"{where}.from")
        else:
            raise record.error("message has neither 'role' nor 'from'", where)
        content = turn.get(content_key)
        if not isinstance(content, str):
            raise record.error(f"expected a string, got {type(content).__name__}", f"{where}.{content_key}")
        messages.append({"role": str(role), "content": content})
    return messages


def _sharegpt_reply(record: Record, field: str) -> str:
    """A pairwise sharegpt ``chosen``/``rejected`` value: a gpt message object or a plain string."""
    value = record.data.get(field)
    if isinstance(value, dict):
        text = value.get("value", value.get("content"))
        if not isinstance(text, str) or not text.strip():
            raise record.error("expected a message with a non-empty 'value'", f"{field}.value")
        return text
    return record.text(field)


def _sharegpt_prompt(record: Record) -> list[Message]:
    messages = _chat_messages(record, "conversations")
    system = record.data.get("system")
    if isinstance(system, str) and system.strip() and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _alpaca_prompt(record: Record) -> str:
    instruction = record.text("instruction")
    extra = record.data.get("input")
    if extra is not None and not isinstance(extra, str):
        raise record.error(f"expected a string, got {type(extra).__name__}", "input")
    return f"{instruction}\n{extra}" if extra and extra.strip() else instruction


def _to_dataset(rows: list[dict[str, Any]], source: str) -> Dataset:
    from datasets import Dataset

    if not rows:
        raise DataFormatError("no usable rows", file=source)
    return Dataset.from_list(rows)


def load_sft_dataset(
    path: str | os.PathLike[str],
    *,
    data_format: DataFormat = "auto",
    prompt_prefix: str = "",
    system_prompt: str | None = None,
    conversational: bool = True,
    max_samples: int | None = None,
) -> Dataset:
    """Load supervised fine-tuning data as a TRL prompt-completion dataset.

    Args:
        path: JSONL (``prompt|query`` + ``response|completion|output``), alpaca JSON or sharegpt JSON.
        data_format: See :func:`read_records`.
        prompt_prefix: Prefix for every prompt (see :func:`build_prompt`).
        system_prompt: Optional system turn.
        conversational: Chat-format prompts and completions (instruct models) or plain strings.
        max_samples: Keep only the first rows.

    Returns:
        A dataset with ``prompt`` and ``completion`` columns. TRL then trains on the completion only.

    Raises:
        DataFormatError: A malformed row.

    Example:
        >>> ds = load_sft_dataset("sft.jsonl", prompt_prefix="请只生成一条祝福语：")  # doctest: +SKIP
    """
    fmt = detect_format(path) if data_format == "auto" else data_format
    rows: list[dict[str, Any]] = []
    for record in read_records(path, fmt):
        if max_samples is not None and len(rows) >= max_samples:
            break
        query: str | list[Message]
        if fmt == "alpaca" or "instruction" in record.data:
            query, response = _alpaca_prompt(record), record.text("output")
        elif fmt == "sharegpt" or "conversations" in record.data:
            messages = _sharegpt_prompt(record)
            if messages[-1]["role"] != "assistant":
                raise record.error("the last turn must be the assistant's (gpt) reply", "conversations")
            query, response = messages[:-1], messages[-1]["content"]
            if not response.strip():
                raise record.error("empty reply", f"conversations[{len(messages) - 1}]")
        else:
            query = _record_prompt(record)
            response = record.text(*_RESPONSE_FIELDS)
        prompt = build_prompt(
            query, prompt_prefix=prompt_prefix, system_prompt=system_prompt, conversational=conversational
        )
        rows.append({"prompt": prompt, "completion": _assistant(response, conversational)})
    return _to_dataset(rows, str(path))


def load_preference_dataset(
    path: str | os.PathLike[str],
    *,
    data_format: DataFormat = "auto",
    prompt_prefix: str = "",
    system_prompt: str | None = None,
    conversational: bool = True,
    max_samples: int | None = None,
) -> Dataset:
    """Load preference pairs as a TRL explicit-prompt preference dataset.

    Args:
        path: ``pairs.jsonl`` from the curation graph (``prompt|query``, ``chosen``, ``rejected``;
            other fields such as provenance are dropped) or LLaMA-Factory sharegpt pairwise JSON.
        data_format: See :func:`read_records`.
        prompt_prefix: Prefix for every prompt (see :func:`build_prompt`).
        system_prompt: Optional system turn.
        conversational: Chat-format prompts and replies (instruct models) or plain strings.
        max_samples: Keep only the first rows.

    Returns:
        A dataset with ``prompt``, ``chosen`` and ``rejected`` columns.

    Raises:
        DataFormatError: A malformed row (missing or empty field, identical chosen and rejected).

    Example:
        >>> ds = load_preference_dataset("pairs.jsonl")  # doctest: +SKIP
    """
    fmt = detect_format(path) if data_format == "auto" else data_format
    rows: list[dict[str, Any]] = []
    for record in read_records(path, fmt):
        if max_samples is not None and len(rows) >= max_samples:
            break
        query: str | list[Message]
        if fmt == "sharegpt" or "conversations" in record.data:
            query = _sharegpt_prompt(record)
            chosen, rejected = _sharegpt_reply(record, "chosen"), _sharegpt_reply(record, "rejected")
        else:
            query = _record_prompt(record)
            chosen, rejected = record.text("chosen"), record.text("rejected")
        if chosen == rejected:
            # A pair with no preference teaches nothing and usually means a curation bug upstream.
            raise record.error("chosen and rejected are identical", "rejected")
        prompt = build_prompt(
            query, prompt_prefix=prompt_prefix, system_prompt=system_prompt, conversational=conversational
        )
        rows.append({
            "prompt": prompt,
            "chosen": _assistant(chosen, conversational),
            "rejected": _assistant(rejected, conversational),
        })
    return _to_dataset(rows, str(path))


def load_prompt_dataset(
    path: str | os.PathLike[str],
    *,
    data_format: DataFormat = "auto",
    prompt_prefix: str = "",
    system_prompt: str | None = None,
    conversational: bool = True,
    max_samples: int | None = None,
) -> Dataset:
    """Load RL prompts (queries) as a TRL prompt-only dataset.

    Args:
        path: ``.txt`` (one query a line), JSONL with ``query|prompt`` (a string or a chat list), or
            a verl parquet file (``prompt`` chat list; ``reward_model.ground_truth`` and
            ``data_source`` are kept as columns, which TRL passes to reward functions as keyword
            arguments).
        data_format: See :func:`read_records`.
        prompt_prefix: Prefix for every prompt (see :func:`build_prompt`).
        system_prompt: Optional system turn.
        conversational: Chat-format prompts (instruct models) or plain strings.
        max_samples: Keep only the first rows.

    Returns:
        A dataset with ``prompt`` (what the policy sees) and ``query`` (the bare request, for
        judges and reports) columns, plus ``ground_truth`` and ``data_source`` for verl files.

    Raises:
        DataFormatError: A malformed row.

    Example:
        >>> ds = load_prompt_dataset("queries.txt", prompt_prefix="请只生成一条祝福语：")  # doctest: +SKIP
    """
    fmt = detect_format(path) if data_format == "auto" else data_format
    rows: list[dict[str, Any]] = []
    for record in read_records(path, fmt):
        if max_samples is not None and len(rows) >= max_samples:
            break
        extra: dict[str, Any] = {}
        if isinstance(record.data.get("prompt"), list) or fmt == "verl":
            messages = _chat_messages(record, "prompt")
            users = [m["content"] for m in messages if m["role"] == "user"]
            if not users:
                raise record.error("no user turn", "prompt")
            query: str | list[Message] = messages
            bare = users[-1]
            if prompt_prefix and bare.startswith(prompt_prefix):
                bare = bare[len(prompt_prefix) :]
            if fmt == "verl":
                reward_model = record.data.get("reward_model") or {}
                if not isinstance(reward_model, dict):
                    raise record.error(f"expected an object, got {type(reward_model).__name__}", "reward_model")
                truth = reward_model.get("ground_truth")
                if truth is not None and not isinstance(truth, str):
                    truth = json.dumps(truth, ensure_ascii=False)
                extra = {"ground_truth": truth, "data_source": str(record.data.get("data_source") or "")}
        else:
            query = record.text(*_PROMPT_FIELDS)
            bare = query
        prompt = build_prompt(
            query, prompt_prefix=prompt_prefix, system_prompt=system_prompt, conversational=conversational
        )
        rows.append({"prompt": prompt, "query": bare, **extra})
    return _to_dataset(rows, str(path))
