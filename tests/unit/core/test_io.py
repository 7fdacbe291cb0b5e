"""The shared readers: a UTF-8 BOM never reaches the data, and a non-UTF-8 byte is located."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkforge.core.errors import InputError
from inkforge.core.io import iter_json_objects, iter_lines, read_jsonl

BOM = b"\xef\xbb\xbf"


def test_bom_is_dropped_from_the_first_line_of_a_txt(tmp_path: Path) -> None:
    p = tmp_path / "q.txt"
    p.write_bytes(BOM + "生日快乐祝福语\n新年\n".encode())
    assert list(iter_lines(p)) == [(1, "生日快乐祝福语"), (2, "新年")]


def test_bom_is_dropped_from_the_first_line_of_a_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "rows.jsonl"
    p.write_bytes(BOM + '{"query": "生日"}\n{"query": "新年"}\n'.encode())
    assert [row["query"] for row in read_jsonl(p)] == ["生日", "新年"]


def test_a_bom_later_in_the_file_is_data(tmp_path: Path) -> None:
    # Only the file's first bytes can be a byte-order mark; elsewhere U+FEFF is a character of the line.
    p = tmp_path / "q.txt"
    p.write_bytes(b"a\n" + BOM + b"b\n")
    assert list(iter_lines(p)) == [(1, "a"), (2, "\ufeffb")]


def test_non_utf8_byte_is_reported_with_line_and_byte_position(tmp_path: Path) -> None:
    p = tmp_path / "q.txt"
    p.write_bytes("一\n".encode() + b"ab\xffcd\n")
    with pytest.raises(InputError) as exc:
        list(iter_lines(p))
    assert exc.value.line == 2 and exc.value.file == str(p)
    assert "byte 0xff at byte 3 of the line" in str(exc.value)
    assert str(exc.value).startswith(f"{p}:2: ")


def test_non_utf8_in_jsonl_is_located_before_json_parsing(tmp_path: Path) -> None:
    # GBK bytes, as a Windows editor saves Chinese text: a decoding error, not "invalid JSON".
    p = tmp_path / "rows.jsonl"
    p.write_bytes(b'{"query": "ok"}\n' + '{"query": "生日"}\n'.encode("gbk"))
    with pytest.raises(InputError, match=r"rows\.jsonl:2: not valid UTF-8 \(byte 0xc9 at byte 12 of the line\)"):
        list(iter_json_objects(p))


def test_readers_used_by_commands_share_the_behaviour(tmp_path: Path) -> None:
    from inkforge.graphs.retrieval.corpus import load_corpus
    from inkforge.training.data import read_records

    txt = tmp_path / "prompts.txt"
    txt.write_bytes(BOM + "生日\n".encode())
    assert [r.data["query"] for r in read_records(txt)] == ["生日"]
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(BOM + '{"id": "a", "query": "生日", "response": "生日快乐"}\n'.encode() + b'{"x": "\xff"}\n')
    with pytest.raises(InputError, match=r"c\.jsonl:2: not valid UTF-8"):
        load_corpus(corpus)
