"""GPU smoke test of GRPO: vLLM colocate generation, bf16, the judge reward against the loopback stub.

Runs ``inkforge/training/configs/gpu_smoke_grpo.yaml`` for a few minutes on one CUDA GPU and prints
its figures: steps, seconds per step, training reward first/last, the judge's ok rate and the share
of completions masked because a judge call failed, completion length and in-band share from the
monitor, peak GPU memory. The judge talks to an in-process :class:`inkforge.testing.StubServer`
(deterministic verdicts, optional injected failures with ``--fail-rate``), so no API key or network
is needed; the YAML's judge ``base_url`` is replaced by the stub's actual address.

Without a CUDA GPU or without vLLM it says so in one line and exits with status 2, before loading
anything heavy.

Run: ``python bench/gpu_smoke.py [--model Qwen/Qwen2.5-0.5B-Instruct] [--max-steps 8] [--fail-rate 0.1]
[--out bench/out/gpu_smoke.json]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIG = REPO / "inkforge" / "training" / "configs" / "gpu_smoke_grpo.yaml"


def missing_requirement() -> str | None:
    """Why this machine cannot run the smoke test (``None`` when it can)."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (torch.cuda.is_available() is False)"
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'inkforge[vllm]')"
    return None


def _last(history: list[dict[str, Any]], key: str) -> Any:
    values = [h[key] for h in history if key in h]
    return values[-1] if values else None


def _first(history: list[dict[str, Any]], key: str) -> Any:
    values = [h[key] for h in history if key in h]
    return values[0] if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--model", default=None, help="Model to train (default: the config's, built tiny if absent).")
    parser.add_argument("--max-steps", type=int, default=None, help="Override the config's max_steps.")
    parser.add_argument("--fail-rate", type=float, default=0.1,
                        help="Share of judge calls the stub fails (HTTP 400, not retried): exercises masking.")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "inkforge_gpu_smoke")
    parser.add_argument("--out", type=Path, default=None, help="Write the JSON figures here.")
    args = parser.parse_args(argv)

    reason = missing_requirement()
    if reason is not None:
        print(f"gpu smoke test not run: {reason}. It needs one CUDA GPU and vLLM.", file=sys.stderr)
        return 2

    import torch

    from inkforge.core.rubric import Rubric
    from inkforge.testing import StubServer
    from inkforge.testing.stub.faults import Faults
    from inkforge.testing.tiny import build_tiny_chat_model
    from inkforge.training.config import GRPOTrainingConfig, load_config
    from inkforge.training.grpo import train_grpo

    args.work.mkdir(parents=True, exist_ok=True)
    rubric = args.work / "rubric.json"
    Rubric.default("greeting").save(rubric)
    model = args.model
    if model is None:
        model = str(build_tiny_chat_model(args.work / "tiny-gpu", hidden_size=256, num_layers=4))

    faults = Faults(status_rates={400: args.fail_rate} if args.fail_rate > 0 else {}, seed=0)
    with StubServer(faults=faults) as stub:
        overrides: dict[str, Any] = {"model_name_or_path": model, "output_dir": str(args.work / "grpo")}
        if args.max_steps is not None:
            overrides["max_steps"] = args.max_steps
        cfg = load_config(GRPOTrainingConfig, args.config, **overrides)
        specs = []
        for spec in cfg.reward_specs:  # the judge reaches this run's stub, with a rubric written here
            if spec.get("type") == "judge":
                spec = {**spec, "base_url": stub.base_url, "rubric": str(rubric), "cache": None}
            specs.append(spec)
        cfg.rewards = specs
        torch.cuda.reset_peak_memory_stats()
        start = time.monotonic()
        trainer = train_grpo(cfg)
        seconds = time.monotonic() - start
        served = stub.stats
        requests = {"chat_requests": served.chat_requests, "by_status": dict(served.by_status),
                    "max_concurrency": served.max_concurrency}

    history = trainer.state.log_history
    steps = trainer.state.global_step
    figures = {
        "model": model,
        "gpu": torch.cuda.get_device_name(0),
        "steps": steps,
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / steps, 2) if steps else None,
        "reward_first": _first(history, "reward"),
        "reward_last": _last(history, "reward"),
        "judge_ok_rate_mean": _mean(history, "judge/ok_rate"),
        "masked_rate_mean": _mean(history, "reward_mask/masked_rate"),
        "completion_tokens_mean_last": _last(history, "completions/mean_length"),
        "monitor_length_mean_first": _first(history, "monitor/length_mean"),
        "monitor_length_mean_last": _last(history, "monitor/length_mean"),
        "monitor_in_band_last": _last(history, "monitor/in_band"),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "stub": requests,
    }
    for key, value in figures.items():
        print(f"{key:>30}: {value}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
        print(f"figures: {args.out}")
    return 0


def _mean(history: list[dict[str, Any]], key: str) -> float | None:
    values = [h[key] for h in history if key in h]
    return sum(values) / len(values) if values else None


if __name__ == "__main__":
    raise SystemExit(main())
