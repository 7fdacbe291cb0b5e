"""Model access: a model spec (YAML or CLI) becomes a LangChain chat model.

Two providers:

* ``openai`` — any OpenAI-compatible endpoint (OpenAI, DeepSeek, ``vllm serve``, SGLang, Ollama)
  through inkforge's ``httpx`` chat model (``transport: http``, the default) or
  :class:`langchain_openai.ChatOpenAI` (``transport: langchain``). The file names the *environment variable*
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

Precedence, for every field, lowest first: built-in defaults < environment (``OPENAI_BASE_URL``,
``INKFORGE_OPENAI_MODEL``, ``INKFORGE_MODEL``) < the YAML file (a role's entry over ``default``) <
command-line flags (``--base-url``, ``--model``, ``--concurrency``). The provider of an entry is the
one it names; an entry with a ``base_url`` and no ``provider`` is an endpoint (``openai``); an entry
naming neither takes ``openai`` when ``OPENAI_BASE_URL`` is set and the embedded ``local`` model
otherwise. The provider's own defaults (:func:`provider_defaults`) fill what is still unset, after
the merge, from the final provider only. ``docs/reference/config.md`` has the table.

Example:
    >>> cfg = load_config(base_url="http://127.0.0.1:8000/v1", model="stub")
    >>> cfg.spec_for("judge").provider
    'openai'
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from inkforge.core.errors import ConfigError
from inkforge.core.yamlio import read_yaml_mapping, yaml_line
from inkforge.llm.failwatch import FailFastSettings

log = logging.getLogger(__name__)

#: Hub id of the embedded default model: small, instruct-tuned and Chinese-capable.
DEFAULT_LOCAL_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

#: Endpoint model name when neither the file, ``--model`` nor ``INKFORGE_OPENAI_MODEL`` names one.
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"

#: Roles the shipped graphs ask for. Custom agents may use any other role name.
ROLES = ("writer", "positive_critic", "negative_critic", "judge", "reflector", "generator",
         "detector", "error_reflector", "optimizer")

StructuredMethod = Literal["json_schema", "json_mode", "function_calling", "prompt"]
Provider = Literal["openai", "local"]

#: Fields that mean the same for both providers: a role naming another provider than ``default`` (or
#: ``--base-url`` over a local entry) inherits only these. The others describe one provider's
#: endpoint or decoding and would be wrong, or silently ignored, on the other.
NEUTRAL_FIELDS = frozenset({"temperature", "max_tokens", "timeout", "max_retries", "max_reasks", "extra"})


@functools.cache
def _constrained_available() -> bool:
    return importlib.util.find_spec("lmformatenforcer") is not None


def provider_defaults(provider: Provider) -> dict[str, Any]:
    """The defaults a provider gives the fields a spec leaves unset.

    ``local``: the ``prompt`` method (an in-process model has no ``response_format``), schema-
    constrained decoding wherever lm-format-enforcer is installed (small models need it to emit valid
    JSON), and 256 completion tokens (CPU generation is slow). ``openai``: ``json_schema`` →
    ``json_mode`` → ``prompt``, no constrained decoding (a server-side feature), 512 tokens.

    Example:
        >>> provider_defaults("openai")
        {'structured_output': ('json_schema', 'json_mode', 'prompt'), 'max_tokens': 512, 'constrained_decoding': False}
        >>> provider_defaults("local")["structured_output"]
        ('prompt',)
    """
    if provider == "local":
        return {"structured_output": ("prompt",), "max_tokens": 256,
                "constrained_decoding": _constrained_available()}
    return {"structured_output": ("json_schema", "json_mode", "prompt"), "max_tokens": 512,
            "constrained_decoding": False}


class ModelSpec(BaseModel):
    """How to reach one chat model.

    Attributes:
        provider: ``openai`` (any OpenAI-compatible endpoint) or ``local`` (in-process transformers).
        model: Endpoint model name, or hub id / local folder for ``local``.
        base_url: Endpoint URL (``openai`` only; an error on a ``local`` spec); ``None`` means
            ``OPENAI_BASE_URL`` or else the OpenAI API.
        api_key_env: Name of the environment variable that holds the API key. The key itself never
            appears in files, logs, caches or outputs.
        temperature: Sampling temperature.
        max_tokens: Completion token limit (default by provider: 512 ``openai``, 256 ``local``).
        timeout: Seconds per request before it counts as a timeout.
        max_retries: Transport retries (408, 409, 429, 5xx, timeouts, dropped connections) with jittered
            exponential backoff or the server's ``Retry-After``, done by the transport.
        structured_output: Methods to obtain typed output, tried in order: when the endpoint rejects
            one (e.g. no ``json_schema`` support) the next is used. Default by provider:
            ``json_schema, json_mode, prompt`` for ``openai``, ``prompt`` for ``local``.
        max_reasks: How many times a schema-invalid answer is re-asked (with the validation error)
            before the item becomes an explicit ``parse_error`` failure.
        constrained_decoding: ``local`` only (an error on ``openai``): constrain generation to the
            output JSON schema with lm-format-enforcer, so that small models still emit valid JSON.
            Default: on for ``local`` wherever lm-format-enforcer is installed.
        transport: ``openai`` only. ``http`` (default) calls through
            :class:`inkforge.llm.transport.http.HttpChatModel`: chat completions on ``httpx`` as a
            LangChain chat model (callbacks and tracing see every call), at a fraction of the OpenAI
            SDK's client CPU per call. ``langchain`` calls through ``ChatOpenAI`` and the OpenAI SDK.
            ``direct`` is a deprecated alias of ``http``.
        input_cost_per_mtok: Price per million input tokens, for cost accounting.
        output_cost_per_mtok: Price per million output tokens.
        extra: Request-body parameters (``top_p``, ``seed``, ``stop``...; ``extra_body`` and
            ``model_kwargs`` are merged in, ``default_headers`` become headers). With ``transport:
            langchain`` they are keyword arguments of ``ChatOpenAI``.

    A spec is complete by itself: the fields it leaves unset take its provider's defaults
    (:func:`provider_defaults`), whatever another spec or the environment says.

    Example:
        >>> ModelSpec(model="gpt-4o-mini", temperature=0).structured_output
        ('json_schema', 'json_mode', 'prompt')
        >>> local = ModelSpec(provider="local", model="Qwen/Qwen2.5-0.5B-Instruct")
        >>> local.structured_output, local.max_tokens
        (('prompt',), 256)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider = "openai"
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
    transport: Literal["http", "langchain"] = "http"
    input_cost_per_mtok: float = Field(default=0.0, ge=0)
    output_cost_per_mtok: float = Field(default=0.0, ge=0)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, data: Any) -> Any:
        # The declared field defaults are openai's (the default provider); a local spec's unset fields
        # take local's. Applied here, on the final spec, so defaults never leak between providers.
        if isinstance(data, Mapping) and data.get("provider") == "local":
            return {**provider_defaults("local"), **data}
        return data

    @field_validator("structured_output", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("base_url")
    @classmethod
    def _endpoint_only(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.data.get("provider") == "local":
            raise ValueError("a local model runs in-process and never calls a URL: remove base_url, or set "
                             "provider: openai to call the endpoint")
        return v

    @field_validator("transport", mode="before")
    @classmethod
    def _openai_transport(cls, v: Any, info: ValidationInfo) -> Any:
        # ``http`` is the field's default, so a dumped local spec carries it: accepted, and unused.
        if v == "direct" and info.data.get("provider") == "local":
            raise ValueError(f"transport: {v} is an HTTP client for provider: openai")
        # ``direct`` named the former asyncio client: same protocol and rules, now on httpx.
        return "http" if v == "direct" else v

    @field_validator("constrained_decoding")
    @classmethod
    def _local_only(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("provider") == "openai":
            raise ValueError("constrained decoding runs inside a local model; an endpoint uses "
                             "structured_output (json_schema...) instead")
        return v

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
        fail_fast: The run-wide fail-fast watch (``window``, ``max_rate``) of every model-calling
            command; their ``--fail-window`` / ``--max-failure-rate`` flags win over it.
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
    fail_fast: FailFastSettings = Field(default_factory=FailFastSettings)
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


def _written_provider(entry: Mapping[str, Any]) -> Any:
    """The provider an entry names: its ``provider``, else ``openai`` when it has a ``base_url``."""
    if entry.get("provider"):
        return entry["provider"]
    return "openai" if entry.get("base_url") else None


def _complete(written: Mapping[str, Any], provider: Any, *, base_url: str | None, model: str | None) -> dict[str, Any]:
    """One entry after flags and environment: what the file wrote, then flags, then env for the gaps.

    The provider defaults are not applied here but by :class:`ModelSpec` itself, from the final provider.
    """
    spec = {k: v for k, v in written.items() if k != "provider"}
    if base_url:
        # --base-url aims every role at one endpoint (the common case: one server). Fields written for
        # a local model do not apply to it; the model name does (vllm serves a hub id under that name).
        if provider != "openai":
            spec = {k: v for k, v in spec.items() if k in NEUTRAL_FIELDS or k == "model"}
        provider = "openai"
        spec["base_url"] = base_url
    if model:
        spec["model"] = model
    if provider == "openai":
        spec.setdefault("base_url", os.environ.get("OPENAI_BASE_URL") or None)
        spec.setdefault("model", os.environ.get("INKFORGE_OPENAI_MODEL") or DEFAULT_OPENAI_MODEL)
    else:
        spec.setdefault("model", os.environ.get("INKFORGE_MODEL") or DEFAULT_LOCAL_MODEL)
    spec["provider"] = provider
    return spec


def resolve_models(models: Mapping[str, Any], *, base_url: str | None = None,
                   model: str | None = None) -> dict[str, dict[str, Any]]:
    """Merge the ``models:`` section with the environment and flags into one raw spec per role.

    Per field, lowest first: built-in defaults < environment < ``default`` < the role's entry <
    flags. The provider is decided first (``--base-url`` → ``openai``; else what the role's entry
    names, a ``base_url`` meaning ``openai``; else ``default``'s, decided the same way; else
    ``openai`` if ``OPENAI_BASE_URL`` is set; else ``local``). A role on the same provider as
    ``default`` inherits every field ``default`` wrote; on another provider only
    :data:`NEUTRAL_FIELDS`. ``OPENAI_BASE_URL`` and ``INKFORGE_OPENAI_MODEL`` then fill an
    ``openai`` spec's ``base_url`` and ``model`` if still unset, ``INKFORGE_MODEL`` a ``local`` spec's
    ``model``. The result validates as :class:`ModelSpec`, which applies :func:`provider_defaults`.

    Args:
        models: The YAML ``models:`` mapping (role → mapping), each entry already checked to be a mapping.
        base_url: ``--base-url``.
        model: ``--model``.

    Returns:
        Role → the keyword arguments of its :class:`ModelSpec` (``default`` always present).

    Example:
        >>> specs = resolve_models({"default": {"base_url": "http://127.0.0.1:8000/v1", "model": "m"},
        ...                         "writer": {"provider": "local", "model": "Qwen/Qwen2.5-0.5B-Instruct"}})
        >>> specs["default"]["provider"], specs["writer"]["provider"], "base_url" in specs["writer"]
        ('openai', 'local', False)
    """
    written_default = dict(models.get("default") or {})
    default_provider = _written_provider(written_default) or (
        "openai" if os.environ.get("OPENAI_BASE_URL") else "local")
    out = {"default": _complete(written_default, default_provider, base_url=base_url, model=model)}
    for role, entry in models.items():
        if role == "default":
            continue
        provider = _written_provider(entry) or default_provider
        inherited = written_default if provider == default_provider else {
            k: v for k, v in written_default.items() if k in NEUTRAL_FIELDS}
        out[str(role)] = _complete({**inherited, **entry}, provider, base_url=base_url, model=model)
    return out


def load_config(path: str | os.PathLike[str] | None = None, *, base_url: str | None = None,
                model: str | None = None, concurrency: int | None = None,
                overrides: Mapping[str, Any] | None = None) -> InkforgeConfig:
    """Build a run configuration from defaults, environment, an optional YAML file and CLI flags.

    See :func:`resolve_models` for how each role's spec is merged, field by field.

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
        >>> cfg = load_config(base_url="http://127.0.0.1:8000/v1", model="stub")
        >>> spec = cfg.spec_for("writer")
        >>> spec.provider, spec.structured_output[0], spec.max_tokens
        ('openai', 'json_schema', 512)
    """
    raw: dict[str, Any] = {}
    text = ""
    src = None
    if path is not None:
        src = str(Path(path))
        raw, text = read_yaml_mapping(path)

    def where(*loc: Any) -> int | None:
        return yaml_line(text, loc) if text else None

    models_raw = raw.get("models") or {}
    if not isinstance(models_raw, dict):
        raise ConfigError("must be a mapping of role -> model spec", file=src, line=where("models"),
                          field="models")
    for role, spec in models_raw.items():
        if not isinstance(spec, dict):
            raise ConfigError("must be a mapping", file=src, field=f"models.{role}", line=where("models", role))

    data = {k: v for k, v in raw.items() if k != "models"}
    data["models"] = resolve_models(models_raw, base_url=base_url, model=model)
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
                          line=where(*loc)) from None
