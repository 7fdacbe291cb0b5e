"""The task specification: everything language- and genre-specific lives here, not in graphs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from inkforge.core.tasks.text import TEXTS, TaskText


class TaskSpec(BaseModel):
    """A creative-writing task: its language, prompts' wording, limits and starting rubric.

    Attributes:
        name: Registry key (``greeting``, ``poem``...).
        language: Prompt language; selects ``inkforge/agents/prompts/<language>/``.
        item: What one output is called in prompts (``祝福语``, ``short poem``).
        description: One paragraph telling every agent what a good item is.
        writer_instruction: Extra constraint for the writer (e.g. "only one greeting").
        text: The fixed words graphs put into prompts and feedback; default: the shipped strings of
            ``language`` (see :mod:`inkforge.core.tasks.text`).
        rubric: The starting judge principles S_D.
        flaw_strategy: The starting flaw strategy S_G of the adversarial generator.
        min_chars: Shortest acceptable item, in characters: the length guard's lower bound.
        max_chars: Longest acceptable item: the length guard's upper bound.
        length_slice: Inclusive character bounds of the length-controlled slice that every quality
            figure reports beside the overall one.
        length_rule_threshold: The fixed length-only baseline ``len >= threshold`` known for this
            task's data (39 for the paper's greetings), or ``None`` to report only the fitted one.
        policy_prefix: Instruction put before each request when a policy is trained or evaluated.

    Example:
        >>> t = TaskSpec(name="haiku", language="en", item="haiku", description="A 5-7-5 haiku.")
        >>> t.text.none
        '(none)'
    """

    model_config = ConfigDict(frozen=True)

    name: str
    language: str = Field(default="zh", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")
    item: str
    description: str
    writer_instruction: str = ""
    # Filled from the language when not given (validate_default runs the validator on the default).
    text: TaskText = Field(default=None, validate_default=True)
    rubric: tuple[str, ...] = ()
    flaw_strategy: tuple[str, ...] = ()
    min_chars: int = Field(default=4, ge=0)
    max_chars: int = Field(default=300, ge=1)
    length_slice: tuple[int, int] = (30, 50)
    length_rule_threshold: int | None = None
    policy_prefix: str = ""

    @field_validator("text", mode="before")
    @classmethod
    def _default_text(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            return value
        language = info.data.get("language", "zh")
        if language not in TEXTS:
            raise ValueError(f"no shipped strings for language {language!r}: give the task a TaskText "
                             "(see inkforge.core.tasks.text)")
        return TEXTS[language]

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars must not exceed max_chars")
        if self.length_slice[0] > self.length_slice[1]:
            raise ValueError("length_slice must be (low, high) with low <= high")
        return self

    def __repr__(self) -> str:  # short: shows up in notebooks and doctests
        return f"TaskSpec(name={self.name!r}, ...)"
