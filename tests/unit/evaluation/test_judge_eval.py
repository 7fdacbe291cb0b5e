"""Judge evaluation (`aevaluate_judge`) with a scripted fake model: failures, the rubric's own prompt, languages."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from importlib import resources
from typing import Any

import pytest

from inkforge.core.errors import FailFastError
from inkforge.core.rubric import Rubric
from inkforge.evaluation import aevaluate_judge, load_labels
from inkforge.evaluation.judge_eval import MIN_CALLS
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

    # Failures are reported when the caller allows them (the default stops: see the next test).
    rep2 = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=detector)), LABELS[:6],
                                       Rubric.from_rules(["FAIL_RULE"]), n_boot=0, max_failure_rate=None))
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


def test_a_mostly_failing_judge_stops_early_without_a_report() -> None:
    rows = [{"query": "q", "response": f"回复{i}" * 3, "label": i % 2} for i in range(200)]
    fake = FakeChatModel(responder=detector)
    rt = Runtime.for_testing(fake)
    with pytest.raises(FailFastError, match="failed on") as err:
        asyncio.run(aevaluate_judge(rt, rows, Rubric.from_rules(["FAIL_RULE"]), n_boot=0))
    assert "parse_error" in str(err.value) and "no JSON" in str(err.value)  # the cause, by status and message
    # The calls still queued were cancelled: far fewer than one per row were made.
    answers_per_row = 1 + rt.spec_for("detector").max_reasks
    assert MIN_CALLS * answers_per_row <= len(fake.calls) < len(rows) * answers_per_row / 2
    # Some failures below the threshold do not stop it, and are reported.
    def flaky(messages: list[Any], schema: Any) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        return "我觉得还行吧" if "候选祝福语：\n回复1回复1回复1\n" in text else detector(messages, schema)
    rep = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=flaky)), rows[:20], n_boot=0))
    assert rep["overall"]["parse_failures"]["count"] == 1


def test_evaluation_dedupes_labels_and_estimates_the_corrected_pass_rate(caplog: pytest.LogCaptureFixture) -> None:
    rows = [*LABELS[:10], LABELS[0], LABELS[1], {**LABELS[2], "label": 1 - LABELS[2]["label"]}]
    with caplog.at_level(logging.WARNING):
        rep = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=detector)), rows, n_boot=100))
    assert rep["labels"] == {"rows": 13, "unique": 9, "duplicates_removed": 2, "conflicting_pairs": 1,
                             "conflicting_rows_dropped": 2}
    assert rep["overall"]["n"] == 9 and len(rep["items"]) == 9 and "2 repeated rows removed" in caplog.text
    est = rep["pass_rate"]
    kept = [r for r in LABELS[:10] if r is not LABELS[2]]
    verdicts = [int(len(r["response"]) >= 25) for r in kept]  # the fake's length judge
    assert est["items"] == "labelled" and est["n"] == 9 and est["observed"] == sum(verdicts) / 9
    assert est["human"] == sum(r["label"] for r in kept) / 9

    completions = [{"query": "q", "response": "短"}, {"query": "q", "response": "很长的一条祝福语" * 5}] * 3
    rep = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=detector)), LABELS, n_boot=50,
                                      unlabelled=completions))
    est = rep["pass_rate"]
    assert est["items"] == "unlabelled" and est["n"] == 6 and est["observed"] == 0.5 and est["human"] is None
    assert rep["unlabelled"]["n"] == 6 and [i["verdict"] for i in rep["unlabelled"]["items"]] == [0, 1] * 3
    assert rep["overall"]["n"] == len(LABELS)  # the unlabelled items are not in the agreement figures


def test_the_corrected_pass_rate_recovers_a_known_rate_through_a_noisy_judge() -> None:
    rng = random.Random(7)
    tpr, tnr, true_rate = 0.8, 0.7, 0.3

    def judge(good: bool) -> int:
        return int(rng.random() < tpr) if good else int(rng.random() >= tnr)

    truth = [int(rng.random() < true_rate) for _ in range(600)]
    rows = [{"query": "q", "response": f"c{i}", "label": int(rng.random() < 0.5)} for i in range(300)]
    verdict = {r["response"]: judge(bool(r["label"])) for r in rows}
    items = [{"query": "q", "response": f"u{i}"} for i in range(len(truth))]
    verdict.update({it["response"]: judge(bool(t)) for it, t in zip(items, truth, strict=True)})

    def answer(messages: list[Any], schema: Any) -> Any:
        resp = re.search(r"候选祝福语：\n(.*?)\n\n评审准则：", "\n".join(str(m.content) for m in messages), re.S)
        return {"explanation": "ok", "verdict": "Good" if verdict[resp.group(1)] else "Bad"}  # type: ignore[union-attr]

    est = asyncio.run(aevaluate_judge(Runtime.for_testing(FakeChatModel(responder=answer)), rows, n_boot=500,
                                      unlabelled=items))["pass_rate"]
    observed_truth = sum(truth) / len(truth)
    lo, hi = est["ci"]
    assert lo <= observed_truth <= hi and lo < est["corrected"] < hi
    # The raw judge rate is biased (a lenient judge passes 0.8·0.3 + 0.3·0.7 = 45%); the correction is not.
    assert abs(est["observed"] - observed_truth) > 0.1 > abs(est["corrected"] - observed_truth)
    assert est["bootstrap"]["valid"] == 500
