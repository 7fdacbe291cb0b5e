"""OpenRLHF's reward protocol: split its samples into request and completion, score a batch.

OpenRLHF sends ``query`` = prompt (chat template applied) + response, ``prompts`` = the prompt and
optional ``labels``. :func:`score_openrlhf` turns such a batch into the answer OpenRLHF expects; it is
the body of two entry points:

* ``POST /get_reward`` of :class:`~inkforge.rewards.serving.server.RewardServer` (``--remote_rm_url
  http://host:port/get_reward``);
* ``reward_func`` in :mod:`inkforge.rewards.openrlhf`, the file OpenRLHF loads by path
  (``--remote_rm_url /path/to/inkforge/rewards/openrlhf.py``).

This module is the protocol; :mod:`inkforge.rewards.openrlhf` is only the loadable file.

Example:
    >>> split_openrlhf("<|im_start|>user\\n端午祝福<|im_end|>\\n<|im_start|>assistant\\n粽叶飘香，端午安康！<|im_end|>")
    ('端午祝福', '粽叶飘香，端午安康！')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from inkforge.rewards.outcomes import impute_failures

__all__ = ["OnFailure", "ascore_openrlhf", "label_query", "score_openrlhf", "split_openrlhf"]

#: What a failed item gets in an OpenRLHF answer: its group's mean reward, or ``null``.
OnFailure = Literal["impute", "null"]

# End-of-turn markers a decoded OpenRLHF sample may end with (Qwen/ChatML, Llama 2/3, DeepSeek, GLM).
_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
               "<|end|>", "<|user|>")
_CHATML_USER = re.compile(r"<\|im_start\|>user\s*\n(.*?)<\|im_end\|>", re.S)
_CHATML_ASSISTANT = re.compile(r"<\|im_start\|>assistant\s*\n(.*?)(?:<\|im_end\|>|$)", re.S)
_LLAMA3_USER = re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*(.*?)<\|eot_id\|>", re.S)
_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|<｜[^｜]{1,40}｜>")


def _strip_end(text: str) -> str:
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for tok in _END_TOKENS:
            if text.endswith(tok):
                text = text[: -len(tok)].rstrip()
                changed = True
    return text


def label_query(label: Any) -> str | None:
    """The bare request carried by a label: a mapping's or a JSON object's ``query``, or the string itself.

    verl's ``ground_truth`` and OpenRLHF's ``--label_key`` column both carry it this way.

    Example:
        >>> label_query('{"query": "中秋祝福", "id": 7}'), label_query("春节问候"), label_query(None)
        ('中秋祝福', '春节问候', None)
    """
    if isinstance(label, Mapping):
        q = label.get("query")
        return str(q) if q else None
    if isinstance(label, str) and label.strip():
        s = label.strip()
        if s.startswith("{"):
            try:
                data = json.loads(s)
            except ValueError:
                return s
            return label_query(data)
        return s
    return None


def _request_from_prompt(prompt: str) -> str:
    for pattern in (_CHATML_USER, _LLAMA3_USER):
        found = pattern.findall(prompt)
        if found:
            return found[-1].strip()
    return _SPECIAL.sub("", prompt).strip()


def split_openrlhf(query: str, prompt: str | None = None, label: Any = None) -> tuple[str, str]:
    """Split an OpenRLHF sample into (bare request, completion text).

    OpenRLHF sends ``query`` = prompt (chat template applied) + response, and ``prompts`` = the
    prompt. The request comes from the label when it carries one (``--label_key query``, or a JSON
    object with a ``query`` field), else from the last user turn of the templated prompt.

    Example:
        >>> p = "<|im_start|>user\\n生日祝福<|im_end|>\\n<|im_start|>assistant\\n"
        >>> split_openrlhf(p + "生日快乐！<|im_end|>", p)
        ('生日祝福', '生日快乐！')
    """
    if prompt and query.startswith(prompt):
        completion = query[len(prompt):]
        request = label_query(label) or _request_from_prompt(prompt)
    else:
        turns = _CHATML_ASSISTANT.findall(query)
        completion = turns[-1] if turns else query
        head = query[: query.rfind(completion)] if turns else (prompt or "")
        request = label_query(label) or _request_from_prompt(head or query)
    return request, _strip_end(completion)


def score_openrlhf(reward: Any, queries: Sequence[str], prompts: Sequence[str] | None = None,
                   labels: Sequence[Any] | None = None, *, on_failure: OnFailure = "impute") -> dict[str, Any]:
    """Score an OpenRLHF batch: the body of ``/get_reward`` answers and of the ``reward_func`` adapter.

    Args:
        reward: A :class:`~inkforge.rewards.judge.JudgeReward` or
            :class:`~inkforge.rewards.serving.client.RemoteJudgeReward` (anything with
            ``score_batch`` and ``check_failures``).
        queries: Prompt + response texts.
        prompts: Prompt texts (absent in old OpenRLHF versions).
        labels: Labels (``--label_key``); a string or ``{"query": ...}`` is taken as the request.
        on_failure: ``impute`` (group mean, see :func:`~inkforge.rewards.outcomes.impute_failures`)
            or ``null``.

    Returns:
        ``{"rewards", "scores", "extra_logs", "status", "stats"}`` as plain lists.

    Raises:
        FailFastError: The batch's failure rate exceeds the judge's ``max_failure_rate``.
    """
    keys, completions, requests = _openrlhf_items(queries, prompts, labels)
    batch = reward.score_batch(keys, completions, queries=requests)
    reward.check_failures(batch)
    return _openrlhf_answer(batch, keys, on_failure)


async def ascore_openrlhf(reward: Any, queries: Sequence[str], prompts: Sequence[str] | None = None,
                          labels: Sequence[Any] | None = None, *, on_failure: OnFailure = "impute") -> dict[str, Any]:
    """:func:`score_openrlhf` for a reward with ``ascore_batch`` (the reward server, on its event loop)."""
    keys, completions, requests = _openrlhf_items(queries, prompts, labels)
    batch = await reward.ascore_batch(keys, completions, queries=requests)
    reward.check_failures(batch)
    return _openrlhf_answer(batch, keys, on_failure)


def _openrlhf_items(queries: Sequence[str], prompts: Sequence[str] | None,
                    labels: Sequence[Any] | None) -> tuple[list[str], list[str], list[str]]:
    """Group keys, completions and bare requests of an OpenRLHF batch."""
    n = len(queries)
    prompts = list(prompts) if prompts else [""] * n
    labels = list(labels) if labels else [None] * n
    if len(prompts) != n or len(labels) != n:
        raise ValueError(f"{n} queries but {len(prompts)} prompts and {len(labels)} labels")
    pairs = [split_openrlhf(q, p, lab) for q, p, lab in zip(queries, prompts, labels, strict=True)]
    requests = [r for r, _ in pairs]
    keys = [p or r for p, r in zip(prompts, requests, strict=True)]
    return keys, [c for _, c in pairs], requests


def _openrlhf_answer(batch: Any, keys: Sequence[str], on_failure: OnFailure) -> dict[str, Any]:
    raw = batch.rewards
    rewards: list[float | None] = list(impute_failures(raw, keys)) if on_failure == "impute" else list(raw)
    scores = [None if r is None else min(1.0, max(0.0, r)) for r in rewards]
    return {
        "rewards": rewards, "scores": scores,
        "extra_logs": {"judge_failed": [0.0 if o.ok else 1.0 for o in batch.outcomes],
                       "judge_cached": [1.0 if o.cached else 0.0 for o in batch.outcomes]},
        "status": batch.statuses, "stats": batch.stats,
    }
