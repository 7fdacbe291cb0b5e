"""Experiment trackers: names and missing-extra errors, offline TensorBoard / W&B / Trackio runs read back,
the adapters from runner progress and refinement gates, and the CLI flags end to end over the stub server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from inkforge.core.errors import ConfigError
from inkforge.core.tracking import (
    TRACKERS,
    PairStats,
    ProgressLogger,
    Tracker,
    Trackers,
    check_report_to,
    gate_metrics,
    judge_report_metrics,
    open_trackers,
    parse_report_to,
    register_tracker,
)

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[3]
DATA = resources.files("inkforge.data")


class Memory:
    """A tracker that keeps what it is given (the protocol, nothing more)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.closed = 0

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.rows.append((step, dict(metrics)))

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def memory() -> Iterator[list[Memory]]:
    made: list[Memory] = []

    def factory(logging_dir: Path, project: str, run_name: str | None, config: Mapping[str, Any]) -> Tracker:
        m = Memory()
        m.config = dict(config)  # type: ignore[attr-defined]
        made.append(m)
        return m

    register_tracker("memory", factory, replace=True)
    yield made
    del TRACKERS["memory"]


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` look uninstalled (``find_spec`` returns None for a ``None`` entry in sys.modules)."""
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)


# ------------------------------------------------------------------------------------------ names


def test_report_to_names_as_in_trl() -> None:
    assert parse_report_to(["tensorboard", "wandb, tensorboard"]) == ["tensorboard", "wandb"]
    assert parse_report_to("none") == [] and parse_report_to(None) == [] and parse_report_to([]) == []
    assert set(parse_report_to("all")) <= set(TRACKERS) and "tensorboard" in parse_report_to("all")
    with pytest.raises(ConfigError, match=r"field '--report-to': unknown tracker 'mlfow'; known: tensorboard"):
        parse_report_to("tensorboard,mlfow")
    with pytest.raises(ConfigError, match="'none' cannot be combined"):
        parse_report_to(["none", "wandb"])


@pytest.mark.parametrize("name", ["tensorboard", "wandb", "trackio"])
def test_missing_package_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _hide(monkeypatch, name)
    with pytest.raises(ConfigError) as e:
        check_report_to(f"none,{name}".replace("none,", ""))
    assert str(e.value) == (f"field '--report-to': {name} needs the {name!r} package: "
                            f'pip install "inkforge[{name}]"')
    assert "\n" not in str(e.value)
    # "all" silently means the installed ones, as in TRL.
    assert name not in parse_report_to("all")


def test_training_report_to_is_checked_before_trl_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from inkforge.training.config import SFTTrainingConfig, load_config

    _hide(monkeypatch, "tensorboard", "tensorboardX")
    with pytest.raises(ConfigError, match=r"tensorboard needs the 'tensorboard' package: "
                                          r'pip install "inkforge\[tensorboard\]"') as e:
        load_config(SFTTrainingConfig, "smoke_sft.yaml", report_to="tensorboard", bf16=False)
    assert e.value.field == "report_to"
    with pytest.raises(ConfigError, match="unknown tracker 'tensorbaord'"):
        load_config(SFTTrainingConfig, "smoke_sft.yaml", report_to="tensorbaord", bf16=False)
    _hide(monkeypatch, "mlflow")
    with pytest.raises(ConfigError, match=r"mlflow is not installed \(pip install mlflow\)"):
        load_config(SFTTrainingConfig, "smoke_sft.yaml", report_to="mlflow", bf16=False)
    monkeypatch.undo()
    pytest.importorskip("wandb")
    pytest.importorskip("trackio")
    cfg = load_config(SFTTrainingConfig, "smoke_sft.yaml", report_to="wandb,trackio", bf16=False)
    assert cfg.report_to == ["wandb", "trackio"]
    assert load_config(SFTTrainingConfig, "smoke_sft.yaml", report_to="none", bf16=False).report_to == []


def test_training_cli_missing_tracker_exits_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from inkforge.cli.train import train_app

    _hide(monkeypatch, "tensorboard", "tensorboardX")
    res = CliRunner().invoke(train_app, ["sft", "--config", "smoke_sft.yaml", "--report_to", "tensorboard"])
    assert res.exit_code == 2, res.output
    assert 'pip install "inkforge[tensorboard]"' in " ".join(res.output.split())
    assert "Traceback" not in res.output and "RuntimeError" not in res.output


# ------------------------------------------------------------------------------------------ trackers


def test_trackers_drop_missing_values_and_survive_a_failing_tracker(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Memory):
        def log(self, metrics: Mapping[str, float], step: int) -> None:
            raise OSError("disk full")

    good, bad = Memory(), Broken()
    with Trackers([bad, good], ["broken", "memory"]) as t:
        t.log({"kappa": 0.4, "none": None, "nan": float("nan"), "flag": True, "text": "x"}, 1)
        t.log({"kappa": 0.5}, 2)
        t.log({"missing": None}, 3)  # nothing left to log: no row
    assert good.rows == [(1, {"kappa": 0.4, "flag": 1.0}), (2, {"kappa": 0.5})]
    assert t.failed == {"broken": "OSError: disk full"}
    assert sum("tracker broken failed" in r.message for r in caplog.records) == 1
    assert good.closed == 1 and bad.closed == 1


def test_tensorboard_event_files_are_written_and_readable(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with open_trackers("tensorboard", logging_dir=tmp_path / "tb", run_name="t", config={"seed": 3}) as t:
        t.log({"gate/kappa": 0.25, "usage/tokens": 120}, 0)
        t.log({"gate/kappa": 0.5}, 2)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("gate/kappa")] == [(0, 0.25), (2, 0.5)]
    assert [e.value for e in acc.Scalars("usage/tokens")] == [120.0]


def _wandb_history(run_file: Path) -> list[dict[str, Any]]:
    """History rows of an offline W&B run file (LevelDB log format: 32 KiB blocks of CRC+length+type chunks)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, records, buf = 7, 32768, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            records.append(buf)
            buf = b""
    rows = []
    for raw in records:
        rec = pb.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") == "history":
            rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
    return rows


def test_wandb_offline_run_holds_the_logged_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    # Other test modules set WANDB_DISABLED for their trainers, process-wide (and wandb honours it).
    monkeypatch.delenv("WANDB_DISABLED", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    with open_trackers(["wandb"], logging_dir=tmp_path / "wb", run_name="curate-x", config={"candidates": 4}) as t:
        t.log({"pairs/total": 3, "items/failure_rate": 0.25}, 4)
        t.log({"pairs/total": 7}, 8)
    (run_file,) = (tmp_path / "wb" / "wandb").glob("offline-run-*/run-*.wandb")
    # wandb's core process writes the file; give a loaded machine a moment to flush it.
    deadline = time.monotonic() + 15
    while len(rows := _wandb_history(run_file)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [(r["_step"], r["pairs/total"]) for r in rows] == [(4, 3), (8, 7)]
    assert rows[0]["items/failure_rate"] == 0.25


def test_trackio_works_offline(tmp_path: Path) -> None:
    pytest.importorskip("trackio")
    # A child process: trackio reads TRACKIO_DIR once, at import.
    script = """
import json, sys
from inkforge.core.tracking import open_trackers
with open_trackers("trackio", logging_dir=sys.argv[1], project="inkforge-test", run_name="r1") as t:
    t.log({"gate/kappa": 0.3}, 0)
    t.log({"gate/kappa": 0.6}, 1)
from trackio.sqlite_storage import SQLiteStorage
logs = SQLiteStorage.get_logs("inkforge-test", "r1")
print("RESULT", json.dumps([[row["step"], row["gate/kappa"]] for row in logs]))
"""
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=90)
    assert res.returncode == 0, res.stderr
    (line,) = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    assert json.loads(line[len("RESULT "):]) == [[0, 0.3], [1, 0.6]]
    assert list((tmp_path / "trackio").glob("inkforge-test.db"))


# ------------------------------------------------------------------------------------------ adapters


def test_progress_logger_from_a_real_run(tmp_path: Path) -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    from inkforge.graphs.runner import GraphJob, run_graph

    class S(TypedDict, total=False):
        query: str

    g = StateGraph(S)
    g.add_node("noop", lambda s: {})
    g.add_edge(START, "noop")
    g.add_edge("noop", END)

    def to_records(item: Any, state: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        q = item.query
        if q.endswith("3"):
            return {"pairs": [], "failures": [{"status": "timeout"}]}
        if q.endswith("4"):
            return {"pairs": [], "failures": [{"status": "no_pair"}]}
        return {"pairs": [{"chosen": "x" * 10, "rejected": "y" * (12 if q.endswith("1") else 4)}], "failures": []}

    stats = PairStats()
    job = GraphJob(graph=g, to_input=lambda item: {"query": item.query}, to_records=to_records,
                   outputs=("pairs", "failures"), name="t",
                   progress_fields=stats.wrap(lambda r: {"pairs": len(r["pairs"])}))
    mem = Memory()
    logger = ProgressLogger(mem, every=2, extra=stats.metrics)
    run_graph(job, [f"q{i}" for i in range(5)], out_dir=tmp_path / "out", on_progress=logger)
    steps = [s for s, _ in mem.rows]
    assert steps == [2, 4, 5]  # every 2 items, and the final report
    final = mem.rows[-1][1]
    assert final["items/done"] == 5 and final["items/total"] == 5
    assert final["items/pairs"] == 3 and final["pairs/yield_per_item"] == 3 / 5
    assert final["failures/timeout"] == 1 and final["pairs/no_pair_items"] == 1
    assert final["items/failure_rate"] == 1 / 5  # the timeout item; a no_pair item is no failure
    assert final["pairs/chosen_len_mean"] == 10 and final["pairs/rejected_len_mean"] == (12 + 4 + 4) / 3
    assert final["pairs/chosen_longer_share"] == pytest.approx(2 / 3)


def test_gate_and_judge_report_metrics() -> None:
    entry = {"iteration": 3, "kind": "candidate", "accepted": True, "best_kappa": 0.5, "tokens_used": 1200,
             "metrics": {"kappa": 0.5, "accuracy": 0.75, "length_baseline_kappa": 0.4, "slice_accuracy": None}}
    m = gate_metrics(entry)
    assert m["gate/kappa"] == 0.5 and m["gate/accepted"] == 1.0 and m["gate/length_baseline_kappa"] == 0.4
    assert "gate/slice_accuracy" not in m  # no figure yet is no zero
    nothing = gate_metrics({"iteration": 4, "kind": "no_proposal", "best_kappa": 0.5, "metrics": None})
    assert nothing == {"gate/best_kappa": 0.5, "gate/no_proposal": 1.0}
    rep = {"overall": {"n": 10, "judge": {"kappa": 0.2, "accuracy": 0.6},
                       "length_baseline": {"fixed": {"kappa": 0.5, "accuracy": 0.8}},
                       "parse_failures": {"rate": 0.1, "by_status": {"parse_error": 1}}},
           "slice": {"n": 0, "judge": {"kappa": None}}}
    m = judge_report_metrics(rep)
    assert m["judge/overall/length_baseline_kappa"] == 0.5 and m["judge/failures/parse_error"] == 1.0
    assert m["judge/slice/n"] == 0.0 and "judge/slice/kappa" not in m


# ------------------------------------------------------------------------------------------ CLI


def _detector(body: dict[str, Any]) -> dict[str, Any] | None:
    name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if name == "DetectorVerdict":
        text = "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
        return {"explanation": "ok", "verdict": "Good" if len(text) % 2 else "Bad"}
    return None


@pytest.fixture
def model_flags(tmp_path: Path) -> Iterator[list[str]]:
    from inkforge.testing import StubServer

    cfg = tmp_path / "models.yaml"
    cfg.write_text("cache: null\nconcurrency: 8\nmodels:\n  default: {max_retries: 0, timeout: 20}\n", encoding="utf-8")
    os.environ.setdefault("OPENAI_API_KEY", "sk-test-not-a-secret")
    with StubServer(responder=_detector) as server:
        yield ["--config", str(cfg), "--base-url", server.base_url, "--model", "stub"]


def _app() -> typer.Typer:
    from inkforge.cli.app import app

    return app


def _scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_curate_logs_every_n_items_to_tensorboard(tmp_path: Path, model_flags: list[str]) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "cur"
    res = CliRunner().invoke(_app(), ["curate", str(DATA / "sample_queries.txt"), "--out", str(out), "--limit", "4",
                                      "--candidates", "2", "--retriever", "keyword", "--no-progress",
                                      "--report-to", "tensorboard", "--log-every", "2", *model_flags])
    assert res.exit_code == 0, res.output
    tags = _scalars(out / "runs")  # the default --logging-dir
    assert [s for s, _ in tags["items/done"]] == [2, 4, 4]  # every 2 items, then the final report
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert tags["items/pairs"][-1][1] == summary["pairs"]
    assert tags["usage/calls"][-1][1] == summary["usage"]["calls"] and tags["usage/tokens"][-1][1] > 0
    if summary["pairs"]:
        assert tags["pairs/chosen_longer_share"][-1][1] == pytest.approx(summary["lengths"]["chosen_longer_share"])
        assert tags["pairs/chosen_len_mean"][-1][1] == pytest.approx(summary["lengths"]["chosen_mean"])


def test_eval_judge_logs_progress_and_kappa(tmp_path: Path, model_flags: list[str]) -> None:
    pytest.importorskip("tensorboard")
    res = CliRunner().invoke(_app(), ["eval-judge", "--labels", str(DATA / "sample_labels.jsonl"), "--out",
                                      str(tmp_path / "report.json"), "--bootstrap", "0", "--limit", "12",
                                      "--report-to", "tensorboard", "--logging-dir", str(tmp_path / "tb"),
                                      "--log-every", "5", *model_flags])
    assert res.exit_code == 0, res.output
    tags = _scalars(tmp_path / "tb")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [s for s, _ in tags["judge/done"]] == [5, 10, 12]
    assert tags["judge/overall/kappa"] == [(12, pytest.approx(report["overall"]["judge"]["kappa"]))]
    assert tags["judge/overall/length_baseline_accuracy"][0][1] == pytest.approx(
        report["overall"]["length_baseline"]["fixed"]["accuracy"])


def test_refine_judge_logs_kappa_per_iteration(tmp_path: Path, model_flags: list[str], memory: list[Memory]) -> None:
    out = tmp_path / "ref"
    res = CliRunner().invoke(_app(), ["refine-judge", "--labels", str(DATA / "sample_labels.jsonl"), "--queries",
                                      str(DATA / "sample_queries.txt"), "--out", str(out), "--iterations", "2",
                                      "--report-to", "memory", *model_flags])
    assert res.exit_code == 0, res.output
    (mem,) = memory
    history = [json.loads(x) for x in (out / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    gates = [h for h in history if h["target"] == "S_D"]
    kappa_rows = [(s, m["gate/kappa"]) for s, m in mem.rows if "gate/kappa" in m]
    assert kappa_rows == [(h["iteration"], pytest.approx(h["metrics"]["kappa"])) for h in gates if h["metrics"]]
    assert mem.rows[-1][1]["usage/calls"] > 0 and mem.rows[-1][0] == gates[-1]["iteration"]
    assert mem.config["command"] == "refine-judge" and mem.closed == 1  # type: ignore[attr-defined]


def test_cli_missing_tracker_fails_before_any_model_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "wandb")
    out = tmp_path / "cur"
    res = CliRunner().invoke(_app(), ["curate", str(DATA / "sample_queries.txt"), "--out", str(out),
                                      "--base-url", "http://127.0.0.1:9/v1", "--model", "stub", "--report-to", "wandb"])
    assert res.exit_code == 2
    assert 'pip install "inkforge[wandb]"' in " ".join(res.output.split())
    assert not out.exists()
