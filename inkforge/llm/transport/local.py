"""The embedded in-process model: transformers behind langchain-huggingface, with constrained decoding.

Per call, the chat model built here takes ``seed=N`` (``model.invoke(messages, seed=N)``, or a
``seed`` key in ``pipeline_kwargs``): sampling then draws from its own generator seeded with ``N``,
so the N candidates of a writer given N seeds are independent, reproducible samples. A prompt that
leaves no room for ``max_tokens`` in the model's context window raises :class:`ContextLengthError`
instead of generating past the positions the model was trained on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import Iterator
from typing import Any

from inkforge.core.errors import InputError
from inkforge.llm.config import ModelSpec

__all__ = ["ContextLengthError", "build_local_chat_model", "context_length", "json_schema_prefix_fn"]

_LOCAL_LOCK = threading.Lock()


class ContextLengthError(InputError):
    """A prompt plus its completion budget does not fit a local model's context window.

    Attributes:
        model: The model (hub id or folder).
        context_length: The model's context window, in tokens.
        prompt_tokens: The prompt's length, chat template included.
        max_new_tokens: The completion budget (``max_tokens``).

    Example:
        >>> print(ContextLengthError("tiny", context_length=1024, prompt_tokens=1100, max_new_tokens=96))
        prompt of 1100 tokens + max_tokens 96 exceeds the context window of local model 'tiny' (1024 tokens): shorten the input or lower max_tokens
    """

    def __init__(self, model: str, *, context_length: int, prompt_tokens: int, max_new_tokens: int) -> None:
        self.model = model
        self.context_length = context_length
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        super().__init__(f"prompt of {prompt_tokens} tokens + max_tokens {max_new_tokens} exceeds the context "
                         f"window of local model {model!r} ({context_length} tokens): shorten the input or "
                         "lower max_tokens")


def context_length(pipe: Any) -> int | None:
    """The context window of a transformers pipeline's model, in tokens (``None`` if it declares none)."""
    config = getattr(pipe.model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    # Tokenizers without a limit report a huge sentinel (int(1e30)): not a context window.
    limit = getattr(getattr(pipe, "tokenizer", None), "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**7 else None


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Sample from a generator seeded with ``seed``, leaving the process's global RNG as it was."""
    if seed is None:
        yield
        return
    import torch

    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


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
        """ChatHuggingFace with async support, per-call generation kwargs and a per-call ``seed``.

        langchain-huggingface refuses async calls on a pipeline; graphs are async, so generation runs
        in a worker thread. One lock serialises generation: a model instance is not safe to run from
        several threads, and the CPU is saturated by one generation anyway. The lock also makes a
        seeded call's random stream its own: no other generation draws from it meanwhile.
        """

        gen_kwargs: dict[str, Any] = {}

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
            extra = {**self.gen_kwargs, **dict(kwargs.pop("pipeline_kwargs", {}) or {})}
            # A seed is ours, not generate()'s: taken out of both places it may come from.
            bound_seed = extra.pop("seed", None)
            seed = kwargs.pop("seed", None)
            seed = bound_seed if seed is None else seed
            n_in = None
            if self.tokenizer is not None:
                n_in = len(self.tokenizer(self._to_chat_prompt(messages))["input_ids"])
                limit = context_length(self.llm.pipeline)
                budget = int(extra.get("max_new_tokens") or 0)
                if limit is not None and n_in + budget > limit:
                    raise ContextLengthError(str(self.model_id), context_length=limit, prompt_tokens=n_in,
                                             max_new_tokens=budget)
            with _LOCAL_LOCK, _seeded(seed):
                result = super()._generate(messages, stop=stop, run_manager=run_manager,
                                           pipeline_kwargs=extra, **kwargs)
            # Token accounting: the pipeline reports none, so count with the tokenizer.
            for gen in result.generations:
                msg = gen.message
                if isinstance(msg, AIMessage) and self.tokenizer is not None and n_in is not None:
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
