"""Creative tasks: what the agents write and judge.

Every prompt template takes the task as a parameter, so a new creative task (short English poems,
say) is configuration, not code.

Example:
    >>> from inkforge.core.tasks import get_task
    >>> get_task("greeting").language
    'zh'
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TaskSpec(BaseModel):
    """A creative-writing task.

    Attributes:
        name: Registry key (``greeting``, ``poem``...).
        language: Prompt language; selects ``inkforge/agents/prompts/<language>/``.
        item: What one output is called in prompts (``祝福语``, ``short poem``).
        description: One paragraph telling every agent what a good item is.
        writer_instruction: Extra constraint for the writer (e.g. "only one greeting").
        min_chars: Soft lower bound used by guards and length reports.
        max_chars: Soft upper bound used by guards and length reports.

    Example:
        >>> TaskSpec(name="haiku", language="en", item="haiku", description="A 5-7-5 haiku.")
        TaskSpec(name='haiku', ...)
    """

    model_config = ConfigDict(frozen=True)

    name: str
    language: str = Field(default="zh", pattern=r"^(zh|en)$")
    item: str
    description: str
    writer_instruction: str = ""
    min_chars: int = 5
    max_chars: int = 300

    def __repr__(self) -> str:  # short: shows up in notebooks and doctests
        return f"TaskSpec(name={self.name!r}, ...)"


GREETING_TASK = TaskSpec(
    name="greeting",
    language="zh",
    item="祝福语",
    description=(
        "根据用户的请求写一条中文祝福语。好的祝福语紧扣请求的核心目的与场景，情感真挚而不是客套，"
        "措辞与语气符合双方关系和场合，避免陈词滥调，没有语病，体现对对方或事件的具体关怀，而不是套用模板。"
    ),
    writer_instruction="请只生成一条祝福语，不要解释，不要加引号或标题。",
    min_chars=8,
    max_chars=200,
)

POEM_TASK = TaskSpec(
    name="poem",
    language="en",
    item="short poem",
    description=(
        "Write a short English poem (2-8 lines) for the user's request. A good poem serves the request's "
        "theme, uses concrete images rather than abstractions, avoids clichés, has a deliberate rhythm, "
        "is grammatical, and surprises the reader at least once."
    ),
    writer_instruction="Write only the poem: no title, no explanation.",
    min_chars=20,
    max_chars=600,
)

#: Built-in tasks by name. Users add their own with ``TASKS["name"] = TaskSpec(...)``.
TASKS: dict[str, TaskSpec] = {GREETING_TASK.name: GREETING_TASK, POEM_TASK.name: POEM_TASK}


def get_task(name_or_spec: str | TaskSpec) -> TaskSpec:
    """Return a registered task by name (or the spec itself).

    Raises:
        KeyError: The name is unknown; the message lists the known ones.
    """
    if isinstance(name_or_spec, TaskSpec):
        return name_or_spec
    try:
        return TASKS[name_or_spec]
    except KeyError:
        raise KeyError(f"unknown task {name_or_spec!r}; known: {sorted(TASKS)}") from None
