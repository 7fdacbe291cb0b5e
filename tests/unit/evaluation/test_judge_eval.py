"""Judge evaluation (`aevaluate_judge`) with a scripted fake model: failures, the rubric's own prompt, languages."""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from typing import Any

import pytest

from inkforge.core.rubric import Rubric
from inkforge.evaluation import aevaluate_judge, load_labels
from inkforge.llm import Runtime
from inkforge.testing import FakeChatModel

pytestmark = pytest.mark.timeout(60)

LABELS = load_labels(resources.files("inkforge.data") / "sample_labels.jsonl")


def detector(messages: list[Any], schema: Any) -> Any:
    """The Chinese detector prompt: ``FAIL_RULE`` in the rubric makes it answer garbage, else a length judge."""
    text = "\n".join(str(m.content) for m in messages)
    resp = re.search(r"候选祝福语：\n(.*?)\n\n评审准则：", text, re.S).group(1)  # type: ignore[union-attr]
    if "FAIL_RULE" in text.split("评审准则：", 1)[1]:
        return "我觉得还行吧"
    return {"explanation": "逐条看过", "verdict": "Good" if len(resp) >= 25 else "Bad"}


def test_evaluate_judge_reports_failures_and_uses_the_rubric_prompt() -> None:
    fake = FakeChatModel(responder=detector)
    shipped = (resources.files("inkforge.agents") / "prompts" / "zh" / "detector.md").read_text(encoding="utf-8")
    # A rubric carries the prompt it was tuned with: evaluation renders into that text, not today's file.
    rubric = Rubric.from_rules(["规则一"], prompt_text=shipped.replace("## user", "MARKER-PROMPT\n\n## user"))
    report = asyncio.run(aevaluate_judge(Runtime.for_testing(fake), LABELS[:10], rubric, n_boot=50))
    assert all("MARKER-PROMPT" in c.text for c in fake.calls) and len(fake.calls) == 10
    assert report["overall"]["n"] == 10 and report["overall"]["parse_failures"]["count"] == 0
    assert report["rubric"]["version"] == rubric.version and not report["rubric"]["default"]
    assert len(report["items"]) == 10 and all(i["status"] == "ok" for i in report["items"])
    assert "length_baseline" in report["overall"] and "length_explains_judge" in report

    rep2 = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=detector)), LABELS[:6],
                                       Rubric.from_rules(["FAIL_RULE"]), n_boot=0))
    assert rep2["overall"]["parse_failures"]["count"] == 6 and rep2["overall"]["judge"]["n"] == 0
    assert all(i["verdict"] is None and i["status"] == "parse_error" and i["raw"] for i in rep2["items"])


def test_evaluate_judge_reports_progress_and_the_model() -> None:
    seen: list[tuple[int, int]] = []
    report = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=detector)), LABELS[:4],
                                         n_boot=0, on_progress=lambda done, total: seen.append((done, total))))
    assert sorted(seen) == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert report["model"]["model"] == "fake" and report["rubric"]["default"] is True
    assert report["rubric"]["rules"] == list(Rubric.default("greeting").rules)
    assert report["usage"]["totals"]["calls"] == 4


def test_evaluate_judge_on_an_english_task_uses_english_prompts() -> None:
    prompts: list[str] = []

    def answer(messages: list[Any], schema: Any) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        prompts.append(text)
        poem = re.search(r"Candidate short poem:\n(.*?)\n\nRubric:", text, re.S).group(1)  # type: ignore[union-attr]
        return {"explanation": "checked", "verdict": "Good" if len(poem) > 40 else "Bad"}

    rows = [{"query": "a poem about rain", "response": "Rain taps the tin roof; my father's boots dry by the stove.",
             "label": 1}, {"query": "a poem about the sea", "response": "The sea is big and blue.", "label": 0}]
    report = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=answer), task="poem"), rows,
                                         n_boot=0))
    assert [i["verdict"] for i in report["items"]] == [1, 0]
    assert report["rubric"]["task"] == "poem"
    assert len(prompts) == 2 and not any(re.search(r"[\u4e00-\u9fff]", p) for p in prompts)
