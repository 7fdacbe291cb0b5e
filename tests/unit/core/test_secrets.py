"""inkforge.core.secrets: API keys and bearer tokens never survive into a recorded message."""

from __future__ import annotations

import pytest

from inkforge.core.secrets import REDACTED, redact, register_secret, register_secret_env, secret_values

KEY = "sk-live-0123456789abcdefXYZ"


def test_values_of_key_named_variables_are_removed() -> None:
    env = {"DEEPSEEK_API_KEY": KEY, "HF_TOKEN": "hf_abcdefghijklmnopqrstuvwx", "HOME": "/home/someone-long"}
    text = f"401 from gateway: key {KEY} rejected; token hf_abcdefghijklmnopqrstuvwx; home /home/someone-long"
    out = redact(text, environ=env)
    assert KEY not in out and "hf_abcdefghijklmnopqrstuvwx" not in out
    assert "/home/someone-long" in out  # not a key variable


def test_a_spec_api_key_env_with_any_name_is_removed() -> None:
    env = {"MY_GATEWAY": "plain-value-without-shape-42"}
    assert redact("echo plain-value-without-shape-42", environ=env) == "echo plain-value-without-shape-42"
    assert redact("echo plain-value-without-shape-42", env_names=["MY_GATEWAY"], environ=env) == f"echo {REDACTED}"


def test_registered_names_and_values_are_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKFORGE_TEST_GATE", "registered-secret-0099")
    register_secret_env("INKFORGE_TEST_GATE")
    register_secret("literal-secret-7777", "short")
    assert redact("a registered-secret-0099 b literal-secret-7777 c short") == f"a {REDACTED} b {REDACTED} c short"
    assert "registered-secret-0099" in secret_values()


@pytest.mark.parametrize(("text", "kept"), [
    ("Authorization: Bearer abc.DEF-123_456", "Authorization: "),
    ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "'),
    ("curl -H 'Bearer tok_0123456789'", "curl -H 'Bearer "),
    ("GET /v1/models?api_key=abcdef123456&x=1", "GET /v1/models?api_key="),
    ("x-api-key: 0123456789abcdef", "x-api-key: "),
    ("key sk-proj-abcdefghijklmnopqrstu end", "key "),
])
def test_credential_shapes_are_removed_whatever_their_origin(text: str, kept: str) -> None:
    out = redact(text, environ={})
    assert out.startswith(kept) and REDACTED in out
    assert not any(tok in out for tok in ("abc.DEF", "dXNlcjpwYXNz", "tok_0123", "abcdef123456", "0123456789abcdef",
                                          "sk-proj"))


def test_placeholders_and_plain_messages_are_untouched() -> None:
    env = {"OPENAI_API_KEY": "EMPTY", "VLLM_TOKEN": "none"}
    msg = "Connection refused: EMPTY none; retry in 2 s"
    assert redact(msg, environ=env) == msg
    assert redact("", environ=env) == ""
