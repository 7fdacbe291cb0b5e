"""Masking that holds under any mix of rewards: a failed judge call drops the whole completion.

TRL's ``GRPOTrainer`` (1.16) drops a completion from the loss only when *every* reward function
returns ``None`` for it. With a judge beside a rule or a guard it adds the rewards up with
``nansum``, so a timed-out judge call silently counts as judge = 0 and the completion is trained on
the rule alone, with a baseline biased by the missing judge score.

:class:`MaskedRewardSet` closes that gap. It wraps the list of reward functions of one run; TRL gets
one view per function (:attr:`MaskedRewardSet.funcs`, same names, same order, same weights). The
first view called for a batch scores the batch with *every* function, then, for each completion
where a reward flagged ``mask_on_failure`` returned ``None`` (or NaN), sets every reward of that
completion to ``None``. TRL then treats the row as unscorable:

* the row is left out of its group's mean and standard deviation (the baseline of its peers),
* its advantage is set to 0, so its policy-gradient term vanishes (with ``beta > 0`` its tokens
  still carry the KL term, which only pulls toward the reference model),
* it is left out of the logged ``reward``, ``reward_std`` and ``rewards/<name>/mean``.

Each batch logs ``reward_mask/masked_rate`` and ``reward_mask/failed_rate/<name>`` through TRL's
``log_metric``, and a ``reward_masked`` column through ``log_extra``; :attr:`MaskedRewardSet.totals`
counts since construction. With ``policy="group"`` every completion of a group (the completions of
one prompt) with a failed row is masked, so the surviving peers are never compared against a
baseline that lacks one of them.

A ``None`` from an unflagged reward (a rule that cannot score something) is left alone: TRL's own
rule applies to it. A guard in ``mask`` mode in front of a flagged reward also returns ``None``;
that masks the row too, which is what ``mask`` means.

Example:
    >>> def judge(prompts, completions, **kw):
    ...     return [None if "x" in c else 1.0 for c in completions]
    >>> def rule(prompts, completions, **kw):
    ...     return [0.5 for _ in completions]
    >>> rewards = MaskedRewardSet([judge, rule], mask_on_failure=[True, False])
    >>> judge_view, rule_view = rewards.funcs
    >>> prompts, completions = ["p", "p"], ["ok", "x"]
    >>> judge_view(prompts, completions), rule_view(prompts, completions)
    ([1.0, None], [0.5, None])
    >>> rewards.last_stats["masked"], rewards.totals["masked"]
    (1, 1)
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from inkforge.rewards.group import group_spans, prompt_keys

__all__ = ["MaskPolicy", "MaskedReward", "MaskedRewardSet"]

MaskPolicy = Literal["row", "group"]
RewardFunc = Callable[..., Any]


def _is_async(func: Any) -> bool:
    """Whether calling ``func`` returns a coroutine (a function, or an instance with an async ``__call__``)."""
    import inspect

    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class MaskedReward:
    """One reward of a :class:`MaskedRewardSet`, with TRL's reward signature.

    Calling it returns this reward's column of the batch, scored (with every other reward of the set)
    on the first call for that batch and masked where a flagged reward failed.
    """

    def __init__(self, owner: MaskedRewardSet, index: int, name: str) -> None:
        self.owner = owner
        self.index = index
        self.__name__ = name

    @property
    def reward_fn(self) -> RewardFunc:
        """The wrapped reward function."""
        return self.owner.reward_fns[self.index]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return self.owner.column(self.index, prompts, completions, **kwargs)

    def __repr__(self) -> str:
        flag = ", mask_on_failure" if self.owner.mask_on_failure[self.index] else ""
        return f"MaskedReward({self.__name__!r}{flag})"


class MaskedRewardSet:
    """Reward functions scored together, masking every reward of a completion a flagged reward failed on.

    Args:
        reward_fns: TRL reward functions (sync or async), in the order TRL gets them.
        mask_on_failure: One flag per function: a ``None``/NaN from a flagged function masks the row.
        policy: ``row`` masks the failed completion; ``group`` masks every completion of its group.
        num_generations: GRPO group size, caps the groups of ``policy="group"`` (groups are runs of
            consecutive completions of the same prompt, as TRL lays them out).
        name: Prefix of the logged metrics.

    Attributes:
        funcs: The views to give ``GRPOTrainer(reward_funcs=...)``.
        last_stats: ``n``, ``masked``, ``masked_rate``, ``failed`` (per flagged reward) of the last batch.
    """

    def __init__(
        self,
        reward_fns: Sequence[RewardFunc],
        mask_on_failure: Sequence[bool],
        *,
        policy: MaskPolicy = "row",
        num_generations: int | None = None,
        name: str = "reward_mask",
    ) -> None:
        if len(reward_fns) != len(mask_on_failure):
            raise ValueError(f"{len(reward_fns)} reward functions for {len(mask_on_failure)} mask flags")
        if not reward_fns:
            raise ValueError("no reward functions")
        if policy not in ("row", "group"):
            raise ValueError(f"policy must be 'row' or 'group', got {policy!r}")
        self.reward_fns = list(reward_fns)
        self.mask_on_failure = [bool(f) for f in mask_on_failure]
        self.policy: MaskPolicy = policy
        self.num_generations = num_generations
        self.name = name
        self.funcs = [MaskedReward(self, i, getattr(f, "__name__", type(f).__name__))
                      for i, f in enumerate(self.reward_fns)]
        self.last_stats: dict[str, Any] = {}
        self._init_private()

    def _init_private(self) -> None:
        self._lock = threading.RLock()
        # The batch being served: TRL hands every reward function the same list objects in one step.
        self._batch: tuple[Sequence[Any], Sequence[Any], list[list[float | None]], set[int]] | None = None
        self._loop: Any = None
        self._totals: dict[str, Any] = {"n": 0, "masked": 0, "batches": 0, "failed": {}}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_batch", "_loop", "_totals")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_private()

    @property
    def totals(self) -> dict[str, Any]:
        """Counts since construction: ``n`` scored, ``masked``, ``batches`` and ``failed`` per flagged reward."""
        with self._lock:
            return {**self._totals, "failed": dict(self._totals["failed"])}

    # -- scoring ------------------------------------------------------------------------------------

    def _run_async(self, coros: list[Any]) -> list[Any]:
        from inkforge.core.aio import BackgroundLoop

        if self._loop is None or self._loop.closed:
            self._loop = BackgroundLoop(name="inkforge-reward-mask")

        async def gather() -> list[Any]:
            return list(await asyncio.gather(*coros))

        return self._loop.run(gather())

    def _score_all(self, prompts: Sequence[Any], completions: Sequence[Any],
                   kwargs: dict[str, Any]) -> list[list[float | None]]:
        n = len(completions)
        columns: list[list[float | None]] = [[] for _ in self.reward_fns]
        pending: list[tuple[int, Any]] = []
        for i, func in enumerate(self.reward_fns):
            if _is_async(func):
                pending.append((i, func(prompts=prompts, completions=completions, **kwargs)))
            else:
                columns[i] = list(func(prompts=prompts, completions=completions, **kwargs))
        if pending:
            for (i, _), out in zip(pending, self._run_async([c for _, c in pending]), strict=True):
                columns[i] = list(out)
        for i, col in enumerate(columns):
            if len(col) != n:
                raise ValueError(f"reward {self.funcs[i].__name__!r} returned {len(col)} rewards for {n} completions")
        return columns

    def _mask(self, prompts: Sequence[Any], columns: list[list[float | None]],
              kwargs: dict[str, Any]) -> list[list[float | None]]:
        n = len(prompts)
        failed_by = {self.funcs[i].__name__: [_missing(v) for v in col]
                     for i, col in enumerate(columns) if self.mask_on_failure[i]}
        masked = [any(flags[r] for flags in failed_by.values()) for r in range(n)]
        if self.policy == "group" and any(masked):
            for start, end in group_spans(prompt_keys(prompts), self.num_generations):
                if any(masked[start:end]):
                    masked[start:end] = [True] * (end - start)
        out = [[None if masked[r] or _missing(v) else float(v)  # type: ignore[arg-type]
                for r, v in enumerate(col)] for col in columns]
        count = sum(masked)
        stats: dict[str, Any] = {"n": n, "masked": count, "masked_rate": count / n if n else 0.0,
                                 "failed": {k: sum(v) for k, v in failed_by.items()}}
        with self._lock:
            self.last_stats = stats
            self._totals["n"] += n
            self._totals["masked"] += count
            self._totals["batches"] += 1
            for k, v in stats["failed"].items():
                self._totals["failed"][k] = self._totals["failed"].get(k, 0) + v
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric(f"{self.name}/masked_rate", float(stats["masked_rate"]))
            for k, v in stats["failed"].items():
                log_metric(f"{self.name}/failed_rate/{k}", v / n if n else 0.0)
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            log_extra("reward_masked", masked)
        return out

    def score(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[list[float | None]]:
        """Score a batch with every reward and mask it: one column per reward, ``None`` where masked."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        return self._mask(prompts, self._score_all(prompts, completions, kwargs), kwargs)

    def column(self, index: int, prompts: Sequence[Any], completions: Sequence[Any],
               **kwargs: Any) -> list[float | None]:
        """Reward ``index``'s column for this batch (scoring the batch when it is a new one).

        A batch is the same ``prompts`` and ``completions`` objects; a view asking twice for the same
        batch (or for a batch it has already been served) starts a new one.
        """
        with self._lock:
            batch = self._batch
            if batch is None or batch[0] is not prompts or batch[1] is not completions or index in batch[3]:
                batch = (prompts, completions, self.score(prompts, completions, **kwargs), set())
                self._batch = batch
            batch[3].add(index)
            if len(batch[3]) == len(self.funcs):
                self._batch = None  # every view served: drop the references
            return list(batch[2][index])

    def close(self) -> None:
        """Stop the private loop async rewards ran on (rebuilt on the next call)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()

    def __repr__(self) -> str:
        return f"MaskedRewardSet({self.funcs!r}, policy={self.policy!r})"
