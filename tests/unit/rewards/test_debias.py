"""Length-debiased rewards: what length explains is removed, None stays None."""

from __future__ import annotations

import pickle
import statistics
from typing import Any

import pytest

from inkforge.rewards.debias import LengthBandPenalty, LengthResidualReward, length_slope


def by_length(prompts: Any, completions: Any, **kwargs: Any) -> list[float | None]:
    """Score = length / 10 + a quality bonus of 1 for completions containing '好'."""
    return [None if "x" in c else len(c) / 10 + (1.0 if "好" in c else 0.0) for c in completions]


def test_group_residual_removes_the_length_slope_and_keeps_quality() -> None:
    reward = LengthResidualReward(by_length)
    prompts = ["a"] * 4 + ["b"] * 4
    completions = ["一" * 10, "一" * 20, "好" + "一" * 9, "一" * 40, "一" * 5, "一" * 15, "好" * 25, "一" * 35]
    raw = by_length(prompts, completions)
    out = reward(prompts, completions)
    # Raw: longest wins in each group. Debiased: the '好' completions win, whatever their length.
    assert max(range(4), key=lambda i: raw[i]) == 3
    assert max(range(4), key=lambda i: out[i]) == 2  # type: ignore[arg-type, return-value]
    assert max(range(4, 8), key=lambda i: out[i]) == 6  # type: ignore[arg-type, return-value]
    # Recentred: each group keeps its mean score.
    assert sum(out[:4]) / 4 == pytest.approx(sum(raw[:4]) / 4)  # type: ignore[arg-type, operator]
    assert 0 < reward.last_stats["length_slope"] < 0.1


def test_no_recentre_gives_a_zero_mean_residual_and_batch_scope_fits_one_line() -> None:
    prompts, completions = ["a", "a", "b", "b"], ["一" * 10, "一" * 20, "一" * 30, "一" * 50]
    out = LengthResidualReward(by_length, recentre=False)(prompts, completions)
    assert out == pytest.approx([0.0, 0.0, 0.0, 0.0])
    batch = LengthResidualReward(by_length, scope="batch")(prompts, completions)
    assert batch == pytest.approx([2.75] * 4)


def test_none_passes_through_and_is_left_out_of_the_fit() -> None:
    reward = LengthResidualReward(by_length)
    out = reward(["a"] * 3, ["一" * 10, "x" * 99, "一" * 30])
    assert out[1] is None and out[0] == pytest.approx(out[2])  # type: ignore[arg-type]
    assert length_slope([None, None], [1, 2], [(0, 2)]) == (0.0, [None, None])


def test_band_penalty_in_std_units_and_none_passes() -> None:
    reward = LengthBandPenalty(by_length, per_char=0.1, max_penalty=1.0)  # greeting band 30-50
    completions = ["一" * 40, "一" * 20, "x", "一" * 100]
    out = reward(["p"] * 4, completions)
    sd = statistics.pstdev([4.0, 2.0, 10.0])  # of the valid raw scores
    assert out[0] == 4.0 and out[2] is None
    assert out[1] == pytest.approx(2.0 - sd * 1.0)  # 10 chars short: 0.1 * 10 = 1.0 (the cap)
    assert out[3] == pytest.approx(10.0 - sd * 1.0)  # 50 chars over: capped at 1.0
    assert reward.last_stats["in_band"] == 0.25
    logged: dict[str, float] = {}
    LengthBandPenalty(by_length, band=(1, 2), unit="reward")(["p"], ["一"], log_metric=logged.__setitem__)
    assert logged == {"by_length_length_band/length_mean": 1.0, "by_length_length_band/in_band": 1.0}


def test_picklable_and_validated() -> None:
    reward = LengthBandPenalty(LengthResidualReward(by_length), task="greeting")
    assert pickle.loads(pickle.dumps(reward)).band == (30, 50)
    with pytest.raises(ValueError, match="scope"):
        LengthResidualReward(by_length, scope="prompt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="band"):
        LengthBandPenalty(by_length, band=(50, 30))
