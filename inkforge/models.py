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

import asyncio
import functools
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inkforge.errors import ConfigError

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
            :class:`inkforge.transport.DirectChatModel`, the same protocol and retry rules on plain
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
        task: Task name (see :mod:`inkforge.tasks`).
        models: ``default`` plus per-role overrides, already merged over ``default``.
        concurrency: One limit on in-flight model calls shared by all agents of a run.
        cache: SQLite response cache path, or ``None`` to disable caching.
        agents: Graph slot → agent to use there: a registered name or ``"module:ATTR"`` import path
            (e.g. ``{"negative_critic": "mylab.agents:STRICT_CRITIC"}``).
        plugins: Modules imported before the run, where custom agents register themselves.
        refinement: Settings of the judge-refinement graph (see
            :class:`inkforge.graphs.judge_refinement.RefinementConfig`), so one YAML serves every command.
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


# ---------------------------------------------------------------------------------------------
# Chat model construction
# ---------------------------------------------------------------------------------------------


def build_chat_model(spec: ModelSpec, *, http_async_client: Any | None = None) -> Any:
    """Turn a spec into a LangChain chat model.

    Args:
        spec: The model spec.
        http_async_client: An ``httpx.AsyncClient`` for ``openai`` models. ChatOpenAI otherwise shares
            a cached client that breaks on a second event loop; :class:`inkforge.runtime.Runtime`
            passes one per loop.

    Returns:
        A :class:`langchain_core.language_models.BaseChatModel`.

    Example:
        >>> m = build_chat_model(ModelSpec(model="stub", base_url="http://127.0.0.1:9/v1"))
        >>> type(m).__name__
        'ChatOpenAI'
    """
    if spec.provider == "openai":
        return _build_openai(spec, http_async_client)
    return build_local_chat_model(spec)


def _build_openai(spec: ModelSpec, http_async_client: Any | None) -> Any:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    key = os.environ.get(spec.api_key_env)
    if not key:
        # Self-hosted servers (vLLM, SGLang, Ollama) accept any key; OpenAI answers 401, which then
        # surfaces per item. Say which variable was empty, never a value.
        log.info("environment variable %s is not set; sending a placeholder key", spec.api_key_env)
        key = "EMPTY"
    kwargs: dict[str, Any] = dict(
        model=spec.model, base_url=spec.base_url, api_key=SecretStr(key),
        temperature=spec.temperature, max_tokens=spec.max_tokens, timeout=spec.timeout,
        max_retries=spec.max_retries, stream_usage=False, **spec.extra,
    )
    if http_async_client is not None:
        kwargs["http_async_client"] = http_async_client
    return ChatOpenAI(**kwargs)


_LOCAL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_pipeline(model: str, max_new_tokens: int) -> Any:
    """Load weights once per process: every role sharing the embedded model shares its memory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    tok = AutoTokenizer.from_pretrained(model)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
    if torch.cuda.is_available():
        lm = lm.to("cuda")  # type: ignore[arg-type]
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return pipeline("text-generation", model=lm, tokenizer=tok,  # type: ignore[call-overload,arg-type]
                    max_new_tokens=max_new_tokens, return_full_text=False)


def build_local_chat_model(spec: ModelSpec) -> Any:
    """The embedded in-process chat model (transformers pipeline behind langchain-huggingface).

    The hub id or folder in ``spec.model`` loads with ``from_pretrained``; offline, point
    ``INKFORGE_MODEL`` at a local folder.

    Example:
        >>> m = build_local_chat_model(ModelSpec(provider="local", model="/models/qwen2.5-0.5b"))  # doctest: +SKIP
    """
    from langchain_huggingface import HuggingFacePipeline

    pipe = _load_pipeline(spec.model, spec.max_tokens or 256)
    gen_kwargs: dict[str, Any] = {"max_new_tokens": spec.max_tokens or 256}
    if spec.temperature > 0:
        gen_kwargs.update(do_sample=True, temperature=spec.temperature)
    else:
        gen_kwargs.update(do_sample=False)
    llm = HuggingFacePipeline(pipeline=pipe, model_id=spec.model, pipeline_kwargs=gen_kwargs)
    return _local_chat_class()(llm=llm, tokenizer=pipe.tokenizer, model_id=spec.model,
                               gen_kwargs=gen_kwargs)


@functools.cache
def _local_chat_class() -> type:
    from langchain_core.messages import AIMessage
    from langchain_huggingface import ChatHuggingFace

    class LocalChatModel(ChatHuggingFace):
        """ChatHuggingFace with async support and per-call generation kwargs.

        langchain-huggingface refuses async calls on a pipeline; graphs are async, so generation runs
        in a worker thread. One lock serialises generation: a model instance is not safe to run from
        several threads, and the CPU is saturated by one generation anyway.
        """

        gen_kwargs: dict[str, Any] = {}

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
            extra = dict(kwargs.pop("pipeline_kwargs", {}) or {})
            with _LOCAL_LOCK:
                result = super()._generate(messages, stop=stop, run_manager=run_manager,
                                           pipeline_kwargs={**self.gen_kwargs, **extra}, **kwargs)
            # Token accounting: the pipeline reports none, so count with the tokenizer.
            for gen in result.generations:
                msg = gen.message
                if isinstance(msg, AIMessage) and self.tokenizer is not None:
                    prompt = self._to_chat_prompt(messages)
                    n_in = len(self.tokenizer(prompt)["input_ids"])
                    n_out = len(self.tokenizer(str(msg.content))["input_ids"])
                    msg.usage_metadata = {"input_tokens": n_in, "output_tokens": n_out,
                                          "total_tokens": n_in + n_out}
            return result

        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
            return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)

    return LocalChatModel


def _bound_strings(schema: Any, limit: int) -> Any:
    """Copy of ``schema`` whose strings without ``maxLength``/``enum`` get ``maxLength=limit``."""
    if isinstance(schema, dict):
        out = {k: _bound_strings(v, limit) for k, v in schema.items()}
        if out.get("type") == "string" and "maxLength" not in out and "enum" not in out and "const" not in out:
            out["maxLength"] = limit
        return out
    if isinstance(schema, list):
        return [_bound_strings(v, limit) for v in schema]
    return schema


def json_schema_prefix_fn(model: Any, schema: dict[str, Any], max_tokens: int = 256) -> Any:
    """A ``prefix_allowed_tokens_fn`` that constrains a local model to ``schema`` (lm-format-enforcer).

    Unbounded strings get a length cap derived from ``max_tokens``: a small model may never close a
    string by itself, and a JSON object cut off by the token limit is a failure.

    Raises:
        ImportError: lm-format-enforcer is not installed (``pip install inkforge[constrained]``).
    """
    import sys

    import transformers
    from lmformatenforcer import JsonSchemaParser

    try:
        from transformers.tokenization_utils import PreTrainedTokenizerBase  # noqa: F401
    except ImportError:
        # transformers 5 moved PreTrainedTokenizerBase; lm-format-enforcer 0.11 still imports the old
        # module path, so alias it rather than lose constrained decoding.
        sys.modules["transformers.tokenization_utils"] = transformers.tokenization_utils_base
    from lmformatenforcer import CharacterLevelParserConfig
    from lmformatenforcer.integrations.transformers import build_transformers_prefix_allowed_tokens_fn

    # Small models love runs of whitespace inside JSON; cap them so answers end within max_tokens.
    n_str = max(1, json.dumps(schema).count('"string"'))
    # A CJK character can cost up to 3 byte-level tokens: budget 4 tokens per character.
    schema = _bound_strings(schema, max(8, max_tokens // (4 * n_str)))
    parser = JsonSchemaParser(schema, config=CharacterLevelParserConfig(max_consecutive_whitespaces=1))
    inner = build_transformers_prefix_allowed_tokens_fn(model.tokenizer, parser)
    tok = model.tokenizer
    # Two things derail lm-format-enforcer with small models: runs of whitespace tokens (its cap does
    # not hold between tokens) and byte-fallback tokens that decode to U+FFFD or control characters
    # (the parser loses track inside strings and lets EOS through). Layout whitespace carries no
    # content and a character split across byte tokens is rare in a greeting, so both are dropped
    # whenever the parser allows anything else.
    texts = [tok.decode([i]) for i in range(len(tok))]
    blank = {i for i, t in enumerate(texts) if not t.strip()}
    broken = {i for i, t in enumerate(texts) if "\ufffd" in t or any(ord(c) < 32 and c != "\n" for c in t)}

    def allowed(batch_id: int, input_ids: Any) -> list[int]:
        ids = inner(batch_id, input_ids)
        drop = broken | blank if len(input_ids) and int(input_ids[-1]) in blank else broken
        kept = [i for i in ids if i not in drop]
        return kept or ids

    return allowed
