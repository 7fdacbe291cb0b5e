"""Judge refinement with a scripted fake model: topology, nodes, gate, routing, budgets, resume, artifacts, config."""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from inkforge.core.errors import FailFastError, InputError
from inkforge.core.rubric import Rubric
from inkforge.core.tasks import GREETING_FLAW_STRATEGY, GREETING_RUBRIC
from inkforge.evaluation import accuracy, cohen_kappa, fit_length_threshold, length_rule, load_labels
from inkforge.graphs.refinement import (
    RefinementConfig,
    StartingRubricFailed,
    arefine_judge,
    build_judge_refinement_graph,
    load_queries,
    load_refinement_config,
    nodes,
    refine_judge,
    refinement_context,
    split_labels,
)
from inkforge.llm import Runtime
from inkforge.testing import FakeChatModel

pytestmark = pytest.mark.timeout(60)

SNAPSHOTS = Path(__file__).parent / "snapshots"
LABELS = load_labels(resources.files("inkforge.data") / "sample_labels.jsonl")
QUERIES = load_queries(resources.files("inkforge.data") / "sample_queries.txt")
TRUTH = {r["response"]: r["label"] for r in LABELS}


def _schema_name(schema: Any) -> str | None:
    """The output schema's name, whether the agent passed the pydantic class or its JSON schema."""
    if isinstance(schema, dict):
        return schema.get("title")
    return getattr(schema, "__name__", None)


def _rules(section: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\d+\. (.*)$", section, re.M)]


@dataclass
class Script:
    """A fake world keyed on prompt content.

    The detector follows the rubric it is shown: a rule containing ``ORACLE`` makes it agree with the
    human labels, ``BAD_RULE`` makes it contradict them, ``FAIL_RULE`` (or ``broken``, a broken
    endpoint, or a response in ``fail_responses``) makes it answer garbage; otherwise it calls everything of 25+ characters Good (a length
    judge). The optimiser appends the next rule of ``sd_plan`` to S_D (or ``S_G rule N`` to S_G).
    """

    sd_plan: list[str] = field(default_factory=list)
    broken: bool = False
    long_flaws: bool = False
    crash_on_optimizer_call: int | None = None
    new_rule_first: bool = False
    fail_responses: frozenset[str] = frozenset()
    optimizer_calls: list[str] = field(default_factory=list)
    feedback_sizes: list[int] = field(default_factory=list)
    #: (response, rubric text) of every detector call, in call order.
    judged: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, messages: list[Any], schema: Any) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        name = _schema_name(schema)
        if name == "FlawedSample":
            q = re.search(r"用户请求：(.*)", text).group(1)  # type: ignore[union-attr]
            body = f"{q}，祝你万事如意、心想事成、身体健康、阖家幸福！" if self.long_flaws else f"{q}，万事如意！"
            return {"response": body, "planted_flaws": ["堆砌套话"], "explanation": "看似得体，实为模板"}
        if name == "DetectorVerdict":
            resp = re.search(r"候选祝福语：\n(.*?)\n\n评审准则：", text, re.S).group(1)  # type: ignore[union-attr]
            rubric = text.split("评审准则：", 1)[1].split("请以 JSON")[0]
            self.judged.append((resp, rubric))
            if "FAIL_RULE" in rubric or self.broken or resp in self.fail_responses:
                return "我觉得还行吧"
            if "ORACLE" in rubric and resp in TRUTH:
                good = TRUTH[resp] == 1
            elif "BAD_RULE" in rubric and resp in TRUTH:
                good = TRUTH[resp] == 0
            else:
                good = len(resp) >= 25
            return {"explanation": "逐条看过", "verdict": "Good" if good else "Bad",
                    "generator_suggestion": "把套话藏进具体细节里"}
        if name == "ErrorDiagnosis":
            return {"diagnosis": "准则没有区分具体与空泛", "suggestion": "新增一条：要有具体细节"}
        if name == "RubricRevision":
            target = "S_G" if "S_G：" in text else "S_D"
            self.optimizer_calls.append(target)
            if self.crash_on_optimizer_call == len(self.optimizer_calls):
                raise Crash("simulated crash")
            current = _rules(text.split("当前规则", 1)[1].split("本轮反馈")[0])
            self.feedback_sizes.append(len(_rules(text.split("本轮反馈", 1)[1])))
            if target == "S_G":
                extra = f"S_G rule {len(self.optimizer_calls)}"
            else:
                n_sd = self.optimizer_calls.count("S_D")
                extra = self.sd_plan[min(n_sd, len(self.sd_plan)) - 1] if self.sd_plan else f"rule {n_sd}"
            rest = [r for r in current if r != extra][:9]
            return {"rules": [extra, *rest] if self.new_rule_first else [*rest, extra], "changes": f"added {extra}"}
        raise AssertionError(f"unexpected call for schema {name}")


class Crash(BaseException):
    """Not an Exception: agents turn Exceptions into failures, this one escapes like a kill would."""


def fake_runtime(script: Script, **kw: Any) -> Runtime:
    return Runtime.for_testing(FakeChatModel(responder=script), **kw)


def cfg(**kw: Any) -> RefinementConfig:
    base = {"iterations": 2, "adversarial_batch": 3, "reflection_batch": 6, "val_fraction": 0.3, "patience": 5}
    return RefinementConfig(**{**base, **kw})


def sd_history(result: Any) -> list[dict[str, Any]]:
    return [h for h in result.history if h["target"] == "S_D"]


# --------------------------------------------------------------------------------------- topology


def _topology(graph: Any) -> dict[str, Any]:
    g = graph.get_graph()
    return {"nodes": sorted(g.nodes),
            "edges": sorted([e.source, e.target, bool(e.conditional)] for e in g.edges)}


def test_topology_matches_snapshot() -> None:
    graph = build_judge_refinement_graph(fake_runtime(Script()), config=RefinementConfig())
    topo = _topology(graph)
    snap = SNAPSHOTS / "judge_refinement_topology.json"
    if os.environ.get("UPDATE_SNAPSHOTS"):  # UPDATE_SNAPSHOTS=1 pytest ... after an intended change
        edges = ",\n".join("    " + json.dumps(e) for e in topo["edges"])
        snap.write_text(f'{{\n  "nodes": {json.dumps(topo["nodes"])},\n  "edges": [\n{edges}\n  ]\n}}\n',
                        encoding="utf-8")
    assert topo == json.loads(snap.read_text(encoding="utf-8"))
    # The loop the paper describes, in words: each phase fans out, joins, optimises once, then the gate.
    edges = {(s, t) for s, t, _ in topo["edges"]}
    for e in [("plan", "adversarial_item"), ("adversarial_item", "collect_adversarial"),
              ("collect_adversarial", "optimize_strategy"), ("collect_adversarial", "revise_rubric_adversarial"),
              ("start_reflection", "reflect_item"), ("reflect_item", "collect_reflection"),
              ("collect_reflection", "revise_rubric_reflection"), ("start_validation", "validate_item"),
              ("validate_item", "gate"), ("gate", "plan"), ("gate", "finish")]:
        assert e in edges, e


# ------------------------------------------------------------------------------------------- gate


def test_gate_rejects_a_rubric_that_lowers_kappa_and_keeps_the_best(tmp_path: Path) -> None:
    script = Script(sd_plan=["BAD_RULE 过度严格", "ORACLE 真正有效的规则"])
    res = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(adversarial=False, iterations=2))
    hist = sd_history(res)
    assert [h["kind"] for h in hist] == ["initial", "candidate", "candidate"]
    initial, bad, good = hist
    assert bad["metrics"]["kappa"] < initial["metrics"]["kappa"]
    assert bad["accepted"] is False and "rejected" in bad["reason"]
    # The rejected rubric is not built upon: iteration 2 revises the initial rubric.
    assert good["parent_version"] == initial["version"]
    assert "BAD_RULE 过度严格" not in good["rules"]
    assert good["accepted"] and good["improved"] and good["metrics"]["kappa"] == 1.0
    assert res.rubric.rules[-1] == "ORACLE 真正有效的规则"
    assert res.rubric.metrics["kappa"] == 1.0
    assert Rubric.load(tmp_path / "rubric.json") == res.rubric


def test_a_rejected_candidate_leaves_the_starting_rubric(tmp_path: Path) -> None:
    res = refine_judge(fake_runtime(Script(sd_plan=["BAD_RULE"])), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(adversarial=False, iterations=1))
    assert res.rubric.rules == GREETING_RUBRIC
    assert res.state["rubric"] == list(GREETING_RUBRIC)
    assert res.summary["proposals"] == {"validated": 1, "accepted": 0, "rejected": 1}


def test_tolerance_accepts_a_slightly_worse_rubric_but_the_best_is_written(tmp_path: Path) -> None:
    res = refine_judge(fake_runtime(Script(sd_plan=["BAD_RULE"])), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(adversarial=False, iterations=1, kappa_tolerance=2.0))
    cand = sd_history(res)[1]
    assert cand["accepted"] and not cand["improved"]
    assert "BAD_RULE" in res.state["rubric"]  # the working rubric moves on...
    assert res.rubric.rules == GREETING_RUBRIC  # ...but rubric.json keeps the best κ


def test_parse_failures_count_against_a_candidate(tmp_path: Path) -> None:
    res = refine_judge(fake_runtime(Script(sd_plan=["FAIL_RULE"])), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(adversarial=False, iterations=1))
    cand = sd_history(res)[1]
    m = cand["metrics"]
    assert m["parse_failures"] == m["n"] and m["failure_rate"] == 1.0
    assert m["accuracy_parsed"] is None  # nothing parsed: no accuracy invented
    assert m["kappa"] == -1.0 and not cand["accepted"]


def test_a_broken_endpoint_fails_fast_and_drops_the_checkpoint(tmp_path: Path) -> None:
    script = Script()
    with pytest.raises(FailFastError, match="starting rubric"):
        refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path / "rule",
                     config=cfg(initial_rubric=("FAIL_RULE",)))
    summary = json.loads((tmp_path / "rule" / "summary.json").read_text())
    assert summary["status"] == "failed" and "starting rubric" in summary["error"]

    config = cfg(iterations=1)
    with pytest.raises(FailFastError, match="starting rubric"):
        refine_judge(fake_runtime(Script(broken=True)), LABELS, QUERIES, out_dir=tmp_path / "run", config=config)
    # The folder holds a run now: a plain rerun is refused, as for any run (never overwritten by accident).
    with pytest.raises(InputError, match="--resume"):
        refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path / "run", config=config)
    # The failed run does not block a fresh start in the same folder: its checkpoint was dropped, so the
    # still-broken endpoint is asked again (a kept checkpoint would replay the saved failures)...
    fake = FakeChatModel(responder=Script(broken=True))
    rt = Runtime.for_testing(fake)
    with pytest.raises(FailFastError):
        refine_judge(rt, LABELS, QUERIES, out_dir=tmp_path / "run", config=config, resume=True)
    n_select = len(split_labels(LABELS, config.val_fraction, config.test_fraction, config.seed).select)
    assert len(fake.calls) == n_select * (1 + rt.spec_for("detector").max_reasks)  # each garbage answer re-asked
    # ...and, once fixed, the run starts afresh from the starting rubric and finishes.
    res = refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path / "run", config=config, resume=True)
    assert res.summary["status"] == "finished"
    assert sd_history(res)[0]["kind"] == "initial" and sd_history(res)[0]["metrics"]["failure_rate"] == 0.0


# ---------------------------------------------------------------------------------------- routing


def test_caught_flaws_sharpen_the_strategy_in_one_call(tmp_path: Path) -> None:
    script = Script()
    res = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(reflection=False, iterations=1, adversarial_batch=4))
    assert script.optimizer_calls == ["S_G"]  # one merged call, no S_D change from caught flaws
    assert script.feedback_sizes == [4]
    assert res.strategy[-1] == "S_G rule 1" and res.strategy[:5] == list(GREETING_FLAW_STRATEGY)
    assert len(res.hard_negatives) == 4 and all(h["caught"] for h in res.hard_negatives)
    assert sd_history(res)[-1]["kind"] == "no_proposal"


def test_fooled_detector_proposes_one_rubric_change(tmp_path: Path) -> None:
    script = Script(long_flaws=True, sd_plan=["ORACLE"])
    res = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(reflection=False, iterations=1, adversarial_batch=4))
    assert script.optimizer_calls == ["S_D"] and script.feedback_sizes == [4]
    assert res.strategy == list(GREETING_FLAW_STRATEGY)
    assert not any(h["caught"] for h in res.hard_negatives)
    cand = sd_history(res)[-1]
    assert cand["proposal"][0]["source"] == "adversarial" and len(cand["proposal"][0]["feedback"]) == 4
    assert cand["accepted"]


def test_reflection_refines_the_adversarial_candidate_into_one_proposal(tmp_path: Path) -> None:
    script = Script(long_flaws=True, sd_plan=["rule A", "rule B"])
    res = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path, config=cfg(iterations=1))
    assert script.optimizer_calls == ["S_D", "S_D"]
    cand = sd_history(res)[-1]
    assert [p["source"] for p in cand["proposal"]] == ["adversarial", "reflection"]
    assert cand["rules"][-2:] == ["rule A", "rule B"]  # reflection built on the adversarial candidate
    assert cand["phases"]["reflection"]["mistakes"] > 0


def test_rule_lists_are_capped_and_drops_reported(tmp_path: Path) -> None:
    res = refine_judge(fake_runtime(Script(sd_plan=["ORACLE"], new_rule_first=True)), LABELS, QUERIES,
                       out_dir=tmp_path, config=cfg(adversarial=False, iterations=1, max_rules=6))
    cand = sd_history(res)[-1]
    assert len(cand["rules"]) == 6 and cand["rules"][0] == "ORACLE"
    assert cand["proposal"][0]["dropped_rules"] == [GREETING_RUBRIC[-1]]


# ---------------------------------------------------------------------------------------- budgets


def test_token_budget_stops_the_run(tmp_path: Path) -> None:
    # The fake reports 15 tokens per call; the starting validation alone costs 12 × 15 = 180.
    res = refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(iterations=10, token_budget=200))
    assert res.summary["stop_reason"] == "token_budget"
    assert res.summary["iterations_done"] == 1
    assert res.summary["tokens_used"] >= 200


def test_patience_stops_after_iterations_without_gain(tmp_path: Path) -> None:
    res = refine_judge(fake_runtime(Script(sd_plan=["BAD_RULE"])), LABELS, QUERIES, out_dir=tmp_path,
                       config=cfg(adversarial=False, iterations=10, patience=2))
    assert res.summary["stop_reason"] == "patience" and res.summary["iterations_done"] == 2


def test_zero_iterations_only_validates_the_start(tmp_path: Path) -> None:
    res = refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path, config=cfg(iterations=0))
    assert res.summary["stop_reason"] == "iterations" and [h["kind"] for h in res.history] == ["initial"]


# ----------------------------------------------------------------------------------------- resume


def _comparable(res: Any) -> dict[str, Any]:
    return {"history": res.history, "rubric": res.rubric.model_dump(), "strategy": res.strategy,
            "hard_negatives": res.hard_negatives, "tokens": res.state["tokens_used"]}


def test_resume_after_a_stop_reaches_the_same_final_state(tmp_path: Path) -> None:
    plan = ["BAD_RULE", "ORACLE"]
    config = cfg(iterations=2)
    full = refine_judge(fake_runtime(Script(long_flaws=True, sd_plan=plan)), LABELS, QUERIES,
                        out_dir=tmp_path / "full", config=config)
    part = refine_judge(fake_runtime(Script(long_flaws=True, sd_plan=plan)), LABELS, QUERIES,
                        out_dir=tmp_path / "part", config=config, max_steps=6)
    assert part.summary["status"] == "running"
    assert (tmp_path / "part" / "history.jsonl").exists()
    with pytest.raises(InputError, match="--resume"):
        refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path / "part", config=config)
    # The optimiser script counts calls; a resumed process starts counting where the first stopped.
    script = Script(long_flaws=True, sd_plan=plan)
    script.optimizer_calls = [h["target"] for h in part.history if h["target"] == "S_G"]
    resumed = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path / "part", config=config,
                           resume=True)
    assert resumed.summary["status"] == "finished"
    assert _comparable(resumed) == _comparable(full)
    assert (tmp_path / "part" / "history.jsonl").read_text() == (tmp_path / "full" / "history.jsonl").read_text()


def test_resume_after_a_crash_mid_iteration(tmp_path: Path) -> None:
    plan = ["BAD_RULE", "ORACLE"]
    config = cfg(iterations=2)
    full = refine_judge(fake_runtime(Script(long_flaws=True, sd_plan=plan)), LABELS, QUERIES,
                        out_dir=tmp_path / "full", config=config)
    crashing = Script(long_flaws=True, sd_plan=plan, crash_on_optimizer_call=3)
    with pytest.raises(Crash):
        refine_judge(fake_runtime(crashing), LABELS, QUERIES, out_dir=tmp_path / "run", config=config)
    done = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert done["status"] == "running" and done["iterations_done"] >= 1
    # The crash hit iteration 2's first optimiser call, after iteration 1 was checkpointed.
    # Restart "the process": the script replays the optimiser calls that finished before the crash.
    script = Script(long_flaws=True, sd_plan=plan)
    script.optimizer_calls = crashing.optimizer_calls[:2]
    resumed = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path / "run", config=config,
                           resume=True)
    assert _comparable(resumed) | {"tokens": 0} == _comparable(full) | {"tokens": 0}


# -------------------------------------------------------------------------------------- artifacts


def test_artifacts_have_their_documented_shape(tmp_path: Path) -> None:
    gates: list[dict[str, Any]] = []
    res = refine_judge(fake_runtime(Script(long_flaws=True, sd_plan=["ORACLE"])), LABELS, QUERIES,
                       out_dir=tmp_path, config=cfg(iterations=2), on_gate=gates.append)
    assert [g["iteration"] for g in gates] == [0, 1, 2]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"rubric.json", "history.jsonl", "hard_negatives.jsonl", "strategy.json", "summary.json",
            "final_state.jsonl", ".inkforge"} <= names
    assert (tmp_path / ".inkforge" / "checkpoints.sqlite").is_file()  # the runner's checkpointer
    assert not [n for n in names if n.endswith(".tmp")]

    rubric = Rubric.load(tmp_path / "rubric.json")
    assert rubric.prompt_text and "{{ rubric }}" in rubric.prompt_text
    assert rubric.model["model"] == "fake" and rubric.task == "greeting"
    for key in ("kappa", "accuracy", "recall_good", "recall_bad", "slice_accuracy", "parse_failures",
                "length_baseline_accuracy"):
        assert key in rubric.metrics

    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert history == res.history
    for h in history:
        assert {"iteration", "target", "kind", "accepted", "rules"} <= set(h)
        if h["target"] == "S_D" and h["kind"] == "candidate":
            assert {"metrics", "proposal", "improved", "best_kappa", "reason", "phases"} <= set(h)
            assert all({"source", "feedback", "status"} <= set(p) for p in h["proposal"])

    hard = [json.loads(line) for line in (tmp_path / "hard_negatives.jsonl").read_text().splitlines()]
    assert len(hard) == 6
    for h in hard:
        assert {"prompt", "rejected", "explanation", "planted_flaws", "caught"} <= set(h)
        assert isinstance(h["rejected"], str) and isinstance(h["caught"], bool)

    strategy = json.loads((tmp_path / "strategy.json").read_text())
    assert strategy["rules"] == res.strategy and strategy["language"] == "zh"

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["stop_reason"] == "iterations"
    assert sum(summary["labels"]["splits"].values()) == summary["labels"]["unique"] == len(LABELS)
    assert summary["best"]["version"] == rubric.version
    assert summary["test"]["length_baseline"]["fixed"]["accuracy"] is not None
    assert summary["test"]["length_baseline"]["fitted"]["accuracy"] is not None
    # The runner's part of the summary: one item, the run, finished in one call.
    assert summary["job"] == "refine-judge" and summary["complete"] is True
    assert summary["items"]["finished"] == 1 and summary["runs"] == 1
    assert summary == res.summary
    final = [json.loads(line) for line in (tmp_path / "final_state.jsonl").read_text().splitlines()]
    assert len(final) == 1 and final[0]["history"] == res.history


# ------------------------------------------------------------------------------- honest figures


def _texts(indices: list[int]) -> set[str]:
    return {LABELS[i]["response"] for i in indices}


def test_no_decision_sees_the_test_rows_and_they_give_the_reported_figures(tmp_path: Path) -> None:
    script = Script(long_flaws=True, sd_plan=["BAD_RULE", "ORACLE 有效的规则"])
    config = cfg(iterations=2)
    res = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path, config=config)
    opt, sel, test = split_labels(LABELS, config.val_fraction, config.test_fraction, config.seed)
    assert res.rubric.rules != GREETING_RUBRIC  # the best is not the starting rubric: two rubrics to test
    n_final = 2 * len(test)
    loop, final = script.judged[:-n_final], script.judged[-n_final:]
    in_loop = {r for r, _ in loop if r in TRUTH}
    # Every labelled row judged before the end is an optimise (reflection) or select (gate) row.
    assert in_loop and not in_loop & _texts(test) and in_loop <= _texts(opt) | _texts(sel)
    reflected = {r for r, _ in loop if r in TRUTH and r not in _texts(sel)}
    assert reflected and reflected <= _texts(opt)
    # Each gate judged exactly the select split.
    sel_good = sum(LABELS[i]["label"] for i in sel)
    for h in sd_history(res):
        if h["metrics"] is not None:
            assert (h["split"], h["metrics"]["n"], h["metrics"]["positives"]) == ("select", len(sel), sel_good)
    # The end: each test row once with the starting rubric and once with the best.
    assert sorted(r for r, _ in final) == sorted([LABELS[i]["response"] for i in test] * 2)
    assert len({rubric for _, rubric in final}) == 2

    t = res.summary["test"]
    y = [LABELS[i]["label"] for i in test]
    lengths = [len(LABELS[i]["response"]) for i in test]
    assert (t["split"], t["n"], t["positives"], t["slice"]) == ("test", len(test), sum(y), [30, 50])
    assert t["best"]["metrics"]["kappa"] == 1.0  # the ORACLE rubric agrees with every human label
    starting = [int(n >= 25) for n in lengths]  # the script's length judge
    assert t["starting"]["metrics"]["kappa"] == cohen_kappa(y, starting)
    assert t["starting"]["version"] == sd_history(res)[0]["version"] and t["best"]["version"] == res.rubric.version
    fixed, fitted = t["length_baseline"]["fixed"], t["length_baseline"]["fitted"]
    assert fixed["threshold"] == 39 and fixed["accuracy"] == accuracy(y, length_rule(lengths, 39))
    seen = opt + sel  # the fitted rule never sees the test rows either
    threshold, _ = fit_length_threshold([len(LABELS[i]["response"]) for i in seen], [LABELS[i]["label"] for i in seen])
    assert fitted["threshold"] == threshold and fitted["fitted_on"] == "optimize+select"
    assert fitted["accuracy"] == accuracy(y, length_rule(lengths, threshold))
    # rubric.json reports the test figures at its top level; the select split's are kept apart.
    m = Rubric.load(tmp_path / "rubric.json").metrics
    assert m["split"] == "test" and m["kappa"] == t["best"]["metrics"]["kappa"] and m["n"] == len(test)
    assert m["starting_rubric"]["kappa"] == t["starting"]["metrics"]["kappa"]
    assert m["length_baseline"] == t["length_baseline"]
    assert m["select"]["kappa"] == res.summary["best"]["select_kappa"] == res.summary["selection"]["best"]["kappa"]
    assert res.summary["best"]["test_kappa"] == 1.0


def test_a_failed_test_evaluation_keeps_the_loop_and_resume_judges_only_the_test_split(tmp_path: Path) -> None:
    config = cfg(iterations=1, adversarial=False)
    test = split_labels(LABELS, config.val_fraction, config.test_fraction, config.seed).test
    broken = Script(sd_plan=["ORACLE"], fail_responses=frozenset(_texts(test)))
    with pytest.raises(FailFastError, match="test split") as err:
        refine_judge(fake_runtime(broken), LABELS, QUERIES, out_dir=tmp_path, config=config)
    assert not isinstance(err.value, StartingRubricFailed) and "--resume" in str(err.value)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["test"] is None
    fixed = Script(sd_plan=["ORACLE"])
    res = refine_judge(fake_runtime(fixed), LABELS, QUERIES, out_dir=tmp_path, config=config, resume=True)
    assert res.summary["status"] == "finished" and res.summary["test"]["best"]["metrics"]["failure_rate"] == 0.0
    assert fixed.optimizer_calls == [] and sorted(r for r, _ in fixed.judged) == sorted(
        [LABELS[i]["response"] for i in test] * 2)


def test_repeated_and_conflicting_labels_are_removed_counted_and_logged(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    repeats = [dict(LABELS[0]), dict(LABELS[1]), {**LABELS[2], "response": LABELS[2]["response"] + "  "}]
    conflict = [{**LABELS[3], "label": 1 - LABELS[3]["label"]}]  # LABELS[3] now has both labels
    rows = [*LABELS, *repeats, *conflict]
    with caplog.at_level("WARNING"):
        res = refine_judge(fake_runtime(Script()), rows, QUERIES, out_dir=tmp_path, config=cfg(iterations=0))
    lab = res.summary["labels"]
    assert {k: v for k, v in lab.items() if k != "splits"} == {
        "rows": 44, "unique": 39, "duplicates_removed": 3, "conflicting_pairs": 1, "conflicting_rows_dropped": 2}
    assert sum(lab["splits"].values()) == 39
    assert "3 repeated rows removed" in caplog.text and "1 pairs with conflicting labels dropped" in caplog.text
    kept = [(r["query"], r["response"].strip()) for r in res.state["labels"]]
    assert len(kept) == len(set(kept)) == 39 and (LABELS[3]["query"], LABELS[3]["response"]) not in kept
    # No pair can sit in two splits any more: the splits are disjoint as texts, not only as indices.
    parts = [{kept[i] for i in res.state[name]} for name in ("optimize", "select", "test")]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == 39


def test_one_rubric_version_everywhere(tmp_path: Path) -> None:
    from inkforge.evaluation import aevaluate_judge
    from inkforge.rewards.judge import JudgeReward

    res = refine_judge(fake_runtime(Script(long_flaws=True, sd_plan=["BAD_RULE", "ORACLE"])), LABELS, QUERIES,
                       out_dir=tmp_path, config=cfg(iterations=2))
    rubric = Rubric.load(tmp_path / "rubric.json")

    def version_of(rules: list[str]) -> str:  # the Rubric's own hash, with rubric.json's provenance
        return Rubric(**{**rubric.model_dump(exclude={"version", "metrics"}), "rules": tuple(rules)}).version

    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    gates = [h for h in history if h["target"] == "S_D"]
    accepted = gates[0]["version"]
    accepted_at = {}
    for h in gates:
        accepted_at[h["iteration"]] = accepted  # the working rubric the iteration started from
        if h["rules"] is not None:
            assert h["version"] == version_of(h["rules"])
        if h["kind"] == "candidate":
            assert h["parent_version"] == accepted
        if h["accepted"]:
            accepted = h["version"]
    assert gates[0]["version"] == version_of(list(GREETING_RUBRIC)) == res.summary["test"]["starting"]["version"]
    best = next(h for h in gates if h["iteration"] == res.summary["best"]["iteration"])
    assert rubric.version == best["version"] == res.summary["best"]["version"] == res.summary["test"]["best"]["version"]
    assert rubric.version == res.rubric.version and rubric.rules == tuple(best["rules"])
    hard = [json.loads(line) for line in (tmp_path / "hard_negatives.jsonl").read_text().splitlines()]
    assert hard and all(h["rubric_version"] == accepted_at[h["iteration"]] for h in hard)
    assert {h["rubric_version"] for h in hard} <= {g["version"] for g in gates}
    # Downstream: the evaluation report and the judge reward name the same version.
    report = asyncio.run(aevaluate_judge(fake_runtime(Script()), LABELS[:6], rubric, n_boot=0))
    assert report["rubric"]["version"] == rubric.version
    reward = JudgeReward.from_rubric(tmp_path / "rubric.json", base_url="http://127.0.0.1:9/v1", model="m")
    assert reward.rubric.version == rubric.version and rubric.version in repr(reward)
    # S_G is no rubric: its versions are those of strategy.json.
    from inkforge.graphs.refinement import strategy_version

    assert json.loads((tmp_path / "strategy.json").read_text())["version"] == strategy_version(res.strategy)
    assert all(h["strategy_version"] == strategy_version(GREETING_FLAW_STRATEGY) for h in hard if h["iteration"] == 1)


# ----------------------------------------------------------------------------------- config, misc


def test_split_is_three_way_disjoint_stratified_and_seeded() -> None:
    opt, sel, test = split_labels(LABELS, 0.3, 0.2, seed=1)
    assert sorted(opt + sel + test) == list(range(len(LABELS)))
    assert not (set(opt) & set(sel) or set(opt) & set(test) or set(sel) & set(test))
    # Stratified: each split holds its share of each class (20 good and 20 bad: 4 + 6 + 10 of each).
    for part, k in ((test, 4), (sel, 6), (opt, 10)):
        assert sorted(LABELS[i]["label"] for i in part) == [0] * k + [1] * k
    assert split_labels(LABELS, 0.3, 0.2, seed=1) == (opt, sel, test) != split_labels(LABELS, 0.3, 0.2, seed=2)
    # Tiny classes still get one row in each split (three rows of each class is the minimum).
    tiny = [{"label": i % 2} for i in range(6)]
    assert [sorted(tiny[i]["label"] for i in part) for part in split_labels(tiny, 0.3, 0.2)] == [[0, 1]] * 3


def test_config_validation_and_yaml(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one phase"):
        RefinementConfig(adversarial=False, reflection=False)
    p = tmp_path / "r.yaml"
    p.write_text("refinement:\n  iterations: 4\n  kappa_tolerance: 0.02\n", encoding="utf-8")
    c = RefinementConfig.load(p, {"iterations": 7, "seed": None})
    assert c.iterations == 7 and c.kappa_tolerance == 0.02 and c.seed == 0
    p.write_text("val_fraction: 1.5\n", encoding="utf-8")
    with pytest.raises(InputError, match="val_fraction"):
        RefinementConfig.load(p)
    # The optimise split needs rows too: the select and test shares must leave some.
    p.write_text("val_fraction: 0.5\ntest_fraction: 0.5\n", encoding="utf-8")
    with pytest.raises(InputError, match="val_fraction \\+ test_fraction must stay below 1") as err:
        RefinementConfig.load(p)
    assert err.value.file == str(p)
    with pytest.raises(InputError) as err:
        load_refinement_config(flags={"test_fraction": 0.0})
    assert (err.value.file, err.value.field) == ("<flags>", "test_fraction")


def test_inputs_are_checked_before_any_call(tmp_path: Path) -> None:
    fake = FakeChatModel()
    # Five rows, but one repeated pair after de-duplication: too few for three splits with both classes.
    rows = [{"query": "q", "response": "r", "label": 1}] * 5 + [{"query": "q", "response": "s", "label": 0}]
    with pytest.raises(InputError, match="3 rows of each class after de-duplication") as err:
        refine_judge(Runtime.for_testing(fake), rows, QUERIES, out_dir=tmp_path)
    assert err.value.field == "label" and "4 repeated rows removed" in str(err.value)
    assert "val_fraction" in str(err.value) and "test_fraction" in str(err.value)
    assert fake.calls == [] and not tmp_path.joinpath("summary.json").exists()


def test_tasks_without_defaults_need_initial_rules() -> None:
    from inkforge.core.tasks import TaskSpec

    haiku = TaskSpec(name="haiku", language="en", item="haiku", description="A 5-7-5 haiku.")
    with pytest.raises(InputError, match="initial_rubric"):
        build_judge_refinement_graph(Runtime.for_testing(FakeChatModel(), task=haiku))
    build_judge_refinement_graph(Runtime.for_testing(FakeChatModel(), task=haiku),
                                 config=RefinementConfig(initial_rubric=("Fresh image",), initial_strategy=("Cliché",)))
    build_judge_refinement_graph(Runtime.for_testing(FakeChatModel(), task="poem"))  # English defaults ship


def test_resume_without_a_checkpoint_starts_fresh(tmp_path: Path) -> None:
    res = asyncio.run(arefine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path,
                                    config=cfg(iterations=0), resume=True))
    assert res.summary["status"] == "finished"


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def test_english_task_runs_end_to_end(tmp_path: Path) -> None:
    prompts: list[str] = []

    def answer(messages: list[Any], schema: Any) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        prompts.append(text)
        name = _schema_name(schema)
        if name == "FlawedSample":
            return {"response": "Roses are red, skies are blue.", "planted_flaws": ["cliché"], "explanation": "stock"}
        if name == "DetectorVerdict":
            poem = re.search(r"Candidate short poem:\n(.*?)\n\nRubric:", text, re.S).group(1)  # type: ignore[union-attr]
            return {"explanation": "checked", "verdict": "Good" if len(poem) > 40 else "Bad"}
        if name == "ErrorDiagnosis":
            return {"diagnosis": "too lenient", "suggestion": "add a rule on concrete images"}
        assert "S_D: the judge's rubric" in text or "S_G: the flaw-generation strategy" in text
        return {"rules": ["Concrete images over abstractions.", "No stock phrases."], "changes": "merged"}

    rows = [{"query": f"a poem about {w}", "response": r, "label": lab}
            for w, r, lab in [("rain", "Rain taps the tin roof; my father's boots dry by the stove.", 1),
                              ("sea", "The sea is big and blue and nice and very, very wide.", 0),  # misjudged
                              ("moon", "Moon, you old coin, spent on every lover.", 1),
                              ("love", "Love is a flower that blooms in the heart forever and ever.", 0),
                              ("city", "Neon hums; a cat owns the fire escape.", 1),
                              ("time", "Time flies like an arrow, waits for no one.", 0)]]
    rt = Runtime.for_testing(FakeChatModel(responder=answer), task="poem")
    res = refine_judge(rt, rows, ["a poem about snow"], out_dir=tmp_path, config=cfg(iterations=1, val_fraction=0.5))
    assert res.rubric.language == "en" and res.summary["iterations_done"] == 1
    assert res.hard_negatives[0]["rejected"] == "Roses are red, skies are blue."
    # Every prompt and every piece of optimiser feedback is English: the task's strings, no Chinese.
    assert prompts and not [p for p in prompts if CJK.search(p)]
    sg = [h for h in res.history if h["target"] == "S_G"]
    assert sg and all(f.startswith("The judge caught the planted flaws") for f in sg[0]["feedback"])
    proposals = [p for h in sd_history(res) for p in h["proposal"]]
    assert {p["source"] for p in proposals} == {"reflection"}
    assert all(f.startswith("Human label: ") for p in proposals for f in p["feedback"])
    assert not [f for h in res.history for f in h.get("feedback", []) if CJK.search(f)]
    # The starting rules are the task's own, and the artifacts say which language they are in.
    from inkforge.core.tasks import POEM_TASK

    assert sd_history(res)[0]["rules"] == list(POEM_TASK.rubric)
    assert Rubric.load(tmp_path / "rubric.json").language == "en"
    assert json.loads((tmp_path / "strategy.json").read_text())["language"] == "en"
    assert json.loads((tmp_path / "summary.json").read_text())["language"] == "en"
    # The task's own length figures: the poem slice, and no fixed length rule (only the fitted one).
    test = res.summary["test"]
    assert test["slice"] == list(POEM_TASK.length_slice) and test["length_baseline"]["fixed"] is None
    assert test["length_baseline"]["fitted"]["threshold"] > 0 and test["n"] == 2
    assert sd_history(res)[0]["metrics"]["length_baseline_accuracy"] is None


# ------------------------------------------------------------------------------- nodes and context


def test_nodes_are_module_functions_that_read_the_run_context() -> None:
    from langgraph.runtime import Runtime as GraphRuntime

    rt = fake_runtime(Script())
    run = GraphRuntime(context=refinement_context(rt, config=cfg(initial_rubric=("ORACLE rule",))))
    start = nodes.setup({"labels": LABELS, "queries": QUERIES}, run)
    assert start["rubric"] == ["ORACLE rule"] and start["strategy"] == list(GREETING_FLAW_STRATEGY)
    assert (start["optimize"], start["select"], start["test"]) == split_labels(LABELS, 0.3, 0.2, seed=0)
    assert start["label_counts"]["unique"] == len(LABELS) and start["labels"] == LABELS

    async def validate_all() -> list[dict[str, Any]]:
        outs = await asyncio.gather(*(nodes.validate_item(
            {"i": i, "query": LABELS[i]["query"], "response": LABELS[i]["response"], "label": LABELS[i]["label"],
             "rules": start["rubric"]}, run) for i in start["select"]))
        assert all(o["calls"] == 1 and o["tokens_used"] == 15 for o in outs)
        return [o["val_results"][0] for o in outs]

    recs = asyncio.run(validate_all())
    assert [r["pred"] for r in recs] == [LABELS[i]["label"] for i in start["select"]]  # the ORACLE rule was used
    state = {**start, "labels": LABELS, "val_results": recs, "tokens_used": 180}
    gate = nodes.gate(state, run)  # type: ignore[arg-type]
    entry = gate["history"][0]
    assert entry["kind"] == "initial" and entry["metrics"]["kappa"] == 1.0 and entry["stop"] is None
    # The gate's budgets are the context's: the same state stops under another config.
    low = GraphRuntime(context=refinement_context(rt, config=cfg(initial_rubric=("ORACLE rule",), token_budget=100)))
    assert nodes.gate(state, low)["stop_reason"] == "token_budget"  # type: ignore[arg-type]
    # Routers are plain functions of the state.
    assert nodes.after_gate({"stop_reason": None}) == "plan" and nodes.after_gate({"stop_reason": "x"}) == "finish"


def test_the_graph_without_its_context_says_what_is_missing() -> None:
    graph = build_judge_refinement_graph(fake_runtime(Script()), config=cfg())
    with pytest.raises(TypeError, match="context=refinement_context"):
        asyncio.run(graph.ainvoke({"labels": LABELS, "queries": QUERIES}))


def test_the_context_clips_feedback_and_caps_rules() -> None:
    ctx = refinement_context(fake_runtime(Script()), config=cfg(feedback_chars=20, max_rules=2))
    assert ctx.clip("x" * 30) == "x" * 20 + "…" and ctx.clip(["a", "b"]) == "a；b" and ctx.clip(None) == ""
    assert ctx.capped(["1", "2", "3"]) == ["1", "2"]
    poem = refinement_context(Runtime.for_testing(FakeChatModel(), task="poem"))
    assert poem.clip(["a", "b"]) != "a；b" and not CJK.search(poem.text.target_rubric)


# ------------------------------------------------------------------------------- through the runner


def test_a_run_goes_through_the_runner_with_its_resume_rules_and_progress(tmp_path: Path) -> None:
    from inkforge.graphs.runner import RunProgress

    progress: list[RunProgress] = []
    config = cfg(iterations=1)
    part = refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path, config=config, max_steps=3,
                        on_progress=progress.append)
    assert (tmp_path / ".inkforge" / "run.sqlite").is_file()
    assert part.summary["status"] == "running" and part.summary["complete"] is False
    assert progress[-1].final and progress[-1].job == "refine-judge" and (progress[-1].done, progress[-1].total) == (0, 1)
    # Resuming with other settings is refused by the runner's fingerprint check, naming what changed.
    with pytest.raises(InputError, match="config") as err:
        refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path, config=cfg(iterations=2), resume=True)
    assert err.value.field == "--resume"

    done = refine_judge(fake_runtime(Script()), LABELS, QUERIES, out_dir=tmp_path, config=config, resume=True,
                        on_progress=progress.append)
    assert done.summary["status"] == "finished" and done.summary["this_run"]["resumed_from_checkpoint"] == 1
    assert progress[-1].final and progress[-1].done == 1
    # A finished run resumed is a no-op that still returns its result (final_state.jsonl).
    fake = FakeChatModel()  # unscripted: any model call would raise
    again = refine_judge(Runtime.for_testing(fake), LABELS, QUERIES, out_dir=tmp_path, config=config, resume=True)
    assert fake.calls == []
    assert (again.history, again.rubric, again.strategy) == (done.history, done.rubric, done.strategy)
    assert again.state["tokens_used"] == done.state["tokens_used"]
    assert again.summary["status"] == "finished" and again.summary["this_run"]["skipped_done"] == 1
    assert again.summary["runs"] == 3 and again.summary["best"] == done.summary["best"]


def test_gate_lines_are_not_repeated_on_resume(tmp_path: Path) -> None:
    config = cfg(iterations=2, adversarial=False)
    first: list[int] = []
    refine_judge(fake_runtime(Script(sd_plan=["ORACLE"])), LABELS, QUERIES, out_dir=tmp_path, config=config,
                 max_steps=8, on_gate=lambda e: first.append(e["iteration"]))
    rest: list[int] = []
    script = Script(sd_plan=["ORACLE"])
    script.optimizer_calls = ["S_D"] * sum(1 for i in first if i > 0)
    res = refine_judge(fake_runtime(script), LABELS, QUERIES, out_dir=tmp_path, config=config, resume=True,
                       on_gate=lambda e: rest.append(e["iteration"]))
    assert first and rest and first + rest == [0, 1, 2] and [h["iteration"] for h in sd_history(res)] == [0, 1, 2]


# -------------------------------------------------------------------------------------- settings


def test_one_reader_for_the_settings_with_documented_precedence(tmp_path: Path) -> None:
    from inkforge.llm import load_config

    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("models:\n  default: {model: m}\nrefinement:\n  iterations: 2\n  patience: 4\n  seed: 5\n",
                        encoding="utf-8")
    refine = tmp_path / "refine.yaml"
    refine.write_text("patience: 6\nadversarial_batch: 3\n", encoding="utf-8")
    run = load_config(run_yaml)
    # flags > --refine-config > the run config's section > defaults, field by field; a None flag is unset.
    c = load_refinement_config(run, refine, {"seed": 9, "iterations": None})
    assert (c.iterations, c.patience, c.adversarial_batch, c.seed, c.reflection_batch) == (2, 6, 3, 9, 16)
    assert load_refinement_config(run) == RefinementConfig(iterations=2, patience=4, seed=5)
    assert load_refinement_config() == RefinementConfig()
    # A run configuration given as --refine-config: its section is read, the rest belongs to --config.
    assert load_refinement_config(file=run_yaml) == load_refinement_config(run)
    # The old entry points are the same reader.
    assert RefinementConfig.load(refine, {"seed": 9}) == load_refinement_config(file=refine, flags={"seed": 9})

    # Errors name the file the bad value came from, and the field as written there.
    bad = tmp_path / "bad_run.yaml"
    bad.write_text("models:\n  default: {model: m}\nrefinement:\n  val_fraction: 1.5\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_refinement_config(load_config(bad), refine)
    assert (err.value.file, err.value.field) == (str(bad), "refinement.val_fraction")
    assert load_refinement_config(load_config(bad), flags={"val_fraction": 0.4}).val_fraction == 0.4  # overridden
    refine.write_text("patience: 6\nbatch_size: 3\n", encoding="utf-8")  # a typo
    with pytest.raises(InputError, match="Extra inputs") as err:
        load_refinement_config(run, refine)
    assert (err.value.file, err.value.field) == (str(refine), "batch_size")
    with pytest.raises(InputError) as err:
        load_refinement_config(run, flags={"patience": 0})
    assert (err.value.file, err.value.field) == ("<flags>", "patience")
    nested = tmp_path / "nested.yaml"
    nested.write_text("refinement:\n  patience: -1\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_refinement_config(run, nested)
    assert (err.value.file, err.value.field) == (str(nested), "refinement.patience")
    # A rule across fields names every place that set something.
    refine.write_text("adversarial: false\n", encoding="utf-8")
    with pytest.raises(InputError, match="at least one phase") as err:
        load_refinement_config(run, refine, {"reflection": False})
    assert str(run_yaml) in str(err.value.file) and str(refine) in str(err.value.file)
    with pytest.raises(InputError, match="not found"):
        load_refinement_config(file=tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(InputError, match="mapping"):
        load_refinement_config(file=tmp_path / "list.yaml")
