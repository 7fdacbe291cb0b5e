"""Stage 2, reward model: a Bradley-Terry scorer trained on the curated preference pairs.

Run it as ``inkforge train rm --config inkforge/training/configs/paper_rm_7b.yaml``. The trained
folder is what ``{type: reward_model, path: ...}`` in a GRPO config points at.

Besides the weights, the run writes ``inkforge_reward_model.json``: whether the pairs went through
the chat template, the prompt prefix and the system prompt.
:class:`inkforge.rewards.reward_model.RewardModelReward` reads it to format GRPO's completions
exactly like the training pairs. A reward model scored on differently formatted text than it was
trained on drifts for reasons unrelated to quality.

Length trap: on the paper's preference data the chosen reply is longer than the rejected one in 97%
of pairs, so a reward model can reach high training accuracy by learning length alone. Check it
against the length-only baseline and on length-matched pairs (``bench/e2e_cpu.py`` does both).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inkforge.rewards.reward_model import REWARD_MODEL_META
from inkforge.training._common import load_tokenizer, resume_arg, save_final, train_eval_datasets
from inkforge.training.config import RewardTrainingConfig, parse_config
from inkforge.training.data import load_preference_dataset

__all__ = ["main", "train_reward_model"]


def train_reward_model(config: RewardTrainingConfig, *, callbacks: Sequence[Any] = ()) -> Any:
    """Train a one-label sequence classifier on (prompt, chosen, rejected) pairs and save it.

    Args:
        config: The run's config.
        callbacks: Extra ``transformers.TrainerCallback`` objects.

    Returns:
        The finished ``trl.RewardTrainer``; eval metrics include ``eval_accuracy`` (chosen scored
        above rejected).

    Example:
        >>> trainer = train_reward_model(cfg)  # doctest: +SKIP
    """
    from trl import RewardTrainer

    tokenizer = load_tokenizer(config.model_path)
    train_dataset, eval_dataset = train_eval_datasets(config, load_preference_dataset)

    trainer = RewardTrainer(
        model=config.model_path,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=config.peft_config("SEQ_CLS"),
        callbacks=list(callbacks) or None,
    )
    # Sequence classification pools the last non-pad token: the model must know the pad id.
    trainer.model.config.pad_token_id = tokenizer.pad_token_id  # type: ignore[union-attr]
    trainer.train(resume_from_checkpoint=resume_arg(config.resume_from_checkpoint))
    out = save_final(trainer, config, str(config.output_dir))
    meta = {
        "conversational": config.conversational,
        "prompt_prefix": config.prompt_prefix,
        "system_prompt": config.system_prompt,
        "base_model": config.model_name_or_path,
        "max_length": config.max_length,
        "train_file": str(config.train_file),
    }
    (Path(out) / REWARD_MODEL_META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return trainer


def main(argv: Sequence[str] | None = None) -> Any:
    """Command-line entry point: ``--config YAML`` plus ``--field value`` overrides."""
    return train_reward_model(parse_config(RewardTrainingConfig, argv))
