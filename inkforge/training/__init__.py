"""Training on TRL: SFT cold start, a reward model on curated pairs, GRPO against a judge or the RM.

Each stage is one function on one TRL trainer, configured by a dataclass extending TRL's config and
loaded from YAML (bundled configs in ``inkforge/training/configs/``) with command-line overrides:

=============  ================================  =======================  =========================
Stage          Function                          Config                   CLI
=============  ================================  =======================  =========================
SFT            :func:`train_sft`                 ``SFTTrainingConfig``    ``inkforge train sft``
Reward model   :func:`train_reward_model`        ``RewardTrainingConfig`` ``inkforge train rm``
GRPO           :func:`train_grpo`                ``GRPOTrainingConfig``   ``inkforge train grpo``
Evaluation     :func:`evaluate_policy`           keyword arguments        ``inkforge eval-policy``
=============  ================================  =======================  =========================

Attributes resolve lazily, so ``import inkforge.training`` does not import torch or TRL.

Example:
    >>> from inkforge.training import GRPOTrainingConfig, load_config, train_grpo  # doctest: +SKIP
    >>> cfg = load_config(GRPOTrainingConfig, "smoke_grpo.yaml", model_name_or_path="runs/tiny")  # doctest: +SKIP
    >>> trainer = train_grpo(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

from inkforge.core.lazy import lazy_exports

__all__ = [
    "GRPOTrainingConfig",
    "RewardHackingMonitor",
    "RewardTrainingConfig",
    "SFTTrainingConfig",
    "build_reward_funcs",
    "evaluate_policy",
    "load_config",
    "load_preference_dataset",
    "load_prompt_dataset",
    "load_sft_dataset",
    "parse_config",
    "train_grpo",
    "train_reward_model",
    "train_sft",
]

_WHERE = {
    "GRPOTrainingConfig": "config",
    "RewardTrainingConfig": "config",
    "SFTTrainingConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "RewardHackingMonitor": "callbacks",
    "build_reward_funcs": "reward_selection",
    "evaluate_policy": "eval_policy",
    "load_preference_dataset": "data",
    "load_prompt_dataset": "data",
    "load_sft_dataset": "data",
    "train_grpo": "grpo",
    "train_reward_model": "reward_model",
    "train_sft": "sft",
}


__getattr__, __dir__ = lazy_exports(__name__, {name: f"inkforge.training.{mod}" for name, mod in _WHERE.items()})
