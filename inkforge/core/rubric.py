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

#: Our wording of the paper's six starting principles for greetings (S_D).
GREETING_RUBRIC = (
    "祝福语必须服务于请求的核心目的：写给谁、为了什么场合，一读就明白。",
    "情感要真挚具体，不能只是空泛的客套话或口号。",
    "措辞和语气要符合双方的关系与场合（长辈、同事、恋人、客户等各不相同）。",
    "出现被用滥的陈词滥调（如“万事如意”“心想事成”堆砌）时要扣分，除非有新意的化用。",
    "不能有错别字、语病、逻辑不通或前后矛盾。",
    "要体现对对方或这件事的真实关心，而不是换个称呼就能发给任何人的模板。",
)

#: Our wording of the paper's five starting flaw strategies (S_G).
GREETING_FLAW_STRATEGY = (
    "写得四平八稳，但内容通用，换任何场合都能用。",
    "在整体得体的句子里混入一个陈旧、俗套的说法。",
    "忽略请求中的一个次要细节（如年龄、身份、具体事件）。",
    "写得很短，只有形式上的祝愿，没有具体的情感。",
    "语气与场景不符（如对长辈过于随意，对同事过于肉麻）。",
)

POEM_RUBRIC = (
    "The poem serves the request's theme and occasion.",
    "It shows through concrete images instead of stating abstractions.",
    "It avoids clichés and stock phrases (hearts of gold, endless skies) unless it renews them.",
    "Rhythm and line breaks are deliberate; no filler words to pad a line.",
    "Grammar and logic are sound; metaphors do not contradict each other.",
    "It has at least one moment of surprise or fresh perspective.",
)

POEM_FLAW_STRATEGY = (
    "Make it competent but generic: it would fit any request on the theme.",
    "Slip in one tired cliché among otherwise fresh lines.",
    "Ignore one minor detail of the request.",
    "Keep it very short and abstract, with no concrete image.",
    "Use a tone that does not fit the occasion.",
)

DEFAULT_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "greeting": (GREETING_RUBRIC, GREETING_FLAW_STRATEGY),
    "poem": (POEM_RUBRIC, POEM_FLAW_STRATEGY),
}


def default_rubric(task: str) -> tuple[str, ...]:
    """Starting S_D for a task (greeting or poem)."""
    return DEFAULT_RULES[task][0]


def default_strategy(task: str) -> tuple[str, ...]:
    """Starting S_G for a task (greeting or poem)."""
    return DEFAULT_RULES[task][1]


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
    def default(cls, task: str = "greeting") -> Rubric:
        """The task's starting rubric."""
        return cls(rules=default_rubric(task), task=task, language="en" if task == "poem" else "zh")

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
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(p)
