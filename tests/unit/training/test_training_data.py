"""Data loaders for the training stages: every accepted format, and clear errors on malformed rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inkforge.training.data import (
    DataFormatError,
    build_prompt,
    detect_format,
    load_preference_dataset,
    load_prompt_dataset,
    load_sft_dataset,
)

PREFIX = "请只生成一条祝福语："


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def _json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# -- build_prompt -----------------------------------------------------------------------------------


def test_build_prompt_adds_prefix_once_and_system_turn() -> None:
    assert build_prompt("生日", prompt_prefix=PREFIX) == [{"role": "user", "content": PREFIX + "生日"}]
    assert build_prompt(PREFIX + "生日", prompt_prefix=PREFIX, conversational=False) == PREFIX + "生日"
    messages = build_prompt("生日", prompt_prefix=PREFIX, system_prompt="你是祝福语作家")
    assert messages[0] == {"role": "system", "content": "你是祝福语作家"}
    # Chat prompts: the prefix goes on the last user turn, once.
    chat = [{"role": "user", "content": "早"}, {"role": "assistant", "content": "早！"}, {"role": "user", "content": "再来"}]
    out = build_prompt(chat, prompt_prefix=PREFIX)
    assert [m["content"] for m in out] == ["早", "早！", PREFIX + "再来"]
    assert build_prompt(out, prompt_prefix=PREFIX) == out


# -- SFT --------------------------------------------------------------------------------------------


def test_sft_jsonl_conversational_with_prefix(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "sft.jsonl", [
        {"prompt": "给妈妈的生日祝福", "response": "妈妈生日快乐！", "id": 1},
        {"query": "同事升职", "completion": "恭喜升职！"},
        {"prompt": "毕业", "output": "毕业快乐！"},
    ])
    ds = load_sft_dataset(path, prompt_prefix=PREFIX)
    assert ds.column_names == ["prompt", "completion"]
    assert ds[0]["prompt"] == [{"role": "user", "content": PREFIX + "给妈妈的生日祝福"}]
    assert ds[0]["completion"] == [{"role": "assistant", "content": "妈妈生日快乐！"}]
    assert ds[1]["completion"][0]["content"] == "恭喜升职！"
    assert ds[2]["completion"][0]["content"] == "毕业快乐！"


def test_sft_standard_format_and_max_samples(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "sft.jsonl", [{"prompt": f"q{i}", "response": f"r{i}"} for i in range(5)])
    ds = load_sft_dataset(path, conversational=False, max_samples=2)
    assert len(ds) == 2
    assert ds[1] == {"prompt": "q1", "completion": "r1"}


def test_sft_alpaca_and_sharegpt(tmp_path: Path) -> None:
    alpaca = _json(tmp_path / "alpaca.json", [
        {"instruction": "写一条生日祝福", "input": "给外婆", "output": "外婆生日快乐！"},
        {"instruction": "写一条新年祝福", "input": "", "output": "新年快乐！"},
    ])
    assert detect_format(alpaca) == "alpaca"
    ds = load_sft_dataset(alpaca, prompt_prefix=PREFIX, conversational=False)
    assert ds[0] == {"prompt": PREFIX + "写一条生日祝福\n给外婆", "completion": "外婆生日快乐！"}
    assert ds[1]["prompt"] == PREFIX + "写一条新年祝福"

    sharegpt = _json(tmp_path / "sharegpt.json", [
        {"conversations": [{"from": "human", "value": "生日祝福"}, {"from": "gpt", "value": "生日快乐！"}],
         "system": "你是祝福语作家"},
    ])
    assert detect_format(sharegpt) == "sharegpt"
    ds = load_sft_dataset(sharegpt)
    assert ds[0]["prompt"] == [{"role": "system", "content": "你是祝福语作家"}, {"role": "user", "content": "生日祝福"}]
    assert ds[0]["completion"] == [{"role": "assistant", "content": "生日快乐！"}]


# -- preference -------------------------------------------------------------------------------------


def test_pairs_jsonl_drops_provenance(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": "生日祝福", "chosen": "愿你岁岁平安，生日快乐！", "rejected": "快乐", "chosen_votes": 3,
         "source": {"graph": "curation", "round": 2}},
    ])
    ds = load_preference_dataset(path, prompt_prefix=PREFIX)
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    assert ds[0]["prompt"][0]["content"] == PREFIX + "生日祝福"
    assert ds[0]["chosen"] == [{"role": "assistant", "content": "愿你岁岁平安，生日快乐！"}]
    assert load_preference_dataset(path, conversational=False)[0]["rejected"] == "快乐"


def test_sharegpt_pairwise(tmp_path: Path) -> None:
    path = _json(tmp_path / "dpo.json", [{
        "conversations": [{"from": "human", "value": "新年祝福"}],
        "chosen": {"from": "gpt", "value": "新年快乐，万事如意！"},
        "rejected": {"from": "gpt", "value": "新年好"},
    }])
    ds = load_preference_dataset(path, prompt_prefix=PREFIX)
    assert ds[0]["prompt"] == [{"role": "user", "content": PREFIX + "新年祝福"}]
    assert ds[0]["chosen"][0]["content"] == "新年快乐，万事如意！"
    assert ds[0]["rejected"][0]["content"] == "新年好"


# -- prompts ----------------------------------------------------------------------------------------


def test_prompts_txt_and_jsonl(tmp_path: Path) -> None:
    txt = tmp_path / "q.txt"
    txt.write_text("生日祝福\n\n  新年祝福  \n", encoding="utf-8")
    ds = load_prompt_dataset(txt, prompt_prefix=PREFIX)
    assert ds["query"] == ["生日祝福", "新年祝福"]
    assert ds[1]["prompt"] == [{"role": "user", "content": PREFIX + "新年祝福"}]

    jl = _jsonl(tmp_path / "q.jsonl", [{"query": "中秋祝福"}, {"prompt": "端午祝福"}])
    assert load_prompt_dataset(jl, conversational=False)["prompt"] == ["中秋祝福", "端午祝福"]


def test_prompts_verl_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"data_source": "greeting", "prompt": [{"role": "user", "content": PREFIX + "生日祝福"}],
         "ability": "writing", "reward_model": {"style": "model", "ground_truth": "好"}, "extra_info": {"index": 0}},
        {"data_source": "greeting", "prompt": [{"role": "user", "content": "乔迁祝福"}],
         "ability": "writing", "reward_model": {"style": "model", "ground_truth": "佳"}, "extra_info": {"index": 1}},
    ]
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert detect_format(path) == "verl"
    ds = load_prompt_dataset(path, prompt_prefix=PREFIX)
    # Already-prefixed prompts are not prefixed twice; the bare query drops the prefix.
    assert ds[0]["prompt"] == [{"role": "user", "content": PREFIX + "生日祝福"}]
    assert ds["query"] == ["生日祝福", "乔迁祝福"]
    assert ds[1]["prompt"][0]["content"] == PREFIX + "乔迁祝福"
    assert ds["ground_truth"] == ["好", "佳"]
    assert ds["data_source"] == ["greeting", "greeting"]


# -- malformed rows ---------------------------------------------------------------------------------


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": "a", "chosen": "好的祝福", "rejected": "差"},
        {"prompt": "b", "chosen": "好的祝福"},
    ])
    with pytest.raises(DataFormatError) as info:
        load_preference_dataset(path)
    assert str(info.value).startswith(f"{path}:2: field 'rejected': missing")
    assert info.value.line == 2 and info.value.field == "rejected"


def test_invalid_json_line(tmp_path: Path) -> None:
    path = tmp_path / "sft.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a", "response": \n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"sft.jsonl:2: invalid JSON"):
        load_sft_dataset(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "a", "response": ""}, "field 'response': empty string"),
        ({"prompt": 3, "response": "b"}, "field 'prompt': expected a string, got int"),
        (["not", "an", "object"], "expected a JSON object, got list"),
    ],
)
def test_bad_values(tmp_path: Path, row: object, message: str) -> None:
    path = _jsonl(tmp_path / "sft.jsonl", [{"prompt": "ok", "response": "ok"}, row])
    with pytest.raises(DataFormatError, match=r":2: ") as info:
        load_sft_dataset(path)
    assert message in str(info.value)


def test_json_list_errors_name_the_row(tmp_path: Path) -> None:
    path = _json(tmp_path / "alpaca.json", [
        {"instruction": "a", "output": "b"},
        {"instruction": "c", "output": "d"},
        {"instruction": "e"},
    ])
    with pytest.raises(DataFormatError) as info:
        load_sft_dataset(path)
    assert str(info.value) == f"{path}: row 2: field 'output': missing (present fields: ['instruction'])"

    bad_turn = _json(tmp_path / "sharegpt.json", [
        {"conversations": [{"from": "human", "value": "生日"}, {"from": "robot", "value": "嗨"}]},
    ])
    with pytest.raises(DataFormatError, match=r"row 0: field 'conversations\[1\].from': unknown speaker 'robot'"):
        load_sft_dataset(bad_turn)


def test_identical_pair_and_unknown_extension(tmp_path: Path) -> None:
    same = _jsonl(tmp_path / "pairs.jsonl", [{"prompt": "a", "chosen": "同一句", "rejected": "同一句"}])
    with pytest.raises(DataFormatError, match="chosen and rejected are identical"):
        load_preference_dataset(same)
    odd = tmp_path / "data.csv"
    odd.write_text("prompt,response\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="cannot tell the format"):
        load_sft_dataset(odd)
    with pytest.raises(DataFormatError, match="no such file"):
        load_prompt_dataset(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no usable rows"):
        load_prompt_dataset(empty)
