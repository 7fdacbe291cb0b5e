"""The curation graph: multi-agent rejection sampling of preference pairs.

* :mod:`~inkforge.graphs.curation.graph`: state, context, nodes and :func:`build_curation_graph`;
* :mod:`~inkforge.graphs.curation.pairing`: judged candidates, pair policies, critique wording;
* :mod:`~inkforge.graphs.curation.checks`: extra nodes built from agents (:func:`agent_check_node`);
* :mod:`~inkforge.graphs.curation.job`: the runner job and its records (:func:`curation_job`);
* :mod:`~inkforge.graphs.curation.api`: :func:`curate` / :func:`acurate`.

The scripted responder that plays every curation agent on a fake model lives with the other test
doubles: :func:`inkforge.testing.fake_curation_responder`.

Example:
    >>> from inkforge.graphs.curation import PAIR_POLICIES, MODES
    >>> PAIR_POLICIES, MODES
    (('one', 'all', 'best_vs_worst'), ('write', 'judge_given'))
"""

from inkforge.core.types import FailureRecord, JudgementRecord, PairRecord
from inkforge.graphs.curation.api import acurate, agents_from_config, curate
from inkforge.graphs.curation.checks import AgentCheckNode, agent_check_node
from inkforge.graphs.curation.graph import (
    MODES,
    CandidateEntry,
    CurationContext,
    CurationGraph,
    CurationMode,
    CurationState,
    DebateTask,
    ExtraNode,
    JudgeTask,
    ReflectTask,
    ResultEntry,
    VetoEntry,
    WriteTask,
    build_curation_graph,
)
from inkforge.graphs.curation.job import LENGTH_WARNING_SHARE, OUTPUTS, curation_job, summarize_curation
from inkforge.graphs.curation.pairing import (
    PAIR_POLICIES,
    PairPolicy,
    critique_text,
    judgements_of,
    make_pairs,
    nth_permutation,
    rank_key,
)

__all__ = ["LENGTH_WARNING_SHARE", "MODES", "OUTPUTS", "PAIR_POLICIES", "AgentCheckNode", "CandidateEntry",
           "CurationContext", "CurationGraph", "CurationMode", "CurationState", "DebateTask", "ExtraNode",
           "FailureRecord", "JudgeTask", "JudgementRecord", "PairPolicy", "PairRecord", "ReflectTask", "ResultEntry",
           "VetoEntry", "WriteTask", "acurate", "agent_check_node", "agents_from_config", "build_curation_graph",
           "critique_text", "curate", "curation_job", "judgements_of", "make_pairs", "nth_permutation", "rank_key",
           "summarize_curation"]
