"""Pluggable agents. Each = prompt file + pydantic output schema + a node function.

Shipped agents (the paper's, for any task): ``writer``, ``positive_critic``, ``negative_critic``,
``judge``, ``reflector``, ``adversarial_generator``, ``detector``, ``error_reflector``,
``rubric_optimizer``; and the judge reward's ``graded_judge``, ``pairwise_judge`` and
``listwise_judge``.

Example:
    >>> from inkforge.agents import AGENTS
    >>> sorted(AGENTS)[:3]
    ['adversarial_generator', 'detector', 'error_reflector']
    >>> AGENTS["pairwise_judge"].schema.__name__
    'PairwiseVerdict'
"""

from inkforge.agents.adversarial_generator import ADVERSARIAL_GENERATOR, FlawedSample
from inkforge.agents.base import Agent, AgentDef, AgentResult
from inkforge.agents.detector import DETECTOR, DetectorVerdict
from inkforge.agents.error_reflector import ERROR_REFLECTOR, ErrorDiagnosis
from inkforge.agents.graded_judge import GRADED_JUDGE, GradedVerdict, graded_schema
from inkforge.agents.judge import JUDGE, JudgeVerdict
from inkforge.agents.listwise_judge import LISTWISE_JUDGE, ListwiseRanking, listwise_schema
from inkforge.agents.negative_critic import NEGATIVE_CRITIC, Issue, NegativeCritique
from inkforge.agents.pairwise_judge import PAIRWISE_JUDGE, PairwiseVerdict
from inkforge.agents.positive_critic import POSITIVE_CRITIC, PositiveCritique, Strength
from inkforge.agents.reflector import REFLECTOR, ReflectorVerdict
from inkforge.agents.registry import AGENTS, get_agent, load_entry_points, register_agent
from inkforge.agents.rubric_optimizer import RUBRIC_OPTIMIZER, RubricRevision
from inkforge.agents.writer import WRITER, WriterOutput

for _a in (WRITER, POSITIVE_CRITIC, NEGATIVE_CRITIC, JUDGE, REFLECTOR, ADVERSARIAL_GENERATOR, DETECTOR,
           ERROR_REFLECTOR, RUBRIC_OPTIMIZER, GRADED_JUDGE, PAIRWISE_JUDGE, LISTWISE_JUDGE):
    register_agent(_a, replace=True)

__all__ = [
    "ADVERSARIAL_GENERATOR", "AGENTS", "DETECTOR", "ERROR_REFLECTOR", "GRADED_JUDGE", "JUDGE", "LISTWISE_JUDGE",
    "NEGATIVE_CRITIC", "PAIRWISE_JUDGE", "POSITIVE_CRITIC", "REFLECTOR", "RUBRIC_OPTIMIZER", "WRITER", "Agent",
    "AgentDef", "AgentResult", "DetectorVerdict", "ErrorDiagnosis", "FlawedSample", "GradedVerdict", "Issue",
    "JudgeVerdict", "ListwiseRanking", "NegativeCritique", "PairwiseVerdict", "PositiveCritique",
    "ReflectorVerdict", "RubricRevision", "Strength", "WriterOutput", "get_agent", "graded_schema",
    "listwise_schema", "load_entry_points", "register_agent",
]
