"""The response cache creates its file on the first lookup, so a failed command leaves no .cache/ behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkforge.llm.cache import ResponseCache
from inkforge.llm.config import load_config
from inkforge.llm.runtime import Runtime


def test_cache_file_appears_only_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / ".cache" / "inkforge" / "responses.sqlite"
    cache = ResponseCache(path)
    assert len(cache) == 0 and not cache.opened
    assert not (tmp_path / ".cache").exists()
    assert cache.get("k") is None
    assert path.is_file() and cache.opened
    cache.put("k", {"label": 1}, raw="{}", agent="judge")
    cache.close()
    again = ResponseCache(path)
    assert again.get("k") == {"output": {"label": 1}, "raw": "{}", "usage": {}}
    assert len(again) == 1
    again.close()


def test_runtime_built_and_closed_without_calls_creates_no_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rt = Runtime(load_config(base_url="http://127.0.0.1:9/v1", model="stub"))
    assert rt.cache is not None
    rt.close()
    assert list(tmp_path.iterdir()) == []


def test_closed_cache_is_not_reopened(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        cache.get("k")
    assert not (tmp_path / "c.sqlite").exists()
