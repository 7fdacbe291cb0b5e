"""Judge refinement: an adversarial game plus reflection, gated on held-out human labels.

One concept per module: :mod:`~inkforge.graphs.refinement.config` (settings and their one reader),
:mod:`~inkforge.graphs.refinement.state` (graph state, ``Send`` payloads, reducers),
:mod:`~inkforge.graphs.refinement.nodes` (module-level nodes and their run context),
:mod:`~inkforge.graphs.refinement.graph` (the topology), :mod:`~inkforge.graphs.refinement.inputs`
(queries, label checks and split), :mod:`~inkforge.graphs.refinement.artifacts` (the output files) and
:mod:`~inkforge.graphs.refinement.run` (a run through the dataset runner). Judging labelled rows with
a rubric is :func:`inkforge.evaluation.aevaluate_judge`.

Example:
    >>> from inkforge.graphs.refinement import RefinementConfig, load_refinement_config
    >>> load_refinement_config(flags={"iterations": 2}) == RefinementConfig(iterations=2)
    True
"""

from inkforge.agents.detector import detector_for_rubric
from inkforge.graphs.refinement.artifacts import ARTIFACTS, write_artifacts
from inkforge.graphs.refinement.config import RefinementConfig, default_rules, load_refinement_config
from inkforge.graphs.refinement.graph import build_judge_refinement_graph, judge_refinement_builder
from inkforge.graphs.refinement.inputs import check_inputs, load_queries, split_labels
from inkforge.graphs.refinement.nodes import RefinementContext, refinement_context
from inkforge.graphs.refinement.run import RefinementResult, arefine_judge, refine_judge, thread_id
from inkforge.graphs.refinement.state import AdversarialItem, LabelledItem, RefinementState, collect

__all__ = [
    "ARTIFACTS", "AdversarialItem", "LabelledItem", "RefinementConfig", "RefinementContext", "RefinementResult",
    "RefinementState", "arefine_judge", "build_judge_refinement_graph", "check_inputs", "collect",
    "default_rules", "detector_for_rubric", "judge_refinement_builder", "load_queries", "load_refinement_config",
    "refine_judge", "refinement_context", "split_labels", "thread_id", "write_artifacts",
]
