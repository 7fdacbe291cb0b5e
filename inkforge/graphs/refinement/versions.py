"""One rubric identity: every version a refinement records is the :class:`~inkforge.core.rubric.Rubric`'s own hash.

The history's ``version`` and ``parent_version`` of S_D entries, ``rubric.json``'s ``version``, the
hard negatives' ``rubric_version`` and the summary's best version are all
``RubricIdentity.rubric(rules).version``: the same content hash (rules, task, template name, language,
template text) that ``Rubric.load`` checks, that ``inkforge eval-judge`` reports and that the judge
reward keys its cache and logs on. There is no second hash of S_D to drift from it.

S_G, the adversary's strategy, is not a rubric (it renders into no judge prompt); its version is a
hash of its rules (:func:`strategy_version`).

Example:
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> ident = rubric_identity(Runtime.for_testing(FakeChatModel(), task="poem"))
    >>> ident.version(["Be specific."]) == ident.rubric(["Be specific."], metrics={"kappa": 0.4}).version
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from inkforge.agents import DETECTOR, AgentDef
from inkforge.core.rubric import Rubric
from inkforge.graphs.refinement.state import digest
from inkforge.llm.runtime import Runtime

__all__ = ["RubricIdentity", "rubric_identity", "strategy_version"]


@dataclass(frozen=True)
class RubricIdentity:
    """What every S_D of one run shares besides its rules: the provenance a :class:`Rubric` carries.

    Attributes:
        task: Task name.
        prompt_name: The detector's template name (``<custom>`` for an inline template).
        language: Prompt language.
        prompt_text: The detector template's text.
        model: Identity of the detector's model (not part of the version).
    """

    task: str
    prompt_name: str
    language: str
    prompt_text: str | None
    model: dict[str, Any] = field(default_factory=dict)

    def rubric(self, rules: Sequence[str], metrics: dict[str, Any] | None = None) -> Rubric:
        """The :class:`Rubric` of ``rules`` with this provenance."""
        return Rubric(rules=tuple(rules), task=self.task, prompt_name=self.prompt_name, language=self.language,
                      prompt_text=self.prompt_text, model=dict(self.model), metrics=dict(metrics or {}))

    def version(self, rules: Sequence[str]) -> str:
        """``self.rubric(rules).version``: the version every artifact records for these rules."""
        return self.rubric(rules).version


def rubric_identity(runtime: Runtime, detector: AgentDef[Any] = DETECTOR) -> RubricIdentity:
    """The identity of the rubrics a run with this runtime and detector produces.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> rubric_identity(Runtime.for_testing(FakeChatModel())).prompt_name
        'detector'
    """
    lang = runtime.task.language
    prompt_name = detector.prompt if isinstance(detector.prompt, str) and "\n" not in detector.prompt else "<custom>"
    return RubricIdentity(task=runtime.task.name, prompt_name=str(prompt_name), language=lang,
                          prompt_text=detector.template(lang).source(),
                          model=runtime.spec_for(detector.role).identity())


def strategy_version(rules: Sequence[str]) -> str:
    """Version of an S_G rule list (history, hard negatives, ``strategy.json``): 12 hex characters of its hash.

    Example:
        >>> len(strategy_version(["be subtle"])), strategy_version(["a"]) == strategy_version(["b"])
        (12, False)
    """
    return digest(list(rules))[:12]
