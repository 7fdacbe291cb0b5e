"""A reward-hacking monitor for GRPO: watch a fixed probe set, stop the run when the policy drifts.

GRPO optimises whatever the reward measures. With a reward model or a judge that likes long
greetings (human labels follow length ~90% of the time) the cheapest win is to write longer, more
formulaic text, and the training reward keeps rising while quality falls. The monitor re-generates
completions for a fixed set of probe prompts every ``every_steps`` steps (greedy decoding, so two
measurements differ only because the policy did) and logs:

* ``monitor/length_mean`` and ``monitor/length_growth`` (relative to the first measurement), and
  ``monitor/in_band``, the share of completions inside the task's length band (30–50 characters
  for greetings): length drift, logged beside the rewards,
* ``monitor/distinct_1``, ``monitor/distinct_2`` (character n-grams across the probe completions),
* ``monitor/reward/<name>`` per reward function, and ``monitor/judge_pass_rate`` when a judge
  reward is configured (the share of completions the judge scores at least ``judge_pass_threshold``;
  unscored items count as not passing and are reported separately in ``monitor/judge_unscored``),
* ``monitor/guard_rate`` (share of completions tripping any guard).

It sets ``control.should_training_stop`` when length grows by more than ``max_length_growth``,
distinct-2 falls below ``min_distinct2`` or the guard rate exceeds ``max_guard_rate``, and records
why in :attr:`RewardHackingMonitor.stop_reason`.

Example:
    >>> monitor = RewardHackingMonitor(probes, every_steps=50, max_length_growth=0.5)  # doctest: +SKIP
    >>> trainer = GRPOTrainer(..., callbacks=[monitor]); monitor.attach(trainer)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from transformers import TrainerCallback

from inkforge.core.text import completion_text
from inkforge.rewards.debias import band_share
from inkforge.training.metrics import distinct_n

__all__ = ["RewardHackingMonitor"]

logger = logging.getLogger(__name__)


def _generate(model: Any, tokenizer: Any, prompts: Sequence[Any], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """Greedy completions for chat (message list) or plain-string prompts."""
    import torch

    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    texts: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            rendered = [
                p if isinstance(p, str) else tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True)
                for p in chunk
            ]
            batch = tokenizer(rendered, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = out[:, batch["input_ids"].shape[1] :]
            texts.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
    return [t.strip() for t in texts]


class RewardHackingMonitor(TrainerCallback):
    """Re-score a fixed probe set every K steps; log drift metrics and stop on configured drift.

    Args:
        probes: Probe prompts in the training set's format (strings or chat message lists).
        every_steps: Probe period in optimisation steps. The first probe runs before training.
        max_new_tokens: Generation budget per probe.
        reward_funcs: Reward callables (TRL signature) to score the probes with.
        judge_names: Names (``__name__``) of the rewards that are judges, for the pass rate.
        judge_pass_threshold: A judge score at or above this is a pass.
        guards: Guard objects (``check(prompt, completion)``) for the guard rate.
        max_length_growth: Stop when mean length exceeds ``(1 + x)`` times the first measurement.
        min_distinct2: Stop when distinct-2 falls below this.
        max_guard_rate: Stop when the guard rate exceeds this.
        length_band: Inclusive ``(low, high)`` characters for ``monitor/in_band``; ``None``: not logged.

    Attributes:
        history: One metrics dict per probe, with ``step``.
        stop_reason: Why the monitor stopped training, or ``None``.
        samples: The latest probe completions.
    """

    def __init__(
        self,
        probes: Sequence[Any],
        *,
        every_steps: int,
        max_new_tokens: int = 64,
        reward_funcs: Sequence[Callable[..., Sequence[float | None]]] = (),
        judge_names: Sequence[str] = (),
        judge_pass_threshold: float = 0.5,
        guards: Sequence[Any] = (),
        max_length_growth: float | None = None,
        min_distinct2: float | None = None,
        max_guard_rate: float | None = None,
        reward_kwargs: dict[str, Sequence[Any]] | None = None,
        length_band: tuple[int, int] | None = (30, 50),
    ) -> None:
        if every_steps <= 0:
            raise ValueError(f"every_steps must be positive, got {every_steps}")
        if not probes:
            raise ValueError("the probe set is empty")
        self.probes = list(probes)
        self.every_steps = int(every_steps)
        self.max_new_tokens = int(max_new_tokens)
        self.reward_funcs = list(reward_funcs)
        self.judge_names = set(judge_names)
        self.judge_pass_threshold = float(judge_pass_threshold)
        self.guards = list(guards)
        self.max_length_growth = max_length_growth
        self.min_distinct2 = min_distinct2
        self.max_guard_rate = max_guard_rate
        self.reward_kwargs = dict(reward_kwargs or {})
        self.length_band = length_band
        self.history: list[dict[str, float]] = []
        self.stop_reason: str | None = None
        self.samples: list[str] = []
        self._trainer: Any = None

    def attach(self, trainer: Any) -> RewardHackingMonitor:
        """Log through ``trainer.log`` (so metrics reach wandb/tensorboard) instead of only ``history``."""
        self._trainer = trainer
        return self

    # -- measuring ---------------------------------------------------------------------------------
    def measure(self, model: Any, tokenizer: Any) -> dict[str, float]:
        """Generate for the probes and compute the metrics (no logging, no stopping)."""
        completions = _generate(model, tokenizer, self.probes, self.max_new_tokens)
        self.samples = completions
        metrics: dict[str, float] = {
            "length_mean": sum(len(c) for c in completions) / len(completions),
            "distinct_1": distinct_n(completions, 1),
            "distinct_2": distinct_n(completions, 2),
        }
        if self.length_band is not None:
            metrics["in_band"] = band_share([len(c) for c in completions], self.length_band)
        conversational = not isinstance(self.probes[0], str)
        as_completions: list[Any] = (
            [[{"role": "assistant", "content": c}] for c in completions] if conversational else list(completions)
        )
        for func in self.reward_funcs:
            name = getattr(func, "__name__", type(func).__name__)
            scores = list(func(prompts=self.probes, completions=as_completions, **self.reward_kwargs))
            valid = [float(s) for s in scores if s is not None and not math.isnan(float(s))]
            metrics[f"reward/{name}"] = sum(valid) / len(valid) if valid else float("nan")
            if name in self.judge_names:
                # Unscored items are failures of the judge, not of the policy: they do not pass,
                # and their share is reported beside the pass rate.
                passed = sum(1 for s in valid if s >= self.judge_pass_threshold)
                metrics["judge_pass_rate"] = passed / len(scores)
                metrics["judge_unscored"] = (len(scores) - len(valid)) / len(scores)
        if self.guards:
            from inkforge.rewards.guards import apply_guards

            fired = [
                any(r.triggered for r in apply_guards(p, completion_text(c), self.guards))
                for p, c in zip(self.probes, as_completions, strict=True)
            ]
            metrics["guard_rate"] = sum(fired) / len(fired)
        if self.history:
            first = self.history[0]["length_mean"]
            metrics["length_growth"] = (metrics["length_mean"] - first) / first if first > 0 else 0.0
        else:
            metrics["length_growth"] = 0.0
        return metrics

    def _drift(self, metrics: dict[str, float]) -> str | None:
        if self.max_length_growth is not None and metrics["length_growth"] > self.max_length_growth:
            return f"mean probe length grew {metrics['length_growth']:.0%} (> {self.max_length_growth:.0%})"
        if self.min_distinct2 is not None and metrics["distinct_2"] < self.min_distinct2:
            return f"probe distinct-2 fell to {metrics['distinct_2']:.3f} (< {self.min_distinct2})"
        if self.max_guard_rate is not None and metrics.get("guard_rate", 0.0) > self.max_guard_rate:
            return f"guard rate {metrics['guard_rate']:.0%} (> {self.max_guard_rate:.0%})"
        return None

    def _probe(self, state: Any, control: Any, model: Any, tokenizer: Any) -> None:
        metrics = self.measure(model, tokenizer)
        self.history.append({"step": float(state.global_step), **metrics})
        logs = {f"monitor/{k}": v for k, v in metrics.items()}
        # GRPOTrainer accumulates metrics per step and writes them in the step's log row; adding ours
        # there puts them in the same row (and the same wandb/tensorboard step) as the rewards.
        accumulator = getattr(self._trainer, "_metrics", None)
        if state.global_step > 0 and isinstance(accumulator, dict) and "train" in accumulator:
            for key, value in logs.items():
                accumulator["train"][key].append(value)
        elif state.global_step > 0 and self._trainer is not None:
            self._trainer.log(logs)
        else:  # before the first step there is no log row yet: record the baseline directly
            state.log_history.append({**logs, "step": state.global_step})
        # The first probe is the baseline: drift is measured from it, so it never stops the run.
        reason = self._drift(metrics) if len(self.history) > 1 else None
        if reason is not None:
            self.stop_reason = f"step {state.global_step}: {reason}"
            logger.warning("reward-hacking monitor stops training: %s", self.stop_reason)
            control.should_training_stop = True

    # -- TrainerCallback hooks ----------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if not self.history and kwargs.get("model") is not None:
            self._probe(state, control, kwargs["model"], kwargs.get("processing_class"))
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.global_step % self.every_steps == 0 and kwargs.get("model") is not None:
            self._probe(state, control, kwargs["model"], kwargs.get("processing_class"))
        return control
