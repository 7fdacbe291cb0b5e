"""Prompt templates: package data files, one per agent and language.

A template is a Markdown file with a ``## system`` and a ``## user`` section. ``{{ name }}`` inserts a
variable; ``{{ task.item }}`` an attribute of the task; lists render as numbered lines. A missing
variable is an error that names the file and the variable, never an empty string.

Example:
    >>> t = PromptTemplate.from_text("## system\\nYou write {{ task.item }}.\\n## user\\n{{ query }}", name="x")
    >>> from inkforge.core.tasks import POEM_TASK
    >>> [m.content for m in t.render({"query": "rain"}, task=POEM_TASK)]
    ['You write short poem.', 'rain']
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from inkforge.core.errors import InputError
from inkforge.core.tasks import TaskSpec

_VAR = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
_SECTION = re.compile(r"^##\s*(system|user)\s*$", re.M | re.I)


def _fmt(value: Any, task: TaskSpec) -> str:
    if isinstance(value, (list, tuple)):
        return "\n".join(f"{i}. {_fmt(v, task)}" for i, v in enumerate(value, 1)) or task.text.none
    if hasattr(value, "model_dump_json"):
        return value.model_dump_json()
    return str(value)


@dataclass(frozen=True)
class PromptTemplate:
    """A system + user message template.

    Attributes:
        name: Where it came from (file path or a label), used in errors.
        system: System section.
        user: User section.
        version: Content hash; part of cache keys and output provenance.
        text: The template's source text (what a rubric stores to reproduce its judge).
    """

    name: str
    system: str
    user: str
    version: str
    text: str = ""

    @classmethod
    def from_text(cls, text: str, *, name: str = "<inline>") -> PromptTemplate:
        """Parse a template from its text."""
        parts = _SECTION.split(text)
        sections: dict[str, str] = {}
        for i in range(1, len(parts) - 1, 2):
            sections[parts[i].lower()] = parts[i + 1].strip()
        if "user" not in sections:
            raise InputError("a prompt template needs a '## user' section", file=name)
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return cls(name=name, system=sections.get("system", ""), user=sections["user"], version=version, text=text)

    @classmethod
    def from_file(cls, path: str | Path) -> PromptTemplate:
        """Load a template file."""
        p = Path(path)
        return cls.from_text(p.read_text(encoding="utf-8"), name=str(p))

    @classmethod
    def resolve(cls, prompt: str | Path | PromptTemplate, language: str, *, name: str = "<inline>") -> PromptTemplate:
        """The template a prompt source names, in one place for every agent and rubric.

        ``prompt`` is a :class:`PromptTemplate`, a path to a ``.md`` file, a template text (it contains
        ``## user``), or the name of a shipped template, which resolves in ``language``.

        Example:
            >>> PromptTemplate.resolve("judge", "en").name
            'inkforge/agents/prompts/en/judge.md'
        """
        if isinstance(prompt, PromptTemplate):
            return prompt
        if isinstance(prompt, Path) or (prompt.endswith(".md") and "\n" not in prompt):
            return cls.from_file(prompt)
        if "## user" in prompt:
            return cls.from_text(prompt, name=name)
        return load_prompt(prompt, language)

    def source(self) -> str:
        """The template's text: what it was parsed from, or its sections written back."""
        return self.text or f"## system\n{self.system}\n\n## user\n{self.user}\n"

    def variables(self) -> set[str]:
        """Names the template uses (``task.*`` excluded)."""
        return {v for v in _VAR.findall(self.system + self.user) if not v.startswith("task.")}

    def _sub(self, text: str, values: dict[str, Any], task: TaskSpec) -> str:
        def repl(m: re.Match[str]) -> str:
            key = m.group(1)
            if key.startswith("task."):
                return str(getattr(task, key[5:]))
            if key not in values:
                raise InputError(f"template variable {key!r} was not provided", file=self.name, field=key)
            return _fmt(values[key], task)

        return _VAR.sub(repl, text)

    def render(self, values: dict[str, Any], *, task: TaskSpec) -> list[BaseMessage]:
        """Render to chat messages."""
        msgs: list[BaseMessage] = []
        if self.system:
            msgs.append(SystemMessage(self._sub(self.system, values, task)))
        msgs.append(HumanMessage(self._sub(self.user, values, task)))
        return msgs


def load_prompt(name: str, language: str = "zh") -> PromptTemplate:
    """Load a shipped template ``inkforge/agents/prompts/<language>/<name>.md``.

    Raises:
        InputError: No such template.
    """
    ref = resources.files("inkforge.agents").joinpath("prompts", language, f"{name}.md")
    if not ref.is_file():
        raise InputError(f"no shipped prompt {name!r} for language {language!r}",
                         file=f"inkforge/agents/prompts/{language}/{name}.md")
    return PromptTemplate.from_text(ref.read_text(encoding="utf-8"), name=f"inkforge/agents/prompts/{language}/{name}.md")
