"""MaskedRewardSet: a failed flagged reward masks every reward of that completion."""

from __future__ import annotations

import asyncio
import math
import pickle
from typing import Any

import pytest

from inkforge.rewards.masking import MaskedRewardSet


def failing_judge(prompts: Any, completions: Any, **kwargs: Any) -> list[float | None]:
    return [None if "fail" in c else 1.0 for c in completions]


def rule(prompts: Any, completions: Any, **kwargs: Any) -> list[float | None]:
    return [0.25 for _ in completions]


class Counting:
    """A reward that counts its calls (the set must score each batch once per function)."""

    def __init__(self, value: float | None = 0.5) -> None:
        self.calls = 0
        self.value = value
        self.__name__ = "counting"

    def __call__(self, prompts: Any, completions: Any, **kwargs: Any) -> list[float | None]:
        self.calls += 1
        return [self.value for _ in completions]


def test_a_failed_flagged_reward_masks_every_reward_of_the_row() -> None:
    rewards = MaskedRewardSet([failing_judge, rule], [True, False])
    prompts, completions = ["p"] * 3, ["ok", "fail", "ok"]
    judge, rule_view = rewards.funcs
    assert judge(prompts, completions) == [1.0, None, 1.0]
    assert rule_view(prompts, completions) == [0.25, None, 0.25]  # not 0.25 for the failed row
    assert rewards.last_stats == {"n": 3, "masked": 1, "masked_rate": pytest.approx(1 / 3),
                                  "failed": {"failing_judge": 1}}


def test_order_does_not_matter_and_each_function_scores_once_per_batch() -> None:
    counter = Counting()
    rewards = MaskedRewardSet([counter, failing_judge], [False, True])
    prompts, completions = ["p", "p"], ["fail", "ok"]
    # TRL calls the rule first; it must already see the judge's mask.
    assert rewards.funcs[0](prompts, completions) == [None, 0.5]
    assert rewards.funcs[1](prompts, completions) == [None, 1.0]
    assert counter.calls == 1
    # A new batch (new list objects) is scored again.
    rewards.funcs[0](list(prompts), ["ok", "ok"])
    assert counter.calls == 2 and rewards.totals == {"n": 4, "masked": 1, "batches": 2,
                                                     "failed": {"failing_judge": 1}}


def test_unflagged_none_and_nan_are_left_to_trl() -> None:
    rewards = MaskedRewardSet([failing_judge, Counting(None)], [False, False])
    out = [f(["p", "p"], ["fail", "ok"]) for f in rewards.funcs]
    assert out == [[None, 1.0], [None, None]] and rewards.last_stats["masked"] == 0
    nan_judge = MaskedRewardSet([lambda prompts, completions, **kw: [math.nan, 1.0], rule], [True, False])
    assert [f(["p", "p"], ["a", "b"]) for f in nan_judge.funcs] == [[None, 1.0], [None, 0.25]]


def test_group_policy_masks_the_whole_group() -> None:
    rewards = MaskedRewardSet([failing_judge, rule], [True, False], policy="group", num_generations=2)
    prompts = ["a", "a", "b", "b"]
    judge = rewards.funcs[0](prompts, ["ok", "fail", "ok", "ok"])
    assert judge == [None, None, 1.0, 1.0] and rewards.last_stats["masked"] == 2


def test_logs_masked_rate_and_row_flags_through_trl_hooks() -> None:
    metrics: dict[str, float] = {}
    extra: dict[str, list[Any]] = {}
    rewards = MaskedRewardSet([failing_judge, rule], [True, False])
    kwargs = {"log_metric": metrics.__setitem__, "log_extra": extra.__setitem__}
    prompts, completions = ["p"] * 4, ["fail", "ok", "ok", "fail"]
    for f in rewards.funcs:
        f(prompts, completions, **kwargs)
    assert metrics == {"reward_mask/masked_rate": 0.5, "reward_mask/failed_rate/failing_judge": 0.5}
    assert extra["reward_masked"] == [True, False, False, True]


def test_async_rewards_are_awaited() -> None:
    async def async_judge(prompts: Any, completions: Any, **kwargs: Any) -> list[float | None]:
        await asyncio.sleep(0)
        return [None, 0.0]

    rewards = MaskedRewardSet([async_judge, rule], [True, False])
    assert rewards.funcs[1](["p", "p"], ["a", "b"]) == [None, 0.25]
    rewards.close()


def test_pickles_without_its_batch_state() -> None:
    rewards = MaskedRewardSet([failing_judge, rule], [True, False])
    rewards.funcs[0](["p"], ["fail"])
    copy = pickle.loads(pickle.dumps(rewards))
    assert copy.totals["n"] == 0 and copy.funcs[1](["p"], ["ok"]) == [0.25]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mask flags"):
        MaskedRewardSet([rule], [True, False])
    with pytest.raises(ValueError, match="policy"):
        MaskedRewardSet([rule], [True], policy="drop")  # type: ignore[arg-type]
    short = MaskedRewardSet([lambda prompts, completions, **kw: [1.0]], [True])
    with pytest.raises(ValueError, match="returned 1 rewards for 2"):
        short.funcs[0](["p", "p"], ["a", "b"])


def test_reward_specs_mask_the_judge_and_debias_on_request() -> None:
    from inkforge.core.errors import ConfigError
    from inkforge.rewards.debias import LengthBandPenalty, LengthResidualReward
    from inkforge.rewards.masking import MaskedReward
    from inkforge.training.reward_selection import build_reward_funcs

    specs = [{"type": "python", "target": "tests.unit.rewards.test_masking:failing_judge", "mask_on_failure": True},
             {"type": "rule", "name": "distinct", "weight": 0.5,
              "debias": {"length_residual": True, "length_band": {"per_char": 0.1}}}]
    funcs, weights = build_reward_funcs(specs, num_generations=2)
    assert weights == [1.0, 0.5] and all(isinstance(f, MaskedReward) for f in funcs)
    assert isinstance(funcs[1].reward_fn, LengthBandPenalty)
    assert isinstance(funcs[1].reward_fn.reward_fn, LengthResidualReward)
    assert funcs[1].reward_fn.reward_fn.num_generations == 2
    assert funcs[1](["p", "p"], ["fail", "祝你生日快乐"])[0] is None
    # Without a flagged reward nothing is wrapped.
    plain, _ = build_reward_funcs([{"type": "rule", "name": "distinct"}])
    assert not isinstance(plain[0], MaskedReward)
    with pytest.raises(ConfigError, match="unknown debias option"):
        build_reward_funcs([{"type": "rule", "name": "distinct", "debias": {"length": True}}])
    with pytest.raises(ConfigError, match="band"):
        build_reward_funcs([{"type": "rule", "name": "distinct", "debias": {"length_band": {"band": [9, 1]}}}])
    with pytest.raises(ConfigError, match="row"):
        build_reward_funcs(specs, mask_policy="drop")
