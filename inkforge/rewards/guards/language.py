"""Language guard: too little of the completion is written in the expected script.

Example:
    >>> LanguageGuard("en").check("", "Wishing you a bright new year!").triggered
    False
"""

from __future__ import annotations

from inkforge.rewards.guards.base import GuardResult, passed
from inkforge.rewards.guards.patterns import HAN_RE, LATIN_RE, LATIN_WORD_RE

__all__ = ["LANGUAGES", "LanguageGuard"]


#: Languages :class:`LanguageGuard` can check.
LANGUAGES: tuple[str, ...] = ("zh", "en")


class LanguageGuard:
    """Fire when too little of a completion is written in the expected script.

    Text is counted in units: one Han character, one Latin word, or one other letter (kana,
    Hangul, Cyrillic...), because a Chinese character carries about as much as an English word;
    digits, punctuation and emoji do not count. The ratio is Han units (``"zh"``) or Latin words
    (``"en"``) over all units. Human-approved Chinese greetings sit above 0.9 (one opening with
    "Happy Birthday" included); code-switching ("…充满阳光, starts the day with a smile") falls
    below 0.8, and pinyin, English, kana or Hangul far below. A text with no letters at all fires
    too (an emoji-only "greeting" is in no language).

    Args:
        language: One of :data:`LANGUAGES` (``"zh"`` or ``"en"``).
        min_ratio: Lowest acceptable share of units in the expected script. Defaults to 0.8 for
            ``"zh"`` and 0.7 for ``"en"`` (an English greeting may carry a Chinese name, which
            counts one unit per character).
        penalty: Penalty when fired.
        name: Guard name.

    Example:
        >>> LanguageGuard("zh").check("", "Happy birthday to you, my friend!").triggered
        True
        >>> LanguageGuard("zh").check("", "Happy Birthday！愿你岁岁平安，年年有今朝。").triggered
        False
    """

    def __init__(
        self,
        language: str = "zh",
        min_ratio: float | None = None,
        penalty: float = 1.0,
        name: str = "language",
    ) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
        self.language = language
        self.min_ratio = float(min_ratio) if min_ratio is not None else (0.8 if language == "zh" else 0.7)
        self.penalty = float(penalty)
        self.name = name

    def ratio(self, text: str) -> float | None:
        """Share of units in the expected script, ``None`` when the text has no letters."""
        han = len(HAN_RE.findall(text))
        latin_letters = len(LATIN_RE.findall(text))
        other = sum(1 for ch in text if ch.isalpha()) - han - latin_letters
        latin_words = len(LATIN_WORD_RE.findall(text)) if latin_letters else 0
        total = han + latin_words + other
        if not total:
            return None
        return (han if self.language == "zh" else latin_words) / total

    def check(self, prompt: str, completion: str) -> GuardResult:
        """Check one completion; the prompt is ignored."""
        ratio = self.ratio(completion)
        if ratio is None:
            return GuardResult(True, self.name, "no letters at all", self.penalty)
        if ratio < self.min_ratio:
            return GuardResult(
                True,
                self.name,
                f"{self.language} script ratio {ratio:.2f} < {self.min_ratio:.2f}",
                self.penalty,
            )
        return passed(self.name)
