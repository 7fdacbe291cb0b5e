"""Score completions with a trained reward model (a sequence-classification model with one label).

:class:`RewardModelReward` is a TRL reward function. It formats each (prompt, completion) exactly as
:mod:`inkforge.training.reward_model` formatted the preference pairs it was trained on: the
training run writes ``inkforge_reward_model.json`` next to the weights (chat template or plain
text, prompt prefix, system prompt), and scoring reads it back. A reward model trained on
``<|im_start|>user…<|im_end|><|im_start|>assistant…`` must be scored on that same text, or its
scores drift for reasons unrelated to quality.

Example:
    >>> from inkforge.rewards.reward_model import RewardModelReward
    >>> reward = RewardModelReward("runs/rm", batch_size=32)  # doctest: +SKIP
    >>> reward(prompts=["请只生成一条祝福语：生日祝福"], completions=["生日快乐！"])  # doctest: +SKIP
    [0.73]
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inkforge.core.text import completion_text, content_text

__all__ = ["REWARD_MODEL_META", "RewardModelReward", "read_reward_model_meta"]

logger = logging.getLogger(__name__)

#: File written next to a trained reward model that records how its inputs were formatted.
REWARD_MODEL_META = "inkforge_reward_model.json"


def read_reward_model_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the formatting metadata of a reward model folder (``{}`` when it has none).

    Args:
        path: Reward model folder.

    Returns:
        ``{"conversational": bool, "prompt_prefix": str, "system_prompt": str | None, ...}`` or ``{}``.
    """
    meta = Path(path) / REWARD_MODEL_META
    if not meta.is_file():
        return {}
    return json.loads(meta.read_text(encoding="utf-8"))


class RewardModelReward:
    """A TRL reward function backed by a trained reward model folder.

    The model loads lazily on the first call and is never pickled (``__getstate__`` drops it), so
    the object can be shipped to worker processes cheaply; each process loads its own copy.

    Inputs are formatted the way the reward model was trained (see the module docstring). Folders
    without inkforge metadata (a reward model trained elsewhere) are scored through the chat
    template when the tokenizer has one, else as ``prompt + completion + eos`` like TRL's
    ``RewardTrainer`` does for plain text.

    Args:
        path: Folder with the reward model and its tokenizer.
        batch_size: Texts per forward pass.
        device: ``"cuda"``, ``"cpu"``, ... Defaults to CUDA when available.
        max_length: Longer inputs are truncated (keeping the start: the prompt and the beginning of
            the completion). TRL's ``RewardTrainer`` drops longer pairs, so the model never saw them.
        dtype: Torch dtype name. Defaults to ``bfloat16`` on CUDA and ``float32`` on CPU.
        name: Name TRL logs the reward under.

    Example:
        >>> reward = RewardModelReward("runs/rm", device="cpu")  # doctest: +SKIP
        >>> reward(prompts=[[{"role": "user", "content": "生日祝福"}]],
        ...        completions=[[{"role": "assistant", "content": "生日快乐！"}]])  # doctest: +SKIP
        [0.41]
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 16,
        device: str | None = None,
        max_length: int = 1024,
        dtype: str | None = None,
        name: str = "reward_model",
    ) -> None:
        self.path = str(path)
        self.batch_size = int(batch_size)
        self.device = device
        self.max_length = int(max_length)
        self.dtype = dtype
        self.__name__ = name
        self._model: Any = None
        self._tokenizer: Any = None
        self._meta: dict[str, Any] | None = None

    # -- pickling: ship the configuration, never the weights -------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_tokenizer"] = None
        return state

    def __repr__(self) -> str:
        return f"RewardModelReward(path={self.path!r}, batch_size={self.batch_size}, device={self.device!r})"

    @property
    def meta(self) -> dict[str, Any]:
        """The formatting metadata of the reward model folder (``{}`` when absent)."""
        if self._meta is None:
            self._meta = read_reward_model_meta(self.path)
        return self._meta

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = getattr(torch, self.dtype) if self.dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(self.path)
        model = AutoModelForSequenceClassification.from_pretrained(self.path, num_labels=1, dtype=dtype)
        if model.config.pad_token_id is None:
            # Sequence classification pools the last non-pad token: without a pad id it cannot
            # batch. Fall back to the tokenizer's pad (or eos) token, like TRL does when training.
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model.config.pad_token_id = tokenizer.pad_token_id
        model.to(device).eval()
        self.device = device
        self._model, self._tokenizer = model, tokenizer

    # -- formatting --------------------------------------------------------------------------------
    def _conversational(self) -> bool:
        if "conversational" in self.meta:
            return bool(self.meta["conversational"])
        return getattr(self._tokenizer, "chat_template", None) is not None

    def _with_prefix(self, text: str) -> str:
        prefix = self.meta.get("prompt_prefix") or ""
        return text if text.startswith(prefix) else prefix + text

    def format(self, prompt: str | Sequence[dict[str, Any]], completion: str | Sequence[dict[str, Any]]) -> str:
        """The exact text the reward model scores for one (prompt, completion).

        Args:
            prompt: A string or a list of chat messages.
            completion: A string or a list of (assistant) chat messages.

        Returns:
            The formatted text, special tokens included.
        """
        self._load()
        response = completion_text(completion)
        if self._conversational():
            if isinstance(prompt, str):
                messages: list[dict[str, Any]] = []
                if self.meta.get("system_prompt"):
                    messages.append({"role": "system", "content": self.meta["system_prompt"]})
                messages.append({"role": "user", "content": self._with_prefix(prompt)})
            else:
                messages = [dict(m) for m in prompt]
            messages.append({"role": "assistant", "content": response})
            return self._tokenizer.apply_chat_template(messages, tokenize=False)
        if isinstance(prompt, str):
            prompt_text = self._with_prefix(prompt)
        else:  # a chat prompt scored by a plain-text reward model: its user turns are the prompt
            prompt_text = self._with_prefix("\n".join(content_text(m.get("content")) for m in prompt
                                                       if m.get("role") == "user"))
        eos = self._tokenizer.eos_token or ""
        return prompt_text + response + eos

    def score_texts(self, texts: Sequence[str], *, add_special_tokens: bool | None = None) -> list[float]:
        """Scores of already formatted texts (see :meth:`format`), in order.

        Args:
            texts: Formatted texts.
            add_special_tokens: Whether the tokenizer adds its special tokens (a BOS, say). Defaults to
                what training did: no for chat-template text (the template already has them), yes
                for plain text (TRL tokenises it with the tokenizer's defaults).

        Returns:
            One float per text.
        """
        import torch

        self._load()
        if add_special_tokens is None:
            add_special_tokens = not self._conversational()
        scores: list[float] = []
        tokenizer, model = self._tokenizer, self._model
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            batch = tokenizer(
                chunk,
                return_tensors="pt",
                padding=True,
                padding_side="right",
                truncation=True,
                max_length=self.max_length,
                add_special_tokens=add_special_tokens,
            ).to(model.device)
            with torch.inference_mode():
                logits = model(**batch).logits[:, 0]
            scores.extend(float(x) for x in logits.float().cpu())
        return scores

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        if len(prompts) != len(completions):
            raise ValueError(f"got {len(prompts)} prompts but {len(completions)} completions")
        texts = [self.format(p, c) for p, c in zip(prompts, completions, strict=True)]
        return list(self.score_texts(texts))
