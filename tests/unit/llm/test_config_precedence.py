"""One meaning per config: the precedence table of docs/reference/config.md, field by field.

Every combination of environment × YAML ``default`` × a role's entry × flags is resolved by
``load_config`` and compared with the table, read independently: built-in defaults < environment <
``default`` < the role's entry < flags; the provider decided first; provider defaults last, from the
final provider only.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

import inkforge.llm.config as llm_config
from inkforge.core.errors import ConfigError
from inkforge.llm import DEFAULT_LOCAL_MODEL, InkforgeConfig, ModelSpec, load_config
from inkforge.llm.config import DEFAULT_OPENAI_MODEL, provider_defaults

ENV_URL, ENV_OPENAI_MODEL, ENV_LOCAL_MODEL = "http://env.invalid/v1", "env-openai-model", "/env/local-model"
FLAG_URL, FLAG_MODEL = "http://flag.invalid/v1", "flag-model"

ENVS: dict[str, dict[str, str]] = {
    "no-env": {},
    "local-env": {"INKFORGE_MODEL": ENV_LOCAL_MODEL},
    "endpoint-env": {"OPENAI_BASE_URL": ENV_URL, "INKFORGE_OPENAI_MODEL": ENV_OPENAI_MODEL,
                     "INKFORGE_MODEL": ENV_LOCAL_MODEL},
}
DEFAULTS: dict[str, dict[str, Any] | None] = {
    "absent": None,
    "openai": {"provider": "openai", "model": "yaml-openai", "temperature": 0.1, "api_key_env": "YAML_KEY"},
    "local": {"provider": "local", "model": "yaml-local", "temperature": 0.1, "structured_output": ["prompt"]},
    "base-url-only": {"base_url": "http://yaml.invalid/v1", "temperature": 0.1},
    "model-only": {"model": "yaml-model", "temperature": 0.1, "max_tokens": 64},
}
ROLES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "tweak": {"temperature": 0.0, "max_tokens": 99},
    "to-local": {"provider": "local"},
    "to-endpoint": {"base_url": "http://role.invalid/v1", "model": "role-model"},
}
FLAGS: dict[str, dict[str, str]] = {
    "no-flags": {},
    "model": {"model": FLAG_MODEL},
    "base-url": {"base_url": FLAG_URL},
    "both": {"base_url": FLAG_URL, "model": FLAG_MODEL},
}
NEUTRAL = {"temperature", "max_tokens", "timeout", "max_retries", "max_reasks", "extra"}


def _named_provider(entry: dict[str, Any]) -> str | None:
    return entry.get("provider") or ("openai" if entry.get("base_url") else None)


def expected(env: dict[str, str], default: dict[str, Any], role: dict[str, Any],
             flags: dict[str, str]) -> dict[str, Any]:
    """The judge's spec according to the documented table."""
    d_provider = _named_provider(default) or ("openai" if "OPENAI_BASE_URL" in env else "local")
    provider = _named_provider(role) or d_provider                 # before flags
    same = provider == d_provider
    # What the file says for this role: its own entry, then default (all fields on the same provider,
    # the provider-neutral ones otherwise).
    written = {**{k: v for k, v in default.items() if same or k in NEUTRAL}, **role}
    final = "openai" if flags.get("base_url") else provider
    switched = final != provider                                   # --base-url over a local entry
    if switched:
        written = {k: v for k, v in written.items() if k in NEUTRAL or k == "model"}
    builtin = provider_defaults(final)  # type: ignore[arg-type]
    model = flags.get("model") or written.get("model") or (
        (env.get("INKFORGE_OPENAI_MODEL") or DEFAULT_OPENAI_MODEL) if final == "openai"
        else (env.get("INKFORGE_MODEL") or DEFAULT_LOCAL_MODEL))
    base_url = None if final == "local" else (
        flags.get("base_url") or written.get("base_url") or env.get("OPENAI_BASE_URL"))
    return {
        "provider": final,
        "model": model,
        "base_url": base_url,
        "api_key_env": written.get("api_key_env", "OPENAI_API_KEY"),
        "temperature": written.get("temperature", 0.7),
        "max_tokens": written.get("max_tokens", builtin["max_tokens"]),
        "structured_output": tuple(written.get("structured_output", builtin["structured_output"])),
        "constrained_decoding": builtin["constrained_decoding"],
    }


CASES = list(itertools.product(ENVS, DEFAULTS, ROLES, FLAGS))


@pytest.mark.parametrize("env_name, default_name, role_name, flags_name", CASES,
                         ids=["/".join(c) for c in CASES])
def test_every_field_follows_the_precedence_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_name: str,
                                                   default_name: str, role_name: str, flags_name: str) -> None:
    for var in ("OPENAI_BASE_URL", "INKFORGE_OPENAI_MODEL", "INKFORGE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    env = ENVS[env_name]
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    default, role, flags = DEFAULTS[default_name], ROLES[role_name], FLAGS[flags_name]
    models: dict[str, Any] = {}
    if default is not None:
        models["default"] = default
    if role is not None:
        models["judge"] = role
    path = None
    if models:
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump({"models": models}), encoding="utf-8")
    cfg = load_config(path, **flags)
    spec = cfg.spec_for("judge")
    want = expected(env, default or {}, role or {}, flags)
    got = {k: getattr(spec, k) for k in want}
    assert got == want
    # A role without an entry is `default` exactly.
    assert cfg.spec_for("reflector") == cfg.models["default"]


def test_table_cases_cover_the_headline_situations() -> None:
    """A few rows of the table spelled out, so a mistake in the oracle above cannot hide one."""
    env: dict[str, str] = {}
    endpoint = expected(env, DEFAULTS["base-url-only"] or {}, {}, {})
    assert (endpoint["provider"], endpoint["structured_output"][0], endpoint["max_tokens"]) == (
        "openai", "json_schema", 512)
    local_role = expected(env, DEFAULTS["openai"] or {}, {"provider": "local"}, {})
    assert (local_role["model"], local_role["base_url"], local_role["temperature"]) == (
        DEFAULT_LOCAL_MODEL, None, 0.1)


# -- the cases the issue names, spelled out --------------------------------------------------------


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "INKFORGE_OPENAI_MODEL", "INKFORGE_MODEL"):
        monkeypatch.delenv(var, raising=False)


def _load(tmp_path: Path, models: dict[str, Any], **flags: Any) -> InkforgeConfig:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"models": models}), encoding="utf-8")
    return load_config(path, **flags)


def test_yaml_endpoint_spec_sends_json_schema_without_environment(tmp_path: Path, no_env: None) -> None:
    spec = _load(tmp_path, {"default": {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}}).spec_for("writer")
    assert spec.provider == "openai" and spec.base_url == "http://127.0.0.1:8000/v1"
    assert spec.structured_output == ("json_schema", "json_mode", "prompt")
    assert (spec.max_tokens, spec.constrained_decoding) == (512, False)


def test_openai_spec_never_inherits_local_defaults(tmp_path: Path, no_env: None) -> None:
    spec = _load(tmp_path, {"default": {"provider": "openai", "model": "gpt-4o-mini"}}).spec_for("judge")
    assert spec.structured_output[0] == "json_schema" and spec.max_tokens == 512
    assert not spec.constrained_decoding and spec.base_url is None


@pytest.mark.parametrize("installed", [True, False])
def test_local_role_in_yaml_gets_constrained_decoding_where_installed(
        tmp_path: Path, no_env: None, monkeypatch: pytest.MonkeyPatch, installed: bool) -> None:
    monkeypatch.setattr(llm_config, "_constrained_available", lambda: installed)
    cfg = _load(tmp_path, {"default": {"provider": "openai", "model": "x", "base_url": "http://e.invalid/v1"},
                           "writer": {"provider": "local", "model": "Qwen/Qwen2.5-0.5B-Instruct"}})
    writer = cfg.spec_for("writer")
    assert (writer.provider, writer.constrained_decoding, writer.structured_output, writer.max_tokens) == (
        "local", installed, ("prompt",), 256)
    assert writer.base_url is None  # the default's endpoint does not leak into the local role
    assert not cfg.spec_for("judge").constrained_decoding


def test_explicit_fields_beat_provider_defaults(tmp_path: Path, no_env: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_config, "_constrained_available", lambda: True)
    spec = _load(tmp_path, {"default": {"provider": "local", "model": "m", "max_tokens": 400,
                                        "constrained_decoding": False}}).spec_for("writer")
    assert (spec.max_tokens, spec.constrained_decoding) == (400, False)


def test_model_spec_is_complete_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_config, "_constrained_available", lambda: True)
    local = ModelSpec(provider="local", model="m")
    assert (local.structured_output, local.max_tokens, local.constrained_decoding) == (("prompt",), 256, True)
    remote = ModelSpec(model="m")
    assert (remote.provider, remote.structured_output[0], remote.max_tokens) == ("openai", "json_schema", 512)
    with pytest.raises(Exception, match="frozen"):
        local.max_tokens = 3  # type: ignore[misc]


@pytest.mark.parametrize("entry, field, message", [
    ({"provider": "local", "model": "m", "base_url": "http://e.invalid/v1"}, "base_url", "never calls a URL"),
    ({"provider": "openai", "model": "m", "constrained_decoding": True}, "constrained_decoding", "local model"),
    ({"provider": "local", "model": "m", "transport": "direct"}, "transport", "provider: openai"),
])
def test_contradictory_spec_is_a_located_error(tmp_path: Path, no_env: None, entry: dict[str, Any], field: str,
                                               message: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("task: greeting\nmodels:\n  judge:\n" + "".join(
        f"    {k}: {v}\n" for k, v in entry.items()), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as e:
        load_config(path)
    assert e.value.field == f"models.judge.{field}" and e.value.file == str(path)
    assert e.value.line == 4 + list(entry).index(field)


def test_flags_apply_to_every_role_and_keep_neutral_fields(tmp_path: Path, no_env: None) -> None:
    cfg = _load(tmp_path, {"default": {"provider": "local", "model": "Qwen/Qwen2.5-7B-Instruct", "temperature": 0.3,
                                       "constrained_decoding": True},
                           "judge": {"temperature": 0.0}}, base_url="http://flag.invalid/v1")
    for role in ("default", "judge", "writer"):
        spec = cfg.spec_for(role)
        assert (spec.provider, spec.base_url, spec.model) == ("openai", "http://flag.invalid/v1",
                                                              "Qwen/Qwen2.5-7B-Instruct")
        assert not spec.constrained_decoding and spec.structured_output[0] == "json_schema"
    assert (cfg.spec_for("writer").temperature, cfg.spec_for("judge").temperature) == (0.3, 0.0)
