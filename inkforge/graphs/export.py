"""Exporters: a run's ``pairs.jsonl`` as what trainers read, each with a dataset card.

A Hugging Face :class:`datasets.Dataset` (TRL preference format), verl parquet files and OpenRLHF JSONL.
Every row keeps its provenance (``item_id`` and a ``provenance`` JSON string: models, prompt versions,
the debate behind each side), and :func:`export_pairs` writes beside each export a ``README.md``
dataset card (YAML front matter the Hugging Face Hub reads: features, splits, sizes, license) and a
``metadata.json`` with the same facts: the models and prompt versions used, the rubric version when
known, chosen/rejected length statistics and how often the chosen text is the longer one (a reward
model trained on such pairs may learn length instead of quality). :func:`push_to_hub` uploads the
dataset and its card.

Example:
    >>> import json, tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> rows = [{"prompt": "p", "chosen": "a long kind wish", "rejected": "hi", "item_id": "1",
    ...          "models": {"judge": "qwen"}, "prompt_versions": {"judge": "v1"}}]
    >>> _ = (run / "pairs.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    >>> done = export_pairs(run, ["openrlhf"])
    >>> sorted(p.name for p in (run / "export" / "openrlhf").iterdir())
    ['README.md', 'metadata.json', 'pairs.jsonl']
    >>> pair_statistics(run)["chosen_longer_share"]
    1.0
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError
from inkforge.core.io import atomic_write, atomic_write_json, dumps, read_jsonl

__all__ = ["EXPORTERS", "dataset_card", "export_pairs", "pair_statistics", "push_to_hub", "to_hf_dataset",
           "to_openrlhf_jsonl", "to_verl_parquet", "write_dataset_card"]

#: Record keys that are the pair itself; everything else is provenance.
_PAIR_KEYS = ("prompt", "chosen", "rejected", "item_id")


def _pairs_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p / "pairs.jsonl" if p.is_dir() else p


def _provenance(rec: Mapping[str, Any]) -> str:
    """The rest of a record as a JSON string: nested critiques vary in shape from row to row, which
    Arrow columns (and the loaders of verl and OpenRLHF, built on them) cannot hold."""
    return dumps({k: v for k, v in rec.items() if k not in _PAIR_KEYS})


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
            rows["provenance"].append(_provenance(rec))
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
                                                   ("query", pa.string()), ("provenance", pa.string())]))]),
        "preference": pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()),
                                 ("item_id", pa.string()), ("provenance", pa.string())]),
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
      ``extra_info`` ``{"index", "item_id", "query", "provenance"}``), the prompts for GRPO with a model
      reward (``provenance``: that of the prompt's first pair).
    * ``preference.parquet``: ``prompt``/``chosen``/``rejected`` strings, for reward-model recipes, with
      ``item_id`` and ``provenance`` columns.

    Returns:
        ``{"rl": path, "preference": path}``.
    """
    path = _pairs_path(pairs)
    out = Path(dest_dir)
    rl: list[dict[str, Any]] = []
    pref: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rec in read_jsonl(path):
        prov = _provenance(rec)
        pref.append({"prompt": rec["prompt"], "chosen": rec["chosen"], "rejected": rec["rejected"],
                     "item_id": str(rec.get("item_id", "")), "provenance": prov})
        if rec["prompt"] in seen:
            continue
        seen.add(rec["prompt"])
        rl.append({"data_source": data_source, "prompt": [{"role": "user", "content": rec["prompt"]}],
                   "ability": ability, "reward_model": {"style": "model", "ground_truth": ""},
                   # verl passes no prompt to reward functions: the request travels in extra_info.
                   "extra_info": {"index": len(rl), "item_id": str(rec.get("item_id", "")),
                                  "query": rec["prompt"], "provenance": prov}})
    return {"rl": _write_parquet(rl, out / "rl.parquet", "rl"),
            "preference": _write_parquet(pref, out / "preference.parquet", "preference")}


def to_openrlhf_jsonl(pairs: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Write OpenRLHF reward-model data: chat-message lists under ``prompt``/``chosen``/``rejected``.

    Train with ``--prompt_key prompt --chosen_key chosen --rejected_key rejected --apply_chat_template``
    (the same file works as a PPO prompt set with ``--input_key prompt --apply_chat_template``). Each
    row also carries ``item_id`` and ``provenance`` (a JSON string, see :func:`to_hf_dataset`).
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
                "provenance": _provenance(rec),
            }) + "\n")
    return out


EXPORTERS = ("hf", "verl", "openrlhf")


# ------------------------------------------------------------------------------------------- cards


def _dist(values: Sequence[int]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "min": None, "max": None}
    return {"mean": round(statistics.fmean(values), 2), "median": float(statistics.median(values)),
            "min": float(min(values)), "max": float(max(values))}


def _merge(into: dict[str, set[str]], value: Any) -> None:
    if isinstance(value, Mapping):
        for slot, v in value.items():
            into.setdefault(str(slot), set()).add(str(v))


def pair_statistics(pairs: str | os.PathLike[str]) -> dict[str, Any]:
    """What a dataset card states about a run's pairs, by streaming them (any size).

    Returns:
        ``n_pairs``, ``n_prompts``, ``chosen_length``/``rejected_length`` (characters: mean, median, min,
        max), ``chosen_longer_share``, ``models`` and ``prompt_versions`` (per agent slot, every value
        seen), ``pair_policies`` and ``rubric_versions`` (from records that carry one).
    """
    chosen: list[int] = []
    rejected: list[int] = []
    prompts: set[str] = set()
    models: dict[str, set[str]] = {}
    versions: dict[str, set[str]] = {}
    policies: set[str] = set()
    rubrics: set[str] = set()
    for rec in read_jsonl(_pairs_path(pairs)):
        chosen.append(len(rec["chosen"]))
        rejected.append(len(rec["rejected"]))
        prompts.add(rec["prompt"])
        _merge(models, rec.get("models"))
        _merge(versions, rec.get("prompt_versions"))
        if rec.get("pair_policy"):
            policies.add(str(rec["pair_policy"]))
        if rec.get("rubric_version"):
            rubrics.add(str(rec["rubric_version"]))
    n = len(chosen)
    longer = sum(1 for c, r in zip(chosen, rejected, strict=True) if c > r)
    return {"n_pairs": n, "n_prompts": len(prompts), "chosen_length": _dist(chosen), "rejected_length": _dist(rejected),
            "chosen_longer_share": round(longer / n, 4) if n else None,
            "models": {k: sorted(v) for k, v in sorted(models.items())},
            "prompt_versions": {k: sorted(v) for k, v in sorted(versions.items())},
            "pair_policies": sorted(policies), "rubric_versions": sorted(rubrics)}


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


_STR = {"dtype": "string"}
_MESSAGES = {"list": [{"name": "role", **_STR}, {"name": "content", **_STR}]}
_PREFERENCE = [("prompt", _STR), ("chosen", _STR), ("rejected", _STR), ("item_id", _STR), ("provenance", _STR)]

#: Per export format: its configs as (name, data files, features, rows counted as "pairs" or "prompts").
_LAYOUTS: dict[str, list[tuple[str, str, list[tuple[str, dict[str, Any]]], str]]] = {
    "hf": [("default", "data/train-*", _PREFERENCE, "pairs")],
    "verl": [("preference", "preference.parquet", _PREFERENCE, "pairs"),
             ("rl", "rl.parquet", [("data_source", _STR), ("prompt", _MESSAGES), ("ability", _STR),
                                   ("reward_model", {"struct": [{"name": "style", **_STR},
                                                                {"name": "ground_truth", **_STR}]}),
                                   ("extra_info", {"struct": [{"name": "index", "dtype": "int64"},
                                                              {"name": "item_id", **_STR}, {"name": "query", **_STR},
                                                              {"name": "provenance", **_STR}]})], "prompts")],
    "openrlhf": [("default", "pairs.jsonl", [("prompt", _MESSAGES), ("chosen", _MESSAGES), ("rejected", _MESSAGES),
                                             ("item_id", _STR), ("provenance", _STR)], "pairs")],
}


def dataset_card(pairs: str | os.PathLike[str], *, fmt: str = "hf", repo_id: str | None = None,
                 rubric_version: str | None = None, language: str | None = None, license: str = "other",
                 stats: Mapping[str, Any] | None = None) -> str:
    """A Hugging Face dataset card (``README.md``) for a run's pairs.

    Args:
        pairs: A run's output folder or its ``pairs.jsonl``.
        fmt: The export it describes (``hf``, ``verl``, ``openrlhf``): its files and features.
        repo_id: The hub repository, for the title and the loading snippet.
        rubric_version: The judge rubric's version, when the caller knows it (records may also carry one).
        language: Language code of the texts (``zh``, ``en``), when known.
        license: The YAML ``license``; ``other`` is a placeholder to replace with the license of the data
            and of the models that wrote it.
        stats: :func:`pair_statistics` of ``pairs``, when already computed.

    Example:
        >>> import json, tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> _ = (run / "pairs.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "abc", "rejected": "a"}) + "\\n")
        >>> card = dataset_card(run, rubric_version="3c71fcbac656")
        >>> card.startswith("---\\n"), "num_examples: 1" in card, "3c71fcbac656" in card
        (True, True, True)
    """
    import yaml

    if fmt not in _LAYOUTS:
        raise InputError(f"unknown export format {fmt!r}; known: {', '.join(EXPORTERS)}", field="fmt")
    st = dict(stats) if stats is not None else pair_statistics(pairs)
    rubrics = ([rubric_version] if rubric_version else []) + [v for v in st["rubric_versions"] if v != rubric_version]
    layout = _LAYOUTS[fmt]
    front: dict[str, Any] = {
        "license": license,
        **({"language": [language]} if language else {}),
        "pretty_name": f"inkforge preference pairs{f' ({repo_id})' if repo_id else ''}",
        "task_categories": ["text-generation"],
        "tags": ["inkforge", "preference", "reward-modeling", "dpo", "creative-writing", "synthetic"],
        "size_categories": [_size_category(st["n_pairs"])],
        "configs": [{"config_name": name, "data_files": [{"split": "train", "path": path}]}
                    for name, path, _, _ in layout],
        "dataset_info": [{"config_name": name, "features": [{"name": n, **t} for n, t in feats],
                          "splits": [{"name": "train",
                                      "num_examples": st["n_pairs"] if rows == "pairs" else st["n_prompts"]}]}
                         for name, _, feats, rows in layout],
    }
    cl, rl = st["chosen_length"], st["rejected_length"]
    share = st["chosen_longer_share"]

    def rows(mapping: Mapping[str, Sequence[str]]) -> str:
        return "\n".join(f"| {k} | {', '.join(f'`{x}`' for x in v)} |" for k, v in mapping.items()) or "| — | — |"

    share_txt = f"{100 * share:.1f}%" if share is not None else "—"
    load = (f'```python\nfrom datasets import load_dataset\nds = load_dataset("{repo_id}", split="train")\n```\n'
            if repo_id and fmt == "hf" else "")
    body = f"""# inkforge preference pairs{f': {repo_id}' if repo_id else ''}

Preference pairs (`prompt`, `chosen`, `rejected`) curated by inkforge's multi-agent pipeline (writer,
positive and negative critics, judge, reflector), after "Igniting Creative Writing in Small Language
Models: LLM-as-a-Judge versus Multi-Agent Refined Rewards" (arXiv 2508.21476). Export format: `{fmt}`.

{load}## Size

| | |
|---|---|
| pairs | {st['n_pairs']} |
| distinct prompts | {st['n_prompts']} |
| pair policies | {', '.join(st['pair_policies']) or '—'} |
| judge rubric version | {', '.join(f'`{v}`' for v in rubrics) or 'unknown'} |

## Provenance

Every row carries `item_id` and a `provenance` JSON string: the models and prompt versions used and
the debate (critiques, verdict, reflection) behind each side.

Models per agent slot:

| slot | model |
|---|---|
{rows(st['models'])}

Prompt versions per agent slot:

| slot | version |
|---|---|
{rows(st['prompt_versions'])}

## Length statistics (characters)

| | mean | median | min | max |
|---|---|---|---|---|
| chosen | {cl['mean']} | {cl['median']} | {cl['min']} | {cl['max']} |
| rejected | {rl['mean']} | {rl['median']} | {rl['min']} | {rl['max']} |

**Length baseline warning.** The chosen response is longer than the rejected one in **{share_txt}** of
the pairs. On greeting data a response's length alone predicts the human label most of the time, so
a reward model trained on these pairs can learn "longer is better" instead of quality. Compare any
model trained on them with a length-only baseline, and on a length-controlled slice (e.g. 30–50
characters).

## License

`{license}` is a placeholder: set the license that the data and the terms of the models that wrote
it allow before sharing this dataset.
"""
    return "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n" + body


def write_dataset_card(pairs: str | os.PathLike[str], dest_dir: str | os.PathLike[str], *, fmt: str = "hf",
                       **kwargs: Any) -> Path:
    """Write ``README.md`` (:func:`dataset_card`) and ``metadata.json`` (:func:`pair_statistics`) into ``dest_dir``.

    Returns:
        The card's path.
    """
    dest = Path(dest_dir)
    stats = pair_statistics(pairs)
    meta = {"format": fmt, "source": str(_pairs_path(pairs)), **stats,
            **({"rubric_version": kwargs["rubric_version"]} if kwargs.get("rubric_version") else {})}
    atomic_write_json(dest / "metadata.json", meta)
    return atomic_write(dest / "README.md", dataset_card(pairs, fmt=fmt, stats=stats, **kwargs))


def push_to_hub(pairs: str | os.PathLike[str], repo_id: str, *, token: str | None = None, private: bool = True,
                **card: Any) -> str:
    """Upload a run's pairs (:func:`to_hf_dataset` with provenance) and their card to the Hugging Face Hub.

    Args:
        pairs: A run's output folder or its ``pairs.jsonl``.
        repo_id: ``user/name`` of the dataset repository (created if absent).
        token: A write token; default ``HF_TOKEN`` from the environment.
        private: Create the repository private (the default: check the card and license first).
        **card: Passed to :func:`dataset_card` (``rubric_version``, ``language``, ``license``).

    Returns:
        The repository's URL.

    Raises:
        InputError: No token (nothing is uploaded).
    """
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise InputError("no Hugging Face token: set HF_TOKEN (a write token) or pass token=", field="HF_TOKEN")
    from huggingface_hub import HfApi

    ds = to_hf_dataset(pairs, provenance=True)
    ds.push_to_hub(repo_id, token=token, private=private)
    # After the data: push_to_hub writes a bare card of its own, which ours replaces.
    HfApi(token=token).upload_file(path_or_fileobj=dataset_card(pairs, fmt="hf", repo_id=repo_id, **card).encode(),
                                   path_in_repo="README.md", repo_id=repo_id, repo_type="dataset",
                                   commit_message="Dataset card (inkforge)")
    return f"https://huggingface.co/datasets/{repo_id}"


def export_pairs(out_dir: str | os.PathLike[str], formats: Iterable[str], **card: Any) -> dict[str, Any]:
    """Run the named exporters on ``out_dir/pairs.jsonl``; files go to ``out_dir/export/<format>/``,
    each folder with its ``README.md`` dataset card and ``metadata.json``.

    Args:
        out_dir: The run's output folder.
        formats: Names from :data:`EXPORTERS`.
        **card: Passed to :func:`dataset_card` (``rubric_version``, ``language``, ``license``, ``repo_id``).

    Raises:
        InputError: Unknown format name (before anything is written).
    """
    out = Path(out_dir)
    formats = list(formats)
    for fmt in formats:
        if fmt not in EXPORTERS:
            raise InputError(f"unknown export format {fmt!r}; known: {', '.join(EXPORTERS)}", field="export")
    done: dict[str, Any] = {}
    for fmt in formats:
        dest = out / "export" / fmt
        if fmt == "hf":
            to_hf_dataset(out, provenance=True).save_to_disk(str(dest))
            done["hf"] = dest
        elif fmt == "verl":
            done["verl"] = to_verl_parquet(out, dest)
        else:
            done["openrlhf"] = to_openrlhf_jsonl(out, dest / "pairs.jsonl")
        write_dataset_card(out, dest, fmt=fmt, **card)
    return done
