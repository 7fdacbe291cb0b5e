"""The judge reward: verdicts, failures as None, fail-fast, cache, pickling, metrics, group tie-breaks."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import time
from typing import Any

import pytest

from inkforge.agents import LISTWISE_JUDGE, PAIRWISE_JUDGE
from inkforge.core.errors import FailFastError
from inkforge.core.rubric import Rubric
from inkforge.core.text import completion_text, prompt_query
from inkforge.llm import Runtime
from inkforge.llm.cache import ResponseCache
from inkforge.rewards.group import group_spans, listwise_win_rates
from inkforge.rewards.judge import AsyncJudgeReward, JudgeReward
from inkforge.rewards.outcomes import impute_failures
from inkforge.testing import FakeChatModel

RUBRIC = Rubric.default("greeting")
GOOD = "妈妈，生日快乐！谢谢您这些年的操劳，愿您健康长寿。"
BAD = "生日快乐。"


def _text(messages: list[Any]) -> str:
    return "\n".join(str(m.content) for m in messages)


def _detector(messages: list[Any], schema: Any) -> dict[str, Any]:
    """Good iff the candidate mentions 谢谢 (a visible, deterministic rule)."""
    user = str(messages[-1].content)
    candidate = user.split("候选祝福语：", 1)[1].split("评审准则", 1)[0]
    return {"explanation": "逐条检查", "verdict": "Good" if "谢谢" in candidate else "Bad"}


def _judge(responder: Any = _detector, *, cache: ResponseCache | None = None, concurrency: int = 8,
           latency: float = 0.0, **opts: Any) -> tuple[JudgeReward, FakeChatModel]:
    fake = FakeChatModel(responder=responder, latency=latency)
    rt = Runtime.for_testing(fake, concurrency=concurrency, cache=cache)
    return JudgeReward(RUBRIC, runtime=rt, **opts), fake


# -- verdicts and inputs -----------------------------------------------------------------------------


def test_binary_reward_is_the_verdict_for_string_and_conversational_inputs() -> None:
    judge, fake = _judge()
    assert judge(prompts=["给妈妈的生日祝福"] * 2, completions=[GOOD, BAD]) == [1.0, 0.0]
    conv_prompts = [[{"role": "system", "content": "s"}, {"role": "user", "content": "请只生成一条祝福语：给妈妈"}]] * 2
    conv_completions = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": BAD}]]
    assert judge(prompts=conv_prompts, completions=conv_completions) == [1.0, 0.0]
    # TRL's `query` column (the bare request) is preferred over the prompt text.
    judge(prompts=conv_prompts, completions=conv_completions, query=["给妈妈的生日祝福", "给妈妈的生日祝福"])
    last = _text(fake.calls[-1].messages)
    assert "用户请求：给妈妈的生日祝福" in last and "请只生成一条祝福语" not in last
    # The rubric's rules are in the detector prompt.
    assert RUBRIC.rules[0] in last
    assert judge.last_outcomes[0].label == "Good" and judge.last_outcomes[0].explanation == "逐条检查"


def test_input_helpers() -> None:
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "新年好"}]}]) == "新年好"
    assert prompt_query([{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"},
                         {"role": "user", "content": "b"}]) == "b"


def test_graded_mode_normalises_the_score() -> None:
    judge, fake = _judge(lambda m, s: {"explanation": "不错", "score": 4}, mode="graded", scale=(1, 5))
    assert judge(prompts=["p"], completions=["祝你快乐"]) == [0.75]
    assert "1" in _text(fake.calls[0].messages) and "5" in _text(fake.calls[0].messages)
    # An out-of-scale score is re-asked and then fails: None, never a clipped or zero reward.
    bad, _ = _judge(lambda m, s: {"explanation": "超出", "score": 9}, mode="graded", scale=(0, 5),
                    max_failure_rate=1.0)
    assert bad(prompts=["p"], completions=["x"]) == [None]
    assert bad.last_outcomes[0].status == "parse_error"


# -- failures --------------------------------------------------------------------------------------


def test_failure_gives_none_never_zero_and_is_logged() -> None:
    def flaky(messages: list[Any], schema: Any) -> Any:
        return "not json at all" if "坏" in _text(messages) else _detector(messages, schema)

    judge, _ = _judge(flaky, max_failure_rate=0.6)
    metrics: dict[str, float] = {}
    extra: dict[str, list[Any]] = {}
    rewards = judge(prompts=["p"] * 4, completions=[GOOD, "坏了", BAD, "坏的"],
                    log_metric=metrics.__setitem__, log_extra=extra.__setitem__)
    assert rewards == [1.0, None, 0.0, None]
    assert judge.last_stats["parse_error_rate"] == 0.5 and judge.last_stats["ok_rate"] == 0.5
    assert metrics["judge/ok_rate"] == 0.5 and metrics["judge/parse_error_rate"] == 0.5
    assert metrics["judge/timeout_rate"] == 0.0
    assert extra["judge_status"] == ["ok", "parse_error", "ok", "parse_error"]
    assert judge.last_outcomes[1].raw == "not json at all"  # kept for debugging
    assert judge.totals["statuses"] == {"ok": 2, "parse_error": 2}


def test_fail_fast_when_too_many_fail() -> None:
    judge, _ = _judge(lambda m, s: TimeoutError("judge endpoint timed out"), max_failure_rate=0.5)
    with pytest.raises(FailFastError, match="timeout"):
        judge(prompts=["p"] * 8, completions=[f"c{i}" for i in range(8)])
    assert judge.last_stats["timeout_rate"] == 1.0  # still recorded for the post-mortem


def test_fail_fast_looks_at_the_recent_window_not_one_item() -> None:
    def flaky(messages: list[Any], schema: Any) -> Any:
        return TimeoutError("slow") if "坏" in _text(messages) else _detector(messages, schema)

    judge, _ = _judge(flaky, max_failure_rate=0.5, fail_fast_window=8)
    assert judge(prompts=["p"], completions=["坏"]) == [None]  # one failed call is not a broken judge
    for i in range(6):
        assert judge(prompts=["p"], completions=[f"谢谢{i}"]) == [1.0]
    # Four failures in a row: 4 of the last 8 calls, 50%, not above the threshold; a fifth is 5/8.
    for i in range(4):
        assert judge(prompts=["p"], completions=[f"坏{i}"]) == [None]
    with pytest.raises(FailFastError, match="5 of the last 8"):
        judge(prompts=["p"], completions=["坏了"])


def test_impute_failures_uses_the_group_mean() -> None:
    assert impute_failures([1.0, None, 0.0, 0.0, None], ["a", "a", "b", "b", "c"]) == [1.0, 1.0, 0.0, 0.0, 1 / 3]
    with pytest.raises(FailFastError):
        impute_failures([None, None])


# -- cache, concurrency, loops, pickling ---------------------------------------------------------------


def test_rescoring_hits_the_cache_and_a_new_rubric_version_misses() -> None:
    cache = ResponseCache(":memory:")
    judge, fake = _judge(cache=cache)
    first = judge(prompts=["p"] * 3, completions=[GOOD, BAD, GOOD + "！"])
    n_calls = len(fake.calls)
    assert judge(prompts=["p"] * 3, completions=[GOOD, BAD, GOOD + "！"]) == first
    assert len(fake.calls) == n_calls and judge.last_stats["cached_rate"] == 1.0
    # Same runtime and cache, a rubric with one more rule: a different version, so no stale verdicts.
    other = JudgeReward(Rubric.from_rules([*RUBRIC.rules, "不能出现错别字"]), runtime=judge.runtime)
    assert other.rubric.version != judge.rubric.version
    other(prompts=["p"] * 3, completions=[GOOD, BAD, GOOD + "！"])
    assert len(fake.calls) == n_calls + 3 and other.last_stats["cached_rate"] == 0.0


def test_all_completions_are_in_flight_up_to_the_shared_limit() -> None:
    judge, fake = _judge(concurrency=16, latency=0.1)
    t0 = time.perf_counter()
    judge(prompts=["p"] * 32, completions=[f"谢谢{i}" for i in range(32)])
    elapsed = time.perf_counter() - t0
    assert fake.peak_concurrency == 16 and judge.runtime.limiter.peak == 16
    assert elapsed < 0.2 * 2.5  # two waves of 0.1 s, not 32 sequential calls (3.2 s)


def test_sync_call_works_inside_a_running_event_loop_and_async_variants() -> None:
    judge, _ = _judge()

    async def inside_loop() -> list[float | None]:
        return judge(prompts=["p"], completions=[GOOD])  # TRL-style sync call from async code

    assert asyncio.run(inside_loop()) == [1.0]
    assert asyncio.run(judge.ascore(["p"], [BAD])) == [0.0]
    from trl.trainer.utils import is_async_callable

    fake = FakeChatModel(responder=_detector)
    async_judge = AsyncJudgeReward(RUBRIC, runtime=Runtime.for_testing(fake))
    assert is_async_callable(async_judge) and not is_async_callable(judge)
    assert asyncio.run(async_judge(prompts=["p"], completions=[GOOD])) == [1.0]


def test_pickles_and_deep_copies_without_the_runtime(stub: Any) -> None:
    judge = JudgeReward.from_rubric(RUBRIC, base_url=stub.base_url, model="stub", cache=None, name="judge_a")
    assert judge(prompts=["p"], completions=["谢谢你"])[0] in (0.0, 1.0)
    clone = pickle.loads(pickle.dumps(judge))
    assert clone.__name__ == "judge_a" and clone._runtime is None and clone.rubric == judge.rubric
    assert clone(prompts=["p"], completions=["谢谢你"]) == judge(prompts=["p"], completions=["谢谢你"])
    assert copy.deepcopy(clone).__name__ == "judge_a"
    judge.close()
    clone.close()


def test_from_rubric_reads_a_file_and_rejects_bad_options(tmp_path: Any) -> None:
    path = tmp_path / "rubric.json"
    RUBRIC.save(path)
    judge = JudgeReward.from_rubric(path, base_url="http://127.0.0.1:9/v1", model="m", concurrency=3,
                                    cache=None, mode="graded", scale="0-10")
    assert judge.scale == (0, 10) and judge.config.concurrency == 3 and judge.config.cache is None
    from inkforge.core.errors import ConfigError, InputError

    with pytest.raises(ConfigError):
        JudgeReward(RUBRIC, group_mode="tournament")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        JudgeReward.from_rubric(tmp_path / "missing.json")


def test_rubric_prompt_text_is_the_detector_template() -> None:
    template = "## system\n自定义模板\n## user\n请求 {{ query }} 候选祝福语：{{ response }} 评审准则 {{ rubric }}"
    rubric = Rubric.from_rules(RUBRIC.rules, prompt_text=template)
    fake = FakeChatModel(responder=_detector)
    judge = JudgeReward(rubric, runtime=Runtime.for_testing(fake))
    assert judge(prompts=["p"], completions=[GOOD]) == [1.0]
    assert "自定义模板" in _text(fake.calls[0].messages)


# -- group-aware scoring ------------------------------------------------------------------------------


def _pairwise_prefers_longer(messages: list[Any], schema: Any) -> dict[str, Any]:
    user = str(messages[-1].content)
    if "候选 A：" not in user:
        return _detector(messages, schema)
    a = user.split("候选 A：", 1)[1].split("候选 B：", 1)[0].strip()
    b = user.split("候选 B：", 1)[1].split("评审准则", 1)[0].strip()
    return {"reason": "比较", "winner": "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie"}


def test_pairwise_tie_break_orders_tied_completions_in_both_orders() -> None:
    judge, fake = _judge(_pairwise_prefers_longer, group_mode="pairwise", num_generations=4, tie_break=0.2)
    completions = ["谢谢您一直以来的照顾与陪伴", "谢谢", "谢谢您的照顾", BAD]  # 3 Good (tied), 1 Bad
    rewards = judge(prompts=["p"] * 4, completions=completions)
    assert rewards[3] == 0.0  # alone in its class: no bonus
    good = rewards[:3]
    assert good[0] > good[2] > good[1]  # longest wins every comparison
    assert all(0.9 <= r <= 1.1 for r in good)  # |bonus| <= beta / 2: a Good never falls below a Bad
    assert good[0] == pytest.approx(1.1) and good[1] == pytest.approx(0.9)
    comparisons = [c for c in fake.calls if "候选 A：" in _text(c.messages)]
    assert len(comparisons) == 6  # 3 pairs, both orders
    tb = judge.last_stats["tie_break"]
    assert tb["calls"] == 6 and tb["pairs"] == 3 and tb["flip_rate"] == 0.0


def test_pairwise_position_bias_cancels_and_failures_stay_none() -> None:
    def always_a(messages: list[Any], schema: Any) -> Any:
        user = str(messages[-1].content)
        if "候选 A：" in user:
            return {"reason": "第一个好", "winner": "A"}
        return "garbage" if "坏" in user else _detector(messages, schema)

    judge, _ = _judge(always_a, group_mode="pairwise", max_failure_rate=1.0)
    rewards = judge(prompts=["p"] * 3, completions=["谢谢一", "谢谢二", "坏的谢谢"])
    # A judge that always prefers the first position gives every tied completion the same win rate.
    assert rewards[:2] == [1.0, 1.0] and rewards[2] is None
    assert judge.last_stats["tie_break"]["flip_rate"] == 1.0


def test_listwise_tie_break_uses_forward_and_reversed_orders() -> None:
    def rank_by_length(messages: list[Any], schema: Any) -> Any:
        user = str(messages[-1].content)
        if "候选（共" not in user:
            return _detector(messages, schema)
        block = user.split("条）：", 1)[1].split("评审准则", 1)[0].strip().splitlines()
        items = [line.split(". ", 1)[1] for line in block]
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))
        return {"reason": "按具体程度", "ranking": [i + 1 for i in order]}

    judge, fake = _judge(rank_by_length, group_mode="listwise", num_generations=3)
    completions = ["谢谢", "谢谢您的陪伴与照顾", "谢谢您", "谢谢谢谢", "谢谢", BAD]  # two groups of 3
    rewards = judge(prompts=["p1"] * 3 + ["p2"] * 3, completions=completions)
    assert rewards[1] > rewards[2] > rewards[0]
    assert rewards[3] > rewards[4] and rewards[5] == 0.0
    listwise_calls = [c for c in fake.calls if "候选（共" in _text(c.messages)]
    assert len(listwise_calls) == 4  # 2 tied classes x (forward + reversed)


def test_group_helpers() -> None:
    assert group_spans(["a"] * 5, num_generations=2) == [(0, 2), (2, 4), (4, 5)]
    assert group_spans(["a", "b", "b"]) == [(0, 1), (1, 3)]
    assert listwise_win_rates(3, [[2, 0, 1], [2, 1, 0]]) == [0.25, 0.25, 1.0]
    assert PAIRWISE_JUDGE.name == "pairwise_judge" and LISTWISE_JUDGE.name == "listwise_judge"


def test_stats_are_json_ready() -> None:
    judge, _ = _judge(_pairwise_prefers_longer, group_mode="pairwise")
    judge(prompts=["p"] * 2, completions=["谢谢", "谢谢你"])
    json.dumps(judge.last_stats)
    json.dumps([o.to_record() for o in judge.last_outcomes], ensure_ascii=False)


def test_judge_agents_are_registered_without_importing_rewards() -> None:
    import subprocess
    import sys

    code = ("import sys; from inkforge.agents import AGENTS; "
            "print(sorted(n for n in AGENTS if n.endswith('_judge')), 'inkforge.rewards' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['graded_judge', 'listwise_judge', 'pairwise_judge'] False"


def test_spend_cap_stops_the_judge_cleanly_once_reached() -> None:
    from inkforge.llm.budget import BudgetExceededError

    judge, fake = _judge(max_tokens=1)
    assert judge(prompts=["给妈妈的生日祝福"], completions=[GOOD]) == [1.0]
    with pytest.raises(BudgetExceededError, match="--max-tokens 1"):
        judge(prompts=["给妈妈的生日祝福"], completions=[BAD])
    assert len(fake.calls) == 1  # the capped call never reached the model
