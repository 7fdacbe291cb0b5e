"""Training configs: TRL's ``SFTConfig``, ``RewardConfig`` and ``GRPOConfig`` plus inkforge's fields.

Each stage's config is one flat dataclass, so one YAML file holds everything about a run (TRL's
and transformers' training arguments side by side with the model, data, prompt, LoRA, reward and
monitor settings below) and any field can be overridden on the command line::

    inkforge train grpo --config inkforge/training/configs/smoke_grpo.yaml --learning_rate 1e-4

Parsing goes through :class:`trl.TrlParser`: YAML values become defaults, command-line flags win,
an ``env:`` mapping in the YAML sets environment variables, and unknown keys are errors. Fields
holding lists of mappings (``rewards``, ``guards``) accept YAML lists or, on the command line, JSON.

Example:
    >>> from inkforge.training.config import GRPOTrainingConfig, parse_config
    >>> cfg = parse_config(GRPOTrainingConfig, ["--config", "smoke_grpo.yaml", "--max_steps", "2"])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from trl import GRPOConfig, RewardConfig, SFTConfig

from inkforge.core.errors import ConfigError

__all__ = [
    "CONFIG_DIR",
    "GRPOTrainingConfig",
    "InkforgeFields",
    "RewardTrainingConfig",
    "SFTTrainingConfig",
    "load_config",
    "parse_config",
]

#: Bundled YAML configs (paper setups and smoke tests).
CONFIG_DIR = Path(__file__).parent / "configs"

ConfigT = TypeVar("ConfigT", bound="InkforgeFields")


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

    def _check_inkforge_fields(self) -> None:
        if not self.model_name_or_path:
            raise ConfigError("required (a hub id or a local folder)", field="model_name_or_path")
        if not self.train_file:
            raise ConfigError("required (a data file)", field="train_file")
        if not 0.0 <= self.eval_split_ratio < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.eval_split_ratio}", field="eval_split_ratio")
        valid = {"auto", "jsonl", "json", "alpaca", "sharegpt", "verl", "txt"}
        if self.data_format not in valid:
            raise ConfigError(f"must be one of {sorted(valid)}, got {self.data_format!r}", field="data_format")

    @property
    def model_path(self) -> str:
        """``model_name_or_path``, checked to be set."""
        if not self.model_name_or_path:
            raise ConfigError("required (a hub id or a local folder)", field="model_name_or_path")
        return self.model_name_or_path

    @property
    def train_path(self) -> str:
        """``train_file``, checked to be set."""
        if not self.train_file:
            raise ConfigError("required (a data file)", field="train_file")
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
    """

    rewards: list[dict] | str | None = field(
        default=None, metadata=_help("Reward specs: YAML list, or JSON on the command line.")
    )
    guards: list[dict] | str | None = field(default=None, metadata=_help("Guard specs: YAML list or JSON."))
    guard_mode: str | None = field(default=None, metadata=_help("How triggered guards change rewards."))
    max_prompt_length: int | None = field(default=256, metadata=_help("Drop prompts longer than this (tokens)."))
    monitor_every_steps: int = field(default=0, metadata=_help("Reward-hacking monitor period (0: off)."))
    monitor_probe_file: str | None = field(default=None, metadata=_help("Probe prompts for the monitor."))
    monitor_num_probes: int = field(default=16, metadata=_help("Probe set size."))
    monitor_max_new_tokens: int = field(default=64, metadata=_help("Probe generation budget."))
    monitor_max_length_growth: float | None = field(default=None, metadata=_help("Stop on length growth > x."))
    monitor_min_distinct2: float | None = field(default=None, metadata=_help("Stop on distinct-2 < x."))
    monitor_max_guard_rate: float | None = field(default=None, metadata=_help("Stop on guard rate > x."))

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

    @property
    def reward_specs(self) -> list[dict[str, Any]]:
        """``rewards`` after normalisation (a list of mappings)."""
        return _json_list(self.rewards, "rewards")

    @property
    def guard_specs(self) -> list[dict[str, Any]]:
        """``guards`` after normalisation (a list of mappings)."""
        return _json_list(self.guards, "guards")


def parse_config(config_cls: type[ConfigT], args: Sequence[str] | None = None) -> ConfigT:
    """Parse ``--config YAML`` plus command-line overrides into a config dataclass.

    Args:
        config_cls: :class:`SFTTrainingConfig`, :class:`RewardTrainingConfig` or :class:`GRPOTrainingConfig`.
        args: Command-line arguments (``["--config", "x.yaml", "--max_steps", "5"]``); defaults to
            ``sys.argv[1:]``.

    Returns:
        The config.

    Raises:
        ConfigError: An unknown key, a bad value, or a missing required field.

    Example:
        >>> cfg = parse_config(SFTTrainingConfig, ["--config", "smoke_sft.yaml", "--max_steps", "1"])  # doctest: +SKIP
    """
    from trl import TrlParser

    args = list(args) if args is not None else None
    if args is not None and "--config" in args:
        index = args.index("--config")
        if index + 1 >= len(args):
            raise ConfigError("--config needs a YAML path")
        config_path = args[index + 1]
        if not Path(config_path).is_file():
            # Bundled configs can be named without their folder: --config smoke_grpo.yaml
            bundled = CONFIG_DIR / config_path
            if bundled.is_file():
                args[index + 1] = str(bundled)
            else:
                raise ConfigError("no such config file", file=config_path)
    parser = TrlParser([config_cls])  # type: ignore[list-item]
    try:
        (config,) = parser.parse_args_and_config(args)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from exc
    except SystemExit as exc:  # argparse exits on bad flags; say which instead of exiting
        raise ConfigError(f"invalid command-line arguments: {args}") from exc
    return config


def load_config(
    config_cls: type[ConfigT], path: str | os.PathLike[str] | None = None, **overrides: Any
) -> ConfigT:
    """Build a config from a YAML file and Python overrides, without going through argparse.

    Args:
        config_cls: The config dataclass.
        path: YAML file (a bundled config's file name also works), or ``None``.
        **overrides: Field values that replace the YAML's.

    Returns:
        The config.

    Raises:
        ConfigError: An unknown key in the YAML or the overrides.

    Example:
        >>> cfg = load_config(GRPOTrainingConfig, "smoke_grpo.yaml", model_name_or_path="runs/tiny")  # doctest: +SKIP
    """
    import yaml

    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file() and (CONFIG_DIR / path).is_file():
            path = CONFIG_DIR / path
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError("expected a YAML mapping", file=str(path))
        for key, value in (loaded.pop("env", None) or {}).items():
            os.environ[str(key)] = str(value)
        values.update(loaded)
    values.update(overrides)
    known = {f.name for f in fields(config_cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}", file=str(path) if path else None)
    return config_cls(**values)
