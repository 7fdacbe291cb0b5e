"""Reading labels and unlabelled items, and the one de-duplication helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkforge.core.errors import InputError
from inkforge.evaluation import dedupe_labels, load_labels, load_unlabelled


def row(q: str, r: str, label: int, **extra: object) -> dict[str, object]:
    return {"query": q, "response": r, "label": label, **extra}


def test_repeats_keep_their_first_row_and_conflicts_keep_none() -> None:
    rows = [row("q1", "a", 1, src="first"), row("q1", "a", 1, src="second"), row("q1", " a\n", 1),
            row("q2", "a", 0),  # same response, other query: a different pair
            row("q1", "b", 1), row("q1", "b", 0), row("q1", "b", 1),  # conflicting: all three dropped
            row("q3", "c", 0)]
    d = dedupe_labels(rows)
    assert [(r["query"], r["response"]) for r in d.rows] == [("q1", "a"), ("q2", "a"), ("q3", "c")]
    assert d.rows[0]["src"] == "first"
    assert (d.n_input, d.duplicates, d.conflicting_pairs, d.conflicting_rows) == (8, 2, 1, 3)
    assert d.as_dict() == {"rows": 8, "unique": 3, "duplicates_removed": 2, "conflicting_pairs": 1,
                           "conflicting_rows_dropped": 3}
    assert d.changed and d.message() == ("2 repeated rows removed (same query and response); 1 pairs with "
                                         "conflicting labels dropped (3 rows); 3 of 8 rows kept")


def test_clean_labels_pass_through_unchanged() -> None:
    rows = [row("q", f"r{i}", i % 2) for i in range(5)]
    d = dedupe_labels(rows)
    assert d.rows == rows and not d.changed and d.message() == "" and d.duplicates == d.conflicting_pairs == 0


def test_unlabelled_items_are_read_with_located_errors(tmp_path: Path) -> None:
    p = tmp_path / "items.jsonl"
    p.write_text('{"query": "q", "response": "r"}\n{"query": "q", "response": "r", "label": 1}\n', encoding="utf-8")
    assert len(load_unlabelled(p)) == 2  # repeats kept: two samples of a policy's output
    p.write_text('{"query": "q", "response": "r"}\n{"query": "q"}\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_unlabelled(p)
    assert (err.value.file, err.value.line, err.value.field) == (str(p), 2, "response")
    p.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no rows"):
        load_unlabelled(p)
    with pytest.raises(InputError, match="not found"):
        load_unlabelled(tmp_path / "missing.jsonl")


def test_labels_keep_rejecting_bad_labels(tmp_path: Path) -> None:
    p = tmp_path / "labels.jsonl"
    p.write_text('{"query": "q", "response": "r", "label": true}\n', encoding="utf-8")
    with pytest.raises(InputError, match="must be 0 or 1") as err:
        load_labels(p)
    assert (err.value.line, err.value.field) == (1, "label")
