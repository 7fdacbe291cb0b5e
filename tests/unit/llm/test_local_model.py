"""The embedded local model on the tiny random model: per-call seeds and the context window."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from inkforge.agents import JUDGE
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime, build_chat_model
from inkforge.llm.transport import ContextLengthError

MESSAGES = [HumanMessage("给妈妈的生日祝福")]


def _sampler(tiny_model_dir: Path, max_tokens: int = 12) -> object:
    return build_chat_model(ModelSpec(provider="local", model=str(tiny_model_dir), temperature=1.0,
                                      max_tokens=max_tokens))


def test_seed_makes_each_call_its_own_reproducible_sample(tiny_model_dir: Path) -> None:
    import torch

    model = _sampler(tiny_model_dir)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = [model.invoke(MESSAGES, seed=s).content for s in range(4)]  # type: ignore[attr-defined]
    # Seeded calls leave the process's random stream where it was.
    assert torch.equal(torch.rand(3), expected_next)
    again = [model.invoke(MESSAGES, seed=s).content for s in range(4)]  # type: ignore[attr-defined]
    assert again == first
    assert len(set(first)) == 4, first  # four seeds: four independent samples
    # The same seed through bound pipeline kwargs (how the agent layer binds decoding options) or async.
    bound = model.bind(pipeline_kwargs={"seed": 2})  # type: ignore[attr-defined]
    assert bound.invoke(MESSAGES).content == first[2]
    assert asyncio.run(model.ainvoke(MESSAGES, seed=3)).content == first[3]  # type: ignore[attr-defined]


def test_prompt_longer_than_the_context_window_is_a_clear_error(tiny_model_dir: Path) -> None:
    model = _sampler(tiny_model_dir, max_tokens=16)
    with pytest.raises(ContextLengthError) as e:
        model.invoke([HumanMessage("祝福" * 2000)])  # type: ignore[attr-defined]
    err = e.value
    assert err.model == str(tiny_model_dir) and err.context_length == 1024 and err.max_new_tokens == 16
    assert err.prompt_tokens > 1024
    assert str(tiny_model_dir) in str(err) and "1024" in str(err) and str(err.prompt_tokens) in str(err)
    # A prompt that fits but leaves no room for max_tokens is the same error, before any generation.
    with pytest.raises(ContextLengthError):
        _sampler(tiny_model_dir, max_tokens=1020).invoke(MESSAGES)  # type: ignore[attr-defined]


def test_agent_reports_an_overlong_prompt_as_a_failure(tiny_model_dir: Path) -> None:
    spec = ModelSpec(provider="local", model=str(tiny_model_dir), max_tokens=32, temperature=0.0, max_reasks=0)
    rt = Runtime(InkforgeConfig(models={"default": spec}, cache=None))
    res = JUDGE.bind(rt).invoke({"query": "q", "response": "长" * 3000, "positive": "", "negative": ""})
    assert res.status == "error" and res.output is None
    assert "ContextLengthError" in (res.error or "") and "1024" in (res.error or "")
