"""Model access: a model spec (YAML or CLI) becomes a LangChain chat model.

Two providers:

* ``openai`` — any OpenAI-compatible endpoint through :class:`langchain_openai.ChatOpenAI`
  (OpenAI, DeepSeek, ``vllm serve``, SGLang, Ollama). The file names the *environment variable*
  holding the API key, never the key.
* ``local`` — the embedded default: an in-process chat model through langchain-huggingface and
  transformers, from a hub id or a local folder, so the main job runs without an API key.

One YAML file configures per-role models (writer, critics, judge, reflector, optimiser...); every
role inherits the ``default`` entry and overrides what it names::

    task: greeting
    concurrency: 32
    models:
      default: {provider: openai, model: deepseek-chat, base_url: https://api.deepseek.com/v1,
                api_key_env: DEEPSEEK_API_KEY}
      judge: {model: deepseek-reasoner, temperature: 0.0}

Precedence, lowest first: built-in defaults < environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
``INKFORGE_MODEL``) < the YAML file < command-line flags (``--base-url``, ``--model``,
``--concurrency``).

Example:
    >>> cfg = load_config(base_url="http://127.0.0.1:8000/v1", model="stub")
    >>> cfg.spec_for("judge").provider
    'openai'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inkforge.core.errors import ConfigError

log = logging.getLogger(__name__)

#: Hub id of the embedded default model: small, instruct-tuned and Chinese-capable.
DEFAULT_LOCAL_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

#: Roles the shipped graphs ask for. Custom agents may use any other role name.
ROLES = ("writer", "positive_critic", "negative_critic", "judge", "reflector", "generator",
         "detector", "error_reflector", "optimizer")

StructuredMethod = Literal["json_schema", "json_mode", "function_calling", "prompt"]


class ModelSpec(BaseModel):
    """How to reach one chat model.

    Attributes:
        provider: ``openai`` (any OpenAI-compatible endpoint) or ``local`` (in-process transformers).
        model: Endpoint model name, or hub id / local folder for ``local``.
        base_url: Endpoint URL (``openai`` only); ``None`` means the OpenAI API.
        api_key_env: Name of the environment variable that holds the API key. The key itself never
            appears in files, logs, caches or outputs.
        temperature: Sampling temperature.
        max_tokens: Completion token limit.
        timeout: Seconds per request before it counts as a timeout.
        max_retries: Transport retries (429, 5xx, timeouts) with jittered exponential backoff, done by
            the OpenAI client.
        structured_output: Methods to obtain typed output, tried in order: when the endpoint rejects
            one (e.g. no ``json_schema`` support) the next is used.
        max_reasks: How many times a schema-invalid answer is re-asked (with the validation error)
            before the item becomes an explicit ``parse_error`` failure.
        constrained_decoding: ``local`` only: constrain generation to the output JSON schema with
            lm-format-enforcer, so that small models still emit valid JSON.
        transport: ``openai`` only. ``langchain`` (default) calls through ``ChatOpenAI`` and the OpenAI
            SDK, with LangChain callbacks and tracing. ``direct`` uses
            :class:`inkforge.llm.transport.direct.DirectChatModel`, the same protocol and retry rules on plain
            asyncio connections at about a twentieth of the client CPU per call: on a small machine
            driving 64+ concurrent calls, the SDK path is CPU-bound before the endpoint is.
        input_cost_per_mtok: Price per million input tokens, for cost accounting.
        output_cost_per_mtok: Price per million output tokens.
        extra: Extra keyword arguments for the chat model class (``top_p``, ``seed``...).

    Example:
        >>> ModelSpec(model="gpt-4o-mini", temperature=0).structured_output
        ('json_schema', 'json_mode', 'prompt')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["openai", "local"] = "openai"
    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=512, gt=0)
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    structured_output: tuple[StructuredMethod, ...] = ("json_schema", "json_mode", "prompt")
    max_reasks: int = Field(default=2, ge=0)
    constrained_decoding: bool = False
    transport: Literal["langchain", "direct"] = "langchain"
    input_cost_per_mtok: float = Field(default=0.0, ge=0)
    output_cost_per_mtok: float = Field(default=0.0, ge=0)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("structured_output", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("api_key_env")
    @classmethod
    def _not_a_key(cls, v: str) -> str:
        # People paste keys where the variable's *name* belongs; refuse rather than store it.
        if v.startswith(("sk-", "sk_")) or len(v) > 64:
            raise ValueError("must be the NAME of an environment variable, not the key itself")
        return v

    def identity(self) -> dict[str, Any]:
        """What makes an answer reproducible: used in cache keys and provenance (no secrets)."""
        return {"provider": self.provider, "model": self.model, "base_url": self.base_url,
                "temperature": self.temperature, "max_tokens": self.max_tokens,
                "extra": dict(sorted(self.extra.items()))}


class InkforgeConfig(BaseModel):
    """A run's configuration: task, per-role models, concurrency and cache.

    Attributes:
        task: Task name (see :mod:`inkforge.core.tasks`).
        models: ``default`` plus per-role overrides, already merged over ``default``.
        concurrency: One limit on in-flight model calls shared by all agents of a run.
        cache: SQLite response cache path, or ``None`` to disable caching.
        agents: Graph slot → agent to use there: a registered name or ``"module:ATTR"`` import path
            (e.g. ``{"negative_critic": "mylab.agents:STRICT_CRITIC"}``).
        plugins: Modules imported before the run, where custom agents register themselves.
        refinement: Settings of the judge refinement (``RefinementConfig`` fields), so one YAML serves
            every command. Kept as the raw mapping: this floor cannot know the graphs' settings model.
            It is validated in one place, :func:`inkforge.graphs.refinement.load_refinement_config`,
            when ``refine-judge`` (or a Python caller) reads it, with errors naming this file and field.
        source: The file this came from, for error messages.

    Example:
        >>> InkforgeConfig(models={"default": ModelSpec(model="m")}).spec_for("critic").model
        'm'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = "greeting"
    models: dict[str, ModelSpec]
    concurrency: int = Field(default=16, ge=1, le=4096)
    cache: str | None = ".cache/inkforge/responses.sqlite"
    agents: dict[str, str] = Field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    refinement: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None

    @field_validator("models")
    @classmethod
    def _has_default(cls, v: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        if "default" not in v:
            raise ValueError("needs a 'default' entry")
        return v

    def spec_for(self, role: str) -> ModelSpec:
        """The model spec of ``role``, falling back to ``default``."""
        return self.models.get(role, self.models["default"])


def _env_default_spec() -> dict[str, Any]:
    base_url = os.environ.get("OPENAI_BASE_URL")
    if base_url:
        return {"provider": "openai", "base_url": base_url,
                "model": os.environ.get("INKFORGE_OPENAI_MODEL", "gpt-4o-mini")}
    # No endpoint configured: the embedded local model, so the main job runs without a key.
    import importlib.util

    # Small local models need schema-constrained decoding to emit valid JSON; use it when installed.
    constrained = importlib.util.find_spec("lmformatenforcer") is not None
    return {"provider": "local", "model": os.environ.get("INKFORGE_MODEL", DEFAULT_LOCAL_MODEL),
            "structured_output": ["prompt"], "max_tokens": 256, "constrained_decoding": constrained}


def _yaml_line(path: Path, text: str, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the YAML node at ``loc``, for error messages; ``None`` if not found."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == str(key):
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


def load_config(path: str | os.PathLike[str] | None = None, *, base_url: str | None = None,
                model: str | None = None, concurrency: int | None = None,
                overrides: Mapping[str, Any] | None = None) -> InkforgeConfig:
    """Build a run configuration from defaults, environment, an optional YAML file and CLI flags.

    Args:
        path: YAML file (see the module docstring for its shape).
        base_url: ``--base-url``: use this OpenAI-compatible endpoint for every role.
        model: ``--model``: model name for every role (hub id or folder for ``local``).
        concurrency: ``--concurrency``: shared in-flight limit.
        overrides: Top-level keys to override (``{"cache": None}``...).

    Raises:
        ConfigError: Missing or malformed file, or a field that does not validate; the message names
            the file, the line and the field.

    Example:
        >>> load_config(model="Qwen/Qwen2.5-1.5B-Instruct").spec_for("writer").provider in {"local", "openai"}
        True
    """
    raw: dict[str, Any] = {}
    text = ""
    src = None
    if path is not None:
        p = Path(path)
        src = str(p)
        if not p.is_file():
            raise ConfigError("config file not found", file=src)
        try:
            text = p.read_text(encoding="utf-8")
            raw = yaml.safe_load(text) or {}
        except UnicodeDecodeError as e:
            raise ConfigError(f"not UTF-8 ({e.reason})", file=src) from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise ConfigError(f"invalid YAML: {getattr(e, 'problem', e)}", file=src,
                              line=mark.line + 1 if mark else None) from None
        if not isinstance(raw, dict):
            raise ConfigError("top level must be a mapping", file=src, line=1)

    models_raw = raw.get("models") or {}
    if not isinstance(models_raw, dict):
        raise ConfigError("must be a mapping of role -> model spec", file=src,
                          line=_yaml_line(Path(src or "."), text, ("models",)), field="models")
    env = _env_default_spec()
    if base_url:
        # --base-url means "use this endpoint", whatever the environment says.
        env = {"provider": "openai", "base_url": base_url, "model": "default"}
    default = {**env, **(models_raw.get("default") or {})}
    if base_url:
        default.update(provider="openai", base_url=base_url)
    if model:
        default["model"] = model
    merged: dict[str, Any] = {"default": default}
    for role, spec in models_raw.items():
        if role == "default":
            continue
        if not isinstance(spec, dict):
            raise ConfigError("must be a mapping", file=src, field=f"models.{role}",
                              line=_yaml_line(Path(src or "."), text, ("models", role)))
        role_spec = {**default, **spec}
        # A CLI --base-url/--model aims *every* role at that endpoint: the common case is one server.
        if base_url:
            role_spec.update(provider="openai", base_url=base_url)
        if model:
            role_spec["model"] = model
        merged[role] = role_spec

    data = {k: v for k, v in raw.items() if k != "models"}
    data["models"] = merged
    if concurrency is not None:
        data["concurrency"] = concurrency
    if overrides:
        data.update(overrides)
    data["source"] = src
    try:
        return InkforgeConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        raise ConfigError(err["msg"], file=src or "<flags>", field=".".join(map(str, loc)),
                          line=_yaml_line(Path(src or "."), text, loc) if text else None) from None
