"""bench/gpu_smoke.py refuses cleanly without a GPU or vLLM; its config parses and asks for the GPU path."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from inkforge.training.config import CONFIG_DIR, GRPOTrainingConfig, parse_config

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "bench" / "gpu_smoke.py"


def _load() -> object:
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_refuses_with_one_line_without_a_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    module = _load()
    reason = module.missing_requirement()  # type: ignore[attr-defined]
    if reason is None:
        pytest.skip("this machine has a GPU and vLLM")
    assert module.main([]) == 2  # type: ignore[attr-defined]
    err = capsys.readouterr().err.strip()
    assert err.startswith("gpu smoke test not run:") and "\n" not in err and reason in err


@pytest.mark.slow
def test_refuses_as_a_subprocess_without_a_traceback() -> None:
    if _load().missing_requirement() is None:  # type: ignore[attr-defined]
        pytest.skip("this machine has a GPU and vLLM")
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2 and "Traceback" not in done.stderr and "needs one CUDA GPU" in done.stderr


def test_gpu_smoke_config_parses_with_vllm_colocate_bf16_and_the_judge(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # bf16 is refused on a CPU-only machine by transformers; everything else comes from the file.
    cfg = parse_config(GRPOTrainingConfig, ["--config", str(CONFIG_DIR / "gpu_smoke_grpo.yaml"), "--bf16", "false"])
    assert cfg.use_vllm and cfg.vllm_mode == "colocate"
    assert [s["type"] for s in cfg.reward_specs] == ["judge", "rule"] and cfg.reward_mask_policy == "row"
    raw = (CONFIG_DIR / "gpu_smoke_grpo.yaml").read_text(encoding="utf-8")
    assert "bf16: true" in raw
