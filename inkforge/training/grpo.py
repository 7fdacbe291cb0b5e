"""Stage 3, GRPO: sample several greetings per prompt, reward them, push the policy toward the better ones.

Run it as ``inkforge train grpo --config inkforge/training/configs/paper_grpo_7b.yaml``. The config's
``rewards:`` section picks the signal (a refined judge's ``rubric.json``, a reward model folder, rules,
or a weighted mix; see :mod:`inkforge.training.reward_selection`) and ``guards:`` wraps them all.
With ``use_vllm: true`` and ``vllm_mode: colocate`` vLLM generates on the training GPUs.

The KL penalty follows the paper: it is a loss term (``beta``), never subtracted from the reward,
and TRL estimates it with the low-variance k3 estimator ``exp(r) - r - 1`` with
``r = log π_ref - log π_θ`` (Schulman's approximation, the one GRPO and verl's ``low_var_kl`` use).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inkforge.training._common import load_tokenizer, resume_arg, save_final
from inkforge.training.config import GRPOTrainingConfig, parse_config
from inkforge.training.data import load_prompt_dataset
from inkforge.training.reward_selection import build_guards, build_reward_funcs

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["drop_long_prompts", "main", "train_grpo"]

logger = logging.getLogger(__name__)


def drop_long_prompts(dataset: Dataset, tokenizer: Any, max_prompt_length: int | None) -> Dataset:
    """Drop prompts over ``max_prompt_length`` tokens (chat template and generation cue included).

    TRL 1.x no longer truncates prompts, and cutting a chat prompt in the middle would garble it, so
    over-long prompts are filtered out, like verl's ``filter_overlong_prompts``.
    """
    if max_prompt_length is None:
        return dataset

    def n_tokens(prompt: Any) -> int:
        if isinstance(prompt, str):
            return len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        return len(tokenizer.apply_chat_template(list(prompt), tokenize=True, add_generation_prompt=True,
                                                 return_dict=True)["input_ids"])

    kept = dataset.filter(lambda row: n_tokens(row["prompt"]) <= max_prompt_length)
    dropped = len(dataset) - len(kept)
    if dropped:
        logger.warning("dropped %d of %d prompts longer than %d tokens", dropped, len(dataset), max_prompt_length)
    if len(kept) == 0:
        raise ValueError(f"every prompt is longer than max_prompt_length={max_prompt_length} tokens")
    return kept


def _monitor(config: GRPOTrainingConfig, train_dataset: Dataset, reward_funcs: list[Any]) -> Any:
    """The reward-hacking monitor configured by the ``monitor_*`` fields (``None`` when off)."""
    from inkforge.training.callbacks import RewardHackingMonitor

    if config.monitor_probe_file:
        probes = load_prompt_dataset(config.monitor_probe_file, **config.data_kwargs())
    else:
        probes = train_dataset
    probes = probes.select(range(min(config.monitor_num_probes, len(probes))))
    judges = [getattr(f, "__name__", "") for f, spec in zip(reward_funcs, config.reward_specs, strict=True)
              if spec.get("type") == "judge"]
    return RewardHackingMonitor(
        list(probes["prompt"]),
        every_steps=config.monitor_every_steps,
        max_new_tokens=config.monitor_max_new_tokens,
        reward_funcs=list(reward_funcs),  # type: ignore[arg-type]
        judge_names=judges,
        guards=build_guards(config.guard_specs),
        max_length_growth=config.monitor_max_length_growth,
        min_distinct2=config.monitor_min_distinct2,
        max_guard_rate=config.monitor_max_guard_rate,
        length_band=(config.monitor_band_min, config.monitor_band_max),
        reward_kwargs={"query": list(probes["query"])} if "query" in probes.column_names else None,
    )


def train_grpo(config: GRPOTrainingConfig, *, callbacks: Sequence[Any] = ()) -> Any:
    """Run GRPO on ``config.model_name_or_path`` with the configured rewards and save the policy.

    Args:
        config: The run's config.
        callbacks: Extra ``transformers.TrainerCallback`` objects.

    Returns:
        The finished ``trl.GRPOTrainer``. ``state.log_history`` holds ``reward``,
        ``rewards/<name>/mean``, ``kl``, completion lengths and, with the monitor on, ``monitor/*``.

    Example:
        >>> trainer = train_grpo(cfg)  # doctest: +SKIP
    """
    from trl import GRPOTrainer

    tokenizer = load_tokenizer(config.model_path)
    train_dataset = load_prompt_dataset(
        config.train_path, max_samples=config.max_train_samples, **config.data_kwargs()
    )
    train_dataset = drop_long_prompts(train_dataset, tokenizer, config.max_prompt_length)
    reward_funcs, reward_weights = build_reward_funcs(
        config.reward_specs, guards=config.guard_specs, guard_mode=config.guard_mode,
        mask_policy=config.reward_mask_policy, num_generations=config.num_generations,
    )
    config.reward_weights = reward_weights
    monitor = _monitor(config, train_dataset, reward_funcs) if config.monitor_every_steps else None

    trainer = GRPOTrainer(
        model=config.model_path,
        reward_funcs=list(reward_funcs),  # type: ignore[arg-type]
        args=config,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=config.peft_config("CAUSAL_LM"),
        callbacks=[*callbacks, *([monitor] if monitor else [])] or None,
    )
    if monitor is not None:
        monitor.attach(trainer)
    trainer.train(resume_from_checkpoint=resume_arg(config.resume_from_checkpoint))
    save_final(trainer, config, str(config.output_dir))
    return trainer


def main(argv: Sequence[str] | None = None) -> Any:
    """Command-line entry point: ``--config YAML`` plus ``--field value`` overrides."""
    return train_grpo(parse_config(GRPOTrainingConfig, argv))
