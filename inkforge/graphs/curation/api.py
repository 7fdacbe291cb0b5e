"""The notebook entry points of curation: :func:`curate` / :func:`acurate`, and the agents of each slot.

Example:
    >>> from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel, fake_curation_responder
    >>> import json
    >>> rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder()))
    >>> ds = curate(["给奶奶八十大寿的祝福语"], rt, retriever=KeywordRetriever(SAMPLE_CORPUS))
    >>> ds[0]["prompt"], sorted(json.loads(ds[0]["provenance"])["chosen_meta"])[:3]
    ('给奶奶八十大寿的祝福语', ['candidate', 'final_label', 'judge'])
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inkforge.agents import JUDGE, NEGATIVE_CRITIC, POSITIVE_CRITIC, REFLECTOR, WRITER
from inkforge.agents.base import AgentDef
from inkforge.core.io import read_jsonl
from inkforge.graphs.curation.graph import CurationMode, ExtraNode, build_curation_graph
from inkforge.graphs.curation.job import curation_job
from inkforge.graphs.curation.pairing import PairPolicy
from inkforge.graphs.runner import Durability, RunProgress, RunReport, arun_graph, run_sync

log = logging.getLogger(__name__)

SLOTS = ("writer", "positive_critic", "negative_critic", "judge", "reflector")
_DEFAULTS: dict[str, AgentDef[Any]] = {"writer": WRITER, "positive_critic": POSITIVE_CRITIC,
                                       "negative_critic": NEGATIVE_CRITIC, "judge": JUDGE, "reflector": REFLECTOR}


def agents_from_config(runtime: Any, **explicit: Any) -> dict[str, Any]:
    """Agents per slot: explicit arguments, else the config's ``agents:`` mapping, else the shipped ones.

    A config value of ``none`` for ``reflector`` drops it.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> slots = agents_from_config(Runtime.for_testing(FakeChatModel()), reflector=None)
        >>> slots["judge"].name, slots["reflector"]
        ('judge', None)
    """
    configured = dict(getattr(runtime.config, "agents", {}) or {})
    out: dict[str, Any] = {}
    for slot in SLOTS:
        if slot in explicit:
            out[slot] = explicit[slot]
        elif slot in configured:
            v = configured[slot]
            out[slot] = None if slot == "reflector" and str(v).lower() in ("none", "") else v
        else:
            out[slot] = _DEFAULTS[slot]
    return out


def _as_runtime(config_or_runtime: Any) -> Any:
    from inkforge.llm.config import InkforgeConfig, load_config
    from inkforge.llm.runtime import Runtime

    if config_or_runtime is None:
        return Runtime(load_config())
    if isinstance(config_or_runtime, InkforgeConfig):
        return Runtime(config_or_runtime)
    if isinstance(config_or_runtime, (str, os.PathLike)):
        return Runtime(load_config(config_or_runtime))
    return config_or_runtime


async def acurate(queries: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], config: Any = None, *,
                  out_dir: str | os.PathLike[str] | None = None, resume: bool = False, limit: int | None = None,
                  n_candidates: int = 4, pair_policy: PairPolicy = "one", mode: CurationMode = "write",
                  retriever: Any = None, corpus: str | os.PathLike[str] | None = None, k: int = 3,
                  embedding_model: str | None = None, retrieval: Any = None,
                  extra_nodes: Mapping[str, ExtraNode] | Sequence[tuple[str, ExtraNode]] | None = None,
                  max_in_flight: int | None = None, durability: Durability = "exit",
                  on_progress: Callable[[RunProgress], None] | None = None,
                  export: Sequence[str] = (), as_records: bool = False, retry_failed: bool = False,
                  max_tokens: int | None = None, max_cost: float | None = None, **agents: Any) -> Any:
    """Async :func:`curate`."""
    from inkforge.graphs.export import export_pairs, to_hf_dataset

    runtime = _as_runtime(config)
    if retriever is None and corpus is not None:
        from inkforge.graphs.retrieval.factory import RetrievalSettings, build_retriever

        settings = retrieval if isinstance(retrieval, RetrievalSettings) else RetrievalSettings.from_options(
            **dict(retrieval or {}))
        retriever = build_retriever(corpus, settings, task=runtime.task, model=embedding_model, k=k)
    unknown = set(agents) - set(SLOTS)
    if unknown:
        raise TypeError(f"unknown argument(s) {sorted(unknown)}; agent slots are {SLOTS}")
    graph = build_curation_graph(runtime, **agents_from_config(runtime, **agents), retriever=retriever, k=k,
                                 extra_nodes=extra_nodes, n_candidates=n_candidates, pair_policy=pair_policy,
                                 mode=mode)
    if not isinstance(queries, (str, os.PathLike)) and not isinstance(queries, Sequence):
        queries = list(queries)  # read twice: validation, then the run
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="inkforge-curate-"))
    try:
        report: RunReport = await arun_graph(curation_job(graph), queries, out_dir=out, runtime=runtime,
                                             resume=resume, limit=limit, max_in_flight=max_in_flight,
                                             durability=durability, on_progress=on_progress,
                                             retry_failed=retry_failed, max_tokens=max_tokens, max_cost=max_cost)
    finally:
        if runtime is not config:  # we opened it: close its cache
            runtime.close()
    log.info("curation outputs in %s: %s pairs", out, report.summary.get("pairs"))
    if export:
        export_pairs(out, export)
    if as_records:
        return list(read_jsonl(out / "pairs.jsonl"))
    return to_hf_dataset(out, provenance=True)


def curate(queries: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], config: Any = None, **opts: Any) -> Any:
    """Curate preference pairs from queries; the notebook entry point of ``inkforge curate``.

    Args:
        queries: A ``.txt``/``.jsonl`` path or rows (strings or ``{"query", "id", "responses"}`` dicts).
        config: A :class:`~inkforge.llm.runtime.Runtime`, an :class:`~inkforge.llm.config.InkforgeConfig`, a YAML
            path, or ``None`` (environment defaults).
        **opts: ``out_dir`` (default: a temp folder), ``resume``, ``retry_failed``, ``limit``,
            ``max_tokens`` and ``max_cost`` (spend caps of this call), ``n_candidates``,
            ``pair_policy``, ``mode``, ``retriever`` or ``corpus`` (+ ``embedding_model`` and
            ``retrieval``: :class:`~inkforge.graphs.retrieval.factory.RetrievalSettings` or its fields), ``k``,
            ``extra_nodes``, ``max_in_flight``, ``durability``, ``on_progress`` (a callback taking
            :class:`~inkforge.graphs.runner.RunProgress`), ``export`` (formats),
            ``as_records`` (list of dicts instead of a Dataset), and agent slots (``writer``,
            ``positive_critic``, ``negative_critic``, ``judge``, ``reflector=None``...).

    Returns:
        A :class:`datasets.Dataset` with ``prompt``, ``chosen``, ``rejected``, ``item_id`` and
        ``provenance`` (JSON string) columns, or a list of :class:`~inkforge.core.types.PairRecord` dicts.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel, fake_curation_responder
        >>> from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
        >>> rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder()))
        >>> ds = curate(["给奶奶八十大寿的祝福语", "同事升职了，发一句祝贺"], rt,
        ...             retriever=KeywordRetriever(SAMPLE_CORPUS), pair_policy="best_vs_worst")
        >>> ds.column_names[:3], ds.num_rows
        (['prompt', 'chosen', 'rejected'], 2)
    """
    return run_sync(acurate(queries, config, **opts))
