"""The executor seam without a Ray cluster: names, flags, limits, usage merging, the missing-Ray error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inkforge.core.errors import InputError
from inkforge.graphs.executors import LocalExecutor, RuntimeSpec, make_executor, share_of_limit

REPO = Path(__file__).resolve().parents[3]


def test_share_of_limit_never_exceeds_the_global_limit() -> None:
    for limit in range(1, 40):
        for workers in range(1, limit + 1):
            share = share_of_limit(limit, workers)
            assert share >= 1 and share * workers <= limit
    with pytest.raises(InputError, match="exceed the global limit"):
        share_of_limit(3, 4)


def test_local_executor_refuses_ray_flags_and_unknown_names() -> None:
    assert isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(InputError, match="--workers.*only apply to --executor ray"):
        make_executor("local", workers=2)
    with pytest.raises(InputError, match="unknown executor 'dask'"):
        make_executor("dask")


def test_missing_ray_is_one_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(InputError, match=r"pip install 'inkforge\[ray\]'"):
        make_executor("ray")


def test_cli_without_ray_exits_2_with_one_line_and_writes_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from inkforge.cli.app import app

    monkeypatch.setitem(sys.modules, "ray", None)
    queries = tmp_path / "q.txt"
    queries.write_text("写一句祝福\n", "utf-8")
    res = CliRunner().invoke(app, ["curate", str(queries), "--out", str(tmp_path / "out"), "--base-url",
                                   "http://127.0.0.1:9/v1", "--model", "m", "--executor", "ray"])
    assert res.exit_code == 2
    assert "inkforge[ray]" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_importing_inkforge_and_the_executors_does_not_import_ray() -> None:
    code = ("import sys, inkforge, inkforge.graphs.executors, inkforge.cli.curate, inkforge.cli.judge; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"


def test_worker_usage_merges_as_deltas_and_ignores_overtaken_snapshots() -> None:
    pytest.importorskip("ray")
    from inkforge.graphs.executors.ray_executor import RayExecutor
    from inkforge.llm.usage import UsageTracker

    class Rt:
        usage = UsageTracker()

    worker = UsageTracker()
    ex = RayExecutor.__new__(RayExecutor)  # no cluster: only the bookkeeping is exercised
    ex._seen, ex._runtime = {}, Rt()

    def snap(seq: int) -> tuple[str, int, dict[str, Any]]:
        return "w1", seq, worker.as_dict()["agents"]

    worker.record("judge", status="ok", cached=False, attempts=1, input_tokens=10, output_tokens=2, cost=0.5,
                  seconds=0.1)
    first = snap(1)
    worker.record("judge", status="timeout", cached=False, attempts=2, input_tokens=5, output_tokens=0, cost=0.0,
                  seconds=0.1)
    second = snap(2)
    ex._absorb(second)
    ex._absorb(first)  # arrived late: already included in the second
    ex._absorb(second)
    assert Rt.usage.totals() == worker.totals()
    assert Rt.usage.by_agent["judge"].failed == {"timeout": 1}


def test_runtime_spec_builds_a_runtime_with_the_worker_share(tmp_path: Path) -> None:
    from inkforge.llm.config import load_config

    cfg = load_config(base_url="http://127.0.0.1:9/v1", model="m", concurrency=12, overrides={"cache": None})
    setup = RuntimeSpec(cfg)(share_of_limit(cfg.concurrency, 3))
    assert setup.runtime.limit == 4 and setup.job is None
    setup.close()


def test_more_ray_workers_than_the_global_limit_fail_before_ray_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    from inkforge.graphs.executors import RayExecutor

    monkeypatch.setattr(ray, "init", lambda **kw: pytest.fail("Ray must not start"))
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(InputError, match="5 workers exceed the global limit of 4"):
        RayExecutor(workers=5, concurrency=4).start(lambda concurrency: pytest.fail("no worker is built"))
