"""The English short-poem task end to end: curate preference pairs, refine the judge, evaluate it.

Usage::

    python examples/english_poems/run.py --out runs/poems                      # endpoint from config.yaml
    python examples/english_poems/run.py --out runs/poems --base-url http://localhost:8000/v1 --model qwen
    INKFORGE_EXAMPLE_OFFLINE=1 python examples/english_poems/run.py --out runs/poems   # no model: a stub

Each step is one ``inkforge`` command, printed before it runs; the same lines work in a shell.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def inkforge(*args: str) -> None:
    cmd = [sys.executable, "-m", "inkforge.cli.app", *args]
    print("$ inkforge " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/poems"))
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (overrides config.yaml)")
    parser.add_argument("--model", help="model name (overrides config.yaml)")
    parser.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()

    offline = os.environ.get("INKFORGE_EXAMPLE_OFFLINE") == "1"
    server = None
    if offline:
        sys.path.insert(0, str(HERE))
        from offline import responder

        from inkforge.testing import StubServer

        server = StubServer(responder=responder).start()
        args.base_url, args.model = server.base_url, "offline-stub"
        print(f"offline: a loopback stub at {server.base_url} plays every agent (toy answers)")
    flags = ["--config", str(HERE / "config.yaml")]
    if args.base_url:
        flags += ["--base-url", args.base_url]
    if args.model:
        flags += ["--model", args.model]
    out = args.out
    try:
        # 1. Preference pairs: few-shot retrieval from our small poem corpus (keyword retriever: no
        #    embedding model needed), 4 candidates per request, critics, judge, reflector.
        inkforge("curate", str(HERE / "queries.txt"), "--out", str(out / "curate"), *flags, "--candidates", "4",
                 "--corpus", str(HERE / "corpus.jsonl"), "--retriever", "keyword", "--k", "3", "--no-progress")
        # 2. Refine the judge's rubric on our labelled poems (adversarial game + reflection, κ-gated).
        inkforge("refine-judge", "--labels", str(HERE / "labels.jsonl"), "--queries", str(HERE / "queries.txt"),
                 "--out", str(out / "judge"), "--iterations", str(args.iterations), "--val-fraction", "0.5", *flags)
        # 3. The refined judge against the labels, beside the length-only baseline.
        inkforge("eval-judge", "--labels", str(HERE / "labels.jsonl"), "--rubric", str(out / "judge" / "rubric.json"),
                 "--out", str(out / "eval.json"), "--bootstrap", "200", *flags)
    finally:
        if server is not None:
            server.stop()
    print(f"done: {out}/curate/pairs.jsonl, {out}/judge/rubric.json, {out}/eval.json")


if __name__ == "__main__":
    main()
