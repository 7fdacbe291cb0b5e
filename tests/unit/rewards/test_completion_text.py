"""One reading of prompts and completions (inkforge.core.text) for every reward and guard."""

from __future__ import annotations

from typing import Any

import pytest

from inkforge.core.rubric import Rubric
from inkforge.core.text import completion_text, content_text, prompt_query
from inkforge.llm import Runtime
from inkforge.rewards.guards import GuardedReward, LengthGuard, apply_guards
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.rules import DistinctReward, LengthTargetReward
from inkforge.testing import FakeChatModel

ANSWER = "妈妈，生日快乐！"
BLOCKS = [{"type": "text", "text": "妈妈，"}, {"type": "image_url", "image_url": {"url": "x"}}, "生日快乐！"]


@pytest.mark.parametrize(
    ("completion", "text"),
    [
        (ANSWER, ANSWER),
        ({"role": "assistant", "content": ANSWER}, ANSWER),
        ([{"role": "assistant", "content": ANSWER}], ANSWER),
        ([{"role": "assistant", "content": BLOCKS}], ANSWER),  # content blocks: text only, no repr
        ([{"content": ANSWER}], ANSWER),  # a message without a role is the assistant's
        ([{"role": "assistant", "content": "草稿"}, {"role": "tool", "content": "{}"},
          {"role": "assistant", "content": ANSWER}], ANSWER),  # the last assistant turn
        ([{"role": "user", "content": "只有用户"}], "只有用户"),  # no assistant turn: the last message
        ([], ""),
        ([{"role": "assistant", "content": None}], ""),
    ],
)
def test_completion_text(completion: Any, text: str) -> None:
    assert completion_text(completion) == text


def test_prompt_query_and_content_text() -> None:
    chat = [{"role": "system", "content": "你是助手"}, {"role": "user", "content": [{"type": "text", "text": "生日祝福"}]}]
    assert prompt_query(chat) == "生日祝福"
    assert prompt_query("中秋祝福") == "中秋祝福"
    assert prompt_query([{"role": "system", "content": "a"}, {"role": "assistant", "content": "b"}]) == "a\nb"
    assert content_text(BLOCKS) == ANSWER and content_text(None) == "" and content_text(3) == "3"


def test_rule_rewards_read_list_content_as_text_not_as_its_repr() -> None:
    # Before the one completion_text, a list content reached the rules as its Python repr:
    # "[{'type': 'text', ...}]" is 60-odd characters of distinct n-grams, not an 8-character greeting.
    conv = [[{"role": "assistant", "content": BLOCKS}]]
    assert LengthTargetReward(len(ANSWER))(prompts=["p"], completions=conv) == [1.0]
    assert DistinctReward(1)(prompts=["p"], completions=conv) == DistinctReward(1)(prompts=["p"], completions=[ANSWER])
    looped = [[{"role": "assistant", "content": [{"type": "text", "text": "哈哈"}] * 4}]]
    assert DistinctReward(2)(prompts=["p"], completions=looped) == [pytest.approx(1 / 7)]


def test_judge_guards_and_rules_all_see_the_same_text() -> None:
    seen: list[str] = []

    def detector(messages: list[Any], schema: Any) -> dict[str, Any]:
        user = str(messages[-1].content)
        seen.append(user.split("候选祝福语：", 1)[1].split("评审准则", 1)[0].strip())
        return {"explanation": "好", "verdict": "Good"}

    completion = [{"role": "assistant", "content": "草稿：生日快乐"}, {"role": "assistant", "content": BLOCKS}]
    judge = JudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(FakeChatModel(responder=detector)))
    assert judge(prompts=["p"], completions=[completion]) == [1.0]
    assert seen == [ANSWER]
    exact = LengthGuard(len(ANSWER), len(ANSWER), respect_prompt=False)
    assert not apply_guards("p", completion, [exact])[0].triggered
    guarded = GuardedReward(LengthTargetReward(len(ANSWER)), [exact], mode="mask")
    assert guarded(prompts=["p"], completions=[completion]) == [1.0]
