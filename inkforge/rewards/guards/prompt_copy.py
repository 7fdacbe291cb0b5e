"""Prompt-copy guard: the completion restates or copies the request instead of answering it.

Example:
    >>> PromptCopyGuard().check("给老师的教师节祝福语", "给老师的教师节祝福语：老师辛苦了").triggered
    True
"""

from __future__ import annotations

from collections.abc import Iterable

from inkforge.rewards.guards.base import GuardResult, encode_units, passed, short_snippet, text_units
from inkforge.rewards.guards.patterns import META_WORDS

__all__ = ["PromptCopyGuard"]


class PromptCopyGuard:
    """Fire when the completion copies the prompt instead of answering it.

    Greetings legitimately reuse a query's keywords ("妹妹生日快乐祝福语" → "亲爱的妹妹，生日快乐！…"),
    so overlap alone is not enough. The guard fires when any of these holds (lengths in units: one
    CJK character or one Latin word):

    * copied spans of >= ``min_span`` units cover at least ``max_coverage`` of the completion
      (the completion *is* the query, or the query repeated);
    * a copied span of >= ``meta_span`` units contains a request word such as 祝福语 / 文案 /
      发朋友圈 / wishes (the model restates the task, "送给老师的教师节祝福语：…");
    * a copied span reaches ``max_span`` units (an echoed instruction or system prompt).

    Args:
        min_span: Shortest span counted as copied.
        max_coverage: Share of the completion's units covered by copied spans that fires.
        meta_span: Shortest copied span that fires when it holds a request word.
        max_span: Copied span length that fires regardless.
        meta_words: Request words; defaults to a Chinese + English list.
        penalty: Penalty when fired.
        name: Guard name.

    Example:
        >>> g = PromptCopyGuard()
        >>> g.check("送给妈妈的生日祝福语", "送给妈妈的生日祝福语").triggered
        True
        >>> g.check("送给妈妈的生日祝福语", "妈妈，生日快乐！愿您岁岁安康，笑口常开。").triggered
        False
    """

    def __init__(
        self,
        min_span: int = 4,
        max_coverage: float = 0.5,
        meta_span: int = 6,
        max_span: int = 16,
        meta_words: Iterable[str] | None = None,
        penalty: float = 1.0,
        name: str = "prompt_copy",
    ) -> None:
        if min_span < 2 or meta_span < min_span or max_span < min_span:
            raise ValueError("need 2 <= min_span <= meta_span, max_span")
        self.min_span = int(min_span)
        self.max_coverage = float(max_coverage)
        self.meta_span = int(meta_span)
        self.max_span = int(max_span)
        self.meta_words = tuple(meta_words) if meta_words is not None else META_WORDS
        self.penalty = float(penalty)
        self.name = name

    def check(self, prompt: str, completion: str) -> GuardResult:
        """Check one completion against its prompt (the user's request)."""
        p_units, c_units = text_units(prompt), text_units(completion)
        k = self.min_span
        if len(p_units) < k or len(c_units) < k:
            return passed(self.name)
        codes: dict[str, str] = {}  # shared, so a word gets the same code in prompt and completion
        p, _ = encode_units(p_units, codes)
        c, reverse = encode_units(c_units, codes)
        p_grams = {p[i : i + k] for i in range(len(p) - k + 1)}
        covered = [False] * len(c)
        for i in range(len(c) - k + 1):
            if c[i : i + k] in p_grams:
                for j in range(i, i + k):
                    covered[j] = True
        n_covered = sum(covered)
        if not n_covered:
            return passed(self.name)
        coverage = n_covered / len(c)
        if coverage >= self.max_coverage:
            return self._fire(f"{coverage:.0%} of the completion is copied from the prompt", "copied")
        # Maximal covered segments: unions of overlapping copied k-grams (an upper bound on the
        # longest common substring, exact in the usual case of one contiguous copy).
        start = None
        for i, flag in enumerate([*covered, False]):
            if flag and start is None:
                start = i
            elif not flag and start is not None:
                length = i - start
                text = "".join(reverse.get(ch, ch) for ch in c[start:i])
                if length >= self.max_span and text in p:
                    return self._fire(f"copied {length}-unit span {short_snippet(text)!r}", "long_span", text)
                if length >= self.meta_span:
                    spaced = " ".join(reverse.get(ch, ch) for ch in c[start:i])  # for English words
                    if any(w in text or w in spaced for w in self.meta_words):
                        return self._fire(f"restates the request: {short_snippet(text)!r}", "restates_request", text)
                start = None
        return passed(self.name)

    def _fire(self, reason: str, category: str, snippet: str = "") -> GuardResult:
        return GuardResult(True, self.name, reason, self.penalty, category, short_snippet(snippet))
