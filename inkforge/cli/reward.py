"""CLI commands of the rewards package: ``inkforge serve-reward`` and ``inkforge audit-judge``.

The main app registers them::

    app.command("serve-reward")(serve_reward_cmd)
    app.command("audit-judge")(audit_judge_cmd)

Example:
    $ export INKFORGE_REWARD_TOKEN=$(openssl rand -hex 24)
    $ inkforge serve-reward --rubric runs/refine/rubric.json --base-url http://judge:8000/v1 --model qwen \\
        --concurrency 128 --host 0.0.0.0 --port 8123 --auth-token-env INKFORGE_REWARD_TOKEN
    $ inkforge audit-judge --labels labels.jsonl --rubric runs/refine/rubric.json --out audit.json \\
        --base-url http://judge:8000/v1 --model qwen
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from inkforge.cli.curate import MaxCostOpt, MaxTokensOpt
from inkforge.cli.options import (
    BaseUrlOpt,
    ConcurrencyOpt,
    ConfigOpt,
    ModelOpt,
    console,
    handle_errors,
    writable_out,
)
from inkforge.cli.tracking import HtmlOpt, check_html, write_html
from inkforge.core.aio import run_sync
from inkforge.core.errors import ConfigError, InputError
from inkforge.core.io import atomic_write_json

__all__ = ["audit_judge_cmd", "serve_reward_cmd"]

RubricOpt = Annotated[Path, typer.Option("--rubric", help="rubric.json written by `inkforge refine-judge` (or any Rubric).")]
ModeOpt = Annotated[str, typer.Option("--mode", help="binary (Good=1, Bad=0, as in the paper) or graded.")]
ScaleOpt = Annotated[str, typer.Option("--scale", help="Graded scale LOW-HIGH, normalised to [0, 1].")]
RoleOpt = Annotated[str, typer.Option("--role", help="Model role of the judge in the config.")]
CacheOpt = Annotated[str | None, typer.Option(
    "--cache", help="Verdict cache: a SQLite path, 'none', or unset for the config's cache.")]


def _cache(value: str | None) -> Any:
    if value is None:
        return "config"
    return None if value.lower() in ("none", "off") else value


def _judge(rubric: Path, config: Path | None, base_url: str | None, model: str | None, concurrency: int | None,
           cache: str | None, **opts: Any) -> Any:
    from inkforge.rewards.judge import JudgeReward

    return JudgeReward.from_rubric(rubric, config, base_url=base_url, model=model, concurrency=concurrency,
                                   cache=_cache(cache), **opts)


@handle_errors
def serve_reward_cmd(
    rubric: RubricOpt,
    config: ConfigOpt = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    concurrency: ConcurrencyOpt = None,
    host: Annotated[str, typer.Option("--host", help="Interface (0.0.0.0 serves other nodes).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8123,
    mode: ModeOpt = "binary",
    scale: ScaleOpt = "1-5",
    group_mode: Annotated[str | None, typer.Option(
        "--group-mode", help="pairwise or listwise: break verdict ties within GRPO groups.")] = None,
    num_generations: Annotated[int | None, typer.Option(
        "--num-generations", min=1, help="GRPO group size (with --group-mode).")] = None,
    max_failure_rate: Annotated[float, typer.Option(
        "--max-failure-rate", min=0.0, max=1.0, help="Answer 503 (fail fast) when a batch fails more.")] = 0.5,
    on_failure: Annotated[str, typer.Option(
        "--on-failure", help="/get_reward (OpenRLHF) value for a failed item: impute (group mean) or null.")
    ] = "impute",
    role: RoleOpt = "detector",
    cache: CacheOpt = None,
    auth_token_env: Annotated[str | None, typer.Option(
        "--auth-token-env", help="Environment variable holding the bearer token clients must send; "
        "required for any address other than loopback.")] = None,
    replicas: Annotated[int, typer.Option(
        "--replicas", min=1, help="Servers sharing one judge endpoint: --concurrency is then the GLOBAL "
        "limit, and this one uses its share.")] = 1,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="Complete requests scored at once (the rest wait, as coroutines).")] = 16,
    max_connections: Annotated[int, typer.Option(
        "--max-connections", min=1, help="Open connections; beyond it idle ones are evicted, then 503.")] = 512,
    max_body_mb: Annotated[float, typer.Option(
        "--max-body-mb", min=0.001, help="Largest request body in MiB (413 beyond it, before reading it).")] = 16.0,
    read_timeout: Annotated[float, typer.Option(
        "--read-timeout", min=0.1, help="Seconds to receive a whole request once it started.")] = 10.0,
    idle_timeout: Annotated[float, typer.Option(
        "--idle-timeout", min=0.1, help="Seconds a connection may stay open between requests.")] = 30.0,
) -> None:
    """Serve the judge reward over HTTP: OpenRLHF's POST /get_reward, POST /score, GET /health, /metrics.

    One server owns the verdict cache, the in-flight limit and the failure status for every
    training process and node that calls it. Any address other than loopback needs
    --auth-token-env; connections, concurrency, body size and time are bounded.
    """
    from inkforge.core.httpserver import ServerLimits
    from inkforge.rewards.serving.server import RewardServer, is_loopback, replica_concurrency

    if on_failure not in ("impute", "null"):
        raise ConfigError(f"must be 'impute' or 'null', got {on_failure!r}", field="--on-failure")
    token = None
    if auth_token_env:
        token = os.environ.get(auth_token_env, "").strip()
        if not token:
            raise ConfigError(f"environment variable {auth_token_env} is not set or empty", field="--auth-token-env")
    elif not is_loopback(host):
        raise ConfigError(f"refusing to serve on {host} without a bearer token; export one and pass "
                          "--auth-token-env NAME (clients send it from INKFORGE_REWARD_TOKEN), or bind 127.0.0.1",
                          field="--host")
    if replicas > 1:
        if concurrency is None:
            raise ConfigError("with --replicas, pass --concurrency: the global limit all replicas share",
                              field="--concurrency")
        concurrency = replica_concurrency(concurrency, replicas)
    limits = ServerLimits(max_connections=max_connections, workers=workers, max_body_bytes=int(max_body_mb * 2**20),
                          read_timeout=read_timeout, idle_timeout=idle_timeout)
    judge = _judge(rubric, config, base_url, model, concurrency, cache, mode=mode, scale=scale,
                   group_mode=group_mode, num_generations=num_generations, max_failure_rate=max_failure_rate,
                   role=role)
    try:
        server = RewardServer(judge, host=host, port=port, on_failure=on_failure,  # type: ignore[arg-type]
                              auth_token=token, limits=limits, replicas=replicas)
    except OSError as e:
        judge.close()
        why = "is in use (another serve-reward?)" if e.errno == errno.EADDRINUSE else f"cannot be bound ({e.strerror})"
        raise InputError(f"port {port} on {host} {why}", field="--port") from None
    spec = judge.config.spec_for(judge.role)
    share = f" (1/{replicas} of {judge.config.concurrency * replicas})" if replicas > 1 else ""
    console.print(f"[green]inkforge reward server[/green] on {server.url}  rubric {judge.rubric.version}  "
                  f"judge {spec.model} @ {spec.base_url or spec.provider}  concurrency {judge.config.concurrency}"
                  f"{share}  auth {'bearer' if token else 'none (loopback)'}")
    console.print(f"  OpenRLHF: --remote_rm_url {server.url}/get_reward    TRL/verl: INKFORGE_REWARD_URL={server.url}")
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        console.print(f"stopped; totals {judge.totals}")
    finally:
        server.server_close()
        judge.close()


@handle_errors
def audit_judge_cmd(
    labels: Annotated[Path, typer.Option("--labels", help="Human labels JSONL: query, response, label (0/1).")],
    rubric: RubricOpt,
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON report.")],
    config: ConfigOpt = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    concurrency: ConcurrencyOpt = None,
    attacks: Annotated[Path | None, typer.Option(
        "--attacks", help="Attack corpus JSONL (default: the shipped inkforge/data/attack_corpus.jsonl).")] = None,
    no_attacks: Annotated[bool, typer.Option("--no-attacks", help="Skip the attack section.")] = False,
    pairs: Annotated[int, typer.Option("--pairs", min=0, help="Pairs for the position-bias test.")] = 50,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Repeated samples for consistency.")] = 3,
    consistency_items: Annotated[int, typer.Option("--consistency-items", min=1,
                                                   help="Items in the consistency test.")] = 50,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use only the first N labelled rows.")] = None,
    attack_limit: Annotated[int | None, typer.Option("--attack-limit", min=1,
                                                     help="Use only the first N attack rows.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of pair/subset choices and the bootstrap.")] = 0,
    role: RoleOpt = "detector",
    cache: CacheOpt = None,
    html: HtmlOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_cost: MaxCostOpt = None,
) -> None:
    """Audit a judge before training against it: human agreement beside the length baseline, length
    bias, pairwise position bias, attack susceptibility and consistency across samples."""
    from inkforge.cli.reports import audit_table
    from inkforge.evaluation import load_labels
    from inkforge.rewards.audit import audit_judge, load_attacks

    writable_out(out, kind="file")
    rows = load_labels(labels)[:limit] if limit else load_labels(labels)
    attack_rows = None if no_attacks else load_attacks(attacks)
    if attack_rows is not None and attack_limit:
        attack_rows = attack_rows[:attack_limit]
    check_html(html)
    judge = _judge(rubric, config, base_url, model, concurrency, cache, role=role)
    if max_tokens is not None or max_cost is not None:
        from inkforge.llm.budget import SpendCap

        judge.runtime.usage.guard(SpendCap(max_tokens, max_cost), judge.runtime.usage.watch)
    try:
        report = run_sync(audit_judge(judge, rows, attacks=attack_rows, pairs=pairs, samples=samples,
                                         consistency_items=consistency_items, seed=seed))
    finally:
        judge.close()
    report["labels"] = str(labels)
    atomic_write_json(out, report)
    console.print(audit_table(report))
    console.print(f"report written to {out}")
    if html is not None:
        from inkforge.evaluation.html import render_audit_report

        write_html(html, render_audit_report(report, rows=rows))
