"""Query readers (precise errors), append-only writers and exporters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inkforge.core.errors import InputError
from inkforge.core.io import JsonlWriter
from inkforge.graphs.export import export_pairs, to_hf_dataset, to_openrlhf_jsonl, to_verl_parquet
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
    rows = [{"prompt": "给奶奶的祝福", "chosen": "奶奶，愿您身体硬朗。", "rejected": "生日快乐", "item_id": "a",
             "chosen_meta": {"candidate": 0}, "rejected_meta": {"candidate": 1}},
            {"prompt": "给奶奶的祝福", "chosen": "奶奶，愿您常笑。", "rejected": "快乐", "item_id": "a",
             "chosen_meta": {"candidate": 2}, "rejected_meta": {"candidate": 1}},
            {"prompt": "同事升职", "chosen": "恭喜高升！", "rejected": "恭喜", "item_id": "b"}]
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
    assert pq.read_table(paths["preference"]).column_names == ["prompt", "chosen", "rejected"]
    o = to_openrlhf_jsonl(pairs_dir, tmp_path / "orl.jsonl")
    first = json.loads(o.read_text(encoding="utf-8").splitlines()[0])
    assert first["chosen"] == [{"role": "assistant", "content": "奶奶，愿您身体硬朗。"}]
    assert first["prompt"][0]["role"] == "user"
    with pytest.raises(InputError, match="unknown export format 'csv'"):
        export_pairs(pairs_dir, ["csv"])
    done = export_pairs(pairs_dir, ["verl", "openrlhf"])
    assert done["openrlhf"].is_file()
