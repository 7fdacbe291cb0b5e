"""Worker specs of the shipped jobs: what a Ray worker needs to rebuild a curation run on its own.

A spec is picklable (config, agent definitions, options, a retriever *recipe*) and builds, inside the
worker, the same :class:`~inkforge.graphs.runner.GraphJob` the driver built: the executor checks that
the fingerprints agree before any item runs.

Example:
    >>> from inkforge.graphs.curation import build_curation_graph
    >>> from inkforge.llm.config import load_config
    >>> from inkforge.llm.runtime import Runtime
    >>> cfg = load_config(base_url="http://127.0.0.1:9/v1", model="m", overrides={"cache": None})
    >>> graph = build_curation_graph(Runtime(cfg), n_candidates=2, pair_policy="all")
    >>> spec = CurationSpec.from_graph(graph, cfg)
    >>> spec.options["n_candidates"], sorted(spec.agents)[:2]
    (2, ['judge', 'negative_critic'])
    >>> setup = spec(4)
    >>> setup.runtime.limit, setup.job.outputs
    (4, ('pairs', 'judgements', 'failures'))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inkforge.graphs.executors.base import WorkerSetup, driver_config, worker_runtime

__all__ = ["CurationSpec", "RetrieverRecipe"]

# build_curation_graph's keyword arguments kept in ``graph.options`` (the rest is not an argument).
_GRAPH_ARGS = ("n_candidates", "pair_policy", "mode", "k", "vary_examples")


@dataclass(frozen=True)
class RetrieverRecipe:
    """How a worker builds the few-shot retriever the driver uses (an embedding model is not sent).

    Attributes:
        kind: ``keyword`` | ``embedding`` (as ``inkforge curate --retriever``).
        corpus: The corpus file, at the same path on every node.
        model: The embedding model (``embedding`` only).

    Example:
        >>> RetrieverRecipe("keyword", "inkforge/data/sample_corpus.jsonl")().fingerprint()["kind"]
        'keyword'
    """

    kind: str
    corpus: str | os.PathLike[str]
    model: str | None = None

    def __call__(self) -> Any:
        from inkforge.graphs.retrieval import EmbeddingRetriever, KeywordRetriever

        if self.kind == "keyword":
            return KeywordRetriever(self.corpus)
        ret = EmbeddingRetriever(self.corpus, model=self.model)
        ret.build()
        return ret


@dataclass(frozen=True)
class CurationSpec:
    """A curation job rebuilt in each worker: ``spec(concurrency)`` → runtime + curation job.

    Attributes:
        config: The run's :class:`~inkforge.llm.config.InkforgeConfig` (keys stay in each worker's
            environment: ``api_key_env``).
        agents: Agent definition (or registered name, or ``None`` for no reflector) per slot.
        options: :func:`~inkforge.graphs.curation.build_curation_graph` keyword arguments.
        retriever: ``None``, a picklable retriever, or a zero-argument recipe that builds one
            (:class:`RetrieverRecipe`).
        name: Job name.
    """

    config: Any
    agents: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)
    retriever: Any = None
    name: str = "curate"

    @classmethod
    def from_graph(cls, graph: Any, config: Any, *, retriever: Any = "same", name: str = "curate") -> CurationSpec:
        """The spec of a graph built by :func:`~inkforge.graphs.curation.build_curation_graph`.

        Args:
            graph: The driver's curation graph (its agents and options are copied).
            config: The config of the driver's runtime (``runtime.config``).
            retriever: ``"same"``: the graph's retriever, sent as it is (fine for a keyword
                retriever); else a :class:`RetrieverRecipe` (an embedding retriever: each worker
                loads the model) or ``None``.
            name: Job name (the driver's ``curation_job(graph, name=...)``).

        Raises:
            ValueError: The graph has extra nodes (functions that may hold state; build the spec by
                hand with a module-level builder instead).
        """
        if graph.options.get("extra_nodes"):
            raise ValueError("a graph with extra nodes has no automatic worker spec; write a WorkerSpec that "
                             "builds it (see inkforge.graphs.executors)")
        agents = {slot: agent.definition for slot, agent in graph.agents.items()}
        agents.setdefault("reflector", None)
        return cls(config=driver_config(config), agents=agents, options={k: graph.options[k] for k in _GRAPH_ARGS},
                   retriever=graph.retriever if retriever == "same" else retriever, name=name)

    def __call__(self, concurrency: int) -> WorkerSetup:
        from inkforge.graphs.curation import build_curation_graph, curation_job

        runtime = worker_runtime(self.config, concurrency)
        ret = self.retriever
        if callable(ret) and not hasattr(ret, "retrieve"):
            ret = ret()
        graph = build_curation_graph(runtime, **self.agents, retriever=ret, **self.options)
        return WorkerSetup(runtime=runtime, job=curation_job(graph, name=self.name))
