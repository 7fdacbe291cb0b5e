"""The corrected pass rate (Rogan–Gladen) and its bootstrap interval, on synthetic judges with known error rates."""

from __future__ import annotations

import random

import pytest

from inkforge.evaluation import corrected_pass_rate, rogan_gladen


def test_rogan_gladen_inverts_a_known_judge() -> None:
    tpr, tnr, theta = 0.9, 0.8, 0.35
    p_obs = tpr * theta + (1 - tnr) * (1 - theta)  # what such a judge reports in expectation
    assert rogan_gladen(p_obs, tpr, tnr) == pytest.approx(theta)
    assert rogan_gladen(0.99, 0.9, 0.8) == 1.0 and rogan_gladen(0.05, 0.9, 0.8) == 0.0  # clipped
    assert rogan_gladen(0.5, 0.6, 0.4) is None  # at chance: nothing to correct with


def _judge(rng: random.Random, truth: list[int], tpr: float, tnr: float) -> list[int]:
    return [int(rng.random() < tpr) if t else int(rng.random() >= tnr) for t in truth]


@pytest.mark.parametrize(("tpr", "tnr", "theta"), [(0.9, 0.6, 0.25), (0.7, 0.95, 0.6), (0.85, 0.85, 0.2)])
def test_the_estimate_recovers_the_true_rate_within_its_interval(tpr: float, tnr: float, theta: float) -> None:
    rng = random.Random(f"{tpr}:{tnr}:{theta}")
    labels = [int(rng.random() < 0.5) for _ in range(400)]
    preds = _judge(rng, labels, tpr, tnr)
    truth = [int(rng.random() < theta) for _ in range(3000)]
    scored = _judge(rng, truth, tpr, tnr)
    est = corrected_pass_rate(labels, preds, scored, n_boot=400, seed=1)
    true_rate = sum(truth) / len(truth)
    lo, hi = est["ci"]
    assert lo <= true_rate <= hi and lo <= est["corrected"] <= hi
    assert abs(est["corrected"] - true_rate) < abs(est["observed"] - true_rate)
    assert est["tpr"] == pytest.approx(tpr, abs=0.08) and est["tnr"] == pytest.approx(tnr, abs=0.08)
    assert est["items"] == "unlabelled" and est["human"] is None and est["bootstrap"]["valid"] == 400
    # The interval widens when the labelled rows are few: both samples are resampled.
    few = corrected_pass_rate(labels[:60], preds[:60], scored, n_boot=400, seed=1)
    assert few["ci"][1] - few["ci"][0] > hi - lo


def test_on_the_labelled_rows_the_human_rate_is_reported_beside() -> None:
    rng = random.Random(3)
    labels = [int(rng.random() < 0.4) for _ in range(500)]
    preds = _judge(rng, labels, 0.85, 0.75)
    est = corrected_pass_rate(labels, preds, n_boot=300)
    assert est["items"] == "labelled" and est["human"] == sum(labels) / len(labels)
    # On the rows that measured TPR and TNR, the correction gives back their human rate exactly.
    assert est["corrected"] == pytest.approx(est["human"])
    assert est["ci"][0] <= est["human"] <= est["ci"][1]


def test_failures_are_left_out_and_an_undefined_estimate_says_why() -> None:
    est = corrected_pass_rate([1, 0, 1, 0], [1, None, 1, 0], [1, None, 0], n_boot=0)
    assert est["labelled"] == {"n": 3, "good": 2, "bad": 1, "failures": 1}
    assert (est["n"], est["judged"], est["failures"], est["observed"]) == (3, 2, 1, 0.5)
    assert est["ci"] is None and est["corrected"] == 0.5
    chance = corrected_pass_rate([1, 1, 0, 0], [1, 0, 1, 0], [1, 1], n_boot=100)
    assert chance["corrected"] is None and chance["ci"] is None and "chance" in chance["reason"]
    one_class = corrected_pass_rate([1, 1], [1, 1], [1], n_boot=100)
    assert one_class["corrected"] is None and "both classes" in one_class["reason"]
    with pytest.raises(ValueError, match="length mismatch"):
        corrected_pass_rate([1], [1, 0])
