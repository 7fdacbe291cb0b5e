"""The notebooks execute top to bottom against the offline doubles and show what they promise.

Each notebook runs in a fresh ``python3`` kernel (this interpreter's, whatever the PATH) in a
temporary directory, with no endpoint configured, so the scripted fake model plays every agent. The
executed copy must contain the graph drawing and the plots (``image/png`` outputs of the tagged
cells); the committed files must carry no outputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("notebooks")]


def _kernel_env(tmp_path: Path) -> dict[str, str]:
    """A kernelspec named python3 that runs *this* interpreter, and an environment without endpoints."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (inkforge tests)", "language": "python"}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "INKFORGE_MODEL", "INKFORGE_OPENAI_MODEL")}
    env.update(JUPYTER_PATH=str(tmp_path / "jupyter"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MPLBACKEND="module://matplotlib_inline.backend_inline", PYDEVD_DISABLE_FILE_VALIDATION="1",
               TOKENIZERS_PARALLELISM="false")
    return env


def execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import nbformat
    from nbclient import NotebookClient

    env = _kernel_env(tmp_path)
    for key in set(os.environ) - set(env):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=240, resources={"metadata": {"path": str(tmp_path)}})
    client.execute(cwd=str(tmp_path), env=env)
    return nb


def _outputs(nb: Any, tag: str) -> list[dict[str, Any]]:
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert cells, f"no cell tagged {tag!r}"
    return [o for c in cells for o in c.get("outputs", [])]


def _has_png(nb: Any, tag: str) -> bool:
    return any("image/png" in o.get("data", {}) for o in _outputs(nb, tag))


def _text(nb: Any, tag: str) -> str:
    return "".join(o.get("text", "") if o.get("output_type") == "stream" else
                   str(o.get("data", {}).get("text/plain", "")) for o in _outputs(nb, tag))


@pytest.mark.parametrize("name", ["explore_curation.ipynb", "inspect_rewards.ipynb"])
def test_committed_notebooks_carry_no_outputs(name: str) -> None:
    import nbformat

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_explore_curation_draws_the_graph_and_plots_agreement_by_length(tmp_path, monkeypatch) -> None:
    nb = execute("explore_curation.ipynb", tmp_path, monkeypatch)
    mermaid = _text(nb, "graph-mermaid")
    assert "graph TD" in mermaid and "positive_critic" in mermaid and "reflector --> pair" in mermaid
    assert _has_png(nb, "graph-drawing")
    assert _has_png(nb, "length-agreement-plot")
    # The run produced a table of debates (a DataFrame's HTML) and no error output anywhere.
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    assert "judge_reason" in html and "chosen_len" in html


def test_inspect_rewards_plots_group_rewards_and_guard_triggers(tmp_path, monkeypatch) -> None:
    nb = execute("inspect_rewards.ipynb", tmp_path, monkeypatch)
    assert _has_png(nb, "reward-distribution-plot")
    assert _has_png(nb, "guard-plot")
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # The tie-break gave every group more distinct reward levels than the binary judge alone.
    levels = _text(nb, "reward-distribution-plot")
    assert "binary_levels" in levels and "group_levels" in levels
