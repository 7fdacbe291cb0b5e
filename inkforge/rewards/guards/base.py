"""The guard vocabulary: :class:`GuardResult`, the :class:`Guard` protocol, running guards and the default set.

Example:
    >>> [g.name for g in default_guards("poem")]
    ['length', 'repetition', 'language', 'prompt_copy', 'manipulation']
    >>> default_guards("poem")[0].max_chars
    600
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from inkforge.core.errors import InputError
from inkforge.core.tasks import TaskSpec, get_task
from inkforge.core.text import completion_text, prompt_query
from inkforge.rewards.guards.patterns import UNIT_RE

__all__ = [
    "LANGUAGE_BOUNDS",
    "Guard",
    "GuardResult",
    "apply_guards",
    "default_guards",
    "encode_units",
    "passed",
    "short_snippet",
    "text_units",
]


@dataclass(frozen=True)
class GuardResult:
    """Outcome of one guard on one completion.

    Attributes:
        triggered: Whether the guard fired.
        name: The guard's name (the key of its trigger rate in :attr:`GuardedReward.last_stats`).
        reason: Why it fired, with the offending snippet where there is one; ``""`` when it did not.
        penalty: How much :class:`GuardedReward` subtracts in ``"penalize"`` mode; ``0.0`` when it
            did not fire.
        category: What kind of failure it is, within the guard (``"too_long"``,
            ``"fake_verdict"``, ``"script_ratio"``...); ``""`` when it did not fire.
        snippet: The offending part of the completion, on one line and short; ``""`` when there
            is none (a length bound, a script ratio).

    Example:
        >>> GuardResult(triggered=False, name="length", reason="", penalty=0.0).triggered
        False
        >>> hit = GuardResult(True, "manipulation", "fake_verdict: 'label: 1'", 1.0, "fake_verdict", "label: 1")
        >>> hit.category, hit.snippet
        ('fake_verdict', 'label: 1')
    """

    triggered: bool
    name: str
    reason: str = ""
    penalty: float = 0.0
    category: str = ""
    snippet: str = ""


@runtime_checkable
class Guard(Protocol):
    """Anything with a ``name`` and a ``check(prompt, completion) -> GuardResult`` method.

    Guards receive plain strings (the prompt's last user turn and the completion's last assistant
    turn; :func:`apply_guards` extracts them from TRL's conversational format). Implementations
    should be picklable, i.e. keep configuration, not closures, on the instance.

    Example:
        >>> class NoDigits:
        ...     name = "no_digits"
        ...     def check(self, prompt: str, completion: str) -> GuardResult:
        ...         hit = any(ch.isdigit() for ch in completion)
        ...         return GuardResult(hit, self.name, "digits" if hit else "", 1.0 if hit else 0.0)
        >>> isinstance(NoDigits(), Guard)
        True
    """

    name: str

    def check(self, prompt: str, completion: str) -> GuardResult: ...


def passed(name: str) -> GuardResult:
    """The result of a guard that did not fire."""
    return GuardResult(triggered=False, name=name, reason="", penalty=0.0)


def short_snippet(text: str, limit: int = 40) -> str:
    """``text`` on one line, cut to ``limit`` characters: the offending part a reason quotes."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_units(text: str) -> list[str]:
    """The units of ``text``: one CJK character or one Latin/digit word each (lower-cased)."""
    return UNIT_RE.findall(text.lower())


def encode_units(units: list[str], codes: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Map every unit to one character so unit sequences become strings (C-speed slicing and regexes).

    Returns the encoded string and the reverse map (code -> word) for the multi-character units.
    """
    codes = {} if codes is None else codes
    out = "".join(u if len(u) == 1 else codes.setdefault(u, chr(0xF0000 + len(codes))) for u in units)
    return out, {v: k for k, v in codes.items()}


# --------------------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------------------

#: Length bounds (characters) of the guard sets named by a language rather than a task:
#: ``default_guards("zh")`` and ``default_guards("en")`` guard short greetings in that language.
LANGUAGE_BOUNDS: dict[str, tuple[int, int]] = {"zh": (4, 300), "en": (8, 1000)}


def default_guards(task: TaskSpec | str | None = None, *, language: str | None = None) -> list[Guard]:
    """The default guard set for a task: length, repetition, language, prompt copy and manipulation.

    Args:
        task: A :class:`~inkforge.core.tasks.TaskSpec` or a registered task name: the length guard's
            bounds are the task's ``min_chars``/``max_chars`` and the language guard expects
            ``task.language``. A language code of :data:`LANGUAGE_BOUNDS` (``"zh"``, ``"en"``) or
            ``None`` instead gives the guard set for short greetings in that language (default
            ``"zh"``: 4-300 characters; ``"en"``: 8-1000).
        language: The language the language guard expects, overriding the task's (the
            ``{name: default, language: zh}`` guard spec of a GRPO config).

    Returns:
        Fresh guard instances. The manipulation guard checks Chinese and English patterns either way.

    Raises:
        InputError: An unknown task name, or a language with no language guard (``zh`` and ``en``
            have one; build the list yourself for others).

    Example:
        >>> [g.name for g in default_guards()]
        ['length', 'repetition', 'language', 'prompt_copy', 'manipulation']
        >>> length = default_guards("greeting")[0]
        >>> length.min_chars, length.max_chars
        (4, 300)
    """
    from inkforge.rewards.guards.language import LANGUAGES, LanguageGuard
    from inkforge.rewards.guards.length import LengthGuard
    from inkforge.rewards.guards.manipulation import ManipulationGuard
    from inkforge.rewards.guards.prompt_copy import PromptCopyGuard
    from inkforge.rewards.guards.repetition import RepetitionGuard

    if task is None or (isinstance(task, str) and task in LANGUAGE_BOUNDS):
        lang = language or task or "zh"
        if lang not in LANGUAGE_BOUNDS:
            raise InputError(f"no default guards for language {lang!r}; known: {sorted(LANGUAGE_BOUNDS)}",
                             field="language")
        low, high = LANGUAGE_BOUNDS[lang]
        source = f"language {lang!r}"
    else:
        spec = get_task(task)
        lang = language or spec.language
        low, high = spec.min_chars, spec.max_chars
        source = f"task {spec.name!r}"
    if lang not in LANGUAGES:
        raise InputError(f"{source}: no language guard for {lang!r} (known: {', '.join(LANGUAGES)}); "
                         "build the guard list yourself", field="language")
    return [LengthGuard(low, high), RepetitionGuard(), LanguageGuard(lang), PromptCopyGuard(), ManipulationGuard()]


def apply_guards(prompt: Any, completion: Any, guards: Iterable[Guard]) -> list[GuardResult]:
    """Run every guard on one prompt/completion pair.

    Args:
        prompt: The prompt, as a string or TRL conversational messages (the last user turn is used,
            see :func:`inkforge.core.text.prompt_query`).
        completion: The completion, as a string or messages (the last assistant turn is used, see
            :func:`inkforge.core.text.completion_text`).
        guards: Guards to run.

    Returns:
        One result per guard, in order, triggered or not.

    Example:
        >>> results = apply_guards("生日祝福", [{"role": "assistant", "content": "好"}], default_guards())
        >>> [r.name for r in results if r.triggered]
        ['length']
    """
    p, c = prompt_query(prompt), completion_text(completion)
    return [guard.check(p, c) for guard in guards]
