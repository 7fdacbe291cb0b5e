"""User mistakes in every command end in one ``error:`` line naming the file, line, field or port.

Each case runs the real command line (``inkforge.cli.app.main``) in an empty folder and checks the
exit code, that stderr is exactly one ``error:`` line holding the expected location, that no
traceback is printed, and that the command left nothing behind: no partial output, no ``.tmp``
file and no ``.cache/inkforge/responses.sqlite``. No model is built and no endpoint is reached:
every case fails in validation, before the first model call (the endpoint flag points at a closed
port, so a case that got that far would fail differently).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from inkforge.cli.app import main
from inkforge.core.rubric import Rubric
from inkforge.training.config import CONFIG_DIR

DATA = Path(__file__).resolve().parents[2] / "inkforge" / "data"
ENDPOINT = ["--base-url", "http://127.0.0.1:9/v1", "--model", "stub"]
LABEL = '{"query": "给奶奶的生日祝福", "response": "奶奶生日快乐，身体健康！", "label": 1}\n'


@dataclass
class Case:
    """One mistake: the files it needs, the command, and what the error line must say."""

    argv: list[str]
    expect: list[str]
    code: int = 2
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None


def _sft_config(tmp: Path, name: str, old: str, new: str) -> None:
    text = (CONFIG_DIR / "smoke_sft.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp / name).write_text(text.replace(old, new), encoding="utf-8")


def _model_dir(tmp: Path) -> None:
    (tmp / "policy").mkdir()


CASES: dict[str, Case] = {
    # --out / --html that cannot be written: refused before any model call.
    "eval-judge --out is a folder": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "outdir", *ENDPOINT], ["outdir", "--out", "is a folder"],
        files={"labels.jsonl": LABEL}, setup=lambda t: (t / "outdir").mkdir()),
    "eval-judge --out under a file": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "afile/r.json", *ENDPOINT],
        ["afile/r.json", "--out", "afile is not a folder"], files={"labels.jsonl": LABEL, "afile": "x"}),
    "eval-judge --html is a folder": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", "--html", "outdir", *ENDPOINT],
        ["outdir", "--html", "is a folder"], files={"labels.jsonl": LABEL}, setup=lambda t: (t / "outdir").mkdir()),
    "curate --out is a file": Case(
        ["curate", str(DATA / "sample_queries.txt"), "--out", "afile", *ENDPOINT], ["afile", "--out", "not a folder"],
        files={"afile": "x"}),
    "curate --out under a file": Case(
        ["curate", str(DATA / "sample_queries.txt"), "--out", "afile/run", *ENDPOINT],
        ["afile/run", "--out", "afile is not a folder"], files={"afile": "x"}),
    "refine-judge --out is a file": Case(
        ["refine-judge", "--labels", str(DATA / "sample_labels.jsonl"), "--queries", str(DATA / "sample_queries.txt"),
         "--out", "afile", *ENDPOINT], ["afile", "--out", "not a folder"], files={"afile": "x"}),
    "audit-judge --out is a folder": Case(
        ["audit-judge", "--labels", "labels.jsonl", "--rubric", "rubric.json", "--out", "outdir", *ENDPOINT],
        ["outdir", "--out", "is a folder"], files={"labels.jsonl": LABEL},
        setup=lambda t: ((t / "outdir").mkdir(), Rubric.default().save(t / "rubric.json"))),
    "guards check --out is a folder": Case(
        ["guards", "check", "texts.jsonl", "--out", "outdir"], ["outdir", "--out", "is a folder"],
        files={"texts.jsonl": '{"text": "生日快乐"}\n'}, setup=lambda t: (t / "outdir").mkdir()),
    "eval-policy --out is a folder": Case(
        ["eval-policy", "--model", "policy", "--prompts", "q.txt", "--out", "outdir"], ["outdir", "--out", "is a folder"],
        files={"q.txt": "生日祝福\n"}, setup=lambda t: (_model_dir(t), (t / "outdir").mkdir())),
    "demo --out is a file": Case(["demo", "--out", "afile", *ENDPOINT], ["afile", "--out", "not a folder"],
                                 files={"afile": "x"}),
    "train build-tiny PATH is a file": Case(["train", "build-tiny", "afile"], ["afile", "PATH", "not a folder"],
                                            files={"afile": "x"}),
    # Unknown names and missing models.
    "eval-judge unknown --task": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", "--task", "nosuch", *ENDPOINT],
        ["task", "unknown task 'nosuch'"], files={"labels.jsonl": LABEL}),
    "guards check unknown --task": Case(
        ["guards", "check", "texts.jsonl", "--out", "g.jsonl", "--task", "nosuch"], ["task", "nosuch"],
        files={"texts.jsonl": '{"text": "生日快乐"}\n'}),
    "eval-policy missing model folder": Case(
        ["eval-policy", "--model", "./nomodel", "--prompts", "q.txt"], ["--model", "no model folder ./nomodel"],
        files={"q.txt": "生日祝福\n"}),
    "eval-policy missing prompts file": Case(
        ["eval-policy", "--model", "policy", "--prompts", "nope.txt"], ["nope.txt", "--prompts", "not found"],
        setup=_model_dir),
    "train sft missing model folder": Case(
        ["train", "sft", "--config", str(CONFIG_DIR / "smoke_sft.yaml")],
        ["smoke_sft.yaml:", "model_name_or_path", "no model folder ./runs/tiny", "inkforge train build-tiny"]),
    # Input files: missing, empty, malformed, wrong field types, bad bytes.
    "eval-judge labels missing": Case(
        ["eval-judge", "--labels", "nope.jsonl", "--out", "r.json", *ENDPOINT], ["nope.jsonl", "not found"]),
    "eval-judge labels empty": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", *ENDPOINT], ["labels.jsonl", "no labelled rows"],
        files={"labels.jsonl": ""}),
    "eval-judge labels bad JSON line": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", *ENDPOINT], ["labels.jsonl:2:", "invalid JSON"],
        files={"labels.jsonl": LABEL + "{bad json\n"}),
    "eval-judge labels missing field": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", *ENDPOINT], ["labels.jsonl:1:", "'label'"],
        files={"labels.jsonl": '{"query": "a", "response": "b"}\n'}),
    "eval-judge labels wrong type": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", *ENDPOINT], ["labels.jsonl:1:", "'label'", "'yes'"],
        files={"labels.jsonl": '{"query": "a", "response": "b", "label": "yes"}\n'}),
    "curate queries not UTF-8": Case(
        ["curate", "q.txt", "--out", "run", *ENDPOINT], ["q.txt:2:", "not valid UTF-8", "0xff", "byte 5"],
        files={"q.txt": b"ok\nbad \xff\xfe here\n"}),
    "curate queries empty": Case(["curate", "q.txt", "--out", "run", *ENDPOINT], ["q.txt", "no queries"],
                                 files={"q.txt": "\n\n"}),
    "curate corpus bad JSON line": Case(
        ["curate", str(DATA / "sample_queries.txt"), "--out", "run", "--corpus", "c.jsonl", "--retriever", "keyword",
         *ENDPOINT], ["c.jsonl:2:", "invalid JSON"],
        files={"c.jsonl": '{"id": "a", "query": "生日", "response": "生日快乐"}\n{oops\n'}),
    "audit-judge rubric missing": Case(
        ["audit-judge", "--labels", "labels.jsonl", "--rubric", "nope.json", "--out", "a.json", *ENDPOINT],
        ["nope.json", "not found"], files={"labels.jsonl": LABEL}),
    "build-tiny corpus missing": Case(["train", "build-tiny", "tiny", "--corpus", "nope.txt"],
                                      ["nope.txt", "not found"]),
    # YAML configs: wrong types and unknown keys, located by file and line.
    "train sft YAML wrong type": Case(
        ["train", "sft", "--config", "bad.yaml"], ["bad.yaml:", "max_steps", "expected int", "'four'"],
        setup=lambda t: _sft_config(t, "bad.yaml", "max_steps: 4", "max_steps: four")),
    "train sft YAML unknown key": Case(
        ["train", "sft", "--config", "bad.yaml"], ["bad.yaml:", "learnig_rate", "learning_rate"],
        setup=lambda t: _sft_config(t, "bad.yaml", "max_steps: 4", "max_steps: 4\nlearnig_rate: 1.0")),
    "train sft bad flag value": Case(
        ["train", "sft", "--config", str(CONFIG_DIR / "smoke_sft.yaml"), "--max_steps", "abc"],
        ["--max_steps", "invalid int value", "'abc'"]),
    "inkforge config wrong type": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", "--config", "c.yaml"],
        ["c.yaml:1:", "'concurrency'", "integer"], files={"labels.jsonl": LABEL, "c.yaml": "concurrency: many\n"}),
    "inkforge config unknown key": Case(
        ["eval-judge", "--labels", "labels.jsonl", "--out", "r.json", "--config", "c.yaml"],
        ["c.yaml:2:", "'concurency'"], files={"labels.jsonl": LABEL, "c.yaml": "task: greeting\nconcurency: 3\n"}),
    "inkforge config not UTF-8": Case(
        ["agents", "--config", "c.yaml"], ["c.yaml:2:", "not valid UTF-8", "0xff", "byte 8"],
        files={"c.yaml": b'concurrency: 3\ntask: "\xff"\n'}),
    "refine-judge --refine-config invalid YAML": Case(
        ["refine-judge", "--labels", str(DATA / "sample_labels.jsonl"), "--queries", str(DATA / "sample_queries.txt"),
         "--out", "run", "--refine-config", "r.yaml", *ENDPOINT], ["r.yaml:2:", "invalid YAML"],
        files={"r.yaml": "refinement: [1\n"}),
    "config file missing": Case(["agents", "--config", "nope.yaml"], ["nope.yaml", "not found"]),
    # Flag values click rejects: one line too, naming the command and the flag.
    "flag out of range": Case(["stub", "--port", "99999"], ["inkforge stub", "'--port'", "65535"]),
    "flag wrong type": Case(["curate", "q.txt", "--out", "run", "--candidates", "many"],
                            ["inkforge curate", "'--candidates'", "integer"]),
    "unknown option": Case(["eval-judge", "--labls", "x"], ["inkforge eval-judge", "--labls"]),
    "stub --fail-status malformed": Case(["stub", "--fail-status", "abc"], ["--fail-status", "'abc'"]),
}


def _sys_is_read_only() -> bool:
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir="/sys")
    except OSError:
        return Path("/sys").is_dir()
    os.close(fd)
    os.unlink(probe)
    return False


@pytest.mark.skipif(not _sys_is_read_only(), reason="needs a folder that refuses new files even for root (/sys)")
@pytest.mark.parametrize("argv", [
    ["eval-judge", "--labels", "labels.jsonl", "--out", "/sys/inkforge-test/report.json", *ENDPOINT],
    ["curate", str(DATA / "sample_queries.txt"), "--out", "/sys/inkforge-test/run", *ENDPOINT],
    ["guards", "check", "labels.jsonl", "--out", "/sys/inkforge-test.jsonl"],
], ids=["eval-judge", "curate", "guards"])
def test_out_on_a_read_only_path(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.jsonl").write_text(LABEL.replace('"query"', '"text": "生日快乐", "query"'), encoding="utf-8")
    before = _tree(tmp_path)
    code, out, err = _run(argv, capsys)
    _check_one_error_line(code, out, err, 2, ["/sys/inkforge-test", "--out", "/sys is not writable"])
    assert _tree(tmp_path) == before


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return code if isinstance(code, int) else 1, out, err


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _check_one_error_line(code: int, out: str, err: str, want_code: int, expect: list[str]) -> None:
    assert code == want_code, err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    for part in expect:
        assert part in lines[0], (part, lines[0])


@pytest.mark.parametrize("name", list(CASES))
def test_user_mistake_is_one_located_line(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    monkeypatch.chdir(tmp_path)
    for rel, content in case.files.items():
        target = tmp_path / rel
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    if case.setup is not None:
        case.setup(tmp_path)
    before = _tree(tmp_path)
    code, out, err = _run(case.argv, capsys)
    _check_one_error_line(code, out, err, case.code, case.expect)
    # Nothing half-written, no temporary file, no response cache in the working directory.
    assert _tree(tmp_path) == before
    assert not (tmp_path / ".cache").exists()


@pytest.mark.parametrize("command", ["stub", "serve-reward"])
def test_port_in_use_names_the_port(command: str, busy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["stub", "--port", str(busy_port)]
    if command == "serve-reward":
        Rubric.default().save(tmp_path / "rubric.json")
        argv = ["serve-reward", "--rubric", "rubric.json", "--port", str(busy_port), *ENDPOINT]
    before = _tree(tmp_path)
    code, out, err = _run(argv, capsys)
    _check_one_error_line(code, out, err, 2, ["--port", f"port {busy_port}", "in use"])
    assert _tree(tmp_path) == before


def test_eval_judge_out_folder_fails_before_judging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The regression of the issue: the folder was found only after judging every row, leaving a .tmp."""
    from inkforge.cli import judge as judge_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.jsonl").write_text(LABEL * 3, encoding="utf-8")
    (tmp_path / "outdir").mkdir()

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a runtime was built before --out was checked")

    monkeypatch.setattr(judge_cli, "runtime_from_flags", no_model)
    code, _, err = _run(["eval-judge", "--labels", "labels.jsonl", "--out", "outdir", *ENDPOINT], capsys)
    assert code == 2 and "is a folder" in err
    assert list((tmp_path / "outdir").iterdir()) == []
    assert not list(tmp_path.rglob("*.tmp"))


def test_writable_out_probe_catches_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that refuses new files (read-only mount, or no permission) is refused, whoever runs it."""
    import tempfile

    from inkforge.cli.options import writable_out
    from inkforge.core.errors import InputError

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(InputError, match=r"field '--out': cannot write here: .* is not writable"):
        writable_out(tmp_path / "sub" / "report.json")
    with pytest.raises(InputError, match="not writable"):
        writable_out(tmp_path / "run", kind="dir")
    assert list(tmp_path.iterdir()) == []
