"""Creative tasks: what the agents write and judge, in which language, with which starting rubric.

Every prompt template takes the task as a parameter and every graph reads its wording from the
task, so a new creative task (short English poems, say) is configuration, not code: one module per
task here, or a :class:`TaskSpec` registered from your own code.

Example:
    >>> from inkforge.core.tasks import get_task
    >>> get_task("greeting").language
    'zh'
    >>> get_task("poem").text.request_label
    'Request: '
"""

from __future__ import annotations

from inkforge.core.errors import InputError
from inkforge.core.tasks.greeting import GREETING_FLAW_STRATEGY, GREETING_RUBRIC, GREETING_TASK
from inkforge.core.tasks.poem import POEM_FLAW_STRATEGY, POEM_RUBRIC, POEM_TASK
from inkforge.core.tasks.spec import TaskSpec
from inkforge.core.tasks.text import EN_TEXT, TEXTS, ZH_TEXT, TaskText

#: Built-in tasks by name. Users add their own with :func:`register_task` (or ``TASKS["name"] = spec``).
TASKS: dict[str, TaskSpec] = {GREETING_TASK.name: GREETING_TASK, POEM_TASK.name: POEM_TASK}


def register_task(task: TaskSpec, *, replace: bool = False) -> TaskSpec:
    """Add a task to :data:`TASKS` (returns it).

    Raises:
        ValueError: The name is taken by another spec and ``replace`` is false.
    """
    if task.name in TASKS and TASKS[task.name] != task and not replace:
        raise ValueError(f"task {task.name!r} is already registered; pass replace=True to override")
    TASKS[task.name] = task
    return task


def get_task(name_or_spec: str | TaskSpec) -> TaskSpec:
    """Return a registered task by name (or the spec itself).

    Raises:
        InputError: The name is unknown; the message lists the known ones (field ``task``).
    """
    if isinstance(name_or_spec, TaskSpec):
        return name_or_spec
    try:
        return TASKS[name_or_spec]
    except KeyError:
        raise InputError(f"unknown task {name_or_spec!r}; known: {', '.join(sorted(TASKS))}", field="task") from None


__all__ = ["EN_TEXT", "GREETING_FLAW_STRATEGY", "GREETING_RUBRIC", "GREETING_TASK", "POEM_FLAW_STRATEGY",
           "POEM_RUBRIC", "POEM_TASK", "TASKS", "TEXTS", "ZH_TEXT", "TaskSpec", "TaskText", "get_task",
           "register_task"]
