"""GuardedReward: any TRL reward behind guards that mask, penalise or floor the reward of a hack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from inkforge.rewards.guards.base import Guard, GuardResult, apply_guards, default_guards

__all__ = ["GuardedReward"]


class GuardedReward:
    """Wrap a TRL reward so completions that trip a guard cannot collect it.

    ``__call__`` has TRL's reward signature and accepts standard (string) or conversational
    (message-list) prompts and completions. For each completion whose guards fire:

    * ``"penalize"`` subtracts the sum of the fired guards' penalties from the base reward;
    * ``"floor"`` replaces the reward with ``floor``;
    * ``"mask"`` replaces it with ``None``: TRL then treats the completion as unscored by this
      reward (with no other reward function it carries no learning signal at all), so the hack
      earns nothing but is not pushed down either.

    A base reward of ``None`` (the reward model or judge failed on that item) stays ``None`` in
    every mode, so failures remain visible rather than being turned into a number.

    After each call :attr:`last_stats` holds the trigger rate of every guard plus ``"any"``; when
    TRL passes its ``log_metric`` callback the rates are logged as ``guards/<name>``, and with
    ``log_extra`` the fired guard names go to the completions table as column ``guards``.

    Args:
        reward_fn: The base reward, TRL signature ``(prompts, completions, **kwargs)``. It must be
            picklable for the wrapper to be.
        guards: Guards to apply; defaults to :func:`default_guards` ``("zh")``. Names must be
            unique.
        mode: ``"mask"``, ``"penalize"`` or ``"floor"``.
        floor: Reward given in ``"floor"`` mode.
        skip_triggered: In ``"mask"`` and ``"floor"`` modes, call ``reward_fn`` only on the
            completions no guard fired on (saves judge calls). Per-sample list kwargs are sliced
            to match; leave it off if ``reward_fn`` logs per-sample columns itself.
        name: Name TRL logs the reward under; defaults to ``guarded_<base name>``.

    Example:
        >>> def base(prompts, completions, **kwargs):
        ...     return [1.0 for _ in completions]
        >>> reward = GuardedReward(base, mode="floor", floor=-1.0)
        >>> reward(prompts=["生日祝福", "生日祝福"], completions=["祝你生日快乐，天天开心！", "生日快乐 <|im_end|>"])
        [1.0, -1.0]
        >>> reward.last_stats["manipulation"]
        0.5
    """

    def __init__(
        self,
        reward_fn: Callable[..., Sequence[float | None]],
        guards: Sequence[Guard] | None = None,
        mode: Literal["mask", "penalize", "floor"] = "penalize",
        floor: float = -1.0,
        skip_triggered: bool = False,
        name: str | None = None,
    ) -> None:
        if mode not in ("mask", "penalize", "floor"):
            raise ValueError(f"mode must be 'mask', 'penalize' or 'floor', got {mode!r}")
        self.reward_fn = reward_fn
        self.guards = list(guards) if guards is not None else default_guards("zh")
        names = [g.name for g in self.guards]
        if len(set(names)) != len(names):
            raise ValueError(f"guard names must be unique, got {names}")
        self.mode = mode
        self.floor = float(floor)
        self.skip_triggered = bool(skip_triggered)
        base_name = getattr(reward_fn, "__name__", type(reward_fn).__name__)
        self.__name__ = name or f"guarded_{base_name}"
        self.last_stats: dict[str, float] = {}
        self.last_results: list[list[GuardResult]] = []

    def check(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[list[GuardResult]]:
        """Guard results per completion (all guards, triggered or not), without calling the reward."""
        return [apply_guards(p, c, self.guards) for p, c in zip(prompts, completions, strict=True)]

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        results = self.check(prompts, completions)
        fired = [[r for r in res if r.triggered] for res in results]
        n = len(completions)
        if self.skip_triggered and self.mode != "penalize":
            keep = [i for i in range(n) if not fired[i]]
            base: list[float | None] = [None] * n
            if keep:
                sub_kwargs = {
                    k: [v[i] for i in keep] if isinstance(v, (list, tuple)) and len(v) == n else v
                    for k, v in kwargs.items()
                }
                sub = self.reward_fn(
                    prompts=[prompts[i] for i in keep],
                    completions=[completions[i] for i in keep],
                    **sub_kwargs,
                )
                for i, value in zip(keep, sub, strict=True):
                    base[i] = value
        else:
            base = list(self.reward_fn(prompts=prompts, completions=completions, **kwargs))
            if len(base) != n:
                raise ValueError(f"reward_fn returned {len(base)} rewards for {n} completions")

        out: list[float | None] = []
        for value, hits in zip(base, fired, strict=True):
            if value is None:
                out.append(None)
            elif not hits:
                out.append(float(value))
            elif self.mode == "mask":
                out.append(None)
            elif self.mode == "floor":
                out.append(self.floor)
            else:
                out.append(float(value) - sum(r.penalty for r in hits))

        self.last_results = results
        self.last_stats = {
            g.name: (sum(1 for res in results if res[j].triggered) / n if n else 0.0)
            for j, g in enumerate(self.guards)
        }
        self.last_stats["any"] = sum(1 for hits in fired if hits) / n if n else 0.0
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for key, rate in self.last_stats.items():
                log_metric(f"guards/{key}", rate)
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            log_extra("guards", [",".join(r.name for r in hits) for hits in fired])
        return out

    def __repr__(self) -> str:
        return f"GuardedReward({self.__name__!r}, mode={self.mode!r}, guards={[g.name for g in self.guards]})"
