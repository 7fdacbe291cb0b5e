"""Rule-based rewards: cheap, deterministic signals with TRL's reward signature.

They are small picklable classes (TRL pickles reward functions into dataloader workers and
multi-process launches), each carrying a ``__name__`` so TRL logs them as ``rewards/<name>/mean``.
They score the text :func:`inkforge.core.text.completion_text` reads from a completion (the last
assistant turn of a conversational one, content blocks included).

Example:
    >>> reward = LengthTargetReward(target_chars=10, tolerance=1)
    >>> reward(prompts=["p", "p"], completions=["一二三四五六七八九", "一二三四五六"])
    [1.0, 0.7]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inkforge.core.text import completion_text

__all__ = ["DistinctReward", "LengthTargetReward"]


class LengthTargetReward:
    """Reward a completion for having about ``target_chars`` characters.

    The reward is ``1`` inside ``target ± tolerance`` and falls linearly with the distance beyond
    it, reaching ``0`` at ``scale`` characters away and clipped at ``-1``. Characters, not tokens,
    are counted (after stripping surrounding whitespace) because a Chinese greeting's length is
    what readers, and the human labels, react to.

    On its own this is exactly the signal a reward-hacking policy exploits (human labels follow
    length ~90% of the time); use it as a shaping term beside a judge or a reward model, or as the
    test signal that shows the GRPO loop learns.

    Args:
        target_chars: Target length in characters.
        tolerance: Half-width of the band that earns the full reward.
        scale: Distance beyond the band at which the reward reaches 0. Defaults to ``target_chars``.
        name: Name TRL logs the reward under.

    Example:
        >>> LengthTargetReward(40)(prompts=["p"], completions=["好" * 20])
        [0.5]
    """

    def __init__(
        self, target_chars: int = 40, tolerance: int = 0, scale: float | None = None, name: str = "length_target"
    ) -> None:
        if target_chars <= 0:
            raise ValueError(f"target_chars must be positive, got {target_chars}")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        self.target_chars = int(target_chars)
        self.tolerance = int(tolerance)
        self.scale = float(scale) if scale is not None else float(target_chars)
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.__name__ = name

    def score(self, text: str) -> float:
        """Reward of one text."""
        distance = max(0, abs(len(text.strip()) - self.target_chars) - self.tolerance)
        return max(-1.0, 1.0 - distance / self.scale)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return [self.score(completion_text(c)) for c in completions]

    def __repr__(self) -> str:
        return f"LengthTargetReward(target_chars={self.target_chars}, tolerance={self.tolerance}, scale={self.scale})"


class DistinctReward:
    """Reward a completion for not repeating itself: its fraction of distinct character n-grams.

    ``1.0`` means no character n-gram occurs twice; a completion stuck in a loop
    (``祝你快乐祝你快乐祝你快乐``) scores low. Completions shorter than ``n`` characters get ``0``: they
    carry no content.

    Args:
        n: n-gram order.
        name: Name TRL logs the reward under.

    Example:
        >>> DistinctReward(n=2)(prompts=["p", "p"], completions=["新年快乐", "哈哈哈哈"])
        [1.0, 0.3333333333333333]
    """

    def __init__(self, n: int = 2, name: str = "distinct") -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self.__name__ = name

    def score(self, text: str) -> float:
        """Reward of one text."""
        text = text.strip()
        grams = [text[i : i + self.n] for i in range(len(text) - self.n + 1)]
        return len(set(grams)) / len(grams) if grams else 0.0

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return [self.score(completion_text(c)) for c in completions]

    def __repr__(self) -> str:
        return f"DistinctReward(n={self.n})"
