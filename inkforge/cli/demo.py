"""``make demo``: the main job at toy scale on the project's own sample queries.

Model choice: an endpoint when ``--base-url``/``OPENAI_BASE_URL`` is set; else the embedded local
model (``INKFORGE_MODEL``, default Qwen2.5-0.5B-Instruct from the hub). When that cannot be loaded
(offline, no local folder) the demo says so and falls back to a tiny random model built on the spot,
with schema-constrained decoding: its outputs are typed and valid but meaningless, which is enough
to show every stage run end to end.
"""

from __future__ import annotations

import asyncio
import os
from importlib import resources
from pathlib import Path
from typing import Any

from rich.panel import Panel
from rich.table import Table

from inkforge.cli.options import console, runtime_from_flags


def sample_queries(limit: int | None = None) -> list[str]:
    """The project's own sample queries (package data)."""
    text = resources.files("inkforge.data").joinpath("sample_queries.txt").read_text(encoding="utf-8")
    rows = [q.strip() for q in text.splitlines() if q.strip()]
    return rows[:limit] if limit else rows


def _demo_runtime(config: Path | None, base_url: str | None, model: str | None, concurrency: int | None,
                  task: str | None, out: Path) -> Any:
    endpoint = base_url or os.environ.get("OPENAI_BASE_URL")
    if config is None and not endpoint and not model and not os.environ.get("INKFORGE_MODEL"):
        try:
            from inkforge.llm.config import DEFAULT_LOCAL_MODEL
            from inkforge.llm.transport.local import _load_pipeline

            _load_pipeline(DEFAULT_LOCAL_MODEL, 256)
        except Exception as e:  # noqa: BLE001 - any load failure means "use the offline fallback"
            from inkforge.testing.tiny import build_tiny_chat_model

            # Prompts with a JSON schema run to ~1,500 tokens on the tiny tokenizer: room for them.
            model = str(build_tiny_chat_model(out / "tiny-model", max_position_embeddings=4096))
            console.print(Panel(
                f"Could not load the default model ({type(e).__name__}). Using a tiny RANDOM model built "
                f"offline at {model}, with schema-constrained decoding: outputs are valid and typed, their "
                "text is noise. Set INKFORGE_MODEL to a local folder (e.g. Qwen2.5-0.5B-Instruct) or "
                "--base-url/--model for real answers.", title="offline demo", style="yellow"))
    return runtime_from_flags(config, base_url, model, concurrency, task=task, cache=str(out / "cache.sqlite"))


def run_agents_demo(runtime: Any, queries: list[str]) -> list[dict[str, Any]]:
    """Writer then judge on each query; returns the typed results as rows."""
    from inkforge.agents import JUDGE, WRITER

    writer, judge = WRITER.bind(runtime), JUDGE.bind(runtime)
    none = runtime.task.text.none

    async def one(q: str) -> dict[str, Any]:
        w = await writer.ainvoke({"query": q, "examples": []})
        row: dict[str, Any] = {"query": q, "writer": w}
        if w.ok and w.output is not None:
            row["judge"] = await judge.ainvoke({"query": q, "response": w.output.text, "positive": none,
                                                "negative": none})
        return row

    async def all_() -> list[dict[str, Any]]:
        return await asyncio.gather(*[one(q) for q in queries])

    from inkforge.core.aio import run_sync

    rows = run_sync(all_())
    table = Table(title="writer → judge (typed outputs)", show_lines=True)
    for col in ("query", "writer", "judge"):
        table.add_column(col, overflow="fold")
    for r in rows:
        w, j = r["writer"], r.get("judge")
        table.add_row(r["query"], repr(w.output) if w.ok else f"[red]{w.status}[/red]: {w.error}",
                      "—" if j is None else (repr(j.output) if j.ok else f"[red]{j.status}[/red]: {j.error}"))
    console.print(table)
    return rows


def run_demo(*, config: Path | None = None, base_url: str | None = None, model: str | None = None,
             concurrency: int | None = None, task: str | None = None, out: Path = Path("demo_out"),
             limit: int = 3, full: bool = True) -> None:
    """Run the demo (see the module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    runtime = _demo_runtime(config, base_url, model, concurrency, task, out)
    queries = sample_queries(limit)
    console.rule("1. agents: typed outputs")
    run_agents_demo(runtime, queries)
    if full:
        from inkforge.cli.demo_pipeline import run_pipeline

        run_pipeline(runtime, queries, out)
    console.print(f"usage: {runtime.usage.totals()}")
