"""A batch's rows before staging: dict rows and Arrow tables end in one table of the warehouse's layout."""

from __future__ import annotations

import pyarrow as pa

from akhbar.warehouse.publish import BatchTables
from akhbar.warehouse.schema import TABLES, DocumentRows, rows_of


def _sentence(article_id: str, k: int, version: str | None = None) -> dict:
    return {"article_id": article_id, "sentence_index": k, "paragraph_index": 0, "start": 10 * k,
            "end": 10 * k + 9, "pipeline_version": version}


def test_arrow_rows_and_dict_rows_become_one_table_in_the_warehouse_layout() -> None:
    keyed = DocumentRows("sentences")
    keyed.append("r2", _sentence("b", 0))
    keyed.append("r1", _sentence("a", 0, version="old"))
    keyed.append("r1", _sentence("a", 1, version=""))
    batch = BatchTables(pipeline_version="v9")
    batch.add("sentences", [_sentence("c", 0)])
    batch.add("sentences", rows_of(keyed.to_arrow(), {"r1", "r2"}))
    table = batch.arrow("sentences")
    assert table.schema == TABLES["sentences"].arrow_schema  # raw_id dropped, types the warehouse's
    assert batch.count("sentences") == table.num_rows == 4
    rows = table.to_pylist()
    assert [(r["article_id"], r["sentence_index"]) for r in rows] == [("c", 0), ("a", 0), ("a", 1), ("b", 0)]
    assert [r["pipeline_version"] for r in rows] == ["v9", "old", "v9", "v9"]


def test_rows_of_keeps_only_the_documents_asked_for() -> None:
    keyed = DocumentRows("sentences")
    for raw_id in ("r3", "r1", "r2", "r1"):
        keyed.append(raw_id, _sentence(raw_id, 0))
    assert rows_of(keyed.to_arrow(), {"r1", "r3"}).column("raw_id").to_pylist() == ["r1", "r1", "r3"]
    assert rows_of(keyed.to_arrow(), set()).num_rows == 0


def test_an_empty_batch_stages_an_empty_table_of_the_right_layout() -> None:
    batch = BatchTables(pipeline_version="v9")
    assert batch.arrow("entity_mentions").schema == TABLES["entity_mentions"].arrow_schema
    batch.add("entity_mentions", DocumentRows("entity_mentions").to_arrow())
    assert batch.arrow("entity_mentions").num_rows == batch.count("entity_mentions") == 0


def _unpickled_mb(blob: bytes) -> float:
    """The measure ``benchmarks/batch_memory.py`` reports: what unpickling keeps (Python + Arrow)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from batch_memory import unpickled_mb
    finally:
        sys.path.pop(0)
    return unpickled_mb(blob)


def test_a_document_rows_table_takes_a_fraction_of_its_rows_as_dicts() -> None:
    """Why a batch's big tables are columns: what the flow holds once a worker's batch arrives."""
    import pickle

    keyed, dicts = DocumentRows("entity_mentions"), []
    for i in range(5000):
        row = {"article_id": f"{i // 20:032x}", "entity_id": f"ak:{i % 300:016x}", "surface": f"لروسيا{i}",
               "normalized": f"روسيا{i}", "label": "LOC", "start": i, "end": i + 6, "sentence_index": i % 9,
               "method": "alias", "confidence": 0.9, "run_id": "run-1", "pipeline_version": "v1"}
        keyed.append(row["article_id"], row)
        dicts.append(row)
    as_table, as_dicts = _unpickled_mb(pickle.dumps(keyed.to_arrow())), _unpickled_mb(pickle.dumps(dicts))
    assert as_table < as_dicts / 3, (as_table, as_dicts)


def test_audit_columns_say_which_mentions_link_to_an_existing_entity() -> None:
    import pandas as pd

    from akhbar.warehouse.publish import with_audit_columns

    frame = pd.DataFrame({"article_id": ["a1", "a1", "a2", "a9"], "entity_id": ["iso:RU", "ak:gone", None, "iso:RU"],
                          "start": [0, 6, 0, 0], "end": [5, 10, 3, 2]}).astype({"entity_id": "string"})
    out = with_audit_columns(frame, {"a1": "روسيا وشويغو", "a2": "كلا"}, {"iso:RU", "per:sergei-shoigu"})
    assert out["entity_exists"].tolist() == [True, False, False, True]
    assert out["body_slice"].tolist()[:3] == ["روسيا", "وشوي", "كلا"]
    assert pd.isna(out["body_slice"][3])  # a9 is not in the batch
    assert "entity_exists" not in with_audit_columns(frame, {}, None)
