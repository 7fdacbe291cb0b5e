"""Evaluate a trained policy: generate greetings for held-out queries and report quality and diversity.

The report (``inkforge eval-policy --model DIR --prompts FILE [--judge rubric.json] [--reward-model DIR]``):

* **excellence rate**: the share of completions the judge passes (score ``>= judge_pass_threshold``).
  Items the judge failed to score are *not* passes and are counted separately (``unscored``);
  ``rate_scored`` gives the rate among scored items only. A failure is never turned into a 0 score.
* **reward-model score**: mean and standard deviation.
* **length** (characters), **distinct-1/2** and **self-BLEU** (character n-grams).
* the same quality figures on the **30–50-character slice**: human labels of greetings follow length
  ~90% of the time, so a policy can buy judge or reward-model points by writing longer; the slice
  shows whether it got better at a fixed length.
* a few sample rows.

Generation uses vLLM when it is installed and a GPU is present (``backend="auto"``), else transformers.

Example:
    >>> report = evaluate_policy("runs/grpo", ["生日祝福", "新年祝福"], reward_model="runs/rm")  # doctest: +SKIP
    >>> report["reward_model"]["mean"]  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import math
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from inkforge.core.aio import run_sync
from inkforge.training.data import build_prompt, load_prompt_dataset
from inkforge.training.metrics import distinct_n, length_stats, self_bleu

__all__ = ["evaluate_policy", "generate"]

BAND = (30, 50)


def _vllm_usable() -> bool:
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def generate(
    model_dir: str,
    prompts: Sequence[Any],
    *,
    n: int = 1,
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    top_p: float = 0.9,
    batch_size: int = 16,
    seed: int = 0,
    backend: Literal["auto", "transformers", "vllm"] = "auto",
) -> list[list[str]]:
    """Sample ``n`` completions per prompt.

    Args:
        model_dir: Model folder or hub id.
        prompts: Chat message lists or plain strings.
        n: Completions per prompt.
        max_new_tokens: Generation budget.
        temperature: Sampling temperature (``0`` for greedy).
        top_p: Nucleus sampling.
        batch_size: Prompts per transformers ``generate`` call.
        seed: Sampling seed.
        backend: ``auto`` picks vLLM when it is installed and a GPU is present.

    Returns:
        ``n`` completions (text, special tokens removed) for each prompt.
    """
    if backend == "vllm" or (backend == "auto" and _vllm_usable()):
        from vllm import LLM, SamplingParams

        llm = LLM(model=model_dir, seed=seed)
        params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=seed)
        if prompts and not isinstance(prompts[0], str):
            outputs = llm.chat([list(p) for p in prompts], params, use_tqdm=False)
        else:
            outputs = llm.generate(list(prompts), params, use_tqdm=False)
        return [[o.text.strip() for o in out.outputs] for out in outputs]

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    model = model.to(device).eval()  # type: ignore[arg-type]
    torch.manual_seed(seed)
    results: list[list[str]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        rendered = [
            p if isinstance(p, str) else tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True)
            for p in chunk
        ]
        batch = tokenizer(rendered, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {
            "do_sample": False}
        with torch.no_grad():
            out = model.generate(
                **batch, max_new_tokens=max_new_tokens, num_return_sequences=n,
                pad_token_id=tokenizer.pad_token_id, **sampling,
            )
        texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        for i in range(len(chunk)):
            results.append([t.strip() for t in texts[i * n : (i + 1) * n]])
    return results


def _call_reward(func: Callable[..., Any], prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[Any]:
    result = func(prompts=prompts, completions=completions, **kwargs)
    if inspect.isawaitable(result):  # an async judge
        result = run_sync(_await(result))
    return list(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _valid(score: Any) -> bool:
    return score is not None and not (isinstance(score, float) and math.isnan(score))


def _quality(rows: list[dict[str, Any]], threshold: float, has_judge: bool, has_rm: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    if has_judge:
        scores = [r["judge"] for r in rows]
        scored = [s for s in scores if _valid(s)]
        passed = sum(1 for s in scored if s >= threshold)
        out["excellence"] = {
            "rate": passed / len(rows) if rows else None,
            "rate_scored": passed / len(scored) if scored else None,
            "passed": passed,
            "failed": len(scored) - passed,
            "unscored": len(rows) - len(scored),
        }
    if has_rm:
        values = [r["reward_model"] for r in rows if _valid(r["reward_model"])]
        out["reward_model"] = {
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.pstdev(values) if len(values) > 1 else 0.0 if values else None,
            "n": len(values),
        }
    return out


def evaluate_policy(
    model_dir: str | os.PathLike[str],
    prompts: Sequence[str] | str | os.PathLike[str],
    *,
    judge: Any = None,
    reward_model: Any = None,
    n: int = 1,
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    top_p: float = 0.9,
    prompt_prefix: str = "请只生成一条祝福语：",
    system_prompt: str | None = None,
    conversational: bool = True,
    judge_pass_threshold: float = 0.5,
    max_prompts: int | None = None,
    num_samples: int = 8,
    backend: Literal["auto", "transformers", "vllm"] = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Generate for ``prompts`` with the policy at ``model_dir`` and build the report dict.

    Args:
        model_dir: Policy folder (or hub id).
        prompts: Queries, or a query file (``.txt``, ``.jsonl``, verl parquet).
        judge: A ``rubric.json`` path (built with :meth:`inkforge.rewards.judge.JudgeReward.from_rubric`)
            or any TRL reward callable whose scores are pass/fail-like (``>= judge_pass_threshold``
            passes). ``None`` skips the excellence rate.
        reward_model: A reward model folder or a :class:`~inkforge.rewards.reward_model.RewardModelReward`.
        n: Completions per prompt.
        max_new_tokens: Generation budget.
        temperature: Sampling temperature.
        top_p: Nucleus sampling.
        prompt_prefix: Prefix added to every query (the paper's ``请只生成一条祝福语：``).
        system_prompt: Optional system turn.
        conversational: Chat-template prompts.
        judge_pass_threshold: A judge score at or above this is a pass (binary judges: 1.0 = Good).
        max_prompts: Use only the first prompts.
        num_samples: Sample rows kept in the report.
        backend: Generation backend.
        seed: Sampling seed.

    Returns:
        The report: ``model``, ``n_prompts``, ``n_completions``, ``length``, ``distinct_1``,
        ``distinct_2``, ``self_bleu``, ``excellence`` (with a judge), ``reward_model`` (with a reward
        model), ``band_30_50`` (the same quality figures on 30–50-character completions) and ``samples``.

    Example:
        >>> report = evaluate_policy("runs/tiny", ["生日祝福"], n=2, max_new_tokens=8)  # doctest: +SKIP
    """
    if isinstance(prompts, str | os.PathLike) and Path(prompts).is_file():
        dataset = load_prompt_dataset(
            prompts, prompt_prefix=prompt_prefix, system_prompt=system_prompt, conversational=conversational,
            max_samples=max_prompts,
        )
        chat_prompts, queries = list(dataset["prompt"]), list(dataset["query"])
    else:
        if isinstance(prompts, str | os.PathLike):
            raise FileNotFoundError(f"no such prompt file: {prompts}")
        queries = list(prompts)[:max_prompts]
        chat_prompts = [
            build_prompt(q, prompt_prefix=prompt_prefix, system_prompt=system_prompt, conversational=conversational)
            for q in queries
        ]

    generations = generate(
        str(model_dir), chat_prompts, n=n, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
        seed=seed, backend=backend,
    )
    flat_prompts = [p for p, outs in zip(chat_prompts, generations, strict=True) for _ in outs]
    flat_queries = [q for q, outs in zip(queries, generations, strict=True) for _ in outs]
    texts = [t for outs in generations for t in outs]
    completions: list[Any] = [[{"role": "assistant", "content": t}] for t in texts] if conversational else texts

    judge_fn = judge
    if isinstance(judge, str | os.PathLike):
        from inkforge.rewards.judge import JudgeReward

        judge_fn = JudgeReward.from_rubric(Path(judge))
    rm_fn = reward_model
    if isinstance(reward_model, str | os.PathLike):
        from inkforge.rewards.reward_model import RewardModelReward

        rm_fn = RewardModelReward(reward_model)

    judge_scores = _call_reward(judge_fn, flat_prompts, completions, query=flat_queries) if judge_fn else None
    rm_scores = _call_reward(rm_fn, flat_prompts, completions, query=flat_queries) if rm_fn else None
    rows = [
        {
            "query": q,
            "completion": t,
            "length": len(t),
            "judge": judge_scores[i] if judge_scores is not None else None,
            "reward_model": rm_scores[i] if rm_scores is not None else None,
        }
        for i, (q, t) in enumerate(zip(flat_queries, texts, strict=True))
    ]
    has_judge, has_rm = judge_fn is not None, rm_fn is not None
    band_rows = [r for r in rows if BAND[0] <= r["length"] <= BAND[1]]
    report: dict[str, Any] = {
        "model": str(model_dir),
        "n_prompts": len(chat_prompts),
        "n_completions": len(texts),
        "length": length_stats(texts),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "self_bleu": self_bleu(texts),
        **{k: v for k, v in _quality(rows, judge_pass_threshold, has_judge, has_rm).items() if k != "n"},
        "band": list(BAND),
        "band_30_50": _quality(band_rows, judge_pass_threshold, has_judge, has_rm),
        "samples": rows[:num_samples],
    }
    return report
