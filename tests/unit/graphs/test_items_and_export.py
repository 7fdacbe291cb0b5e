"""Query readers (precise errors), append-only writers and exporters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inkforge.core.errors import InputError
from inkforge.core.io import JsonlWriter
from inkforge.graphs.export import (
    dataset_card,
    export_pairs,
    pair_statistics,
    push_to_hub,
    to_hf_dataset,
    to_openrlhf_jsonl,
    to_verl_parquet,
)
from inkforge.graphs.items import item_key, read_queries, validate_queries

pytestmark = pytest.mark.timeout(60)


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def test_txt_one_query_a_line_blank_lines_and_bom_skipped(tmp_path: Path) -> None:
    p = write(tmp_path, "q.txt", "\ufeff给奶奶的祝福\n\n  祝贺同事升职  \n")
    items = list(read_queries(p))
    assert [i.query for i in items] == ["给奶奶的祝福", "祝贺同事升职"]
    assert [i.line for i in items] == [1, 3]
    assert items[0].key == item_key("给奶奶的祝福") and items[0].id == items[0].key


def test_jsonl_query_or_prompt_id_responses_and_meta(tmp_path: Path) -> None:
    p = write(tmp_path, "q.jsonl", "\n".join([
        json.dumps({"id": 7, "query": "中秋问候", "label": 1}, ensure_ascii=False),
        json.dumps({"prompt": "新婚祝福", "responses": ["百年好合", "早生贵子"]}, ensure_ascii=False),
        json.dumps({"query": "升职", "response": "恭喜！"}, ensure_ascii=False),
    ]))
    a, b, c = read_queries(p)
    assert (a.id, a.query, a.meta) == ("7", "中秋问候", {"label": 1})
    assert b.responses == ("百年好合", "早生贵子") and c.responses == ("恭喜！",)
    assert validate_queries(p, limit=2) == 2


@pytest.mark.parametrize(("content", "line", "field", "msg"), [
    ('{"query": "ok"}\n{"query": "a", \n', 2, None, "invalid JSON"),
    ('{"query": "ok"}\n\n{"text": "no query"}\n', 3, "query", "missing"),
    ('{"query": "   "}\n', 1, "query", "is empty"),
    ('{"query": 3}\n', 1, "query", "must be a string"),
    ('["a list"]\n', 1, None, "expected a JSON object"),
    ('{"query": "q", "responses": []}\n', 1, "responses", "non-empty list"),
    ('{"query": "q", "id": [1]}\n', 1, "id", "string or an integer"),
])
def test_jsonl_errors_name_file_line_and_field(tmp_path: Path, content: str, line: int, field: str | None,
                                               msg: str) -> None:
    p = write(tmp_path, "bad.jsonl", content)
    with pytest.raises(InputError) as e:
        validate_queries(p)
    assert (e.value.file, e.value.line, e.value.field) == (str(p), line, field)
    assert msg in str(e.value) and str(e.value).startswith(f"{p}:{line}:")


def test_non_utf8_missing_file_wrong_type_and_empty(tmp_path: Path) -> None:
    p = write(tmp_path, "q.txt", "第一行\n".encode() + "第二行".encode("gbk") + b"\n")
    with pytest.raises(InputError, match=r"q.txt:2: not valid UTF-8"):
        validate_queries(p)
    with pytest.raises(InputError, match="file not found"):
        validate_queries(tmp_path / "absent.jsonl")
    with pytest.raises(InputError, match="unsupported file type '.csv'"):
        validate_queries(write(tmp_path, "q.csv", "a\n"))
    with pytest.raises(InputError, match="no queries found"):
        validate_queries(write(tmp_path, "empty.txt", "\n\n"))
    with pytest.raises(InputError, match="field 'responses'"):
        validate_queries(write(tmp_path, "q2.jsonl", '{"query": "q"}\n'), mode="judge_given")


def test_in_memory_rows() -> None:
    items = list(read_queries(["给老师的祝福", {"query": "新婚", "id": "x"}]))
    assert [(i.id, i.line, i.source) for i in items][1] == ("x", 2, "<queries>")
    with pytest.raises(InputError, match="<queries>:2: field 'query': is empty"):
        list(read_queries(["ok", ""]))


def test_writer_appends_flushes_and_truncates(tmp_path: Path) -> None:
    w = JsonlWriter(tmp_path / "o.jsonl")
    w.write([{"a": "一"}])
    size = w.size
    assert (tmp_path / "o.jsonl").stat().st_size == size  # flushed
    w.write([{"b": 2}, {"c": 3}])
    w.truncate(size)
    w.write([{"d": 4}])
    w.close()
    assert [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()] == [{"a": "一"}, {"d": 4}]
    assert JsonlWriter(tmp_path / "o.jsonl").size == (tmp_path / "o.jsonl").stat().st_size


@pytest.fixture
def pairs_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    prov = {"models": {"writer": "qwen-7b", "judge": "qwen-72b"}, "prompt_versions": {"writer": "w1", "judge": "j2"},
            "pair_policy": "one"}
    rows = [{"prompt": "给奶奶的祝福", "chosen": "奶奶，愿您身体硬朗。", "rejected": "生日快乐", "item_id": "a",
             "chosen_meta": {"candidate": 0}, "rejected_meta": {"candidate": 1}, **prov},
            {"prompt": "给奶奶的祝福", "chosen": "奶奶，愿您常笑。", "rejected": "快乐", "item_id": "a",
             "chosen_meta": {"candidate": 2}, "rejected_meta": {"candidate": 1}, **prov},
            {"prompt": "同事升职", "chosen": "恭喜", "rejected": "恭喜高升！", "item_id": "b",
             **{**prov, "models": {"writer": "qwen-14b", "judge": "qwen-72b"}}}]
    (out / "pairs.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


def test_hf_dataset_has_trl_columns(pairs_dir: Path) -> None:
    ds = to_hf_dataset(pairs_dir)
    assert ds.column_names == ["prompt", "chosen", "rejected"] and ds.num_rows == 3
    full = to_hf_dataset(pairs_dir / "pairs.jsonl", provenance=True)
    assert json.loads(full[0]["provenance"])["chosen_meta"] == {"candidate": 0}


def test_verl_and_openrlhf_exports(pairs_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    paths = to_verl_parquet(pairs_dir, tmp_path / "verl")
    rl = pq.read_table(paths["rl"]).to_pylist()
    assert len(rl) == 2  # one row per distinct prompt
    assert set(rl[0]) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert rl[0]["prompt"] == [{"role": "user", "content": "给奶奶的祝福"}]
    assert rl[0]["reward_model"]["style"] == "model"
    pref = pq.read_table(paths["preference"])
    assert pref.column_names == ["prompt", "chosen", "rejected", "item_id", "provenance"]
    o = to_openrlhf_jsonl(pairs_dir, tmp_path / "orl.jsonl")
    first = json.loads(o.read_text(encoding="utf-8").splitlines()[0])
    assert first["chosen"] == [{"role": "assistant", "content": "奶奶，愿您身体硬朗。"}]
    assert first["prompt"][0]["role"] == "user"
    with pytest.raises(InputError, match="unknown export format 'csv'"):
        export_pairs(pairs_dir, ["verl", "csv"])
    assert not (pairs_dir / "export").exists()  # a bad name fails before anything is written
    done = export_pairs(pairs_dir, ["verl", "openrlhf"])
    assert done["openrlhf"].is_file()


def test_verl_and_openrlhf_rows_carry_provenance(pairs_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    paths = to_verl_parquet(pairs_dir, tmp_path / "verl")
    pref = pq.read_table(paths["preference"]).to_pylist()
    assert [r["item_id"] for r in pref] == ["a", "a", "b"]
    p0 = json.loads(pref[0]["provenance"])
    assert p0["chosen_meta"] == {"candidate": 0} and p0["models"]["judge"] == "qwen-72b"
    assert not {"prompt", "chosen", "rejected", "item_id"} & set(p0)
    rl = pq.read_table(paths["rl"]).to_pylist()
    assert json.loads(rl[1]["extra_info"]["provenance"])["models"]["writer"] == "qwen-14b"
    rows = [json.loads(x) for x in to_openrlhf_jsonl(pairs_dir, tmp_path / "o.jsonl").read_text().splitlines()]
    # A JSON string, not a nested object: datasets' JSON loader (used by OpenRLHF) needs one type per column.
    assert all(isinstance(r["provenance"], str) for r in rows)
    assert json.loads(rows[2]["provenance"])["prompt_versions"] == {"writer": "w1", "judge": "j2"}


def _front_matter(card: str) -> dict:  # type: ignore[type-arg]
    import yaml

    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_dataset_card_fields(pairs_dir: Path) -> None:
    stats = pair_statistics(pairs_dir)
    assert stats["n_pairs"] == 3 and stats["n_prompts"] == 2
    assert stats["models"] == {"judge": ["qwen-72b"], "writer": ["qwen-14b", "qwen-7b"]}
    assert stats["chosen_longer_share"] == round(2 / 3, 4)
    assert stats["chosen_length"] == {"mean": round((10 + 8 + 2) / 3, 2), "median": 8.0, "min": 2.0, "max": 10.0}
    card = dataset_card(pairs_dir, repo_id="me/greetings", rubric_version="3c71fcbac656", language="zh")
    meta = _front_matter(card)
    assert meta["license"] == "other" and meta["language"] == ["zh"]
    (info,) = meta["dataset_info"]
    assert info["config_name"] == "default" and info["splits"] == [{"name": "train", "num_examples": 3}]
    assert info["features"] == [{"name": n, "dtype": "string"} for n in ("prompt", "chosen", "rejected", "item_id",
                                                                          "provenance")]
    assert meta["configs"][0]["data_files"][0]["split"] == "train" and meta["size_categories"] == ["n<1K"]
    for needle in ("| writer | `qwen-14b`, `qwen-7b` |", "| judge | `j2` |",
                   "| judge rubric version | `3c71fcbac656` |", "**66.7%**", "Length baseline warning",
                   "| chosen | 6.67 | 8.0 | 2.0 | 10.0 |", "`other` is a placeholder", 'load_dataset("me/greetings"'):
        assert needle in card, needle
    # Without a rubric version the card says so rather than inventing one.
    assert "| judge rubric version | unknown |" in dataset_card(pairs_dir)
    with pytest.raises(InputError, match="unknown export format 'csv'"):
        dataset_card(pairs_dir, fmt="csv")


def test_every_export_folder_has_a_card_and_metadata(pairs_dir: Path) -> None:
    done = export_pairs(pairs_dir, ["hf", "verl", "openrlhf"], rubric_version="r1")
    for fmt in ("hf", "verl", "openrlhf"):
        folder = pairs_dir / "export" / fmt
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        assert meta["format"] == fmt and meta["n_pairs"] == 3 and meta["rubric_version"] == "r1"
        card = _front_matter((folder / "README.md").read_text(encoding="utf-8"))
        assert card["dataset_info"][0]["splits"][0]["num_examples"] == 3
        assert [c["config_name"] for c in card["configs"]] == [i["config_name"] for i in card["dataset_info"]]
    verl = _front_matter((pairs_dir / "export" / "verl" / "README.md").read_text(encoding="utf-8"))
    assert [c["config_name"] for c in verl["configs"]] == ["preference", "rl"]
    assert verl["dataset_info"][1]["splits"][0]["num_examples"] == 2  # one RL row per distinct prompt
    orl = _front_matter((pairs_dir / "export" / "openrlhf" / "README.md").read_text(encoding="utf-8"))
    assert orl["dataset_info"][0]["features"][0] == {"name": "prompt", "list": [{"name": "role", "dtype": "string"},
                                                                                {"name": "content", "dtype": "string"}]}
    # The card's features are what the files hold.
    import pyarrow.parquet as pq

    assert pq.read_table(pairs_dir / "export" / "verl" / "rl.parquet").column_names == [
        f["name"] for f in verl["dataset_info"][1]["features"]]
    from datasets import load_from_disk

    assert load_from_disk(str(done["hf"])).num_rows == 3  # the card does not disturb the saved dataset


def test_push_to_hub_needs_a_token_and_uploads_data_then_card(pairs_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    import huggingface_hub

    calls: list[tuple[str, Any]] = []

    def fake_push(self: Any, repo_id: str, **kw: Any) -> None:
        calls.append(("data", (repo_id, self.num_rows, self.column_names, kw)))

    def fake_upload(self: Any, **kw: Any) -> None:
        calls.append(("card", kw))

    monkeypatch.setattr(datasets.Dataset, "push_to_hub", fake_push)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_file", fake_upload)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(InputError, match="set HF_TOKEN"):
        push_to_hub(pairs_dir, "me/greetings")
    assert calls == []
    monkeypatch.setenv("HF_TOKEN", "hf_test_not_a_secret")
    url = push_to_hub(pairs_dir, "me/greetings", rubric_version="r9")
    assert url == "https://huggingface.co/datasets/me/greetings"
    (kind, (repo, n, cols, kw)), (kind2, up) = calls
    assert (kind, repo, n, kw) == ("data", "me/greetings", 3, {"token": "hf_test_not_a_secret", "private": True})
    assert cols == ["prompt", "chosen", "rejected", "item_id", "provenance"]
    assert kind2 == "card" and up["path_in_repo"] == "README.md" and up["repo_type"] == "dataset"
    assert up["repo_id"] == "me/greetings" and b"`r9`" in up["path_or_fileobj"]
