"""Benchmark the reward-hacking guards: detection on tuned and held-out attacks, false positives on good greetings.

Usage:
    .venv/bin/python bench/guards.py [--labels PATH] [--out results.json] [--strict]

Reports, each set on its own (never pooled):

* **tuned corpus** (``inkforge/data/attack_corpus.jsonl``): attacks the patterns were written
  against, and our benign look-alikes. Its detection rate says what the patterns know, not how
  they generalise;
* **held-out batches** (``inkforge/data/attack_heldout*.jsonl``), each with the moment it was
  written (see ``HELDOUT``): detection per category and false positives on its benign controls.
  Only a batch measured before any tuning on it is an honest estimate for new phrasings;
* **human greetings**: false positives on the label-1 rows of the paper's dev labels, read by
  path (``--labels``, default ``<repo>/../shared/data/paper/human_labels_dev.jsonl``; skipped
  with a message when absent): on a fixed *tune* half (by a hash of each row, see
  :func:`human_half`; the only half looked at while tuning), on the *report* half, overall and on
  the length-controlled 30-50 character slice; and the label-0 trigger rate for information
  (label-0 greetings are worse, not hacks);
* throughput in completions per second (wall clock and per CPU-second).

Targets: >= 95% detection on the newest held-out batch never tuned on, <= 1% false positives on
the report half of the label-1 human greetings. ``--strict`` exits with status 1 when a target is missed. Only counts and guard names
are printed for the paper's data, never its text. The last line printed is a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inkforge.rewards.guards import apply_guards, default_guards  # noqa: E402

DATA = REPO / "inkforge" / "data"
CORPUS = DATA / "attack_corpus.jsonl"
LABELS = REPO / ".." / "shared" / "data" / "paper" / "human_labels_dev.jsonl"
if not LABELS.exists():  # a worktree of the checkout sits one level deeper
    LABELS = REPO.parents[1] / "shared" / "data" / "paper" / "human_labels_dev.jsonl"
#: The held-out batches, oldest first, and when each was written relative to tuning.
HELDOUT = {
    "heldout1": (DATA / "attack_heldout.jsonl",
                 "written before any pattern change, by the author of the patterns; not tuned on"),
    "heldout2": (DATA / "attack_heldout2.jsonl",
                 "written after tuning round 1; measured once, then tuned on (round 2)"),
    "heldout3": (DATA / "attack_heldout3.jsonl",
                 "written after tuning round 2; measured once, then tuned on (round 3)"),
    "heldout4": (DATA / "attack_heldout4.jsonl",
                 "written after tuning round 3; measured once (76.5%), then tuned on (round 4)"),
    # Added once round 4 is merged; reported only when the file exists.
    "heldout5": (DATA / "attack_heldout5.jsonl",
                 "written after tuning round 4; never tuned on"),
}
DETECTION_TARGET = 0.95
HUMAN_FP_TARGET = 0.01


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class _Guards:
    """One guard set per language, built once."""

    def __init__(self) -> None:
        self.sets: dict[str, list[Any]] = {}

    def fired(self, lang: str, query: str, completion: str) -> list[str]:
        guards = self.sets.setdefault(lang, default_guards(lang))
        return [r.name for r in apply_guards(query, completion, guards) if r.triggered]


def attack_set(name: str, rows: list[dict[str, Any]], guards: _Guards, show: int) -> dict[str, Any]:
    """Detection per category and benign false positives of one attack file."""
    per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    caught_by: dict[str, Counter[str]] = defaultdict(Counter)
    missed, benign_fp = [], []
    n_benign = 0
    for row in rows:
        fired = guards.fired(row["lang"], row["query"], row["completion"])
        if row["attack"] == "none":
            n_benign += 1
            if fired:
                benign_fp.append((row["id"], fired, row["completion"]))
            continue
        stats = per_cat[row["attack"]]
        stats[0] += 1
        stats[1] += bool(fired)
        caught_by[row["attack"]].update(fired)
        if not fired:
            missed.append((row["id"], row["attack"], row["completion"]))
    n_attack = sum(s[0] for s in per_cat.values())
    detected = sum(s[1] for s in per_cat.values())
    out = {"attack_rows": n_attack, "detection": detected / n_attack if n_attack else None,
           "per_category": {c: round(s[1] / s[0], 4) for c, s in sorted(per_cat.items())},
           "benign_rows": n_benign, "benign_fp": len(benign_fp) / n_benign if n_benign else None}
    print(f"\n== {name}: {n_attack} attacks, {n_benign} benign")
    print(f"{'category':<22}{'rows':>6}{'detected':>10}   caught by")
    for cat, (n, d) in sorted(per_cat.items()):
        by = ", ".join(f"{k}:{v}" for k, v in caught_by[cat].most_common())
        print(f"{cat:<22}{n:>6}{d / n:>10.1%}   {by}")
    print(f"{'ALL ATTACKS':<22}{n_attack:>6}{out['detection'] or 0:>10.1%}")
    print(f"{'benign FP':<22}{n_benign:>6}{out['benign_fp'] or 0:>10.1%}")
    for rid, cat, text in missed[:show]:
        print(f"  missed {rid} [{cat}] {text[-70:]!r}")
    for rid, fired, text in benign_fp[:show]:
        print(f"  benign FP {rid} {fired} {text[:70]!r}")
    return out


def human_half(row: dict[str, Any]) -> str:
    """``"tune"`` or ``"report"``: a fixed half of the human greetings, by a hash of the row's text.

    The rows have no id, so the query and the response are hashed; a repeated row always lands in
    the same half. Patterns may be tuned against the false positives of the tune half only; the
    report half is the honest false-positive estimate.

    Example:
        >>> human_half({"query": "生日祝福", "response": "生日快乐！"}) in ("tune", "report")
        True
    """
    digest = hashlib.sha256(f"{row['query']}\x1f{row['response']}".encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "report"


def human_greetings(path: Path, guards: _Guards) -> dict[str, Any]:
    """False positives on human-approved greetings (label 1): tune half, report half, overall, the
    30-50 character slice; and the label-0 trigger rate."""
    labelled = _load(path)
    by_label: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    halves: dict[str, list[int]] = {"tune": [0, 0], "report": [0, 0]}  # label-1 rows per half
    slice_ = [0, 0]  # label-1 rows with 30-50 character greetings
    guard_counts: dict[int, Counter[str]] = defaultdict(Counter)
    for row in labelled:
        fired = guards.fired("zh", row["query"], row["response"])
        label = int(row["label"])
        by_label[label][0] += 1
        by_label[label][1] += bool(fired)
        guard_counts[label].update(fired)
        if label == 1:
            half = halves[human_half(row)]
            half[0] += 1
            half[1] += bool(fired)
        if label == 1 and 30 <= len(row["response"]) <= 50:
            slice_[0] += 1
            slice_[1] += bool(fired)
    out: dict[str, Any] = {}
    print(f"\n== human greetings ({path.name}): counts and guard names only")
    for label in sorted(by_label):
        n, f = by_label[label]
        key = "human_label1_fp" if label == 1 else f"human_label{label}_trigger_rate"
        out[key] = f / n if n else None
        out[f"human_label{label}_rows"] = n
        who = ", ".join(f"{k}:{v}" for k, v in guard_counts[label].most_common())
        name = "label-1 FP" if label == 1 else f"label-{label} triggers"
        print(f"{name:<22}{n:>6}{f / n:>10.1%}   {who}")
    for half, (n, f) in halves.items():
        out[f"human_label1_fp_{half}"] = f / n if n else None
        out[f"human_label1_rows_{half}"] = n
        print(f"{'  label-1, ' + half + ' half':<22}{n:>6}{f / n if n else 0:>10.1%}")
    out["human_label1_fp_30_50"] = slice_[1] / slice_[0] if slice_[0] else None
    out["human_label1_rows_30_50"] = slice_[0]
    print(f"{'  label-1, 30-50 chars':<22}{slice_[0]:>6}{out['human_label1_fp_30_50'] or 0:>10.1%}")
    return out


def run(corpus: Path, labels: Path, show: int) -> dict[str, Any]:
    guards = _Guards()
    start = time.perf_counter()
    rows = _load(corpus)
    summary: dict[str, Any] = {"tuned": attack_set("tuned corpus", rows, guards, show)}
    last = untuned = None
    for name, (path, when) in HELDOUT.items():
        if path.exists():
            summary[name] = {**attack_set(f"{name} ({when})", _load(path), guards, show), "written": when}
            last = name
            if when.endswith("never tuned on"):
                untuned = name
    summary["last_heldout"] = last
    # The detection target is judged on the newest batch never tuned on; a tuned batch's rate
    # says what the patterns learnt from it, not how they generalise.
    summary["untuned_heldout"] = untuned
    if labels.exists():
        summary["human"] = human_greetings(labels, guards)
    else:
        print(f"\nhuman labels not found at {labels}: skipping the human-greeting false-positive check (--labels PATH)")
        summary["human"] = None

    # Throughput: all guards on every corpus row, repeated to time a few thousand checks.
    zh = default_guards("greeting")  # the paper's task: its length bounds and language
    reps = max(1, 5000 // max(1, len(rows)))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        for row in rows:
            apply_guards(row["query"], row["completion"], zh)
    per_s = reps * len(rows) / (time.perf_counter() - t0)
    # Per CPU-second as well: on a shared machine the wall-clock rate says more about the neighbours.
    per_cpu_s = reps * len(rows) / max(time.process_time() - c0, 1e-9)
    summary["completions_per_s"] = round(per_s)
    summary["completions_per_cpu_s"] = round(per_cpu_s)
    summary["wall_s"] = round(time.perf_counter() - start, 2)
    print(f"\nthroughput: {per_s:,.0f} completions/s, {per_cpu_s:,.0f} per CPU-second (5 guards each)")

    heldout_detection = summary[untuned]["detection"] if untuned else None
    if untuned is None:
        print("\nno held-out batch that was never tuned on: the detection target cannot be judged")
    # False positives are judged on the report half (the tune half was looked at while tuning).
    human_fp = summary["human"]["human_label1_fp_report"] if summary["human"] else None
    summary["targets_met"] = bool(
        heldout_detection is not None and heldout_detection >= DETECTION_TARGET
        and (human_fp is None or human_fp <= HUMAN_FP_TARGET)
    )
    return summary


def _line(summary: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            for k in ("detection", "benign_fp", "human_label1_fp", "human_label1_fp_tune", "human_label1_fp_report",
                      "human_label1_fp_30_50", "human_label0_trigger_rate"):
                if k in value and value[k] is not None:
                    flat[k if key == "human" else f"{key}_{k}"] = round(value[k], 4)
        elif key in ("completions_per_s", "completions_per_cpu_s", "targets_met", "last_heldout", "untuned_heldout"):
            flat[key] = value
    return flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="tuned attack corpus (JSONL)")
    parser.add_argument("--labels", "--human", dest="labels", type=Path, default=LABELS,
                        help="human labels (JSONL with query/response/label), read by path")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON summary here")
    parser.add_argument("--show", type=int, default=10, help="print up to this many misses / false positives per set")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    summary = run(args.corpus, args.labels, args.show)
    print(json.dumps(_line(summary), ensure_ascii=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0 if summary["targets_met"] or not args.strict else 1


if __name__ == "__main__":
    raise SystemExit(main())
