"""Plumbing shared by the three training entry points (kept out of them so they read top to bottom)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset

    from inkforge.training.config import InkforgeFields

logger = logging.getLogger("inkforge.training")


def load_tokenizer(name_or_path: str) -> Any:
    """Load a tokenizer and make sure it can pad (some base models ship without a pad token)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def train_eval_datasets(config: InkforgeFields, loader: Callable[..., Dataset]) -> tuple[Dataset, Dataset | None]:
    """Load ``train_file`` (and ``eval_file``, or a held-out split) with one of the data loaders."""
    kwargs = config.data_kwargs()
    train = loader(config.train_path, max_samples=config.max_train_samples, **kwargs)
    if config.eval_file:
        return train, loader(config.eval_file, **kwargs)
    if config.eval_split_ratio > 0:
        split = train.train_test_split(test_size=config.eval_split_ratio, seed=getattr(config, "seed", 42))
        return split["train"], split["test"]
    return train, None


def resume_arg(value: str | bool | None) -> str | bool | None:
    """``resume_from_checkpoint`` as ``Trainer.train`` wants it: a path, ``True`` (latest) or ``None``."""
    if isinstance(value, str) and value.lower() in ("true", "last", "latest"):
        return True
    if isinstance(value, str) and value.lower() in ("", "false", "none"):
        return None
    return value


def save_final(trainer: Any, config: InkforgeFields, output_dir: str) -> Path:
    """Save the trained model and tokenizer to ``output_dir``; LoRA adapters are merged first.

    Merging makes the result a plain model folder that the next stage, ``eval-policy`` and vLLM load
    without peft. Intermediate checkpoints keep the adapters, so resuming stays cheap.
    """
    out = Path(output_dir)
    if config.use_peft and hasattr(trainer.model, "merge_and_unload"):
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(out)
        trainer.processing_class.save_pretrained(out)
    else:
        trainer.save_model(str(out))
        # save_model writes the tokenizer only on the main process and only when it knows it.
        trainer.processing_class.save_pretrained(out)
    logger.info("saved %s", out)
    return out
