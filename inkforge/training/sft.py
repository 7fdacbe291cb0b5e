"""Stage 1, SFT cold start: teach the instruct model the task's format on curated greetings.

Run it as ``inkforge train sft --config inkforge/training/configs/paper_sft_7b.yaml``, or from Python::

    from inkforge.training.config import SFTTrainingConfig, load_config
    from inkforge.training.sft import train_sft

    trainer = train_sft(load_config(SFTTrainingConfig, "smoke_sft.yaml", model_name_or_path="runs/tiny"))

The data is prompt-completion (see :func:`inkforge.training.data.load_sft_dataset`), so TRL trains
on the completion tokens only; with ``conversational: true`` prompts go through the chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inkforge.training._common import load_tokenizer, resume_arg, save_final, train_eval_datasets
from inkforge.training.config import SFTTrainingConfig, parse_config
from inkforge.training.data import load_sft_dataset

__all__ = ["main", "train_sft"]


def train_sft(config: SFTTrainingConfig, *, callbacks: Sequence[Any] = ()) -> Any:
    """Fine-tune ``config.model_name_or_path`` on ``config.train_file`` and save it to ``config.output_dir``.

    Args:
        config: The run's config.
        callbacks: Extra ``transformers.TrainerCallback`` objects.

    Returns:
        The finished ``trl.SFTTrainer`` (its ``state.log_history`` holds the losses).

    Example:
        >>> trainer = train_sft(cfg)  # doctest: +SKIP
    """
    from trl import SFTTrainer

    tokenizer = load_tokenizer(config.model_path)
    train_dataset, eval_dataset = train_eval_datasets(config, load_sft_dataset)

    trainer = SFTTrainer(
        model=config.model_path,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=config.peft_config("CAUSAL_LM"),
        callbacks=list(callbacks) or None,
    )
    trainer.train(resume_from_checkpoint=resume_arg(config.resume_from_checkpoint))
    save_final(trainer, config, str(config.output_dir))
    return trainer


def main(argv: Sequence[str] | None = None) -> Any:
    """Command-line entry point: ``--config YAML`` plus ``--field value`` overrides."""
    return train_sft(parse_config(SFTTrainingConfig, argv))
