"""Rewards for RL training: the LLM judge, reward models, rules, and guards against reward hacking.

Every reward is a plain callable with TRL's signature ``(prompts, completions, **kwargs) ->
list[float | None]``; ``None`` marks a failed score (TRL masks it), never a silent 0.0.

Example:
    >>> from inkforge.rewards import GuardedReward, LengthTargetReward, default_guards
    >>> reward = GuardedReward(LengthTargetReward(target_chars=30), default_guards("zh"), mode="mask")
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "JudgeReward": "inkforge.rewards.judge",
    "AsyncJudgeReward": "inkforge.rewards.judge",
    "impute_failures": "inkforge.rewards.judge",
    "RewardModelReward": "inkforge.rewards.reward_model",
    "LengthTargetReward": "inkforge.rewards.rules",
    "DistinctReward": "inkforge.rewards.rules",
    "RemoteJudgeReward": "inkforge.rewards.serving.server",
    "RewardServer": "inkforge.rewards.serving.server",
    "Guard": "inkforge.rewards.guards.guards",
    "GuardResult": "inkforge.rewards.guards.guards",
    "GuardedReward": "inkforge.rewards.guards.guards",
    "LengthGuard": "inkforge.rewards.guards.guards",
    "RepetitionGuard": "inkforge.rewards.guards.guards",
    "LanguageGuard": "inkforge.rewards.guards.guards",
    "PromptCopyGuard": "inkforge.rewards.guards.guards",
    "ManipulationGuard": "inkforge.rewards.guards.guards",
    "apply_guards": "inkforge.rewards.guards.guards",
    "default_guards": "inkforge.rewards.guards.guards",
    "audit_judge": "inkforge.rewards.audit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy: the judge pulls in the agent stack, the reward model pulls in torch.
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
