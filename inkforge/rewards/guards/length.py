"""Length guard: a sanity bound against empty and runaway completions.

Example:
    >>> LengthGuard(4, 300).check("两个字的祝福", "平安").triggered
    False
"""

from __future__ import annotations

import re
from typing import Literal

from inkforge.rewards.guards.base import GuardResult, passed

__all__ = ["LengthGuard"]


_CN_DIGITS = dict(zip("零一二三四五六七八九", range(10), strict=True)) | {"两": 2}
_REQUESTED_CHARS_RE = re.compile(r"(\d{1,3}|[一二两三四五六七八九十]{1,3})\s*个?\s*字(?!数)")


def _requested_chars(prompt: str) -> int | None:
    """The length a request asks for ("两个字的祝福", "8个字"), ``None`` when it names none."""
    m = _REQUESTED_CHARS_RE.search(prompt)
    if not m:
        return None
    token = m.group(1)
    if token.isdigit():
        return int(token)
    if "十" in token:  # 十, 十二, 二十, 二十四
        tens, _, ones = token.partition("十")
        return _CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0)
    return _CN_DIGITS.get(token[-1])


class LengthGuard:
    """Fire when a completion is degenerately short or long.

    Length is counted in non-whitespace characters. This guard is a *sanity bound* against empty
    and runaway outputs, not a quality signal: human labels of greetings follow length ~90% of the
    time, so a tight length window would itself become the thing a policy games. Keep the window
    wide (the defaults suit 祝福语: a request for "四个字" legitimately yields 4 characters, and
    label-1 human greetings stay well under 200).

    Args:
        min_chars: Shortest acceptable length.
        max_chars: Longest acceptable length.
        mode: ``"bound"`` fires with the full ``penalty`` whenever the length is out of range;
            ``"penalty"`` also fires out of range but grades the penalty linearly with the
            distance, reaching ``penalty`` at ``ramp`` characters beyond the bound.
        penalty: Full penalty.
        ramp: Distance beyond a bound at which the graded penalty saturates. Defaults to
            ``min_chars`` below the range and ``max_chars`` above it.
        respect_prompt: When the prompt asks for fewer characters than ``min_chars``
            ("两个字的祝福语"), lower the minimum to that number. The bound is only ever relaxed.
        name: Guard name.

    Example:
        >>> LengthGuard(4, 10).check("", "好").triggered
        True
        >>> LengthGuard(4, 10, mode="penalty").check("", "好" * 15).penalty
        0.5
    """

    def __init__(
        self,
        min_chars: int = 4,
        max_chars: int = 300,
        mode: Literal["penalty", "bound"] = "bound",
        penalty: float = 1.0,
        ramp: int | None = None,
        respect_prompt: bool = True,
        name: str = "length",
    ) -> None:
        if min_chars < 0 or max_chars < min_chars:
            raise ValueError(f"need 0 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
        if mode not in ("penalty", "bound"):
            raise ValueError(f"mode must be 'penalty' or 'bound', got {mode!r}")
        if ramp is not None and ramp <= 0:
            raise ValueError(f"ramp must be positive, got {ramp}")
        self.min_chars = int(min_chars)
        self.max_chars = int(max_chars)
        self.mode = mode
        self.penalty = float(penalty)
        self.ramp = ramp
        self.respect_prompt = bool(respect_prompt)
        self.name = name

    @staticmethod
    def measure(text: str) -> int:
        """Number of non-whitespace characters in ``text``."""
        return sum(1 for ch in text if not ch.isspace())

    def check(self, prompt: str, completion: str) -> GuardResult:
        """Check one completion; the prompt only matters for ``respect_prompt``."""
        n = self.measure(completion)
        low = self.min_chars
        if self.respect_prompt and n < low:
            requested = _requested_chars(prompt)
            if requested is not None and 0 < requested < low:
                low = requested
        if low <= n <= self.max_chars:
            return passed(self.name)
        if n < low:
            distance, ramp, reason = low - n, self.ramp or max(low, 1), "too short"
        else:
            distance, ramp, reason = n - self.max_chars, self.ramp or max(self.max_chars, 1), "too long"
        penalty = self.penalty if self.mode == "bound" else self.penalty * min(1.0, distance / ramp)
        return GuardResult(True, self.name, f"{reason}: {n} chars outside [{low}, {self.max_chars}]", penalty,
                           category=reason.replace(" ", "_"))
