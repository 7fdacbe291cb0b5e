"""Training configs: TRL's ``SFTConfig``, ``RewardConfig`` and ``GRPOConfig`` plus inkforge's fields.

Each stage's config is one flat dataclass, so one YAML file holds everything about a run (TRL's
and transformers' training arguments side by side with the model, data, prompt, LoRA, reward and
monitor settings below) and any field can be overridden on the command line::

    inkforge train grpo --config inkforge/training/configs/smoke_grpo.yaml --learning_rate 1e-4

Parsing goes through :class:`trl.TrlParser`: YAML values become defaults, command-line flags win,
an ``env:`` mapping in the YAML sets environment variables. Every YAML value is checked against its
field's type first, so a wrong type, an unknown key or a missing required field is a
:class:`~inkforge.core.errors.ConfigError` naming the file, the line and the field (never an argparse
usage dump). Fields holding lists of mappings (``rewards``, ``guards``) accept YAML lists or, on the
command line, JSON.

Paths: ``model_name_or_path``, ``train_file``, ``eval_file`` and ``monitor_probe_file`` starting with
``pkg://PACKAGE/`` name a file inside an installed Python package (the bundled configs use
``pkg://inkforge/data/sample_queries.txt``), so a config works from any directory; other relative
paths are relative to the current directory, as in TRL. Before training starts,
:meth:`InkforgeFields.check_paths` checks that the model folder and the data files exist.

Example:
    >>> from inkforge.training.config import GRPOTrainingConfig, parse_config
    >>> cfg = parse_config(GRPOTrainingConfig, ["--config", "smoke_grpo.yaml", "--max_steps", "2"])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.resources
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from trl import GRPOConfig, RewardConfig, SFTConfig

from inkforge.core.errors import ConfigError
from inkforge.core.yamlio import yaml_line
from inkforge.training.loading import CONFIG_DIR, load_config, parse_config

__all__ = [
    "CONFIG_DIR",
    "GRPOTrainingConfig",
    "InkforgeFields",
    "PACKAGE_PREFIX",
    "RewardTrainingConfig",
    "SFTTrainingConfig",
    "load_config",
    "missing_model_message",
    "package_path",
    "parse_config",
]

#: Prefix of a path inside an installed package: ``pkg://inkforge/data/sample_queries.txt``.
PACKAGE_PREFIX = "pkg://"

#: Fields holding a path, resolved by :func:`package_path` and checked by ``check_paths``.
_PATH_FIELDS = ("model_name_or_path", "train_file", "eval_file", "monitor_probe_file")

ConfigT = TypeVar("ConfigT", bound="InkforgeFields")


def package_path(value: str, *, field: str | None = None) -> str:
    """Resolve ``pkg://PACKAGE/sub/path`` to that file inside the installed package; other values unchanged.

    Raises:
        ConfigError: ``PACKAGE`` is not an installed package.

    Example:
        >>> Path(package_path("pkg://inkforge/data/sample_queries.txt")).is_file()
        True
        >>> package_path("runs/tiny")
        'runs/tiny'
    """
    if not value.startswith(PACKAGE_PREFIX):
        return value
    package, _, sub = value[len(PACKAGE_PREFIX):].partition("/")
    try:
        root = importlib.resources.files(package)
    except (ModuleNotFoundError, TypeError, ValueError):
        raise ConfigError(f"{value}: no installed Python package {package!r}", field=field) from None
    return str(Path(str(root)) / sub) if sub else str(root)


def _looks_like_local_path(value: str) -> bool:
    """Whether a missing ``model_name_or_path`` was meant as a folder rather than a hub id (``org/name``)."""
    if value.startswith((".", "/", "~")) or "\\" in value or value.count("/") > 1:
        return True
    # ``runs/tiny`` reads like a hub id, but when ``runs/`` exists here the user meant the folder.
    return "/" in value and Path(value.split("/", 1)[0]).is_dir()


def _hub_offline_without_copy(repo_id: str) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on"):
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return False
    try:
        return not isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # noqa: BLE001 - an invalid repo id is no cached copy either
        return True


def missing_model_message(model: str, *, flag: str = "--model_name_or_path") -> str | None:
    """Why ``model`` names no model here, or ``None`` when it is a folder or may be a hub id.

    A value that is not a folder passes as a hub id, unless it was clearly meant as a folder
    (``./x``, ``/x``, ``a/b/c``, ``runs/x`` with ``runs/`` present) or ``HF_HUB_OFFLINE`` is set and
    the hub cache has no copy. The message names ``flag`` and, for a tiny smoke-test model, the
    command that builds it.

    Example:
        >>> print(missing_model_message("/no/such/tiny", flag="--model"))
        no model folder /no/such/tiny: pass --model FOLDER_OR_HUB_ID, or build the tiny smoke-test model with `inkforge train build-tiny /no/such/tiny`
    """
    if Path(model).expanduser().is_dir():
        return None
    where = "" if Path(model).is_absolute() else f" (relative to {Path.cwd()})"
    fix = f"pass {flag} FOLDER_OR_HUB_ID"
    if _looks_like_local_path(model):
        if "tiny" in Path(model).name:
            fix += f", or build the tiny smoke-test model with `inkforge train build-tiny {model}`"
        return f"no model folder {model}{where}: {fix}"
    if _hub_offline_without_copy(model):
        return (f"no model folder {model}{where}, and HF_HUB_OFFLINE is set but the hub cache has no copy of it: "
                f"{fix}, or download it first")
    return None


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class InkforgeFields:
    """Fields shared by the three stages: model, data, prompt formatting and LoRA.

    Attributes:
        model_name_or_path: Hub id or local folder of the model to train.
        train_file: Training data (see :mod:`inkforge.training.data` for the formats).
        eval_file: Optional evaluation data in the same format.
        eval_split_ratio: Hold out this fraction of ``train_file`` for evaluation when there is no
            ``eval_file``.
        data_format: ``auto`` (from the extension and keys) or one of ``jsonl``, ``json``, ``alpaca``,
            ``sharegpt``, ``verl``, ``txt``.
        max_train_samples: Use only the first rows of ``train_file``.
        prompt_prefix: Prefix for every prompt; the paper's is ``请只生成一条祝福语：``. Use the same in
            all stages: the policy, the reward model and the judge must see the same prompts.
        system_prompt: Optional system turn; ``None`` keeps the chat template's default.
        conversational: Format prompts with the chat template (instruct models). Set ``false`` for
            base models without one.
        use_peft: Train LoRA adapters (peft) instead of all weights.
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling.
        lora_dropout: LoRA dropout.
        lora_target_modules: ``all-linear`` or a comma-separated list of module names.
    """

    model_name_or_path: str | None = field(default=None, metadata=_help("Hub id or local folder of the model."))
    train_file: str | None = field(default=None, metadata=_help("Training data file."))
    eval_file: str | None = field(default=None, metadata=_help("Evaluation data file."))
    eval_split_ratio: float = field(default=0.0, metadata=_help("Fraction of train_file held out for eval."))
    data_format: str = field(default="auto", metadata=_help("auto|jsonl|json|alpaca|sharegpt|verl|txt"))
    max_train_samples: int | None = field(default=None, metadata=_help("Use only the first N training rows."))
    prompt_prefix: str = field(default="", metadata=_help("Prefix for every prompt, e.g. 请只生成一条祝福语："))
    system_prompt: str | None = field(default=None, metadata=_help("Optional system turn."))
    conversational: bool = field(default=True, metadata=_help("Use the chat template (instruct models)."))
    use_peft: bool = field(default=False, metadata=_help("Train LoRA adapters instead of all weights."))
    lora_r: int = field(default=16, metadata=_help("LoRA rank."))
    lora_alpha: int = field(default=32, metadata=_help("LoRA alpha."))
    lora_dropout: float = field(default=0.05, metadata=_help("LoRA dropout."))
    lora_target_modules: str = field(default="all-linear", metadata=_help("all-linear or comma-separated names."))

    def _resolve_checkpointing_alias(self) -> None:
        # TRL declares the deprecated ``gradient_checkpointing`` (default True); transformers 5 renamed it
        # ``activation_checkpointing`` and warns on every config that sets only the old name. Carry the
        # value over so either spelling works and no run starts with a spurious deprecation warning.
        if getattr(self, "activation_checkpointing", False) is None:
            self.activation_checkpointing = self.gradient_checkpointing  # type: ignore[attr-defined]

    def _resolve_package_paths(self) -> None:
        for name in _PATH_FIELDS:
            value = getattr(self, name, None)
            if isinstance(value, str):
                setattr(self, name, package_path(value, field=name))

    def _check_report_to(self) -> None:
        """Check ``report_to`` before TRL builds its callbacks (where a missing package is a raw RuntimeError)."""
        from transformers.integrations.integration_utils import (
            INTEGRATION_TO_CALLBACK,
            get_available_reporting_integrations,
        )

        from inkforge.core.tracking import TRACKERS, check_report_to

        value = getattr(self, "report_to", None)
        if value is None:
            return
        # Commas as in inkforge's own --report-to; transformers has already turned "none"/"all" into a list.
        names = [n.strip() for v in ([value] if isinstance(value, str) else value) for n in str(v).split(",")
                 if n.strip()]
        names = [] if names == ["none"] else names
        available = set(get_available_reporting_integrations())
        for name in names:
            if name in available:
                continue
            if name in TRACKERS:
                check_report_to([name], field="report_to")
            if name not in INTEGRATION_TO_CALLBACK:
                raise ConfigError(f"unknown tracker {name!r}; known: {', '.join(sorted(INTEGRATION_TO_CALLBACK))}, "
                                  "none, all", field="report_to")
            raise ConfigError(f"{name} is not installed (pip install {name.replace('_', '-')})", field="report_to")
        object.__setattr__(self, "report_to", names)  # a field of TrainingArguments, not of this mixin

    def _check_inkforge_fields(self) -> None:
        self._resolve_package_paths()
        self._check_report_to()
        if not self.model_name_or_path:
            raise ConfigError("required (a hub id or a local folder): set it in the YAML or pass "
                              "--model_name_or_path", field="model_name_or_path")
        if not self.train_file:
            raise ConfigError("required (a data file): set it in the YAML or pass --train_file", field="train_file")
        if not 0.0 <= self.eval_split_ratio < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.eval_split_ratio}", field="eval_split_ratio")
        valid = {"auto", "jsonl", "json", "alpaca", "sharegpt", "verl", "txt"}
        if self.data_format not in valid:
            raise ConfigError(f"must be one of {sorted(valid)}, got {self.data_format!r}", field="data_format")

    def _path_error(self, name: str, message: str) -> ConfigError:
        source = getattr(self, "_config_file", None)
        line = None
        if source is not None:
            try:
                line = yaml_line(Path(source).read_text(encoding="utf-8"), (name,))
            except OSError:
                line = None
        return ConfigError(message, file=source, line=line, field=name)

    def check_paths(self) -> None:
        """Check that the model folder and the data files exist, before any training starts.

        A ``model_name_or_path`` that is not a folder here passes as a hub id, unless it was
        clearly meant as a folder (``./x``, ``/x``, ``a/b/c``, ``runs/x`` with ``runs/`` present) or
        ``HF_HUB_OFFLINE`` is set and the hub cache has no copy.

        Raises:
            ConfigError: A missing model folder or data file, naming the field, the flag to pass
                and, for the smoke configs' tiny model, the command that builds it.
        """
        model = self.model_name_or_path
        if not model:
            raise self._path_error("model_name_or_path", "required (a hub id or a local folder): set it in the "
                                   "YAML or pass --model_name_or_path")
        problem = missing_model_message(model, flag="--model_name_or_path")
        if problem is not None:
            raise self._path_error("model_name_or_path", problem)
        for name in _PATH_FIELDS[1:]:
            value = getattr(self, name, None)
            if value and not Path(value).expanduser().is_file():
                where = "" if Path(value).is_absolute() else f" (relative to {Path.cwd()})"
                raise self._path_error(name, f"no such file {value}{where}: pass --{name} FILE")

    @property
    def model_path(self) -> str:
        """``model_name_or_path``, after :meth:`check_paths` (the first thing every stage reads)."""
        self.check_paths()
        assert self.model_name_or_path  # checked above; narrows the type
        return self.model_name_or_path

    @property
    def train_path(self) -> str:
        """``train_file``, checked to be set and to exist."""
        if not self.train_file:
            raise self._path_error("train_file", "required (a data file): set it in the YAML or pass --train_file")
        if not Path(self.train_file).expanduser().is_file():
            self.check_paths()
        return self.train_file

    def peft_config(self, task_type: str) -> Any:
        """The peft ``LoraConfig`` for this run, or ``None`` when ``use_peft`` is off.

        Args:
            task_type: ``CAUSAL_LM`` (SFT, GRPO) or ``SEQ_CLS`` (reward model).
        """
        if not self.use_peft:
            return None
        try:
            from peft import LoraConfig
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError("use_peft needs peft: pip install 'inkforge[lora]'", field="use_peft") from exc
        targets: str | list[str] = self.lora_target_modules
        if targets != "all-linear":
            targets = [t.strip() for t in str(targets).split(",") if t.strip()]
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=targets,
            task_type=task_type,
            # The reward model's score head is new: it must train with the adapters.
            modules_to_save=["score"] if task_type == "SEQ_CLS" else None,
        )

    def data_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the loaders in :mod:`inkforge.training.data`."""
        return {
            "data_format": self.data_format,
            "prompt_prefix": self.prompt_prefix,
            "system_prompt": self.system_prompt,
            "conversational": self.conversational,
        }


@dataclass
class SFTTrainingConfig(SFTConfig, InkforgeFields):
    """Supervised fine-tuning (cold start) config: TRL's ``SFTConfig`` plus :class:`InkforgeFields`.

    Example:
        >>> cfg = SFTTrainingConfig(model_name_or_path="tiny", train_file="sft.jsonl",
        ...                         output_dir="runs/sft", bf16=False)  # doctest: +SKIP
    """

    def __post_init__(self) -> None:
        self._resolve_checkpointing_alias()
        super().__post_init__()
        self._check_inkforge_fields()


@dataclass
class RewardTrainingConfig(RewardConfig, InkforgeFields):
    """Reward model config: TRL's ``RewardConfig`` plus :class:`InkforgeFields`.

    Example:
        >>> cfg = RewardTrainingConfig(model_name_or_path="tiny", train_file="pairs.jsonl",
        ...                            output_dir="runs/rm", bf16=False)  # doctest: +SKIP
    """

    def __post_init__(self) -> None:
        self._resolve_checkpointing_alias()
        super().__post_init__()
        self._check_inkforge_fields()


def _json_list(value: Any, name: str) -> list[dict[str, Any]]:
    """Normalise a list-of-mappings field given as YAML (a list) or on the command line (JSON)."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"expected a JSON list of objects: {exc.msg}", field=name) from exc
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("expected a list of mappings", field=name)
    return [dict(v) for v in value]


@dataclass
class GRPOTrainingConfig(GRPOConfig, InkforgeFields):
    """GRPO config: TRL's ``GRPOConfig`` plus :class:`InkforgeFields`, rewards, guards and the monitor.

    Attributes:
        rewards: Reward specs, each ``{type: rule|reward_model|judge, weight: float, ...}`` (see
            :func:`inkforge.training.reward_selection.build_reward_funcs`). TRL sums the weighted
            rewards (``reward_weights``, filled from the specs).
        guards: Guard specs applied on top of every reward (see :mod:`inkforge.rewards.guards`),
            e.g. ``[{name: default, language: zh}]``.
        guard_mode: How a triggered guard changes a reward (passed to ``GuardedReward``).
        reward_mask_policy: What a failed reward flagged ``mask_on_failure`` (every judge, by
            default) masks: ``row``, every reward of that completion, so TRL drops it from the loss;
            ``group``, every completion of its prompt's group. Length debiasing is per reward, its
            ``debias:`` key (see :mod:`inkforge.training.reward_selection`).
        max_prompt_length: Prompts longer than this many tokens (chat template included) are
            dropped before training, like verl's ``filter_overlong_prompts``. TRL 1.x no longer
            truncates prompts itself.
        monitor_every_steps: Run the reward-hacking monitor every this many steps (0: off).
        monitor_probe_file: Prompts for the monitor's probe set (defaults to the first training prompts).
        monitor_num_probes: Probe set size.
        monitor_max_new_tokens: Generation budget per probe.
        monitor_max_length_growth: Stop when the mean probe completion length grows by more than
            this fraction over the first measurement (``0.5``: +50%).
        monitor_min_distinct2: Stop when probe distinct-2 falls below this.
        monitor_max_guard_rate: Stop when the share of probe completions tripping a guard exceeds this.
        monitor_band_min: Low end (characters) of the length band whose share of probe
            completions the monitor logs as ``monitor/in_band`` (the greeting task's 30).
        monitor_band_max: High end of that band (50).
    """

    rewards: list[dict] | str | None = field(
        default=None, metadata=_help("Reward specs: YAML list, or JSON on the command line.")
    )
    guards: list[dict] | str | None = field(default=None, metadata=_help("Guard specs: YAML list or JSON."))
    guard_mode: str | None = field(default=None, metadata=_help("How triggered guards change rewards."))
    reward_mask_policy: str = field(default="row", metadata=_help(
        "row|group: what a failed judge (mask_on_failure reward) masks."))
    max_prompt_length: int | None = field(default=256, metadata=_help("Drop prompts longer than this (tokens)."))
    monitor_every_steps: int = field(default=0, metadata=_help("Reward-hacking monitor period (0: off)."))
    monitor_probe_file: str | None = field(default=None, metadata=_help("Probe prompts for the monitor."))
    monitor_num_probes: int = field(default=16, metadata=_help("Probe set size."))
    monitor_max_new_tokens: int = field(default=64, metadata=_help("Probe generation budget."))
    monitor_max_length_growth: float | None = field(default=None, metadata=_help("Stop on length growth > x."))
    monitor_min_distinct2: float | None = field(default=None, metadata=_help("Stop on distinct-2 < x."))
    monitor_max_guard_rate: float | None = field(default=None, metadata=_help("Stop on guard rate > x."))
    monitor_band_min: int = field(default=30, metadata=_help("Length band low end (chars) for monitor/in_band."))
    monitor_band_max: int = field(default=50, metadata=_help("Length band high end (chars) for monitor/in_band."))

    def __post_init__(self) -> None:
        self.rewards = _json_list(self.rewards, "rewards")
        self.guards = _json_list(self.guards, "guards")
        if not self.rewards:
            raise ConfigError("at least one reward spec is required", field="rewards")
        weights = [float(spec.get("weight", 1.0)) for spec in self.rewards]
        if self.reward_weights is not None and list(self.reward_weights) != weights:
            raise ConfigError(
                "set weights inside the reward specs, not in reward_weights", field="reward_weights"
            )
        self.reward_weights = weights
        self._resolve_checkpointing_alias()
        super().__post_init__()
        self._check_inkforge_fields()
        if self.monitor_every_steps < 0:
            raise ConfigError("must be >= 0", field="monitor_every_steps")
        if self.reward_mask_policy not in ("row", "group"):
            raise ConfigError(f"must be 'row' or 'group', got {self.reward_mask_policy!r}",
                              field="reward_mask_policy")
        if not 0 <= self.monitor_band_min <= self.monitor_band_max:
            raise ConfigError(f"need 0 <= monitor_band_min <= monitor_band_max, got "
                              f"{self.monitor_band_min}, {self.monitor_band_max}", field="monitor_band_min")

    @property
    def reward_specs(self) -> list[dict[str, Any]]:
        """``rewards`` after normalisation (a list of mappings)."""
        return _json_list(self.rewards, "rewards")

    @property
    def guard_specs(self) -> list[dict[str, Any]]:
        """``guards`` after normalisation (a list of mappings)."""
        return _json_list(self.guards, "guards")
