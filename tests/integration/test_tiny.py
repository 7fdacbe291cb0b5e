"""The tiny offline model builder every other test relies on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from inkforge.testing.tiny import build_tiny_chat_model, build_tiny_reward_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "chat", corpus=["额外的语料：龘"])


def test_loads_with_auto_classes_offline(tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size == len(tok)
    assert tok.eos_token == "<|im_end|>"
    assert tok.pad_token == "<|endoftext|>"
    assert model.config.pad_token_id == tok.pad_token_id


def test_chat_template_is_qwen_style(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    text = tok.apply_chat_template(
        [{"role": "user", "content": "生日祝福"}], tokenize=False, add_generation_prompt=True
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n生日祝福<|im_end|>\n<|im_start|>assistant\n"
    )
    with_system = tok.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}],
        tokenize=False,
    )
    assert with_system == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"


def test_byte_level_round_trip_of_chinese_json_and_emoji(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    text = '{"verdict": "pass", "reason": "温暖真诚"} 祝你生日快乐！🎉 龘'
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(ids) == text
    # The corpus taught merges: a familiar greeting is far fewer tokens than its UTF-8 bytes.
    greeting = "祝你生日快乐！愿新的一岁平安喜乐，万事顺意。"
    assert len(tok(greeting, add_special_tokens=False).input_ids) < len(greeting.encode()) / 3
    # Special tokens are single ids, never split.
    assert len(tok("<|im_start|>", add_special_tokens=False).input_ids) == 1


def test_generation_stops_and_is_reproducible(tiny_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": "祝福"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    torch.manual_seed(0)
    first = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    second = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert torch.equal(first, second)
    assert first.shape[1] <= inputs["input_ids"].shape[1] + 8


def test_reuse_is_idempotent_and_params_change_rebuilds(tiny_dir: Path, tmp_path: Path) -> None:
    marker = json.loads((tiny_dir / "inkforge_tiny.json").read_text())
    mtime = (tiny_dir / "config.json").stat().st_mtime_ns
    again = build_tiny_chat_model(tiny_dir, corpus=["额外的语料：龘"])
    assert again == tiny_dir
    assert (tiny_dir / "config.json").stat().st_mtime_ns == mtime
    assert json.loads((tiny_dir / "inkforge_tiny.json").read_text()) == marker

    other = build_tiny_chat_model(tmp_path / "wide", hidden_size=16, num_layers=1)
    cfg = json.loads((other / "config.json").read_text())
    assert cfg["hidden_size"] == 16 and cfg["num_hidden_layers"] == 1
    build_tiny_chat_model(other, hidden_size=16, num_layers=2)
    assert json.loads((other / "config.json").read_text())["num_hidden_layers"] == 2
    # No staging folders are left behind.
    assert [p.name for p in tmp_path.iterdir()] == ["wide"]


def test_weights_depend_on_seed(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(build_tiny_chat_model(tmp_path / "a", seed=1))
    b = AutoModelForCausalLM.from_pretrained(build_tiny_chat_model(tmp_path / "b", seed=1))
    c = AutoModelForCausalLM.from_pretrained(build_tiny_chat_model(tmp_path / "c", seed=2))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert (wa == wb).all()
    assert not (wa == wc).all()


def test_tiny_reward_model_scores_a_batch(tiny_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = build_tiny_reward_model(tmp_path / "rm", base=tiny_dir)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path)
    assert model.config.num_labels == 1
    assert model.config.pad_token_id == tok.pad_token_id
    batch = tok(["祝你快乐", "新年快乐，万事如意！"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, 1)
