"""Versioned rubrics: the judge's principles S_D (and the generator's strategy S_G) as data.

A rubric is a list of rules plus what is needed to reproduce the judge: the task, the prompt template
they render into, the model it was tuned with and its validation metrics. Its ``version`` is a content
hash of the rules, task and template, so verdict caches and provenance are keyed on it.

Example:
    >>> r = Rubric.from_rules(["紧扣请求的核心目的", "情感真挚，不是客套"])
    >>> len(r.version)
    12
    >>> Rubric.model_validate_json(r.model_dump_json()) == r
    True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inkforge.core.errors import InputError
from inkforge.core.io import atomic_write
from inkforge.core.tasks import TaskSpec, get_task


class Rubric(BaseModel):
    """Judge principles with provenance.

    Attributes:
        rules: The rules S_D, rendered as a numbered list into the detector/judge prompt.
        task: Task name.
        prompt_name: Shipped template (or a path) the rules render into.
        language: Prompt language.
        prompt_text: The template text at tuning time, so a rubric stays reproducible when the
            shipped template changes.
        model: Identity of the model it was tuned with (no secrets).
        metrics: Validation metrics (accuracy, kappa, ...) at acceptance.
        version: Content hash of rules, task and template; set automatically.
    """

    model_config = ConfigDict(frozen=True)

    rules: tuple[str, ...] = Field(min_length=1)
    task: str = "greeting"
    prompt_name: str = "detector"
    language: str = "zh"
    prompt_text: str | None = None
    model: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    version: str = ""

    @model_validator(mode="after")
    def _stamp(self) -> Rubric:
        v = self.compute_version()
        if self.version and self.version != v:
            raise ValueError(f"version {self.version!r} does not match the content (expected {v!r})")
        object.__setattr__(self, "version", v)
        return self

    def compute_version(self) -> str:
        """Content hash of what changes verdicts: rules, task, template."""
        blob = json.dumps([list(self.rules), self.task, self.prompt_name, self.language, self.prompt_text],
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]

    @classmethod
    def from_rules(cls, rules: list[str] | tuple[str, ...], **kw: Any) -> Rubric:
        """Build from a list of rules."""
        return cls(rules=tuple(rules), **kw)

    @classmethod
    def default(cls, task: str | TaskSpec = "greeting") -> Rubric:
        """The task's starting rubric (its rules, name and language come from the task).

        Raises:
            InputError: The task is unknown or has no starting rubric.

        Example:
            >>> Rubric.default("poem").language
            'en'
        """
        spec = get_task(task)
        if not spec.rubric:
            raise InputError(f"task {spec.name!r} has no starting rubric; build one with Rubric.from_rules",
                             field="rubric")
        return cls(rules=spec.rubric, task=spec.name, language=spec.language)

    @classmethod
    def load(cls, path: str | Path) -> Rubric:
        """Read a ``rubric.json``.

        Raises:
            InputError: Missing file, bad JSON or a field that does not validate (file and field named).
        """
        p = Path(path)
        if not p.is_file():
            raise InputError("rubric file not found", file=str(p))
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(f"invalid JSON: {e}", file=str(p)) from None
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            raise InputError(err["msg"], file=str(p), field=".".join(map(str, err["loc"]))) from None

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename): a crash never leaves half a rubric."""
        atomic_write(path, self.model_dump_json(indent=2))
