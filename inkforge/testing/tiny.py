"""Tiny, randomly initialised Qwen2-style chat models for offline tests, demos and benchmarks.

Everything here is built locally in about a second: a byte-level BPE tokenizer trained with
``tokenizers`` on a small built-in corpus of our own Chinese and English greeting-like text (plus
any extra text the caller passes), wrapped as a :class:`~transformers.PreTrainedTokenizerFast` with
Qwen's special tokens and a Qwen2-style chat template, and a tiny :class:`~transformers.Qwen2ForCausalLM`.
The result is a folder that ``AutoTokenizer.from_pretrained`` / ``AutoModelForCausalLM.from_pretrained``
load with ``HF_HUB_OFFLINE=1``, so every trainer, graph and CLI path can run without the hub.

Example:
    >>> from inkforge.testing.tiny import build_tiny_chat_model
    >>> path = build_tiny_chat_model("/tmp/tiny-chat")  # doctest: +SKIP
    >>> from transformers import AutoModelForCausalLM, AutoTokenizer
    >>> tok = AutoTokenizer.from_pretrained(path)  # doctest: +SKIP
    >>> model = AutoModelForCausalLM.from_pretrained(path)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "QWEN2_CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "build_tiny_chat_model",
    "build_tiny_reward_model",
    "builtin_corpus",
]

#: Qwen's special tokens. ``<|im_end|>`` ends an assistant turn (so it is the eos token, as in
#: Qwen2.5-Instruct: generation must stop at the end of the turn) and ``<|endoftext|>`` pads.
SPECIAL_TOKENS: tuple[str, ...] = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

#: Qwen2-style ChatML template (the Qwen2 release's, minus tool calling). A default system turn is
#: added when the conversation has none, exactly like Qwen2/2.5, so prompts built here tokenise the
#: same way as on the real models.
QWEN2_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Our own greeting-like text (written for inkforge, not taken from any data set). It covers the
# characters the tests and demos use, the chat-template scaffolding and JSON punctuation, so short
# Chinese greetings and judge-style JSON verdicts tokenise into a handful of tokens each.
_CORPUS_ZH = """\
请只生成一条祝福语：
祝你生日快乐！愿新的一岁平安喜乐，万事顺意。
新年快乐！祝您身体健康，阖家幸福，事业蒸蒸日上。
愿你前程似锦，心想事成，每一天都被温柔以待。
恭喜你们喜结良缘，愿你们白头偕老，永结同心。
祝老师教师节快乐，感谢您的辛勤付出与悉心教导。
中秋佳节，月圆人团圆，祝你和家人幸福美满。
祝妈妈母亲节快乐，您的爱是我一生最温暖的港湾。
祝爸爸父亲节快乐，愿您健康长寿，笑口常开。
祝你考试顺利，金榜题名，梦想成真！
早上好！愿晨光为你带来好心情，今天也要加油哦。
晚安，愿你好梦香甜，明天醒来满是希望。
祝贺你升职加薪，未来的路越走越宽广。
春节到了，祝大家新春大吉，龙马精神，福气满满。
宝贝，生日快乐！愿你健康成长，天天开心。
亲爱的朋友，感谢一路有你，愿我们的友谊地久天长。
愿你的生活像春天一样充满阳光和花香。
祝福送给你：平安、健康、快乐、幸福、顺利。
一句简短的祝福：岁岁平安，年年有余。
给闺蜜的生日祝福：愿你永远可爱，永远被爱。
结婚祝福语：百年好合，早生贵子，甜甜蜜蜜。
毕业快乐！愿你带着梦想出发，归来仍是少年。
祝你乔迁之喜，新居吉祥，生活红红火火。
开业大吉，生意兴隆，财源广进，蒸蒸日上！
评价：这条祝福语真诚、具体、有温度，语言优美。
评价：这条祝福语过于笼统，缺少个性，篇幅太短。
优秀 合格 不合格 理由 分数 标准 评分 规则 长度 字数
"""

_CORPUS_EN = """\
Happy birthday! Wishing you a year full of joy, health and wonderful surprises.
Happy New Year to you and your family. May every day bring peace and laughter.
Congratulations on your wedding! May your love grow stronger every year.
Good morning! I hope today brings you sunshine and a reason to smile.
Thank you, teacher, for your patience, kindness and guidance.
Best wishes for your exams. Believe in yourself and you will shine.
Merry Christmas and a happy holiday season to everyone.
system user assistant You are a helpful assistant.
Write one short greeting for the following request.
The greeting is warm, specific and sincere. The greeting is too short and too generic.
"""

# JSON punctuation and judge-style verdicts, so structured outputs tokenise sensibly.
_CORPUS_JSON = """\
{"verdict": "pass", "score": 1, "reason": "warm and specific"}
{"verdict": "fail", "score": 0, "reason": "too short"}
{"label": 1, "criteria": ["sincere", "specific", "fluent"], "notes": null, "ok": true}
{"prompt": "生日祝福", "chosen": "祝你生日快乐！", "rejected": "快乐。"}
{"query": "新年祝福", "response": "新年快乐，万事如意！", "label": 0}
[{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}]
{"a": [1, 2, 3], "b": {"c": -4.5e-3}, "d": false}
0 1 2 3 4 5 6 7 8 9 10 20 30 40 50 100 2025 ,.;:!?'"()[]{}<>/\\|_-+=*&^%$#@~`
"""


def builtin_corpus() -> list[str]:
    """The built-in tokenizer corpus, one string per line.

    Returns:
        Lines of our own Chinese greetings, English greetings and JSON snippets.
    """
    return [line for block in (_CORPUS_ZH, _CORPUS_EN, _CORPUS_JSON) for line in block.splitlines() if line]


def _fingerprint(params: Mapping[str, object], corpus: list[str]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for line in corpus:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


_MARKER = "inkforge_tiny.json"


def _is_built(path: Path, fingerprint: str) -> bool:
    marker = path / _MARKER
    if not marker.is_file() or not (path / "config.json").is_file() or not (path / "tokenizer.json").is_file():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
    except (OSError, json.JSONDecodeError):
        return False


def _train_tokenizer(corpus: list[str], vocab_size: int):  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    # Byte-level, like Qwen: any string (any script, any emoji) round-trips, there is no <unk>.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=4096,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = QWEN2_CHAT_TEMPLATE
    return fast


def build_tiny_chat_model(
    path: str | os.PathLike[str],
    *,
    corpus: Iterable[str] | None = None,
    vocab_size: int = 1024,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    max_position_embeddings: int = 1024,
    seed: int = 0,
) -> Path:
    """Build (or reuse) a tiny random Qwen2 chat model with a locally trained tokenizer.

    The folder is reused when it already holds a model built with the same arguments and corpus
    (a fingerprint is stored in ``inkforge_tiny.json``), so session fixtures and benchmarks can call
    this freely. The build happens in a temporary sibling folder that is renamed into place, so an
    interrupted build never leaves a half-written model behind.

    Args:
        path: Target folder.
        corpus: Extra text (e.g. a data set's responses) to train the tokenizer on, in addition to
            the built-in corpus. More text gives longer merges, i.e. fewer tokens per greeting.
        vocab_size: Upper bound on the BPE vocabulary (the special tokens included). The real size
            can be smaller when the corpus runs out of merges.
        hidden_size: Model width.
        num_layers: Number of decoder layers.
        num_heads: Attention heads (must divide ``hidden_size``); key/value heads are half of it.
        max_position_embeddings: Longest sequence the model accepts.
        seed: Seed for the random weights.

    Returns:
        The folder, loadable with ``AutoTokenizer`` and ``AutoModelForCausalLM``.

    Example:
        >>> path = build_tiny_chat_model(tmp_path / "tiny", hidden_size=16)  # doctest: +SKIP
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    lines = builtin_corpus() + [str(line) for line in (corpus or [])]
    params = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "max_position_embeddings": max_position_embeddings,
        "seed": seed,
        "version": 2,
    }
    fingerprint = _fingerprint(params, lines)
    if _is_built(path, fingerprint):
        return path

    tokenizer = _train_tokenizer(lines, vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=max_position_embeddings,
        # Untied like Qwen2.5-7B: with tied random embeddings greedy decoding just repeats the last
        # prompt token, which makes generation-based tests meaningless.
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    # Seed locally so building a model does not disturb the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    # Stop at either end token, like Qwen2.5-Instruct's generation_config.json.
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
    )

    return _publish(path, model, tokenizer, {"fingerprint": fingerprint, "params": params})


def build_tiny_reward_model(
    path: str | os.PathLike[str],
    *,
    base: str | os.PathLike[str] | None = None,
    seed: int = 0,
    **chat_model_kwargs: object,
) -> Path:
    """Build (or reuse) a tiny random Qwen2 reward model: sequence classification with one label.

    Args:
        path: Target folder.
        base: A tiny chat model folder (from :func:`build_tiny_chat_model`) whose tokenizer and
            backbone shape to reuse. When ``None``, a chat model is built in ``path/_base`` first.
        seed: Seed for the random score head.
        **chat_model_kwargs: Forwarded to :func:`build_tiny_chat_model` when ``base`` is ``None``.

    Returns:
        The folder, loadable with ``AutoModelForSequenceClassification`` and ``AutoTokenizer``.

    Example:
        >>> rm = build_tiny_reward_model(tmp_path / "rm", base=tiny_chat)  # doctest: +SKIP
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = Path(path)
    if base is None:
        base = build_tiny_chat_model(path.parent / f"{path.name}_base", seed=seed, **chat_model_kwargs)  # type: ignore[arg-type]
    base = Path(base)
    base_marker = json.loads((base / _MARKER).read_text(encoding="utf-8")) if (base / _MARKER).is_file() else {}
    fingerprint = hashlib.sha256(
        json.dumps({"base": base_marker.get("fingerprint", str(base)), "seed": seed, "rm": 1}).encode()
    ).hexdigest()[:16]
    if _is_built(path, fingerprint):
        return path

    tokenizer = AutoTokenizer.from_pretrained(base)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # Backbone weights come from the chat model; only the score head is new.
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    # Sequence classification pools the last non-pad token, so the model must know the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id

    return _publish(path, model, tokenizer, {"fingerprint": fingerprint})


def _publish(path: Path, model: Any, tokenizer: Any, marker: dict[str, Any]) -> Path:
    """Save ``model`` and ``tokenizer`` into ``path`` atomically, with the build marker.

    Written to a staging folder beside ``path`` and renamed into place, so parallel test workers
    never load a half-written model and a crash leaves no folder that looks built.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / _MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path
