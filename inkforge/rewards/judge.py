"""The LLM judge as a reward function: one object for TRL, verl, OpenRLHF and the reward server.

:class:`JudgeReward` scores completions with the DETECTOR agent and a :class:`~inkforge.core.rubric.Rubric`
(the ``rubric.json`` that ``inkforge refine-judge`` writes plugs in directly: its rules, and its template
when it carries one). It is a TRL reward function, ``(prompts, completions, **kwargs) ->
list[float | None]``, for string and conversational completions, and it is built so that a judge
never degrades training silently:

* **Binary, as in the paper**: ``Good`` → ``1.0``, ``Bad`` → ``0.0``, both real verdicts. Graded
  mode asks for an integer score on a scale (``1..5``, ``0..10``...) and normalises it to ``[0, 1]``.
* **Failures are ``None``, never ``0.0``**: a parse error, timeout, refusal or rate limit that
  survives the retries gives ``None``. Alone, TRL masks it out of the loss; beside other rewards
  TRL would sum the others, so :func:`~inkforge.training.reward_selection.build_reward_funcs`
  masks every reward of that completion (:mod:`inkforge.rewards.masking`). When more than
  ``max_failure_rate`` of the recent calls fails (the batch, or the last ``fail_fast_window``
  completions when the batch is smaller), :class:`~inkforge.core.errors.FailFastError` stops training
  rather than let it run on a broken judge.
* **Concurrent**: every completion of a call is in flight at once, up to the runtime's shared limit,
  so a GRPO step waits about one judge round trip per ``concurrency`` completions.
* **Cached**: verdicts go through the agent response cache, whose key holds the rendered prompt
  (rubric rules included), the template version and the model identity: re-scoring the same
  completion with the same rubric is a cache hit, and a new rubric version is a miss.
* **Observable**: per-sample statuses are kept in :attr:`JudgeReward.last_outcomes`, rates in
  :attr:`JudgeReward.last_stats`, and under TRL's ``GRPOTrainer`` they are logged as training
  metrics ``judge/ok_rate``, ``judge/parse_error_rate``, ``judge/timeout_rate``... through the
  ``log_metric`` hook TRL passes to reward functions (and the status per completion through
  ``log_extra``).
* **Group-aware (optional)**: ``group_mode="pairwise"|"listwise"`` breaks the ties a binary verdict
  leaves inside a GRPO group (see :mod:`inkforge.rewards.group` for the formula).
* **Picklable**: only the rubric, the config and options are pickled; the runtime, agents and the
  private event loop are rebuilt lazily in the copy.

TRL calls reward functions synchronously, sometimes from code that already runs an event loop, so
the synchronous call runs the scoring on the reward's own :class:`~inkforge.core.aio.BackgroundLoop`
(one persistent loop, so HTTP connections are kept alive from step to step); inside async code
await :meth:`JudgeReward.ascore` instead, or use :class:`AsyncJudgeReward`, which TRL runs on its
own loop concurrently with other async rewards.

The judge's agents live in :mod:`inkforge.agents` (the detector, and ``graded_judge``,
``pairwise_judge`` and ``listwise_judge``); what a call returns (:class:`~inkforge.rewards.outcomes.JudgeOutcome`,
:class:`~inkforge.rewards.outcomes.ScoreBatch`, :func:`~inkforge.rewards.outcomes.impute_failures`)
in :mod:`inkforge.rewards.outcomes`; the text of prompts and completions comes from
:mod:`inkforge.core.text`.

Example:
    >>> from inkforge.core.rubric import Rubric
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> fake = FakeChatModel(responder=lambda msgs, schema: {"explanation": "具体真诚", "verdict": "Good"})
    >>> judge = JudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(fake))
    >>> judge(prompts=["给妈妈的生日祝福"], completions=["妈妈，生日快乐！谢谢您这些年的操劳。"])
    [1.0]
    >>> judge.last_stats["ok_rate"]
    1.0
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Coroutine, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from inkforge.agents.base import Agent, AgentDef, AgentResult
from inkforge.agents.detector import detector_for_rubric
from inkforge.agents.graded_judge import GRADED_JUDGE, graded_schema
from inkforge.agents.listwise_judge import LISTWISE_JUDGE, listwise_schema
from inkforge.agents.pairwise_judge import PAIRWISE_JUDGE
from inkforge.agents.templates import PromptTemplate, load_prompt
from inkforge.core.aio import BackgroundLoop
from inkforge.core.errors import ConfigError, FailFastError
from inkforge.core.rubric import Rubric
from inkforge.core.text import completion_text, prompt_query
from inkforge.core.types import STATUSES
from inkforge.rewards.group import GroupMode, TieBreakStats, group_spans, tie_break_win_rates
from inkforge.rewards.outcomes import JudgeOutcome, ScoreBatch, batch_stats

__all__ = ["MIN_FAIL_FAST_ITEMS", "AsyncJudgeReward", "JudgeMode", "JudgeReward"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Fail fast only once this many completions have been scored (one failed call is not a broken judge).
MIN_FAIL_FAST_ITEMS = 8

JudgeMode = Literal["binary", "graded"]


def _group_key(prompt: Any, query: str) -> Hashable:
    if isinstance(prompt, str):
        return (prompt, query)
    return (json.dumps(prompt, ensure_ascii=False, sort_keys=True, default=str), query)


# --------------------------------------------------------------------------------------------------
# The reward
# --------------------------------------------------------------------------------------------------


class JudgeReward:
    """An LLM-judge reward with TRL's reward-function signature.

    Args:
        rubric: The judge's rubric (rules, task, template).
        config: Model configuration (per-role model specs, concurrency, cache). Defaults to
            :func:`inkforge.llm.config.load_config` with no file (environment defaults).
        runtime: An existing :class:`~inkforge.llm.runtime.Runtime` to share (its limiter, cache and
            usage). Not pickled: a copy rebuilds a runtime from ``runtime.config``.
        role: Model role the judge uses (``detector`` by default: the rubric was tuned on it).
        mode: ``binary`` (Good → 1.0, Bad → 0.0) or ``graded`` (integer score on ``scale``).
        scale: ``(low, high)`` of the graded scale; the reward is ``(score - low) / (high - low)``.
        group_mode: ``pairwise`` or ``listwise`` to break verdict ties within GRPO groups; ``None``
            for independent verdicts.
        num_generations: GRPO group size (completions per prompt), used with ``group_mode`` to cap
            groups; groups are runs of consecutive completions of the same prompt.
        tie_break: Strength ``beta`` in ``[0, 1)`` of the tie-break bonus (see
            :mod:`inkforge.rewards.group`).
        max_failure_rate: Raise :class:`~inkforge.core.errors.FailFastError` when a larger share of the
            recent completions failed (``1.0`` never raises).
        fail_fast_window: The failure rate is taken over the last ``max(batch size,
            fail_fast_window)`` completions, this batch included, once at least 8 have been scored:
            a lone failure in a one-item call (verl's per-sample reward) does not stop training, a
            broken endpoint does.
        sample: Sample index of the verdicts (part of the cache key).
        max_tokens: Spend cap of the judge's model calls in tokens (``None``: none); once reached, a
            call raises :class:`~inkforge.llm.budget.BudgetExceededError`, which stops training.
        max_cost: The same in cost (the spec's prices).
        name: Reward name: TRL logs ``rewards/<name>/mean`` and this class ``<name>/ok_rate``...
        transport: ``None`` (default) keeps the spec's transport (``http`` unless the config says
            otherwise: chat completions on ``httpx``, at a fraction of ChatOpenAI's client CPU per
            call, which matters at hundreds of calls per training step; ``bench/judge_reward.py``
            measures it); ``"http"`` or ``"langchain"`` (ChatOpenAI) override it for this reward's
            role. Every transport is a LangChain chat model, so callbacks and tracing see each call.
        callbacks: LangChain callback handlers given every judge call (LangSmith tracing is on
            whenever its environment variables are, whatever this says).

    Example::

        judge = JudgeReward.from_rubric("runs/refine/rubric.json", base_url="http://127.0.0.1:8000/v1",
                                        model="qwen2.5-7b-instruct", concurrency=64)
        trainer = GRPOTrainer(model=..., reward_funcs=[judge], args=GRPOConfig(...), train_dataset=...)
    """

    def __init__(
        self,
        rubric: Rubric,
        *,
        config: Any | None = None,
        runtime: Any | None = None,
        role: str = "detector",
        mode: JudgeMode = "binary",
        scale: tuple[int, int] | Sequence[int] = (1, 5),
        group_mode: GroupMode | None = None,
        num_generations: int | None = None,
        tie_break: float = 0.2,
        max_failure_rate: float = 0.5,
        fail_fast_window: int = 32,
        sample: int = 0,
        name: str = "judge",
        transport: Literal["http", "langchain", "direct"] | None = None,
        callbacks: Sequence[Any] | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
    ) -> None:
        if not isinstance(rubric, Rubric):
            raise TypeError(f"rubric must be a Rubric (use JudgeReward.from_rubric for a path), got {type(rubric)}")
        if mode not in ("binary", "graded"):
            raise ConfigError(f"mode must be 'binary' or 'graded', got {mode!r}", field="mode")
        lo, hi = (int(v) for v in scale)
        if hi <= lo:
            raise ConfigError(f"scale must be (low, high) with high > low, got {tuple(scale)}", field="scale")
        if group_mode not in (None, "pairwise", "listwise"):
            raise ConfigError(f"group_mode must be 'pairwise', 'listwise' or None, got {group_mode!r}",
                              field="group_mode")
        if not 0.0 <= tie_break < 1.0:
            raise ConfigError(f"tie_break must lie in [0, 1), got {tie_break}", field="tie_break")
        if not 0.0 <= max_failure_rate <= 1.0:
            raise ConfigError(f"max_failure_rate must lie in [0, 1], got {max_failure_rate}",
                              field="max_failure_rate")
        if transport == "direct":  # the former asyncio client's name: now the http transport
            transport = "http"
        if transport not in (None, "http", "langchain"):
            raise ConfigError(f"transport must be 'http' or 'langchain', got {transport!r}", field="transport")
        if num_generations is not None and num_generations < 1:
            raise ConfigError(f"num_generations must be >= 1, got {num_generations}", field="num_generations")
        if config is None and runtime is not None:
            config = runtime.config
        if runtime is not None and callbacks:
            runtime.callbacks = [*runtime.callbacks, *callbacks]
        self.rubric = rubric
        self.config = config
        self.role = role
        self.mode: JudgeMode = mode
        self.scale = (lo, hi)
        self.group_mode: GroupMode | None = group_mode
        self.num_generations = num_generations
        self.tie_break = float(tie_break)
        self.max_failure_rate = float(max_failure_rate)
        self.fail_fast_window = max(1, int(fail_fast_window))
        self.sample = int(sample)
        self.transport = transport
        self.callbacks = list(callbacks or [])
        self.__name__ = name
        #: Outcomes of the last call, one per completion.
        self.last_outcomes: list[JudgeOutcome] = []
        #: Statistics of the last call (see :class:`ScoreBatch`).
        self.last_stats: dict[str, Any] = {}
        from inkforge.llm.budget import SpendCap

        try:
            self.spend_cap = SpendCap(max_tokens, max_cost)
        except ValueError as e:
            raise ConfigError(str(e), field="max_tokens" if "tokens" in str(e) else "max_cost") from None
        self._runtime = runtime
        self._owns_runtime = runtime is None
        if runtime is not None and self.spend_cap.active:
            runtime.usage.guard(self.spend_cap, runtime.usage.watch)
        self._init_private()

    def _init_private(self) -> None:
        self._lock = threading.RLock()
        self._agents: dict[Any, Agent[Any]] = {}
        self._loop: BackgroundLoop | None = None
        self._totals: dict[str, int] = {"n": 0, "ok": 0, "cached": 0, "calls": 0}
        self._recent: collections.deque[bool] = collections.deque(maxlen=self.fail_fast_window)
        self._status_totals: dict[str, int] = {}

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def from_rubric(
        cls,
        rubric: str | Path | Rubric,
        config_path: str | Path | None = None,
        base_url: str | None = None,
        model: str | None = None,
        concurrency: int | None = None,
        *,
        config: str | Path | None = None,
        cache: str | Path | None = "config",
        **opts: Any,
    ) -> JudgeReward:
        """Build a judge reward from a ``rubric.json`` (or a :class:`Rubric`) and model flags.

        Args:
            rubric: Path to ``rubric.json`` or a rubric.
            config_path: YAML config with per-role models (``config`` is accepted as an alias, the
                key used in GRPO ``rewards:`` specs).
            base_url: OpenAI-compatible endpoint for every role (``--base-url``).
            model: Model name for every role (``--model``).
            concurrency: Shared in-flight limit (``--concurrency``).
            cache: ``"config"`` (the config's cache file), a SQLite path, or ``None`` for no cache.
            **opts: Keyword arguments of :class:`JudgeReward` (``mode``, ``scale``, ``group_mode``...).

        Raises:
            InputError: The rubric file is missing or invalid.
            ConfigError: Invalid config or options.

        Example:
            >>> judge = JudgeReward.from_rubric(Rubric.default("greeting"), base_url="http://127.0.0.1:9/v1",
            ...                                 model="stub", cache=None)
            >>> judge.__name__, judge.config.concurrency
            ('judge', 16)
        """
        from inkforge.core.plugins import load_plugins
        from inkforge.llm.config import load_config

        rb = rubric if isinstance(rubric, Rubric) else Rubric.load(rubric)
        overrides: dict[str, Any] = {"task": rb.task}
        if cache != "config":
            overrides["cache"] = None if cache is None else str(cache)
        cfg = load_config(config_path or config, base_url=base_url, model=model, concurrency=concurrency,
                          overrides=overrides)
        load_plugins(cfg.plugins)
        if "scale" in opts and isinstance(opts["scale"], str):  # "1-5" from a CLI flag or YAML
            opts["scale"] = tuple(int(v) for v in opts["scale"].replace(",", "-").split("-"))
        return cls(rb, config=cfg, **opts)

    def __getstate__(self) -> dict[str, Any]:
        # The runtime (SQLite handle, HTTP clients), bound agents and the loop thread cannot be
        # pickled; the copy rebuilds them from the config on first use.
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_runtime", "_lock", "_agents", "_loop", "_totals", "_status_totals", "_recent")}
        state["_runtime"] = None
        state["_owns_runtime"] = True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_private()

    def __repr__(self) -> str:
        extra = f", group_mode={self.group_mode!r}" if self.group_mode else ""
        return (f"{type(self).__name__}(name={self.__name__!r}, rubric={self.rubric.version!r}, "
                f"mode={self.mode!r}{extra})")

    @property
    def runtime(self) -> Any:
        """The runtime (built from the config on first use)."""
        with self._lock:
            if self._runtime is None:
                from inkforge.llm.config import load_config
                from inkforge.llm.runtime import Runtime

                cfg = self.config if self.config is not None else load_config(overrides={"task": self.rubric.task})
                self.config = cfg
                spec = cfg.spec_for(self.role)
                if self.transport is not None and spec.provider == "openai" and spec.transport != self.transport:
                    spec = spec.model_copy(update={"transport": self.transport})
                    cfg = cfg.model_copy(update={"models": {**cfg.models, self.role: spec}})
                self._runtime = Runtime(cfg, task=self.rubric.task, callbacks=self.callbacks)
                if self.spend_cap.active:  # judge calls stop with BudgetExceededError once it is spent
                    self._runtime.usage.guard(self.spend_cap, None)
            return self._runtime

    def _template(self, name: str) -> PromptTemplate:
        return load_prompt(name, self.rubric.language)

    def _verdict_def(self) -> AgentDef[Any]:
        if self.mode == "graded":
            return dataclasses.replace(GRADED_JUDGE, role=self.role, schema=graded_schema(*self.scale),
                                       prompt=self._template("graded_judge"))
        return detector_for_rubric(self.rubric, role=self.role)

    def agent(self, kind: str = "verdict", size: int = 0) -> Agent[Any]:
        """A bound agent: ``verdict``, ``pairwise`` or ``listwise`` (of ``size`` candidates)."""
        key = (kind, size if kind == "listwise" else 0)
        with self._lock:
            agent = self._agents.get(key)
            if agent is None:
                if kind == "verdict":
                    defn = self._verdict_def()
                elif kind == "pairwise":
                    defn = dataclasses.replace(PAIRWISE_JUDGE, role=self.role,
                                               prompt=self._template("pairwise_judge"))
                elif kind == "listwise":
                    defn = dataclasses.replace(LISTWISE_JUDGE, role=self.role, schema=listwise_schema(size),
                                               prompt=self._template("listwise_judge"))
                else:
                    raise ValueError(f"unknown agent kind {kind!r}")
                agent = self._agents[key] = defn.bind(self.runtime)
            return agent

    # -- scoring ------------------------------------------------------------------------------------

    def _variables(self, query: str, response: str) -> dict[str, Any]:
        v: dict[str, Any] = {"query": query, "response": response, "rubric": list(self.rubric.rules)}
        if self.mode == "graded":
            v.update(scale_min=self.scale[0], scale_max=self.scale[1])
        return v

    def _outcome(self, res: AgentResult[Any]) -> JudgeOutcome:
        if not res.ok or res.output is None:
            return JudgeOutcome(status=res.status, error=res.error, raw=res.raw, cached=res.cached)
        out = res.output
        if self.mode == "graded":
            lo, hi = self.scale
            verdict = (out.score - lo) / (hi - lo)
            label: str | int = out.score
        else:
            verdict = 1.0 if out.verdict == "Good" else 0.0
            label = out.verdict
        return JudgeOutcome(status="ok", reward=verdict, verdict=verdict, label=label, cached=res.cached,
                            explanation=getattr(out, "explanation", None), raw=None)

    async def averdicts(self, queries: Sequence[str], responses: Sequence[str], *,
                        sample: int | None = None) -> list[JudgeOutcome]:
        """Independent verdicts (no group tie-break), all in flight at once under the shared limit.

        Args:
            queries: Requests.
            responses: Completion texts.
            sample: Sample index (distinct cache entries); defaults to ``self.sample``.
        """
        agent = self.agent("verdict")
        s = self.sample if sample is None else sample
        results = await asyncio.gather(*(agent.ainvoke(self._variables(q, r), sample=s)
                                         for q, r in zip(queries, responses, strict=True)))
        return [self._outcome(r) for r in results]

    async def _tie_break(self, keys: Sequence[Hashable], queries: Sequence[str], texts: Sequence[str],
                         outcomes: list[JudgeOutcome], sample: int) -> TieBreakStats:
        assert self.group_mode is not None
        jobs = []
        for start, end in group_spans(keys, self.num_generations):
            classes: dict[float, list[int]] = {}
            for i in range(start, end):
                verdict = outcomes[i].verdict
                if outcomes[i].ok and verdict is not None:
                    classes.setdefault(verdict, []).append(i)
            for members in classes.values():
                if len(members) >= 2:
                    agent = self.agent(self.group_mode, len(members))
                    jobs.append((members, tie_break_win_rates(self.group_mode, agent, queries[members[0]],
                                                              [texts[i] for i in members], self.rubric.rules,
                                                              sample=sample)))
        stats = TieBreakStats()
        results = await asyncio.gather(*(job for _, job in jobs))
        delta = 1.0 if self.mode == "binary" else 1.0 / (self.scale[1] - self.scale[0])
        for (members, _), (rates, st) in zip(jobs, results, strict=True):
            stats.add(st)
            for i, w in zip(members, rates, strict=True):
                o = outcomes[i]
                o.win_rate = w
                o.bonus = self.tie_break * delta * (w - 0.5)
                o.reward = (o.verdict or 0.0) + o.bonus
        return stats

    async def ascore_batch(self, prompts: Sequence[Any], completions: Sequence[Any], *,
                           queries: Sequence[Any] | None = None, sample: int | None = None) -> ScoreBatch:
        """Score a batch and return every outcome and the statistics; never raises for model failures.

        Args:
            prompts: Prompts (strings or message lists), one per completion.
            completions: Completions (strings or message lists).
            queries: Bare requests, one per completion (TRL's ``query`` column); derived from the
                prompts when absent.
            sample: Sample index; defaults to ``self.sample``.
        """
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        t0 = time.perf_counter()
        qs = [q if isinstance(q, str) else prompt_query(q) for q in queries] if queries is not None else \
            [prompt_query(p) for p in prompts]
        if len(qs) != len(completions):
            raise ValueError(f"{len(qs)} queries for {len(completions)} completions")
        texts = [completion_text(c) for c in completions]
        s = self.sample if sample is None else sample
        outcomes = await self.averdicts(qs, texts, sample=s)
        tb = None
        if self.group_mode is not None:
            keys = [_group_key(p, q) for p, q in zip(prompts, qs, strict=True)]
            tb = await self._tie_break(keys, qs, texts, outcomes, s)
        return ScoreBatch(outcomes, batch_stats(outcomes, time.perf_counter() - t0, tb))

    def score_batch(self, prompts: Sequence[Any], completions: Sequence[Any], *,
                    queries: Sequence[Any] | None = None, sample: int | None = None) -> ScoreBatch:
        """Synchronous :meth:`ascore_batch`, on the reward's own :class:`~inkforge.core.aio.BackgroundLoop`."""
        return self._run(self.ascore_batch(prompts, completions, queries=queries, sample=sample))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None or self._loop.closed:
                self._loop = BackgroundLoop(name="inkforge-judge-loop")
            loop = self._loop
        return loop.run(coro)

    def check_failures(self, batch: ScoreBatch) -> None:
        """Record the batch and raise :class:`FailFastError` when the recent failure rate is too high.

        The rate is over the last ``max(len(batch), fail_fast_window)`` completions (this batch
        included), and only once at least :data:`MIN_FAIL_FAST_ITEMS` have been scored. Call it once
        per scored batch (``__call__``, the server and the adapters do).
        """
        flags = [o.ok for o in batch.outcomes]
        with self._lock:
            earlier = list(self._recent)
            self._recent.extend(flags)
        recent = (earlier[max(0, len(earlier) - (self.fail_fast_window - len(flags))):] + flags
                  if len(flags) < self.fail_fast_window else flags)
        failed = len(recent) - sum(recent)
        if len(recent) >= min(MIN_FAIL_FAST_ITEMS, self.fail_fast_window) and \
                failed / len(recent) > self.max_failure_rate:
            st = batch.stats
            first = next((o for o in batch.outcomes if not o.ok), None)
            detail = f"; first error: {first.error[:300]}" if first is not None and first.error else ""
            raise FailFastError(
                f"judge reward {self.__name__!r}: {failed} of the last {len(recent)} calls failed (this batch: "
                f"{st['failed']}/{st['n']} {st['statuses']}; max_failure_rate={self.max_failure_rate}){detail}")

    def _finish(self, batch: ScoreBatch, kwargs: Mapping[str, Any]) -> list[float | None]:
        st = batch.stats
        with self._lock:
            self.last_outcomes = batch.outcomes
            self.last_stats = st
            self._totals["n"] += st["n"]
            self._totals["ok"] += st["ok"]
            self._totals["cached"] += st["cached"]
            self._totals["calls"] += 1
            for k, v in st["statuses"].items():
                self._status_totals[k] = self._status_totals.get(k, 0) + v
        self._log(batch, kwargs)
        self.check_failures(batch)
        return batch.rewards

    def _log(self, batch: ScoreBatch, kwargs: Mapping[str, Any]) -> None:
        st = batch.stats
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for key in (*(f"{s}_rate" for s in STATUSES), "failure_rate", "cached_rate"):
                log_metric(f"{self.__name__}/{key}", float(st[key]))
            tb = st.get("tie_break")
            if tb:
                if tb["flip_rate"] is not None:
                    log_metric(f"{self.__name__}/tie_break_flip_rate", float(tb["flip_rate"]))
                if tb["calls"]:
                    log_metric(f"{self.__name__}/tie_break_failed_rate", tb["failed"] / tb["calls"])
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            log_extra(f"{self.__name__}_status", batch.statuses)
        if st["failed"]:
            log.warning("judge reward %s: %d/%d failed %s", self.__name__, st["failed"], st["n"], st["statuses"])

    @staticmethod
    def _queries(kwargs: Mapping[str, Any]) -> Sequence[Any] | None:
        q = kwargs.get("query")
        return q if isinstance(q, (list, tuple)) else None

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """Score completions (TRL reward-function signature).

        Args:
            prompts: Prompts (strings or message lists).
            completions: Completions (strings or message lists).
            **kwargs: TRL's extras: ``query`` (bare requests), ``log_metric``, ``log_extra``... (others
                are ignored).

        Returns:
            One reward per completion; ``None`` where the judge failed.

        Raises:
            FailFastError: More than ``max_failure_rate`` of the recent completions failed.
        """
        batch = self.score_batch(prompts, completions, queries=self._queries(kwargs))
        return self._finish(batch, kwargs)

    async def ascore(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """Async :meth:`__call__`, on the caller's event loop."""
        batch = await self.ascore_batch(prompts, completions, queries=self._queries(kwargs))
        return self._finish(batch, kwargs)

    # -- bookkeeping --------------------------------------------------------------------------------

    @property
    def totals(self) -> dict[str, Any]:
        """Counts since construction: ``n``, ``ok``, ``cached``, ``calls`` and ``statuses``."""
        with self._lock:
            return {**self._totals, "statuses": dict(self._status_totals)}

    def close(self) -> None:
        """Stop the private loop, close idle connections and a runtime this reward built.

        The reward stays usable: the next call rebuilds what it needs.
        """
        with self._lock:
            loop, self._loop = self._loop, None
            runtime = self._runtime if self._owns_runtime else None
            if runtime is not None:
                self._runtime = None
                self._agents.clear()
        if loop is not None:
            loop.close()
        if runtime is not None:
            runtime.close()

    def __enter__(self) -> JudgeReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncJudgeReward(JudgeReward):
    """:class:`JudgeReward` whose call is a coroutine: TRL runs it on its own loop, in parallel with
    other async reward functions.

    Example:
        >>> import asyncio
        >>> from inkforge.core.rubric import Rubric
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> fake = FakeChatModel(responder=lambda msgs, schema: {"explanation": "空泛", "verdict": "Bad"})
        >>> judge = AsyncJudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(fake))
        >>> asyncio.run(judge(prompts=["新年祝福"], completions=["新年快乐。"]))
        [0.0]
    """

    async def __call__(  # type: ignore[override]
            self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return await self.ascore(prompts, completions, **kwargs)
