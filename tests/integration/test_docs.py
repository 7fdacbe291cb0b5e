"""Every code block of the docs (``docs/**/*.md``) and of ``README.md`` runs, or at least parses.

Conventions for writers of Markdown in this repository (also in ``docs/index.md``):

* ```` ```python ```` blocks run, top to bottom, in one namespace per Markdown file, in a fresh
  temporary working directory that holds a copy of ``inkforge/data`` and ``inkforge/training/configs``
  (so ``inkforge/data/sample_queries.txt`` works as it does from a clone's root).
* The endpoint ``http://localhost:8000/v1`` in any block is replaced by a loopback
  :class:`~inkforge.testing.StubServer`, and ``OPENAI_BASE_URL`` points at it, so examples written for
  a real server (vLLM, DeepSeek...) run offline. ``HF_HUB_OFFLINE=1``.
* ```` ```python file=NAME.py ```` (or ``yaml``/``text``/``json`` with ``file=``) blocks are written to
  ``NAME`` in the working directory instead of being run; the directory is on ``sys.path``, so a
  later block, a YAML config's ``plugins:`` or an ``agents:`` import path can import them.
* ```` ```python notest ```` blocks are only compiled (GPU code, real clusters).
* In ```` ```bash ````/```` ```console ```` blocks every ``inkforge ...`` command must parse with the
  real CLI (subcommand, flags, values); the cheap ones (``agents``, ``curate``, ``refine-judge``,
  ``eval-judge``, ``audit-judge``) also run, in order, against the stub. ``bash notest`` blocks are
  parse-checked only. Extra flags of ``inkforge train sft|rm|grpo`` must be fields of the stage's
  config dataclass.

The reference pages are checked against the code: every CLI option and every config field appears in
``docs/reference/``.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
EXAMPLE_ENDPOINT = "http://localhost:8000/v1"
#: Commands cheap enough to run against the stub in the docs test.
RUNNABLE = {"agents", "curate", "refine-judge", "eval-judge", "audit-judge"}
SHELLS = {"bash", "sh", "shell", "console", "zsh"}

pytestmark = pytest.mark.timeout(180)


@dataclass
class Block:
    """One fenced code block."""

    path: Path
    line: int
    lang: str
    options: dict[str, str]
    notest: bool
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def parse_blocks(path: Path) -> list[Block]:
    """Fenced code blocks of a Markdown file, with their info strings and first line numbers."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        words = m.group("info").strip().split()
        lang = words[0].lower() if words else ""
        options = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        notest = "notest" in words[1:]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append(Block(path, i + 2, lang, options, notest, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def markdown_files() -> list[Path]:
    files = sorted(DOCS.rglob("*.md")) + sorted((REPO / "examples").rglob("*.md"))
    if README.is_file():
        files.append(README)
    return files


def shell_commands(code: str) -> list[list[str]]:
    """``inkforge`` command lines of a shell block, as argument lists (without the ``inkforge``)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\s*(?:&&|;)\s*", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            # `VAR=value inkforge ...`, `do inkforge ...` (loops), `time inkforge ...`
            while words and (re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]) or words[0] in ("do", "then", "time")):
                words.pop(0)
            if words and words[0] == "inkforge":
                commands.append(words[1:])
            elif "inkforge.cli" in words:  # accelerate launch ... -m inkforge.cli train grpo ...
                commands.append(words[words.index("inkforge.cli") + 1:])
    return commands


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def stub() -> Iterator[Any]:
    from inkforge.testing import StubServer

    with StubServer() as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, stub: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory laid out like a clone's root, with the stub as the default endpoint."""
    from inkforge.agents import AGENTS

    data = tmp_path / "inkforge" / "data"
    shutil.copytree(REPO / "inkforge" / "data", data)
    shutil.copytree(REPO / "inkforge" / "training" / "configs", tmp_path / "inkforge" / "training" / "configs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for key in ("OPENAI_API_KEY", "INKFORGE_MODEL", "INKFORGE_REWARD_URL", "INKFORGE_RUBRIC"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    agents_before = dict(AGENTS)
    modules_before = set(sys.modules)
    yield tmp_path
    # Agents the pages registered (their schemas live in the pages or their modules) are dropped;
    # inkforge's own, registered when a module is first imported, stay.
    for name, defn in list(AGENTS.items()):
        if name in agents_before:
            AGENTS[name] = agents_before[name]
        elif not defn.schema.__module__.startswith("inkforge."):
            del AGENTS[name]
    for name in set(sys.modules) - modules_before:
        mod = sys.modules.get(name)
        if str(getattr(mod, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


# ------------------------------------------------------------------------------------------ CLI checks


def _cli() -> Any:
    import typer

    from inkforge.cli.app import app

    return typer.main.get_command(app)


def _is_group(cmd: Any) -> bool:
    # Duck-typed: typer vendors its own copy of click, so isinstance checks against `click` fail.
    return hasattr(cmd, "list_commands")


def _resolve(args: list[str]) -> tuple[Any, list[str], list[str]]:
    """(click command, its arguments, the subcommand path) for ``inkforge ARGS``."""
    cmd, path, rest = _cli(), [], list(args)
    while rest and rest[0] in ("-v", "--verbose"):
        rest = rest[1:]
    while _is_group(cmd) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(None, rest[0])
        assert sub is not None, f"no command `inkforge {' '.join([*path, rest[0]])}`"
        cmd, path, rest = sub, [*path, rest[0]], rest[1:]
    return cmd, rest, path


_TRAIN_CONFIGS = {"sft": "SFTTrainingConfig", "rm": "RewardTrainingConfig", "grpo": "GRPOTrainingConfig"}


def check_parses(args: list[str], where: str) -> list[str]:
    """Parse ``inkforge ARGS`` with the real CLI (no callback runs); returns the subcommand path."""
    cmd, rest, path = _resolve(args)
    if "--help" in rest or _is_group(cmd):
        return path
    try:
        ctx = cmd.make_context(" ".join(["inkforge", *path]), list(rest))
    except Exception as e:  # the vendored click's UsageError and friends
        if not hasattr(e, "format_message"):
            raise
        raise AssertionError(f"{where}: `inkforge {' '.join(args)}` does not parse: {e.format_message()}") from None
    if path[:1] == ["train"] and len(path) == 2 and path[1] in _TRAIN_CONFIGS:
        import inkforge.training.config as tc

        fields = {f.name for f in dataclasses.fields(getattr(tc, _TRAIN_CONFIGS[path[1]]))}
        for word in ctx.args:
            if word.startswith("--"):
                name = word[2:].split("=", 1)[0]
                assert name in fields, f"{where}: `inkforge train {path[1]}` has no config field {name!r}"
    return path


def run_cli(args: list[str], stub: Any, where: str) -> None:
    from typer.testing import CliRunner

    from inkforge.cli.app import app

    args = [stub.base_url if a == EXAMPLE_ENDPOINT else a for a in args]
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    detail = result.output[-3000:]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        detail += "".join(traceback.format_exception(result.exception))[-3000:]
    assert result.exit_code == 0, f"{where}: `inkforge {' '.join(args)}` exited {result.exit_code}:\n{detail}"


# ---------------------------------------------------------------------------------------------- tests


def test_docs_exist_and_have_code() -> None:
    files = markdown_files()
    names = {p.relative_to(DOCS).as_posix() for p in files if DOCS in p.parents}
    for required in ("index.md", "reference/cli.md", "reference/config.md", "guides/custom-agent.md",
                     "guides/custom-graph.md", "guides/rl-trainers.md", "guides/scale-out.md",
                     "guides/paper-training.md", "concepts/failures.md"):
        assert required in names, f"docs/{required} is missing"
    python_blocks = [b for p in files for b in parse_blocks(p) if b.lang == "python" and not b.notest]
    assert len(python_blocks) >= 20


def test_parser_reads_fences_options_and_shell_commands(tmp_path: Path) -> None:
    md = tmp_path / "x.md"
    md.write_text("text\n```python file=a.py\nx = 1\n```\n\n```bash notest\n$ inkforge curate q.txt \\\n"
                  "    --out o  # comment\nFOO=1 inkforge agents && echo hi\n```\n", encoding="utf-8")
    a, b = parse_blocks(md)
    assert (a.lang, a.options, a.notest, a.line, a.code) == ("python", {"file": "a.py"}, False, 3, "x = 1\n")
    assert b.notest and shell_commands(b.code) == [["curate", "q.txt", "--out", "o"], ["agents"]]
    loop = "for s in a b; do inkforge curate $s --out runs/$s; done\naccelerate launch -m inkforge.cli train grpo -c x"
    assert shell_commands(loop) == [["curate", "$s", "--out", "runs/$s"], ["train", "grpo", "-c", "x"]]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_markdown_code_blocks_run(path: Path, workdir: Path, stub: Any) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for block in parse_blocks(path):
        if "file" in block.options:
            target = workdir / block.options["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code.replace(EXAMPLE_ENDPOINT, stub.base_url), encoding="utf-8")
            continue
        if block.lang == "python":
            # dont_inherit: this module's `from __future__ import annotations` must not leak into the blocks.
            code = compile(block.code.replace(EXAMPLE_ENDPOINT, stub.base_url), block.where, "exec", dont_inherit=True)
            if block.notest:
                continue
            try:
                exec(code, namespace)
            except Exception as e:
                raise AssertionError(f"{block.where}: python block failed: {type(e).__name__}: {e}") from e
        elif block.lang in SHELLS:
            for args in shell_commands(block.code):
                path_ = check_parses(args, block.where)
                if not block.notest and path_ and path_[0] in RUNNABLE and "--help" not in args:
                    run_cli(args, stub, block.where)


# ------------------------------------------------------------------------------------------------ links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_relative_links_and_anchors_resolve() -> None:
    broken = []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
                continue
            if anchor and dest.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", dest.read_text(encoding="utf-8"), re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, broken


# -------------------------------------------------------------------------------------- reference pages


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    if _is_group(cmd):
        for name in cmd.list_commands(None):
            yield from _walk(cmd.get_command(None, name), (*path, name))


def test_cli_reference_lists_every_command_and_option() -> None:
    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    missing = []
    for path, cmd in _walk(_cli()):
        if path and f"inkforge {' '.join(path)}" not in text:
            missing.append(f"command `inkforge {' '.join(path)}`")
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help" and opt not in text:
                    missing.append(f"{' '.join(path) or 'inkforge'} {opt}")
    assert not missing, f"docs/reference/cli.md lacks: {missing}"


def test_config_reference_lists_every_field() -> None:
    from inkforge.graphs.refinement import RefinementConfig
    from inkforge.llm import InkforgeConfig, ModelSpec
    from inkforge.training.config import GRPOTrainingConfig, InkforgeFields

    text = (DOCS / "reference" / "config.md").read_text(encoding="utf-8")
    missing = []
    for model in (ModelSpec, InkforgeConfig, RefinementConfig):
        missing += [f"{model.__name__}.{f}" for f in model.model_fields if f"`{f}`" not in text]
    ours = {f.name for f in dataclasses.fields(InkforgeFields)}
    ours |= {f.name for f in dataclasses.fields(GRPOTrainingConfig)} - {
        f.name for f in dataclasses.fields(__import__("trl").GRPOConfig)}
    missing += [f"training.{f}" for f in sorted(ours) if f"`{f}`" not in text]
    assert not missing, f"docs/reference/config.md lacks: {missing}"

