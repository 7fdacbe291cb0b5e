"""Judge refinement: an adversarial game plus reflection, gated on held-out human labels.

One concept per module: :mod:`~inkforge.graphs.refinement.config` (settings and their one reader),
:mod:`~inkforge.graphs.refinement.state` (graph state, ``Send`` payloads, reducers),
:mod:`~inkforge.graphs.refinement.nodes` (module-level nodes and their run context),
:mod:`~inkforge.graphs.refinement.graph` (the topology), :mod:`~inkforge.graphs.refinement.inputs`
(queries, label de-duplication, checks and the three-way split), :mod:`~inkforge.graphs.refinement.versions`
(the one rubric identity every artifact records), :mod:`~inkforge.graphs.refinement.artifacts` (the
output files) and :mod:`~inkforge.graphs.refinement.run` (a run through the dataset runner). Judging labelled rows with
a rubric is :func:`inkforge.evaluation.aevaluate_judge`.

Example:
    >>> from inkforge.graphs.refinement import RefinementConfig, load_refinement_config
    >>> load_refinement_config(flags={"iterations": 2}) == RefinementConfig(iterations=2)
    True
"""

from inkforge.agents.detector import detector_for_rubric
from inkforge.graphs.refinement.artifacts import ARTIFACTS, rubric_metrics, write_artifacts
from inkforge.graphs.refinement.config import RefinementConfig, default_rules, load_refinement_config
from inkforge.graphs.refinement.graph import build_judge_refinement_graph, judge_refinement_builder
from inkforge.graphs.refinement.inputs import (
    LabelSplit,
    check_inputs,
    load_queries,
    prepare_labels,
    split_labels,
)
from inkforge.graphs.refinement.nodes import RefinementContext, StartingRubricFailed, refinement_context
from inkforge.graphs.refinement.run import RefinementResult, arefine_judge, refine_judge, thread_id
from inkforge.graphs.refinement.state import AdversarialItem, LabelledItem, RefinementState, collect
from inkforge.graphs.refinement.versions import RubricIdentity, rubric_identity, strategy_version

__all__ = [
    "ARTIFACTS", "AdversarialItem", "LabelSplit", "LabelledItem", "RefinementConfig", "RefinementContext",
    "RefinementResult", "RefinementState", "RubricIdentity", "StartingRubricFailed", "arefine_judge",
    "build_judge_refinement_graph", "check_inputs", "collect", "default_rules", "detector_for_rubric",
    "judge_refinement_builder", "load_queries", "load_refinement_config", "prepare_labels", "refine_judge",
    "refinement_context", "rubric_identity", "rubric_metrics", "split_labels", "strategy_version", "thread_id",
    "write_artifacts",
]
