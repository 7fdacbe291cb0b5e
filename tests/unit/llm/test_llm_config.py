"""Model access: config loading, precedence, errors, per-role specs, the local backend, secrets."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from inkforge.agents import JUDGE, WRITER, JudgeVerdict
from inkforge.core.errors import ConfigError
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime, build_chat_model, load_config
from inkforge.llm.cache import ResponseCache
from inkforge.llm.parsing import ParseError, extract_json, parse_output
from inkforge.testing import StubServer


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_roles_inherit_default_and_override(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
task: greeting
concurrency: 7
models:
  default: {provider: openai, model: deepseek-chat, base_url: https://example.invalid/v1, api_key_env: DS_KEY}
  judge: {model: judge-model, temperature: 0.0}
"""))
    assert cfg.concurrency == 7
    assert cfg.spec_for("writer").model == "deepseek-chat"
    judge = cfg.spec_for("judge")
    assert (judge.model, judge.temperature, judge.api_key_env) == ("judge-model", 0.0, "DS_KEY")


def test_precedence_env_then_yaml_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1")
    assert load_config().spec_for("judge").base_url == "http://env.invalid/v1"
    path = write(tmp_path, "models:\n  default: {model: m, base_url: http://yaml.invalid/v1}\n")
    assert load_config(path).spec_for("judge").base_url == "http://yaml.invalid/v1"
    flags = load_config(path, base_url="http://flag.invalid/v1", model="flag-model", concurrency=3)
    assert (flags.spec_for("x").base_url, flags.spec_for("x").model, flags.concurrency) == (
        "http://flag.invalid/v1", "flag-model", 3)


def test_local_default_without_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("INKFORGE_MODEL", "/models/my-qwen")
    spec = load_config().spec_for("writer")
    assert (spec.provider, spec.model, spec.structured_output) == ("local", "/models/my-qwen", ("prompt",))


@pytest.mark.parametrize("text, line, field", [
    ("models:\n  default: {model: m}\n  judge:\n    temperature: hot\n", 4, "models.judge.temperature"),
    ("concurrency: 0\nmodels:\n  default: {model: m}\n", 1, "concurrency"),
    ("models:\n  default: {model: m, api_key_env: sk-live-123}\n", 2, "models.default.api_key_env"),
    ("models: [1, 2]\n", None, "models"),
])
def test_config_errors_name_file_line_field(tmp_path: Path, text: str, line: int | None, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.file == str(path) and e.value.field == field
    if line is not None:
        assert e.value.line == line
    assert str(path) in str(e.value)


def test_config_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {default: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML") as e:
        load_config(bad)
    assert e.value.line is not None
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("task: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(latin)


def test_openai_spec_builds_chat_openai_reading_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-abc")
    m = build_chat_model(ModelSpec(model="x", base_url="http://127.0.0.1:9/v1", api_key_env="MY_KEY",
                                   temperature=0.2, max_tokens=99, timeout=5, transport="langchain"))
    assert type(m).__name__ == "ChatOpenAI"
    assert m.openai_api_key.get_secret_value() == "sk-abc"
    assert "sk-abc" not in repr(m) and (m.temperature, m.max_tokens) == (0.2, 99)


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('好的！\n```json\n{"a": 2}\n```\n希望有帮助', {"a": 2}),
    ('<think>嗯 {"a": 0}</think> 结果：{"a": 3} 完毕', {"a": 3}),
    ('prefix [1, 2] suffix', [1, 2]),
])
def test_tolerant_json_extraction(text: str, expected: Any) -> None:
    assert extract_json(text) == expected


def test_parse_output_unwraps_and_reports_fields() -> None:
    assert parse_output('{"JudgeVerdict": {"reason": "r", "label": 1}}', JudgeVerdict).label == 1
    with pytest.raises(ParseError, match="label"):
        parse_output('{"reason": "r", "label": "maybe"}', JudgeVerdict)
    with pytest.raises(ParseError, match="no JSON"):
        parse_output("label: 1", JudgeVerdict)


def test_local_backend_on_tiny_model(tiny_model_dir: Path) -> None:
    """The embedded backend end to end: transformers pipeline → langchain-huggingface → typed output.

    The tiny model is random, so only schema-constrained decoding makes its answer valid JSON; without
    it the failure must be explicit.
    """
    base = dict(provider="local", model=str(tiny_model_dir), structured_output=["prompt"], max_tokens=96,
                temperature=0.0, max_reasks=0)
    for constrained in (True, False):
        rt = Runtime(InkforgeConfig(models={"default": ModelSpec(**base, constrained_decoding=constrained)},
                                    cache=None))
        res = JUDGE.bind(rt).invoke({"query": "q", "response": "r", "positive": "", "negative": ""})
        if constrained:
            assert res.ok, (res.error, res.raw)
            assert isinstance(res.output, JudgeVerdict) and res.input_tokens > 0 and res.output_tokens > 0
        else:
            assert res.status == "parse_error" and res.output is None and res.raw is not None


@pytest.mark.parametrize("transport", ["langchain", "http"])
def test_api_key_never_reaches_logs_cache_or_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture, transport: str) -> None:
    secret = "sk-inkforge-test-SECRET-0123456789"
    monkeypatch.setenv("INKFORGE_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with StubServer(require_api_key=secret) as server:
        cfg = InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=server.base_url,
                                                          api_key_env="INKFORGE_TEST_KEY", max_reasks=0,
                                                          transport=transport)},
                             cache=str(tmp_path / "cache.sqlite"))
        rt = Runtime(cfg)
        res = WRITER.bind(rt).invoke({"query": "祝福", "examples": []})
        assert res.ok, res.error  # the key was sent: the stub answers 401 otherwise
        # A wrong key gives an explicit failure whose record does not echo any key either.
        monkeypatch.setenv("INKFORGE_TEST_KEY", "sk-wrong-key-987654321")
        rt2 = Runtime(cfg.model_copy(update={"cache": None}))
        bad = WRITER.bind(rt2).invoke({"query": "另一个", "examples": []})
        assert bad.status == "error"
        rt.close()
    blobs = [caplog.text, str(res.to_record()), str(bad.to_record()), str(rt.usage.as_dict()),
             cfg.model_dump_json()]
    blobs += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.iterdir()]
    for blob in blobs:
        assert secret not in blob and "sk-wrong-key" not in blob


def test_runtime_builds_one_openai_client_per_event_loop() -> None:
    with StubServer() as server:
        rt = Runtime(load_config(base_url=server.base_url, model="stub", overrides={"cache": None}))
        w = WRITER.bind(rt)
        for _ in range(2):  # a second asyncio.run must not hit a closed shared client
            assert asyncio.run(w.ainvoke({"query": "q", "examples": []})).ok


def test_cache_file_roundtrip(tmp_path: Path) -> None:
    c = ResponseCache(tmp_path / "x.sqlite")
    c.put("k", {"a": 1}, raw="{}", agent="w")
    assert c.get("k")["output"] == {"a": 1} and c.get("nope") is None and len(c) == 1
    assert (c.hits, c.misses) == (1, 1)
