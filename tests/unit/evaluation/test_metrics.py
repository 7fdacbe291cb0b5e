"""Judge metrics: κ, confusion, recall, length baselines, bootstrap CIs, parse failures, label loading."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

import pytest

from inkforge.core.errors import InputError
from inkforge.evaluation import (
    LENGTH_RULE_THRESHOLD,
    accuracy,
    binary_metrics,
    bootstrap_ci,
    cohen_kappa,
    confusion_matrix,
    fit_length_threshold,
    judge_report,
    length_rule,
    load_labels,
    point_biserial,
    recall_per_class,
    validation_metrics,
)

pytestmark = pytest.mark.timeout(60)


def test_kappa_matches_hand_computation() -> None:
    # 2x2 table: tp=20 fn=5 fp=10 tn=15 → po=0.7, pe=0.5*0.6+0.5*0.4=0.5 → κ=0.4
    y = [1] * 25 + [0] * 25
    p = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert accuracy(y, p) == pytest.approx(0.7)
    assert cohen_kappa(y, p) == pytest.approx(0.4)
    assert confusion_matrix(y, p) == {"tn": 15, "fp": 10, "fn": 5, "tp": 20}
    assert recall_per_class(y, p) == {"good": pytest.approx(0.8), "bad": pytest.approx(0.6)}


def test_kappa_edge_cases() -> None:
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert cohen_kappa([1, 1, 0], [1, 1, 1]) == 0.0  # constant rater: no information beyond the base rate
    assert cohen_kappa([1, 1], [1, 1]) == 0.0  # undefined (pe = 1) → 0, never NaN in a JSON report
    assert cohen_kappa([], []) == 0.0
    with pytest.raises(ValueError, match="mismatch"):
        cohen_kappa([1], [1, 0])


def test_recall_is_none_for_an_absent_class() -> None:
    assert recall_per_class([1, 1], [1, 0]) == {"good": 0.5, "bad": None}
    assert binary_metrics([1, 1], [1, 0])["positive_rate"] == 0.5


def test_fit_length_threshold_finds_the_best_cut_and_breaks_ties_low() -> None:
    lengths = [10, 12, 20, 25, 40, 41, 45, 60]
    labels = [0, 0, 0, 1, 0, 1, 1, 1]
    t, acc = fit_length_threshold(lengths, labels)
    # Brute force over every candidate threshold agrees.
    best = max(accuracy(labels, length_rule(lengths, c)) for c in range(0, 70))
    assert acc == pytest.approx(best)
    assert accuracy(labels, length_rule(lengths, t)) == pytest.approx(acc)
    # Thresholds are observed lengths (any value in between predicts the same); ties go to the smallest.
    assert t == min(c for c in lengths if accuracy(labels, length_rule(lengths, c)) == best)
    # All bad: the best rule says "never good" (threshold past the longest response).
    assert fit_length_threshold([5, 9], [0, 0]) == (10, 1.0)


def test_fit_length_threshold_randomised_against_brute_force() -> None:
    rng = random.Random(3)
    for _ in range(20):
        lengths = [rng.randint(5, 80) for _ in range(40)]
        labels = [int(x + rng.randint(-20, 20) > 40) for x in lengths]
        t, acc = fit_length_threshold(lengths, labels)
        brute = max(accuracy(labels, length_rule(lengths, c)) for c in range(0, 100))
        assert acc == pytest.approx(brute)


def test_point_biserial() -> None:
    assert point_biserial([0, 0, 1, 1], [10, 10, 50, 50]) == pytest.approx(1.0)
    assert point_biserial([1, 1, 0, 0], [10, 10, 50, 50]) == pytest.approx(-1.0)
    assert point_biserial([1, 1, 1], [1, 2, 3]) == 0.0


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    rng = random.Random(0)
    y = [rng.randint(0, 1) for _ in range(200)]
    p = [v if rng.random() < 0.8 else 1 - v for v in y]
    a = bootstrap_ci(y, p, n_boot=300, seed=7)
    b = bootstrap_ci(y, p, n_boot=300, seed=7)
    c = bootstrap_ci(y, p, n_boot=300, seed=8)
    assert a == b and a != c
    assert a["accuracy"][0] < accuracy(y, p) < a["accuracy"][1]
    assert a["kappa"][0] < cohen_kappa(y, p) < a["kappa"][1]
    assert a["accuracy"][1] - a["accuracy"][0] < 0.2
    assert bootstrap_ci([1], [1]) == {"accuracy": None, "kappa": None}


def test_validation_metrics_count_failures_as_wrong_but_report_them() -> None:
    labels = [1, 1, 0, 0, 1, 0]
    lengths = [45, 20, 35, 60, 33, 10]
    perfect = validation_metrics(labels, labels, lengths)
    assert perfect["kappa"] == 1.0 and perfect["parse_failures"] == 0
    failing = validation_metrics(labels, [1, None, 0, None, None, 0], lengths)
    assert failing["parse_failures"] == 3 and failing["failure_rate"] == 0.5
    assert failing["accuracy_parsed"] == 1.0  # the parsed rows are all right...
    assert failing["accuracy"] == 0.5  # ...but the gate's figure counts failures wrong
    assert failing["kappa"] < perfect["kappa"]
    assert failing["slice_n"] == 3  # 45, 35 and 33 characters fall in 30–50 (bounds inclusive)
    assert validation_metrics([1], [1], [30])["slice_n"] == 1
    assert failing["slice_accuracy"] == pytest.approx(2 / 3)  # 45 and 35 right; 33 failed → wrong
    assert failing["length_baseline_accuracy"] == accuracy(labels, length_rule(lengths, LENGTH_RULE_THRESHOLD))


def test_validation_metrics_put_both_length_baselines_beside_the_judge() -> None:
    labels = [1, 1, 0, 0, 1, 0]
    lengths = [45, 20, 35, 60, 33, 10]
    m = validation_metrics(labels, labels, lengths, threshold=None, fitted_threshold=34, length_slice=(20, 40))
    # No fixed rule for the task: no figure rather than the paper's 39 applied to another task's data.
    assert m["length_rule_threshold"] is None and m["length_baseline_accuracy"] is None
    assert m["length_baseline_kappa"] is None and m["slice_length_baseline_accuracy"] is None
    assert m["fitted_threshold"] == 34
    assert m["fitted_baseline_accuracy"] == accuracy(labels, length_rule(lengths, 34))
    assert m["fitted_baseline_kappa"] == cohen_kappa(labels, length_rule(lengths, 34))
    sl = [i for i, n in enumerate(lengths) if 20 <= n <= 40]
    assert m["slice"] == [20, 40] and m["slice_n"] == len(sl) == 3
    assert m["slice_fitted_baseline_accuracy"] == accuracy([labels[i] for i in sl],
                                                           [int(lengths[i] >= 34) for i in sl])
    assert m["slice_kappa"] == 1.0 and m["positives"] == 3
    assert "fitted_threshold" not in validation_metrics(labels, labels, lengths)


def test_judge_report_never_turns_a_failure_into_a_verdict() -> None:
    rows = [{"query": "q", "response": "好" * n, "label": lab} for n, lab in
            [(10, 0), (15, 0), (25, 1), (33, 0), (36, 1), (44, 1), (48, 0), (60, 1), (70, 1), (12, 1)]]
    preds = [0, None, 1, 0, None, 1, 1, 1, 1, 0]
    statuses = ["ok", "parse_error", "ok", "ok", "timeout", "ok", "ok", "ok", "ok", "ok"]
    rep = judge_report(rows, preds, statuses=statuses, n_boot=100, seed=1)
    ov = rep["overall"]
    assert ov["n"] == 10
    assert ov["parse_failures"] == {"count": 2, "rate": 0.2, "by_status": {"parse_error": 1, "timeout": 1}}
    assert ov["judge"]["n"] == 8  # failures left out, not defaulted to 0 or 1
    assert ov["judge"]["accuracy"] == pytest.approx(6 / 8)
    assert ov["judge"]["strict"]["accuracy"] == pytest.approx(6 / 10)
    # Length baselines sit beside the judge on the same rows.
    fixed = ov["length_baseline"]["fixed"]
    assert fixed["threshold"] == 39 and fixed["n"] == 10
    fitted = ov["length_baseline"]["fitted"]
    assert fitted["accuracy"] >= fixed["accuracy"]
    assert set(fixed["ci"]) == {"accuracy", "kappa"}
    # Slice 30–50: rows of 33, 36, 44, 48 characters.
    sl = rep["slice"]
    assert sl["range"] == [30, 50] and sl["n"] == 4 and sl["parse_failures"]["count"] == 1
    # How much of the verdicts length explains.
    ex = rep["length_explains_judge"]
    assert ex["n"] == 8 and 0.5 <= ex["best_rule_for_verdicts"]["agreement"] <= 1.0
    assert -1 <= ex["point_biserial_verdict_length"] <= 1
    assert sum(b["n"] for b in rep["by_length_band"]) == 10
    json.dumps(rep)  # JSON-ready


def test_a_pure_length_judge_is_fully_explained_by_length() -> None:
    rng = random.Random(0)
    rows = [{"query": "q", "response": "字" * n, "label": int(rng.random() < 0.5)} for n in range(10, 70)]
    preds = length_rule([len(r["response"]) for r in rows], 30)
    rep = judge_report(rows, preds, n_boot=0)
    assert rep["length_explains_judge"]["best_rule_for_verdicts"] == {"threshold": 30, "agreement": 1.0,
                                                                       "kappa": 1.0}


def test_sample_labels_are_ours_and_not_length_separable() -> None:
    rows = load_labels(resources.files("inkforge.data") / "sample_labels.jsonl")
    assert len(rows) >= 40 and {r["label"] for r in rows} == {0, 1}
    lengths = [len(r["response"]) for r in rows]
    _, best = fit_length_threshold(lengths, [r["label"] for r in rows])
    assert best <= 0.7  # short good and long padded bad ones on purpose


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "2: invalid JSON"),
    ('{"query": "q", "label": 1}', "2: field 'response': missing"),
    ('{"query": "q", "response": "r", "label": 2}', "2: field 'label': must be 0 or 1"),
    ('{"query": "q", "response": "r", "label": true}', "2: field 'label'"),
    ('{"query": "", "response": "r", "label": 1}', "2: field 'query'"),
    ("[1, 2]", "2: expected a JSON object, got list"),
])
def test_load_labels_locates_errors(tmp_path: Path, line: str, message: str) -> None:
    p = tmp_path / "labels.jsonl"
    p.write_text('{"query": "q", "response": "r", "label": 0}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as e:
        load_labels(p)
    assert e.value.file == str(p)


def test_load_labels_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_labels(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no labelled rows"):
        load_labels(tmp_path / "empty.jsonl")
