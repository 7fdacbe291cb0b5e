"""Shared fixtures. Tests never reach the network: fakes, the loopback stub server, tiny local models.

Layout: ``tests/unit/<package>/`` holds the fast tests of one package; ``tests/integration/`` the
end-to-end ones (training, CLI subprocesses, docs, notebooks, examples, the demo). ``make test-fast``
runs the unit tests that build no tiny model; every test that asks for ``tiny_model_dir`` is marked
``slow`` here, so the fast loop can never start training by accident.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO.parent / "shared" / "data" / "paper"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 chat model with a locally trained tokenizer (built once per session)."""
    from inkforge.testing import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def stub() -> Iterator[object]:
    """A running OpenAI-compatible stub server on 127.0.0.1 (no faults)."""
    from inkforge.testing import StubServer

    with StubServer() as server:
        yield server


@pytest.fixture(scope="session")
def paper_data() -> Path:
    """The paper's data folder, or skip: tests that read it are opt-in by its presence."""
    if not (PAPER / "human_labels_dev.jsonl").exists():
        pytest.skip("../shared/data/paper is not present")
    return PAPER


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    integration = Path(__file__).parent / "integration"
    for item in items:
        if Path(str(item.fspath)).is_relative_to(integration):
            item.add_marker(pytest.mark.integration)
        if "tiny_model_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
