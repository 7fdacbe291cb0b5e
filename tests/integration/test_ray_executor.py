"""Curation and eval-judge on a local Ray cluster against the loopback stub (deterministic answers).

Same pairs as the local executor; a worker killed mid-run or a driver stopped mid-run still ends
with every item finished once; the global limit on model calls holds across workers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "inkforge" / "data" / "sample_corpus.jsonl"
QUERIES = [q for q in (REPO / "inkforge" / "data" / "sample_queries.txt").read_text("utf-8").splitlines()
           if q.strip()][:6]
CONCURRENCY = 4


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def stub() -> Iterator[Any]:
    from inkforge.testing import Faults, StubServer

    # A little latency keeps several items in flight on each worker when one is killed.
    with StubServer(faults=Faults(latency_s=0.02)) as server:
        yield server


def _build(stub: Any, n_candidates: int = 2) -> tuple[Any, Any]:
    from inkforge.graphs.curation import build_curation_graph
    from inkforge.graphs.retrieval import KeywordRetriever
    from inkforge.llm.config import load_config
    from inkforge.llm.runtime import Runtime

    cfg = load_config(base_url=stub.base_url, model="stub", concurrency=CONCURRENCY, overrides={"cache": None})
    runtime = Runtime(cfg)
    graph = build_curation_graph(runtime, retriever=KeywordRetriever(CORPUS), n_candidates=n_candidates,
                                 pair_policy="all")
    return runtime, graph


def _lines(out: Path, name: str = "pairs") -> list[str]:
    return sorted((out / f"{name}.jsonl").read_text("utf-8").splitlines())


def _run_ray(stub: Any, out: Path, **kwargs: Any) -> Any:
    from inkforge.graphs.curation import curation_job
    from inkforge.graphs.executors import CurationSpec, RayExecutor

    runtime, graph = _build(stub)
    with RayExecutor(workers=2, max_restarts=kwargs.pop("max_restarts", 3)) as ex:
        on_item = kwargs.pop("on_item", None)
        return ex.run(curation_job(graph), QUERIES, worker=CurationSpec.from_graph(graph, runtime.config),
                      out_dir=out, runtime=runtime, on_item=on_item and (lambda r: on_item(ex, r)), **kwargs)


@pytest.fixture(scope="module")
def local_run(stub: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inkforge.graphs.curation import curation_job
    from inkforge.graphs.runner import run_graph

    runtime, graph = _build(stub)
    out = tmp_path_factory.mktemp("local") / "run"
    report = run_graph(curation_job(graph), QUERIES, out_dir=out, runtime=runtime)
    assert report.complete and report.processed == len(QUERIES)
    return out


def test_ray_gives_the_local_pairs_within_the_global_limit(cluster: None, stub: Any, local_run: Path,
                                                           tmp_path: Path) -> None:
    stub.reset_stats()
    report = _run_ray(stub, tmp_path / "ray")
    assert report.complete and report.processed == len(QUERIES)
    assert _lines(local_run) and _lines(tmp_path / "ray") == _lines(local_run)
    assert _lines(tmp_path / "ray", "judgements") == _lines(local_run, "judgements")
    # The two workers together never had more calls in flight than --concurrency.
    assert 1 <= stub.stats.max_concurrency <= CONCURRENCY
    # Usage came back from the workers: the driver's summary counts every call.
    local = json.loads((local_run / "summary.json").read_text("utf-8"))
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text("utf-8"))
    assert summary["usage"]["calls"] == local["usage"]["calls"] > 0
    assert summary["pairs"] == local["pairs"]


def test_a_killed_worker_is_restarted_and_every_item_finishes_once(cluster: None, stub: Any, local_run: Path,
                                                                   tmp_path: Path) -> None:
    killed: list[int] = []
    restarted: list[int] = []

    def kill_once(ex: Any, report: Any) -> None:
        if report.processed == 2 and not killed:
            assert ex._load[0] > 0, "the killed worker should have items in flight"
            ray.kill(ex.actors[0], no_restart=False)  # the process dies; Ray restarts it
            killed.append(ex.infos[0]["pid"])
        if report.processed == len(QUERIES):
            restarted.append(ray.get(ex.actors[0].ready.remote())["pid"])

    report = _run_ray(stub, tmp_path / "ray", on_item=kill_once)
    assert killed and report.complete and report.processed == len(QUERIES)
    assert restarted and restarted[0] != killed[0]  # a new worker process finished the killed one's items
    done = [json.loads(x) for x in _lines(tmp_path / "ray", "judgements")]
    assert len({(d["item_id"], d["candidate"]) for d in done}) == len(done)  # no duplicate line
    assert _lines(tmp_path / "ray") == _lines(local_run)
    assert {d["item_id"] for d in done} == {json.loads(x)["item_id"] for x in _lines(local_run, "judgements")}


def test_a_worker_that_stays_dead_stops_the_run_and_resume_finishes_it(cluster: None, stub: Any,
                                                                       local_run: Path, tmp_path: Path) -> None:
    from inkforge.graphs.executors import WorkerLostError

    def kill(ex: Any, report: Any) -> None:
        if report.processed == 2:
            ray.kill(ex.actors[0], no_restart=True)

    with pytest.raises(WorkerLostError, match="--resume runs it again"):
        _run_ray(stub, tmp_path / "ray", on_item=kill, max_restarts=0)
    state = json.loads((tmp_path / "ray" / "summary.json").read_text("utf-8"))
    assert 2 <= state["items"]["finished"] < len(QUERIES) and not state["complete"]
    assert state["items"]["by_status"] == {"ok": state["items"]["finished"]}  # a lost item is not a failed one
    report = _run_ray(stub, tmp_path / "ray", resume=True)
    assert report.complete and report.skipped + report.processed == len(QUERIES)
    assert _lines(tmp_path / "ray") == _lines(local_run)
    assert _lines(tmp_path / "ray", "judgements") == _lines(local_run, "judgements")


def test_a_stopped_driver_resumes_on_ray_with_each_item_once(cluster: None, stub: Any, local_run: Path,
                                                             tmp_path: Path) -> None:
    def stop(ex: Any, report: Any) -> None:
        if report.processed == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run_ray(stub, tmp_path / "ray", on_item=stop)
    partial = _lines(tmp_path / "ray", "judgements")
    assert partial and len(partial) < len(_lines(local_run, "judgements"))
    report = _run_ray(stub, tmp_path / "ray", resume=True)
    assert report.complete and report.skipped == 3 and report.processed == len(QUERIES) - 3
    assert _lines(tmp_path / "ray") == _lines(local_run)
    assert _lines(tmp_path / "ray", "judgements") == _lines(local_run, "judgements")


def test_workers_that_build_another_job_are_refused_before_any_output(cluster: None, stub: Any,
                                                                       tmp_path: Path) -> None:
    from inkforge.core.errors import InputError
    from inkforge.graphs.curation import curation_job
    from inkforge.graphs.executors import CurationSpec, RayExecutor

    runtime, graph = _build(stub)
    _, other = _build(stub, n_candidates=3)
    with RayExecutor(workers=1) as ex, pytest.raises(InputError, match="n_candidates"):
        ex.run(curation_job(graph), QUERIES, worker=CurationSpec.from_graph(other, runtime.config),
               out_dir=tmp_path / "out", runtime=runtime)
    assert not (tmp_path / "out").exists()


def test_cli_curate_and_eval_judge_on_ray(cluster: None, stub: Any, local_run: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from inkforge.cli.app import app

    monkeypatch.chdir(tmp_path)  # the default response cache, shared by both workers, lands here

    queries = tmp_path / "q.txt"
    queries.write_text("\n".join(QUERIES) + "\n", "utf-8")
    common = ["--base-url", stub.base_url, "--model", "stub", "--concurrency", str(CONCURRENCY),
              "--executor", "ray", "--workers", "2", "--worker-concurrency", "4"]
    runner = CliRunner()
    res = runner.invoke(app, ["curate", str(queries), "--out", str(tmp_path / "cur"), "--candidates", "2",
                              "--pair-policy", "all", "--corpus", str(CORPUS), "--retriever", "keyword",
                              "--no-progress", *common])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "cur" / "summary.json").read_text("utf-8"))["items"]["finished"] == len(QUERIES)
    assert _lines(tmp_path / "cur") == _lines(local_run)
    assert (tmp_path / ".cache" / "inkforge" / "responses.sqlite").is_file()
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"query": q, "response": f"祝福{'好' * i}", "label": i % 2}, ensure_ascii=False)
                              + "\n" for i, q in enumerate(QUERIES)), "utf-8")
    res = runner.invoke(app, ["eval-judge", "--labels", str(labels), "--out", str(tmp_path / "report.json"),
                              "--bootstrap", "0", *common])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["eval-judge", "--labels", str(labels), "--out", str(tmp_path / "local.json"),
                              "--bootstrap", "0", *common[:6]])
    assert res.exit_code == 0, res.output
    report, local = (json.loads((tmp_path / n).read_text("utf-8")) for n in ("report.json", "local.json"))
    assert len(report["items"]) == len(QUERIES) and report["items"] == local["items"]
    assert report["usage"]["totals"]["calls"] == local["usage"]["totals"]["calls"] >= len(QUERIES)
