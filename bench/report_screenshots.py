"""Render sample HTML reports and check them in a real browser: headless Chromium screenshots.

Usage:
    .venv/bin/python bench/report_screenshots.py [--out DIR] [--readme]

Builds four reports from synthetic data with the project's fake chat model (no endpoint, no
network): an ``eval-judge`` report, an ``audit-judge`` report, a ``refine-judge`` run and an
``eval-policy`` before/after comparison; renders them with :mod:`inkforge.evaluation.html`; and
screenshots each page with headless Chromium (Debian: ``apt-get install -y chromium``) into
``DIR/<name>.png`` beside ``DIR/<name>.html``. ``--readme`` also writes the small judge-report
screenshot the README shows (``docs/images/judge-report.png``, palette-quantised).

The sample data is English (the ``poem`` task) so the screenshots need no CJK fonts. Exits 1 when
Chromium is missing or a screenshot fails. The last line printed is a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
README_IMAGE = REPO / "docs" / "images" / "judge-report.png"

WORDS = ("moon", "river", "quiet", "lantern", "autumn", "salt", "window", "ember", "snow", "harbor", "ink", "orchard")


def _poem(rnd: random.Random, n_words: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def _verdict(text: str) -> str:
    # A judge that mostly follows length, with hashed noise: the picture a length-biased judge gives.
    noise = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 5 == 0
    return "Good" if (len(text) >= 45) != noise else "Bad"


def _fake_runtime() -> Any:
    from inkforge.llm.runtime import Runtime
    from inkforge.testing import FakeChatModel

    def responder(call: Any) -> Any:
        # One-argument responders get the FakeCall: the schema's name and the prompt, as an endpoint sees them.
        name, messages = call.schema or "", call.messages
        text = str(messages[-1].content)
        if name == "DetectorVerdict":
            return {"explanation": "Checked every rule against the poem.", "verdict": _verdict(text),
                    "generator_suggestion": "Hide the flaw in a concrete image."}
        if name == "RubricRevision":
            tag = hashlib.sha256(text.encode()).hexdigest()[:4]
            return {"rules": ["Concrete imagery over abstraction.", "No stock phrases.", f"Earned ending ({tag})."],
                    "changes": "merged this round's feedback"}
        if name == "ErrorDiagnosis":
            return {"diagnosis": "The rubric rewards length, not imagery.", "suggestion": "Judge the images."}
        if name == "FlawedSample":
            return {"response": "The moon is like the moon, a quiet moon of moons tonight.",
                    "planted_flaws": ["tautology"], "explanation": "looks lyrical, says nothing"}
        if name == "PairwiseVerdict":
            return {"reason": "more concrete", "winner": "A"}
        return None

    return Runtime.for_testing(FakeChatModel(responder=responder), task="poem")


def _rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        text = _poem(rnd, rnd.randint(2, 14))
        # Human labels follow length most of the time (the trap every figure is shown against).
        label = int((len(text) >= 39) != (rnd.random() < 0.15))
        rows.append({"query": f"A short poem about {rnd.choice(WORDS)}", "response": text, "label": label})
    return rows


def build_pages(out: Path) -> dict[str, Path]:
    """Write the four sample reports as HTML under ``out``; returns name → path."""
    from inkforge.core.rubric import Rubric
    from inkforge.evaluation import aevaluate_judge
    from inkforge.evaluation.html import (
        render_audit_report,
        render_judge_report,
        render_policy_report,
        render_refinement_report,
        write_report,
    )
    from inkforge.graphs.refinement import RefinementConfig, refine_judge
    from inkforge.rewards.audit import audit_judge
    from inkforge.rewards.judge import JudgeReward

    rows = _rows(160)
    pages: dict[str, Path] = {}
    report = asyncio.run(aevaluate_judge(_fake_runtime(), rows, n_boot=200))
    report["labels"] = {"path": "sample poems (synthetic)", "n": len(rows)}
    pages["judge"] = write_report(out / "judge.html", render_judge_report(report, rows=rows, max_examples=8))

    judge = JudgeReward(Rubric.default("poem"), runtime=_fake_runtime())
    audit = asyncio.run(audit_judge(judge, rows[:80], pairs=10, samples=2, consistency_items=10, n_boot=50))
    pages["audit"] = write_report(out / "audit.html", render_audit_report(audit, rows=rows[:80]))

    with tempfile.TemporaryDirectory() as tmp:
        result = refine_judge(_fake_runtime(), rows[:60], [r["query"] for r in rows[:6]], out_dir=Path(tmp) / "ref",
                              config=RefinementConfig(iterations=4, val_fraction=0.5, patience=4))
    pages["refine"] = write_report(out / "refine.html", render_refinement_report(
        result.summary, result.history, hard_negatives=result.hard_negatives))

    rnd = random.Random(1)
    before_l = [max(5, int(rnd.gauss(34, 9))) for _ in range(64)]
    after_l = [max(5, int(rnd.gauss(52, 14))) for _ in range(64)]

    def policy(model: str, lengths: list[int]) -> dict[str, Any]:
        s = sorted(lengths)
        return {"model": model, "n_prompts": 32, "n_completions": len(s), "lengths": lengths, "band": [30, 50],
                "length": {"mean": sum(s) / len(s), "median": float(s[len(s) // 2]), "p10": float(s[len(s) // 10]),
                           "p90": float(s[9 * len(s) // 10]), "min": float(s[0]), "max": float(s[-1])},
                "band_30_50": {"n": sum(30 <= x <= 50 for x in s)}, "distinct_2": 0.7, "self_bleu": 0.2}

    pages["policy"] = write_report(out / "policy.html", render_policy_report(
        policy("runs/grpo", after_l), baseline=policy("runs/sft", before_l)))
    return pages


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(browser: str, page: Path, png: Path, *, width: int = 1200, height: int = 2200) -> None:
    """One headless screenshot, in a fresh profile, with everything that could reach the network off."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={width},{height}",
               page.resolve().as_uri()]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot for {page} (exit {res.returncode}): {res.stderr[-800:]}")


def readme_image(browser: str, page: Path, dest: Path) -> Path:
    """The README's screenshot: the top of the judge report, palette-quantised to stay small."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "shot.png"
        screenshot(browser, page, raw, width=1100, height=1250)
        img = Image.open(raw).convert("RGB")
        img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.Resampling.LANCZOS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        img.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "reports", help="Folder for HTML and PNG.")
    ap.add_argument("--readme", action="store_true", help=f"Also write {README_IMAGE.relative_to(REPO)}.")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pages = build_pages(args.out)
    browser = chromium()
    if browser is None:
        print("chromium not found: apt-get install -y chromium (the HTML files are written)", file=sys.stderr)
        print(json.dumps({"html": {k: str(v) for k, v in pages.items()}, "screenshots": None}))
        return 1
    shots = {}
    for name, page in pages.items():
        png = args.out / f"{name}.png"
        png.unlink(missing_ok=True)
        screenshot(browser, page, png)
        shots[name] = {"png": str(png), "bytes": png.stat().st_size}
        print(f"{name}: {page} -> {png} ({png.stat().st_size // 1024} KiB)")
    summary: dict[str, Any] = {"screenshots": shots, "wall_s": round(time.perf_counter() - t0, 1)}
    if args.readme:
        dest = readme_image(browser, pages["judge"], README_IMAGE)
        summary["readme_image"] = {"path": str(dest.relative_to(REPO)), "bytes": dest.stat().st_size}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
