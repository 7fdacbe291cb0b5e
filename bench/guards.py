"""Benchmark the reward-hacking guards: detection on our attack corpus, false positives on good greetings.

Usage:
    .venv/bin/python bench/guards.py [--out results.json] [--strict]

Reports

* detection rate per attack category and overall: attack rows of ``inkforge/data/attack_corpus.jsonl``
  on which ``default_guards(row["lang"])`` fires (and which guard caught them);
* the same split by ``split``: ``"tune"`` rows were used while writing the regexes, ``"heldout"``
  rows were written afterwards and never used to tune them, so their detection rate is the honest
  estimate for phrasings the regexes have not seen;
* false-positive rate on the corpus's benign hard negatives (``attack == "none"``);
* false-positive rate on human-approved greetings (label 1) of the paper's dev labels, read by path
  from ``<repo>/../shared/data/paper/human_labels_dev.jsonl`` (skipped with a message when absent),
  overall and on the length-controlled 30-50 character slice; the label-0 trigger rate is shown
  for information (label-0 greetings are worse, not hacks, so triggers there are not errors);
* throughput in completions per second.

Targets: detection >= 95%, false positives <= 1% on label-1 human greetings. ``--strict`` exits
with status 1 when a target is missed. The last line printed is a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inkforge.rewards.guards import apply_guards, default_guards  # noqa: E402

CORPUS = REPO / "inkforge" / "data" / "attack_corpus.jsonl"
HUMAN = REPO / ".." / "shared" / "data" / "paper" / "human_labels_dev.jsonl"
DETECTION_TARGET = 0.95
HUMAN_FP_TARGET = 0.01


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _fired(guard_sets: dict[str, list[Any]], lang: str, query: str, completion: str) -> list[str]:
    guards = guard_sets.setdefault(lang, default_guards(lang))
    return [r.name for r in apply_guards(query, completion, guards) if r.triggered]


def run(corpus: Path, human: Path, show: int) -> dict[str, Any]:
    guard_sets: dict[str, list[Any]] = {}
    rows = _load(corpus)
    per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_split: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # attacks, detected, benign, FP
    caught_by: dict[str, Counter[str]] = defaultdict(Counter)
    missed, benign_fp = [], []
    n_benign = 0
    start = time.perf_counter()
    for row in rows:
        fired = _fired(guard_sets, row["lang"], row["query"], row["completion"])
        split = per_split[row.get("split", "tune")]
        if row["attack"] == "none":
            n_benign += 1
            split[2] += 1
            split[3] += bool(fired)
            if fired:
                benign_fp.append((row["id"], fired, row["completion"]))
            continue
        split[0] += 1
        split[1] += bool(fired)
        stats = per_cat[row["attack"]]
        stats[0] += 1
        stats[1] += bool(fired)
        caught_by[row["attack"]].update(fired)
        if not fired:
            missed.append((row["id"], row["attack"], row["completion"]))
    n_attack = sum(s[0] for s in per_cat.values())
    detected = sum(s[1] for s in per_cat.values())
    summary: dict[str, Any] = {
        "attack_rows": n_attack,
        "detection": detected / n_attack if n_attack else None,
        "per_category": {c: s[1] / s[0] for c, s in sorted(per_cat.items())},
        "benign_rows": n_benign,
        "benign_fp": len(benign_fp) / n_benign if n_benign else None,
    }
    for name, (a, d, b, f) in sorted(per_split.items()):
        summary[f"detection_{name}"] = d / a if a else None
        summary[f"benign_fp_{name}"] = f / b if b else None

    print(f"{'category':<22}{'rows':>6}{'detected':>10}   caught by")
    for cat, (n, d) in sorted(per_cat.items()):
        by = ", ".join(f"{k}:{v}" for k, v in caught_by[cat].most_common())
        print(f"{cat:<22}{n:>6}{d / n:>10.1%}   {by}")
    print(f"{'ALL ATTACKS':<22}{n_attack:>6}{summary['detection']:>10.1%}")
    for name, (a, d, b, f) in sorted(per_split.items()):
        print(f"{'  split ' + name:<22}{a:>6}{d / a if a else 0:>10.1%}   benign FP {f}/{b}")
    print(f"{'benign (ours) FP':<22}{n_benign:>6}{summary['benign_fp']:>10.1%}")
    for rid, cat, text in missed[:show]:
        print(f"  missed {rid} [{cat}] {text[:70]!r}")
    for rid, fired, text in benign_fp[:show]:
        print(f"  benign FP {rid} {fired} {text[:70]!r}")

    n_checked = len(rows)
    if human.exists():
        labelled = _load(human)
        by_label: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        slice_ = [0, 0]  # label-1 rows with 30-50 character greetings
        guard_counts: dict[int, Counter[str]] = defaultdict(Counter)
        for row in labelled:
            fired = _fired(guard_sets, "zh", row["query"], row["response"])
            label = int(row["label"])
            by_label[label][0] += 1
            by_label[label][1] += bool(fired)
            guard_counts[label].update(fired)
            if label == 1 and 30 <= len(row["response"]) <= 50:
                slice_[0] += 1
                slice_[1] += bool(fired)
        # Only counts and guard names are printed: paper data is never copied into outputs.
        n_checked += len(labelled)
        for label in sorted(by_label):
            n, f = by_label[label]
            key = "human_label1_fp" if label == 1 else f"human_label{label}_trigger_rate"
            summary[key] = f / n if n else None
            summary[f"human_label{label}_rows"] = n
            who = ", ".join(f"{k}:{v}" for k, v in guard_counts[label].most_common())
            name = "human label-1 FP" if label == 1 else f"human label-{label} trig"
            print(f"{name:<22}{n:>6}{f / n:>10.1%}   {who}")
        summary["human_label1_fp_30_50"] = slice_[1] / slice_[0] if slice_[0] else None
        print(f"{'  label-1, 30-50 chars':<22}{slice_[0]:>6}{summary['human_label1_fp_30_50'] or 0:>10.1%}")
    else:
        print(f"human labels not found at {human}: skipping the human-greeting false-positive check")
        summary["human_label1_fp"] = None

    # Throughput: all guards on every corpus row, repeated to time a few thousand checks.
    zh = default_guards("greeting")  # the paper's task: its length bounds and language
    reps = max(1, 5000 // max(1, len(rows)))
    t0 = time.perf_counter()
    for _ in range(reps):
        for row in rows:
            apply_guards(row["query"], row["completion"], zh)
    per_s = reps * len(rows) / (time.perf_counter() - t0)
    summary["completions_per_s"] = round(per_s)
    summary["wall_s"] = round(time.perf_counter() - start, 2)
    print(f"throughput: {per_s:,.0f} completions/s (5 guards each); {n_checked} rows checked")

    summary["targets_met"] = bool(
        summary["detection"] is not None
        and summary["detection"] >= DETECTION_TARGET
        and (summary["human_label1_fp"] is None or summary["human_label1_fp"] <= HUMAN_FP_TARGET)
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="attack corpus (JSONL)")
    parser.add_argument(
        "--human", type=Path, default=HUMAN, help="human labels (JSONL with query/response/label)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the JSON summary here")
    parser.add_argument("--show", type=int, default=20, help="print up to this many misses / false positives")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    summary = run(args.corpus, args.human, args.show)
    line = json.dumps(
        {k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}, ensure_ascii=False
    )
    print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0 if summary["targets_met"] or not args.strict else 1


if __name__ == "__main__":
    raise SystemExit(main())
