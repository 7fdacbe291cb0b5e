"""Exporters: a run's ``pairs.jsonl`` as what trainers read.

A Hugging Face :class:`datasets.Dataset` (TRL preference format), verl parquet files and OpenRLHF JSONL.

Example:
    >>> # export_pairs("runs/curate", ["hf", "verl", "openrlhf"])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError
from inkforge.core.io import dumps, read_jsonl


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
