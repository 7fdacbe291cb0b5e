"""Length-debiased rewards: take out of a reward what completion length alone explains.

Human labels of the paper's greetings follow length about 90% of the time, and so do a reward model
and a judge trained or tuned on them: GRPO against them learns to write longer. Two wrappers, each a
TRL reward function around another one, counter it:

* :class:`LengthResidualReward` regresses the score on the length (characters) and keeps the
  residual. With ``scope="group"`` (default) the regression is within the GRPO groups (the
  completions of one prompt, which TRL lays out consecutively): one slope pooled over all groups
  of the batch (a fixed-effects fit, so groups of 2 still count), applied around each group's own
  mean length. Within a group only relative length differs, and that is all GRPO's advantages see,
  so the length-explained part of the advantage is removed, whatever the groups' lengths::

      b = Σ_g Σ_i (l_i - l̄_g)(s_i - s̄_g) / Σ_g Σ_i (l_i - l̄_g)²
      r_i = s_i - b (l_i - l̄_g)          (recentre=True: the group's mean score stays)
      r_i = s_i - s̄_g - b (l_i - l̄_g)    (recentre=False: the residual alone)

  ``scope="batch"`` fits one line over the batch instead (``g`` is the whole batch).
* :class:`LengthBandPenalty` subtracts a penalty for each character outside the task's length band
  (the greeting task's ``length_slice``, 30–50 characters), capped at ``max_penalty``. With
  ``unit="std"`` the penalty is in standard deviations of the batch's base scores, so one setting
  fits a judge in ``[0, 1]`` and a reward model's logits alike.

``None`` (a failed or masked score) passes through untouched and is left out of every fit: masked
stays masked. Each call logs ``<name>/length_slope``, ``<name>/length_mean`` and
``<name>/in_band`` (share of completions inside the band) through TRL's ``log_metric``, so the
length drift sits beside the reward in the training log.

Example:
    >>> def longer_is_better(prompts, completions, **kw):
    ...     return [len(c) / 10 for c in completions]
    >>> reward = LengthResidualReward(longer_is_better)
    >>> [round(r, 6) for r in reward(prompts=["p"] * 3, completions=["a" * 10, "a" * 20, "a" * 30])]
    [2.0, 2.0, 2.0]
    >>> band = LengthBandPenalty(lambda prompts, completions, **kw: [1.0] * len(completions),
    ...                          band=(3, 5), per_char=0.1, unit="reward")
    >>> band(prompts=["p"] * 3, completions=["ab", "abcd", "abcdefg"], )
    [0.9, 1.0, 0.8]
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any, Literal

from inkforge.core.text import completion_text
from inkforge.rewards.group import group_spans, prompt_keys

__all__ = ["LengthBandPenalty", "LengthResidualReward", "band_share", "length_slope"]

RewardFunc = Callable[..., Sequence[float | None]]


def _valid(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def band_share(lengths: Sequence[int], band: tuple[int, int]) -> float:
    """Share of lengths inside the inclusive ``band`` (``0.0`` for none).

    Example:
        >>> band_share([10, 35, 50, 51], (30, 50))
        0.5
    """
    return sum(band[0] <= n <= band[1] for n in lengths) / len(lengths) if lengths else 0.0


def length_slope(scores: Sequence[float | None], lengths: Sequence[int],
                 spans: Sequence[tuple[int, int]]) -> tuple[float, list[float | None]]:
    """Pooled within-span slope of score on length, and each valid item's span-mean length and score.

    Args:
        scores: Scores, ``None`` for missing ones (left out of the fit).
        lengths: Lengths, one per score.
        spans: ``(start, end)`` groups; one span over everything is an ordinary least-squares fit.

    Returns:
        ``(slope, centred)`` where ``centred[i]`` is ``(l_i - l̄_g)`` for valid items, ``None`` for missing.
        The slope is ``0.0`` when no group has two valid items of different lengths.

    Example:
        >>> length_slope([1.0, 2.0, None, 5.0, 7.0], [1, 2, 9, 1, 3], [(0, 3), (3, 5)])[0]
        1.0
    """
    sxy = sxx = 0.0
    centred: list[float | None] = [None] * len(scores)
    for start, end in spans:
        idx = [i for i in range(start, end) if _valid(scores[i])]
        if not idx:
            continue
        mean_l = sum(lengths[i] for i in idx) / len(idx)
        mean_s = sum(float(scores[i]) for i in idx) / len(idx)  # type: ignore[arg-type,misc]
        for i in idx:
            dl = lengths[i] - mean_l
            centred[i] = dl
            sxy += dl * (float(scores[i]) - mean_s)  # type: ignore[arg-type]
            sxx += dl * dl
    return (sxy / sxx if sxx > 0 else 0.0), centred


class _LengthWrapper:
    """What both wrappers share: the base reward, the band, the name and the length logging."""

    def __init__(self, reward_fn: RewardFunc, band: tuple[int, int] | Sequence[int] | None, task: str | None,
                 name: str | None, prefix: str) -> None:
        if band is None:
            from inkforge.core.tasks import get_task

            band = get_task(task or "greeting").length_slice
        lo, hi = (int(v) for v in band)
        if lo < 0 or hi < lo:
            raise ValueError(f"band must be (low, high) with 0 <= low <= high, got {tuple(band)}")
        self.reward_fn = reward_fn
        self.band = (lo, hi)
        base = getattr(reward_fn, "__name__", type(reward_fn).__name__)
        self.__name__ = name or f"{base}_{prefix}"
        self.last_stats: dict[str, float] = {}

    def _base(self, prompts: Sequence[Any], completions: Sequence[Any],
              kwargs: dict[str, Any]) -> tuple[list[float | None], list[int]]:
        scores = list(self.reward_fn(prompts=prompts, completions=completions, **kwargs))
        if len(scores) != len(completions):
            raise ValueError(f"reward returned {len(scores)} rewards for {len(completions)} completions")
        lengths = [len(completion_text(c).strip()) for c in completions]
        return [float(s) if _valid(s) else None for s in scores], lengths  # type: ignore[arg-type]

    def _log(self, kwargs: dict[str, Any]) -> None:
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for key, value in self.last_stats.items():
                log_metric(f"{self.__name__}/{key}", float(value))


class LengthResidualReward(_LengthWrapper):
    """A reward with its length-explained part removed (see the module docstring for the formula).

    Args:
        reward_fn: The base reward (TRL signature).
        scope: ``group`` (within GRPO groups, pooled slope) or ``batch`` (one fit over the batch).
        num_generations: GRPO group size, caps the groups (``None``: runs of the same prompt).
        recentre: Keep each group's (or the batch's) mean score; ``False`` keeps the residual alone.
        band: Band for the logged in-band share; defaults to the task's ``length_slice``.
        task: Task name for the default band (``greeting``).
        name: Logged name; defaults to ``<base>_length_residual``.
    """

    def __init__(self, reward_fn: RewardFunc, *, scope: Literal["group", "batch"] = "group",
                 num_generations: int | None = None, recentre: bool = True,
                 band: tuple[int, int] | Sequence[int] | None = None, task: str | None = None,
                 name: str | None = None) -> None:
        if scope not in ("group", "batch"):
            raise ValueError(f"scope must be 'group' or 'batch', got {scope!r}")
        if num_generations is not None and num_generations < 1:
            raise ValueError(f"num_generations must be >= 1, got {num_generations}")
        super().__init__(reward_fn, band, task, name, "length_residual")
        self.scope = scope
        self.num_generations = num_generations
        self.recentre = bool(recentre)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        scores, lengths = self._base(prompts, completions, kwargs)
        spans = (group_spans(prompt_keys(prompts), self.num_generations) if self.scope == "group"
                 else [(0, len(scores))])
        slope, centred = length_slope(scores, lengths, spans)
        out: list[float | None] = [None] * len(scores)
        for start, end in spans:
            idx = [i for i in range(start, end) if scores[i] is not None]
            if not idx:
                continue
            offset = 0.0 if self.recentre else sum(scores[i] for i in idx) / len(idx)  # type: ignore[misc]
            for i in idx:
                out[i] = scores[i] - slope * centred[i] - offset  # type: ignore[operator]
        self.last_stats = {"length_slope": slope, "length_mean": statistics.fmean(lengths) if lengths else 0.0,
                           "in_band": band_share(lengths, self.band)}
        self._log(kwargs)
        return out

    def __repr__(self) -> str:
        return f"LengthResidualReward({self.__name__!r}, scope={self.scope!r}, recentre={self.recentre})"


class LengthBandPenalty(_LengthWrapper):
    """A reward minus a penalty per character outside the length band.

    Args:
        reward_fn: The base reward (TRL signature).
        band: Inclusive ``(low, high)`` in characters; defaults to the task's ``length_slice``.
        task: Task name for the default band (``greeting``: 30–50).
        per_char: Penalty per character outside the band.
        unit: ``std``: ``per_char`` is in standard deviations of the batch's valid base scores
            (scale-free); ``reward``: in reward units.
        max_penalty: Cap on the penalty, in the same unit.
        name: Logged name; defaults to ``<base>_length_band``.
    """

    def __init__(self, reward_fn: RewardFunc, *, band: tuple[int, int] | Sequence[int] | None = None,
                 task: str | None = None, per_char: float = 0.05, unit: Literal["std", "reward"] = "std",
                 max_penalty: float = 2.0, name: str | None = None) -> None:
        if per_char < 0 or max_penalty < 0:
            raise ValueError(f"per_char and max_penalty must be >= 0, got {per_char}, {max_penalty}")
        if unit not in ("std", "reward"):
            raise ValueError(f"unit must be 'std' or 'reward', got {unit!r}")
        super().__init__(reward_fn, band, task, name, "length_band")
        self.per_char = float(per_char)
        self.unit = unit
        self.max_penalty = float(max_penalty)

    def distance(self, length: int) -> int:
        """Characters outside the band (``0`` inside it)."""
        return max(0, self.band[0] - length, length - self.band[1])

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        scores, lengths = self._base(prompts, completions, kwargs)
        valid = [s for s in scores if s is not None]
        scale = 1.0
        if self.unit == "std":
            # No spread in the batch means no scale to measure; fall back to reward units.
            sd = statistics.pstdev(valid) if len(valid) > 1 else 0.0
            scale = sd if sd > 0 else 1.0
        out = [None if s is None else s - scale * min(self.max_penalty, self.per_char * self.distance(n))
               for s, n in zip(scores, lengths, strict=True)]
        self.last_stats = {"length_mean": statistics.fmean(lengths) if lengths else 0.0,
                           "in_band": band_share(lengths, self.band)}
        self._log(kwargs)
        return out

    def __repr__(self) -> str:
        return f"LengthBandPenalty({self.__name__!r}, band={self.band}, per_char={self.per_char}, unit={self.unit!r})"
