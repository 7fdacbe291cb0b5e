"""Repetition guard: looping or padded text (character runs, short loops, repeated clauses, repeated n-grams).

Example:
    >>> RepetitionGuard().check("", "哈哈哈哈哈哈哈哈").triggered
    True
"""

from __future__ import annotations

import re

from inkforge.rewards.guards.base import GuardResult, encode_units, passed, short_snippet, text_units

__all__ = ["RepetitionGuard"]


_SENTENCE_SPLIT_RE = re.compile(r"[，。！？；、,.!?;:：\n~～…]+")


class RepetitionGuard:
    """Fire on looping or padded text: character runs, short periodic loops, repeated sentences and
    a high share of repeated n-grams.

    Everything is counted in units (one CJK character or one Latin word), so the thresholds suit
    Chinese and English alike. The defaults leave room for the repetition greetings use on purpose:
    reduplication (天天, 步步高升), "恭喜恭喜", "加油！加油！加油！" and parallel clauses
    ("如春风般温暖，如夏花般绚烂") all pass.

    Args:
        max_char_run: Fire when one non-digit, non-space character repeats this many times in a row.
        max_period_repeats: Fire when a 2-10 character chunk repeats back to back this many times.
        max_sentence_repeats: Fire when one clause of >= 3 units occurs this many times (clauses of
            2 units need one more repeat).
        ngram: n for the n-gram repetition share.
        max_ngram_dup_ratio: Fire when ``1 - distinct/total`` of the n-grams reaches this.
        min_ngrams: Only compute the n-gram share on texts with at least this many n-grams.
        prefix_units: Length of the clause opening compared across clauses.
        max_prefix_repeats: Fire when this many clauses open with the same ``prefix_units`` units.
        penalty: Penalty when fired.
        name: Guard name.

    Example:
        >>> RepetitionGuard().check("", "祝你快乐！祝你快乐！祝你快乐！").triggered
        True
        >>> RepetitionGuard().check("", "恭喜恭喜！愿你们步步高升，天天开心。").triggered
        False
    """

    def __init__(
        self,
        max_char_run: int = 5,
        max_period_repeats: int = 4,
        max_sentence_repeats: int = 3,
        ngram: int = 4,
        max_ngram_dup_ratio: float = 0.2,
        min_ngrams: int = 12,
        prefix_units: int = 5,
        max_prefix_repeats: int = 4,
        penalty: float = 1.0,
        name: str = "repetition",
    ) -> None:
        if max_char_run < 2 or max_period_repeats < 2 or max_sentence_repeats < 2 or ngram < 1:
            raise ValueError("repeat thresholds must be >= 2 and ngram >= 1")
        self.max_char_run = int(max_char_run)
        self.max_period_repeats = int(max_period_repeats)
        self.max_sentence_repeats = int(max_sentence_repeats)
        self.ngram = int(ngram)
        self.max_ngram_dup_ratio = float(max_ngram_dup_ratio)
        self.min_ngrams = int(min_ngrams)
        self.penalty = float(penalty)
        self.name = name
        self.prefix_units = int(prefix_units)
        self.max_prefix_repeats = int(max_prefix_repeats)
        # Digits are excluded from runs: "1000000" is a number, not a loop.
        runs, periods = self.max_char_run - 1, self.max_period_repeats - 1
        self._run_re = re.compile(rf"([^\s\d])\1{{{runs},}}")
        self._period_re = re.compile(rf"(\S{{2,10}}?)\1{{{periods},}}")
        self._unit_period_re = re.compile(rf"(.{{1,4}}?)\1{{{periods},}}", re.DOTALL)

    def check(self, prompt: str, completion: str) -> GuardResult:
        """Check one completion; the prompt is ignored."""
        m = self._run_re.search(completion)
        if m:
            return self._fire(f"character run {m.group(0)!r}", "char_run", m.group(0))
        m = self._period_re.search(completion)
        if m:
            return self._fire(f"looped chunk {m.group(1)!r} x{len(m.group(0)) // len(m.group(1))}", "loop",
                              m.group(0))
        units = text_units(completion)
        loop = self._unit_loop(units)
        if loop:
            return self._fire(loop, "loop")
        counts: dict[str, int] = {}
        prefixes: dict[str, int] = {}
        for clause in _SENTENCE_SPLIT_RE.split(completion):
            clause_units = text_units(clause)
            if len(clause_units) >= 2:
                key = "".join(clause_units)
                counts[key] = counts.get(key, 0) + 1
                needed = self.max_sentence_repeats + (1 if len(clause_units) < 3 else 0)
                if counts[key] >= needed:
                    return self._fire(f"clause {short_snippet(clause.strip())!r} repeated {counts[key]}x",
                                      "repeated_clause", clause.strip())
                # "祝你身体健康万事如意，祝你身体健康心想事成，…": a long shared opening, clause after
                # clause. Parallel greetings share 1-3 units ("愿你…", "如…般…"), not 5.
                if len(clause_units) > self.prefix_units:
                    head = "".join(clause_units[: self.prefix_units])
                    prefixes[head] = prefixes.get(head, 0) + 1
                    if prefixes[head] >= self.max_prefix_repeats:
                        return self._fire(f"{prefixes[head]} clauses open with {head!r}", "repeated_opening", head)
        total = len(units) - self.ngram + 1
        if total >= self.min_ngrams:
            grams = {tuple(units[i : i + self.ngram]) for i in range(total)}
            ratio = 1.0 - len(grams) / total
            if ratio >= self.max_ngram_dup_ratio:
                return self._fire(f"{ratio:.0%} of {self.ngram}-grams repeated", "ngram_share")
        return passed(self.name)

    def _unit_loop(self, units: list[str]) -> str | None:
        """A unit sequence of period 1-4 repeated back to back, across spaces ("so so so so", "祝 你 祝 你 …")."""
        if len(units) < self.max_period_repeats:
            return None
        encoded, words = encode_units(units)
        for m in self._unit_period_re.finditer(encoded):
            chunk = m.group(1)
            # A repeated single character needs a longer run ("哈哈哈哈" is laughter); a repeated word does not.
            if len(chunk) > 1 or chunk in words or len(m.group(0)) >= self.max_char_run:
                shown = " ".join(words.get(ch, ch) for ch in chunk)
                return f"looped {shown!r} x{len(m.group(0)) // len(chunk)}"
        return None

    def _fire(self, reason: str, category: str, snippet: str = "") -> GuardResult:
        return GuardResult(True, self.name, reason, self.penalty, category, short_snippet(snippet))
