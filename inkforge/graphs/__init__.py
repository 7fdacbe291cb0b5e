"""Graphs and the machinery that runs them over datasets.

* :mod:`inkforge.graphs.runner`: run any LangGraph graph over a dataset, bounded and resumable;
* :mod:`inkforge.graphs.items`: streaming, validated query readers;
* :mod:`inkforge.graphs.retrieval`: few-shot retrievers;
* :mod:`inkforge.graphs.export`: pairs as HF datasets, verl parquet, OpenRLHF JSONL;
* :mod:`inkforge.graphs.curation` and :mod:`inkforge.graphs.refinement`: the shipped graphs.

Names resolve lazily, so importing one graph does not import the others.

Example:
    >>> from inkforge.graphs import read_queries
    >>> [i.query for i in read_queries(["给老师的教师节祝福"])]
    ['给老师的教师节祝福']
"""

from __future__ import annotations

from inkforge.core.lazy import lazy_exports

_EXPORTS = {
    "QueryItem": "inkforge.graphs.items",
    "item_key": "inkforge.graphs.items",
    "read_queries": "inkforge.graphs.items",
    "validate_queries": "inkforge.graphs.items",
    "EXPORTERS": "inkforge.graphs.export",
    "export_pairs": "inkforge.graphs.export",
    "to_hf_dataset": "inkforge.graphs.export",
    "to_openrlhf_jsonl": "inkforge.graphs.export",
    "to_verl_parquet": "inkforge.graphs.export",
    "JsonlWriter": "inkforge.core.io",
    "dumps": "inkforge.core.io",
    "read_jsonl": "inkforge.core.io",
    "GraphJob": "inkforge.graphs.runner",
    "RunReport": "inkforge.graphs.runner",
    "arun_graph": "inkforge.graphs.runner",
    "run_graph": "inkforge.graphs.runner",
}

__all__ = sorted(_EXPORTS)


# Lazy: the runner and exporters pull in LangGraph and datasets.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
