"""The entity stage's batch shape: tagged in chunks (workers), linked once (flow), published by raw_id."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from akhbar.tasks.entities.extract import TaggedBatch, link_entities, tag_entities
from akhbar.tasks.entities.linking import EntityLinker
from akhbar.tasks.entities.ner import ArabicNER

SEEDS = Path(__file__).resolve().parents[3] / "seeds"


@pytest.fixture(scope="module")
def linker() -> EntityLinker:
    return EntityLinker.from_reference(SEEDS)


def _candidates(seed_text: str) -> list[dict]:
    paragraphs = [p for p in seed_text.split("\n\n") if len(p) > 80][:3]
    # Two candidates of one story (same article_id, different bodies): offsets must follow each body.
    return [{"article_id": f"a{i // 2}", "raw_id": f"r{i}", "body": body, "language": "ar"}
            for i, body in enumerate([seed_text, *paragraphs])]


def _tag(candidates: list[dict], linker: EntityLinker) -> TaggedBatch:
    return tag_entities(candidates, ArabicNER.load(), linker, tz="Asia/Riyadh", run_id="run", pipeline_version="v")


def test_chunks_tagged_apart_merge_into_the_batch_tagged_at_once(seed_text: str, linker: EntityLinker) -> None:
    candidates = _candidates(seed_text)
    whole = _tag(candidates, linker)
    merged = TaggedBatch.merge([_tag(candidates[:1], linker), _tag(candidates[1:], linker)])
    assert merged.mentions == whole.mentions
    assert merged.sentences.columns == whole.sentences.columns
    assert merged.quantities.columns == whole.quantities.columns
    assert len(whole.sentences) > len(candidates) and len(whole.quantities) > 0
    # The merged batch crosses from worker to flow by pickle: it must come back equal.
    back = pickle.loads(pickle.dumps(merged))
    assert back.mentions == merged.mentions and back.sentences.columns == merged.sentences.columns


def test_workers_do_not_load_arrow() -> None:
    """Arrow in each analysis worker cost ~75 MB of its peak (SaudiNewsNet): the workers' modules
    must not import it; the flow turns their rows into Arrow tables."""
    import subprocess
    import sys

    code = "import sys, akhbar.tasks.analyse; print('pyarrow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_published_rows_point_into_their_own_body_in_raw_id_order(seed_text: str, linker: EntityLinker) -> None:
    candidates = _candidates(seed_text)
    tagged = _tag(candidates, linker)
    linked = link_entities(candidates, tagged, linker, run_id="run", pipeline_version="v")
    published = {"r0", "r3"}
    bodies = {c["raw_id"]: c["body"] for c in candidates}
    for table in ("mentions", "quantities", "sentences"):
        rows = linked.rows_for(table, published).to_pylist()
        assert rows, table
        assert [r["raw_id"] for r in rows] == sorted(r["raw_id"] for r in rows)
        assert {r["raw_id"] for r in rows} == (published if table != "quantities" else {"r0"})  # r3 has none
        for r in rows:
            text = bodies[r["raw_id"]][r["start"]:r["end"]]
            assert text == r.get("surface", text), (table, r)
    mentions = linked.rows_for("mentions", published).to_pylist()
    # A document's rows keep the order linking gave them.
    assert [m for m in mentions if m["raw_id"] == "r0"] == [
        m for m in linked.mentions.to_pylist() if m["raw_id"] == "r0"]
    assert all(m["entity_id"] and m["run_id"] == "run" for m in mentions)
